//! Discrete wavelet transforms, as PyWavelets: [`wavedec`] / [`waverec`]
//! along one axis, [`wavedec2`] / [`waverec2`] over two, and their single
//! levels [`dwt`] / [`idwt`].
//!
//! The wavelets are the orthogonal ones PyWavelets names `haar`, `db1`–
//! `db8`, `sym2`–`sym8` and `coif1`–`coif3` ([`Wavelet::known`]); the
//! signal extension [`Mode`]s are PyWavelets' `symmetric` (its default),
//! `reflect`, `periodic`, `zero`, `constant` and `periodization`.
//! Coefficient lengths and values equal PyWavelets' (`f32` arrays are
//! transformed in `f32` with the filters rounded to `f32`, as PyWavelets
//! does).
//!
//! ```
//! # use rask_local as _;
//! use rask_array::{Array, wavelet};
//! use rask_array::ndarray::Axis;
//! # fn main() -> rask_core::Result<()> {
//! // 64 frames of 8 x 8 pixels, 16 frames per block along time.
//! let x = Array::<f32>::ones(&[64, 8, 8], &[16, 8, 8])?;
//! let coeffs: Vec<Array<f32>> =
//!     wavelet::wavedec(&x, "db4", 3, Axis(0), wavelet::Mode::Symmetric)?;
//! // [cA3, cD3, cD2, cD1], as pywt.wavedec(x, "db4", level=3, axis=0).
//! let lens: Vec<usize> = coeffs.iter().map(|c| c.shape()[0]).collect();
//! assert_eq!(lens, vec![14, 14, 21, 35]);
//! let back = wavelet::waverec(&coeffs, "db4", Axis(0), wavelet::Mode::Symmetric)?;
//! let err = (&back - &x).abs().max().compute_scalar()?;
//! assert!(err < 1e-5);
//! # Ok(())
//! # }
//! ```
//!
//! # Chunked axes: halos, no rechunk
//!
//! A transformed axis may be split into any number of blocks. Each level
//! is one layer per filter whose output blocks follow the input's blocks
//! (halved, and merged where they would be shorter than the filter), and
//! each output block's task reads exactly the input blocks its outputs
//! need: its own block plus a halo of `F - 2` elements (`F` the filter
//! length; more only when blocks are that small) from the neighbour, and
//! at the ends of the axis the elements the extension mode mirrors or wraps
//! to. Within a task, each lane along the axis is gathered into one window
//! through a table built once per task, then filtered and downsampled.
//! Nothing is rechunked, so a 3-level `db4` transform along a time axis of
//! 16-frame blocks reads, per block and level, that block and its
//! neighbours; the result equals the transform of the whole axis, bit for
//! bit (the index arithmetic is in `wavelet/plan.rs`; the property tests
//! check it over random chunkings, the oracle tests against PyWavelets).

mod filters;
mod kernel;
mod plan;

use ndarray::Axis;
use rask_core::{Error, Result};

pub use plan::Mode;

use crate::array::Array;
use crate::chunks::fmt_shape;
use crate::element::Float;

/// An orthogonal wavelet: its four filters (PyWavelets' `dec_lo`,
/// `dec_hi`, `rec_lo`, `rec_hi`).
///
/// The decomposition low-pass filter is stored; the others follow from it
/// exactly: `rec_lo` is `dec_lo` reversed, `rec_hi[k] = (-1)^k dec_lo[k]`,
/// and `dec_hi` is `rec_hi` reversed.
///
/// ```
/// use rask_array::wavelet::Wavelet;
/// let w = Wavelet::new("db2").unwrap();
/// assert_eq!(w.filter_len(), 4);
/// assert_eq!(w.rec_lo()[0], w.dec_lo()[3]);
/// let err = Wavelet::new("db99").unwrap_err().to_string();
/// assert!(err.contains("db99") && err.contains("sym4"), "{err}");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Wavelet {
    name: &'static str,
    dec_lo: &'static [f64],
}

