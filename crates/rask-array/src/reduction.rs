//! Reductions as trees: `sum`, `prod`, `min`, `max`, `mean`, `var`, `std`,
//! `argmin`, `argmax`, `any`, `all` and their NaN-skipping versions, over any
//! set of axes, with or without `keepdims`.
//!
//! # Plan
//!
//! 1. **Chunk**: every block is reduced along the requested axes to a
//!    *partial* whose reduced axes have length 1 (a blockwise task, so it
//!    fuses with the elementwise operations feeding it: `(x + y).sum()` never
//!    stores `x + y`).
//! 2. **Combine**: partials are merged in groups of up to `split_every`
//!    blocks (spread over the reduced axes, as Dask does: `s^(1/k)` per axis
//!    for `k` axes, at least 2) until one partial is left along each reduced
//!    axis. Partials of a group have equal shapes, so merging is elementwise.
//! 3. **Finish**: each remaining partial becomes the result block (the mean
//!    divides by the count, the standard deviation takes a square root) and
//!    the reduced axes are dropped unless `keepdims`.
//!
//! Means and variances carry counts and use Chan's pairwise update, so the
//! tree is numerically stable; `argmin`/`argmax` carry global indices and
//! keep the first occurrence, as NumPy does.

use std::sync::Arc;

use ndarray::{ArrayD, Axis, Dimension, IxDyn, Zip};
use rask_core::{Op, TaskError, Value};

use crate::array::{Array, BlockTask, block_arg, block_key, block_value};
use crate::chunks::{Chunks, fmt_shape};
use crate::creation::BlockInfo;
use crate::element::{Element, Float, Number};

/// One kind of reduction: how to reduce a block, merge partials, finish.
pub(crate) trait Reducer<T: Element>: Send + Sync + 'static {
    /// What a block reduces to; reduced axes have length 1.
    type Partial: Send + Sync + 'static;
    /// The result element type.
    type Out: Element;
    /// Reduces one block along `axes` (sorted, ascending).
    fn chunk(&self, block: &ArrayD<T>, axes: &[usize], info: &BlockInfo) -> Self::Partial;
    /// Merges partials of equal shape, in block order.
    fn combine(&self, parts: Vec<&Self::Partial>) -> Self::Partial;
    /// The result block (reduced axes still of length 1).
    fn finish(&self, part: &Self::Partial) -> ArrayD<Self::Out>;
}

/// Folds over several axes: iterates every element once, adding it to the
/// accumulator of its output position.
fn fold_many<T: Copy, A: Clone>(
    block: &ArrayD<T>,
    axes: &[usize],
    init: A,
    f: impl Fn(&A, T) -> A,
) -> ArrayD<A> {
    let mut out_shape = block.shape().to_vec();
    for &a in axes {
        out_shape[a] = 1;
    }
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
    ArrayD::from_shape_vec(IxDyn(&out_shape), accs).expect("one accumulator per output position")
}

/// `shape` without axis `ax`.
fn without(shape: &[usize], ax: usize) -> Vec<usize> {
    let mut s = shape.to_vec();
    s.remove(ax);
    s
}

/// Elementwise merge of equally shaped partials.
fn merge<A: Clone>(parts: &[&ArrayD<A>], f: impl Fn(&A, &A) -> A) -> ArrayD<A> {
    let mut out = parts[0].clone();
    for p in &parts[1..] {
        out.zip_mut_with(p, |a, b| *a = f(a, b));
    }
    out
}

/// Sum or product with integer wrap-around.
struct SumProd {
    product: bool,
}

