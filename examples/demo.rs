//! The rask demo: wear analysis of a fleet of simulated devices.
//!
//! The "automotive telemetry" story in miniature. Each of 48 devices logs a
//! wear sensor 300,000 times. For every device we run three ordinary Rust
//! functions — `load` (simulate the log), `clean` (drop dropouts, sensor
//! error codes and spikes) and `fit` (least-squares wear rate) — then gather
//! the fits and rank the devices. The functions know nothing about rask:
//! `rask::delayed` turns the calls into a task graph, and `rask::compute`
//! runs it on every core, with a progress bar.
//!
//! ```text
//! cargo run --release --example demo
//! ```
//!
//! Progress is forced on — a bar in a terminal, a few plain lines when
//! standard error is a file or a pipe — unless `RASK_PROGRESS` is set
//! (`off`, `auto`). The whole result is then computed a second time on the
//! single-threaded `sync` scheduler and compared with the first: parallelism
//! must not change it.

use std::time::{Duration, Instant};

use rask::Scheduler;
use rask::config::{self, ProgressMode};
use rask::delayed::{self, Delayed};

/// Devices in the fleet.
const DEVICES: u32 = 48;
/// Sensor readings per device.
const READINGS: usize = 300_000;
/// Hours between two readings.
const HOURS_PER_READING: f64 = 0.05;
/// Seed of the simulation: the same fleet on every run.
const SEED: u64 = 0x5eed_2024;
/// What the sensor reports when its reading is out of range.
const SATURATED: f64 = 9_999.0;
/// What the sensor reports on an internal fault.
const FAULT: f64 = -1.0;
/// Half-width, in readings, of the window of the spike filter in `clean`.
const WINDOW: usize = 3;

/// SplitMix64: a tiny, good-enough pseudo-random generator, so the demo needs
/// no dependency and every run sees the same data.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal, by the Box–Muller transform.
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform(); // in (0, 1]: ln(u) is finite
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// The hidden truth about one device, from which its log is simulated.
struct Profile {
    /// Wear rate in mm per 1,000 hours.
    rate: f64,
    /// Wear at hour 0, in mm.
    start: f64,
    /// Standard deviation of the sensor noise, in mm.
    noise: f64,
}

fn rng_of(device: u32) -> SplitMix64 {
    SplitMix64(SEED ^ u64::from(device).wrapping_mul(0xd1b5_4a32_d192_ed03))
}

fn profile(rng: &mut SplitMix64) -> Profile {
    // A few devices in the fleet run hot.
    let hot = rng.uniform() < 0.1;
    Profile {
        rate: if hot { 2.5 } else { 0.8 } + 1.2 * rng.uniform(),
        start: 0.5 + 2.0 * rng.uniform(),
        noise: 0.2 + 0.3 * rng.uniform(),
    }
}

/// The simulated wear rate of `device`, to compare the fits with.
fn true_rate(device: u32) -> f64 {
    profile(&mut rng_of(device)).rate
}

/// One device's sensor log: wear in mm at each hour of operation.
struct Log {
    device: u32,
    hours: Vec<f64>,
    wear: Vec<f64>,
}

/// Simulates the log of `device`: linear wear plus noise, with the faults of
/// a real sensor — dropouts (NaN), error codes, and short spikes.
fn load(device: u32) -> Log {
    let mut rng = rng_of(device);
    let p = profile(&mut rng);
    let mut hours = Vec::with_capacity(READINGS);
    let mut wear = Vec::with_capacity(READINGS);
    for k in 0..READINGS {
        let h = k as f64 * HOURS_PER_READING;
        let fault = rng.uniform();
        let w = if fault < 0.001 {
            f64::NAN
        } else if fault < 0.002 {
            SATURATED
        } else if fault < 0.003 {
            FAULT
        } else if fault < 0.013 {
            // a knock on the sensor: a spike of a few mm either way
            p.start + p.rate * h / 1_000.0 + 8.0 * rng.normal()
        } else {
            p.start + p.rate * h / 1_000.0 + p.noise * rng.normal()
        };
        hours.push(h);
        wear.push(w);
    }
    Log {
        device,
        hours,
        wear,
    }
}

/// Drops dropouts and error codes, then spikes: readings that stand further
/// from the median of their neighbours than five times the log's typical
/// deviation from it (the median absolute deviation, scaled to a standard
/// deviation).
fn clean(log: &Log) -> Log {
    let (hours, wear): (Vec<f64>, Vec<f64>) = log
        .hours
        .iter()
        .zip(&log.wear)
        .filter(|&(_, &w)| w.is_finite() && w != SATURATED && w != FAULT)
        .map(|(&h, &w)| (h, w))
        .unzip();
    let mut window = Vec::with_capacity(2 * WINDOW + 1);
    let deviation: Vec<f64> = (0..wear.len())
        .map(|i| {
            window.clear();
            window.extend_from_slice(
                &wear[i.saturating_sub(WINDOW)..(i + WINDOW + 1).min(wear.len())],
            );
            wear[i] - median(&mut window)
        })
        .collect();
    let mut spread: Vec<f64> = deviation.iter().map(|d| d.abs()).collect();
    let limit = 5.0 * 1.4826 * median(&mut spread);
    let kept = |xs: &[f64]| -> Vec<f64> {
        xs.iter()
            .zip(&deviation)
            .filter(|&(_, d)| d.abs() <= limit)
            .map(|(&x, _)| x)
            .collect()
    };
    Log {
        device: log.device,
        hours: kept(&hours),
        wear: kept(&wear),
    }
}

