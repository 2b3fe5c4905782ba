//! The distributed workloads: futures, delayed graphs and arrays on a
//! [`LocalCluster`] of 2 worker processes × 1 thread, the scheduler and the
//! client in this process. Definitions match `bench/dask_bench.py`
//! (`dask.distributed.LocalCluster(n_workers=2, threads_per_worker=1,
//! processes=True)`).
//!
//! The workers are this very program (`main` calls
//! `rask::distributed::init()` first). The cluster is started once per
//! measurement and warmed up with one task; that start-up is reported on
//! its own (`startup_s`), not timed with the workload. Every repeat then
//! runs the workload on the same cluster, with fresh arguments (so no
//! result of an earlier repeat can be reused), and the best repeat is
//! reported.
//!
//! `scheduler-1m` runs its scheduler in a process of its own (this program
//! again, see [`scheduler_main`]) and its workers as plain worker
//! processes, so that the scheduler's peak memory is measured alone
//! (`scheduler_rss_mb`), apart from the client's graph in this process
//! (`client_rss_mb`).
//!
//! Besides the JSON fields every workload has, these report a `cluster`
//! object: start-up seconds, the peak RSS of this process (scheduler and
//! client) and of each worker, and the CPU seconds that each part used in
//! the best repeat (this process's threads grouped by name, and each
//! worker), which say where the time goes.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use rask::delayed::Delayed;
use rask::distributed::{Client, LocalCluster};
use serde_json::{Value as Json, json};

use crate::{arrays, pipeline};

/// Names of the distributed workloads.
pub const NAMES: &[&str] = &[
    "futures-roundtrip",
    "futures-map-10k",
    "cluster-delayed-100k",
    "cluster-array-sum-transpose",
    "scheduler-1m",
];

/// Sequential submit + result round trips of `futures-roundtrip`.
const ROUNDTRIPS: u64 = 200;
/// Tasks of `futures-map-10k`.
const MAP_TASKS: u64 = 10_000;
/// Leaves of `cluster-delayed-100k` and of `scheduler-1m`.
const DELAYED_LEAVES: u64 = 100_000;
const MILLION_LEAVES: u64 = 1_000_000;
/// Fan-in of the tree sums (as `delayed-independent`).
const FAN_IN: usize = 64;
/// Arguments of repeat `r` start at `r * ARG_STRIDE` (fresh keys each time).
const ARG_STRIDE: u64 = 10_000_000;

#[rask::remote]
fn inc(x: &u64) -> u64 {
    x + 1
}

#[rask::remote]
fn sum_list(xs: &[u64]) -> u64 {
    xs.iter().sum()
}

/// The environment variable that makes this program the scheduler process
/// of `scheduler-1m`.
const SCHEDULER_ENV: &str = "RASK_BENCH_SCHEDULER";

/// In the scheduler process of `scheduler-1m`: serves until standard input
/// closes (the parent went away) and returns `true`; elsewhere `false`.
pub fn scheduler_main() -> anyhow::Result<bool> {
    if std::env::var_os(SCHEDULER_ENV).is_none() {
        return Ok(false);
    }
    let server = rask_scheduler::server::start(rask_scheduler::server::ServerOptions {
        listen: "tcp://127.0.0.1:0".into(),
        ..Default::default()
    })?;
    println!("{}", server.address());
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    server.close();
    Ok(true)
}

/// The cluster of a measurement: a [`LocalCluster`] (scheduler in this
/// process), or a scheduler process and worker processes.
enum Cluster {
    Local(Box<LocalCluster>),
    Separate {
        address: String,
        scheduler: Child,
        workers: Vec<Child>,
    },
}

