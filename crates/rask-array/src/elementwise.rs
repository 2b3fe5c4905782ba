//! Elementwise operations with NumPy broadcasting.
//!
//! Shapes broadcast as in NumPy: axes are matched from the right, and an
//! axis of length 1 (or a missing leading axis) stretches to the other
//! operand's length. Chunks are unified before blocks are paired: along each
//! axis, every operand that is not broadcast must be split the same way; when
//! they differ, each is split further at the others' block boundaries (the
//! common refinement), which only slices blocks and never moves data between
//! them. Every output block then reads exactly one block of each operand.
//!
//! All elementwise layers are blockwise tasks, so chains and trees of them
//! fuse into one task per block.

use std::ops::Range;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, Slice, Zip};
use rask_core::{Key, Op, TaskError, Value};

use crate::array::{
    Array, BlockTask, DepsFn, Node, Region, RegionFn, Slab, block_arg, block_key, block_value,
    region_shape, whole,
};
use crate::chunks::{Chunks, fmt_shape, refine};
use crate::element::{CastFrom, Element, Float, Number};

/// NumPy's broadcast of several shapes.
pub(crate) fn broadcast_shapes(shapes: &[&[usize]]) -> Result<Vec<usize>, String> {
    let ndim = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; ndim];
    for (ax, o) in out.iter_mut().enumerate() {
        let mut dim: Option<usize> = None;
        for s in shapes {
            let k = ax as isize - (ndim - s.len()) as isize;
            if k < 0 {
                continue;
            }
            let d = s[k as usize];
            match dim {
                _ if d == 1 => {}
                None => dim = Some(d),
                Some(e) if e == d => {}
                Some(_) => {
                    let list: Vec<String> = shapes.iter().map(|s| fmt_shape(s)).collect();
                    return Err(format!(
                        "operands could not be broadcast together with shapes {}",
                        list.join(" ")
                    ));
                }
            }
        }
        *o = dim.unwrap_or(1);
    }
    Ok(out)
}

/// Output chunks, and for each operand the chunks it must have (its own
/// where they already fit).
pub(crate) fn unify(
    operands: &[(&[usize], &Chunks)],
    out_shape: &[usize],
) -> (Chunks, Vec<Vec<Vec<usize>>>) {
    let ndim = out_shape.len();
    let mut out_chunks = Vec::with_capacity(ndim);
    for (ax, &len) in out_shape.iter().enumerate() {
        let mut acc: Option<Vec<usize>> = None;
        for (shape, chunks) in operands {
            let off = ndim - shape.len();
            if ax < off || (shape[ax - off] == 1 && len != 1) {
                continue;
            }
            let c = chunks.axis(ax - off);
            acc = Some(match acc {
                None => c.to_vec(),
                Some(a) if a == c => a,
                Some(a) => refine(&a, c),
            });
        }
        out_chunks.push(acc.unwrap_or_else(|| vec![len]));
    }
    let targets = operands
        .iter()
        .map(|(shape, chunks)| {
            let off = ndim - shape.len();
            (0..shape.len())
                .map(|a| {
                    if shape[a] == 1 && out_shape[a + off] != 1 {
                        chunks.axis(a).to_vec()
                    } else {
                        out_chunks[a + off].clone()
                    }
                })
                .collect()
        })
        .collect();
    (Chunks::from_vec(out_chunks), targets)
}

/// One block of [`Array::refined`]: the region of shape `shape` starting
/// at `within` of the one old block it lies in.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
struct RechunkSplit<T> {
    within: Vec<usize>,
    shape: Vec<usize>,
    _t: std::marker::PhantomData<T>,
}

impl<T: Element> rask_core::Kernel for RechunkSplit<T> {
    const NAME: &'static str = crate::kernels::elem_name!("rask.array.rechunk_split", T);
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let b = block_arg::<T>(args, 0)?;
        let fits = b.ndim() == self.within.len()
            && b.ndim() == self.shape.len()
            && (0..b.ndim()).all(|a| {
                self.within[a]
                    .checked_add(self.shape[a])
                    .is_some_and(|e| e <= b.shape()[a])
            });
        if !fits {
            return Err(TaskError::failed(format!(
                "rechunk: an input block has shape {}, too small for a block of shape {} at {:?}",
                fmt_shape(b.shape()),
                fmt_shape(&self.shape),
                self.within
            )));
        }
        let view = b.slice_each_axis(|d| {
            let ax = d.axis.index();
            Slice::from(self.within[ax]..self.within[ax] + self.shape[ax])
        });
        Ok(block_value(view.to_owned()))
    }
}

