//! Batched matrix products: [`Array::matmul`] when an operand has more than
//! two axes.
//!
//! As in NumPy, the last two axes of each operand are the matrix axes and
//! the axes before them are *batch* axes, which broadcast against each
//! other as in elementwise operations: matched from the right, an axis of
//! length 1 (or a missing leading axis) stretches to the other operand's
//! length. A 1-d operand is a matrix of one row (on the left) or one column
//! (on the right) that takes part in every batch, and the added axis never
//! appears in the result: `(k,) @ (b, k, n)` is `(b, n)`.
//!
//! # Plan
//!
//! 1. **Align**: the batch axes' chunks are unified as for elementwise
//!    operations (each split at the other operand's boundaries; a broadcast
//!    axis keeps its single block), and the contracted axis (`a`'s last,
//!    `b`'s second-to-last) is refined to a common split. `a`'s row axis and
//!    `b`'s column axis keep their chunks.
//! 2. **Multiply**: output block `(β…, i, j)` is `Σ_q a[β_a…, i, q] ·
//!    b[β_b…, q, j]`, where `β_a` is `β` without the leading axes `a` lacks
//!    and with block 0 on the axes `a` broadcasts (likewise `β_b`). Inside
//!    the task, the input blocks are viewed broadcast to the output block's
//!    batch shape — never copied — and every matrix of the output block
//!    accumulates the product of the two matrices at its batch position.
//! 3. **Tree**: the sum over the contracted blocks `q` is the partial-product
//!    tree of 2-d products (see the parent module), so no task reads more
//!    than `2 · split_every` blocks.
//!
//! The products are the registered kernel `rask.array.batched_product`.

use std::marker::PhantomData;
use std::sync::Arc;

use ndarray::{Array3, ArrayD, ArrayView2, ArrayViewD, Axis, Ix2, IxDyn};
use rask_core::{Error, Kernel, Op, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use super::{elements, mat_mul_add, not_aligned, summed, too_large};
use crate::array::{Array, BlockTask, block_arg, block_key, block_value};
use crate::chunks::{Chunks, fmt_shape, refine};
use crate::element::Number;
use crate::elementwise::{broadcast_shapes, unify};
use crate::kernels::{elem_name, register_numbers};
use crate::manipulation::unravel;

/// `a @ b` for operands of at least one axis, one of them of more than two
/// (NumPy's `matmul` semantics; see the module docs).
pub(super) fn matmul<T: Number>(
    a: &Array<T>,
    b: &Array<T>,
    split_every: usize,
) -> Result<Array<T>> {
    let (na, nb) = (a.ndim(), b.ndim());
    let (a_vec, b_vec) = (na == 1, nb == 1);
    let a_batch = &a.shape()[..na.saturating_sub(2)];
    let b_batch = &b.shape()[..nb.saturating_sub(2)];
    let (ka, kb) = (na - 1, if b_vec { 0 } else { nb - 2 });
    if a.shape()[ka] != b.shape()[kb] {
        return Err(not_aligned("matmul", a.shape(), b.shape(), ka, kb));
    }
    let batch = broadcast_shapes(&[a_batch, b_batch]).map_err(|_| {
        Error::invalid(
            "operands",
            format!(
                "matmul: shapes {} and {} do not broadcast: their batch axes (all but the last two) {} and {} differ where neither has length 1",
                fmt_shape(a.shape()),
                fmt_shape(b.shape()),
                fmt_shape(a_batch),
                fmt_shape(b_batch)
            ),
        )
    })?;

    // 1. Align: batch axes as for elementwise operations, then k.
    let batch_chunks =
        |x: &Array<T>, n: usize| Chunks::from_vec(x.chunks().as_slices()[..n].to_vec());
    let (ca, cb) = (
        batch_chunks(a, a_batch.len()),
        batch_chunks(b, b_batch.len()),
    );
    let (out_batch, targets) = unify(&[(a_batch, &ca), (b_batch, &cb)], &batch);
    let k = refine(a.chunks().axis(ka), b.chunks().axis(kb));
    let mut target_a = targets[0].clone();
    let mut out = out_batch.as_slices().to_vec();
    if !a_vec {
        target_a.push(a.chunks().axis(na - 2).to_vec());
        out.push(a.chunks().axis(na - 2).to_vec());
    }
    target_a.push(k.clone());
    let mut target_b = targets[1].clone();
    target_b.push(k.clone());
    if !b_vec {
        target_b.push(b.chunks().axis(nb - 1).to_vec());
        out.push(b.chunks().axis(nb - 1).to_vec());
    }
    let (a, b) = (a.refined(&target_a), b.refined(&target_b));

    // 2 and 3: one product per output block and contracted block, summed.
    let batched = Arc::new(Batched {
        a: a.node.name.clone(),
        b: b.node.name.clone(),
        shape: BatchShape {
            nbatch: batch.len(),
            a_vec,
            b_vec,
        },
        a_single: a_batch.iter().map(|&n| n == 1).collect(),
        b_single: b_batch.iter().map(|&n| n == 1).collect(),
    });
    let qs = (0..k.len()).map(|q| vec![q]).collect();
    let params = (
        batched.shape,
        batched.a_single.clone(),
        batched.b_single.clone(),
    );
    Ok(summed(
        "matmul",
        &params,
        Chunks::from_vec(out),
        vec![a.input(), b.input()],
        qs,
        split_every,
        move |op, idx, group, shape| batched.task::<T>(op, idx, group, shape),
    ))
}

/// The axes of a batched product's output blocks.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct BatchShape {
    /// Number of batch axes of the output.
    nbatch: usize,
    /// `a` is 1-d: a row vector, and the output has no row axis.
    a_vec: bool,
    /// `b` is 1-d: a column vector, and the output has no column axis.
    b_vec: bool,
}

