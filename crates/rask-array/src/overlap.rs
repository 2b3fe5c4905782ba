//! Halos (ghost cells) around blocks: [`Array::overlap`],
//! [`Array::trim_internal`] and [`Array::map_overlap`], Dask's
//! `dask.array.overlap`.
//!
//! Stencils, filters and sliding windows need, at the edge of a block, the
//! elements just across it. `overlap` grows every block by `depth[a]`
//! elements on both sides of axis `a`, copied from the neighbouring blocks
//! (diagonal neighbours included, so the corners of an n-d halo are right);
//! at the edges of the array the halo comes from a [`Boundary`] rule, as
//! if the whole array had been padded first. A function mapped over the
//! grown blocks then sees what it would see on the whole padded array, and
//! `trim_internal` cuts the halos off again: `map_overlap` does all three,
//! and by default its result has exactly the input's chunks, with no trace
//! of the block boundaries.
//!
//! # Plan
//!
//! Dask pads the array with boundary slices, concatenates slices of
//! neighbours onto every block and trims the padding off, several layers
//! of small tasks. Here `overlap` is one layer: along every axis, output
//! block `i` is a list of at most three pieces — the left halo (the last
//! `depth` elements of block `i - 1`, or the boundary rule's piece at the
//! array's start), block `i` itself, and the right halo — and the block's
//! task reads the product of the blocks those pieces name (up to `3^ndim`)
//! and copies every combination of pieces into place, slicing only the
//! edge strips it needs. A boundary piece is a (possibly reversed) slice of
//! an edge block, one edge element broadcast (`Nearest`) or a constant.
//!
//! With several axes the boundary rules compose as Dask's do, axis after
//! axis: where pieces of several axes are constants, the last such axis's
//! constant wins.
//!
//! Halos come only from the immediate neighbours, so a depth may not
//! exceed the smallest block along its axis (Dask's rule); the error says
//! so and suggests rechunking.
//!
//! Both layers are registered kernels (`rask.array.overlap`,
//! `rask.array.trim`) holding every block's pieces or cuts as parameters,
//! so their tasks can run in another process; the function of
//! `map_overlap` stays a closure.

use std::marker::PhantomData;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, Slice};
use rask_core::{Kernel, Key, Op, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::{Array, BlockTask, block_arg, block_key, block_value};
use crate::chunks::{Chunks, fmt_shape, ranges_product};
use crate::element::Element;
use crate::kernels::{elem_name, register_elements};

/// What lies beyond the edges of the array, for [`Array::overlap`]: how
/// the halo of a block at the array's start or end along an axis is
/// filled (Dask's `boundary=`).
///
/// For the axis `[1, 2, 3, 4]` and depth 2 the padded axis is:
///
/// | rule | padded |
/// | --- | --- |
/// | `Reflect` | `[2, 1, 1, 2, 3, 4, 4, 3]` (NumPy's `symmetric`) |
/// | `Periodic` | `[3, 4, 1, 2, 3, 4, 1, 2]` |
/// | `Nearest` | `[1, 1, 1, 2, 3, 4, 4, 4]` |
/// | `Constant(0)` | `[0, 0, 1, 2, 3, 4, 0, 0]` |
/// | `None` | `[1, 2, 3, 4]`: the edge blocks get no halo there |
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, Boundary, ndarray::array};
/// # fn main() -> rask_core::Result<()> {
/// let x = Array::from_ndarray(array![1, 2, 3, 4].into_dyn(), &[4])?;
/// let padded = |b| x.overlap(&[2], b).unwrap().compute();
/// assert_eq!(padded(Boundary::Reflect)?, array![2, 1, 1, 2, 3, 4, 4, 3].into_dyn());
/// assert_eq!(padded(Boundary::Periodic)?, array![3, 4, 1, 2, 3, 4, 1, 2].into_dyn());
/// assert_eq!(padded(Boundary::Nearest)?, array![1, 1, 1, 2, 3, 4, 4, 4].into_dyn());
/// assert_eq!(padded(Boundary::Constant(0))?, array![0, 0, 1, 2, 3, 4, 0, 0].into_dyn());
/// assert_eq!(padded(Boundary::None)?, array![1, 2, 3, 4].into_dyn());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Boundary<T> {
    /// The elements next to the edge, mirrored; the edge element repeats
    /// (Dask's `"reflect"`, NumPy's `pad(mode="symmetric")`).
    Reflect,
    /// The elements at the other end of the axis (Dask's `"periodic"`,
    /// NumPy's `pad(mode="wrap")`).
    Periodic,
    /// The edge element, repeated (Dask's `"nearest"`, NumPy's
    /// `pad(mode="edge")`).
    Nearest,
    /// A constant (Dask's numeric boundary, NumPy's `pad(mode="constant")`).
    Constant(T),
    /// No padding: blocks at the array's edges get no halo on that side
    /// (Dask's `"none"`), so they grow by `depth` only.
    None,
}

