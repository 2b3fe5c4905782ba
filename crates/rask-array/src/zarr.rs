//! Zarr arrays on the local filesystem: [`Array::from_zarr`] reads one
//! block by block, [`Array::to_zarr`] writes one chunk by chunk, so
//! neither holds the whole array in memory.
//!
//! A Zarr array is a directory: its metadata (`zarr.json` for Zarr v3,
//! `.zarray` for v2) names the shape, the data type, a grid of chunks and
//! the codecs that encode each chunk, and every chunk is a file of its
//! own. Reading and writing go through the `zarrs` crate, which decodes
//! and encodes the chunks.
//!
//! Reading opens the metadata once, eagerly: the shape, the data type
//! (which must be the element type asked for) and the store's chunk grid.
//! Each block task then reads only its own region of the store — the
//! chunks it overlaps, decoded and cut to the block — so a store larger
//! than memory is read in pieces. [`Array::from_zarr`] splits the
//! array along the store's own chunks (what Dask's `from_zarr` does), so
//! that every block is exactly one chunk; [`Array::from_zarr_with_chunks`]
//! takes any other chunking.
//!
//! Writing makes a Zarr v3 array whose regular chunk grid is the array's
//! blocks (the blocks must therefore be regular: equal along each axis
//! but for a smaller last one), with the `bytes` codec (little-endian)
//! and optionally `gzip` or `zstd` ([`ZarrCompression`]), any JSON
//! attributes, and the fill value 0 (`false`). Each block task
//! encodes and writes its own chunk, in parallel; a chunk that is all
//! zeros is not stored at all (readers fill it in), as zarr-python does by
//! default. The store is written
//! under a temporary name next to the path and renamed to the path only
//! once every chunk is written, as [`Array::to_npy`] does: a failed
//! compute leaves nothing at the path, and an array read from a store can
//! be written back over it.
//!
//! An existing array can also be written into: a region of it
//! ([`Array::to_zarr_region`]) or past its end along an axis
//! ([`Array::append_to_zarr`]), blocks in parallel without a lock once
//! checked to write disjoint stored chunks (see the `region` submodule).
//!
//! Block reads and writes are registered kernels (`ReadZarrBlock`,
//! `WriteZarrBlock`) whose parameters hold the store's absolute path and
//! the block's place, so a graph can run in another process on the same
//! filesystem. A task opens the store itself; a process keeps the few
//! stores it opened last, by path and the stamp (size, modification time,
//! inode) of their metadata file, so the blocks of a graph open it once. A
//! read layer's name is derived from the path, that stamp and the chunks:
//! the same store read twice has the same keys, a rewritten one new keys.
//!
//! rask builds `zarrs` with a lean set of codecs: `bytes`, `gzip`,
//! `zstd` (zarr-python's default compressor), `crc32c`, `transpose` and
//! `sharding_indexed` — not `blosc` (a larger C library). Opening a store
//! that uses another codec fails with an error that names it.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use ndarray::{ArrayD, IxDyn};
use rask_core::{Collection, Error, Executor, Kernel, Op, Result, TaskError, Value};
use serde::{Deserialize, Serialize};
use zarrs::array::codec::{GzipCodec, ZstdCodec};
use zarrs::array::{
    ArrayBuilder, ArrayBytes, ArrayBytesFixedDisjointView, ArrayCreateError, ArrayMetadata,
    ArrayMetadataOptions, ArraySubset, CodecOptions, DataType, FillValue, data_type,
};
use zarrs::filesystem::FilesystemStore;

use crate::array::{Array, BlockTask, block_value};
use crate::chunks::{Chunks, IntoChunks, fmt_shape};
use crate::element::Element;
use crate::kernels::{elem_name, register_elements};
use crate::npy::temp_sibling;
use crate::store::{BlockWrite, FileStamp, check_place, file_path, write_arg};

mod options;
mod region;

pub use options::{ZarrCompression, ZarrWriteOptions};

/// The `serde_json` crate, for the attributes of [`ZarrWriteOptions`]
/// (`zarr::serde_json::json!({"units": "DN"})`).
pub use serde_json;

/// A Zarr array opened through `zarrs`.
type Store = zarrs::array::Array<FilesystemStore>;

/// Makes one of `zarrs`' built-in data types.
type MakeDataType = fn() -> DataType;

/// The data types rask arrays hold, by NumPy's name (which is also the
/// Zarr v3 name).
const DATA_TYPES: [(&str, MakeDataType); 13] = [
    ("bool", data_type::bool),
    ("int8", data_type::int8),
    ("int16", data_type::int16),
    ("int32", data_type::int32),
    ("int64", data_type::int64),
    ("uint8", data_type::uint8),
    ("uint16", data_type::uint16),
    ("uint32", data_type::uint32),
    ("uint64", data_type::uint64),
    ("float32", data_type::float32),
    ("float64", data_type::float64),
    ("complex64", data_type::complex64),
    ("complex128", data_type::complex128),
];

