//! Raw binary files: [`Array::from_raw`] reads a file that holds nothing
//! but the elements of one array — a given element type, shape, byte
//! order and memory order, after an optional header of `offset` bytes —
//! block by block, as NumPy's `np.memmap(path, dtype, 'r', offset, shape)`
//! or `np.fromfile` read it.
//!
//! Opening checks only that the file is long enough for the layout; each
//! block task opens the file again and reads just the bytes of its block
//! by range (`pread`), one read per contiguous run, nearby runs together.
//! The layer is region-capable (`RawRegion`), as `.npy` reads are: a
//! consumer that reduces a block tile by tile reads each tile from the
//! file inside its own task, seen in place in the file's shared memory map
//! where the elements need no swapping (see `crate::mapped`), so the block
//! is never stored.
//!
//! Block reads are registered region kernels (`RawRegion`) whose
//! parameters hold the absolute path and the layout, so a graph can run in
//! another process on the same filesystem; a layer's name is derived from
//! the layout, the file's stamp (size, modification time, inode) and the
//! chunks. The byte-range reader here, `read_region`, is shared with the
//! FITS reader.

use std::fs::File;
use std::marker::PhantomData;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use ndarray::ArrayD;
use rask_core::{Error, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::{Array, Region};
use crate::chunks::{Chunks, IntoChunks, fmt_shape};
use crate::element::Element;
use crate::kernels::elem_name;
use crate::mapped;
use crate::region::{RegionKernel, RegionRef, register_region_for};
use crate::store::{FileStamp, check_place, file_path};

/// Runs closer than this in the file are read with one read.
const MAX_GAP: u64 = 8 << 10;
/// The most bytes one read moves (bounds a task's buffer).
const MAX_IO: u64 = 8 << 20;

/// How the elements of a raw binary file are laid out: the array's shape,
/// where the data starts, the byte order and the memory order.
///
/// ```
/// use rask_array::raw::RawLayout;
/// let layout = RawLayout::new(&[512, 512]).offset(2880).big_endian(true);
/// assert_eq!(layout.shape(), &[512, 512]);
/// assert_eq!(layout.data_offset(), 2880);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawLayout {
    shape: Vec<usize>,
    offset: u64,
    big_endian: bool,
    fortran_order: bool,
}

impl RawLayout {
    /// Elements of an array of `shape`, from the start of the file,
    /// little-endian, in C order (last axis fastest).
    pub fn new(shape: &[usize]) -> Self {
        RawLayout {
            shape: shape.to_vec(),
            offset: 0,
            big_endian: false,
            fortran_order: false,
        }
    }

    /// The data starts `offset` bytes into the file (after a header).
    #[must_use]
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// The elements are big-endian (`'>'` in a NumPy dtype) when
    /// `big_endian`, else little-endian.
    #[must_use]
    pub fn big_endian(mut self, big_endian: bool) -> Self {
        self.big_endian = big_endian;
        self
    }

    /// The elements are in Fortran order (first axis fastest) when
    /// `fortran_order`, else in C order.
    #[must_use]
    pub fn fortran_order(mut self, fortran_order: bool) -> Self {
        self.fortran_order = fortran_order;
        self
    }

    /// The array's shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Where the data starts in the file, in bytes.
    pub fn data_offset(&self) -> u64 {
        self.offset
    }
}

/// The bytes `item * product(shape)` of an array of `shape`, or `None` on
/// overflow.
pub(crate) fn nbytes(shape: &[usize], item: usize) -> Option<u64> {
    shape
        .iter()
        .try_fold(item as u64, |acc, &n| acc.checked_mul(n as u64))
}

