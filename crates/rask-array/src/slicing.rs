//! NumPy basic indexing: [`Array::slice`] with integers, ranges with steps
//! (negative too) and new axes, and [`Array::take`] along an axis.
//!
//! # Plan (Dask's `slice_array`)
//!
//! Each axis is handled on its own. A range is first normalised as
//! Python's `slice.indices(len)` does: a start, a step and a count of
//! selected elements `start + k * step`. Then every input block along the
//! axis is asked which of its elements are selected — for a positive step
//! the blocks are visited in order, for a negative step in reverse order —
//! and every non-empty selection becomes one output block. An integer index
//! picks one block and drops the axis; a new axis is a length-1 axis with
//! chunks `[1]`. So every output block is a (possibly strided, possibly
//! reversed) slice of exactly one input block: the layer is blockwise and
//! fuses with its neighbours. An empty selection gives a zero-length axis
//! with chunks `[0]`, read from input block 0.
//!
//! `take` gathers: its output blocks split the index list like the input's
//! first block size, and each reads every input block its indices hit.
//!
//! Both are registered kernels (`rask.array.getitem`, `rask.array.take`)
//! in layers named from the normalised index, so equal selections written
//! differently (`1:7:2` and `1::2` on a length-7 axis) are the same layer.

use std::marker::PhantomData;
use std::ops::{Range, RangeFrom, RangeFull, RangeTo};

use ndarray::{ArrayD, Axis, IxDyn, SliceInfo, SliceInfoElem};
use rask_core::{Kernel, Op, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::{Array, BlockTask, block_arg, block_key, block_value};
use crate::chunks::{Chunks, fmt_shape};
use crate::element::Element;
use crate::kernels::{elem_name, register_elements};

/// One element of a NumPy basic index, as in `x[2, 1:-1, ::-2, None, :]`.
///
/// Build them with [`idx`], [`range`], [`range_step`], [`full`] and
/// [`newaxis`], or with the [`s!`](crate::s) macro.
///
/// ```
/// # use rask_local as _;
/// use rask_array::SliceElem;
/// let e = SliceElem::Range { start: Some(1), stop: None, step: -1 };
/// assert_eq!(e, rask_array::slicing::range_step(1, None, -1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SliceElem {
    /// One position (negative counts from the end); the axis is dropped.
    Index(isize),
    /// `start:stop:step` with Python's semantics: missing ends default by
    /// the step's sign, negative values count from the end, out-of-range
    /// values are clipped, and the step must not be 0.
    Range {
        /// First position, or the default for the step's sign.
        start: Option<isize>,
        /// End (exclusive), or the default for the step's sign.
        stop: Option<isize>,
        /// Distance between selected positions; negative walks backwards.
        step: isize,
    },
    /// A new axis of length 1 (NumPy's `None` / `np.newaxis`).
    NewAxis,
    /// The whole axis (`:`).
    Full,
}

/// The element at position `i` of an axis, which is dropped (`x[i]`).
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, slicing::idx};
/// let x = Array::<i64>::arange(0, 6, 1, &[4]).unwrap();
/// assert_eq!(x.slice(&[idx(-1)]).unwrap().compute_scalar().unwrap(), 5);
/// ```
pub fn idx(i: isize) -> SliceElem {
    SliceElem::Index(i)
}

/// The positions `start..stop` of an axis (`x[start:stop]`).
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, slicing::range};
/// let x = Array::<i64>::arange(0, 6, 1, &[4]).unwrap();
/// assert_eq!(x.slice(&[range(1, -1)]).unwrap().compute().unwrap().into_raw_vec_and_offset().0, vec![1, 2, 3, 4]);
/// ```
pub fn range(start: isize, stop: isize) -> SliceElem {
    SliceElem::Range {
        start: Some(start),
        stop: Some(stop),
        step: 1,
    }
}

