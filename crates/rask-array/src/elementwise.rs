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
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::array::{
    Array, BlockTask, DepsFn, Input, Node, Region, block_arg, block_key, block_value, region_shape,
};
use crate::chunks::{Chunks, fmt_shape, refine};
use crate::element::{Accumulate, CastFrom, Element, Float, Number};
use crate::kernels::{elem_name, elem_name2};
use crate::region::{ClosureRegion, RegionKernel, RegionRef, register_region, register_region_for};

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

/// How an elementwise evaluation reads one operand: data, part of the
/// layer's region kernel ([`ElementwiseRegion`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct OperandSpec {
    /// Output axes the operand lacks (leading, as in NumPy broadcasting).
    off: usize,
    /// Operand axes of length 1 stretched against a longer output axis:
    /// they read block 0.
    broadcast: Vec<bool>,
    /// The axis permutation to view the source through, for a transpose.
    perm: Option<Vec<usize>>,
    /// When the source is evaluated inline, region by region, instead of
    /// read as a stored block: how many of the task's arguments it reads,
    /// and its evaluation.
    inline: Option<(usize, RegionRef)>,
}

impl OperandSpec {
    /// The source block read by output block `idx`.
    fn source_index(&self, idx: &[usize]) -> Vec<usize> {
        let logical: Vec<usize> = (0..self.broadcast.len())
            .map(|a| {
                if self.broadcast[a] {
                    0
                } else {
                    idx.get(a + self.off).copied().unwrap_or(0)
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
                    region.get(a + self.off).cloned().unwrap_or(0..0)
                }
            })
            .collect()
    }

    /// Logical axis `k` of a transpose is source axis `perm[k]`.
    fn to_source<X: Clone + Default>(&self, logical: Vec<X>) -> Vec<X> {
        match &self.perm {
            Some(perm) if perm.len() == logical.len() => {
                let mut src = vec![X::default(); logical.len()];
                for (k, &a) in perm.iter().enumerate() {
                    if let Some(slot) = src.get_mut(a) {
                        *slot = logical[k].clone();
                    }
                }
                src
            }
            _ => logical,
        }
    }

    fn ndeps(&self) -> usize {
        self.inline.as_ref().map_or(1, |(n, _)| *n)
    }

    fn is_portable(&self) -> bool {
        self.inline.as_ref().is_none_or(|(_, r)| r.is_portable())
    }
}

/// The graph-building half of an operand: which layer it reads and the keys
/// a block reads.
struct OperandPlan {
    /// The layer read: the transpose's source when seen through one.
    name: Arc<str>,
    spec: OperandSpec,
    /// For an inline operand: the keys its region evaluation reads.
    deps: Option<Arc<DepsFn>>,
    /// The 2-d layers the operand reads, each with whether it is read
    /// transposed ([`Slab::reads`](crate::array::Slab)); empty when
    /// broadcast.
    reads: Vec<(Arc<str>, bool)>,
}

impl OperandPlan {
    fn deps(&self, idx: &[usize], out: &mut Vec<Key>) {
        let src = self.spec.source_index(idx);
        match &self.deps {
            Some(deps) => out.extend(deps(&src)),
            None => out.push(block_key(&self.name, &src)),
        }
    }
}

/// The operands of one elementwise evaluation: output block `idx`, region
/// `region` of it, with the task's arguments `args`.
pub(crate) struct Operands<'a> {
    plans: &'a [OperandSpec],
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
        let plan = self.plans.get(i).ok_or(TaskError::WrongArity {
            expected: i + 1,
            found: self.plans.len(),
        })?;
        let first: usize = self.plans[..i].iter().map(OperandSpec::ndeps).sum();
        let logical = plan.logical_region(self.region);
        let (value, slice) = match &plan.inline {
            Some((n, expr)) => {
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
                    expr.eval(args, &src_idx, &src_region, plan.perm.as_deref())?,
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
        let block = crate::mapped::region_view::<A>(&self.value, self.arg)?;
        let mut v = match self.perm {
            Some(p) if p.len() == block.ndim() => block.permuted_axes(IxDyn(p)),
            Some(p) => {
                return Err(TaskError::failed(format!(
                    "a block of shape {} cannot be viewed through the axes {p:?}",
                    fmt_shape(block.shape())
                )));
            }
            None => block,
        };
        if let Some(slice) = &self.slice {
            if slice.len() != v.ndim() {
                return Err(broadcast_error(v.shape(), &region_shape(slice)));
            }
            for (a, r) in slice.iter().enumerate() {
                let n = v.len_of(ndarray::Axis(a));
                if r.start > r.end || r.end > n {
                    return Err(broadcast_error(v.shape(), &region_shape(slice)));
                }
                if r.start != 0 || r.end != n {
                    v.slice_axis_inplace(ndarray::Axis(a), Slice::from(r.clone()));
                }
            }
        }
        Ok(v)
    }
}

/// An elementwise function: the output's values under one region, from the
/// operands there.
pub(crate) trait ElemFn: Send + Sync + 'static {
    /// The output element type.
    type Out: Element;
    /// The output under the region of `ops`.
    fn apply(&self, ops: &Operands<'_>) -> Result<ArrayD<Self::Out>, TaskError>;
}

/// An elementwise function that is data: it has a registered name (per
/// element type), so its layer is portable.
pub(crate) trait NamedElemFn: ElemFn + Serialize + DeserializeOwned {
    /// The name in the registry of region kernels.
    const NAME: &'static str;
}

/// The region kernel of an elementwise layer: the function and how it reads
/// each operand (inline operands carry their own region kernels, so an
/// expression tree is a tree of these).
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct ElementwiseRegion<F: NamedElemFn> {
    f: F,
    operands: Vec<OperandSpec>,
}

impl<F: NamedElemFn> RegionKernel for ElementwiseRegion<F> {
    const NAME: &'static str = F::NAME;
    fn eval(
        &self,
        args: &[Value],
        idx: &[usize],
        region: &Region,
        _layout: Option<&[usize]>,
    ) -> Result<Value, TaskError> {
        let ops = Operands {
            plans: &self.operands,
            args,
            idx,
            region,
            shape: region_shape(region),
        };
        Ok(block_value(self.f.apply(&ops)?))
    }
    fn is_portable(&self) -> bool {
        self.operands.iter().all(OperandSpec::is_portable)
    }
}

