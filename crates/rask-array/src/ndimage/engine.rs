//! The filters on one block: scipy.ndimage's algorithms over an n-d block
//! that may carry halos.
//!
//! A block arrives with, per axis, a [`Halo`]: how many elements before and
//! after its *core* are real data from the neighbouring blocks. The result
//! has the core's shape. Where a filter reaches past the data present (at
//! the array's true edges, where the halo is 0), the line is extended by
//! the [`Mode`], exactly as scipy extends the whole array's lines: the
//! extension is an index map over the data present ([`map_index`]), so a
//! block at an edge extends from the array's own edge elements.
//!
//! Separable filters run as scipy runs them: one 1-D pass per axis, in
//! axis order, each pass reading the previous pass's output (rounded to the
//! element type in between, as scipy's `output` array is), computing in
//! `f64` (scipy's line buffers are `double`). A pass along axis `a` keeps
//! the halos of the other axes and drops its own, so later passes see
//! correct neighbours.
//!
//! A pass gathers a *tile* — the extended lines of up to 128 neighbouring
//! columns (along an outer axis) or one line (along the last axis) — into
//! a row-major `f64` buffer. A correlation then sums 16 neighbouring
//! outputs at a time in registers: each term of those outputs is one
//! contiguous run of the buffer, so the loops vectorise (compiled for AVX2
//! too, chosen at run time, never contracted to FMA), and every output
//! still gets scipy's operations in scipy's order. Minimum and maximum
//! take each term over a segment of about 2048 outputs. The running mean of the uniform filter
//! runs along the line, so along the last axis it takes 32 lines side by
//! side instead.
//!
//! The sums follow scipy's C code term by term (symmetric kernels add the
//! mirrored pair before multiplying; the uniform filter keeps a running
//! mean), so f64 results agree with scipy to the last bits, up to `exp`.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};
use serde::{Deserialize, Serialize};

use super::Mode;
use crate::element::Number;

/// How many elements of real data a block carries before and after its
/// core along one axis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Halo {
    pub front: usize,
    pub back: usize,
}

/// A filter and its parameters, one per axis where it has them (checked
/// by the caller against the number of axes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Spec {
    Gaussian { sigma: Vec<f64>, truncate: f64 },
    Uniform { size: Vec<usize> },
    Minimum { size: Vec<usize> },
    Maximum { size: Vec<usize> },
    Median { size: Vec<usize> },
    Sobel { axis: usize },
    Laplace,
    GradientMagnitude { sigma: Vec<f64>, truncate: f64 },
}

/// scipy skips an axis whose sigma is at most this.
const SIGMA_EPS: f64 = 1e-15;

/// scipy's radius of a gaussian kernel: `int(truncate * sigma + 0.5)`.
pub(crate) fn gaussian_radius(sigma: f64, truncate: f64) -> usize {
    if sigma <= SIGMA_EPS {
        0
    } else {
        (truncate * sigma + 0.5) as usize
    }
}

impl Spec {
    /// How far the filter reaches along each axis of an `ndim`-axis array
    /// (the halo depth it needs).
    pub(crate) fn reach(&self, ndim: usize) -> Vec<usize> {
        match self {
            Spec::Gaussian { sigma, truncate } | Spec::GradientMagnitude { sigma, truncate } => {
                sigma
                    .iter()
                    .map(|&s| gaussian_radius(s, *truncate))
                    .collect()
            }
            Spec::Uniform { size }
            | Spec::Minimum { size }
            | Spec::Maximum { size }
            | Spec::Median { size } => size.iter().map(|&s| s / 2).collect(),
            Spec::Sobel { .. } | Spec::Laplace => vec![1; ndim],
        }
    }
}

/// The position `p` of a line of `n` elements (`n > 0`), extended beyond
/// its ends by `mode` as scipy does for any distance: `None` for the
/// constant.
pub(crate) fn map_index(p: isize, n: usize, mode: Mode) -> Option<usize> {
    let len = n as isize;
    if (0..len).contains(&p) {
        return Some(p as usize);
    }
    let i = match mode {
        Mode::Constant(_) => return None,
        Mode::Nearest => p.clamp(0, len - 1),
        Mode::Wrap => p.rem_euclid(len),
        Mode::Reflect => {
            let m = p.rem_euclid(2 * len);
            if m >= len { 2 * len - 1 - m } else { m }
        }
        Mode::Mirror => {
            if len == 1 {
                0
            } else {
                let period = 2 * len - 2;
                let m = p.rem_euclid(period);
                if m >= len { period - m } else { m }
            }
        }
    };
    Some(i as usize)
}

