//! The state machine, driven by hand: no sockets, no threads.

use super::*;
use crate::peer::DecodeError;
use rask_core::codec::CodecError;
use rask_core::{Op, wire};

fn wk(name: &str) -> WireKey {
    WireKey::from(&Key::new(name))
}

fn dep(name: &str, who_has: &[&str], nbytes: u64) -> DepLocation {
    DepLocation {
        key: wk(name),
        nbytes,
        who_has: who_has.iter().map(|s| s.to_string()).collect(),
    }
}

fn compute(name: &str, deps: Vec<DepLocation>, priority: i64) -> ComputeTask {
    let key = Key::new(name);
    ComputeTask {
        op: wire::encode_op_bytes(&key, &Op::value(Value::new(1u64))).unwrap(),
        key: wk(name),
        deps,
        priority: (priority, 0, 0),
        resources: vec![],
        inline_limit: 0,
    }
}

fn worker(nthreads: usize) -> WorkerState {
    WorkerState::new(
        "w".into(),
        "tcp://me:1".into(),
        nthreads,
        &[("GPU".into(), 1.0)],
        Arc::new(Store::default()),
    )
}

fn executed(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Execute(t) => Some(t.key.to_string()),
            _ => None,
        })
        .collect()
}

fn fetches(actions: &[Action]) -> Vec<(String, Vec<String>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Fetch { peer, keys } => {
                Some((peer.clone(), keys.iter().map(|k| k.to_string()).collect()))
            }
            _ => None,
        })
        .collect()
}

fn sent(actions: &[Action]) -> Vec<&WorkerToScheduler> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(m, _) => Some(m),
            _ => None,
        })
        .collect()
}

fn finished(name: &str, value: u64) -> Done {
    Done {
        key: Key::new(name),
        outcome: Outcome::Finished {
            value: Value::new(value),
            inline: None,
        },
        duration: Duration::from_micros(5),
    }
}

#[test]
fn ready_tasks_run_in_priority_order_one_per_thread() {
    // Tasks of 50 ms: nothing is handed to the thread ahead of time.
    let slow = |name: &str, v: u64| Done {
        duration: Duration::from_millis(50),
        ..finished(name, v)
    };
    let mut w = worker(1);
    assert_eq!(executed(&w.on_compute(compute("c", vec![], 3))), ["c"]);
    assert!(executed(&w.on_compute(compute("b", vec![], 2))).is_empty());
    assert!(executed(&w.on_compute(compute("a", vec![], 1))).is_empty());
    assert_eq!(w.metrics().executing, 1);
    assert_eq!(w.metrics().queued, 2);
    let out = w.on_done(slow("c", 7));
    assert!(matches!(
        sent(&out)[..],
        [WorkerToScheduler::TaskFinished { nbytes: 8, .. }]
    ));
    assert_eq!(executed(&out), ["a"]);
    assert_eq!(executed(&w.on_done(slow("a", 1))), ["b"]);
    assert!(executed(&w.on_done(slow("b", 1))).is_empty());
    assert_eq!(w.task_count(), 0);
    assert_eq!(w.metrics().managed_bytes, 24);
}

#[test]
fn short_tasks_are_handed_to_threads_ahead() {
    let mut w = worker(1);
    assert_eq!(executed(&w.on_compute(compute("a", vec![], 1))), ["a"]);
    for (name, p) in [("b", 2), ("c", 3), ("d", 4)] {
        assert!(executed(&w.on_compute(compute(name, vec![], p))).is_empty());
    }
    // After a 5 µs run, the thread gets all three: one to run, two ahead
    // (0.5 ms of work would be 100 such tasks).
    assert_eq!(executed(&w.on_done(finished("a", 1))), ["b", "c", "d"]);
    assert_eq!(w.metrics().executing, 3);
    // A task handed ahead counts as started: it is not given back.
    let out = w.on_steal(wk("c"));
    assert!(matches!(
        sent(&out)[..],
        [WorkerToScheduler::StealReply {
            released: false,
            ..
        }]
    ));
    assert!(executed(&w.on_compute(compute("e", vec![], 5))).contains(&"e".to_string()));
}

