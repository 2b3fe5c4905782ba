//! Seeded random arrays.
//!
//! Every block draws from its own stream, seeded from the array's seed and
//! the block's position, so blocks are independent, can be made in any order
//! on any worker, and the same seed and chunks always give the same array.
//! (The streams are not NumPy's: equal seeds do not give NumPy's numbers.)

use ndarray::{ArrayD, IxDyn};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand_distr::{Distribution, StandardNormal, StandardUniform};
use rask_core::Result;

use crate::array::Array;
use crate::chunks::IntoChunks;
use crate::creation::BlockInfo;

/// The seed of one block's stream: the array seed mixed with the block's
/// position (SplitMix64, a bijection, so distinct blocks get distinct seeds).
fn block_seed(seed: u64, info: &BlockInfo) -> u64 {
    let linear = info
        .index
        .iter()
        .zip(&info.numblocks)
        .fold(0u64, |acc, (&i, &n)| acc * n as u64 + i as u64);
    let mut z = seed ^ linear.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn sampled(
    prefix: &'static str,
    shape: &[usize],
    chunks: impl IntoChunks,
    seed: u64,
    draw: impl Fn(&mut SmallRng) -> f64 + Send + Sync + 'static,
) -> Result<Array<f64>> {
    let chunks = chunks.into_chunks(shape, size_of::<f64>())?;
    Ok(Array::generated(prefix, chunks, move |info| {
        let mut rng = SmallRng::seed_from_u64(block_seed(seed, info));
        let n: usize = info.shape.iter().product();
        let data: Vec<f64> = (0..n).map(|_| draw(&mut rng)).collect();
        ArrayD::from_shape_vec(IxDyn(&info.shape), data).expect("as many values as the block holds")
    }))
}

/// Uniform values in `[0, 1)`.
///
/// ```
/// let x = rask_array::random::uniform(&[1000, 1000], &[250, 250], 42).unwrap();
/// let m = x.mean().compute_scalar().unwrap();
/// assert!((m - 0.5).abs() < 0.01);
/// ```
pub fn uniform(shape: &[usize], chunks: impl IntoChunks, seed: u64) -> Result<Array<f64>> {
    sampled("uniform", shape, chunks, seed, |rng| {
        StandardUniform.sample(rng)
    })
}

/// Uniform values in `[low, high)`.
pub fn uniform_range(
    low: f64,
    high: f64,
    shape: &[usize],
    chunks: impl IntoChunks,
    seed: u64,
) -> Result<Array<f64>> {
    sampled("uniform", shape, chunks, seed, move |rng| {
        let u: f64 = StandardUniform.sample(rng);
        low + (high - low) * u
    })
}

/// Standard normal values (mean 0, standard deviation 1).
///
/// ```
/// let x = rask_array::random::normal(&[200_000], &[50_000], 7).unwrap();
/// assert!((x.std(0.0).compute_scalar().unwrap() - 1.0).abs() < 0.01);
/// ```
pub fn normal(shape: &[usize], chunks: impl IntoChunks, seed: u64) -> Result<Array<f64>> {
    sampled("normal", shape, chunks, seed, |rng| {
        StandardNormal.sample(rng)
    })
}

/// Normal values with mean `loc` and standard deviation `scale`.
pub fn normal_with(
    loc: f64,
    scale: f64,
    shape: &[usize],
    chunks: impl IntoChunks,
    seed: u64,
) -> Result<Array<f64>> {
    sampled("normal", shape, chunks, seed, move |rng| {
        let z: f64 = StandardNormal.sample(rng);
        loc + scale * z
    })
}
