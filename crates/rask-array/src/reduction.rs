//! Reductions as trees: `sum`, `prod`, `min`, `max`, `mean`, `var`, `std`,
//! `argmin`, `argmax`, `any`, `all` and their NaN-skipping versions, over any
//! set of axes, with or without `keepdims`. Result types follow NumPy
//! ([`Accumulate`]): sums of small integers in `i64`/`u64`, means and
//! variances of integers in `f64`; `f32` sums and all moments are carried in
//! `f64` between blocks.
//!
//! # Plan
//!
//! 1. **Chunk**: every block is reduced along the requested axes to a
//!    *partial* whose reduced axes have length 1 (a blockwise task, so it
//!    fuses with the elementwise operations feeding it: `(x + y).sum()` never
//!    stores `x + y`).
//! 2. **Combine**: partials are merged in groups of up to `split_every`
//!    blocks (spread over the reduced axes, as Dask does: `s^(1/k)` per axis
//!    for `k` axes, at least 2) until one partial is left along each reduced
//!    axis. Partials of a group have equal shapes, so merging is elementwise.
//! 3. **Finish**: each remaining partial becomes the result block (the mean
//!    divides by the count, the standard deviation takes a square root) and
//!    the reduced axes are dropped unless `keepdims`.
//!
//! Means and variances carry counts and use Chan's pairwise update, so the
//! tree is numerically stable; `argmin`/`argmax` carry global indices and
//! keep the first occurrence, as NumPy does: among equal values the smaller
//! index wins (blocks are not merged in flat order). The per-block kernels
//! live in `reducers`.

mod reducers;

use std::marker::PhantomData;

use ndarray::{ArrayD, ArrayRef, Axis, IxDyn};
use rask_core::{Kernel, Op, TaskError, Value};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::array::{Array, BlockTask, Region, block_arg, block_key, block_value, whole};
use crate::chunks::{Chunks, fmt_shape};
use crate::creation::BlockInfo;
use crate::element::{Accumulate, CastFrom, Element, Float, Number};
use crate::region::RegionRef;
use reducers::{ArgReducer, MeanReducer, MinMax, MomentReducer, Prod, Sum, Truth};

/// One kind of reduction: how to reduce a block, merge partials, finish.
///
/// A reducer is data (serde), so the reduction's tasks are registered
/// kernels ([`ChunkReduce`], [`ChunkRegions`], [`Combine`], [`Finish`])
/// named by [`Reducer::NAMES`]; its partials are registered value types.
pub(crate) trait Reducer<T: Element>:
    Clone + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// What a block reduces to; reduced axes have length 1.
    type Partial: Send + Sync + 'static;
    /// The result element type.
    type Out: Element;
    /// Registry names of the chunk, chunk-by-regions, combine and finish
    /// kernels for this reducer and element type ([`reducer_names!`]).
    const NAMES: [&'static str; 4];
    /// Reduces one block along `axes` (sorted, ascending).
    fn chunk(&self, block: &ArrayRef<T, IxDyn>, axes: &[usize], info: &BlockInfo) -> Self::Partial;
    /// Merges partials of equal shape, in block order.
    fn combine(&self, parts: Vec<&Self::Partial>) -> Self::Partial;
    /// The result block (reduced axes still of length 1), or why there is
    /// none (`nanargmin` of an all-NaN lane).
    fn finish(&self, part: &Self::Partial) -> Result<ArrayD<Self::Out>, TaskError>;
    /// Whether `combine` gives the same result (up to floating-point
    /// rounding) whatever the order of its partials, so blocks may be
    /// reduced in another order than C order (see [`mirrored_pairs`]).
    const ORDER_FREE: bool = false;
}

/// Registry names of a reducer's four kernels for element type `T`.
macro_rules! reducer_names {
    ($base:literal, $t:ty) => {
        [
            $crate::kernels::elem_name!(concat!("rask.array.reduce.", $base, ".chunk"), $t),
            $crate::kernels::elem_name!(concat!("rask.array.reduce.", $base, ".chunk-regions"), $t),
            $crate::kernels::elem_name!(concat!("rask.array.reduce.", $base, ".combine"), $t),
            $crate::kernels::elem_name!(concat!("rask.array.reduce.", $base, ".finish"), $t),
        ]
    };
}
use reducer_names;