/// The positions `start:stop:step` of an axis, with open ends given as
/// `None` (`x[::-2]` is `range_step(None, None, -2)`).
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, slicing::range_step};
/// let x = Array::<i64>::arange(0, 6, 1, &[4]).unwrap();
/// let y = x.slice(&[range_step(None, None, -2)]).unwrap();
/// assert_eq!(y.compute().unwrap().into_raw_vec_and_offset().0, vec![5, 3, 1]);
/// let z = x.slice(&[range_step(4, 0, -3)]).unwrap();
/// assert_eq!(z.compute().unwrap().into_raw_vec_and_offset().0, vec![4, 1]);
/// ```
pub fn range_step(
    start: impl Into<Option<isize>>,
    stop: impl Into<Option<isize>>,
    step: isize,
) -> SliceElem {
    SliceElem::Range {
        start: start.into(),
        stop: stop.into(),
        step,
    }
}

/// The whole axis (`x[:]`).
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, slicing::{full, idx}};
/// let x = Array::<f64>::ones(&[3, 4], &[2, 2]).unwrap();
/// assert_eq!(x.slice(&[full(), idx(0)]).unwrap().shape(), &[3]);
/// ```
pub fn full() -> SliceElem {
    SliceElem::Full
}

/// A new axis of length 1 (`x[None]`).
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, slicing::newaxis};
/// let x = Array::<f64>::ones(&[3], &[2]).unwrap();
/// assert_eq!(x.slice(&[newaxis()]).unwrap().shape(), &[1, 3]);
/// ```
pub fn newaxis() -> SliceElem {
    SliceElem::NewAxis
}

/// A marker for a new axis in the [`s!`](crate::s) macro (NumPy's `None`).
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, NewAxis, s};
/// let x = Array::<f64>::ones(&[3], &[2]).unwrap();
/// assert_eq!(x.slice(&s![.., NewAxis]).unwrap().shape(), &[3, 1]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewAxis;

impl From<NewAxis> for SliceElem {
    fn from(_: NewAxis) -> Self {
        SliceElem::NewAxis
    }
}

impl From<RangeFull> for SliceElem {
    fn from(_: RangeFull) -> Self {
        SliceElem::Full
    }
}

/// A Rust range usable with a step in the [`s!`](crate::s) macro:
/// `a..b`, `a..`, `..b` and `..` with integer ends.
pub trait SliceRange {
    /// The range as `(start, stop)`, `None` for an open end.
    fn ends(&self) -> (Option<isize>, Option<isize>);
}

impl SliceRange for RangeFull {
    fn ends(&self) -> (Option<isize>, Option<isize>) {
        (None, None)
    }
}

macro_rules! slice_from_integer {
    ($($t:ty),*) => {$(
        impl From<$t> for SliceElem {
            fn from(i: $t) -> Self {
                SliceElem::Index(i as isize)
            }
        }
        impl SliceRange for Range<$t> {
            fn ends(&self) -> (Option<isize>, Option<isize>) {
                (Some(self.start as isize), Some(self.end as isize))
            }
        }
        impl SliceRange for RangeFrom<$t> {
            fn ends(&self) -> (Option<isize>, Option<isize>) {
                (Some(self.start as isize), None)
            }
        }
        impl SliceRange for RangeTo<$t> {
            fn ends(&self) -> (Option<isize>, Option<isize>) {
                (None, Some(self.end as isize))
            }
        }
        impl From<Range<$t>> for SliceElem {
            fn from(r: Range<$t>) -> Self {
                SliceElem::stepped(r, 1)
            }
        }
        impl From<RangeFrom<$t>> for SliceElem {
            fn from(r: RangeFrom<$t>) -> Self {
                SliceElem::stepped(r, 1)
            }
        }
        impl From<RangeTo<$t>> for SliceElem {
            fn from(r: RangeTo<$t>) -> Self {
                SliceElem::stepped(r, 1)
            }
        }
    )*};
}

slice_from_integer!(i32, i64, isize, usize);

impl SliceElem {
    /// A range with a step: `SliceElem::stepped(1.., -1)` is `x[1::-1]`.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::SliceElem;
    /// assert_eq!(SliceElem::stepped(..3, 2), rask_array::slicing::range_step(None, 3, 2));
    /// ```
    pub fn stepped(range: impl SliceRange, step: isize) -> SliceElem {
        let (start, stop) = range.ends();
        SliceElem::Range { start, stop, step }
    }
}