impl Wavelet {
    /// The wavelet PyWavelets calls `name` (`"haar"`, `"db4"`, `"sym4"`,
    /// `"coif1"`, ...).
    ///
    /// # Errors
    ///
    /// An unknown name; the error lists the known ones.
    pub fn new(name: &str) -> Result<Wavelet> {
        filters::WAVELETS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(name, dec_lo)| Wavelet { name, dec_lo })
            .ok_or_else(|| {
                Error::invalid(
                    "wavelet",
                    format!(
                        "unknown wavelet '{name}'; rask knows {}",
                        Wavelet::known().collect::<Vec<_>>().join(", ")
                    ),
                )
            })
    }

    /// The names of the known wavelets.
    pub fn known() -> impl Iterator<Item = &'static str> {
        filters::WAVELETS.iter().map(|(n, _)| *n)
    }

    /// The wavelet's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The length of its filters.
    pub fn filter_len(&self) -> usize {
        self.dec_lo.len()
    }

    /// The decomposition low-pass filter.
    pub fn dec_lo(&self) -> Vec<f64> {
        self.dec_lo.to_vec()
    }

    /// The decomposition high-pass filter.
    pub fn dec_hi(&self) -> Vec<f64> {
        let mut h = self.rec_hi();
        h.reverse();
        h
    }

    /// The reconstruction low-pass filter.
    pub fn rec_lo(&self) -> Vec<f64> {
        self.dec_lo.iter().rev().copied().collect()
    }

    /// The reconstruction high-pass filter.
    pub fn rec_hi(&self) -> Vec<f64> {
        self.dec_lo
            .iter()
            .enumerate()
            .map(|(k, &v)| if k % 2 == 0 { v } else { -v })
            .collect()
    }
}

/// The deepest useful level of a transform of `n` samples with a filter of
/// length `filter_len` (PyWavelets' `dwt_max_level`): deeper levels are
/// all boundary effects.
///
/// ```
/// use rask_array::wavelet::dwt_max_level;
/// assert_eq!(dwt_max_level(1000, 8), 7); // pywt.dwt_max_level(1000, 'db4')
/// assert_eq!(dwt_max_level(5, 8), 0);
/// ```
pub fn dwt_max_level(n: usize, filter_len: usize) -> usize {
    if filter_len <= 1 || n < filter_len - 1 {
        return 0;
    }
    // floor(log2(n / (filter_len - 1))), in integers.
    (n / (filter_len - 1)).ilog2() as usize
}

/// `axis` of `x` checked: present, and long enough for `mode` (a DWT's
/// input) or not empty (`None`: an IDWT's coefficients).
fn check_axis<T: Float>(what: &str, x: &Array<T>, axis: Axis, mode: Option<Mode>) -> Result<usize> {
    let shape = x.try_shape()?;
    if axis.0 >= shape.len() {
        return Err(Error::invalid(
            "wavelet axis",
            format!(
                "{what} along axis {} of an array of shape {}; use an axis below {}",
                axis.0,
                fmt_shape(shape),
                shape.len()
            ),
        ));
    }
    let n = shape[axis.0];
    let least = if mode == Some(Mode::Reflect) { 2 } else { 1 };
    if n < least {
        let mode = mode.map_or(String::new(), |m| format!(" in {} mode", m.name()));
        return Err(Error::invalid(
            "wavelet input",
            format!(
                "{what} along axis {} of length {n}{mode}; it needs at least {least} samples",
                axis.0,
            ),
        ));
    }
    Ok(axis.0)
}

