//! Shape manipulation: [`Array::reshape`] (C order, as NumPy), and the
//! shortcuts built on it: `squeeze`, `squeeze_axes`, `expand_dims`,
//! `ravel` and `flatten`.
//!
//! # Plan (after Dask's `reshape_rechunk`)
//!
//! Old and new axes are walked from the left and grouped into the smallest
//! runs with equal products; a length-1 axis on either side is a group of
//! its own (dropped, or added with chunks `[1]`). Every other group, old
//! axes `a0 a1 … ap` and new axes `b0 b1 … bq`, gets one rule:
//!
//! * A block must be a contiguous run of the group in C order on both
//!   sides, so every axis but the leading one (`a0`, `b0`) is whole.
//! * Block boundaries along `a0` must then fall on whole rows of `b0`: with
//!   `R_in = a1⋯ap` and `R_out = b1⋯bq` elements per row, at multiples of
//!   `step = lcm(R_in, R_out) / R_in` rows of `a0`. The old chunks of `a0`
//!   are kept, neighbours merged only until each is a multiple of `step`,
//!   and `b0` gets the same runs of elements, `c · R_in / R_out` rows each.
//! * When the group has trailing old axes (`p ≥ 1`), making them whole
//!   multiplies block sizes by their number of blocks, so the chunks of
//!   `a0` are split further, at multiples of `step`, until a block holds no
//!   more elements of the group than the largest block did before (Dask's
//!   `expand_tuple`), unless a single step is already larger.
//!
//! One rule covers every kind of group: one → one (`step` is 1, chunks are
//! kept), many → one (`R_out = 1`: the merge keeps `a0`'s chunks, each
//! `R_in` times longer), one → many (`R_in = 1`: `a0` is merged to
//! multiples of `R_out`) and many → many: `(6, 4) → (4, 6)` has `step` 3,
//! so `a0` in blocks of 3 rows becomes `b0` in blocks of 2. The whole group
//! is one block only when `step` is all of `a0`, as in `(4, 6) → (3, 8)`.
//!
//! After that rechunk, the input and output have equal numbers of blocks,
//! matched in C order, and every output block is the C-order reshape of one
//! input block: a blockwise task. Arrays with no element become one empty
//! block.

use std::marker::PhantomData;
use std::ops::Range;

use ndarray::{ArrayD, IxDyn, Order};
use rask_core::{Kernel, Op, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::{Array, BlockTask, block_arg, block_key, block_value};
use crate::chunks::{Chunks, fmt_shape};
use crate::element::Element;
use crate::kernels::{elem_name, register_elements};

/// Per-axis block sizes.
type AxisChunks = Vec<Vec<usize>>;

/// Chunks that `factor` divides, made by merging neighbours of `chunks`
/// (whose sum `factor` divides): `[2, 2, 8, 4]` by 4 is `[4, 8, 4]`.
fn contract(chunks: &[usize], factor: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(chunks.len());
    let mut residual = 0;
    for &c in chunks {
        let c = c + residual;
        let good = c / factor * factor;
        residual = c - good;
        if good > 0 {
            out.push(good);
        }
    }
    out
}

/// The chunks the input must have and the chunks of the output, for a
/// reshape between shapes of equal, non-zero size. `None` only if the
/// shapes do not hold the same number of elements.
fn reshape_plan(old: &[usize], chunks: &Chunks, new: &[usize]) -> Option<(AxisChunks, AxisChunks)> {
    let mut in_c: Vec<Vec<usize>> = chunks.as_slices().to_vec();
    let mut out_c: Vec<Vec<usize>> = vec![Vec::new(); new.len()];
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        let (o, n) = (old.get(i).copied(), new.get(j).copied());
        match (o, n) {
            (Some(1), Some(1)) => {
                out_c[j] = vec![1];
                i += 1;
                j += 1;
                continue;
            }
            (Some(1), _) => {
                i += 1; // dropped; its chunks are [1]
                continue;
            }
            (_, Some(1)) => {
                out_c[j] = vec![1];
                j += 1;
                continue;
            }
            (Some(_), Some(_)) => {}
            _ => return None,
        }
        // A group: extend the smaller side until the products meet.
        let (i0, j0) = (i, j);
        let (mut po, mut pn) = (old[i], new[j]);
        i += 1;
        j += 1;
        while po != pn {
            if po < pn {
                po *= old.get(i)?;
                i += 1;
            } else {
                pn *= new.get(j)?;
                j += 1;
            }
        }
        group_chunks(old, new, &mut in_c, &mut out_c, i0..i, j0..j);
    }
    Some((in_c, out_c))
}

