//! Products of arrays: [`Array::matmul`], [`Array::dot`] and
//! [`Array::tensordot`].
//!
//! All three (`matmul` as long as no operand has more than two axes) are
//! one contraction: a sum over pairs of axes of `a` and `b`,
//! the result's axes being `a`'s free axes then `b`'s. Matrix products are
//! the contraction of `a`'s last axis with `b`'s first (or second-to-last,
//! for `dot` of more axes); a 1-d operand is a row (left) or column (right)
//! vector whose added axis never appears in the result, as in NumPy.
//!
//! # Plan
//!
//! 1. **Align**: the chunks of each contracted pair of axes are unified by
//!    refining, so block `q` of `a` along a contracted axis covers the same
//!    range as block `q` of `b` along its partner.
//! 2. **Multiply**: output block `(i…, j…)` (indices of the free axes) is
//!    `Σ_q a[i…, q] · b[q, j…]` over the blocks `q` of the contracted axes.
//!    Each block product views `a`'s block as a matrix (free × contracted,
//!    permuting and copying only when the axes are not already in that
//!    order), `b`'s as (contracted × free), and accumulates into one output
//!    matrix with `general_mat_mul` (matrixmultiply for `f32`/`f64`); integer
//!    products wrap around on overflow, as NumPy's do.
//! 3. **Tree**: when there are more than `split_every` (configuration
//!    `array.split-every`) contracted blocks `q`, one task would read a whole
//!    row of `a` and column of `b`. Then partial products over consecutive
//!    groups of `split_every` blocks are separate tasks, summed in a tree of
//!    fan-in `split_every`, so no task holds more than `2 · split_every`
//!    input blocks.
//!
//! `matmul` of operands with more than two axes (batches of matrices,
//! broadcast against each other) has its own plan in [`batched`], which
//! shares the tree of step 3.
//!
//! Every task is a registered kernel: `rask.array.product` (a sum of block
//! products, 2-d or contracted), `rask.array.batched_product`,
//! `rask.array.product_sum` (the tree's sums) and `rask.array.matmul_sym`;
//! a task keeps the operation's name (`matmul`, `product-partial`, ...) as
//! its label. Operands whose chunks must first be aligned go through
//! [`Array::refined`], which is not part of this module.

mod batched;

use std::any::TypeId;
use std::marker::PhantomData;
use std::sync::Arc;

use ndarray::{Array2, ArrayBase, ArrayD, ArrayView2, CowArray, DataMut, Ix2, IxDyn};
use rask_core::{Error, Kernel, Op, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::{Array, BlockTask, Input, block_arg, block_key, block_value};
use crate::chunks::{Chunks, fmt_shape, ranges_product, refine};
use crate::element::{Element, Number};
use crate::kernels::{elem_name, register_numbers};

/// `x @ x.T` is symmetric: block `(i, j)` is the transpose of block
/// `(j, i)`. This layer reads the product's blocks on and above the
/// diagonal and transposes them below it, so culling drops the products
/// below the diagonal and about half the multiplications (NumPy gets the
/// same saving from BLAS's `syrk`).
fn symmetric<T: Number>(full: &Array<T>) -> Array<T> {
    let src = full.node.name.clone();
    Array::kernel_layer(
        "matmul-sym",
        &(),
        full.chunks().clone(),
        vec![full.input()],
        move |idx| {
            let (i, j) = (idx[0], idx[1]);
            let (transpose, from) = if i <= j {
                (false, [i, j])
            } else {
                (true, [j, i])
            };
            BlockTask {
                op: Op::kernel_blockwise(SymmetricBlock::<T> {
                    transpose,
                    _t: PhantomData,
                }),
                deps: vec![block_key(&src, &from)],
            }
        },
    )
}

/// A block of a symmetric product: the block read, or its transpose.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct SymmetricBlock<T> {
    transpose: bool,
    _t: PhantomData<T>,
}