/// Builds a NumPy basic index: `s![1, 2..-1, ..;-1, NewAxis]` is NumPy's
/// `[1, 2:-1, ::-1, None]`. Integers index, ranges (`a..b`, `a..`, `..b`,
/// `..`) slice and may take a step after `;`, [`NewAxis`] inserts an axis,
/// and any [`SliceElem`] may be used as is.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, NewAxis, s};
/// let x = Array::<i64>::arange(0, 12, 1, &[5]).unwrap();
/// let y = x.slice(&s![..;-3]).unwrap();
/// assert_eq!(y.compute().unwrap().into_raw_vec_and_offset().0, vec![11, 8, 5, 2]);
/// assert_eq!(x.slice(&s![NewAxis, 2..-2;2]).unwrap().shape(), &[1, 4]);
/// assert_eq!(x.slice(&s![-1]).unwrap().compute_scalar().unwrap(), 11);
/// ```
#[macro_export]
macro_rules! s {
    (@elem $e:expr) => { $crate::SliceElem::from($e) };
    (@elem $e:expr; $step:expr) => { $crate::SliceElem::stepped($e, $step) };
    ($($e:expr $(; $step:expr)?),* $(,)?) => {
        [$($crate::s!(@elem $e $(; $step)?)),*]
    };
}

/// Python's `slice.indices(len)` plus the count: `(start, step, count)`;
/// the selected positions are `start + k * step` for `k < count`.
fn normalize(start: Option<isize>, stop: Option<isize>, step: isize, len: usize) -> (isize, usize) {
    let len = len as isize;
    let (lower, upper) = if step < 0 { (-1, len - 1) } else { (0, len) };
    let clip = |v: isize| {
        let v = if v < 0 { v + len } else { v };
        v.clamp(lower, upper)
    };
    let start = start.map_or(if step < 0 { upper } else { lower }, clip);
    let stop = stop.map_or(if step < 0 { lower } else { upper }, clip);
    let count = if step > 0 && start < stop {
        (stop - start - 1) / step + 1
    } else if step < 0 && stop < start {
        (start - stop - 1) / (-step) + 1
    } else {
        0
    };
    (start, count as usize)
}

/// `x / a` rounded up, for `x >= 0` and `a > 0`, without overflow for
/// any `a`.
fn ceil_div(x: isize, a: isize) -> isize {
    x / a + isize::from(x % a != 0)
}

/// The selected positions `start + k * step`, per input block: for every
/// output block along the axis, the input block and the ndarray slice of it.
fn range_pieces(
    chunks: &[usize],
    start: isize,
    step: isize,
    count: usize,
) -> Vec<(usize, SliceInfoElem)> {
    let mut out = Vec::new();
    if count == 0 {
        return vec![(
            0,
            SliceInfoElem::Slice {
                start: 0,
                end: Some(0),
                step: 1,
            },
        )];
    }
    let n = count as isize;
    let mut offsets = Vec::with_capacity(chunks.len());
    let mut acc = 0isize;
    for &c in chunks {
        offsets.push(acc);
        acc += c as isize;
    }
    let a = step.abs();
    let blocks: Vec<usize> = if step > 0 {
        (0..chunks.len()).collect()
    } else {
        (0..chunks.len()).rev().collect()
    };
    for b in blocks {
        let (o, e) = (offsets[b], offsets[b] + chunks[b] as isize);
        // k0..=k1: the selected positions inside [o, e).
        let (k0, k1) = if step > 0 {
            let k0 = if start >= o {
                0
            } else {
                ceil_div(o - start, a)
            };
            if e - 1 < start {
                continue;
            }
            (k0, ((e - 1 - start) / a).min(n - 1))
        } else {
            // `e - 1` is the block's last position.
            let k0 = if start < e {
                0
            } else {
                ceil_div(start - (e - 1), a)
            };
            if start < o {
                continue;
            }
            (k0, ((start - o) / a).min(n - 1))
        };
        if k0 > k1 {
            continue;
        }
        let first = start + k0 * step - o;
        let last = start + k1 * step - o;
        let (lo, hi) = (first.min(last), first.max(last));
        out.push((
            b,
            SliceInfoElem::Slice {
                start: lo,
                end: Some(hi + 1),
                step,
            },
        ));
    }
    out
}

