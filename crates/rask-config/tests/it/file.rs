//! Defaults, and what a `rask.toml` overrides or rejects.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rask_config::{ByteSize, Config, ConfigError, KEYS, ProgressMode, SchedulerKind};

use crate::parse;

#[test]
fn defaults_are_the_documented_ones() {
    let config = Config::default();
    assert_eq!(config.scheduler, SchedulerKind::Threads);
    assert_eq!(config.num_workers, None);
    assert_eq!(config.progress, ProgressMode::Auto);
    assert_eq!(config.progress_delay, Duration::from_millis(500));
    assert!(config.fuse);
    assert_eq!(config.array_chunk_size, ByteSize(128 * 1024 * 1024));
    assert_eq!(config.split_every, 4);
    assert_eq!(config.memory_limit, None);
    assert_eq!(parse("").unwrap(), config);
    assert!(config.worker_threads() >= 1);
}

#[test]
fn every_key_can_be_set_from_the_file() {
    let text = r#"
        scheduler = "sync"
        num-workers = 4
        progress = "off"
        progress-delay = "2s"
        memory-limit = "16 GiB"

        [optimization]
        fuse = false

        [array]
        chunk-size = "64MB"
        split-every = 8
    "#;
    let expected = Config {
        scheduler: SchedulerKind::Sync,
        num_workers: Some(4),
        progress: ProgressMode::Off,
        progress_delay: Duration::from_secs(2),
        fuse: false,
        array_chunk_size: ByteSize(64_000_000),
        split_every: 8,
        memory_limit: Some(ByteSize(16 << 30)),
        ..Config::default()
    };
    assert_eq!(parse(text).unwrap(), expected);
    assert_eq!(expected.worker_threads(), 4);
}

#[test]
fn file_accepts_natural_spellings() {
    let config = parse(
        "progress = true\nnum-workers = \"auto\"\nmemory-limit = \"none\"\n\
         optimization.fuse = true\narray.chunk-size = 1048576\n",
    )
    .unwrap();
    assert_eq!(config.progress, ProgressMode::On);
    assert_eq!(config.num_workers, None);
    assert_eq!(config.array_chunk_size, ByteSize(1 << 20));
    // "none" is no limit, as a worker's --memory-limit reads it; "auto"
    // (the default) is found at run time.
    assert_eq!(config.memory_limit, Some(ByteSize(0)));
    assert_eq!(config.block_memory_share(), None);
    for (text, want) in [
        ("\"0\"", Some(ByteSize(0))),
        ("0", Some(ByteSize(0))),
        ("\"auto\"", None),
    ] {
        let config = parse(&format!("memory-limit = {text}\n")).unwrap();
        assert_eq!(config.memory_limit, want, "{text}");
    }
}

