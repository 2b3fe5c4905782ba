//! The reducers: how each reduction folds a block, merges partials and
//! finishes, and the block kernels they share.
//!
//! # Block kernels
//!
//! A block is folded along its reduced axes by the fastest route that fits:
//!
//! - **Runs** ([`over_runs`]): when the reduced axes are the trailing axes of
//!   a C-contiguous block (a full reduction, or the last axis), every output
//!   position reads one contiguous run of memory; sums use
//!   [`Accumulate::sum_wide`] on it.
//! - **Along one axis** ([`along_axis`]): otherwise, for a single axis, the
//!   block is walked one sub-view along the axis at a time, each merged into
//!   the accumulators elementwise — for axis 0 those are contiguous rows.
//! - **Anything else** ([`fold_many`]): a permuted walk, one element at a
//!   time; general but slower.

use std::borrow::Cow;

use ndarray::{ArrayD, ArrayRef, ArrayViewD, Axis, IxDyn, Zip};
use rask_core::TaskError;

use super::Reducer;
use crate::creation::BlockInfo;
use crate::element::{Accumulate, CastFrom, Element, Float, Number};

/// The keepdims shape of a block reduced along `axes`.
fn reduced_shape(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    let mut out = shape.to_vec();
    for &a in axes {
        out[a] = 1;
    }
    out
}

/// `f` of every output position's run, when the reduced `axes` (sorted) are
/// the trailing axes of a C-contiguous block; `None` otherwise.
pub(super) fn over_runs<T, A>(
    block: &ArrayRef<T, IxDyn>,
    axes: &[usize],
    f: impl FnMut(&[T]) -> A,
) -> Option<ArrayD<A>> {
    let nd = block.ndim();
    let trailing = axes
        .iter()
        .enumerate()
        .all(|(i, &a)| a == nd - axes.len() + i);
    if !trailing {
        return None;
    }
    let xs = block.as_slice()?;
    let lane: usize = axes.iter().map(|&a| block.shape()[a]).product();
    let n_out: usize = block.shape()[..nd - axes.len()].iter().product();
    let vals: Vec<A> = if lane == 0 {
        std::iter::repeat_n(&[] as &[T], n_out).map(f).collect()
    } else {
        xs.chunks_exact(lane).map(f).collect()
    };
    Some(
        ArrayD::from_shape_vec(IxDyn(&reduced_shape(block.shape(), axes)), vals)
            .expect("one run per output position"),
    )
}

/// Folds along the single axis `ax`: the accumulators start at `init` and
/// take one sub-view of the block at a time.
pub(super) fn along_axis<T: Copy, A: Clone>(
    block: &ArrayRef<T, IxDyn>,
    ax: usize,
    init: A,
    f: impl Fn(&mut A, T),
) -> ArrayD<A> {
    let mut out = ArrayD::from_elem(IxDyn(&reduced_shape(block.shape(), &[ax])), init);
    {
        let mut acc = out.index_axis_mut(Axis(ax), 0);
        for sub in block.axis_iter(Axis(ax)) {
            Zip::from(&mut acc).and(&sub).for_each(|a, &x| f(a, x));
        }
    }
    out
}

/// Folds over any set of axes: iterates every element once, adding it to
/// the accumulator of its output position.
pub(super) fn fold_many<T: Copy, A: Clone>(
    block: &ArrayRef<T, IxDyn>,
    axes: &[usize],
    init: A,
    f: impl Fn(&A, T) -> A,
) -> ArrayD<A> {
    // Move reduced axes last, so each output position owns one contiguous
    // run of the permuted iteration order.
    let keep: Vec<usize> = (0..block.ndim()).filter(|a| !axes.contains(a)).collect();
    let order: Vec<usize> = keep.iter().chain(axes.iter()).copied().collect();
    let permuted = block.view().permuted_axes(IxDyn(&order));
    let lane: usize = axes.iter().map(|&a| block.shape()[a]).product();
    let n_out: usize = keep.iter().map(|&a| block.shape()[a]).product();
    let mut accs: Vec<A> = Vec::with_capacity(n_out);
    let mut it = permuted.iter();
    for _ in 0..n_out {
        let mut a = init.clone();
        for _ in 0..lane {
            let x = *it
                .next()
                .expect("the permuted view has n_out * lane elements");
            a = f(&a, x);
        }
        accs.push(a);
    }
    ArrayD::from_shape_vec(IxDyn(&reduced_shape(block.shape(), axes)), accs)
        .expect("one accumulator per output position")
}