/// The Zarr data type of `T`.
fn data_type_of<T: Element>() -> DataType {
    let (_, make) = DATA_TYPES
        .iter()
        .find(|(name, _)| *name == T::DTYPE)
        .expect("every element type has a Zarr data type");
    make()
}

/// NumPy's name for a stored data type, or `None` when rask arrays cannot
/// hold it.
fn numpy_name(dt: &DataType) -> Option<&'static str> {
    DATA_TYPES
        .iter()
        .find(|(_, make)| make() == *dt)
        .map(|(name, _)| *name)
}

/// Codec options for one block task: rask runs the blocks in parallel,
/// so a task decodes and encodes on its own thread.
fn codec_options() -> CodecOptions {
    CodecOptions::default().with_concurrent_target(1)
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn bad_store(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::invalid("zarr array", format!("{}: {msg}", path.display()))
}

/// What the metadata of a Zarr array says.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, zarr};
/// let path = std::env::temp_dir().join(format!("rask-doc-zarr-meta-{}", std::process::id()));
/// Array::<i16>::zeros(&[5, 4], &[2, 4]).unwrap().to_zarr(&path).unwrap();
/// let meta = zarr::read_metadata(&path).unwrap();
/// assert_eq!(meta.zarr_format, 3);
/// assert_eq!(meta.shape, vec![5, 4]);
/// assert_eq!(meta.dtype, "int16");
/// assert_eq!(meta.chunks.as_slices(), &[vec![2, 2, 1], vec![4]]);
/// std::fs::remove_dir_all(&path).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZarrMetadata {
    /// The Zarr format version of the metadata: 2 or 3.
    pub zarr_format: u8,
    /// The array's shape.
    pub shape: Vec<usize>,
    /// The data type: NumPy's name (`"float64"`) for the types rask arrays
    /// hold, else the name Zarr gives it.
    pub dtype: String,
    /// The store's chunks, clipped to the shape (the chunks of a sharded
    /// array are its shards).
    pub chunks: Chunks,
}

/// Reads the metadata of the Zarr array at `path` (not its chunks).
///
/// Fails naming the path when it is missing, is not a Zarr array (a
/// directory with `zarr.json` or `.zarray`), or uses a codec or data type
/// that this build of `zarrs` does not know.
pub fn read_metadata(path: impl AsRef<Path>) -> Result<ZarrMetadata> {
    let path = path.as_ref();
    let store = open(path)?;
    Ok(ZarrMetadata {
        zarr_format: match store.metadata() {
            ArrayMetadata::V2(_) => 2,
            ArrayMetadata::V3(_) => 3,
        },
        shape: shape_of(path, &store)?,
        dtype: numpy_name(store.data_type())
            .map(str::to_string)
            .unwrap_or_else(|| store.data_type().to_string()),
        chunks: native_chunks(path, &store)?,
    })
}

/// Opens the Zarr array at `path`, with errors that name it.
fn open(path: &Path) -> Result<Store> {
    let meta = std::fs::metadata(path).map_err(|source| io_error(path, source))?;
    if !meta.is_dir() {
        return Err(bad_store(
            path,
            "not a Zarr array: it is a file, and a Zarr array on disk is a directory \
             holding zarr.json (Zarr v3) or .zarray (Zarr v2)",
        ));
    }
    let has = |name: &str| path.join(name).exists();
    if !has("zarr.json") && !has(".zarray") {
        let what = if has(".zgroup") {
            "it is a Zarr v2 group; open one of its arrays (a subdirectory)"
        } else {
            "it holds no zarr.json (Zarr v3) or .zarray (Zarr v2) metadata"
        };
        return Err(bad_store(path, format!("not a Zarr array: {what}")));
    }
    // Absolute, as block tasks may use the store after the working
    // directory changed.
    let absolute = std::path::absolute(path).map_err(|source| io_error(path, source))?;
    let fs = FilesystemStore::new(absolute).map_err(|e| bad_store(path, e))?;
    Store::open(Arc::new(fs), "/").map_err(|e| match e {
        ArrayCreateError::CodecsCreateError(e) => bad_store(
            path,
            format!(
                "its codecs cannot be read: {e}; rask reads the Zarr codecs bytes, gzip, zstd, \
                 crc32c, transpose and sharding_indexed (not blosc): rewrite the store with those \
                 (in zarr-python: compressors=zarr.codecs.ZstdCodec())"
            ),
        ),
        e if has("zarr.json") && is_group(path) => bad_store(
            path,
            format!("not a Zarr array: it is a Zarr group; open one of its arrays ({e})"),
        ),
        e => bad_store(path, format!("cannot open it as a Zarr array: {e}")),
    })
}

/// Whether `path/zarr.json` describes a group.
fn is_group(path: &Path) -> bool {
    std::fs::read(path.join("zarr.json"))
        .ok()
        .and_then(|text| serde_json::from_slice::<serde_json::Value>(&text).ok())
        .is_some_and(|meta| meta["node_type"] == "group")
}

