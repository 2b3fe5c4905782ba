//! Chunked n-d arrays: NumPy semantics over blocks of `ndarray` arrays.
//!
//! An [`Array`] is a lazy n-d array split into blocks along every axis
//! ([`Chunks`]). Operations build a task graph — one task per block per
//! operation, fused where possible — and `compute` runs it on rask's
//! schedulers, so arrays larger than one core (or, with the memory manager
//! later, larger than memory) are processed block by block. Results equal
//! what NumPy gives for the same operation on the whole array.
//!
//! ```
//! # use rask_local as _;
//! use rask_array::{self as array, Array};
//! use rask_array::ndarray::Axis;
//!
//! # fn main() -> rask_core::Result<()> {
//! let x: Array<f64> = array::random::uniform(&[2_000, 2_000], &[500, 500], 42)?;
//! let total: f64 = (&x + &x.t()).sum().compute_scalar()?;
//! let col_means = x.mean_axis(Axis(0)).compute()?;
//! assert_eq!(col_means.shape(), &[2_000]);
//! assert!((total / 4e6 - 1.0).abs() < 0.01);
//! # Ok(())
//! # }
//! ```
//!
//! For NumPy users: `x.t()` is `x.T`, `x.sum_axis(Axis(0))` is
//! `x.sum(axis=0)`, `x.std(1.0)` is `x.std(ddof=1)`, chunk requests take
//! block sizes (`&[1000, 1000]`) or [`ChunkSpec`]s (`Whole` is Dask's `-1`,
//! `Auto` aims at `array.chunk-size`).
//! Result types are NumPy's ([`Accumulate`]): `u16` frames sum to `u64`,
//! integer means and variances are `f64`, `&a / &b` is true division (`f64`
//! for integers; `a.floor_divide(&b)` is `a // b`), and `median_axis`,
//! `quantile_axis`, `percentile_axis` (and `nan*`) are exact, rechunking the
//! reduced axes to one block as Dask's `median` does.
//!
//! NumPy's `.npy` files are read and written block by block, so they may be
//! larger than memory: [`Array::from_npy`] (`np.load(path, mmap_mode='r')`
//! split into chunks) and [`Array::to_npy`] (`np.save`); see [`npy`].
//! Zarr arrays on the local filesystem likewise, chunk by chunk (cargo
//! feature `zarr`, on by default): `Array::from_zarr` (the store's own
//! chunks, as Dask's `from_zarr`), `Array::from_zarr_with_chunks` and
//! `Array::to_zarr`; see
//! the `zarr` module.
//! Image files are read lazily too: stacks of TIFF files and multi-page
//! TIFF (`from_tiff_stack`, `from_tiff`; cargo feature `tiff`, on by
//! default), FITS images ([`Array::from_fits`], scaled as astropy does; see
//! [`fits`]) and raw binary files ([`Array::from_raw`]; see [`raw`]).
//!
//! # Errors at the line that caused them
//!
//! One rule for every method:
//!
//! * A method whose arguments can be wrong in a way the caller chose —
//!   chunks ([`Array::rechunk`]), shapes ([`Array::reshape`]), indices
//!   ([`Array::slice`], [`Array::take`]), halo depths ([`Array::overlap`],
//!   [`Array::map_overlap`]), joins ([`concatenate`], [`stack`]), products
//!   ([`Array::matmul`]), creation and I/O — returns a `Result`, so `?` stops at
//!   the line with the mistake.
//! * Operators (`&a + &b`) and the methods that read like them (unary
//!   math, reductions, `astype`, `t`, `squeeze`, ...) stay infallible, so
//!   that expressions read like NumPy. Given bad input (shapes that do not
//!   broadcast, an axis the array lacks) they return an *invalid array*:
//!   [`Array::is_valid`] is false, [`Array::error`] says what went wrong,
//!   [`Array::try_shape`] and [`Array::try_chunks`] return that error (its
//!   [`Array::shape`] is empty), its `Debug` form says `invalid`, every
//!   array derived from it carries the error, every fallible method given
//!   it returns the error, and `compute` returns it.
//!
//! ```
//! use rask_array::Array;
//! let a = Array::<f64>::ones(&[100, 100], &[50, 50]).unwrap();
//! let b = Array::<f64>::ones(&[100, 99], &[50, 50]).unwrap();
//! let c = &a + &b;                       // infallible: an invalid array
//! assert!(c.error().unwrap().contains("(100, 99)"));
//! assert!(c.rechunk(&[10, 10]).is_err()); // fallible: the error, at once
//! assert!(a.reshape(&[7]).is_err());       // 10 000 elements are not 7
//! ```

pub use ndarray;

// Links the BLAS implementation that ndarray's `blas` feature calls.
#[cfg(feature = "blas")]
#[allow(unused_extern_crates)]
extern crate blas_src;

mod array;
mod blockwise;
pub mod chunks;
mod complex;
mod creation;
mod cumulative;
mod element;
mod elementwise;
pub mod fft;
pub mod fits;
mod histogram;
mod join;
pub mod kernels;
mod linalg;
mod manipulation;
mod mapped;
pub mod ndimage;
pub mod npy;
pub mod overlap;
mod percentile_approx;
mod quantile;
pub mod random;
pub mod raw;
pub mod rechunk;
mod reduction;
mod region;
pub mod slicing;
mod store;
#[cfg(feature = "tiff")]
pub mod tiff;
mod transpose;
pub mod wavelet;
#[cfg(feature = "zarr")]
pub mod zarr;

pub use array::Array;
pub use chunks::{ChunkSpec, Chunks, IntoChunks};
pub use complex::RealElement;
pub use creation::BlockInfo;
pub use element::ComplexElement;
pub use element::{Accumulate, CastFrom, Element, Float, Number};
pub use elementwise::{Operand, where_};
pub use histogram::{MAX_BINS, histogram, histogram_edges};
pub use num_complex::{self, Complex};
pub use overlap::{Boundary, IntoBoundaries};
pub use slicing::{NewAxis, SliceElem, SliceRange};
#[cfg(feature = "tiff")]
pub use tiff::{from_tiff, from_tiff_stack};
#[allow(unused_imports)]
pub use {blockwise::*, join::*, linalg::*, manipulation::*};