/// The boundary rule of every axis: one [`Boundary`] for all axes, or one
/// per axis (`&[Boundary<T>]`, `[Boundary<T>; N]`, `Vec<Boundary<T>>`).
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Boundary, IntoBoundaries};
/// let b = Boundary::Constant(1.5).into_boundaries(2).unwrap();
/// assert_eq!(b, vec![Boundary::Constant(1.5); 2]);
/// let b = [Boundary::Reflect, Boundary::None].into_boundaries(2).unwrap();
/// assert_eq!(b[1], Boundary::<f64>::None);
/// assert!([Boundary::<f64>::Reflect].into_boundaries(2).is_err());
/// ```
pub trait IntoBoundaries<T> {
    /// One rule per axis of an array with `ndim` axes, or why not.
    fn into_boundaries(self, ndim: usize) -> std::result::Result<Vec<Boundary<T>>, String>;
}

impl<T: Clone> IntoBoundaries<T> for Boundary<T> {
    fn into_boundaries(self, ndim: usize) -> std::result::Result<Vec<Boundary<T>>, String> {
        Ok(vec![self; ndim])
    }
}

impl<T: Clone> IntoBoundaries<T> for &[Boundary<T>] {
    fn into_boundaries(self, ndim: usize) -> std::result::Result<Vec<Boundary<T>>, String> {
        if self.len() != ndim {
            return Err(format!(
                "{} boundary rules given for an array with {ndim} axes; give one per axis, or a single Boundary for all",
                self.len()
            ));
        }
        Ok(self.to_vec())
    }
}

impl<T: Clone> IntoBoundaries<T> for Vec<Boundary<T>> {
    fn into_boundaries(self, ndim: usize) -> std::result::Result<Vec<Boundary<T>>, String> {
        self.as_slice().into_boundaries(ndim)
    }
}

impl<T: Clone, const N: usize> IntoBoundaries<T> for [Boundary<T>; N] {
    fn into_boundaries(self, ndim: usize) -> std::result::Result<Vec<Boundary<T>>, String> {
        self.as_slice().into_boundaries(ndim)
    }
}

impl<T: Clone, const N: usize> IntoBoundaries<T> for &[Boundary<T>; N] {
    fn into_boundaries(self, ndim: usize) -> std::result::Result<Vec<Boundary<T>>, String> {
        self.as_slice().into_boundaries(ndim)
    }
}

/// Chunks the way Dask prints them: `((4, 4, 2), (3,))`.
fn fmt_chunks(chunks: &Chunks) -> String {
    let axes: Vec<String> = chunks.as_slices().iter().map(|a| fmt_shape(a)).collect();
    match axes.as_slice() {
        [] => "()".into(),
        [one] => format!("({one},)"),
        _ => format!("({})", axes.join(", ")),
    }
}

/// A slice of an axis as task parameters: ndarray's [`Slice`] (`start`,
/// optional `end`, `step`; negative indices count from the end) in a form
/// serde can carry.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Span {
    start: isize,
    end: Option<isize>,
    step: isize,
}

impl Span {
    fn new(start: isize, end: Option<isize>, step: isize) -> Self {
        Span { start, end, step }
    }

    fn range(r: std::ops::Range<isize>) -> Self {
        Span::new(r.start, Some(r.end), 1)
    }

    /// The slice of an axis of length `len`, or `None` where ndarray would
    /// panic (an index out of bounds, step 0).
    fn within(self, len: usize) -> Option<Slice> {
        let n = isize::try_from(len).ok()?;
        let abs = |i: isize| if i < 0 { i.checked_add(n) } else { Some(i) };
        let (start, end) = (abs(self.start)?, abs(self.end.unwrap_or(n))?);
        let fits = |i: isize| (0..=n).contains(&i);
        (self.step != 0 && fits(start) && fits(end))
            .then(|| Slice::new(self.start, self.end, self.step))
    }
}

