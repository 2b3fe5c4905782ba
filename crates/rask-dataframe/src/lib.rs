//! Partitioned dataframes on Polars: a lazy sequence of partitions, each a
//! Polars `DataFrame`, computed in parallel by rask.
//!
//! ```
//! # use rask_local as _;
//! use rask_dataframe::{self as dd, DataFrame};
//! use rask_dataframe::polars::prelude::*;
//!
//! let pl = df!("kind" => ["a", "b", "a", "b", "c"], "value" => [1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
//! let df: DataFrame = dd::from_polars(pl, 3).unwrap();
//! let stats = df
//!     .filter(col("value").is_not_null())
//!     .group_by([col("kind")])
//!     .agg([col("value").mean().alias("mean"), col("value").count().alias("n")])
//!     .compute()
//!     .unwrap()
//!     .sort(["kind"], Default::default())
//!     .unwrap();
//! assert_eq!(stats.column("mean").unwrap().f64().unwrap().get(0), Some(2.0));
//! ```
//!
//! * [`DataFrame`] — the model: a source of partitions (a layer of tasks,
//!   or a reader of files) plus per-partition steps fused into one Polars
//!   lazy plan per partition; schema known without computing.
//! * [`from_polars`], [`read_csv`] / [`ReadCsv`], [`read_parquet`] /
//!   [`ReadParquet`], [`DataFrame::to_parquet`] / [`WriteParquet`] (hive
//!   `partition_on`), [`DataFrame::to_csv`],
//!   [`from_delayed`] / [`DataFrame::to_delayed`] — in and out.
//! * [`DataFrame::group_by`] — aggregations as tree reductions, or as a
//!   hash shuffle of partial aggregations into [`GroupBy::split_out`]
//!   partitions for many groups; [`GroupBy::apply`] /
//!   [`GroupBy::apply_remote`] run a function on every whole group after
//!   a shuffle by the keys. Whole-frame reductions are tree reductions too:
//!   [`DataFrame::agg`] (and `sum`, `mean`, `min`, `max`, `count`),
//!   [`DataFrame::nunique`], [`DataFrame::value_counts`],
//!   [`DataFrame::drop_duplicates`] and [`DataFrame::describe`].
//! * [`DataFrame::cast_categorical`] — categoricals with the same
//!   categories in every partition (Polars `Enum`s; see its docs for why).
//! * [`DataFrame::map_partitions`] (closures, local) and
//!   [`DataFrame::map_partitions_remote`] (`#[rask::remote]` functions,
//!   portable).
//! * [`DataFrame::shuffle`], [`DataFrame::join`], [`DataFrame::sort`],
//!   [`DataFrame::set_index`], [`DataFrame::repartition`] — operations
//!   that move rows between partitions (hash and range shuffles whose
//!   pieces are ordinary results, spilled to disk by the scheduler's memory
//!   manager over its limit; broadcast or shuffled joins).
//! * [`polars`] — the Polars this crate is built with, so users match its
//!   version.
//!
//! Every partition operation is a registered kernel with serialized
//! parameters (Polars expressions travel in Polars' own encoding), so a
//! dataframe's graph can run on a cluster. Polars' work inside a task runs
//! on Polars' own thread pool (see [`kernels`]), so rask's threads and
//! Polars' threads do not oversubscribe the cores.

pub use polars;

mod categorical;
mod csv;
mod csv_rows;
mod csv_write;
mod delayed;
mod eager;
mod files;
mod frame;
mod group_apply;
mod groupby;
mod hive;
mod join;
pub mod kernels;
mod key_filter;
mod map;
mod ops;
mod parquet;
mod pieces;
mod ranges;
mod repartition;
mod shuffle;
mod sort;
mod steps;
mod tree;

pub use csv::{ReadCsv, read_csv};
pub use delayed::from_delayed;
pub use frame::{DataFrame, Divisions};
pub use groupby::{AUTO_INPUTS_PER_OUTPUT, AUTO_TREE_MAX_GROUPS, GroupBy};
pub use join::JoinStrategy;
pub use kernels::Part;
pub use parquet::{ReadParquet, WriteParquet, read_parquet};
pub use shuffle::{HashPartitioning, ShuffleOptions};

use std::sync::Arc;

use polars::prelude::DataFrame as PlFrame;
use rask_core::{Error, Op, Result};

use frame::{Layer, Source, part_key};

/// A dataframe of `df` split into `npartitions` partitions of (nearly)
/// equal rows. The data is held in the graph (it is not copied).
///
/// ```
/// # use rask_local as _;
/// use rask_dataframe::{self as dd, polars::prelude::*};
/// let d = dd::from_polars(df!("a" => [1i32, 2, 3]).unwrap(), 2).unwrap();
/// assert_eq!(d.npartitions(), 2);
/// assert_eq!(d.compute().unwrap().height(), 3);
/// ```
pub fn from_polars(df: PlFrame, npartitions: usize) -> Result<DataFrame> {
    if let Some(msg) = bad_npartitions(npartitions) {
        return Err(Error::invalid("npartitions", msg));
    }
    let rows = df.height();
    let bounds: Vec<usize> = (0..=npartitions)
        .map(|i| (i as u128 * rows as u128 / npartitions as u128) as usize)
        .collect();
    let parts: Vec<PlFrame> = bounds
        .windows(2)
        .map(|w| df.slice(w[0] as i64, w[1] - w[0]))
        .collect();
    from_partitions(parts)
}

/// The most partitions [`from_polars`] and [`DataFrame::repartition`]
/// make (2^24: a graph of more would not fit in memory).
pub const MAX_PARTITIONS: usize = 1 << 24;

/// Why `n` partitions cannot be asked for, if they cannot.
pub(crate) fn bad_npartitions(n: usize) -> Option<String> {
    if n == 0 {
        Some("a dataframe needs at least one partition; pass 1 or more".into())
    } else if n > MAX_PARTITIONS {
        Some(format!(
            "{n} partitions: the most is {MAX_PARTITIONS}; ask for fewer, larger partitions"
        ))
    } else {
        None
    }
}

/// A dataframe whose partitions are `parts`, in order. Every partition must
/// have the same schema (an empty one too).
pub fn from_partitions(parts: Vec<PlFrame>) -> Result<DataFrame> {
    let Some(first) = parts.first() else {
        return Err(Error::invalid(
            "partitions",
            "a dataframe needs at least one partition",
        ));
    };
    let schema = first.schema().clone();
    for (i, p) in parts.iter().enumerate() {
        if p.schema() != &schema {
            return Err(Error::invalid(
                "partitions",
                format!(
                    "partition {i} has schema {} but partition 0 has {}; cast them to one schema",
                    frame::fmt_schema(p.schema()),
                    frame::fmt_schema(&schema)
                ),
            ));
        }
    }
    let name: Arc<str> = format!("from_polars-{}", rask_core::fresh_token()).into();
    let n = parts.len();
    let values: Vec<Op> = parts
        .into_iter()
        .map(|p| Op::value(kernels::Part::value(p)))
        .collect();
    let name2 = name.clone();
    let add = Box::new(move |b: &mut rask_core::GraphBuilder| {
        for (i, op) in values.iter().enumerate() {
            b.insert(part_key(&name2, i), op.clone(), []);
        }
    });
    Ok(DataFrame::from_source(
        Source::Layer(Arc::new(Layer {
            name,
            npartitions: n,
            schema,
            add,
            fuse: None,
            inline: None,
        })),
        None,
    ))
}
