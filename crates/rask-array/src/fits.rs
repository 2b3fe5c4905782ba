//! FITS images: [`Array::from_fits`] reads the image of a FITS file (its
//! primary HDU or an `IMAGE` extension) block by block.
//!
//! A FITS file is a sequence of HDUs (header and data units). A header is
//! 80-character ASCII cards (`KEYWORD = value / comment`) in 2880-byte
//! records, ending with the card `END`; the data follow, big-endian, in
//! 2880-byte records too. An image's axes are `NAXIS1` (fastest) to
//! `NAXISn`, so its NumPy shape is `(NAXISn, …, NAXIS1)`; `BITPIX` is the
//! stored type (8: `uint8`, 16/32/64: signed integers, -32/-64: floats).
//!
//! Values are scaled as astropy (`astropy.io.fits`, `uint=True`, its
//! default) scales them, so an array equals `fits.getdata(path, ext)`:
//!
//! * no `BZERO`/`BSCALE` (0 and 1): the stored type;
//! * `BSCALE` 1 with `BZERO` -128 (`BITPIX` 8), 2^15, 2^31 or 2^63 (16, 32,
//!   64): the pseudo-unsigned convention — `int8`, `uint16`, `uint32`,
//!   `uint64`;
//! * otherwise `float32` (`BITPIX` 8, 16, -32) or `float64` (32, 64, -64),
//!   computed as `stored * BSCALE + BZERO` in that type, with stored
//!   integers equal to a non-zero `BLANK` becoming NaN.
//!
//! The element type asked for must be that type ([`fits::read_images`]
//! tells it, as `dtype`).
//!
//! Opening walks the headers once (each read in full, data skipped by
//! size), so a truncated header or data unit is found at once. Each block
//! task reads only its block's bytes, by range (see [`crate::raw`]), and
//! scales them. Block reads are registered kernels (`ReadFitsBlock`) whose
//! parameters hold the path and the image's layout, so graphs are
//! portable.
//!
//! The reader is written here rather than taken from a crate: `fitsrs`
//! (the maintained pure-Rust reader) brings an async stack and WCS with
//! it, reads data through its own iterators rather than by byte range,
//! and leaves `BZERO`/`BSCALE` to the caller, while the image layout
//! needs only the header cards and an offset. Tile-compressed images
//! (`ZIMAGE`), tables and random groups are not read: they fail with an
//! error naming the file and the HDU.
//!
//! [`fits::read_images`]: read_images

use std::any::Any;
use std::fs::File;
use std::io::Read;
use std::marker::PhantomData;
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use rask_core::{Error, Kernel, Op, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::{Array, BlockTask, block_value};
use crate::chunks::{Chunks, IntoChunks, fmt_shape};
use crate::element::Element;
use crate::kernels::{elem_name, register_elements};
use crate::raw::{nbytes, read_region};
use crate::store::{FileStamp, check_place, file_path};

mod header;
use header::{CardValue, Header, Kind, RECORD, kind_of, read_header, starts_extension};

/// What the header of one image HDU of a FITS file says, and where its
/// data lie.
///
/// ```
/// # use rask_local as _;
/// use rask_array::fits;
/// let path = std::env::temp_dir().join(format!("rask-doc-fits-info-{}.fits", std::process::id()));
/// std::fs::write(&path, fits::tests_support::tiny_fits(16, &[3, 2], 32768.0)).unwrap();
/// let images = fits::read_images(&path).unwrap();
/// assert_eq!(images[0].shape, vec![2, 3]); // (NAXIS2, NAXIS1)
/// assert_eq!(images[0].dtype, "uint16"); // BITPIX 16 with BZERO 32768
/// std::fs::remove_file(&path).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitsImage {
    /// The HDU's index in the file (0: the primary HDU), as astropy's
    /// `hdul[i]`.
    pub hdu: usize,
    /// The `EXTNAME` keyword, if any.
    pub extname: Option<String>,
    /// The stored type: 8, 16, 32, 64, -32 or -64.
    pub bitpix: i32,
    /// The NumPy shape: `(NAXISn, …, NAXIS1)`.
    pub shape: Vec<usize>,
    /// `BZERO` (0 when absent).
    pub bzero: f64,
    /// `BSCALE` (1 when absent).
    pub bscale: f64,
    /// `BLANK`, the stored value of undefined integer pixels, if any.
    pub blank: Option<i64>,
    /// The element type the values have once scaled, as astropy gives them
    /// (NumPy's name): the element type to read the image as.
    pub dtype: String,
    /// Where the data start in the file, in bytes.
    pub data_offset: u64,
}

