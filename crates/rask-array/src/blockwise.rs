//! User functions over blocks: [`Array::map_blocks`],
//! [`Array::map_blocks_with`], and [`blockwise`] with Dask's index notation.
//!
//! `map_blocks` and `map_blocks_with` make one output block from each input
//! block, as blockwise tasks, so they fuse with the elementwise operations
//! around them. Every returned block is checked against the output chunks
//! (the input's for `map_blocks`, the declared ones for `map_blocks_with`):
//! a block of another shape fails the compute with an error naming the
//! block and both shapes, instead of producing an array whose chunks lie.
//!
//! # `blockwise` plan
//!
//! Each input axis carries one letter (`"ij"`). Chunks of the same letter
//! are unified across inputs by refining (every boundary of any input is a
//! boundary of all; blocks are only sliced, never merged). Letters of the
//! output index iterate over blocks: output block `(i, k)` reads, for each
//! input, the blocks with those indices. Letters that appear only in inputs
//! are *contracted*: the function receives, for each input, all its blocks
//! along those letters concatenated into one array (Dask's
//! `concatenate=True`). Without contracted letters every output block reads
//! one block per input and the task is blockwise (fusable); with them it is
//! an ordinary task that gathers a row of blocks.
//!
//! A letter may repeat within one input's index (`"ii"`, as in Dask). Its
//! axes are unified like those of one letter in different inputs: refined
//! to the common boundaries, so block `q` covers the same range on each,
//! and they must have the same length. An output letter that repeats in an
//! input reads that input's blocks with the same block index on those axes:
//! output block `i` of `"ii" -> "i"` reads the diagonal block `(i, i)`. A
//! contracted letter that repeats gathers every block along those axes, as
//! Dask does (each occurrence runs over all blocks), so the function sees
//! the whole axes.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, Slice};
use rask_core::{Error, Op, Result, TaskError, Value};

use crate::array::{Array, BlockTask, Input, block_arg, block_key, block_value};
use crate::chunks::{Chunks, fmt_shape, ranges_product, refine};
use crate::creation::BlockInfo;
use crate::element::Element;

/// The output chunks declared for [`Array::map_blocks_with`]: one block per
/// input block along every axis.
///
/// * [`Chunks`] (or `&Chunks`, or `Vec<Vec<usize>>`): explicit block sizes
///   per axis.
/// * A block size per axis (`&[usize]`, `[usize; N]` by reference,
///   `Vec<usize>`): every block has this size, as Dask's
///   `map_blocks(chunks=(2, 3))`; the output shape is the number of input
///   blocks times the size.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Chunks, DeclaredChunks};
/// let c = (&[2, 1]).declared_chunks(&[3, 1]).unwrap();
/// assert_eq!(c, Chunks::new(vec![vec![2, 2, 2], vec![1]], &[6, 1]).unwrap());
/// ```
pub trait DeclaredChunks {
    /// The output chunks for an input with `numblocks` blocks per axis, or
    /// why they cannot be.
    fn declared_chunks(self, numblocks: &[usize]) -> std::result::Result<Chunks, String>;
}

impl DeclaredChunks for Chunks {
    fn declared_chunks(self, _numblocks: &[usize]) -> std::result::Result<Chunks, String> {
        Ok(self)
    }
}

impl DeclaredChunks for &Chunks {
    fn declared_chunks(self, _numblocks: &[usize]) -> std::result::Result<Chunks, String> {
        Ok(self.clone())
    }
}

impl DeclaredChunks for Vec<Vec<usize>> {
    fn declared_chunks(self, _numblocks: &[usize]) -> std::result::Result<Chunks, String> {
        let shape: Vec<usize> = self.iter().map(|a| a.iter().sum()).collect();
        Chunks::new(self, &shape).map_err(|e| e.to_string())
    }
}