crate::kernels::register_elements!(RechunkSplit);

impl<T: Element> Array<T> {
    /// The same array split at finer boundaries: every new block lies in one
    /// old block, so each is a slice of one block.
    pub(crate) fn refined(&self, target: &[Vec<usize>]) -> Array<T> {
        if self.error().is_some() || self.chunks().as_slices() == target {
            return self.clone();
        }
        let old = self.chunks().clone();
        let old_offsets: Vec<Vec<usize>> = (0..old.ndim()).map(|a| old.offsets(a)).collect();
        let new = Chunks::from_vec(target.to_vec());
        let src = self.node.name.clone();
        let c = new.clone();
        Array::kernel_layer("rechunk-split", &(), new, vec![self.input()], move |idx| {
            let start = c.block_start(idx);
            let shape = c.block_shape(idx);
            let mut old_idx = Vec::with_capacity(idx.len());
            let mut within = Vec::with_capacity(idx.len());
            for (ax, &s) in start.iter().enumerate() {
                // The old block containing `s`: the last offset <= s.
                let offs = &old_offsets[ax];
                let b = offs
                    .partition_point(|&o| o <= s)
                    .saturating_sub(1)
                    .min(offs.len() - 2);
                old_idx.push(b);
                within.push(s - offs[b]);
            }
            BlockTask {
                op: Op::kernel_blockwise(RechunkSplit::<T> {
                    within,
                    shape,
                    _t: std::marker::PhantomData,
                }),
                deps: vec![block_key(&src, &old_idx)],
            }
        })
    }
}

/// The most leaves (stored blocks read, generators run) one elementwise
/// evaluation may touch through inlined operands. Inlining repeats the work
/// of a subtree for every consumer that inlines it, so a shared subtree
/// (`y = x + x; z = y + y; …`) would grow exponentially without a bound;
/// past it, operands are read as stored blocks.
const INLINE_COST: usize = 16;

/// How an elementwise task reads one operand.
pub(crate) struct OperandPlan {
    /// The layer read: the transpose's source when seen through one.
    name: Arc<str>,
    /// Output axes the operand lacks (leading, as in NumPy broadcasting).
    off: usize,
    /// Operand axes of length 1 stretched against a longer output axis:
    /// they read block 0.
    broadcast: Vec<bool>,
    /// The axis permutation to view the source through, for a transpose.
    perm: Option<Vec<usize>>,
    /// When the source is evaluated inline, region by region, instead of
    /// read as stored blocks: its keys, their number, and its evaluation.
    inline: Option<(Arc<DepsFn>, usize, Arc<RegionFn>)>,
}

impl OperandPlan {
    /// The source block read by output block `idx`.
    fn source_index(&self, idx: &[usize]) -> Vec<usize> {
        let logical: Vec<usize> = (0..self.broadcast.len())
            .map(|a| {
                if self.broadcast[a] {
                    0
                } else {
                    idx[a + self.off]
                }
            })
            .collect();
        self.to_source(logical)
    }

    /// The operand's region (in its own axes) under the output `region`.
    fn logical_region(&self, region: &Region) -> Vec<Range<usize>> {
        (0..self.broadcast.len())
            .map(|a| {
                if self.broadcast[a] {
                    0..1
                } else {
                    region[a + self.off].clone()
                }
            })
            .collect()
    }

    /// Logical axis `k` of a transpose is source axis `perm[k]`.
    fn to_source<X: Clone + Default>(&self, logical: Vec<X>) -> Vec<X> {
        match &self.perm {
            Some(perm) => {
                let mut src = vec![X::default(); logical.len()];
                for (k, &a) in perm.iter().enumerate() {
                    src[a] = logical[k].clone();
                }
                src
            }
            None => logical,
        }
    }

    fn ndeps(&self) -> usize {
        self.inline.as_ref().map_or(1, |(_, n, _)| *n)
    }

    fn deps(&self, idx: &[usize], out: &mut Vec<Key>) {
        let src = self.source_index(idx);
        match &self.inline {
            Some((deps, _, _)) => out.extend(deps(&src)),
            None => out.push(block_key(&self.name, &src)),
        }
    }
}

/// The operands of one elementwise evaluation: output block `idx`, region
/// `region` of it, with the task's arguments `args`.
pub(crate) struct Operands<'a> {
    plans: &'a [OperandPlan],
    args: &'a [Value],
    idx: &'a [usize],
    region: &'a Region,
    /// The region's shape: what every operand is stretched to.
    pub shape: Vec<usize>,
}