impl<T: Number> Kernel for SymmetricBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.matmul_sym", T);
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        let b = block_arg::<T>(args, 0)?;
        if !self.transpose {
            return Ok(args[0].clone());
        }
        Ok(block_value(crate::transpose::transposed_2d(b)))
    }
    fn label(&self) -> std::borrow::Cow<'static, str> {
        "matmul-sym".into()
    }
}

register_numbers!(SymmetricBlock);

fn not_aligned(op: &str, a: &[usize], b: &[usize], ka: usize, kb: usize) -> Error {
    Error::invalid(
        "operands",
        format!(
            "{op}: shapes {} and {} not aligned: {} (dim {ka}) != {} (dim {kb})",
            fmt_shape(a),
            fmt_shape(b),
            a[ka],
            b[kb]
        ),
    )
}

fn carried(a: Option<&str>) -> Result<()> {
    match a {
        Some(e) => Err(Error::invalid("array", e)),
        None => Ok(()),
    }
}

impl<T: Number> Array<T> {
    /// The matrix product, as NumPy's `matmul` (`a @ b`).
    ///
    /// For 1-d and 2-d operands, a 1-d left operand is a row vector and a
    /// 1-d right operand a column vector, the added axis removed from the
    /// result (`(k,) @ (k,)` is 0-d). With more axes, the last two of each
    /// operand are its matrices and the axes before them are batch axes,
    /// which broadcast against each other as in elementwise operations:
    /// `(2, 1, m, k) @ (3, k, n)` is `(2, 3, m, n)`, and a 1-d operand takes
    /// part in every batch (`(b, m, k) @ (k,)` is `(b, m)`).
    ///
    /// # Errors
    ///
    /// A 0-d operand, contracted lengths that differ, batch axes that do not
    /// broadcast (the messages name both shapes), or an operand that carries
    /// an error.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::Array;
    /// # fn main() -> rask_core::Result<()> {
    /// let x: Array<f64> = rask_array::random::uniform(&[6, 4], &[3, 2], 7)?;
    /// let p: Array<f64> = x.matmul(&x.t())?;
    /// assert_eq!(p.shape(), &[6, 6]);
    /// let v = Array::<f64>::ones(&[4], &[2])?;
    /// assert_eq!(x.matmul(&v)?.shape(), &[6]);
    /// assert!(x.matmul(&x).is_err());
    /// // A stack of 5 matrices times one matrix, broadcast over the stack.
    /// let s = Array::<f64>::ones(&[5, 6, 4], &[2, 3, 4])?;
    /// let q = Array::<f64>::ones(&[4, 3], &[2, 3])?;
    /// let sq = s.matmul(&q)?;
    /// assert_eq!(sq.shape(), &[5, 6, 3]);
    /// assert_eq!(sq.compute()?[[4, 5, 2]], 4.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn matmul(&self, other: &Array<T>) -> Result<Array<T>> {
        carried(self.error().or(other.error()))?;
        let (na, nb) = (self.ndim(), other.ndim());
        if na == 0 || nb == 0 {
            return Err(Error::invalid(
                "operands",
                format!(
                    "matmul: operand {} of shape () is 0-d, but matmul needs operands of at least one axis; multiply by a scalar with `*` instead",
                    if na == 0 { 0 } else { 1 }
                ),
            ));
        }
        if na > 2 || nb > 2 {
            return batched::matmul(self, other, rask_config::get().split_every);
        }
        let (ka, kb) = (na - 1, 0);
        if self.shape()[ka] != other.shape()[kb] {
            return Err(not_aligned("matmul", self.shape(), other.shape(), ka, kb));
        }
        let full = contract(
            "matmul",
            self,
            other,
            &[ka],
            &[kb],
            rask_config::get().split_every,
        );
        if na == 2 && nb == 2 && other.is_transpose_of(self) {
            return Ok(symmetric(&full));
        }
        Ok(full)
    }

    /// Whether `self` is `other.t()` of a 2-d `other` (the same layer).
    fn is_transpose_of(&self, other: &Array<T>) -> bool {
        matches!(&self.node.transposed, Some((src, perm)) if Arc::ptr_eq(src, &other.node) && perm.as_slice() == [1, 0])
    }

    /// NumPy's `dot`: the matrix product for 1-d and 2-d operands (as
    /// [`Array::matmul`]); with more axes, the sum over `a`'s last axis and
    /// `b`'s second-to-last (its only one if 1-d); with a 0-d operand, the
    /// elementwise product.
    ///
    /// # Errors
    ///
    /// Contracted lengths that differ (the message names both shapes), or
    /// an operand that carries an error.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray::array};
    /// # fn main() -> rask_core::Result<()> {
    /// let a = Array::from_ndarray(array![[1, 2], [3, 4]].into_dyn(), &[1, 2])?;
    /// let v = Array::from_ndarray(array![1, 1].into_dyn(), &[1])?;
    /// assert_eq!(a.dot(&v)?.compute()?, array![3, 7].into_dyn());
    /// assert_eq!(v.dot(&v)?.compute_scalar()?, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn dot(&self, other: &Array<T>) -> Result<Array<T>> {
        carried(self.error().or(other.error()))?;
        let (na, nb) = (self.ndim(), other.ndim());
        if na == 0 || nb == 0 {
            return Ok(self * other);
        }
        let (ka, kb) = (na - 1, nb.saturating_sub(2));
        if self.shape()[ka] != other.shape()[kb] {
            return Err(not_aligned("dot", self.shape(), other.shape(), ka, kb));
        }
        Ok(contract(
            "dot",
            self,
            other,
            &[ka],
            &[kb],
            rask_config::get().split_every,
        ))
    }

    /// NumPy's `tensordot` with explicit axes: the sum over axis
    /// `axes_a[i]` of `self` paired with axis `axes_b[i]` of `other`. The
    /// result's axes are `self`'s remaining axes, then `other`'s, in order.
    /// Empty axis lists give the outer product.
    ///
    /// # Errors
    ///
    /// Axis lists of different lengths, an axis out of range or listed
    /// twice, paired axes of different lengths (the message names both
    /// shapes), or an operand that carries an error.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::Array;
    /// # fn main() -> rask_core::Result<()> {
    /// let a = Array::<f64>::ones(&[3, 4, 5], &[2, 2, 5])?;
    /// let b = Array::<f64>::ones(&[5, 4, 2], &[5, 3, 1])?;
    /// let c = a.tensordot(&b, &[1, 2], &[1, 0])?;
    /// assert_eq!(c.shape(), &[3, 2]);
    /// assert_eq!(c.compute()?[[0, 0]], 20.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn tensordot(
        &self,
        other: &Array<T>,
        axes_a: &[usize],
        axes_b: &[usize],
    ) -> Result<Array<T>> {
        carried(self.error().or(other.error()))?;
        if axes_a.len() != axes_b.len() {
            return Err(Error::invalid(
                "axes",
                format!(
                    "tensordot: {} axes {axes_a:?} of the first operand paired with {} axes {axes_b:?} of the second; give the same number of each",
                    axes_a.len(),
                    axes_b.len()
                ),
            ));
        }
        for (which, axes, shape) in [(0, axes_a, self.shape()), (1, axes_b, other.shape())] {
            for (i, &ax) in axes.iter().enumerate() {
                if ax >= shape.len() {
                    return Err(Error::invalid(
                        "axes",
                        format!(
                            "tensordot: axis {ax} is out of range for operand {which} of shape {} ({} axes)",
                            fmt_shape(shape),
                            shape.len()
                        ),
                    ));
                }
                if axes[..i].contains(&ax) {
                    return Err(Error::invalid(
                        "axes",
                        format!(
                            "tensordot: axis {ax} of operand {which} is listed twice in {axes:?}"
                        ),
                    ));
                }
            }
        }
        for (&ka, &kb) in axes_a.iter().zip(axes_b) {
            if self.shape()[ka] != other.shape()[kb] {
                return Err(Error::invalid(
                    "operands",
                    format!(
                        "tensordot: shape-mismatch for sum: axis {ka} of {} has length {}, but axis {kb} of {} has length {}",
                        fmt_shape(self.shape()),
                        self.shape()[ka],
                        fmt_shape(other.shape()),
                        other.shape()[kb]
                    ),
                ));
            }
        }
        Ok(contract(
            "tensordot",
            self,
            other,
            axes_a,
            axes_b,
            rask_config::get().split_every,
        ))
    }
}

