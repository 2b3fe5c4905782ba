//! The array workloads on stored input: `.npy` files and Zarr stores that
//! the harness writes once into a cache directory (`bench/inputs.py`), so
//! both engines read the same bytes and the engines' random generators are
//! out of the comparison.
//!
//! The cache directory is `$RASK_BENCH_CACHE` (the harness sets it); its
//! `reference.json`, written with the inputs, holds what each workload must
//! give (sums in f64 computed by NumPy, scipy.ndimage and PyWavelets), and
//! the gaussian workload's reference frames are `.npy` files next to it.
//! Definitions match `bench/array_workloads.py` (`STORED_WORKLOADS`) and
//! bench/README.md.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use rask::Scheduler;
use rask::array::ndarray::{ArrayD, Axis};
use rask::array::zarr::ZarrWriteOptions;
use rask::array::{Array, ndimage, s, wavelet};

use crate::arrays::{near, scalar};

/// Names of the stored-input workloads.
pub const NAMES: &[&str] = &[
    "array-npy-sum-transpose",
    "array-matmul-general",
    "array-gaussian",
    "array-dwt",
    "array-zarr-roundtrip",
];

/// Block side of the `.npy` workloads (as `array-sum-transpose`).
const CHUNK: usize = 1_000;
/// Gaussian sigma along (t, y, x): per image.
const SIGMA: [f64; 3] = [0.0, 2.0, 2.0];

/// The cache directory the harness generated the inputs into.
pub fn cache_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::var_os("RASK_BENCH_CACHE").context(
        "RASK_BENCH_CACHE is not set: the stored-input workloads read the inputs that \
         bench/run generates (bench/inputs.py); run them through bench/run",
    )?;
    let dir = PathBuf::from(dir);
    ensure!(
        dir.join("reference.json").is_file(),
        "{} has no reference.json: generate the inputs with bench/run (bench/inputs.py)",
        dir.display()
    );
    Ok(dir)
}

