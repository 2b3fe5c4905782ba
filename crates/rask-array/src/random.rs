//! Seeded random arrays.
//!
//! Every block has its own stream: a key mixed from the array's seed and the
//! block's position. The stream is *counter-based*: the element at
//! block-local C-order position `i` is a pure function of the key and `i`
//! (SplitMix64's output for position `i`), so
//!
//! - blocks are independent, can be made in any order on any worker, and
//!   the same seed and chunks always give the same array;
//! - any region of a block can be made on its own, which lets consumers
//!   generate the array slab by slab where they need it: `x.sum()` or
//!   `(&x + &x.t()).sum()` never store `x` (see "Region-wise evaluation"
//!   in `docs/architecture.md`);
//! - the loop has no dependency between elements, so it is vectorised: the
//!   kernel is compiled for AVX2 as well and picked at run time (`pulp`).
//!
//! Uniform values have 52 random bits (`[0, 1)` in steps of 2⁻⁵²); normal
//! values come from pairs of uniforms by the Box–Muller transform. The
//! streams are not NumPy's: equal seeds do not give NumPy's numbers.

use ndarray::{ArrayD, IxDyn};
use rask_core::splitmix::{GAMMA, bits, mix};
use rask_core::{Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::{Array, Region, block_value};
use crate::chunks::IntoChunks;
use crate::creation::BlockInfo;
use crate::region::{RegionKernel, RegionRef, register_region};

/// The top 52 bits as a double in `[0, 1)`: the bits become the mantissa of
/// a number in `[1, 2)`, then 1 is subtracted (exact, and vectorisable, unlike
/// an integer-to-float conversion).
#[inline(always)]
fn unit(b: u64) -> f64 {
    f64::from_bits((b >> 12) | 0x3ff0_0000_0000_0000) - 1.0
}

/// The key of one block's stream: the array seed mixed with the block's
/// position (a bijection of the linear block index, so distinct blocks get
/// distinct keys).
fn block_key(seed: u64, info: &BlockInfo) -> u64 {
    let linear = info
        .index
        .iter()
        .zip(&info.numblocks)
        .fold(0u64, |acc, (&i, &n)| acc * n as u64 + i as u64);
    mix(seed ^ linear.wrapping_mul(GAMMA)).wrapping_add(GAMMA)
}

/// Appends the uniform values at positions `first + k * step`, `k < len`.
#[inline(always)]
fn push_uniform(out: &mut Vec<f64>, key: u64, first: u64, len: usize, step: u64) {
    // SplitMix64's state for position `first`, advanced by `step`
    // positions at a time: an induction the compiler vectorises.
    let delta = step.wrapping_mul(GAMMA);
    let mut z = key.wrapping_add(first.wrapping_add(1).wrapping_mul(GAMMA));
    out.extend((0..len).map(|_| {
        let v = unit(mix(z));
        z = z.wrapping_add(delta);
        v
    }));
}

/// Appends the standard normal values at positions `first + k * step`,
/// `k < len`: the value at position `i` is one half of the Box–Muller pair
/// made from uniforms `2p` and `2p + 1` of the stream, `p = i / 2` (the
/// cosine for even `i`, the sine for odd).
#[inline(always)]
fn push_normal(out: &mut Vec<f64>, key: u64, first: u64, len: usize, step: u64) {
    out.extend((0..len as u64).map(|k| {
        let i = first + k * step;
        let p = i / 2;
        let u1 = unit(bits(key, 2 * p));
        let u2 = unit(bits(key, 2 * p + 1));
        let r = (-2.0 * (1.0 - u1).ln()).sqrt();
        let angle = std::f64::consts::TAU * u2;
        if i.is_multiple_of(2) {
            r * angle.cos()
        } else {
            r * angle.sin()
        }
    }));
}

/// What makes a run of values: `push(out, key, first, len, step)` appends
/// the values at stream positions `first + k * step`, `k < len`.
trait Push: Fn(&mut Vec<f64>, u64, u64, usize, u64) + Copy + Send + Sync + 'static {}
impl<P: Fn(&mut Vec<f64>, u64, u64, usize, u64) + Copy + Send + Sync + 'static> Push for P {}

/// A region of a block. With `order = Some(perm)` the values are laid out
/// so that the view through `perm` is C-contiguous (the consumer reads a
/// transpose); otherwise in C order. Either way the region is made in runs
/// along the last axis of the memory order, each a run of stream positions
/// with a fixed step. The loop is compiled for AVX2 as well and picked at
/// run time.
fn region_of(
    info: &BlockInfo,
    region: &Region,
    order: Option<&[usize]>,
    key: u64,
    push: impl Push,
) -> ArrayD<f64> {
    let nd = region.len();
    // Stream positions are C-order offsets in the whole block.
    let mut strides = vec![1usize; nd];
    for a in (0..nd.saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * info.shape[a + 1];
    }
    // The memory order: axis k of the made array is block axis perm[k].
    let perm: Vec<usize> = match order {
        Some(p) if p.len() == nd => p.to_vec(),
        _ => (0..nd).collect(),
    };
    let shape: Vec<usize> = perm
        .iter()
        .map(|&a| region[a].end - region[a].start)
        .collect();
    let starts: Vec<usize> = perm.iter().map(|&a| region[a].start).collect();
    let steps: Vec<usize> = perm.iter().map(|&a| strides[a]).collect();
    let data = pulp::Arch::new().dispatch(RegionFill {
        shape: &shape,
        starts: &starts,
        steps: &steps,
        key,
        push,
    });
    let made =
        ArrayD::from_shape_vec(IxDyn(&shape), data).expect("as many values as the region holds");
    if perm.iter().enumerate().all(|(k, &a)| k == a) {
        return made;
    }
    // Back to the block's axis order: block axis a is made axis k where
    // perm[k] = a.
    let mut inverse = vec![0; nd];
    for (k, &a) in perm.iter().enumerate() {
        inverse[a] = k;
    }
    made.permuted_axes(IxDyn(&inverse))
}

/// The loop of [`region_of`], as a `pulp` kernel so that everything it
/// inlines is compiled for the instruction set picked at run time.
struct RegionFill<'a, P> {
    /// The shape in memory order.
    shape: &'a [usize],
    /// Where the region starts along each axis, in memory order.
    starts: &'a [usize],
    /// The stream step of each axis, in memory order.
    steps: &'a [usize],
    key: u64,
    push: P,
}