/// How a block is viewed as a matrix: its axes permuted, the first
/// `split` of them flattened into rows and the rest into columns.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct MatrixView {
    /// The axes in matrix order: rows first, then columns.
    perm: Vec<usize>,
    /// How many of `perm` make the rows.
    split: usize,
}

/// How one operand's blocks are addressed and viewed as matrices.
struct Factor {
    name: Arc<str>,
    /// Free axes, in order.
    free: Vec<usize>,
    /// Contracted axes, in pair order.
    contracted: Vec<usize>,
    /// The blocks as matrices.
    view: MatrixView,
}

impl Factor {
    /// `a` of a product: free axes as rows, contracted axes as columns.
    fn left<T: Element>(a: &Array<T>, contracted: &[usize]) -> Self {
        let free: Vec<usize> = (0..a.ndim()).filter(|x| !contracted.contains(x)).collect();
        Factor {
            name: a.node.name.clone(),
            view: MatrixView {
                perm: free.iter().chain(contracted).copied().collect(),
                split: free.len(),
            },
            free,
            contracted: contracted.to_vec(),
        }
    }

    /// `b` of a product: contracted axes as rows, free axes as columns.
    fn right<T: Element>(b: &Array<T>, contracted: &[usize]) -> Self {
        let free: Vec<usize> = (0..b.ndim()).filter(|x| !contracted.contains(x)).collect();
        Factor {
            name: b.node.name.clone(),
            view: MatrixView {
                perm: contracted.iter().chain(&free).copied().collect(),
                split: contracted.len(),
            },
            free,
            contracted: contracted.to_vec(),
        }
    }

