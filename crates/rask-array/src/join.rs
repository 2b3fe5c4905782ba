//! Joining arrays: [`concatenate`] along an existing axis and [`stack`]
//! along a new one.
//!
//! Off the joining axis the inputs' chunks are unified by refining (every
//! boundary of any input becomes a boundary of all, which only slices
//! blocks); along it the inputs' chunks follow each other. Every output
//! block is then one input block as it is — the tasks pass the block on
//! without copying it.

use std::marker::PhantomData;

use ndarray::Axis;
use rask_core::{Error, Kernel, Op, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::{Array, BlockTask, block_arg, block_key};
use crate::chunks::{Chunks, fmt_shape, refine};
use crate::element::Element;
use crate::kernels::{elem_name, register_elements};

/// One block of a join: an input block, passed on as it is.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct ConcatenateBlock<T> {
    _t: PhantomData<T>,
}

impl<T: Element> Kernel for ConcatenateBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.concatenate", T);
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        block_arg::<T>(args, 0)?;
        Ok(args[0].clone())
    }
}

register_elements!(ConcatenateBlock);

fn shapes_list<T: Element>(arrays: &[&Array<T>]) -> String {
    arrays
        .iter()
        .map(|a| fmt_shape(a.shape()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks that applies to both joins: a non-empty list of valid arrays.
fn check_inputs<T: Element>(what: &str, arrays: &[&Array<T>]) -> Result<()> {
    if arrays.is_empty() {
        return Err(Error::invalid(
            "arrays",
            format!("{what}: need at least one array to join"),
        ));
    }
    if let Some(e) = arrays.iter().find_map(|a| a.error()) {
        return Err(Error::invalid("arrays", format!("{what}: {e}")));
    }
    Ok(())
}

/// Joins arrays along an existing axis (NumPy's `concatenate`).
///
/// The arrays must have the same number of axes and the same lengths on
/// every axis but `axis`; the error lists their shapes otherwise.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, concatenate, ndarray::{array, Axis}};
/// # fn main() -> rask_core::Result<()> {
/// let a = Array::from_ndarray(array![[1, 2], [3, 4]].into_dyn(), &[1, 2])?;
/// let b = Array::from_ndarray(array![[5, 6]].into_dyn(), &[1, 1])?;
/// let c = concatenate(Axis(0), &[&a, &b])?;
/// assert_eq!(c.chunks().as_slices(), &[vec![1, 1, 1], vec![1, 1]]);
/// assert_eq!(c.compute()?, array![[1, 2], [3, 4], [5, 6]].into_dyn());
/// # Ok(())
/// # }
/// ```
pub fn concatenate<T: Element>(axis: Axis, arrays: &[&Array<T>]) -> Result<Array<T>> {
    check_inputs("concatenate", arrays)?;
    let ax = axis.index();
    let ndim = arrays[0].ndim();
    if ndim == 0 {
        return Err(Error::invalid(
            "arrays",
            "concatenate: zero-dimensional arrays cannot be concatenated; use stack to join them along a new axis",
        ));
    }
    if arrays.iter().any(|a| a.ndim() != ndim) {
        return Err(Error::invalid(
            "arrays",
            format!(
                "concatenate: all arrays must have the same number of axes, but the shapes are {}",
                shapes_list(arrays)
            ),
        ));
    }
    if ax >= ndim {
        return Err(Error::invalid(
            "axis",
            format!(
                "concatenate: axis {ax} is out of bounds for arrays with {ndim} axes (shapes {})",
                shapes_list(arrays)
            ),
        ));
    }
    let first = arrays[0].shape();
    let fits = |a: &&Array<T>| {
        a.shape()
            .iter()
            .zip(first)
            .enumerate()
            .all(|(i, (x, y))| i == ax || x == y)
    };
    if !arrays.iter().all(fits) {
        return Err(Error::invalid(
            "arrays",
            format!(
                "concatenate: the arrays must have the same lengths on every axis except axis {ax}, but the shapes are {}",
                shapes_list(arrays)
            ),
        ));
    }
    if arrays.len() == 1 {
        return Ok(arrays[0].clone());
    }
    // Common chunks off the axis.
    let common: Vec<Vec<usize>> = (0..ndim)
        .map(|a| {
            arrays[1..]
                .iter()
                .fold(arrays[0].chunks().axis(a).to_vec(), |acc, x| {
                    let c = x.chunks().axis(a);
                    if acc == c { acc } else { refine(&acc, c) }
                })
        })
        .collect();
    let parts: Vec<Array<T>> = arrays
        .iter()
        .map(|a| {
            let mut target = common.clone();
            target[ax] = a.chunks().axis(ax).to_vec();
            a.refined(&target)
        })
        .collect();
    let nonempty: Vec<&Array<T>> = parts.iter().filter(|p| p.shape()[ax] > 0).collect();
    let Some(&only) = nonempty.first() else {
        // Nothing along the axis: any part has the output's shape.
        return Ok(parts[0].clone());
    };
    if nonempty.len() == 1 {
        return Ok(only.clone());
    }
    // Output block k along the axis is block `local` of part `p`.
    let mut along: Vec<usize> = Vec::new();
    let mut source: Vec<(usize, usize)> = Vec::new();
    for (p, part) in nonempty.iter().enumerate() {
        for (local, &c) in part.chunks().axis(ax).iter().enumerate() {
            along.push(c);
            source.push((p, local));
        }
    }
    let mut per_axis = common;
    per_axis[ax] = along;
    let names: Vec<_> = nonempty.iter().map(|p| p.node.name.clone()).collect();
    let inputs = nonempty.iter().map(|p| p.input()).collect();
    Ok(Array::kernel_layer(
        "concatenate",
        &ax,
        Chunks::from_vec(per_axis),
        inputs,
        move |idx| {
            let (p, local) = source[idx[ax]];
            let mut in_idx = idx.to_vec();
            in_idx[ax] = local;
            BlockTask {
                op: Op::kernel_blockwise(ConcatenateBlock::<T> { _t: PhantomData }),
                deps: vec![block_key(&names[p], &in_idx)],
            }
        },
    ))
}

/// Joins arrays of equal shape along a new axis at position `axis`
/// (NumPy's `stack`); the new axis has one block per array.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, stack, ndarray::{array, Axis}};
/// # fn main() -> rask_core::Result<()> {
/// let a = Array::from_ndarray(array![1, 2, 3].into_dyn(), &[2])?;
/// let b = Array::from_ndarray(array![4, 5, 6].into_dyn(), &[3])?;
/// let s = stack(Axis(1), &[&a, &b])?;
/// assert_eq!(s.compute()?, array![[1, 4], [2, 5], [3, 6]].into_dyn());
/// # Ok(())
/// # }
/// ```
pub fn stack<T: Element>(axis: Axis, arrays: &[&Array<T>]) -> Result<Array<T>> {
    check_inputs("stack", arrays)?;
    let ax = axis.index();
    let shape = arrays[0].shape();
    if arrays.iter().any(|a| a.shape() != shape) {
        return Err(Error::invalid(
            "arrays",
            format!(
                "stack: all arrays must have the same shape, but the shapes are {}",
                shapes_list(arrays)
            ),
        ));
    }
    if ax > shape.len() {
        return Err(Error::invalid(
            "axis",
            format!(
                "stack: axis {ax} is out of bounds for stacking arrays of shape {}; use an axis of at most {}",
                fmt_shape(shape),
                shape.len()
            ),
        ));
    }
    let expanded: Vec<Array<T>> = arrays.iter().map(|a| a.expand_dims(ax)).collect();
    let refs: Vec<&Array<T>> = expanded.iter().collect();
    concatenate(axis, &refs)
}