/// One element of a normalised index, in the caller's order.
enum Step {
    /// Inserts a length-1 output axis.
    NewAxis,
    /// Reads one position of one input block; the input axis is dropped.
    Index { block: usize, local: usize },
    /// Output axis `out` has one block per piece: an input block and the
    /// slice of it.
    Range {
        out: usize,
        pieces: Vec<(usize, SliceInfoElem)>,
    },
}

/// One element of a normalised index as it names the layer: equal keys
/// select the same elements.
#[derive(Serialize)]
enum AxisKey {
    NewAxis,
    Index(usize),
    Range {
        start: isize,
        step: isize,
        count: usize,
    },
}

/// A normalised index and the output's chunks.
struct SlicePlan {
    steps: Vec<Step>,
    out_chunks: Chunks,
    /// What names the layer.
    key: Vec<AxisKey>,
}

fn plan(shape: &[usize], chunks: &Chunks, elems: &[SliceElem]) -> Result<SlicePlan, String> {
    let consumed = elems.iter().filter(|e| **e != SliceElem::NewAxis).count();
    if consumed > shape.len() {
        return Err(format!(
            "slice: {consumed} indices given for an array of shape {} with {} axes; give at most one per axis (plus new axes)",
            fmt_shape(shape),
            shape.len()
        ));
    }
    let full = vec![SliceElem::Full; shape.len() - consumed];
    let mut steps = Vec::with_capacity(elems.len() + full.len());
    let mut out_chunks = Vec::new();
    let mut key = Vec::with_capacity(steps.capacity());
    let mut ax = 0;
    for elem in elems.iter().chain(&full) {
        match *elem {
            SliceElem::NewAxis => {
                steps.push(Step::NewAxis);
                key.push(AxisKey::NewAxis);
                out_chunks.push(vec![1]);
            }
            SliceElem::Index(i) => {
                let len = shape[ax];
                let pos = if i < 0 { i + len as isize } else { i };
                if pos < 0 || pos >= len as isize {
                    return Err(format!(
                        "slice: index {i} is out of bounds for axis {ax} with length {len} (array of shape {}); use -{len} <= index < {len}",
                        fmt_shape(shape)
                    ));
                }
                let mut pos = pos as usize;
                key.push(AxisKey::Index(pos));
                let mut block = 0;
                while pos >= chunks.axis(ax)[block] {
                    pos -= chunks.axis(ax)[block];
                    block += 1;
                }
                steps.push(Step::Index { block, local: pos });
                ax += 1;
            }
            SliceElem::Range { step: 0, .. } => {
                return Err(format!(
                    "slice: step 0 on axis {ax} of an array of shape {}; use a non-zero step",
                    fmt_shape(shape)
                ));
            }
            SliceElem::Full | SliceElem::Range { .. } => {
                let (start, stop, step) = match *elem {
                    // A step of `isize::MIN` selects what `-isize::MAX`
                    // does (one element: no axis is that long) and has no
                    // magnitude of its own.
                    SliceElem::Range { start, stop, step } => (start, stop, step.max(-isize::MAX)),
                    _ => (None, None, 1),
                };
                let (first, count) = normalize(start, stop, step, shape[ax]);
                key.push(if count == 0 {
                    AxisKey::Range {
                        start: 0,
                        step: 1,
                        count: 0,
                    }
                } else {
                    AxisKey::Range {
                        start: first,
                        step,
                        count,
                    }
                });
                let pieces = range_pieces(chunks.axis(ax), first, step, count);
                let sizes: Vec<usize> = if count == 0 {
                    vec![0]
                } else {
                    pieces.iter().map(|(_, s)| slice_len(s)).collect()
                };
                steps.push(Step::Range {
                    out: out_chunks.len(),
                    pieces,
                });
                out_chunks.push(sizes);
                ax += 1;
            }
        }
    }
    Ok(SlicePlan {
        steps,
        out_chunks: Chunks::from_vec(out_chunks),
        key,
    })
}