fn shape_of(path: &Path, store: &Store) -> Result<Vec<usize>> {
    store
        .shape()
        .iter()
        .map(|&n| usize::try_from(n))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            bad_store(
                path,
                format!(
                    "the shape {:?} does not fit in memory addresses",
                    store.shape()
                ),
            )
        })
}

/// The store's chunk grid as rask chunks: along each axis, the lengths of
/// the chunks clipped to the array.
fn native_chunks(path: &Path, store: &Store) -> Result<Chunks> {
    let shape = shape_of(path, store)?;
    let grid = store.chunk_grid_shape().to_vec();
    let blocks = grid
        .iter()
        .zip(&shape)
        .map(|(&g, &len)| if len == 0 { 1 } else { g })
        .try_fold(1u64, |acc, g| acc.checked_mul(g));
    if blocks.is_none_or(|b| b > crate::chunks::MAX_BLOCKS as u64) {
        return Err(bad_store(
            path,
            format!(
                "its chunk grid {grid:?} has more than {} chunks; rechunk the store into \
                 larger chunks",
                crate::chunks::MAX_BLOCKS
            ),
        ));
    }
    let mut per_axis = Vec::with_capacity(shape.len());
    for (axis, &len) in shape.iter().enumerate() {
        if len == 0 {
            per_axis.push(vec![0]);
            continue;
        }
        let mut sizes = Vec::with_capacity(grid[axis] as usize);
        let mut index = vec![0u64; shape.len()];
        for i in 0..grid[axis] {
            index[axis] = i;
            let subset = store
                .chunk_subset_bounded(&index)
                .map_err(|e| bad_store(path, format!("cannot read the chunk grid: {e}")))?;
            sizes.push(subset.shape()[axis] as usize);
        }
        per_axis.push(sizes);
    }
    Chunks::new(per_axis, &shape)
        .map_err(|e| bad_store(path, format!("its chunk grid does not tile the array: {e}")))
}

/// Opens `path` as an array of `T`: the store, its shape and its chunks.
fn open_as<T: Element>(path: &Path) -> Result<(Store, Vec<usize>)> {
    let store = open(path)?;
    let dt = store.data_type();
    match numpy_name(dt) {
        Some(name) if name == T::DTYPE => {}
        Some(name) => {
            return Err(bad_store(
                path,
                format!(
                    "the store holds data type {name}, which does not match the requested element type {}; \
                     read it as Array::<{}>::from_zarr and convert with astype::<{}>() if you need {}",
                    T::DTYPE,
                    crate::element::rust_type(name),
                    crate::element::rust_type(T::DTYPE),
                    T::DTYPE
                ),
            ));
        }
        None => {
            return Err(bad_store(
                path,
                format!(
                    "the store holds data type {dt}, which rask arrays cannot hold; they hold bool, \
                     int8-int64, uint8-uint64, float32 and float64 (requested: {})",
                    T::DTYPE
                ),
            ));
        }
    }
    let shape = shape_of(path, &store)?;
    Ok((store, shape))
}

fn subset(start: &[usize], shape: &[usize]) -> std::result::Result<ArraySubset, String> {
    ArraySubset::new_with_start_shape(
        start.iter().map(|&s| s as u64).collect(),
        shape.iter().map(|&n| n as u64).collect(),
    )
    .map_err(|e| e.to_string())
}

/// The stamp of the metadata file of the Zarr array at `path`
/// (`zarr.json`, else `.zarray`): which version of the store a layer reads.
fn metadata_stamp(path: &Path) -> std::io::Result<FileStamp> {
    FileStamp::of(&path.join("zarr.json")).or_else(|_| FileStamp::of(&path.join(".zarray")))
}

/// How many opened stores [`opened`] keeps.
const KEPT_STORES: usize = 8;

/// Stores opened in this process, by absolute path and the stamp of their
/// metadata when they were opened; most recently opened last.
static OPENED: Mutex<Vec<(String, FileStamp, Arc<Store>)>> = Mutex::new(Vec::new());

/// Keeps `store`, opened from `path` whose metadata had `stamp` before it
/// was opened, for the block tasks of this process.
fn keep_opened(path: String, stamp: FileStamp, store: Arc<Store>) {
    let mut kept = OPENED.lock().unwrap_or_else(PoisonError::into_inner);
    kept.retain(|(p, _, _)| *p != path);
    if kept.len() >= KEPT_STORES {
        kept.remove(0);
    }
    kept.push((path, stamp, store));
}

/// Drops the store opened from `path`, if kept, so that the next
/// [`opened`] opens it again.
fn forget_opened(path: &str) {
    OPENED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|(p, _, _)| p != path);
}