impl Operands<'_> {
    /// Operand `i` under the region: a stored block to slice, or the
    /// region evaluated inline.
    pub(crate) fn read<A: Element>(&self, i: usize) -> Result<OperandBlock<'_, A>, TaskError> {
        let plan = &self.plans[i];
        let first: usize = self.plans[..i].iter().map(OperandPlan::ndeps).sum();
        let logical = plan.logical_region(self.region);
        let (value, slice) = match &plan.inline {
            Some((_, n, eval)) => {
                let args = self
                    .args
                    .get(first..first + n)
                    .ok_or(TaskError::WrongArity {
                        expected: first + n,
                        found: self.args.len(),
                    })?;
                let src_region = plan.to_source(logical);
                let src_idx = plan.source_index(self.idx);
                (
                    eval(args, &src_idx, &src_region, plan.perm.as_deref())?,
                    None,
                )
            }
            None => {
                let value = self.args.get(first).ok_or(TaskError::WrongArity {
                    expected: first + 1,
                    found: self.args.len(),
                })?;
                (value.clone(), Some(logical))
            }
        };
        Ok(OperandBlock {
            value,
            arg: first,
            perm: plan.perm.as_deref(),
            slice,
            _type: std::marker::PhantomData,
        })
    }
}

/// One operand's values under a region (see [`Operands::read`]).
pub(crate) struct OperandBlock<'p, A> {
    value: Value,
    arg: usize,
    perm: Option<&'p [usize]>,
    /// For a stored block: the region to slice out, in the operand's axes.
    slice: Option<Vec<Range<usize>>>,
    _type: std::marker::PhantomData<fn() -> A>,
}

impl<A: Element> OperandBlock<'_, A> {
    /// The operand's values under the region, in the output's axis order
    /// (not yet stretched: see [`stretched`]).
    pub(crate) fn view(&self) -> Result<ndarray::ArrayViewD<'_, A>, TaskError> {
        let block = self.value.get::<ArrayD<A>>(self.arg)?;
        let mut v = match self.perm {
            Some(p) => block.view().permuted_axes(IxDyn(p)),
            None => block.view(),
        };
        if let Some(slice) = &self.slice {
            for (a, r) in slice.iter().enumerate() {
                if r.start != 0 || r.end != v.len_of(ndarray::Axis(a)) {
                    v.slice_axis_inplace(ndarray::Axis(a), Slice::from(r.clone()));
                }
            }
        }
        Ok(v)
    }
}

