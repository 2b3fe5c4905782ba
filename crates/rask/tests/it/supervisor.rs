//! Worker supervisors ("nannies") with real processes: a task that pushes
//! its worker over the memory limit gets the worker restarted, three times,
//! and then fails with an error that names it and gives the figure; a
//! worker killed with SIGKILL comes back. Linux only (RSS from `/proc`);
//! elsewhere the tests say so and pass.

use std::time::{Duration, Instant};

use rask::Error;
use rask::distributed::LocalCluster;

/// Allocates `mib` MiB 8 MiB at a time, touching every page (so RSS
/// grows), then holds it for a minute: a supervisor restarts the worker
/// long before.
#[rask::remote]
fn hog(mib: u64) -> u64 {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    for i in 0..mib / 8 {
        blocks.push(vec![i as u8 | 1; 8 << 20]);
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_secs(60));
    blocks.iter().map(|b| u64::from(b[4096])).sum()
}

#[rask::remote]
fn double(x: &u64) -> u64 {
    x * 2
}

/// Becomes a worker (or its supervisor) when a cluster started this binary
/// as one; otherwise does nothing.
#[test]
fn worker_entry() {
    rask::distributed::init().unwrap();
}

fn cluster(memory_limit: u64) -> LocalCluster {
    LocalCluster::builder()
        .workers(1)
        .threads_per_worker(1)
        .memory_limit(memory_limit)
        .worker_command(
            std::env::current_exe().unwrap(),
            [
                "--exact",
                "supervisor::worker_entry",
                "--test-threads=1",
                "--quiet",
            ],
        )
        .build()
        .expect("a local cluster starts")
}

fn linux() -> bool {
    if cfg!(target_os = "linux") {
        true
    } else {
        eprintln!("skipped: supervisors read a worker's memory from /proc (Linux only)");
        false
    }
}

#[test]
fn a_task_that_uses_too_much_memory_fails_naming_itself_and_the_worker_comes_back() {
    if !linux() {
        return;
    }
    let cluster = cluster(200 << 20);
    let client = cluster.client().unwrap();
    let start = Instant::now();
    let err = client
        .submit(hog, (2048u64,))
        .unwrap()
        .result_timeout(Duration::from_secs(30))
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Task { .. }), "{text}");
    assert!(text.contains("hog"), "{text}");
    assert!(text.contains("used too much memory"), "{text}");
    assert!(text.contains("restarted 3 times"), "{text}");
    assert!(text.contains("over its limit 200.00 MiB x 0.95"), "{text}");
    // The restarted worker runs normal work.
    let f = client.submit(double, (21u64,)).unwrap();
    assert_eq!(f.result_timeout(Duration::from_secs(10)).unwrap(), 42);
    assert!(start.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_worker_killed_with_sigkill_is_restarted_by_its_supervisor() {
    if !linux() {
        return;
    }
    let cluster = cluster(0);
    let client = cluster.client().unwrap();
    let before = client.info().unwrap().workers[0].address.clone();
    let supervisor = cluster.supervisor_pids()[0];
    let worker = cluster.worker_pids()[0];
    assert_ne!(
        worker, supervisor,
        "the supervisor runs the worker as its child"
    );
    let status = std::process::Command::new("kill")
        .args(["-KILL", &worker.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // A new worker (another data-server port) joins.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let workers = client.info().unwrap().workers;
        if workers.len() == 1 && workers[0].address != before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no new worker joined: {workers:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(cluster.supervisor_pids(), [supervisor]);
    assert_ne!(cluster.worker_pids(), [worker]);
    let f = client.submit(double, (4u64,)).unwrap();
    assert_eq!(f.result_timeout(Duration::from_secs(10)).unwrap(), 8);
}
