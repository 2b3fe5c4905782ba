//! The telemetry team's story, end to end, on generated data: sensor
//! readings of a fleet of devices → Parquet → survival analysis per part
//! kind, joined with the device table.
//!
//! ```text
//! cargo run --release --features dataframe --example automotive                  # 20,000,000 rows in 20 CSV files
//! cargo run --release --features dataframe --example automotive -- --rows 2000000 --files 4
//! cargo run --release --features dataframe --example automotive -- --help
//! ```
//!
//! 1. **Synthetic telemetry**, generated deterministically by one rask task
//!    per CSV file, in parallel: `--devices` devices (100,000), each of one of
//!    `--kinds` part kinds (1,000) and at one of 12 sites, report every 6
//!    hours. File `i` holds every device's readings of the `i`-th time window
//!    (in time order), with the columns `device_id, part_kind, site, ts,
//!    value, failed`: `ts` in hours since the device was installed, `value`
//!    a temperature that rises before a failure (missing in 0.1% of rows),
//!    `failed` true from the device's first failure on. Failure times are
//!    Weibull, with a scale per part kind and firmware.
//! 2. **CSV → Parquet** (`read_csv` → `to_parquet`), then everything else
//!    reads the Parquet files (`read_parquet`).
//! 3. **Per device** (one pass over the data): a broadcast join with the
//!    device table (`from_polars(devices, 1)`: firmware, supplier), then a
//!    `group_by(device_id, ...)` tree reduction: the time of the first
//!    failure, the last reading, the mean temperature.
//! 4. **Per part kind**: the per-device table is shuffled by part kind and
//!    a plain Rust function ([`kaplan_meier`]) runs on every kind of every
//!    partition, the partitions in parallel: Kaplan–Meier survival curves,
//!    the median time to failure, failure rates.
//! 5. **A summary table**: the fleet, the part kinds that fail soonest, and
//!    failure rates by firmware. A progress bar shows each compute; the
//!    process's peak memory (`VmHWM`) is printed at the end.
//!
//! The survival curves are checked against lifelines' `KaplanMeierFitter`
//! by the facade's test `automotive_survival_equals_lifelines`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rask::Scheduler;
use rask::config::{self, ProgressMode};
use rask::dataframe::polars::prelude::{
    self as pl, DataType, IntoLazy, JoinArgs, JoinType, NULL, col, lit, when,
};
use rask::dataframe::{self as dd, DataFrame};

/// Hours between two readings of a device.
pub const STEP_HOURS: i64 = 6;
/// Sites the fleet is spread over.
const SITES: [&str; 12] = [
    "aachen", "bilbao", "cluj", "dijon", "essen", "faro", "gdansk", "haarlem", "izmir", "jena",
    "kaunas", "lyon",
];
/// Firmware versions and how much they stretch (>1) or shorten (<1) a
/// device's life.
const FIRMWARE: [(&str, f64); 5] = [
    ("fw-1.0", 0.80),
    ("fw-1.1", 0.95),
    ("fw-2.0", 1.00),
    ("fw-2.1", 1.10),
    ("fw-3.0", 1.25),
];
/// Suppliers of the devices.
const SUPPLIERS: [&str; 4] = ["ackermann", "bosco", "contiwerk", "denso-ish"];
/// Seed of the simulation: the same fleet on every run.
const SEED: u64 = 0x7e1e_2026;

/// The size of the generated data.
#[derive(Clone, Debug)]
pub struct Fleet {
    /// Devices in the fleet.
    pub devices: usize,
    /// Part kinds.
    pub kinds: usize,
    /// CSV files, one per time window.
    pub files: usize,
    /// Readings of every device in every file.
    pub readings_per_file: usize,
}