/// The filter `spec` on `block` whose halos are `halos`: the filtered
/// core, or why the block does not fit the halos.
pub(crate) fn filter_block<T: Number>(
    spec: &Spec,
    mode: Mode,
    block: ArrayViewD<'_, T>,
    halos: &[Halo],
) -> Result<ArrayD<T>, String> {
    let ndim = block.ndim();
    if halos.len() != ndim {
        return Err(format!(
            "{} halos given for a block with {ndim} axes",
            halos.len()
        ));
    }
    let mut core = Vec::with_capacity(ndim);
    for (a, (h, &n)) in halos.iter().zip(block.shape()).enumerate() {
        match h.front.checked_add(h.back) {
            Some(t) if t <= n => core.push(n - t),
            _ => {
                return Err(format!(
                    "halos {h:?} along axis {a} do not fit a block of {n} elements there"
                ));
            }
        }
    }
    if core.contains(&0) {
        return Ok(ArrayD::from_elem(IxDyn(&core), T::default()));
    }
    let out = match spec {
        Spec::Gaussian { sigma, truncate } => {
            let orders = vec![0; ndim];
            gaussian(block, halos, mode, sigma, *truncate, &orders)
        }
        Spec::Uniform { size } => separable(block, halos, mode, size, &|_, s| {
            (s > 1).then_some(Line::Uniform(s))
        }),
        Spec::Minimum { size } => separable(block, halos, mode, size, &|_, s| {
            (s > 1).then_some(Line::Min(s))
        }),
        Spec::Maximum { size } => separable(block, halos, mode, size, &|_, s| {
            (s > 1).then_some(Line::Max(s))
        }),
        Spec::Median { size } => median(block, halos, mode, size),
        Spec::Sobel { axis } => {
            // The derivative along `axis` first, then smoothing along the
            // others, as scipy's `sobel`.
            let lines: Vec<(usize, Line)> = std::iter::once((*axis, correlate(&[-1.0, 0.0, 1.0])))
                .chain(
                    (0..ndim)
                        .filter(|a| a != axis)
                        .map(|a| (a, correlate(&[1.0, 2.0, 1.0]))),
                )
                .collect();
            run_lines(block, halos, mode, &lines)
        }
        Spec::Laplace => {
            let mut total: Option<ArrayD<T>> = None;
            for a in 0..ndim {
                // The other axes' halos are cropped off first.
                let mut only = vec![Halo::default(); ndim];
                only[a] = halos[a];
                let d2 = run_lines(
                    crop_except(block.view(), halos, a),
                    &only,
                    mode,
                    &[(a, correlate(&[1.0, -2.0, 1.0]))],
                );
                total = Some(match total {
                    None => d2,
                    Some(t) => t + d2,
                });
            }
            total.unwrap_or_else(|| block.to_owned())
        }
        Spec::GradientMagnitude { sigma, truncate } => {
            let mut total: Option<ArrayD<T>> = None;
            for a in 0..ndim {
                let mut orders = vec![0; ndim];
                orders[a] = 1;
                let d = gaussian(block.view(), halos, mode, sigma, *truncate, &orders);
                let sq = d.mapv(|v| v * v);
                total = Some(match total {
                    None => sq,
                    Some(t) => t + sq,
                });
            }
            match total {
                Some(t) => t.mapv(|v| T::from_f64(v.to_f64().sqrt())),
                None => block.to_owned(),
            }
        }
    };
    // Any halo left (an axis no pass touched) comes off here.
    Ok(crop(out, halos, &core))
}

/// `block` without the halos of every axis but `keep`.
fn crop_except<'a, T>(block: ArrayViewD<'a, T>, halos: &[Halo], keep: usize) -> ArrayViewD<'a, T> {
    let mut v = block;
    for (a, h) in halos.iter().enumerate() {
        if a != keep {
            let n = v.shape()[a];
            v.slice_axis_inplace(Axis(a), Slice::from(h.front..n - h.back));
        }
    }
    v
}

/// `x` cut to `core` where it still has halos.
fn crop<T: Clone>(x: ArrayD<T>, halos: &[Halo], core: &[usize]) -> ArrayD<T> {
    if x.shape() == core {
        return x;
    }
    let cut = x.slice_each_axis(|ax| {
        let a = ax.axis.index();
        if ax.len == core[a] {
            Slice::from(..)
        } else {
            Slice::from(halos[a].front..halos[a].front + core[a])
        }
    });
    cut.to_owned()
}