/// The first argument, for kernels of one argument.
fn first_arg<P: 'static>(args: &[Value]) -> Result<&P, TaskError> {
    args.first()
        .ok_or(TaskError::WrongArity {
            expected: 1,
            found: 0,
        })?
        .get::<P>(0)
}

/// A block reduced to its partial.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "R: Serialize", deserialize = "R: DeserializeOwned"))]
pub(crate) struct ChunkReduce<T, R> {
    r: R,
    axes: Vec<usize>,
    info: BlockInfo,
    _t: PhantomData<T>,
}

impl<T: Element, R: Reducer<T>> Kernel for ChunkReduce<T, R> {
    const NAME: &'static str = R::NAMES[0];
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let block = block_arg::<T>(args, 0)?;
        Ok(Value::new(self.r.chunk(block, &self.axes, &self.info)))
    }
}

/// A block of a region-capable layer reduced tile by tile, never stored.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "R: Serialize", deserialize = "R: DeserializeOwned"))]
pub(crate) struct ChunkRegions<T, R> {
    r: R,
    axes: Vec<usize>,
    info: BlockInfo,
    source: RegionRef,
    /// The mirrored block `(j, i)` of a 2-d block `(i, j)`, reduced in the
    /// same task (see [`mirrored_pairs`]); it reads the second half of the
    /// task's arguments.
    mirror: Option<BlockInfo>,
    _t: PhantomData<T>,
}

impl<T: Element, R: Reducer<T>> Kernel for ChunkRegions<T, R> {
    const NAME: &'static str = R::NAMES[1];
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let Some(mirror) = &self.mirror else {
            return Ok(Value::new(reduce_slabs(
                &self.r,
                &self.axes,
                &self.info,
                |region| self.source.eval(args, &self.info.index, region, None),
            )?));
        };
        if !args.len().is_multiple_of(2) {
            return Err(TaskError::failed(format!(
                "a mirrored pair of blocks reads two equal halves of arguments, not {}",
                args.len()
            )));
        }
        let (a, b) = args.split_at(args.len() / 2);
        Ok(Value::new(reduce_mirrored(
            &self.r,
            &self.axes,
            (&self.info, mirror),
            |region| self.source.eval(a, &self.info.index, region, None),
            |region| self.source.eval(b, &mirror.index, region, None),
        )?))
    }
    fn is_portable(&self) -> bool {
        self.source.is_portable()
    }
}

/// Partials of equal shape merged, in block order.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "R: Serialize", deserialize = "R: DeserializeOwned"))]
pub(crate) struct Combine<T, R> {
    r: R,
    _t: PhantomData<T>,
}

impl<T: Element, R: Reducer<T>> Kernel for Combine<T, R> {
    const NAME: &'static str = R::NAMES[2];
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let parts = args
            .iter()
            .enumerate()
            .map(|(i, v)| v.get::<R::Partial>(i))
            .collect::<Result<Vec<_>, TaskError>>()?;
        if parts.is_empty() {
            return Err(TaskError::WrongArity {
                expected: 1,
                found: 0,
            });
        }
        Ok(Value::new(self.r.combine(parts)))
    }
}

/// The last partial made a result block; reduced axes dropped unless
/// `keepdims`.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "R: Serialize", deserialize = "R: DeserializeOwned"))]
pub(crate) struct Finish<T, R> {
    r: R,
    axes: Vec<usize>,
    keepdims: bool,
    _t: PhantomData<T>,
}

impl<T: Element, R: Reducer<T>> Kernel for Finish<T, R> {
    const NAME: &'static str = R::NAMES[3];
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let part = first_arg::<R::Partial>(args)?;
        let mut out = self.r.finish(part)?;
        if !self.keepdims {
            for &a in self.axes.iter().rev() {
                if a >= out.ndim() {
                    return Err(TaskError::failed(format!(
                        "cannot drop axis {a} of a result block with {} axes",
                        out.ndim()
                    )));
                }
                out = out.index_axis_move(Axis(a), 0);
            }
        }
        Ok(block_value(out))
    }
}

/// Registers a reducer's four kernels for a set of element types.
macro_rules! register_reducer {
    (@each $r:ty; $($t:ty),*) => {
        rask_core::register_kernel!(
            $(ChunkReduce<$t, $r>, ChunkRegions<$t, $r>, Combine<$t, $r>, Finish<$t, $r>),*
        );
    };
    (numbers: $r:ty) => {
        register_reducer!(@each $r; i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);
    };
    (floats: $r:ty) => {
        register_reducer!(@each $r; f32, f64);
    };
    (elements: $r:ty) => {
        register_reducer!(@each $r; bool, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);
    };
}