/// Asserts that `text` is rejected with an `Invalid` error for `key` and
/// `value` whose message names them, the file, and contains `expected`.
fn assert_invalid(text: &str, key: &str, value: &str, expected: &str) {
    let err = parse(text).expect_err(text);
    let message = err.to_string();
    match &err {
        ConfigError::Invalid {
            key: k,
            value: v,
            origin,
            ..
        } => {
            assert_eq!((k.as_str(), v.as_str()), (key, value), "{message}");
            assert_eq!(origin, "config file rask.toml");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(message.contains(&format!("`{key}`")), "{message}");
    assert!(message.contains(&format!("{value:?}")), "{message}");
    assert!(
        message.contains("(from config file rask.toml)"),
        "{message}"
    );
    assert!(message.contains(expected), "{message}");
}

#[test]
fn bad_values_in_the_file_name_key_value_and_file() {
    let err = parse("scheduler = \"fast\"").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value \"fast\" for `scheduler` (from config file rask.toml): \
         expected one of threads, sync"
    );
    assert_invalid("num-workers = 0", "num-workers", "0", "at least 1");
    assert_invalid("num-workers = -2", "num-workers", "-2", "at least 1");
    assert_invalid("progress = \"maybe\"", "progress", "maybe", "auto, on, off");
    assert_invalid(
        "progress-delay = \"soon\"",
        "progress-delay",
        "soon",
        "a duration",
    );
    assert_invalid(
        "progress-delay = 500",
        "progress-delay",
        "500",
        "a duration",
    );
    assert_invalid(
        "memory-limit = \"lots\"",
        "memory-limit",
        "lots",
        "byte size",
    );
    assert_invalid(
        "[optimization]\nfuse = \"perhaps\"",
        "optimization.fuse",
        "perhaps",
        "true or false",
    );
    assert_invalid(
        "[array]\nchunk-size = \"12 parsecs\"",
        "array.chunk-size",
        "12 parsecs",
        "byte size",
    );
    assert_invalid(
        "[array]\nchunk-size = 0",
        "array.chunk-size",
        "0",
        "greater than zero",
    );
    assert_invalid(
        "[array]\nsplit-every = 1",
        "array.split-every",
        "1",
        "at least 2",
    );
    assert_invalid(
        "scheduler = [\"sync\"]",
        "scheduler",
        "[array]",
        "one of threads, sync",
    );
    assert_invalid("array = 5", "array", "5", "a table");
}

#[test]
fn unknown_keys_are_rejected_with_the_valid_ones() {
    for (text, key) in [
        ("schedular = \"sync\"", "schedular"),
        ("[array]\nchunk-sise = \"1 MiB\"", "array.chunk-sise"),
        ("[arrays]\nchunk-size = \"1 MiB\"", "arrays"),
    ] {
        let err = parse(text).expect_err(text);
        let message = err.to_string();
        assert_eq!(
            err,
            ConfigError::UnknownKey {
                key: key.to_owned(),
                path: PathBuf::from("rask.toml")
            }
        );
        assert!(message.contains(&format!("`{key}`")), "{message}");
        assert!(message.contains("rask.toml"), "{message}");
        for doc in KEYS {
            assert!(message.contains(doc.key), "{message} lacks {}", doc.key);
        }
    }
    // A known key given a table is a bad value, not an unknown key.
    let err = parse("[optimization.fuse]\nx = 1").unwrap_err();
    assert!(
        matches!(err, ConfigError::Invalid { ref key, .. } if key == "optimization.fuse"),
        "{err}"
    );
}

#[test]
fn toml_syntax_errors_name_the_file_and_line() {
    let err = Config::from_toml_str(
        "scheduler = \"sync\"\nnum-workers = = 3\n",
        Path::new("conf/rask.toml"),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ConfigError::File { .. }), "{message}");
    assert!(
        message.starts_with("cannot read config file conf/rask.toml: "),
        "{message}"
    );
    assert!(message.contains("line 2"), "{message}");
}

#[test]
fn unreadable_files_name_the_path() {
    let path = Path::new("/nonexistent/rask.toml");
    let err = Config::from_file(path).unwrap_err();
    assert!(
        matches!(&err, ConfigError::File { path: p, .. } if p == path),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("cannot read config file /nonexistent/rask.toml: ")
    );
}

#[test]
fn a_misspelt_key_gets_the_valid_one() {
    let message = parse("num_workers = 3").unwrap_err().to_string();
    assert!(
        message.contains(
            "unknown key `num_workers` in config file rask.toml; did you mean `num-workers`?"
        ),
        "{message}"
    );
    let message = parse("[array]\nchunk-sise = \"1 MiB\"")
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("did you mean `array.chunk-size`?"),
        "{message}"
    );
    let message = parse("colour = \"blue\"").unwrap_err().to_string();
    assert!(!message.contains("did you mean"), "{message}");
}

#[test]
fn memory_section_reads_fractions_sizes_and_compression() {
    let config = parse(
        "memory-limit = \"2GiB\"\n[memory]\ntarget = \"50%\"\nspill = 0.7\npause = 1\n\
         spill-directory = \"/scratch/spill\"\nmax-spill = \"10 GiB\"\ncompression = \"none\"\n",
    )
    .unwrap();
    assert_eq!(config.memory_limit, Some(ByteSize(2 << 30)));
    assert_eq!(config.memory_target, 0.5);
    assert_eq!(config.memory_pause, 1.0);
    assert_eq!(
        config.spill_directory.as_deref(),
        Some(std::path::Path::new("/scratch/spill"))
    );
    assert_eq!(config.max_spill, Some(ByteSize(10 << 30)));
    assert_eq!(
        config.spill_compression,
        rask_config::SpillCompression::None
    );
    for bad in ["0", "1.5", "-0.1", "lots", "150%"] {
        let err = parse(&format!("[memory]\ntarget = \"{bad}\"\n")).unwrap_err();
        assert!(err.to_string().contains("memory.target"), "{err}");
    }
}