/// Where one piece of an output block comes from, along one axis.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(bound = "")]
enum Source<T: Element> {
    /// Elements of input block `block` (an index along the axis: in a
    /// layer's plan) or of the `block`-th block the task reads along the
    /// axis (in a task), sliced in the block's coordinates (step 1, or -1
    /// for a reflection). A slice of one element broadcasts to the piece's
    /// length (`Nearest`).
    Block { block: usize, slice: Span },
    /// The boundary constant.
    Const(T),
}

/// One piece of an output block along one axis: its source and length.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(bound = "")]
struct Piece<T: Element> {
    source: Source<T>,
    len: usize,
}

/// The pieces of output block `i` along an axis with blocks `sizes`.
fn axis_plan<T: Element>(
    sizes: &[usize],
    i: usize,
    depth: usize,
    boundary: &Boundary<T>,
) -> Vec<Piece<T>> {
    let piece = |block: usize, slice: Span, len: usize| Piece {
        source: Source::Block { block, slice },
        len,
    };
    let whole = piece(i, Span::range(0..sizes[i] as isize), sizes[i]);
    if depth == 0 {
        return vec![whole];
    }
    let d = depth as isize;
    let last = sizes.len() - 1;
    let end = |b: usize| sizes[b] as isize;
    let constant = |v: T| Piece {
        source: Source::Const(v),
        len: depth,
    };
    let left = if i > 0 {
        Some(piece(i - 1, Span::new(end(i - 1) - d, None, 1), depth))
    } else {
        match *boundary {
            Boundary::None => None,
            Boundary::Constant(v) => Some(constant(v)),
            Boundary::Periodic => Some(piece(last, Span::new(end(last) - d, None, 1), depth)),
            Boundary::Reflect => Some(piece(0, Span::new(0, Some(d), -1), depth)),
            Boundary::Nearest => Some(piece(0, Span::range(0..1), depth)),
        }
    };
    let right = if i < last {
        Some(piece(i + 1, Span::range(0..d), depth))
    } else {
        let e = end(last);
        match *boundary {
            Boundary::None => None,
            Boundary::Constant(v) => Some(constant(v)),
            Boundary::Periodic => Some(piece(0, Span::range(0..d), depth)),
            Boundary::Reflect => Some(piece(last, Span::new(e - d, Some(e), -1), depth)),
            Boundary::Nearest => Some(piece(last, Span::range(e - 1..e), depth)),
        }
    };
    left.into_iter()
        .chain(std::iter::once(whole))
        .chain(right)
        .collect()
}

/// The checks shared by `overlap`, `trim_internal` and `map_overlap`: a
/// valid array, one depth and one rule per axis.
fn check_args<T: Element>(
    op: &str,
    x: &Array<T>,
    depth: &[usize],
    boundary: impl IntoBoundaries<T>,
) -> std::result::Result<Vec<Boundary<T>>, String> {
    if let Some(e) = x.error() {
        return Err(e.to_string());
    }
    if depth.len() != x.ndim() {
        return Err(format!(
            "{op}: {} depths given for the array of shape {} with {} axes; give one depth per axis (0 for no halo)",
            depth.len(),
            fmt_shape(x.shape()),
            x.ndim()
        ));
    }
    boundary
        .into_boundaries(x.ndim())
        .map_err(|e| format!("{op}: {e} (array of shape {})", fmt_shape(x.shape())))
}