/// How the tasks of one batched product address and read their operands.
struct Batched {
    a: Arc<str>,
    b: Arc<str>,
    shape: BatchShape,
    /// Per batch axis of `a` (aligned with the output's last batch axes):
    /// whether it has length 1, so its one block serves every output block.
    a_single: Vec<bool>,
    /// The same for `b`.
    b_single: Vec<bool>,
}

impl Batched {
    /// An operand's block indices along its batch axes, for output block
    /// index `idx`.
    fn batch_index(&self, single: &[bool], idx: &[usize]) -> Vec<usize> {
        let off = self.shape.nbatch - single.len();
        single
            .iter()
            .enumerate()
            .map(|(ax, &one)| if one { 0 } else { idx[off + ax] })
            .collect()
    }

    /// The block of `a` read by output block `idx` at contracted block `q`.
    fn a_block(&self, idx: &[usize], q: usize) -> Vec<usize> {
        let mut i = self.batch_index(&self.a_single, idx);
        if !self.shape.a_vec {
            i.push(idx[self.shape.nbatch]);
        }
        i.push(q);
        i
    }

    /// The block of `b` read by output block `idx` at contracted block `q`.
    fn b_block(&self, idx: &[usize], q: usize) -> Vec<usize> {
        let mut i = self.batch_index(&self.b_single, idx);
        i.push(q);
        if !self.shape.b_vec {
            i.push(idx[idx.len() - 1]);
        }
        i
    }

    /// The task computing `Σ_{q ∈ qs} a[.., q] · b[q, ..]` as output block
    /// `idx` of `out_shape`.
    fn task<T: Number>(
        self: &Arc<Self>,
        name: &'static str,
        idx: &[usize],
        qs: &[Vec<usize>],
        out_shape: Vec<usize>,
    ) -> BlockTask {
        let mut deps = Vec::with_capacity(2 * qs.len());
        for q in qs {
            deps.push(block_key(&self.a, &self.a_block(idx, q[0])));
            deps.push(block_key(&self.b, &self.b_block(idx, q[0])));
        }
        let kernel = BatchedProductBlock::<T> {
            shape: self.shape,
            out_shape,
            _t: PhantomData,
        };
        BlockTask {
            op: Op::kernel(kernel).renamed(name),
            deps,
        }
    }
}

