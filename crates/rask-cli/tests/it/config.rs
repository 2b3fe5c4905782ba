//! `rask config` and `rask config --keys`.

use std::path::Path;

use rask::config::{Config, KEYS};

use crate::{TempDir, rask};

#[test]
fn config_prints_the_defaults_as_a_rask_toml_that_reads_back() {
    let dir = TempDir::new("defaults");
    let run = rask(&["config"], &[], dir.path());
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.contains("scheduler = \"threads\""),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("[array]"), "{}", run.stdout);
    for key in KEYS {
        assert!(run.stdout.contains(key.env), "{} is not mentioned", key.env);
    }
    let parsed = Config::from_toml_str(&run.stdout, Path::new("rask config")).unwrap();
    assert_eq!(parsed, Config::default());
}

#[test]
fn config_shows_environment_variables_and_the_config_file() {
    let dir = TempDir::new("overrides");
    std::fs::write(
        dir.path().join("rask.toml"),
        "progress = \"off\"\n[array]\nsplit-every = 8\n",
    )
    .unwrap();
    let run = rask(
        &["config"],
        &[("RASK_NUM_WORKERS", "3"), ("RASK_ARRAY_SPLIT_EVERY", "16")],
        dir.path(),
    );
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    let parsed = Config::from_toml_str(&run.stdout, Path::new("rask config")).unwrap();
    assert_eq!(parsed.num_workers, Some(3));
    assert_eq!(parsed.progress, rask::config::ProgressMode::Off);
    assert_eq!(parsed.split_every, 16, "the environment wins over the file");
}

#[test]
fn a_bad_environment_variable_is_named_and_exits_2() {
    let dir = TempDir::new("bogus");
    let run = rask(&["config"], &[("RASK_SCHEDULER", "bogus")], dir.path());
    assert_eq!(run.status, Some(2), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.contains("RASK_SCHEDULER"), "{}", run.stderr);
    assert!(run.stderr.contains("bogus"), "{}", run.stderr);
    assert!(run.stderr.contains("threads, sync"), "{}", run.stderr);
}

#[test]
fn a_bad_config_file_is_named_and_exits_2() {
    let dir = TempDir::new("bad-file");
    std::fs::write(dir.path().join("rask.toml"), "chunk-sise = 3\n").unwrap();
    let run = rask(&["config"], &[], dir.path());
    assert_eq!(run.status, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("chunk-sise"), "{}", run.stderr);
    assert!(run.stderr.contains("rask.toml"), "{}", run.stderr);
}

#[test]
fn keys_lists_every_key_with_its_variable_default_and_description() {
    let dir = TempDir::new("keys");
    let run = rask(&["config", "--keys"], &[], dir.path());
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), KEYS.len() + 1, "{}", run.stdout);
    assert!(lines[0].starts_with("KEY"), "{}", lines[0]);
    for (line, key) in lines[1..].iter().zip(KEYS) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[0], key.key, "{line}");
        assert_eq!(fields[1], key.env, "{line}");
        assert!(line.contains(key.default), "{line}");
        assert!(line.ends_with(key.doc), "{line}");
    }
    let names: Vec<&str> = KEYS.iter().map(|k| k.key).collect();
    for expected in [
        "scheduler",
        "num-workers",
        "progress",
        "progress-delay",
        "memory-limit",
        "optimization.fuse",
        "array.chunk-size",
        "array.split-every",
    ] {
        assert!(names.contains(&expected), "{expected} is missing");
    }
}

#[test]
fn keys_does_not_need_a_valid_configuration() {
    let dir = TempDir::new("keys-bogus");
    let run = rask(
        &["config", "--keys"],
        &[("RASK_SCHEDULER", "bogus")],
        dir.path(),
    );
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("RASK_SCHEDULER"));
}