impl<T: Element> Array<T> {
    /// Every block grown by `depth[a]` elements on both sides of axis `a`,
    /// taken from the neighbouring blocks (diagonal ones too) and, at the
    /// array's edges, from the `boundary` rule (Dask's `overlap`).
    ///
    /// Block `i` of size `c` along an axis becomes `c + 2 * depth` long,
    /// except that with [`Boundary::None`] the blocks at the array's edges
    /// grow only on their inner side. A depth of 0 leaves an axis alone.
    /// `boundary` is one [`Boundary`] for every axis or one per axis (see
    /// [`IntoBoundaries`]).
    ///
    /// The result is one layer; each block's task reads the (up to
    /// `3^ndim`) blocks around it and copies only the strips it needs.
    ///
    /// # Errors
    ///
    /// An error (as for an invalid input array) when the
    /// number of depths or of boundary rules is not the number of axes, or
    /// when a depth exceeds the smallest block along its axis: halos come
    /// from the immediate neighbours only, so, as in Dask, depth must be at
    /// most the chunk size; rechunk to larger blocks first.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, Boundary, ndarray::array};
    /// # fn main() -> rask_core::Result<()> {
    /// let x = Array::from_ndarray(array![0, 1, 2, 3, 4, 5].into_dyn(), &[3])?;
    /// let g = x.overlap(&[1], Boundary::Constant(-1)).unwrap();
    /// assert_eq!(g.chunks().axis(0), &[5, 5]);
    /// // Blocks [-1, 0, 1, 2, 3] and [2, 3, 4, 5, -1].
    /// assert_eq!(g.compute()?, array![-1, 0, 1, 2, 3, 2, 3, 4, 5, -1].into_dyn());
    /// assert!(x.overlap(&[4], Boundary::Reflect).is_err()); // deeper than a block
    /// # Ok(())
    /// # }
    /// ```
    pub fn overlap(
        &self,
        depth: &[usize],
        boundary: impl IntoBoundaries<T>,
    ) -> rask_core::Result<Array<T>> {
        self.overlap_or_invalid(depth, boundary).into_result()
    }

    /// [`Array::overlap`], with an error carried by the array instead.
    pub(crate) fn overlap_or_invalid(
        &self,
        depth: &[usize],
        boundary: impl IntoBoundaries<T>,
    ) -> Array<T> {
        let boundaries = match check_args("overlap", self, depth, boundary) {
            Ok(b) => b,
            Err(e) => return Array::invalid(e),
        };
        for (a, &d) in depth.iter().enumerate() {
            let sizes = self.chunks().axis(a);
            let smallest = sizes.iter().copied().min().unwrap_or(0);
            if d > 0 && self.shape()[a] == 0 {
                return Array::invalid(format!(
                    "overlap: depth {d} along axis {a}, but that axis of the array of shape {} is empty; an empty axis has no elements to copy into halos, give it depth 0",
                    fmt_shape(self.shape())
                ));
            }
            if d > smallest {
                return Array::invalid(format!(
                    "overlap: depth {d} along axis {a} exceeds the smallest block ({smallest}) there, for the array of shape {} with chunks {} and depths {}; halos come from the neighbouring blocks only, so depth must be at most the chunk size (as in Dask): rechunk to blocks of at least {d} along axis {a} first",
                    fmt_shape(self.shape()),
                    fmt_chunks(self.chunks()),
                    fmt_shape(depth)
                ));
            }
        }
        if depth.iter().all(|&d| d == 0) {
            return self.clone();
        }
        let in_chunks = self.chunks().clone();
        // Every block's plan along every axis, computed once.
        let plans: Vec<Vec<_>> = (0..self.ndim())
            .map(|a| {
                let sizes = in_chunks.axis(a);
                (0..sizes.len())
                    .map(|i| axis_plan(sizes, i, depth[a], &boundaries[a]))
                    .collect()
            })
            .collect();
        let out_chunks = Chunks::from_vec(
            plans
                .iter()
                .map(|axis| {
                    axis.iter()
                        .map(|pieces| pieces.iter().map(|p| p.len).sum())
                        .collect()
                })
                .collect(),
        );
        let plans = Arc::new(plans);
        let src = self.node.name.clone();
        Array::kernel_layer(
            "overlap",
            &(depth, &boundaries),
            out_chunks,
            vec![self.input()],
            move |idx| overlap_task(&src, &plans, idx),
        )
    }

