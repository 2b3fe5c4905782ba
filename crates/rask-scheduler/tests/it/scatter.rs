//! Scatter, who-has, info and retirement.

use bytes::Bytes;
use rask_protocol::*;
use rask_scheduler::{Event, TaskState, WorkerId};

use crate::harness::*;

fn scatter(h: &mut H, names: &[&str], broadcast: bool) {
    let values = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                key(n),
                BulkRef {
                    frame: i as u32,
                    tag: "u64".into(),
                },
            )
        })
        .collect();
    let bulk = names.iter().map(|_| Bytes::from_static(&[0; 8])).collect();
    h.ev(Event::Client {
        client: C,
        msg: ClientToScheduler::Scatter { values, broadcast },
        bulk,
    });
}

#[test]
fn scatter_stores_on_least_loaded_worker_and_reports_on_confirmation() {
    let mut h = H::new();
    let mut sim = Sim::default();
    sim.add(&mut h, 1, 1);
    sim.add(&mut h, 2, 1);
    scatter(&mut h, &["s0", "s1"], false);
    assert_eq!(h.s.task_state(&key("s0")), Some(TaskState::Processing));
    sim.run_all(&mut h);
    assert_eq!(in_memory(&sim.client), ["s0", "s1"]);
    let mut holders = h.s.who_has(&key("s0"));
    holders.extend(h.s.who_has(&key("s1")));
    holders.sort();
    assert_eq!(holders, [address(1), address(2)], "spread over workers");
    // A task on scattered data runs; who-has and info answer.
    h.submit(
        vec![SubmittedTask {
            key: key("f"),
            op: vec![],
            deps: vec![DepRef::Known(key("s0"))],
            order: 0,
            annotations: None,
        }],
        &[0],
    );
    sim.run_all(&mut h);
    h.client_says(ClientToScheduler::WhoHas {
        keys: vec![key("s1"), key("nope")],
    });
    h.client_says(ClientToScheduler::Info);
    let msgs = h.client_msgs();
    let SchedulerToClient::WhoHas { entries } = &msgs[0] else {
        panic!("{msgs:?}")
    };
    assert_eq!(entries[1], (key("nope"), vec![]));
    let SchedulerToClient::Info { workers, tasks, .. } = &msgs[1] else {
        panic!("{msgs:?}")
    };
    assert_eq!(workers.len(), 2);
    assert_eq!(*tasks, 3);
}

#[test]
fn broadcast_and_lost_scattered_data() {
    let mut h = H::new();
    let mut sim = Sim::default();
    sim.add(&mut h, 1, 1);
    sim.add(&mut h, 2, 1);
    scatter(&mut h, &["everywhere"], true);
    scatter(&mut h, &["once"], false);
    sim.run_all(&mut h);
    assert_eq!(h.s.who_has(&key("everywhere")).len(), 2);
    let holder = h.s.who_has(&key("once"))[0].clone();
    let w = if holder == address(1) { 1 } else { 2 };
    sim.workers.remove(&w);
    h.ev(Event::WorkerGone {
        worker: WorkerId(w),
    });
    // A dependent of the lost value errs as lost, not hangs.
    h.submit(
        vec![SubmittedTask {
            key: key("g"),
            op: vec![],
            deps: vec![DepRef::Known(key("once"))],
            order: 0,
            annotations: None,
        }],
        &[0],
    );
    sim.run_all(&mut h);
    let e = erred(&sim.client);
    assert!(
        e.iter()
            .any(|f| f.key == key("once") && f.kind == FailureKind::Lost),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|f| f.key == key("g") && f.kind == FailureKind::Dependency),
        "{e:?}"
    );
    assert_eq!(h.s.who_has(&key("everywhere")).len(), 1);
}

#[test]
fn scatter_without_workers_is_an_error() {
    let mut h = H::new();
    scatter(&mut h, &["x", "y"], false);
    let msgs = h.client_msgs();
    assert!(
        matches!(&msgs[0], SchedulerToClient::Error { message, keys: Some(keys) }
            if message.contains("no workers") && keys == &[key("x"), key("y")]),
        "{msgs:?}"
    );
}

#[test]
fn retiring_worker_hands_its_data_over_then_closes() {
    let mut h = H::new();
    let mut sim = Sim::default();
    sim.add(&mut h, 1, 1);
    h.submit(vec![task("a", &[])], &[0]);
    sim.run_all(&mut h);
    sim.add(&mut h, 2, 1);
    h.worker_says(1, WorkerToScheduler::Retire);
    let msgs = h.take();
    assert!(msgs.iter().any(|m| matches!(m, Msg::Worker(w, SchedulerToWorker::Acquire { keys }, _) if w.0 == 2 && keys[0].key == key("a"))));
    h.worker_says(
        2,
        WorkerToScheduler::AddKeys {
            keys: vec![(key("a"), 8, "u64".into())],
        },
    );
    let msgs = h.take();
    assert!(
        msgs.iter()
            .any(|m| matches!(m, Msg::Worker(w, SchedulerToWorker::Close { .. }, _) if w.0 == 1)),
        "{msgs:?}"
    );
    h.ev(Event::WorkerGone {
        worker: WorkerId(1),
    });
    assert_eq!(h.s.who_has(&key("a")), [address(2)]);
    assert_eq!(h.s.task_state(&key("a")), Some(TaskState::Memory));
    // New work avoids nothing: worker 2 runs it.
    h.submit(vec![task("b", &[])], &[0]);
    assert_eq!(h.computes(), vec![(2, "b".to_string())]);
}

