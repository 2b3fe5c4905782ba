//! TIFF images: [`from_tiff_stack`] reads a stack of TIFF files (one
//! image each, named by a glob pattern) and [`from_tiff`] the pages of one
//! multi-page TIFF file, as lazy arrays whose first axis runs over the
//! images and whose blocks hold one image each (or `k`, see
//! [`TiffOptions::images_per_block`]).
//!
//! Opening reads the header (the first image directory) of the first
//! file only — the image's height, width, samples per pixel and sample
//! type — and stats the others, so opening a stack of thousands of files
//! is quick; each block task then decodes its own images and checks that
//! each has the first file's shape and type, failing with an error that
//! names the file otherwise. [`TiffOptions::check_headers`] checks every
//! file's header when opening instead. A multi-page file has its image
//! directories walked at open (they are small), so a page that differs
//! fails at once. A block of pages finds its first page by following the
//! chain of directories from the file's start (the `tiff` crate decodes
//! from a page index only), a read of a few hundred bytes per page before
//! it: negligible beside decoding for files of hundreds of pages.
//!
//! Shapes follow tifffile: a grayscale image is `(height, width)`, an
//! image of several samples per pixel (RGB) is `(height, width, samples)`
//! when they are stored interleaved and `(samples, height, width)` when
//! stored as planes; a multi-page file is `(pages, …)` and a
//! stack `(files, …)`, or `(files, pages, …)` when its files have several
//! pages each. Sample types: unsigned and signed integers of 8–64 bits and
//! 32- or 64-bit floats; the element type asked for must be the files'.
//!
//! Decoding goes through the pure-Rust `tiff` crate, built with the
//! codecs tifffile writes most: none (its default), deflate (`zlib`) and
//! LZW, with or without a predictor. Block reads are registered kernels
//! (`ReadTiffBlock`) whose parameters name the files by absolute path, so
//! graphs are portable; a layer's name is derived from the paths, their
//! stamps and the layout.

use std::any::Any;
use std::fs::File;
use std::io::BufReader;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use ::tiff::decoder::{Decoder, DecodingResult, Limits};
use ::tiff::tags::Tag;
use ndarray::{ArrayD, IxDyn};
use rask_core::{Error, Kernel, Op, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::{Array, BlockTask, block_value};
use crate::chunks::{Chunks, fmt_shape};
use crate::element::Element;
use crate::kernels::{elem_name, register_elements};
use crate::store::{FileStamp, file_path};

/// How [`from_tiff_stack_with`] and [`from_tiff_with`] read.
///
/// ```
/// use rask_array::tiff::TiffOptions;
/// let opts = TiffOptions::new().images_per_block(8).check_headers(true);
/// assert_eq!(opts.images(), 8);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TiffOptions {
    images_per_block: usize,
    check_headers: bool,
}

impl Default for TiffOptions {
    fn default() -> Self {
        TiffOptions {
            images_per_block: 1,
            check_headers: false,
        }
    }
}

impl TiffOptions {
    /// The defaults: one image per block; only the first file's header
    /// read when opening.
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts `k` images (files of a stack, pages of a file) in each block
    /// along the first axis (the last block may hold fewer). 0 counts as 1.
    #[must_use]
    pub fn images_per_block(mut self, k: usize) -> Self {
        self.images_per_block = k.max(1);
        self
    }

    /// With `true`, opening a stack reads every file's header and fails at
    /// once, naming the file, when one differs from the first in shape or
    /// type; by default that is found when the file's block is computed.
    #[must_use]
    pub fn check_headers(mut self, check: bool) -> Self {
        self.check_headers = check;
        self
    }

    /// The images per block.
    pub fn images(&self) -> usize {
        self.images_per_block
    }
}

