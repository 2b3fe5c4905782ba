//! Order statistics along axes: `median`, `quantile`, `percentile` and
//! their NaN-skipping versions, exact and equal to NumPy's (default
//! `method="linear"`).
//!
//! # Plan (Dask's `median`)
//!
//! An order statistic needs every element of a lane at once, so the
//! reduced axes are first rechunked to one block each (Dask's `-1`), the
//! other axes to `Auto` so blocks stay near `array.chunk-size`; an array
//! whose reduced axes are already one block each is used as it is. Then one
//! blockwise task per block ([`QuantileBlock`], a registered kernel) copies
//! the block once with the reduced axes last, and selects the needed order
//! statistics of each lane in place (`select_nth_unstable`, linear time),
//! so nothing is sorted in full. The result is exact; the cost is that a
//! lane must fit in one task's memory — reducing every axis (`median()`)
//! gathers the whole array into one task. Dask's approximate
//! `percentile` (merging per-block percentiles) is not offered.
//!
//! # Numbers as NumPy computes them
//!
//! * Result type: [`Accumulate::Real`](crate::Accumulate::Real) (`f64` for integers, `f32` for
//!   `f32`), as NumPy with a Python float `q`.
//! * `median`: the middle element, or the mean of the two middle ones,
//!   `(a + b) / 2` in the result type.
//! * `quantile(q)`: the virtual index `v = (n - 1) q`, its neighbours
//!   `a = x[floor v]`, `b = x[floor v + 1]` (both the last element when
//!   `v >= n - 1`), `g = v - floor v`, and NumPy's `_lerp`: `a + (b - a) g`,
//!   or `b - (b - a)(1 - g)` when `g >= 0.5`, in the result type.
//!   Integers are converted before `b - a`, where NumPy subtracts in the
//!   integer type and can wrap around (a NumPy bug this does not copy).
//! * A lane holding NaN gives NaN (the NaN-skipping versions drop NaN
//!   first); an empty lane gives NaN (NumPy warns for `median`, raises for
//!   `quantile`).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::marker::PhantomData;

use ndarray::{ArrayD, Axis, IxDyn};
use rask_core::{Error, Kernel, Op, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::{Array, BlockTask, block_arg, block_key, block_value};
use crate::chunks::{ChunkSpec, Chunks, fmt_shape};
use crate::element::{CastFrom, Float, Number};
use crate::kernels::{elem_name, register_numbers};

/// Which order statistic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Stat {
    /// NumPy's `median`: the mean of the middle two for even counts.
    Median,
    /// NumPy's `quantile(q, method="linear")` for each `q` in `[0, 1]`.
    Quantiles(Vec<f64>),
}

/// Order statistics of one block's lanes along `axes` (sorted), which the
/// block holds whole.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct QuantileBlock<T> {
    stat: Stat,
    axes: Vec<usize>,
    skip_nan: bool,
    keepdims: bool,
    /// Whether the result has a leading axis, one entry per quantile.
    q_axis: bool,
    _t: PhantomData<T>,
}

impl<T: Number> Kernel for QuantileBlock<T>
where
    T::Real: Float,
{
    const NAME: &'static str = elem_name!("rask.array.quantile", T);
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        let block = block_arg::<T>(args, 0)?;
        if let Some(&bad) = self.axes.iter().find(|&&a| a >= block.ndim()) {
            return Err(TaskError::failed(format!(
                "quantile: axis {bad} is out of range for a block of shape {}",
                fmt_shape(block.shape())
            )));
        }
        Ok(block_value(self.reduce(block)))
    }
    fn label(&self) -> Cow<'static, str> {
        Cow::Borrowed(match (&self.stat, self.skip_nan) {
            (Stat::Median, false) => "median",
            (Stat::Median, true) => "nanmedian",
            (Stat::Quantiles(_), false) => "quantile",
            (Stat::Quantiles(_), true) => "nanquantile",
        })
    }
}

