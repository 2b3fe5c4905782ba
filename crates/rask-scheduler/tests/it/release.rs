//! Release of intermediates and results, client departure, cancel, reuse.

use rask_protocol::*;
use rask_scheduler::{ClientId, Event, TaskState};

use crate::harness::*;

#[test]
fn intermediates_are_freed_once_dependents_are_done() {
    let mut h = H::new();
    let mut sim = Sim::default();
    sim.add(&mut h, 1, 2);
    // Tree: four leaves, two pairs, one root.
    h.submit(
        vec![
            task("l0", &[]),
            task("l1", &[]),
            task("l2", &[]),
            task("l3", &[]),
            task("p0", &[0, 1]),
            task("p1", &[2, 3]),
            task("top", &[4, 5]),
        ],
        &[6],
    );
    sim.run_all(&mut h);
    assert_eq!(in_memory(&sim.client), ["top"]);
    let held = &sim.workers[&1].held;
    assert_eq!(
        held.iter().collect::<Vec<_>>(),
        ["top"],
        "only the result is kept"
    );
    // Records of the lineage stay while the result is in memory.
    assert_eq!(h.s.stats().memory, 1);
    assert_eq!(h.s.task_state(&key("l0")), Some(TaskState::Released));
    // Releasing the result frees it and forgets everything.
    h.client_says(ClientToScheduler::Release {
        keys: vec![key("top")],
    });
    sim.absorb(&mut h);
    assert!(sim.workers[&1].held.is_empty());
    assert_eq!(h.s.stats().tasks, 0);
}

#[test]
fn client_gone_releases_its_work() {
    let mut h = H::new();
    h.worker(1, 1);
    h.submit(
        vec![task("a", &[]), task("b", &[0]), task("c", &[])],
        &[1, 2],
    );
    let c = h.computes();
    assert_eq!(c.len(), 2);
    h.finish(1, "a", 8);
    h.take();
    h.ev(Event::ClientGone { client: C });
    // b (processing) is cancelled on its worker, a freed, all forgotten.
    let frees = h.frees();
    assert!(
        frees.contains(&(1, "a".into())) && frees.contains(&(1, "b".into())),
        "{frees:?}"
    );
    assert_eq!(h.s.stats().tasks, 0);
    // A late result of a forgotten task is freed on the worker.
    h.finish(1, "b", 8);
    assert_eq!(h.frees(), [(1, "b".to_string())].into());
}

#[test]
fn cancel_reports_and_drops_work_only_it_needed() {
    let mut h = H::new();
    h.worker(1, 1);
    h.submit(vec![task("a", &[]), task("b", &[0])], &[1]);
    h.take();
    h.client_says(ClientToScheduler::Cancel {
        keys: vec![key("b")],
    });
    let e = erred(&h.client_msgs());
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].kind, FailureKind::Cancelled);
    assert_eq!(e[0].key, key("b"));
    assert_eq!(h.frees(), [(1, "a".to_string())].into(), "a was processing");
    assert_eq!(h.s.stats().tasks, 0);
}

#[test]
fn cancel_keeps_work_another_client_wants() {
    let mut h = H::new();
    h.worker(1, 1);
    h.ev(Event::ClientConnected {
        client: ClientId(1),
        name: "other".into(),
    });
    h.submit(vec![task("a", &[])], &[0]);
    h.ev(Event::Client {
        client: ClientId(1),
        msg: ClientToScheduler::Want {
            keys: vec![key("a")],
        },
        bulk: vec![],
    });
    h.client_says(ClientToScheduler::Cancel {
        keys: vec![key("a")],
    });
    h.take();
    assert_eq!(h.s.task_state(&key("a")), Some(TaskState::Processing));
    h.finish(1, "a", 8);
    let to_other: Vec<_> = h
        .take()
        .into_iter()
        .filter(|m| matches!(m, Msg::Client(c, SchedulerToClient::InMemory { .. }, _) if *c == ClientId(1)))
        .collect();
    assert_eq!(to_other.len(), 1);
}

#[test]
fn keys_are_reused_across_submissions() {
    let mut h = H::new();
    h.worker(1, 1);
    h.submit(vec![task("a", &[]), task("b", &[0])], &[0, 1]);
    h.finish(1, "a", 8);
    h.finish(1, "b", 8);
    assert_eq!(in_memory(&h.client_msgs()), ["a", "b"]);
    h.take();
    // Resubmitting b and a new dependent runs only the new one; b in memory
    // is reported at once (again: the client asked again).
    h.submit(
        vec![task("a", &[]), task("b", &[0]), task("c", &[1])],
        &[1, 2],
    );
    assert_eq!(h.computes(), vec![(1, "c".to_string())]);
    assert_eq!(in_memory(&h.client_msgs()), ["b"]);
    h.ev(Event::ClientConnected {
        client: ClientId(2),
        name: "late".into(),
    });
    h.ev(Event::Client {
        client: ClientId(2),
        msg: ClientToScheduler::UpdateGraph {
            tasks: vec![task("b", &[])],
            wanted: vec![0],
            inline_results: false,
        },
        bulk: vec![],
    });
    assert_eq!(in_memory(&h.client_msgs()), ["b"]);
    assert_eq!(h.computes(), vec![]);
}