/// `lines` (an axis and its pass, in order) over `block`, whose halos
/// are `halos`: each pass crops its axis to the core; axes without a pass
/// keep their halos.
///
/// Leading axes with no pass and no halo (a stack of images filtered image
/// by image) are run slice by slice, so the passes' intermediates are one
/// slice's (an image: cache-sized), not the whole block's, and are reused
/// from slice to slice; every slice's last pass writes straight into its
/// place in the result.
fn run_lines<T: Number>(
    block: ArrayViewD<'_, T>,
    halos: &[Halo],
    mode: Mode,
    lines: &[(usize, Line)],
) -> ArrayD<T> {
    if lines.is_empty() {
        return block.to_owned();
    }
    let shape = block.shape().to_vec();
    let out_shape: Vec<usize> = (0..shape.len())
        .map(|a| {
            if lines.iter().any(|(axis, _)| *axis == a) {
                shape[a] - halos[a].front - halos[a].back
            } else {
                shape[a]
            }
        })
        .collect();
    let mut out = vec![T::default(); out_shape.iter().product()];
    // The leading axes that are neither filtered nor halo'd.
    let lead = (0..shape.len())
        .take_while(|&a| halos[a] == Halo::default() && lines.iter().all(|(axis, _)| *axis != a))
        .count();
    let slices: usize = shape[..lead].iter().product();
    let mut scratch = [Vec::new(), Vec::new()];
    if lead > 0 && slices > 1 && !out.is_empty() {
        let block = block.as_standard_layout();
        let mut inner_shape = vec![slices];
        inner_shape.extend_from_slice(&shape[lead..]);
        let stack = block
            .view()
            .into_shape_with_order(IxDyn(&inner_shape))
            .expect("a standard-layout block takes any shape of its length");
        let lines: Vec<(usize, Line)> = lines.iter().map(|(a, l)| (a - lead, l.clone())).collect();
        let per = out.len() / slices;
        for (i, place) in out.chunks_exact_mut(per).enumerate() {
            chain_into(
                stack.index_axis(Axis(0), i),
                &halos[lead..],
                mode,
                &lines,
                place,
                &mut scratch,
            );
        }
    } else {
        chain_into(block, halos, mode, lines, &mut out, &mut scratch);
    }
    ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("the output has its shape's length")
}

/// `lines` in order over `x` (halos `halos`), the last pass writing into
/// `out`, the others into the two `scratch` buffers in turn.
fn chain_into<T: Number>(
    x: ArrayViewD<'_, T>,
    halos: &[Halo],
    mode: Mode,
    lines: &[(usize, Line)],
    out: &mut [T],
    scratch: &mut [Vec<T>; 2],
) {
    let mut shape = x.shape().to_vec();
    let [s0, s1] = scratch;
    let (mut from, mut to) = (s0, s1);
    for (i, (a, line)) in lines.iter().enumerate() {
        let (a, h) = (*a, halos[*a]);
        let mut next = shape.clone();
        next[a] -= h.front + h.back;
        let len: usize = next.iter().product();
        let last = i + 1 == lines.len();
        // Every pass writes each element of its output, so a buffer of
        // the right length is reused as it is (not zeroed again per slice).
        if !last && to.len() != len {
            to.clear();
            to.resize(len, T::default());
        }
        let dest: &mut [T] = if last { &mut *out } else { &mut to[..] };
        if i == 0 {
            pass_into(x.view(), a, h, mode, line, dest);
        } else {
            let prev = ArrayViewD::from_shape(IxDyn(&shape), &from[..])
                .expect("the previous pass's output has its shape's length");
            pass_into(prev, a, h, mode, line, dest);
        }
        shape = next;
        std::mem::swap(&mut from, &mut to);
    }
}

/// scipy's `gaussian_filter` with derivative `orders` per axis: one
/// correlation pass per axis whose sigma is above scipy's epsilon.
fn gaussian<T: Number>(
    block: ArrayViewD<'_, T>,
    halos: &[Halo],
    mode: Mode,
    sigma: &[f64],
    truncate: f64,
    orders: &[u8],
) -> ArrayD<T> {
    let lines: Vec<(usize, Line)> = sigma
        .iter()
        .enumerate()
        .filter(|(_, s)| **s > SIGMA_EPS)
        .map(|(a, &s)| {
            let w = gaussian_weights(s, gaussian_radius(s, truncate), orders[a]);
            (a, correlate(&w))
        })
        .collect();
    run_lines(block, halos, mode, &lines)
}

/// NumPy's pairwise sum of a contiguous `f64` slice (`np.sum`), so that
/// kernels normalise exactly as scipy's do.
fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        a.iter().fold(0.0, |s, &x| s + x)
    } else if n <= 128 {
        let mut r = [0.0; 8];
        r.copy_from_slice(&a[..8]);
        let whole = n - n % 8;
        for c in a[8..whole].chunks_exact(8) {
            for (acc, &x) in r.iter_mut().zip(c) {
                *acc += x;
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[whole..] {
            res += x;
        }
        res
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise_sum(&a[..half]) + pairwise_sum(&a[half..])
    }
}

/// The correlation weights of scipy's `gaussian_filter1d` (its
/// `_gaussian_kernel1d`, reversed) for `order` 0 or 1, `2 * radius + 1`
/// long.
pub(crate) fn gaussian_weights(sigma: f64, radius: usize, order: u8) -> Vec<f64> {
    let sigma2 = sigma * sigma;
    let r = radius as i64;
    let c = -0.5 / sigma2;
    let phi: Vec<f64> = (-r..=r).map(|x| (c * (x * x) as f64).exp()).collect();
    let total = pairwise_sum(&phi);
    let phi: Vec<f64> = phi.iter().map(|p| p / total).collect();
    let mut w: Vec<f64> = if order == 0 {
        phi
    } else {
        let q1 = 1.0 / -sigma2;
        (-r..=r)
            .zip(&phi)
            .map(|(x, p)| (x as f64 * q1) * p)
            .collect()
    };
    w.reverse();
    w
}

/// Whether a kernel of odd length is symmetric, antisymmetric or neither,
/// as scipy's `correlate1d` checks to halve its multiplications.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Symmetry {
    Even,
    Odd,
    None,
}

