//! The solar astronomers' pipeline, end to end, on a synthetic sun.
//!
//! ```text
//! cargo run --release --example solar                          # 64 x 2048 x 2048 f32 (1 GiB)
//! cargo run --release --example solar -- --frames 16 --size 512
//! cargo run --release --example solar -- --help
//! ```
//!
//! 1. **A synthetic sun** (`--frames` × `--size` × `--size` f32): a
//!    limb-darkened disk, four dark spots that rotate across it, a flare
//!    that flashes up in the middle of the sequence and decays, and
//!    Gaussian noise — written to a Zarr store (zstd, zarr-python's
//!    default codec) in chunks of a quarter frame, `(1, size/2, size/2)`,
//!    with units and axis names as attributes.
//! 2. **A gaussian filter per image** (sigma 0 in time, 2 pixels in y and
//!    x, scipy's `reflect` mode) read from that store: the filter's 8-pixel
//!    halo crosses the quarter-frame blocks, which rask adds by itself.
//! 3. **Rechunk so blocks span time**: `(16, size/8, size/2)` blocks, 16
//!    frames deep, the layout a per-pixel time series wants.
//! 4. **DWT features in time**: a 3-level `db4` transform along time
//!    (PyWavelets' `wavedec`, symmetric mode) through halos: the time axis
//!    stays chunked (16 frames a block) and each block reads the frames its
//!    filter window needs from its neighbours. The features are, per pixel,
//!    the energy (sum of squares over time) of each coefficient array: the
//!    approximation and the details of levels 3, 2 and 1 — a flare is a
//!    burst of fine-scale (level-1) energy where it happens.
//! 5. **DWT features in space**: a 3-level `db4` `wavedec2` of the
//!    time-mean image, and the energy of each of its 10 sub-bands (one
//!    transform of one image: the spots and the limb are spatial scales).
//! 6. **Per-pixel statistics** over time (mean, standard deviation,
//!    maximum) and the **light curve** (the sum of every smoothed frame).
//! 7. **Results to Zarr**, one store per product under `--out`, with units
//!    and descriptions as attributes.
//!
//! Steps 2–6 are one compute: the store is read and filtered once, and the
//! blocks move through the rechunk, the transform and the reductions
//! without the stack ever being in memory at once. A progress bar shows
//! it; its profile is written as an HTML report (task stream per worker,
//! memory and CPU over time), and the summary ends with the process's peak
//! memory (`VmHWM`). The program checks its results by hand and exits
//! non-zero when they differ: the light curve against the raw frames'
//! sums (a gaussian filter in `reflect` mode keeps each image's sum) and
//! the statistics of one pixel against its own time series.
//!
//! `--memory-limit SIZE` (default `1GiB`; `auto` for rask's default of 80%
//! of RAM) is the memory rask may use: the laptop with little memory of
//! the story. Results that would not fit are spilled to disk and read back
//! (see the README's "Memory"), and the summary says how much was.
//!
//! `--input STORE` runs the pipeline on an existing store instead of
//! making one; `--write-sun STORE` only makes one. `--bench` prints one
//! JSON line for `bench/run` (workload `solar`) instead of the summary,
//! with no progress bar or profile; `bench/solar_dask.py` is the same
//! pipeline in dask.array.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rask::Scheduler;
use rask::array::ndarray::{ArrayD, Axis, IxDyn};
use rask::array::zarr::ZarrWriteOptions;
use rask::array::{self, Array, ndimage, s, wavelet};
use rask::config::{self, ProgressMode};
use rask::diagnostics::{Profiler, ResourceProfiler, report};

/// Gaussian sigma in pixels (y and x); none in time.
const SIGMA: f64 = 2.0;
/// The wavelet, its levels and mode, in time and in space.
const WAVELET: &str = "db4";
const LEVELS: usize = 3;
/// Frames per block once blocks span time.
const TIME_CHUNK: usize = 16;
/// Standard deviation of the noise, in units of the disk centre's intensity.
const NOISE: f32 = 0.02;
/// Units of every intensity (the disk centre is 1).
const UNITS: &str = "disk-centre intensity";

struct Options {
    frames: usize,
    size: usize,
    input: Option<PathBuf>,
    write_sun: Option<PathBuf>,
    out: PathBuf,
    bench: bool,
    repeat: usize,
    /// `--memory-limit`: `None` for rask's default.
    memory_limit: Option<String>,
}