register_reducer!(elements: Sum);
register_reducer!(elements: Prod);
register_reducer!(numbers: MinMax);
register_reducer!(numbers: ArgReducer);
register_reducer!(elements: Truth);
register_reducer!(floats: MeanReducer);
register_reducer!(floats: MomentReducer);

/// Elements per tile when a region-capable block is reduced tile by tile:
/// 256 KiB of f64, which stays in a core's L2 cache (measured: 16 Ki and
/// 64 Ki elements were slower on the benchmark machine).
const SLAB_ELEMENTS: usize = 32 * 1024;

/// The tile a block is reduced in when produced region by region: only
/// reduced axes are split (so every tile's partial has the same shape), the
/// longest first, until a tile holds at most [`SLAB_ELEMENTS`]. A reduction
/// along axis 0 gets slabs of whole rows; a full reduction of a 2-d block
/// gets square tiles, so a transposed operand is made in long rows too.
fn tile_shape(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    let mut tile = shape.to_vec();
    while tile.iter().product::<usize>() > SLAB_ELEMENTS {
        let Some(&a) = axes
            .iter()
            .filter(|&&a| tile[a] > 1)
            .max_by_key(|&&a| (tile[a], std::cmp::Reverse(a)))
        else {
            break;
        };
        tile[a] = tile[a].div_ceil(2);
    }
    tile
}

/// Reduces a block produced region by region (tiles of [`tile_shape`]):
/// each tile gives a partial, and the partials are combined in C order of
/// the tiles, as blocks' partials are.
fn reduce_slabs<T: Element, R: Reducer<T>>(
    r: &R,
    axes: &[usize],
    info: &BlockInfo,
    slab: impl Fn(&Region) -> Result<Value, TaskError>,
) -> Result<R::Partial, TaskError> {
    let shape = &info.shape;
    if shape.contains(&0) {
        let v = slab(&whole(shape))?;
        return Ok(r.chunk(v.get::<ArrayD<T>>(0)?, axes, info));
    }
    let tile = tile_shape(shape, axes);
    let grid: Vec<usize> = shape
        .iter()
        .zip(&tile)
        .map(|(&n, &t)| n.div_ceil(t))
        .collect();
    let mut parts = Vec::with_capacity(grid.iter().product());
    let mut pos = vec![0usize; shape.len()];
    loop {
        let region: Vec<std::ops::Range<usize>> = (0..shape.len())
            .map(|a| {
                let lo = pos[a] * tile[a];
                lo..(lo + tile[a]).min(shape[a])
            })
            .collect();
        parts.push(tile_partial(r, axes, info, &region, slab(&region)?)?);
        // Next tile, C order.
        let mut a = shape.len();
        loop {
            if a == 0 {
                return Ok(match parts.len() {
                    1 => parts.pop().expect("one partial"),
                    _ => r.combine(parts.iter().collect()),
                });
            }
            a -= 1;
            pos[a] += 1;
            if pos[a] < grid[a] {
                break;
            }
            pos[a] = 0;
        }
    }
}

/// The partial of `region` of the block `info` describes, whose elements
/// are `v`.
fn tile_partial<T: Element, R: Reducer<T>>(
    r: &R,
    axes: &[usize],
    info: &BlockInfo,
    region: &Region,
    v: Value,
) -> Result<R::Partial, TaskError> {
    let block = crate::mapped::region_view::<T>(&v, 0)?;
    let mut sinfo = info.clone();
    for (a, rg) in region.iter().enumerate() {
        sinfo.start[a] += rg.start;
        sinfo.shape[a] = rg.end - rg.start;
    }
    Ok(r.chunk(&block, axes, &sinfo))
}