/// The chunks of one group of old axes `ia` and new axes `ja` with equal
/// products (see the module docs): `in_c` is updated to the chunks the
/// input must have, and `out_c` gets the output's.
fn group_chunks(
    old: &[usize],
    new: &[usize],
    in_c: &mut AxisChunks,
    out_c: &mut AxisChunks,
    ia: Range<usize>,
    ja: Range<usize>,
) {
    let (i0, j0) = (ia.start, ja.start);
    let r_in: usize = old[i0 + 1..ia.end].iter().product();
    let r_out: usize = new[j0 + 1..ja.end].iter().product();
    let step = r_out / gcd(r_in, r_out);
    let mut lead = contract(&in_c[i0], step);
    if ia.len() > 1 {
        let largest: usize = in_c[ia.clone()]
            .iter()
            .map(|c| c.iter().copied().max().unwrap_or(1))
            .product();
        let rows = (largest / r_in / step).max(1) * step;
        lead = split_to(&lead, rows, step);
    }
    for a in i0 + 1..ia.end {
        in_c[a] = vec![old[a]];
    }
    out_c[j0] = lead.iter().map(|c| c * r_in / r_out).collect();
    in_c[i0] = lead;
    for b in j0 + 1..ja.end {
        out_c[b] = vec![new[b]];
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `chunks` (multiples of `step`) with every chunk longer than `rows` (a
/// multiple of `step`) cut into nearly equal multiples of `step` of at most
/// `rows`: `[12, 4]` with rows 4 and step 2 is `[4, 4, 4, 4]`.
fn split_to(chunks: &[usize], rows: usize, step: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(chunks.len());
    for &c in chunks {
        if c <= rows {
            out.push(c);
            continue;
        }
        let (steps, pieces) = (c / step, c.div_ceil(rows));
        let (base, extra) = (steps / pieces, steps % pieces);
        out.extend((0..pieces).map(|k| (base + usize::from(k < extra)) * step));
    }
    out
}

/// Unravels a C-order position into an index of a grid of `dims`.
pub(crate) fn unravel(mut pos: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for (i, &d) in dims.iter().enumerate().rev() {
        idx[i] = pos % d;
        pos /= d;
    }
    idx
}

/// One block of a reshape: the input block read and written in C order
/// into `shape`.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct ReshapeBlock<T> {
    shape: Vec<usize>,
    _t: PhantomData<T>,
}

impl<T: Element> Kernel for ReshapeBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.reshape", T);
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let b = block_arg::<T>(args, 0)?;
        let out = b
            .to_shape((IxDyn(&self.shape), Order::RowMajor))
            .map_err(|e| {
                TaskError::failed(format!(
                    "reshape: a block of shape {} cannot become {}: {e}",
                    fmt_shape(b.shape()),
                    fmt_shape(&self.shape)
                ))
            })?;
        Ok(block_value(out.into_owned()))
    }
}

register_elements!(ReshapeBlock);

/// The one block of a reshape into a shape without elements: an empty
/// block of shape `shape`, read from nothing.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct EmptyBlock<T> {
    shape: Vec<usize>,
    _t: PhantomData<T>,
}

impl<T: Element> Kernel for EmptyBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.reshape_empty", T);
    fn run(&self, _: &[Value]) -> Result<Value, TaskError> {
        let out = ArrayD::<T>::from_shape_vec(IxDyn(&self.shape), Vec::new()).map_err(|e| {
            TaskError::failed(format!(
                "reshape: shape {} is not empty: {e}",
                fmt_shape(&self.shape)
            ))
        })?;
        Ok(block_value(out))
    }
}

register_elements!(EmptyBlock);

