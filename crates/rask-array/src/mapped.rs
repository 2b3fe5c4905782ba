//! Read-only memory maps of the files whose blocks are read a tile at a
//! time.
//!
//! A consumer that evaluates a stored file's block region by region (a
//! reduction of `x + x.T`, tile by tile) would make one `pread` per row of
//! every tile: hundreds of system calls per tile. Through a map, a tile is
//! copied out of the page cache by the CPU, row by row, with no call at
//! all; the page cache is the same one `pread` reads.
//!
//! A map lives as long as someone holds it: the region kernel of a read
//! layer keeps the map it first used, so every task of a computation
//! shares one map and a page one task faulted in stays mapped for the
//! next; when the array (and every graph made from it) is dropped, the
//! file is unmapped. Layers that read
//! the same version of a file share its map while any of them holds it.
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
use std::sync::{Arc, LazyLock, Mutex, Weak};

use memmap2::Mmap;
use ndarray::{ArrayViewD, IxDyn, ShapeBuilder};

use crate::store::FileStamp;

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
pub(crate) fn region_view<T: crate::element::Element>(
    v: &rask_core::Value,
    position: usize,
) -> Result<ArrayViewD<'_, T>, rask_core::TaskError> {
    if let Some(m) = v.downcast_ref::<MappedRegion<T>>() {
        return m.view().ok_or_else(|| {
            rask_core::TaskError::failed("a region of a mapped file lies outside the file")
        });
    }
    Ok(v.get::<ndarray::ArrayD<T>>(position)?.view())
}