#[test]
fn tasks_ahead_are_about_half_a_millisecond_of_work() {
    let mut w = worker(1);
    for (name, p) in [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)] {
        w.on_compute(compute(name, vec![], p));
    }
    // Runs of 200 µs: two ahead of the one running.
    let mut run = finished("a", 1);
    run.duration = Duration::from_micros(200);
    assert_eq!(executed(&w.on_done(run)), ["b", "c", "d"]);
    assert_eq!(w.metrics().executing, 3);
}

#[test]
fn long_tasks_are_not_handed_ahead() {
    let mut w = worker(1);
    for (name, p) in [("a", 1), ("b", 2), ("c", 3)] {
        w.on_compute(compute(name, vec![], p));
    }
    let mut slow = finished("a", 1);
    slow.duration = Duration::from_millis(50);
    assert_eq!(executed(&w.on_done(slow)), ["b"]);
    assert_eq!(w.metrics().executing, 1);
}

#[test]
fn inputs_are_fetched_in_one_request_per_peer() {
    let mut w = worker(2);
    let out = w.on_compute(compute(
        "t",
        vec![
            dep("x", &["tcp://a:1"], 8),
            dep("y", &["tcp://a:1"], 8),
            dep("z", &["tcp://b:1"], 8),
        ],
        0,
    ));
    let mut f = fetches(&out);
    f.sort();
    assert_eq!(
        f,
        [
            (
                "tcp://a:1".to_string(),
                vec!["x".to_string(), "y".to_string()]
            ),
            ("tcp://b:1".to_string(), vec!["z".to_string()]),
        ]
    );
    assert!(executed(&out).is_empty());
    // A second task wanting `x` does not ask for it again.
    assert!(fetches(&w.on_compute(compute("u", vec![dep("x", &["tcp://a:1"], 8)], 1))).is_empty());

    let out = w.on_fetched(
        "tcp://a:1",
        &[Key::new("x"), Key::new("y")],
        vec![
            (Key::new("x"), Value::new(1u64)),
            (Key::new("y"), Value::new(2u64)),
        ],
        vec![],
    );
    assert!(matches!(sent(&out)[..], [WorkerToScheduler::AddKeys { keys }] if keys.len() == 2));
    assert_eq!(executed(&out), ["u"]);
    let out = w.on_fetched(
        "tcp://b:1",
        &[Key::new("z")],
        vec![(Key::new("z"), Value::new(3u64))],
        vec![],
    );
    assert_eq!(executed(&out), ["t"]);
}

