//! Image filters like `scipy.ndimage`: gaussian, uniform, median,
//! minimum/maximum, Sobel, Laplace and gaussian gradient magnitude, with
//! scipy's boundary modes ([`Mode`]).
//!
//! Every filter comes twice:
//!
//! * on a whole chunked [`Array`] (the functions of this module): rask
//!   grows every block by the filter's reach along each axis (its *halo*,
//!   from the neighbouring blocks through [`Array::overlap`]), filters
//!   it, and keeps the block's own part. The result equals
//!   `scipy.ndimage` on the whole array, at the array's outer edges too:
//!   the mode applies only there, inside the array the halos are the
//!   neighbours' data, so the block boundaries do not show;
//! * on one `ndarray` block ([`block`]), for `map_blocks`/`map_overlap`,
//!   as scipy on that block alone.
//!
//! ```
//! # use rask_local as _;
//! use rask_array::{Array, ndimage};
//! # fn main() -> rask_core::Result<()> {
//! let x: Array<f32> = Array::ones(&[4, 64, 64], &[1, 32, 32])?;
//! let smooth: Array<f32> = ndimage::gaussian_filter(&x, &[0.0, 2.0, 2.0], ndimage::Mode::Reflect)?;
//! assert_eq!(smooth.chunks(), x.chunks());
//! assert!(smooth.compute()?.iter().all(|&v| (v - 1.0).abs() < 1e-6));
//! # Ok(())
//! # }
//! ```
//!
//! # Halos deeper than a block
//!
//! The halo along an axis is the filter's radius there: `int(truncate *
//! sigma + 0.5)` for the gaussian filters, `size / 2` for the box filters,
//! 1 for Sobel and Laplace. An axis held in one block needs no halo. Where
//! a block along a chunked axis is smaller than the halo, rask **rechunks
//! that axis automatically**, as Dask's `map_overlap` does: neighbouring
//! blocks are merged until each holds at least the halo (an axis shorter
//! than the halo becomes one block). The result then has the merged
//! chunks; every other result has the input's chunks.
//!
//! # Precision and types
//!
//! The smoothing filters and derivatives (`gaussian_filter`,
//! `uniform_filter`, `sobel`, `laplace`, `gaussian_gradient_magnitude`)
//! take `f32` or `f64` arrays and compute in `f64`, as scipy does, rounding
//! to the element type between the 1-D passes as scipy's output array
//! does; the terms are summed in scipy's order, so `f64` results agree
//! with scipy to a few units in the last place. The rank filters
//! (`median_filter`, `minimum_filter`, `maximum_filter`) take any number
//! type and are exact. NaN in a rank filter's window gives an unspecified
//! element of the window.
//!
//! # Plan
//!
//! Two layers: the overlap layer (with [`Boundary::None`] at the array's
//! edges, or [`Boundary::Periodic`] for [`Mode::Wrap`]), then one
//! registered kernel `rask.array.ndimage<T>` per block holding the filter,
//! the mode and the block's halo widths, which filters and trims in one
//! go, so the graph can run on a cluster. Separable filters are 1-D passes
//! per axis over tiles of contiguous rows (see the `engine` notes).

mod engine;

pub mod block;

use std::marker::PhantomData;