/// Reduces the mirrored blocks `(i, j)` and `(j, i)` of a 2-d layer
/// together: tile `t` of the first, then tile `tᵀ` of the second, which
/// reads the same data (see [`Slab::mirrored`](crate::array::Slab)) while it
/// is still in the cache. The partials are combined in that order, which
/// only an order-free reducer allows.
fn reduce_mirrored<T: Element, R: Reducer<T>>(
    r: &R,
    axes: &[usize],
    (info, mirror): (&BlockInfo, &BlockInfo),
    slab: impl Fn(&Region) -> Result<Value, TaskError>,
    mirror_slab: impl Fn(&Region) -> Result<Value, TaskError>,
) -> Result<R::Partial, TaskError> {
    let shape = &info.shape;
    let flipped = |v: &[usize]| -> Vec<usize> { v.iter().rev().copied().collect() };
    if shape.len() != 2 || mirror.shape != flipped(shape) || shape.contains(&0) {
        // Not a mirrored pair: each block on its own.
        let first = reduce_slabs(r, axes, info, slab)?;
        let second = reduce_slabs(r, axes, mirror, mirror_slab)?;
        return Ok(r.combine(vec![&first, &second]));
    }
    let tile = tile_shape(shape, axes);
    let mut parts = Vec::with_capacity(2 * shape[0].div_ceil(tile[0]) * shape[1].div_ceil(tile[1]));
    for r0 in (0..shape[0]).step_by(tile[0]) {
        for r1 in (0..shape[1]).step_by(tile[1]) {
            let region = [
                r0..(r0 + tile[0]).min(shape[0]),
                r1..(r1 + tile[1]).min(shape[1]),
            ];
            parts.push(tile_partial(r, axes, info, &region, slab(&region)?)?);
            let mirrored = [region[1].clone(), region[0].clone()];
            parts.push(tile_partial(
                r,
                axes,
                mirror,
                &mirrored,
                mirror_slab(&mirrored)?,
            )?);
        }
    }
    Ok(r.combine(parts.iter().collect()))
}

/// The pairs of blocks a full reduction of a mirrored 2-d layer (`x + x.T`)
/// makes in one task each: `(i, j)` with `(j, i)` for `i < j`, and each
/// diagonal block alone, so every block of `x` is read once, not twice.
/// `None` unless the layer is mirrored, the reduction covers both axes with
/// an order-free reducer, and both axes are split alike into more than one
/// block, none empty.
fn mirrored_pairs<T: Element, R: Reducer<T>>(
    x: &Array<T>,
    axes: &[usize],
) -> Option<Vec<(usize, usize)>> {
    let slab = x.node.slab.as_ref()?;
    let c = x.chunks().as_slices();
    let ok = slab.mirrored()
        && R::ORDER_FREE
        && axes == [0, 1]
        && c.len() == 2
        && c[0] == c[1]
        && c[0].len() > 1
        && !c[0].contains(&0);
    ok.then(|| {
        let n = c[0].len();
        (0..n).flat_map(|i| (i..n).map(move |j| (i, j))).collect()
    })
}

/// Checks and sorts the axes of a reduction.
pub(crate) fn check_axes(
    name: &str,
    ndim: usize,
    shape: &[usize],
    axes: &[usize],
) -> Result<Vec<usize>, String> {
    let mut sorted = axes.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != axes.len() {
        return Err(format!("{name}: axis listed twice in {axes:?}"));
    }
    if let Some(&bad) = sorted.iter().find(|&&a| a >= ndim) {
        return Err(format!(
            "{name}: axis {bad} is out of range for an array of shape {} ({ndim} axes)",
            fmt_shape(shape)
        ));
    }
    Ok(sorted)
}

impl<T: Element> Array<T> {
    /// Builds the reduction tree for `reducer` over `axes`.
    pub(crate) fn reduce<R: Reducer<T>>(
        &self,
        name: &'static str,
        reducer: R,
        axes: &[usize],
        keepdims: bool,
        needs_identity: bool,
    ) -> Array<R::Out> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        let axes = match check_axes(name, self.ndim(), self.shape(), axes) {
            Ok(a) => a,
            Err(e) => return Array::invalid(e),
        };
        if needs_identity && axes.iter().any(|&a| self.shape()[a] == 0) {
            return Array::invalid(format!(
                "{name}: zero-size array of shape {} has no identity for this reduction",
                fmt_shape(self.shape())
            ));
        }
        let split_every = rask_config::get().split_every.max(2);
        let per_axis = ((split_every as f64)
            .powf(1.0 / axes.len().max(1) as f64)
            .floor() as usize)
            .max(2);