/// A 1-D operation along a line.
#[derive(Clone, Debug)]
enum Line {
    /// scipy's `correlate1d` with these weights (origin 0).
    Correlate {
        weights: Vec<f64>,
        symmetry: Symmetry,
    },
    /// scipy's `uniform_filter1d` of this size.
    Uniform(usize),
    /// `minimum_filter1d` of this size.
    Min(usize),
    /// `maximum_filter1d` of this size.
    Max(usize),
}

fn correlate(weights: &[f64]) -> Line {
    let n = weights.len();
    let symmetry = if n % 2 == 1 {
        let h = n / 2;
        if (1..=h).all(|j| weights[h - j] == weights[h + j]) {
            Symmetry::Even
        } else if (1..=h).all(|j| weights[h - j] == -weights[h + j]) {
            Symmetry::Odd
        } else {
            Symmetry::None
        }
    } else {
        Symmetry::None
    };
    Line::Correlate {
        weights: weights.to_vec(),
        symmetry,
    }
}

impl Line {
    /// The window length: the output at `i` reads positions
    /// `i - len / 2 ..= i - len / 2 + len - 1` (scipy's origin 0).
    fn len(&self) -> usize {
        match self {
            Line::Correlate { weights, .. } => weights.len(),
            Line::Uniform(s) | Line::Min(s) | Line::Max(s) => *s,
        }
    }
}

/// One pass of `line` along every axis in order, where `line_for(axis,
/// size)` gives one (else the axis is skipped, as scipy skips size 1).
fn separable<T: Number>(
    block: ArrayViewD<'_, T>,
    halos: &[Halo],
    mode: Mode,
    size: &[usize],
    line_for: &dyn Fn(usize, usize) -> Option<Line>,
) -> ArrayD<T> {
    let lines: Vec<(usize, Line)> = size
        .iter()
        .enumerate()
        .filter_map(|(a, &s)| line_for(a, s).map(|l| (a, l)))
        .collect();
    run_lines(block, halos, mode, &lines)
}

/// Lines gathered side by side in one tile along the last axis, for the
/// running mean (whose sum runs along the line, so lanes must be lines).
const LINES_PER_TILE: usize = 32;
/// Columns of a tile along the other axes (128: a 2048-long extended
/// column tile is 2 MB of `f64`, near the cache; 512 measured slower).
const COLUMNS_PER_TILE: usize = 128;
/// The most elements of a tile's buffer (8 MB of `f64`): fewer lines or
/// columns per tile for very long windows.
const TILE_BUDGET: usize = 1 << 20;
/// Output elements of a minimum or maximum computed together, term after
/// term (about 16 kB of `f64`, so they stay in the L1 cache).
const SEGMENT: usize = 2048;
/// Outputs of a correlation summed together in registers (four AVX2
/// registers of `f64`).
const LANES: usize = 16;

/// `line` along `axis` of `x`, whose halo there is `halo`, into `out`
/// (standard layout), which has the core's length along `axis` and `x`'s
/// along the others.
fn pass_into<T: Number>(
    x: ArrayViewD<'_, T>,
    axis: usize,
    halo: Halo,
    mode: Mode,
    line: &Line,
    out: &mut [T],
) {
    let shape = x.shape().to_vec();
    let n = shape[axis];
    let core = n - halo.front - halo.back;
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let out_len = outer * core * inner;
    debug_assert_eq!(
        out.len(),
        out_len,
        "a pass's output has the result's length"
    );
    if out_len == 0 {
        return;
    }
    let x = x.as_standard_layout();
    let data = x.as_slice().expect("a standard-layout array is contiguous");
    let s = line.len();
    let before = s / 2;
    let ext = core + s - 1;
    // Where each position of the extended line comes from.
    let src: Vec<Option<usize>> = (0..ext)
        .map(|q| map_index(q as isize - before as isize + halo.front as isize, n, mode))
        .collect();
    let shape = TileShape {
        outer,
        n,
        core,
        inner,
        lines: if matches!(line, Line::Uniform(_)) {
            LINES_PER_TILE
        } else {
            1
        },
    };
    // Compiled for AVX2 as well, picked at run time (without FMA
    // contraction, so the sums stay scipy's bit for bit).
    let arch = pulp::Arch::new();
    match line {
        Line::Correlate { .. } | Line::Uniform(_) => {
            let cval = mode.cval();
            arch.dispatch(
                #[inline(always)]
                || {
                    run_tiles(
                        data,
                        out,
                        &src,
                        shape,
                        |v: T| v.to_f64(),
                        cval,
                        |e, tw, res| compute_f64(line, e, tw, core, res),
                        |v: f64| T::from_f64(v),
                    )
                },
            );
        }
        Line::Min(_) | Line::Max(_) => {
            let cval = T::from_f64(mode.cval());
            let max = matches!(line, Line::Max(_));
            arch.dispatch(
                #[inline(always)]
                || {
                    run_tiles(
                        data,
                        out,
                        &src,
                        shape,
                        |v: T| v,
                        cval,
                        |e, tw, res| min_max(e, tw, core, s, max, res),
                        |v: T| v,
                    )
                },
            );
        }
    }
}