/// Reads the bytes of the block at `start` of shape `shape` of a C-order
/// array of shape `array_shape` whose `item`-byte elements start at byte
/// `data_offset` of `file`: the block's elements in C order, as stored.
/// One read per run of the block that is contiguous in the file, runs
/// closer than [`MAX_GAP`] read together, no read above [`MAX_IO`].
pub(crate) fn read_region(
    file: &File,
    data_offset: u64,
    array_shape: &[usize],
    item: usize,
    start: &[usize],
    shape: &[usize],
) -> std::io::Result<Vec<u8>> {
    let item = item as u64;
    let len = nbytes(shape, item as usize).unwrap_or(u64::MAX);
    let mut out: Vec<u8> =
        Vec::with_capacity(usize::try_from(len).unwrap_or(0).min(MAX_IO as usize));
    let piece = (MAX_IO / item).max(1) * item;
    let mut group: Vec<(u64, u64)> = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut flush = |group: &mut Vec<(u64, u64)>, out: &mut Vec<u8>| -> std::io::Result<()> {
        let (Some(&(first, _)), Some(&(last, last_len))) = (group.first(), group.last()) else {
            return Ok(());
        };
        buf.resize((last + last_len - first) as usize, 0);
        file.read_exact_at(&mut buf, data_offset + first)?;
        for &(off, n) in group.iter() {
            out.extend_from_slice(&buf[(off - first) as usize..(off - first + n) as usize]);
        }
        group.clear();
        Ok(())
    };
    crate::npy::for_each_run::<std::io::Error>(array_shape, start, shape, |off, run| {
        let (mut off, end) = (off * item, (off + run) * item);
        while off < end {
            let n = piece.min(end - off);
            if let (Some(&(first, _)), Some(&(last, last_len))) = (group.first(), group.last())
                && (off - (last + last_len) > MAX_GAP || off + n - first > MAX_IO)
            {
                flush(&mut group, &mut out)?;
            }
            group.push((off, n));
            off += n;
        }
        Ok(())
    })?;
    flush(&mut group, &mut out)?;
    Ok(out)
}

/// The layout as a block task holds it: the file's absolute path and
/// stamp (part of the layer name) beside the layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct RawFile {
    path: String,
    stamp: FileStamp,
    layout: RawLayout,
}

impl RawFile {
    /// Where the elements are in the file.
    fn elements(&self) -> mapped::Elements<'_> {
        mapped::Elements {
            data_offset: self.layout.offset,
            shape: &self.layout.shape,
            fortran_order: self.layout.fortran_order,
            big_endian: self.layout.big_endian,
        }
    }
}

/// Any region of any block of a raw binary file: the layer's region
/// kernel. A whole block is read by range (`pread`); a smaller region (a
/// tile a consumer reduces) is seen in the file's memory map, or copied
/// out of it where the elements need swapping (see [`crate::mapped`]).
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct RawRegion<T> {
    file: RawFile,
    tiles: mapped::Tiles,
    _t: PhantomData<T>,
}

impl<T: Element> RegionKernel for RawRegion<T> {
    const NAME: &'static str = elem_name!("rask.array.from_raw.region", T);
    fn eval(
        &self,
        _: &[Value],
        idx: &[usize],
        region: &Region,
        _: Option<&[usize]>,
    ) -> std::result::Result<Value, TaskError> {
        let f = &self.file;
        self.tiles.read(
            &f.path,
            &f.stamp,
            &f.elements(),
            idx,
            region,
            &format!("the raw file {}", f.path),
            |start, shape| read_raw_block::<T>(f, start, shape),
        )
    }
}

register_region_for!(elements: RawRegion);

/// Reads the block at `start` of shape `shape` (in the array's axes).
fn read_raw_block<T: Element>(
    raw: &RawFile,
    start: &[usize],
    shape: &[usize],
) -> std::result::Result<ArrayD<T>, String> {
    let layout = &raw.layout;
    check_place(&layout.shape, start, shape)?;
    let item = size_of::<T>();
    let mut elems: Vec<T> = Vec::new();
    if !shape.contains(&0) {
        let file = File::open(&raw.path).map_err(|e| e.to_string())?;
        let need = layout.offset + nbytes(&layout.shape, item).unwrap_or(u64::MAX);
        let has = file.metadata().map_err(|e| e.to_string())?.len();
        if has < need {
            return Err(format!(
                "the file shrank since the array was opened: it has {has} bytes, the layout needs \
                 {need}; open it again"
            ));
        }
        // A Fortran-order file is a C-order file of the reversed shape.
        let rev = |v: &[usize]| -> Vec<usize> {
            if layout.fortran_order {
                v.iter().rev().copied().collect()
            } else {
                v.to_vec()
            }
        };
        let bytes = read_region(
            &file,
            layout.offset,
            &rev(&layout.shape),
            item,
            &rev(start),
            &rev(shape),
        )
        .map_err(|e| e.to_string())?;
        elems = vec![T::default(); bytes.len() / item];
        mapped::decode_run(&bytes, &mut elems, layout.big_endian)?;
    }
    mapped::c_order(shape, layout.fortran_order, elems)
}