/// The Zarr array of `T` at the absolute `path`, for a block task: opened
/// once per version of its metadata in this process (a graph's blocks read
/// the same few stores), so each task needs only its parameters.
fn opened<T: Element>(path: &str) -> std::result::Result<Arc<Store>, String> {
    let dir = Path::new(path);
    let stamp =
        metadata_stamp(dir).map_err(|e| format!("its metadata cannot be read any more: {e}"))?;
    let kept = OPENED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find(|(p, s, _)| p == path && *s == stamp)
        .map(|(_, _, store)| store.clone());
    let store = match kept {
        Some(store) => store,
        None => {
            let store = Arc::new(open(dir).map_err(|e| e.to_string())?);
            keep_opened(path.to_string(), stamp, store.clone());
            store
        }
    };
    match numpy_name(store.data_type()) {
        Some(name) if name == T::DTYPE => Ok(store),
        _ => Err(format!(
            "the store changed since the array was opened: it now holds data type {} where {} was \
             expected; open it again",
            numpy_name(store.data_type())
                .map(str::to_string)
                .unwrap_or_else(|| store.data_type().to_string()),
            T::DTYPE
        )),
    }
}

/// Reads one block of a Zarr array: its region of the store, from the
/// chunks it overlaps.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct ReadZarrBlock<T> {
    /// The store's absolute path.
    path: String,
    /// The block's index, for errors.
    index: Vec<usize>,
    start: Vec<usize>,
    shape: Vec<usize>,
    _t: PhantomData<T>,
}

impl<T: Element> Kernel for ReadZarrBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.from_zarr", T);
    fn run(&self, _: &[Value]) -> std::result::Result<Value, TaskError> {
        opened::<T>(&self.path)
            .and_then(|store| {
                let shape = shape_of(Path::new(&self.path), &store).map_err(|e| e.to_string())?;
                check_place(&shape, &self.start, &self.shape).map_err(|e| {
                    format!("the store changed since the array was opened: {e}; open it again")
                })?;
                read_block::<T>(&store, &self.start, &self.shape)
            })
            .map(block_value)
            .map_err(|e| {
                TaskError::failed(format!(
                    "reading block {:?} (elements from {:?}, shape {}) of the Zarr array {}: {e}",
                    self.index,
                    self.start,
                    fmt_shape(&self.shape),
                    self.path
                ))
            })
    }
    fn label(&self) -> std::borrow::Cow<'static, str> {
        "from-zarr".into()
    }
}

register_elements!(ReadZarrBlock);

/// Encodes one block into the Zarr array being written, whose chunks are
/// the blocks.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct WriteZarrBlock<T> {
    /// The absolute path of the store being written.
    path: String,
    /// The block's index: the indices of its chunk in the store.
    index: Vec<usize>,
    /// Where the block starts in the array.
    start: Vec<usize>,
    _t: PhantomData<T>,
}

impl<T: Element> Kernel for WriteZarrBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.to_zarr", T);
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        let target = format!("the Zarr array {}", self.path);
        write_arg(
            args,
            &self.index,
            &self.start,
            target,
            |block: &ArrayD<T>| {
                let mut store = opened::<T>(&self.path)?;
                let shape_now = |store: &Store| {
                    shape_of(Path::new(&self.path), store).map_err(|e| e.to_string())
                };
                if check_place(&shape_now(&store)?, &self.start, block.shape()).is_err() {
                    // An append may have grown the array within the
                    // resolution of the metadata's stamp (same size, same
                    // modification time): open it again.
                    forget_opened(&self.path);
                    store = opened::<T>(&self.path)?;
                }
                check_place(&shape_now(&store)?, &self.start, block.shape())?;
                write_block(&store, &self.start, block)
            },
        )
    }
    fn label(&self) -> std::borrow::Cow<'static, str> {
        "to-zarr".into()
    }
}

register_elements!(WriteZarrBlock);

/// The write kernel of each block into the store at `store`, created with
/// the blocks as its chunks.
fn zarr_block_writer<T: Element>(
    store: &Path,
) -> Result<impl Fn(&[usize], &[usize]) -> WriteZarrBlock<T> + use<T>> {
    let path = file_path(store)?;
    Ok(move |index: &[usize], start: &[usize]| WriteZarrBlock {
        path: path.clone(),
        index: index.to_vec(),
        start: start.to_vec(),
        _t: PhantomData,
    })
}

/// Reads the block at `start` of shape `shape` from the store.
fn read_block<T: Element>(
    store: &Store,
    start: &[usize],
    shape: &[usize],
) -> std::result::Result<ArrayD<T>, String> {
    if !shape.contains(&0)
        && let Some(block) = read_block_in_place::<T>(store, start, shape)?
    {
        return Ok(block);
    }
    let elems = if shape.contains(&0) {
        Vec::new()
    } else {
        let bytes: ArrayBytes<'static> = store
            .retrieve_array_subset_opt(&subset(start, shape)?, &codec_options())
            .map_err(|e| e.to_string())?;
        let raw = bytes.into_fixed().map_err(|e| e.to_string())?;
        // zarrs decodes to the machine's byte order.
        let mut out = vec![T::default(); raw.len() / size_of::<T>()];
        crate::mapped::decode_run(&raw, &mut out, cfg!(target_endian = "big"))?;
        out
    };
    ArrayD::from_shape_vec(IxDyn(shape), elems).map_err(|e| e.to_string())
}