/// Plans the operands of an elementwise layer over `out_shape`: each is
/// read inline when it is region-capable and the inline budget allows (see
/// [`INLINE_COST`]), else as stored blocks; a transpose is read through its
/// source. Returns the plans, the layer's inputs and its cost.
fn plan_operands(
    operands: &[&Arc<Node>],
    out_shape: &[usize],
) -> (Vec<OperandPlan>, Vec<Input>, usize) {
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
        let broadcast: Vec<bool> = (0..n.shape.len())
            .map(|a| n.shape[a] == 1 && out_shape[a + off] != 1)
            .collect();
        let flip = perm.is_some();
        let plain = ndim == 2 && off == 0 && !broadcast.contains(&true);
        let leaf = || vec![(src.name.clone(), flip)];
        let (inline, deps, reads) = match &src.slab {
            Some(slab) if cost + slab.cost <= INLINE_COST => {
                cost += slab.cost;
                inputs.extend(slab.inputs.iter().cloned());
                let reads = if slab.reads.is_empty() {
                    leaf()
                } else {
                    slab.reads
                        .iter()
                        .map(|(n, t)| (n.clone(), t ^ flip))
                        .collect()
                };
                (
                    Some((slab.ndeps, slab.expr.clone())),
                    Some(slab.deps.clone()),
                    reads,
                )
            }
            _ => {
                cost += 1;
                inputs.push(Input::Array(src.clone()));
                (None, None, leaf())
            }
        };
        plans.push(OperandPlan {
            name: src.name.clone(),
            reads: if plain { reads } else { Vec::new() },
            spec: OperandSpec {
                off,
                broadcast,
                perm,
                inline,
            },
            deps,
        });
    }
    (plans, inputs, cost)
}

/// The layer over planned operands, evaluated by `expr`.
fn layer_of<U: Element>(
    prefix: &'static str,
    chunks: Chunks,
    plans: Vec<OperandPlan>,
    inputs: Vec<Input>,
    cost: usize,
    expr: RegionRef,
) -> Array<U> {
    let ndeps = plans.iter().map(|p| p.spec.ndeps()).sum();
    let mut reads: Vec<(Arc<str>, bool)> = Vec::new();
    for r in plans.iter().flat_map(|p| &p.reads) {
        if !reads.contains(r) {
            reads.push(r.clone());
        }
    }
    let deps_of = Arc::new(move |idx: &[usize]| -> Vec<Key> {
        let mut out = Vec::with_capacity(ndeps);
        for plan in &plans {
            plan.deps(idx, &mut out);
        }
        out
    });
    let mut out = Array::region_layer(prefix, chunks, inputs, expr, deps_of, ndeps, cost);
    if let Some(slab) = Arc::get_mut(&mut out.node).and_then(|n| n.slab.as_mut()) {
        slab.reads = reads;
    }
    out
}

/// An elementwise layer over operands already split like `chunks` (apart
/// from broadcast axes), computing `f` — a registered function, so the
/// layer is portable and its name derived from `f` and its inputs.
///
/// Operands are read in one of two ways:
///
/// - **inline**: an operand that is itself elementwise or a creation layer
///   (it has a [`Slab`](crate::array::Slab)) is evaluated region by region
///   inside this layer's task, reading its own stored leaves, as long as the
///   evaluation stays within [`INLINE_COST`] leaves. Whole expression trees
///   over random or stored arrays thus run slab by slab, and their
///   intermediates never exist as blocks.
/// - **stored**: the operand's block is a task argument, sliced to the
///   region.
///
/// An operand that is a transpose is read through its source (see-through):
/// the task reads the source block (or evaluates the source's region) and
/// views it through the axis permutation, so `x + x.T` never copies a
/// transposed block.
///
/// The layer is itself region-capable, so consumers can inline it in turn.
pub(crate) fn elementwise<F: NamedElemFn>(
    prefix: &'static str,
    operands: &[&Arc<Node>],
    chunks: Chunks,
    f: F,
) -> Array<F::Out> {
    let (plans, inputs, cost) = plan_operands(operands, &chunks.shape());
    let specs = plans.iter().map(|p| p.spec.clone()).collect();
    let expr = RegionRef::new(ElementwiseRegion { f, operands: specs });
    layer_of(prefix, chunks, plans, inputs, cost, expr)
}