impl<T: Number> Reducer<T> for SumProd {
    type Partial = ArrayD<T>;
    type Out = T;
    fn chunk(&self, block: &ArrayD<T>, axes: &[usize], _: &BlockInfo) -> ArrayD<T> {
        if !self.product {
            if axes.len() == block.ndim() {
                let s = match block.as_slice_memory_order() {
                    Some(xs) => T::sum_slice(xs),
                    None => block.iter().fold(T::zero(), |a, &b| a.wrapping_add(b)),
                };
                return ArrayD::from_elem(IxDyn(&vec![1; block.ndim()]), s);
            }
            if let [ax] = axes {
                let mut out = ArrayD::from_elem(IxDyn(&without(block.shape(), *ax)), T::zero());
                for lane in block.axis_iter(Axis(*ax)) {
                    out.zip_mut_with(&lane, |a, &b| *a = a.wrapping_add(b));
                }
                return out.insert_axis(Axis(*ax));
            }
            return fold_many(block, axes, T::zero(), |a, x| a.wrapping_add(x));
        }
        fold_many(block, axes, T::one(), |a, x| a.wrapping_mul(x))
    }
    fn combine(&self, parts: Vec<&ArrayD<T>>) -> ArrayD<T> {
        if self.product {
            merge(&parts, |a, b| a.wrapping_mul(*b))
        } else {
            merge(&parts, |a, b| a.wrapping_add(*b))
        }
    }
    fn finish(&self, part: &ArrayD<T>) -> ArrayD<T> {
        part.clone()
    }
}

/// Minimum or maximum; NaN propagates unless `skip_nan`.
struct MinMax {
    max: bool,
    skip_nan: bool,
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
    type Partial = ArrayD<T>;
    type Out = T;
    fn chunk(&self, block: &ArrayD<T>, axes: &[usize], _: &BlockInfo) -> ArrayD<T> {
        // All-NaN lanes of nanmin/nanmax give NaN, as NumPy does (with a
        // warning there): start from NaN when skipping NaN.
        let init = if self.skip_nan {
            T::from_f64(f64::NAN)
        } else if self.max {
            T::max_identity()
        } else {
            T::min_identity()
        };
        fold_many(block, axes, init, |&a, x| self.pick(a, x))
    }
    fn combine(&self, parts: Vec<&ArrayD<T>>) -> ArrayD<T> {
        merge(&parts, |&a, &b| self.pick(a, b))
    }
    fn finish(&self, part: &ArrayD<T>) -> ArrayD<T> {
        part.clone()
    }
}

/// Count, mean and sum of squared deviations per lane (Chan et al.).
#[derive(Clone)]
struct Moments<T> {
    count: ArrayD<T>,
    mean: ArrayD<T>,
    m2: ArrayD<T>,
}

/// Mean (`order == 1`) or variance / standard deviation (`order == 2`).
struct MomentReducer<T> {
    order: u8,
    ddof: T,
    sqrt: bool,
    skip_nan: bool,
}

impl<T: Float> Reducer<T> for MomentReducer<T> {
    type Partial = Moments<T>;
    type Out = T;
    fn chunk(&self, block: &ArrayD<T>, axes: &[usize], _: &BlockInfo) -> Moments<T> {
        let skip = self.skip_nan;
        let sums = fold_many(block, axes, (T::zero(), T::zero()), move |&(n, s), x| {
            if skip && x.is_nan() {
                (n, s)
            } else {
                (n + T::one(), s + x)
            }
        });
        let count = sums.mapv(|(n, _)| n);
        let mean = sums.mapv(|(n, s)| if n > T::zero() { s / n } else { T::zero() });
        let m2 = if self.order >= 2 {
            // Second pass: squared deviations from each lane's mean.
            let mut out = ArrayD::from_elem(mean.raw_dim(), T::zero());
            let bmean = mean
                .broadcast(block.raw_dim())
                .expect("keepdims mean broadcasts to its block");
            let mut dev = ArrayD::from_elem(block.raw_dim(), T::zero());
            Zip::from(&mut dev)
                .and(block)
                .and(&bmean)
                .for_each(|d, &x, &m| {
                    *d = if skip && x.is_nan() {
                        T::zero()
                    } else {
                        (x - m) * (x - m)
                    };
                });
            let folded = fold_many(&dev, axes, T::zero(), |&a, x| a + x);
            out.assign(&folded);
            out
        } else {
            ArrayD::from_elem(mean.raw_dim(), T::zero())
        };
        Moments { count, mean, m2 }
    }
    fn combine(&self, parts: Vec<&Moments<T>>) -> Moments<T> {
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
                    if n == T::zero() {
                        return;
                    }
                    let delta = mb - *ma;
                    *ma += delta * nb / n;
                    *m2a += m2b + delta * delta * *na * nb / n;
                    *na = n;
                });
        }
        acc
    }
    fn finish(&self, m: &Moments<T>) -> ArrayD<T> {
        if self.order == 1 {
            return Zip::from(&m.count)
                .and(&m.mean)
                .map_collect(|&n, &mean| if n > T::zero() { mean } else { T::nan() });
        }
        let (ddof, sqrt) = (self.ddof, self.sqrt);
        Zip::from(&m.count).and(&m.m2).map_collect(|&n, &m2| {
            let dof = n - ddof;
            let v = if dof > T::zero() { m2 / dof } else { T::nan() };
            if sqrt { v.sqrt() } else { v }
        })
    }
}