    /// The block index for free-axis block indices `free_idx` and contracted
    /// block indices `q`.
    fn block_index(&self, free_idx: &[usize], q: &[usize]) -> Vec<usize> {
        let mut idx = vec![0; self.view.perm.len()];
        for (&ax, &i) in self.free.iter().zip(free_idx) {
            idx[ax] = i;
        }
        for (&ax, &i) in self.contracted.iter().zip(q) {
            idx[ax] = i;
        }
        idx
    }
}

/// Layer and operation names of the tree's partial products and sums.
const PARTIAL: &str = "product-partial";
const SUM: &str = "product-sum";

/// The contraction plan (see the module docs); arguments already checked.
fn contract<T: Number>(
    name: &'static str,
    a: &Array<T>,
    b: &Array<T>,
    axes_a: &[usize],
    axes_b: &[usize],
    split_every: usize,
) -> Array<T> {
    // 1. Align the contracted pairs.
    let mut target_a: Vec<Vec<usize>> = a.chunks().as_slices().to_vec();
    let mut target_b: Vec<Vec<usize>> = b.chunks().as_slices().to_vec();
    let mut k_blocks = Vec::with_capacity(axes_a.len());
    for (&ka, &kb) in axes_a.iter().zip(axes_b) {
        let r = refine(a.chunks().axis(ka), b.chunks().axis(kb));
        k_blocks.push(r.len());
        target_a[ka] = r.clone();
        target_b[kb] = r;
    }
    let (a, b) = (a.refined(&target_a), b.refined(&target_b));
    let contraction = Arc::new(Contraction {
        a: Factor::left(&a, axes_a),
        b: Factor::right(&b, axes_b),
    });
    let out_chunks = Chunks::from_vec(
        (contraction
            .a
            .free
            .iter()
            .map(|&x| a.chunks().axis(x).to_vec()))
        .chain(
            contraction
                .b
                .free
                .iter()
                .map(|&x| b.chunks().axis(x).to_vec()),
        )
        .collect(),
    );
    let q_ranges: Vec<(usize, usize)> = k_blocks.iter().map(|&n| (0, n)).collect();
    let qs: Vec<Vec<usize>> = ranges_product(&q_ranges).collect();
    let inputs = vec![a.input(), b.input()];
    summed(
        name,
        &(axes_a, axes_b),
        out_chunks,
        inputs,
        qs,
        split_every,
        move |op, idx, group, shape| contraction.task::<T>(op, idx, group, shape),
    )
}

