//! Lost workers, killed workers, retries, missing data, heartbeats.

use std::time::Duration;

use rask_core::Annotations;
use rask_protocol::*;
use rask_scheduler::{Event, SchedulerConfig, TaskState, WorkerId};

use crate::harness::*;

#[test]
fn lost_worker_reschedules_and_recomputes_from_lineage() {
    let mut h = H::new();
    h.worker(1, 1);
    // a → b → c; a and b computed on worker 1; c running there.
    h.submit(vec![task("a", &[]), task("b", &[0]), task("c", &[1])], &[2]);
    h.take();
    h.finish(1, "a", 8);
    assert_eq!(h.computes(), vec![(1, "b".to_string())]);
    h.finish(1, "b", 8);
    assert_eq!(h.frees(), [(1, "a".to_string())].into());
    assert_eq!(h.computes(), vec![(1, "c".to_string())]);
    h.worker(2, 1);
    h.ev(Event::WorkerGone {
        worker: WorkerId(1),
    });
    // b was only on worker 1: it is recomputed, and so is a (its input).
    assert_eq!(h.computes(), vec![(2, "a".to_string())]);
    assert_eq!(h.s.task_state(&key("b")), Some(TaskState::Waiting));
    assert_eq!(h.s.task_state(&key("c")), Some(TaskState::Waiting));
    h.finish(2, "a", 8);
    assert_eq!(h.computes(), vec![(2, "b".to_string())]);
    h.finish(2, "b", 8);
    assert_eq!(h.computes(), vec![(2, "c".to_string())]);
    h.finish(2, "c", 8);
    assert_eq!(in_memory(&h.client_msgs()), ["c"]);
}

#[test]
fn worker_silent_past_ttl_is_dropped() {
    let mut h = H::new();
    h.worker(1, 1);
    h.worker(2, 1);
    h.submit(vec![task("a", &[])], &[0]);
    let c = h.computes();
    let w = c[0].0;
    let other = 3 - w;
    h.now = Duration::from_secs(4);
    h.worker_says(
        other,
        WorkerToScheduler::Heartbeat(WorkerMetrics::default()),
    );
    h.now = Duration::from_secs(6);
    h.ev(Event::Tick);
    let msgs = h.take();
    assert!(
        msgs.iter()
            .any(|m| matches!(m, Msg::Closed(x, why) if x.0 == w && why.contains("no heartbeat"))),
        "{msgs:?}"
    );
    assert!(msgs.iter().any(|m| matches!(m, Msg::Worker(x, SchedulerToWorker::Compute(c), _) if x.0 == other && c.key == key("a"))));
    assert_eq!(h.s.stats().workers, 1);
}

#[test]
fn task_that_kills_three_workers_errs() {
    let mut h = H::new();
    h.submit(vec![task("bomb", &[])], &[0]);
    for w in 1..=3 {
        h.worker(w, 1);
        assert_eq!(h.computes(), vec![(w, "bomb".to_string())]);
        h.ev(Event::WorkerGone {
            worker: WorkerId(w),
        });
    }
    let e = erred(&h.client_msgs());
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].kind, FailureKind::KilledWorker);
    assert!(e[0].message.contains("bomb"), "{}", e[0].message);
    assert!(e[0].message.contains("3 workers"), "{}", e[0].message);
    assert!(e[0].message.contains(&address(3)), "{}", e[0].message);
    assert_eq!(h.s.task_state(&key("bomb")), Some(TaskState::Erred));
}

fn memory_restart(w: u32, h: &mut H, executing: &[&str]) {
    h.worker_says(
        w,
        WorkerToScheduler::MemoryRestart(MemoryRestart {
            rss: 191 << 20,
            limit: 200 << 20,
            fraction: 0.95,
            executing: executing.iter().copied().map(key).collect(),
        }),
    );
    h.ev(Event::WorkerGone {
        worker: WorkerId(w),
    });
}

#[test]
fn task_that_makes_three_workers_restart_for_memory_errs_naming_its_memory() {
    let mut h = H::new();
    h.submit(vec![task("hog", &[])], &[0]);
    for w in 1..=3 {
        h.worker(w, 1);
        assert_eq!(h.computes(), vec![(w, "hog".to_string())]);
        memory_restart(w, &mut h, &["hog"]);
    }
    let e = erred(&h.client_msgs());
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].kind, FailureKind::Memory);
    let m = &e[0].message;
    assert!(m.contains("task hog used too much memory"), "{m}");
    assert!(m.contains("restarted 3 times"), "{m}");
    assert!(
        m.contains("RSS 191.00 MiB over its limit 200.00 MiB x 0.95 = 190.00 MiB"),
        "{m}"
    );
    assert!(m.contains(&address(3)), "{m}");
    assert_eq!(h.s.task_state(&key("hog")), Some(TaskState::Erred));
}