    /// The halos of [`Array::overlap`] cut off again: `depth[a]` elements
    /// removed from both sides of every block along axis `a`, except, with
    /// [`Boundary::None`] on that axis, at the array's outer edges (where
    /// `overlap` added none). Only whether a rule is `None` matters.
    ///
    /// # Errors
    ///
    /// An invalid array when the number of depths or rules is not the
    /// number of axes, or when a block is too small to lose its halos (it
    /// would be left empty).
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, Boundary, ndarray::ArrayD};
    /// # fn main() -> rask_core::Result<()> {
    /// let whole = ArrayD::from_shape_fn(vec![4, 5], |i| (10 * i[0] + i[1]) as i64);
    /// let x = Array::from_ndarray(whole, &[2, 3])?;
    /// let g = x.overlap(&[1, 2], Boundary::Periodic).unwrap();
    /// let back = g.trim_internal(&[1, 2], Boundary::Periodic);
    /// assert_eq!(back.chunks(), x.chunks());
    /// assert_eq!(back.compute()?, x.compute()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn trim_internal(&self, depth: &[usize], boundary: impl IntoBoundaries<T>) -> Array<T> {
        match check_args("trim_internal", self, depth, boundary) {
            Ok(b) => {
                let none: Vec<bool> = b.iter().map(|b| matches!(b, Boundary::None)).collect();
                self.trim_halos(depth, &none, "trim")
            }
            Err(e) => Array::invalid(e),
        }
    }

    /// `trim_internal` with the axes whose rule is `None` given as flags,
    /// as a layer whose keys start with `prefix`.
    fn trim_halos(&self, depth: &[usize], none: &[bool], prefix: &str) -> Array<T> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        if depth.iter().all(|&d| d == 0) {
            return self.clone();
        }
        // What comes off each block, per axis: (front, back).
        let mut cuts: Vec<Vec<(usize, usize)>> = Vec::with_capacity(self.ndim());
        for (a, (&d, &none)) in depth.iter().zip(none).enumerate() {
            let sizes = self.chunks().axis(a);
            let n = sizes.len();
            let mut axis = Vec::with_capacity(n);
            for (i, &c) in sizes.iter().enumerate() {
                let front = if i == 0 && none { 0 } else { d };
                let back = if i + 1 == n && none { 0 } else { d };
                if front.saturating_add(back) >= c && (front > 0 || back > 0) {
                    return Array::invalid(format!(
                        "trim_internal: block {i} along axis {a} has {c} elements, too few to remove halos of depth {d} from it (array of shape {} with chunks {}); trim only what overlap added",
                        fmt_shape(self.shape()),
                        fmt_chunks(self.chunks())
                    ));
                }
                axis.push((front, back));
            }
            cuts.push(axis);
        }
        let out_chunks = Chunks::from_vec(
            self.chunks()
                .as_slices()
                .iter()
                .zip(&cuts)
                .map(|(sizes, cut)| sizes.iter().zip(cut).map(|(c, (f, b))| c - f - b).collect())
                .collect(),
        );
        let src = self.node.name.clone();
        let params = cuts.clone();
        Array::kernel_layer(
            prefix,
            &params,
            out_chunks,
            vec![self.input()],
            move |idx| BlockTask {
                op: Op::kernel_blockwise(TrimBlock::<T> {
                    cuts: idx.iter().zip(&cuts).map(|(&i, cut)| cut[i]).collect(),
                    _t: PhantomData,
                }),
                deps: vec![block_key(&src, idx)],
            },
        )
    }

    /// `f` applied to every block grown by halos (Dask's `map_overlap`):
    /// [`Array::overlap`] with `depth` and `boundary`, then `f` on every
    /// grown block, which must return a block of the same shape, then
    /// [`Array::trim_internal`] back to the input's chunks (as Dask trims by
    /// default; [`Array::map_overlap_untrimmed`] keeps the grown blocks).
    ///
    /// The tasks are named after `f` when it is a function item (`smooth`
    /// below), in keys, errors and the profiler's report.
    ///
    /// For a stencil whose reach is at most `depth`, the trimmed result is
    /// the stencil applied to the whole array padded by the boundary rule,
    /// then cropped: the block boundaries do not show.
    ///
    /// # Errors
    ///
    /// As [`Array::overlap`]; a block of another shape returned by `f`
    /// fails the compute naming the block and both shapes.
    ///
    /// A 3-point moving average over a chunked array equals the one over
    /// the whole array:
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, Boundary, ndarray::{ArrayD, Axis, Slice}};
    /// # fn main() -> rask_core::Result<()> {
    /// // (a[i-1] + a[i] + a[i+1]) / 3 for the interior of a block.
    /// fn smooth(b: &ArrayD<f64>) -> ArrayD<f64> {
    ///     let n = b.len();
    ///     let mut out = b.clone();
    ///     for i in 1..n.saturating_sub(1) {
    ///         out[[i]] = (b[[i - 1]] + b[[i]] + b[[i + 1]]) / 3.0;
    ///     }
    ///     out
    /// }
    /// let whole = ArrayD::from_shape_fn(vec![10], |i| (i[0] * i[0]) as f64);
    /// let x = Array::from_ndarray(whole.clone(), &[3])?;
    /// let y = x.map_overlap(&[1], Boundary::Nearest, smooth).unwrap();
    /// assert_eq!(y.chunks(), x.chunks());
    ///
    /// // The same on the whole array, padded with its edge values.
    /// let mut padded = ArrayD::zeros(vec![12]);
    /// padded.slice_axis_mut(Axis(0), Slice::from(1..11)).assign(&whole);
    /// padded[[0]] = whole[[0]];
    /// padded[[11]] = whole[[9]];
    /// let want = smooth(&padded).slice_axis(Axis(0), Slice::from(1..11)).to_owned();
    /// assert_eq!(y.compute()?, want);
    /// # Ok(())
    /// # }
    /// ```
    pub fn map_overlap<U: Element>(
        &self,
        depth: &[usize],
        boundary: impl IntoBoundaries<T>,
        f: impl Fn(&ArrayD<T>) -> ArrayD<U> + Send + Sync + 'static,
    ) -> rask_core::Result<Array<U>> {
        self.map_overlap_impl(depth, boundary, f, true)
            .into_result()
    }

    /// Like [`Array::map_overlap`] without the trim (Dask's `trim=False`):
    /// the result keeps the grown blocks, halos included.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, Boundary};
    /// let x = Array::<f64>::ones(&[6], &[3]).unwrap();
    /// let y = x.map_overlap_untrimmed(&[1], Boundary::Constant(0.0), |b| b * 2.0).unwrap();
    /// assert_eq!(y.chunks().as_slices(), &[vec![5, 5]]);
    /// ```
    pub fn map_overlap_untrimmed<U: Element>(
        &self,
        depth: &[usize],
        boundary: impl IntoBoundaries<T>,
        f: impl Fn(&ArrayD<T>) -> ArrayD<U> + Send + Sync + 'static,
    ) -> rask_core::Result<Array<U>> {
        self.map_overlap_impl(depth, boundary, f, false)
            .into_result()
    }

    fn map_overlap_impl<U: Element>(
        &self,
        depth: &[usize],
        boundary: impl IntoBoundaries<T>,
        f: impl Fn(&ArrayD<T>) -> ArrayD<U> + Send + Sync + 'static,
        trim: bool,
    ) -> Array<U> {
        let boundaries = match check_args("map_overlap", self, depth, boundary) {
            Ok(b) => b,
            Err(e) => return Array::invalid(e),
        };
        let none: Vec<bool> = boundaries
            .iter()
            .map(|b| matches!(b, Boundary::None))
            .collect();
        // The result is named after `f` when it is a function item, so that
        // reports show `smooth`, not `trim`.
        let name = crate::blockwise::fn_name(&f).unwrap_or("trim");
        let mapped = self.overlap_or_invalid(depth, boundaries).map_blocks(f);
        if trim {
            mapped.trim_halos(depth, &none, name)
        } else {
            mapped
        }
    }
}

