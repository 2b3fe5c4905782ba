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

/// A port that was free a moment ago: nobody listens there.
fn dead_address() -> String {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("tcp://{}", free.local_addr().unwrap())
}

/// A directory of the test's own, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("rask-worker-it-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes a scheduler file as `rask scheduler` does: by a temporary name,
/// then a rename.
fn write_scheduler_file(path: &std::path::Path, address: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{{\"address\": \"{address}\"}}\n")).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn a_stale_scheduler_file_is_followed_to_the_scheduler_that_rewrites_it() {
    let dir = TempDir::new("follow");
    let file = dir.0.join("scheduler.json");
    // Left behind by a killed scheduler, and read by the worker.
    let dead = dead_address();
    write_scheduler_file(&file, &dead);
    let opts = WorkerOptions {
        nthreads: 1,
        listen: "tcp://127.0.0.1:0".into(),
        scheduler_wait: Duration::from_secs(20),
        scheduler_file: Some(file.clone()),
        ..WorkerOptions::new(dead)
    };
    let starting = std::thread::spawn(move || Worker::start(opts));
    // The new scheduler comes up and rewrites the file.
    let sched = Scheduler::new();
    let accepted = sched.accept();
    write_scheduler_file(&file, &sched.address);
    let worker = starting
        .join()
        .unwrap()
        .expect("the worker follows the file to the new scheduler");
    let mut link = sched.link(accepted);
    assert!(
        matches!(link.recv(), WorkerToScheduler::Register { .. }),
        "the worker registers with the new scheduler"
    );
    worker.kill();
}

#[test]
fn a_scheduler_file_naming_no_scheduler_is_an_error_naming_the_file() {
    let dir = TempDir::new("stale");
    let file = dir.0.join("scheduler.json");
    let dead = dead_address();
    write_scheduler_file(&file, &dead);
    let err = Worker::start(WorkerOptions {
        nthreads: 1,
        listen: "tcp://127.0.0.1:0".into(),
        scheduler_wait: Duration::from_millis(300),
        scheduler_file: Some(file.clone()),
        ..WorkerOptions::new(dead.clone())
    })
    .unwrap_err();
    assert!(
        matches!(err, WorkerError::NoSchedulerAtFileAddress { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(text.contains(&dead), "{text}");
    assert!(text.contains("remove"), "{text}");
}

/// Run in a child process by `a_process_started_as_a_worker_retires_on_sigterm`.
#[test]
fn worker_process_child() {
    if std::env::var_os("RASK_WORKER_TEST_CHILD").is_none() {
        return;
    }
    let result = rask_worker::run_from_env().expect("launched as a worker");
    println!("CHILD-RESULT: {result:?}");
    result.unwrap();
}

#[test]
fn a_process_started_as_a_worker_retires_on_sigterm() {
    let sched = Scheduler::new();
    let accepted = sched.accept();
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "lifecycle::worker_process_child", "--nocapture"])
        .env("RASK_WORKER_TEST_CHILD", "1")
        .env("RASK_WORKER_SCHEDULER", &sched.address)
        .env("RASK_WORKER_NTHREADS", "3")
        .env("RASK_WORKER_NAME", "child-worker")
        .env("RASK_WORKER_MEMORY_LIMIT", "1 GiB")
        .env("RASK_WORKER_LISTEN", "tcp://127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut link = sched.link(accepted);
    match link.recv() {
        WorkerToScheduler::Register {
            name,
            nthreads,
            memory_limit,
            pid,
            ..
        } => {
            assert_eq!(name, "child-worker");
            assert_eq!(nthreads, 3);
            assert_eq!(memory_limit, 1 << 30);
            assert_eq!(pid, child.id());
        }
        other => panic!("{other:?}"),
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(link.recv(), WorkerToScheduler::Retire);
    link.send(SchedulerToWorker::Close {
        reason: "retired".into(),
    });
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("CHILD-RESULT: Ok(())"), "{stdout}");
}