/// What a TIFF file's image directories say: the shape and sample type
/// of its images.
///
/// ```
/// # use rask_local as _;
/// use rask_array::tiff;
/// # let dir = std::env::temp_dir().join(format!("rask-doc-tiff-info-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// # let path = dir.join("a.tif");
/// # tiff::tests_support::write_gray16(&path, 3, 2, 2);
/// let info = tiff::read_info(&path).unwrap();
/// assert_eq!(info.pages, 2);
/// assert_eq!(info.image_shape, vec![2, 3]); // height, width
/// assert_eq!(info.dtype, "uint16");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TiffInfo {
    /// The number of pages (images).
    pub pages: usize,
    /// The shape of the first page: `(height, width)`, or `(height, width,
    /// samples)` for several interleaved samples per pixel, `(samples,
    /// height, width)` for several planes.
    pub image_shape: Vec<usize>,
    /// The sample type, by NumPy's name (`"uint16"`).
    pub dtype: String,
}

/// The shape and type of one page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct PageKind {
    shape: Vec<usize>,
    dtype: String,
}

impl std::fmt::Display for PageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", fmt_shape(&self.shape), self.dtype)
    }
}

type TiffDecoder = Decoder<BufReader<File>>;

/// How many times its stored bytes a TIFF image may decode to: deflate's
/// limit is about 1032 to 1, LZW's and PackBits' lower.
const MAX_PACKING: u64 = 4096;

/// Images up to this size are decoded whatever their file's size.
const MIN_UNCHECKED_IMAGE_BYTES: u64 = 256 << 20;

/// Opens a decoder on the file at `path` that may decode images of
/// `image_bytes` (0 when only headers are read).
fn open_decoder(path: &Path, image_bytes: usize) -> std::result::Result<TiffDecoder, String> {
    let file = File::open(path).map_err(|e| format!("cannot open it: {e}"))?;
    let mut limits = Limits::default();
    // Whole images are decoded at once, of a size the reference file's
    // header gave (each page is checked against it before decoding): the
    // default caps (256 MiB, 128 MiB) would refuse large frames, and no
    // cap would let a corrupt header ask for any amount of memory.
    limits.decoding_buffer_size = limits.decoding_buffer_size.max(image_bytes);
    limits.intermediate_buffer_size = limits.intermediate_buffer_size.max(image_bytes);
    Decoder::new(BufReader::new(file))
        .map(|d| d.with_limits(limits))
        .map_err(|e| format!("not a TIFF file, or a corrupt one: {e}"))
}

/// The shape and type of the decoder's current page.
fn page_kind(d: &mut TiffDecoder) -> std::result::Result<PageKind, String> {
    let (width, height) = d.dimensions().map_err(|e| e.to_string())?;
    let samples: u16 = d
        .find_tag_unsigned(Tag::SamplesPerPixel)
        .map_err(|e| e.to_string())?
        .unwrap_or(1);
    let bits: Vec<u16> = d
        .find_tag_unsigned_vec(Tag::BitsPerSample)
        .map_err(|e| e.to_string())?
        .unwrap_or_else(|| vec![1]);
    let format: Vec<u16> = d
        .find_tag_unsigned_vec(Tag::SampleFormat)
        .map_err(|e| e.to_string())?
        .unwrap_or_else(|| vec![1]);
    let planar: u16 = d
        .find_tag_unsigned(Tag::PlanarConfiguration)
        .map_err(|e| e.to_string())?
        .unwrap_or(1);
    let (Some(&b), Some(&f)) = (bits.first(), format.first()) else {
        return Err(format!(
            "its BitsPerSample ({bits:?}) or SampleFormat ({format:?}) tag is empty; the file is \
             damaged"
        ));
    };
    if bits.iter().any(|&x| x != b) || format.iter().any(|&x| x != f) {
        return Err(format!(
            "its samples differ in type (bits {bits:?}, formats {format:?}); rask reads images whose \
             samples share one type"
        ));
    }
    let dtype = match (f, b) {
        (1, 8) => "uint8",
        (1, 16) => "uint16",
        (1, 32) => "uint32",
        (1, 64) => "uint64",
        (2, 8) => "int8",
        (2, 16) => "int16",
        (2, 32) => "int32",
        (2, 64) => "int64",
        (3, 32) => "float32",
        (3, 64) => "float64",
        _ => {
            return Err(format!(
                "its samples are {b}-bit {}, which rask arrays cannot hold; they hold 8- to 64-bit \
                 integers and 32- or 64-bit floats",
                match f {
                    1 => "unsigned integers",
                    2 => "signed integers",
                    3 => "floats",
                    _ => "values of an unknown format",
                }
            ));
        }
    };
    // As tifffile shapes them: interleaved samples last, planes first.
    let (h, w, s) = (height as usize, width as usize, samples as usize);
    let shape = match (samples, planar) {
        (1, _) => vec![h, w],
        (_, 1) => vec![h, w, s],
        (_, 2) => vec![s, h, w],
        _ => {
            return Err(format!(
                "its PlanarConfiguration is {planar}, where TIFF allows 1 and 2"
            ));
        }
    };
    Ok(PageKind {
        shape,
        dtype: dtype.into(),
    })
}