/// Folds `block` along `axes` (sorted) with `f` from `init`, by the fastest
/// kernel that fits.
pub(super) fn fold_axes<T: Copy, A: Clone>(
    block: &ArrayRef<T, IxDyn>,
    axes: &[usize],
    init: A,
    f: impl Fn(&A, T) -> A,
) -> ArrayD<A> {
    if let Some(out) = over_runs(block, axes, |run| {
        run.iter().fold(init.clone(), |a, &x| f(&a, x))
    }) {
        return out;
    }
    if let [ax] = axes {
        return along_axis(block, *ax, init, |a, x| *a = f(a, x));
    }
    fold_many(block, axes, init, f)
}

/// Elementwise merge of equally shaped partials.
fn merge<A: Clone>(parts: &[&ArrayD<A>], f: impl Fn(&A, &A) -> A) -> ArrayD<A> {
    let mut out = parts[0].clone();
    for p in &parts[1..] {
        out.zip_mut_with(p, |a, b| *a = f(a, b));
    }
    out
}

/// Sum, in [`Accumulate::Wide`] (so `u16` sums to `u64`, and `f32` is
/// summed in `f64`); NaN counts as zero if `skip_nan`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Sum {
    pub skip_nan: bool,
}

impl<T: Accumulate> Reducer<T> for Sum {
    const ORDER_FREE: bool = true;
    type Partial = ArrayD<T::Wide>;
    type Out = T::Acc;
    const NAMES: [&'static str; 4] = super::reducer_names!("sum", T);
    fn chunk(&self, block: &ArrayRef<T, IxDyn>, axes: &[usize], _: &BlockInfo) -> ArrayD<T::Wide> {
        let zero = <T::Wide as num_traits::Zero>::zero();
        if self.skip_nan {
            return fold_axes(block, axes, zero, |&a, x| {
                let v = T::Wide::cast_from(x);
                if v.is_nan_value() {
                    a
                } else {
                    a.wrapping_add(v)
                }
            });
        }
        if axes.len() == block.ndim() {
            // A full reduction: one pass over memory, in any order.
            if let Some(xs) = block.as_slice_memory_order() {
                return ArrayD::from_elem(IxDyn(&vec![1; block.ndim()]), T::sum_wide(xs));
            }
        }
        if let Some(out) = over_runs(block, axes, T::sum_wide) {
            return out;
        }
        if let [ax] = axes {
            return along_axis(block, *ax, zero, |a, x| {
                *a = a.wrapping_add(T::Wide::cast_from(x))
            });
        }
        fold_many(block, axes, zero, |&a, x| {
            a.wrapping_add(T::Wide::cast_from(x))
        })
    }
    fn combine(&self, parts: Vec<&ArrayD<T::Wide>>) -> ArrayD<T::Wide> {
        merge(&parts, |a, b| a.wrapping_add(*b))
    }
    fn finish(&self, part: &ArrayD<T::Wide>) -> Result<ArrayD<T::Acc>, TaskError> {
        Ok(part.mapv(T::Acc::cast_from))
    }
}

/// Product, in [`Accumulate::Acc`] with integer wrap-around; NaN counts as
/// one if `skip_nan`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Prod {
    pub skip_nan: bool,
}

