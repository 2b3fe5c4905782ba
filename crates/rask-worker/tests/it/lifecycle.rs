//! Starting, stopping and losing the scheduler.

use std::time::Duration;

use rask_protocol::{SchedulerToWorker, WorkerToScheduler};
use rask_worker::{Worker, WorkerError, WorkerOptions};

use crate::harness::Scheduler;

#[test]
fn losing_the_scheduler_stops_the_worker_with_an_error_naming_it() {
    let sched = Scheduler::new();
    let (worker, link, _) = sched.worker(sched.options(1));
    drop(link);
    let err = worker.wait().unwrap_err();
    assert!(matches!(err, WorkerError::SchedulerLost { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&sched.address), "{text}");
}

#[test]
fn heartbeats_carry_the_figures() {
    let sched = Scheduler::new();
    let (worker, mut link, _) = sched.worker(WorkerOptions {
        heartbeat: Duration::from_millis(20),
        ..sched.options(1)
    });
    let metrics = loop {
        let m = sched
            .rt
            .block_on(link.conn.recv::<WorkerToScheduler>())
            .unwrap()
            .unwrap();
        if let WorkerToScheduler::Heartbeat(m) = m.msg {
            break m;
        }
    };
    assert!(metrics.rss > 0);
    assert_eq!(metrics.executing, 0);
    worker.kill();
}

#[test]
fn retire_asks_the_scheduler_and_close_ends_the_worker() {
    let sched = Scheduler::new();
    let (worker, mut link, _) = sched.worker(sched.options(1));
    worker.retire();
    assert_eq!(link.recv(), WorkerToScheduler::Retire);
    link.send(SchedulerToWorker::Retire);
    link.send(SchedulerToWorker::Close {
        reason: "retired".into(),
    });
    worker.wait().unwrap();
    assert!(link.closed());
}

#[test]
fn an_address_in_use_is_an_error_naming_it() {
    let sched = Scheduler::new();
    // The scheduler's own port is taken.
    let listen = sched.address.clone();
    let err = Worker::start(WorkerOptions {
        listen: listen.clone(),
        ..sched.options(1)
    })
    .unwrap_err();
    assert!(matches!(err, WorkerError::Bind { .. }), "{err:?}");
    assert!(err.to_string().contains(&listen), "{err}");
}

#[test]
fn an_unreachable_scheduler_is_an_error_naming_it() {
    // A port that was free a moment ago: nobody listens there.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("tcp://{}", free.local_addr().unwrap());
    drop(free);
    let err = Worker::start(WorkerOptions {
        nthreads: 1,
        listen: "tcp://127.0.0.1:0".into(),
        connect_timeout: Duration::from_secs(2),
        ..WorkerOptions::new(address.clone())
    })
    .unwrap_err();
    assert!(matches!(err, WorkerError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains(&address), "{err}");
}