/// Counts the pages of an open file, checking each against the first
/// (`first`) unless `first` is `None`. Leaves the decoder past the end.
fn count_pages(d: &mut TiffDecoder, first: &PageKind) -> std::result::Result<usize, String> {
    let mut pages = 1;
    while d.more_images() {
        d.next_image()
            .map_err(|e| format!("cannot read the directory of page {pages}: {e}"))?;
        let kind = page_kind(d).map_err(|e| format!("page {pages}: {e}"))?;
        if kind != *first {
            return Err(format!(
                "page {pages} is {kind} where page 0 is {first}; rask reads files whose pages share \
                 one shape and type"
            ));
        }
        pages += 1;
    }
    Ok(pages)
}

fn bad_file(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::invalid("tiff file", format!("{}: {msg}", path.display()))
}

/// Reads the image directories of the TIFF file at `path`: its pages and
/// their shape and type (all pages must share them).
///
/// Fails naming the path when it is missing, not a TIFF file, or its pages
/// differ.
pub fn read_info(path: impl AsRef<Path>) -> Result<TiffInfo> {
    let path = path.as_ref();
    let mut d = open_decoder(path, 0).map_err(|e| bad_file(path, e))?;
    let first = page_kind(&mut d).map_err(|e| bad_file(path, e))?;
    let pages = count_pages(&mut d, &first).map_err(|e| bad_file(path, e))?;
    Ok(TiffInfo {
        pages,
        image_shape: first.shape,
        dtype: first.dtype,
    })
}

/// Which pages of which file a block reads, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Source {
    path: String,
    first_page: usize,
    pages: usize,
    /// Whether the file must hold exactly `pages` pages (a file of a
    /// stack), checked when it is read.
    whole_file: bool,
}

/// Reads the pages of one block of a TIFF stack or multi-page file.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct ReadTiffBlock<T> {
    /// What the array was opened from, for errors (a pattern or a path).
    origin: String,
    /// The file whose header gave the page kind, for errors.
    reference: String,
    sources: Vec<Source>,
    page: PageKind,
    /// The block's index, for errors, and shape.
    index: Vec<usize>,
    shape: Vec<usize>,
    _t: PhantomData<T>,
}

impl<T: Element> Kernel for ReadTiffBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.from_tiff", T);
    fn run(&self, _: &[Value]) -> std::result::Result<Value, TaskError> {
        let fail = |e: String| {
            TaskError::failed(format!(
                "reading block {:?} (shape {}) of the TIFF images {}: {e}",
                self.index,
                fmt_shape(&self.shape),
                self.origin
            ))
        };
        let len: usize = self.shape.iter().product();
        let mut out: Vec<T> = Vec::new();
        for source in &self.sources {
            read_pages(source, &self.page, &self.reference, len, &mut out)
                .map_err(|e| fail(format!("{}: {e}", source.path)))?;
        }
        ArrayD::from_shape_vec(IxDyn(&self.shape), out)
            .map(block_value)
            .map_err(|e| fail(e.to_string()))
    }
    fn label(&self) -> std::borrow::Cow<'static, str> {
        "from-tiff".into()
    }
}

register_elements!(ReadTiffBlock);