fn bad_file(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::invalid("raw file", format!("{}: {msg}", path.display()))
}

impl<T: Element> Array<T> {
    /// Opens the raw binary file at `path` — the little-endian, C-order
    /// elements of an array of `shape`, starting `offset` bytes into the
    /// file — as an array split into `chunks`, like NumPy's
    /// `np.memmap(path, dtype, 'r', offset, shape)`. Nothing is read now:
    /// each block reads its bytes when it is computed. See
    /// [`Array::from_raw_with`] for big-endian or Fortran-order files.
    ///
    /// Fails, naming the path, when the file is missing or shorter than
    /// `offset` plus the array's bytes (a longer file is fine: the rest is
    /// ignored, as `np.memmap` does).
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::Array;
    /// let path = std::env::temp_dir().join(format!("rask-doc-raw-{}.bin", std::process::id()));
    /// let bytes: Vec<u8> = (0u16..12).flat_map(|v| v.to_le_bytes()).collect();
    /// std::fs::write(&path, [&[0u8; 4][..], &bytes].concat()).unwrap(); // a 4-byte header
    /// let x = Array::<u16>::from_raw(&path, &[3, 4], &[2, 4], 4).unwrap();
    /// assert_eq!(x.compute().unwrap()[[2, 3]], 11);
    /// assert!(Array::<u16>::from_raw(&path, &[4, 4], &[2, 4], 4).is_err()); // too short
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn from_raw(
        path: impl AsRef<Path>,
        shape: &[usize],
        chunks: impl IntoChunks,
        offset: u64,
    ) -> Result<Self> {
        Self::from_raw_with(path, &RawLayout::new(shape).offset(offset), chunks)
    }

    /// Opens the raw binary file at `path`, laid out as `layout` says
    /// (shape, offset, byte order, memory order), as an array split into
    /// `chunks`; otherwise as [`Array::from_raw`].
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::Array;
    /// use rask_array::raw::RawLayout;
    /// let path = std::env::temp_dir().join(format!("rask-doc-raw-be-{}.bin", std::process::id()));
    /// let bytes: Vec<u8> = [1.5f32, -2.0, 3.25, 4.0].iter().flat_map(|v| v.to_be_bytes()).collect();
    /// std::fs::write(&path, bytes).unwrap();
    /// let layout = RawLayout::new(&[2, 2]).big_endian(true).fortran_order(true);
    /// let x = Array::<f32>::from_raw_with(&path, &layout, &[1, 2]).unwrap();
    /// assert_eq!(x.compute().unwrap()[[0, 1]], 3.25); // column-major: (0, 1) is the third
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn from_raw_with(
        path: impl AsRef<Path>,
        layout: &RawLayout,
        chunks: impl IntoChunks,
    ) -> Result<Self> {
        let path = path.as_ref();
        let stamp = FileStamp::of(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(bad_file(path, "it is a directory, not a file"));
        }
        let data = nbytes(&layout.shape, size_of::<T>()).ok_or_else(|| {
            bad_file(
                path,
                format!("the shape {} is too large", fmt_shape(&layout.shape)),
            )
        })?;
        let need = layout.offset.saturating_add(data);
        if stamp.size() < need {
            return Err(bad_file(
                path,
                format!(
                    "the file is too short: {} elements of {} from byte {} need {need} bytes, but \
                     the file has {}; check the shape, the element type and the offset",
                    fmt_shape(&layout.shape),
                    T::DTYPE,
                    layout.offset,
                    stamp.size()
                ),
            ));
        }
        let chunks: Chunks = chunks.into_chunks(&layout.shape, size_of::<T>())?;
        let file = RawFile {
            path: file_path(path)?,
            stamp,
            layout: layout.clone(),
        };
        // Region-capable, as `from_npy`: a consumer reducing tiles of a
        // block reads them from the file inside its own task.
        let tiles = mapped::Tiles::new(&chunks);
        Ok(Array::region_layer(
            "from-raw",
            chunks,
            Vec::new(),
            RegionRef::new(RawRegion::<T> {
                file,
                tiles,
                _t: PhantomData,
            }),
            Arc::new(|_: &[usize]| Vec::new()),
            0,
            1,
        ))
    }
}