const USAGE: &str = "usage: solar [--frames T] [--size S] [--out DIR] [--input STORE] \
                     [--write-sun STORE] [--memory-limit SIZE|auto] [--bench] [--repeat N]";

impl Options {
    fn parse() -> Result<Options, String> {
        let mut o = Options {
            frames: 64,
            size: 2048,
            input: None,
            write_sun: None,
            out: std::env::temp_dir().join("rask-solar"),
            bench: false,
            repeat: 1,
            memory_limit: Some("1GiB".into()),
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            let mut value =
                |name: &str| args.next().ok_or(format!("{name} needs a value\n{USAGE}"));
            let number = |name: &str, v: String| {
                v.parse::<usize>()
                    .map_err(|_| format!("{name} takes a whole number, not {v:?}"))
            };
            match a.as_str() {
                "--frames" => o.frames = number("--frames", value("--frames")?)?,
                "--size" => o.size = number("--size", value("--size")?)?,
                "--repeat" => o.repeat = number("--repeat", value("--repeat")?)?.max(1),
                "--out" => o.out = value("--out")?.into(),
                "--input" => o.input = Some(value("--input")?.into()),
                "--write-sun" => o.write_sun = Some(value("--write-sun")?.into()),
                "--bench" => o.bench = true,
                "--memory-limit" => {
                    let v = value("--memory-limit")?;
                    o.memory_limit = (v != "auto").then_some(v);
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(format!("unexpected argument {other:?}\n{USAGE}")),
            }
        }
        if o.frames < 2 || o.size < 16 || !o.size.is_multiple_of(8) {
            return Err(format!(
                "--frames must be at least 2 and --size a multiple of 8 of at least 16 \
                 (got {} frames of {} pixels)",
                o.frames, o.size
            ));
        }
        Ok(o)
    }
}

/// SplitMix64 of one pixel's index: the noise is the same on every run and
/// in every block layout.
fn hash(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A standard normal number for pixel `i` (Box–Muller on two hashes).
fn normal(i: u64) -> f32 {
    let a = hash(i.wrapping_mul(2));
    let b = hash(i.wrapping_mul(2) + 1);
    let u = 1.0 - (a >> 11) as f64 / (1u64 << 53) as f64; // (0, 1]
    let v = (b >> 11) as f64 / (1u64 << 53) as f64;
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

/// The synthetic sun of `frames` frames of `size` × `size` pixels.
struct Sun {
    frames: usize,
    size: usize,
}

impl Sun {
    /// Intensity of pixel (y, x) of frame t, noise included.
    fn pixel(&self, t: usize, y: usize, x: usize) -> f32 {
        let n = self.size as f64;
        let (yc, xc, radius) = (n / 2.0, n / 2.0, 0.42 * n);
        let (dy, dx) = (y as f64 - yc, x as f64 - xc);
        let r2 = (dy * dy + dx * dx) / (radius * radius);
        let mut v = if r2 < 1.0 {
            // Limb darkening, linear in mu = cos(angle to the line of sight).
            let mu = (1.0 - r2).sqrt();
            1.0 - 0.6 * (1.0 - mu)
        } else {
            0.0
        };
        if r2 < 1.0 {
            // Four spots drifting with the rotation (x grows with time).
            let tf = t as f64 / self.frames.max(1) as f64;
            for (k, (lat, x0, w)) in [
                (-0.15, -0.30, 0.012),
                (0.10, -0.10, 0.008),
                (0.20, 0.05, 0.015),
                (-0.05, 0.20, 0.010),
            ]
            .into_iter()
            .enumerate()
            {
                let sx = xc + (x0 + 0.25 * tf) * n;
                let sy = yc + lat * n + 0.01 * n * k as f64;
                let d2 = (y as f64 - sy).powi(2) + (x as f64 - sx).powi(2);
                v *= 1.0 - 0.7 * (-d2 / (2.0 * (w * n).powi(2))).exp();
            }
            // The flare: rises at mid-sequence, decays over an eighth of it.
            let t0 = self.frames as f64 / 2.0;
            if t as f64 >= t0 {
                let tau = (self.frames as f64 / 8.0).max(1.0);
                let amp = 0.8 * (-(t as f64 - t0) / tau).exp();
                let (fy, fx, fw) = (yc - 0.12 * n, xc + 0.15 * n, 0.01 * n);
                let d2 = (y as f64 - fy).powi(2) + (x as f64 - fx).powi(2);
                v += amp * (-d2 / (2.0 * fw * fw)).exp();
            }
        }
        let i = ((t * self.size + y) * self.size + x) as u64;
        v as f32 + NOISE * normal(i)
    }

    /// The sun as a lazy array in quarter-frame blocks.
    fn array(self) -> rask::Result<Array<f32>> {
        let (t, n) = (self.frames, self.size);
        Array::from_fn(&[t, n, n], &[1, n / 2, n / 2][..], move |info| {
            let (t0, y0, x0) = (info.start[0], info.start[1], info.start[2]);
            ArrayD::from_shape_fn(IxDyn(&info.shape), |i| {
                self.pixel(t0 + i[0], y0 + i[1], x0 + i[2])
            })
        })
    }
}

/// Writes the synthetic sun to `path` (zstd), replacing a store there.
fn write_sun(frames: usize, size: usize, path: &Path, sched: &Scheduler) -> rask::Result<()> {
    let opts = ZarrWriteOptions::new()
        .overwrite(true)
        .zstd(0)
        .attribute("units", UNITS)
        .attribute(
            "description",
            "synthetic sun: limb-darkened disk, moving spots, a flare, noise",
        )
        .dimension_names(["t", "y", "x"]);
    Sun { frames, size }
        .array()?
        .to_zarr_with(path, &opts, sched)
}

/// The lazy products of the pipeline on the store at `input`.
struct Products {
    /// Per pixel, over time: mean, standard deviation, maximum (y, x).
    mean: Array<f32>,
    std: Array<f32>,
    max: Array<f32>,
    /// Per pixel: energy of cA3, cD3, cD2, cD1 in time (4, y, x).
    time_energy: Array<f32>,
    /// Energy of the 10 sub-bands of the time-mean image's wavedec2:
    /// cA3, then (cH, cV, cD) of levels 3, 2, 1.
    space_energy: Array<f32>,
    /// Sum of every smoothed frame (t).
    light_curve: Array<f64>,
    /// The smoothed stack (for the hand check).
    smooth: Array<f32>,
}

fn energy(c: &Array<f32>) -> Array<f32> {
    (c * c).sum()
}

fn pipeline(input: &Path) -> rask::Result<Products> {
    let raw = Array::<f32>::from_zarr(input)?;
    let (frames, size) = (raw.shape()[0], raw.shape()[1]);
    // 2. Per image; rask adds the 8-pixel halo across the blocks.
    let smooth = ndimage::gaussian_filter(&raw, &[0.0, SIGMA, SIGMA], ndimage::Mode::Reflect)?;
    // 3. Blocks spanning time.
    let series = smooth.rechunk(&[TIME_CHUNK.min(frames), (size / 8).max(1), (size / 2).max(1)])?;
    // 4. DWT in time, through halos (the time axis stays chunked).
    let coeffs = wavelet::wavedec(&series, WAVELET, LEVELS, Axis(0), wavelet::Mode::Symmetric)?;
    let per_pixel: Vec<Array<f32>> = coeffs.iter().map(|c| (c * c).sum_axis(Axis(0))).collect();
    let time_energy = array::stack(Axis(0), &per_pixel.iter().collect::<Vec<_>>())?;
    // 6. Statistics over time.
    let mean = series.mean_axis(Axis(0));
    let std = series.std_axis(Axis(0), 0.0);
    let max = series.max_axis(Axis(0));
    let light_curve = smooth.astype::<f64>().sum_axes(&[1, 2], false);
    // 5. DWT in space of the time-mean image.
    let c2 = wavelet::wavedec2(
        &mean,
        WAVELET,
        LEVELS,
        [Axis(0), Axis(1)],
        wavelet::Mode::Symmetric,
    )?;
    let mut bands = vec![energy(&c2.approx)];
    for level in &c2.details {
        bands.extend(level.iter().map(energy));
    }
    let space_energy = array::stack(Axis(0), &bands.iter().collect::<Vec<_>>())?;
    Ok(Products {
        mean,
        std,
        max,
        time_energy,
        space_energy,
        light_curve,
        smooth,
    })
}

/// The computed products.
struct Results {
    mean: ArrayD<f32>,
    std: ArrayD<f32>,
    max: ArrayD<f32>,
    time_energy: ArrayD<f32>,
    space_energy: ArrayD<f32>,
    light_curve: ArrayD<f64>,
}

fn compute(p: &Products, sched: &Scheduler) -> rask::Result<Results> {
    let (mean, std, max, time_energy, space_energy, light_curve) = sched.compute(&(
        &p.mean,
        &p.std,
        &p.max,
        &p.time_energy,
        &p.space_energy,
        &p.light_curve,
    ))?;
    Ok(Results {
        mean,
        std,
        max,
        time_energy,
        space_energy,
        light_curve,
    })
}

/// 7. Each product to its own Zarr store under `out`, with attributes.
fn write_results(r: &Results, out: &Path, sched: &Scheduler) -> rask::Result<()> {
    std::fs::create_dir_all(out).map_err(|e| {
        rask::Error::invalid("--out", format!("cannot create {}: {e}", out.display()))
    })?;
    let base = || ZarrWriteOptions::new().overwrite(true).zstd(0);
    let yx = ["y", "x"];
    let maps: [(&str, &ArrayD<f32>, &str); 3] = [
        ("mean", &r.mean, "mean over time of the smoothed frames"),
        (
            "std",
            &r.std,
            "standard deviation over time (ddof 0) of the smoothed frames",
        ),
        ("max", &r.max, "maximum over time of the smoothed frames"),
    ];
    for (name, a, what) in maps {
        let n = a.shape().to_vec();
        Array::from_ndarray(a.clone(), &n[..])?.to_zarr_with(
            out.join(format!("{name}.zarr")),
            &base()
                .attribute("units", UNITS)
                .attribute("description", what)
                .dimension_names(yx),
            sched,
        )?;
    }
    let n = r.time_energy.shape().to_vec();
    Array::from_ndarray(r.time_energy.clone(), &[1, n[1], n[2]][..])?.to_zarr_with(
        out.join("time_energy.zarr"),
        &base()
            .attribute("units", format!("({UNITS})^2"))
            .attribute("description", "per pixel, the sum over time of the squares of each coefficient array of a 3-level db4 wavedec along time (symmetric)")
            .attribute("bands", serde_json::json!(["cA3", "cD3", "cD2", "cD1"]))
            .dimension_names(["band", "y", "x"]),
        sched,
    )?;
    Array::from_ndarray(r.space_energy.clone(), &[10][..])?.to_zarr_with(
        out.join("space_energy.zarr"),
        &base()
            .attribute("units", format!("({UNITS})^2"))
            .attribute("description", "sum of squares of each sub-band of a 3-level db4 wavedec2 (symmetric) of the time-mean image")
            .attribute("bands", serde_json::json!(["cA3", "cH3", "cV3", "cD3", "cH2", "cV2", "cD2", "cH1", "cV1", "cD1"]))
            .dimension_names(["band"]),
        sched,
    )?;
    let t = r.light_curve.len();
    Array::from_ndarray(r.light_curve.clone(), &[t][..])?.to_zarr_with(
        out.join("light_curve.zarr"),
        &base()
            .attribute("units", UNITS)
            .attribute("description", "sum of each smoothed frame")
            .dimension_names(["t"]),
        sched,
    )?;
    Ok(())
}

/// Checks by hand; `Err` names what differs.
fn check(input: &Path, p: &Products, r: &Results) -> Result<String, String> {
    let fail = |e: rask::Error| format!("check failed to compute: {e}");
    // The light curve against the raw frames' sums: a gaussian filter in
    // reflect mode keeps each image's sum.
    let raw = Array::<f32>::from_zarr(input).map_err(fail)?;
    let sums = raw
        .astype::<f64>()
        .sum_axes(&[1, 2], false)
        .compute()
        .map_err(fail)?;
    let mut worst = 0.0f64;
    for (t, (a, b)) in sums.iter().zip(r.light_curve.iter()).enumerate() {
        let rel = (a - b).abs() / a.abs().max(1.0);
        if rel > 1e-4 {
            return Err(format!(
                "light curve frame {t}: {b} against the raw frame's sum {a}"
            ));
        }
        worst = worst.max(rel);
    }
    // One pixel on the flare's track: mean, std and max of its smoothed
    // time series, by hand.
    let size = raw.shape()[1];
    let (y, x) = (size / 2 - size * 12 / 100, size / 2 + size * 15 / 100);
    let series = p
        .smooth
        .slice(&s![.., y..y + 1, x..x + 1])
        .and_then(|a| a.compute())
        .map_err(fail)?;
    let v: Vec<f64> = series.iter().map(|&v| f64::from(v)).collect();
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n).sqrt();
    let max = v.iter().cloned().fold(f64::MIN, f64::max);
    for (what, hand, got) in [
        ("mean", mean, r.mean[[y, x]]),
        ("std", std, r.std[[y, x]]),
        ("max", max, r.max[[y, x]]),
    ] {
        if (hand - f64::from(got)).abs() > 1e-4 * hand.abs().max(1.0) {
            return Err(format!(
                "pixel ({y}, {x}): {what} by hand {hand}, pipeline {got}"
            ));
        }
    }
    Ok(format!(
        "light curve = raw frame sums (worst {worst:.1e} relative); pixel ({y}, {x}) mean {mean:.4}, \
         std {std:.4}, max {max:.4} by hand = pipeline"
    ))
}

/// A field of /proc/self/status in MB (`VmHWM`: peak RSS), if there is one.
fn status_mb(field: &str) -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0 / 1e6)
}

