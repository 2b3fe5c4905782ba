//! Shared helpers: strategies for shapes and chunkings, and comparisons.
#![allow(dead_code)]

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use proptest::prelude::*;
use rask_array::Chunks;
use rask_array::ndarray::{ArrayD, IxDyn};
use rask_config::{Config, ConfigGuard};

/// Orders tests that change the process-wide configuration (which graph
/// building reads: `split-every`, the chunk size) after or before the tests
/// whose graphs or assertions depend on it, never during them.
static CONFIG_LOCK: RwLock<()> = RwLock::new(());

/// Held by a test whose graphs or assertions depend on the configuration:
/// no [`override_config`] is in force while it lives.
pub fn config_unchanged() -> RwLockReadGuard<'static, ()> {
    CONFIG_LOCK.read().unwrap_or_else(PoisonError::into_inner)
}

/// A configuration change, undone (before the lock is released) on drop.
pub struct ConfigOverride {
    _config: ConfigGuard,
    _lock: RwLockWriteGuard<'static, ()>,
}

/// Changes the configuration with `f` until the result is dropped, once no
/// test holding [`config_unchanged`] runs.
pub fn override_config(f: impl FnOnce(&mut Config)) -> ConfigOverride {
    let lock = CONFIG_LOCK.write().unwrap_or_else(PoisonError::into_inner);
    ConfigOverride {
        _config: rask_config::update(f),
        _lock: lock,
    }
}

/// A shape of 0 to `max_ndim` axes, each of length 0 to `max_len`.
pub fn shape(max_ndim: usize, max_len: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0..=max_len, 0..=max_ndim)
}

/// A shape with no empty axis.
pub fn nonempty_shape(max_ndim: usize, max_len: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(1..=max_len, 1..=max_ndim)
}

/// Random explicit chunks for `shape`: each axis cut at random places.
pub fn chunks_for(shape: Vec<usize>) -> impl Strategy<Value = Chunks> {
    let axes: Vec<BoxedStrategy<Vec<usize>>> = shape
        .iter()
        .map(|&len| {
            if len == 0 {
                Just(vec![0]).boxed()
            } else {
                proptest::collection::vec(any::<bool>(), len - 1)
                    .prop_map(move |cuts| {
                        let mut sizes = Vec::new();
                        let mut run = 1;
                        for c in cuts {
                            if c {
                                sizes.push(run);
                                run = 1;
                            } else {
                                run += 1;
                            }
                        }
                        sizes.push(run);
                        sizes
                    })
                    .boxed()
            }
        })
        .collect();
    axes.prop_map(move |per_axis| {
        Chunks::new(per_axis, &shape).expect("cuts sum to the axis length")
    })
}

/// A shape and a random chunking of it.
pub fn shape_and_chunks(
    max_ndim: usize,
    max_len: usize,
) -> impl Strategy<Value = (Vec<usize>, Chunks)> {
    shape(max_ndim, max_len).prop_flat_map(|s| (Just(s.clone()), chunks_for(s)))
}

/// A deterministic f64 array of `shape` with values in [-10, 10).
pub fn data(shape: &[usize], seed: u64) -> ArrayD<f64> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    ArrayD::from_shape_fn(IxDyn(shape), |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 2000) as f64 / 100.0 - 10.0
    })
}

/// Asserts two float arrays have equal shapes and values within `rtol`
/// relative (plus `1e-12` absolute) tolerance; NaN equals NaN.
pub fn assert_close(got: &ArrayD<f64>, want: &ArrayD<f64>, rtol: f64) {
    assert_eq!(got.shape(), want.shape(), "shapes differ");
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        if g.is_nan() && w.is_nan() {
            continue;
        }
        let tol = 1e-12 + rtol * w.abs().max(g.abs());
        assert!((g - w).abs() <= tol, "element {i}: got {g}, want {w}");
    }
}

/// Matrix sizes `m, k, n` up to `max` and random chunkings of `(m, k)` and
/// `(k, n)`.
pub fn matmul_case(max: usize) -> impl Strategy<Value = (usize, usize, usize, Chunks, Chunks)> {
    (0..=max, 0..=max, 0..=max).prop_flat_map(|(m, k, n)| {
        (
            Just(m),
            Just(k),
            Just(n),
            chunks_for(vec![m, k]),
            chunks_for(vec![k, n]),
        )
    })
}

/// A fresh directory under the system's temporary directory, removed on
/// drop; `kind` and `name` make it recognisable (`rask-npy-test-…`).
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(kind: &str, name: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "rask-{kind}-test-{name}-{}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// `file` inside the directory.
    pub fn path(&self, file: &str) -> std::path::PathBuf {
        self.0.join(file)
    }

    /// The names of the entries in the directory, sorted.
    pub fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Called by an oracle test that found no Python with the library it needs
/// (one was found when the crate was built): skips it with a note on
/// standard error, or fails when `RASK_REQUIRE_ORACLES` is set (as
/// `.ci/run` does after installing the oracles), so CI cannot skip silently.
pub fn no_oracle(what: &str) {
    let message = format!(
        "no Python with {what} found (set RASK_PYTHON, or run bench/run to make bench/.venv)"
    );
    if std::env::var_os("RASK_REQUIRE_ORACLES").is_some() {
        panic!("RASK_REQUIRE_ORACLES is set but {message}");
    }
    // Written past the test harness's capture, so that it shows beside
    // the test's `ok`; a missing oracle found when the crate was built is
    // reported as an ignored test instead (see build.rs).
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "note: the {what} oracle test did not run: {message}"
    );
}

/// The error of a result that must fail, as text.
pub fn err_text<T: std::fmt::Debug>(r: rask_core::Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

/// CRC-32 (the one `zlib.crc32` computes), for comparing data with Python.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A Python that can `import {modules}` (e.g. `"numpy"`): `RASK_PYTHON`,
/// the benchmarks' virtual environment, or `python3`.
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

/// Runs the oracle `script` with `python`, passing `dir` and `names` as
/// arguments; its standard output split into lines of space-separated
/// fields. Fails the test with Python's standard error if it fails.
pub fn run_oracle(
    python: &std::path::Path,
    script: &str,
    dir: &std::path::Path,
    names: &[String],
) -> Vec<Vec<String>> {
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(dir)
        .args(names)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split(' ').map(str::to_owned).collect())
        .collect()
}

/// A comma-separated list of sizes as Python prints it (`"3,4"`, `""`).
pub fn usize_list(s: &str) -> Vec<usize> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().unwrap())
        .collect()
}

/// Checks that `x`'s graph is portable and means the same elsewhere: the
/// optimized plan encodes to bytes, decodes (as another process of this
/// build would), runs, and its blocks equal the local result bit for bit.
/// Returns the computed array.
pub fn assert_portable<T: rask_array::Element>(x: &rask_array::Array<T>) -> ArrayD<T> {
    use rask_core::{Executor, Plan};
    let plan = rask_core::compute::plan(x).unwrap();
    if let Err(e) = plan.graph.check_portable() {
        panic!("{} is not portable: {e}", x.name());
    }
    let decoded = Plan::decode(&plan.encode().unwrap()).unwrap();
    let here = rask_local::SyncExecutor.execute(&plan, &[]).unwrap();
    let there = rask_local::SyncExecutor.execute(&decoded, &[]).unwrap();
    assert_eq!(
        rask_core::wire::encode_values(&here).unwrap(),
        rask_core::wire::encode_values(&there).unwrap(),
        "{}: decoded plan gave other blocks",
        x.name()
    );
    x.compute().unwrap()
}
