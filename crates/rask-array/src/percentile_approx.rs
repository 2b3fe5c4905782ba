//! Dask's approximate `percentile`: percentiles of every block, merged.
//!
//! [`Array::percentile_approx`] never gathers a lane: each block computes
//! its own percentiles on a grid (the requested ones, plus every whole
//! percent), and one task merges them. The merge treats each block's
//! percentiles as a piecewise-linear distribution function through the
//! points `(value, fraction)` and weights it by the block's count; the
//! result is where the mixture of those functions reaches each requested
//! fraction. This is the idea of Dask's `merge_percentiles`, with a finer
//! grid. With one block the result is exact (NumPy's `percentile`);
//! across blocks it is an approximation whose error is bounded by the
//! spacing of the grid in each block (at most the values between two
//! whole-percent points of one block), like Dask's.

use std::marker::PhantomData;

use ndarray::{ArrayD, IxDyn};
use rask_core::{Error, Kernel, Op, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::{Array, BlockTask, block_arg, block_key, block_value};
use crate::chunks::Chunks;
use crate::element::{CastFrom, Float, Number};
use crate::kernels::{elem_name, register_floats, register_numbers};

/// Entries of a block's partial before its values: count, NaN seen.
const HEAD: usize = 2;

/// One block's percentiles on `grid` (fractions in `[0, 1]`, ascending,
/// starting at 0 and ending at 1): `[count, nan, v_0, …, v_K]` as f64.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct BlockPercentiles<T> {
    grid: Vec<f64>,
    skip_nan: bool,
    _t: PhantomData<T>,
}

impl<T: Number> Kernel for BlockPercentiles<T> {
    const NAME: &'static str = elem_name!("rask.array.percentile_block", T);
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        let block = block_arg::<T>(args, 0)?;
        let mut xs: Vec<f64> = Vec::with_capacity(block.len());
        let mut nan = false;
        for &v in block.iter() {
            if v.is_nan_value() {
                nan = true;
            } else {
                xs.push(v.to_f64());
            }
        }
        let mut out = Vec::with_capacity(HEAD + self.grid.len());
        out.push(xs.len() as f64);
        out.push(if nan && !self.skip_nan { 1.0 } else { 0.0 });
        xs.sort_unstable_by(f64::total_cmp);
        for &q in &self.grid {
            out.push(if xs.is_empty() {
                f64::NAN
            } else {
                // NumPy's linear method: virtual index (n - 1) q.
                let v = (xs.len() - 1) as f64 * q;
                let lo = v.floor() as usize;
                let hi = (lo + 1).min(xs.len() - 1);
                let g = v - lo as f64;
                xs[lo] + (xs[hi] - xs[lo]) * g
            });
        }
        let n = out.len();
        Ok(block_value(
            ArrayD::from_shape_vec(IxDyn(&[n]), out).expect("a 1-d partial"),
        ))
    }
}

register_numbers!(BlockPercentiles);

/// Merges every block's partial into the requested percentiles `qs`
/// (fractions) of all of them.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct MergePercentiles<R> {
    grid: Vec<f64>,
    qs: Vec<f64>,
    _r: PhantomData<R>,
}

impl<R: Float + CastFrom<f64>> Kernel for MergePercentiles<R> {
    const NAME: &'static str = elem_name!("rask.array.percentile_merge", R);
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        let mut blocks: Vec<(f64, &[f64])> = Vec::with_capacity(args.len());
        let mut nan = false;
        for i in 0..args.len() {
            let part = block_arg::<f64>(args, i)?;
            let part = part.as_slice().ok_or_else(|| {
                TaskError::failed("percentile_approx: a partial is not contiguous")
            })?;
            if part.len() != HEAD + self.grid.len() {
                return Err(TaskError::failed(format!(
                    "percentile_approx: a partial has {} entries, expected {}",
                    part.len(),
                    HEAD + self.grid.len()
                )));
            }
            nan |= part[1] != 0.0;
            if part[0] > 0.0 {
                blocks.push((part[0], &part[HEAD..]));
            }
        }
        let values: Vec<f64> = if nan || blocks.is_empty() {
            vec![f64::NAN; self.qs.len()]
        } else {
            merge(&self.grid, &blocks, &self.qs)
        };
        let out: Vec<R> = values.into_iter().map(R::cast_from).collect();
        let n = out.len();
        Ok(block_value(
            ArrayD::from_shape_vec(IxDyn(&[n]), out).expect("a 1-d result"),
        ))
    }
}

