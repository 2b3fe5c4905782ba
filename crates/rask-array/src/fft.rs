//! Discrete Fourier transforms, as `numpy.fft` (`dask.array.fft`).
//!
//! [`fft`], [`ifft`], [`rfft`], [`irfft`] along one axis (with `_n`
//! variants that crop or zero-pad the axis to `n` points), their 2-d
//! ([`fft2`], ...) and n-d ([`fftn`], ...) forms, the sample frequencies
//! [`fftfreq`] and [`rfftfreq`], and [`fftshift`] / [`ifftshift`].
//!
//! Results equal NumPy's with `norm="backward"` (no scaling forward, `1/n`
//! inverse) and NumPy 2's types: a transform of `f32` or `Complex<f32>`
//! gives `Complex<f32>` (`complex64`), of `f64` or `Complex<f64>` gives
//! `Complex<f64>` (`complex128`); `irfft` gives the real type back. The
//! transforms run per block through `rustfft` and `realfft`.
//!
//! # Chunks
//!
//! A transformed axis must be one chunk, as in Dask: every output element
//! depends on every input element along it. Other axes may be chunked at
//! will; each block is transformed on its own, in one task (an n-d
//! transform is one task per block too, the axes done one after the
//! other). An axis split in several chunks is an error that says how to
//! rechunk:
//!
//! ```
//! # use rask_local as _;
//! use rask_array::{Array, ChunkSpec, Complex, fft};
//! use rask_array::ndarray::Axis;
//! # fn main() -> rask_core::Result<()> {
//! let x = Array::<f32>::ones(&[4, 6, 8], &[2, 3, 4])?;
//! let err = fft::rfft(&x, Axis(2)).unwrap_err();
//! assert!(err.to_string().contains("rechunk"), "{err}");
//! let x = x.rechunk([ChunkSpec::Size(2), ChunkSpec::Size(3), ChunkSpec::Whole])?;
//! let spec: Array<Complex<f32>> = fft::rfft(&x, Axis(2))?;
//! assert_eq!(spec.shape(), &[4, 6, 5]);
//! // The transform of ones: 8 at frequency 0, nothing elsewhere.
//! let s = spec.compute()?;
//! assert_eq!(s[[0, 0, 0]], Complex::new(8.0, 0.0));
//! assert_eq!(s[[3, 5, 2]], Complex::new(0.0, 0.0));
//! # Ok(())
//! # }
//! ```

mod kernel;

use ndarray::{ArrayD, Axis};
use num_complex::Complex;
use rask_core::{Error, Result};
use rustfft::FftNum;

use self::kernel::{Step, transform};
use crate::array::Array;
use crate::element::{ComplexElement, Element, Float};
use crate::slicing::{SliceElem, range_step};

/// The real types the transforms compute in: `f32` and `f64`.
pub trait FftFloat: Float + FftNum + FftElement<Real = Self> {
    /// The complex type of their spectra: `Complex<Self>`.
    type Spectrum: ComplexElement<Part = Self> + FftElement<Real = Self>;
}

impl FftFloat for f32 {
    type Spectrum = Complex<f32>;
}

impl FftFloat for f64 {
    type Spectrum = Complex<f64>;
}

/// The spectrum type of element type `E`: `Complex<f32>` for `f32` and
/// `Complex<f32>`, `Complex<f64>` for `f64` and `Complex<f64>`.
pub type SpectrumOf<E> = <<E as FftElement>::Real as FftFloat>::Spectrum;

/// What [`fft`] and [`ifft`] take: the real types (`f32`, `f64`, taken as
/// complex numbers with imaginary part 0) and the complex ones.
pub trait FftElement: Element {
    /// The real type of the computation: the element type, or its parts'.
    type Real: FftFloat;
    /// A block of these, as transform input.
    #[doc(hidden)]
    fn into_work(block: ArrayD<Self>) -> Work<Self::Real>;
    /// A transform's result as a block of these, or what it is instead.
    #[doc(hidden)]
    fn from_work(work: Work<Self::Real>) -> std::result::Result<ArrayD<Self>, &'static str>;
}

/// A block between the steps of a transform: real (before an `rfft`,
/// after an `irfft`) or complex.
#[doc(hidden)]
pub enum Work<R: FftFloat> {
    Real(ArrayD<R>),
    Complex(ArrayD<R::Spectrum>),
}