fn tasks_of(p: &Products) -> usize {
    use rask::Collection;
    let mut builder = rask::graph::GraphBuilder::new();
    let mut keys = Vec::new();
    (
        &p.mean,
        &p.std,
        &p.max,
        &p.time_energy,
        &p.space_energy,
        &p.light_curve,
    )
        .add_to_graph(&mut builder, &mut keys);
    builder.len()
}

fn main() {
    let opts = match Options::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("solar: {e}");
            std::process::exit(2);
        }
    };
    match run(&opts) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("solar: error: {e}");
            std::process::exit(1);
        }
    }
}

/// Runs the example; `Ok(false)` when the check found a difference.
fn run(o: &Options) -> rask::Result<bool> {
    config::try_get()?;
    // Holds the memory limit for the whole run.
    let _limit = match &o.memory_limit {
        Some(limit) => {
            let bytes: config::ByteSize = limit.parse().map_err(|e| {
                rask::Error::invalid("--memory-limit", format!("{limit:?} is not a size: {e}"))
            })?;
            Some(config::update(|c| c.memory_limit = Some(bytes)))
        }
        None => None,
    };
    let sched = Scheduler::current()?;
    if let Some(path) = &o.write_sun {
        let t0 = Instant::now();
        write_sun(o.frames, o.size, path, &sched)?;
        println!(
            "wrote the synthetic sun ({} x {} x {} f32) to {} in {:.2} s",
            o.frames,
            o.size,
            o.size,
            path.display(),
            t0.elapsed().as_secs_f64()
        );
        return Ok(true);
    }
    // Show the bar even in a pipe, unless the user chose (not in --bench).
    let _progress = (!o.bench && std::env::var_os("RASK_PROGRESS").is_none()).then(|| {
        config::update(|c| {
            c.progress = ProgressMode::On;
            c.progress_delay = Duration::from_millis(200);
        })
    });

    let started = Instant::now();
    let mut gen_s = None;
    let input = match &o.input {
        Some(p) => p.clone(),
        None => {
            let path = o.out.join("sun.zarr");
            std::fs::create_dir_all(&o.out).map_err(|e| {
                rask::Error::invalid("--out", format!("cannot create {}: {e}", o.out.display()))
            })?;
            let bytes = o.frames * o.size * o.size * 4;
            println!(
                "synthetic sun: {} frames of {} x {} f32 ({} MB) -> {}",
                o.frames,
                o.size,
                o.size,
                bytes / 1_000_000,
                path.display()
            );
            let t0 = Instant::now();
            write_sun(o.frames, o.size, &path, &sched)?;
            gen_s = Some(t0.elapsed().as_secs_f64());
            path
        }
    };

    if o.bench {
        let (mut build_s, mut compute_s, mut tasks) = (f64::INFINITY, f64::INFINITY, 0);
        for r in 0..o.repeat {
            let t0 = Instant::now();
            let p = pipeline(&input)?;
            let t1 = Instant::now();
            let res = compute(&p, &sched)?;
            write_results(&res, &o.out, &sched)?;
            let t2 = Instant::now();
            if r == 0 {
                if let Err(e) = check(&input, &p, &res) {
                    eprintln!("solar: wrong result: {e}");
                    return Ok(false);
                }
                tasks = tasks_of(&p);
            }
            eprintln!(
                "solar: run {}/{}: build {:.4}s compute {:.4}s",
                r + 1,
                o.repeat,
                (t1 - t0).as_secs_f64(),
                (t2 - t1).as_secs_f64()
            );
            build_s = build_s.min((t1 - t0).as_secs_f64());
            compute_s = compute_s.min((t2 - t1).as_secs_f64());
        }
        println!(
            "{}",
            serde_json::json!({
                "workload": "solar", "engine": "rask", "scheduler": "threads", "tasks": tasks,
                "build_s": build_s, "compute_s": compute_s, "repeat": o.repeat,
                "workers": sched.workers(),
            })
        );
        return Ok(true);
    }

    let p = pipeline(&input)?;
    let (frames, size) = (p.smooth.shape()[0], p.smooth.shape()[1]);
    println!(
        "pipeline: gaussian sigma {SIGMA} per image -> rechunk to {TIME_CHUNK}-frame blocks -> \
         {LEVELS}-level {WAVELET} in time and space -> statistics, light curve ({} tasks)",
        tasks_of(&p)
    );
    let (prof, rprof) = (Profiler::start(), ResourceProfiler::start()?);
    let t0 = Instant::now();
    let res = compute(&p, &sched)?;
    // The figures of the pipeline's compute (each compute publishes its own).
    let memory = rask::memory_stats();
    let compute_s = t0.elapsed().as_secs_f64();
    let (prof, rprof) = (prof.finish(), rprof.finish());
    let t1 = Instant::now();
    write_results(&res, &o.out, &sched)?;
    let write_s = t1.elapsed().as_secs_f64();
    let profile = o.out.join("solar-profile.html");
    report(&profile, &prof, Some(&rprof))?;

    // The summary.
    let curve: Vec<f64> = res.light_curve.iter().copied().collect();
    let quiet = curve[..frames / 2].iter().sum::<f64>() / (frames / 2) as f64;
    let (peak_t, peak) = curve
        .iter()
        .copied()
        .enumerate()
        .fold((0, f64::MIN), |a, b| if b.1 > a.1 { b } else { a });
    println!(
        "light curve: quiet mean {quiet:.1}, peak {peak:.1} at frame {peak_t} (+{:.3}%: the flare)",
        100.0 * (peak - quiet) / quiet
    );
    let e = &res.time_energy;
    let (fy, fx) = (size / 2 - size * 12 / 100, size / 2 + size * 15 / 100);
    let (qy, qx) = (size / 2, size / 2 - size / 5);
    println!(
        "time features (cD1 energy): flare pixel {:.4}, quiet pixel {:.4}",
        e[[3, fy, fx]],
        e[[3, qy, qx]]
    );
    let se = &res.space_energy;
    println!(
        "space features of the mean image: approximation {:.3e}, level-1 details {:.3e} {:.3e} {:.3e}",
        se[[0]],
        se[[7]],
        se[[8]],
        se[[9]]
    );
    println!(
        "per-pixel statistics: disk centre mean {:.4} std {:.4}; brightest max {:.4}",
        res.mean[[size / 2, size / 2]],
        res.std[[size / 2, size / 2]],
        res.max.iter().cloned().fold(f32::MIN, f32::max)
    );
    println!("where the time went (task prefixes, CPU seconds over all workers):");
    for s in prof.by_prefix().iter().take(6) {
        println!(
            "  {:<28} {:>6} tasks {:>8.2} s",
            s.prefix,
            s.count,
            s.total.as_secs_f64()
        );
    }
    if let Some(g) = gen_s {
        println!("generated and wrote the sun in {g:.2} s");
    }
    println!(
        "computed in {compute_s:.2} s on {} workers, results written in {write_s:.2} s to {}; \
         total {:.2} s",
        sched.workers().unwrap_or(1),
        o.out.display(),
        started.elapsed().as_secs_f64()
    );
    println!("profile: {}", profile.display());
    if let Some(m) = memory {
        println!(
            "memory: limit {} MiB; results held peaked at {} MiB, the process at {} MiB; {} MiB \
             spilled to disk in {} results, {} read back",
            m.limit >> 20,
            m.peak_managed >> 20,
            m.peak_rss >> 20,
            m.spilled_total >> 20,
            m.spills,
            m.reads
        );
    }
    let check = check(&input, &p, &res);
    match status_mb("VmHWM") {
        Some(mb) => println!("peak memory (VmHWM): {mb:.0} MB"),
        None => println!("peak memory: not available (no /proc/self/status)"),
    }
    match check {
        Ok(msg) => {
            println!("check: {msg}");
            Ok(true)
        }
        Err(msg) => {
            eprintln!("check: DIFFERENT: {msg}");
            Ok(false)
        }
    }
}