/// How stored values become the array's values.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Scaling {
    /// The stored values as they are.
    Stored,
    /// The pseudo-unsigned convention: flip the sign bit.
    SignFlip,
    /// `stored * bscale + bzero` in floating point; `blank` becomes NaN.
    Float,
}

impl FitsImage {
    fn scaling(&self) -> Scaling {
        if self.bzero == 0.0 && self.bscale == 1.0 {
            return Scaling::Stored;
        }
        let flip = match self.bitpix {
            8 => -128.0,
            16 => 32768.0,
            32 => 2147483648.0,
            64 => 9223372036854775808.0,
            _ => f64::NAN,
        };
        if self.bscale == 1.0 && self.bzero == flip {
            Scaling::SignFlip
        } else {
            Scaling::Float
        }
    }

    /// The element type astropy gives the values.
    fn astropy_dtype(&self) -> &'static str {
        match (self.scaling(), self.bitpix) {
            (Scaling::Stored, 8) => "uint8",
            (Scaling::Stored, 16) => "int16",
            (Scaling::Stored, 32) => "int32",
            (Scaling::Stored, 64) => "int64",
            (Scaling::SignFlip, 8) => "int8",
            (Scaling::SignFlip, 16) => "uint16",
            (Scaling::SignFlip, 32) => "uint32",
            (Scaling::SignFlip, 64) => "uint64",
            (_, 8 | 16 | -32) => "float32",
            _ => "float64",
        }
    }

    fn item(&self) -> usize {
        (self.bitpix.unsigned_abs() / 8) as usize
    }
}

/// Walks the HDUs of the file at `path`, calling `visit` with each one's
/// index, header and kind, until it returns `Some` or the file ends.
fn walk<R>(
    path: &Path,
    mut visit: impl FnMut(usize, &Header, Kind) -> std::result::Result<Option<R>, String>,
) -> Result<Option<R>> {
    let mut file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let len = file.metadata().map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if len.is_dir() {
        return Err(bad_file(path, "it is a directory, not a FITS file"));
    }
    let len = len.len();
    let mut start = [0u8; 9];
    let n = file.read(&mut start).unwrap_or(0);
    if n < 9 || &start != b"SIMPLE  =" {
        return Err(bad_file(
            path,
            "not a FITS file: it does not start with the card SIMPLE = T",
        ));
    }
    let mut offset = 0u64;
    let mut hdu = 0;
    while offset < len {
        if hdu > 0 && !starts_extension(&file, offset) {
            // Padding or bytes after the last HDU, which astropy ignores
            // (with a warning).
            break;
        }
        let header = read_header(&mut file, offset, hdu).map_err(|e| bad_file(path, e))?;
        let data = header
            .data_bytes()
            .map_err(|e| bad_file(path, format!("HDU {hdu}: {e}")))?;
        let end = header.data_offset.saturating_add(data);
        if end > len {
            return Err(bad_file(
                path,
                format!(
                    "the file is truncated: the data of HDU {hdu} need bytes {} to {end}, but the \
                     file has {len}",
                    header.data_offset
                ),
            ));
        }
        let kind = kind_of(&header, hdu);
        if let Some(found) = visit(hdu, &header, kind).map_err(|e| bad_file(path, e))? {
            return Ok(Some(found));
        }
        offset = end.div_ceil(RECORD) * RECORD;
        hdu += 1;
    }
    Ok(None)
}