impl DeclaredChunks for &[usize] {
    fn declared_chunks(self, numblocks: &[usize]) -> std::result::Result<Chunks, String> {
        if self.len() != numblocks.len() {
            return Err(format!(
                "{} block sizes given for an input with {} axes; give one per axis",
                self.len(),
                numblocks.len()
            ));
        }
        let per_axis: Vec<Vec<usize>> = self
            .iter()
            .zip(numblocks)
            .map(|(&size, &n)| vec![size; n])
            .collect();
        per_axis.declared_chunks(numblocks)
    }
}

impl<const N: usize> DeclaredChunks for &[usize; N] {
    fn declared_chunks(self, numblocks: &[usize]) -> std::result::Result<Chunks, String> {
        self.as_slice().declared_chunks(numblocks)
    }
}

impl DeclaredChunks for Vec<usize> {
    fn declared_chunks(self, numblocks: &[usize]) -> std::result::Result<Chunks, String> {
        self.as_slice().declared_chunks(numblocks)
    }
}

/// The error for a returned block whose shape is not the one its chunks say.
fn check_output_block<U>(
    op: &str,
    index: &[usize],
    block: &ArrayD<U>,
    expected: &[usize],
    hint: &str,
) -> std::result::Result<(), TaskError> {
    if block.shape() == expected {
        return Ok(());
    }
    Err(TaskError::failed(format!(
        "{op}: block {index:?} returned shape {}, but the output chunks say {}; {hint}",
        fmt_shape(block.shape()),
        fmt_shape(expected)
    )))
}

/// The name of the function `f` when it is a function item (`smooth` for
/// `filters::smooth`), for the keys and operations of the tasks that call
/// it; `None` for a closure.
pub(crate) fn fn_name<F>(_f: &F) -> Option<&'static str> {
    let full = std::any::type_name::<F>();
    // Closures (`{{closure}}`), function pointers (`fn(…) -> …`) and
    // methods of types (`<impl f64>::sqrt`) have no name of their own here.
    if full.contains(['{', '(', ' ']) {
        return None;
    }
    let path = full.split('<').next().unwrap_or(full);
    path.rsplit("::")
        .next()
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

#[cfg(test)]
mod fn_names {
    use super::fn_name;
    use ndarray::ArrayD;

    fn smooth(b: &ArrayD<f64>) -> ArrayD<f64> {
        b.clone()
    }

    #[test]
    fn function_items_are_named_and_other_functions_are_not() {
        assert_eq!(fn_name(&smooth), Some("smooth"));
        assert_eq!(fn_name(&|b: &ArrayD<f64>| b.clone()), None);
        let pointer: fn(&ArrayD<f64>) -> ArrayD<f64> = smooth;
        assert_eq!(fn_name(&pointer), None);
        assert_eq!(fn_name(&f64::sqrt), None);
    }
}