use ndarray::ArrayD;
use rask_core::{Kernel, Op, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::{Array, BlockTask, block_arg, block_key, block_value};
use crate::chunks::{Chunks, fmt_shape};
use crate::element::{Float, Number};
use crate::kernels::{elem_name, register_numbers};
use crate::overlap::Boundary;
use engine::{Halo, Spec};

/// What lies beyond the edges of the array, as scipy's `mode=`. For the
/// line `a b c d`:
///
/// | mode | extended |
/// | --- | --- |
/// | `Reflect` | `d c b a \| a b c d \| d c b a` (scipy's default) |
/// | `Mirror` | `d c b \| a b c d \| c b a` |
/// | `Nearest` | `a a a a \| a b c d \| d d d d` |
/// | `Wrap` | `a b c d \| a b c d \| a b c d` |
/// | `Constant(k)` | `k k k k \| a b c d \| k k k k` |
///
/// Beyond one length the pattern repeats, as in scipy.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, ndimage::{self, Mode}, ndarray::array};
/// # fn main() -> rask_core::Result<()> {
/// let x = Array::from_ndarray(array![0.0, 0.0, 3.0].into_dyn(), &[3])?;
/// let at_edge = |m| -> rask_core::Result<f64> {
///     Ok(ndimage::uniform_filter(&x, &[3], m)?.compute()?[[2]])
/// };
/// assert_eq!(at_edge(Mode::Reflect)?, 2.0);      // mean of 0, 3, 3
/// assert_eq!(at_edge(Mode::Mirror)?, 1.0);       // mean of 0, 3, 0
/// assert_eq!(at_edge(Mode::Constant(6.0))?, 3.0); // mean of 0, 3, 6
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Mode {
    /// The line mirrored about its edge, the edge element repeated
    /// (scipy's `'reflect'`, NumPy's `pad(mode="symmetric")`).
    Reflect,
    /// The line mirrored about its edge element, which is not repeated
    /// (scipy's `'mirror'`, NumPy's `pad(mode="reflect")`).
    Mirror,
    /// The edge element repeated (scipy's `'nearest'`).
    Nearest,
    /// The other end of the line (scipy's `'wrap'`).
    Wrap,
    /// A constant (scipy's `'constant'` with `cval`), converted to the
    /// element type by the rank filters.
    Constant(f64),
}

impl Mode {
    /// The [`Boundary`] rule of [`Array::overlap`] that pads an array's
    /// edges as this mode extends them, for per-block filters under
    /// [`Array::map_overlap`](crate::Array::map_overlap): `Reflect`,
    /// `Nearest` and `Constant` have their namesakes, `Wrap` is
    /// `Periodic`; `Mirror` has none (`None`).
    ///
    /// ```
    /// use rask_array::{Boundary, ndimage::Mode};
    /// assert_eq!(Mode::Wrap.boundary::<f32>(), Some(Boundary::Periodic));
    /// assert_eq!(Mode::Constant(2.0).boundary::<u8>(), Some(Boundary::Constant(2)));
    /// assert_eq!(Mode::Mirror.boundary::<f64>(), None);
    /// ```
    pub fn boundary<T: Number>(self) -> Option<Boundary<T>> {
        match self {
            Mode::Reflect => Some(Boundary::Reflect),
            Mode::Nearest => Some(Boundary::Nearest),
            Mode::Wrap => Some(Boundary::Periodic),
            Mode::Constant(c) => Some(Boundary::Constant(T::from_f64(c))),
            Mode::Mirror => None,
        }
    }

    /// The constant beyond the edges (0 unless `Constant`).
    fn cval(self) -> f64 {
        match self {
            Mode::Constant(c) => c,
            _ => 0.0,
        }
    }
}

/// The largest halo a gaussian filter may ask for, per axis: far beyond
/// any image, small enough that the kernel fits in memory.
const MAX_RADIUS: usize = 1 << 20;

/// Why `spec` does not suit an array of `shape`, if it does not; `op`
/// names the function.
fn check_spec(op: &str, spec: &Spec, shape: &[usize]) -> Result<(), String> {
    let ndim = shape.len();
    let count = |what: &str, n: usize, hint: &str| {
        if n == ndim {
            Ok(())
        } else {
            Err(format!(
                "{op}: {n} {what} given for the array of shape {} with {ndim} axes; give one per axis ({hint})",
                fmt_shape(shape)
            ))
        }
    };
    match spec {
        Spec::Gaussian { sigma, truncate } | Spec::GradientMagnitude { sigma, truncate } => {
            count("sigmas", sigma.len(), "0 for no smoothing along an axis")?;
            if let Some((a, s)) = sigma
                .iter()
                .enumerate()
                .find(|(_, s)| !s.is_finite() || **s < 0.0)
            {
                return Err(format!(
                    "{op}: sigma {s} along axis {a} is not a finite number >= 0; give 0 for no smoothing along an axis"
                ));
            }
            if !truncate.is_finite() || *truncate < 0.0 {
                return Err(format!(
                    "{op}: truncate {truncate} is not a finite number >= 0 (scipy's default is 4.0)"
                ));
            }
            if let Some((a, s)) = sigma
                .iter()
                .enumerate()
                .find(|(_, s)| truncate * **s + 0.5 > MAX_RADIUS as f64)
            {
                return Err(format!(
                    "{op}: sigma {s} along axis {a} with truncate {truncate} asks for a kernel radius above {MAX_RADIUS}; use a smaller sigma or truncate"
                ));
            }
        }
        Spec::Uniform { size }
        | Spec::Minimum { size }
        | Spec::Maximum { size }
        | Spec::Median { size } => {
            count("sizes", size.len(), "1 for no filtering along an axis")?;
            if let Some(a) = size.iter().position(|&s| s == 0) {
                return Err(format!(
                    "{op}: size 0 along axis {a}; a window holds at least 1 element (1 leaves the axis alone)"
                ));
            }
            if let Some((a, s)) = size.iter().enumerate().find(|(_, s)| **s > 2 * MAX_RADIUS) {
                return Err(format!(
                    "{op}: size {s} along axis {a} is above {}; use a smaller window",
                    2 * MAX_RADIUS
                ));
            }
            if matches!(spec, Spec::Median { .. })
                && size
                    .iter()
                    .try_fold(1usize, |n, &s| n.checked_mul(s))
                    .is_none_or(|n| n > 1 << 24)
            {
                return Err(format!(
                    "{op}: the window {} holds more than 2^24 elements; use a smaller window",
                    fmt_shape(size)
                ));
            }
        }
        Spec::Sobel { axis } => {
            if *axis >= ndim {
                return Err(format!(
                    "{op}: axis {axis} is out of range for the array of shape {} with {ndim} axes",
                    fmt_shape(shape)
                ));
            }
        }
        Spec::Laplace => {}
    }
    Ok(())
}

/// The chunks of one axis merged so that every block holds at least
/// `depth` elements (one block when the axis is shorter).
fn merge_small_blocks(sizes: &[usize], depth: usize) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    let mut run = 0;
    for &s in sizes {
        run += s;
        if run >= depth {
            out.push(run);
            run = 0;
        }
    }
    if run > 0 {
        match out.last_mut() {
            Some(last) => *last += run,
            None => out.push(run),
        }
    }
    out
}