impl<T: Accumulate> Reducer<T> for Prod {
    const ORDER_FREE: bool = true;
    type Partial = ArrayD<T::Acc>;
    type Out = T::Acc;
    const NAMES: [&'static str; 4] = super::reducer_names!("prod", T);
    fn chunk(&self, block: &ArrayRef<T, IxDyn>, axes: &[usize], _: &BlockInfo) -> ArrayD<T::Acc> {
        let skip = self.skip_nan;
        fold_axes(
            block,
            axes,
            <T::Acc as num_traits::One>::one(),
            move |&a, x| {
                let v = T::Acc::cast_from(x);
                if skip && v.is_nan_value() {
                    a
                } else {
                    a.wrapping_mul(v)
                }
            },
        )
    }
    fn combine(&self, parts: Vec<&ArrayD<T::Acc>>) -> ArrayD<T::Acc> {
        merge(&parts, |a, b| a.wrapping_mul(*b))
    }
    fn finish(&self, part: &ArrayD<T::Acc>) -> Result<ArrayD<T::Acc>, TaskError> {
        Ok(part.clone())
    }
}

/// The mean as NumPy computes it: the sum, divided by the count at the end
/// (the sum carried in [`Accumulate::Wide`], so `f32` means are summed in
/// `f64`). Every lane of a block counts the same elements, so the partial
/// is one count and the lanes' sums.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct MeanReducer;

impl<T: Float> Reducer<T> for MeanReducer {
    const ORDER_FREE: bool = true;
    type Partial = (f64, ArrayD<T::Wide>);
    type Out = T;
    const NAMES: [&'static str; 4] = super::reducer_names!("mean", T);
    fn chunk(&self, block: &ArrayRef<T, IxDyn>, axes: &[usize], info: &BlockInfo) -> Self::Partial {
        let count: usize = axes.iter().map(|&a| block.shape()[a]).product();
        (
            count as f64,
            Sum { skip_nan: false }.chunk(block, axes, info),
        )
    }
    fn combine(&self, parts: Vec<&Self::Partial>) -> Self::Partial {
        let count = parts.iter().map(|p| p.0).sum();
        let sums: Vec<&ArrayD<T::Wide>> = parts.iter().map(|p| &p.1).collect();
        (count, merge(&sums, |a, b| a.wrapping_add(*b)))
    }
    fn finish(&self, (count, sums): &Self::Partial) -> Result<ArrayD<T>, TaskError> {
        // An empty lane's mean is NaN, as in NumPy (0 / 0).
        Ok(sums.mapv(|s| T::from_f64(s.to_f64() / count)))
    }
}

/// Minimum or maximum; NaN propagates unless `skip_nan`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct MinMax {
    pub max: bool,
    pub skip_nan: bool,
}

impl MinMax {
    fn pick<T: Number>(&self, a: T, x: T) -> T {
        if a.is_nan_value() && !self.skip_nan {
            return a;
        }
        if x.is_nan_value() {
            return if self.skip_nan { a } else { x };
        }
        if a.is_nan_value() {
            return x;
        }
        if (self.max && x > a) || (!self.max && x < a) {
            x
        } else {
            a
        }
    }
}

impl<T: Number> Reducer<T> for MinMax {
    const ORDER_FREE: bool = true;
    type Partial = ArrayD<T>;
    type Out = T;
    const NAMES: [&'static str; 4] = super::reducer_names!("min-max", T);
    fn chunk(&self, block: &ArrayRef<T, IxDyn>, axes: &[usize], _: &BlockInfo) -> ArrayD<T> {
        // All-NaN lanes of nanmin/nanmax give NaN, as NumPy does (with a
        // warning there): start from NaN when skipping NaN.
        let init = if self.skip_nan {
            T::from_f64(f64::NAN)
        } else if self.max {
            T::max_identity()
        } else {
            T::min_identity()
        };
        fold_axes(block, axes, init, |&a, x| self.pick(a, x))
    }
    fn combine(&self, parts: Vec<&ArrayD<T>>) -> ArrayD<T> {
        merge(&parts, |&a, &b| self.pick(a, b))
    }
    fn finish(&self, part: &ArrayD<T>) -> Result<ArrayD<T>, TaskError> {
        Ok(part.clone())
    }
}

/// Count, mean and sum of squared deviations per lane (Chan et al.), in
/// `f64` whatever the element type: counts stay exact far above 2^24 and
/// `f32` data gains precision.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Moments {
    count: ArrayD<f64>,
    mean: ArrayD<f64>,
    m2: ArrayD<f64>,
}

/// The sum of `(x - mean)²` over `run` in `f64`, in eight independent lanes
/// so the additions pipeline and vectorise (compiled for AVX2 as well,
/// picked at run time).
fn squared_deviations<T: Float>(run: &[T], mean: f64) -> f64 {
    pulp::Arch::new().dispatch(
        #[inline(always)]
        || {
            let mut acc = [0.0f64; 8];
            let mut chunks = run.chunks_exact(8);
            for c in &mut chunks {
                for i in 0..8 {
                    let d = c[i].to_f64() - mean;
                    acc[i] += d * d;
                }
            }
            let mut total =
                ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
            for &x in chunks.remainder() {
                let d = x.to_f64() - mean;
                total += d * d;
            }
            total
        },
    )
}

/// Mean (`order == 1`) or variance / standard deviation (`order == 2`),
/// computed in `f64` and rounded to the element type at the end.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct MomentReducer {
    pub order: u8,
    pub ddof: f64,
    pub sqrt: bool,
    pub skip_nan: bool,
}

