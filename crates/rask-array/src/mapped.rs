//! Read-only memory maps of the files whose blocks are read a tile at a
//! time.
//!
//! A consumer that evaluates a stored file's block region by region (a
//! reduction of `x + x.T`, tile by tile) would make one `pread` per row of
//! every tile: hundreds of system calls per tile. Through a map, a tile is
//! seen where it lies in the page cache (the same cache `pread` reads),
//! with no call and no copy: a [`MappedRegion`] value that consumers view
//! through [`region_view`]. Elements that need swapping (big-endian,
//! `bool`) are copied out of the map run by run instead.
//!
//! A map lives as long as someone holds it: the region kernel of a read
//! layer ([`Tiles`]) keeps the map it first used, so every task of a
//! computation shares one map and a page one task faulted in stays mapped
//! for the next; when the array (and every graph made from it) is
//! dropped, the file is unmapped. Layers that read the same version of a
//! file share its map while any of them holds it.
//! Mapped pages are the page cache's, clean and shared: they count in the
//! process's RSS while mapped but not in its private memory, which is what
//! rask's memory manager watches, and the kernel can drop them under
//! memory pressure as it drops any cached page.
//!
//! A map is only handed out for the version of the file a layer was opened
//! on: every lookup compares the file's stamp (size, modification time,
//! inode) with the layer's and fails, naming the change, when they differ.
//! What a map cannot guard against is a file truncated *while* a tile is
//! being copied (between the check and the copy): the process then gets
//! `SIGBUS`, as NumPy's `memmap` would. Files read by rask are not to be
//! rewritten in place while a computation reads them.

#![allow(unsafe_code)]

use std::fs::File;
use std::sync::{Arc, LazyLock, Mutex, OnceLock, Weak};

use memmap2::Mmap;
use ndarray::{ArrayD, ArrayViewD, IxDyn, ShapeBuilder};
use rask_core::{TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::{Region, block_value, region_shape};
use crate::chunks::{Chunks, fmt_shape};
use crate::element::Element;
use crate::npy::for_each_run;
use crate::store::{FileStamp, check_place};

/// A file mapped read-only, at the version `stamp`.
pub(crate) struct Mapped {
    map: Mmap,
    stamp: FileStamp,
}

impl Mapped {
    /// The file's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }
}

/// A map someone may still hold, and the path it maps.
type Held = (String, Weak<Mapped>);

/// The maps someone holds, by path.
static MAPS: LazyLock<Mutex<Vec<Held>>> = LazyLock::new(|| Mutex::new(Vec::new()));

/// Checks that the file at `path` is still at version `stamp`; else an
/// error saying what changed.
pub(crate) fn check(path: &str, stamp: &FileStamp) -> Result<(), String> {
    let now = FileStamp::of(std::path::Path::new(path)).map_err(|e| e.to_string())?;
    if now != *stamp {
        return Err(changed(stamp, &now));
    }
    Ok(())
}

/// The file at `path` mapped read-only, provided it is still at version
/// `stamp`; else an error saying what changed. A map someone holds of
/// that version is shared.
pub(crate) fn map(path: &str, stamp: &FileStamp) -> Result<Arc<Mapped>, String> {
    check(path, stamp)?;
    let shared = {
        let maps = MAPS.lock().unwrap_or_else(|e| e.into_inner());
        maps.iter()
            .filter(|(p, _)| p == path)
            .filter_map(|(_, m)| m.upgrade())
            .find(|m| m.stamp == *stamp)
    };
    if let Some(m) = shared {
        return Ok(m);
    }
    let file = File::open(path).map_err(|e| e.to_string())?;
    let opened = FileStamp::of_meta(&file.metadata().map_err(|e| e.to_string())?);
    if opened != *stamp {
        return Err(changed(stamp, &opened));
    }
    // SAFETY: the map is read-only and shared (`MAP_SHARED`, `PROT_READ`);
    // its bytes are only ever read. Rust's rules are kept as long as the
    // file is not changed while mapped: a write would change bytes behind
    // a `&[u8]`, a truncation would make reading them fault. rask checks
    // the file's version before every use (`check`) and documents that
    // files must not be rewritten while read (module docs); this is the
    // contract every memory map (NumPy's `memmap` too) has.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| e.to_string())?;
    let mapped = Arc::new(Mapped { map, stamp: *stamp });
    let mut maps = MAPS.lock().unwrap_or_else(|e| e.into_inner());
    maps.retain(|(_, m)| m.strong_count() > 0);
    maps.push((path.to_string(), Arc::downgrade(&mapped)));
    Ok(mapped)
}

fn changed(then: &FileStamp, now: &FileStamp) -> String {
    format!(
        "the file changed since the array was opened (then {then:?}, now {now:?}); \
         open it again"
    )
}

/// A region of a mapped file whose bytes are the elements as they are
/// (native byte order, aligned): a tile a consumer reads in place, with no
/// copy. `strides` are in elements, from `offset` (in bytes).
pub(crate) struct MappedRegion<T> {
    map: Arc<Mapped>,
    offset: usize,
    shape: Vec<usize>,
    strides: Vec<usize>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: rask_core::codec::BlockElement> MappedRegion<T> {
    /// The region at byte `offset` of `map`, of `shape` with element
    /// `strides`, if its bytes lie in the map and can be seen as `T`s in
    /// place.
    pub(crate) fn new(
        map: Arc<Mapped>,
        offset: usize,
        shape: Vec<usize>,
        strides: Vec<usize>,
    ) -> Option<Self> {
        let r = MappedRegion {
            map,
            offset,
            shape,
            strides,
            _t: std::marker::PhantomData,
        };
        r.view()?;
        Some(r)
    }

    /// The elements, in place.
    pub(crate) fn view(&self) -> Option<ArrayViewD<'_, T>> {
        let item = std::mem::size_of::<T>();
        // One past the last element's index.
        let span = if self.shape.contains(&0) {
            0
        } else {
            1 + self
                .shape
                .iter()
                .zip(&self.strides)
                .map(|(&n, &s)| (n - 1) * s)
                .sum::<usize>()
        };
        let bytes = self
            .map
            .bytes()
            .get(self.offset..self.offset + span * item)?;
        let elems = T::le_slice(bytes)?;
        ArrayViewD::from_shape(IxDyn(&self.shape).strides(IxDyn(&self.strides)), elems).ok()
    }
}

/// The elements of a value a region kernel made: a block (`ArrayD`) or a
/// region of a mapped file seen in place ([`MappedRegion`]).
pub(crate) fn region_view<T: Element>(
    v: &Value,
    position: usize,
) -> Result<ArrayViewD<'_, T>, TaskError> {
    if let Some(m) = v.downcast_ref::<MappedRegion<T>>() {
        return m
            .view()
            .ok_or_else(|| TaskError::failed("a region of a mapped file lies outside the file"));
    }
    Ok(v.get::<ArrayD<T>>(position)?.view())
}

