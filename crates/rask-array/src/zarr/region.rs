//! Writing into an existing Zarr array: [`Array::to_zarr_region`] (a
//! region of it, as Dask's `store(..., regions=...)` / `to_zarr(region=)`)
//! and [`Array::append_to_zarr`] (growing it along an axis, as
//! zarr-python's `append`).
//!
//! Blocks are written in parallel, each by its own task, without a lock.
//! That is safe only when no two blocks write into the same stored chunk
//! (the unit a writer reads, modifies and rewrites; a shard for a sharded
//! array), so before anything is written the region is checked against
//! the store's chunk grid: every place where two of the array's blocks
//! meet must be a chunk boundary of the store. A block may cover a stored
//! chunk partly (at the region's edges); it is then the only writer of
//! that chunk. A region outside the array, another element type or
//! number of axes, or blocks that would share a chunk are refused with an
//! error naming the array, and nothing is written.
//!
//! Unlike [`Array::to_zarr`], these write into the store in place: a
//! compute that fails part way leaves the blocks written so far. An
//! append writes the new shape into the metadata first (so the blocks'
//! writes land inside the array) and puts the old shape back if the
//! compute fails, so a failed append leaves the array as it was to
//! readers.

use std::path::Path;

use rask_core::{Collection, Executor, Result};

use super::{Store, bad_store, forget_opened, metadata_options, open_as, zarr_block_writer};
use crate::array::Array;
use crate::chunks::{Chunks, fmt_shape};
use crate::element::Element;
use crate::store::{BlockWrite, file_path};

impl<T: Element> Array<T> {
    /// Computes the array on the configured scheduler and writes it into
    /// the existing Zarr array at `path`, at the region that starts at
    /// element `start` and has this array's shape — NumPy's
    /// `z[start[0]:start[0] + n0, …] = x`, block by block and in parallel.
    /// Otherwise as [`Array::to_zarr_region_with`].
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::Array;
    /// let path = std::env::temp_dir().join(format!("rask-doc-zarr-region-{}", std::process::id()));
    /// Array::<f32>::zeros(&[8, 6], &[4, 3]).unwrap().to_zarr(&path).unwrap();
    /// // Rows 4..8, columns 3..6: one stored chunk, written by one block.
    /// Array::<f32>::ones(&[4, 3], &[4, 3]).unwrap().to_zarr_region(&path, &[4, 3]).unwrap();
    /// let z = Array::<f32>::from_zarr(&path).unwrap();
    /// assert_eq!(z.sum().compute_scalar().unwrap(), 12.0);
    /// // Outside the array: refused, nothing written.
    /// assert!(Array::<f32>::ones(&[4, 3], &[4, 3]).unwrap().to_zarr_region(&path, &[6, 0]).is_err());
    /// std::fs::remove_dir_all(&path).unwrap();
    /// ```
    pub fn to_zarr_region(&self, path: impl AsRef<Path>, start: &[usize]) -> Result<()> {
        self.to_zarr_region_with(path, start, &*rask_core::executor::current()?)
    }

    /// Like [`Array::to_zarr_region`], on `scheduler`.
    ///
    /// Fails, naming the path, before writing anything when the store is
    /// missing or not a Zarr array, holds another element type or number
    /// of axes, the region does not lie inside it, or two of the array's
    /// blocks would write into one stored chunk (rechunk so that the
    /// blocks meet on the store's chunk boundaries). A failed compute
    /// leaves the blocks written so far.
    pub fn to_zarr_region_with(
        &self,
        path: impl AsRef<Path>,
        start: &[usize],
        scheduler: &(impl Executor + ?Sized),
    ) -> Result<()> {
        let path = path.as_ref();
        self.validate()?;
        let (store, shape) = open_as::<T>(path)?;
        if start.len() != shape.len() || self.ndim() != shape.len() {
            return Err(bad_store(
                path,
                format!(
                    "cannot write a region: the array has {} axes, the start {start:?} has {} and \
                     the store {} ({}); give one start per axis of the store",
                    self.ndim(),
                    start.len(),
                    shape.len(),
                    fmt_shape(&shape)
                ),
            ));
        }
        let inside = (0..shape.len()).all(|a| {
            start[a]
                .checked_add(self.shape()[a])
                .is_some_and(|end| end <= shape[a])
        });
        if !inside {
            return Err(bad_store(
                path,
                format!(
                    "cannot write a region: the region from {start:?} of shape {} does not lie \
                     inside the array's shape {}",
                    fmt_shape(self.shape()),
                    fmt_shape(&shape)
                ),
            ));
        }
        check_aligned(path, &store, self.chunks(), start)?;
        drop(store);
        self.write_into(path, start, scheduler)
    }