/// Reads the block at `start` of shape `shape` by decoding straight into
/// its own memory, where the elements' bytes are the machine's (numbers on
/// a little-endian machine): one buffer and one copy fewer than decoding
/// to bytes first. `None` where that does not apply (zarrs decodes to the
/// machine's byte order, which `le_bytes_mut` gives only where that is
/// little-endian).
#[allow(unsafe_code)]
fn read_block_in_place<T: Element>(
    store: &Store,
    start: &[usize],
    shape: &[usize],
) -> std::result::Result<Option<ArrayD<T>>, String> {
    // The block's size comes from the store's metadata: asked of the
    // allocator, not assumed, so a chunk larger than memory is an error.
    let len = shape
        .iter()
        .try_fold(1usize, |acc, &n| acc.checked_mul(n))
        .ok_or_else(|| {
            format!(
                "a block of shape {} has too many elements",
                fmt_shape(shape)
            )
        })?;
    let mut out: Vec<T> = Vec::new();
    out.try_reserve_exact(len).map_err(|e| {
        format!(
            "cannot hold a block of shape {} ({} bytes) in memory ({e}); read the store with \
             smaller blocks (from_zarr_with_chunks) than its chunks",
            fmt_shape(shape),
            len.saturating_mul(size_of::<T>())
        )
    })?;
    out.resize(len, T::default());
    let Some(bytes) = T::le_bytes_mut(&mut out) else {
        return Ok(None);
    };
    let dims: Vec<u64> = shape.iter().map(|&n| n as u64).collect();
    let whole = ArraySubset::new_with_shape(dims.clone());
    // SAFETY: this is the only view of `bytes` (the whole of them), so no
    // two views overlap, which is what `new` asks.
    let mut view = unsafe {
        ArrayBytesFixedDisjointView::new(
            unsafe_cell_slice::UnsafeCellSlice::new(bytes),
            size_of::<T>(),
            &dims,
            whole,
        )
    }
    .map_err(|e| e.to_string())?;
    store
        .retrieve_array_subset_into_opt(
            &subset(start, shape)?,
            (&mut view).into(),
            &codec_options(),
        )
        .map_err(|e| e.to_string())?;
    ArrayD::from_shape_vec(IxDyn(shape), out)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Encodes `block`, which starts at `start`, into the store.
fn write_block<T: Element>(
    store: &Store,
    start: &[usize],
    block: &ArrayD<T>,
) -> std::result::Result<(), String> {
    if block.is_empty() {
        return Ok(());
    }
    let block = block.as_standard_layout();
    let elems = block
        .as_slice()
        .expect("a standard-layout block is contiguous");
    // zarrs takes the elements in the machine's byte order: on a
    // little-endian machine, numbers are handed over in place.
    let bytes: std::borrow::Cow<'_, [u8]> = match T::le_bytes(elems) {
        Some(b) => std::borrow::Cow::Borrowed(b),
        None => {
            let mut bytes = Vec::with_capacity(std::mem::size_of_val(elems));
            T::extend_le(elems, &mut bytes);
            if cfg!(target_endian = "big") {
                for e in bytes.chunks_exact_mut(size_of::<T>()) {
                    e.reverse();
                }
            }
            std::borrow::Cow::Owned(bytes)
        }
    };
    store
        .store_array_subset_opt(
            &subset(start, block.shape())?,
            ArrayBytes::new_flen(bytes),
            &codec_options(),
        )
        .map_err(|e| e.to_string())
}

/// The chunk shape of a regular Zarr grid matching `chunks`, or an error
/// saying how to make them regular.
fn regular_chunk_shape(path: &Path, chunks: &Chunks) -> Result<Vec<u64>> {
    let mut out = Vec::with_capacity(chunks.ndim());
    for axis in 0..chunks.ndim() {
        let sizes = chunks.axis(axis);
        let first = sizes[0];
        let regular =
            sizes[..sizes.len() - 1].iter().all(|&s| s == first) && sizes[sizes.len() - 1] <= first;
        if !regular {
            let suggestion: Vec<usize> = (0..chunks.ndim())
                .map(|a| chunks.axis(a).iter().copied().max().unwrap_or(0).max(1))
                .collect();
            return Err(Error::invalid(
                "zarr array",
                format!(
                    "cannot write {}: the blocks along axis {axis} have the irregular sizes {sizes:?}, \
                     and a Zarr chunk grid is regular (equal chunks, the last one possibly smaller); \
                     rechunk first, for example with .rechunk(&{suggestion:?})",
                    path.display()
                ),
            ));
        }
        // An empty axis has no chunks; Zarr still wants a chunk length.
        out.push(first.max(1) as u64);
    }
    Ok(out)
}

/// Whether `path` holds something `overwrite` may replace: a Zarr store
/// (array or group) or an empty directory.
fn replaceable(path: &Path) -> bool {
    if !path.is_dir() {
        return false;
    }
    ["zarr.json", ".zarray", ".zgroup"]
        .iter()
        .any(|name| path.join(name).exists())
        || std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none())
}