/// Like [`elementwise`], for a closure (`Array::map`): runs only in this
/// process, with a fresh name.
fn elementwise_closure<U: Element>(
    prefix: &'static str,
    operands: &[&Arc<Node>],
    chunks: Chunks,
    f: impl Fn(&Operands<'_>) -> Result<ArrayD<U>, TaskError> + Send + Sync + 'static,
) -> Array<U> {
    let (plans, inputs, cost) = plan_operands(operands, &chunks.shape());
    let specs: Vec<OperandSpec> = plans.iter().map(|p| p.spec.clone()).collect();
    let expr = RegionRef(Arc::new(ClosureRegion(
        move |args: &[Value], idx: &[usize], region: &Region, _: Option<&[usize]>| {
            let ops = Operands {
                plans: &specs,
                args,
                idx,
                region,
                shape: region_shape(region),
            };
            Ok(block_value(f(&ops)?))
        },
    )));
    layer_of(prefix, chunks, plans, inputs, cost, expr)
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

/// `f` of operand 0's elements.
pub(crate) fn unary<A: Element, U: Element>(
    ops: &Operands<'_>,
    f: impl Fn(A) -> U,
) -> Result<ArrayD<U>, TaskError> {
    Ok(ops.read::<A>(0)?.view()?.mapv(f))
}

/// `f` of operands 0 and 1's elements, broadcast together.
pub(crate) fn binary<A: Element, B: Element, C: Element>(
    ops: &Operands<'_>,
    f: impl Fn(A, B) -> C,
) -> Result<ArrayD<C>, TaskError> {
    let (x, y) = (ops.read::<A>(0)?, ops.read::<B>(1)?);
    let (x, y) = (x.view()?, y.view()?);
    let (xv, yv) = (stretched(&x, &ops.shape)?, stretched(&y, &ops.shape)?);
    if crossed(&xv, &yv) {
        return zip_tiled(&xv, &yv, f);
    }
    Ok(Zip::from(&xv).and(&yv).map_collect(|&p, &q| f(p, q)))
}

/// Side of the square tiles [`zip_tiled`] works in. A row of a tile's
/// output reads one element from each of up to 256 rows of the operand
/// read across its grain: those 256 cache lines (16 KiB) stay in L1 while
/// the next seven output rows use the rest of them, and both operands are
/// read in runs of up to 2 KiB, which the hardware prefetchers follow.
/// The regions a reduction evaluates (at most 32 Ki elements, see
/// `reduction::tile_shape`) fit in one tile, so they are zipped whole.
/// Measured on `array-npy-sum-transpose` (`bench/README.md`, 2026-12-02):
/// 64-element tiles 0.74–0.86 s, 128 0.73–0.79 s, 256 or whole regions
/// 0.54–0.65 s.
const TILE: usize = 256;

/// Whether `x` and `y` are 2-d, contiguous along different axes (a block
/// and a transposed block, as in `x + x.T`), and larger than one tile.
fn crossed<A, B>(x: &ndarray::ArrayViewD<'_, A>, y: &ndarray::ArrayViewD<'_, B>) -> bool {
    fn contiguous_axis(shape: &[usize], strides: &[isize]) -> Option<usize> {
        (0..shape.len())
            .rev()
            .find(|&a| shape[a] > 1 && strides[a].unsigned_abs() == 1)
    }
    if x.ndim() != 2 || x.shape().iter().all(|&n| n <= TILE) {
        return false;
    }
    matches!(
        (contiguous_axis(x.shape(), x.strides()), contiguous_axis(y.shape(), y.strides())),
        (Some(a), Some(b)) if a != b
    )
}

/// `f` of 2-d `x` and `y`'s elements, tile by tile, so that the operand
/// read across the grain of its memory stays in the cache (element by
/// element over whole rows, it misses the cache on every element).
fn zip_tiled<A: Element, B: Element, C: Element>(
    x: &ndarray::ArrayViewD<'_, A>,
    y: &ndarray::ArrayViewD<'_, B>,
    f: impl Fn(A, B) -> C,
) -> Result<ArrayD<C>, TaskError> {
    let not_2d = |_| TaskError::failed("a tiled operand is not 2-d");
    let x = x
        .view()
        .into_dimensionality::<ndarray::Ix2>()
        .map_err(not_2d)?;
    let y = y
        .view()
        .into_dimensionality::<ndarray::Ix2>()
        .map_err(not_2d)?;
    let (rows, cols) = x.dim();
    let mut out = ndarray::Array2::<C>::default((rows, cols));
    for i in (0..rows).step_by(TILE) {
        let rs = i..(i + TILE).min(rows);
        for j in (0..cols).step_by(TILE) {
            let cs = j..(j + TILE).min(cols);
            let tile = ndarray::s![rs.clone(), cs];
            Zip::from(out.slice_mut(tile))
                .and(x.slice(tile))
                .and(y.slice(tile))
                .for_each(|o, &p, &q| *o = f(p, q));
        }
    }
    Ok(out.into_dyn())
}

/// `f` of operands 0, 1 and 2's elements, broadcast together.
fn ternary<A: Element, B: Element, C: Element, D: Element>(
    ops: &Operands<'_>,
    f: impl Fn(A, B, C) -> D,
) -> Result<ArrayD<D>, TaskError> {
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
}

/// Output chunks, and the block sizes each operand must be split into.
type Unified = (Chunks, Vec<Vec<Vec<usize>>>);

/// The output chunks of operands broadcast together, with the operands
/// refined to them, or the error of an invalid or mismatched operand.
fn broadcast_together(prefix: &str, nodes: &[(&[usize], &Chunks)]) -> Result<Unified, String> {
    let shapes: Vec<&[usize]> = nodes.iter().map(|(s, _)| *s).collect();
    let out_shape = broadcast_shapes(&shapes).map_err(|e| format!("{prefix}: {e}"))?;
    Ok(unify(nodes, &out_shape))
}

/// A registered function of two arrays' elements, broadcast together.
pub(crate) fn zip2<A: Element, B: Element, F: NamedElemFn>(
    prefix: &'static str,
    a: &Array<A>,
    b: &Array<B>,
    f: F,
) -> Array<F::Out> {
    if let Some(e) = a.error().or(b.error()) {
        return Array::invalid(e);
    }
    let (chunks, targets) =
        match broadcast_together(prefix, &[(a.shape(), a.chunks()), (b.shape(), b.chunks())]) {
            Ok(x) => x,
            Err(e) => return Array::invalid(e),
        };
    let (a, b) = (a.refined(&targets[0]), b.refined(&targets[1]));
    elementwise(prefix, &[&a.node, &b.node], chunks, f)
}

/// A registered function of three arrays' elements, broadcast together.
pub(crate) fn zip3<A: Element, B: Element, C: Element, F: NamedElemFn>(
    prefix: &'static str,
    a: &Array<A>,
    b: &Array<B>,
    c: &Array<C>,
    f: F,
) -> Array<F::Out> {
    if let Some(e) = a.error().or(b.error()).or(c.error()) {
        return Array::invalid(e);
    }
    let (chunks, t) = match broadcast_together(
        prefix,
        &[
            (a.shape(), a.chunks()),
            (b.shape(), b.chunks()),
            (c.shape(), c.chunks()),
        ],
    ) {
        Ok(x) => x,
        Err(e) => return Array::invalid(e),
    };
    let (a, b, c) = (a.refined(&t[0]), b.refined(&t[1]), c.refined(&t[2]));
    elementwise(prefix, &[&a.node, &b.node, &c.node], chunks, f)
}

impl<T: Element> Array<T> {
    /// A registered function of every element, as one blockwise layer
    /// named `prefix`.
    pub(crate) fn map1<F: NamedElemFn>(&self, prefix: &'static str, f: F) -> Array<F::Out> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        elementwise(prefix, &[&self.node], self.chunks().clone(), f)
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
    ///
    /// The function is a closure, so an array made with `map` runs only in
    /// this process; the built-in elementwise functions are portable.
    pub fn map<U: Element>(&self, f: impl Fn(T) -> U + Copy + Send + Sync + 'static) -> Array<U> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        elementwise_closure("map", &[&self.node], self.chunks().clone(), move |ops| {
            unary(ops, f)
        })
    }

    /// The array converted to another element type, as NumPy's `astype`.
    ///
    /// ```
    /// # use rask_local as _;
    /// let x = rask_array::Array::linspace(0.0, 3.0, 4, &[2]).unwrap();
    /// assert_eq!(x.astype::<i32>().sum().compute_scalar().unwrap(), 6);
    /// ```
    pub fn astype<U: Element + CastFrom<T>>(&self) -> Array<U> {
        self.map1("astype", Cast::<T, U>(std::marker::PhantomData))
    }
}

/// Comparisons need an order, which complex elements lack.
impl<T: Element + PartialOrd> Array<T> {
    /// Elementwise `==`, giving a bool array.
    pub fn eq_elem<O: Into<Operand<T>>>(&self, other: O) -> Array<bool> {
        self.compare("eq", other, Cmp::Eq)
    }

    /// Elementwise `!=`.
    pub fn ne_elem<O: Into<Operand<T>>>(&self, other: O) -> Array<bool> {
        self.compare("ne", other, Cmp::Ne)
    }

    /// Elementwise `<`.
    ///
    /// ```
    /// # use rask_local as _;
    /// let x = rask_array::Array::<f64>::arange(0.0, 4.0, 1.0, &[3]).unwrap();
    /// assert_eq!(x.lt(2.0).astype::<i64>().sum().compute_scalar().unwrap(), 2);
    /// ```
    pub fn lt<O: Into<Operand<T>>>(&self, other: O) -> Array<bool> {
        self.compare("lt", other, Cmp::Lt)
    }

    /// Elementwise `<=`.
    pub fn le<O: Into<Operand<T>>>(&self, other: O) -> Array<bool> {
        self.compare("le", other, Cmp::Le)
    }

    /// Elementwise `>`.
    pub fn gt<O: Into<Operand<T>>>(&self, other: O) -> Array<bool> {
        self.compare("gt", other, Cmp::Gt)
    }

    /// Elementwise `>=`.
    pub fn ge<O: Into<Operand<T>>>(&self, other: O) -> Array<bool> {
        self.compare("ge", other, Cmp::Ge)
    }

    fn compare<O: Into<Operand<T>>>(&self, prefix: &'static str, other: O, op: Cmp) -> Array<bool> {
        match other.into() {
            Operand::Scalar(s) => self.map1(
                prefix,
                Compare {
                    op,
                    scalar: Some(s),
                },
            ),
            Operand::Array(b) => zip2(prefix, self, &b, Compare::<T> { op, scalar: None }),
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
    zip3("where", cond, x, y, Where::<T>(std::marker::PhantomData))
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
        self.map1("clip", NumUnary(NumFn::Clip(min, max)))
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
        zip2(
            "maximum",
            self,
            other,
            NumBinary::<T>(BinOp::Maximum, std::marker::PhantomData),
        )
    }

    /// Elementwise minimum with another array (NumPy's `minimum`: NaN
    /// propagates).
    pub fn minimum(&self, other: &Array<T>) -> Array<T> {
        zip2(
            "minimum",
            self,
            other,
            NumBinary::<T>(BinOp::Minimum, std::marker::PhantomData),
        )
    }
}

impl<T: Number + num_traits::Signed> Array<T> {
    /// Absolute values (integers wrap around: `|MIN|` is `MIN`, as in
    /// NumPy).
    pub fn abs(&self) -> Array<T> {
        self.map1("abs", NumUnary::<T>(NumFn::Abs))
    }
}

macro_rules! float_unary {
    ($($(#[$doc:meta])* $name:ident => $f:ident),* $(,)?) => {
        impl<T: Float> Array<T> {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> Array<T> {
                    self.map1(stringify!($name), FloatUnary::<T>(FloatFn::$f))
                }
            )*
        }
    };
}

float_unary!(
    /// Square roots.
    sqrt => Sqrt,
    /// Squares.
    square => Square,
    /// `e` to the power of each element.
    exp => Exp,
    /// `e^x - 1`, accurate near zero (NumPy's `expm1`).
    expm1 => Expm1,
    /// Natural logarithms.
    ln => Ln,
    /// `ln(1 + x)`, accurate near zero (NumPy's `log1p`).
    log1p => Log1p,
    /// Base-10 logarithms.
    log10 => Log10,
    /// Base-2 logarithms.
    log2 => Log2,
    /// Sines.
    sin => Sin,
    /// Cosines.
    cos => Cos,
    /// Tangents.
    tan => Tan,
    /// Inverse sines.
    arcsin => Arcsin,
    /// Inverse cosines.
    arccos => Arccos,
    /// Inverse tangents.
    arctan => Arctan,
    /// Hyperbolic sines.
    sinh => Sinh,
    /// Hyperbolic cosines.
    cosh => Cosh,
    /// Hyperbolic tangents.
    tanh => Tanh,
    /// Largest integers not above each element.
    floor => Floor,
    /// Smallest integers not below each element.
    ceil => Ceil,
    /// Integer parts, rounding toward zero.
    trunc => Trunc,
    /// Nearest integers, halves to the even neighbour, as NumPy's `round`
    /// (`0.5 -> 0`, `1.5 -> 2`, `2.5 -> 2`).
    ///
    /// ```
    /// # use rask_local as _;
    /// let x = rask_array::Array::from_ndarray(
    ///     rask_array::ndarray::arr1(&[0.5, 1.5, 2.5, -2.5, 2.4]).into_dyn(), &[2]).unwrap();
    /// assert_eq!(x.round().compute().unwrap().into_raw_vec_and_offset().0, vec![0.0, 2.0, 2.0, -2.0, 2.0]);
    /// ```
    round => Round,
    /// `-1`, `0` or `1` by sign; NaN stays NaN (NumPy's `sign`, where
    /// `sign(0) = 0`, unlike Rust's `signum`).
    sign => Sign,
);

impl<T: Float> Array<T> {
    /// Each element to the power `p`.
    pub fn powf(&self, p: T) -> Array<T> {
        self.map1("pow", FloatUnary(FloatFn::Powf(p)))
    }

    /// Each element to an integer power.
    pub fn powi(&self, p: i32) -> Array<T> {
        self.map1("pow", FloatUnary(FloatFn::Powi(p)))
    }

    /// Elementwise NaN test.
    pub fn isnan(&self) -> Array<bool> {
        self.map1("isnan", FloatTest::<T>(Test::Nan, std::marker::PhantomData))
    }

    /// Elementwise test for positive or negative infinity.
    pub fn isinf(&self) -> Array<bool> {
        self.map1("isinf", FloatTest::<T>(Test::Inf, std::marker::PhantomData))
    }

    /// Elementwise test for a finite value (neither infinite nor NaN).
    pub fn isfinite(&self) -> Array<bool> {
        self.map1(
            "isfinite",
            FloatTest::<T>(Test::Finite, std::marker::PhantomData),
        )
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
        zip2(
            "arctan2",
            self,
            other,
            FloatBinary::<T>(FloatOp::Arctan2, std::marker::PhantomData),
        )
    }

    /// `sqrt(self² + other²)` without overflow, elementwise with
    /// broadcasting (NumPy's `hypot`).
    pub fn hypot(&self, other: &Array<T>) -> Array<T> {
        zip2(
            "hypot",
            self,
            other,
            FloatBinary::<T>(FloatOp::Hypot, std::marker::PhantomData),
        )
    }
}

macro_rules! binary_operator {
    ($trait:ident, $method:ident, $prefix:literal, $f:ident) => {
        impl<T: Number> std::ops::$trait<&Array<T>> for &Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: &Array<T>) -> Array<T> {
                zip2(
                    $prefix,
                    self,
                    rhs,
                    NumBinary::<T>(BinOp::$f, std::marker::PhantomData),
                )
            }
        }
        impl<T: Number> std::ops::$trait<Array<T>> for &Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: Array<T>) -> Array<T> {
                zip2(
                    $prefix,
                    self,
                    &rhs,
                    NumBinary::<T>(BinOp::$f, std::marker::PhantomData),
                )
            }
        }
        impl<T: Number> std::ops::$trait<&Array<T>> for Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: &Array<T>) -> Array<T> {
                zip2(
                    $prefix,
                    &self,
                    rhs,
                    NumBinary::<T>(BinOp::$f, std::marker::PhantomData),
                )
            }
        }
        impl<T: Number> std::ops::$trait<Array<T>> for Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: Array<T>) -> Array<T> {
                zip2(
                    $prefix,
                    &self,
                    &rhs,
                    NumBinary::<T>(BinOp::$f, std::marker::PhantomData),
                )
            }
        }
        impl<T: Number> std::ops::$trait<T> for &Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: T) -> Array<T> {
                self.map1($prefix, NumUnary(NumFn::Right(BinOp::$f, rhs)))
            }
        }
        impl<T: Number> std::ops::$trait<T> for Array<T> {
            type Output = Array<T>;
            fn $method(self, rhs: T) -> Array<T> {
                self.map1($prefix, NumUnary(NumFn::Right(BinOp::$f, rhs)))
            }
        }
    };
}

