//! Data between workers and clients: fetching inputs from peers, storing,
//! serving and freeing values.

use bytes::Bytes;
use rask_core::{Op, Value};
use rask_protocol::{
    BulkRef, FailureKind, ListenOptions, Listener, PeerReply, PeerRequest, SchedulerToWorker,
    WorkerToScheduler,
};

use crate::harness::{Scheduler, finished_value, located, task, wk};
use crate::kernels::{Inc, MakeOpaque};

#[test]
fn an_input_on_another_worker_is_fetched_from_it() {
    let sched = Scheduler::new();
    let (a, mut link_a, _) = sched.worker(sched.options(1));
    let (b, mut link_b, _) = sched.worker(sched.options(1));
    link_a.send(SchedulerToWorker::Compute(task(
        "x",
        Op::value(Value::new(vec![5u64; 300_000])),
        vec![],
    )));
    assert!(matches!(
        link_a.recv(),
        WorkerToScheduler::TaskFinished { .. }
    ));
    link_a.send(SchedulerToWorker::Compute(task(
        "y",
        Op::value(Value::new(9u64)),
        vec![],
    )));
    assert!(matches!(
        link_a.recv(),
        WorkerToScheduler::TaskFinished { .. }
    ));

    // B acquires `x` and runs `z = inc(y)`: both come from A.
    link_b.send(SchedulerToWorker::Acquire {
        keys: vec![located("x", 2_400_024, &[a.address()])],
    });
    link_b.send(SchedulerToWorker::Compute(task(
        "z",
        Op::kernel(Inc),
        vec![located("y", 8, &[a.address()])],
    )));
    let mut added = Vec::new();
    let value = loop {
        let m = link_b.recv_full();
        match &m.msg {
            WorkerToScheduler::AddKeys { keys } => {
                added.extend(keys.iter().map(|k| k.0.name.clone()))
            }
            WorkerToScheduler::TaskFinished { .. } => break finished_value(&m, "z"),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(value.downcast_ref::<u64>(), Some(&10));
    // The fetched input is announced (the scheduler frees it later); `x`
    // may still be on its way.
    assert!(added.contains(&"y".to_string()), "{added:?}");
    while !added.contains(&"x".to_string()) {
        match link_b.recv() {
            WorkerToScheduler::AddKeys { keys } => {
                added.extend(keys.iter().map(|k| k.0.name.clone()))
            }
            other => panic!("{other:?}"),
        }
    }
    let (values, _) = sched.get_data(b.address(), &["x", "y"]);
    assert_eq!(values.len(), 2);
    assert_eq!(
        values[0].1.downcast_ref::<Vec<u64>>(),
        Some(&vec![5u64; 300_000])
    );
    a.kill();
    b.kill();
}

#[test]
fn an_input_no_peer_has_is_reported_missing() {
    let sched = Scheduler::new();
    let (a, _link_a, _) = sched.worker(sched.options(1));
    let (b, mut link_b, _) = sched.worker(sched.options(1));
    let a_address = a.address().to_string();
    a.kill();
    link_b.send(SchedulerToWorker::Compute(task(
        "z",
        Op::kernel(Inc),
        vec![located("gone", 8, &[&a_address])],
    )));
    match link_b.recv() {
        WorkerToScheduler::MissingData { key, missing } => {
            assert_eq!(key, wk("z"));
            assert_eq!(missing, vec![(wk("gone"), vec![a_address])]);
        }
        other => panic!("{other:?}"),
    }
    b.kill();
}

#[test]
fn stored_values_are_served_and_free_drops_them() {
    let sched = Scheduler::new();
    let (w, mut link, _) = sched.worker(sched.options(1));
    let e = Value::new("hello".to_string()).encode().unwrap();
    link.send_with(
        SchedulerToWorker::Store {
            values: vec![(
                wk("s"),
                BulkRef {
                    frame: 0,
                    tag: e.tag.clone(),
                },
            )],
        },
        vec![Bytes::from(e.bytes)],
    );
    match link.recv() {
        WorkerToScheduler::AddKeys { keys } => {
            assert_eq!(keys, vec![(wk("s"), 29, e.tag.clone())]);
        }
        other => panic!("{other:?}"),
    }
    let (values, missing) = sched.get_data(w.address(), &["s", "nothing"]);
    assert_eq!(values[0].1.downcast_ref::<String>().unwrap(), "hello");
    assert_eq!(missing, vec![wk("nothing")]);

    link.send(SchedulerToWorker::Free {
        keys: vec![wk("s")],
    });
    // Free has no answer; a task sent after it is handled after it.
    link.send(SchedulerToWorker::Compute(task(
        "sync",
        Op::value(Value::new(0u8)),
        vec![],
    )));
    assert!(matches!(
        link.recv(),
        WorkerToScheduler::TaskFinished { .. }
    ));
    let (values, missing) = sched.get_data(w.address(), &["s"]);
    assert!(values.is_empty());
    assert_eq!(missing, vec![wk("s")]);
    w.kill();
}

#[test]
fn a_value_without_codec_stays_here_and_is_listed_missing() {
    let sched = Scheduler::new();
    let (w, mut link, _) = sched.worker(sched.options(1));
    link.send(SchedulerToWorker::Compute(task(
        "o",
        Op::kernel(MakeOpaque),
        vec![],
    )));
    match link.recv() {
        WorkerToScheduler::TaskFinished { tag, inline, .. } => {
            assert_eq!(tag, "");
            assert_eq!(inline, None);
        }
        other => panic!("{other:?}"),
    }
    let (values, missing) = sched.get_data(w.address(), &["o"]);
    assert!(values.is_empty());
    assert_eq!(missing, vec![wk("o")]);
    w.kill();
}

/// Regression: a stored value the worker could not decode was logged and
/// dropped, so the scheduler kept it processing (and the worker busy)
/// forever; now its key fails, naming the key and the type tag.
#[test]
fn a_stored_value_that_does_not_decode_fails_its_key() {
    let sched = Scheduler::new();
    let (w, mut link, _) = sched.worker(sched.options(1));
    let good = Value::new(5u64).encode().unwrap();
    link.send_with(
        SchedulerToWorker::Store {
            values: vec![
                (
                    wk("bad"),
                    BulkRef {
                        frame: 0,
                        tag: "no-such-type".into(),
                    },
                ),
                (
                    wk("good"),
                    BulkRef {
                        frame: 1,
                        tag: good.tag.clone(),
                    },
                ),
            ],
        },
        vec![Bytes::from_static(b"xyz"), Bytes::from(good.bytes)],
    );
    match link.recv() {
        WorkerToScheduler::TaskErred(f) => {
            assert_eq!(f.key, wk("bad"));
            assert_eq!(f.kind, FailureKind::Missing);
            assert!(f.message.contains("bad"), "{}", f.message);
            assert!(f.message.contains("`no-such-type`"), "{}", f.message);
        }
        other => panic!("expected TaskErred, got {other:?}"),
    }
    match link.recv() {
        WorkerToScheduler::AddKeys { keys } => {
            let names: Vec<_> = keys.into_iter().map(|(k, _, _)| k).collect();
            assert_eq!(names, vec![wk("good")]);
        }
        other => panic!("expected AddKeys, got {other:?}"),
    }
    w.kill();
}

/// A data server played by the test: answers every `GetData` with `x` as a
/// value of type tag `no-such-type` (no build has it), and every other key
/// as missing.
fn fake_peer_with_unknown_type(sched: &Scheduler) -> String {
    let listener = sched
        .rt
        .block_on(Listener::bind(
            "tcp://127.0.0.1:0",
            ListenOptions {
                name: "fake-peer".into(),
                ..ListenOptions::default()
            },
        ))
        .unwrap();
    let address = listener.address();
    sched.rt.spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok(incoming) = listener.accept().await {
            let Ok((mut conn, _)) = incoming.handshake().await else {
                continue;
            };
            conns.spawn(async move {
                while let Ok(Some(m)) = conn.recv::<PeerRequest>().await {
                    let PeerRequest::GetData { keys } = m.msg;
                    let (values, missing): (Vec<_>, Vec<_>) =
                        keys.into_iter().partition(|k| *k == wk("x"));
                    let values = values
                        .into_iter()
                        .map(|k| {
                            let r = BulkRef {
                                frame: 0,
                                tag: "no-such-type".into(),
                            };
                            (k, r)
                        })
                        .collect();
                    let reply = PeerReply::Data { values, missing };
                    if conn
                        .send(&reply, &[Bytes::from_static(b"xyz")])
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    address
}

/// Regression: an input that arrived from a peer but did not decode here
/// (a type this build does not register) was dropped and reported as
/// `MissingData`, so the scheduler freed the holder's copy, recomputed it,
/// and sent the task back for the same failure, with no end when the task
/// could only run here. Now the task that needed it errs, naming the input,
/// the peer and the type tag, and saying what to do.
#[test]
fn an_input_that_does_not_decode_fails_the_task_that_needs_it() {
    let sched = Scheduler::new();
    let peer = fake_peer_with_unknown_type(&sched);
    let (w, mut link, _) = sched.worker(sched.options(1));
    link.send(SchedulerToWorker::Compute(task(
        "z",
        Op::kernel(Inc),
        vec![located("x", 8, &[&peer])],
    )));
    match link.recv() {
        WorkerToScheduler::TaskErred(f) => {
            assert_eq!(f.key, wk("z"));
            assert_eq!(f.kind, FailureKind::Missing);
            for part in ["x", peer.as_str(), "`no-such-type`", "same binary"] {
                assert!(f.message.contains(part), "no {part:?} in {}", f.message);
            }
        }
        other => panic!("expected TaskErred, got {other:?}"),
    }
    // A key the peer does not have is still missing, as before.
    link.send(SchedulerToWorker::Compute(task(
        "z2",
        Op::kernel(Inc),
        vec![located("gone", 8, &[&peer])],
    )));
    match link.recv() {
        WorkerToScheduler::MissingData { key, missing } => {
            assert_eq!(key, wk("z2"));
            assert_eq!(missing, vec![(wk("gone"), vec![peer.clone()])]);
        }
        other => panic!("expected MissingData, got {other:?}"),
    }
    w.kill();
}