impl Fleet {
    /// A fleet of about `rows` readings in `files` files.
    pub fn new(rows: usize, files: usize, devices: usize, kinds: usize) -> Self {
        let files = files.max(1);
        let devices = devices.clamp(1, (rows / files).max(1));
        Fleet {
            devices,
            kinds: kinds.max(1),
            files,
            readings_per_file: (rows / (files * devices)).max(1),
        }
    }

    /// Rows over all files.
    pub fn rows(&self) -> usize {
        self.devices * self.files * self.readings_per_file
    }

    /// Hours covered by the data: readings at `0, 6, ..., horizon - 6`.
    pub fn horizon(&self) -> i64 {
        (self.files * self.readings_per_file) as i64 * STEP_HOURS
    }
}

/// SplitMix64, so the example needs no random-number dependency.
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
}

/// What the simulation knows about one device.
struct Device {
    kind: usize,
    site: usize,
    firmware: usize,
    supplier: usize,
    /// Hours to the first failure (may be past the horizon: censored).
    fails_at: f64,
}

fn device(fleet: &Fleet, id: usize) -> Device {
    let mut r = SplitMix64(SEED ^ (id as u64).wrapping_mul(0xd1b5_4a32_d192_ed03));
    let kind = (r.next_u64() % fleet.kinds as u64) as usize;
    let site = (r.next_u64() % SITES.len() as u64) as usize;
    let firmware = (r.next_u64() % FIRMWARE.len() as u64) as usize;
    let supplier = (r.next_u64() % SUPPLIERS.len() as u64) as usize;
    // Per kind: a Weibull scale between half and 2.5 times the horizon,
    // and a shape between 1 and 2.5 (wear-out).
    let mut k = SplitMix64(SEED ^ 0xabcd ^ (kind as u64).wrapping_mul(0x9e37_79b9));
    let scale = fleet.horizon() as f64 * (0.5 + 2.0 * k.uniform()) * FIRMWARE[firmware].1;
    let shape = 1.0 + 1.5 * k.uniform();
    let u = 1.0 - r.uniform(); // in (0, 1]
    let fails_at = scale * (-u.ln()).powf(1.0 / shape);
    Device {
        kind,
        site,
        firmware,
        supplier,
        fails_at,
    }
}

/// The name of part kind `k`.
pub fn kind_name(k: usize) -> String {
    format!("PK-{k:04}")
}