impl<T: Element> Array<T> {
    /// `f` applied to every block; each result must have the shape of its
    /// input block (use [`Array::map_blocks_with`] to change block shapes).
    ///
    /// The tasks are named after `f` when it is a function item (`smooth`
    /// for `fn smooth`, in keys, errors and the profiler's report), and
    /// `map-blocks` for a closure.
    ///
    /// The layer is blockwise: it fuses with the elementwise operations
    /// before and after it. A block of another shape fails the compute with
    /// an error naming the block and both shapes.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::Array;
    /// let x = Array::<f64>::arange(0.0, 9.0, 1.0, &[4]).unwrap();
    /// let y = x.map_blocks(|b| b.mapv(f64::sqrt));
    /// assert_eq!(y.compute().unwrap()[[4]], 2.0);
    /// ```
    pub fn map_blocks<U: Element>(
        &self,
        f: impl Fn(&ArrayD<T>) -> ArrayD<U> + Send + Sync + 'static,
    ) -> Array<U> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        let name = fn_name(&f);
        let f = Arc::new(f);
        let src = self.node.name.clone();
        let chunks = self.chunks().clone();
        let c = chunks.clone();
        let layer = name.unwrap_or("map-blocks");
        Array::layer(layer, chunks, vec![self.input()], move |idx| {
            let f = f.clone();
            let index = idx.to_vec();
            let expected = c.block_shape(idx);
            BlockTask {
                op: Op::blockwise(name.unwrap_or("map_blocks"), move |args: &[Value]| {
                    let out = f(block_arg::<T>(args, 0)?);
                    check_output_block(
                        "map_blocks",
                        &index,
                        &out,
                        &expected,
                        "return a block of the input block's shape, or declare new chunks with map_blocks_with",
                    )?;
                    Ok(block_value(out))
                }),
                deps: vec![block_key(&src, idx)],
            }
        })
    }

    /// `f` applied to every block with its position ([`BlockInfo`] of the
    /// *input* block); the results may change block shapes as `chunks`
    /// declares (see [`DeclaredChunks`]), one output block per input block.
    ///
    /// Declared chunks with another number of axes or of blocks per axis
    /// give an invalid array; a returned block that differs from the
    /// declared chunks fails the compute naming the block and both shapes.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray::{ArrayD, IxDyn}};
    /// let x = Array::<i64>::arange(0, 10, 1, &[4]).unwrap();
    /// // Every block becomes one element: its sum, tagged with its index.
    /// let sums = x.map_blocks_with(&[1], |b, info| {
    ///     ArrayD::from_elem(IxDyn(&[1]), b.sum() * 100 + info.index[0] as i64)
    /// });
    /// assert_eq!(sums.compute().unwrap().into_raw_vec_and_offset().0, vec![600, 2201, 1702]);
    /// ```
    pub fn map_blocks_with<U: Element>(
        &self,
        chunks: impl DeclaredChunks,
        f: impl Fn(&ArrayD<T>, &BlockInfo) -> ArrayD<U> + Send + Sync + 'static,
    ) -> Array<U> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        let numblocks = self.numblocks();
        let out_chunks = match chunks.declared_chunks(&numblocks) {
            Ok(c) => c,
            Err(e) => return Array::invalid(format!("map_blocks_with: {e}")),
        };
        if out_chunks.numblocks() != numblocks {
            return Array::invalid(format!(
                "map_blocks_with: the declared chunks have {} blocks per axis, but the input of shape {} has {}; declare one output block per input block, on the same number of axes",
                fmt_shape(&out_chunks.numblocks()),
                fmt_shape(self.shape()),
                fmt_shape(&numblocks)
            ));
        }
        let name = fn_name(&f);
        let f = Arc::new(f);
        let src = self.node.name.clone();
        let in_chunks = self.chunks().clone();
        let c = out_chunks.clone();
        let layer = name.unwrap_or("map-blocks");
        Array::layer(layer, out_chunks, vec![self.input()], move |idx| {
            let f = f.clone();
            let info = BlockInfo::new(&in_chunks, idx);
            let expected = c.block_shape(idx);
            BlockTask {
                op: Op::blockwise(name.unwrap_or("map_blocks"), move |args: &[Value]| {
                    let out = f(block_arg::<T>(args, 0)?, &info);
                    check_output_block(
                        "map_blocks_with",
                        &info.index,
                        &out,
                        &expected,
                        "return blocks of the declared chunks",
                    )?;
                    Ok(block_value(out))
                }),
                deps: vec![block_key(&src, idx)],
            }
        })
    }
}

/// What one letter of the index notation stands for.
struct Letter {
    name: char,
    len: usize,
    chunks: Vec<usize>,
    /// Where the length was first seen: input position, axis and the
    /// input's shape.
    seen_in: (usize, usize, Vec<usize>),
}

/// How an input axis is addressed: by an output axis or a contracted letter.
#[derive(Clone, Copy)]
enum AxisRole {
    Out(usize),
    Contracted(usize),
}

fn invalid(message: String) -> Error {
    Error::invalid("blockwise index", message)
}