impl<T: Number> QuantileBlock<T>
where
    T::Real: Float,
{
    /// The block's result: lanes gathered contiguously (one copy), each
    /// reduced in place.
    fn reduce(&self, block: &ArrayD<T>) -> ArrayD<T::Real> {
        let nd = block.ndim();
        let keep: Vec<usize> = (0..nd).filter(|a| !self.axes.contains(a)).collect();
        let order: Vec<usize> = keep.iter().chain(&self.axes).copied().collect();
        let lane: usize = self.axes.iter().map(|&a| block.shape()[a]).product();
        let n_out: usize = keep.iter().map(|&a| block.shape()[a]).product();
        let mut data: Vec<T> = block
            .view()
            .permuted_axes(IxDyn(&order))
            .iter()
            .copied()
            .collect();
        let nq = match &self.stat {
            Stat::Median => 1,
            Stat::Quantiles(qs) => qs.len(),
        };
        // Result values, quantile-major: out[qi * n_out + lane_index].
        let mut out = vec![T::Real::from_f64(f64::NAN); nq * n_out];
        let mut vals = vec![T::Real::from_f64(f64::NAN); nq];
        if lane > 0 {
            for (i, run) in data.chunks_exact_mut(lane).enumerate() {
                lane_stats(run, &self.stat, self.skip_nan, &mut vals);
                for (qi, &v) in vals.iter().enumerate() {
                    out[qi * n_out + i] = v;
                }
            }
        }
        let mut shape: Vec<usize> = Vec::with_capacity(nd + 1);
        if self.q_axis {
            shape.push(nq);
        }
        for a in 0..nd {
            if !self.axes.contains(&a) {
                shape.push(block.shape()[a]);
            } else if self.keepdims {
                shape.push(1);
            }
        }
        ArrayD::from_shape_vec(IxDyn(&shape), out).expect("one value per quantile and lane")
    }
}

register_numbers!(QuantileBlock);

/// Orders numbers, NaN never present (callers remove or detect it first).
fn cmp<T: PartialOrd>(a: &T, b: &T) -> Ordering {
    a.partial_cmp(b).unwrap_or(Ordering::Equal)
}

/// The order statistics of one lane (reordered in place) into `vals`.
fn lane_stats<T: Number>(run: &mut [T], stat: &Stat, skip_nan: bool, vals: &mut [T::Real])
where
    T::Real: Float,
{
    let nan = T::Real::from_f64(f64::NAN);
    let n = if skip_nan {
        // Move the non-NaN values to the front.
        let mut n = 0;
        for i in 0..run.len() {
            if !run[i].is_nan_value() {
                run.swap(n, i);
                n += 1;
            }
        }
        n
    } else if run.iter().any(|x| x.is_nan_value()) {
        vals.fill(nan);
        return;
    } else {
        run.len()
    };
    if n == 0 {
        vals.fill(nan);
        return;
    }
    let xs = &mut run[..n];
    let real = <T::Real as CastFrom<T>>::cast_from;
    match stat {
        Stat::Median => {
            let k = n / 2;
            let (left, &mut mid, _) = xs.select_nth_unstable_by(k, cmp);
            vals[0] = if n % 2 == 1 {
                real(mid)
            } else {
                // The largest of the lower half is the other middle value.
                let below = left.iter().copied().max_by(cmp).expect("n >= 2");
                let two = T::Real::from_f64(2.0);
                (<T::Real as num_traits::Zero>::zero() + real(below) + real(mid)) / two
            }
        }
        Stat::Quantiles(qs) => {
            // Neighbour indices of every quantile, selected in ascending
            // order, each selection strictly right of the last (a
            // selection in a slice that starts at the last selected index
            // could move that element away).
            let plan: Vec<(usize, usize, f64)> = qs.iter().map(|&q| neighbours(n, q)).collect();
            let mut wanted: Vec<usize> = plan.iter().flat_map(|&(p, q, _)| [p, q]).collect();
            wanted.sort_unstable();
            wanted.dedup();
            let mut lo = 0;
            for &k in &wanted {
                xs[lo..].select_nth_unstable_by(k - lo, cmp);
                lo = k + 1;
            }
            for (v, &(p, q, g)) in vals.iter_mut().zip(&plan) {
                *v = lerp(real(xs[p]), real(xs[q]), g);
            }
        }
    }
}

/// NumPy's neighbours of quantile `q` of `n > 0` values: the indices
/// below and above the virtual index `(n - 1) q`, and the weight `g` of the
/// upper one (computed as NumPy does, from the index before clipping).
fn neighbours(n: usize, q: f64) -> (usize, usize, f64) {
    let v = (n - 1) as f64 * q;
    let prev = v.floor();
    if v >= (n - 1) as f64 {
        // NumPy takes the last element for both, with index -1.
        return (n - 1, n - 1, v + 1.0);
    }
    (prev as usize, prev as usize + 1, v - prev)
}

/// NumPy's `_lerp(a, b, g)` in the result type.
fn lerp<R: Float>(a: R, b: R, g: f64) -> R {
    let diff = b - a;
    if g >= 0.5 {
        b - diff * R::from_f64(1.0 - g)
    } else {
        a + diff * R::from_f64(g)
    }
}

