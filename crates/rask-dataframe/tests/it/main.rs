//! Integration tests of rask-dataframe: every operation equals Polars on the
//! concatenated data (Polars is the oracle), over random partitionings with
//! empty partitions and nulls; bad input gives clear errors.

use rask_local as _;

mod categorical;
mod csv;
mod delayed;
mod differential;
mod errors;
mod frame;
mod group_apply;
mod groupby;
mod hive;
mod io;
mod join;
mod map;
mod memory;
mod ops;
mod parquet;
mod shuffle;
mod support;
