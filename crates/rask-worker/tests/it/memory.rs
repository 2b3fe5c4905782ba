//! A worker with a memory limit spills results to disk and serves them
//! back.

use std::time::{Duration, Instant};

use rask_core::Op;
use rask_protocol::{ComputeTask, SchedulerToWorker, WorkerToScheduler};

use crate::harness::{Scheduler, task};
use crate::kernels::Fill;

#[test]
fn results_over_the_memory_limit_are_spilled_and_served_back() {
    let sched = Scheduler::new();
    let (worker, mut link, _) = sched.worker(rask_worker::WorkerOptions {
        // Target 60% of 1 MiB; 20 results of 200 kB are 4 MB.
        memory_limit: 1 << 20,
        heartbeat: Duration::from_millis(20),
        ..sched.options(2)
    });
    let n = 20;
    for i in 0..n {
        link.send(SchedulerToWorker::Compute(ComputeTask {
            inline_limit: 0,
            ..task(
                &format!("fill-{i}"),
                Op::kernel(Fill {
                    len: 25_000,
                    x: i as f64,
                }),
                vec![],
            )
        }));
    }
    for _ in 0..n {
        match link.recv() {
            WorkerToScheduler::TaskFinished { nbytes, .. } => assert_eq!(nbytes, 200_024),
            other => panic!("expected TaskFinished, got {other:?}"),
        }
    }
    // The heartbeat says most of them are on disk.
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        assert!(Instant::now() < deadline, "no heartbeat in time");
        let m = sched
            .rt
            .block_on(link.conn.recv::<WorkerToScheduler>())
            .unwrap()
            .unwrap();
        if let WorkerToScheduler::Heartbeat(metrics) = m.msg {
            break metrics;
        }
    };
    assert!(metrics.managed_bytes <= 700_000, "{metrics:?}");
    assert!(metrics.spilled_bytes >= 3_000_000, "{metrics:?}");
    // Every value comes back whole, from memory or from disk.
    let names: Vec<String> = (0..n).map(|i| format!("fill-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let (values, missing) = sched.get_data(worker.address(), &[name.as_str()]);
        assert!(missing.is_empty(), "{name} is missing");
        let v = values[0].1.downcast_ref::<Vec<f64>>().unwrap();
        assert_eq!((v.len(), v[0], v[24_999]), (25_000, i as f64, i as f64));
    }
    worker.kill();
}