/// The filter `spec` on the whole array `x`, or an invalid array saying
/// why not.
fn filter_array<T: Number>(op: &str, x: &Array<T>, spec: Spec, mode: Mode) -> Array<T> {
    if let Some(e) = x.error() {
        return Array::invalid(e);
    }
    if let Err(e) = check_spec(op, &spec, x.shape()) {
        return Array::invalid(e);
    }
    let ndim = x.ndim();
    let reach = spec.reach(ndim);
    let empty = x.shape().contains(&0);
    // Blocks at least as long as the halo: merge smaller ones (Dask's
    // automatic rechunk for map_overlap).
    let per_axis: Vec<Vec<usize>> = (0..ndim)
        .map(|a| {
            let sizes = x.chunks().axis(a);
            let smallest = sizes.iter().copied().min().unwrap_or(0);
            if !empty && sizes.len() > 1 && smallest < reach[a] {
                merge_small_blocks(sizes, reach[a])
            } else {
                sizes.to_vec()
            }
        })
        .collect();
    let x = if per_axis.as_slice() != x.chunks().as_slices() {
        match Chunks::new(per_axis, x.shape()).and_then(|c| x.rechunk(c)) {
            Ok(r) => r,
            Err(e) => return Array::invalid(format!("{op}: {e}")),
        }
    } else {
        x.clone()
    };
    let numblocks = x.numblocks();
    // No halo along an axis held in one block (the extension is then
    // local), nor in an empty array.
    let depth: Vec<usize> = (0..ndim)
        .map(|a| {
            if empty || numblocks[a] == 1 {
                0
            } else {
                reach[a]
            }
        })
        .collect();
    let boundary = if mode == Mode::Wrap {
        Boundary::Periodic
    } else {
        Boundary::None
    };
    let grown = x.overlap_or_invalid(&depth, boundary);
    if let Some(e) = grown.error() {
        return Array::invalid(format!("{op}: {e}"));
    }
    let src = grown.node.name.clone();
    let params = (spec.clone(), mode, depth.clone());
    let name = op.replace('_', "-");
    let wrap = mode == Mode::Wrap;
    Array::kernel_layer(
        &name,
        &params,
        x.chunks().clone(),
        vec![grown.input()],
        move |idx| {
            let halos = idx
                .iter()
                .enumerate()
                .map(|(a, &i)| {
                    let d = depth[a];
                    let (first, last) = (i == 0, i + 1 == numblocks[a]);
                    Halo {
                        front: if first && !wrap { 0 } else { d },
                        back: if last && !wrap { 0 } else { d },
                    }
                })
                .collect();
            BlockTask {
                op: Op::kernel_blockwise(FilterBlock::<T> {
                    spec: spec.clone(),
                    mode,
                    halos,
                    _t: PhantomData,
                }),
                deps: vec![block_key(&src, idx)],
            }
        },
    )
}

