//! Shape manipulation: [`Array::reshape`] (C order, as NumPy), and the
//! shortcuts built on it: `squeeze`, `squeeze_axes`, `expand_dims`,
//! `ravel` and `flatten`.
//!
//! # Plan (Dask's `reshape_rechunk`)
//!
//! Old and new axes are walked from the left and grouped into the smallest
//! runs with equal products; a length-1 axis on either side is a group of
//! its own (dropped, or added with chunks `[1]`). Then, per group:
//!
//! * **one → one** (equal lengths): chunks are kept;
//! * **many → one** (merge): all but the first old axis are rechunked to a
//!   single block, so an input block is a contiguous run in C order; the new
//!   axis' chunks are the first old axis' chunks times the product of the
//!   others;
//! * **one → many** (split): the old axis is rechunked so every block is a
//!   multiple of `r`, the product of all but the first new axis; the first
//!   new axis gets chunks `old / r`, the others their whole length;
//! * **many → many**: the whole group becomes one block on both sides.
//!
//! After that rechunk, the input and output have equal numbers of blocks,
//! matched in C order, and every output block is the C-order reshape of one
//! input block: a blockwise task. Arrays with no element become one empty
//! block.

use ndarray::{ArrayD, IxDyn, Order};
use rask_core::{Op, TaskError, Value};

use crate::array::{Array, BlockTask, block_arg, block_key, block_value};
use crate::chunks::{Chunks, fmt_shape};
use crate::element::Element;

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
        match (i - i0, j - j0) {
            (1, 1) => out_c[j0] = in_c[i0].clone(),
            (_, 1) => {
                let rest: usize = old[i0 + 1..i].iter().product();
                for (a, c) in in_c.iter_mut().enumerate().take(i).skip(i0 + 1) {
                    *c = vec![old[a]];
                }
                out_c[j0] = in_c[i0].iter().map(|c| c * rest).collect();
            }
            (1, _) => {
                let rest: usize = new[j0 + 1..j].iter().product();
                in_c[i0] = contract(&in_c[i0], rest);
                out_c[j0] = in_c[i0].iter().map(|c| c / rest).collect();
                for (b, c) in out_c.iter_mut().enumerate().take(j).skip(j0 + 1) {
                    *c = vec![new[b]];
                }
            }
            _ => {
                for (a, c) in in_c.iter_mut().enumerate().take(i).skip(i0) {
                    *c = vec![old[a]];
                }
                for (b, c) in out_c.iter_mut().enumerate().take(j).skip(j0) {
                    *c = vec![new[b]];
                }
            }
        }
    }
    Some((in_c, out_c))
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

impl<T: Element> Array<T> {
    /// The same elements in another shape, read and written in C order
    /// (NumPy's `reshape`). The shapes must hold the same number of
    /// elements; otherwise the result is an invalid array naming both.
    ///
    /// Blocks are first rechunked where the reshape needs it (see the
    /// module docs), then each is reshaped on its own.
    ///
    /// ```
    /// use rask_array::Array;
    /// let x = Array::<i64>::arange(0, 24, 1, &[5]).unwrap();
    /// let y = x.reshape(&[2, 3, 4]);
    /// assert_eq!(y.chunks().as_slices(), &[vec![1, 1], vec![3], vec![4]]);
    /// let nd = y.compute().unwrap();
    /// assert_eq!(nd[[1, 2, 3]], 23);
    /// assert_eq!(y.reshape(&[24]).compute().unwrap(), x.compute().unwrap());
    /// ```
    pub fn reshape(&self, shape: &[usize]) -> Array<T> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        let size: usize = shape.iter().product();
        if size != self.len() {
            return Array::invalid(format!(
                "reshape: cannot reshape an array of shape {} ({} elements) into shape {} ({size} elements); the shapes must hold the same number of elements",
                fmt_shape(self.shape()),
                self.len(),
                fmt_shape(shape)
            ));
        }
        if shape == self.shape() {
            return self.clone();
        }
        if size == 0 {
            let chunks = Chunks::from_vec(shape.iter().map(|&n| vec![n]).collect());
            return Array::generated("reshape", chunks, |info| {
                ArrayD::from_shape_vec(IxDyn(&info.shape), Vec::new())
                    .expect("a shape with a zero-length axis holds no element")
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
        Array::layer("reshape", out_chunks, vec![input.input()], move |idx| {
            let pos = crate::array::linear_index(idx, &out_numblocks);
            let in_idx = unravel(pos, &in_numblocks);
            let shape = c.block_shape(idx);
            BlockTask {
                op: Op::blockwise("reshape", move |args: &[Value]| {
                    let b = block_arg::<T>(args, 0)?;
                    let out = b.to_shape((IxDyn(&shape), Order::RowMajor)).map_err(|e| {
                        TaskError::failed(format!(
                            "reshape: a block of shape {} cannot become {}: {e}",
                            fmt_shape(b.shape()),
                            fmt_shape(&shape)
                        ))
                    })?;
                    Ok(block_value(out.into_owned()))
                }),
                deps: vec![block_key(&src, &in_idx)],
            }
        })
    }

    /// The array without its length-1 axes (NumPy's `squeeze()`).
    ///
    /// ```
    /// let x = rask_array::Array::<f64>::ones(&[1, 3, 1, 2], &[1, 2, 1, 2]).unwrap();
    /// assert_eq!(x.squeeze().shape(), &[3, 2]);
    /// ```
    pub fn squeeze(&self) -> Array<T> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        let shape: Vec<usize> = self.shape().iter().copied().filter(|&n| n != 1).collect();
        self.reshape(&shape)
    }

    /// The array without the given axes, which must have length 1 (NumPy's
    /// `squeeze(axis=...)`); otherwise an invalid array naming the axis.
    ///
    /// ```
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
        self.reshape(&shape)
    }

    /// The array with a new length-1 axis at position `axis` (NumPy's
    /// `expand_dims`); `axis` may be at most `ndim`.
    ///
    /// ```
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
        self.reshape(&shape)
    }

    /// The elements as a 1-d array in C order (NumPy's `ravel`).
    ///
    /// ```
    /// use rask_array::{Array, ndarray::array};
    /// let x = Array::from_ndarray(array![[1, 2], [3, 4]].into_dyn(), &[1, 2]).unwrap();
    /// assert_eq!(x.ravel().compute().unwrap(), array![1, 2, 3, 4].into_dyn());
    /// ```
    pub fn ravel(&self) -> Array<T> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        self.reshape(&[self.len()])
    }

    /// The same as [`Array::ravel`] (NumPy's `flatten`; nothing is copied
    /// until computed either way).
    ///
    /// ```
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
    fn merge_keeps_the_first_axis_chunks() {
        let (i, o) = plan(&[4, 4, 4], vec![vec![2, 2]; 3], &[64]);
        assert_eq!(i, vec![vec![2, 2], vec![4], vec![4]]);
        assert_eq!(o, vec![vec![32, 32]]);
    }

    #[test]
    fn split_rechunks_to_multiples() {
        let (i, o) = plan(&[64], vec![vec![10, 10, 10, 10, 10, 10, 4]], &[4, 4, 4]);
        assert_eq!(i, vec![vec![16; 4]]);
        assert_eq!(o, vec![vec![1; 4], vec![4], vec![4]]);
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