/// An elementwise layer over operands already split like `chunks` (apart
/// from broadcast axes); `f` gets the operands under one region of an
/// output block and returns the output's values there.
///
/// Operands are read in one of two ways:
///
/// - **inline**: an operand that is itself elementwise or a creation layer
///   (it has a [`Slab`]) is evaluated region by region inside this layer's
///   task, reading its own stored leaves, as long as the evaluation stays
///   within [`INLINE_COST`] leaves. Whole expression trees over random or
///   stored arrays thus run slab by slab, and their intermediates never
///   exist as blocks.
/// - **stored**: the operand's block is a task argument, sliced to the
///   region.
///
/// An operand that is a transpose is read through its source (see-through):
/// the task reads the source block (or evaluates the source's region) and
/// views it through the axis permutation, so `x + x.T` never copies a
/// transposed block.
///
/// The layer is itself region-capable, so consumers can inline it in turn.
pub(crate) fn blockwise_layer<U: Element>(
    prefix: &'static str,
    operands: &[&Arc<Node>],
    chunks: Chunks,
    f: impl Fn(&Operands<'_>) -> Result<ArrayD<U>, TaskError> + Send + Sync + 'static,
) -> Array<U> {
    let out_shape = chunks.shape();
    let ndim = out_shape.len();
    let mut cost = 0;
    let mut inputs = Vec::new();
    let mut plans = Vec::with_capacity(operands.len());
    for n in operands {
        let (src, perm) = match &n.transposed {
            Some((src, perm)) => (src.clone(), Some(perm.clone())),
            None => ((*n).clone(), None),
        };
        let off = ndim - n.shape.len();
        // Broadcast axes read block 0 of the operand.
        let broadcast = (0..n.shape.len())
            .map(|a| n.shape[a] == 1 && out_shape[a + off] != 1)
            .collect();
        let inline = match &src.slab {
            Some(slab) if cost + slab.cost <= INLINE_COST => {
                cost += slab.cost;
                inputs.extend(slab.inputs.iter().cloned());
                Some((slab.deps.clone(), slab.ndeps, slab.eval.clone()))
            }
            _ => {
                cost += 1;
                inputs.push(crate::array::Input::Array(src.clone()));
                None
            }
        };
        plans.push(OperandPlan {
            name: src.name.clone(),
            off,
            broadcast,
            perm,
            inline,
        });
    }
    let plans = Arc::new(plans);
    let ndeps = plans.iter().map(OperandPlan::ndeps).sum();
    let p = plans.clone();
    let deps_of = Arc::new(move |idx: &[usize]| -> Vec<Key> {
        let mut out = Vec::with_capacity(ndeps);
        for plan in p.iter() {
            plan.deps(idx, &mut out);
        }
        out
    });
    let eval: Arc<RegionFn> = Arc::new(move |args: &[Value], idx: &[usize], region: &Region, _| {
        let ops = Operands {
            plans: &plans,
            args,
            idx,
            region,
            shape: region_shape(region),
        };
        Ok(block_value(f(&ops)?))
    });
    let c = chunks.clone();
    let (eval2, deps2) = (eval.clone(), deps_of.clone());
    let mut out = Array::layer(prefix, chunks, inputs.clone(), move |idx| {
        let (region, idx_owned, eval) = (whole(&c.block_shape(idx)), idx.to_vec(), eval2.clone());
        BlockTask {
            op: Op::blockwise(prefix, move |args: &[Value]| {
                eval(args, &idx_owned, &region, None)
            }),
            deps: deps2(idx),
        }
    });
    if let Some(node) = Arc::get_mut(&mut out.node) {
        node.slab = Some(Slab {
            inputs,
            deps: deps_of,
            ndeps,
            eval,
            cost,
        });
    }
    out
}

/// `view` broadcast to the output region's `shape`.
fn stretched<'a, T>(
    view: &'a ndarray::ArrayViewD<'_, T>,
    shape: &[usize],
) -> Result<ndarray::ArrayViewD<'a, T>, TaskError> {
    view.broadcast(IxDyn(shape))
        .ok_or_else(|| broadcast_error(view.shape(), shape))
}

fn broadcast_error(shape: &[usize], to: &[usize]) -> TaskError {
    TaskError::failed(format!(
        "a block of shape {} cannot broadcast to {}",
        fmt_shape(shape),
        fmt_shape(to)
    ))
}

/// `f` applied to the elements of two arrays, broadcast together.
pub(crate) fn zip2<A: Element, B: Element, C: Element>(
    prefix: &'static str,
    a: &Array<A>,
    b: &Array<B>,
    f: impl Fn(A, B) -> C + Copy + Send + Sync + 'static,
) -> Array<C> {
    if let Some(e) = a.error().or(b.error()) {
        return Array::invalid(e);
    }
    let out_shape = match broadcast_shapes(&[a.shape(), b.shape()]) {
        Ok(s) => s,
        Err(e) => return Array::invalid(format!("{prefix}: {e}")),
    };
    let (chunks, targets) = unify(
        &[(a.shape(), a.chunks()), (b.shape(), b.chunks())],
        &out_shape,
    );
    let (a, b) = (a.refined(&targets[0]), b.refined(&targets[1]));
    blockwise_layer(prefix, &[&a.node, &b.node], chunks, move |ops| {
        let (x, y) = (ops.read::<A>(0)?, ops.read::<B>(1)?);
        let (x, y) = (x.view()?, y.view()?);
        let (xv, yv) = (stretched(&x, &ops.shape)?, stretched(&y, &ops.shape)?);
        Ok(Zip::from(&xv).and(&yv).map_collect(|&p, &q| f(p, q)))
    })
}