impl MomentReducer {
    /// Count, mean and m2 of one contiguous run, two passes over it.
    fn run<T: Float>(&self, run: &[T]) -> (f64, f64, f64) {
        let (n, s) = if self.skip_nan {
            run.iter().fold((0.0, 0.0), |(n, s), &x| {
                if x.is_nan() {
                    (n, s)
                } else {
                    (n + 1.0, s + x.to_f64())
                }
            })
        } else {
            (run.len() as f64, T::sum_wide(run).to_f64())
        };
        if n == 0.0 {
            return (n, 0.0, 0.0);
        }
        let mean = s / n;
        let mut m2 = 0.0;
        if self.order >= 2 {
            if self.skip_nan {
                for &x in run {
                    if !x.is_nan() {
                        let d = x.to_f64() - mean;
                        m2 += d * d;
                    }
                }
            } else {
                m2 = squared_deviations(run, mean);
            }
        }
        (n, mean, m2)
    }

    /// Moments along the single axis `ax`, a sub-view at a time.
    fn along<T: Float>(&self, block: &ArrayRef<T, IxDyn>, ax: usize) -> Moments {
        let skip = self.skip_nan;
        let (count, sum) = if skip {
            let counts = along_axis(block, ax, (0.0, 0.0), |(n, s), x: T| {
                if !x.is_nan() {
                    *n += 1.0;
                    *s += x.to_f64();
                }
            });
            (counts.mapv(|(n, _)| n), counts.mapv(|(_, s)| s))
        } else {
            let n = block.len_of(Axis(ax)) as f64;
            let sum = along_axis(block, ax, 0.0, |s, x: T| *s += x.to_f64());
            (ArrayD::from_elem(sum.raw_dim(), n), sum)
        };
        let mean = Zip::from(&count)
            .and(&sum)
            .map_collect(|&n, &s| if n > 0.0 { s / n } else { 0.0 });
        let mut m2 = ArrayD::from_elem(mean.raw_dim(), 0.0);
        if self.order >= 2 {
            let mean_row = mean.index_axis(Axis(ax), 0);
            let mut m2_row = m2.index_axis_mut(Axis(ax), 0);
            for sub in block.axis_iter(Axis(ax)) {
                Zip::from(&mut m2_row)
                    .and(&sub)
                    .and(&mean_row)
                    .for_each(|d, &x, &m| {
                        if !(skip && x.is_nan()) {
                            let e = x.to_f64() - m;
                            *d += e * e;
                        }
                    });
            }
        }
        Moments { count, mean, m2 }
    }

    /// Moments over any axes: two element-at-a-time passes.
    fn general<T: Float>(&self, block: &ArrayRef<T, IxDyn>, axes: &[usize]) -> Moments {
        let skip = self.skip_nan;
        let sums = fold_many(block, axes, (0.0, 0.0), move |&(n, s), x: T| {
            if skip && x.is_nan() {
                (n, s)
            } else {
                (n + 1.0, s + x.to_f64())
            }
        });
        let count = sums.mapv(|(n, _)| n);
        let mean = sums.mapv(|(n, s)| if n > 0.0 { s / n } else { 0.0 });
        let m2 = if self.order >= 2 {
            // Squared deviations from each lane's mean, lanes walked in the
            // same permuted order as `fold_many`.
            let bmean = mean
                .broadcast(block.raw_dim())
                .expect("keepdims mean broadcasts to its block");
            let pairs = Zip::from(block).and(&bmean).map_collect(|&x, &m| {
                if skip && x.is_nan() {
                    0.0
                } else {
                    let e = x.to_f64() - m;
                    e * e
                }
            });
            fold_many(&pairs, axes, 0.0, |&a, x| a + x)
        } else {
            ArrayD::from_elem(mean.raw_dim(), 0.0)
        };
        Moments { count, mean, m2 }
    }
}