/// One value of `reference.json`.
fn reference(dir: &Path, key: &str) -> anyhow::Result<serde_json::Value> {
    let path = dir.join("reference.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    json.get(key)
        .cloned()
        .with_context(|| format!("{} lacks {key:?}: regenerate the inputs", path.display()))
}

fn reference_f64(dir: &Path, key: &str) -> anyhow::Result<f64> {
    reference(dir, key)?
        .as_f64()
        .with_context(|| format!("reference.json: {key:?} is not a number"))
}

/// What one run of a stored workload made: a value to check, or nothing
/// (the result went to a file).
pub enum Output {
    Value(ArrayD<f64>),
    Written(PathBuf),
}

/// A stored workload's graph: an expression to compute, or an array to
/// write to a Zarr store.
pub enum Graph {
    Expr(Array<f64>),
    ExprF32(Array<f32>),
    Write(Array<f32>, PathBuf),
}

pub struct Workload {
    name: String,
    dir: PathBuf,
}

impl Workload {
    pub fn new(name: &str) -> anyhow::Result<Self> {
        ensure!(
            NAMES.contains(&name),
            "unknown stored workload {name:?}; known: {}",
            NAMES.join(", ")
        );
        Ok(Workload {
            name: name.to_string(),
            dir: cache_dir()?,
        })
    }

    fn out_path(&self) -> PathBuf {
        self.dir
            .join("out")
            .join(format!("{}-rask.zarr", self.name))
    }

    /// Builds the graph (reads only headers and metadata).
    pub fn build(&self) -> anyhow::Result<Graph> {
        let d = &self.dir;
        Ok(match self.name.as_str() {
            "array-npy-sum-transpose" => {
                let x = Array::<f64>::from_npy(d.join("x20000.npy"), &[CHUNK, CHUNK])?;
                Graph::Expr((&x + &x.t()).sum())
            }
            "array-matmul-general" => {
                let x = Array::<f64>::from_npy(d.join("x8000.npy"), &[CHUNK, CHUNK])?;
                let y = Array::<f64>::from_npy(d.join("y8000.npy"), &[CHUNK, CHUNK])?;
                Graph::Expr(x.matmul(&y)?.sum())
            }
            "array-gaussian" => {
                let x = Array::<f32>::from_zarr(d.join("frames2048.zarr"))?;
                let smooth = ndimage::gaussian_filter(&x, &SIGMA, ndimage::Mode::Reflect)?;
                Graph::Write(smooth, self.out_path())
            }
            "array-dwt" => {
                let x = Array::<f32>::from_zarr(d.join("frames1024.zarr"))?;
                let coeffs = wavelet::wavedec(&x, "db4", 3, Axis(0), wavelet::Mode::Symmetric)?;
                let sums: Vec<Array<f32>> = coeffs.iter().map(|c| (c * c).sum()).collect();
                let refs: Vec<&Array<f32>> = sums.iter().collect();
                Graph::ExprF32(rask::array::stack(Axis(0), &refs)?)
            }
            "array-zarr-roundtrip" => {
                let x = Array::<f32>::from_zarr(d.join("frames2048.zarr"))?;
                Graph::Write(x, self.out_path())
            }
            other => bail!("unknown stored workload {other:?}"),
        })
    }

    /// Computes (or writes) a built graph on `scheduler`.
    pub fn compute(&self, graph: &Graph, scheduler: &Scheduler) -> anyhow::Result<Output> {
        let out = self.compute_graph(graph, scheduler)?;
        // The memory figures of this compute (a diagnostic line).
        if let Some(m) = rask::memory_stats() {
            let mb = |b: u64| b as f64 / 1e6;
            eprintln!(
                "rask-bench: {}: peak results held {:.1} MB, peak private RSS {:.1} MB",
                self.name,
                mb(m.peak_managed),
                mb(m.peak_rss)
            );
        }
        Ok(out)
    }

    fn compute_graph(&self, graph: &Graph, scheduler: &Scheduler) -> anyhow::Result<Output> {
        Ok(match graph {
            Graph::Expr(e) => Output::Value(e.compute_with(scheduler)?),
            Graph::ExprF32(e) => Output::Value(e.compute_with(scheduler)?.mapv(f64::from)),
            Graph::Write(a, path) => {
                // zarr-python's default codec (zstd, level 0 = zstd's 3),
                // as Dask's to_zarr writes it.
                let opts = ZarrWriteOptions::new().overwrite(true).zstd(0);
                std::fs::create_dir_all(path.parent().context("an output path has a parent")?)?;
                a.to_zarr_with(path, &opts, scheduler)?;
                Output::Written(path.clone())
            }
        })
    }

    /// Fails unless `out` is what the reference says. A written store is
    /// removed once checked (a GiB each; the disk is shared).
    pub fn check(&self, out: &Output) -> anyhow::Result<()> {
        let result = self.check_output(out);
        if let Output::Written(path) = out {
            let _ = std::fs::remove_dir_all(path);
        }
        result
    }

    fn check_output(&self, out: &Output) -> anyhow::Result<()> {
        let d = &self.dir;
        match (self.name.as_str(), out) {
            ("array-npy-sum-transpose", Output::Value(v)) => {
                // (x + x.T).sum() = 2 x.sum()
                let want = 2.0 * reference_f64(d, "x20000_sum")?;
                near("(x + x.T).sum()", scalar(v)?, want, 1e-9)
            }
            ("array-matmul-general", Output::Value(v)) => {
                // (x @ y).sum() = x.sum(axis=0) @ y.sum(axis=1)
                let want = reference_f64(d, "matmul_sum")?;
                near("(x @ y).sum()", scalar(v)?, want, 1e-9)
            }
            ("array-dwt", Output::Value(v)) => {
                let want = reference(d, "dwt_sumsq")?;
                let want: Vec<f64> = serde_json::from_value(want)
                    .context("reference.json: dwt_sumsq is not a list of numbers")?;
                ensure!(
                    v.len() == want.len(),
                    "{} sums of squares, expected {}",
                    v.len(),
                    want.len()
                );
                for (i, (g, w)) in v.iter().zip(&want).enumerate() {
                    near(
                        &format!("sum of squares of coefficient array {i}"),
                        *g,
                        *w,
                        1e-4,
                    )?;
                }
                Ok(())
            }
            ("array-gaussian", Output::Written(path)) => {
                // Frames 0 and the last against scipy.ndimage on them.
                let y = Array::<f32>::from_zarr(path)?;
                let last = y.shape()[0] - 1;
                for (t, file) in [(0, "gaussian_first.npy"), (last, "gaussian_last.npy")] {
                    let got = y.slice(&s![t..t + 1, .., ..])?.compute()?;
                    let want = Array::<f32>::from_npy(d.join(file), &[1, 2048, 2048])?.compute()?;
                    ensure!(
                        got.shape() == want.shape(),
                        "frame {t}: shape {:?}, expected {:?}",
                        got.shape(),
                        want.shape()
                    );
                    let diff = got
                        .iter()
                        .zip(want.iter())
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0f32, f32::max);
                    ensure!(
                        diff <= 1e-5,
                        "frame {t} of {} differs from scipy.ndimage.gaussian_filter by up to {diff:e}",
                        path.display()
                    );
                }
                Ok(())
            }
            ("array-zarr-roundtrip", Output::Written(path)) => {
                let x = Array::<f32>::from_zarr(d.join("frames2048.zarr"))?;
                let y = Array::<f32>::from_zarr(path)?;
                ensure!(
                    y.shape() == x.shape(),
                    "copy has shape {:?}, expected {:?}",
                    y.shape(),
                    x.shape()
                );
                let last = x.shape()[0] - 1;
                for t in [0, last / 2, last] {
                    let a = x.slice(&s![t..t + 1, .., ..])?.compute()?;
                    let b = y.slice(&s![t..t + 1, .., ..])?.compute()?;
                    ensure!(
                        a == b,
                        "frame {t} of the copy {} differs from the input",
                        path.display()
                    );
                }
                let meta = std::fs::read_to_string(path.join("zarr.json"))?;
                ensure!(
                    meta.contains("zstd"),
                    "the copy {} is not zstd-compressed",
                    path.display()
                );
                Ok(())
            }
            (name, _) => bail!("{name}: unexpected kind of output"),
        }
    }

    /// The graph to count tasks of (the write itself is not a collection
    /// `pipeline::sizes` takes, so the array to be written is counted).
    pub fn countable(graph: &Graph) -> Countable<'_> {
        match graph {
            Graph::Expr(e) => Countable::F64(e),
            Graph::ExprF32(e) | Graph::Write(e, _) => Countable::F32(e),
        }
    }
}

pub enum Countable<'a> {
    F64(&'a Array<f64>),
    F32(&'a Array<f32>),
}