/// `f` applied to the elements of three arrays, broadcast together.
pub(crate) fn zip3<A: Element, B: Element, C: Element, D: Element>(
    prefix: &'static str,
    a: &Array<A>,
    b: &Array<B>,
    c: &Array<C>,
    f: impl Fn(A, B, C) -> D + Copy + Send + Sync + 'static,
) -> Array<D> {
    if let Some(e) = a.error().or(b.error()).or(c.error()) {
        return Array::invalid(e);
    }
    let out_shape = match broadcast_shapes(&[a.shape(), b.shape(), c.shape()]) {
        Ok(s) => s,
        Err(e) => return Array::invalid(format!("{prefix}: {e}")),
    };
    let (chunks, t) = unify(
        &[
            (a.shape(), a.chunks()),
            (b.shape(), b.chunks()),
            (c.shape(), c.chunks()),
        ],
        &out_shape,
    );
    let (a, b, c) = (a.refined(&t[0]), b.refined(&t[1]), c.refined(&t[2]));
    blockwise_layer(prefix, &[&a.node, &b.node, &c.node], chunks, move |ops| {
        let (x, y, z) = (ops.read::<A>(0)?, ops.read::<B>(1)?, ops.read::<C>(2)?);
        let (x, y, z) = (x.view()?, y.view()?, z.view()?);
        let shape = &ops.shape;
        let (xv, yv, zv) = (
            stretched(&x, shape)?,
            stretched(&y, shape)?,
            stretched(&z, shape)?,
        );
        Ok(Zip::from(&xv)
            .and(&yv)
            .and(&zv)
            .map_collect(|&p, &q, &r| f(p, q, r)))
    })
}

impl<T: Element> Array<T> {
    /// `f` applied to every element, as one blockwise layer named `prefix`.
    pub(crate) fn map_elements<U: Element>(
        &self,
        prefix: &'static str,
        f: impl Fn(T) -> U + Copy + Send + Sync + 'static,
    ) -> Array<U> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        blockwise_layer(prefix, &[&self.node], self.chunks().clone(), move |ops| {
            Ok(ops.read::<T>(0)?.view()?.mapv(f))
        })
    }

    /// `f` applied to every element (NumPy's `vectorize`, as a lazy
    /// blockwise operation).
    ///
    /// ```
    /// # use rask_local as _;
    /// let x = rask_array::Array::<i32>::arange(0, 5, 1, &[2]).unwrap();
    /// let y = x.map(|v| v * v);
    /// assert_eq!(y.compute().unwrap().into_raw_vec_and_offset().0, vec![0, 1, 4, 9, 16]);
    /// ```
    pub fn map<U: Element>(&self, f: impl Fn(T) -> U + Copy + Send + Sync + 'static) -> Array<U> {
        self.map_elements("map", f)
    }

    /// The array converted to another element type, as NumPy's `astype`.
    ///
    /// ```
    /// # use rask_local as _;
    /// let x = rask_array::Array::linspace(0.0, 3.0, 4, &[2]).unwrap();
    /// assert_eq!(x.astype::<i32>().sum().compute_scalar().unwrap(), 6);
    /// ```
    pub fn astype<U: Element + CastFrom<T>>(&self) -> Array<U> {
        self.map_elements("astype", U::cast_from)
    }

    /// Elementwise `==`, giving a bool array.
    pub fn eq_elem<O: Into<Operand<T>>>(&self, other: O) -> Array<bool> {
        self.compare("eq", other, |a, b| a == b)
    }

    /// Elementwise `!=`.
    pub fn ne_elem<O: Into<Operand<T>>>(&self, other: O) -> Array<bool> {
        self.compare("ne", other, |a, b| a != b)
    }

    /// Elementwise `<`.
    ///
    /// ```
    /// # use rask_local as _;
    /// let x = rask_array::Array::<f64>::arange(0.0, 4.0, 1.0, &[3]).unwrap();
    /// assert_eq!(x.lt(2.0).astype::<i64>().sum().compute_scalar().unwrap(), 2);
    /// ```
    pub fn lt<O: Into<Operand<T>>>(&self, other: O) -> Array<bool> {
        self.compare("lt", other, |a, b| a < b)
    }

    /// Elementwise `<=`.
    pub fn le<O: Into<Operand<T>>>(&self, other: O) -> Array<bool> {
        self.compare("le", other, |a, b| a <= b)
    }

    /// Elementwise `>`.
    pub fn gt<O: Into<Operand<T>>>(&self, other: O) -> Array<bool> {
        self.compare("gt", other, |a, b| a > b)
    }

    /// Elementwise `>=`.
    pub fn ge<O: Into<Operand<T>>>(&self, other: O) -> Array<bool> {
        self.compare("ge", other, |a, b| a >= b)
    }

    fn compare<O: Into<Operand<T>>>(
        &self,
        prefix: &'static str,
        other: O,
        f: fn(T, T) -> bool,
    ) -> Array<bool> {
        match other.into() {
            Operand::Scalar(s) => self.map_elements(prefix, move |a| f(a, s)),
            Operand::Array(b) => zip2(prefix, self, &b, f),
        }
    }
}

