//! The filters on one in-memory `ndarray` block, as `scipy.ndimage` on that
//! block alone: the mode extends the block's own edges. For functions of
//! [`Array::map_blocks`](crate::Array::map_blocks) and
//! [`Array::map_overlap`](crate::Array::map_overlap).
//!
//! To filter a chunked array so that the block boundaries do not show,
//! use the functions of [`ndimage`](super) on the whole array instead:
//! they add the halos and apply the mode at the array's edges only.
//! `map_overlap` with a depth of at least the filter's radius and the
//! boundary rule [`Mode::boundary`] gives the same inside the array; at
//! its edges too for `Reflect`, `Nearest` and `Wrap` (where each edge
//! block holds at least the depth), but not for `Mirror` (no boundary rule)
//! or `Constant` with several filtered axes (Dask pads the corners with
//! the constant, scipy filters them).
//!
//! ```
//! use rask_array::ndimage::{Mode, block};
//! use rask_array::ndarray::array;
//! let img = array![[0.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 0.0]];
//! let smooth = block::uniform_filter(&img, &[3, 3], Mode::Constant(0.0)).unwrap();
//! assert_eq!(smooth, array![[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]);
//! ```
//!
//! Under `map_overlap`, a 5-wide median per block equals the whole-array
//! filter:
//!
//! ```
//! # use rask_local as _;
//! use rask_array::{Array, ndimage::{self, Mode, block}, ndarray::ArrayD};
//! # fn main() -> rask_core::Result<()> {
//! let x = Array::from_ndarray(ArrayD::from_shape_fn(vec![40], |i| (i[0] * 37 % 11) as f64), &[10])?;
//! let mode = Mode::Reflect;
//! let per_block = x.map_overlap(&[2], mode.boundary().unwrap(), move |b| {
//!     block::median_filter(b, &[5], mode).expect("one size for one axis")
//! })?;
//! let whole = ndimage::median_filter(&x, &[5], mode)?;
//! assert_eq!(per_block.compute()?, whole.compute()?);
//! # Ok(())
//! # }
//! ```

use ndarray::{Array, ArrayBase, Data, Dimension};

use super::{Mode, on_block};
use crate::element::{Float, Number};
use crate::ndimage::engine::Spec;

/// Runs `spec` on `x` and gives the result `x`'s dimension type back.
fn run<T: Number, S: Data<Elem = T>, D: Dimension>(
    op: &str,
    x: &ArrayBase<S, D>,
    spec: Spec,
    mode: Mode,
) -> rask_core::Result<Array<T, D>> {
    let out = on_block(op, x.view().into_dyn(), spec, mode)?;
    Ok(out
        .into_dimensionality::<D>()
        .expect("a filter keeps the block's number of axes"))
}

/// [`ndimage::gaussian_filter`](super::gaussian_filter) on one block
/// (`truncate=4.0`).
///
/// # Errors
///
/// When `sigma` does not give one finite value >= 0 per axis.
///
/// ```
/// use rask_array::ndimage::{Mode, block};
/// use rask_array::ndarray::Array2;
/// let img = Array2::<f32>::ones((16, 16));
/// let s = block::gaussian_filter(&img, &[1.0, 1.0], Mode::Reflect).unwrap();
/// assert!(s.iter().all(|v| (v - 1.0).abs() < 1e-6));
/// ```
pub fn gaussian_filter<T: Float, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    sigma: &[f64],
    mode: Mode,
) -> rask_core::Result<Array<T, D>> {
    gaussian_filter_truncated(x, sigma, mode, 4.0)
}

/// [`ndimage::gaussian_filter_truncated`](super::gaussian_filter_truncated)
/// on one block.
///
/// ```
/// use rask_array::ndimage::{Mode, block};
/// use rask_array::ndarray::array;
/// let s = block::gaussian_filter_truncated(&array![0.0, 1.0, 0.0], &[1.0], Mode::Constant(0.0), 1.0).unwrap();
/// assert!(s[1] > s[0] && s[0] == s[2]);
/// ```
pub fn gaussian_filter_truncated<T: Float, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    sigma: &[f64],
    mode: Mode,
    truncate: f64,
) -> rask_core::Result<Array<T, D>> {
    let spec = Spec::Gaussian {
        sigma: sigma.to_vec(),
        truncate,
    };
    run("gaussian_filter", x, spec, mode)
}