/// Where the elements of an array stored whole in a file are: a `.npy`
/// file's data or a raw binary file.
pub(crate) struct Elements<'a> {
    /// Where the first element starts.
    pub data_offset: u64,
    /// The array's shape.
    pub shape: &'a [usize],
    /// First axis fastest, else last.
    pub fortran_order: bool,
    /// Big-endian elements, else little-endian.
    pub big_endian: bool,
}

/// The elements at `start` of shape `shape` (in the array's axes) of the
/// mapped file, as a region kernel's value: seen in place where the
/// elements are native (not byte-swapped, not `bool`) and aligned in the
/// map, else copied out run by run.
pub(crate) fn tile<T: Element>(
    map: &Arc<Mapped>,
    at: &Elements<'_>,
    start: &[usize],
    shape: &[usize],
) -> Result<Value, String> {
    check_place(at.shape, start, shape)?;
    Ok(match in_place::<T>(map, at, start, shape) {
        Some(region) => Value::new(region),
        None => block_value(copied::<T>(map.bytes(), at, start, shape)?),
    })
}

/// The region in place, where it can be seen so.
fn in_place<T: Element>(
    map: &Arc<Mapped>,
    at: &Elements<'_>,
    start: &[usize],
    shape: &[usize],
) -> Option<MappedRegion<T>> {
    if at.big_endian || T::DTYPE == "bool" {
        return None;
    }
    // Element strides of the array's axes in the file.
    let n = at.shape.len();
    let mut strides = vec![1usize; n];
    if at.fortran_order {
        for a in 1..n {
            strides[a] = strides[a - 1] * at.shape[a - 1];
        }
    } else {
        for a in (0..n.saturating_sub(1)).rev() {
            strides[a] = strides[a + 1] * at.shape[a + 1];
        }
    }
    let first: usize = start.iter().zip(&strides).map(|(s, st)| s * st).sum();
    let offset = usize::try_from(at.data_offset).ok()? + first * size_of::<T>();
    MappedRegion::new(map.clone(), offset, shape.to_vec(), strides)
}

/// The region copied out of `bytes` (the whole file), run by run.
fn copied<T: Element>(
    bytes: &[u8],
    at: &Elements<'_>,
    start: &[usize],
    shape: &[usize],
) -> Result<ArrayD<T>, String> {
    let item = size_of::<T>();
    let len: usize = shape.iter().product();
    let data = usize::try_from(at.data_offset)
        .ok()
        .and_then(|o| bytes.get(o..))
        .unwrap_or_default();
    // A Fortran-order file is a C-order file of the reversed shape.
    let stored = |v: &[usize]| -> Vec<usize> {
        if at.fortran_order {
            v.iter().rev().copied().collect()
        } else {
            v.to_vec()
        }
    };
    let mut out = vec![T::default(); len];
    let mut pos = 0usize;
    for_each_run::<String>(
        &stored(at.shape),
        &stored(start),
        &stored(shape),
        |off, run| {
            let (from, n) = (off as usize * item, run as usize);
            let src = data.get(from..from + n * item).ok_or_else(|| {
                format!(
                    "the file holds {} bytes of data, fewer than its layout says: it is truncated",
                    data.len()
                )
            })?;
            let dest = out
                .get_mut(pos..pos + n)
                .ok_or("the runs read exceed the region")?;
            decode_run(src, dest, at.big_endian)?;
            pos += n;
            Ok(())
        },
    )?;
    if pos != len {
        return Err(format!("read {pos} of the region's {len} elements"));
    }
    c_order(shape, at.fortran_order, out)
}