/// Index of the first minimum / maximum; `flat` gives indices into the
/// flattened array, otherwise along the single reduced axis.
struct ArgReducer {
    max: bool,
    flat: bool,
    skip_nan: bool,
}

impl ArgReducer {
    /// Whether `x` replaces `best` (ties keep the earlier one).
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
}

impl<T: Number> Reducer<T> for ArgReducer {
    type Partial = (ArrayD<T>, ArrayD<i64>);
    type Out = i64;
    fn chunk(&self, block: &ArrayD<T>, axes: &[usize], info: &BlockInfo) -> Self::Partial {
        let mut shape = block.shape().to_vec();
        for &a in axes {
            shape[a] = 1;
        }
        let mut vals = ArrayD::from_elem(IxDyn(&shape), T::from_f64(f64::NAN));
        let mut idxs = ArrayD::from_elem(IxDyn(&shape), -1i64);
        let strides: Vec<usize> = {
            let mut s = vec![1usize; info.array_shape.len()];
            for a in (0..s.len().saturating_sub(1)).rev() {
                s[a] = s[a + 1] * info.array_shape[a + 1];
            }
            s
        };
        for (pos, &x) in block.indexed_iter() {
            let mut out_pos = pos.slice().to_vec();
            for &a in axes {
                out_pos[a] = 0;
            }
            let global: i64 = if self.flat {
                pos.slice()
                    .iter()
                    .enumerate()
                    .map(|(a, &i)| (info.start[a] + i) * strides[a])
                    .sum::<usize>() as i64
            } else {
                (info.start[axes[0]] + pos[axes[0]]) as i64
            };
            let op = IxDyn(&out_pos);
            if idxs[&op] < 0 || self.better(vals[&op], x) {
                vals[&op] = x;
                idxs[&op] = global;
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
                    if xi >= 0 && (*bi < 0 || self.better(*bv, x)) {
                        *bv = x;
                        *bi = xi;
                    }
                });
        }
        (vals, idxs)
    }
    fn finish(&self, part: &Self::Partial) -> ArrayD<i64> {
        part.1.clone()
    }
}

/// `any` / `all`.
struct Truth {
    all: bool,
}