/// The task of one output block (or partial sum) of a product: operation
/// name, output block index, the contracted block indices `q` to sum over,
/// and the output block's shape.
type ProductTask =
    dyn Fn(&'static str, &[usize], &[Vec<usize>], Vec<usize>) -> BlockTask + Send + Sync;

/// Steps 2 and 3 of the plan: output blocks that are sums of block products
/// over the contracted block indices `qs`, one task per output block when
/// there are at most `split_every` of them, else partial products over
/// groups of `split_every` summed in a tree of that fan-in. `task` makes a
/// (partial) product task; `params`, with the inputs' names, determines
/// what the tasks compute (it names the layers).
fn summed<T: Number, P: Serialize + ?Sized>(
    name: &'static str,
    params: &P,
    out_chunks: Chunks,
    inputs: Vec<Input>,
    qs: Vec<Vec<usize>>,
    split_every: usize,
    task: impl Fn(&'static str, &[usize], &[Vec<usize>], Vec<usize>) -> BlockTask
    + Send
    + Sync
    + 'static,
) -> Array<T> {
    let split_every = split_every.max(2);
    let n_q = qs.len();
    let qs = Arc::new(qs);
    let task: Arc<ProductTask> = Arc::new(task);

    // 2. One task per output block when the contracted blocks are few.
    if n_q <= split_every {
        let c = out_chunks.clone();
        return Array::kernel_layer(name, params, out_chunks, inputs, move |idx| {
            task(name, idx, &qs, c.block_shape(idx))
        });
    }

    // 3. Partial products over groups of blocks, then a sum tree. The
    //    intermediate layers have a leading "group" axis of blocks; their
    //    values are output-shaped partial sums, never assembled.
    let group_chunks = |groups: usize| {
        let mut v = vec![vec![1; groups]];
        v.extend(out_chunks.as_slices().iter().cloned());
        Chunks::from_vec(v)
    };
    let mut groups = n_q.div_ceil(split_every);
    let c = out_chunks.clone();
    let tree = (params, split_every);
    let mut level: Array<T> =
        Array::kernel_layer(PARTIAL, &tree, group_chunks(groups), inputs, move |idx| {
            let (g, out_idx) = (idx[0], &idx[1..]);
            let group = &qs[g * split_every..((g + 1) * split_every).min(qs.len())];
            task(PARTIAL, out_idx, group, c.block_shape(out_idx))
        });
    while groups > split_every {
        let next = groups.div_ceil(split_every);
        let src = level.node.name.clone();
        let prev = groups;
        level = Array::kernel_layer(
            SUM,
            &split_every,
            group_chunks(next),
            vec![level.input()],
            move |idx| {
                let (g, out_idx) = (idx[0], &idx[1..]);
                let members = g * split_every..((g + 1) * split_every).min(prev);
                sum_task::<T>(&src, members, out_idx)
            },
        );
        groups = next;
    }
    let src = level.node.name.clone();
    Array::kernel_layer(name, &tree, out_chunks, vec![level.input()], move |idx| {
        sum_task::<T>(&src, 0..groups, idx)
    })
}

/// The task summing partial products `members` of output block `out_idx`
/// (integers wrap around, as in the products themselves).
fn sum_task<T: Number>(
    src: &Arc<str>,
    members: std::ops::Range<usize>,
    out_idx: &[usize],
) -> BlockTask {
    let deps = members
        .map(|g| {
            let mut i = Vec::with_capacity(out_idx.len() + 1);
            i.push(g);
            i.extend_from_slice(out_idx);
            block_key(src, &i)
        })
        .collect();
    BlockTask {
        op: Op::kernel(SumPartials::<T> { _t: PhantomData }),
        deps,
    }
}

/// The sum of its arguments, partial products of one output block.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct SumPartials<T> {
    _t: PhantomData<T>,
}

impl<T: Number> Kernel for SumPartials<T> {
    const NAME: &'static str = elem_name!("rask.array.product_sum", T);
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        let mut acc = block_arg::<T>(args, 0)?.clone();
        for i in 1..args.len() {
            let part = block_arg::<T>(args, i)?;
            if part.shape() != acc.shape() {
                return Err(TaskError::failed(format!(
                    "internal error: partial products of shapes {} and {} cannot be added",
                    fmt_shape(acc.shape()),
                    fmt_shape(part.shape())
                )));
            }
            acc.zip_mut_with(part, |a, &b| *a = a.wrapping_add(b));
        }
        Ok(block_value(acc))
    }
    fn label(&self) -> std::borrow::Cow<'static, str> {
        SUM.into()
    }
}