/// The image described by `header`, HDU `hdu`.
fn image_of(header: &Header, hdu: usize) -> std::result::Result<FitsImage, String> {
    // The standard fixes these for images; another GCOUNT would make the
    // data size (checked against the file's length) differ from the image's.
    let (pcount, gcount) = (header.int("PCOUNT")?, header.int("GCOUNT")?);
    if pcount.unwrap_or(0) != 0 || gcount.unwrap_or(1) != 1 {
        return Err(format!(
            "HDU {hdu} is an image with PCOUNT {} and GCOUNT {}; FITS requires 0 and 1 for \
             images",
            pcount.unwrap_or(0),
            gcount.unwrap_or(1)
        ));
    }
    let mut shape = header
        .axes()?
        .into_iter()
        .map(|n| usize::try_from(n).map_err(|_| format!("NAXIS {n} is too large")))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    shape.reverse();
    let blank = match header.int("BLANK") {
        Ok(b) => b.and_then(|b| i64::try_from(b).ok()),
        Err(_) => None,
    };
    let mut image = FitsImage {
        hdu,
        extname: match header.get("EXTNAME") {
            Some(CardValue::Text(t)) => Some(t.clone()),
            _ => None,
        },
        bitpix: header.required_int("BITPIX")? as i32,
        shape,
        bzero: header.float("BZERO", 0.0)?,
        bscale: header.float("BSCALE", 1.0)?,
        blank,
        dtype: String::new(),
        data_offset: header.data_offset,
    };
    image.dtype = image.astropy_dtype().to_string();
    Ok(image)
}

fn bad_file(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::invalid("fits file", format!("{}: {msg}", path.display()))
}

/// The image HDUs of the FITS file at `path` (the primary HDU, even when
/// it holds no data, and every `IMAGE` extension), in order.
///
/// Fails naming the path when it is not a FITS file, or a header or data
/// unit is truncated or malformed.
pub fn read_images(path: impl AsRef<Path>) -> Result<Vec<FitsImage>> {
    let mut images = Vec::new();
    walk::<()>(path.as_ref(), |hdu, header, kind| {
        if let Kind::Image = kind {
            images.push(image_of(header, hdu)?);
        }
        Ok(None)
    })?;
    Ok(images)
}

/// The image of HDU `hdu`, or of the first HDU that holds image data when
/// `None` (as astropy's `fits.getdata` does).
fn find_image(path: &Path, hdu: Option<usize>) -> Result<FitsImage> {
    let found = walk(path, |i, header, kind| match (hdu, kind) {
        (Some(h), _) if h != i => Ok(None),
        (Some(_), Kind::Other(what)) => Err(format!(
            "HDU {i} is {what}, not an image; fits::read_images lists the images"
        )),
        (_, Kind::Image) => {
            let image = image_of(header, i)?;
            Ok((hdu.is_some() || !image.shape.is_empty()).then_some(image))
        }
        (None, Kind::Other(_)) => Ok(None),
    })?;
    found.ok_or_else(|| match hdu {
        Some(h) => bad_file(path, format!("the file has no HDU {h}")),
        None => bad_file(path, "the file holds no image data"),
    })
}

/// The image's layout as a block task holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct FitsFile {
    path: String,
    stamp: FileStamp,
    image: FitsImage,
}

/// Reads one block of a FITS image and scales it.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct ReadFitsBlock<T> {
    file: FitsFile,
    /// The block's index, for errors.
    index: Vec<usize>,
    start: Vec<usize>,
    shape: Vec<usize>,
    _t: PhantomData<T>,
}