/// The task of output block `idx` of an overlap layer reading `src`,
/// from the plans of every block along every axis.
fn overlap_task<T: Element>(
    src: &Arc<str>,
    plans: &[Vec<Vec<Piece<T>>>],
    idx: &[usize],
) -> BlockTask {
    let ndim = idx.len();
    // The input blocks read along each axis, and the pieces naming them by
    // position in that list.
    let mut used: Vec<Vec<usize>> = Vec::with_capacity(ndim);
    let mut pieces: Vec<Vec<Piece<T>>> = Vec::with_capacity(ndim);
    for (a, &i) in idx.iter().enumerate() {
        let plan = &plans[a][i];
        let mut blocks: Vec<usize> = plan
            .iter()
            .filter_map(|p| match p.source {
                Source::Block { block, .. } => Some(block),
                Source::Const(_) => None,
            })
            .collect();
        blocks.sort_unstable();
        blocks.dedup();
        let axis_pieces = plan
            .iter()
            .map(|p| match p.source {
                Source::Block { block, slice } => Piece {
                    source: Source::Block {
                        block: blocks.binary_search(&block).expect("a block of the plan"),
                        slice,
                    },
                    len: p.len,
                },
                Source::Const(_) => *p,
            })
            .collect();
        used.push(blocks);
        pieces.push(axis_pieces);
    }
    let counts: Vec<usize> = used.iter().map(Vec::len).collect();
    let ranges: Vec<(usize, usize)> = used.iter().map(|u| (0, u.len())).collect();
    let deps: Vec<Key> = ranges_product(&ranges)
        .map(|pos| {
            let block: Vec<usize> = pos.iter().zip(&used).map(|(&p, u)| u[p]).collect();
            block_key(src, &block)
        })
        .collect();
    let kernel = OverlapBlock {
        pieces,
        counts,
        index: idx.to_vec(),
    };
    let op = if deps.len() == 1 {
        Op::kernel_blockwise(kernel)
    } else {
        Op::kernel(kernel)
    };
    BlockTask { op, deps }
}