binary_operator!(Add, add, "add", Add);
binary_operator!(Sub, sub, "sub", Sub);
binary_operator!(Mul, mul, "mul", Mul);
binary_operator!(Rem, rem, "mod", Rem);

/// `/` is NumPy's `true_divide`: integer operands give `f64`, `f32` gives
/// `f32`, `f64` gives `f64` ([`Accumulate::Real`]). For the quotient
/// rounded down in the operands' type use [`Array::floor_divide`].
macro_rules! true_divide_operator {
    ($($lhs:ty, $rhs:ty, $l:ident => $a:expr, $r:ident => $b:expr;)*) => {$(
        impl<T: Number> std::ops::Div<$rhs> for $lhs {
            type Output = Array<T::Real>;
            fn div(self, rhs: $rhs) -> Array<T::Real> {
                let ($l, $r) = (self, rhs);
                zip2(
                    "true_divide",
                    $a,
                    $b,
                    TrueDivide::<T>(Quotient::Arrays),
                )
            }
        }
    )*};
}

true_divide_operator!(
    &Array<T>, &Array<T>, a => a, b => b;
    &Array<T>, Array<T>, a => a, b => &b;
    Array<T>, &Array<T>, a => &a, b => b;
    Array<T>, Array<T>, a => &a, b => &b;
);