impl<T: Element> Kernel for ReadFitsBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.from_fits", T);
    fn run(&self, _: &[Value]) -> std::result::Result<Value, TaskError> {
        read_fits_block::<T>(&self.file, &self.start, &self.shape)
            .map(block_value)
            .map_err(|e| {
                TaskError::failed(format!(
                    "reading block {:?} (elements from {:?}, shape {}) of HDU {} of the FITS file {}: {e}",
                    self.index,
                    self.start,
                    fmt_shape(&self.shape),
                    self.file.image.hdu,
                    self.file.path
                ))
            })
    }
    fn label(&self) -> std::borrow::Cow<'static, str> {
        "from-fits".into()
    }
}

register_elements!(ReadFitsBlock);

fn read_fits_block<T: Element>(
    fits: &FitsFile,
    start: &[usize],
    shape: &[usize],
) -> std::result::Result<ArrayD<T>, String> {
    let image = &fits.image;
    check_place(&image.shape, start, shape)?;
    let elems: Vec<T> = if shape.contains(&0) {
        Vec::new()
    } else {
        let file = File::open(&fits.path).map_err(|e| e.to_string())?;
        let need = nbytes(&image.shape, image.item())
            .and_then(|n| n.checked_add(image.data_offset))
            .unwrap_or(u64::MAX);
        let has = file.metadata().map_err(|e| e.to_string())?.len();
        if has < need {
            return Err(format!(
                "the file is truncated: the image needs bytes up to {need}, the file has {has}"
            ));
        }
        let bytes = read_region(
            &file,
            image.data_offset,
            &image.shape,
            image.item(),
            start,
            shape,
        )
        .map_err(|e| e.to_string())?;
        let values = decode(&bytes, image);
        *values.downcast::<Vec<T>>().map_err(|_| {
            format!(
                "the image holds {} values, not {}",
                image.astropy_dtype(),
                T::DTYPE
            )
        })?
    };
    ArrayD::from_shape_vec(IxDyn(shape), elems).map_err(|e| e.to_string())
}

/// Decodes big-endian stored values and scales them as astropy does: a
/// `Vec` of the image's `dtype`.
fn decode(bytes: &[u8], image: &FitsImage) -> Box<dyn Any> {
    macro_rules! stored {
        ($t:ty) => {
            bytes
                .chunks_exact(size_of::<$t>())
                .map(|b| <$t>::from_be_bytes(b.try_into().expect("chunks of the type's size")))
        };
    }
    // Floats as NumPy computes `data * bscale + bzero` in place on an
    // array of type `$f`: both scalars are first rounded to `$f`.
    macro_rules! scaled {
        ($t:ty, $f:ty, $blank:expr) => {{
            let (bscale, bzero) = (image.bscale as $f, image.bzero as $f);
            let blank: Option<$t> = $blank;
            Box::new(
                stored!($t)
                    .map(|v| {
                        if Some(v) == blank {
                            return <$f>::NAN;
                        }
                        let mut x = v as $f;
                        if image.bscale != 1.0 {
                            x *= bscale;
                        }
                        if image.bzero != 0.0 {
                            x += bzero;
                        }
                        x
                    })
                    .collect::<Vec<$f>>(),
            ) as Box<dyn Any>
        }};
    }
    // astropy applies BLANK only when it is non-zero (`if self._blank`).
    let blank = image.blank.filter(|&b| b != 0);
    match (image.scaling(), image.bitpix) {
        (Scaling::Stored, 8) => Box::new(bytes.to_vec()),
        (Scaling::Stored, 16) => Box::new(stored!(i16).collect::<Vec<_>>()),
        (Scaling::Stored, 32) => Box::new(stored!(i32).collect::<Vec<_>>()),
        (Scaling::Stored, 64) => Box::new(stored!(i64).collect::<Vec<_>>()),
        (Scaling::Stored, -32) => Box::new(stored!(f32).collect::<Vec<_>>()),
        (Scaling::Stored, _) => Box::new(stored!(f64).collect::<Vec<_>>()),
        (Scaling::SignFlip, 8) => {
            Box::new(bytes.iter().map(|&v| (v ^ 0x80) as i8).collect::<Vec<_>>())
        }
        (Scaling::SignFlip, 16) => Box::new(
            stored!(i16)
                .map(|v| (v as u16) ^ 0x8000)
                .collect::<Vec<_>>(),
        ),
        (Scaling::SignFlip, 32) => Box::new(
            stored!(i32)
                .map(|v| (v as u32) ^ 0x8000_0000)
                .collect::<Vec<_>>(),
        ),
        (Scaling::SignFlip, _) => Box::new(
            stored!(i64)
                .map(|v| (v as u64) ^ (1 << 63))
                .collect::<Vec<_>>(),
        ),
        (Scaling::Float, 8) => scaled!(u8, f32, blank.and_then(|b| u8::try_from(b).ok())),
        (Scaling::Float, 16) => scaled!(i16, f32, blank.and_then(|b| i16::try_from(b).ok())),
        (Scaling::Float, 32) => scaled!(i32, f64, blank.and_then(|b| i32::try_from(b).ok())),
        (Scaling::Float, 64) => scaled!(i64, f64, blank),
        (Scaling::Float, -32) => scaled!(f32, f32, None),
        (Scaling::Float, _) => scaled!(f64, f64, None),
    }
}