        // 1. One partial per block.
        let chunks = self.chunks().clone();
        let mut part_chunks: Vec<Vec<usize>> = chunks.as_slices().to_vec();
        for &a in &axes {
            part_chunks[a] = vec![1; part_chunks[a].len()];
        }
        let pairs = mirrored_pairs::<T, R>(self, &axes);
        if let Some(p) = &pairs {
            // One partial per pair of blocks, in a column.
            part_chunks = vec![vec![1; p.len()], vec![1]];
        }
        let part = Chunks::from_vec(part_chunks.clone());
        let params = (&reducer, &axes);
        let c = chunks.clone();
        // An elementwise input with axis 0 reduced is evaluated slab by slab
        // inside the chunk task: its block is never stored (the slabs'
        // partials merge like any others, since axis 0 is reduced).
        let mut level: Array<R::Out> =
            match self.node.slab.as_ref().filter(|_| axes.first() == Some(&0)) {
                Some(slab) if pairs.is_some() => {
                    let (deps, source) = (slab.deps.clone(), slab.expr.clone());
                    let pairs = pairs.unwrap_or_default();
                    let (r, axes_c) = (reducer.clone(), axes.clone());
                    let make = move |idx: &[usize]| {
                        let (i, j) = pairs[idx[0]];
                        let mut d = deps(&[i, j]);
                        if i != j {
                            d.extend(deps(&[j, i]));
                        }
                        BlockTask {
                            op: Op::kernel_blockwise(ChunkRegions::<T, R> {
                                r: r.clone(),
                                axes: axes_c.clone(),
                                info: BlockInfo::new(&c, &[i, j]),
                                source: source.clone(),
                                mirror: (i != j).then(|| BlockInfo::new(&c, &[j, i])),
                                _t: PhantomData,
                            }),
                            deps: d,
                        }
                    };
                    let params = (params, &slab.expr, "mirrored pairs");
                    if slab.expr.is_portable() {
                        Array::kernel_layer(name, &params, part, slab.inputs.clone(), make)
                    } else {
                        Array::layer(name, part, slab.inputs.clone(), make)
                    }
                }
                Some(slab) => {
                    let (deps, source) = (slab.deps.clone(), slab.expr.clone());
                    let (r, axes_c) = (reducer.clone(), axes.clone());
                    let make = move |idx: &[usize]| BlockTask {
                        op: Op::kernel_blockwise(ChunkRegions::<T, R> {
                            r: r.clone(),
                            axes: axes_c.clone(),
                            info: BlockInfo::new(&c, idx),
                            source: source.clone(),
                            mirror: None,
                            _t: PhantomData,
                        }),
                        deps: deps(idx),
                    };
                    if slab.expr.is_portable() {
                        Array::kernel_layer(
                            name,
                            &(params, &slab.expr),
                            part,
                            slab.inputs.clone(),
                            make,
                        )
                    } else {
                        Array::layer(name, part, slab.inputs.clone(), make)
                    }
                }
                None => {
                    let src = self.node.name.clone();
                    let (r, axes_c) = (reducer.clone(), axes.clone());
                    Array::kernel_layer(name, &params, part, vec![self.input()], move |idx| {
                        BlockTask {
                            op: Op::kernel_blockwise(ChunkReduce::<T, R> {
                                r: r.clone(),
                                axes: axes_c.clone(),
                                info: BlockInfo::new(&c, idx),
                                _t: PhantomData,
                            }),
                            deps: vec![block_key(&src, idx)],
                        }
                    })
                }
            };

        // 2. Combine groups until one partial is left along each reduced axis.
        let mut numblocks: Vec<usize> = part_chunks.iter().map(Vec::len).collect();
        while axes.iter().any(|&a| numblocks[a] > 1) {
            let next: Vec<usize> = numblocks
                .iter()
                .enumerate()
                .map(|(a, &n)| {
                    if axes.contains(&a) {
                        n.div_ceil(per_axis)
                    } else {
                        n
                    }
                })
                .collect();
            let mut next_chunks = part_chunks.clone();
            for &a in &axes {
                next_chunks[a] = vec![1; next[a]];
            }
            let src = level.node.name.clone();
            let (r, axes_c, prev) = (reducer.clone(), axes.clone(), numblocks.clone());
            level = Array::kernel_layer(
                "combine",
                &(&reducer, &axes, per_axis),
                Chunks::from_vec(next_chunks.clone()),
                vec![level.input()],
                move |idx| {
                    // The group of partials this block merges, in C order.
                    let ranges: Vec<(usize, usize)> = idx
                        .iter()
                        .enumerate()
                        .map(|(a, &i)| {
                            if axes_c.contains(&a) {
                                (i * per_axis, ((i + 1) * per_axis).min(prev[a]))
                            } else {
                                (i, i + 1)
                            }
                        })
                        .collect();
                    let deps = crate::chunks::ranges_product(&ranges)
                        .map(|i| block_key(&src, &i))
                        .collect();
                    BlockTask {
                        op: Op::kernel(Combine::<T, R> {
                            r: r.clone(),
                            _t: PhantomData,
                        }),
                        deps,
                    }
                },
            );
            numblocks = next;
            part_chunks = next_chunks;
        }

