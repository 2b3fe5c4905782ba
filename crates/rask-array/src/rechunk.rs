//! Changing an array's chunks: [`Array::rechunk`], and the staged plan it
//! follows ([`plan`]).
//!
//! The data stay where they are in the array; only the block boundaries
//! move. A rechunk goes through the chunkings of its [`plan`] (zero or more
//! intermediates, then the target), and each step from one chunking to the
//! next is one *stage*, the cheapest of:
//!
//! 1. **Same chunks**: the array itself.
//! 2. **Only splits** (every old boundary is still a boundary, so every new
//!    block lies inside one old block): each new block is a slice of one old
//!    block, a blockwise task that fuses with its neighbours.
//! 3. **Direct gather** otherwise: along every axis the new block's interval
//!    is intersected with the old blocks' intervals; the new block reads the
//!    old blocks that overlap it on every axis (in C order) and assigns the
//!    overlapping piece of each into place. One task per new block.
//!
//! # Staged plans
//!
//! A direct gather from chunking `a` to chunking `b` has exactly
//! `edges(a, b) = ∏ |refine(a[ax], b[ax])|` graph edges: along one axis the
//! pairs (old block, new block) that overlap are the pieces of the common
//! refinement. A gather that only merges or only splits has about
//! `blocks(a) + blocks(b)` edges, but one that merges along some axes and
//! splits along others is "crossed": going from `(n, 1)` blocks to `(1, n)`
//! blocks, every new block reads every old one — `nblocks²` edges, and each
//! task holds `n` input blocks. The planner ([`plan`], after Dask's
//! `plan_rechunk`) separates the two: it merges first, as far as a memory
//! limit allows, and splits in a later stage.
//!
//! **Memory.** No intermediate block may hold more than `limit` elements:
//! the caller's byte limit (the `array.chunk-size` configuration key for
//! [`Array::rechunk`]) divided by the item size, raised to the largest old
//! or new block where those are bigger. A chunking's block size is measured
//! as the product of its widest block along every axis, a bound on all its
//! blocks.
//!
//! **One step** from the current chunking `cur` towards the target `new`,
//! with `c` and `n` the widest blocks of each along an axis: *merge axes*
//! have `n > c` (the target's blocks are wider), *split axes* `n < c`. In
//! logarithms, the merge axes want to grow by `Γ = Σ ln(n/c)`, the split
//! axes to shrink by `Σ = Σ ln(c/n)`, and the current blocks leave the
//! headroom `H = ln(limit / ∏ c)`.
//!
//! * The step first tries a **pure merge**: it grows the merge axes as far
//!   as the limit allows and leaves the split axes alone. The limit here is
//!   the block limit, but at most a [`PARALLEL_BLOCKS`]-th of the array, so
//!   that the stage has several blocks to build in parallel. Each block of
//!   such a stage reads a disjoint group of whole old blocks, so old blocks
//!   are freed while the stage runs, which keeps memory low. If `Γ ≤ H` the
//!   merge is complete and the next stage only splits.
//! * Only when the limit leaves no room to merge at all does the step first
//!   shrink the split axes by `σ = min(Σ, Γ − H, ln 4)`: just what the merge
//!   needs, but never more than a factor [`THRESHOLD`], since shrinking by
//!   `e^σ` multiplies the stage's edges by `e^σ`; it then grows the merge
//!   axes as far as the limit allows. Axes with smaller ratios go first, so
//!   whole axes reach their target.
//!
//! The intermediate's blocks are runs of the pieces of `refine(cur, new)`:
//! on a split axis, runs inside one block of `cur` (the stage only splits
//! along it); on a merge axis, runs inside one block of `new` (the next
//! stage merges whole blocks along it). Each block of the coarser chunking
//! is cut into about equal runs no wider than the width chosen.
//!
//! **The plan** repeats steps from the intermediate until the stage to the
//! target is cheap — at most [`THRESHOLD`] `× (blocks(cur) + blocks(new))`
//! edges — or a step merges nothing, with at most [`MAX_INTERMEDIATES`]
//! intermediates. Under a tight limit (`H = 0`) every step shrinks by 4 and
//! grows by 4, so there are about `log₄` of the merge factor stages, each
//! reading about 4 blocks per task along the merge axes. A staged plan with
//! no fewer edges in all than the direct gather is dropped for it. Arrays
//! of 0 or 1 axes, or with an empty axis, are never staged: along one axis
//! a gather is already linear.
//!
//! For example, `(8000, 8000)` float64 from `(8000, 50)` columns to
//! `(50, 8000)` rows with 128 MiB blocks: the direct gather has 25,600
//! edges, each task reading 160 blocks. The plan goes through
//! `(8000, 2000)` blocks — each merges 40 whole columns, 160 edges — and
//! then each row gathers its part of the 4 merged blocks: 640 edges, 800
//! in all. Dask's planner picks the same intermediate.