impl<T: Element> Array<T> {
    /// The same elements in another shape, read and written in C order
    /// (NumPy's `reshape`). The shapes must hold the same number of
    /// elements; otherwise it is an error naming both.
    ///
    /// Blocks are first rechunked where the reshape needs it (see the
    /// module docs), then each is reshaped on its own.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::Array;
    /// let x = Array::<i64>::arange(0, 24, 1, &[5]).unwrap();
    /// let y = x.reshape(&[2, 3, 4]).unwrap();
    /// assert_eq!(y.chunks().as_slices(), &[vec![1, 1], vec![3], vec![4]]);
    /// let nd = y.compute().unwrap();
    /// assert_eq!(nd[[1, 2, 3]], 23);
    /// assert_eq!(y.reshape(&[24]).unwrap().compute().unwrap(), x.compute().unwrap());
    /// ```
    pub fn reshape(&self, shape: &[usize]) -> rask_core::Result<Array<T>> {
        self.reshape_or_invalid(shape).into_result()
    }

    /// [`Array::reshape`], with an error carried by the array instead.
    pub(crate) fn reshape_or_invalid(&self, shape: &[usize]) -> Array<T> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        let size = shape.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n));
        if size != Some(self.len()) {
            let size = size.map_or("more than fit in an index".into(), |n| n.to_string());
            return Array::invalid(format!(
                "reshape: cannot reshape an array of shape {} ({} elements) into shape {} ({size} elements); the shapes must hold the same number of elements",
                fmt_shape(self.shape()),
                self.len(),
                fmt_shape(shape)
            ));
        }
        let size = self.len();
        if shape == self.shape() {
            return self.clone();
        }
        if size == 0 {
            let chunks = Chunks::from_vec(shape.iter().map(|&n| vec![n]).collect());
            let block = shape.to_vec();
            return Array::kernel_layer("reshape", shape, chunks, Vec::new(), move |_| BlockTask {
                op: Op::kernel_blockwise(EmptyBlock::<T> {
                    shape: block.clone(),
                    _t: PhantomData,
                }),
                deps: Vec::new(),
            });
        }
        let Some((in_c, out_c)) = reshape_plan(self.shape(), self.chunks(), shape) else {
            return Array::invalid(format!(
                "reshape: internal error planning {} -> {}",
                fmt_shape(self.shape()),
                fmt_shape(shape)
            ));
        };
        let input = self.rechunk_to(&Chunks::from_vec(in_c));
        let out_chunks = Chunks::from_vec(out_c);
        let in_numblocks = input.numblocks();
        let out_numblocks = out_chunks.numblocks();
        let src = input.node.name.clone();
        let c = out_chunks.clone();
        Array::kernel_layer(
            "reshape",
            shape,
            out_chunks,
            vec![input.input()],
            move |idx| {
                let pos = crate::array::linear_index(idx, &out_numblocks);
                let in_idx = unravel(pos, &in_numblocks);
                BlockTask {
                    op: Op::kernel_blockwise(ReshapeBlock::<T> {
                        shape: c.block_shape(idx),
                        _t: PhantomData,
                    }),
                    deps: vec![block_key(&src, &in_idx)],
                }
            },
        )
    }

    /// The array without its length-1 axes (NumPy's `squeeze()`).
    ///
    /// ```
    /// # use rask_local as _;
    /// let x = rask_array::Array::<f64>::ones(&[1, 3, 1, 2], &[1, 2, 1, 2]).unwrap();
    /// assert_eq!(x.squeeze().shape(), &[3, 2]);
    /// ```
    pub fn squeeze(&self) -> Array<T> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        let shape: Vec<usize> = self.shape().iter().copied().filter(|&n| n != 1).collect();
        self.reshape_or_invalid(&shape)
    }

    /// The array without the given axes, which must have length 1 (NumPy's
    /// `squeeze(axis=...)`); otherwise an invalid array naming the axis.
    ///
    /// ```
    /// # use rask_local as _;
    /// let x = rask_array::Array::<f64>::ones(&[1, 3, 1], &[1, 2, 1]).unwrap();
    /// assert_eq!(x.squeeze_axes(&[2]).shape(), &[1, 3]);
    /// assert!(x.squeeze_axes(&[1]).compute().is_err());
    /// ```
    pub fn squeeze_axes(&self, axes: &[usize]) -> Array<T> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        let mut drop = vec![false; self.ndim()];
        for &a in axes {
            if a >= self.ndim() {
                return Array::invalid(format!(
                    "squeeze_axes: axis {a} is out of bounds for an array of shape {} with {} axes",
                    fmt_shape(self.shape()),
                    self.ndim()
                ));
            }
            if self.shape()[a] != 1 {
                return Array::invalid(format!(
                    "squeeze_axes: axis {a} has length {}, not 1, in an array of shape {}; only length-1 axes can be removed",
                    self.shape()[a],
                    fmt_shape(self.shape())
                ));
            }
            if std::mem::replace(&mut drop[a], true) {
                return Array::invalid(format!(
                    "squeeze_axes: axis {a} is given twice in {axes:?}"
                ));
            }
        }
        let shape: Vec<usize> = self
            .shape()
            .iter()
            .zip(&drop)
            .filter(|(_, d)| !**d)
            .map(|(&n, _)| n)
            .collect();
        self.reshape_or_invalid(&shape)
    }

    /// The array with a new length-1 axis at position `axis` (NumPy's
    /// `expand_dims`); `axis` may be at most `ndim`.
    ///
    /// ```
    /// # use rask_local as _;
    /// let x = rask_array::Array::<f64>::ones(&[3, 2], &[2, 2]).unwrap();
    /// let y = x.expand_dims(1);
    /// assert_eq!(y.shape(), &[3, 1, 2]);
    /// assert_eq!(y.chunks().axis(1), &[1]);
    /// ```
    pub fn expand_dims(&self, axis: usize) -> Array<T> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        if axis > self.ndim() {
            return Array::invalid(format!(
                "expand_dims: axis {axis} is out of bounds for an array of shape {}; use an axis of at most {}",
                fmt_shape(self.shape()),
                self.ndim()
            ));
        }
        let mut shape = self.shape().to_vec();
        shape.insert(axis, 1);
        self.reshape_or_invalid(&shape)
    }

    /// The elements as a 1-d array in C order (NumPy's `ravel`).
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray::array};
    /// let x = Array::from_ndarray(array![[1, 2], [3, 4]].into_dyn(), &[1, 2]).unwrap();
    /// assert_eq!(x.ravel().compute().unwrap(), array![1, 2, 3, 4].into_dyn());
    /// ```
    pub fn ravel(&self) -> Array<T> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        self.reshape_or_invalid(&[self.len()])
    }

    /// The same as [`Array::ravel`] (NumPy's `flatten`; nothing is copied
    /// until computed either way).
    ///
    /// ```
    /// # use rask_local as _;
    /// let x = rask_array::Array::<f64>::ones(&[2, 3], &[1, 3]).unwrap();
    /// assert_eq!(x.flatten().shape(), &[6]);
    /// ```
    pub fn flatten(&self) -> Array<T> {
        self.ravel()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(old: &[usize], chunks: AxisChunks, new: &[usize]) -> (AxisChunks, AxisChunks) {
        let c = Chunks::new(chunks, old).unwrap();
        reshape_plan(old, &c, new).unwrap()
    }

    #[test]
    fn contract_merges_to_multiples() {
        assert_eq!(contract(&[2, 2, 8, 4], 4), vec![4, 8, 4]);
        assert_eq!(contract(&[10, 10, 10, 10, 10, 10, 4], 16), vec![16; 4]);
    }

    #[test]
    fn split_to_cuts_long_chunks_at_multiples_of_the_step() {
        assert_eq!(split_to(&[12, 4], 4, 2), vec![4, 4, 4, 4]);
        assert_eq!(split_to(&[10, 2], 4, 2), vec![4, 4, 2, 2]);
        assert_eq!(split_to(&[9, 3], 3, 3), vec![3, 3, 3, 3]);
        assert_eq!(split_to(&[5], 8, 1), vec![5]);
    }

    #[test]
    fn merge_keeps_the_first_axis_chunks() {
        // The trailing axes are already whole: nothing to split.
        let (i, o) = plan(&[4, 4, 4], vec![vec![2, 2], vec![4], vec![4]], &[64]);
        assert_eq!(i, vec![vec![2, 2], vec![4], vec![4]]);
        assert_eq!(o, vec![vec![32, 32]]);
    }

    #[test]
    fn merge_splits_the_first_axis_to_keep_blocks_small() {
        // Blocks of 2 x 2 x 2; merging the trailing axes whole would make
        // them 2 x 4 x 4, so the first axis is cut to rows of 1.
        let (i, o) = plan(&[4, 4, 4], vec![vec![2, 2]; 3], &[64]);
        assert_eq!(i, vec![vec![1; 4], vec![4], vec![4]]);
        assert_eq!(o, vec![vec![16; 4]]);
        // Blocks of 3 x 2 become 1 x 6 (a block cannot be less than a row).
        let (i, o) = plan(&[6, 6], vec![vec![3, 3], vec![2, 2, 2]], &[36]);
        assert_eq!(i, vec![vec![1; 6], vec![6]]);
        assert_eq!(o, vec![vec![6; 6]]);
    }

    #[test]
    fn split_rechunks_to_multiples() {
        let (i, o) = plan(&[64], vec![vec![10, 10, 10, 10, 10, 10, 4]], &[4, 4, 4]);
        assert_eq!(i, vec![vec![16; 4]]);
        assert_eq!(o, vec![vec![1; 4], vec![4], vec![4]]);
    }

    #[test]
    fn many_to_many_keeps_the_leading_axis_chunked() {
        // 4 and 6 elements per row: boundaries every lcm = 12 elements, 3
        // rows of the old leading axis and 2 of the new one.
        let (i, o) = plan(&[6, 4], vec![vec![2, 2, 2], vec![4]], &[4, 6]);
        assert_eq!(i, vec![vec![3, 3], vec![4]]);
        assert_eq!(o, vec![vec![2, 2], vec![6]]);
        // 10 and 12 per row: steps of 6 rows; [4, 4, 4] merges to [6, 6].
        let (i, o) = plan(&[12, 10], vec![vec![4, 4, 4], vec![10]], &[10, 12]);
        assert_eq!(i, vec![vec![6, 6], vec![10]]);
        assert_eq!(o, vec![vec![5, 5], vec![12]]);
        // Whole leading axis, chunked trailing axis: blocks of 24 elements
        // stay at 24 (4 rows of 6), instead of the whole group of 48.
        let (i, o) = plan(&[8, 6], vec![vec![8], vec![3, 3]], &[6, 8]);
        assert_eq!(i, vec![vec![4, 4], vec![6]]);
        assert_eq!(o, vec![vec![3, 3], vec![8]]);
        // More axes on both sides, with unrelated axes around the group:
        // (2, 6, 2, 2, 5) -> (2, 4, 6, 5), rows of 4 and of 6 elements.
        let (i, o) = plan(
            &[2, 6, 2, 2, 5],
            vec![vec![1, 1], vec![3, 3], vec![2], vec![2], vec![5]],
            &[2, 4, 6, 5],
        );
        assert_eq!(i, vec![vec![1, 1], vec![3, 3], vec![2], vec![2], vec![5]]);
        assert_eq!(o, vec![vec![1, 1], vec![2, 2], vec![6], vec![5]]);
    }

    #[test]
    fn singletons_and_many_to_many() {
        let (i, o) = plan(&[1, 6, 1], vec![vec![1], vec![2, 4], vec![1]], &[6, 1, 1]);
        assert_eq!(i, vec![vec![1], vec![2, 4], vec![1]]);
        assert_eq!(o, vec![vec![2, 4], vec![1], vec![1]]);
        let (i, o) = plan(&[4, 6], vec![vec![2, 2], vec![3, 3]], &[3, 8]);
        assert_eq!(i, vec![vec![4], vec![6]]);
        assert_eq!(o, vec![vec![3], vec![8]]);
        let (i, o) = plan(&[], vec![], &[1, 1]);
        assert_eq!(i, Vec::<Vec<usize>>::new());
        assert_eq!(o, vec![vec![1], vec![1]]);
    }
}