        // 3. Finish, dropping reduced axes unless keepdims.
        let mut out_chunks: Vec<Vec<usize>> = Vec::new();
        for (a, c) in part_chunks.iter().enumerate() {
            if !axes.contains(&a) || keepdims {
                out_chunks.push(c.clone());
            }
        }
        let src = level.node.name.clone();
        let params = (&reducer, &axes, keepdims);
        let (r, axes_c) = (reducer.clone(), axes.clone());
        Array::kernel_layer(
            name,
            &params,
            Chunks::from_vec(out_chunks),
            vec![level.input()],
            move |idx| {
                // The partial's index: reduced axes are 0.
                let mut pidx = Vec::with_capacity(numblocks.len());
                let mut it = idx.iter();
                for a in 0..numblocks.len() {
                    if axes_c.contains(&a) {
                        pidx.push(0);
                        if keepdims {
                            it.next();
                        }
                    } else {
                        pidx.push(*it.next().expect("one index per kept axis"));
                    }
                }
                BlockTask {
                    op: Op::kernel(Finish::<T, R> {
                        r: r.clone(),
                        axes: axes_c.clone(),
                        keepdims,
                        _t: PhantomData,
                    }),
                    deps: vec![block_key(&src, &pidx)],
                }
            },
        )
    }

    /// Whether any element is true (non-zero), over all axes.
    pub fn any(&self) -> Array<bool> {
        self.any_axes(&self.every_axis(), false)
    }

    /// Whether all elements are true (non-zero), over all axes.
    pub fn all(&self) -> Array<bool> {
        self.all_axes(&self.every_axis(), false)
    }

    /// `any` over `axes`.
    pub fn any_axes(&self, axes: &[usize], keepdims: bool) -> Array<bool> {
        self.reduce("any", Truth { all: false }, axes, keepdims, false)
    }

    /// `all` over `axes`.
    pub fn all_axes(&self, axes: &[usize], keepdims: bool) -> Array<bool> {
        self.reduce("all", Truth { all: true }, axes, keepdims, false)
    }

    pub(crate) fn every_axis(&self) -> Vec<usize> {
        (0..self.ndim()).collect()
    }
}

