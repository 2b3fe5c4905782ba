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