/// One block of a filter layer: the filter, the mode, and the halo widths
/// of the grown block it reads.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct FilterBlock<T> {
    spec: Spec,
    mode: Mode,
    halos: Vec<Halo>,
    _t: PhantomData<T>,
}

impl<T: Number> Kernel for FilterBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.ndimage", T);
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let block = block_arg::<T>(args, 0)?;
        let core: Vec<usize> = block
            .shape()
            .iter()
            .zip(&self.halos)
            .map(|(&n, h)| n.saturating_sub(h.front + h.back))
            .collect();
        check_spec("ndimage", &self.spec, &core).map_err(TaskError::failed)?;
        engine::filter_block(&self.spec, self.mode, block.view(), &self.halos)
            .map(block_value)
            .map_err(|e| TaskError::failed(format!("ndimage: {e}")))
    }
}

register_numbers!(FilterBlock);

/// The array, or the error it carries.
fn done<T: Number>(a: Array<T>) -> rask_core::Result<Array<T>> {
    a.into_result()
}

/// The gaussian filter (`scipy.ndimage.gaussian_filter`, order 0,
/// `truncate=4.0`): a 1-D gaussian of standard deviation `sigma[a]` along
/// every axis `a`, one axis after the other; sigma 0 leaves an axis alone
/// (a stack of images `[t, y, x]` smoothed per image: `&[0.0, s, s]`).
///
/// # Errors
///
/// When `x` is invalid, `sigma` does not give one value per axis, or a
/// sigma is negative or not finite.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, ndimage::{self, Mode}};
/// # fn main() -> rask_core::Result<()> {
/// let x: Array<f32> = Array::ones(&[3, 40, 40], &[1, 20, 20])?;
/// let smooth: Array<f32> = ndimage::gaussian_filter(&x, &[0.0, 2.0, 2.0], Mode::Reflect)?;
/// assert!((smooth.sum().compute_scalar()? - 4800.0).abs() < 1e-2);
/// assert!(ndimage::gaussian_filter(&x, &[2.0, 2.0], Mode::Reflect).is_err());
/// # Ok(())
/// # }
/// ```
pub fn gaussian_filter<T: Float>(
    x: &Array<T>,
    sigma: &[f64],
    mode: Mode,
) -> rask_core::Result<Array<T>> {
    gaussian_filter_truncated(x, sigma, mode, 4.0)
}

/// [`gaussian_filter`] with the kernel cut at `truncate` standard
/// deviations (scipy's `truncate=`; the radius is `int(truncate * sigma +
/// 0.5)`).
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, ndimage::{self, Mode}};
/// # fn main() -> rask_core::Result<()> {
/// let x: Array<f64> = Array::ones(&[50], &[10])?;
/// let y = ndimage::gaussian_filter_truncated(&x, &[3.0], Mode::Nearest, 2.0)?;
/// assert!(y.compute()?.iter().all(|v| (v - 1.0).abs() < 1e-12));
/// # Ok(())
/// # }
/// ```
pub fn gaussian_filter_truncated<T: Float>(
    x: &Array<T>,
    sigma: &[f64],
    mode: Mode,
    truncate: f64,
) -> rask_core::Result<Array<T>> {
    let spec = Spec::Gaussian {
        sigma: sigma.to_vec(),
        truncate,
    };
    done(filter_array("gaussian_filter", x, spec, mode))
}