use std::marker::PhantomData;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, Slice};
use rask_core::{Kernel, Key, Op, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::{Array, BlockTask, block_arg, block_key, block_value};
use crate::chunks::{Chunks, IntoChunks, fmt_shape, ranges_product, refine};
use crate::element::Element;
use crate::kernels::{elem_name, register_elements};

mod planner;

pub use planner::{MAX_INTERMEDIATES, PARALLEL_BLOCKS, THRESHOLD, plan};

/// One overlap along an axis: old block `block`, its elements
/// `src..src + len` land at `dst..dst + len` in the new block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Piece {
    pub block: usize,
    pub src: usize,
    pub dst: usize,
    pub len: usize,
}

/// For every new block along one axis, the old blocks it overlaps.
pub(crate) fn axis_pieces(old: &[usize], new: &[usize]) -> Vec<Vec<Piece>> {
    let mut old_offsets = Vec::with_capacity(old.len() + 1);
    let mut acc = 0;
    old_offsets.push(0);
    for &c in old {
        acc += c;
        old_offsets.push(acc);
    }
    let mut out = Vec::with_capacity(new.len());
    let mut start = 0;
    for &size in new {
        let end = start + size;
        if size == 0 {
            // Only an empty axis has an empty block: read old block 0.
            out.push(vec![Piece {
                block: 0,
                src: 0,
                dst: 0,
                len: 0,
            }]);
            continue;
        }
        // The first old block ending after `start`.
        let mut b = old_offsets.partition_point(|&o| o <= start) - 1;
        let mut pieces = Vec::new();
        while b < old.len() && old_offsets[b] < end {
            let lo = old_offsets[b].max(start);
            let hi = old_offsets[b + 1].min(end);
            if hi > lo {
                pieces.push(Piece {
                    block: b,
                    src: lo - old_offsets[b],
                    dst: lo - start,
                    len: hi - lo,
                });
            }
            b += 1;
        }
        out.push(pieces);
        start = end;
    }
    out
}

/// One block of a direct gather: a block of shape `shape` assembled from
/// the pieces of its arguments, `parts[i]` (one piece per axis) from
/// argument `i`.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct RechunkMerge<T> {
    shape: Vec<usize>,
    parts: Vec<Vec<Piece>>,
    _t: PhantomData<T>,
}

