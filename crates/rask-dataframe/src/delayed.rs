//! Dataframes to and from lazy values of `rask-delayed`: one
//! `Delayed<polars DataFrame>` per partition.
//!
//! A partition is a [`Part`] inside the graph and a plain Polars frame in a
//! `Delayed`; a small kernel converts at the boundary (no copy: a frame's
//! columns are shared), so both directions stay portable.

use std::sync::Arc;

use polars::prelude::{DataFrame as PlFrame, Schema};
use rask_core::{Collection, Error, GraphBuilder, Op, Result, TaskError, Value};
use rask_delayed::Delayed;
use serde::{Deserialize, Serialize};

use crate::frame::{DataFrame, Layer, Source, fmt_schema, layer_name, part_key};
use crate::kernels::{Part, part_arg};
use crate::steps::SerSchema;

impl DataFrame {
    /// One lazy Polars frame per partition, in order (Dask's
    /// `to_delayed`); each computes only what its partition needs.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_dataframe::{self as dd, polars::prelude::*};
    /// let d = dd::from_polars(df!("a" => [1i64, 2, 3]).unwrap(), 2).unwrap();
    /// let parts = d.filter(col("a").gt(lit(1))).to_delayed().unwrap();
    /// assert_eq!(parts.len(), 2);
    /// assert_eq!(parts[1].compute().unwrap().height(), 2);
    /// ```
    pub fn to_delayed(&self) -> Result<Vec<Delayed<PlFrame>>> {
        self.check()?;
        let name = layer_name("to_delayed", &(), &[self.name()]);
        Ok((0..self.npartitions())
            .map(|i| {
                let key = part_key(&name, i);
                let (df, k) = (self.clone(), key.clone());
                rask_delayed::from_graph(
                    key,
                    Arc::new(move |b: &mut GraphBuilder| {
                        if b.contains(&k) {
                            return;
                        }
                        let part = df.add_parts(b, i..i + 1);
                        b.insert(k.clone(), Op::kernel(PartToFrame), part);
                    }),
                )
            })
            .collect())
    }
}

/// A dataframe whose partition `i` is the frame `parts[i]` computes to
/// (Dask's `from_delayed`). `meta` is the partitions' schema; when `None`,
/// the first partition is computed now to learn it. Every partition is
/// checked against the schema when computed.
///
/// ```
/// # use rask_local as _;
/// use rask_dataframe::{self as dd, polars::prelude::*};
/// let parts: Vec<_> = (0..3i64)
///     .map(|i| rask_delayed::delayed(move || df!("a" => [i, i * 10]).unwrap()))
///     .collect();
/// let d = dd::from_delayed(&parts, None).unwrap();
/// assert_eq!(d.npartitions(), 3);
/// assert_eq!(d.len().unwrap(), 6);
/// ```
pub fn from_delayed(parts: &[Delayed<PlFrame>], meta: Option<Schema>) -> Result<DataFrame> {
    let Some(first) = parts.first() else {
        return Err(Error::invalid(
            "from_delayed",
            "a dataframe needs at least one partition; pass one Delayed frame or more",
        ));
    };
    let schema = match meta {
        Some(s) => Arc::new(s),
        None => first.compute()?.schema().clone(),
    };
    let keys: Vec<String> = parts.iter().map(|p| p.key().to_string()).collect();
    let name = layer_name("from_delayed", &(&keys, SerSchema(schema.clone())), &[]);
    let kernel = Arc::new(FrameToPart {
        schema: SerSchema(schema.clone()),
    });
    let parts2 = parts.to_vec();
    let name2 = name.clone();
    let add = Box::new(move |b: &mut GraphBuilder| {
        for (i, d) in parts2.iter().enumerate() {
            let mut out = Vec::new();
            d.add_to_graph(b, &mut out);
            b.insert(
                part_key(&name2, i),
                Op::from_kernel(kernel.clone(), false),
                out,
            );
        }
    });
    Ok(DataFrame::from_source(
        Source::Layer(Arc::new(Layer {
            name,
            npartitions: parts.len(),
            schema,
            add,
            fuse: None,
            inline: None,
        })),
        None,
    ))
}

/// A partition as a plain Polars frame.
#[derive(Serialize, Deserialize)]
struct PartToFrame;

impl rask_core::Kernel for PartToFrame {
    const NAME: &'static str = "rask.dataframe.part_to_frame";
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        Ok(Value::new(part_arg(args, 0)?.clone()))
    }
}

/// A plain Polars frame as a partition of the schema given.
#[derive(Serialize, Deserialize)]
struct FrameToPart {
    schema: SerSchema,
}

impl rask_core::Kernel for FrameToPart {
    const NAME: &'static str = "rask.dataframe.frame_to_part";
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        let df: &PlFrame = args[0].get(0)?;
        if **df.schema() != *self.schema.0 {
            return Err(TaskError::failed(format!(
                "from_delayed: a partition has schema {} but the dataframe's is {}; make every \
                 Delayed frame have the same schema, or pass the right `meta`",
                fmt_schema(df.schema()),
                fmt_schema(&self.schema.0)
            )));
        }
        Ok(Part::value(df.clone()))
    }
}

rask_core::register_kernel!(PartToFrame, FrameToPart);
rask_core::inventory::submit! { rask_core::codec::TypeEntry::serde_unsized::<PlFrame>() }