/// Decodes the pages `source` names, each checked against `page`, onto
/// `out`, which will hold `total` values.
fn read_pages<T: Element>(
    source: &Source,
    page: &PageKind,
    reference: &str,
    total: usize,
    out: &mut Vec<T>,
) -> std::result::Result<(), String> {
    let item = match page.dtype.as_str() {
        "uint8" | "int8" => 1,
        "uint16" | "int16" => 2,
        "uint32" | "int32" | "float32" => 4,
        _ => 8,
    };
    let image_bytes = page.shape.iter().product::<usize>().saturating_mul(item);
    // The header's size is checked against the file's before the decoder
    // allocates it: no compression TIFF uses packs more than about a
    // thousand to one, so a 300-byte file claiming an 80 GB image is
    // corrupt, not compressed.
    let file_len = std::fs::metadata(&source.path)
        .map_err(|e| format!("cannot read it: {e}"))?
        .len();
    let most = file_len
        .saturating_mul(MAX_PACKING)
        .max(MIN_UNCHECKED_IMAGE_BYTES);
    if image_bytes as u64 > most {
        return Err(format!(
            "its {} image of {image_bytes} bytes cannot come from a file of {file_len} bytes (at \
             most {MAX_PACKING} to 1); the file is corrupt",
            fmt_shape(&page.shape)
        ));
    }
    let mut d = open_decoder(Path::new(&source.path), image_bytes)?;
    if source.first_page > 0 {
        d.seek_to_image(source.first_page)
            .map_err(|e| format!("cannot find page {}: {e}", source.first_page))?;
    }
    for p in 0..source.pages {
        let n = source.first_page + p;
        if p > 0 {
            if !d.more_images() {
                return Err(format!(
                    "it has {n} pages where {reference} has {}; every file of a stack must have as \
                     many pages as the first",
                    source.first_page + source.pages
                ));
            }
            d.next_image()
                .map_err(|e| format!("cannot read the directory of page {n}: {e}"))?;
        }
        let kind = page_kind(&mut d).map_err(|e| format!("page {n}: {e}"))?;
        if kind != *page {
            return Err(format!(
                "its image{} is {kind} where {reference}'s is {page}; the images of a stack must \
                 share one shape and type",
                if source.pages > 1 {
                    format!(" (page {n})")
                } else {
                    String::new()
                }
            ));
        }
        // Every plane of a planar image, unlike `read_image`.
        let mut image = DecodingResult::U8(Vec::new());
        d.read_image_to_buffer(&mut image)
            .map_err(|e| format!("cannot decode page {n} (truncated or corrupt?): {e}"))?;
        let values: Box<dyn Any> = match image {
            DecodingResult::U8(v) => Box::new(v),
            DecodingResult::U16(v) => Box::new(v),
            DecodingResult::U32(v) => Box::new(v),
            DecodingResult::U64(v) => Box::new(v),
            DecodingResult::I8(v) => Box::new(v),
            DecodingResult::I16(v) => Box::new(v),
            DecodingResult::I32(v) => Box::new(v),
            DecodingResult::I64(v) => Box::new(v),
            DecodingResult::F32(v) => Box::new(v),
            DecodingResult::F64(v) => Box::new(v),
            DecodingResult::F16(_) => Box::new(()),
        };
        let values = values
            .downcast::<Vec<T>>()
            .map_err(|_| format!("page {n} decoded to another type than {}", T::DTYPE))?;
        let want: usize = page.shape.iter().product();
        if values.len() < want {
            return Err(format!(
                "page {n} decoded to {} values where its {} image needs {want}",
                values.len(),
                fmt_shape(&page.shape)
            ));
        }
        if out.is_empty() && values.len() == want {
            // The block's first image: keep the decoder's buffer.
            *out = *values;
            out.try_reserve_exact(total.saturating_sub(want))
                .map_err(|e| format!("cannot hold the block's images in memory: {e}"))?;
        } else {
            out.try_reserve_exact(total.saturating_sub(out.len()))
                .map_err(|e| format!("cannot hold the block's images in memory: {e}"))?;
            out.extend_from_slice(&values[..want]);
        }
    }
    if source.whole_file && d.more_images() {
        return Err(format!(
            "it has more than {} pages, as {reference} has; every file of a stack must have as many \
             pages as the first",
            source.pages
        ));
    }
    Ok(())
}

