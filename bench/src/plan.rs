//! One query text for two engines: the operations the dataframe workloads
//! use, on a rask dataframe or on a Polars lazy frame ([`Plan`]). The
//! `polars-rs` engine runs a workload as one lazy query of the Polars crate
//! rask is built with ([`collect`]), so that rask's rows can be compared
//! with the engine under its partitions, apart from the Python package's
//! newer one.

use rask::dataframe::polars::prelude::{self as pl, Engine, Expr, JoinArgs, LazyFrame, PlRefPath};
use rask::dataframe::{self as dd, DataFrame};

/// The operations the workloads use, on a rask dataframe or on a Polars
/// lazy frame.
pub trait Plan: Sized {
    /// All the Parquet files of a glob, as one table.
    fn parquet(glob: &str) -> anyhow::Result<Self>;
    fn filter(&self, e: Expr) -> Self;
    fn select<const N: usize>(&self, e: [Expr; N]) -> Self;
    fn with_columns<const N: usize>(&self, e: [Expr; N]) -> Self;
    fn join<const N: usize>(&self, other: &Self, l: [Expr; N], r: [Expr; N], a: JoinArgs) -> Self;
    fn group_by_agg<const N: usize, const M: usize>(&self, k: [Expr; N], a: [Expr; M]) -> Self;
    fn with_column(&self, e: Expr) -> Self {
        self.with_columns([e])
    }
}

impl Plan for DataFrame {
    fn parquet(glob: &str) -> anyhow::Result<Self> {
        Ok(dd::read_parquet(glob)?)
    }
    fn filter(&self, e: Expr) -> Self {
        DataFrame::filter(self, e)
    }
    fn select<const N: usize>(&self, e: [Expr; N]) -> Self {
        DataFrame::select(self, e)
    }
    fn with_columns<const N: usize>(&self, e: [Expr; N]) -> Self {
        DataFrame::with_columns(self, e)
    }
    fn join<const N: usize>(&self, other: &Self, l: [Expr; N], r: [Expr; N], a: JoinArgs) -> Self {
        DataFrame::join(self, other, l, r, a)
    }
    fn group_by_agg<const N: usize, const M: usize>(&self, k: [Expr; N], a: [Expr; M]) -> Self {
        self.group_by(k).agg(a)
    }
}

impl Plan for LazyFrame {
    fn parquet(glob: &str) -> anyhow::Result<Self> {
        Ok(LazyFrame::scan_parquet(
            PlRefPath::new(glob),
            Default::default(),
        )?)
    }
    fn filter(&self, e: Expr) -> Self {
        self.clone().filter(e)
    }
    fn select<const N: usize>(&self, e: [Expr; N]) -> Self {
        self.clone().select(e)
    }
    fn with_columns<const N: usize>(&self, e: [Expr; N]) -> Self {
        self.clone().with_columns(e)
    }
    fn join<const N: usize>(&self, other: &Self, l: [Expr; N], r: [Expr; N], a: JoinArgs) -> Self {
        self.clone().join(other.clone(), l, r, a)
    }
    fn group_by_agg<const N: usize, const M: usize>(&self, k: [Expr; N], a: [Expr; M]) -> Self {
        self.clone().group_by(k).agg(a)
    }
}

/// Runs a lazy query on Polars' streaming engine, on all its threads.
pub fn collect(q: &LazyFrame) -> anyhow::Result<pl::DataFrame> {
    // One query, one sink: a single frame.
    Ok(q.clone()
        .collect_with_engine(Engine::Streaming)?
        .unwrap_single())
}
