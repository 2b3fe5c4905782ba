//! `map_partitions`: a user function applied to every partition.
//!
//! Two forms, one layer of tasks each (partition `i` of the result is the
//! function of partition `i` of the input):
//!
//! * [`DataFrame::map_partitions`] takes a closure. It runs in this process
//!   only: a graph holding it is refused by a cluster with an error naming
//!   the task (see `rask_core::Op::non_portable_reason`).
//! * [`DataFrame::map_partitions_remote`] takes a function marked
//!   `#[rask::remote]` (taking `&DataFrame` or `DataFrame`, returning a
//!   `DataFrame` or a `Result` of one). The task holds only the function's
//!   registry name, so the graph is portable: a worker of the same build
//!   finds the function in its own registry.
//!
//! The output schema (Dask's `meta`) is either given, or found by calling
//! the function on an empty frame with the input's schema. Every computed
//! partition is checked against it, so a function whose output schema
//! depends on the data fails with a clear error instead of producing
//! partitions that cannot be stacked.

use std::sync::Arc;

use polars::prelude::{DataFrame as PlFrame, Schema, SchemaRef};
use rask_core::{BoxError, GraphBuilder, Op, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::frame::{DataFrame, Layer, Source, fmt_schema, layer_name, part_key};
use crate::kernels::{Part, part_arg, polars_pool};
use crate::steps::SerSchema;

impl DataFrame {
    /// Applies `f` to every partition (a Polars frame in, a Polars frame
    /// out). `meta` is the output's schema; when `None`, it is found by
    /// calling `f` on an empty frame with this dataframe's schema. Local
    /// only: for a graph that can run on a cluster, use
    /// [`DataFrame::map_partitions_remote`].
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, polars::prelude::*};
    /// let d = dd::from_polars(df!("v" => [1i64, 2, 3]).unwrap(), 2).unwrap();
    /// let m = d.map_partitions(
    ///     |p: DataFrame| p.lazy().with_column((col("v") * lit(10)).alias("w")).collect(),
    ///     None,
    /// );
    /// assert_eq!(m.columns(), ["v", "w"]);
    /// assert_eq!(m.compute().unwrap().column("w").unwrap().i64().unwrap().get(2), Some(30));
    /// ```
    pub fn map_partitions<F, E>(&self, f: F, meta: Option<Schema>) -> DataFrame
    where
        F: Fn(PlFrame) -> Result<PlFrame, E> + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        if self.error().is_some() {
            return self.clone();
        }
        let f = Arc::new(f);
        let schema = match meta {
            Some(s) => Arc::new(s),
            None => {
                let empty = PlFrame::empty_with_schema(self.schema());
                match guarded(|| f(empty).map_err(Into::<BoxError>::into)) {
                    Ok(out) => out.schema().clone(),
                    Err(e) => return self.with_error(meta_error("a closure", &e)),
                }
            }
        };
        let name: Arc<str> = format!("map_partitions-{}", rask_core::fresh_token()).into();
        let expected = schema.clone();
        let op = Op::call("map_partitions", move |args: &[Value]| {
            let df = part_arg(args, 0)?.clone();
            let out =
                polars_pool(|| f(df).map_err(Into::<BoxError>::into)).map_err(TaskError::Failed)?;
            check_schema(&out, &expected, "map_partitions", "the closure")?;
            Ok(Part::value(out))
        });
        self.map_layer(name, schema, op)
    }

    /// Applies the function `f`, marked `#[rask::remote]`, to every
    /// partition. `f` takes `&DataFrame` (or `DataFrame`) and returns a
    /// `DataFrame` (or a `Result` of one); `meta` as in
    /// [`DataFrame::map_partitions`]. The graph is portable: tasks name
    /// the function by its registry name.
    ///
    /// ```ignore
    /// use rask::dataframe::polars::prelude::*;
    ///
    /// // Spell the `Result` out: the macro knows a fallible function by a
    /// // return type named `Result`, not an alias such as `PolarsResult`.
    /// #[rask::remote]
    /// fn add_w(df: &DataFrame) -> Result<DataFrame, PolarsError> {
    ///     df.clone().lazy().with_column((col("v") * lit(10)).alias("w")).collect()
    /// }
    ///
    /// let m = df.map_partitions_remote(add_w, None);
    /// ```
    pub fn map_partitions_remote<F: 'static>(&self, f: F, meta: Option<Schema>) -> DataFrame {
        let _ = f;
        if self.error().is_some() {
            return self.clone();
        }
        let Some(entry) = rask_core::kernel::remote_fn::<F>() else {
            return self.with_error(
                "map_partitions_remote: the function is not marked `#[rask::remote]`; mark it, \
                 or use map_partitions with a closure (local only)"
                    .to_string(),
            );
        };
        let mut kernel = MapRemote {
            function: entry.kernel.to_string(),
            schema: None,
        };
        let schema = match meta {
            Some(s) => Arc::new(s),
            None => {
                let empty = PlFrame::empty_with_schema(self.schema());
                match guarded(|| kernel.call(empty).map_err(|e| e.to_string().into())) {
                    Ok(out) => out.schema().clone(),
                    Err(e) => {
                        let what = format!("`{}`", entry.kernel);
                        return self.with_error(meta_error(&what, &e));
                    }
                }
            }
        };
        kernel.schema = Some(SerSchema(schema.clone()));
        let name = layer_name("map_partitions", &kernel, &[self.name()]);
        self.map_layer(name, schema, Op::kernel(kernel))
    }

    /// A layer running `op` on each partition of this dataframe.
    pub(crate) fn map_layer(&self, name: Arc<str>, schema: SchemaRef, op: Op) -> DataFrame {
        let input = self.clone();
        let n = self.npartitions();
        let name2 = name.clone();
        let add = Box::new(move |b: &mut GraphBuilder| {
            let parts = input.add_parts(b, 0..n);
            for (i, p) in parts.into_iter().enumerate() {
                b.insert(part_key(&name2, i), op.clone(), [p]);
            }
        });
        DataFrame::from_source(
            Source::Layer(Arc::new(Layer {
                name,
                npartitions: n,
                schema,
                add,
                fuse: None,
                inline: None,
            })),
            None,
        )
    }
}