/// Checks that the files' type is `T`'s.
fn check_type<T: Element>(path: &Path, page: &PageKind) -> Result<()> {
    if page.dtype == T::DTYPE {
        return Ok(());
    }
    Err(bad_file(
        path,
        format!(
            "its images are {}, which does not match the requested element type {}; read them as \
             Array::<{}> and convert with astype::<{}>() if you need {}",
            page.dtype,
            T::DTYPE,
            crate::element::rust_type(&page.dtype),
            crate::element::rust_type(T::DTYPE),
            T::DTYPE
        ),
    ))
}

/// Opens the TIFF files matching the glob `pattern` (`"frames/*.tif"`;
/// sorted by name) as one lazy array: the first axis runs over the files,
/// one file per block, the others over each file's image (see the
/// [module docs](self) for shapes). Otherwise as [`from_tiff_stack_with`].
///
/// ```
/// # use rask_local as _;
/// use rask_array::{self as array, Array};
/// let dir = std::env::temp_dir().join(format!("rask-doc-tiff-stack-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// for i in 0..3 {
///     array::tiff::tests_support::write_gray16(&dir.join(format!("f{i}.tif")), 4, 2, 1);
/// }
/// let frames: Array<u16> = array::from_tiff_stack(dir.join("*.tif").to_str().unwrap()).unwrap();
/// assert_eq!(frames.shape(), &[3, 2, 4]);
/// assert_eq!(frames.numblocks(), vec![3, 1, 1]);
/// assert_eq!(frames.compute().unwrap()[[2, 1, 3]], 7);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn from_tiff_stack<T: Element>(pattern: impl AsRef<str>) -> Result<Array<T>> {
    from_tiff_stack_with(pattern, &TiffOptions::default())
}

/// Opens the TIFF files matching the glob `pattern` (sorted by name) as
/// one lazy array, read as `options` say.
///
/// Reads the first file's header now; the other files are stat'ed only
/// (unless [`TiffOptions::check_headers`]), and each is decoded when its
/// block is computed. Fails, naming the pattern, when it is malformed or
/// matches no file, and naming the file when the first one is not a TIFF
/// file, holds another type than `T`, or (with `check_headers`) one
/// differs from the first. A file that differs in shape or type, or is
/// truncated, fails the compute with an error naming it.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{self as array, Array, tiff::TiffOptions};
/// let dir = std::env::temp_dir().join(format!("rask-doc-tiff-with-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// for i in 0..5 {
///     array::tiff::tests_support::write_gray16(&dir.join(format!("f{i}.tif")), 4, 2, 1);
/// }
/// let opts = TiffOptions::new().images_per_block(2);
/// let x: Array<u16> = array::tiff::from_tiff_stack_with(dir.join("f*.tif").to_str().unwrap(), &opts).unwrap();
/// assert_eq!(x.chunks().axis(0), &[2, 2, 1]);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn from_tiff_stack_with<T: Element>(
    pattern: impl AsRef<str>,
    options: &TiffOptions,
) -> Result<Array<T>> {
    let pattern = pattern.as_ref();
    let bad_pattern = |msg: String| Error::invalid("tiff pattern", format!("{pattern}: {msg}"));
    let paths = glob::glob(pattern).map_err(|e| {
        bad_pattern(format!(
            "not a valid glob pattern ({e}); use *, ? and [..] in file names, as in frames/*.tif"
        ))
    })?;
    let mut files: Vec<PathBuf> = paths
        .map(|p| p.map_err(|e| bad_pattern(format!("cannot list {}", e.path().display()))))
        .collect::<Result<_>>()?;
    files.retain(|p| !p.is_dir());
    files.sort();
    if files.is_empty() {
        return Err(bad_pattern(
            "no file matches it; check the directory and the pattern".into(),
        ));
    }
    stack_of(pattern, &files, options)
}