impl<T: Element> Array<T> {
    /// Opens the Zarr array at `path` (a directory on the local
    /// filesystem, Zarr v3 or v2) as an array split into `chunks`, reading
    /// only the metadata now: each block reads its region of the store
    /// when it is computed, so the store may be larger than memory.
    ///
    /// Chunks that line up with the store's chunks read each stored chunk
    /// once; [`Array::from_zarr`] uses the store's chunks.
    ///
    /// The store's data type must be `T`'s (`float64` for `f64`, `int32`
    /// for `i32`, `bool` for `bool` …). Fails, naming the path, when it is
    /// missing, not a Zarr array, of another data type (read it as that
    /// type and `astype` it), or encoded with a codec rask's `zarrs` build
    /// lacks (blosc). A block whose read fails later fails the
    /// compute with an error naming the path and the block.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::Array;
    /// let path = std::env::temp_dir().join(format!("rask-doc-from-zarr-{}", std::process::id()));
    /// let x = Array::<f64>::arange(0.0, 12.0, 1.0, &[5]).unwrap().reshape(&[3, 4]).unwrap();
    /// x.to_zarr(&path).unwrap();
    /// let y = Array::<f64>::from_zarr_with_chunks(&path, &[2, 2]).unwrap();
    /// assert_eq!(y.numblocks(), vec![2, 2]);
    /// assert_eq!(y.compute().unwrap(), x.compute().unwrap());
    /// assert!(Array::<i32>::from_zarr_with_chunks(&path, &[2, 2]).is_err()); // the store holds float64
    /// std::fs::remove_dir_all(&path).unwrap();
    /// ```
    pub fn from_zarr_with_chunks(path: impl AsRef<Path>, chunks: impl IntoChunks) -> Result<Self> {
        let path = path.as_ref();
        // Before opening: should the metadata change in between, the store
        // is kept as of an older stamp, and block tasks open it again.
        let stamp = metadata_stamp(path).ok();
        let (store, shape) = open_as::<T>(path)?;
        let chunks = chunks.into_chunks(&shape, size_of::<T>())?;
        Self::zarr_layer(path, stamp, store, chunks)
    }

    /// Opens the Zarr array at `path` split along the store's own chunks
    /// (its shards, for a sharded array), as Dask's `from_zarr` does by
    /// default: each block decodes exactly one stored chunk. Otherwise as
    /// [`Array::from_zarr_with_chunks`].
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::Array;
    /// let path = std::env::temp_dir().join(format!("rask-doc-zarr-native-{}", std::process::id()));
    /// Array::<u8>::ones(&[10, 6], &[4, 3]).unwrap().to_zarr(&path).unwrap();
    /// let y = Array::<u8>::from_zarr(&path).unwrap();
    /// assert_eq!(y.chunks().as_slices(), &[vec![4, 4, 2], vec![3, 3]]);
    /// assert_eq!(y.astype::<u64>().sum().compute_scalar().unwrap(), 60);
    /// std::fs::remove_dir_all(&path).unwrap();
    /// ```
    pub fn from_zarr(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let stamp = metadata_stamp(path).ok();
        let (store, _) = open_as::<T>(path)?;
        let chunks = native_chunks(path, &store)?;
        Self::zarr_layer(path, stamp, store, chunks)
    }

    /// The layer of block reads from a store opened when its metadata had
    /// `stamp`; the layer's name is derived from the path and the stamp.
    fn zarr_layer(
        path: &Path,
        stamp: Option<FileStamp>,
        store: Store,
        chunks: Chunks,
    ) -> Result<Self> {
        let text = file_path(path)?;
        // Opened above, so the metadata is there unless it vanished since.
        let stamp = stamp
            .ok_or_else(|| bad_store(path, "its metadata vanished while it was being opened"))?;
        keep_opened(text.clone(), stamp, Arc::new(store));
        let c = chunks.clone();
        let params = (text.clone(), stamp);
        Ok(Array::kernel_layer(
            "from-zarr",
            &params,
            chunks,
            Vec::new(),
            move |idx| BlockTask {
                op: Op::kernel_blockwise(ReadZarrBlock::<T> {
                    path: text.clone(),
                    index: idx.to_vec(),
                    start: c.block_start(idx),
                    shape: c.block_shape(idx),
                    _t: PhantomData,
                }),
                deps: Vec::new(),
            },
        ))
    }