register_numbers!(SumPartials);

/// The block-level contraction shared by every task of one product.
struct Contraction {
    a: Factor,
    b: Factor,
}

impl Contraction {
    /// The task computing `Σ_{q ∈ qs} a[out_idx.., q] · b[q, out_idx..]`
    /// as one block of `out_shape`.
    fn task<T: Number>(
        self: &Arc<Self>,
        name: &'static str,
        out_idx: &[usize],
        qs: &[Vec<usize>],
        out_shape: Vec<usize>,
    ) -> BlockTask {
        let (ia, ib) = out_idx.split_at(self.a.free.len());
        let mut deps = Vec::with_capacity(2 * qs.len());
        for q in qs {
            deps.push(block_key(&self.a.name, &self.a.block_index(ia, q)));
            deps.push(block_key(&self.b.name, &self.b.block_index(ib, q)));
        }
        let kernel = ProductBlock::<T> {
            a: self.a.view.clone(),
            b: self.b.view.clone(),
            out_shape,
            _t: PhantomData,
        };
        BlockTask {
            op: Op::kernel(kernel).renamed(name),
            deps,
        }
    }
}

/// One output block (or partial sum) of a contraction: `Σ x · y` over the
/// pairs of argument blocks `(x, y)`, `x` of `a` and `y` of `b` viewed as
/// matrices, as a block of `out_shape` (`a`'s free axes, then `b`'s).
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct ProductBlock<T> {
    a: MatrixView,
    b: MatrixView,
    out_shape: Vec<usize>,
    _t: PhantomData<T>,
}

impl<T: Number> Kernel for ProductBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.product", T);
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        let out_shape = &self.out_shape;
        // `a`'s rows are its free axes, the first of the output's.
        let Some((row_sizes, col_sizes)) = out_shape.split_at_checked(self.a.split) else {
            return Err(TaskError::failed(format!(
                "a product with {} free axes of its left operand cannot make a block of shape {}",
                self.a.split,
                fmt_shape(out_shape)
            )));
        };
        let (Some(rows), Some(cols)) = (elements::<T>(row_sizes), elements::<T>(col_sizes)) else {
            return Err(too_large(out_shape));
        };
        if elements::<T>(&[rows, cols]).is_none() {
            return Err(too_large(out_shape));
        }
        let mut c = Array2::<T>::zeros((rows, cols));
        for pair in 0..args.len() / 2 {
            let x = block_arg::<T>(args, 2 * pair)?;
            let y = block_arg::<T>(args, 2 * pair + 1)?;
            self.accumulate(&mut c, x, y)?;
        }
        let out = c.into_shape_with_order(IxDyn(out_shape)).map_err(|e| {
            TaskError::failed(format!(
                "internal error: a product block does not reshape to {}: {e}",
                fmt_shape(out_shape)
            ))
        })?;
        Ok(block_value(out))
    }
}

register_numbers!(ProductBlock);