register_floats!(MergePercentiles);

/// Where the count-weighted mixture of the blocks' piecewise-linear
/// distribution functions reaches each fraction in `qs`.
///
/// Each block `(n, values)` has the distribution function through the
/// points `(values[k], grid[k])`: between two points it rises linearly
/// (a slope over the interval), and at a repeated value it jumps. The
/// mixture is swept once over all points in value order.
fn merge(grid: &[f64], blocks: &[(f64, &[f64])], qs: &[f64]) -> Vec<f64> {
    let total: f64 = blocks.iter().map(|b| b.0).sum();
    // Events at a value: a change of slope, or a jump (weighted by count).
    struct Event {
        at: f64,
        slope: f64,
        jump: f64,
    }
    let mut events = Vec::new();
    for &(n, vs) in blocks {
        let w = n / total;
        for k in 0..vs.len() - 1 {
            let (a, b) = (vs[k], vs[k + 1]);
            let dp = (grid[k + 1] - grid[k]) * w;
            if dp == 0.0 {
                continue;
            }
            if b > a {
                let s = dp / (b - a);
                events.push(Event {
                    at: a,
                    slope: s,
                    jump: 0.0,
                });
                events.push(Event {
                    at: b,
                    slope: -s,
                    jump: 0.0,
                });
            } else {
                events.push(Event {
                    at: a,
                    slope: 0.0,
                    jump: dp,
                });
            }
        }
    }
    events.sort_by(|x, y| x.at.total_cmp(&y.at));
    // Sweep: at each distinct value, F just before it and just after it.
    let mut points: Vec<(f64, f64, f64)> = Vec::new(); // (value, F left, F right)
    let (mut f, mut slope, mut at) = (0.0f64, 0.0f64, f64::NAN);
    let mut i = 0;
    while i < events.len() {
        let v = events[i].at;
        if !at.is_nan() {
            f += slope * (v - at);
        }
        let left = f;
        while i < events.len() && events[i].at == v {
            slope += events[i].slope;
            f += events[i].jump;
            i += 1;
        }
        points.push((v, left, f));
        at = v;
    }
    let lowest = points.first().map_or(f64::NAN, |p| p.0);
    let highest = points.last().map_or(f64::NAN, |p| p.0);
    qs.iter()
        .map(|&q| {
            if q <= 0.0 {
                return lowest;
            }
            if q >= 1.0 {
                return highest;
            }
            // The first point whose right value reaches q.
            let j = points.partition_point(|p| p.2 < q);
            let Some(&(v, left, _)) = points.get(j) else {
                return highest;
            };
            if q > left || j == 0 {
                return v; // reached by the jump at v
            }
            let (u, _, fu) = points[j - 1];
            if left > fu {
                u + (v - u) * (q - fu) / (left - fu)
            } else {
                v
            }
        })
        .collect()
}