/// Number of elements an ndarray slice with `start <= end` selects.
fn slice_len(s: &SliceInfoElem) -> usize {
    match *s {
        SliceInfoElem::Slice {
            start,
            end: Some(end),
            step,
        } if end > start => ((end - start - 1) / step.abs() + 1) as usize,
        _ => 0,
    }
}

/// One axis of a block's slice, as a kernel parameter: what
/// [`SliceInfoElem`] says, in block coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Sel {
    /// A new length-1 axis.
    NewAxis,
    /// One position; the axis is dropped.
    Index(usize),
    /// Positions `start..end`, every `step`-th, from the end when negative.
    Slice {
        start: usize,
        end: usize,
        step: isize,
    },
}

impl Sel {
    /// The parameter of a slice element made by [`plan`]: non-negative
    /// positions and an end.
    fn of(s: &SliceInfoElem) -> Sel {
        match *s {
            SliceInfoElem::NewAxis => Sel::NewAxis,
            SliceInfoElem::Index(i) => Sel::Index(i as usize),
            SliceInfoElem::Slice { start, end, step } => Sel::Slice {
                start: start as usize,
                end: end.map_or(start as usize, |e| e as usize),
                step,
            },
        }
    }

    fn info(self) -> SliceInfoElem {
        match self {
            Sel::NewAxis => SliceInfoElem::NewAxis,
            Sel::Index(i) => SliceInfoElem::Index(i as isize),
            Sel::Slice { start, end, step } => SliceInfoElem::Slice {
                start: start as isize,
                end: Some(end as isize),
                step,
            },
        }
    }
}

/// One block of a slice: a slice of one input block of shape `expected`,
/// or the whole block as it is (`index` is `None`).
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct GetitemBlock<T> {
    expected: Vec<usize>,
    index: Option<Vec<Sel>>,
    _t: PhantomData<T>,
}

impl<T: Element> Kernel for GetitemBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.getitem", T);
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let b = block_arg::<T>(args, 0)?;
        let Some(index) = &self.index else {
            // Reading a whole block as it is passes it on without a copy.
            return Ok(args[0].clone());
        };
        if b.shape() != self.expected.as_slice() {
            return Err(TaskError::failed(format!(
                "getitem: an input block has shape {}, but its chunks say {}",
                fmt_shape(b.shape()),
                fmt_shape(&self.expected)
            )));
        }
        // Out-of-bounds positions would make ndarray panic: check them.
        let mut lens = b.shape().iter();
        let fits = index.iter().all(|s| match *s {
            Sel::NewAxis => true,
            Sel::Index(i) => lens.next().is_some_and(|&n| i < n),
            Sel::Slice { start, end, step } => {
                step != 0
                    && step != isize::MIN
                    && start <= end
                    && lens.next().is_some_and(|&n| end <= n)
            }
        }) && lens.next().is_none();
        if !fits {
            return Err(TaskError::failed(format!(
                "getitem: the index {index:?} does not fit a block of shape {}",
                fmt_shape(b.shape())
            )));
        }
        let info: Vec<SliceInfoElem> = index.iter().map(|s| s.info()).collect();
        let info = SliceInfo::<&[SliceInfoElem], IxDyn, IxDyn>::try_from(info.as_slice())
            .map_err(|e| TaskError::failed(format!("getitem: {e}")))?;
        Ok(block_value(b.slice(info).as_standard_layout().into_owned()))
    }
}

register_elements!(GetitemBlock);

/// One block of `take`: lane `local` (along `axis`) of argument `p`, for
/// every `(p, local)` in `reads`, stacked into a block of shape `shape`.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct TakeBlock<T> {
    reads: Vec<(usize, usize)>,
    axis: usize,
    shape: Vec<usize>,
    _t: PhantomData<T>,
}

impl<T: Element> Kernel for TakeBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.take", T);
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        gather::<T>(args, &self.reads, self.axis, &self.shape)
    }
}

register_elements!(TakeBlock);