#[test]
fn a_missing_input_is_tried_at_every_holder_then_reported() {
    let mut w = worker(1);
    let out = w.on_compute(compute(
        "t",
        vec![dep("x", &["tcp://a:1", "tcp://b:1"], 8)],
        0,
    ));
    let first = fetches(&out)[0].0.clone();
    let out = w.on_fetched(&first, &[Key::new("x")], vec![], vec![]);
    let second = fetches(&out)[0].0.clone();
    assert_ne!(first, second);
    let out = w.on_fetch_failed(&second, &[Key::new("x")]);
    match &sent(&out)[..] {
        [WorkerToScheduler::MissingData { key, missing }] => {
            assert_eq!(key, &wk("t"));
            assert_eq!(missing[0].0, wk("x"));
            assert_eq!(missing[0].1.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.task_count(), 0);
}

/// A value of `name` that arrived with type tag `tag`, unknown here.
fn unknown_type(name: &str, tag: &str) -> Undecodable {
    Undecodable {
        key: Key::new(name),
        tag: tag.into(),
        error: DecodeError::Codec(CodecError::UnknownTag { tag: tag.into() }),
    }
}

fn erred_tasks(actions: &[Action]) -> Vec<&Failure> {
    sent(actions)
        .into_iter()
        .filter_map(|m| match m {
            WorkerToScheduler::TaskErred(f) => Some(f),
            _ => None,
        })
        .collect()
}

/// Regression: an input that arrived but did not decode here was treated as
/// missing; the scheduler then freed it on its holder, recomputed it and
/// sent the task back, for the same failure, without end when the task
/// could only run here. Now the tasks that need it err at once, naming the
/// input, the peer and the type tag; other holders are not asked.
#[test]
fn an_input_that_arrives_but_does_not_decode_fails_its_tasks() {
    let mut w = worker(1);
    let holders = ["tcp://a:1", "tcp://b:1"];
    let mut out = w.on_compute(compute("t1", vec![dep("x", &holders, 8)], 0));
    out.extend(w.on_compute(compute(
        "t2",
        vec![dep("x", &holders, 8), dep("y", &["tcp://c:1"], 8)],
        1,
    )));
    out.extend(w.on_compute(compute("t3", vec![dep("y", &["tcp://c:1"], 8)], 2)));
    let asked = fetches(&out);
    let (peer, keys) = asked
        .iter()
        .find(|(_, keys)| keys.contains(&"x".to_string()))
        .expect("x is fetched");
    let requested: Vec<Key> = keys.iter().map(|k| Key::new(k.as_str())).collect();
    let out = w.on_fetched(
        peer,
        &requested,
        vec![],
        vec![unknown_type("x", "other-build")],
    );
    assert!(fetches(&out).is_empty(), "x is not asked of another holder");
    let failed = erred_tasks(&out);
    let mut keys: Vec<_> = failed.iter().map(|f| f.key.name.clone()).collect();
    keys.sort();
    assert_eq!(keys, ["t1", "t2"]);
    for f in failed {
        assert_eq!(f.kind, FailureKind::Missing);
        assert_eq!(f.worker.as_deref(), Some("w"));
        for part in ["input x", peer.as_str(), "`other-build`", "same binary"] {
            assert!(f.message.contains(part), "no {part:?} in {}", f.message);
        }
    }
    assert!(
        !sent(&out)
            .iter()
            .any(|m| matches!(m, WorkerToScheduler::MissingData { .. })),
        "nothing is reported missing"
    );
    // t3 still gets y and runs; t2 no longer waits for it.
    let out = w.on_fetched(
        "tcp://c:1",
        &[Key::new("y")],
        vec![(Key::new("y"), Value::new(2u64))],
        vec![],
    );
    assert_eq!(executed(&out), ["t3"]);
    assert_eq!(w.task_count(), 1);
}

#[test]
fn an_undecodable_reply_fails_tasks_as_task_errors_and_acquires_as_missing() {
    let mut w = worker(1);
    w.on_compute(compute("t", vec![dep("x", &["tcp://a:1"], 8)], 0));
    // Bad bytes (here: a frame the reply did not carry) are a task error.
    let bad = Undecodable {
        key: Key::new("x"),
        tag: "u64".into(),
        error: DecodeError::NoFrame(7),
    };
    let out = w.on_fetched("tcp://a:1", &[Key::new("x")], vec![], vec![bad]);
    match &erred_tasks(&out)[..] {
        [f] => {
            assert_eq!(f.key, wk("t"));
            assert_eq!(f.kind, FailureKind::Task);
            assert!(f.message.contains("bulk frame 7"), "{}", f.message);
        }
        other => panic!("{other:?}"),
    }
    // An acquired value that does not decode cannot be kept here: reported
    // missing, so that its retiring holder is not waited for forever.
    let out = w.on_acquire(vec![dep("k", &["tcp://a:1"], 8)]);
    assert_eq!(fetches(&out).len(), 1);
    let out = w.on_fetched(
        "tcp://a:1",
        &[Key::new("k")],
        vec![],
        vec![unknown_type("k", "z")],
    );
    match &sent(&out)[..] {
        [WorkerToScheduler::MissingData { key, missing }] => {
            assert_eq!(key, &wk("k"));
            assert_eq!(missing, &vec![(wk("k"), vec!["tcp://a:1".to_string()])]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.task_count(), 0);
}

#[test]
fn an_input_held_only_here_but_gone_is_missing_at_once() {
    let mut w = worker(1);
    let out = w.on_compute(compute("t", vec![dep("x", &["tcp://me:1"], 8)], 0));
    assert!(fetches(&out).is_empty());
    assert!(matches!(
        sent(&out)[..],
        [WorkerToScheduler::MissingData { .. }]
    ));
}

#[test]
fn busy_peers_are_asked_again() {
    let mut w = worker(1);
    let out = w.on_compute(compute("t", vec![dep("x", &["tcp://a:1"], 8)], 0));
    assert_eq!(fetches(&out).len(), 1);
    let out = w.on_peer_busy("tcp://a:1", &[Key::new("x")]);
    assert_eq!(
        fetches(&out),
        [("tcp://a:1".to_string(), vec!["x".to_string()])]
    );
}

#[test]
fn requests_per_peer_are_limited_and_batches_bounded_in_bytes() {
    let mut w = worker(1);
    let mut requests = 0;
    for i in 0..10 {
        let name = format!("x{i}");
        let out = w.on_compute(compute(
            &format!("t{i}"),
            vec![dep(&name, &["tcp://a:1"], FETCH_BATCH_BYTES / 2 + 1)],
            i,
        ));
        requests += fetches(&out).len();
    }
    assert_eq!(requests, FETCH_PER_PEER);
    // One answer frees a slot: one more request.
    let out = w.on_fetched(
        "tcp://a:1",
        &[Key::new("x0")],
        vec![(Key::new("x0"), Value::new(0u8))],
        vec![],
    );
    assert_eq!(fetches(&out).len(), 1);
}

#[test]
fn steal_releases_only_tasks_that_have_not_started() {
    let mut w = worker(1);
    w.on_compute(compute("a", vec![], 0));
    w.on_compute(compute("b", vec![], 1));
    w.on_compute(compute("c", vec![dep("x", &["tcp://a:1"], 8)], 2));
    for (key, released) in [("a", false), ("b", true), ("c", true), ("zz", false)] {
        let out = w.on_steal(wk(key));
        assert!(
            matches!(sent(&out)[..], [WorkerToScheduler::StealReply { released: r, .. }] if *r == released),
            "{key}"
        );
    }
    // The stolen tasks do not run, and `x` arriving later is not kept.
    let out = w.on_done(finished("a", 1));
    assert!(executed(&out).is_empty());
    let out = w.on_fetched(
        "tcp://a:1",
        &[Key::new("x")],
        vec![(Key::new("x"), Value::new(1u8))],
        vec![],
    );
    assert!(sent(&out).is_empty());
    assert_eq!(w.metrics().managed_bytes, 8);
}

#[test]
fn a_task_freed_while_running_is_forgotten() {
    let mut w = worker(1);
    w.on_compute(compute("a", vec![], 0));
    w.on_compute(compute("b", vec![], 1));
    w.on_free(&[wk("a"), wk("b")]);
    let out = w.on_done(finished("a", 1));
    assert!(sent(&out).is_empty() && executed(&out).is_empty());
    assert_eq!(w.task_count(), 0);
    assert_eq!(w.metrics().managed_bytes, 0);
}

#[test]
fn free_drops_stored_values() {
    let mut w = worker(1);
    let out = w.on_store(vec![(wk("s"), Value::new(5u64))]);
    assert!(matches!(sent(&out)[..], [WorkerToScheduler::AddKeys { keys }] if keys[0].1 == 8));
    assert_eq!(w.metrics().managed_bytes, 8);
    w.on_free(&[wk("s")]);
    assert_eq!(w.metrics().managed_bytes, 0);
}

#[test]
fn acquire_fetches_and_announces() {
    let mut w = worker(1);
    w.on_store(vec![(wk("here"), Value::new(5u64))]);
    let out = w.on_acquire(vec![
        dep("here", &["tcp://a:1"], 8),
        dep("there", &["tcp://a:1"], 8),
    ]);
    assert!(
        matches!(sent(&out)[..], [WorkerToScheduler::AddKeys { keys }] if keys[0].0 == wk("here"))
    );
    assert_eq!(
        fetches(&out),
        [("tcp://a:1".to_string(), vec!["there".to_string()])]
    );
    let out = w.on_fetched(
        "tcp://a:1",
        &[Key::new("there")],
        vec![(Key::new("there"), Value::new(1u64))],
        vec![],
    );
    assert!(
        matches!(sent(&out)[..], [WorkerToScheduler::AddKeys { keys }] if keys[0].0 == wk("there"))
    );
}

#[test]
fn resources_bound_what_runs_at_once() {
    let mut w = worker(2);
    let gpu = |name: &str| ComputeTask {
        resources: vec![("GPU".into(), 1.0)],
        ..compute(name, vec![], 0)
    };
    assert_eq!(executed(&w.on_compute(gpu("g1"))), ["g1"]);
    assert!(executed(&w.on_compute(gpu("g2"))).is_empty());
    assert_eq!(executed(&w.on_compute(compute("cpu", vec![], 5))), ["cpu"]);
    assert_eq!(executed(&w.on_done(finished("g1", 1))), ["g2"]);

    let out = w.on_compute(ComputeTask {
        resources: vec![("TPU".into(), 1.0)],
        ..compute("t", vec![], 0)
    });
    match &sent(&out)[..] {
        [WorkerToScheduler::TaskErred(f)] => assert!(f.message.contains("`TPU`"), "{}", f.message),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_failed_run_is_reported_with_its_kind() {
    let mut w = worker(1);
    w.on_compute(compute("a", vec![], 0));
    let out = w.on_done(Done {
        key: Key::new("a"),
        outcome: Outcome::Failed {
            kind: FailureKind::Task,
            op: "inc".into(),
            message: "boom".into(),
        },
        duration: Duration::ZERO,
    });
    match &sent(&out)[..] {
        [WorkerToScheduler::TaskErred(f)] => {
            assert_eq!(
                (f.key.clone(), f.op.as_str(), f.message.as_str()),
                (wk("a"), "inc", "boom")
            );
            assert_eq!(f.worker.as_deref(), Some("w"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_paused_worker_starts_no_new_root_while_others_run() {
    if rask_memory::rss_bytes().is_none() {
        eprintln!("skipped: no RSS here, so the worker never pauses");
        return;
    }
    // A limit of 64 KiB: this test process's private memory (a few hundred
    // KiB) is far over its pause threshold.
    let store = Arc::new(Store::new(Some(rask_memory::MemoryPolicy::with_limit(
        64 << 10,
    ))));
    assert_eq!(store.sample(), (false, true));
    let mut w = WorkerState::new("w".into(), "tcp://me:1".into(), 2, &[], store);
    let slow = |name: &str| Done {
        duration: Duration::from_millis(50),
        ..finished(name, 1)
    };
    // Nothing runs: a root starts anyway, or the worker would wait forever.
    assert_eq!(executed(&w.on_compute(compute("a", vec![], 1))), ["a"]);
    // One runs: the next root waits, though a thread is free.
    assert!(executed(&w.on_compute(compute("b", vec![], 2))).is_empty());
    assert!(executed(&w.on_memory_resumed()).is_empty());
    // Once nothing runs, b starts.
    assert_eq!(executed(&w.on_done(slow("a"))), ["b"]);
}
