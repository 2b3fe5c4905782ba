//! Finds the Python oracles of the integration tests (NumPy, zarr-python)
//! once, when the crate is built, so that a test whose oracle is missing is
//! reported as ignored, with the reason, instead of passing silently.
//!
//! Sets `rask_oracle_numpy` and `rask_oracle_zarr` when a Python that can
//! import them is found: `RASK_PYTHON`, the benchmarks' `bench/.venv`, or
//! `python3`. With `RASK_REQUIRE_ORACLES` set (as `.ci/run` does) both are
//! set regardless, so the tests run and fail when the oracle is missing.
//! The library itself does not look at either.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(rask_oracle_numpy)");
    println!("cargo::rustc-check-cfg=cfg(rask_oracle_zarr)");
    println!("cargo::rerun-if-env-changed=RASK_PYTHON");
    println!("cargo::rerun-if-env-changed=RASK_REQUIRE_ORACLES");
    println!("cargo::rerun-if-changed=build.rs");
    let required = std::env::var_os("RASK_REQUIRE_ORACLES").is_some();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates: Vec<PathBuf> = [
        std::env::var_os("RASK_PYTHON").map(PathBuf::from),
        Some(root.join("bench/.venv/bin/python")),
        Some(PathBuf::from("python3")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let has = |modules: &str| {
        candidates.iter().any(|py| {
            Command::new(py)
                .args(["-c", &format!("import {modules}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
    };
    if required || has("numpy") {
        println!("cargo::rustc-cfg=rask_oracle_numpy");
    }
    if required || has("zarr, numpy") {
        println!("cargo::rustc-cfg=rask_oracle_zarr");
    }
}