impl<P: Push> pulp::WithSimd for RegionFill<'_, P> {
    type Output = Vec<f64>;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> Vec<f64> {
        let RegionFill {
            shape,
            starts,
            steps,
            key,
            push,
        } = self;
        let mut data = Vec::with_capacity(shape.iter().product());
        let Some((&row, outer)) = shape.split_last() else {
            push(&mut data, key, 0, 1, 1);
            return data;
        };
        if row == 0 {
            return data;
        }
        let nd = shape.len();
        let rows: usize = outer.iter().product();
        for j in 0..rows {
            // Unravel `j` over the outer axes.
            let mut rest = j;
            let mut first = starts[nd - 1] * steps[nd - 1];
            for a in (0..outer.len()).rev() {
                let pos = rest % outer[a];
                rest /= outer[a];
                first += (starts[a] + pos) * steps[a];
            }
            push(&mut data, key, first as u64, row, steps[nd - 1] as u64);
        }
        data
    }
}

/// The values at positions `first..first + len` (for tests).
#[cfg(test)]
fn run_of(push: impl Push, key: u64, first: u64, len: usize) -> Vec<f64> {
    let mut out = Vec::new();
    push(&mut out, key, first, len, 1);
    out
}

/// Which distribution a random layer samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Dist {
    Uniform,
    Normal,
}

/// The region kernel of a random layer: seeded, counter-based, so any
/// region of any block is made on its own, anywhere.
#[derive(Serialize, Deserialize)]
struct RandomRegion {
    dist: Dist,
    seed: u64,
    /// `offset + scale * v` of each standard value `v`.
    affine: Option<(f64, f64)>,
    /// Block sizes along every axis.
    chunks: Vec<Vec<usize>>,
}

impl RegionKernel for RandomRegion {
    const NAME: &'static str = "rask.array.random";
    fn eval(
        &self,
        _args: &[Value],
        idx: &[usize],
        region: &Region,
        layout: Option<&[usize]>,
    ) -> std::result::Result<Value, TaskError> {
        let info = BlockInfo::from_sizes(&self.chunks, idx)?;
        info.sub(region)?;
        if let Some(p) = layout
            && (p.len() != region.len() || (0..p.len()).any(|a| !p.contains(&a)))
        {
            return Err(TaskError::failed(format!(
                "layout {p:?} is not a permutation of {} axes",
                region.len()
            )));
        }
        let key = block_key(self.seed, &info);
        let mut block = match self.dist {
            Dist::Uniform => region_of(&info, region, layout, key, push_uniform),
            Dist::Normal => region_of(&info, region, layout, key, push_normal),
        };
        if let Some((offset, scale)) = self.affine {
            block.mapv_inplace(|v| offset + scale * v);
        }
        Ok(block_value(block))
    }
}

register_region!(RandomRegion);

fn sampled(
    prefix: &'static str,
    shape: &[usize],
    chunks: impl IntoChunks,
    seed: u64,
    dist: Dist,
    affine: Option<(f64, f64)>,
) -> Result<Array<f64>> {
    let chunks = chunks.into_chunks(shape, size_of::<f64>())?;
    let expr = RegionRef::new(RandomRegion {
        dist,
        seed,
        affine,
        chunks: chunks.as_slices().to_vec(),
    });
    Ok(Array::region_layer(
        prefix,
        chunks,
        Vec::new(),
        expr,
        std::sync::Arc::new(|_: &[usize]| Vec::new()),
        0,
        1,
    ))
}