/// One block of an overlap layer: along every axis, the pieces it is made
/// of, naming the blocks it reads by position (`counts[a]` of them along
/// axis `a`; the task reads their product, in C order).
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct OverlapBlock<T: Element> {
    pieces: Vec<Vec<Piece<T>>>,
    counts: Vec<usize>,
    /// The output block's index, for error messages.
    index: Vec<usize>,
}

impl<T: Element> Kernel for OverlapBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.overlap", T);
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        self.check(args.len())?;
        assemble(args, &self.pieces, &self.counts, &self.index)
    }
}

register_elements!(OverlapBlock);

impl<T: Element> OverlapBlock<T> {
    /// That the parameters describe a block made from `nargs` blocks.
    fn check(&self, nargs: usize) -> Result<(), TaskError> {
        let bad = |what: String| {
            Err(TaskError::failed(format!(
                "overlap: block {:?}: {what}",
                self.index
            )))
        };
        if self.counts.len() != self.pieces.len() {
            return bad(format!(
                "{} axes of pieces but {} of block counts",
                self.pieces.len(),
                self.counts.len()
            ));
        }
        let reads = self
            .counts
            .iter()
            .try_fold(1usize, |n, &c| n.checked_mul(c));
        if reads != Some(nargs) {
            return bad(format!(
                "it reads {:?} blocks per axis but was given {nargs}",
                self.counts
            ));
        }
        let mut elements = Some(1usize);
        for (a, ps) in self.pieces.iter().enumerate() {
            let mut len = Some(0usize);
            for p in ps {
                len = len.and_then(|n| n.checked_add(p.len));
                if let Source::Block { block, .. } = p.source
                    && block >= self.counts[a]
                {
                    return bad(format!(
                        "a piece names block {block} of the {} read along axis {a}",
                        self.counts[a]
                    ));
                }
            }
            elements = elements.zip(len).and_then(|(n, l)| n.checked_mul(l));
        }
        if elements.is_none_or(|n| {
            n.checked_mul(size_of::<T>().max(1))
                .is_none_or(|b| b > isize::MAX as usize)
        }) {
            return bad("the output block is too large".into());
        }
        Ok(())
    }
}

/// One block of a trim layer: `cuts[a] = (front, back)` elements removed
/// from the start and end of axis `a`.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct TrimBlock<T> {
    cuts: Vec<(usize, usize)>,
    _t: PhantomData<T>,
}

impl<T: Element> Kernel for TrimBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.trim", T);
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let block = block_arg::<T>(args, 0)?;
        let fits = block.ndim() == self.cuts.len()
            && self
                .cuts
                .iter()
                .zip(block.shape())
                .all(|(&(f, b), &n)| f.checked_add(b).is_some_and(|c| c <= n));
        if !fits {
            return Err(TaskError::failed(format!(
                "trim: cuts {:?} do not fit a block of shape {}",
                self.cuts,
                fmt_shape(block.shape())
            )));
        }
        let inner = block.slice_each_axis(|ax| {
            let (f, b) = self.cuts[ax.axis.index()];
            Slice::from(f..ax.len - b)
        });
        Ok(block_value(inner.to_owned()))
    }
}

register_elements!(TrimBlock);