macro_rules! fft_element {
    ($($r:ty),*) => {$(
        impl FftElement for $r {
            type Real = $r;
            fn into_work(block: ArrayD<$r>) -> Work<$r> {
                Work::Real(block)
            }
            fn from_work(work: Work<$r>) -> std::result::Result<ArrayD<$r>, &'static str> {
                match work {
                    Work::Real(b) => Ok(b),
                    Work::Complex(_) => Err("a complex block"),
                }
            }
        }
        impl FftElement for Complex<$r> {
            type Real = $r;
            fn into_work(block: ArrayD<Complex<$r>>) -> Work<$r> {
                Work::Complex(block)
            }
            fn from_work(work: Work<$r>) -> std::result::Result<ArrayD<Complex<$r>>, &'static str> {
                match work {
                    Work::Complex(b) => Ok(b),
                    Work::Real(_) => Err("a real block"),
                }
            }
        }
    )*};
}

fft_element!(f32, f64);

/// `axis` checked against an array of `ndim` axes.
fn check_axis(what: &str, axis: Axis, ndim: usize) -> Result<usize> {
    if axis.0 < ndim {
        Ok(axis.0)
    } else {
        Err(Error::invalid(
            "fft axis",
            format!(
                "{what} along axis {} of an array with {ndim} axes; use an axis below {ndim}",
                axis.0
            ),
        ))
    }
}

/// `n` checked: at least one point.
fn check_n(what: &str, n: usize) -> Result<usize> {
    if n == 0 {
        Err(Error::invalid(
            "fft length",
            format!("{what} of 0 points; the number of points must be at least 1"),
        ))
    } else {
        Ok(n)
    }
}

/// The axes of an n-d transform: `axes`, or all of them; checked, without
/// repeats.
fn check_axes(what: &str, axes: Option<&[Axis]>, ndim: usize) -> Result<Vec<usize>> {
    let axes: Vec<usize> = match axes {
        Some(a) => a
            .iter()
            .map(|&a| check_axis(what, a, ndim))
            .collect::<Result<_>>()?,
        None => (0..ndim).collect(),
    };
    for (i, a) in axes.iter().enumerate() {
        if axes[..i].contains(a) {
            return Err(Error::invalid(
                "fft axes",
                format!("{what} over axes {axes:?} names axis {a} twice; name each axis once"),
            ));
        }
    }
    if axes.is_empty() {
        return Err(Error::invalid(
            "fft axes",
            format!("{what} over no axes; name at least one"),
        ));
    }
    Ok(axes)
}

/// The 1-d discrete Fourier transform along `axis` (NumPy's
/// `np.fft.fft(x, axis=axis)`), of a real or complex array.
///
/// # Errors
///
/// When `axis` is not an axis of `x`, is split in several chunks (rechunk
/// it to one first), or has length 0.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, Complex, fft, ndarray::{Axis, array}};
/// # fn main() -> rask_core::Result<()> {
/// let x = Array::from_ndarray(array![1.0f64, 2.0, 3.0, 4.0].into_dyn(), &[4])?;
/// let s = fft::fft(&x, Axis(0))?.compute()?;
/// assert_eq!(s[[0]], Complex::new(10.0, 0.0));
/// assert_eq!(s[[2]], Complex::new(-2.0, 0.0));
/// # Ok(())
/// # }
/// ```
pub fn fft<E: FftElement>(x: &Array<E>, axis: Axis) -> Result<Array<SpectrumOf<E>>> {
    let a = check_axis("fft", axis, x.try_shape()?.len())?;
    fft_n(x, x.shape()[a], axis)
}

/// [`fft`] of `n` points: the axis cropped to its first `n` elements or
/// padded with zeros to `n` (NumPy's `np.fft.fft(x, n, axis)`).
pub fn fft_n<E: FftElement>(x: &Array<E>, n: usize, axis: Axis) -> Result<Array<SpectrumOf<E>>> {
    let axis = check_axis("fft", axis, x.try_shape()?.len())?;
    let n = check_n("fft", n)?;
    transform(
        "fft",
        x,
        vec![Step::C2c {
            axis,
            n,
            inverse: false,
        }],
    )
}

/// The inverse of [`fft`] along `axis`, scaled by `1/n` (NumPy's
/// `np.fft.ifft`).
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, fft, ndarray::{Axis, array}};
/// # fn main() -> rask_core::Result<()> {
/// let x = Array::from_ndarray(array![1.0f64, 2.0, 3.0].into_dyn(), &[3])?;
/// let back = fft::ifft(&fft::fft(&x, Axis(0))?, Axis(0))?.real().compute()?;
/// assert!((back[[1]] - 2.0).abs() < 1e-12);
/// # Ok(())
/// # }
/// ```
pub fn ifft<E: FftElement>(x: &Array<E>, axis: Axis) -> Result<Array<SpectrumOf<E>>> {
    let a = check_axis("ifft", axis, x.try_shape()?.len())?;
    ifft_n(x, x.shape()[a], axis)
}