impl Cluster {
    fn start(separate_scheduler: bool) -> anyhow::Result<Cluster> {
        if !separate_scheduler {
            let cluster = LocalCluster::builder()
                .workers(2)
                .threads_per_worker(1)
                .build()
                .context("starting a LocalCluster of 2 workers")?;
            ensure!(
                cluster.uses_processes(),
                "the cluster's workers are threads, not processes: main must call rask::distributed::init()"
            );
            return Ok(Cluster::Local(Box::new(cluster)));
        }
        let exe = std::env::current_exe()?;
        let mut scheduler = Command::new(&exe)
            .env(SCHEDULER_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the scheduler process")?;
        let mut line = String::new();
        BufReader::new(scheduler.stdout.take().context("scheduler stdout")?)
            .read_line(&mut line)?;
        let address = line.trim().to_string();
        ensure!(
            !address.is_empty(),
            "the scheduler process printed no address"
        );
        let workers = (0..2)
            .map(|i| {
                Command::new(&exe)
                    .env(rask::distributed::WORKER_ENV, &address)
                    .env("RASK_WORKER_NTHREADS", "1")
                    .env("RASK_WORKER_NAME", format!("bench-{i}"))
                    .stdin(Stdio::null())
                    .spawn()
                    .context("starting a worker process")
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Cluster::Separate {
            address,
            scheduler,
            workers,
        })
    }

    fn client(&self) -> anyhow::Result<Client> {
        match self {
            Cluster::Local(c) => Ok(c.client()?),
            Cluster::Separate { address, .. } => {
                let client = Client::connect(address)?;
                let t0 = Instant::now();
                while client.workers_info()?.len() < 2 {
                    ensure!(
                        t0.elapsed() < Duration::from_secs(30),
                        "workers did not join"
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(client)
            }
        }
    }

    fn worker_pids(&self) -> Vec<u32> {
        match self {
            Cluster::Local(c) => c.worker_pids(),
            Cluster::Separate { workers, .. } => workers.iter().map(Child::id).collect(),
        }
    }

    /// Peak RSS of the process holding the scheduler.
    fn scheduler_rss_mb(&self) -> Option<f64> {
        match self {
            Cluster::Local(_) => peak_rss_mb("self"),
            Cluster::Separate { scheduler, .. } => peak_rss_mb(&scheduler.id().to_string()),
        }
    }

    fn scheduler_cpu(&self) -> Option<f64> {
        match self {
            Cluster::Local(_) => None,
            Cluster::Separate { scheduler, .. } => Some(process_cpu(scheduler.id())),
        }
    }

    fn close(self) {
        match self {
            Cluster::Local(c) => c.close(),
            Cluster::Separate {
                mut scheduler,
                mut workers,
                ..
            } => {
                drop(scheduler.stdin.take()); // the scheduler closes, telling the workers
                let _ = scheduler.wait();
                for w in &mut workers {
                    let t0 = Instant::now();
                    while matches!(w.try_wait(), Ok(None)) && t0.elapsed() < Duration::from_secs(2)
                    {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    let _ = w.kill();
                    let _ = w.wait();
                }
            }
        }
    }
}

/// What one distributed measurement reports (see the module docs).
pub struct Report {
    /// Tasks as built (the graph the client builds; for futures, the calls).
    pub tasks: usize,
    /// Tasks as submitted to the scheduler (the optimized plan), if known.
    pub tasks_run: Option<usize>,
    pub build_s: f64,
    pub compute_s: f64,
    /// Details for the `cluster` JSON field.
    pub cluster: Json,
}

/// CPU seconds (user + system) from a `/proc/.../stat` line.
fn stat_cpu(stat: &str) -> Option<(String, f64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_string();
    let f: Vec<&str> = stat[close + 2..].split(' ').collect();
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the comm.
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some((comm, ticks / 100.0))
}

/// CPU seconds of this process's threads, summed by thread name with
/// digits and the worker names folded (`rask-client`, `rask-scheduler`,
/// `rask-bench` for the main thread, …).
fn thread_cpu() -> BTreeMap<String, f64> {
    let mut by_name = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return by_name;
    };
    for entry in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((comm, s)) = stat_cpu(&stat) {
            let name = comm.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
            *by_name.entry(name.to_string()).or_insert(0.0) += s;
        }
    }
    by_name
}

/// CPU seconds of process `pid`.
fn process_cpu(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| stat_cpu(&s))
        .map_or(f64::NAN, |(_, s)| s)
}

/// A `/proc/PID/status` field in kB (`VmHWM`: peak RSS, `VmRSS`: RSS
/// now) as MB (10⁶ bytes), if Linux says.
fn status_mb(pid: &str, field: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0 / 1e6)
}

/// Peak RSS of a process (`"self"` or a pid) in MB.
fn peak_rss_mb(pid: &str) -> Option<f64> {
    status_mb(pid, "VmHWM")
}

/// CPU seconds of every part, taken before and after a timed run.
struct CpuSnapshot {
    threads: BTreeMap<String, f64>,
    workers: Vec<f64>,
    scheduler: Option<f64>,
}

impl CpuSnapshot {
    fn take(cluster: &Cluster) -> Self {
        CpuSnapshot {
            threads: thread_cpu(),
            workers: cluster.worker_pids().into_iter().map(process_cpu).collect(),
            scheduler: cluster.scheduler_cpu(),
        }
    }