/// The mean over a box of `size[a]` elements along every axis
/// (`scipy.ndimage.uniform_filter`); size 1 leaves an axis alone. For an
/// even size the box reaches one element further back than ahead, as in
/// scipy.
///
/// # Errors
///
/// When `x` is invalid or `size` does not give one size of at least 1 per
/// axis.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, ndimage::{self, Mode}, ndarray::array};
/// # fn main() -> rask_core::Result<()> {
/// let x = Array::from_ndarray(array![0.0, 3.0, 6.0, 9.0].into_dyn(), &[2])?;
/// let y = ndimage::uniform_filter(&x, &[3], Mode::Nearest)?.compute()?;
/// assert_eq!(y, array![1.0, 3.0, 6.0, 8.0].into_dyn());
/// # Ok(())
/// # }
/// ```
pub fn uniform_filter<T: Float>(
    x: &Array<T>,
    size: &[usize],
    mode: Mode,
) -> rask_core::Result<Array<T>> {
    let spec = Spec::Uniform {
        size: size.to_vec(),
    };
    done(filter_array("uniform_filter", x, spec, mode))
}

/// The median over a box of `size[a]` elements along every axis
/// (`scipy.ndimage.median_filter`): the element of rank `n / 2` of the `n`
/// in the box (for an even `n`, the upper of the two middle ones, as
/// scipy). Any number type.
///
/// # Errors
///
/// As [`uniform_filter`]; also a box of more than 2^24 elements.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, ndimage::{self, Mode}, ndarray::array};
/// # fn main() -> rask_core::Result<()> {
/// let x = Array::from_ndarray(array![1u16, 90, 2, 3, 4].into_dyn(), &[2])?;
/// let y = ndimage::median_filter(&x, &[3], Mode::Reflect)?.compute()?;
/// assert_eq!(y, array![1u16, 2, 3, 3, 4].into_dyn());
/// # Ok(())
/// # }
/// ```
pub fn median_filter<T: Number>(
    x: &Array<T>,
    size: &[usize],
    mode: Mode,
) -> rask_core::Result<Array<T>> {
    let spec = Spec::Median {
        size: size.to_vec(),
    };
    done(filter_array("median_filter", x, spec, mode))
}

/// The minimum over a box of `size[a]` elements along every axis
/// (`scipy.ndimage.minimum_filter`). Any number type.
///
/// # Errors
///
/// As [`uniform_filter`].
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, ndimage::{self, Mode}, ndarray::array};
/// # fn main() -> rask_core::Result<()> {
/// let x = Array::from_ndarray(array![5, 1, 7, 8, 2].into_dyn(), &[2])?;
/// let y = ndimage::minimum_filter(&x, &[3], Mode::Constant(0.0))?.compute()?;
/// assert_eq!(y, array![0, 1, 1, 2, 0].into_dyn());
/// # Ok(())
/// # }
/// ```
pub fn minimum_filter<T: Number>(
    x: &Array<T>,
    size: &[usize],
    mode: Mode,
) -> rask_core::Result<Array<T>> {
    let spec = Spec::Minimum {
        size: size.to_vec(),
    };
    done(filter_array("minimum_filter", x, spec, mode))
}

/// The maximum over a box of `size[a]` elements along every axis
/// (`scipy.ndimage.maximum_filter`). Any number type.
///
/// # Errors
///
/// As [`uniform_filter`].
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, ndimage::{self, Mode}, ndarray::array};
/// # fn main() -> rask_core::Result<()> {
/// let x = Array::from_ndarray(array![5, 1, 7, 8, 2].into_dyn(), &[2])?;
/// let y = ndimage::maximum_filter(&x, &[3], Mode::Wrap)?.compute()?;
/// assert_eq!(y, array![5, 7, 8, 8, 8].into_dyn());
/// # Ok(())
/// # }
/// ```
pub fn maximum_filter<T: Number>(
    x: &Array<T>,
    size: &[usize],
    mode: Mode,
) -> rask_core::Result<Array<T>> {
    let spec = Spec::Maximum {
        size: size.to_vec(),
    };
    done(filter_array("maximum_filter", x, spec, mode))
}

