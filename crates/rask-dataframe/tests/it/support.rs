//! Shared test data and comparisons.

use rask_dataframe::polars::prelude::*;

/// A small deterministic generator (SplitMix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `rows` rows: `k` (string key, some null), `g` (small int key, some
/// null), `v` (float, some null), `w` (int).
pub fn data(rows: usize, seed: u64) -> DataFrame {
    let mut r = Rng::new(seed);
    let k = kinds(&mut r, rows);
    let g: Vec<Option<i64>> = (0..rows)
        .map(|_| {
            let x = r.below(8) as i64;
            (x != 7).then_some(x - 3)
        })
        .collect();
    let v: Vec<Option<f64>> = (0..rows)
        .map(|_| {
            let x = r.below(1000) as f64 / 7.0 - 50.0;
            (r.below(10) != 0).then_some(x)
        })
        .collect();
    let w: Vec<i64> = (0..rows).map(|_| r.below(100) as i64 - 20).collect();
    df!("k" => k, "g" => g, "v" => v, "w" => w).unwrap()
}

/// `rows` of five kind names, a sixth of them null.
pub fn kinds(r: &mut Rng, rows: usize) -> Vec<Option<&'static str>> {
    const KINDS: [&str; 5] = ["alpha", "beta", "gamma", "delta", "eps"];
    (0..rows)
        .map(|_| {
            let i = r.below(6) as usize;
            (i < 5).then(|| KINDS[i])
        })
        .collect()
}

/// `df` cut into `n` partitions at random places (some empty).
pub fn random_parts(df: &DataFrame, n: usize, seed: u64) -> Vec<DataFrame> {
    let mut r = Rng::new(seed);
    let h = df.height();
    let mut cuts: Vec<usize> = (0..n.saturating_sub(1))
        .map(|_| r.below(h as u64 + 1) as usize)
        .collect();
    // Some partitions empty on purpose.
    if n > 2 {
        cuts.push(cuts[0]);
        cuts.pop();
        cuts[1] = cuts[0];
    }
    cuts.sort_unstable();
    let mut bounds = vec![0];
    bounds.extend(cuts);
    bounds.push(h);
    bounds
        .windows(2)
        .map(|w| df.slice(w[0] as i64, w[1] - w[0]))
        .collect()
}

/// Sorts by every column given (nulls first), so frames whose row order is
/// not defined can be compared.
pub fn sorted(df: &DataFrame, by: &[&str]) -> DataFrame {
    df.sort(
        by.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        SortMultipleOptions::default().with_nulls_last(false),
    )
    .unwrap()
}

/// Asserts equal names, types and values; floats within a relative 1e-9.
pub fn assert_frames_eq(got: &DataFrame, want: &DataFrame) {
    assert_eq!(got.schema(), want.schema(), "schemas differ");
    assert_eq!(got.height(), want.height(), "heights differ\n{got}\n{want}");
    for (a, b) in got.columns().iter().zip(want.columns()) {
        let (a, b) = (a.as_materialized_series(), b.as_materialized_series());
        if a.dtype().is_float() {
            let (a, b) = (a.f64().unwrap(), b.f64().unwrap());
            for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
                match (x, y) {
                    (Some(x), Some(y)) => assert!(
                        (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
                            || (x.is_nan() && y.is_nan()),
                        "column {} row {i}: {x} != {y}",
                        a.name()
                    ),
                    (x, y) => assert_eq!(x, y, "column {} row {i}", a.name()),
                }
            }
        } else {
            assert!(
                a.equals_missing(b),
                "column {} differs:\n{a}\n{b}",
                a.name()
            );
        }
    }
}

/// A fresh temporary directory for one test, removed when dropped.
pub fn temp_dir(name: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("rask-df-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}

/// See [`temp_dir`].
pub struct TempDir(std::path::PathBuf);

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A Python that can `import {modules}`: `RASK_PYTHON`, the benchmarks'
/// virtual environment (`bench/.venv`), or `python3`.
pub fn python_with(modules: &str) -> Option<std::path::PathBuf> {
    use std::path::{Path, PathBuf};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        std::env::var_os("RASK_PYTHON").map(PathBuf::from),
        Some(root.join("bench/.venv/bin/python")),
        Some(PathBuf::from("python3")),
    ];
    candidates.into_iter().flatten().find(|py| {
        std::process::Command::new(py)
            .args(["-c", &format!("import {modules}")])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Called by an oracle test that found no Python with `what`: skips it
/// with a note on standard error (past the harness's capture, so it shows
/// beside the test's `ok`), or fails when `RASK_REQUIRE_ORACLES` is set
/// (as `.ci/run` does after installing the oracles).
pub fn no_oracle(what: &str) {
    let message = format!(
        "no Python with {what} found (set RASK_PYTHON, or run bench/run to make bench/.venv)"
    );
    if std::env::var_os("RASK_REQUIRE_ORACLES").is_some() {
        panic!("RASK_REQUIRE_ORACLES is set but {message}");
    }
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "note: the {what} oracle test did not run: {message}"
    );
}

/// Whether the graph of a dataframe can leave the process (every task a
/// registered kernel).
pub fn portable(d: &rask_dataframe::DataFrame) -> bool {
    let mut b = rask_core::GraphBuilder::new();
    let mut keys = Vec::new();
    rask_core::Collection::add_to_graph(d, &mut b, &mut keys);
    b.build().unwrap().is_portable()
}

/// What `#[rask::remote]` generates for a fallible one-frame function (the
/// facade's macro cannot be used from this crate): a parameterless kernel
/// named `$name` that runs `$f`, and its registry entry.
#[macro_export]
macro_rules! remote_frame_fn {
    ($kernel:ident, $f:ident, $name:literal) => {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct $kernel;

        impl rask_core::Kernel for $kernel {
            const NAME: &'static str = $name;
            fn run(
                &self,
                args: &[rask_core::Value],
            ) -> Result<rask_core::Value, rask_core::TaskError> {
                let df: &rask_dataframe::polars::prelude::DataFrame = args[0].get(0)?;
                $f(df)
                    .map(rask_core::Value::new)
                    .map_err(rask_core::TaskError::failed)
            }
        }

        rask_core::register_kernel!($kernel);
        rask_core::inventory::submit! {
            rask_core::kernel::RemoteFn {
                type_id: || rask_core::kernel::type_id_of(&$f),
                kernel: $name,
                fallible: true,
                pure: true,
            }
        }
    };
}