    /// Computes the array on the configured scheduler and writes it to
    /// `path` as a Zarr v3 array whose chunks are the array's blocks
    /// (uncompressed; see [`Array::to_zarr_with`] for zstd or gzip,
    /// attributes and overwrite).
    ///
    /// Fails, naming the path, when something already exists there, or
    /// when the blocks are irregular (a Zarr chunk grid is regular:
    /// `rechunk` first). Blocks are computed in parallel and each is
    /// encoded and written as soon as it is ready, so the whole array is
    /// never in memory. The store is written under a temporary name next
    /// to `path` and renamed to `path` only when every chunk is written: a
    /// failed compute leaves nothing at `path`.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::Array;
    /// let path = std::env::temp_dir().join(format!("rask-doc-to-zarr-{}", std::process::id()));
    /// let x = Array::<i32>::eye(5, &[2, 5]).unwrap();
    /// x.to_zarr(&path).unwrap();
    /// assert!(path.join("zarr.json").exists());
    /// assert!(x.to_zarr(&path).is_err()); // the path exists
    /// let back = Array::<i32>::from_zarr(&path).unwrap();
    /// assert_eq!(back.chunks(), x.chunks());
    /// assert_eq!(back.sum().compute_scalar().unwrap(), 5);
    /// std::fs::remove_dir_all(&path).unwrap();
    /// ```
    pub fn to_zarr(&self, path: impl AsRef<Path>) -> Result<()> {
        self.to_zarr_with(
            path,
            &ZarrWriteOptions::default(),
            &*rask_core::executor::current()?,
        )
    }