/// Runs `f` on Polars' pool with a panic turned into an error (the user's
/// function runs here, on the caller's thread, to find the schema).
pub(crate) fn guarded(
    f: impl FnOnce() -> Result<PlFrame, BoxError> + Send,
) -> Result<PlFrame, BoxError> {
    let run = std::panic::AssertUnwindSafe(|| polars_pool(f));
    std::panic::catch_unwind(run)
        .unwrap_or_else(|p| Err(format!("panicked: {}", crate::steps::panic_message(p)).into()))
}

fn meta_error(what: &str, e: &BoxError) -> String {
    format!(
        "map_partitions: {what} failed on an empty frame, which is how the output schema is \
         found ({e}); pass the output schema as `meta`"
    )
}

/// Fails unless `out` has the schema the dataframe promised (`op` is the
/// operation, `what` the function).
pub(crate) fn check_schema(
    out: &PlFrame,
    expected: &Schema,
    op: &str,
    what: &str,
) -> Result<(), TaskError> {
    if **out.schema() == *expected {
        return Ok(());
    }
    Err(TaskError::failed(format!(
        "{op}: {what} returned a partition with schema {} but the output schema is \
         {}; make the function's output schema the same for every partition, or pass the \
         right `meta`",
        fmt_schema(out.schema()),
        fmt_schema(expected)
    )))
}

/// Runs a function registered with `#[rask::remote]` (by its registry
/// name) on the partition in argument 0.
#[derive(Serialize, Deserialize)]
struct MapRemote {
    function: String,
    schema: Option<SerSchema>,
}

impl MapRemote {
    fn call(&self, df: PlFrame) -> Result<PlFrame, TaskError> {
        call_remote("map_partitions_remote", &self.function, df)
    }
}

/// Runs the `#[rask::remote]` function registered as `function` on `df`
/// (`op` names the operation in errors).
pub(crate) fn call_remote(op: &str, function: &str, df: PlFrame) -> Result<PlFrame, TaskError> {
    // A `#[rask::remote]` function's kernel has no parameters.
    let k =
        rask_core::kernel::decode(function, &[]).map_err(|e| TaskError::failed(e.to_string()))?;
    let wrong = |e: TaskError| {
        TaskError::failed(format!(
            "{op}: `{function}` must take a polars DataFrame (`&DataFrame` or `DataFrame`) \
             and return one (or a Result of one): {e}"
        ))
    };
    let out = k.run(&[Value::new(df)])?;
    out.into_inner::<PlFrame>(0).map_err(wrong)
}

impl rask_core::Kernel for MapRemote {
    const NAME: &'static str = "rask.dataframe.map_remote";
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let df = part_arg(args, 0)?.clone();
        let out = polars_pool(|| self.call(df))?;
        if let Some(s) = &self.schema {
            check_schema(
                &out,
                &s.0,
                "map_partitions",
                &format!("`{}`", self.function),
            )?;
        }
        Ok(Part::value(out))
    }
    fn label(&self) -> std::borrow::Cow<'static, str> {
        rask_core::kernel::short_name(&self.function)
            .to_string()
            .into()
    }
}

rask_core::register_kernel!(MapRemote);