/// [`ifft`] of `n` points (the axis cropped or zero-padded first).
pub fn ifft_n<E: FftElement>(x: &Array<E>, n: usize, axis: Axis) -> Result<Array<SpectrumOf<E>>> {
    let axis = check_axis("ifft", axis, x.try_shape()?.len())?;
    let n = check_n("ifft", n)?;
    transform(
        "ifft",
        x,
        vec![Step::C2c {
            axis,
            n,
            inverse: true,
        }],
    )
}

/// The transform of a real array along `axis`, only the non-negative
/// frequencies: `n / 2 + 1` of them (NumPy's `np.fft.rfft`).
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, Complex, ChunkSpec, fft, ndarray::Axis};
/// # fn main() -> rask_core::Result<()> {
/// let x = Array::<f32>::ones(&[6, 10], [ChunkSpec::Size(2), ChunkSpec::Whole])?;
/// let spec: Array<Complex<f32>> = fft::rfft(&x, Axis(1))?;
/// assert_eq!(spec.shape(), &[6, 6]);
/// # Ok(())
/// # }
/// ```
pub fn rfft<R: FftFloat>(x: &Array<R>, axis: Axis) -> Result<Array<R::Spectrum>> {
    let a = check_axis("rfft", axis, x.try_shape()?.len())?;
    rfft_n(x, x.shape()[a], axis)
}

/// [`rfft`] of `n` points (the axis cropped or zero-padded first).
pub fn rfft_n<R: FftFloat>(x: &Array<R>, n: usize, axis: Axis) -> Result<Array<R::Spectrum>> {
    let axis = check_axis("rfft", axis, x.try_shape()?.len())?;
    let n = check_n("rfft", n)?;
    transform("rfft", x, vec![Step::R2c { axis, n }])
}

/// The inverse of [`rfft`]: a real signal of `2 * (m - 1)` points from `m`
/// non-negative frequencies along `axis` (NumPy's `np.fft.irfft`). For an
/// odd-length signal, say its length with [`irfft_n`].
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, fft, ndarray::{Axis, array}};
/// # fn main() -> rask_core::Result<()> {
/// let x = Array::from_ndarray(array![1.0f64, 2.0, 3.0, 4.0, 5.0].into_dyn(), &[5])?;
/// let spec = fft::rfft(&x, Axis(0))?;
/// assert_eq!(fft::irfft(&spec, Axis(0))?.shape(), &[4]); // 2 * (3 - 1)
/// let back = fft::irfft_n(&spec, 5, Axis(0))?.compute()?;
/// assert!((back[[4]] - 5.0).abs() < 1e-12);
/// # Ok(())
/// # }
/// ```
pub fn irfft<C: FftElement>(x: &Array<C>, axis: Axis) -> Result<Array<C::Real>> {
    let a = check_axis("irfft", axis, x.try_shape()?.len())?;
    irfft_n(x, 2 * x.shape()[a].saturating_sub(1), axis)
}

/// [`irfft`] giving `n` points: the first `n / 2 + 1` frequencies are used
/// (cropped or zero-padded).
pub fn irfft_n<C: FftElement>(x: &Array<C>, n: usize, axis: Axis) -> Result<Array<C::Real>> {
    let axis = check_axis("irfft", axis, x.try_shape()?.len())?;
    let n = check_n("irfft", n)?;
    transform("irfft", x, vec![Step::C2r { axis, n }])
}

/// The n-d transform over `axes` (all axes for `None`), NumPy's
/// `np.fft.fftn(x, axes=axes)`. One task per block, every named axis in
/// one chunk.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, Complex, fft};
/// # fn main() -> rask_core::Result<()> {
/// let x = Array::<f64>::ones(&[2, 3, 4], &[1, 3, 4])?;
/// let s = fft::fftn(&x, Some(&[rask_array::ndarray::Axis(1), rask_array::ndarray::Axis(2)]))?;
/// assert_eq!(s.compute()?[[1, 0, 0]], Complex::new(12.0, 0.0));
/// # Ok(())
/// # }
/// ```
pub fn fftn<E: FftElement>(x: &Array<E>, axes: Option<&[Axis]>) -> Result<Array<SpectrumOf<E>>> {
    nd_c2c("fftn", x, axes, false)
}

