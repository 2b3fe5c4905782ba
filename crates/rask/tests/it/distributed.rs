//! Clusters of real processes over loopback sockets: futures, collections
//! computed on workers equal to local results, a worker killed with SIGKILL,
//! refused peers, and errors that name their task.
//!
//! Worker processes are this test binary, started with a filter that runs
//! only [`worker_entry`], where `rask::distributed::init()` turns the
//! process into a worker — so the functions registered here exist there.

use std::process::Command;
use std::time::{Duration, Instant};

use rask::Error;
use rask::distributed::{Client, ClientOptions, LocalCluster, as_completed};

#[rask::remote]
fn inc(x: &u64) -> u64 {
    x + 1
}

#[rask::remote]
fn add(x: &u64, y: &u64) -> u64 {
    x + y
}

#[rask::remote]
fn slow_square(x: &u64) -> u64 {
    std::thread::sleep(Duration::from_millis(30));
    x * x
}

#[rask::remote]
fn refuse_three(x: &u64) -> u64 {
    assert!(*x != 3, "three is not allowed");
    *x
}

#[rask::remote]
fn sum_all(xs: &[u64]) -> u64 {
    xs.iter().sum()
}

#[rask::remote]
fn ramp(n: u64) -> Vec<u64> {
    (0..n).collect()
}

/// Fails the first time it runs for `marker` (a file that it then
/// creates), succeeds afterwards: retried tasks succeed.
#[rask::remote]
fn flaky(marker: &str) -> u64 {
    if std::fs::metadata(marker).is_err() {
        std::fs::write(marker, b"ran").unwrap();
        panic!("first run fails");
    }
    7
}

/// Becomes a worker when a cluster started this binary as one; otherwise
/// does nothing.
#[test]
fn worker_entry() {
    rask::distributed::init().unwrap();
}

fn worker_args() -> [&'static str; 4] {
    [
        "--exact",
        "distributed::worker_entry",
        "--test-threads=1",
        "--quiet",
    ]
}

/// A cluster whose workers are processes of this test binary.
fn process_cluster(workers: usize) -> LocalCluster {
    LocalCluster::builder()
        .workers(workers)
        .threads_per_worker(1)
        .worker_command(std::env::current_exe().unwrap(), worker_args())
        .build()
        .expect("a local cluster starts")
}

/// A cluster whose workers are threads of this process.
fn thread_cluster(workers: usize) -> LocalCluster {
    LocalCluster::builder()
        .workers(workers)
        .threads_per_worker(1)
        .processes(false)
        .build()
        .expect("a local cluster starts")
}

#[test]
fn worker_processes_share_the_machines_memory_by_default_as_in_dask() {
    // Two worker processes: each gets half of the `auto` limit, and says so
    // to the scheduler.
    let cluster = process_cluster(2);
    let share = rask::distributed::auto_memory_limit(0.5);
    assert_eq!(cluster.memory_limit(), share);
    let limits: Vec<u64> = cluster
        .client()
        .unwrap()
        .workers_info()
        .unwrap()
        .iter()
        .map(|w| w.memory_limit)
        .collect();
    assert_eq!(limits, vec![share; 2]);
    if share > 0 {
        let whole = rask::distributed::auto_memory_limit(1.0);
        assert!(
            share.abs_diff(whole / 2) <= 1,
            "{share} is not half of {whole}"
        );
    }
    // Given, it is used as it is; 0 is none.
    let given = LocalCluster::builder()
        .workers(1)
        .threads_per_worker(1)
        .memory_limit(0)
        .worker_command(std::env::current_exe().unwrap(), worker_args())
        .build()
        .unwrap();
    assert_eq!(given.memory_limit(), 0);
    let info = given.client().unwrap().workers_info().unwrap();
    assert_eq!(info[0].memory_limit, 0);
    // Threads of this process would all measure the one process: none.
    assert_eq!(thread_cluster(2).memory_limit(), 0);
}

