//! `rask version` and `rask --version`.

use crate::{TempDir, rask};

#[test]
fn version_subcommand_and_flag_agree() {
    let dir = TempDir::new("version");
    let expected = format!("rask {}\n", env!("CARGO_PKG_VERSION"));
    for args in [&["version"][..], &["--version"][..]] {
        let run = rask(args, &[], dir.path());
        assert_eq!(run.status, Some(0), "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, expected, "{args:?}");
    }
}

#[test]
fn no_arguments_prints_help_and_fails() {
    let dir = TempDir::new("no-args");
    let run = rask(&[], &[], dir.path());
    assert_eq!(run.status, Some(2));
    assert!(run.stderr.contains("Usage: rask"), "{}", run.stderr);
    assert!(run.stderr.contains("config"), "{}", run.stderr);
}

#[test]
fn variables_that_are_not_text_neither_panic_nor_pass_for_settings() {
    use std::os::unix::ffi::OsStringExt;
    let dir = TempDir::new("bytes-env");
    let run = |name: &str, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_rask"))
            .args(args)
            .current_dir(dir.path())
            .env(name, std::ffi::OsString::from_vec(b"\xff\xfe".to_vec()))
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap()
    };
    // Someone else's variable: ignored.
    let out = run("NOT_RASKS", &["version"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One of rask's: named, exit status 2, no panic.
    let out = run("RASK_NUM_WORKERS", &["config"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("RASK_NUM_WORKERS") && !err.contains("panicked"),
        "{err}"
    );
}