impl<T: Number> std::ops::Div<T> for &Array<T> {
    type Output = Array<T::Real>;
    fn div(self, rhs: T) -> Array<T::Real> {
        self.map1("true_divide", TrueDivide(Quotient::ByScalar(rhs)))
    }
}

impl<T: Number> std::ops::Div<T> for Array<T> {
    type Output = Array<T::Real>;
    fn div(self, rhs: T) -> Array<T::Real> {
        self.map1("true_divide", TrueDivide(Quotient::ByScalar(rhs)))
    }
}

impl<T: Number> Array<T> {
    /// The quotient rounded toward minus infinity, in the operands' type
    /// (NumPy's `floor_divide`, `a // b`), by an array (broadcast) or a
    /// scalar. Integers wrap around on overflow (`MIN // -1` is `MIN`) and
    /// give 0 for a division by zero, as NumPy does.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray::array};
    /// let a = Array::from_ndarray(array![-7, 7, 6].into_dyn(), &[2]).unwrap();
    /// let b = Array::from_ndarray(array![2, -2, 0].into_dyn(), &[2]).unwrap();
    /// assert_eq!(a.floor_divide(&b).compute().unwrap(), array![-4, -4, 0].into_dyn());
    /// assert_eq!(a.floor_divide(2).compute().unwrap(), array![-4, 3, 3].into_dyn());
    /// ```
    pub fn floor_divide<O: Into<Operand<T>>>(&self, other: O) -> Array<T> {
        match other.into() {
            Operand::Scalar(s) => {
                self.map1("floor_divide", NumUnary(NumFn::Right(BinOp::FloorDiv, s)))
            }
            Operand::Array(b) => zip2(
                "floor_divide",
                self,
                &b,
                NumBinary::<T>(BinOp::FloorDiv, std::marker::PhantomData),
            ),
        }
    }
}