/// Writes CSV file `file` of the fleet to `path`: every device's readings
/// of that file's time window, in time order.
fn write_file(fleet: &Fleet, file: usize, path: &Path) -> std::io::Result<()> {
    let devices: Vec<Device> = (0..fleet.devices).map(|d| device(fleet, d)).collect();
    let kinds: Vec<String> = (0..fleet.kinds).map(kind_name).collect();
    let tmp = path.with_extension("csv.tmp");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
    let mut line = String::with_capacity(64);
    out.write_all(b"device_id,part_kind,site,ts,value,failed\n")?;
    let mut noise = SplitMix64(SEED ^ 0x5151 ^ (file as u64).wrapping_mul(0x2545_f491));
    for j in 0..fleet.readings_per_file {
        let ts = ((file * fleet.readings_per_file + j) as i64) * STEP_HOURS;
        for (id, d) in devices.iter().enumerate() {
            line.clear();
            let failed = ts as f64 >= d.fails_at;
            let u = noise.uniform();
            // 0.1% of the readings are missing.
            let value = if u < 0.001 {
                None
            } else {
                // 60 °C, up to 25 °C hotter in the last 200 hours before
                // the failure, and noise.
                let warn = (1.0 - (d.fails_at - ts as f64) / 200.0).clamp(0.0, 1.0);
                Some(60.0 + 25.0 * warn + 4.0 * (noise.uniform() - 0.5))
            };
            let _ = write!(line, "{id},{},{},{ts},", kinds[d.kind], SITES[d.site]);
            if let Some(v) = value {
                let _ = write!(line, "{v:.3}");
            }
            line.push_str(if failed { ",true\n" } else { ",false\n" });
            out.write_all(line.as_bytes())?;
        }
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Generates the fleet's CSV files `telemetry-000.csv`, ... into `dir`,
/// one rask task per file. Returns the rows written.
pub fn generate(fleet: &Fleet, dir: &Path, sched: &Scheduler) -> rask::Result<usize> {
    std::fs::create_dir_all(dir)
        .map_err(|e| rask::Error::invalid(dir.display().to_string(), e.to_string()))?;
    let tasks: Vec<rask::delayed::Delayed<()>> = (0..fleet.files)
        .map(|f| {
            let fleet = fleet.clone();
            let path = dir.join(format!("telemetry-{f:03}.csv"));
            rask::try_delayed(move || {
                write_file(&fleet, f, &path).map_err(|e| format!("writing {}: {e}", path.display()))
            })
            .with_name("write-csv")
        })
        .collect();
    sched.compute(&tasks)?;
    Ok(fleet.rows())
}

/// The device table: `device_id, firmware, supplier`.
pub fn device_table(fleet: &Fleet) -> pl::DataFrame {
    let ds: Vec<Device> = (0..fleet.devices).map(|d| device(fleet, d)).collect();
    let ids: Vec<i64> = (0..fleet.devices as i64).collect();
    let fw: Vec<&str> = ds.iter().map(|d| FIRMWARE[d.firmware].0).collect();
    let sup: Vec<&str> = ds.iter().map(|d| SUPPLIERS[d.supplier]).collect();
    pl::df!("device_id" => ids, "firmware" => fw, "supplier" => sup)
        .expect("columns of equal length")
}

/// One row per device: `device_id, part_kind, firmware, supplier,
/// first_failure` (null when it never failed), `last_seen`, `mean_value`,
/// `readings` — a broadcast join with the device table, then a group-by.
pub fn per_device(telemetry: &DataFrame, devices: &DataFrame) -> DataFrame {
    telemetry
        .join(
            devices,
            [col("device_id")],
            [col("device_id")],
            JoinArgs::new(JoinType::Inner),
        )
        .with_column(
            when(col("failed"))
                .then(col("ts"))
                .otherwise(lit(NULL).cast(DataType::Int64))
                .alias("fail_ts"),
        )
        .group_by([
            col("device_id"),
            col("part_kind"),
            col("firmware"),
            col("supplier"),
        ])
        .agg([
            col("fail_ts").min().alias("first_failure"),
            col("ts").max().alias("last_seen"),
            col("value").mean().alias("mean_value"),
            col("ts").count().alias("readings"),
        ])
}

/// A Kaplan–Meier estimate: at each distinct duration `times[i]` (sorted),
/// the probability `survival[i]` of surviving past it.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// The distinct durations, failures and censorings, ascending.
    pub times: Vec<f64>,
    /// The probability of surviving past each time.
    pub survival: Vec<f64>,
}

impl Curve {
    /// The first time at which survival is at most one half (lifelines'
    /// `median_survival_time_`), `None` when it stays above.
    pub fn median(&self) -> Option<f64> {
        self.times
            .iter()
            .zip(&self.survival)
            .find(|&(_, &s)| s <= 0.5)
            .map(|(&t, _)| t)
    }

    /// The probability of surviving past `t`.
    pub fn at(&self, t: f64) -> f64 {
        match self.times.partition_point(|&x| x <= t) {
            0 => 1.0,
            i => self.survival[i - 1],
        }
    }
}

/// The Kaplan–Meier estimator of `(duration, failed)` observations: a
/// failure at its duration, or a device still working (censored) then.
///
/// ```text
/// S(t) = Π_{t_i ≤ t} (1 − d_i / n_i)
/// ```
/// with `d_i` failures at `t_i` and `n_i` devices still observed just
/// before `t_i`.
pub fn kaplan_meier(obs: &mut [(f64, bool)]) -> Curve {
    obs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut at_risk = obs.len();
    let (mut times, mut survival) = (Vec::new(), Vec::new());
    let mut s = 1.0;
    let mut i = 0;
    while i < obs.len() {
        let t = obs[i].0;
        let (mut deaths, mut n) = (0usize, 0usize);
        while i < obs.len() && obs[i].0 == t {
            deaths += usize::from(obs[i].1);
            n += 1;
            i += 1;
        }
        s *= 1.0 - deaths as f64 / at_risk as f64;
        times.push(t);
        survival.push(s);
        at_risk -= n;
    }
    Curve { times, survival }
}

/// What the analysis finds about one part kind.
#[derive(Clone, Debug)]
pub struct KindSurvival {
    /// The part kind.
    pub kind: String,
    /// Devices of this kind.
    pub devices: usize,
    /// Devices that failed within the data's horizon.
    pub failures: usize,
    /// Device-hours observed until the failure or the last reading.
    pub exposure_hours: f64,
    /// The Kaplan–Meier survival curve.
    pub curve: Curve,
}

impl KindSurvival {
    /// Failures per 1,000 device-hours.
    pub fn rate_per_1000h(&self) -> f64 {
        1000.0 * self.failures as f64 / self.exposure_hours.max(f64::MIN_POSITIVE)
    }
}

/// Survival per part kind of one partition of the per-device table (the
/// per-group function, plain Rust).
pub fn survival_by_kind(part: &pl::DataFrame) -> pl::PolarsResult<Vec<KindSurvival>> {
    let kinds = part.column("part_kind")?.str()?;
    let first = part.column("first_failure")?.i64()?;
    let last = part.column("last_seen")?.i64()?;
    let mut groups: BTreeMap<&str, Vec<(f64, bool)>> = BTreeMap::new();
    for ((k, f), l) in kinds.iter().zip(first.iter()).zip(last.iter()) {
        let (Some(k), Some(l)) = (k, l) else { continue };
        let obs = match f {
            Some(f) => (f as f64, true),
            None => (l as f64, false),
        };
        groups.entry(k).or_default().push(obs);
    }
    Ok(groups
        .into_iter()
        .map(|(kind, mut obs)| KindSurvival {
            kind: kind.to_string(),
            devices: obs.len(),
            failures: obs.iter().filter(|o| o.1).count(),
            exposure_hours: obs.iter().map(|o| o.0).sum(),
            curve: kaplan_meier(&mut obs),
        })
        .collect())
}

/// Survival per part kind: `per_device` shuffled by part kind into
/// `npartitions`, then [`survival_by_kind`] on every partition, the
/// partitions in parallel (one rask task each). Sorted by kind.
pub fn survival(
    per_device: &DataFrame,
    npartitions: usize,
    sched: &Scheduler,
) -> rask::Result<Vec<KindSurvival>> {
    let parts = per_device
        .shuffle([col("part_kind")], npartitions.max(1))
        .compute_partitions()?;
    let tasks: Vec<rask::delayed::Delayed<Vec<KindSurvival>>> = parts
        .into_iter()
        .map(|p| {
            rask::try_delayed(move || survival_by_kind(&p).map_err(|e| e.to_string()))
                .with_name("kaplan-meier")
        })
        .collect();
    let mut out: Vec<KindSurvival> = sched.compute(&tasks)?.into_iter().flatten().collect();
    out.sort_by(|a, b| a.kind.cmp(&b.kind));
    Ok(out)
}

struct Options {
    rows: usize,
    files: usize,
    devices: usize,
    kinds: usize,
    out: PathBuf,
    keep: bool,
}

const USAGE: &str =
    "usage: automotive [--rows N] [--files N] [--devices N] [--kinds N] [--out DIR] [--keep]

  --rows N     readings in all (default 20000000)
  --files N    CSV files, one per time window (default 20)
  --devices N  devices in the fleet (default 100000)
  --kinds N    part kinds (default 1000)
  --out DIR    where the CSV and Parquet files go (default: a directory in the temp dir)
  --keep       keep the files afterwards (removed by default)";

impl Options {
    fn parse() -> Result<Self, String> {
        let mut o = Options {
            rows: 20_000_000,
            files: 20,
            devices: 100_000,
            kinds: 1000,
            out: std::env::temp_dir().join(format!("rask-automotive-{}", std::process::id())),
            keep: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            let mut num = |name: &str| -> Result<usize, String> {
                let v = args
                    .next()
                    .ok_or(format!("{name} needs a value\n{USAGE}"))?;
                v.replace('_', "")
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(format!("{name}: {v:?} is not a positive whole number"))
            };
            match a.as_str() {
                "--rows" => o.rows = num("--rows")?,
                "--files" => o.files = num("--files")?,
                "--devices" => o.devices = num("--devices")?,
                "--kinds" => o.kinds = num("--kinds")?,
                "--out" => o.out = args.next().ok_or("--out needs a directory")?.into(),
                "--keep" => o.keep = true,
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
            }
        }
        Ok(o)
    }
}

/// A field of /proc/self/status in MB (`VmHWM`: peak RSS), if there is one.
fn status_mb(field: &str) -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0 / 1e6)
}