/// Opens the TIFF files `paths`, in that order, as one lazy array whose
/// first axis runs over the files; otherwise as [`from_tiff_stack_with`].
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, tiff};
/// let dir = std::env::temp_dir().join(format!("rask-doc-tiff-files-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let (a, b) = (dir.join("a.tif"), dir.join("b.tif"));
/// tiff::tests_support::write_gray16(&a, 2, 2, 1);
/// tiff::tests_support::write_gray16(&b, 2, 2, 1);
/// let x: Array<u16> = tiff::from_tiff_files(&[b, a], &tiff::TiffOptions::new()).unwrap();
/// assert_eq!(x.shape(), &[2, 2, 2]);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn from_tiff_files<T: Element>(
    paths: &[impl AsRef<Path>],
    options: &TiffOptions,
) -> Result<Array<T>> {
    let files: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
    let Some(first) = files.first() else {
        return Err(Error::invalid(
            "tiff files",
            "no files given; pass at least one path",
        ));
    };
    let origin = if files.len() == 1 {
        first.display().to_string()
    } else {
        format!(
            "{} … {} ({} files)",
            first.display(),
            files[files.len() - 1].display(),
            files.len()
        )
    };
    stack_of(&origin, &files, options)
}

fn stack_of<T: Element>(
    origin: &str,
    files: &[PathBuf],
    options: &TiffOptions,
) -> Result<Array<T>> {
    let first = &files[0];
    let mut d = open_decoder(first, 0).map_err(|e| bad_file(first, e))?;
    let page = page_kind(&mut d).map_err(|e| bad_file(first, e))?;
    let pages = count_pages(&mut d, &page).map_err(|e| bad_file(first, e))?;
    check_type::<T>(first, &page)?;
    let mut stamps = Vec::with_capacity(files.len());
    let mut texts = Vec::with_capacity(files.len());
    for (i, path) in files.iter().enumerate() {
        stamps.push(FileStamp::of(path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?);
        texts.push(file_path(path)?);
        if options.check_headers && i > 0 {
            let info = read_info(path)?;
            let kind = PageKind {
                shape: info.image_shape,
                dtype: info.dtype,
            };
            if kind != page || info.pages != pages {
                return Err(bad_file(
                    path,
                    format!(
                        "its images are {} pages of {kind} where {} has {pages} of {page}; the \
                         files of a stack must share one shape and type",
                        info.pages,
                        first.display()
                    ),
                ));
            }
        }
    }
    let mut image_shape = page.shape.clone();
    if pages > 1 {
        image_shape.insert(0, pages);
    }
    let mut shape = vec![files.len()];
    shape.extend_from_slice(&image_shape);
    let chunks = first_axis_chunks(&shape, options.images_per_block)?;
    let reference = texts[0].clone();
    let origin = origin.to_string();
    let params = (texts.clone(), stamps, page.clone(), pages);
    let c = chunks.clone();
    Ok(Array::kernel_layer(
        "from-tiff-stack",
        &params,
        chunks,
        Vec::new(),
        move |idx| {
            let (start, shape) = (c.block_start(idx), c.block_shape(idx));
            BlockTask {
                op: Op::kernel_blockwise(ReadTiffBlock::<T> {
                    origin: origin.clone(),
                    reference: reference.clone(),
                    sources: texts[start[0]..start[0] + shape[0]]
                        .iter()
                        .map(|path| Source {
                            path: path.clone(),
                            first_page: 0,
                            pages,
                            whole_file: true,
                        })
                        .collect(),
                    page: page.clone(),
                    index: idx.to_vec(),
                    shape,
                    _t: PhantomData,
                }),
                deps: Vec::new(),
            }
        },
    ))
}

/// Chunks of `k` along the first axis of `shape`, whole along the others.
fn first_axis_chunks(shape: &[usize], k: usize) -> Result<Chunks> {
    let n = shape[0];
    let k = k.max(1);
    let mut first: Vec<usize> = (0..n / k).map(|_| k).collect();
    if !n.is_multiple_of(k) || n == 0 {
        first.push(n % k);
    }
    let mut per_axis = vec![first];
    per_axis.extend(shape[1..].iter().map(|&l| vec![l]));
    Chunks::new(per_axis, shape)
}

/// Opens the TIFF file at `path` as a lazy array: its pages along the
/// first axis, one page per block (a file of one page is that image, one
/// block), as tifffile's `imread` shapes it. Otherwise as
/// [`from_tiff_with`].
///
/// ```
/// # use rask_local as _;
/// use rask_array::{self as array, Array};
/// let dir = std::env::temp_dir().join(format!("rask-doc-tiff-pages-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("movie.tif");
/// array::tiff::tests_support::write_gray16(&path, 4, 3, 5); // 5 pages of 3 × 4
/// let movie: Array<u16> = array::from_tiff(&path).unwrap();
/// assert_eq!(movie.shape(), &[5, 3, 4]);
/// assert_eq!(movie.numblocks(), vec![5, 1, 1]);
/// assert_eq!(movie.compute().unwrap()[[4, 0, 1]], 4 * 100 + 1);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn from_tiff<T: Element>(path: impl AsRef<Path>) -> Result<Array<T>> {
    from_tiff_with(path, &TiffOptions::default())
}