/// One level of the transform along `axis`: the approximation and the
/// detail coefficients (PyWavelets' `pywt.dwt(x, wavelet, mode, axis)`).
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, wavelet::{self, Mode}, ndarray::{Axis, array}};
/// # fn main() -> rask_core::Result<()> {
/// let x = Array::from_ndarray(array![1.0, 2.0, 3.0, 4.0].into_dyn(), &[2])?;
/// let (a, d) = wavelet::dwt(&x, "haar", Axis(0), Mode::Periodization)?;
/// let s = std::f64::consts::SQRT_2;
/// assert!((a.compute()?[[1]] - 7.0 / s).abs() < 1e-12);
/// assert!((d.compute()?[[0]] + 1.0 / s).abs() < 1e-12);
/// # Ok(())
/// # }
/// ```
pub fn dwt<T: Float>(
    x: &Array<T>,
    wavelet: &str,
    axis: Axis,
    mode: Mode,
) -> Result<(Array<T>, Array<T>)> {
    let w = Wavelet::new(wavelet)?;
    let axis = check_axis("dwt", x, axis, Some(mode))?;
    Ok((
        kernel::dwt_layer(x, w.dec_lo, axis, mode)?,
        kernel::dwt_layer(x, &w.dec_hi(), axis, mode)?,
    ))
}

/// One level of the inverse transform along `axis` (PyWavelets'
/// `pywt.idwt(a, d, wavelet, mode, axis)`). `a` may be one longer than `d`
/// along the axis, as an approximation from [`wavedec`] can be; its last
/// element is then left out, as [`waverec`] does.
pub fn idwt<T: Float>(
    a: &Array<T>,
    d: &Array<T>,
    wavelet: &str,
    axis: Axis,
    mode: Mode,
) -> Result<Array<T>> {
    let w = Wavelet::new(wavelet)?;
    let axis = check_axis("idwt", d, axis, None)?;
    kernel::idwt_layer(a, d, &w.rec_lo(), &w.rec_hi(), axis, mode)
}

/// The deepest multilevel transform [`wavedec`] and [`wavedec2`] take.
/// Every level at least halves the length of a signal longer than twice
/// the filter, so past 64 levels (far past [`dwt_max_level`] of any
/// length) each level only adds boundary coefficients.
pub const MAX_LEVEL: usize = 64;

/// `level` checked against [`MAX_LEVEL`].
fn check_level(what: &str, level: usize) -> Result<()> {
    if level > MAX_LEVEL {
        return Err(Error::invalid(
            "wavelet level",
            format!(
                "{what} to level {level}: the most is {MAX_LEVEL} (`dwt_max_level` gives the \
                 deepest level without boundary effects)"
            ),
        ));
    }
    Ok(())
}

/// The multilevel transform along `axis`: `[cA_n, cD_n, ..., cD_1]`, the
/// approximation at `level` then the details from the coarsest to the
/// finest (PyWavelets' `pywt.wavedec(x, wavelet, mode, level, axis)`).
/// Levels beyond [`dwt_max_level`] are computed as PyWavelets does (it
/// warns of boundary effects), up to [`MAX_LEVEL`]. The axis may be
/// chunked (see the module docs).
///
/// # Errors
///
/// An unknown wavelet, an axis the array lacks, an axis too short for
/// the mode, or a level above [`MAX_LEVEL`].
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, wavelet};
/// use rask_array::ndarray::Axis;
/// # fn main() -> rask_core::Result<()> {
/// let x = Array::<f64>::linspace(0.0, 1.0, 100, &[30])?;
/// let c = wavelet::wavedec(&x, "sym4", 2, Axis(0), wavelet::Mode::Periodization)?;
/// assert_eq!(c.len(), 3);
/// assert_eq!(c[0].shape(), &[25]);
/// assert!(wavelet::wavedec(&x, "bogus", 2, Axis(0), wavelet::Mode::Symmetric).is_err());
/// # Ok(())
/// # }
/// ```
pub fn wavedec<T: Float>(
    x: &Array<T>,
    wavelet: &str,
    level: usize,
    axis: Axis,
    mode: Mode,
) -> Result<Vec<Array<T>>> {
    let w = Wavelet::new(wavelet)?;
    check_axis("wavedec", x, axis, Some(mode))?;
    check_level("wavedec", level)?;
    let mut a = x.clone();
    let mut details = Vec::with_capacity(level);
    for _ in 0..level {
        let ax = check_axis("wavedec", &a, axis, Some(mode))?;
        let d = kernel::dwt_layer(&a, &w.dec_hi(), ax, mode)?;
        a = kernel::dwt_layer(&a, w.dec_lo, ax, mode)?;
        details.push(d);
    }
    details.push(a);
    details.reverse();
    Ok(details)
}