#[test]
fn futures_submit_map_gather_scatter_and_as_completed() {
    let cluster = process_cluster(2);
    assert!(cluster.uses_processes());
    let client = cluster.client().unwrap();

    let f = client.submit(inc, (1u64,)).unwrap();
    assert_eq!(f.result().unwrap(), 2);
    assert!(f.done());

    let fs = client.map(inc, 0..1_000u64).unwrap();
    let xs: Vec<u64> = client.gather(&fs).unwrap();
    assert_eq!(xs, (1..=1_000u64).collect::<Vec<_>>());

    let mut seen = 0u64;
    for done in as_completed(&fs[..50]) {
        seen += done.result().unwrap();
    }
    assert_eq!(seen, (1..=50u64).sum::<u64>());

    // Futures as arguments: the task runs after, and where, its input is.
    let g = client.submit(add, (&f, 40u64)).unwrap();
    assert_eq!(g.result().unwrap(), 42);

    let big = client.scatter(vec![3u64; 1 << 17]).unwrap();
    let s = client.submit(sum_all, (&big,)).unwrap();
    assert_eq!(s.result().unwrap(), 3 << 17);
    assert_eq!(big.result().unwrap().len(), 1 << 17);

    // The same call has the same key and runs once.
    assert_eq!(
        client.submit(inc, (1u64,)).unwrap().key(),
        client.submit(inc, (1u64,)).unwrap().key()
    );
    client.close().unwrap();
}

#[rask::remote]
fn sum_nested(parts: &[Vec<u64>]) -> u64 {
    parts.iter().flatten().sum()
}

#[test]
fn collections_computed_on_the_cluster_equal_local_results() {
    let cluster = thread_cluster(2);
    let client = cluster.client().unwrap();

    let y = rask::array::random::uniform(&[300, 200], &[70, 60], 7).unwrap();
    let remote = client.compute(&y.sum()).unwrap().result().unwrap();
    assert_eq!(remote, y.sum().compute().unwrap());
    let z = y.t().mean_axis(rask::array::ndarray::Axis(1));
    assert_eq!(
        client.compute(&z).unwrap().result().unwrap(),
        z.compute().unwrap()
    );

    let parts: Vec<_> = (0..6u64).map(|i| ramp::delayed(10 + i)).collect();
    let total = sum_nested::delayed(rask::delayed::collect(&parts));
    assert_eq!(
        client.compute(&total).unwrap().result().unwrap(),
        total.compute().unwrap()
    );

    // Persisted blocks stay on the workers; later work starts from them.
    let kept = client.persist(&y).unwrap();
    assert_eq!(
        client.compute(&kept.sum()).unwrap().result().unwrap(),
        remote
    );
    let info = client.workers_info().unwrap();
    assert_eq!(info.len(), 2);
    assert!(
        info.iter().map(|w| w.managed_bytes).sum::<u64>() >= 300 * 200 * 8,
        "{info:?}"
    );
}

#[test]
fn a_closure_graph_is_refused_by_the_cluster_naming_the_task() {
    let cluster = thread_cluster(1);
    let client = cluster.client().unwrap();
    let x = rask::delayed(|| 41u64).map(|v| v + 1);
    let err = client.compute(&x).unwrap_err();
    assert!(matches!(err, Error::NotPortable { .. }), "{err}");
    assert!(err.to_string().contains("#[rask::remote]"), "{err}");
}

#[test]
fn task_errors_name_the_key_and_cause_and_dependents_fail_too() {
    let cluster = thread_cluster(1);
    let client = cluster.client().unwrap();
    let fs = client.map(refuse_three, 0..5u64).unwrap();
    let err = fs[3].result().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("refuse_three"), "{text}");
    assert!(text.contains("three is not allowed"), "{text}");
    assert_eq!(err.task_key(), Some(fs[3].key()));
    assert_eq!(fs[2].result().unwrap(), 2);
    let after = client.submit(inc, (&fs[3],)).unwrap();
    let err = after.result().unwrap_err();
    assert!(err.to_string().contains("refuse_three"), "{err}");
    assert!(client.gather(&fs).is_err());
}

