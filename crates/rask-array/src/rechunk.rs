//! Changing an array's chunks: [`Array::rechunk`].
//!
//! The data stay where they are in the array; only the block boundaries
//! move. Three cases, cheapest first:
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
//! # Design note: staged plans
//!
//! A direct gather can be expensive when the chunkings are "crossed", as in
//! going from row blocks `(1, n)` to column blocks `(n, 1)`: every new block
//! reads every old block, so the graph has `nblocks²` edges and each task
//! holds many input blocks in memory at once. Dask avoids this with an
//! intermediate plan (`plan_rechunk`): it goes through one or more
//! intermediate chunkings, each of which merges along the axes that the
//! target makes bigger and splits along those it makes smaller, chosen so
//! that no intermediate block exceeds a memory limit (the larger of the old
//! and new block sizes, capped by `array.chunk-size`) and the number of
//! edges per stage stays near linear in the number of blocks. Each stage is
//! then a direct gather like the one here. [`Array::rechunk`] does the
//! single direct stage for now; the staged plan can be added in
//! [`Array::rechunk_to`] without changing the API.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, Slice};
use rask_core::{Key, Op, TaskError, Value};

use crate::array::{Array, BlockTask, block_arg, block_key, block_value};
use crate::chunks::{Chunks, IntoChunks, fmt_shape, ranges_product, refine};
use crate::element::Element;

/// One overlap along an axis: old block `block`, its elements
/// `src..src + len` land at `dst..dst + len` in the new block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

impl<T: Element> Array<T> {
    /// The same array split into other blocks (Dask's `rechunk`).
    ///
    /// `chunks` is any chunk request: block sizes, [`ChunkSpec`]s
    /// (`Whole`, `Auto`, explicit sizes) or [`Chunks`]. A request that does
    /// not fit the shape gives an invalid array whose `compute` returns the
    /// error.
    ///
    /// [`ChunkSpec`]: crate::ChunkSpec
    ///
    /// ```
    /// use rask_array::{Array, ChunkSpec};
    /// let x = Array::<i64>::arange(0, 12, 1, &[5]).unwrap();
    /// let y = x.rechunk(&[4]);
    /// assert_eq!(y.chunks().axis(0), &[4, 4, 4]);
    /// assert_eq!(y.compute().unwrap(), x.compute().unwrap());
    /// let whole = x.rechunk([ChunkSpec::Whole]);
    /// assert_eq!(whole.numblocks(), vec![1]);
    /// ```
    pub fn rechunk(&self, chunks: impl IntoChunks) -> Array<T> {
        if let Some(e) = self.error() {
            return Array::invalid(e);
        }
        match chunks.into_chunks(self.shape(), size_of::<T>()) {
            Ok(c) => self.rechunk_to(&c),
            Err(e) => Array::invalid(format!(
                "rechunk: the requested chunks do not fit the array of shape {}: {e}",
                fmt_shape(self.shape())
            )),
        }
    }

    /// Rechunks to `new`, which callers guarantee covers the same shape.
    pub(crate) fn rechunk_to(&self, new: &Chunks) -> Array<T> {
        if self.error().is_some() || self.chunks() == new {
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
        Array::layer(
            "rechunk-merge",
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
                let shape = c.block_shape(idx);
                BlockTask {
                    op: Op::call("rechunk-merge", move |args: &[Value]| {
                        let mut out = ArrayD::<T>::default(IxDyn(&shape));
                        for (i, part) in parts.iter().enumerate() {
                            let b = block_arg::<T>(args, i)?;
                            let fits = b.ndim() == part.len()
                                && part.iter().zip(b.shape()).all(|(p, &n)| p.src + p.len <= n);
                            if !fits {
                                return Err(TaskError::failed(format!(
                                    "rechunk: an input block has shape {}, smaller than its chunks say",
                                    fmt_shape(b.shape())
                                )));
                            }
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