/// The inverse of [`fftn`] (NumPy's `np.fft.ifftn`).
pub fn ifftn<E: FftElement>(x: &Array<E>, axes: Option<&[Axis]>) -> Result<Array<SpectrumOf<E>>> {
    nd_c2c("ifftn", x, axes, true)
}

fn nd_c2c<E: FftElement>(
    what: &str,
    x: &Array<E>,
    axes: Option<&[Axis]>,
    inverse: bool,
) -> Result<Array<SpectrumOf<E>>> {
    let shape = x.try_shape()?.to_vec();
    let axes = check_axes(what, axes, shape.len())?;
    // NumPy transforms the last named axis first.
    let steps = axes
        .iter()
        .rev()
        .map(|&axis| {
            Ok(Step::C2c {
                axis,
                n: check_n(what, shape[axis])?,
                inverse,
            })
        })
        .collect::<Result<_>>()?;
    transform(what, x, steps)
}

/// The n-d transform of a real array over `axes` (all for `None`), with
/// only the non-negative frequencies along the last of them (NumPy's
/// `np.fft.rfftn`).
pub fn rfftn<R: FftFloat>(x: &Array<R>, axes: Option<&[Axis]>) -> Result<Array<R::Spectrum>> {
    let shape = x.try_shape()?.to_vec();
    let axes = check_axes("rfftn", axes, shape.len())?;
    let (&last, rest) = axes
        .split_last()
        .expect("check_axes gives at least one axis");
    let mut steps = vec![Step::R2c {
        axis: last,
        n: check_n("rfftn", shape[last])?,
    }];
    for &axis in rest {
        steps.push(Step::C2c {
            axis,
            n: check_n("rfftn", shape[axis])?,
            inverse: false,
        });
    }
    transform("rfftn", x, steps)
}

/// The inverse of [`rfftn`] (NumPy's `np.fft.irfftn`): the last named
/// axis becomes `2 * (m - 1)` real points; see [`irfftn_s`] for other
/// lengths.
pub fn irfftn<C: FftElement>(x: &Array<C>, axes: Option<&[Axis]>) -> Result<Array<C::Real>> {
    let shape = x.try_shape()?.to_vec();
    let axes = check_axes("irfftn", axes, shape.len())?;
    let s: Vec<usize> = axes
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            if i + 1 == axes.len() {
                2 * shape[a].saturating_sub(1)
            } else {
                shape[a]
            }
        })
        .collect();
    irfftn_s(
        x,
        &s,
        Some(&axes.iter().map(|&a| Axis(a)).collect::<Vec<_>>()),
    )
}

/// [`irfftn`] with the output's length along every named axis given
/// (NumPy's `np.fft.irfftn(x, s, axes)`): the other axes are cropped or
/// zero-padded to `s`, the last gives `s[-1]` real points.
pub fn irfftn_s<C: FftElement>(
    x: &Array<C>,
    s: &[usize],
    axes: Option<&[Axis]>,
) -> Result<Array<C::Real>> {
    let shape = x.try_shape()?.to_vec();
    let axes = check_axes("irfftn", axes, shape.len())?;
    if s.len() != axes.len() {
        return Err(Error::invalid(
            "fft lengths",
            format!("irfftn with lengths {s:?} over axes {axes:?}; give one length per axis"),
        ));
    }
    let mut steps = Vec::with_capacity(axes.len());
    for (&axis, &n) in axes.iter().zip(s).take(axes.len() - 1) {
        steps.push(Step::C2c {
            axis,
            n: check_n("irfftn", n)?,
            inverse: true,
        });
    }
    steps.push(Step::C2r {
        axis: axes[axes.len() - 1],
        n: check_n("irfftn", s[s.len() - 1])?,
    });
    transform("irfftn", x, steps)
}

/// The 2-d transform over the last two axes (NumPy's `np.fft.fft2`).
pub fn fft2<E: FftElement>(x: &Array<E>) -> Result<Array<SpectrumOf<E>>> {
    fftn(x, Some(&last_two("fft2", x)?))
}

/// The inverse of [`fft2`] (NumPy's `np.fft.ifft2`).
pub fn ifft2<E: FftElement>(x: &Array<E>) -> Result<Array<SpectrumOf<E>>> {
    ifftn(x, Some(&last_two("ifft2", x)?))
}

/// [`rfftn`] over the last two axes (NumPy's `np.fft.rfft2`).
pub fn rfft2<R: FftFloat>(x: &Array<R>) -> Result<Array<R::Spectrum>> {
    rfftn(x, Some(&last_two("rfft2", x)?))
}

