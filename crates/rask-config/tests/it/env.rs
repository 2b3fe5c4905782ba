//! Environment variables over the file. No test here touches the real
//! process environment: variables are passed to `apply_env` as pairs.

use std::time::Duration;

use rask_config::{ByteSize, Config, ConfigError, ProgressMode, SchedulerKind};

use crate::{parse, var};

#[test]
fn every_variable_overrides_its_key() {
    let mut config = Config::default();
    config
        .apply_env([
            var("RASK_SCHEDULER", "sync"),
            var("RASK_NUM_WORKERS", "3"),
            var("RASK_PROGRESS", "always"),
            var("RASK_PROGRESS_DELAY", "1.5 s"),
            var("RASK_OPTIMIZATION_FUSE", "false"),
            var("RASK_ARRAY_CHUNK_SIZE", "4 MiB"),
            var("RASK_ARRAY_SPLIT_EVERY", "16"),
            var("RASK_MEMORY_LIMIT", "2 GB"),
            var("RASK_TOKEN", "s3cret"),
            var("RASK_DISTRIBUTED_CONNECT_TIMEOUT", "250 ms"),
            var("RASK_TLS_CA_FILE", "/etc/rask/ca.pem"),
            var("RASK_TLS_CERT", "/etc/rask/cert.pem"),
            var("RASK_TLS_KEY", "/etc/rask/key.pem"),
            var("RASK_MEMORY_PAUSE", "85%"),
            var("RASK_MEMORY_COMPRESSION", "none"),
        ])
        .unwrap();
    assert_eq!(
        config,
        Config {
            scheduler: SchedulerKind::Sync,
            num_workers: Some(3),
            progress: ProgressMode::On,
            progress_delay: Duration::from_millis(1500),
            fuse: false,
            array_chunk_size: ByteSize(4 << 20),
            split_every: 16,
            memory_limit: Some(ByteSize(2_000_000_000)),
            token: "s3cret".into(),
            connect_timeout: Duration::from_millis(250),
            tls_ca_file: Some("/etc/rask/ca.pem".into()),
            tls_cert: Some("/etc/rask/cert.pem".into()),
            tls_key: Some("/etc/rask/key.pem".into()),
            memory_pause: 0.85,
            spill_compression: rask_config::SpillCompression::None,
            ..Config::default()
        }
    );
}

#[test]
fn env_overrides_file() {
    let mut config =
        parse("scheduler = \"sync\"\nnum-workers = 2\n[array]\nsplit-every = 3\n").unwrap();
    config
        .apply_env([
            var("RASK_NUM_WORKERS", "auto"),
            var("RASK_ARRAY_SPLIT_EVERY", "5"),
        ])
        .unwrap();
    assert_eq!(config.scheduler, SchedulerKind::Sync, "kept from the file");
    assert_eq!(config.num_workers, None, "auto from the environment");
    assert_eq!(config.split_every, 5);
}

#[test]
fn other_and_empty_variables_are_ignored() {
    let mut config = Config::default();
    config
        .apply_env([
            var("RASK_CONFIG", "/nonexistent.toml"),
            var("RASK_SOMETHING_ELSE", "x"),
            var("PATH", "/bin"),
            var("RASK_SCHEDULER", ""),
            var("rask_scheduler", "sync"),
        ])
        .unwrap();
    assert_eq!(config, Config::default());
}

#[test]
fn bad_values_in_the_env_name_key_value_and_variable() {
    let mut config = Config::default();
    let err = config
        .apply_env([var("RASK_SCHEDULER", "fast")])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value \"fast\" for `scheduler` (from environment variable RASK_SCHEDULER): \
         expected one of threads, sync"
    );

    for (name, key, value, expected) in [
        ("RASK_NUM_WORKERS", "num-workers", "0", "at least 1"),
        ("RASK_PROGRESS", "progress", "loud", "auto, on, off"),
        ("RASK_PROGRESS_DELAY", "progress-delay", "500", "a duration"),
        (
            "RASK_OPTIMIZATION_FUSE",
            "optimization.fuse",
            "maybe",
            "true or false",
        ),
        (
            "RASK_ARRAY_CHUNK_SIZE",
            "array.chunk-size",
            "1 MiBi",
            "byte size",
        ),
        (
            "RASK_ARRAY_SPLIT_EVERY",
            "array.split-every",
            "1",
            "at least 2",
        ),
        ("RASK_MEMORY_LIMIT", "memory-limit", "99 EiB", "byte size"),
    ] {
        let err = config.apply_env([var(name, value)]).unwrap_err();
        let message = err.to_string();
        assert_eq!(
            err,
            ConfigError::Invalid {
                key: key.to_owned(),
                value: value.to_owned(),
                origin: format!("environment variable {name}"),
                expected: match &err {
                    ConfigError::Invalid { expected, .. } => expected.clone(),
                    _ => unreachable!("just matched"),
                },
            }
        );
        assert!(message.contains(&format!("`{key}`")), "{message}");
        assert!(message.contains(&format!("{value:?}")), "{message}");
        assert!(
            message.contains(&format!("(from environment variable {name})")),
            "{message}"
        );
        assert!(message.contains(expected), "{message}");
    }
    assert_eq!(config, Config::default(), "failed values change nothing");
}
