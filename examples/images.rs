//! Arrays in rask: a stack of noisy images, smoothed, rechunked across time,
//! reduced and stored — the "solar astronomer" story in miniature.
//!
//! ```text
//! cargo run --release --example images
//! ```
//!
//! A stack of 64 frames of 512 × 512 pixels (134 MB of f64) is made
//! lazily in quarter-frame blocks (1 × 256 × 256): a bright disc whose
//! brightness drifts over time, plus noise. Then:
//!
//! 1. every frame is smoothed with a 3 × 3 box filter through `map_overlap`,
//!    so each block sees a one-pixel halo of its neighbouring blocks (the
//!    four quarters of a frame meet at its centre, under the disc) and the
//!    block boundaries are invisible in the result;
//! 2. the stack is rechunked so blocks span time (frames → pixel columns),
//!    the layout a per-pixel time series wants, through rask's staged plan;
//! 3. the per-pixel standard deviation over time and the mean light curve
//!    are computed together, sharing the work;
//! 4. the time-variability map, already computed in step 3, is written to a
//!    `.npy` file that NumPy can open (`np.load`) — the pipeline runs once;
//! 5. step 3 is profiled, and the profile is written as an HTML report (task
//!    stream per worker, memory and CPU over time).
//!
//! Frames are made, smoothed and reduced in parallel, block by block; only
//! the rechunk across time holds the smoothed stack at once, as it must
//! (every pixel's time series needs every frame). The disc-centre pixel,
//! whose 3 × 3 neighbourhood spans all four blocks of each frame, is
//! checked against the same computation done by hand with `ndarray`; the
//! program exits with status 1 when they differ.

use std::time::Instant;

use rask::array::ndarray::{ArrayD, IxDyn, s};
use rask::array::{Array, Boundary, random};
use rask::diagnostics::{Profiler, ResourceProfiler, report};

/// Frames in the stack.
const FRAMES: usize = 64;
/// Pixels along each side of a frame.
const SIDE: usize = 512;
/// Pixels along each side of a block: a quarter of a frame, so the box
/// filter's halo crosses blocks.
const BLOCK: usize = SIDE / 2;

/// The clean sky of frame `t`: a disc whose brightness drifts with time.
fn sky(t: usize, y: usize, x: usize) -> f64 {
    let (cy, cx, r) = (SIDE as f64 / 2.0, SIDE as f64 / 2.0, SIDE as f64 / 4.0);
    let d2 = (y as f64 - cy).powi(2) + (x as f64 - cx).powi(2);
    let brightness = 1.0 + 0.2 * (t as f64 / 8.0).sin();
    if d2 < r * r { brightness } else { 0.1 }
}

/// A 3 × 3 box filter over the last two axes of a block that carries a
/// one-pixel halo: the interior of the output is the mean of each pixel's
/// neighbourhood (sums of three shifted columns, then of three shifted
/// rows); the halo rows and columns are left as they are (they are trimmed
/// away).
fn box3(block: &ArrayD<f64>) -> ArrayD<f64> {
    let mut out = block.clone();
    let (ny, nx) = (block.shape()[1], block.shape()[2]);
    for t in 0..block.shape()[0] {
        let f = block.slice(s![t, .., ..]);
        let h = &f.slice(s![.., 0..nx - 2]) + &f.slice(s![.., 1..nx - 1]) + f.slice(s![.., 2..nx]);
        let v =
            (&h.slice(s![0..ny - 2, ..]) + &h.slice(s![1..ny - 1, ..]) + h.slice(s![2..ny, ..]))
                / 9.0;
        out.slice_mut(s![t, 1..ny - 1, 1..nx - 1]).assign(&v);
    }
    out
}