impl<T: Element> Kernel for RechunkMerge<T> {
    const NAME: &'static str = elem_name!("rask.array.rechunk_merge", T);
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let shape = &self.shape;
        // Every piece must lie inside its input block and the output block,
        // and the pieces must hold as many elements as the output: then
        // nothing below can panic, and the output is allocated only for
        // elements the inputs have.
        let mut covered = Some(0usize);
        for (i, part) in self.parts.iter().enumerate() {
            let b = block_arg::<T>(args, i)?;
            let fits = b.ndim() == part.len()
                && part.len() == shape.len()
                && part.iter().zip(b.shape()).zip(shape).all(|((p, &n), &m)| {
                    p.src.checked_add(p.len).is_some_and(|e| e <= n)
                        && p.dst.checked_add(p.len).is_some_and(|e| e <= m)
                });
            if !fits {
                return Err(TaskError::failed(format!(
                    "rechunk: an input block has shape {}, smaller than its chunks say",
                    fmt_shape(b.shape())
                )));
            }
            let elements = part
                .iter()
                .try_fold(1usize, |acc, p| acc.checked_mul(p.len));
            covered = covered.zip(elements).and_then(|(a, e)| a.checked_add(e));
        }
        let size = shape.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n));
        if covered.is_none() || covered != size {
            return Err(TaskError::failed(format!(
                "rechunk: the pieces of {} input blocks do not fill a block of shape {}",
                self.parts.len(),
                fmt_shape(shape)
            )));
        }
        let mut out = ArrayD::<T>::default(IxDyn(shape));
        for (i, part) in self.parts.iter().enumerate() {
            let b = block_arg::<T>(args, i)?;
            let piece = b.slice_each_axis(|d| {
                let p = &part[d.axis.index()];
                Slice::from(p.src..p.src + p.len)
            });
            let mut dst = out.slice_each_axis_mut(|d| {
                let p = &part[d.axis.index()];
                Slice::from(p.dst..p.dst + p.len)
            });
            dst.assign(&piece);
        }
        Ok(block_value(out))
    }
}

register_elements!(RechunkMerge);

/// The default limit of a rechunk's intermediate blocks: the configured
/// `array.chunk-size`, and where a `memory-limit` is set, no more than
/// [`Config::block_memory_share`](rask_config::Config::block_memory_share)
/// (a sixteenth of it per worker thread). Every thread may run a merge
/// that holds its inputs and its output at once, and blocks in use cannot
/// be spilled: with 128 MiB intermediates, a rechunk of 3.2 GB under a
/// 512 MiB limit peaked at 4.6 times the limit, with 16 MiB ones at 1.13.
fn chunk_size_limit() -> u64 {
    let config = rask_config::get();
    let size = config.array_chunk_size.as_u64();
    config
        .block_memory_share()
        .map_or(size, |share| size.min(share))
}