    /// CPU seconds used since `before`, as JSON (rounded to the 10 ms the
    /// kernel counts in).
    fn since(&self, before: &CpuSnapshot) -> Json {
        let mut threads = serde_json::Map::new();
        for (name, s) in &self.threads {
            let d = s - before.threads.get(name).copied().unwrap_or(0.0);
            if d > 0.0 {
                threads.insert(name.clone(), json!((d * 100.0).round() / 100.0));
            }
        }
        let workers: Vec<Json> = self
            .workers
            .iter()
            .zip(&before.workers)
            .map(|(a, b)| json!(((a - b) * 100.0).round() / 100.0))
            .collect();
        match (self.scheduler, before.scheduler) {
            (Some(a), Some(b)) => json!({
                "threads": threads,
                "workers": workers,
                "scheduler_process": ((a - b) * 100.0).round() / 100.0,
            }),
            _ => json!({ "threads": threads, "workers": workers }),
        }
    }
}

/// One timed repeat: its build and compute seconds, and anything else it
/// wants reported (from the best repeat).
struct Run {
    build_s: f64,
    compute_s: f64,
    extra: serde_json::Map<String, Json>,
}

/// Runs `workload` `repeat` times on a fresh 2-worker cluster.
pub fn run(workload: &str, repeat: usize) -> anyhow::Result<Report> {
    let t0 = Instant::now();
    let cluster = Cluster::start(workload == "scheduler-1m")?;
    let t_cluster = t0.elapsed().as_secs_f64();
    let client = cluster.client()?;
    let t_client = t0.elapsed().as_secs_f64();
    // Warm-up: one task, not timed.
    let warm = client.submit(inc, (ARG_STRIDE - 1,))?.result()?;
    ensure!(warm == ARG_STRIDE, "warm-up task: got {warm}");
    let startup_s = t0.elapsed().as_secs_f64();
    eprintln!(
        "rask-bench: cluster up in {startup_s:.3}s (scheduler + 2 worker processes {t_cluster:.3}s, \
         client {:.3}s, first task {:.3}s)",
        t_client - t_cluster,
        startup_s - t_client
    );

    let mut best: Option<(Run, Json)> = None;
    for r in 1..=repeat {
        let base = r as u64 * ARG_STRIDE;
        let before = CpuSnapshot::take(&cluster);
        let run = once(workload, &client, base)?;
        let cpu = CpuSnapshot::take(&cluster).since(&before);
        eprintln!(
            "rask-bench: {workload} run {r}/{repeat}: build {:.4}s compute {:.4}s; cpu {cpu}",
            run.build_s, run.compute_s
        );
        if best
            .as_ref()
            .is_none_or(|(b, _)| run.compute_s < b.compute_s)
        {
            best = Some((run, cpu));
        }
    }
    let (run, cpu) = best.context("at least one repeat")?;
    let build_s = run.build_s;
    let compute_s = run.compute_s;

    let workers_rss: Vec<Json> = cluster
        .worker_pids()
        .into_iter()
        .map(|p| json!(peak_rss_mb(&p.to_string())))
        .collect();
    let mut details = serde_json::Map::new();
    details.insert("workers".into(), json!(2));
    details.insert("threads_per_worker".into(), json!(1));
    details.insert("startup_s".into(), json!(startup_s));
    // Read before closing: the cluster is still up, nothing is freed yet.
    details.insert("scheduler_rss_mb".into(), json!(cluster.scheduler_rss_mb()));
    if let Cluster::Separate { .. } = cluster {
        details.insert("client_rss_mb".into(), json!(peak_rss_mb("self")));
        details.insert("scheduler_process".into(), json!(true));
    }
    details.insert("workers_rss_mb".into(), Json::Array(workers_rss));
    details.insert("cpu_s".into(), cpu);
    // Counted after the timed runs and the memory readings, so that neither
    // sees this extra graph, and with the allocator as warm as in them.
    let (tasks, tasks_run, plan_s) = sizes(workload)?;
    if let Some(plan_s) = plan_s {
        details.insert("plan_s".into(), json!(plan_s));
    }
    details.extend(run.extra);
    drop(client);
    cluster.close();
    Ok(Report {
        tasks,
        tasks_run,
        build_s,
        compute_s,
        cluster: Json::Object(details),
    })
}

/// Tasks as built and as run, counted outside the timed runs; for the
/// delayed graphs also the seconds of planning one more (merge, cull,
/// fuse, order: what `client.compute` does before encoding the tasks).
fn sizes(workload: &str) -> anyhow::Result<(usize, Option<usize>, Option<f64>)> {
    Ok(match workload {
        "futures-roundtrip" => (ROUNDTRIPS as usize, None, None),
        "futures-map-10k" => (MAP_TASKS as usize, None, None),
        "cluster-delayed-100k" | "scheduler-1m" => {
            let d = tree(leaves(workload), 0);
            let t = Instant::now();
            let s = pipeline::sizes(&d)?;
            let plan_s = t.elapsed().as_secs_f64();
            (s.built, Some(s.run), Some(plan_s))
        }
        "cluster-array-sum-transpose" => {
            let s = pipeline::sizes(&arrays::workload("array-sum-transpose")?.build()?)?;
            (s.built, Some(s.run), None)
        }
        other => anyhow::bail!(
            "unknown distributed workload {other:?}; known: {}",
            NAMES.join(", ")
        ),
    })
}

fn leaves(workload: &str) -> u64 {
    if workload == "scheduler-1m" {
        MILLION_LEAVES
    } else {
        DELAYED_LEAVES
    }
}

/// `n` leaves `inc(base + i)`, then a tree sum with fan-in 64 of
/// `sum_list(collect(chunk))` (collect + call: two tasks as built, fused
/// into one).
fn tree(n: u64, base: u64) -> Delayed<u64> {
    let mut level: Vec<Delayed<u64>> = (0..n).map(|i| inc::delayed(base + i)).collect();
    while level.len() > 1 {
        level = level
            .chunks(FAN_IN)
            .map(|c| sum_list::delayed(rask::delayed::collect(c)))
            .collect();
    }
    level.pop().expect("a non-empty level")
}

/// Σ (base + i + 1) for i < n.
fn sum_inc(n: u64, base: u64) -> u64 {
    n * base + n * (n + 1) / 2
}

/// One timed repeat of `workload`, with arguments starting at `base`.
fn once(workload: &str, client: &Client, base: u64) -> anyhow::Result<Run> {
    let mut extra = serde_json::Map::new();
    let (build_s, compute_s) = match workload {
        "futures-roundtrip" => {
            let mut each = Vec::with_capacity(ROUNDTRIPS as usize);
            let t0 = Instant::now();
            for i in 0..ROUNDTRIPS {
                let t = Instant::now();
                let got = client.submit(inc, (base + i,))?.result()?;
                each.push(t.elapsed().as_secs_f64());
                ensure!(got == base + i + 1, "inc({}) gave {got}", base + i);
            }
            let total = t0.elapsed().as_secs_f64();
            each.sort_by(f64::total_cmp);
            extra.insert(
                "roundtrip_median_ms".into(),
                json!(each[each.len() / 2] * 1e3),
            );
            extra.insert("roundtrip_min_ms".into(), json!(each[0] * 1e3));
            (0.0, total)
        }
        "futures-map-10k" => {
            let t0 = Instant::now();
            let fs = client.map(inc, base..base + MAP_TASKS)?;
            let submitted = t0.elapsed().as_secs_f64();
            let xs = client.gather(&fs)?;
            let total = t0.elapsed().as_secs_f64();
            drop(fs);
            let got: u64 = xs.iter().sum();
            ensure!(
                xs.len() == MAP_TASKS as usize && got == sum_inc(MAP_TASKS, base),
                "gather gave {} values summing to {got}",
                xs.len()
            );
            extra.insert("submit_s".into(), json!(submitted));
            (0.0, total)
        }
        "cluster-delayed-100k" | "scheduler-1m" => {
            let n = leaves(workload);
            let t0 = Instant::now();
            let d = tree(n, base);
            let t1 = Instant::now();
            let rss_built = status_mb("self", "VmRSS");
            let f = client.compute(&d)?;
            let t2 = Instant::now();
            // Memory of this process: with the graph built, and the peak so
            // far once the client has planned and queued it.
            extra.insert("rss_built_mb".into(), json!(rss_built));
            extra.insert("hwm_submitted_mb".into(), json!(peak_rss_mb("self")));
            let got = f.result()?;
            let t3 = Instant::now();
            drop(f);
            ensure!(
                got == sum_inc(n, base),
                "the tree sum gave {got}, expected {}",
                sum_inc(n, base)
            );
            // client.compute = plan (merge, cull, fuse, order) + encoding
            // every task + queueing the message; result = the rest.
            extra.insert("submit_s".into(), json!((t2 - t1).as_secs_f64()));
            extra.insert("wait_s".into(), json!((t3 - t2).as_secs_f64()));
            ((t1 - t0).as_secs_f64(), (t3 - t1).as_secs_f64())
        }
        "cluster-array-sum-transpose" => {
            let w = arrays::workload("array-sum-transpose")?;
            let t0 = Instant::now();
            let expr = w.build()?;
            let t1 = Instant::now();
            let value = client.compute(&expr)?.result()?;
            let t2 = Instant::now();
            w.check(&value)
                .context("cluster-array-sum-transpose: wrong result")?;
            ((t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64())
        }
        other => anyhow::bail!("unknown distributed workload {other:?}"),
    };
    Ok(Run {
        build_s,
        compute_s,
        extra,
    })
}