/// [`irfftn`] over the last two axes (NumPy's `np.fft.irfft2`).
pub fn irfft2<C: FftElement>(x: &Array<C>) -> Result<Array<C::Real>> {
    irfftn(x, Some(&last_two("irfft2", x)?))
}

fn last_two<T: Element>(what: &str, x: &Array<T>) -> Result<[Axis; 2]> {
    let ndim = x.try_shape()?.len();
    if ndim < 2 {
        return Err(Error::invalid(
            "fft axes",
            format!("{what} needs at least 2 axes; the array has {ndim}"),
        ));
    }
    Ok([Axis(ndim - 2), Axis(ndim - 1)])
}

/// The sample frequencies of an `n`-point [`fft`] with sample spacing `d`
/// (NumPy's `np.fft.fftfreq(n, d)`): `[0, 1, ..., n/2 - 1, -n/2, ..., -1]
/// / (d * n)` (for even `n`), split into `chunks`.
///
/// ```
/// # use rask_local as _;
/// use rask_array::fft;
/// let f = fft::fftfreq(4, 0.5, &[4]).unwrap().compute().unwrap();
/// assert_eq!(f.into_raw_vec_and_offset().0, vec![0.0, 0.5, -1.0, -0.5]);
/// ```
pub fn fftfreq(n: usize, d: f64, chunks: impl crate::IntoChunks) -> Result<Array<f64>> {
    let n = check_n("fftfreq", n)?;
    let positive = n.div_ceil(2);
    let ints = Array::<f64>::arange(0.0, n as f64, 1.0, chunks)?;
    // i for the first half, i - n for the second: where(i < half, i, i - n).
    let shifted = &ints - n as f64;
    let freq = crate::where_(&ints.lt(positive as f64), &ints, &shifted);
    Ok(freq * (1.0 / (n as f64 * d)))
}

/// The sample frequencies of an `n`-point [`rfft`] with sample spacing `d`
/// (NumPy's `np.fft.rfftfreq(n, d)`): `[0, 1, ..., n/2] / (d * n)`.
///
/// ```
/// # use rask_local as _;
/// use rask_array::fft;
/// let f = fft::rfftfreq(5, 1.0, &[3]).unwrap().compute().unwrap();
/// assert_eq!(f.into_raw_vec_and_offset().0, vec![0.0, 0.2, 0.4]);
/// ```
pub fn rfftfreq(n: usize, d: f64, chunks: impl crate::IntoChunks) -> Result<Array<f64>> {
    let n = check_n("rfftfreq", n)?;
    let ints = Array::<f64>::arange(0.0, (n / 2 + 1) as f64, 1.0, chunks)?;
    Ok(ints * (1.0 / (n as f64 * d)))
}

/// The array with the zero frequency moved to the middle of every axis in
/// `axes` (all for `None`): NumPy's `np.fft.fftshift`, a roll by `n / 2`.
/// Works on chunked axes too (slices and a concatenation).
///
/// ```
/// # use rask_local as _;
/// use rask_array::{fft, ndarray::array};
/// let f = fft::fftfreq(5, 1.0, &[2]).unwrap();
/// let s = fft::fftshift(&f, None).unwrap().compute().unwrap();
/// assert_eq!(s, array![-0.4, -0.2, 0.0, 0.2, 0.4].into_dyn());
/// ```
pub fn fftshift<T: Element>(x: &Array<T>, axes: Option<&[Axis]>) -> Result<Array<T>> {
    shift("fftshift", x, axes, |n| n / 2)
}

/// The inverse of [`fftshift`] (NumPy's `np.fft.ifftshift`): a roll by
/// `-(n / 2)`.
pub fn ifftshift<T: Element>(x: &Array<T>, axes: Option<&[Axis]>) -> Result<Array<T>> {
    shift("ifftshift", x, axes, |n| n - n / 2)
}

