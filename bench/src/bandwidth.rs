//! `rask-bench bandwidth`: the machine's memory bandwidth, for the
//! memory-bandwidth bound of the streaming array workloads (bench/README.md,
//! "Memory-bandwidth bound").
//!
//! One `f64` buffer, far larger than the caches (1 GiB by default), is split
//! into one contiguous part per thread (one thread per core by default).
//! Every pass starts the threads together and ends when the last finishes:
//!
//! * **write**: each thread stores a value into every element of its part
//!   (ordinary stores, as a block being generated is written);
//! * **read**: each thread sums its part (16 independent lanes, so the adds
//!   never limit the speed).
//!
//! The first write pass touches the pages and is not timed. Reported: the
//! best of `--repeat` passes of each kind, in GB/s (10⁹ bytes per second).

use std::hint::black_box;
use std::time::Instant;

use anyhow::{Context, bail, ensure};

/// Options of one measurement.
pub struct Options {
    pub mib: usize,
    pub threads: usize,
    pub repeat: usize,
}

impl Options {
    /// Parses `[--mib M] [--threads T] [--repeat N]`.
    pub fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Options> {
        let mut o = Options {
            mib: 1024,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            repeat: 10,
        };
        while let Some(a) = args.next() {
            let slot = match a.as_str() {
                "--mib" => &mut o.mib,
                "--threads" => &mut o.threads,
                "--repeat" => &mut o.repeat,
                other => bail!(
                    "unexpected argument {other:?}; usage: rask-bench bandwidth [--mib M] [--threads T] [--repeat N]"
                ),
            };
            *slot = args
                .next()
                .with_context(|| format!("{a} needs a value"))?
                .parse()
                .with_context(|| format!("{a} takes a positive number"))?;
        }
        ensure!(
            o.mib > 0 && o.threads > 0 && o.repeat > 0,
            "--mib, --threads and --repeat must be positive"
        );
        Ok(o)
    }
}

/// Seconds of one pass that runs `f` on every part at once, one thread each.
fn timed_pass(parts: &mut [&mut [f64]], f: impl Fn(&mut [f64]) + Sync) -> f64 {
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for part in parts.iter_mut() {
            let f = &f;
            s.spawn(move || f(part));
        }
    });
    t0.elapsed().as_secs_f64()
}

fn write(part: &mut [f64], value: f64) {
    for x in part {
        *x = value;
    }
}

fn read(part: &[f64]) -> f64 {
    let mut lanes = [0.0f64; 16];
    let chunks = part.chunks_exact(16);
    let rest: f64 = chunks.remainder().iter().sum();
    for c in chunks {
        for (l, x) in lanes.iter_mut().zip(c) {
            *l += x;
        }
    }
    lanes.iter().sum::<f64>() + rest
}

/// Measures and prints one JSON line:
/// `{"measurement": "bandwidth", "threads", "bytes", "read_gbs", "write_gbs", "repeat"}`.
pub fn run(o: &Options) -> anyhow::Result<()> {
    let len = o.mib * (1 << 20) / size_of::<f64>();
    let bytes = (len * size_of::<f64>()) as f64;
    let mut buf = vec![0.0f64; len];
    let per = len.div_ceil(o.threads);
    let mut parts: Vec<&mut [f64]> = buf.chunks_mut(per).collect();
    timed_pass(&mut parts, |p| write(p, 1.0)); // page faults: not timed
    let (mut best_read, mut best_write) = (f64::INFINITY, f64::INFINITY);
    for i in 0..o.repeat {
        let value = black_box(i as f64 + 0.5);
        best_write = best_write.min(timed_pass(&mut parts, |p| write(p, value)));
        best_read = best_read.min(timed_pass(&mut parts, |p| {
            black_box(read(p));
        }));
    }
    println!(
        "{}",
        serde_json::json!({
            "measurement": "bandwidth", "threads": o.threads, "bytes": bytes,
            "read_gbs": bytes / best_read / 1e9, "write_gbs": bytes / best_write / 1e9,
            "repeat": o.repeat,
        })
    );
    Ok(())
}
