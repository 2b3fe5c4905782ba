//! Running tasks: results, failures, priorities and stealing.

use std::process::Command;

use rask_core::{Op, Value, wire::WireOp};
use rask_protocol::{ComputeTask, FailureKind, SchedulerToWorker, WorkerToScheduler};

use crate::harness::{Scheduler, finished_value, located, task, wk};
use crate::kernels::{Explode, Gate, Inc, open_gate};

#[test]
fn a_worker_registers_and_runs_a_registered_kernel() {
    let sched = Scheduler::new();
    let (worker, mut link, reg) = sched.worker(sched.options(2));
    assert_eq!(reg.nthreads, 2);
    assert_eq!(reg.name, worker.name());
    assert_eq!(reg.address, worker.address());
    assert!(
        reg.address.starts_with("tcp://127.0.0.1:"),
        "{}",
        reg.address
    );

    link.send(SchedulerToWorker::Compute(task(
        "x",
        Op::value(Value::new(41u64)),
        vec![],
    )));
    let m = link.recv_full();
    assert_eq!(finished_value(&m, "x").downcast_ref::<u64>(), Some(&41));
    // An input held by the worker itself is used in place.
    link.send(SchedulerToWorker::Compute(task(
        "y",
        Op::kernel(Inc),
        vec![located("x", 8, &[worker.address()])],
    )));
    let m = link.recv_full();
    assert_eq!(finished_value(&m, "y").downcast_ref::<u64>(), Some(&42));
    match m.msg {
        WorkerToScheduler::TaskFinished { nbytes, tag, .. } => {
            assert_eq!(nbytes, 8);
            assert!(tag.contains("u64"), "{tag}");
        }
        _ => unreachable!(),
    }
    // Without an inline limit, the result stays on the worker only.
    link.send(SchedulerToWorker::Compute(ComputeTask {
        inline_limit: 0,
        ..task(
            "z",
            Op::kernel(Inc),
            vec![located("y", 8, &[worker.address()])],
        )
    }));
    assert!(matches!(
        link.recv(),
        WorkerToScheduler::TaskFinished { inline: None, .. }
    ));
    let (values, missing) = sched.get_data(worker.address(), &["z"]);
    assert!(missing.is_empty());
    assert_eq!(values[0].1.downcast_ref::<u64>(), Some(&43));
    worker.kill();
}

#[test]
fn ready_tasks_run_smallest_priority_first() {
    let sched = Scheduler::new();
    let (worker, mut link, _) = sched.worker(sched.options(1));
    let gate = "priority";
    link.send(SchedulerToWorker::Compute(task(
        "block",
        Op::kernel(Gate { name: gate.into() }),
        vec![],
    )));
    for (name, p) in [("c", 3), ("a", 1), ("b", 2)] {
        link.send(SchedulerToWorker::Compute(ComputeTask {
            priority: (p, 0, 0),
            ..task(name, Op::value(Value::new(0u8)), vec![])
        }));
    }
    // Messages are handled in order: once this is answered, all three
    // tasks are queued behind the blocked one.
    link.send(SchedulerToWorker::Steal { key: wk("sync") });
    assert!(matches!(
        link.recv(),
        WorkerToScheduler::StealReply {
            released: false,
            ..
        }
    ));
    open_gate(gate);
    let order: Vec<_> = (0..4)
        .map(|_| match link.recv() {
            WorkerToScheduler::TaskFinished { key, .. } => key.name,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(order, ["block", "a", "b", "c"]);
    worker.kill();
}

/// Run in a child process by `panics_in_tasks_are_reported_and_not_printed`.
#[test]
fn panicking_kernel_child() {
    if std::env::var_os("RASK_WORKER_TEST_CHILD").is_none() {
        return;
    }
    let sched = Scheduler::new();
    let (worker, mut link, _) = sched.worker(sched.options(1));
    link.send(SchedulerToWorker::Compute(task(
        "boom",
        Op::kernel(Explode {
            message: "the flux capacitor broke".into(),
        }),
        vec![],
    )));
    match link.recv() {
        WorkerToScheduler::TaskErred(f) => {
            assert_eq!(f.key, wk("boom"));
            assert_eq!(f.kind, FailureKind::Task);
            assert!(f.message.contains("panicked"), "{}", f.message);
            assert!(
                f.message.contains("the flux capacitor broke"),
                "{}",
                f.message
            );
            assert!(f.message.contains("kernels.rs"), "{}", f.message);
            assert_eq!(f.worker.as_deref(), Some(worker.name()));
        }
        other => panic!("{other:?}"),
    }
    // The thread survived: the worker still runs tasks.
    link.send(SchedulerToWorker::Compute(task(
        "after",
        Op::value(Value::new(1u8)),
        vec![],
    )));
    assert!(matches!(
        link.recv(),
        WorkerToScheduler::TaskFinished { .. }
    ));
    worker.kill();
    println!("CHILD-DONE");
}

#[test]
fn panics_in_tasks_are_reported_and_not_printed() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tasks::panicking_kernel_child", "--nocapture"])
        .env("RASK_WORKER_TEST_CHILD", "1")
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("CHILD-DONE"), "{stdout}");
    assert!(!stderr.contains("flux capacitor"), "printed: {stderr}");
    assert!(!stdout.contains("flux capacitor"), "printed: {stdout}");
}