#[test]
fn retries_run_a_failed_task_again() {
    let dir = std::env::temp_dir().join(format!("rask-dist-retry-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("ran").display().to_string();
    let cluster = thread_cluster(1);
    let client = cluster.client().unwrap();
    let f = client.retries(1).submit(flaky, (marker.clone(),)).unwrap();
    assert_eq!(f.result().unwrap(), 7);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_worker_killed_mid_graph_still_gives_the_right_answer() {
    let mut cluster = process_cluster(2);
    let client = cluster.client().unwrap();
    let fs = client.map(slow_square, 0..60u64).unwrap();
    // Let some finish on both workers, then kill one.
    let start = Instant::now();
    while fs.iter().filter(|f| f.done()).count() < 6 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(5));
    }
    cluster.kill_worker(0).unwrap();
    let xs = client.gather(&fs).unwrap();
    assert_eq!(xs, (0..60u64).map(|x| x * x).collect::<Vec<_>>());
}

#[test]
fn a_wrong_token_is_refused_and_the_scheduler_keeps_serving() {
    let cluster = LocalCluster::builder()
        .workers(1)
        .processes(false)
        .token("right")
        .build()
        .unwrap();
    let mut options = ClientOptions::from_config().unwrap();
    options.token = "wrong".into();
    let err = Client::connect_with(cluster.address(), options).unwrap_err();
    assert!(matches!(err, Error::Cluster { .. }), "{err}");
    assert!(err.to_string().contains("token"), "{err}");
    assert!(err.to_string().contains(cluster.address()), "{err}");
    let client = cluster.client().unwrap();
    assert_eq!(client.submit(inc, (1u64,)).unwrap().result().unwrap(), 2);
}

#[test]
fn an_unreachable_scheduler_is_a_clear_error_not_a_hang() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("tcp://127.0.0.1:{port}");
    let start = Instant::now();
    let err = Client::connect(&address).unwrap_err();
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_scheduler_that_goes_away_is_reported_to_waiting_clients() {
    let cluster = thread_cluster(1);
    let client = cluster.client().unwrap();
    let f = client.submit(slow_square, (1_000u64,)).unwrap();
    let g = client.map(slow_square, 0..200u64).unwrap();
    cluster.close();
    let start = Instant::now();
    let err = g[199].result().unwrap_err();
    assert!(matches!(err, Error::Cluster { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(10));
    drop(f);
}

#[test]
fn released_futures_free_their_results_on_the_workers() {
    let cluster = thread_cluster(1);
    let client = cluster.client().unwrap();
    let big = client.map(ramp, [100_000u64, 100_001]).unwrap();
    client.wait(&big).unwrap();
    let held = |c: &Client| -> u64 {
        c.workers_info()
            .unwrap()
            .iter()
            .map(|w| w.managed_bytes)
            .sum()
    };
    assert!(held(&client) >= 2 * 800_000);
    drop(big);
    let start = Instant::now();
    while held(&client) > 0 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(held(&client), 0);
}

#[test]
fn cancelled_futures_report_cancellation() {
    let cluster = thread_cluster(1);
    let client = cluster.client().unwrap();
    let fs = client.map(slow_square, 100..160u64).unwrap();
    fs[59].cancel().unwrap();
    let err = fs[59].result().unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
}

/// `client.as_default()` changes the executor of the whole process, so it
/// is checked in a child process, away from the other tests.
#[test]
fn as_default_makes_compute_run_on_the_cluster() {
    if std::env::var_os("RASK_TEST_AS_DEFAULT").is_some() {
        let cluster = thread_cluster(1);
        let client = cluster.client().unwrap();
        let _guard = client.as_default();
        assert_eq!(
            rask::graph::executor::current().unwrap().name(),
            "distributed"
        );
        let y = rask::array::random::uniform(&[100, 100], &[50, 50], 1).unwrap();
        let m = y.mean().compute_scalar().unwrap();
        assert!((m - 0.5).abs() < 0.05, "{m}");
        let x = rask::delayed(|| 1u64);
        assert!(matches!(x.compute(), Err(Error::NotPortable { .. })));
        return;
    }
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "distributed::as_default_makes_compute_run_on_the_cluster",
            "--test-threads=1",
            "--quiet",
        ])
        .env("RASK_TEST_AS_DEFAULT", "1")
        .status()
        .unwrap();
    assert!(status.success(), "the child process failed: {status}");
}

#[rask::remote]
fn crash(x: &u64) -> u64 {
    if *x > 0 {
        std::process::abort();
    }
    0
}

#[test]
fn a_task_that_kills_three_workers_fails_as_killed_worker() {
    let cluster = process_cluster(3);
    let client = cluster.client().unwrap();
    let f = client.submit(crash, (1u64,)).unwrap();
    let err = f.result_timeout(Duration::from_secs(60)).unwrap_err();
    assert!(matches!(err, Error::KilledWorker { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("crash"), "{text}");
    assert!(text.contains('3'), "{text}");
}

#[test]
fn a_client_that_disconnects_has_its_work_released() {
    let cluster = thread_cluster(1);
    let leaving = cluster.client().unwrap();
    let fs = leaving.map(slow_square, 0..200u64).unwrap();
    let watcher = cluster.client().unwrap();
    let start = Instant::now();
    while watcher.info().unwrap().tasks < 200 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    leaving.close().unwrap();
    drop(fs);
    drop(leaving);
    while watcher.info().unwrap().tasks > 0 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(watcher.info().unwrap().tasks, 0);
    // The worker is free again: new work does not wait for the old.
    let f = watcher.submit(inc, (5u64,)).unwrap();
    assert_eq!(f.result_timeout(Duration::from_secs(5)).unwrap(), 6);
}

#[test]
fn a_different_build_and_a_malformed_frame_are_refused_and_the_scheduler_keeps_serving() {
    use std::io::{Read, Write};
    let cluster = thread_cluster(1);
    let addr = cluster.address().trim_start_matches("tcp://").to_string();

    // Garbage instead of a handshake.
    let mut raw = std::net::TcpStream::connect(&addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(&[0xff; 64]).unwrap();
    let mut sink = Vec::new();
    let _ = raw.read_to_end(&mut sink); // the scheduler answers (or not) and closes

    // A peer of another build.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let options = rask_protocol::ConnectOptions {
        build: "rask 0.0.0 / some other build".into(),
        ..Default::default()
    };
    let Err(err) = rt.block_on(rask_protocol::connect(cluster.address(), &options)) else {
        panic!("a different build is accepted");
    };
    let text = err.to_string();
    assert!(text.contains("build"), "{text}");
    assert!(text.contains("some other build"), "{text}");

    let client = cluster.client().unwrap();
    assert_eq!(client.submit(inc, (9u64,)).unwrap().result().unwrap(), 10);
}

#[test]
fn a_tls_cluster_of_processes_computes_and_refuses_plain_clients() {
    let dir = std::env::temp_dir().join(format!("rask-dist-tls-{}", std::process::id()));
    let files = rask_protocol::generate_self_signed(&dir, &[]).unwrap();
    let cluster = LocalCluster::builder()
        .workers(2)
        .threads_per_worker(1)
        .worker_command(std::env::current_exe().unwrap(), worker_args())
        .tls(files.clone())
        .build()
        .unwrap();
    assert!(
        cluster.address().starts_with("tls://"),
        "{}",
        cluster.address()
    );
    let client = cluster.client().unwrap();
    for w in client.workers_info().unwrap() {
        assert!(w.address.starts_with("tls://"), "{w:?}");
    }
    let fs = client.map(inc, 0..100u64).unwrap();
    assert_eq!(client.gather(&fs).unwrap(), (1..=100).collect::<Vec<u64>>());
    let big = client.map(ramp, [200_000u64]).unwrap();
    assert_eq!(big[0].result().unwrap().len(), 200_000);

    let mut plain = ClientOptions::from_config().unwrap();
    plain.tls = None;
    let err = Client::connect_with(cluster.address(), plain).unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");
    drop(client);
    drop(cluster);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_big_graph_sent_in_parts_gives_the_right_answer_and_leaves_nothing_behind() {
    let cluster = thread_cluster(2);
    let options = ClientOptions {
        token: String::new(),
        submit_part: 100,
        ..ClientOptions::from_config().unwrap()
    };
    let client = Client::connect_with(cluster.address(), options).unwrap();
    // 2,000 leaves and a tree sum of fan-in 8 over them: about 2,300 tasks
    // to run, so 20-odd parts, each depending on tasks of earlier ones.
    let mut level: Vec<_> = (0..2_000u64).map(inc::delayed).collect();
    while level.len() > 1 {
        level = level
            .chunks(8)
            .map(|c| sum_all::delayed(rask::delayed::collect(c)))
            .collect();
    }
    let total = level.pop().unwrap();
    let f = client.compute(&total).unwrap();
    assert_eq!(f.result().unwrap(), (1..=2_000u64).sum::<u64>());
    drop(f);
    // The tasks kept for later parts were released with the rest.
    let start = Instant::now();
    while client.info().unwrap().tasks > 0 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(client.info().unwrap().tasks, 0);
}