impl<T: Number> Array<T>
where
    T::Real: Float + CastFrom<f64>,
{
    /// Percentiles `ps` (each in `[0, 100]`) of all elements, approximated
    /// as Dask's `percentile` does: each block's percentiles are merged,
    /// so no lane is ever gathered. Each block's percentiles on a grid
    /// (every whole percent and the requested ones) describe a
    /// piecewise-linear distribution function; the result is where their
    /// count-weighted mixture reaches each requested fraction. With one
    /// block it equals NumPy's `percentile`; across blocks the error is at
    /// most the spread of one block's values between two whole percents.
    /// Use [`Array::percentiles`] for exact results (which gathers lanes).
    /// A NaN anywhere gives NaN (see [`Array::nanpercentile_approx`]).
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::Array;
    /// let x = Array::<f64>::arange(0.0, 10_001.0, 1.0, &[1_000]).unwrap();
    /// let p = x.percentile_approx(&[50.0, 90.0]).unwrap().compute().unwrap();
    /// assert!((p[[0]] - 5_000.0).abs() < 10.0 && (p[[1]] - 9_000.0).abs() < 10.0);
    /// ```
    pub fn percentile_approx(&self, ps: &[f64]) -> Result<Array<T::Real>> {
        self.percentile_merge("percentile_approx", ps, false)
    }

    /// [`Array::percentile_approx`] ignoring NaN (Dask's `nanpercentile`
    /// idea); all-NaN input gives NaN.
    pub fn nanpercentile_approx(&self, ps: &[f64]) -> Result<Array<T::Real>> {
        self.percentile_merge("nanpercentile_approx", ps, true)
    }

    fn percentile_merge(
        &self,
        name: &'static str,
        ps: &[f64],
        skip_nan: bool,
    ) -> Result<Array<T::Real>> {
        let this = self.clone().into_result()?;
        if ps.is_empty() {
            return Err(Error::invalid(
                "q",
                format!("{name}: no percentiles given; pass at least one"),
            ));
        }
        if let Some(bad) = ps.iter().find(|p| !(0.0..=100.0).contains(*p)) {
            return Err(Error::invalid(
                "q",
                format!("{name}: {bad} is outside [0, 100]"),
            ));
        }
        let qs: Vec<f64> = ps.iter().map(|p| p / 100.0).collect();
        // The grid: every whole percent and the requested fractions.
        let mut grid: Vec<f64> = (0..=100).map(|i| i as f64 / 100.0).collect();
        grid.extend(&qs);
        grid.sort_by(f64::total_cmp);
        grid.dedup();
        let blocks: Vec<Vec<usize>> = this.chunks().block_indices().collect();
        let width = HEAD + grid.len();
        let partial_chunks = Chunks::from_vec(vec![vec![width; blocks.len().max(1)]]);
        let src = this.node.name.clone();
        let params = (&grid, skip_nan);
        let (grid_p, blocks_p) = (grid.clone(), blocks.clone());
        let partials = Array::<f64>::kernel_layer(
            name,
            &(params, T::DTYPE),
            partial_chunks,
            vec![this.input()],
            move |idx| BlockTask {
                op: Op::kernel_blockwise(BlockPercentiles::<T> {
                    grid: grid_p.clone(),
                    skip_nan,
                    _t: PhantomData,
                }),
                deps: vec![block_key(&src, &blocks_p[idx[0]])],
            },
        );
        let part_name = partials.node.name.clone();
        let nblocks = blocks.len();
        let nq = qs.len();
        let merge_params = (qs.clone(), grid.clone());
        Ok(Array::<T::Real>::kernel_layer(
            &format!("{name}-merge"),
            &merge_params,
            Chunks::from_vec(vec![vec![nq]]),
            vec![partials.input()],
            move |_| BlockTask {
                op: Op::kernel(MergePercentiles::<T::Real> {
                    grid: grid.clone(),
                    qs: qs.clone(),
                    _r: PhantomData,
                }),
                deps: (0..nblocks).map(|b| block_key(&part_name, &[b])).collect(),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::merge;

    #[test]
    fn one_block_gives_its_own_grid_values() {
        let grid = [0.0, 0.5, 1.0];
        let vs = [1.0, 3.0, 7.0];
        let got = merge(&grid, &[(5.0, &vs[..])], &[0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(got, vec![1.0, 2.0, 3.0, 5.0, 7.0]);
    }

    #[test]
    fn two_equal_blocks_side_by_side_split_the_range() {
        let grid = [0.0, 1.0];
        let (a, b) = ([0.0, 1.0], [1.0, 2.0]);
        let got = merge(&grid, &[(10.0, &a[..]), (10.0, &b[..])], &[0.25, 0.5, 0.75]);
        assert_eq!(got, vec![0.5, 1.0, 1.5]);
    }

    #[test]
    fn repeated_values_jump() {
        // One block whose values are all 4.
        let grid = [0.0, 0.5, 1.0];
        let vs = [4.0, 4.0, 4.0];
        let got = merge(&grid, &[(3.0, &vs[..])], &[0.1, 0.5, 0.9]);
        assert_eq!(got, vec![4.0, 4.0, 4.0]);
    }
}
