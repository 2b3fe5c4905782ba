//! The process-wide configuration. Everything touching it is in this one
//! test, so that no two tests race on it.

use std::thread;

use rask_config::{Config, SchedulerKind};

#[test]
fn set_and_update_are_undone_by_their_guards() {
    // The loaded configuration depends on this process's environment, so
    // compare with whatever it is rather than with the defaults.
    let base = rask_config::get();
    if let Ok(loaded) = rask_config::try_get() {
        assert_eq!(loaded, base);
    }

    let custom = Config {
        num_workers: Some(3),
        split_every: 9,
        ..Config::default()
    };
    let outer = rask_config::set(custom.clone());
    assert_eq!(*rask_config::get(), custom);
    assert_eq!(*rask_config::try_get().unwrap(), custom);
    // Process-wide: other threads see it too.
    let seen = thread::spawn(|| rask_config::get().split_every)
        .join()
        .unwrap();
    assert_eq!(seen, 9);

    {
        let _inner = rask_config::update(|c| c.scheduler = SchedulerKind::Sync);
        let now = rask_config::get();
        assert_eq!(now.scheduler, SchedulerKind::Sync);
        assert_eq!(now.split_every, 9, "update starts from the current config");
        assert_eq!(now.worker_threads(), 3);
    }
    assert_eq!(
        *rask_config::get(),
        custom,
        "inner guard restored the outer config"
    );

    let snapshot = rask_config::get();
    drop(outer);
    assert_eq!(
        rask_config::get(),
        base,
        "outer guard restored the loaded config"
    );
    assert_eq!(
        snapshot.split_every, 9,
        "a snapshot taken earlier is unchanged"
    );
}