/// [`ndimage::uniform_filter`](super::uniform_filter) on one block.
///
/// ```
/// use rask_array::ndimage::{Mode, block};
/// use rask_array::ndarray::array;
/// let m = block::uniform_filter(&array![0.0, 3.0, 6.0], &[3], Mode::Wrap).unwrap();
/// assert_eq!(m, array![3.0, 3.0, 3.0]);
/// ```
pub fn uniform_filter<T: Float, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    size: &[usize],
    mode: Mode,
) -> rask_core::Result<Array<T, D>> {
    let spec = Spec::Uniform {
        size: size.to_vec(),
    };
    run("uniform_filter", x, spec, mode)
}

/// [`ndimage::median_filter`](super::median_filter) on one block.
///
/// ```
/// use rask_array::ndimage::{Mode, block};
/// use rask_array::ndarray::array;
/// let m = block::median_filter(&array![3u8, 200, 4, 5], &[3], Mode::Nearest).unwrap();
/// assert_eq!(m, array![3u8, 4, 5, 5]);
/// ```
pub fn median_filter<T: Number, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    size: &[usize],
    mode: Mode,
) -> rask_core::Result<Array<T, D>> {
    let spec = Spec::Median {
        size: size.to_vec(),
    };
    run("median_filter", x, spec, mode)
}

/// [`ndimage::minimum_filter`](super::minimum_filter) on one block.
///
/// ```
/// use rask_array::ndimage::{Mode, block};
/// use rask_array::ndarray::array;
/// let m = block::minimum_filter(&array![3, 1, 4, 1, 5], &[2], Mode::Reflect).unwrap();
/// assert_eq!(m, array![3, 1, 1, 1, 1]);
/// ```
pub fn minimum_filter<T: Number, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    size: &[usize],
    mode: Mode,
) -> rask_core::Result<Array<T, D>> {
    let spec = Spec::Minimum {
        size: size.to_vec(),
    };
    run("minimum_filter", x, spec, mode)
}

/// [`ndimage::maximum_filter`](super::maximum_filter) on one block.
///
/// ```
/// use rask_array::ndimage::{Mode, block};
/// use rask_array::ndarray::array;
/// let m = block::maximum_filter(&array![3, 1, 4, 1, 5], &[3], Mode::Mirror).unwrap();
/// assert_eq!(m, array![3, 4, 4, 5, 5]);
/// ```
pub fn maximum_filter<T: Number, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    size: &[usize],
    mode: Mode,
) -> rask_core::Result<Array<T, D>> {
    let spec = Spec::Maximum {
        size: size.to_vec(),
    };
    run("maximum_filter", x, spec, mode)
}

/// [`ndimage::sobel`](super::sobel) on one block.
///
/// ```
/// use rask_array::ndimage::{Mode, block};
/// use rask_array::ndarray::array;
/// let d = block::sobel(&array![0.0, 1.0, 2.0, 3.0], 0, Mode::Nearest).unwrap();
/// assert_eq!(d, array![1.0, 2.0, 2.0, 1.0]);
/// ```
pub fn sobel<T: Float, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    axis: usize,
    mode: Mode,
) -> rask_core::Result<Array<T, D>> {
    run("sobel", x, Spec::Sobel { axis }, mode)
}

/// [`ndimage::laplace`](super::laplace) on one block.
///
/// ```
/// use rask_array::ndimage::{Mode, block};
/// use rask_array::ndarray::array;
/// let l = block::laplace(&array![0.0, 1.0, 4.0, 9.0], Mode::Wrap).unwrap();
/// assert_eq!(l, array![10.0, 2.0, 2.0, -14.0]);
/// ```
pub fn laplace<T: Float, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    mode: Mode,
) -> rask_core::Result<Array<T, D>> {
    run("laplace", x, Spec::Laplace, mode)
}

/// [`ndimage::gaussian_gradient_magnitude`](super::gaussian_gradient_magnitude)
/// on one block.
///
/// ```
/// use rask_array::ndimage::{Mode, block};
/// use rask_array::ndarray::Array1;
/// let ramp = Array1::from_shape_fn(30, |i| 2.0 * i as f64);
/// let g = block::gaussian_gradient_magnitude(&ramp, &[1.0], Mode::Nearest).unwrap();
/// assert!((g[15] - 2.0).abs() < 1e-2);
/// ```
pub fn gaussian_gradient_magnitude<T: Float, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    sigma: &[f64],
    mode: Mode,
) -> rask_core::Result<Array<T, D>> {
    let spec = Spec::GradientMagnitude {
        sigma: sigma.to_vec(),
        truncate: 4.0,
    };
    run("gaussian_gradient_magnitude", x, spec, mode)
}