#[test]
fn an_unknown_kernel_is_missing_from_the_build() {
    let sched = Scheduler::new();
    let (worker, mut link, _) = sched.worker(sched.options(1));
    let op = WireOp::Kernel {
        name: "my_app::not_here".into(),
        label: "not_here".into(),
        blockwise: false,
        params: vec![],
    };
    link.send(SchedulerToWorker::Compute(ComputeTask {
        op: rask_core::wire::to_bytes(&op, "op").unwrap(),
        ..task("t", Op::value(Value::new(0u8)), vec![])
    }));
    match link.recv() {
        WorkerToScheduler::TaskErred(f) => {
            assert_eq!(f.kind, FailureKind::Missing);
            assert_eq!(f.op, "not_here");
            assert!(
                f.message
                    .contains("kernel `my_app::not_here` is not in this worker's build"),
                "{}",
                f.message
            );
            assert!(
                f.message.contains("rask::distributed::init()"),
                "{}",
                f.message
            );
        }
        other => panic!("{other:?}"),
    }
    worker.kill();
}

#[test]
fn steal_gives_back_a_task_that_has_not_started() {
    let sched = Scheduler::new();
    let (worker, mut link, _) = sched.worker(sched.options(1));
    let gate = "steal";
    link.send(SchedulerToWorker::Compute(task(
        "running",
        Op::kernel(Gate { name: gate.into() }),
        vec![],
    )));
    link.send(SchedulerToWorker::Compute(task(
        "queued",
        Op::value(Value::new(0u8)),
        vec![],
    )));
    link.send(SchedulerToWorker::Steal { key: wk("queued") });
    assert_eq!(
        link.recv(),
        WorkerToScheduler::StealReply {
            key: wk("queued"),
            released: true
        }
    );
    link.send(SchedulerToWorker::Steal { key: wk("running") });
    assert_eq!(
        link.recv(),
        WorkerToScheduler::StealReply {
            key: wk("running"),
            released: false
        }
    );
    open_gate(gate);
    assert!(matches!(
        link.recv(),
        WorkerToScheduler::TaskFinished { key, .. } if key == wk("running")
    ));
    // The stolen task never runs: the next report is of a later task.
    link.send(SchedulerToWorker::Compute(task(
        "later",
        Op::value(Value::new(0u8)),
        vec![],
    )));
    assert!(matches!(
        link.recv(),
        WorkerToScheduler::TaskFinished { key, .. } if key == wk("later")
    ));
    worker.kill();
}

/// Per-task cost through one worker (run with `--release --ignored`).
#[test]
#[ignore = "a measurement, not a check"]
fn throughput_of_tiny_tasks() {
    let sched = Scheduler::new();
    let (worker, link, _) = sched.worker(sched.options(2));
    let conn = link.conn;
    let n = 20_000;
    let tasks: Vec<_> = (0..n + 1000)
        .map(|i| task(&format!("t-{i}"), Op::value(Value::new(i as u64)), vec![]))
        .collect();
    let (pipelined, roundtrip) = sched.rt.block_on(async move {
        let mut tasks = tasks.into_iter();
        let mut finished = 0;
        let start = std::time::Instant::now();
        // Send and receive at once: the worker answers while tasks arrive.
        let (mut reader, mut writer) = conn.into_split();
        let send_all = async {
            for (i, t) in tasks.by_ref().take(n).enumerate() {
                writer
                    .feed(&SchedulerToWorker::Compute(t), &[])
                    .await
                    .unwrap();
                if i % 64 == 63 {
                    writer.flush().await.unwrap();
                }
            }
            writer.flush().await.unwrap();
        };
        let recv_all = async {
            while finished < n {
                let m = reader.recv::<WorkerToScheduler>().await.unwrap().unwrap();
                if let WorkerToScheduler::TaskFinished { .. } = m.msg {
                    finished += 1;
                }
            }
        };
        tokio::join!(send_all, recv_all);
        let pipelined = start.elapsed();
        let start = std::time::Instant::now();
        for t in tasks {
            writer
                .send(&SchedulerToWorker::Compute(t), &[])
                .await
                .unwrap();
            loop {
                let m = reader.recv::<WorkerToScheduler>().await.unwrap().unwrap();
                if let WorkerToScheduler::TaskFinished { .. } = m.msg {
                    break;
                }
            }
        }
        (pipelined, start.elapsed())
    });
    println!(
        "pipelined: {:.1} µs per task; round trip: {:.1} µs per task",
        pipelined.as_secs_f64() * 1e6 / n as f64,
        roundtrip.as_secs_f64() * 1e6 / 1000.0
    );
    worker.kill();
}