/// One output block (or partial sum) of a batched product: the sum over the
/// pairs of argument blocks `(x, y)` of their matrix products, batch by
/// batch, as a block of `out_shape`.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct BatchedProductBlock<T> {
    shape: BatchShape,
    out_shape: Vec<usize>,
    _t: PhantomData<T>,
}

impl<T: Number> Kernel for BatchedProductBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.batched_product", T);
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        Ok(block_value(multiply::<T>(
            self.shape,
            args,
            &self.out_shape,
        )?))
    }
}

register_numbers!(BatchedProductBlock);

/// The output block of `out_shape` from the pairs of blocks in `args`.
fn multiply<T: Number>(
    shape: BatchShape,
    args: &[Value],
    out_shape: &[usize],
) -> std::result::Result<ArrayD<T>, TaskError> {
    let BatchShape {
        nbatch,
        a_vec,
        b_vec,
    } = shape;
    let matrix_axes = usize::from(!a_vec) + usize::from(!b_vec);
    if nbatch.checked_add(matrix_axes) != Some(out_shape.len()) {
        return Err(TaskError::failed(format!(
            "internal error: a batched product with {nbatch} batch axes cannot make a block of shape {}",
            fmt_shape(out_shape)
        )));
    }
    let batch = &out_shape[..nbatch];
    let rows = if a_vec { 1 } else { out_shape[nbatch] };
    let cols = if b_vec {
        1
    } else {
        out_shape[out_shape.len() - 1]
    };
    let Some(count) = elements::<T>(batch) else {
        return Err(too_large(out_shape));
    };
    if elements::<T>(&[count, rows, cols]).is_none() {
        return Err(too_large(out_shape));
    }
    let mut c = Array3::<T>::zeros((count, rows, cols));
    for pair in 0..args.len() / 2 {
        let x = block_arg::<T>(args, 2 * pair)?;
        let y = block_arg::<T>(args, 2 * pair + 1)?;
        // 1-d operands as a one-row and a one-column matrix.
        let xv = match a_vec {
            true => x.view().insert_axis(Axis(0)),
            false => x.view(),
        };
        let yv = match b_vec {
            true => y.view().insert_axis(Axis(y.ndim())),
            false => y.view(),
        };
        if xv.ndim() < 2 {
            return Err(mismatch(x, y, out_shape));
        }
        let depth = xv.shape()[xv.ndim() - 1];
        let xs = stretched(&xv, batch, [rows, depth]).ok_or_else(|| mismatch(x, y, out_shape))?;
        let ys = stretched(&yv, batch, [depth, cols]).ok_or_else(|| mismatch(x, y, out_shape))?;
        if depth == 0 || rows == 0 || cols == 0 {
            continue; // an empty sum or an empty result
        }
        for (p, mut cm) in c.outer_iter_mut().enumerate() {
            let at = unravel(p, batch);
            mat_mul_add(&mut cm, &matrix_at(&xs, &at), &matrix_at(&ys, &at));
        }
    }
    c.into_shape_with_order(IxDyn(out_shape)).map_err(|e| {
        TaskError::failed(format!(
            "internal error: a product block does not reshape to {}: {e}",
            fmt_shape(out_shape)
        ))
    })
}

/// `view` (batch axes, then a matrix of shape `matrix`) broadcast to the
/// batch shape `batch`; `None` if its matrix has another shape or its batch
/// axes do not broadcast.
fn stretched<'a, T>(
    view: &'a ArrayViewD<'_, T>,
    batch: &[usize],
    matrix: [usize; 2],
) -> Option<ArrayViewD<'a, T>> {
    if view.ndim() < 2 || view.shape()[view.ndim() - 2..] != matrix {
        return None;
    }
    let mut shape = batch.to_vec();
    shape.extend_from_slice(&matrix);
    view.broadcast(IxDyn(&shape))
}