#[test]
fn inline_results_are_forwarded_to_clients_that_asked() {
    let mut h = H::new();
    h.worker(1, 1);
    h.client_says(ClientToScheduler::UpdateGraph {
        tasks: vec![task("a", &[])],
        wanted: vec![0],
        inline_results: true,
    });
    let limit = h
        .take()
        .into_iter()
        .find_map(|m| match m {
            Msg::Worker(_, SchedulerToWorker::Compute(c), _) => Some(c.inline_limit),
            _ => None,
        })
        .unwrap();
    assert_eq!(limit, 64 * 1024);
    let frame = bytes::Bytes::from_static(b"12345678");
    h.ev(Event::Worker {
        worker: rask_scheduler::WorkerId(1),
        msg: WorkerToScheduler::TaskFinished {
            key: key("a"),
            nbytes: 8,
            tag: "u64".into(),
            duration_us: 1,
            inline: Some(BulkRef {
                frame: 0,
                tag: "u64".into(),
            }),
        },
        bulk: vec![frame.clone()],
    });
    let m = h.take();
    let Msg::Client(
        _,
        SchedulerToClient::InMemory {
            inline: Some(r), ..
        },
        bulk,
    ) = &m[0]
    else {
        panic!("{m:?}")
    };
    assert_eq!(r.frame, 0);
    assert_eq!(bulk[0], frame);
}

#[test]
fn release_of_a_queued_task_cancels_it() {
    let mut h = H::new();
    h.worker(1, 1);
    let tasks: Vec<_> = (0..5).map(|i| task(&format!("r{i}"), &[])).collect();
    h.submit(tasks, &[0, 1, 2, 3, 4]);
    assert_eq!(h.s.stats().queued, 3);
    h.client_says(ClientToScheduler::Release {
        keys: vec![key("r4")],
    });
    assert_eq!(h.s.stats().queued, 2);
    assert_eq!(h.s.task_state(&key("r4")), None);
}

#[test]
fn want_of_an_unknown_key_is_an_error_naming_it() {
    let mut h = H::new();
    h.worker(1, 1);
    h.submit(vec![task("real", &[])], &[0]);
    h.take();
    h.client_says(ClientToScheduler::Want {
        keys: vec![key("real"), key("ghost")],
    });
    let msgs = h.client_msgs();
    assert!(
        matches!(&msgs[..], [SchedulerToClient::Error { message, keys: Some(keys) }]
            if message.contains("ghost") && !message.contains("real") && keys == &[key("ghost")]),
        "{msgs:?}"
    );
}

#[test]
fn shared_work_survives_one_client_leaving() {
    let mut h = H::new();
    h.worker(1, 1);
    h.ev(Event::ClientConnected {
        client: ClientId(1),
        name: "other".into(),
    });
    h.submit(vec![task("a", &[]), task("b", &[0])], &[1]);
    h.ev(Event::Client {
        client: ClientId(1),
        msg: ClientToScheduler::UpdateGraph {
            tasks: vec![task("a", &[]), task("b", &[0])],
            wanted: vec![1],
            inline_results: false,
        },
        bulk: vec![],
    });
    h.ev(Event::ClientGone { client: C });
    assert!(h.frees().is_empty());
    h.finish(1, "a", 8);
    h.finish(1, "b", 8);
    let msgs = h.take();
    assert!(msgs.iter().any(|m| matches!(m, Msg::Client(c, SchedulerToClient::InMemory { key, .. }, _) if *c == ClientId(1) && key.name == "b")));
    assert_eq!(h.s.stats().clients, 1);
}

#[test]
fn many_wants_released_one_by_one_stay_consistent() {
    let mut h = H::new();
    let mut sim = Sim::default();
    sim.add(&mut h, 1, 2);
    let tasks: Vec<_> = (0..300).map(|i| task(&format!("m{i}"), &[])).collect();
    h.submit(tasks, &(0..300).collect::<Vec<_>>());
    sim.run_all(&mut h);
    for i in 0..250 {
        h.client_says(ClientToScheduler::Release {
            keys: vec![key(&format!("m{i}"))],
        });
    }
    // Re-want a few released and a few live ones, then leave.
    h.submit(
        (0..5).map(|i| task(&format!("m{i}"), &[])).collect(),
        &[0, 1, 2, 3, 4],
    );
    sim.run_all(&mut h);
    assert_eq!(h.s.stats().memory, 55);
    h.ev(Event::ClientGone { client: C });
    sim.absorb(&mut h);
    assert_eq!(h.s.stats().tasks, 0);
    assert!(sim.workers[&1].held.is_empty());
}

/// Regression: a client asking for a key it already wanted was not told
/// again. A client that dropped its last future on a key and submitted the
/// same call at once has a new future waiting for that report; with the
/// release sent late it also came after the new want, which it then
/// cancelled, and the new future never resolved.
#[test]
fn a_key_wanted_again_by_the_same_client_is_reported_again() {
    let mut h = H::new();
    let mut sim = Sim::default();
    sim.add(&mut h, 1, 1);
    sim.failing.insert("bad".into());
    h.submit(vec![task("good", &[]), task("bad", &[])], &[0, 1]);
    sim.run_all(&mut h);
    assert_eq!(in_memory(&sim.client), ["good"]);
    assert_eq!(erred(&sim.client).len(), 1);
    sim.client.clear();
    // Asked again by a submission: told again, nothing recomputed.
    h.submit(vec![task("good", &[]), task("bad", &[])], &[0, 1]);
    let msgs = h.client_msgs();
    assert_eq!(in_memory(&msgs), ["good"]);
    assert_eq!(erred(&msgs)[0].key, key("bad"));
    assert_eq!(h.computes(), vec![]);
    // Asked again by key: told again.
    h.client_says(ClientToScheduler::Want {
        keys: vec![key("good")],
    });
    assert_eq!(in_memory(&h.client_msgs()), ["good"]);
    // Still one want: one release forgets it.
    h.client_says(ClientToScheduler::Release {
        keys: vec![key("good"), key("bad")],
    });
    sim.absorb(&mut h);
    assert_eq!(h.s.stats().tasks, 0);
}
