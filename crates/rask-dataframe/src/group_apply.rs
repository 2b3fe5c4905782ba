//! `group_by(keys).apply(f)`: a user function run on every whole group.
//!
//! Rows are hash-shuffled by the keys (see [`crate::shuffle`]) so that
//! every group lands whole in one partition; then each partition runs
//! Polars' `group_by(keys).apply(f)` on its own rows. There is no shuffle
//! when the dataframe is already hash-partitioned on the keys, or on some
//! of them (after a shuffle, a shuffled join or a `split_out` aggregation),
//! into the wanted number of partitions.
//!
//! As with `map_partitions` (see [`crate::map`]), the function is a closure
//! (local only: a cluster refuses the graph, naming the task) or a function
//! marked `#[rask::remote]` (portable: tasks name it by its registry name).
//! The output schema is given, or found by calling the function on an
//! empty frame with the input's schema; every computed partition is
//! checked against it. An empty partition gives an empty frame of that
//! schema without calling the function.

use std::sync::Arc;

use polars::prelude::{DataFrame as PlFrame, DataType, PolarsError, Schema, SchemaRef, polars_err};
use rask_core::{BoxError, Op, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::frame::{DataFrame, fmt_schema, layer_name};
use crate::groupby::GroupBy;
use crate::kernels::{Part, part_arg, polars_pool, strings_in_one_chunk};
use crate::map::{call_remote, check_schema, guarded};
use crate::shuffle::{ShuffleOptions, hash_dtype, hash_shuffle, key_dtypes, plain_column};
use crate::steps::SerSchema;

const OP: &str = "group_by/apply";

impl GroupBy {
    /// Runs `f` on every group — a Polars frame holding all of the group's
    /// rows and every column, keys included — and stacks what it returns,
    /// like Polars' `group_by(keys).apply(f)`. Rows are shuffled by the
    /// keys first, so each group is whole in one partition. The keys must
    /// be plain columns. `meta` is the output's schema; when `None`, it is
    /// found by calling `f` on an empty frame with this dataframe's schema.
    /// The result has [`GroupBy::split_out`] partitions, by default as many
    /// as the input; groups come out in no particular order. Local only:
    /// for a graph that can run on a cluster, use
    /// [`GroupBy::apply_remote`].
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, polars::prelude::*};
    /// let pl = df!("kind" => ["a", "b", "a", "b", "a"], "v" => [1i64, 2, 3, 4, 5]).unwrap();
    /// let d = dd::from_polars(pl, 3).unwrap();
    /// // The two largest values of each kind.
    /// let top = d.group_by([col("kind")]).apply(
    ///     |g: DataFrame| g.sort(["v"], SortMultipleOptions::default().with_order_descending(true)).map(|g| g.head(Some(2))),
    ///     None,
    /// );
    /// let out = top.compute().unwrap().sort(["kind", "v"], Default::default()).unwrap();
    /// assert_eq!(out.column("v").unwrap().i64().unwrap().to_vec(), [Some(3), Some(5), Some(2), Some(4)]);
    /// ```
    pub fn apply<F, E>(&self, f: F, meta: Option<Schema>) -> DataFrame
    where
        F: Fn(PlFrame) -> Result<PlFrame, E> + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        let (placed, keys) = match self.placed() {
            Ok(p) => p,
            Err(d) => return d,
        };
        let f = Arc::new(f);
        let schema = match meta {
            Some(s) => Arc::new(s),
            None => {
                let empty = PlFrame::empty_with_schema(self.df.schema());
                match guarded(|| f(empty).map_err(Into::<BoxError>::into)) {
                    Ok(out) => out.schema().clone(),
                    Err(e) => return self.df.with_error(meta_error("a closure", &e)),
                }
            }
        };
        let name: Arc<str> = format!("group_apply-{}", rask_core::fresh_token()).into();
        let expected = schema.clone();
        let op = Op::call("group_apply", move |args: &[Value]| {
            let df = part_arg(args, 0)?.clone();
            let f = &*f;
            let out = polars_pool(|| {
                apply_groups(df, &keys, &expected, |g| {
                    f(g).map_err(Into::<BoxError>::into)
                })
            })?;
            check_schema(&out, &expected, OP, "the closure")?;
            Ok(Part::value(out))
        });
        placed.map_layer(name, schema, op)
    }

    /// Like [`GroupBy::apply`], with a function marked `#[rask::remote]`
    /// (taking `&DataFrame` or `DataFrame`, returning a `DataFrame` or a
    /// `Result` of one), so the graph can run on a cluster: tasks name the
    /// function by its registry name.
    ///
    /// ```ignore
    /// use rask::dataframe::polars::prelude::*;
    ///
    /// #[rask::remote]
    /// fn top2(g: DataFrame) -> Result<DataFrame, PolarsError> {
    ///     let sorted = g.sort(["v"], SortMultipleOptions::default().with_order_descending(true))?;
    ///     Ok(sorted.head(Some(2)))
    /// }
    ///
    /// let top = df.group_by([col("kind")]).apply_remote(top2, None);
    /// ```
    pub fn apply_remote<F: 'static>(&self, f: F, meta: Option<Schema>) -> DataFrame {
        let _ = f;
        let (placed, keys) = match self.placed() {
            Ok(p) => p,
            Err(d) => return d,
        };
        let Some(entry) = rask_core::kernel::remote_fn::<F>() else {
            return self.df.with_error(format!(
                "{OP}: the function given to apply_remote is not marked `#[rask::remote]`; mark \
                 it, or use apply with a closure (local only)"
            ));
        };
        let function = entry.kernel.to_string();
        let schema = match meta {
            Some(s) => Arc::new(s),
            None => {
                let empty = PlFrame::empty_with_schema(self.df.schema());
                let run =
                    || call_remote(OP, &function, empty).map_err(|e| BoxError::from(e.to_string()));
                match guarded(run) {
                    Ok(out) => out.schema().clone(),
                    Err(e) => {
                        return self.df.with_error(meta_error(&format!("`{function}`"), &e));
                    }
                }
            }
        };
        let kernel = GroupApplyRemote {
            function,
            keys,
            schema: SerSchema(schema.clone()),
        };
        let name = layer_name("group_apply", &kernel, &[placed.name()]);
        placed.map_layer(name, schema, Op::kernel(kernel))
    }

    /// The input with every group whole in one partition (shuffled by the
    /// keys unless it already is), and the key column names; or the
    /// dataframe carrying the error.
    fn placed(&self) -> Result<(DataFrame, Vec<String>), DataFrame> {
        let df = &self.df;
        if df.error().is_some() {
            return Err(df.clone());
        }
        if self.keys.is_empty() {
            return Err(df.with_error(format!("{OP}: no key given; pass at least one column")));
        }
        let Some(names) = self
            .keys
            .iter()
            .map(plain_column)
            .collect::<Option<Vec<_>>>()
        else {
            return Err(df.with_error(format!(
                "{OP}: the keys must be plain columns (`col(\"name\")`); add computed keys \
                 with with_columns first; the dataframe's schema is {}",
                fmt_schema(df.schema())
            )));
        };
        let dtypes: Vec<DataType> = match key_dtypes(OP, df, &self.keys) {
            Ok(d) => d.iter().map(hash_dtype).collect(),
            Err(e) => return Err(df.with_error(e)),
        };
        let placed = if self.grouped_in_place().is_some() {
            df.clone()
        } else {
            let n = self.split_out.unwrap_or(df.npartitions());
            hash_shuffle(df, &self.keys, &dtypes, n, &ShuffleOptions::default())
        };
        Ok((placed, names))
    }
}