/// The right-hand side of a comparison: an array or a scalar.
pub enum Operand<T> {
    /// An array, broadcast against the left-hand side.
    Array(Array<T>),
    /// A scalar.
    Scalar(T),
}

impl<T: Element> From<T> for Operand<T> {
    fn from(v: T) -> Self {
        Operand::Scalar(v)
    }
}

impl<T: Element> From<&Array<T>> for Operand<T> {
    fn from(a: &Array<T>) -> Self {
        Operand::Array(a.clone())
    }
}

/// `cond ? x : y` elementwise, broadcasting all three (NumPy's `where`).
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, where_};
/// let x = Array::<f64>::arange(-2.0, 3.0, 1.0, &[2]).unwrap();
/// let relu = where_(&x.gt(0.0), &x, &Array::zeros(&[], &[] as &[usize]).unwrap());
/// assert_eq!(relu.compute().unwrap().into_raw_vec_and_offset().0, vec![0.0, 0.0, 0.0, 1.0, 2.0]);
/// ```
pub fn where_<T: Element>(cond: &Array<bool>, x: &Array<T>, y: &Array<T>) -> Array<T> {
    zip3("where", cond, x, y, |c, a, b| if c { a } else { b })
}

impl<T: Number> Array<T> {
    /// Values limited to `[min, max]` (NumPy's `clip`: `minimum(maximum(x,
    /// min), max)`, so `max` wins when `min > max`; NaN stays NaN).
    ///
    /// ```
    /// # use rask_local as _;
    /// let x = rask_array::Array::<i32>::arange(0, 6, 1, &[4]).unwrap();
    /// assert_eq!(x.clip(1, 3).compute().unwrap().into_raw_vec_and_offset().0, vec![1, 1, 2, 3, 3, 3]);
    /// ```
    pub fn clip(&self, min: T, max: T) -> Array<T> {
        self.map_elements("clip", move |v| {
            let v = if v < min { min } else { v };
            if v > max { max } else { v }
        })
    }

    /// Elementwise maximum with another array (NumPy's `maximum`: NaN
    /// propagates).
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray::array};
    /// let x = Array::from_ndarray(array![1.0, 5.0, f64::NAN].into_dyn(), &[2]).unwrap();
    /// let y = Array::from_ndarray(array![3.0].into_dyn(), &[1]).unwrap();
    /// let m = x.maximum(&y).compute().unwrap();
    /// assert_eq!((m[0], m[1]), (3.0, 5.0));
    /// assert!(m[2].is_nan());
    /// ```
    pub fn maximum(&self, other: &Array<T>) -> Array<T> {
        zip2("maximum", self, other, |a, b| {
            if a.is_nan_value() || (!b.is_nan_value() && a >= b) {
                a
            } else {
                b
            }
        })
    }

    /// Elementwise minimum with another array (NumPy's `minimum`: NaN
    /// propagates).
    pub fn minimum(&self, other: &Array<T>) -> Array<T> {
        zip2("minimum", self, other, |a, b| {
            if a.is_nan_value() || (!b.is_nan_value() && a <= b) {
                a
            } else {
                b
            }
        })
    }
}

impl<T: Number + num_traits::Signed> Array<T> {
    /// Absolute values (integers wrap around: `|MIN|` is `MIN`, as in
    /// NumPy).
    pub fn abs(&self) -> Array<T> {
        self.map_elements("abs", T::wrapping_abs)
    }
}

