//! The `array-*` workloads: NumPy expressions on a random uniform matrix.
//!
//! Every workload draws `x = random::uniform(&[n, n], &chunks, SEED)`
//! (`chunks` is `[1000, 1000]` but for `array-rechunk`) and computes one
//! expression of it; the random numbers are made lazily,
//! block by block, inside `compute`, so generation is part of the compute
//! time (as in Dask, and as the NumPy reference row counts it). Definitions
//! match `bench/array_workloads.py`.
//!
//! rask's random streams are not NumPy's, so results are checked against
//! what uniform `[0, 1)` numbers must give, not against NumPy's values.

use anyhow::{Context, bail, ensure};
use rask::Scheduler;
use rask::array::Array;
use rask::array::ndarray::{ArrayD, Axis};

/// Seed of `x` (any seed; the checks hold for all).
const SEED: u64 = 42;

/// Side and block side of the streaming workloads: 20,000² f64 = 3.2 GB.
const N_STREAM: usize = 20_000;
/// Side of `array-matmul`: 8,000² f64 = 512 MB.
const N_MATMUL: usize = 8_000;
/// Block side of every workload but `array-rechunk`.
const CHUNK: usize = 1_000;
/// Side of `array-rechunk`: 8,000² f64 = 512 MB.
const N_RECHUNK: usize = 8_000;
/// `array-rechunk` goes from columns `(8000, 50)` to rows `(50, 8000)`.
const RECHUNK_FROM: [usize; 2] = [N_RECHUNK, 50];
const RECHUNK_TO: [usize; 2] = [50, N_RECHUNK];

/// Names of the array workloads.
pub const NAMES: &[&str] = &[
    "array-sum",
    "array-sum-transpose",
    "array-mean-axis0",
    "array-std",
    "array-matmul",
    "array-rechunk",
];

type Expr = fn(&Array<f64>) -> anyhow::Result<Array<f64>>;
type Check = fn(usize, &ArrayD<f64>) -> anyhow::Result<()>;

/// One array workload: the side and chunks of `x`, the expression, and its
/// check.
pub struct Workload {
    pub n: usize,
    chunks: [usize; 2],
    expr: Expr,
    check: Check,
}

impl Workload {
    /// Builds the graph: `x` and the expression, nothing computed.
    pub fn build(&self) -> anyhow::Result<Array<f64>> {
        let x = rask::array::random::uniform(&[self.n, self.n], &self.chunks, SEED)?;
        (self.expr)(&x)
    }

    /// Computes a built expression on `scheduler`.
    pub fn compute(&self, expr: &Array<f64>, scheduler: &Scheduler) -> anyhow::Result<ArrayD<f64>> {
        Ok(expr.compute_with(scheduler)?)
    }

    /// Fails unless `value` is what uniform `[0, 1)` numbers must give.
    pub fn check(&self, value: &ArrayD<f64>) -> anyhow::Result<()> {
        (self.check)(self.n, value)
    }
}

/// The workload called `name`.
pub fn workload(name: &str) -> anyhow::Result<Workload> {
    let (n, expr, check): (usize, Expr, Check) = match name {
        // x.sum(): generating x is all the work (the generation floor).
        "array-sum" => (
            N_STREAM,
            |x| Ok(x.sum()),
            |n, v| near("x.sum()", scalar(v)?, sq(n) * 0.5, 1e-3),
        ),
        // (x + x.T).sum(): every element of x is read twice.
        "array-sum-transpose" => (
            N_STREAM,
            |x| Ok((x + &x.t()).sum()),
            |n, v| near("(x + x.T).sum()", scalar(v)?, sq(n), 1e-3),
        ),
        "array-mean-axis0" => (N_STREAM, |x| Ok(x.mean_axis(Axis(0))), check_col_means),
        // x.std(ddof=0) of uniform [0, 1): sqrt(1/12).
        "array-std" => (
            N_STREAM,
            |x| Ok(x.std(0.0)),
            |_, v| near("x.std()", scalar(v)?, (1.0f64 / 12.0).sqrt(), 1e-3),
        ),
        "array-matmul" => (N_MATMUL, matmul_sum, |n, v| {
            // (x @ x.T).sum() = Σ_k (Σ_i x_ik)², and E[(Σ_i x_ik)²] =
            // n²/4 + n/12, so the sum is about n·(n²/4 + n/12).
            let n = n as f64;
            near(
                "(x @ x.T).sum()",
                scalar(v)?,
                n * (n * n / 4.0 + n / 12.0),
                1e-2,
            )
        }),
        // Columns to rows, then a sum so the result is small: the rechunk
        // is the work (Dask's "rechunk across time").
        "array-rechunk" => {
            return Ok(Workload {
                n: N_RECHUNK,
                chunks: RECHUNK_FROM,
                expr: |x| Ok(x.rechunk(&RECHUNK_TO)?.sum()),
                check: |n, v| near("x.rechunk((50, n)).sum()", scalar(v)?, sq(n) * 0.5, 1e-3),
            });
        }
        other => bail!(
            "unknown array workload {other:?}; known: {}",
            NAMES.join(", ")
        ),
    };
    Ok(Workload {
        n,
        chunks: [CHUNK, CHUNK],
        expr,
        check,
    })
}

fn matmul_sum(x: &Array<f64>) -> anyhow::Result<Array<f64>> {
    Ok(x.matmul(&x.t())?.sum())
}

fn sq(n: usize) -> f64 {
    (n as f64) * (n as f64)
}

/// The value of a 0-d result.
pub(crate) fn scalar(v: &ArrayD<f64>) -> anyhow::Result<f64> {
    ensure!(
        v.ndim() == 0,
        "expected a 0-d result, got shape {:?}",
        v.shape()
    );
    v.iter()
        .next()
        .copied()
        .context("a 0-d array has one element")
}

/// Fails unless `got` is within `rel` (relative) of `want`.
pub(crate) fn near(what: &str, got: f64, want: f64, rel: f64) -> anyhow::Result<()> {
    ensure!(
        ((got - want) / want).abs() <= rel,
        "{what} = {got}, expected {want} within {rel:e} relative"
    );
    Ok(())
}

/// `x.mean(axis=0)` of uniform `[0, 1)`: `n` column means, each within
/// ~10 standard errors (σ = sqrt(1/12)/sqrt(n)) of 0.5, averaging 0.5.
fn check_col_means(n: usize, v: &ArrayD<f64>) -> anyhow::Result<()> {
    ensure!(
        v.shape() == [n],
        "x.mean(axis=0) has shape {:?}, expected [{n}]",
        v.shape()
    );
    let tol = 10.0 * (1.0f64 / 12.0).sqrt() / (n as f64).sqrt();
    if let Some((i, m)) = v
        .iter()
        .enumerate()
        .find(|(_, m)| m.is_nan() || (*m - 0.5).abs() > tol)
    {
        bail!("x.mean(axis=0)[{i}] = {m}, expected 0.5 within {tol:.4}");
    }
    near(
        "mean of x.mean(axis=0)",
        v.mean().unwrap_or(f64::NAN),
        0.5,
        1e-3,
    )
}