/// Checks quantiles (already divided by 100 for percentiles).
fn check_quantiles(name: &str, qs: &[f64], scale: f64) -> Result<()> {
    if qs.is_empty() {
        return Err(Error::invalid(
            "q",
            format!("{name}: no quantiles given; pass at least one"),
        ));
    }
    if let Some(&bad) = qs.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        return Err(Error::invalid(
            "q",
            format!(
                "{name}: {} is outside [0, {scale}]; quantiles must lie in [0, 1], percentiles in [0, 100]",
                bad * scale
            ),
        ));
    }
    Ok(())
}

/// Where and how an order statistic reduces.
#[derive(Clone, Copy)]
struct Form<'a> {
    axes: &'a [usize],
    keepdims: bool,
    skip_nan: bool,
    /// A leading result axis with one entry per quantile.
    q_axis: bool,
}

impl<'a> Form<'a> {
    fn new(axes: &'a [usize], keepdims: bool, skip_nan: bool, q_axis: bool) -> Self {
        Form {
            axes,
            keepdims,
            skip_nan,
            q_axis,
        }
    }
}

impl<T: Number> Array<T>
where
    T::Real: Float,
{
    /// Builds the rechunk and the per-block tasks of an order statistic.
    fn order_statistic(
        &self,
        name: &'static str,
        stat: Stat,
        form: Form<'_>,
    ) -> Result<Array<T::Real>> {
        let Form {
            axes,
            keepdims,
            skip_nan,
            q_axis,
        } = form;
        let this = self.clone().into_result()?;
        let axes = crate::reduction::check_axes(name, this.ndim(), this.shape(), axes)
            .map_err(|e| Error::invalid("axis", e))?;
        // Reduced axes in one block each, as Dask's `median` rechunks.
        let whole = axes.iter().all(|&a| this.numblocks()[a] == 1);
        let x = if whole {
            this
        } else {
            let specs: Vec<ChunkSpec> = (0..this.ndim())
                .map(|a| {
                    if axes.contains(&a) {
                        ChunkSpec::Whole
                    } else {
                        ChunkSpec::Auto
                    }
                })
                .collect();
            this.rechunk(specs)?
        };
        let nq = match &stat {
            Stat::Median => 1,
            Stat::Quantiles(qs) => qs.len(),
        };
        let mut out_chunks: Vec<Vec<usize>> = Vec::with_capacity(x.ndim() + 1);
        if q_axis {
            out_chunks.push(vec![nq]);
        }
        for (a, c) in x.chunks().as_slices().iter().enumerate() {
            if !axes.contains(&a) {
                out_chunks.push(c.clone());
            } else if keepdims {
                out_chunks.push(vec![1]);
            }
        }
        let kernel = QuantileBlock::<T> {
            stat,
            axes: axes.clone(),
            skip_nan,
            keepdims,
            q_axis,
            _t: PhantomData,
        };
        let params = (&kernel.stat, &axes, skip_nan, keepdims, q_axis);
        let src = x.node.name.clone();
        let in_axes: Vec<usize> = (0..x.ndim()).collect();
        let (stat, axes_c) = (kernel.stat.clone(), axes.clone());
        Ok(Array::kernel_layer(
            name,
            &params,
            Chunks::from_vec(out_chunks),
            vec![x.input()],
            move |idx| {
                // The input block: kept axes from the output index (after
                // the quantile axis), reduced axes block 0.
                let mut it = idx.iter().skip(usize::from(q_axis));
                let src_idx: Vec<usize> = in_axes
                    .iter()
                    .map(|a| {
                        if axes_c.contains(a) {
                            if keepdims {
                                it.next();
                            }
                            0
                        } else {
                            *it.next().expect("one index per kept axis")
                        }
                    })
                    .collect();
                BlockTask {
                    op: Op::kernel_blockwise(QuantileBlock::<T> {
                        stat: stat.clone(),
                        axes: axes_c.clone(),
                        skip_nan,
                        keepdims,
                        q_axis,
                        _t: PhantomData,
                    }),
                    deps: vec![block_key(&src, &src_idx)],
                }
            },
        ))
    }

    /// Quantiles `qs / scale` (`scale` 100 for percentiles).
    fn quantiles_impl(
        &self,
        name: &'static str,
        qs: &[f64],
        scale: f64,
        form: Form<'_>,
    ) -> Result<Array<T::Real>> {
        let qs: Vec<f64> = qs.iter().map(|&q| q / scale).collect();
        check_quantiles(name, &qs, scale)?;
        self.order_statistic(name, Stat::Quantiles(qs), form)
    }
}