/// The matrix of `view` at batch position `at`.
fn matrix_at<'a, T>(view: &ArrayViewD<'a, T>, at: &[usize]) -> ArrayView2<'a, T> {
    let mut m = view.clone();
    for &i in at {
        m = m.index_axis_move(Axis(0), i);
    }
    m.into_dimensionality::<Ix2>()
        .expect("a view of batch axes and two matrix axes, with the batch axes indexed away")
}

fn mismatch<T>(x: &ArrayD<T>, y: &ArrayD<T>, out_shape: &[usize]) -> TaskError {
    TaskError::failed(format!(
        "internal error: blocks of shapes {} and {} do not multiply into a block of {}",
        fmt_shape(x.shape()),
        fmt_shape(y.shape()),
        fmt_shape(out_shape)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::tests::ramp;

    #[test]
    fn deep_sum_trees_give_the_direct_result() {
        // 7 blocks along k and a broadcast batch axis on each side.
        let a = ramp(&[3, 1, 2, 7], &[2, 1, 1, 1]);
        let b = ramp(&[1, 2, 7, 3], &[1, 1, 1, 2]);
        let sync = rask_local::Scheduler::sync();
        let direct = matmul(&a, &b, 7).unwrap().compute_with(&sync).unwrap();
        assert_eq!(direct.shape(), &[3, 2, 2, 3]);
        for split_every in [2, 3, 4] {
            let tree = matmul(&a, &b, split_every).unwrap();
            assert_eq!(
                tree.compute_with(&sync).unwrap(),
                direct,
                "split_every {split_every}"
            );
        }
        let (an, bn) = (a.compute().unwrap(), b.compute().unwrap());
        for i in 0..3 {
            for j in 0..2 {
                let x = an
                    .slice(ndarray::s![i, 0, .., ..])
                    .into_dimensionality::<Ix2>();
                let y = bn
                    .slice(ndarray::s![0, j, .., ..])
                    .into_dimensionality::<Ix2>();
                let want = x.unwrap().dot(&y.unwrap());
                assert_eq!(direct.slice(ndarray::s![i, j, .., ..]), want);
            }
        }
    }

    #[test]
    fn blocks_that_do_not_fit_the_parameters_are_task_errors() {
        let block = |shape: &[usize]| block_value(ArrayD::from_elem(IxDyn(shape), 1i32));
        let run = |nbatch, a_vec, out_shape: &[usize], args: &[Value]| {
            let shape = BatchShape {
                nbatch,
                a_vec,
                b_vec: false,
            };
            BatchedProductBlock::<i32> {
                shape,
                out_shape: out_shape.to_vec(),
                _t: PhantomData,
            }
            .run(args)
        };
        let args = [block(&[2, 3, 4]), block(&[4, 5])];
        assert!(run(1, false, &[2, 3, 5], &args).is_ok());
        assert!(run(2, false, &[2, 3, 5], &args).is_err());
        assert!(run(1, false, &[2, 3, 6], &args).is_err());
        assert!(run(0, true, &[5], &[block(&[]), block(&[4, 5])]).is_err());
        assert!(run(1, false, &[usize::MAX, 3, 5], &args).is_err());
    }

    #[test]
    fn batch_chunks_come_from_the_operand_that_is_not_broadcast() {
        let a = ramp(&[4, 1, 2, 3], &[2, 1, 2, 3]);
        let b = ramp(&[3, 3, 2], &[2, 3, 1]);
        let p = matmul(&a, &b, 4).unwrap();
        assert_eq!(
            p.chunks().as_slices(),
            &[vec![2, 2], vec![2, 1], vec![2], vec![1, 1]]
        );
        assert_eq!(a.numblocks(), vec![2, 1, 1, 1]);
    }
}