/// The Sobel derivative along `axis` (`scipy.ndimage.sobel`): `[-1, 0, 1]`
/// along `axis`, then the smoothing `[1, 2, 1]` along every other axis.
///
/// # Errors
///
/// When `x` is invalid or has no axis `axis`.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, ndimage::{self, Mode}, ndarray::ArrayD};
/// # fn main() -> rask_core::Result<()> {
/// // A ramp rising by 1 along axis 1: the derivative is 2 * (1 + 2 + 1).
/// let ramp = ArrayD::from_shape_fn(vec![6, 6], |i| i[1] as f64);
/// let x = Array::from_ndarray(ramp, &[3, 3])?;
/// let d = ndimage::sobel(&x, 1, Mode::Nearest)?.compute()?;
/// assert_eq!(d[[2, 2]], 8.0);
/// # Ok(())
/// # }
/// ```
pub fn sobel<T: Float>(x: &Array<T>, axis: usize, mode: Mode) -> rask_core::Result<Array<T>> {
    done(filter_array("sobel", x, Spec::Sobel { axis }, mode))
}

/// The Laplace filter (`scipy.ndimage.laplace`): the sum over the axes of
/// the second differences `[1, -2, 1]`.
///
/// # Errors
///
/// When `x` is invalid.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, ndimage::{self, Mode}, ndarray::ArrayD};
/// # fn main() -> rask_core::Result<()> {
/// // x² + y² has Laplacian 4 everywhere inside.
/// let bowl = ArrayD::from_shape_fn(vec![6, 6], |i| (i[0] * i[0] + i[1] * i[1]) as f64);
/// let x = Array::from_ndarray(bowl, &[3, 3])?;
/// let l = ndimage::laplace(&x, Mode::Reflect)?.compute()?;
/// assert_eq!(l[[2, 3]], 4.0);
/// # Ok(())
/// # }
/// ```
pub fn laplace<T: Float>(x: &Array<T>, mode: Mode) -> rask_core::Result<Array<T>> {
    done(filter_array("laplace", x, Spec::Laplace, mode))
}

/// The gaussian gradient magnitude
/// (`scipy.ndimage.gaussian_gradient_magnitude`, `truncate=4.0`): the root
/// of the sum over the axes of the squared gaussian derivatives along each
/// axis (order 1 along it, order 0 along the others). As in scipy, an axis
/// with sigma 0 is neither smoothed nor differentiated.
///
/// # Errors
///
/// As [`gaussian_filter`].
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, ndimage::{self, Mode}, ndarray::ArrayD};
/// # fn main() -> rask_core::Result<()> {
/// let ramp = ArrayD::from_shape_fn(vec![40, 40], |i| 3.0 * i[0] as f64);
/// let x = Array::from_ndarray(ramp, &[20, 20])?;
/// let g = ndimage::gaussian_gradient_magnitude(&x, &[1.5, 1.5], Mode::Nearest)?.compute()?;
/// assert!((g[[20, 20]] - 3.0).abs() < 1e-2);
/// # Ok(())
/// # }
/// ```
pub fn gaussian_gradient_magnitude<T: Float>(
    x: &Array<T>,
    sigma: &[f64],
    mode: Mode,
) -> rask_core::Result<Array<T>> {
    let spec = Spec::GradientMagnitude {
        sigma: sigma.to_vec(),
        truncate: 4.0,
    };
    done(filter_array("gaussian_gradient_magnitude", x, spec, mode))
}

/// One filter on one block, for [`block`]'s functions: the block taken as
/// the whole array.
fn on_block<T: Number>(
    op: &str,
    block: ndarray::ArrayViewD<'_, T>,
    spec: Spec,
    mode: Mode,
) -> rask_core::Result<ArrayD<T>> {
    check_spec(op, &spec, block.shape()).map_err(|e| rask_core::Error::invalid(op, e))?;
    let halos = vec![Halo::default(); block.ndim()];
    engine::filter_block(&spec, mode, block, &halos).map_err(|e| rask_core::Error::invalid(op, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_blocks_merge_until_they_hold_the_halo() {
        assert_eq!(merge_small_blocks(&[1, 1, 1, 1, 1], 2), [2, 3]);
        assert_eq!(merge_small_blocks(&[5, 1, 5], 2), [5, 6]);
        assert_eq!(merge_small_blocks(&[2, 2], 8), [4]);
        assert_eq!(merge_small_blocks(&[3, 3, 3], 3), [3, 3, 3]);
    }
}