macro_rules! scalar_left {
    ($($t:ty),*) => {$(
        impl std::ops::Add<&Array<$t>> for $t {
            type Output = Array<$t>;
            fn add(self, rhs: &Array<$t>) -> Array<$t> { rhs.map1("add", NumUnary(NumFn::Left(BinOp::Add, self))) }
        }
        impl std::ops::Sub<&Array<$t>> for $t {
            type Output = Array<$t>;
            fn sub(self, rhs: &Array<$t>) -> Array<$t> { rhs.map1("sub", NumUnary(NumFn::Left(BinOp::Sub, self))) }
        }
        impl std::ops::Mul<&Array<$t>> for $t {
            type Output = Array<$t>;
            fn mul(self, rhs: &Array<$t>) -> Array<$t> { rhs.map1("mul", NumUnary(NumFn::Left(BinOp::Mul, self))) }
        }
        impl std::ops::Div<&Array<$t>> for $t {
            type Output = Array<<$t as Accumulate>::Real>;
            fn div(self, rhs: &Array<$t>) -> Self::Output { rhs.map1("true_divide", TrueDivide(Quotient::OfScalar(self))) }
        }
    )*};
}

scalar_left!(f32, f64, i8, i16, i32, i64, u8, u16, u32, u64);

impl<T: Number + std::ops::Neg<Output = T>> std::ops::Neg for &Array<T> {
    type Output = Array<T>;
    fn neg(self) -> Array<T> {
        self.map1("neg", NumUnary::<T>(NumFn::Neg))
    }
}

impl<T: Number + std::ops::Neg<Output = T>> std::ops::Neg for Array<T> {
    type Output = Array<T>;
    fn neg(self) -> Array<T> {
        self.map1("neg", NumUnary::<T>(NumFn::Neg))
    }
}

impl std::ops::Not for &Array<bool> {
    type Output = Array<bool>;
    fn not(self) -> Array<bool> {
        self.map1("invert", BoolFn::Not)
    }
}

impl Array<bool> {
    /// Elementwise logical and.
    pub fn and(&self, other: &Array<bool>) -> Array<bool> {
        zip2("and", self, other, BoolFn::And)
    }

    /// Elementwise logical or.
    pub fn or(&self, other: &Array<bool>) -> Array<bool> {
        zip2("or", self, other, BoolFn::Or)
    }
}

/// NumPy's float functions of one argument.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) enum FloatFn<T: Element> {
    Sqrt,
    Square,
    Exp,
    Expm1,
    Ln,
    Log1p,
    Log10,
    Log2,
    Sin,
    Cos,
    Tan,
    Arcsin,
    Arccos,
    Arctan,
    Sinh,
    Cosh,
    Tanh,
    Floor,
    Ceil,
    Trunc,
    Round,
    Sign,
    Powf(T),
    Powi(i32),
}

/// A float function of one array's elements.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct FloatUnary<T: Element>(FloatFn<T>);

impl<T: Float> ElemFn for FloatUnary<T> {
    type Out = T;
    fn apply(&self, ops: &Operands<'_>) -> Result<ArrayD<T>, TaskError> {
        match self.0 {
            FloatFn::Sqrt => unary(ops, |v: T| v.sqrt()),
            FloatFn::Square => unary(ops, |v: T| v * v),
            FloatFn::Exp => unary(ops, |v: T| v.exp()),
            FloatFn::Expm1 => unary(ops, |v: T| v.exp_m1()),
            FloatFn::Ln => unary(ops, |v: T| v.ln()),
            FloatFn::Log1p => unary(ops, |v: T| v.ln_1p()),
            FloatFn::Log10 => unary(ops, |v: T| v.log10()),
            FloatFn::Log2 => unary(ops, |v: T| v.log2()),
            FloatFn::Sin => unary(ops, |v: T| v.sin()),
            FloatFn::Cos => unary(ops, |v: T| v.cos()),
            FloatFn::Tan => unary(ops, |v: T| v.tan()),
            FloatFn::Arcsin => unary(ops, |v: T| v.asin()),
            FloatFn::Arccos => unary(ops, |v: T| v.acos()),
            FloatFn::Arctan => unary(ops, |v: T| v.atan()),
            FloatFn::Sinh => unary(ops, |v: T| v.sinh()),
            FloatFn::Cosh => unary(ops, |v: T| v.cosh()),
            FloatFn::Tanh => unary(ops, |v: T| v.tanh()),
            FloatFn::Floor => unary(ops, |v: T| v.floor()),
            FloatFn::Ceil => unary(ops, |v: T| v.ceil()),
            FloatFn::Trunc => unary(ops, |v: T| v.trunc()),
            FloatFn::Round => unary(ops, |v: T| {
                let two = T::one() + T::one();
                if (v - v.trunc()).abs() == T::one() / two {
                    two * (v / two).round()
                } else {
                    v.round()
                }
            }),
            FloatFn::Sign => unary(ops, |v: T| {
                if v > T::zero() {
                    T::one()
                } else if v < T::zero() {
                    -T::one()
                } else {
                    v
                }
            }),
            FloatFn::Powf(p) => unary(ops, move |v: T| v.powf(p)),
            FloatFn::Powi(p) => unary(ops, move |v: T| v.powi(p)),
        }
    }
}

impl<T: Float> NamedElemFn for FloatUnary<T> {
    const NAME: &'static str = elem_name!("rask.array.float-unary", T);
}