impl<T: Float> Reducer<T> for MomentReducer {
    const ORDER_FREE: bool = true;
    type Partial = Moments;
    type Out = T;
    const NAMES: [&'static str; 4] = super::reducer_names!("moments", T);
    fn chunk(&self, block: &ArrayRef<T, IxDyn>, axes: &[usize], _: &BlockInfo) -> Moments {
        if let Some(runs) = over_runs(block, axes, |run| self.run(run)) {
            return Moments {
                count: runs.mapv(|(n, _, _)| n),
                mean: runs.mapv(|(_, m, _)| m),
                m2: runs.mapv(|(_, _, m2)| m2),
            };
        }
        if let [ax] = axes {
            return self.along(block, *ax);
        }
        self.general(block, axes)
    }
    fn combine(&self, parts: Vec<&Moments>) -> Moments {
        let mut acc = parts[0].clone();
        for p in &parts[1..] {
            Zip::from(&mut acc.count)
                .and(&mut acc.mean)
                .and(&mut acc.m2)
                .and(&p.count)
                .and(&p.mean)
                .and(&p.m2)
                .for_each(|na, ma, m2a, &nb, &mb, &m2b| {
                    let n = *na + nb;
                    if n == 0.0 {
                        return;
                    }
                    let delta = mb - *ma;
                    *m2a += m2b + delta * delta * *na * nb / n;
                    // An infinite mean (an infinity among the values) has
                    // no finite distance to the other: weigh the two
                    // means instead, so inf with finite values stays inf
                    // and inf with -inf is NaN, as NumPy's sum over n.
                    *ma = if delta.is_finite() {
                        *ma + delta * nb / n
                    } else {
                        (*na * *ma + nb * mb) / n
                    };
                    *na = n;
                });
        }
        acc
    }
    fn finish(&self, m: &Moments) -> Result<ArrayD<T>, TaskError> {
        if self.order == 1 {
            return Ok(Zip::from(&m.count)
                .and(&m.mean)
                .map_collect(|&n, &mean| T::from_f64(if n > 0.0 { mean } else { f64::NAN })));
        }
        let (ddof, sqrt) = (self.ddof, self.sqrt);
        Ok(Zip::from(&m.count).and(&m.m2).map_collect(|&n, &m2| {
            // NumPy divides by max(n - ddof, 0): inf when the deviations are
            // not all zero, NaN when they are (or the lane is empty).
            let dof = n - ddof;
            let v = m2 / if dof > 0.0 { dof } else { 0.0 };
            T::from_f64(if sqrt { v.sqrt() } else { v })
        }))
    }
}

/// Index of the first minimum / maximum; `flat` gives indices into the
/// flattened array, otherwise along the single reduced axis.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct ArgReducer {
    pub max: bool,
    pub flat: bool,
    pub skip_nan: bool,
}

impl ArgReducer {
    /// Whether `x` beats `best` strictly (equal values do not).
    fn better<T: Number>(&self, best: T, x: T) -> bool {
        if self.skip_nan {
            if x.is_nan_value() {
                return false;
            }
            if best.is_nan_value() {
                return true;
            }
        } else {
            if best.is_nan_value() {
                return false;
            }
            if x.is_nan_value() {
                return true;
            }
        }
        if self.max { x > best } else { x < best }
    }

    /// The best value of a run and its position in it (the first of equals).
    fn run<T: Number>(&self, run: &[T]) -> (T, i64) {
        let mut it = run.iter().enumerate();
        let Some((_, &first)) = it.next() else {
            return (T::from_f64(f64::NAN), -1);
        };
        let (mut best, mut at) = (first, 0);
        for (i, &x) in it {
            if self.better(best, x) {
                best = x;
                at = i;
            }
        }
        (best, at as i64)
    }
}

/// The flat index in the whole array of position `local` (flat, C order)
/// of the block described by `info`.
fn global_flat_index(local: usize, info: &BlockInfo) -> i64 {
    let mut rest = local;
    let mut pos = vec![0; info.shape.len()];
    for a in (0..pos.len()).rev() {
        let n = info.shape[a].max(1);
        pos[a] = rest % n;
        rest /= n;
    }
    let mut flat = 0usize;
    for (a, &p) in pos.iter().enumerate() {
        flat = flat * info.array_shape[a] + info.start[a] + p;
    }
    flat as i64
}