fn main() {
    let opts = match Options::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("automotive: {e}");
            std::process::exit(2);
        }
    };
    let result = run(&opts);
    if !opts.keep {
        let _ = std::fs::remove_dir_all(&opts.out);
    }
    if let Err(e) = result {
        eprintln!("automotive: error: {e}");
        std::process::exit(1);
    }
}

fn run(o: &Options) -> rask::Result<()> {
    config::try_get()?;
    let sched = Scheduler::current()?;
    // Show the bar even in a pipe, unless the user chose.
    let _progress = std::env::var_os("RASK_PROGRESS").is_none().then(|| {
        config::update(|c| {
            c.progress = ProgressMode::On;
            c.progress_delay = Duration::from_millis(200);
        })
    });
    let fleet = Fleet::new(o.rows, o.files, o.devices, o.kinds);
    let started = Instant::now();
    let csv_dir = o.out.join("csv");
    let pq_dir = o.out.join("telemetry.parquet");

    let t = Instant::now();
    let rows = generate(&fleet, &csv_dir, &sched)?;
    println!(
        "1. generated {rows} readings of {} devices ({} part kinds, {} hours) in {} CSV files: {:.1} s",
        fleet.devices,
        fleet.kinds,
        fleet.horizon(),
        fleet.files,
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let raw = dd::read_csv(format!("{}/*.csv", csv_dir.display()))?;
    let _ = std::fs::remove_dir_all(&pq_dir);
    raw.to_parquet(&pq_dir)?;
    println!(
        "2. CSV ({} partitions) to Parquet: {:.1} s",
        raw.npartitions(),
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let df = dd::read_parquet(format!("{}/*.parquet", pq_dir.display()))?;
    let devices = dd::from_polars(device_table(&fleet), 1)?;
    let per_dev = per_device(&df, &devices).compute()?;
    println!(
        "3. per device (broadcast join + group-by over {} partitions): {} devices, {:.1} s",
        df.npartitions(),
        per_dev.height(),
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let kinds = survival(
        &dd::from_polars(per_dev.clone(), workers)?,
        4 * workers,
        &sched,
    )?;
    println!(
        "4. Kaplan–Meier curves of {} part kinds: {:.2} s",
        kinds.len(),
        t.elapsed().as_secs_f64()
    );

    summary(&fleet, &kinds, &per_dev)?;
    println!("\ntotal {:.1} s", started.elapsed().as_secs_f64());
    match status_mb("VmHWM") {
        Some(mb) => println!("peak memory (VmHWM): {mb:.0} MB"),
        None => println!("peak memory: not available (no /proc/self/status)"),
    }
    Ok(())
}

/// Prints the summary table.
fn summary(fleet: &Fleet, kinds: &[KindSurvival], per_dev: &pl::DataFrame) -> rask::Result<()> {
    let failures: usize = kinds.iter().map(|k| k.failures).sum();
    let exposure: f64 = kinds.iter().map(|k| k.exposure_hours).sum();
    let devices: usize = kinds.iter().map(|k| k.devices).sum();
    println!(
        "\nfleet: {devices} devices, {failures} failed within {} hours ({:.1}%), {:.3} failures per 1,000 device-hours",
        fleet.horizon(),
        100.0 * failures as f64 / devices.max(1) as f64,
        1000.0 * failures as f64 / exposure.max(1.0)
    );
    let mut worst: Vec<&KindSurvival> = kinds.iter().collect();
    let key = |k: &KindSurvival| k.curve.median().unwrap_or(f64::INFINITY);
    worst.sort_by(|a, b| key(a).total_cmp(&key(b)).then(a.kind.cmp(&b.kind)));
    let h = fleet.horizon() as f64;
    println!("\npart kinds that fail soonest (Kaplan–Meier):");
    println!(
        "{:<8} {:>8} {:>8} {:>12} {:>14} {:>10} {:>10}",
        "kind",
        "devices",
        "failed",
        "median (h)",
        "per 1,000 h",
        format!("S({:.0}h)", h / 4.0),
        format!("S({:.0}h)", h / 2.0)
    );
    for k in worst.iter().take(10) {
        let median = k
            .curve
            .median()
            .map_or("-".to_string(), |m| format!("{m:.0}"));
        println!(
            "{:<8} {:>8} {:>8} {:>12} {:>14.3} {:>10.3} {:>10.3}",
            k.kind,
            k.devices,
            k.failures,
            median,
            k.rate_per_1000h(),
            k.curve.at(h / 4.0),
            k.curve.at(h / 2.0)
        );
    }
    let no_median = kinds.iter().filter(|k| k.curve.median().is_none()).count();
    println!(
        "({no_median} of {} kinds keep more than half their devices working)",
        kinds.len()
    );

    // Failure rates by firmware, from the joined per-device table.
    let by_fw = per_dev
        .clone()
        .lazy()
        .with_column(
            when(col("first_failure").is_not_null())
                .then(col("first_failure"))
                .otherwise(col("last_seen"))
                .cast(DataType::Float64)
                .alias("hours"),
        )
        .group_by([col("firmware")])
        .agg([
            col("device_id").count().alias("devices"),
            col("first_failure").count().alias("failed"),
            col("hours").sum().alias("hours"),
            col("mean_value").mean().alias("mean_temp"),
        ])
        .sort(["firmware"], Default::default())
        .collect()
        .map_err(|e| rask::Error::invalid("per-device table", e.to_string()))?;
    println!("\nby firmware (device table joined):");
    println!(
        "{:<8} {:>8} {:>8} {:>14} {:>12}",
        "firmware", "devices", "failed", "per 1,000 h", "mean temp"
    );
    let col_of = |name: &str| {
        by_fw
            .column(name)
            .map_err(|e| rask::Error::invalid(name, e.to_string()))
    };
    let fw = col_of("firmware")?;
    let (n, f, hours, temp) = (
        col_of("devices")?,
        col_of("failed")?,
        col_of("hours")?,
        col_of("mean_temp")?,
    );
    for i in 0..by_fw.height() {
        let get = |c: &pl::Column| c.get(i).map(|v| v.to_string()).unwrap_or_default();
        let num = |c: &pl::Column| {
            c.get(i)
                .ok()
                .and_then(|v| v.extract::<f64>())
                .unwrap_or(f64::NAN)
        };
        println!(
            "{:<8} {:>8} {:>8} {:>14.3} {:>12.2}",
            get(fw).trim_matches('"'),
            get(n),
            get(f),
            1000.0 * num(f) / num(hours),
            num(temp)
        );
    }
    Ok(())
}