/// `f` applied to blocks of several arrays laid out by Dask's index
/// notation: one letter per axis, `out_index` for the result.
///
/// Letters of `out_index` iterate over blocks. Letters that appear in inputs
/// but not in the output are contracted: for each input, `f` receives the
/// blocks along them concatenated into one array (Dask's
/// `blockwise(..., concatenate=True)`). Chunks of a letter are unified
/// across inputs by refining. `f`'s result must have the shape of the
/// output block, whose sizes are those of the letters' unified chunks.
///
/// A letter may repeat within one input (`"ii"`): its axes are refined to
/// common chunks (never an error for differing chunks, only for differing
/// lengths), and an output letter then reads the blocks with the same
/// index on all of them — `"ii" -> "i"` gives `f` the diagonal blocks
/// `(i, i)`, `"ij", "jj" -> "ij"` pairs block `(i, j)` of the first input
/// with the diagonal block `(j, j)` of the second. A repeated contracted
/// letter gathers all blocks along its axes, as Dask does.
///
/// # Errors
///
/// An index whose length is not its array's number of axes, a letter whose
/// axes have different lengths (in one input or in several; the message
/// names the inputs, axes and shapes), a letter twice in the output index,
/// or an output letter that no input has. An input that carries an error
/// returns it.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, blockwise, ndarray::{Array2, Ix2}};
/// # fn main() -> rask_core::Result<()> {
/// let a = Array::<f64>::ones(&[4, 6], &[2, 3])?;
/// let b = Array::<f64>::ones(&[6, 5], &[2, 5])?;
/// // Matrix product: j is contracted, so f sees whole rows of a's blocks
/// // and whole columns of b's.
/// let p = blockwise("ik", &[(&a, "ij"), (&b, "jk")], |blocks| {
///     let x = blocks[0].view().into_dimensionality::<Ix2>().unwrap();
///     let y = blocks[1].view().into_dimensionality::<Ix2>().unwrap();
///     x.dot(&y).into_dyn()
/// })?;
/// assert_eq!(p.compute()?, Array2::from_elem((4, 5), 6.0).into_dyn());
/// # Ok(())
/// # }
/// ```
///
/// The diagonal of a square matrix from its diagonal blocks, each block
/// reduced to its own diagonal. Rows (`[2, 3]`) and columns (`[3, 2]`) are
/// chunked differently, so both are first split to `[2, 1, 2]`:
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, Chunks, blockwise, ndarray::{Array2, Ix2}};
/// # fn main() -> rask_core::Result<()> {
/// let m = Array2::from_shape_fn((5, 5), |(i, j)| (10 * i + j) as i64);
/// let chunks = Chunks::new(vec![vec![2, 3], vec![3, 2]], &[5, 5])?;
/// let x = Array::from_ndarray(m.clone().into_dyn(), chunks)?;
/// let diag = blockwise("i", &[(&x, "ii")], |blocks| {
///     let block = blocks[0].view().into_dimensionality::<Ix2>().unwrap();
///     block.diag().to_owned().into_dyn()
/// })?;
/// assert_eq!(diag.chunks().axis(0), &[2, 1, 2]);
/// assert_eq!(diag.compute()?, m.diag().to_owned().into_dyn());
/// # Ok(())
/// # }
/// ```
pub fn blockwise<T: Element, U: Element>(
    out_index: &str,
    inputs: &[(&Array<T>, &str)],
    f: impl Fn(&[ArrayD<T>]) -> ArrayD<U> + Send + Sync + 'static,
) -> Result<Array<U>> {
    for (a, _) in inputs {
        if let Some(e) = a.error() {
            return Err(Error::invalid("array", e));
        }
    }
    let out: Vec<char> = out_index.chars().collect();
    for (i, c) in out.iter().enumerate() {
        if out[..i].contains(c) {
            return Err(invalid(format!(
                "blockwise: letter {c:?} appears twice in the output index {out_index:?}; give each output axis its own letter"
            )));
        }
    }
    // Letters, their lengths and unified chunks, in order of appearance.
    let mut letters: Vec<Letter> = Vec::new();
    let mut input_letters: Vec<Vec<usize>> = Vec::with_capacity(inputs.len());
    for (p, (a, index)) in inputs.iter().enumerate() {
        let chars: Vec<char> = index.chars().collect();
        if chars.len() != a.ndim() {
            return Err(invalid(format!(
                "blockwise: input {p} has the index {index:?} of {} letters, but its shape {} has {} axes; give one letter per axis",
                chars.len(),
                fmt_shape(a.shape()),
                a.ndim()
            )));
        }
        let mut ids = Vec::with_capacity(chars.len());
        for (ax, &c) in chars.iter().enumerate() {
            let len = a.shape()[ax];
            let axis_chunks = a.chunks().axis(ax);
            match letters.iter().position(|l| l.name == c) {
                Some(id) => {
                    let l = &mut letters[id];
                    if l.len != len {
                        return Err(invalid(format!(
                            "blockwise: letter {c:?} has length {} in axis {} of input {} of shape {}, but {len} in axis {ax} of input {p} of shape {}; axes with the same letter must have the same length",
                            l.len,
                            l.seen_in.1,
                            l.seen_in.0,
                            fmt_shape(&l.seen_in.2),
                            fmt_shape(a.shape())
                        )));
                    }
                    if l.chunks != axis_chunks {
                        l.chunks = refine(&l.chunks, axis_chunks);
                    }
                    ids.push(id);
                }
                None => {
                    letters.push(Letter {
                        name: c,
                        len,
                        chunks: axis_chunks.to_vec(),
                        seen_in: (p, ax, a.shape().to_vec()),
                    });
                    ids.push(letters.len() - 1);
                }
            }
        }
        input_letters.push(ids);
    }
    let mut out_letters = Vec::with_capacity(out.len());
    for &c in &out {
        match letters.iter().position(|l| l.name == c) {
            Some(id) => out_letters.push(id),
            None => {
                return Err(invalid(format!(
                    "blockwise: output letter {c:?} of {out_index:?} is in no input index; every output axis needs a letter of some input"
                )));
            }
        }
    }
    let contracted: Vec<usize> = (0..letters.len())
        .filter(|id| !out_letters.contains(id))
        .collect();

    // Split every input at the unified boundaries; plan how each axis is
    // addressed.
    let mut nodes = Vec::with_capacity(inputs.len());
    let mut roles: Vec<Vec<AxisRole>> = Vec::with_capacity(inputs.len());
    for ((a, _), ids) in inputs.iter().zip(&input_letters) {
        let target: Vec<Vec<usize>> = ids.iter().map(|&id| letters[id].chunks.clone()).collect();
        nodes.push(a.refined(&target).node);
        roles.push(
            ids.iter()
                .map(|id| match out_letters.iter().position(|o| o == id) {
                    Some(pos) => AxisRole::Out(pos),
                    None => AxisRole::Contracted(
                        contracted
                            .iter()
                            .position(|c| c == id)
                            .expect("a letter not in the output is contracted"),
                    ),
                })
                .collect(),
        );
    }
    let contracted_blocks: Vec<usize> = contracted
        .iter()
        .map(|&id| letters[id].chunks.len())
        .collect();
    let out_chunks = Chunks::from_vec(
        out_letters
            .iter()
            .map(|&id| letters[id].chunks.clone())
            .collect(),
    );
    let gathers = contracted_blocks.iter().any(|&n| n > 1);
    let names: Vec<Arc<str>> = nodes.iter().map(|n| n.name.clone()).collect();
    let layer_inputs = nodes.into_iter().map(Input::Array).collect();
    let f = Arc::new(f);
    let c = out_chunks.clone();
    Ok(Array::layer(
        "blockwise",
        out_chunks,
        layer_inputs,
        move |idx| {
            let mut deps = Vec::new();
            // Per input: how many blocks it reads, laid out on which grid.
            let mut grids: Vec<Vec<usize>> = Vec::with_capacity(names.len());
            for (name, roles) in names.iter().zip(&roles) {
                let ranges: Vec<(usize, usize)> = roles
                    .iter()
                    .map(|r| match *r {
                        AxisRole::Out(pos) => (idx[pos], idx[pos] + 1),
                        AxisRole::Contracted(k) => (0, contracted_blocks[k]),
                    })
                    .collect();
                deps.extend(ranges_product(&ranges).map(|i| block_key(name, &i)));
                grids.push(ranges.iter().map(|(lo, hi)| hi - lo).collect());
            }
            let index = idx.to_vec();
            let expected = c.block_shape(idx);
            let f = f.clone();
            let run = move |args: &[Value]| {
                let mut arrays = Vec::with_capacity(grids.len());
                let mut next = 0;
                for grid in &grids {
                    let n: usize = grid.iter().product();
                    let blocks = (next..next + n)
                        .map(|i| block_arg::<T>(args, i))
                        .collect::<std::result::Result<Vec<_>, TaskError>>()?;
                    arrays.push(concatenate(&blocks, grid)?);
                    next += n;
                }
                let out = f(&arrays);
                check_output_block(
                    "blockwise",
                    &index,
                    &out,
                    &expected,
                    "return a block whose axes have the sizes of the output letters' blocks",
                )?;
                Ok(block_value(out))
            };
            BlockTask {
                op: if gathers {
                    Op::call("blockwise", run)
                } else {
                    Op::blockwise("blockwise", run)
                },
                deps,
            }
        },
    ))
}