impl<T: Element> Reducer<T> for Truth {
    type Partial = ArrayD<bool>;
    type Out = bool;
    fn chunk(&self, block: &ArrayD<T>, axes: &[usize], _: &BlockInfo) -> ArrayD<bool> {
        let all = self.all;
        fold_many(block, axes, all, move |&a, x| {
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
    fn finish(&self, part: &ArrayD<bool>) -> ArrayD<bool> {
        part.clone()
    }
}

/// Checks and sorts the axes of a reduction.
fn check_axes(
    name: &str,
    ndim: usize,
    shape: &[usize],
    axes: &[usize],
) -> Result<Vec<usize>, String> {
    let mut sorted = axes.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != axes.len() {
        return Err(format!("{name}: axis listed twice in {axes:?}"));
    }
    if let Some(&bad) = sorted.iter().find(|&&a| a >= ndim) {
        return Err(format!(
            "{name}: axis {bad} is out of range for an array of shape {} ({ndim} axes)",
            fmt_shape(shape)
        ));
    }
    Ok(sorted)
}

impl<T: Element> Array<T> {
    /// Builds the reduction tree for `reducer` over `axes`.
    pub(crate) fn reduce<R: Reducer<T>>(
        &self,
        name: &'static str,
        reducer: R,
        axes: &[usize],
        keepdims: bool,
        needs_identity: bool,
    ) -> Array<R::Out> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        let axes = match check_axes(name, self.ndim(), self.shape(), axes) {
            Ok(a) => a,
            Err(e) => return Array::invalid(e),
        };
        if needs_identity && axes.iter().any(|&a| self.shape()[a] == 0) {
            return Array::invalid(format!(
                "{name}: zero-size array of shape {} has no identity for this reduction",
                fmt_shape(self.shape())
            ));
        }
        let reducer = Arc::new(reducer);
        let split_every = rask_config::get().split_every.max(2);
        let per_axis = ((split_every as f64)
            .powf(1.0 / axes.len().max(1) as f64)
            .floor() as usize)
            .max(2);

        // 1. One partial per block.
        let chunks = self.chunks().clone();
        let mut part_chunks: Vec<Vec<usize>> = chunks.as_slices().to_vec();
        for &a in &axes {
            part_chunks[a] = vec![1; part_chunks[a].len()];
        }
        let src = self.node.name.clone();
        let r = reducer.clone();
        let axes_c = axes.clone();
        let c = chunks.clone();
        let mut level: Array<R::Out> = Array::layer(
            name,
            Chunks::from_vec(part_chunks.clone()),
            vec![self.input()],
            move |idx| {
                let info = BlockInfo::new(&c, idx);
                let (r, axes) = (r.clone(), axes_c.clone());
                BlockTask {
                    op: Op::blockwise(name, move |args: &[Value]| {
                        let block = block_arg::<T>(args, 0)?;
                        Ok(Value::new(r.chunk(block, &axes, &info)))
                    }),
                    deps: vec![block_key(&src, idx)],
                }
            },
        );

        // 2. Combine groups until one partial is left along each reduced axis.
        let mut numblocks: Vec<usize> = part_chunks.iter().map(Vec::len).collect();
        while axes.iter().any(|&a| numblocks[a] > 1) {
            let next: Vec<usize> = numblocks
                .iter()
                .enumerate()
                .map(|(a, &n)| {
                    if axes.contains(&a) {
                        n.div_ceil(per_axis)
                    } else {
                        n
                    }
                })
                .collect();
            let mut next_chunks = part_chunks.clone();
            for &a in &axes {
                next_chunks[a] = vec![1; next[a]];
            }
            let src = level.node.name.clone();
            let (r, axes_c, prev) = (reducer.clone(), axes.clone(), numblocks.clone());
            level = Array::layer(
                "combine",
                Chunks::from_vec(next_chunks.clone()),
                vec![level.input()],
                move |idx| {
                    // The group of partials this block merges, in C order.
                    let ranges: Vec<(usize, usize)> = idx
                        .iter()
                        .enumerate()
                        .map(|(a, &i)| {
                            if axes_c.contains(&a) {
                                (i * per_axis, ((i + 1) * per_axis).min(prev[a]))
                            } else {
                                (i, i + 1)
                            }
                        })
                        .collect();
                    let deps = crate::chunks::ranges_product(&ranges)
                        .map(|i| block_key(&src, &i))
                        .collect();
                    let r = r.clone();
                    BlockTask {
                        op: Op::call("combine", move |args: &[Value]| {
                            let parts = args
                                .iter()
                                .enumerate()
                                .map(|(i, v)| v.get::<R::Partial>(i))
                                .collect::<Result<Vec<_>, TaskError>>()?;
                            Ok(Value::new(r.combine(parts)))
                        }),
                        deps,
                    }
                },
            );
            numblocks = next;
            part_chunks = next_chunks;
        }

        // 3. Finish, dropping reduced axes unless keepdims.
        let mut out_chunks: Vec<Vec<usize>> = Vec::new();
        for (a, c) in part_chunks.iter().enumerate() {
            if !axes.contains(&a) || keepdims {
                out_chunks.push(c.clone());
            }
        }
        let src = level.node.name.clone();
        let (r, axes_c) = (reducer, axes);
        Array::layer(
            name,
            Chunks::from_vec(out_chunks),
            vec![level.input()],
            move |idx| {
                // The partial's index: reduced axes are 0.
                let mut pidx = Vec::with_capacity(numblocks.len());
                let mut it = idx.iter();
                for a in 0..numblocks.len() {
                    if axes_c.contains(&a) {
                        pidx.push(0);
                        if keepdims {
                            it.next();
                        }
                    } else {
                        pidx.push(*it.next().expect("one index per kept axis"));
                    }
                }
                let (r, axes) = (r.clone(), axes_c.clone());
                BlockTask {
                    op: Op::call(name, move |args: &[Value]| {
                        let part = args
                            .first()
                            .ok_or(TaskError::WrongArity {
                                expected: 1,
                                found: 0,
                            })?
                            .get::<R::Partial>(0)?;
                        let mut out = r.finish(part);
                        if !keepdims {
                            for &a in axes.iter().rev() {
                                out = out.index_axis_move(Axis(a), 0);
                            }
                        }
                        Ok(block_value(out))
                    }),
                    deps: vec![block_key(&src, &pidx)],
                }
            },
        )
    }

    /// Whether any element is true (non-zero), over all axes.
    pub fn any(&self) -> Array<bool> {
        self.any_axes(&self.every_axis(), false)
    }

    /// Whether all elements are true (non-zero), over all axes.
    pub fn all(&self) -> Array<bool> {
        self.all_axes(&self.every_axis(), false)
    }

    /// `any` over `axes`.
    pub fn any_axes(&self, axes: &[usize], keepdims: bool) -> Array<bool> {
        self.reduce("any", Truth { all: false }, axes, keepdims, false)
    }

    /// `all` over `axes`.
    pub fn all_axes(&self, axes: &[usize], keepdims: bool) -> Array<bool> {
        self.reduce("all", Truth { all: true }, axes, keepdims, false)
    }

    pub(crate) fn every_axis(&self) -> Vec<usize> {
        (0..self.ndim()).collect()
    }
}

macro_rules! reductions {
    ($bound:ident; $($(#[$doc:meta])* $name:ident, $axis:ident, $axes:ident => $reducer:expr, $identity:expr;)*) => {
        impl<T: $bound> Array<T> {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> Array<T> {
                    self.$axes(&self.every_axis(), false)
                }
                #[doc = concat!("`", stringify!($name), "` along one axis (NumPy's `axis=`).")]
                pub fn $axis(&self, axis: Axis) -> Array<T> {
                    self.$axes(&[axis.index()], false)
                }
                #[doc = concat!("`", stringify!($name), "` over several axes, keeping them with length 1 if `keepdims`.")]
                pub fn $axes(&self, axes: &[usize], keepdims: bool) -> Array<T> {
                    self.reduce(stringify!($name), $reducer, axes, keepdims, $identity)
                }
            )*
        }
    };
}

reductions!(Number;
    /// Sum of all elements (integers wrap around on overflow, as in NumPy).
    sum, sum_axis, sum_axes => SumProd { product: false }, false;
    /// Product of all elements.
    prod, prod_axis, prod_axes => SumProd { product: true }, false;
    /// Smallest element; NaN if any is NaN.
    min, min_axis, min_axes => MinMax { max: false, skip_nan: false }, true;
    /// Largest element; NaN if any is NaN.
    max, max_axis, max_axes => MinMax { max: true, skip_nan: false }, true;
);

reductions!(Float;
    /// Mean of all elements.
    mean, mean_axis, mean_axes => MomentReducer { order: 1, ddof: T::zero(), sqrt: false, skip_nan: false }, false;
    /// Sum ignoring NaN.
    nansum, nansum_axis, nansum_axes => NanSum, false;
    /// Mean ignoring NaN.
    nanmean, nanmean_axis, nanmean_axes => MomentReducer { order: 1, ddof: T::zero(), sqrt: false, skip_nan: true }, false;
    /// Smallest element ignoring NaN.
    nanmin, nanmin_axis, nanmin_axes => MinMax { max: false, skip_nan: true }, true;
    /// Largest element ignoring NaN.
    nanmax, nanmax_axis, nanmax_axes => MinMax { max: true, skip_nan: true }, true;
    /// Product ignoring NaN.
    nanprod, nanprod_axis, nanprod_axes => NanProd, false;
);

/// Sum treating NaN as zero.
struct NanSum;

impl<T: Float> Reducer<T> for NanSum {
    type Partial = ArrayD<T>;
    type Out = T;
    fn chunk(&self, block: &ArrayD<T>, axes: &[usize], _: &BlockInfo) -> ArrayD<T> {
        fold_many(
            block,
            axes,
            T::zero(),
            |&a, x| if x.is_nan() { a } else { a + x },
        )
    }
    fn combine(&self, parts: Vec<&ArrayD<T>>) -> ArrayD<T> {
        merge(&parts, |&a, &b| a + b)
    }
    fn finish(&self, part: &ArrayD<T>) -> ArrayD<T> {
        part.clone()
    }
}

/// Product treating NaN as one.
struct NanProd;

impl<T: Float> Reducer<T> for NanProd {
    type Partial = ArrayD<T>;
    type Out = T;
    fn chunk(&self, block: &ArrayD<T>, axes: &[usize], _: &BlockInfo) -> ArrayD<T> {
        fold_many(
            block,
            axes,
            T::one(),
            |&a, x| if x.is_nan() { a } else { a * x },
        )
    }
    fn combine(&self, parts: Vec<&ArrayD<T>>) -> ArrayD<T> {
        merge(&parts, |&a, &b| a * b)
    }
    fn finish(&self, part: &ArrayD<T>) -> ArrayD<T> {
        part.clone()
    }
}

impl<T: Float> Array<T> {
    /// Variance with `ddof` delta degrees of freedom (NumPy's default is 0).
    ///
    /// ```
    /// let x = rask_array::Array::<f64>::arange(0.0, 4.0, 1.0, &[3]).unwrap();
    /// assert_eq!(x.var(0.0).compute_scalar().unwrap(), 1.25);
    /// assert!((x.var(1.0).compute_scalar().unwrap() - 5.0 / 3.0).abs() < 1e-12);
    /// ```
    pub fn var(&self, ddof: T) -> Array<T> {
        self.var_axes(&self.every_axis(), ddof, false)
    }

    /// Variance along one axis.
    pub fn var_axis(&self, axis: Axis, ddof: T) -> Array<T> {
        self.var_axes(&[axis.index()], ddof, false)
    }

    /// Variance over several axes.
    pub fn var_axes(&self, axes: &[usize], ddof: T, keepdims: bool) -> Array<T> {
        self.moments("var", axes, ddof, keepdims, false, false)
    }

    /// Standard deviation with `ddof` delta degrees of freedom.
    pub fn std(&self, ddof: T) -> Array<T> {
        self.std_axes(&self.every_axis(), ddof, false)
    }

    /// Standard deviation along one axis.
    pub fn std_axis(&self, axis: Axis, ddof: T) -> Array<T> {
        self.std_axes(&[axis.index()], ddof, false)
    }

    /// Standard deviation over several axes.
    pub fn std_axes(&self, axes: &[usize], ddof: T, keepdims: bool) -> Array<T> {
        self.moments("std", axes, ddof, keepdims, true, false)
    }

    /// Variance ignoring NaN.
    pub fn nanvar(&self, ddof: T) -> Array<T> {
        self.nanvar_axes(&self.every_axis(), ddof, false)
    }

    /// Variance ignoring NaN, over several axes.
    pub fn nanvar_axes(&self, axes: &[usize], ddof: T, keepdims: bool) -> Array<T> {
        self.moments("nanvar", axes, ddof, keepdims, false, true)
    }

    /// Standard deviation ignoring NaN.
    pub fn nanstd(&self, ddof: T) -> Array<T> {
        self.nanstd_axes(&self.every_axis(), ddof, false)
    }

    /// Standard deviation ignoring NaN, over several axes.
    pub fn nanstd_axes(&self, axes: &[usize], ddof: T, keepdims: bool) -> Array<T> {
        self.moments("nanstd", axes, ddof, keepdims, true, true)
    }

    fn moments(
        &self,
        name: &'static str,
        axes: &[usize],
        ddof: T,
        keepdims: bool,
        sqrt: bool,
        skip_nan: bool,
    ) -> Array<T> {
        self.reduce(
            name,
            MomentReducer {
                order: 2,
                ddof,
                sqrt,
                skip_nan,
            },
            axes,
            keepdims,
            false,
        )
    }
}

impl<T: Number> Array<T> {
    /// Flat index of the first smallest element (NaN counts as smallest).
    ///
    /// ```
    /// use rask_array::{Array, ndarray::array};
    /// let x = Array::from_ndarray(array![[3.0, 1.0], [1.0, 0.5]].into_dyn(), &[1, 1]).unwrap();
    /// assert_eq!(x.argmin().compute_scalar().unwrap(), 3);
    /// assert_eq!(x.argmax().compute_scalar().unwrap(), 0);
    /// ```
    pub fn argmin(&self) -> Array<i64> {
        self.reduce(
            "argmin",
            ArgReducer {
                max: false,
                flat: true,
                skip_nan: false,
            },
            &self.every_axis(),
            false,
            true,
        )
    }

    /// Flat index of the first largest element (NaN counts as largest).
    pub fn argmax(&self) -> Array<i64> {
        self.reduce(
            "argmax",
            ArgReducer {
                max: true,
                flat: true,
                skip_nan: false,
            },
            &self.every_axis(),
            false,
            true,
        )
    }

    /// Index along `axis` of the first smallest element of each lane.
    pub fn argmin_axis(&self, axis: Axis) -> Array<i64> {
        self.reduce(
            "argmin",
            ArgReducer {
                max: false,
                flat: false,
                skip_nan: false,
            },
            &[axis.index()],
            false,
            true,
        )
    }

    /// Index along `axis` of the first largest element of each lane.
    pub fn argmax_axis(&self, axis: Axis) -> Array<i64> {
        self.reduce(
            "argmax",
            ArgReducer {
                max: true,
                flat: false,
                skip_nan: false,
            },
            &[axis.index()],
            false,
            true,
        )
    }
}

impl<T: Float> Array<T> {
    /// Flat index of the first smallest element, ignoring NaN.
    pub fn nanargmin(&self) -> Array<i64> {
        self.reduce(
            "nanargmin",
            ArgReducer {
                max: false,
                flat: true,
                skip_nan: true,
            },
            &self.every_axis(),
            false,
            true,
        )
    }

    /// Flat index of the first largest element, ignoring NaN.
    pub fn nanargmax(&self) -> Array<i64> {
        self.reduce(
            "nanargmax",
            ArgReducer {
                max: true,
                flat: true,
                skip_nan: true,
            },
            &self.every_axis(),
            false,
            true,
        )
    }
}