#[test]
fn a_memory_restart_does_not_blame_queued_tasks() {
    let mut h = H::new();
    // Four root tasks on one thread: "a" runs, the others wait there.
    h.submit(
        vec![
            task("a", &[]),
            task("b", &[]),
            task("c", &[]),
            task("d", &[]),
        ],
        &[0, 1, 2, 3],
    );
    for w in 1..=3 {
        h.worker(w, 1);
        let sent = h.computes();
        assert!(sent.contains(&(w, "a".to_string())), "{sent:?}");
        memory_restart(w, &mut h, &["a"]);
    }
    let e = erred(&h.client_msgs());
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].key, key("a"));
    // The others were moved without blame: still runnable.
    h.worker(4, 1);
    for k in ["b", "c", "d"] {
        assert_ne!(h.s.task_state(&key(k)), Some(TaskState::Erred), "{k}");
    }
}

#[test]
fn retries_then_error_flows_to_dependents() {
    let mut h = H::new();
    h.worker(1, 1);
    let mut flaky = task("flaky", &[]);
    flaky.annotations = Some(Annotations::default().retries(1));
    h.submit(vec![flaky, task("after", &[0])], &[1]);
    let fail = |h: &mut H| {
        h.worker_says(
            1,
            WorkerToScheduler::TaskErred(Failure {
                key: key("flaky"),
                op: "flaky".into(),
                kind: FailureKind::Task,
                message: "boom".into(),
                worker: None,
            }),
        )
    };
    assert_eq!(h.computes().len(), 1);
    fail(&mut h);
    assert_eq!(h.computes(), vec![(1, "flaky".to_string())], "retried once");
    assert!(h.client_msgs().is_empty());
    fail(&mut h);
    let e = erred(&h.client_msgs());
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].key, key("after"));
    assert_eq!(e[0].kind, FailureKind::Dependency);
    assert!(e[0].message.contains("flaky") && e[0].message.contains("boom"));
    assert_eq!(e[0].worker.as_deref(), Some("w1"));
    // Wanting the erred key again reports the error again... once per want.
    h.client_says(ClientToScheduler::Want {
        keys: vec![key("flaky")],
    });
    let e = erred(&h.client_msgs());
    assert_eq!(e[0].kind, FailureKind::Task);
    // Releasing forgets everything.
    h.client_says(ClientToScheduler::Release {
        keys: vec![key("after"), key("flaky")],
    });
    assert_eq!(h.s.stats().tasks, 0);
}

#[test]
fn missing_data_corrects_who_has_and_recomputes() {
    let mut h = H::new();
    h.worker(1, 1);
    h.worker(2, 1);
    h.submit(vec![task("a", &[]), task("b", &[0])], &[1]);
    let c = h.computes();
    let w = c[0].0;
    h.finish(w, "a", 8);
    let c = h.computes();
    let wb = c[0].0;
    // The holder lost it (say, it restarted): b's worker reports it.
    h.worker_says(
        wb,
        WorkerToScheduler::MissingData {
            key: key("b"),
            missing: vec![(key("a"), vec![address(w)])],
        },
    );
    assert_eq!(h.s.who_has(&key("a")), Vec::<String>::new());
    let again: Vec<_> = h.computes().into_iter().map(|(_, k)| k).collect();
    assert_eq!(again, ["a"]);
}

/// Regression: a holder a worker could not fetch from was dropped from
/// who-has but never told, so it kept the value (uncounted) until it
/// exited. Now it is sent a `Free` for the key.
#[test]
fn missing_data_frees_the_key_on_the_holder_it_drops() {
    let mut h = H::new();
    h.worker(1, 1);
    h.submit(vec![task("a", &[])], &[0]);
    h.take();
    h.finish(1, "a", 8);
    // A second replica of a, on worker 2.
    h.worker(2, 1);
    h.worker_says(
        2,
        WorkerToScheduler::AddKeys {
            keys: vec![(key("a"), 8, "u64".into())],
        },
    );
    h.take();
    let reader = SubmittedTask {
        key: key("b"),
        op: vec![],
        deps: vec![DepRef::Known(key("a"))],
        order: 0,
        annotations: None,
    };
    h.submit(vec![reader], &[0]);
    let c = h.computes();
    let wb = c[0].0;
    let holder = 3 - wb;
    h.take();
    // b's worker could not fetch a from the other holder.
    h.worker_says(
        wb,
        WorkerToScheduler::MissingData {
            key: key("b"),
            missing: vec![(key("a"), vec![address(holder)])],
        },
    );
    assert_eq!(h.s.who_has(&key("a")), [address(wb)]);
    assert!(
        h.frees().contains(&(holder, "a".to_string())),
        "the dropped holder is told to free a"
    );
    // b runs again where a still is; nothing is recomputed.
    assert_eq!(h.computes(), vec![(wb, "b".to_string())]);
}