    /// Computes the array on the configured scheduler and appends it to
    /// the existing Zarr array at `path` along `axis`, as zarr-python's
    /// `z.append(x, axis)`: the store grows by this array's length along
    /// `axis`, and the other axes must match. Otherwise as
    /// [`Array::append_to_zarr_with`].
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::Array;
    /// use rask_array::ndarray::Axis;
    /// let path = std::env::temp_dir().join(format!("rask-doc-zarr-append-{}", std::process::id()));
    /// Array::<u16>::zeros(&[2, 3, 3], &[1, 3, 3]).unwrap().to_zarr(&path).unwrap();
    /// let frame = Array::<u16>::full(&[1, 3, 3], &[1, 3, 3], 7).unwrap();
    /// frame.append_to_zarr(&path, Axis(0)).unwrap();
    /// frame.append_to_zarr(&path, Axis(0)).unwrap();
    /// let z = Array::<u16>::from_zarr(&path).unwrap();
    /// assert_eq!(z.shape(), &[4, 3, 3]);
    /// assert_eq!(z.compute().unwrap()[[3, 2, 2]], 7);
    /// std::fs::remove_dir_all(&path).unwrap();
    /// ```
    pub fn append_to_zarr(&self, path: impl AsRef<Path>, axis: ndarray::Axis) -> Result<()> {
        self.append_to_zarr_with(path, axis, &*rask_core::executor::current()?)
    }

    /// Like [`Array::append_to_zarr`], on `scheduler`.
    ///
    /// Fails, naming the path, before writing anything when the store is
    /// missing or not a Zarr array, holds another element type or number
    /// of axes, differs in shape along another axis than `axis`, or two of
    /// the array's blocks would write into one stored chunk once placed
    /// after the store's end (rechunk so that the blocks meet on the
    /// store's chunk boundaries). A failed compute erases the chunks it
    /// wrote past the old end and puts the old shape back.
    pub fn append_to_zarr_with(
        &self,
        path: impl AsRef<Path>,
        axis: ndarray::Axis,
        scheduler: &(impl Executor + ?Sized),
    ) -> Result<()> {
        let path = path.as_ref();
        self.validate()?;
        let (mut store, shape) = open_as::<T>(path)?;
        let axis = axis.0;
        let other_axes_match = self.ndim() == shape.len()
            && (0..shape.len()).all(|a| a == axis || shape[a] == self.shape()[a]);
        if axis >= shape.len() || !other_axes_match {
            return Err(bad_store(
                path,
                format!(
                    "cannot append an array of shape {} along axis {axis} to an array of shape {}: \
                     {}",
                    fmt_shape(self.shape()),
                    fmt_shape(&shape),
                    if axis >= shape.len() {
                        format!("the store has {} axes", shape.len())
                    } else {
                        "every other axis must have the same length".to_string()
                    }
                ),
            ));
        }
        let mut start = vec![0; shape.len()];
        start[axis] = shape[axis];
        let mut grown = shape.clone();
        grown[axis] = shape[axis]
            .checked_add(self.shape()[axis])
            .ok_or_else(|| bad_store(path, "cannot append: the new length overflows"))?;
        check_aligned(path, &store, self.chunks(), &start)?;
        if self.shape()[axis] == 0 {
            return Ok(());
        }
        let old: Vec<u64> = shape.iter().map(|&n| n as u64).collect();
        set_shape(path, &mut store, grown.iter().map(|&n| n as u64).collect())?;
        if let Ok(text) = file_path(path) {
            forget_opened(&text);
        }
        let written = self.write_into(path, &start, scheduler);
        if let Err(e) = written {
            // The chunks wholly past the old end go, and the old shape
            // comes back: readers (and a later resize by another tool)
            // see the array as it was.
            let erased = erase_past(&store, axis, shape[axis]);
            let restored = set_shape(path, &mut store, old);
            if let Ok(text) = file_path(path) {
                forget_opened(&text);
            }
            let undone: Vec<String> = [erased.err(), restored.err().map(|r| r.to_string())]
                .into_iter()
                .flatten()
                .collect();
            if !undone.is_empty() {
                return Err(bad_store(
                    path,
                    format!(
                        "the append failed ({e}), and undoing it failed too: {}; the store may \
                         hold the new length or chunks past its old end",
                        undone.join("; ")
                    ),
                ));
            }
            return Err(e);
        }
        Ok(())
    }

