//! `Config::to_toml` writes a complete, commented file that reads back.

use std::time::Duration;

use rask_config::{ByteSize, Config, KEYS, ProgressMode, SchedulerKind};

use crate::parse;

#[test]
fn default_file_lists_every_key_with_its_docs() {
    let text = Config::default().to_toml();
    for doc in KEYS {
        assert!(text.contains(doc.env), "{text}\nlacks {}", doc.env);
        assert!(text.contains(doc.doc), "{text}\nlacks {}", doc.doc);
    }
    for line in [
        "scheduler = \"threads\"",
        "progress-delay = \"500 ms\"",
        "[optimization]",
        "fuse = true",
        "[array]",
        "chunk-size = \"128 MiB\"",
        "split-every = 4",
        "num-workers = \"auto\"",
        "memory-limit = \"auto\"",
        "[memory]",
        "target = 0.6",
        "pause = 0.8",
        "max-spill = \"none\"",
        "compression = \"lz4\"",
    ] {
        assert!(text.lines().any(|l| l == line), "{text}\nlacks {line}");
    }
    assert_eq!(parse(&text).unwrap(), Config::default());
}

#[test]
fn round_trips_non_default_values() {
    for config in [
        Config {
            scheduler: SchedulerKind::Sync,
            num_workers: Some(7),
            progress: ProgressMode::Off,
            progress_delay: Duration::from_micros(1500),
            fuse: false,
            array_chunk_size: ByteSize(1_500_000_000),
            split_every: 2,
            memory_limit: Some(ByteSize(123_456_789)),
            memory_target: 0.5,
            memory_spill: 0.65,
            memory_pause: 0.75,
            memory_terminate: 1.0,
            spill_directory: Some("/scratch/a \"b\"".into()),
            max_spill: Some(ByteSize(100 << 30)),
            spill_compression: rask_config::SpillCompression::None,
            token: "a \"quoted\" token".into(),
            connect_timeout: Duration::from_millis(1500),
            tls_ca_file: Some("/tmp/a \"b\"/ca.pem".into()),
            tls_cert: Some("cert.pem".into()),
            tls_key: None,
        },
        Config {
            progress: ProgressMode::On,
            progress_delay: Duration::ZERO,
            array_chunk_size: ByteSize(u64::MAX),
            memory_limit: Some(ByteSize(3 << 30)),
            ..Config::default()
        },
        Config {
            memory_limit: Some(ByteSize(0)),
            ..Config::default()
        },
    ] {
        let text = config.to_toml();
        assert_eq!(parse(&text).unwrap(), config, "{text}");
    }
}