#[test]
fn killed_worker_limit_is_configurable() {
    let mut h = H::with(SchedulerConfig {
        allowed_failures: 1,
        ..SchedulerConfig::default()
    });
    h.worker(1, 1);
    h.submit(vec![task("x", &[])], &[0]);
    h.ev(Event::WorkerGone {
        worker: WorkerId(1),
    });
    assert_eq!(erred(&h.client_msgs())[0].kind, FailureKind::KilledWorker);
}

#[test]
fn duplicate_worker_name_is_refused() {
    let mut h = H::new();
    h.worker(1, 1);
    h.ev(Event::WorkerConnected {
        worker: WorkerId(2),
        peer_address: "10.0.0.9:1".into(),
    });
    h.worker_says(
        2,
        WorkerToScheduler::Register {
            name: "w1".into(),
            address: address(9),
            nthreads: 1,
            memory_limit: 0,
            resources: vec![],
            pid: 9,
        },
    );
    let msgs = h.take();
    assert!(
        msgs.iter().any(|m| matches!(m, Msg::Worker(w, SchedulerToWorker::Close { reason }, _) if w.0 == 2 && reason.contains("w1") && reason.contains("--name"))),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| matches!(m, Msg::Closed(w, _) if w.0 == 2))
    );
    assert_eq!(h.s.stats().workers, 1);
}

#[test]
fn stale_and_unknown_worker_messages_are_harmless() {
    let mut h = H::new();
    h.worker(1, 1);
    // A result for a key nobody knows is freed on that worker.
    h.finish(1, "ghost", 8);
    assert_eq!(h.frees(), [(1, "ghost".to_string())].into());
    // Errors, steal replies and missing data for unknown keys are ignored.
    h.worker_says(
        1,
        WorkerToScheduler::StealReply {
            key: key("ghost"),
            released: true,
        },
    );
    h.worker_says(
        1,
        WorkerToScheduler::TaskErred(Failure {
            key: key("ghost"),
            op: "x".into(),
            kind: FailureKind::Task,
            message: "x".into(),
            worker: None,
        }),
    );
    h.worker_says(
        1,
        WorkerToScheduler::MissingData {
            key: key("ghost"),
            missing: vec![(key("nope"), vec![address(7)])],
        },
    );
    h.worker_says(
        1,
        WorkerToScheduler::RemovedKeys {
            keys: vec![key("ghost")],
        },
    );
    // Messages from a worker that never connected are ignored.
    h.worker_says(42, WorkerToScheduler::Heartbeat(WorkerMetrics::default()));
    h.ev(Event::WorkerGone {
        worker: WorkerId(42),
    });
    assert!(h.take().is_empty());
    assert_eq!(h.s.stats().tasks, 0);
}

#[test]
fn stealing_respects_restrictions() {
    let mut h = H::new();
    h.worker_with(1, 1, vec![("GPU".into(), 1.0)]);
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let mut t = task(&format!("g{i}"), &[]);
            t.annotations = Some(Annotations::default().resource("GPU", 1.0));
            t
        })
        .collect();
    h.submit(tasks, &[0, 1, 2, 3]);
    assert_eq!(h.computes().len(), 4);
    h.worker(2, 4);
    h.now += Duration::from_secs(1);
    h.ev(Event::Tick);
    let steals = h
        .take()
        .into_iter()
        .filter(|m| matches!(m, Msg::Worker(_, SchedulerToWorker::Steal { .. }, _)))
        .count();
    assert_eq!(steals, 0, "worker 2 has no GPU");
}

#[test]
fn removed_keys_are_recomputed_when_needed() {
    let mut h = H::new();
    h.worker(1, 1);
    h.submit(vec![task("a", &[])], &[0]);
    h.finish(1, "a", 8);
    h.take();
    h.worker_says(
        1,
        WorkerToScheduler::RemovedKeys {
            keys: vec![key("a")],
        },
    );
    assert_eq!(h.computes(), vec![(1, "a".to_string())]);
    h.finish(1, "a", 8);
    assert!(in_memory(&h.client_msgs()).is_empty(), "reported once");
}