/// Copies every combination of pieces (one per axis) into a new block;
/// the pieces are checked against the block counts (`OverlapBlock::check`).
fn assemble<T: Element>(
    args: &[Value],
    pieces: &[Vec<Piece<T>>],
    counts: &[usize],
    index: &[usize],
) -> std::result::Result<Value, TaskError> {
    let out_shape: Vec<usize> = pieces
        .iter()
        .map(|ps| ps.iter().map(|p| p.len).sum())
        .collect();
    let mut out = ArrayD::from_elem(IxDyn(&out_shape), T::default());
    let offsets: Vec<Vec<usize>> = pieces
        .iter()
        .map(|ps| {
            ps.iter()
                .scan(0, |at, p| {
                    let start = *at;
                    *at += p.len;
                    Some(start)
                })
                .collect()
        })
        .collect();
    let ranges: Vec<(usize, usize)> = pieces.iter().map(|ps| (0, ps.len())).collect();
    for combo in ranges_product(&ranges) {
        let mut target = out.slice_each_axis_mut(|ax| {
            let a = ax.axis.index();
            let start = offsets[a][combo[a]];
            Slice::from(start..start + pieces[a][combo[a]].len)
        });
        // The last axis with a constant piece decides (rules apply axis
        // after axis, as in Dask).
        let constant =
            combo
                .iter()
                .enumerate()
                .rev()
                .find_map(|(a, &k)| match pieces[a][k].source {
                    Source::Const(v) => Some(v),
                    Source::Block { .. } => None,
                });
        if let Some(v) = constant {
            target.fill(v);
            continue;
        }
        let mut arg = 0;
        let mut slices = Vec::with_capacity(combo.len());
        for (a, &k) in combo.iter().enumerate() {
            let Source::Block { block, slice } = pieces[a][k].source else {
                unreachable!("constant pieces were handled above")
            };
            arg = arg * counts[a] + block;
            slices.push(slice);
        }
        let block = block_arg::<T>(args, arg)?;
        let resolved: Option<Vec<Slice>> = (block.ndim() == slices.len())
            .then(|| {
                slices
                    .iter()
                    .zip(block.shape())
                    .map(|(s, &n)| s.within(n))
                    .collect()
            })
            .flatten();
        let Some(resolved) = resolved else {
            return Err(TaskError::failed(format!(
                "overlap: block {index:?} reads slices {slices:?} of a block of shape {}; the input blocks do not match their chunks",
                fmt_shape(block.shape())
            )));
        };
        let piece = block.slice_each_axis(|ax| resolved[ax.axis.index()]);
        let Some(piece) = piece.broadcast(target.raw_dim()) else {
            return Err(TaskError::failed(format!(
                "overlap: block {index:?} read a piece of shape {} for a region of shape {}; the input blocks do not match their chunks",
                fmt_shape(piece.shape()),
                fmt_shape(target.shape())
            )));
        };
        target.assign(&piece);
    }
    Ok(block_value(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(shape: &[usize]) -> Value {
        let n = shape.iter().product::<usize>() as i32;
        block_value(ArrayD::from_shape_vec(IxDyn(shape), (0..n).collect()).unwrap())
    }

    #[test]
    fn spans_outside_the_axis_are_refused() {
        assert!(Span::range(0..3).within(3).is_some());
        assert!(Span::new(-2, None, 1).within(3).is_some());
        assert!(Span::new(0, Some(2), -1).within(3).is_some());
        assert!(Span::range(0..4).within(3).is_none());
        assert!(Span::new(-4, None, 1).within(3).is_none());
        assert!(Span::new(0, Some(1), 0).within(3).is_none());
        assert!(Span::new(isize::MIN, None, 1).within(3).is_none());
    }

    #[test]
    fn bad_parameters_and_blocks_are_task_errors() {
        // Block 0 of an axis of blocks [2, 2], depth 1: it reads both.
        let overlap = |counts: Vec<usize>| OverlapBlock::<i32> {
            pieces: vec![axis_plan(&[2, 2], 0, 1, &Boundary::Reflect)],
            counts,
            index: vec![0],
        };
        let good = overlap(vec![2]).run(&[block(&[2]), block(&[2])]).unwrap();
        let good = good.downcast_ref::<ArrayD<i32>>().unwrap();
        assert_eq!(good.as_slice().unwrap(), &[0, 0, 1, 0]);
        for (k, args) in [
            (overlap(vec![2]), vec![block(&[2])]),
            (overlap(vec![2]), vec![block(&[1]), block(&[2])]),
            (overlap(vec![2]), vec![block(&[2, 2]), block(&[2, 2])]),
            (overlap(vec![1]), vec![block(&[2])]),
            (overlap(vec![2, 1]), vec![block(&[2]), block(&[2])]),
        ] {
            assert!(k.run(&args).is_err());
        }
        let trim = |cuts| TrimBlock::<i32> {
            cuts,
            _t: PhantomData,
        };
        assert!(trim(vec![(1, 1)]).run(&[block(&[3])]).is_ok());
        assert!(trim(vec![(1, 1)]).run(&[block(&[1])]).is_err());
        assert!(trim(vec![(usize::MAX, 1)]).run(&[block(&[3])]).is_err());
        assert!(trim(vec![(0, 0)]).run(&[block(&[3, 3])]).is_err());
    }
}