/// `x` rolled forward by `by(n)` along each of `axes`.
fn shift<T: Element>(
    what: &str,
    x: &Array<T>,
    axes: Option<&[Axis]>,
    by: impl Fn(usize) -> usize,
) -> Result<Array<T>> {
    let shape = x.try_shape()?.to_vec();
    let axes = match axes {
        Some([]) => return Ok(x.clone()),
        _ => check_axes(what, axes, shape.len())?,
    };
    let mut out = x.clone();
    for axis in axes {
        let n = shape[axis];
        let k = if n == 0 { 0 } else { by(n) % n };
        if k == 0 {
            continue;
        }
        // roll(x, k) = concatenate([x[n-k:], x[:n-k]]).
        let cut = (n - k) as isize;
        let part = |start: Option<isize>, stop: Option<isize>| {
            let mut elems: Vec<SliceElem> = vec![SliceElem::Full; shape.len()];
            elems[axis] = range_step(start, stop, 1);
            out.slice(&elems)
        };
        let (tail, head) = (part(Some(cut), None)?, part(None, Some(cut))?);
        out = crate::concatenate(Axis(axis), &[&tail, &head])?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use ndarray::{Axis, array};
    use num_complex::Complex;
    use rask_local as _;

    use super::*;
    use crate::ChunkSpec;

    #[test]
    fn small_transforms_match_the_definition() {
        let v = [1.0f64, -2.0, 0.5, 3.0, 4.0];
        let x = Array::from_ndarray(array![1.0f64, -2.0, 0.5, 3.0, 4.0].into_dyn(), &[5]).unwrap();
        let s = fft(&x, Axis(0)).unwrap().compute().unwrap();
        for (k, sk) in s.iter().enumerate() {
            let mut want = Complex::new(0.0, 0.0);
            for (j, &vj) in v.iter().enumerate() {
                let ang = -2.0 * std::f64::consts::PI * (j * k) as f64 / 5.0;
                want += Complex::new(ang.cos(), ang.sin()) * vj;
            }
            assert!((sk - want).norm() < 1e-12, "{k}: {sk} vs {want}");
        }
        let r = rfft(&x, Axis(0)).unwrap().compute().unwrap();
        assert_eq!(r.len(), 3);
        for k in 0..3 {
            assert!((r[[k]] - s[[k]]).norm() < 1e-12);
        }
        let back = irfft_n(&rfft(&x, Axis(0)).unwrap(), 5, Axis(0)).unwrap();
        let back = back.compute().unwrap();
        for (b, w) in back.iter().zip(v) {
            assert!((b - w).abs() < 1e-12);
        }
        let back: Array<f64> = ifft(&fft(&x, Axis(0)).unwrap(), Axis(0)).unwrap().real();
        for (b, w) in back.compute().unwrap().iter().zip(v) {
            assert!((b - w).abs() < 1e-12);
        }
    }

    #[test]
    fn chunked_axes_and_bad_lengths_are_errors() {
        let x = Array::<f32>::ones(&[4, 6], &[2, 3]).unwrap();
        let e = rfft(&x, Axis(1)).unwrap_err().to_string();
        assert!(
            e.contains("axis 1") && e.contains("rechunk") && e.contains("[3, 3]"),
            "{e}"
        );
        let e = fft(&x, Axis(2)).unwrap_err().to_string();
        assert!(e.contains("axis 2") && e.contains("2 axes"), "{e}");
        let y = x.rechunk([ChunkSpec::Size(2), ChunkSpec::Whole]).unwrap();
        assert!(
            fft_n(&y, 0, Axis(1))
                .unwrap_err()
                .to_string()
                .contains("0 points")
        );
        let one = rfft_n(&y, 1, Axis(1)).unwrap();
        assert!(
            irfft(&one, Axis(1))
                .unwrap_err()
                .to_string()
                .contains("0 points")
        );
        let e = fftn(&y, Some(&[Axis(1), Axis(1)])).unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
        // Only the transformed axes need to be whole.
        assert_eq!(fft2(&x.rechunk(&[4, 6]).unwrap()).unwrap().shape(), &[4, 6]);
        assert!(fft2(&y).is_err());
    }

    #[test]
    fn shifts_roll_chunked_axes() {
        let x = Array::<i32>::arange(0, 7, 1, &[3]).unwrap();
        let s = fftshift(&x, None).unwrap().compute().unwrap();
        assert_eq!(s.into_raw_vec_and_offset().0, vec![4, 5, 6, 0, 1, 2, 3]);
        let back = ifftshift(&fftshift(&x, None).unwrap(), None).unwrap();
        assert_eq!(back.compute().unwrap(), x.compute().unwrap());
        let f = fftfreq(6, 1.0, &[4]).unwrap().compute().unwrap();
        assert_eq!(
            f.into_raw_vec_and_offset().0,
            vec![
                0.0,
                1.0 / 6.0,
                2.0 / 6.0,
                -3.0 / 6.0,
                -2.0 / 6.0,
                -1.0 / 6.0
            ]
        );
    }
}