/// Which test of floats.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) enum Test {
    Nan,
    Inf,
    Finite,
}

/// `isnan`, `isinf` or `isfinite` of one array's elements.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct FloatTest<T>(Test, std::marker::PhantomData<T>);

impl<T: Float> ElemFn for FloatTest<T> {
    type Out = bool;
    fn apply(&self, ops: &Operands<'_>) -> Result<ArrayD<bool>, TaskError> {
        match self.0 {
            Test::Nan => unary(ops, |v: T| v.is_nan()),
            Test::Inf => unary(ops, |v: T| v.is_infinite()),
            Test::Finite => unary(ops, |v: T| v.is_finite()),
        }
    }
}

impl<T: Float> NamedElemFn for FloatTest<T> {
    const NAME: &'static str = elem_name!("rask.array.float-test", T);
}

/// Arithmetic of two numbers, as NumPy does it (integers wrap around,
/// `floor_divide` floors, `maximum`/`minimum` propagate NaN).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    FloorDiv,
    Rem,
    Maximum,
    Minimum,
}

fn maximum<T: Number>(a: T, b: T) -> T {
    if a.is_nan_value() || (!b.is_nan_value() && a >= b) {
        a
    } else {
        b
    }
}

fn minimum<T: Number>(a: T, b: T) -> T {
    if a.is_nan_value() || (!b.is_nan_value() && a <= b) {
        a
    } else {
        b
    }
}

/// `op` of two arrays' elements.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct NumBinary<T>(BinOp, std::marker::PhantomData<T>);

impl<T: Number> ElemFn for NumBinary<T> {
    type Out = T;
    fn apply(&self, ops: &Operands<'_>) -> Result<ArrayD<T>, TaskError> {
        match self.0 {
            BinOp::Add => binary(ops, T::wrapping_add),
            BinOp::Sub => binary(ops, T::wrapping_sub),
            BinOp::Mul => binary(ops, T::wrapping_mul),
            BinOp::FloorDiv => binary(ops, T::floor_divide),
            BinOp::Rem => binary(ops, T::wrapping_rem),
            BinOp::Maximum => binary(ops, maximum::<T>),
            BinOp::Minimum => binary(ops, minimum::<T>),
        }
    }
}

impl<T: Number> NamedElemFn for NumBinary<T> {
    const NAME: &'static str = elem_name!("rask.array.binary", T);
}

/// Number functions of one array's elements.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) enum NumFn<T: Element> {
    Neg,
    Abs,
    Clip(T, T),
    /// `x op scalar`.
    Right(BinOp, T),
    /// `scalar op x`.
    Left(BinOp, T),
}

/// A number function of one array's elements.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct NumUnary<T: Element>(NumFn<T>);

impl<T: Number> ElemFn for NumUnary<T> {
    type Out = T;
    fn apply(&self, ops: &Operands<'_>) -> Result<ArrayD<T>, TaskError> {
        match self.0 {
            NumFn::Neg => unary(ops, T::wrapping_neg),
            NumFn::Abs => unary(ops, T::wrapping_abs),
            // NumPy's `minimum(maximum(x, min), max)`: a NaN bound or
            // element gives NaN, and `max` wins when `min > max`.
            NumFn::Clip(min, max) => unary(ops, move |v: T| minimum(maximum(v, min), max)),
            NumFn::Right(op, s) => match op {
                BinOp::Add => unary(ops, move |a: T| a.wrapping_add(s)),
                BinOp::Sub => unary(ops, move |a: T| a.wrapping_sub(s)),
                BinOp::Mul => unary(ops, move |a: T| a.wrapping_mul(s)),
                BinOp::FloorDiv => unary(ops, move |a: T| a.floor_divide(s)),
                BinOp::Rem => unary(ops, move |a: T| a.wrapping_rem(s)),
                BinOp::Maximum => unary(ops, move |a: T| maximum(a, s)),
                BinOp::Minimum => unary(ops, move |a: T| minimum(a, s)),
            },
            NumFn::Left(op, s) => match op {
                BinOp::Add => unary(ops, move |b: T| s.wrapping_add(b)),
                BinOp::Sub => unary(ops, move |b: T| s.wrapping_sub(b)),
                BinOp::Mul => unary(ops, move |b: T| s.wrapping_mul(b)),
                BinOp::FloorDiv => unary(ops, move |b: T| s.floor_divide(b)),
                BinOp::Rem => unary(ops, move |b: T| s.wrapping_rem(b)),
                BinOp::Maximum => unary(ops, move |b: T| maximum(s, b)),
                BinOp::Minimum => unary(ops, move |b: T| minimum(s, b)),
            },
        }
    }
}

impl<T: Number> NamedElemFn for NumUnary<T> {
    const NAME: &'static str = elem_name!("rask.array.unary", T);
}

/// Which operands a true division has.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) enum Quotient<T: Element> {
    /// Two arrays, broadcast together.
    Arrays,
    /// `x / scalar`.
    ByScalar(T),
    /// `scalar / x`.
    OfScalar(T),
}

/// NumPy's `true_divide`: both operands converted to
/// [`Accumulate::Real`], then divided (`1 / 0` is `inf`, `0 / 0` NaN).
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct TrueDivide<T: Element>(Quotient<T>);

impl<T: Number> ElemFn for TrueDivide<T> {
    type Out = T::Real;
    fn apply(&self, ops: &Operands<'_>) -> Result<ArrayD<T::Real>, TaskError> {
        let r = <T::Real as CastFrom<T>>::cast_from;
        match self.0 {
            Quotient::Arrays => binary(ops, move |a: T, b: T| r(a) / r(b)),
            Quotient::ByScalar(s) => {
                let d = r(s);
                unary(ops, move |a: T| r(a) / d)
            }
            Quotient::OfScalar(s) => {
                let n = r(s);
                unary(ops, move |b: T| n / r(b))
            }
        }
    }
}

impl<T: Number> NamedElemFn for TrueDivide<T> {
    const NAME: &'static str = elem_name!("rask.array.true-divide", T);
}

/// Float functions of two arrays' elements.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) enum FloatOp {
    Arctan2,
    Hypot,
}