impl<T: Element> Array<T> {
    /// NumPy's basic indexing: `x.slice(&s![1, 2..-1, ..;-1, NewAxis]).unwrap()` is
    /// `x[1, 2:-1, ::-1, None]`.
    ///
    /// Axes without an element are taken whole. Negative positions count
    /// from the end; ranges follow Python's rules (clipped to the axis,
    /// negative steps walk backwards). An integer out of range or a step of
    /// 0 is an error naming the axis.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray::array, s, slicing::{idx, range}};
    /// let nd = array![[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]].into_dyn();
    /// let x = Array::from_ndarray(nd.clone(), &[2, 3]).unwrap();
    /// let y = x.slice(&[range(1, 3), idx(-1)]).unwrap();
    /// assert_eq!(y.compute().unwrap(), array![7, 11].into_dyn());
    /// let z = x.slice(&s![..;-1, 1..;2]).unwrap();
    /// assert_eq!(z.compute().unwrap(), array![[9, 11], [5, 7], [1, 3]].into_dyn());
    /// ```
    pub fn slice(&self, elems: &[SliceElem]) -> rask_core::Result<Array<T>> {
        self.slice_or_invalid(elems).into_result()
    }

    /// [`Array::slice`], with an error carried by the array instead.
    pub(crate) fn slice_or_invalid(&self, elems: &[SliceElem]) -> Array<T> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        let plan = match plan(self.shape(), self.chunks(), elems) {
            Ok(p) => p,
            Err(e) => return Array::invalid(e),
        };
        let identity = plan.out_chunks == *self.chunks()
            && plan.steps.iter().all(|step| match step {
                Step::Range { pieces, .. } => pieces.iter().enumerate().all(|(i, (b, s))| {
                    *b == i && matches!(s, SliceInfoElem::Slice { step: 1, .. })
                }),
                Step::NewAxis | Step::Index { .. } => false,
            });
        if identity {
            return self.clone();
        }
        let SlicePlan {
            steps,
            out_chunks,
            key,
        } = plan;
        let src = self.node.name.clone();
        let in_chunks = self.chunks().clone();
        Array::kernel_layer(
            "getitem",
            &key,
            out_chunks,
            vec![self.input()],
            move |idx| {
                // The input block to read and the index of the slice.
                let mut in_idx = Vec::with_capacity(steps.len());
                let mut index: Vec<Sel> = Vec::with_capacity(steps.len());
                for step in &steps {
                    match step {
                        Step::NewAxis => index.push(Sel::NewAxis),
                        Step::Index { block, local } => {
                            in_idx.push(*block);
                            index.push(Sel::Index(*local));
                        }
                        Step::Range { out, pieces } => {
                            let (b, s) = &pieces[idx[*out]];
                            in_idx.push(*b);
                            index.push(Sel::of(s));
                        }
                    }
                }
                let expected = in_chunks.block_shape(&in_idx);
                // Reading a whole block as it is passes it on without a copy.
                let whole = index.len() == expected.len()
                    && index.iter().zip(&expected).all(|(s, &n)| {
                        *s == Sel::Slice {
                            start: 0,
                            end: n,
                            step: 1,
                        }
                    });
                BlockTask {
                    op: Op::kernel_blockwise(GetitemBlock::<T> {
                        expected,
                        index: (!whole).then_some(index),
                        _t: PhantomData,
                    }),
                    deps: vec![block_key(&src, &in_idx)],
                }
            },
        )
    }

    /// The elements at `indices` along `axis` (NumPy's `take`); negative
    /// indices count from the end and may repeat. An index out of range or
    /// an axis the array does not have is an error.
    ///
    /// The output splits the indices into blocks of the input's first block
    /// size along `axis`; each output block gathers from the input blocks
    /// its indices hit.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray::{array, Axis}};
    /// let x = Array::from_ndarray(array![[1, 2, 3], [4, 5, 6]].into_dyn(), &[1, 2]).unwrap();
    /// let y = x.take(&[2, 0, -1], Axis(1)).unwrap();
    /// assert_eq!(y.compute().unwrap(), array![[3, 1, 3], [6, 4, 6]].into_dyn());
    /// ```
    pub fn take(&self, indices: &[isize], axis: Axis) -> rask_core::Result<Array<T>> {
        self.take_or_invalid(indices, axis).into_result()
    }

    /// [`Array::take`], with an error carried by the array instead.
    pub(crate) fn take_or_invalid(&self, indices: &[isize], axis: Axis) -> Array<T> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        let ax = axis.index();
        if ax >= self.ndim() {
            return Array::invalid(format!(
                "take: axis {ax} is out of bounds for an array of shape {} with {} axes",
                fmt_shape(self.shape()),
                self.ndim()
            ));
        }
        let len = self.shape()[ax];
        let in_chunks = self.chunks().clone();
        let offsets = in_chunks.offsets(ax);
        // (input block, position inside it) of every index.
        let mut hits = Vec::with_capacity(indices.len());
        let mut positions = Vec::with_capacity(indices.len());
        for &i in indices {
            let pos = if i < 0 { i + len as isize } else { i };
            if pos < 0 || pos >= len as isize {
                return Array::invalid(format!(
                    "take: index {i} is out of bounds for axis {ax} with length {len} (array of shape {}); use -{len} <= index < {len}",
                    fmt_shape(self.shape())
                ));
            }
            let pos = pos as usize;
            positions.push(pos);
            let b = offsets.partition_point(|&o| o <= pos) - 1;
            hits.push((b, pos - offsets[b]));
        }
        let size = in_chunks.axis(ax)[0].max(1);
        let mut out_axis: Vec<usize> = hits.chunks(size).map(<[_]>::len).collect();
        if out_axis.is_empty() {
            out_axis.push(0);
        }
        let mut per_axis = in_chunks.as_slices().to_vec();
        per_axis[ax] = out_axis;
        let out_chunks = Chunks::from_vec(per_axis);
        let src = self.node.name.clone();
        let c = out_chunks.clone();
        Array::kernel_layer(
            "take",
            &(ax, positions),
            out_chunks,
            vec![self.input()],
            move |idx| {
                let from = (idx[ax] * size).min(hits.len());
                let part = &hits[from..(from + size).min(hits.len())];
                let mut blocks: Vec<usize> = part.iter().map(|&(b, _)| b).collect();
                blocks.sort_unstable();
                blocks.dedup();
                let deps = blocks
                    .iter()
                    .map(|&b| {
                        let mut i = idx.to_vec();
                        i[ax] = b;
                        block_key(&src, &i)
                    })
                    .collect();
                // Each index as (argument position, position in that block).
                let reads: Vec<(usize, usize)> = part
                    .iter()
                    .map(|&(b, local)| (blocks.binary_search(&b).unwrap_or(0), local))
                    .collect();
                let shape = c.block_shape(idx);
                BlockTask {
                    op: Op::kernel(TakeBlock::<T> {
                        reads,
                        axis: ax,
                        shape,
                        _t: PhantomData,
                    }),
                    deps,
                }
            },
        )
    }
}