impl<T: Number> Reducer<T> for ArgReducer {
    type Partial = (ArrayD<T>, ArrayD<i64>);
    type Out = i64;
    const NAMES: [&'static str; 4] = super::reducer_names!("arg", T);
    fn chunk(&self, block: &ArrayRef<T, IxDyn>, axes: &[usize], info: &BlockInfo) -> Self::Partial {
        let shape = reduced_shape(block.shape(), axes);
        if self.flat {
            let xs: Cow<'_, [T]> = match block.as_slice() {
                Some(xs) => Cow::Borrowed(xs),
                None => Cow::Owned(block.iter().copied().collect()),
            };
            let (v, at) = self.run(&xs);
            let idx = if at < 0 {
                -1
            } else {
                global_flat_index(at as usize, info)
            };
            return (
                ArrayD::from_elem(IxDyn(&shape), v),
                ArrayD::from_elem(IxDyn(&shape), idx),
            );
        }
        let ax = axes[0];
        let offset = info.start[ax] as i64;
        if let Some(runs) = over_runs(block, axes, |run| self.run(run)) {
            let vals = runs.mapv(|(v, _)| v);
            let idxs = runs.mapv(|(_, i)| if i < 0 { -1 } else { offset + i });
            return (vals, idxs);
        }
        if block.len_of(Axis(ax)) == 0 {
            return (
                ArrayD::from_elem(IxDyn(&shape), T::from_f64(f64::NAN)),
                ArrayD::from_elem(IxDyn(&shape), -1),
            );
        }
        let first: ArrayViewD<'_, T> = block.index_axis(Axis(ax), 0);
        let mut vals = first.to_owned().insert_axis(Axis(ax));
        let mut idxs = ArrayD::from_elem(vals.raw_dim(), offset);
        {
            let mut v = vals.index_axis_mut(Axis(ax), 0);
            let mut i = idxs.index_axis_mut(Axis(ax), 0);
            for (k, sub) in block.axis_iter(Axis(ax)).enumerate().skip(1) {
                let at = offset + k as i64;
                Zip::from(&mut v)
                    .and(&mut i)
                    .and(&sub)
                    .for_each(|bv, bi, &x| {
                        if self.better(*bv, x) {
                            *bv = x;
                            *bi = at;
                        }
                    });
            }
        }
        (vals, idxs)
    }
    fn combine(&self, parts: Vec<&Self::Partial>) -> Self::Partial {
        let (mut vals, mut idxs) = parts[0].clone();
        for (v, i) in &parts[1..] {
            Zip::from(&mut vals)
                .and(&mut idxs)
                .and(v)
                .and(i)
                .for_each(|bv, bi, &x, &xi| {
                    // Blocks are not in flat order (block (0, 1) holds later
                    // rows' neighbours of block (1, 0)): among equals the
                    // smaller index wins.
                    let take = xi >= 0
                        && (*bi < 0 || self.better(*bv, x) || (!self.better(x, *bv) && xi < *bi));
                    if take {
                        *bv = x;
                        *bi = xi;
                    }
                });
        }
        (vals, idxs)
    }
    fn finish(&self, part: &Self::Partial) -> Result<ArrayD<i64>, TaskError> {
        if self.skip_nan && part.0.iter().any(|v| v.is_nan_value()) {
            return Err(TaskError::failed(
                "All-NaN slice encountered: there is no index of a smallest or largest non-NaN value",
            ));
        }
        Ok(part.1.clone())
    }
}

/// `any` / `all`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Truth {
    pub all: bool,
}

