//! Transposition: `t()` and `permute_axes`.
//!
//! Block `(i, j)` of `x.t()` is block `(j, i)` of `x`, transposed; chunks
//! are permuted the same way. The layer is blockwise, so a transpose feeding
//! elementwise operations fuses with them.

use std::marker::PhantomData;

use ndarray::{ArrayD, IxDyn};
use rask_core::{Kernel, Op, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::{Array, BlockTask, block_arg, block_key, block_value};
use crate::chunks::{Chunks, fmt_shape};
use crate::element::Element;
use crate::kernels::{elem_name, register_elements};

/// One block of a transpose: the input block viewed through `axes`.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct TransposeBlock<T> {
    axes: Vec<usize>,
    _t: PhantomData<T>,
}

impl<T: Element> Kernel for TransposeBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.transpose", T);
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let b = block_arg::<T>(args, 0)?;
        if self.axes.len() != b.ndim() {
            return Err(TaskError::failed(format!(
                "a transpose by {:?} got a block of shape {}",
                self.axes,
                fmt_shape(b.shape())
            )));
        }
        if let (&[1, 0], &[rows, cols], Some(src)) = (self.axes.as_slice(), b.shape(), b.as_slice())
        {
            let data = transpose_2d(src, rows, cols);
            let out = ArrayD::from_shape_vec(IxDyn(&[cols, rows]), data)
                .map_err(|e| TaskError::failed(e.to_string()))?;
            return Ok(block_value(out));
        }
        let view = b.view().permuted_axes(IxDyn(&self.axes));
        Ok(block_value(view.as_standard_layout().into_owned()))
    }
}

register_elements!(TransposeBlock);

impl<T: Element> Array<T> {
    /// The array with its axes reversed (NumPy's `x.T`).
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray::array};
    /// let x = Array::from_ndarray(array![[1, 2, 3], [4, 5, 6]].into_dyn(), &[1, 2]).unwrap();
    /// assert_eq!(x.t().compute().unwrap(), array![[1, 4], [2, 5], [3, 6]].into_dyn());
    /// ```
    pub fn t(&self) -> Array<T> {
        let axes: Vec<usize> = (0..self.ndim()).rev().collect();
        self.permute_axes(&axes)
    }

    /// The array with axis `axes[i]` as its `i`-th axis (NumPy's
    /// `transpose(axes)`); `axes` must be a permutation of `0..ndim`.
    pub fn permute_axes(&self, axes: &[usize]) -> Array<T> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        let mut seen = vec![false; self.ndim()];
        let valid = axes.len() == self.ndim()
            && axes
                .iter()
                .all(|&a| a < self.ndim() && !std::mem::replace(&mut seen[a], true));
        if !valid {
            return Array::invalid(format!(
                "permute_axes: {axes:?} is not a permutation of the axes of an array of shape {}",
                fmt_shape(self.shape())
            ));
        }
        if axes.iter().enumerate().all(|(i, &a)| i == a) {
            return self.clone();
        }
        let chunks = Chunks::from_vec(
            axes.iter()
                .map(|&a| self.chunks().axis(a).to_vec())
                .collect(),
        );
        let src = self.node.name.clone();
        let source = self.node.clone();
        let axes = axes.to_vec();
        let perm = axes.clone();
        let params = axes.clone();
        let mut out = Array::kernel_layer(
            "transpose",
            &params,
            chunks,
            vec![self.input()],
            move |idx| {
                // Output block idx reads input block whose axis axes[i] is idx[i].
                let mut in_idx = vec![0; idx.len()];
                for (i, &a) in axes.iter().enumerate() {
                    in_idx[a] = idx[i];
                }
                BlockTask {
                    op: Op::kernel_blockwise(TransposeBlock::<T> {
                        axes: axes.clone(),
                        _t: PhantomData,
                    }),
                    deps: vec![block_key(&src, &in_idx)],
                }
            },
        );
        if let Some(node) = std::sync::Arc::get_mut(&mut out.node) {
            node.transposed = Some((source, perm));
        }
        out
    }
}

/// The transpose of a 2-d block, in standard layout.
pub(crate) fn transposed_2d<T: Element>(b: &ArrayD<T>) -> ArrayD<T> {
    match (b.shape(), b.as_slice()) {
        (&[rows, cols], Some(src)) => {
            ArrayD::from_shape_vec(IxDyn(&[cols, rows]), transpose_2d(src, rows, cols))
                .expect("a transposed block has as many elements as its source")
        }
        _ => b.t().as_standard_layout().into_owned(),
    }
}

/// Transposes a row-major `rows` x `cols` matrix, tile by tile so that both
/// the reads and the writes stay in cache (a plain strided copy is several
/// times slower on large blocks).
fn transpose_2d<T: Copy + Default>(src: &[T], rows: usize, cols: usize) -> Vec<T> {
    const TILE: usize = 32;
    let mut out = vec![T::default(); rows * cols];
    for i0 in (0..rows).step_by(TILE) {
        let i1 = (i0 + TILE).min(rows);
        for j0 in (0..cols).step_by(TILE) {
            let j1 = (j0 + TILE).min(cols);
            for i in i0..i1 {
                let row = &src[i * cols + j0..i * cols + j1];
                for (k, &v) in row.iter().enumerate() {
                    out[(j0 + k) * rows + i] = v;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::transpose_2d;

    #[test]
    fn tiled_transpose_matches_the_definition() {
        for (rows, cols) in [(1, 1), (3, 70), (33, 31), (64, 64), (100, 1)] {
            let src: Vec<u32> = (0..(rows * cols) as u32).collect();
            let t = transpose_2d(&src, rows, cols);
            for i in 0..rows {
                for j in 0..cols {
                    assert_eq!(t[j * rows + i], src[i * cols + j]);
                }
            }
        }
    }
}