/// A pass's array seen as `[outer, n, inner]` (output `[outer, core,
/// inner]`), and how many lines to gather side by side when `inner` is 1.
#[derive(Clone, Copy)]
struct TileShape {
    outer: usize,
    n: usize,
    core: usize,
    inner: usize,
    lines: usize,
}

/// Runs `compute` over tiles: each tile is the extended lines (`src`
/// positions, `cval` where `None`) of a tile's worth of lines, converted
/// by `load` into a row-major buffer `[ext, tw]`; `compute` fills `[core,
/// tw]` results, stored by `store`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn run_tiles<T: Copy, B: Copy + Default>(
    data: &[T],
    out: &mut [T],
    src: &[Option<usize>],
    shape: TileShape,
    load: impl Fn(T) -> B,
    cval: B,
    compute: impl Fn(&[B], usize, &mut [B]),
    store: impl Fn(B) -> T,
) {
    let TileShape {
        outer,
        n,
        core,
        inner,
        lines,
    } = shape;
    let ext = src.len();
    if inner == 1 {
        let run = contiguous_run(src);
        // Along the last axis: `lines` lines side by side (each a
        // contiguous row when 1).
        let tw_max = lines.min(outer).min(TILE_BUDGET / ext).max(1);
        let mut e = vec![B::default(); ext * tw_max];
        let mut res = vec![B::default(); core * tw_max];
        let mut o0 = 0;
        while o0 < outer {
            let tw = tw_max.min(outer - o0);
            if tw == 1 {
                let line = &data[o0 * n..(o0 + 1) * n];
                // The edges element by element, the run in between as one
                // contiguous conversion (which vectorises).
                let (lo, hi, p) = run;
                for (v, s) in e[..lo].iter_mut().zip(&src[..lo]) {
                    *v = s.map_or(cval, |p| load(line[p]));
                }
                for (v, &d) in e[lo..hi].iter_mut().zip(&line[p..p + (hi - lo)]) {
                    *v = load(d);
                }
                for (v, s) in e[hi..ext].iter_mut().zip(&src[hi..]) {
                    *v = s.map_or(cval, |p| load(line[p]));
                }
                compute(&e[..ext], 1, &mut res[..core]);
                for (d, &v) in out[o0 * core..(o0 + 1) * core].iter_mut().zip(&res) {
                    *d = store(v);
                }
            } else {
                for (q, s) in src.iter().enumerate() {
                    let row = &mut e[q * tw..(q + 1) * tw];
                    match s {
                        Some(p) => {
                            for (t, v) in row.iter_mut().enumerate() {
                                *v = load(data[(o0 + t) * n + p]);
                            }
                        }
                        None => row.fill(cval),
                    }
                }
                compute(&e[..ext * tw], tw, &mut res[..core * tw]);
                for i in 0..core {
                    for t in 0..tw {
                        out[(o0 + t) * core + i] = store(res[i * tw + t]);
                    }
                }
            }
            o0 += tw;
        }
    } else {
        let tw_max = COLUMNS_PER_TILE.min(inner).min(TILE_BUDGET / ext).max(1);
        let mut e = vec![B::default(); ext * tw_max];
        let mut res = vec![B::default(); core * tw_max];
        for o in 0..outer {
            let base_in = o * n * inner;
            let base_out = o * core * inner;
            let mut t0 = 0;
            while t0 < inner {
                let tw = tw_max.min(inner - t0);
                for (q, s) in src.iter().enumerate() {
                    let row = &mut e[q * tw..(q + 1) * tw];
                    match s {
                        Some(p) => {
                            let from = &data[base_in + p * inner + t0..][..tw];
                            for (v, &d) in row.iter_mut().zip(from) {
                                *v = load(d);
                            }
                        }
                        None => row.fill(cval),
                    }
                }
                compute(&e[..ext * tw], tw, &mut res[..core * tw]);
                for i in 0..core {
                    let to = &mut out[base_out + i * inner + t0..][..tw];
                    for (d, &v) in to.iter_mut().zip(&res[i * tw..(i + 1) * tw]) {
                        *d = store(v);
                    }
                }
                t0 += tw;
            }
        }
    }
}