impl<T: Element> Array<T> {
    /// Opens the image of the FITS file at `path` as an array split into
    /// `chunks`: the first HDU that holds image data (the primary HDU, or
    /// else the first `IMAGE` extension), as astropy's `fits.getdata(path)`
    /// chooses. Values are scaled as astropy scales them (see [`crate::fits`]);
    /// `T` must be the type that gives (`fits::read_images` tells it).
    /// The headers are read now, the data block by block when computed.
    ///
    /// Fails, naming the path, when the file is missing, not FITS,
    /// truncated (in a header or in the data), holds no image, or holds
    /// another type than `T`.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, fits};
    /// let path = std::env::temp_dir().join(format!("rask-doc-fits-{}.fits", std::process::id()));
    /// std::fs::write(&path, fits::tests_support::tiny_fits(16, &[3, 2], 32768.0)).unwrap();
    /// let x = Array::<u16>::from_fits(&path, &[1, 3]).unwrap();
    /// assert_eq!(x.shape(), &[2, 3]);
    /// assert_eq!(x.compute().unwrap()[[1, 2]], 32768 + 5); // stored 5, BZERO 32768
    /// assert!(Array::<i16>::from_fits(&path, &[1, 3]).is_err()); // it holds uint16
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn from_fits(path: impl AsRef<Path>, chunks: impl IntoChunks) -> Result<Self> {
        let path = path.as_ref();
        let image = find_image(path, None)?;
        Self::fits_layer(path, image, chunks)
    }

    /// Opens the image of HDU `hdu` of the FITS file at `path` (0: the
    /// primary HDU; as astropy's `hdul[hdu]`) as an array split into
    /// `chunks`; otherwise as [`Array::from_fits`]. Fails naming the path
    /// when that HDU is missing or not an image.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, fits};
    /// let path = std::env::temp_dir().join(format!("rask-doc-fits-hdu-{}.fits", std::process::id()));
    /// std::fs::write(&path, fits::tests_support::tiny_fits(-32, &[4], 0.0)).unwrap();
    /// let x = Array::<f32>::from_fits_hdu(&path, 0, &[2]).unwrap();
    /// assert_eq!(x.compute().unwrap().as_slice().unwrap(), &[0.0, 1.0, 2.0, 3.0]);
    /// assert!(Array::<f32>::from_fits_hdu(&path, 1, &[2]).is_err()); // no HDU 1
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn from_fits_hdu(
        path: impl AsRef<Path>,
        hdu: usize,
        chunks: impl IntoChunks,
    ) -> Result<Self> {
        let path = path.as_ref();
        let image = find_image(path, Some(hdu))?;
        Self::fits_layer(path, image, chunks)
    }