impl<T: Element> Reducer<T> for Truth {
    const ORDER_FREE: bool = true;
    type Partial = ArrayD<bool>;
    type Out = bool;
    const NAMES: [&'static str; 4] = super::reducer_names!("truth", T);
    fn chunk(&self, block: &ArrayRef<T, IxDyn>, axes: &[usize], _: &BlockInfo) -> ArrayD<bool> {
        let all = self.all;
        fold_axes(block, axes, all, move |&a, x| {
            if all {
                a && x.is_truthy()
            } else {
                a || x.is_truthy()
            }
        })
    }
    fn combine(&self, parts: Vec<&ArrayD<bool>>) -> ArrayD<bool> {
        let all = self.all;
        merge(&parts, move |&a, &b| if all { a && b } else { a || b })
    }
    fn finish(&self, part: &ArrayD<bool>) -> Result<ArrayD<bool>, TaskError> {
        Ok(part.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn kernels_agree_with_the_general_fold() {
        let a = ndarray::Array::from_shape_fn((3, 4, 5), |(i, j, k)| (i * 20 + j * 5 + k) as i64)
            .into_dyn();
        let sum = |acc: &i64, x: i64| acc + x;
        for axes in [vec![2], vec![1, 2], vec![0, 1, 2], vec![]] {
            let runs = over_runs(&a, &axes, |r| r.iter().sum::<i64>()).expect("trailing axes");
            assert_eq!(runs, fold_many(&a, &axes, 0, sum), "{axes:?}");
        }
        assert!(over_runs(&a, &[0], |r| r.len()).is_none());
        for ax in 0..3 {
            let along = along_axis(&a, ax, 0, |s, x| *s += x);
            assert_eq!(along, fold_many(&a, &[ax], 0, sum), "axis {ax}");
        }
        // A transposed (non-contiguous) block takes the general routes.
        let t = a.t().to_owned();
        assert_eq!(
            fold_axes(&t, &[2], 0, sum),
            fold_many(&t.as_standard_layout().into_owned(), &[2], 0, sum)
        );
    }

    #[test]
    fn flat_indices_of_block_positions() {
        let c = crate::Chunks::new(vec![vec![2, 3], vec![4, 1]], &[5, 5]).unwrap();
        let info = BlockInfo::new(&c, &[1, 0]);
        // Block (1, 0) starts at row 2; its 6th element is (1, 1) locally,
        // (3, 1) in the array.
        assert_eq!(global_flat_index(5, &info), 16);
    }

    #[test]
    fn moment_counts_stay_exact_above_2_pow_24() {
        // 2^24 + 1 is not an f32: counts and means are carried in f64.
        let r = MomentReducer {
            order: 2,
            ddof: 1.0,
            sqrt: false,
            skip_nan: false,
        };
        let n = (1u64 << 24) as f64;
        let big = Moments {
            count: array![n].into_dyn(),
            mean: array![0.0].into_dyn(),
            m2: array![0.0].into_dyn(),
        };
        let one = Moments {
            count: array![1.0].into_dyn(),
            mean: array![n + 1.0].into_dyn(),
            m2: array![0.0].into_dyn(),
        };
        let m = <MomentReducer as Reducer<f32>>::combine(&r, vec![&big, &one]);
        assert_eq!(m.count[[0]], n + 1.0);
        assert_eq!(m.mean[[0]], 1.0);
        // var(ddof=1) of 2^24 zeros and one 2^24 + 1: m2 = N + N^2 over N.
        let v = <MomentReducer as Reducer<f32>>::finish(&r, &m).unwrap();
        assert_eq!(v[[0]], (n + 1.0) as f32);
    }

    #[test]
    fn arg_ties_resolve_to_the_smaller_index() {
        let r = ArgReducer {
            max: true,
            flat: true,
            skip_nan: false,
        };
        let later = (array![7.0].into_dyn(), array![5i64].into_dyn());
        let earlier = (array![7.0].into_dyn(), array![2i64].into_dyn());
        let (_, i) = r.combine(vec![&later, &earlier]);
        assert_eq!(i[[0]], 2);
        let (_, i) = r.run(&[1.0, 7.0, 7.0]);
        assert_eq!(i, 1);
    }
}

impl rask_core::SizeOf for Moments {
    fn heap_bytes(&self) -> usize {
        self.count.heap_bytes() + self.mean.heap_bytes() + self.m2.heap_bytes()
    }
}

/// Partials that travel between reduction tasks, registered so they have
/// codecs and real sizes (plain blocks are registered by rask-core).
macro_rules! register_partials {
    (numbers: $($t:ty),*) => {
        rask_core::register_type!($((ndarray::ArrayD<$t>, ndarray::ArrayD<i64>)),*);
    };
}

rask_core::register_type!((f64, ndarray::ArrayD<f64>), Moments);
register_partials!(numbers: i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);