#[test]
fn retire_requested_by_api() {
    let mut h = H::new();
    h.worker(1, 1);
    h.worker(2, 1);
    h.s.retire_worker(h.now, WorkerId(2), &mut h.rec);
    let msgs = h.take();
    assert!(
        msgs.iter()
            .any(|m| matches!(m, Msg::Worker(w, SchedulerToWorker::Retire, _) if w.0 == 2))
    );
    assert!(
        msgs.iter()
            .any(|m| matches!(m, Msg::Worker(w, SchedulerToWorker::Close { .. }, _) if w.0 == 2))
    );
    h.submit(vec![task("b", &[])], &[0]);
    assert_eq!(h.computes(), vec![(1, "b".to_string())]);
}

#[test]
fn retiring_worker_gives_back_its_queue() {
    let mut h = H::new();
    h.worker(1, 1);
    h.x_on_worker_1_and_readers(8, 4);
    h.worker(2, 1);
    h.take();
    h.worker_says(1, WorkerToScheduler::Retire);
    let steals: Vec<WireKey> = h
        .take()
        .into_iter()
        .filter_map(|m| match m {
            Msg::Worker(w, SchedulerToWorker::Steal { key }, _) if w.0 == 1 => Some(key),
            _ => None,
        })
        .collect();
    assert_eq!(steals, [key("y1"), key("y2"), key("y3")], "y0 is running");
    for k in steals {
        h.worker_says(
            1,
            WorkerToScheduler::StealReply {
                key: k,
                released: true,
            },
        );
    }
    let moved: Vec<_> = h.computes();
    assert_eq!(moved.len(), 3);
    assert!(moved.iter().all(|(w, _)| *w == 2));
}

/// Regression: a key first submitted with retries, released, then
/// scattered kept its `retries_left`, so a store the worker could not
/// decode was "retried" by recomputing the old op in place of the value the
/// client scattered (and a scattered key is never recomputed elsewhere).
/// Now the scatter errs at once.
#[test]
fn a_scattered_key_that_had_retries_errs_at_once_when_its_store_fails() {
    let mut h = H::new();
    h.worker(1, 1);
    let mut a = task("a", &[]);
    a.annotations = Some(rask_core::Annotations::default().retries(2));
    h.submit(vec![a, task("b", &[0])], &[1]);
    h.take();
    h.finish(1, "a", 8);
    h.finish(1, "b", 8);
    // a's result is freed, its record kept as b's lineage.
    assert_eq!(h.s.task_state(&key("a")), Some(TaskState::Released));
    h.take();
    scatter(&mut h, &["a"], false);
    assert_eq!(h.s.task_state(&key("a")), Some(TaskState::Processing));
    h.take();
    h.worker_says(
        1,
        WorkerToScheduler::TaskErred(Failure {
            key: key("a"),
            op: "scatter".into(),
            kind: FailureKind::Task,
            message: "the value does not decode".into(),
            worker: None,
        }),
    );
    assert_eq!(h.computes(), vec![], "scattered data is not recomputed");
    let e = erred(&h.client_msgs());
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].key, key("a"));
    assert!(e[0].message.contains("does not decode"), "{}", e[0].message);
    assert_eq!(h.s.task_state(&key("a")), Some(TaskState::Erred));
}

/// Regression: a value scattered under a key whose record was kept as
/// lineage (released, with inputs) kept the record's inputs: the scattered
/// value counted as their active dependent, so an input the client released
/// stayed in memory for as long as the scattered value did.
#[test]
fn a_key_scattered_over_its_lineage_no_longer_holds_its_inputs() {
    let mut h = H::new();
    let mut sim = Sim::default();
    sim.add(&mut h, 1, 1);
    // x <- y <- z; the client wants x and z, so y's record stays as z's
    // lineage after its result is freed.
    h.submit(
        vec![task("x", &[]), task("y", &[0]), task("z", &[1])],
        &[0, 2],
    );
    sim.run_all(&mut h);
    assert_eq!(h.s.task_state(&key("y")), Some(TaskState::Released));
    scatter(&mut h, &["y"], false);
    sim.run_all(&mut h);
    assert_eq!(h.s.task_state(&key("y")), Some(TaskState::Memory));
    h.client_says(ClientToScheduler::Release {
        keys: vec![key("x")],
    });
    sim.run_all(&mut h);
    assert_eq!(
        h.s.task_state(&key("x")),
        None,
        "x was released by the client and nothing computes from it"
    );
}