/// Uniform values in `[0, 1)`.
///
/// ```
/// # use rask_local as _;
/// let x = rask_array::random::uniform(&[1000, 1000], &[250, 250], 42).unwrap();
/// let m = x.mean().compute_scalar().unwrap();
/// assert!((m - 0.5).abs() < 0.01);
/// ```
pub fn uniform(shape: &[usize], chunks: impl IntoChunks, seed: u64) -> Result<Array<f64>> {
    sampled("uniform", shape, chunks, seed, Dist::Uniform, None)
}

/// Uniform values in `[low, high)`.
///
/// ```
/// # use rask_local as _;
/// let x = rask_array::random::uniform_range(-1.0, 1.0, &[10_000], &[2_500], 3).unwrap();
/// assert!(x.min().compute_scalar().unwrap() >= -1.0);
/// assert!(x.max().compute_scalar().unwrap() < 1.0);
/// ```
pub fn uniform_range(
    low: f64,
    high: f64,
    shape: &[usize],
    chunks: impl IntoChunks,
    seed: u64,
) -> Result<Array<f64>> {
    sampled(
        "uniform",
        shape,
        chunks,
        seed,
        Dist::Uniform,
        Some((low, high - low)),
    )
}

/// Standard normal values (mean 0, standard deviation 1).
///
/// ```
/// # use rask_local as _;
/// let x = rask_array::random::normal(&[200_000], &[50_000], 7).unwrap();
/// assert!((x.std(0.0).compute_scalar().unwrap() - 1.0).abs() < 0.01);
/// ```
pub fn normal(shape: &[usize], chunks: impl IntoChunks, seed: u64) -> Result<Array<f64>> {
    sampled("normal", shape, chunks, seed, Dist::Normal, None)
}

/// Normal values with mean `loc` and standard deviation `scale`.
///
/// ```
/// # use rask_local as _;
/// let x = rask_array::random::normal_with(10.0, 2.0, &[200_000], &[50_000], 7).unwrap();
/// assert!((x.mean().compute_scalar().unwrap() - 10.0).abs() < 0.05);
/// ```
pub fn normal_with(
    loc: f64,
    scale: f64,
    shape: &[usize],
    chunks: impl IntoChunks,
    seed: u64,
) -> Result<Array<f64>> {
    sampled(
        "normal",
        shape,
        chunks,
        seed,
        Dist::Normal,
        Some((loc, scale)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::whole;
    use crate::chunks::Chunks;

    fn info(shape: &[usize]) -> BlockInfo {
        BlockInfo::new(
            &Chunks::from_vec(shape.iter().map(|&n| vec![n]).collect()),
            &vec![0; shape.len()],
        )
    }

    #[test]
    fn a_region_equals_the_same_part_of_the_whole_block() {
        let info = info(&[5, 7, 3]);
        let all = region_of(&info, &whole(&info.shape), None, 99, push_uniform);
        let region = [1..4, 2..7, 0..2];
        let part = region_of(&info, &region, None, 99, push_uniform);
        let want = all.slice(ndarray::s![1..4, 2..7, 0..2]);
        assert_eq!(part, want.into_dyn());
        // Laid out for a permuted view: same values, and the view through
        // the permutation is C-contiguous.
        let perm = [2, 0, 1];
        let laid = region_of(&info, &region, Some(&perm), 99, push_normal);
        assert_eq!(laid, region_of(&info, &region, None, 99, push_normal));
        assert!(
            laid.view()
                .permuted_axes(ndarray::IxDyn(&perm))
                .is_standard_layout()
        );
    }

    #[test]
    fn uniform_values_are_in_range_and_look_uniform() {
        let out = run_of(push_uniform, 5, 0, 100_000);
        assert!(out.iter().all(|&v| (0.0..1.0).contains(&v)));
        let mean = out.iter().sum::<f64>() / out.len() as f64;
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
        // Ten equal bins each hold about a tenth.
        let mut bins = [0usize; 10];
        for &v in &out {
            bins[(v * 10.0) as usize] += 1;
        }
        assert!(
            bins.iter().all(|&b| (9_500..10_500).contains(&b)),
            "{bins:?}"
        );
    }

    #[test]
    fn neighbouring_blocks_have_different_streams() {
        let chunks = Chunks::from_vec(vec![vec![4, 4]]);
        let (a, b) = (BlockInfo::new(&chunks, &[0]), BlockInfo::new(&chunks, &[1]));
        assert_ne!(block_key(1, &a), block_key(1, &b));
        assert_ne!(block_key(1, &a), block_key(2, &a));
    }

    #[test]
    fn normal_values_have_unit_variance() {
        let out = run_of(push_normal, 11, 0, 200_000);
        let n = out.len() as f64;
        let mean = out.iter().sum::<f64>() / n;
        let var = out.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.01,
            "{mean} {var}"
        );
        // Odd positions start mid-pair and still match the whole run.
        assert_eq!(run_of(push_normal, 11, 7, 5), out[7..12]);
    }
}