/// The median of a non-empty slice (reorders it).
fn median(xs: &mut [f64]) -> f64 {
    let mid = xs.len() / 2;
    let (_, m, _) = xs.select_nth_unstable_by(mid, f64::total_cmp);
    *m
}

/// The least-squares line through one device's clean log.
#[derive(Clone, Debug, PartialEq)]
struct Fit {
    device: u32,
    /// Wear rate in mm per 1,000 hours.
    rate: f64,
    /// Fitted wear at hour 0, in mm.
    intercept: f64,
}

/// Fits `wear = intercept + rate * hours` by least squares.
fn fit(log: &Log) -> Fit {
    let n = log.hours.len() as f64;
    let mean_h = log.hours.iter().sum::<f64>() / n;
    let mean_w = log.wear.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (&h, &w) in log.hours.iter().zip(&log.wear) {
        sxy += (h - mean_h) * (w - mean_w);
        sxx += (h - mean_h) * (h - mean_h);
    }
    let slope = sxy / sxx;
    Fit {
        device: log.device,
        rate: slope * 1_000.0,
        intercept: mean_w - slope * mean_h,
    }
}

/// What the fleet looks like: the fits, worst wear rate first.
#[derive(Clone, Debug, PartialEq)]
struct Fleet {
    mean_rate: f64,
    ranked: Vec<Fit>,
}

fn summarise(fits: &[Fit]) -> Fleet {
    let mut ranked = fits.to_vec();
    ranked.sort_by(|a, b| b.rate.total_cmp(&a.rate));
    Fleet {
        mean_rate: fits.iter().map(|f| f.rate).sum::<f64>() / fits.len() as f64,
        ranked,
    }
}

/// Readings in and readings kept, over the whole fleet.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Quality {
    raw: usize,
    kept: usize,
}

fn main() -> rask::Result<()> {
    // Report a bad RASK_* variable or rask.toml now, before the override below
    // would hide it.
    config::try_get()?;
    // Show the bar even in a pipe, unless the user chose for themselves.
    let _progress = std::env::var_os("RASK_PROGRESS").is_none().then(|| {
        config::update(|c| {
            c.progress = ProgressMode::On;
            c.progress_delay = Duration::from_millis(100);
        })
    });

    println!(
        "rask demo: wear of {DEVICES} simulated devices, {} readings each",
        thousands(READINGS)
    );

    // Build the graph: nothing runs yet.
    let mut fits: Vec<Delayed<Fit>> = Vec::new();
    let mut counts: Vec<Delayed<Quality>> = Vec::new();
    for device in 0..DEVICES {
        let raw: Delayed<Log> = rask::delayed(move || load(device)).with_name("load");
        let cleaned: Delayed<Log> = raw.map(clean);
        fits.push(cleaned.map(fit));
        counts.push(raw.map2(&cleaned, |r, c| Quality {
            raw: r.wear.len(),
            kept: c.wear.len(),
        }));
    }
    let fleet: Delayed<Fleet> = delayed::collect(&fits).map(|fits| summarise(fits));
    let quality: Delayed<Quality> = delayed::collect(&counts).map(|qs| Quality {
        raw: qs.iter().map(|q| q.raw).sum(),
        kept: qs.iter().map(|q| q.kept).sum(),
    });

    // Both results in one compute: every device is loaded and cleaned once.
    let scheduler = Scheduler::current()?;
    let start = Instant::now();
    let (fleet_result, quality_result) = rask::compute((&fleet, &quality))?;
    let elapsed = start.elapsed();

    let dropped = quality_result.raw - quality_result.kept;
    println!(
        "readings: {} loaded, {} kept ({:.2}% dropped: dropouts, error codes, spikes)",
        thousands(quality_result.raw),
        thousands(quality_result.kept),
        100.0 * dropped as f64 / quality_result.raw as f64
    );
    println!(
        "mean wear rate: {:.3} mm per 1,000 h over {} devices",
        fleet_result.mean_rate,
        fleet_result.ranked.len()
    );
    println!("fastest wear:");
    for f in fleet_result.ranked.iter().take(3) {
        println!(
            "  device {:>2}  {:.3} mm per 1,000 h  (simulated {:.3}, starting at {:.2} mm)",
            f.device,
            f.rate,
            true_rate(f.device),
            f.intercept
        );
    }
    let workers = match scheduler.workers() {
        Some(1) => " (1 worker)".to_owned(),
        Some(n) => format!(" ({n} workers)"),
        None => String::new(),
    };
    println!(
        "computed in {:.2} s on the {} scheduler{workers}",
        elapsed.as_secs_f64(),
        scheduler.name()
    );

    // The same graph on one thread, as one zipped value: results must be equal.
    let start = Instant::now();
    let check = fleet.zip(&quality).compute_with(&Scheduler::sync())?;
    let equal = check == (fleet_result, quality_result);
    println!(
        "check: recomputed on the sync scheduler in {:.2} s: {}",
        start.elapsed().as_secs_f64(),
        if equal { "equal" } else { "DIFFERENT" }
    );
    if !equal {
        eprintln!("error: the two schedulers gave different results");
        std::process::exit(1);
    }
    Ok(())
}

/// `1234567` as `1,234,567`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