macro_rules! float_unary {
    ($($(#[$doc:meta])* $name:ident => $f:expr),* $(,)?) => {
        impl<T: Float> Array<T> {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> Array<T> {
                    self.map_elements(stringify!($name), $f)
                }
            )*
        }
    };
}

float_unary!(
    /// Square roots.
    sqrt => |v: T| v.sqrt(),
    /// Squares.
    square => |v: T| v * v,
    /// `e` to the power of each element.
    exp => |v: T| v.exp(),
    /// `e^x - 1`, accurate near zero (NumPy's `expm1`).
    expm1 => |v: T| v.exp_m1(),
    /// Natural logarithms.
    ln => |v: T| v.ln(),
    /// `ln(1 + x)`, accurate near zero (NumPy's `log1p`).
    log1p => |v: T| v.ln_1p(),
    /// Base-10 logarithms.
    log10 => |v: T| v.log10(),
    /// Base-2 logarithms.
    log2 => |v: T| v.log2(),
    /// Sines.
    sin => |v: T| v.sin(),
    /// Cosines.
    cos => |v: T| v.cos(),
    /// Tangents.
    tan => |v: T| v.tan(),
    /// Inverse sines.
    arcsin => |v: T| v.asin(),
    /// Inverse cosines.
    arccos => |v: T| v.acos(),
    /// Inverse tangents.
    arctan => |v: T| v.atan(),
    /// Hyperbolic sines.
    sinh => |v: T| v.sinh(),
    /// Hyperbolic cosines.
    cosh => |v: T| v.cosh(),
    /// Hyperbolic tangents.
    tanh => |v: T| v.tanh(),
    /// Largest integers not above each element.
    floor => |v: T| v.floor(),
    /// Smallest integers not below each element.
    ceil => |v: T| v.ceil(),
    /// Integer parts, rounding toward zero.
    trunc => |v: T| v.trunc(),
    /// Nearest integers, halves to the even neighbour, as NumPy's `round`
    /// (`0.5 -> 0`, `1.5 -> 2`, `2.5 -> 2`).
    ///
    /// ```
    /// # use rask_local as _;
    /// let x = rask_array::Array::from_ndarray(
    ///     rask_array::ndarray::arr1(&[0.5, 1.5, 2.5, -2.5, 2.4]).into_dyn(), &[2]).unwrap();
    /// assert_eq!(x.round().compute().unwrap().into_raw_vec_and_offset().0, vec![0.0, 2.0, 2.0, -2.0, 2.0]);
    /// ```
    round => |v: T| {
        let two = T::one() + T::one();
        if (v - v.trunc()).abs() == T::one() / two {
            two * (v / two).round()
        } else {
            v.round()
        }
    },
    /// `-1`, `0` or `1` by sign; NaN stays NaN (NumPy's `sign`, where
    /// `sign(0) = 0`, unlike Rust's `signum`).
    sign => |v: T| {
        if v > T::zero() {
            T::one()
        } else if v < T::zero() {
            -T::one()
        } else {
            v
        }
    },
);

impl<T: Float> Array<T> {
    /// Each element to the power `p`.
    pub fn powf(&self, p: T) -> Array<T> {
        self.map_elements("pow", move |v| v.powf(p))
    }

    /// Each element to an integer power.
    pub fn powi(&self, p: i32) -> Array<T> {
        self.map_elements("pow", move |v| v.powi(p))
    }

    /// Elementwise NaN test.
    pub fn isnan(&self) -> Array<bool> {
        self.map_elements("isnan", |v| v.is_nan())
    }

    /// Elementwise test for positive or negative infinity.
    pub fn isinf(&self) -> Array<bool> {
        self.map_elements("isinf", |v| v.is_infinite())
    }

    /// Elementwise test for a finite value (neither infinite nor NaN).
    pub fn isfinite(&self) -> Array<bool> {
        self.map_elements("isfinite", |v| v.is_finite())
    }

    /// The angle of the point `(other, self)`, elementwise with
    /// broadcasting (NumPy's `arctan2(self, other)`).
    ///
    /// ```
    /// # use rask_local as _;
    /// let y = rask_array::Array::<f64>::ones(&[2], &[1]).unwrap();
    /// let x = rask_array::Array::<f64>::zeros(&[2], &[1]).unwrap();
    /// let a = y.arctan2(&x).compute().unwrap();
    /// assert!((a[[0]] - std::f64::consts::FRAC_PI_2).abs() < 1e-15);
    /// ```
    pub fn arctan2(&self, other: &Array<T>) -> Array<T> {
        zip2("arctan2", self, other, |y: T, x: T| y.atan2(x))
    }

    /// `sqrt(self² + other²)` without overflow, elementwise with
    /// broadcasting (NumPy's `hypot`).
    pub fn hypot(&self, other: &Array<T>) -> Array<T> {
        zip2("hypot", self, other, |a: T, b: T| a.hypot(b))
    }
}

macro_rules! binary_operator {
    ($trait:ident, $method:ident, $prefix:literal, $f:ident) => {
        impl<T: Number> std::ops::$trait<&Array<T>> for &Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: &Array<T>) -> Array<T> {
                zip2($prefix, self, rhs, T::$f)
            }
        }
        impl<T: Number> std::ops::$trait<Array<T>> for &Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: Array<T>) -> Array<T> {
                zip2($prefix, self, &rhs, T::$f)
            }
        }
        impl<T: Number> std::ops::$trait<&Array<T>> for Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: &Array<T>) -> Array<T> {
                zip2($prefix, &self, rhs, T::$f)
            }
        }
        impl<T: Number> std::ops::$trait<Array<T>> for Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: Array<T>) -> Array<T> {
                zip2($prefix, &self, &rhs, T::$f)
            }
        }
        impl<T: Number> std::ops::$trait<T> for &Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: T) -> Array<T> {
                self.map_elements($prefix, move |a| T::$f(a, rhs))
            }
        }
        impl<T: Number> std::ops::$trait<T> for Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: T) -> Array<T> {
                self.map_elements($prefix, move |a| T::$f(a, rhs))
            }
        }
    };
}