/// The longest run `lo..hi` of extended positions that read consecutive
/// input positions (`src[q] = Some(p + q - lo)`), and its first input
/// position `p`: the whole line but its edges, in every mode.
fn contiguous_run(src: &[Option<usize>]) -> (usize, usize, usize) {
    let mut best = (0, 0, 0);
    let mut q = 0;
    while q < src.len() {
        let Some(p) = src[q] else {
            q += 1;
            continue;
        };
        let lo = q;
        while q + 1 < src.len() && src[q + 1] == Some(p + (q + 1 - lo)) {
            q += 1;
        }
        q += 1;
        if q - lo > best.1 - best.0 {
            best = (lo, q, p);
        }
    }
    best
}

/// Calls `f(i0, rows)` for segments of the outputs `[core, tw]`: outputs
/// `i0 .. i0 + rows`, about [`SEGMENT`] elements at a time.
#[inline(always)]
fn segments(core: usize, tw: usize, mut f: impl FnMut(usize, usize)) {
    let seg = (SEGMENT / tw).max(1);
    let mut i0 = 0;
    while i0 < core {
        let rows = seg.min(core - i0);
        f(i0, rows);
        i0 += rows;
    }
}

/// A correlation or uniform filter over the extended rows `e` (`[core +
/// len - 1, tw]`) into `res` (`[core, tw]`), as scipy computes each output:
/// the same operations in the same order as in scipy's C loop.
///
/// A correlation is output-major: seen flat, output `k` is the sum over
/// terms `q` of `w[q] · e[k + q·tw]`, so [`LANES`] neighbouring outputs
/// take each term from one contiguous run of `e` and add it up in
/// registers, storing each output once, where summing term after term
/// over a segment of outputs read and wrote every output once per term.
#[inline(always)]
fn compute_f64(line: &Line, e: &[f64], tw: usize, core: usize, res: &mut [f64]) {
    match line {
        Line::Correlate { weights, symmetry } => {
            let len = core * tw;
            let res = &mut res[..len];
            let full = len - len % LANES;
            for (k, out) in (0..full)
                .step_by(LANES)
                .zip(res[..full].chunks_exact_mut(LANES))
            {
                out.copy_from_slice(&correlate_at::<LANES>(weights, *symmetry, e, tw, k));
            }
            for (k, out) in (full..len).zip(&mut res[full..]) {
                *out = correlate_at::<1>(weights, *symmetry, e, tw, k)[0];
            }
        }
        Line::Uniform(s) => {
            let row = |q: usize| &e[q * tw..(q + 1) * tw];
            let s = *s;
            let size = s as f64;
            // The running mean of scipy's uniform_filter1d.
            let (first, rest) = res.split_at_mut(tw);
            first.fill(0.0);
            for q in 0..s {
                for (a, &x) in first.iter_mut().zip(row(q)) {
                    *a += x;
                }
            }
            for a in first.iter_mut() {
                *a /= size;
            }
            let mut prev: &[f64] = first;
            for (k, acc) in rest.chunks_exact_mut(tw).enumerate() {
                let i = k + 1;
                let (add, sub) = (row(i + s - 1), row(i - 1));
                for (((a, &p), &x), &y) in acc.iter_mut().zip(prev).zip(add).zip(sub) {
                    *a = p + (x - y) / size;
                }
                prev = acc;
            }
        }
        Line::Min(_) | Line::Max(_) => unreachable!("min and max run on the element type"),
    }
}

/// Outputs `k .. k + N` of a correlation over the flat extended rows `e`
/// whose terms lie `stride` apart (see [`compute_f64`]), each summed in
/// scipy's order: the centre term first, then the pairs from the outside
/// in, for a kernel that is symmetric or antisymmetric; else term by term.
#[inline(always)]
fn correlate_at<const N: usize>(
    weights: &[f64],
    symmetry: Symmetry,
    e: &[f64],
    stride: usize,
    k: usize,
) -> [f64; N] {
    let s = weights.len();
    let at = |q: usize| -> &[f64; N] {
        e[k + q * stride..][..N]
            .try_into()
            .expect("a run of N elements")
    };
    let mut acc = [0.0; N];
    match symmetry {
        Symmetry::Even | Symmetry::Odd => {
            let h = s / 2;
            let (c, wc) = (at(h), weights[h]);
            for l in 0..N {
                acc[l] = c[l] * wc;
            }
            for (j, &w) in weights.iter().enumerate().take(h) {
                let (x, y) = (at(j), at(s - 1 - j));
                if symmetry == Symmetry::Even {
                    for l in 0..N {
                        acc[l] += (x[l] + y[l]) * w;
                    }
                } else {
                    for l in 0..N {
                        acc[l] += (x[l] - y[l]) * w;
                    }
                }
            }
        }
        Symmetry::None => {
            let x = at(0);
            for l in 0..N {
                acc[l] = x[l] * weights[0];
            }
            for (q, &w) in weights.iter().enumerate().skip(1) {
                let x = at(q);
                for l in 0..N {
                    acc[l] += x[l] * w;
                }
            }
        }
    }
    acc
}