fn main() -> rask::Result<()> {
    let started = Instant::now();
    // 1. The stack: four blocks per frame, meeting at the disc centre.
    let chunks = [1, BLOCK, BLOCK];
    let noise = random::normal_with(0.0, 0.05, &[FRAMES, SIDE, SIDE], &chunks[..], 7)?;
    let clean = Array::from_fn(&[FRAMES, SIDE, SIDE], &chunks[..], |info| {
        let (t0, y0, x0) = (info.start[0], info.start[1], info.start[2]);
        ArrayD::from_shape_fn(IxDyn(&info.shape), |i| sky(t0 + i[0], y0 + i[1], x0 + i[2]))
    })?;
    let stack = &clean + &noise;
    println!(
        "stack: {FRAMES} frames of {SIDE} x {SIDE} ({} MB of f64), {} blocks",
        stack.nbytes() / 1_000_000,
        stack.nblocks()
    );

    // 2. Smooth every frame; halos of one pixel in y and x, none in time.
    let smooth = stack.map_overlap(&[0, 1, 1], Boundary::Nearest, box3)?;

    // 3. Time series per pixel: blocks of 32 rows spanning all frames.
    let series = smooth.rechunk(&[FRAMES, 32, SIDE])?;
    let stages = smooth.rechunk_plan(series.chunks())?.len();
    println!("rechunk frames -> pixel rows in {stages} stage(s)");

    // 4. Variability map and light curve, computed together, profiled.
    let variability = series.std_axes(&[0], 0.0, false);
    let light_curve = smooth.mean_axes(&[1, 2], false);
    let (prof, rprof) = (Profiler::start(), ResourceProfiler::start()?);
    let (var_map, curve) = rask::compute((&variability, &light_curve))?;
    let (prof, rprof) = (prof.finish(), rprof.finish());
    println!(
        "variability: max {:.4}, disc centre {:.4}, sky corner {:.4}",
        var_map.iter().cloned().fold(f64::MIN, f64::max),
        var_map[[SIDE / 2, SIDE / 2]],
        var_map[[5, 5]]
    );
    println!(
        "light curve: frame 0 {:.4}, frame 12 {:.4}, frame 37 {:.4}",
        curve[[0]],
        curve[[12]],
        curve[[37]]
    );

    // 5. Store the map for NumPy: the one computed above (writing the lazy
    // `variability` would run the whole pipeline again).
    // The same path on every run: replace the file an earlier run wrote.
    let path = std::env::temp_dir().join("rask-variability.npy");
    let replace = rask::array::npy::NpyWriteOptions::new().overwrite(true);
    let computed = Array::from_ndarray(var_map.clone(), &[SIDE, SIDE][..])?;
    computed.to_npy_with(&path, &replace, &rask::Scheduler::current()?)?;
    println!("wrote {} (numpy.load opens it)", path.display());
    let profile = std::env::temp_dir().join("rask-images-profile.html");
    report(&profile, &prof, Some(&rprof))?;
    println!(
        "profile of the variability and light-curve compute: {}",
        profile.display()
    );
    println!("computed in {:.2} s", started.elapsed().as_secs_f64());

    // Check one pixel by hand: the disc centre's 3 x 3 neighbourhood in
    // every frame (a small slice of the stack, computed on its own), box
    // filtered, then its standard deviation over time. The centre is the
    // corner where a frame's four blocks meet: its neighbourhood comes
    // from all four, so this checks the halos.
    let c = SIDE / 2;
    assert_eq!(c % BLOCK, 0, "the checked pixel sits on a block corner");
    let patch = stack
        .slice(&rask::array::s![.., c - 1..c + 2, c - 1..c + 2])?
        .compute()?;
    let by_hand: Vec<f64> = (0..FRAMES)
        .map(|t| patch.slice(s![t, .., ..]).sum() / 9.0)
        .collect();
    let n = by_hand.len() as f64;
    let mean = by_hand.iter().sum::<f64>() / n;
    let std = (by_hand.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let got = var_map[[c, c]];
    let equal = (std - got).abs() < 1e-9;
    println!(
        "check: disc-centre variability by hand {std:.6}, rask {got:.6}: {}",
        if equal { "equal" } else { "DIFFERENT" }
    );
    println!(
        "kept {} and {} for you to open",
        path.display(),
        profile.display()
    );
    if !equal {
        eprintln!("error: the pipeline and the hand computation differ");
        std::process::exit(1);
    }
    Ok(())
}