/// A float function of two arrays' elements.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct FloatBinary<T>(FloatOp, std::marker::PhantomData<T>);

impl<T: Float> ElemFn for FloatBinary<T> {
    type Out = T;
    fn apply(&self, ops: &Operands<'_>) -> Result<ArrayD<T>, TaskError> {
        match self.0 {
            FloatOp::Arctan2 => binary(ops, |y: T, x: T| y.atan2(x)),
            FloatOp::Hypot => binary(ops, |a: T, b: T| a.hypot(b)),
        }
    }
}

impl<T: Float> NamedElemFn for FloatBinary<T> {
    const NAME: &'static str = elem_name!("rask.array.float-binary", T);
}

/// A comparison.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A comparison of two arrays' elements, or of one array's with a scalar.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct Compare<T: Element> {
    op: Cmp,
    scalar: Option<T>,
}

impl<T: Element + PartialOrd> ElemFn for Compare<T> {
    type Out = bool;
    fn apply(&self, ops: &Operands<'_>) -> Result<ArrayD<bool>, TaskError> {
        match self.scalar {
            Some(s) => match self.op {
                Cmp::Eq => unary(ops, move |a: T| a == s),
                Cmp::Ne => unary(ops, move |a: T| a != s),
                Cmp::Lt => unary(ops, move |a: T| a < s),
                Cmp::Le => unary(ops, move |a: T| a <= s),
                Cmp::Gt => unary(ops, move |a: T| a > s),
                Cmp::Ge => unary(ops, move |a: T| a >= s),
            },
            None => match self.op {
                Cmp::Eq => binary(ops, |a: T, b: T| a == b),
                Cmp::Ne => binary(ops, |a: T, b: T| a != b),
                Cmp::Lt => binary(ops, |a: T, b: T| a < b),
                Cmp::Le => binary(ops, |a: T, b: T| a <= b),
                Cmp::Gt => binary(ops, |a: T, b: T| a > b),
                Cmp::Ge => binary(ops, |a: T, b: T| a >= b),
            },
        }
    }
}

impl<T: Element + PartialOrd> NamedElemFn for Compare<T> {
    const NAME: &'static str = elem_name!("rask.array.compare", T);
}

/// `where(cond, x, y)`.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct Where<T>(std::marker::PhantomData<T>);

impl<T: Element> ElemFn for Where<T> {
    type Out = T;
    fn apply(&self, ops: &Operands<'_>) -> Result<ArrayD<T>, TaskError> {
        ternary(ops, |c: bool, a: T, b: T| if c { a } else { b })
    }
}

impl<T: Element> NamedElemFn for Where<T> {
    const NAME: &'static str = elem_name!("rask.array.where", T);
}

/// Logic of bools.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) enum BoolFn {
    Not,
    And,
    Or,
}

impl ElemFn for BoolFn {
    type Out = bool;
    fn apply(&self, ops: &Operands<'_>) -> Result<ArrayD<bool>, TaskError> {
        match self {
            BoolFn::Not => unary(ops, |a: bool| !a),
            BoolFn::And => binary(ops, |a: bool, b: bool| a && b),
            BoolFn::Or => binary(ops, |a: bool, b: bool| a || b),
        }
    }
}

impl NamedElemFn for BoolFn {
    const NAME: &'static str = "rask.array.logic";
}

/// `astype`: each element converted as NumPy does.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct Cast<A, U>(std::marker::PhantomData<(A, U)>);

impl<A: Element, U: Element + CastFrom<A>> ElemFn for Cast<A, U> {
    type Out = U;
    fn apply(&self, ops: &Operands<'_>) -> Result<ArrayD<U>, TaskError> {
        unary(ops, U::cast_from)
    }
}

impl<A: Element, U: Element + CastFrom<A>> NamedElemFn for Cast<A, U> {
    const NAME: &'static str = elem_name2!("rask.array.astype", A, U);
}

register_region_for!(floats: ElementwiseRegion<FloatUnary>);
register_region_for!(floats: ElementwiseRegion<FloatTest>);
register_region_for!(floats: ElementwiseRegion<FloatBinary>);
register_region_for!(numbers: ElementwiseRegion<NumUnary>);
register_region_for!(numbers: ElementwiseRegion<NumBinary>);
register_region_for!(numbers: ElementwiseRegion<TrueDivide>);
register_region_for!(ordered: ElementwiseRegion<Compare>);
register_region_for!(elements: ElementwiseRegion<Where>);
register_region!(ElementwiseRegion<BoolFn>);
register_region_for!(pairs: ElementwiseRegion<Cast>);

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

    #[test]
    fn tiles_of_a_block_and_a_transposed_one_cover_every_element() {
        // Tiles with ragged edges on both axes, more tiles along one axis
        // than the other, and a thin block one tile high.
        for (rows, cols) in [(300, 513), (700, 260), (257, 1000), (8, 600)] {
            let x = ndarray::Array2::from_shape_fn((rows, cols), |(i, j)| (i * 1000 + j) as f64);
            let t = ndarray::Array2::from_shape_fn((cols, rows), |(j, i)| (j * 7 + i * 3) as f64);
            let (xv, yv) = (x.view().into_dyn(), t.t().into_dyn());
            assert!(crossed(&xv, &yv), "{rows} × {cols}");
            let got = zip_tiled(&xv, &yv, |p: f64, q: f64| p - 2.0 * q).unwrap();
            let want = ndarray::Zip::from(&xv)
                .and(&yv)
                .map_collect(|&p, &q| p - 2.0 * q);
            assert_eq!(got, want, "{rows} × {cols}");
        }
        // One tile's worth, or laid out alike: the plain path.
        let small = ndarray::Array2::<f64>::zeros((125, 250));
        let small_t = ndarray::Array2::<f64>::zeros((250, 125));
        assert!(!crossed(&small.view().into_dyn(), &small_t.t().into_dyn()));
        let a = ndarray::Array2::<f64>::zeros((300, 300));
        assert!(!crossed(&a.view().into_dyn(), &a.view().into_dyn()));
    }
}