impl<T: Element> Array<T> {
    /// The same array split into other blocks (Dask's `rechunk`).
    ///
    /// `chunks` is any chunk request: block sizes, [`ChunkSpec`]s
    /// (`Whole`, `Auto`, explicit sizes) or [`Chunks`]. A request that does
    /// not fit the shape is an error naming it and the shape.
    ///
    /// A rechunk that both merges and splits blocks goes through
    /// intermediate chunkings ([`rechunk::plan`](crate::rechunk::plan)) so
    /// that no task reads very many blocks; intermediate blocks stay within
    /// `array.chunk-size` bytes (and, where `memory-limit` is set, a
    /// sixteenth of it per worker thread), or the largest old or new block
    /// where that is larger. [`Array::rechunk_plan`] shows the stages and
    /// [`Array::rechunk_with_limit`] sets another limit.
    ///
    /// [`ChunkSpec`]: crate::ChunkSpec
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ChunkSpec};
    /// let x = Array::<i64>::arange(0, 12, 1, &[5]).unwrap();
    /// let y = x.rechunk(&[4]).unwrap();
    /// assert_eq!(y.chunks().axis(0), &[4, 4, 4]);
    /// assert_eq!(y.compute().unwrap(), x.compute().unwrap());
    /// let whole = x.rechunk([ChunkSpec::Whole]).unwrap();
    /// assert_eq!(whole.numblocks(), vec![1]);
    /// ```
    pub fn rechunk(&self, chunks: impl IntoChunks) -> rask_core::Result<Array<T>> {
        self.rechunk_with_limit(chunks, chunk_size_limit())
    }

    /// Like [`Array::rechunk`], with intermediate blocks of at most
    /// `block_size_limit` bytes (or the largest old or new block, where
    /// that is larger) instead of `array.chunk-size` (Dask's
    /// `block_size_limit`).
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::Array;
    /// # fn main() -> rask_core::Result<()> {
    /// let x = Array::<f64>::ones(&[400, 400], &[400, 1])?;
    /// // No block larger than the old and new ones (3.2 kB): several stages.
    /// let y = x.rechunk_with_limit(&[1, 400], 0).unwrap();
    /// assert_eq!(y.chunks().axis(0), &[1; 400][..]);
    /// assert!(rask_array::rechunk::plan(x.chunks(), y.chunks(), 8, 0)?.len() > 2);
    /// assert_eq!(y.sum().compute_scalar()?, 160_000.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn rechunk_with_limit(
        &self,
        chunks: impl IntoChunks,
        block_size_limit: u64,
    ) -> rask_core::Result<Array<T>> {
        self.rechunk_or_invalid(chunks, block_size_limit)
            .into_result()
    }

    /// [`Array::rechunk_with_limit`], with an error carried by the array instead.
    pub(crate) fn rechunk_or_invalid(
        &self,
        chunks: impl IntoChunks,
        block_size_limit: u64,
    ) -> Array<T> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        match self.resolve_rechunk(chunks) {
            Ok(c) => self.rechunk_staged(&c, block_size_limit),
            Err(e) => Array::invalid(e),
        }
    }

    /// The chunkings [`Array::rechunk`] would take this array through: the
    /// intermediates, then the requested chunks (see
    /// [`rechunk::plan`](crate::rechunk::plan)).
    ///
    /// # Errors
    ///
    /// When the array is invalid or the request does not fit its shape.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::Array;
    /// # fn main() -> rask_core::Result<()> {
    /// let x = Array::<f64>::ones(&[4000, 4000], &[4000, 10])?;
    /// let stages = x.rechunk_plan(&[10, 4000])?;
    /// // Four 32 MB blocks in between (each merged from 100 columns, by
    /// // four tasks in parallel), then 400 rows reading 4 blocks each,
    /// // instead of 400 tasks reading 400 blocks each.
    /// assert_eq!(stages.len(), 2);
    /// assert_eq!(stages[0].numblocks(), vec![1, 4]);
    /// assert_eq!(stages[1].numblocks(), vec![400, 1]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn rechunk_plan(&self, chunks: impl IntoChunks) -> rask_core::Result<Vec<Chunks>> {
        if let Some(e) = self.error() {
            return Err(rask_core::Error::invalid("array", e));
        }
        let new = self
            .resolve_rechunk(chunks)
            .map_err(|e| rask_core::Error::invalid("chunks", e))?;
        plan(self.chunks(), &new, size_of::<T>(), chunk_size_limit())
    }

    /// Resolves a chunk request for this array's shape and element size.
    fn resolve_rechunk(&self, chunks: impl IntoChunks) -> Result<Chunks, String> {
        chunks
            .into_chunks(self.shape(), size_of::<T>())
            .map_err(|e| {
                format!(
                    "rechunk: the requested chunks do not fit the array of shape {}: {e}",
                    fmt_shape(self.shape())
                )
            })
    }

    /// Rechunks to `new`, which callers guarantee covers the same shape,
    /// through the staged plan with the configured `array.chunk-size`.
    pub(crate) fn rechunk_to(&self, new: &Chunks) -> Array<T> {
        self.rechunk_staged(new, chunk_size_limit())
    }

    /// Rechunks to `new` (same shape) through the plan for this limit.
    fn rechunk_staged(&self, new: &Chunks, block_size_limit: u64) -> Array<T> {
        if self.error().is_some() || self.chunks() == new {
            return self.clone();
        }
        let stages = planner::stages(
            self.chunks().as_slices(),
            new.as_slices(),
            size_of::<T>(),
            block_size_limit,
        );
        let mut x = self.clone();
        for stage in stages {
            x = x.rechunk_stage(&Chunks::from_vec(stage));
        }
        x
    }

    /// One stage: the same array, a split, or a direct gather into `new`.
    fn rechunk_stage(&self, new: &Chunks) -> Array<T> {
        if self.chunks() == new {
            return self.clone();
        }
        let old = self.chunks().clone();
        let ndim = old.ndim();
        let only_splits = (0..ndim).all(|a| refine(old.axis(a), new.axis(a)) == new.axis(a));
        if only_splits {
            return self.refined(new.as_slices());
        }
        let pieces: Arc<Vec<Vec<Vec<Piece>>>> = Arc::new(
            (0..ndim)
                .map(|a| axis_pieces(old.axis(a), new.axis(a)))
                .collect(),
        );
        let src = self.node.name.clone();
        let c = new.clone();
        Array::kernel_layer(
            "rechunk-merge",
            &(),
            new.clone(),
            vec![self.input()],
            move |idx| {
                // The overlapping pieces along every axis; their product, in C
                // order, is the list of old blocks read.
                let per_axis: Vec<&Vec<Piece>> = idx
                    .iter()
                    .enumerate()
                    .map(|(a, &i)| &pieces[a][i])
                    .collect();
                let ranges: Vec<(usize, usize)> = per_axis.iter().map(|p| (0, p.len())).collect();
                let mut deps: Vec<Key> = Vec::new();
                let mut parts: Vec<Vec<Piece>> = Vec::new();
                for choice in ranges_product(&ranges) {
                    let part: Vec<Piece> = choice
                        .iter()
                        .enumerate()
                        .map(|(a, &k)| per_axis[a][k])
                        .collect();
                    let old_idx: Vec<usize> = part.iter().map(|p| p.block).collect();
                    deps.push(block_key(&src, &old_idx));
                    parts.push(part);
                }
                BlockTask {
                    op: Op::kernel(RechunkMerge::<T> {
                        shape: c.block_shape(idx),
                        parts,
                        _t: PhantomData,
                    }),
                    deps,
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_kernel_refuses_pieces_that_do_not_fit() {
        let b = block_value(ArrayD::<i32>::ones(IxDyn(&[2, 3])));
        let piece = |block, src, dst, len| Piece {
            block,
            src,
            dst,
            len,
        };
        let merge = |shape: Vec<usize>, parts: Vec<Vec<Piece>>, args: &[Value]| {
            RechunkMerge::<i32> {
                shape,
                parts,
                _t: PhantomData,
            }
            .run(args)
        };
        let two = [b.clone(), b.clone()];
        // Two blocks side by side.
        let whole = vec![
            vec![piece(0, 0, 0, 2), piece(0, 0, 0, 3)],
            vec![piece(1, 0, 0, 2), piece(1, 0, 3, 3)],
        ];
        let out = merge(vec![2, 6], whole.clone(), &two).unwrap();
        assert_eq!(out.get::<ArrayD<i32>>(0).unwrap().sum(), 12);
        // Past the input, past the output, holes, too few arguments, the
        // wrong number of axes, sizes that overflow.
        let src_past = vec![vec![piece(0, 1, 0, 2), piece(0, 0, 0, 3)]];
        assert!(merge(vec![2, 3], src_past, &two[..1]).is_err());
        assert!(merge(vec![2, 5], whole.clone(), &two).is_err());
        assert!(merge(vec![2, 7], whole.clone(), &two).is_err());
        assert!(merge(vec![2, 6], whole.clone(), &two[..1]).is_err());
        assert!(merge(vec![2, 6, 1], whole, &two).is_err());
        let huge = vec![vec![piece(0, 0, 0, 2), piece(0, 0, 0, 3)]];
        assert!(merge(vec![usize::MAX, 3], huge, &two[..1]).is_err());
    }

    #[test]
    fn pieces_intersect_intervals() {
        let p = axis_pieces(&[4, 4, 2], &[5, 5]);
        assert_eq!(
            p[0],
            vec![
                Piece {
                    block: 0,
                    src: 0,
                    dst: 0,
                    len: 4
                },
                Piece {
                    block: 1,
                    src: 0,
                    dst: 4,
                    len: 1
                }
            ]
        );
        assert_eq!(
            p[1],
            vec![
                Piece {
                    block: 1,
                    src: 1,
                    dst: 0,
                    len: 3
                },
                Piece {
                    block: 2,
                    src: 0,
                    dst: 3,
                    len: 2
                }
            ]
        );
        let empty = axis_pieces(&[0], &[0]);
        assert_eq!(empty[0][0].len, 0);
    }
}