impl<T: Number> ProductBlock<T> {
    /// `c += x · y` for blocks `x` of `a` and `y` of `b`.
    fn accumulate(
        &self,
        c: &mut Array2<T>,
        x: &ArrayD<T>,
        y: &ArrayD<T>,
    ) -> std::result::Result<(), TaskError> {
        let xm = as_matrix(x, &self.a)?;
        let ym = as_matrix(y, &self.b)?;
        if xm.nrows() != c.nrows() || ym.ncols() != c.ncols() || xm.ncols() != ym.nrows() {
            return Err(TaskError::failed(format!(
                "internal error: blocks of shapes {} and {} do not multiply into a block of {} x {}",
                fmt_shape(x.shape()),
                fmt_shape(y.shape()),
                c.nrows(),
                c.ncols()
            )));
        }
        if xm.is_empty() || ym.is_empty() {
            return Ok(()); // an empty sum or an empty result
        }
        mat_mul_add(c, &xm.view(), &ym.view());
        Ok(())
    }
}

/// A block as a matrix: axes in `m.perm` order, the first `m.split` of
/// them flattened into rows and the rest into columns. Copies only when
/// the permuted block cannot be viewed that way. An error when `m.perm` is
/// not a permutation of the block's axes.
fn as_matrix<'a, T: Element>(
    block: &'a ArrayD<T>,
    m: &MatrixView,
) -> std::result::Result<CowArray<'a, T, Ix2>, TaskError> {
    let (perm, split) = (&m.perm, m.split);
    let mut seen = vec![false; block.ndim()];
    let valid = perm.len() == block.ndim()
        && split <= perm.len()
        && perm
            .iter()
            .all(|&a| a < seen.len() && !std::mem::replace(&mut seen[a], true));
    if !valid {
        return Err(TaskError::failed(format!(
            "internal error: a block of shape {} cannot be viewed as a matrix with axes {perm:?} ({split} of them rows)",
            fmt_shape(block.shape())
        )));
    }
    let view = block.view().permuted_axes(IxDyn(perm));
    let rows: usize = view.shape()[..split].iter().product();
    let cols: usize = view.shape()[split..].iter().product();
    if view.ndim() == 2 && split == 1 {
        return Ok(CowArray::from(
            view.into_dimensionality::<Ix2>()
                .expect("a 2-d view converts to Ix2"),
        ));
    }
    Ok(match view.clone().into_shape_with_order((rows, cols)) {
        Ok(m) => CowArray::from(m),
        Err(_) => {
            let data: Vec<T> = view.iter().copied().collect();
            CowArray::from(
                Array2::from_shape_vec((rows, cols), data)
                    .expect("rows * cols is the number of elements"),
            )
        }
    })
}

/// The number of elements of `shape`, or `None` when a block of `T` of
/// that shape could not exist (more than `isize::MAX` bytes).
fn elements<T>(shape: &[usize]) -> Option<usize> {
    let n = shape
        .iter()
        .try_fold(1usize, |n, &len| n.checked_mul(len))?;
    let bytes = n.checked_mul(std::mem::size_of::<T>().max(1))?;
    (bytes <= isize::MAX as usize).then_some(n)
}

fn too_large(out_shape: &[usize]) -> TaskError {
    TaskError::failed(format!(
        "a product block of shape {} is too large",
        fmt_shape(out_shape)
    ))
}

fn is_float<T: 'static>() -> bool {
    TypeId::of::<T>() == TypeId::of::<f64>() || TypeId::of::<T>() == TypeId::of::<f32>()
}