/// Stacks lane `local` of argument `p` for every `(p, local)` in `reads`.
fn gather<T: Element>(
    args: &[Value],
    reads: &[(usize, usize)],
    ax: usize,
    shape: &[usize],
) -> Result<Value, TaskError> {
    if reads.is_empty() {
        let empty = ArrayD::<T>::from_shape_vec(IxDyn(shape), Vec::new())
            .map_err(|e| TaskError::failed(format!("take: {e}")))?;
        return Ok(block_value(empty));
    }
    let mut lanes = Vec::with_capacity(reads.len());
    for &(p, local) in reads {
        let b = block_arg::<T>(args, p)?;
        if b.ndim() != shape.len() || ax >= shape.len() || local >= b.shape()[ax] {
            return Err(TaskError::failed(format!(
                "take: an input block has shape {}, too small for position {local} along axis {ax}",
                fmt_shape(b.shape())
            )));
        }
        lanes.push(b.index_axis(Axis(ax), local));
    }
    let out = ndarray::stack(Axis(ax), &lanes)
        .map_err(|e| e.to_string())
        .and_then(|out| {
            if out.shape() == shape {
                Ok(out)
            } else {
                Err(format!("they make one of shape {}", fmt_shape(out.shape())))
            }
        })
        .map_err(|e| {
            TaskError::failed(format!(
                "take: input blocks do not line up into a block of shape {}: {e}",
                fmt_shape(shape)
            ))
        })?;
    Ok(block_value(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(start: Option<isize>, stop: Option<isize>, step: isize, len: usize) -> Vec<isize> {
        let (s, n) = normalize(start, stop, step, len);
        (0..n as isize).map(|k| s + k * step).collect()
    }

    #[test]
    fn normalize_follows_python() {
        // Checked against Python's list(range(len))[start:stop:step].
        assert_eq!(positions(None, None, 1, 5), vec![0, 1, 2, 3, 4]);
        assert_eq!(positions(None, None, -1, 5), vec![4, 3, 2, 1, 0]);
        assert_eq!(positions(Some(-2), None, 1, 5), vec![3, 4]);
        assert_eq!(positions(Some(10), Some(-10), -2, 5), vec![4, 2, 0]);
        assert_eq!(positions(Some(5), Some(2), 1, 5), Vec::<isize>::new());
        assert_eq!(positions(Some(1), Some(-1), 3, 7), vec![1, 4]);
        assert_eq!(positions(Some(-100), Some(100), 1, 3), vec![0, 1, 2]);
        assert_eq!(positions(Some(0), None, -1, 5), vec![0]);
        assert_eq!(positions(None, None, 1, 0), Vec::<isize>::new());
        assert_eq!(positions(None, None, -3, 0), Vec::<isize>::new());
    }

    #[test]
    fn kernels_refuse_what_does_not_fit_instead_of_panicking() {
        let b = [block_value(ArrayD::<f64>::zeros(IxDyn(&[3, 4])))];
        let get = |index: Vec<Sel>| {
            GetitemBlock::<f64> {
                expected: vec![3, 4],
                index: Some(index),
                _t: PhantomData,
            }
            .run(&b)
        };
        let range = |start, end, step| Sel::Slice { start, end, step };
        assert!(get(vec![Sel::Index(3), range(0, 4, 1)]).is_err());
        assert!(get(vec![Sel::Index(0), range(0, 5, 1)]).is_err());
        assert!(get(vec![Sel::Index(0), range(2, 1, 1)]).is_err());
        assert!(get(vec![Sel::Index(0), range(0, 4, 0)]).is_err());
        assert!(get(vec![Sel::Index(0), range(0, 4, isize::MIN)]).is_err());
        assert!(get(vec![Sel::Index(0)]).is_err());
        assert!(get(vec![Sel::Index(0), Sel::Index(0), Sel::Index(0)]).is_err());
        let ok = get(vec![Sel::Index(2), Sel::NewAxis, range(1, 4, -2)]).unwrap();
        assert_eq!(ok.get::<ArrayD<f64>>(0).unwrap().shape(), &[1, 2]);

        let take = |reads: Vec<(usize, usize)>, axis, shape: Vec<usize>| {
            TakeBlock::<f64> {
                reads,
                axis,
                shape,
                _t: PhantomData,
            }
            .run(&b)
        };
        assert!(take(vec![(0, 3)], 0, vec![1, 4]).is_err());
        assert!(take(vec![(0, 0)], 2, vec![1, 4]).is_err());
        assert!(take(vec![(1, 0)], 0, vec![1, 4]).is_err());
        assert!(take(vec![(0, 0)], 0, vec![2, 4]).is_err());
        assert!(take(vec![], 0, vec![1, 4]).is_err());
        assert!(take(vec![(0, 2), (0, 0)], 0, vec![2, 4]).is_ok());
    }

    #[test]
    fn pieces_split_by_block() {
        // Positions 9, 6, 3, 0 over blocks [4, 4, 2].
        let p = range_pieces(&[4, 4, 2], 9, -3, 4);
        let blocks: Vec<usize> = p.iter().map(|(b, _)| *b).collect();
        assert_eq!(blocks, vec![2, 1, 0]);
        assert_eq!(
            p.iter().map(|(_, s)| slice_len(s)).collect::<Vec<_>>(),
            vec![1, 1, 2]
        );
    }
}