/// The minimum (or maximum) over windows of `s` rows.
#[inline(always)]
fn min_max<B: Copy + PartialOrd>(
    e: &[B],
    tw: usize,
    core: usize,
    s: usize,
    max: bool,
    res: &mut [B],
) {
    segments(core, tw, |i0, rows| {
        let span = rows * tw;
        let acc = &mut res[i0 * tw..][..span];
        let at = |q: usize| &e[(i0 + q) * tw..][..span];
        acc.copy_from_slice(at(0));
        for j in 1..s {
            if max {
                for (a, &x) in acc.iter_mut().zip(at(j)) {
                    if x > *a {
                        *a = x;
                    }
                }
            } else {
                for (a, &x) in acc.iter_mut().zip(at(j)) {
                    if x < *a {
                        *a = x;
                    }
                }
            }
        }
    });
}

/// scipy's `median_filter` with a box of `size`: the element of rank
/// `size.product() / 2` in every window, the box extended by the mode
/// (the constant wherever any axis is outside).
fn median<T: Number>(
    block: ArrayViewD<'_, T>,
    halos: &[Halo],
    mode: Mode,
    size: &[usize],
) -> ArrayD<T> {
    let ndim = block.ndim();
    let shape = block.shape().to_vec();
    let core: Vec<usize> = (0..ndim)
        .map(|a| shape[a] - halos[a].front - halos[a].back)
        .collect();
    let count: usize = size.iter().product();
    if count <= 1 || ndim == 0 {
        return crop(block.to_owned(), halos, &core);
    }
    let x = block.as_standard_layout();
    let data = x.as_slice().expect("a standard-layout array is contiguous");
    let row_major = |dims: &[usize]| {
        let mut st = vec![1usize; dims.len()];
        for a in (0..dims.len().saturating_sub(1)).rev() {
            st[a] = st[a + 1] * dims[a + 1];
        }
        st
    };
    let in_strides = row_major(&shape);
    // The block extended by the mode to exactly what the windows read:
    // per axis, the input offset of every extended position (None: the
    // constant).
    let ext: Vec<usize> = (0..ndim).map(|a| core[a] + size[a] - 1).collect();
    let src: Vec<Vec<Option<usize>>> = (0..ndim)
        .map(|a| {
            (0..ext[a])
                .map(|q| {
                    let p = q as isize - (size[a] / 2) as isize + halos[a].front as isize;
                    map_index(p, shape[a], mode).map(|i| i * in_strides[a])
                })
                .collect()
        })
        .collect();
    let cval = T::from_f64(mode.cval());
    let last = ndim - 1;
    let mut padded: Vec<T> = Vec::with_capacity(ext.iter().product());
    for_each_prefix(&ext[..last], |idx| {
        let prefix = idx
            .iter()
            .enumerate()
            .try_fold(0usize, |o, (a, &q)| src[a][q].map(|s| o + s));
        match prefix {
            None => padded.extend(std::iter::repeat_n(cval, ext[last])),
            Some(o) => padded.extend(src[last].iter().map(|s| s.map_or(cval, |s| data[o + s]))),
        }
    });
    // The window's offsets in the padded block.
    let strides = row_major(&ext);
    let mut offsets = vec![0usize];
    for a in 0..ndim {
        let (len, stride) = (size[a], strides[a]);
        offsets = offsets
            .iter()
            .flat_map(|&o| (0..len).map(move |k| o + k * stride))
            .collect();
    }
    let rank = count / 2;
    let mut window = vec![T::default(); count];
    let mut out: Vec<T> = Vec::with_capacity(core.iter().product());
    for_each_prefix(&core[..last], |idx| {
        let row: usize = idx.iter().zip(&strides).map(|(&i, &s)| i * s).sum();
        for base in row..row + core[last] {
            for (w, &o) in window.iter_mut().zip(&offsets) {
                *w = padded[base + o];
            }
            let (_, m, _) = window.select_nth_unstable_by(rank, |a, b| {
                a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal)
            });
            out.push(*m);
        }
    });
    ArrayD::from_shape_vec(IxDyn(&core), out).expect("one median per core element")
}