/// Opens the pages of the TIFF file at `path` as a lazy array read as
/// `options` say ([`TiffOptions::images_per_block`] pages per block).
///
/// Walks the file's image directories now and fails, naming the path,
/// when it is missing, not a TIFF file, its pages differ in shape or type,
/// or they are not `T`; a page that cannot be decoded (a truncated file)
/// fails the compute with an error naming the file and the page.
pub fn from_tiff_with<T: Element>(
    path: impl AsRef<Path>,
    options: &TiffOptions,
) -> Result<Array<T>> {
    let path = path.as_ref();
    let info = read_info(path)?;
    let page = PageKind {
        shape: info.image_shape.clone(),
        dtype: info.dtype.clone(),
    };
    check_type::<T>(path, &page)?;
    let stamp = FileStamp::of(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = file_path(path)?;
    let paged = info.pages > 1;
    let mut shape = info.image_shape.clone();
    let chunks = if paged {
        shape.insert(0, info.pages);
        first_axis_chunks(&shape, options.images_per_block)?
    } else {
        Chunks::new(shape.iter().map(|&l| vec![l]).collect(), &shape)?
    };
    let params = (text.clone(), stamp, page.clone(), info.pages);
    let c = chunks.clone();
    Ok(Array::kernel_layer(
        "from-tiff",
        &params,
        chunks,
        Vec::new(),
        move |idx| {
            let (start, shape) = (c.block_start(idx), c.block_shape(idx));
            let (first_page, pages) = if paged { (start[0], shape[0]) } else { (0, 1) };
            BlockTask {
                op: Op::kernel_blockwise(ReadTiffBlock::<T> {
                    origin: text.clone(),
                    reference: text.clone(),
                    sources: vec![Source {
                        path: text.clone(),
                        first_page,
                        pages,
                        whole_file: false,
                    }],
                    page: page.clone(),
                    index: idx.to_vec(),
                    shape,
                    _t: PhantomData,
                }),
                deps: Vec::new(),
            }
        },
    ))
}

/// Small TIFF files for examples and tests.
#[doc(hidden)]
pub mod tests_support {
    use std::path::Path;

    use ::tiff::encoder::{TiffEncoder, colortype};

    /// Writes `pages` uncompressed 16-bit grayscale pages of `height` ×
    /// `width` to `path`; pixel `(y, x)` of page `p` is `p * 100 + y *
    /// width + x`.
    pub fn write_gray16(path: &Path, width: u32, height: u32, pages: u32) {
        let file = std::fs::File::create(path).expect("create the test file");
        let mut enc = TiffEncoder::new(std::io::BufWriter::new(file)).expect("a TIFF encoder");
        for p in 0..pages {
            let data: Vec<u16> = (0..width * height).map(|i| (p * 100 + i) as u16).collect();
            enc.write_image::<colortype::Gray16>(width, height, &data)
                .expect("write a page");
        }
    }
}
