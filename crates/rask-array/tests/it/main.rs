//! Integration tests of rask-array: every operation against the same
//! operation done by ndarray on the whole array.

mod blockwise;
mod creation;
mod cumulative;
mod differential;
mod elementwise;
mod fft;
mod fusion;
mod histogram;
#[cfg(all(feature = "zarr", feature = "tiff"))]
mod imageio;
mod join;
mod linalg;
mod manipulation;
mod ndimage;
mod npy;
mod numerics;
mod overlap;
mod portable;
mod rechunk;
mod reductions;
mod slicing;
mod support;
mod wavelet;
#[cfg(feature = "zarr")]
mod zarr;
