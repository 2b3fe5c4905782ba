//! `rask scheduler` and `rask worker` as separate processes: a cluster
//! started from the command line (with a scheduler file, as on an HPC
//! system), one whose scheduler and workers sit in separate network
//! namespaces joined by veth links, and the errors a user meets.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rask::distributed::Client;

use crate::TempDir;

/// A child process killed (and reaped) on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rask_cmd(prefix: &[&str]) -> Command {
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(env!("CARGO_BIN_EXE_rask"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_rask")),
    };
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("RASK_") {
            cmd.env_remove(name);
        }
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    cmd
}

fn wait_for_file(path: &Path) -> String {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(text) = std::fs::read_to_string(path) {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            return v["address"].as_str().unwrap().to_string();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the scheduler did not write {}", path.display());
}

fn wait_for_workers(client: &Client, n: usize) {
    let start = Instant::now();
    while client.workers_info().unwrap().len() < n {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "only {} of {n} workers joined",
            client.workers_info().unwrap().len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Not linked into the `rask` binary, so its workers cannot run it.
#[rask::remote]
fn only_in_this_test(x: &u64) -> u64 {
    x * 3
}

#[test]
fn a_cluster_started_from_the_command_line_computes_and_stops_cleanly() {
    let dir = TempDir::new("cluster-cli");
    let file = dir.path().join("scheduler.json");
    let file_arg = file.display().to_string();
    let mut scheduler = Proc(
        rask_cmd(&[])
            .args(["scheduler", "--host", "127.0.0.1", "--port", "0"])
            .args(["--scheduler-file", &file_arg])
            .spawn()
            .unwrap(),
    );
    // Workers may start before the scheduler file exists: they wait for it.
    let mut workers: Vec<Proc> = (0..2)
        .map(|i| {
            Proc(
                rask_cmd(&[])
                    .args(["worker", "--scheduler-file", &file_arg, "--nthreads", "1"])
                    .args(["--name", &format!("cli-{i}")])
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    let address = wait_for_file(&file);
    let client = Client::connect(&address).unwrap();
    wait_for_workers(&client, 2);

    // Built-in operations run on the generic worker binary.
    let y = rask::array::random::uniform(&[400, 300], &[100, 100], 3).unwrap();
    let on_cluster = client.compute(&y.sum()).unwrap().result().unwrap();
    assert_eq!(on_cluster, y.sum().compute().unwrap());

    // A function the workers' build lacks: a clear error saying what to do.
    let err = client
        .submit(only_in_this_test, (2u64,))
        .unwrap()
        .result()
        .unwrap_err()
        .to_string();
    assert!(err.contains("only_in_this_test"), "{err}");
    assert!(err.contains("rask::distributed::init()"), "{err}");

    // SIGTERM stops the scheduler; the workers are told to close and exit.
    let pid = scheduler.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let start = Instant::now();
    let status = loop {
        if let Some(s) = scheduler.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the scheduler did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    for w in &mut workers {
        let start = Instant::now();
        while w.0.try_wait().unwrap().is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "a worker did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert!(!file.exists(), "the scheduler file is removed on exit");
    // The client learns that its scheduler is gone, rather than hanging.
    let err = client
        .submit(only_in_this_test, (5u64,))
        .and_then(|f| f.result());
    assert!(err.is_err());
}

#[test]
fn a_worker_without_a_scheduler_says_which_address_failed() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = rask_cmd(&[])
        .args(["worker", &format!("tcp://127.0.0.1:{port}")])
        .args(["--scheduler-wait", "0.3"])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}

/// A port that was free a moment ago: nobody listens there.
fn dead_address() -> String {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("tcp://{}", free.local_addr().unwrap())
}

#[test]
fn a_worker_follows_a_scheduler_file_left_by_a_killed_scheduler_to_the_new_one() {
    let dir = TempDir::new("cluster-stale");
    let file = dir.path().join("scheduler.json");
    let file_arg = file.display().to_string();
    // What a scheduler killed with SIGKILL leaves behind.
    let dead = dead_address();
    std::fs::write(&file, format!("{{\"address\": \"{dead}\"}}\n")).unwrap();
    // A supervised worker (the default): its worker process reads the file.
    let worker = Proc(
        rask_cmd(&[])
            .args(["worker", "--scheduler-file", &file_arg, "--nthreads", "1"])
            .args(["--scheduler-wait", "20"])
            .spawn()
            .unwrap(),
    );
    // Time to read the stale file first, as in a batch job that starts
    // both at once (the test passes either way; this makes it the case
    // that matters).
    std::thread::sleep(Duration::from_millis(500));
    let scheduler = Proc(
        rask_cmd(&[])
            .args(["scheduler", "--host", "127.0.0.1", "--port", "0"])
            .args(["--scheduler-file", &file_arg])
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    let address = loop {
        let address = wait_for_file(&file);
        if address != dead {
            break address;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the scheduler did not rewrite {file_arg}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let client = Client::connect(&address).unwrap();
    wait_for_workers(&client, 1);
    // The worker first, so that it does not report its scheduler lost.
    drop(worker);
    drop(scheduler);
}

#[test]
fn a_scheduler_file_naming_no_scheduler_is_an_error_saying_what_to_do() {
    let dir = TempDir::new("cluster-dead");
    let file = dir.path().join("scheduler.json");
    let file_arg = file.display().to_string();
    let dead = dead_address();
    std::fs::write(&file, format!("{{\"address\": \"{dead}\"}}\n")).unwrap();
    for nanny in [true, false] {
        let mut cmd = rask_cmd(&[]);
        cmd.args(["worker", "--scheduler-file", &file_arg])
            .args(["--scheduler-wait", "0.5"]);
        if !nanny {
            cmd.arg("--no-nanny");
        }
        let out = cmd.stderr(Stdio::piped()).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("the scheduler file {file_arg} names {dead}")),
            "{err}"
        );
        assert!(err.contains("start the scheduler"), "{err}");
        assert!(err.contains(&format!("or remove {file_arg}")), "{err}");
    }
}

#[test]
fn a_scheduler_on_every_interface_writes_an_address_others_can_reach() {
    let dir = TempDir::new("cluster-contact");
    let file = dir.path().join("scheduler.json");
    let file_arg = file.display().to_string();
    // The default host (every interface), as on an HPC node.
    let mut scheduler = Proc(
        rask_cmd(&[])
            .args(["scheduler", "--port", "0", "--scheduler-file", &file_arg])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let address = wait_for_file(&file);
    // Open to every interface without a token: it says so.
    let mut warning = String::new();
    let mut stderr = std::io::BufReader::new(scheduler.0.stderr.take().unwrap());
    std::io::BufRead::read_line(&mut stderr, &mut warning).unwrap();
    assert!(
        warning.contains("no token") && warning.contains("RASK_TOKEN"),
        "{warning}"
    );
    assert!(
        !address.contains("0.0.0.0") && !address.contains("[::]"),
        "the scheduler file holds an address other machines cannot use: {address}"
    );
    // A supervised worker whose address comes after `--` (the supervisor
    // passes `--no-nanny` on to it, before the `--`).
    let _worker = Proc(
        rask_cmd(&[])
            .args(["worker", "--nthreads", "1", "--", &address])
            .spawn()
            .unwrap(),
    );
    let client = Client::connect(&address).unwrap();
    wait_for_workers(&client, 1);
    let y = rask::array::random::uniform(&[200, 100], &[50, 50], 5).unwrap();
    assert_eq!(
        client.compute(&y.sum()).unwrap().result().unwrap(),
        y.sum().compute().unwrap()
    );
}

#[test]
fn a_worker_waits_for_its_scheduler_file_as_long_as_it_is_told() {
    let dir = TempDir::new("cluster-wait");
    let file = dir.path().join("never.json");
    let file_arg = file.display().to_string();
    let start = Instant::now();
    let out = rask_cmd(&[])
        .args(["worker", "--scheduler-file", &file_arg])
        .args(["--scheduler-wait", "0.5"])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "waited {:?}",
        start.elapsed()
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("never.json"), "{err}");
    // A bad wait is refused before any waiting.
    let start = Instant::now();
    let out = rask_cmd(&[])
        .args(["worker", "--scheduler-file", &file_arg])
        .args(["--scheduler-wait=-1"])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(start.elapsed() < Duration::from_secs(30));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--scheduler-wait"), "{err}");
}

#[test]
fn a_scheduler_file_that_cannot_be_placed_leaves_no_temporary_file() {
    let dir = TempDir::new("cluster-file");
    // The scheduler file's path is a directory: the rename fails.
    let target = dir.path().join("taken");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("x"), b"x").unwrap();
    let out = rask_cmd(&[])
        .args(["scheduler", "--host", "127.0.0.1", "--port", "0"])
        .args(["--scheduler-file", &target.display().to_string()])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("taken"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["taken".to_string()]);
}

/// Network namespaces, a bridge and veth links, removed on drop.
struct Netns {
    names: Vec<String>,
    bridge: String,
}

impl Netns {
    /// Namespaces `ns[i]` with address 10.77.X.(i+2)/24, joined by a bridge
    /// that has 10.77.X.1 in this (the test's) namespace.
    fn new(n: usize) -> Result<(Netns, String), String> {
        let tag = std::process::id() % 100_000;
        let subnet = format!("10.77.{}", tag % 250);
        let ip = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("ip")
                .args(args)
                .output()
                .map_err(|e| format!("cannot run `ip`: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "`ip {}` failed: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        let bridge = format!("rbr{tag}");
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        let mut me = Netns {
            names: Vec::new(),
            bridge: bridge.clone(),
        };
        ip(&["addr", "add", &format!("{subnet}.1/24"), "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        for i in 0..n {
            let ns = format!("rask-{tag}-{i}");
            ip(&["netns", "add", &ns])?;
            me.names.push(ns.clone());
            let host_end = format!("rv{tag}{i}");
            ip(&[
                "link", "add", &host_end, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            ip(&["link", "set", &host_end, "master", &bridge, "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{subnet}.{}/24", i + 2),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok((me, subnet))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for ns in &self.names {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}

#[test]
fn scheduler_and_workers_in_separate_network_namespaces() {
    let (netns, subnet) = match Netns::new(3) {
        Ok(x) => x,
        Err(why) => {
            // Written past the test harness's capture (eprintln! would be
            // captured), so the skip shows beside the test's `ok`.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "note: scheduler_and_workers_in_separate_network_namespaces did not run: {why}"
            );
            return;
        }
    };
    let sched_ip = format!("{subnet}.2");
    let address = format!("tcp://{sched_ip}:8786");
    let _scheduler = Proc(
        rask_cmd(&["ip", "netns", "exec", &netns.names[0]])
            .args(["scheduler", "--host", &sched_ip, "--port", "8786"])
            .spawn()
            .unwrap(),
    );
    let _workers: Vec<Proc> = (1..3)
        .map(|i| {
            Proc(
                rask_cmd(&["ip", "netns", "exec", &netns.names[i]])
                    .args(["worker", &address, "--nthreads", "1"])
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    // The scheduler needs a moment to listen; connecting retries until then.
    let start = Instant::now();
    let client = loop {
        match Client::connect(&address) {
            Ok(c) => break c,
            Err(e) => {
                assert!(start.elapsed() < Duration::from_secs(20), "{e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    wait_for_workers(&client, 2);
    let info = client.workers_info().unwrap();
    for w in &info {
        assert!(
            w.address.contains(&subnet) && !w.address.contains("127.0.0.1"),
            "a worker advertises an address other hosts cannot reach: {info:?}"
        );
    }
    // Blocks move between workers (the sum's tree) and back to the client.
    let y = rask::array::random::uniform(&[600, 400], &[100, 100], 11).unwrap();
    let z = y.t().mean_axis(rask::array::ndarray::Axis(0));
    assert_eq!(
        client.compute(&z).unwrap().result().unwrap(),
        z.compute().unwrap()
    );
    assert_eq!(
        client.compute(&y.sum()).unwrap().result().unwrap(),
        y.sum().compute().unwrap()
    );
}