macro_rules! reductions {
    ($bound:ident -> $out:ty; $($(#[$doc:meta])* $name:ident, $axis:ident, $axes:ident => $reducer:expr, $identity:expr;)*) => {
        impl<T: $bound> Array<T> {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> Array<$out> {
                    self.$axes(&self.every_axis(), false)
                }
                #[doc = concat!("`", stringify!($name), "` along one axis (NumPy's `axis=`).")]
                pub fn $axis(&self, axis: Axis) -> Array<$out> {
                    self.$axes(&[axis.index()], false)
                }
                #[doc = concat!("`", stringify!($name), "` over several axes, keeping them with length 1 if `keepdims`.")]
                pub fn $axes(&self, axes: &[usize], keepdims: bool) -> Array<$out> {
                    self.reduce(stringify!($name), $reducer, axes, keepdims, $identity)
                }
            )*
        }
    };
}

reductions!(Accumulate -> T::Acc;
    /// Sum of all elements, as NumPy's `sum`: `bool` and signed integers
    /// accumulate and return in `i64`, unsigned integers in `u64` (wrapping
    /// around only there), floats in their own type — `f32` summed in `f64`,
    /// at least as exact as NumPy's pairwise summation. See [`Accumulate`].
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::Array;
    /// let frames = Array::<u16>::full(&[4, 100, 100], &[1, 50, 50], u16::MAX).unwrap();
    /// let total: Array<u64> = frames.sum();
    /// assert_eq!(total.compute_scalar().unwrap(), 40_000 * u16::MAX as u64);
    /// ```
    sum, sum_axis, sum_axes => Sum { skip_nan: false }, false;
    /// Product of all elements, in the type [`sum`](Array::sum) returns.
    prod, prod_axis, prod_axes => Prod { skip_nan: false }, false;
    /// Sum treating NaN as zero (NumPy's `nansum`), in the type
    /// [`sum`](Array::sum) returns.
    nansum, nansum_axis, nansum_axes => Sum { skip_nan: true }, false;
    /// Product treating NaN as one (NumPy's `nanprod`).
    nanprod, nanprod_axis, nanprod_axes => Prod { skip_nan: true }, false;
);

reductions!(Number -> T;
    /// Smallest element; NaN if any is NaN.
    min, min_axis, min_axes => MinMax { max: false, skip_nan: false }, true;
    /// Largest element; NaN if any is NaN.
    max, max_axis, max_axes => MinMax { max: true, skip_nan: false }, true;
);

reductions!(Float -> T;
    /// Smallest element ignoring NaN.
    nanmin, nanmin_axis, nanmin_axes => MinMax { max: false, skip_nan: true }, true;
    /// Largest element ignoring NaN.
    nanmax, nanmax_axis, nanmax_axes => MinMax { max: true, skip_nan: true }, true;
);

impl<T: Element> Array<T> {
    /// This array as an `Array<U>`: itself when `U` is `T`, else `astype`.
    pub(crate) fn cast_or_same<U: Element + CastFrom<T>>(&self) -> Array<U> {
        match (self as &dyn std::any::Any).downcast_ref::<Array<U>>() {
            Some(same) => same.clone(),
            None => self.astype::<U>(),
        }
    }
}

impl<T: Accumulate> Array<T>
where
    T::Real: Float,
{
    /// Mean of all elements. Integers and `bool` give `f64` (NumPy sums
    /// them as `f64`), floats their own type ([`Accumulate::Real`]).
    ///
    /// ```
    /// # use rask_local as _;
    /// let x = rask_array::Array::<i32>::arange(0, 4, 1, &[3]).unwrap();
    /// let m: rask_array::Array<f64> = x.mean();
    /// assert_eq!(m.compute_scalar().unwrap(), 1.5);
    /// ```
    pub fn mean(&self) -> Array<T::Real> {
        self.mean_axes(&self.every_axis(), false)
    }

    /// `mean` along one axis (NumPy's `axis=`).
    pub fn mean_axis(&self, axis: Axis) -> Array<T::Real> {
        self.mean_axes(&[axis.index()], false)
    }

    /// `mean` over several axes, keeping them with length 1 if `keepdims`.
    pub fn mean_axes(&self, axes: &[usize], keepdims: bool) -> Array<T::Real> {
        self.cast_or_same::<T::Real>()
            .reduce("mean", MeanReducer, axes, keepdims, false)
    }

    /// Mean ignoring NaN (NumPy's `nanmean`); an all-NaN lane gives NaN.
    pub fn nanmean(&self) -> Array<T::Real> {
        self.nanmean_axes(&self.every_axis(), false)
    }

    /// `nanmean` along one axis.
    pub fn nanmean_axis(&self, axis: Axis) -> Array<T::Real> {
        self.nanmean_axes(&[axis.index()], false)
    }

    /// `nanmean` over several axes, keeping them with length 1 if `keepdims`.
    pub fn nanmean_axes(&self, axes: &[usize], keepdims: bool) -> Array<T::Real> {
        self.moments("nanmean", axes, 0.0, keepdims, 1, false, true)
    }

    /// Variance with `ddof` delta degrees of freedom (NumPy's default is 0),
    /// in [`Accumulate::Real`] (`f64` for integers). Computed in `f64`, so
    /// counts are exact far beyond 2^24 elements.
    ///
    /// ```
    /// # use rask_local as _;
    /// let x = rask_array::Array::<f64>::arange(0.0, 4.0, 1.0, &[3]).unwrap();
    /// assert_eq!(x.var(0.0).compute_scalar().unwrap(), 1.25);
    /// assert!((x.var(1.0).compute_scalar().unwrap() - 5.0 / 3.0).abs() < 1e-12);
    /// ```
    pub fn var(&self, ddof: f64) -> Array<T::Real> {
        self.var_axes(&self.every_axis(), ddof, false)
    }

    /// Variance along one axis.
    pub fn var_axis(&self, axis: Axis, ddof: f64) -> Array<T::Real> {
        self.var_axes(&[axis.index()], ddof, false)
    }

    /// Variance over several axes.
    pub fn var_axes(&self, axes: &[usize], ddof: f64, keepdims: bool) -> Array<T::Real> {
        self.moments("var", axes, ddof, keepdims, 2, false, false)
    }

    /// Standard deviation with `ddof` delta degrees of freedom.
    pub fn std(&self, ddof: f64) -> Array<T::Real> {
        self.std_axes(&self.every_axis(), ddof, false)
    }

    /// Standard deviation along one axis.
    pub fn std_axis(&self, axis: Axis, ddof: f64) -> Array<T::Real> {
        self.std_axes(&[axis.index()], ddof, false)
    }

    /// Standard deviation over several axes.
    pub fn std_axes(&self, axes: &[usize], ddof: f64, keepdims: bool) -> Array<T::Real> {
        self.moments("std", axes, ddof, keepdims, 2, true, false)
    }

    /// Variance ignoring NaN.
    pub fn nanvar(&self, ddof: f64) -> Array<T::Real> {
        self.nanvar_axes(&self.every_axis(), ddof, false)
    }

    /// Variance ignoring NaN, over several axes.
    pub fn nanvar_axes(&self, axes: &[usize], ddof: f64, keepdims: bool) -> Array<T::Real> {
        self.moments("nanvar", axes, ddof, keepdims, 2, false, true)
    }

    /// Standard deviation ignoring NaN.
    pub fn nanstd(&self, ddof: f64) -> Array<T::Real> {
        self.nanstd_axes(&self.every_axis(), ddof, false)
    }

    /// Standard deviation ignoring NaN, over several axes.
    pub fn nanstd_axes(&self, axes: &[usize], ddof: f64, keepdims: bool) -> Array<T::Real> {
        self.moments("nanstd", axes, ddof, keepdims, 2, true, true)
    }

    #[allow(clippy::too_many_arguments)]
    fn moments(
        &self,
        name: &'static str,
        axes: &[usize],
        ddof: f64,
        keepdims: bool,
        order: u8,
        sqrt: bool,
        skip_nan: bool,
    ) -> Array<T::Real> {
        self.cast_or_same::<T::Real>().reduce(
            name,
            MomentReducer {
                order,
                ddof,
                sqrt,
                skip_nan,
            },
            axes,
            keepdims,
            false,
        )
    }
}

impl<T: Number> Array<T> {
    /// Flat index of the first smallest element (NaN counts as smallest).
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray::array};
    /// let x = Array::from_ndarray(array![[3.0, 1.0], [1.0, 0.5]].into_dyn(), &[1, 1]).unwrap();
    /// assert_eq!(x.argmin().compute_scalar().unwrap(), 3);
    /// assert_eq!(x.argmax().compute_scalar().unwrap(), 0);
    /// ```
    pub fn argmin(&self) -> Array<i64> {
        self.reduce(
            "argmin",
            ArgReducer {
                max: false,
                flat: true,
                skip_nan: false,
            },
            &self.every_axis(),
            false,
            true,
        )
    }

    /// Flat index of the first largest element (NaN counts as largest).
    pub fn argmax(&self) -> Array<i64> {
        self.reduce(
            "argmax",
            ArgReducer {
                max: true,
                flat: true,
                skip_nan: false,
            },
            &self.every_axis(),
            false,
            true,
        )
    }

    /// Index along `axis` of the first smallest element of each lane.
    pub fn argmin_axis(&self, axis: Axis) -> Array<i64> {
        self.reduce(
            "argmin",
            ArgReducer {
                max: false,
                flat: false,
                skip_nan: false,
            },
            &[axis.index()],
            false,
            true,
        )
    }

    /// Index along `axis` of the first largest element of each lane.
    pub fn argmax_axis(&self, axis: Axis) -> Array<i64> {
        self.reduce(
            "argmax",
            ArgReducer {
                max: true,
                flat: false,
                skip_nan: false,
            },
            &[axis.index()],
            false,
            true,
        )
    }
}

impl<T: Float> Array<T> {
    /// Flat index of the first smallest element, ignoring NaN.
    pub fn nanargmin(&self) -> Array<i64> {
        self.reduce(
            "nanargmin",
            ArgReducer {
                max: false,
                flat: true,
                skip_nan: true,
            },
            &self.every_axis(),
            false,
            true,
        )
    }

    /// Flat index of the first largest element, ignoring NaN.
    pub fn nanargmax(&self) -> Array<i64> {
        self.reduce(
            "nanargmax",
            ArgReducer {
                max: true,
                flat: true,
                skip_nan: true,
            },
            &self.every_axis(),
            false,
            true,
        )
    }
}