    /// Like [`Array::to_zarr`], with `options` (overwrite, compression,
    /// attributes), on
    /// `scheduler`.
    ///
    /// With `overwrite`, a Zarr store (or an empty directory) at `path` is
    /// replaced once the new one is complete; it may be the store the
    /// array is read from. Anything else at `path` is left alone, with an
    /// error.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::Array;
    /// use rask_array::zarr::ZarrWriteOptions;
    /// use rask_local::Scheduler;
    /// let path = std::env::temp_dir().join(format!("rask-doc-to-zarr-with-{}", std::process::id()));
    /// let x = Array::<f32>::ones(&[100], &[25]).unwrap();
    /// x.to_zarr(&path).unwrap();
    /// // Double it in place: read from the store, write over it.
    /// let y = Array::<f32>::from_zarr(&path).unwrap() * 2.0;
    /// let opts = ZarrWriteOptions::new().overwrite(true).gzip(6);
    /// y.to_zarr_with(&path, &opts, &Scheduler::current().unwrap()).unwrap();
    /// let z = Array::<f32>::from_zarr_with_chunks(&path, &[50]).unwrap();
    /// assert_eq!(z.sum().compute_scalar().unwrap(), 200.0);
    /// std::fs::remove_dir_all(&path).unwrap();
    /// ```
    pub fn to_zarr_with(
        &self,
        path: impl AsRef<Path>,
        options: &ZarrWriteOptions,
        scheduler: &(impl Executor + ?Sized),
    ) -> Result<()> {
        let path = path.as_ref();
        self.validate()?;
        let exists = path.symlink_metadata().is_ok();
        if exists && !options.overwrites() {
            return Err(Error::invalid(
                "zarr array",
                format!(
                    "cannot write {}: the path exists; choose another path, remove it, or pass \
                     ZarrWriteOptions::new().overwrite(true) to replace a Zarr store there",
                    path.display()
                ),
            ));
        }
        if exists && !replaceable(path) {
            return Err(Error::invalid(
                "zarr array",
                format!(
                    "cannot overwrite {}: it is not a Zarr store (no zarr.json, .zarray or .zgroup) \
                     nor an empty directory, and rask deletes only those; remove it yourself or \
                     choose another path",
                    path.display()
                ),
            ));
        }
        let builder = self.zarr_builder(path, options)?;
        let tmp = temp_sibling(path);
        let result = (|| {
            create_store(&tmp, path, &builder)?;
            let kernel = zarr_block_writer::<T>(&tmp)?;
            crate::array::compute_on(
                scheduler,
                &BlockWrite {
                    array: self,
                    prefix: "to-zarr",
                    kernel: &kernel,
                },
            )?;
            replace(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }

    /// How `to_zarr_with` makes the store for this array at `path`: the
    /// array's blocks as a regular chunk grid, compressed as `options` say.
    fn zarr_builder(&self, path: &Path, options: &ZarrWriteOptions) -> Result<ArrayBuilder> {
        let chunk_shape = regular_chunk_shape(path, self.chunks())?;
        let mut builder = ArrayBuilder::new(
            self.shape().iter().map(|&n| n as u64).collect::<Vec<_>>(),
            chunk_shape.as_slice(),
            data_type_of::<T>(),
            FillValue::new(vec![0u8; size_of::<T>()]),
        );
        match options.compression() {
            ZarrCompression::None => {}
            ZarrCompression::Gzip(level) => {
                let gzip = GzipCodec::new(level).map_err(|e| {
                    Error::invalid(
                        "gzip level",
                        format!("{level} for {}: {e}; use 0 to 9", path.display()),
                    )
                })?;
                builder.bytes_to_bytes_codecs(vec![Arc::new(gzip)]);
            }
            ZarrCompression::Zstd(level) => {
                if !(-131072..=22).contains(&level) {
                    return Err(Error::invalid(
                        "zstd level",
                        format!(
                            "{level} for {}: zstd levels run from -131072 to 22; use 0 (the \
                             default level) to 22",
                            path.display()
                        ),
                    ));
                }
                builder.bytes_to_bytes_codecs(vec![Arc::new(ZstdCodec::new(level, false))]);
            }
        }
        builder.attributes(options.attributes().clone());
        if let Some(names) = options.axis_names() {
            if names.len() != self.ndim() {
                return Err(Error::invalid(
                    "dimension names",
                    format!(
                        "{names:?} for {}: the array has {} axes; give one name per axis",
                        path.display(),
                        self.ndim()
                    ),
                ));
            }
            builder.dimension_names(Some(names.iter().map(String::as_str)));
        }
        Ok(builder)
    }
}

/// Creates the empty store `tmp` that will become `path`: the directory
/// and the metadata `builder` makes, which the block tasks then open.
fn create_store(tmp: &Path, path: &Path, builder: &ArrayBuilder) -> Result<()> {
    std::fs::create_dir(tmp).map_err(|source| io_error(tmp, source))?;
    let fs = FilesystemStore::new(tmp).map_err(|e| bad_store(tmp, e))?;
    let store = builder
        .build(Arc::new(fs), "/")
        .map_err(|e| bad_store(path, format!("cannot create the Zarr array: {e}")))?;
    store
        .store_metadata_opt(&metadata_options())
        .map_err(|e| bad_store(tmp, format!("cannot write the metadata: {e}")))
}

/// How rask writes metadata: without the `_zarrs` attribute `zarrs` adds
/// by default, so the attributes are the caller's only.
fn metadata_options() -> ArrayMetadataOptions {
    ArrayMetadataOptions::default().with_include_zarrs_metadata(false)
}

/// Moves the finished store `tmp` to `path`, replacing what is there.
fn replace(tmp: &Path, path: &Path) -> Result<()> {
    let Ok(meta) = path.symlink_metadata() else {
        return std::fs::rename(tmp, path).map_err(|source| io_error(path, source));
    };
    // Move the old store aside first, so that `path` is never a mix.
    let old: PathBuf = temp_sibling(path);
    std::fs::rename(path, &old).map_err(|source| io_error(path, source))?;
    if let Err(source) = std::fs::rename(tmp, path) {
        let _ = std::fs::rename(&old, path);
        return Err(io_error(path, source));
    }
    let removed = if meta.is_dir() {
        std::fs::remove_dir_all(&old)
    } else {
        std::fs::remove_file(&old)
    };
    removed.map_err(|source| io_error(&old, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_element_type_has_a_zarr_data_type() {
        fn check<T: Element>() {
            assert_eq!(numpy_name(&data_type_of::<T>()), Some(T::DTYPE));
        }
        check::<bool>();
        check::<i8>();
        check::<i16>();
        check::<i32>();
        check::<i64>();
        check::<u8>();
        check::<u16>();
        check::<u32>();
        check::<u64>();
        check::<f32>();
        check::<f64>();
        assert_eq!(numpy_name(&data_type::float16()), None);
    }

    /// The write graph of `to_zarr`, built as it builds it, is portable:
    /// decoded as another process would, it writes the store.
    #[test]
    fn write_graphs_are_portable() {
        use rask_core::{Executor, Plan};
        let dir = std::env::temp_dir().join(format!("rask-zarr-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (tmp, path) = (dir.join("w.zarr.tmp"), dir.join("w.zarr"));
        let a = ArrayD::from_shape_fn(IxDyn(&[5, 7]), |i| (i[0] * 7 + i[1]) as f32 - 9.5);
        let x = Array::from_ndarray(a.clone(), &[2, 3]).unwrap();
        let options = ZarrWriteOptions::new().gzip(1);
        create_store(&tmp, &path, &x.zarr_builder(&path, &options).unwrap()).unwrap();
        let kernel = zarr_block_writer::<f32>(&tmp).unwrap();
        let write = BlockWrite {
            array: &x,
            prefix: "to-zarr",
            kernel: &kernel,
        };
        let plan = rask_core::compute::plan(&write).unwrap();
        plan.graph.check_portable().unwrap();
        let decoded = Plan::decode(&plan.encode().unwrap()).unwrap();
        rask_local::SyncExecutor.execute(&decoded, &[]).unwrap();
        replace(&tmp, &path).unwrap();
        let back = Array::<f32>::from_zarr(&path).unwrap();
        assert_eq!(back.chunks(), x.chunks());
        assert_eq!(back.compute_with(&rask_local::SyncExecutor).unwrap(), a);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn irregular_blocks_are_refused_with_a_rechunk_hint() {
        let path = Path::new("/nowhere/x.zarr");
        let ok = Chunks::new(vec![vec![3, 3, 1], vec![0]], &[7, 0]).unwrap();
        assert_eq!(regular_chunk_shape(path, &ok).unwrap(), vec![3, 1]);
        let bad = Chunks::new(vec![vec![2, 3, 2]], &[7]).unwrap();
        let msg = regular_chunk_shape(path, &bad).unwrap_err().to_string();
        assert!(msg.contains("/nowhere/x.zarr"), "{msg}");
        assert!(msg.contains("axis 0"), "{msg}");
        assert!(msg.contains(".rechunk(&[3])"), "{msg}");
    }
}