/// Blocks laid out on `grid` (C order) joined into one array.
fn concatenate<T: Element>(
    blocks: &[&ArrayD<T>],
    grid: &[usize],
) -> std::result::Result<ArrayD<T>, TaskError> {
    if let [one] = blocks {
        return Ok((*one).clone());
    }
    // Block sizes along each axis, read from the blocks on that axis's edge.
    let ndim = grid.len();
    let mut sizes: Vec<Vec<usize>> = Vec::with_capacity(ndim);
    for ax in 0..ndim {
        let stride: usize = grid[ax + 1..].iter().product();
        sizes.push(
            (0..grid[ax])
                .map(|g| blocks[g * stride].shape()[ax])
                .collect(),
        );
    }
    let shape: Vec<usize> = sizes.iter().map(|s| s.iter().sum()).collect();
    let mut out = ArrayD::<T>::default(IxDyn(&shape));
    let ranges: Vec<(usize, usize)> = grid.iter().map(|&n| (0, n)).collect();
    for (pos, block) in ranges_product(&ranges).zip(blocks) {
        let fits = (0..ndim).all(|ax| block.shape()[ax] == sizes[ax][pos[ax]]);
        if !fits {
            return Err(TaskError::failed(format!(
                "blockwise: a block of shape {} does not line up with its neighbours (sizes {sizes:?}) when concatenating",
                fmt_shape(block.shape())
            )));
        }
        let mut view = out.view_mut();
        for ax in 0..ndim {
            let start: usize = sizes[ax][..pos[ax]].iter().sum();
            view.slice_axis_inplace(
                ndarray::Axis(ax),
                Slice::from(start..start + block.shape()[ax]),
            );
        }
        view.assign(*block);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn concatenate_joins_a_grid_of_blocks() {
        let a = array![[1, 2], [5, 6]].into_dyn();
        let b = array![[3], [7]].into_dyn();
        let c = array![[9, 10]].into_dyn();
        let d = array![[11]].into_dyn();
        let joined = concatenate(&[&a, &b, &c, &d], &[2, 2]).unwrap();
        assert_eq!(joined, array![[1, 2, 3], [5, 6, 7], [9, 10, 11]].into_dyn());
        let bad = array![[0, 0]].into_dyn();
        assert!(concatenate(&[&a, &b, &c, &bad], &[2, 2]).is_err());
    }

    #[test]
    fn declared_block_sizes_repeat_per_block() {
        let c = (&[2, 1]).declared_chunks(&[3, 1]).unwrap();
        assert_eq!(c.as_slices(), &[vec![2, 2, 2], vec![1]]);
        assert!((&[2]).declared_chunks(&[3, 1]).is_err());
    }
}