    /// Writes the blocks into the store at `path` at offset `start`: the
    /// checks are done.
    fn write_into(
        &self,
        path: &Path,
        start: &[usize],
        scheduler: &(impl Executor + ?Sized),
    ) -> Result<()> {
        let writer = zarr_block_writer::<T>(path)?;
        let offset = start.to_vec();
        let kernel = move |index: &[usize], block_start: &[usize]| {
            let at: Vec<usize> = block_start
                .iter()
                .zip(&offset)
                .map(|(b, o)| b + o)
                .collect();
            writer(index, &at)
        };
        crate::array::compute_on(
            scheduler,
            &BlockWrite {
                array: self,
                prefix: "to-zarr-region",
                kernel: &kernel,
            },
        )
    }
}

/// Erases the stored chunks that lie wholly at or past element `from` of
/// `axis` (the old end of an append that failed).
fn erase_past(store: &Store, axis: usize, from: usize) -> std::result::Result<(), String> {
    let grid = store.chunk_grid_shape().to_vec();
    let mut pos = vec![0u64; grid.len()];
    pos[axis] = from as u64;
    let chunk_grid = store.chunk_grid();
    let first = match (
        chunk_grid.chunk_indices(&pos),
        chunk_grid.chunk_element_indices(&pos),
    ) {
        (Ok(Some(c)), Ok(Some(e))) => c[axis] + u64::from(e[axis] != 0),
        _ => return Ok(()), // no chunk starts there: nothing was written past it
    };
    if first >= grid[axis] {
        return Ok(());
    }
    let mut start = vec![0u64; grid.len()];
    start[axis] = first;
    let mut shape = grid.clone();
    shape[axis] = grid[axis] - first;
    let chunks = zarrs::array::ArraySubset::new_with_start_shape(start, shape)
        .map_err(|e| format!("cannot name the chunks to erase: {e}"))?;
    store
        .erase_chunks(&chunks)
        .map_err(|e| format!("cannot erase the chunks past element {from} of axis {axis}: {e}"))
}

/// Sets the store's shape and writes its metadata.
fn set_shape(path: &Path, store: &mut Store, shape: Vec<u64>) -> Result<()> {
    store
        .set_shape(shape)
        .map_err(|e| bad_store(path, format!("cannot resize the array: {e}")))?;
    store
        .store_metadata_opt(&metadata_options())
        .map_err(|e| bad_store(path, format!("cannot write the metadata: {e}")))
}

/// Checks that blocks `chunks` placed at `start` in the store meet only on
/// the store's chunk boundaries, so that no stored chunk has two writers
/// (zarrs writes part of a chunk by reading, changing and writing it
/// whole, without a lock). The boundaries are asked of the store's own
/// chunk grid — regular or not, continued past the end for an append,
/// and with its chunk length along an empty axis — one block boundary at
/// a time.
fn check_aligned(path: &Path, store: &Store, chunks: &Chunks, start: &[usize]) -> Result<()> {
    let grid = store.chunk_grid();
    for (axis, &origin) in start.iter().enumerate() {
        let sizes = chunks.axis(axis);
        let mut at = origin;
        for &len in &sizes[..sizes.len().saturating_sub(1)] {
            at += len;
            let mut pos = vec![0u64; start.len()];
            pos[axis] = at as u64;
            // How far into its stored chunk element `at` lies.
            let into = grid
                .chunk_element_indices(&pos)
                .ok()
                .flatten()
                .map(|e| e[axis]);
            if into == Some(0) {
                continue;
            }
            let place = match into {
                Some(k) => format!(
                    "inside the stored chunk that starts at element {}",
                    at as u64 - k
                ),
                None => "where the store's chunk grid has no chunk".to_string(),
            };
            return Err(bad_store(
                path,
                format!(
                    "cannot write the array's blocks (along axis {axis}: {sizes:?}) from element \
                     {origin} of axis {axis}: two blocks meet at element {at}, {place}, so both \
                     would write that chunk, which needs a lock; rechunk so that blocks meet on \
                     the store's chunk boundaries along axis {axis}"
                ),
            ));
        }
    }
    Ok(())
}