/// The three forms (all axes, one axis, several axes) of one statistic.
macro_rules! order_statistics {
    ($(
        $(#[$doc:meta])*
        $name:ident, $axis:ident, $axes:ident ($($arg:ident: $argt:ty),*) => |$s:ident, $ax:ident, $keep:ident| $body:expr;
    )*) => {
        impl<T: Number> Array<T>
        where
            T::Real: Float,
        {
            $(
                $(#[$doc])*
                pub fn $name(&self, $($arg: $argt),*) -> Result<Array<T::Real>> {
                    self.$axes($($arg,)* &self.every_axis(), false)
                }

                #[doc = concat!("`", stringify!($name), "` along one axis (NumPy's `axis=`).")]
                pub fn $axis(&self, $($arg: $argt,)* axis: Axis) -> Result<Array<T::Real>> {
                    self.$axes($($arg,)* &[axis.index()], false)
                }

                #[doc = concat!("`", stringify!($name), "` over several axes, keeping them with length 1 if `keepdims`.")]
                pub fn $axes(&self, $($arg: $argt,)* axes: &[usize], keepdims: bool) -> Result<Array<T::Real>> {
                    let ($s, $ax, $keep) = (self, axes, keepdims);
                    $body
                }
            )*
        }
    };
}

order_statistics!(
    /// Median (NumPy's `median`), exact: the reduced axes are rechunked to
    /// one block each first (as Dask's `median`; a lane must fit in one
    /// task, and `median()` gathers the whole array). Integers give
    /// `f64`, floats their own type; a lane with NaN gives NaN.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray::{Axis, array}};
    /// let x = Array::from_ndarray(array![[3.0f32, 1.0], [1.0, 5.0], [2.0, 4.0]].into_dyn(), &[1, 2]).unwrap();
    /// let med: Array<f32> = x.median_axis(Axis(0)).unwrap();
    /// assert_eq!(med.compute().unwrap(), array![2.0f32, 4.0].into_dyn());
    /// let ints = Array::from_ndarray(array![1, 2, 4, 9].into_dyn(), &[2]).unwrap();
    /// assert_eq!(ints.median().unwrap().compute_scalar().unwrap(), 3.0f64);
    /// ```
    median, median_axis, median_axes () => |s, axes, keep| {
        s.order_statistic("median", Stat::Median, Form::new(axes, keep, false, false))
    };
    /// Median ignoring NaN (NumPy's `nanmedian`); an all-NaN lane gives NaN.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray::array};
    /// let x = Array::from_ndarray(array![1.0, f64::NAN, 4.0].into_dyn(), &[2]).unwrap();
    /// assert_eq!(x.nanmedian().unwrap().compute_scalar().unwrap(), 2.5);
    /// ```
    nanmedian, nanmedian_axis, nanmedian_axes () => |s, axes, keep| {
        s.order_statistic("nanmedian", Stat::Median, Form::new(axes, keep, true, false))
    };
    /// Quantile `q` in `[0, 1]` (NumPy's `quantile` with the default
    /// `method="linear"`), exact, rechunking as [`Array::median`] does.
    /// Integers give `f64` (computed from the converted neighbours; NumPy
    /// subtracts them in the integer type, which can wrap around).
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray::array};
    /// let x = Array::from_ndarray(array![1, 2, 3, 4, 5].into_dyn(), &[2]).unwrap();
    /// assert_eq!(x.quantile(0.25).unwrap().compute_scalar().unwrap(), 2.0);
    /// assert!(x.quantile(1.5).is_err());
    /// ```
    quantile, quantile_axis, quantile_axes (q: f64) => |s, axes, keep| {
        s.quantiles_impl("quantile", &[q], 1.0, Form::new(axes, keep, false, false))
    };
    /// Quantile `q` ignoring NaN (NumPy's `nanquantile`).
    nanquantile, nanquantile_axis, nanquantile_axes (q: f64) => |s, axes, keep| {
        s.quantiles_impl("nanquantile", &[q], 1.0, Form::new(axes, keep, true, false))
    };
    /// Percentile `p` in `[0, 100]` (NumPy's `percentile`: the quantile
    /// `p / 100`).
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray::array};
    /// let x = Array::from_ndarray(array![10.0, 20.0, 30.0].into_dyn(), &[2]).unwrap();
    /// assert_eq!(x.percentile(75.0).unwrap().compute_scalar().unwrap(), 25.0);
    /// ```
    percentile, percentile_axis, percentile_axes (p: f64) => |s, axes, keep| {
        s.quantiles_impl("percentile", &[p], 100.0, Form::new(axes, keep, false, false))
    };
    /// Percentile `p` ignoring NaN (NumPy's `nanpercentile`).
    nanpercentile, nanpercentile_axis, nanpercentile_axes (p: f64) => |s, axes, keep| {
        s.quantiles_impl("nanpercentile", &[p], 100.0, Form::new(axes, keep, true, false))
    };
    /// Several quantiles at once, with a leading axis of one entry per
    /// quantile (NumPy's `quantile` with a list `q`); the lanes are gathered
    /// once for all of them.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray::array};
    /// let x = Array::from_ndarray(array![[1.0, 2.0], [3.0, 4.0]].into_dyn(), &[1, 1]).unwrap();
    /// let q = x.quantiles_axis(&[0.0, 0.5, 1.0], rask_array::ndarray::Axis(1)).unwrap();
    /// assert_eq!(q.compute().unwrap(), array![[1.0, 3.0], [1.5, 3.5], [2.0, 4.0]].into_dyn());
    /// ```
    quantiles, quantiles_axis, quantiles_axes (qs: &[f64]) => |s, axes, keep| {
        s.quantiles_impl("quantile", qs, 1.0, Form::new(axes, keep, false, true))
    };
    /// Several quantiles at once ignoring NaN, with a leading quantile axis.
    nanquantiles, nanquantiles_axis, nanquantiles_axes (qs: &[f64]) => |s, axes, keep| {
        s.quantiles_impl("nanquantile", qs, 1.0, Form::new(axes, keep, true, true))
    };
    /// Several percentiles at once, with a leading percentile axis.
    percentiles, percentiles_axis, percentiles_axes (ps: &[f64]) => |s, axes, keep| {
        s.quantiles_impl("percentile", ps, 100.0, Form::new(axes, keep, false, true))
    };
    /// Several percentiles at once ignoring NaN, with a leading axis.
    nanpercentiles, nanpercentiles_axis, nanpercentiles_axes (ps: &[f64]) => |s, axes, keep| {
        s.quantiles_impl("nanpercentile", ps, 100.0, Form::new(axes, keep, true, true))
    };
);

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(xs: &[f64], stat: Stat, skip_nan: bool) -> Vec<f64> {
        let mut run = xs.to_vec();
        let n = match &stat {
            Stat::Median => 1,
            Stat::Quantiles(q) => q.len(),
        };
        let mut out = vec![0.0; n];
        lane_stats(&mut run, &stat, skip_nan, &mut out);
        out
    }

    #[test]
    fn medians_and_quantiles_of_small_lanes() {
        assert_eq!(stats(&[3.0, 1.0, 2.0], Stat::Median, false), [2.0]);
        assert_eq!(stats(&[4.0, 1.0, 3.0, 2.0], Stat::Median, false), [2.5]);
        assert!(stats(&[1.0, f64::NAN], Stat::Median, false)[0].is_nan());
        assert_eq!(stats(&[1.0, f64::NAN, 3.0], Stat::Median, true), [2.0]);
        assert!(stats(&[f64::NAN], Stat::Median, true)[0].is_nan());
        assert!(stats(&[], Stat::Median, false)[0].is_nan());
        let q = Stat::Quantiles(vec![0.0, 0.3, 0.5, 1.0]);
        // np.quantile([10, 40, 20, 30], [0, .3, .5, 1]) == [10, 19, 25, 40]
        let got = stats(&[10.0, 40.0, 20.0, 30.0], q, false);
        assert_eq!(got[0], 10.0);
        assert!((got[1] - 19.0).abs() < 1e-12);
        assert_eq!(&got[2..], [25.0, 40.0]);
    }

    #[test]
    fn neighbours_follow_numpy() {
        assert_eq!(neighbours(1, 0.5), (0, 0, 1.0));
        assert_eq!(neighbours(5, 0.25), (1, 2, 0.0));
        assert_eq!(neighbours(4, 1.0), (3, 3, 4.0));
        let (p, q, g) = neighbours(11, 0.33);
        assert_eq!((p, q), (3, 4));
        assert!((g - 0.3).abs() < 1e-12);
    }

    #[test]
    fn quantiles_outside_the_range_are_errors() {
        assert!(check_quantiles("quantile", &[0.0, 1.0], 1.0).is_ok());
        let e = check_quantiles("percentile", &[1.01], 100.0).unwrap_err();
        assert!(e.to_string().contains("101"), "{e}");
        assert!(check_quantiles("quantile", &[f64::NAN], 1.0).is_err());
        assert!(check_quantiles("quantile", &[], 1.0).is_err());
    }
}
