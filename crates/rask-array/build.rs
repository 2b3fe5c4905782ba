//! Finds the Python oracles of the integration tests (NumPy, zarr-python,
//! scipy, PyWavelets, tifffile, astropy) once, when the crate is built, so
//! that a test whose oracle is missing is reported as ignored, with the
//! reason, instead of passing silently.
//!
//! Sets `rask_oracle_numpy`, `rask_oracle_zarr`, `rask_oracle_scipy`,
//! `rask_oracle_pywt`, `rask_oracle_tifffile` and `rask_oracle_astropy`
//! when a Python that can import the module (and NumPy) is found:
//! `RASK_PYTHON`, the benchmarks' `bench/.venv`, or `python3`. With
//! `RASK_REQUIRE_ORACLES` set (as `.ci/run` does) all are set regardless,
//! so the tests run and fail when the oracle is missing. The library
//! itself looks at none of them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The other oracles: the cfg each sets and the modules it needs.
const MORE: [(&str, &str); 4] = [
    ("rask_oracle_scipy", "scipy.ndimage, numpy"),
    ("rask_oracle_pywt", "pywt, numpy"),
    ("rask_oracle_tifffile", "tifffile, numpy"),
    ("rask_oracle_astropy", "astropy.io.fits, numpy"),
];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(rask_oracle_numpy)");
    println!("cargo::rustc-check-cfg=cfg(rask_oracle_zarr)");
    for (cfg, _) in MORE {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
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
    for (cfg, modules) in MORE {
        if required || has(modules) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