/// The inverse of [`wavedec`]: the signal from `[cA_n, cD_n, ..., cD_1]`
/// (PyWavelets' `pywt.waverec`). At each level an approximation one longer
/// than the detail loses its last element, as in PyWavelets; so the result
/// may be one longer than an odd-length original.
///
/// # Errors
///
/// An unknown wavelet, no coefficients, or coefficients whose shapes do
/// not go together.
pub fn waverec<T: Float>(
    coeffs: &[Array<T>],
    wavelet: &str,
    axis: Axis,
    mode: Mode,
) -> Result<Array<T>> {
    let w = Wavelet::new(wavelet)?;
    let Some((first, details)) = coeffs.split_first() else {
        return Err(Error::invalid(
            "wavelet coefficients",
            "waverec of no coefficients; give [cA_n, cD_n, ..., cD_1] as wavedec returns",
        ));
    };
    let mut a = first.clone().into_result()?;
    for d in details {
        let ax = check_axis("waverec", d, axis, None)?;
        a = kernel::idwt_layer(&a, d, &w.rec_lo(), &w.rec_hi(), ax, mode)?;
    }
    Ok(a)
}

/// The coefficients of a 2-d multilevel transform (PyWavelets'
/// `[cA_n, (cH_n, cV_n, cD_n), ..., (cH_1, cV_1, cD_1)]`).
#[derive(Clone, Debug)]
pub struct Coeffs2<T: crate::Element> {
    /// The approximation at the deepest level, `cA_n`.
    pub approx: Array<T>,
    /// Per level, coarsest first: `[cH, cV, cD]` — the detail along the
    /// first axis (approximation along the second), along the second, and
    /// along both.
    pub details: Vec<[Array<T>; 3]>,
}

/// The 2-d multilevel transform over `axes` (PyWavelets'
/// `pywt.wavedec2(x, wavelet, mode, level, axes)`; for images, the last
/// two axes). Each level transforms along `axes[0]`, then along
/// `axes[1]`; both may be chunked.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, wavelet::{self, Mode}, ndarray::Axis};
/// # fn main() -> rask_core::Result<()> {
/// let img = Array::<f32>::ones(&[2, 40, 30], &[1, 20, 15])?;
/// let c = wavelet::wavedec2(&img, "db2", 2, [Axis(1), Axis(2)], Mode::Symmetric)?;
/// assert_eq!(c.approx.shape(), &[2, 12, 9]);
/// assert_eq!(c.details[1][2].shape(), &[2, 21, 16]); // cD_1
/// let back = wavelet::waverec2(&c, "db2", [Axis(1), Axis(2)], Mode::Symmetric)?;
/// assert_eq!(back.shape(), &[2, 40, 30]);
/// # Ok(())
/// # }
/// ```
pub fn wavedec2<T: Float>(
    x: &Array<T>,
    wavelet: &str,
    level: usize,
    axes: [Axis; 2],
    mode: Mode,
) -> Result<Coeffs2<T>> {
    let w = Wavelet::new(wavelet)?;
    check_axes("wavedec2", x, axes, Some(mode))?;
    check_level("wavedec2", level)?;
    let (lo, hi) = (w.dec_lo(), w.dec_hi());
    let mut a = x.clone();
    let mut details = Vec::with_capacity(level);
    for _ in 0..level {
        let [a0, a1] = check_axes("wavedec2", &a, axes, Some(mode))?;
        let l = kernel::dwt_layer(&a, &lo, a0, mode)?;
        let h = kernel::dwt_layer(&a, &hi, a0, mode)?;
        let ll = kernel::dwt_layer(&l, &lo, a1, mode)?;
        let lh = kernel::dwt_layer(&l, &hi, a1, mode)?;
        let hl = kernel::dwt_layer(&h, &lo, a1, mode)?;
        let hh = kernel::dwt_layer(&h, &hi, a1, mode)?;
        // PyWavelets' keys: 'da' is cH, 'ad' is cV, 'dd' is cD.
        details.push([hl, lh, hh]);
        a = ll;
    }
    details.reverse();
    Ok(Coeffs2 { approx: a, details })
}