    fn fits_layer(path: &Path, image: FitsImage, chunks: impl IntoChunks) -> Result<Self> {
        if image.dtype != T::DTYPE {
            return Err(bad_file(
                path,
                format!(
                    "HDU {} holds {} values (BITPIX {}, BZERO {}, BSCALE {}, scaled as astropy does), \
                     which do not match the requested element type {}; read it as Array::<{}> and \
                     convert with astype if you need {}",
                    image.hdu,
                    image.dtype,
                    image.bitpix,
                    image.bzero,
                    image.bscale,
                    T::DTYPE,
                    crate::element::rust_type(&image.dtype),
                    T::DTYPE
                ),
            ));
        }
        let stamp = FileStamp::of(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let chunks: Chunks = chunks.into_chunks(&image.shape, size_of::<T>())?;
        let file = FitsFile {
            path: file_path(path)?,
            stamp,
            image,
        };
        let c = chunks.clone();
        Ok(Array::kernel_layer(
            "from-fits",
            &file.clone(),
            chunks,
            Vec::new(),
            move |idx| BlockTask {
                op: Op::kernel_blockwise(ReadFitsBlock::<T> {
                    file: file.clone(),
                    index: idx.to_vec(),
                    start: c.block_start(idx),
                    shape: c.block_shape(idx),
                    _t: PhantomData,
                }),
                deps: Vec::new(),
            },
        ))
    }
}

/// Small FITS files for examples and tests.
#[doc(hidden)]
pub mod tests_support {
    /// A one-HDU FITS file: `BITPIX` `bitpix`, axes `naxes` (`NAXIS1`
    /// first), values 0, 1, 2, … as stored, and `BZERO` `bzero` when not 0.
    pub fn tiny_fits(bitpix: i32, naxes: &[usize], bzero: f64) -> Vec<u8> {
        let mut cards = vec![
            "SIMPLE  =                    T".to_string(),
            format!("BITPIX  = {bitpix:>20}"),
            format!("NAXIS   = {:>20}", naxes.len()),
        ];
        for (i, n) in naxes.iter().enumerate() {
            cards.push(format!("NAXIS{:<3}= {n:>20}", i + 1));
        }
        if bzero != 0.0 {
            cards.push(format!("BZERO   = {bzero:>20}"));
        }
        cards.push("END".into());
        let mut out = Vec::new();
        for c in cards {
            out.extend_from_slice(format!("{c:<80}").as_bytes());
        }
        out.resize(out.len().div_ceil(2880) * 2880, b' ');
        let n: usize = naxes.iter().product();
        for i in 0..n {
            match bitpix {
                8 => out.push(i as u8),
                16 => out.extend_from_slice(&(i as i16).to_be_bytes()),
                32 => out.extend_from_slice(&(i as i32).to_be_bytes()),
                64 => out.extend_from_slice(&(i as i64).to_be_bytes()),
                -32 => out.extend_from_slice(&(i as f32).to_be_bytes()),
                _ => out.extend_from_slice(&(i as f64).to_be_bytes()),
            }
        }
        out.resize(out.len().div_ceil(2880) * 2880, 0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn astropy_types() {
        let mut im = FitsImage {
            hdu: 0,
            extname: None,
            bitpix: 16,
            shape: vec![],
            bzero: 0.0,
            bscale: 1.0,
            blank: None,
            dtype: String::new(),
            data_offset: 0,
        };
        assert_eq!(im.astropy_dtype(), "int16");
        im.bzero = 32768.0;
        assert_eq!(im.astropy_dtype(), "uint16");
        im.bscale = 2.0;
        assert_eq!(im.astropy_dtype(), "float32");
        im.bitpix = 32;
        assert_eq!(im.astropy_dtype(), "float64");
        im.bitpix = 8;
        im.bscale = 1.0;
        im.bzero = -128.0;
        assert_eq!(im.astropy_dtype(), "int8");
    }
}