/// Calls `f` with every index of `dims` in row-major order (once, with an
/// empty index, when `dims` is empty).
fn for_each_prefix(dims: &[usize], mut f: impl FnMut(&[usize])) {
    if dims.contains(&0) {
        return;
    }
    let mut idx = vec![0usize; dims.len()];
    loop {
        f(&idx);
        let mut a = dims.len();
        loop {
            if a == 0 {
                return;
            }
            a -= 1;
            idx[a] += 1;
            if idx[a] < dims[a] {
                break;
            }
            idx[a] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_matches_scipy_for_any_distance() {
        // Offsets -7..=7 from position 0 of [0, 1, 2], as scipy extends.
        let ext =
            |mode| -> Vec<usize> { (-7..=7).map(|p| map_index(p, 3, mode).unwrap()).collect() };
        assert_eq!(
            ext(Mode::Reflect),
            [0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0, 1]
        );
        assert_eq!(
            ext(Mode::Mirror),
            [1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1]
        );
        assert_eq!(
            ext(Mode::Wrap),
            [2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1]
        );
        assert_eq!(
            ext(Mode::Nearest),
            [0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 2]
        );
        assert_eq!(map_index(-3, 1, Mode::Mirror), Some(0));
        assert_eq!(map_index(-1, 3, Mode::Constant(1.0)), None);
    }

    #[test]
    fn pairwise_sum_is_numpys() {
        let xs: Vec<f64> = (0..300).map(|i| 1.0 / (i as f64 + 1.0)).collect();
        let exact: f64 = xs.iter().sum();
        assert!((pairwise_sum(&xs) - exact).abs() < 1e-12);
        assert_eq!(pairwise_sum(&[1.0, 2.0]), 3.0);
    }

    #[test]
    fn gaussian_weights_sum_to_one() {
        let w = gaussian_weights(2.0, 8, 0);
        assert_eq!(w.len(), 17);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        let d = gaussian_weights(2.0, 8, 1);
        // Correlation weights of a derivative: positive ahead of the centre.
        assert!(d[16] > 0.0 && d[0] < 0.0 && d[8] == 0.0);
    }

    #[test]
    fn stacks_are_filtered_slice_by_slice_into_place() {
        // Two leading axes with neither a pass nor a halo (run as 6 slices,
        // the passes' buffers reused), halos on the others, three passes
        // per slice (so the scratch buffers take turns), and lengths that
        // are no multiple of the correlation's lanes.
        let shape = [2, 3, 9, 11, 7];
        let x = ArrayD::from_shape_fn(IxDyn(&shape), |i| {
            ((i[0] * 31 + i[1] * 17 + i[2] * 7 + i[3] * 3 + i[4]) % 23) as f64 * 0.37
        });
        let halos = [
            Halo::default(),
            Halo::default(),
            Halo { front: 2, back: 1 },
            Halo { front: 0, back: 3 },
            Halo { front: 1, back: 1 },
        ];
        let specs = [
            Spec::Gaussian {
                sigma: vec![0.0, 0.0, 1.0, 1.5, 0.7],
                truncate: 4.0,
            },
            Spec::Uniform {
                size: vec![1, 1, 3, 4, 2],
            },
            Spec::Maximum {
                size: vec![1, 1, 2, 3, 3],
            },
        ];
        for spec in &specs {
            for mode in [Mode::Reflect, Mode::Constant(0.5), Mode::Wrap] {
                let got = filter_block(spec, mode, x.view(), &halos).unwrap();
                assert_eq!(got.shape(), [2, 3, 6, 8, 5]);
                for i in 0..2 {
                    for j in 0..3 {
                        let image = x.slice(ndarray::s![i, j, .., .., ..]).into_dyn();
                        let one = match spec {
                            Spec::Gaussian { sigma, truncate } => Spec::Gaussian {
                                sigma: sigma[2..].to_vec(),
                                truncate: *truncate,
                            },
                            Spec::Uniform { size } => Spec::Uniform {
                                size: size[2..].to_vec(),
                            },
                            Spec::Maximum { size } => Spec::Maximum {
                                size: size[2..].to_vec(),
                            },
                            _ => unreachable!(),
                        };
                        let want = filter_block(&one, mode, image, &halos[2..]).unwrap();
                        assert_eq!(
                            got.slice(ndarray::s![i, j, .., .., ..]).into_dyn(),
                            want,
                            "{spec:?} in mode {mode:?}, slice ({i}, {j})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn halos_that_do_not_fit_are_errors() {
        let b = ArrayD::<f64>::zeros(IxDyn(&[3, 3]));
        let h = [Halo { front: 2, back: 2 }, Halo::default()];
        assert!(filter_block(&Spec::Laplace, Mode::Reflect, b.view(), &h).is_err());
        assert!(filter_block(&Spec::Laplace, Mode::Reflect, b.view(), &h[..1]).is_err());
    }
}