/// The inverse of [`wavedec2`] (PyWavelets' `pywt.waverec2`): each level
/// reconstructs along `axes[1]`, then along `axes[0]`; an approximation
/// larger than the level's details loses its last row or column first.
pub fn waverec2<T: Float>(
    coeffs: &Coeffs2<T>,
    wavelet: &str,
    axes: [Axis; 2],
    mode: Mode,
) -> Result<Array<T>> {
    let w = Wavelet::new(wavelet)?;
    let (g, h) = (w.rec_lo(), w.rec_hi());
    let mut a = coeffs.approx.clone().into_result()?;
    for [ch, cv, cd] in &coeffs.details {
        let [a0, a1] = check_axes("waverec2", cd, axes, None)?;
        for c in [ch, cv] {
            if c.try_shape()? != cd.shape() {
                return Err(Error::invalid(
                    "wavelet coefficients",
                    format!(
                        "the details of one level have the shapes {}, {} and {}; they must be \
                         equal",
                        fmt_shape(ch.shape()),
                        fmt_shape(cv.shape()),
                        fmt_shape(cd.shape())
                    ),
                ));
            }
        }
        let a_trim = trim_to(&a, cd, a0)?;
        let l = kernel::idwt_layer(&a_trim, cv, &g, &h, a1, mode)?;
        let hh = kernel::idwt_layer(ch, cd, &g, &h, a1, mode)?;
        a = kernel::idwt_layer(&l, &hh, &g, &h, a0, mode)?;
    }
    Ok(a)
}

/// `a` cut to `d`'s length along `axis` when it is one longer (the other
/// transformed axis is cut by the IDWT itself).
fn trim_to<T: Float>(a: &Array<T>, d: &Array<T>, axis: usize) -> Result<Array<T>> {
    let (sa, sd) = (a.try_shape()?, d.try_shape()?);
    if sa.len() != sd.len() {
        return Err(Error::invalid(
            "wavelet coefficients",
            format!(
                "an approximation of shape {} with details of shape {}: they must have as many \
                 axes",
                fmt_shape(sa),
                fmt_shape(sd)
            ),
        ));
    }
    let (na, nd) = (sa[axis], sd[axis]);
    if na == nd + 1 {
        let mut elems = vec![crate::slicing::full(); a.ndim()];
        elems[axis] = crate::slicing::range(0, nd as isize);
        a.slice(&elems)
    } else {
        Ok(a.clone())
    }
}

/// Both `axes` checked, and distinct.
fn check_axes<T: Float>(
    what: &str,
    x: &Array<T>,
    axes: [Axis; 2],
    mode: Option<Mode>,
) -> Result<[usize; 2]> {
    let a0 = check_axis(what, x, axes[0], mode)?;
    let a1 = check_axis(what, x, axes[1], mode)?;
    if a0 == a1 {
        return Err(Error::invalid(
            "wavelet axes",
            format!("{what} over axes [{a0}, {a1}]: name two different axes"),
        ));
    }
    Ok([a0, a1])
}
