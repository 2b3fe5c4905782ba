//! Scheduler throughput: push N trivial tasks (default 1,000,000) through
//! the state machine — submit, compute on two simulated workers that finish
//! instantly, report, release — and print tasks per second and peak RSS.
//!
//! ```text
//! cargo run --release -p rask-scheduler --example throughput [N] [map|tree]
//! ```
//!
//! `map`: N independent tasks, all wanted (like `client.map`). `tree`: N
//! N/2 leaves summed pairwise to one wanted root (about N tasks).

use std::time::{Duration, Instant};

// As the `rask` binary with its `mimalloc` feature: the scheduler frees a
// million small records, which glibc's allocator handles poorly.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bytes::Bytes;
use rask_protocol::*;
use rask_scheduler::{ClientId, Comm, Event, Scheduler, SchedulerConfig, WorkerId};

#[derive(Default)]
struct Inbox {
    computes: Vec<(WorkerId, WireKey)>,
    reported: Vec<WireKey>,
}

impl Comm for Inbox {
    fn to_client(&mut self, _: ClientId, msg: SchedulerToClient, _: Vec<Bytes>) {
        match msg {
            SchedulerToClient::InMemory { key, .. } => self.reported.push(key),
            other => panic!("unexpected message to the client: {other:?}"),
        }
    }
    fn to_worker(&mut self, w: WorkerId, msg: SchedulerToWorker, _: Vec<Bytes>) {
        if let SchedulerToWorker::Compute(c) = msg {
            self.computes.push((w, c.key));
        }
    }
}

/// A line of /proc/self/status, like `VmHWM` (peak RSS) or `VmRSS`.
fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
                .map(|l| l[field.len() + 1..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown (no /proc/self/status)".into())
}

/// CPU seconds this process used (user + system), from /proc/self/stat;
/// steadier than wall time on a shared machine.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split(' ').collect();
            let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
            Some(ticks / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn key(i: u64) -> WireKey {
    // Distinct names, as `client.map` gives (a token per call).
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    WireKey {
        name: format!("inc-{h:016x}{i:016x}"),
        index: vec![],
    }
}

fn graph(n: u64, tree: bool) -> (Vec<SubmittedTask>, Vec<u32>) {
    let op = vec![7u8; 16];
    let n = if tree { n.div_ceil(2) } else { n };
    let mut tasks: Vec<SubmittedTask> = (0..n)
        .map(|i| SubmittedTask {
            key: key(i),
            op: op.clone(),
            deps: vec![],
            order: i as u32,
            annotations: None,
        })
        .collect();
    if !tree {
        return (tasks, (0..n as u32).collect());
    }
    let mut level: Vec<u32> = (0..n as u32).collect();
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            let i = tasks.len() as u32;
            tasks.push(SubmittedTask {
                key: key(i as u64),
                op: op.clone(),
                deps: pair.iter().map(|&p| DepRef::Local(p)).collect(),
                order: i,
                annotations: None,
            });
            next.push(i);
        }
        level = next;
    }
    (tasks, level)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: u64 = args
        .first()
        .map(|a| {
            a.replace('_', "")
                .parse()
                .expect("N must be a number, like 1000000")
        })
        .unwrap_or(1_000_000);
    let tree = args.get(1).is_some_and(|a| a == "tree");
    let mut s = Scheduler::new(SchedulerConfig::default());
    let mut inbox = Inbox::default();
    let now = Duration::ZERO;
    for w in 0..2 {
        s.handle(
            now,
            Event::WorkerConnected {
                worker: WorkerId(w),
                peer_address: format!("10.0.0.{w}:1"),
            },
            &mut inbox,
        );
        let register = WorkerToScheduler::Register {
            name: format!("w{w}"),
            address: format!("tcp://10.0.0.{w}:4000"),
            nthreads: 1,
            memory_limit: 0,
            resources: vec![],
            pid: w,
        };
        s.handle(
            now,
            Event::Worker {
                worker: WorkerId(w),
                msg: register,
                bulk: vec![],
            },
            &mut inbox,
        );
    }
    let client = ClientId(0);
    s.handle(
        now,
        Event::ClientConnected {
            client,
            name: "bench".into(),
        },
        &mut inbox,
    );

    let (tasks, wanted) = graph(n, tree);
    let total = tasks.len();
    // The client's message is part of the peak: report it on its own.
    let rss_message = status("VmRSS");
    let start = Instant::now();
    let cpu_start = cpu_seconds();
    let msg = ClientToScheduler::UpdateGraph {
        tasks,
        wanted,
        inline_results: false,
    };
    s.handle(
        now,
        Event::Client {
            client,
            msg,
            bulk: vec![],
        },
        &mut inbox,
    );
    let submitted = start.elapsed();
    let mut finished = 0usize;
    let mut reported = 0usize;
    loop {
        let computes = std::mem::take(&mut inbox.computes);
        if computes.is_empty() && inbox.reported.is_empty() {
            break;
        }
        for (worker, key) in computes {
            finished += 1;
            let msg = WorkerToScheduler::TaskFinished {
                key,
                nbytes: 8,
                tag: "u64".into(),
                duration_us: 1,
                inline: None,
            };
            s.handle(
                now,
                Event::Worker {
                    worker,
                    msg,
                    bulk: vec![],
                },
                &mut inbox,
            );
        }
        if inbox.reported.len() >= 1024 || inbox.computes.is_empty() {
            let keys = std::mem::take(&mut inbox.reported);
            reported += keys.len();
            s.handle(
                now,
                Event::Client {
                    client,
                    msg: ClientToScheduler::Release { keys },
                    bulk: vec![],
                },
                &mut inbox,
            );
        }
    }
    let elapsed = start.elapsed();
    let cpu = cpu_seconds() - cpu_start;
    let stats = s.stats();
    assert_eq!(finished, total, "every task ran once");
    assert_eq!(stats.tasks, 0, "everything released: {stats:?}");
    println!(
        "shape {}: {total} tasks, {reported} reported; submit {:.2} s; full cycle {:.2} s wall ({:.0} tasks/s), {:.2} s CPU ({:.0} tasks/CPU-s); peak RSS {} (of which the submitted message, before the scheduler saw it: {})",
        if tree { "tree" } else { "map" },
        submitted.as_secs_f64(),
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        cpu,
        total as f64 / cpu,
        status("VmHWM"),
        rss_message
    );
}