fn meta_error(what: &str, e: &BoxError) -> String {
    format!(
        "{OP}: {what} failed on an empty frame, which is how the output schema is found ({e}); \
         pass the output schema as `meta`"
    )
}

/// Polars' `group_by(keys).apply(f)` on one partition whose groups are
/// whole; an empty partition gives an empty frame of `schema`.
fn apply_groups(
    df: PlFrame,
    keys: &[String],
    schema: &SchemaRef,
    f: impl Fn(PlFrame) -> Result<PlFrame, BoxError> + Send + Sync,
) -> Result<PlFrame, TaskError> {
    if df.height() == 0 {
        return Ok(PlFrame::empty_with_schema(schema));
    }
    let user = |g: PlFrame| -> Result<PlFrame, PolarsError> {
        f(g).map_err(|e| polars_err!(ComputeError: "the function failed on a group: {e}"))
    };
    // Each group gathers its rows: from string columns of one chunk (a
    // shuffled partition has a chunk per piece).
    strings_in_one_chunk(&df)
        .and_then(|df| df.group_by(keys)?.apply_sliced(None, user, Some(schema)))
        .map_err(|e| TaskError::failed(format!("{OP}: {e}")))
}

/// Runs a `#[rask::remote]` function (by its registry name) on every group
/// of the partition in argument 0.
#[derive(Serialize, Deserialize)]
struct GroupApplyRemote {
    function: String,
    keys: Vec<String>,
    schema: SerSchema,
}

impl rask_core::Kernel for GroupApplyRemote {
    const NAME: &'static str = "rask.dataframe.group_apply_remote";
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let df = part_arg(args, 0)?.clone();
        let out = polars_pool(|| {
            apply_groups(df, &self.keys, &self.schema.0, |g| {
                call_remote(OP, &self.function, g).map_err(|e| e.to_string().into())
            })
        })?;
        check_schema(&out, &self.schema.0, OP, &format!("`{}`", self.function))?;
        Ok(Part::value(out))
    }
    fn label(&self) -> std::borrow::Cow<'static, str> {
        rask_core::kernel::short_name(&self.function)
            .to_string()
            .into()
    }
}

rask_core::register_kernel!(GroupApplyRemote);