binary_operator!(Add, add, "add", wrapping_add);
binary_operator!(Sub, sub, "sub", wrapping_sub);
binary_operator!(Mul, mul, "mul", wrapping_mul);
binary_operator!(Div, div, "div", wrapping_div);
binary_operator!(Rem, rem, "mod", wrapping_rem);

macro_rules! scalar_left {
    ($($t:ty),*) => {$(
        impl std::ops::Add<&Array<$t>> for $t {
            type Output = Array<$t>;
            fn add(self, rhs: &Array<$t>) -> Array<$t> { rhs.map_elements("add", move |b| Number::wrapping_add(self, b)) }
        }
        impl std::ops::Sub<&Array<$t>> for $t {
            type Output = Array<$t>;
            fn sub(self, rhs: &Array<$t>) -> Array<$t> { rhs.map_elements("sub", move |b| Number::wrapping_sub(self, b)) }
        }
        impl std::ops::Mul<&Array<$t>> for $t {
            type Output = Array<$t>;
            fn mul(self, rhs: &Array<$t>) -> Array<$t> { rhs.map_elements("mul", move |b| Number::wrapping_mul(self, b)) }
        }
        impl std::ops::Div<&Array<$t>> for $t {
            type Output = Array<$t>;
            fn div(self, rhs: &Array<$t>) -> Array<$t> { rhs.map_elements("div", move |b| Number::wrapping_div(self, b)) }
        }
    )*};
}

scalar_left!(f32, f64, i8, i16, i32, i64, u8, u16, u32, u64);

impl<T: Number + std::ops::Neg<Output = T>> std::ops::Neg for &Array<T> {
    type Output = Array<T>;
    fn neg(self) -> Array<T> {
        self.map_elements("neg", T::wrapping_neg)
    }
}

impl<T: Number + std::ops::Neg<Output = T>> std::ops::Neg for Array<T> {
    type Output = Array<T>;
    fn neg(self) -> Array<T> {
        self.map_elements("neg", T::wrapping_neg)
    }
}

impl std::ops::Not for &Array<bool> {
    type Output = Array<bool>;
    fn not(self) -> Array<bool> {
        self.map_elements("invert", |a| !a)
    }
}

impl Array<bool> {
    /// Elementwise logical and.
    pub fn and(&self, other: &Array<bool>) -> Array<bool> {
        zip2("and", self, other, |a, b| a && b)
    }

    /// Elementwise logical or.
    pub fn or(&self, other: &Array<bool>) -> Array<bool> {
        zip2("or", self, other, |a, b| a || b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shapes(&[&[3, 1], &[4]]).unwrap(), vec![3, 4]);
        assert_eq!(broadcast_shapes(&[&[], &[2, 2]]).unwrap(), vec![2, 2]);
        assert_eq!(
            broadcast_shapes(&[&[5, 1, 4], &[3, 1]]).unwrap(),
            vec![5, 3, 4]
        );
        assert_eq!(broadcast_shapes(&[&[0], &[1]]).unwrap(), vec![0]);
        let err = broadcast_shapes(&[&[3, 4], &[5]]).unwrap_err();
        assert!(err.contains("(3, 4) (5,)"), "{err}");
    }

    #[test]
    fn unify_refines_differing_chunks() {
        let a = Chunks::new(vec![vec![4, 4, 2]], &[10]).unwrap();
        let b = Chunks::new(vec![vec![5, 5]], &[10]).unwrap();
        let (out, t) = unify(&[(&[10], &a), (&[10], &b)], &[10]);
        assert_eq!(out.axis(0), &[4, 1, 3, 2]);
        assert_eq!(t[0][0], vec![4, 1, 3, 2]);
        let one = Chunks::new(vec![vec![1]], &[1]).unwrap();
        let (out, t) = unify(&[(&[10], &a), (&[1], &one)], &[10]);
        assert_eq!(out.axis(0), &[4, 4, 2]);
        assert_eq!(t[1][0], vec![1], "a broadcast axis keeps its single block");
    }
}