/// `c += x · y`: matrixmultiply for floats; a wrapping loop for integers,
/// whose products overflow as NumPy's do instead of panicking.
fn mat_mul_add<T: Number, S: DataMut<Elem = T>>(
    c: &mut ArrayBase<S, Ix2>,
    x: &ArrayView2<'_, T>,
    y: &ArrayView2<'_, T>,
) {
    if is_float::<T>() {
        ndarray::linalg::general_mat_mul(T::one(), x, y, T::one(), c);
        return;
    }
    for (mut c_row, x_row) in c.rows_mut().into_iter().zip(x.rows()) {
        for (&xik, y_row) in x_row.iter().zip(y.rows()) {
            c_row.zip_mut_with(&y_row, |c, &y| *c = c.wrapping_add(xik.wrapping_mul(y)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small integers in a repeating ramp, as an array with `chunks`.
    pub(super) fn ramp(shape: &[usize], chunks: &[usize]) -> Array<i64> {
        let n: usize = shape.iter().product();
        let data = ArrayD::from_shape_vec(IxDyn(shape), (0..n as i64).map(|v| v % 7 - 3).collect())
            .expect("n elements");
        Array::from_ndarray(data, chunks).expect("valid chunks")
    }

    #[test]
    fn deep_sum_trees_give_the_direct_result() {
        // 9 blocks along k: with fan-in 2 that is 5 partials, then 3, 2, 1.
        let a = ramp(&[3, 9], &[2, 1]);
        let b = ramp(&[9, 4], &[1, 3]);
        let direct = contract("matmul", &a, &b, &[1], &[0], 9)
            .compute_with(&rask_local::Scheduler::sync())
            .unwrap();
        for split_every in [2, 3, 4, 8] {
            let tree = contract("matmul", &a, &b, &[1], &[0], split_every);
            assert_eq!(
                tree.compute_with(&rask_local::Scheduler::sync()).unwrap(),
                direct,
                "split_every {split_every}"
            );
        }
        let an = a.compute().unwrap().into_dimensionality::<Ix2>().unwrap();
        let bn = b.compute().unwrap().into_dimensionality::<Ix2>().unwrap();
        assert_eq!(direct, an.dot(&bn).into_dyn());
    }

    #[test]
    fn blocks_that_do_not_fit_the_parameters_are_task_errors() {
        let block = |shape: &[usize]| block_value(ArrayD::from_elem(IxDyn(shape), 1.0f64));
        let view = |perm: &[usize], split| MatrixView {
            perm: perm.to_vec(),
            split,
        };
        let product = |a, out_shape: &[usize]| ProductBlock::<f64> {
            a,
            b: view(&[0, 1], 1),
            out_shape: out_shape.to_vec(),
            _t: PhantomData,
        };
        let args = [block(&[2, 3]), block(&[3, 4])];
        assert!(product(view(&[0, 1], 1), &[2, 4]).run(&args).is_ok());
        assert!(product(view(&[0, 1], 3), &[2, 4]).run(&args).is_err());
        assert!(product(view(&[0, 0], 1), &[2, 4]).run(&args).is_err());
        assert!(product(view(&[0, 1, 2], 1), &[2, 4]).run(&args).is_err());
        assert!(product(view(&[0, 1], 1), &[2, 5]).run(&args).is_err());
        assert!(
            product(view(&[0, 1], 1), &[usize::MAX, 4])
                .run(&args)
                .is_err()
        );
        let sum = SumPartials::<f64> { _t: PhantomData };
        assert!(sum.run(&[block(&[2]), block(&[2])]).is_ok());
        assert!(sum.run(&[block(&[2]), block(&[3])]).is_err());
        assert!(sum.run(&[]).is_err());
    }

    #[test]
    fn blocks_become_matrices_without_copies_when_they_can() {
        let block =
            ArrayD::from_shape_fn(IxDyn(&[2, 3, 4]), |i| (i[0] * 12 + i[1] * 4 + i[2]) as f64);
        // Free axis first, contracted axes after: a plain reshape.
        let view = |perm: &[usize], split| MatrixView {
            perm: perm.to_vec(),
            split,
        };
        let m = as_matrix(&block, &view(&[0, 1, 2], 1)).unwrap();
        assert!(m.is_view());
        assert_eq!(m.dim(), (2, 12));
        // Contracting axis 0 of a 3-d block needs a copy.
        let m = as_matrix(&block, &view(&[1, 2, 0], 2)).unwrap();
        assert!(m.is_owned());
        assert_eq!(m.dim(), (12, 2));
        assert_eq!(m[[1, 1]], 13.0);
    }
}