/// Decodes `src`, the file's bytes of `dest.len()` elements in its byte
/// order, into `dest`: copied as they are where they are the machine's
/// (little-endian numbers), else element by element.
pub(crate) fn decode_run<T: Element>(
    src: &[u8],
    dest: &mut [T],
    big_endian: bool,
) -> Result<(), String> {
    if !big_endian && cfg!(target_endian = "little") && T::DTYPE != "bool" {
        return T::read_le(src, dest);
    }
    for (d, b) in dest.iter_mut().zip(src.chunks_exact(size_of::<T>())) {
        *d = T::from_npy_bytes(b, big_endian);
    }
    Ok(())
}

/// The elements `elems` of a region of `shape`, read in the file's order
/// (first axis fastest when `fortran_order`), as a C-order array.
pub(crate) fn c_order<T: Clone>(
    shape: &[usize],
    fortran_order: bool,
    elems: Vec<T>,
) -> Result<ArrayD<T>, String> {
    let a = if fortran_order {
        ArrayD::from_shape_vec(IxDyn(shape).f(), elems).map(|a| a.as_standard_layout().into_owned())
    } else {
        ArrayD::from_shape_vec(IxDyn(shape), elems)
    };
    a.map_err(|e| e.to_string())
}

/// The part of a file read layer's region kernel that every format shares:
/// where a region of a block lies in the array, and the file's map, made
/// by the first tile read and shared by the layer's tasks.
#[derive(Serialize, Deserialize)]
pub(crate) struct Tiles {
    /// The blocks' lengths along every axis.
    chunks: Vec<Vec<usize>>,
    #[serde(skip)]
    map: OnceLock<Arc<Mapped>>,
}

impl Tiles {
    /// The tiles of blocks split as `chunks`.
    pub(crate) fn new(chunks: &Chunks) -> Self {
        Tiles {
            chunks: (0..chunks.ndim())
                .map(|a| chunks.axis(a).to_vec())
                .collect(),
            map: OnceLock::new(),
        }
    }

    /// Region `region` of block `idx` of the array whose elements lie in
    /// the file at `path` (version `stamp`) as `at` says: a whole block
    /// from `whole(start, shape)` (the format's block read), a smaller
    /// region from the map ([`tile`]). Errors name the block, the region
    /// and `what` (the file, as the format calls it).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn read<T: Element>(
        &self,
        path: &str,
        stamp: &FileStamp,
        at: &Elements<'_>,
        idx: &[usize],
        region: &Region,
        what: &str,
        whole: impl FnOnce(&[usize], &[usize]) -> Result<ArrayD<T>, String>,
    ) -> Result<Value, TaskError> {
        let mut block_start = Vec::with_capacity(idx.len());
        let mut block_shape = Vec::with_capacity(idx.len());
        for (a, &i) in idx.iter().enumerate() {
            match self
                .chunks
                .get(a)
                .and_then(|l| Some((l.get(..i)?, l.get(i)?)))
            {
                Some((before, &n)) => {
                    block_start.push(before.iter().sum::<usize>());
                    block_shape.push(n);
                }
                None => break,
            }
        }
        if block_shape.len() != self.chunks.len() || region.len() != self.chunks.len() {
            return Err(TaskError::failed(format!(
                "block {idx:?} or region {region:?} does not fit the chunks of {what}"
            )));
        }
        let start: Vec<usize> = block_start
            .iter()
            .zip(region)
            .map(|(s, r)| s + r.start)
            .collect();
        let shape = region_shape(region);
        let read = if shape == block_shape {
            whole(&start, &shape).map(block_value)
        } else {
            self.map(path, stamp)
                .and_then(|m| tile::<T>(m, at, &start, &shape))
        };
        read.map_err(|e| {
            TaskError::failed(format!(
                "reading block {idx:?} (elements from {start:?}, shape {}) of {what}: {e}",
                fmt_shape(&shape)
            ))
        })
    }

    /// The file's map, checked to be of version `stamp`.
    fn map(&self, path: &str, stamp: &FileStamp) -> Result<&Arc<Mapped>, String> {
        if let Some(m) = self.map.get() {
            check(path, stamp)?;
            return Ok(m);
        }
        let m = map(path, stamp)?;
        Ok(self.map.get_or_init(|| m))
    }
}
