//! NumPy `.npy` files: [`Array::from_npy`] reads one block by block,
//! [`Array::to_npy`] writes one block by block, so neither holds the whole
//! array in memory.
//!
//! The format (NumPy's `numpy.lib.format`): the magic `\x93NUMPY`, a
//! version (1.0, 2.0 or 3.0), the length of the header, the header — a
//! Python dict literal with the keys `descr` (the dtype, such as `'<f8'`),
//! `fortran_order` and `shape`, padded with spaces and a newline so the
//! data starts on a 64-byte boundary — and then the elements, in C order
//! (last axis fastest) or, when `fortran_order` is true, in Fortran order.
//!
//! Reading opens the file once to read the header; each block task opens
//! the file again and reads only the bytes of its block: one read per
//! contiguous run of the block in the file (a whole block when it spans
//! the trailing axes), with nearby runs read together. Both C- and
//! Fortran-order files are read, little- or big-endian. Writing always
//! makes a little-endian C-order file; each block task writes its runs at
//! their offsets in a pre-sized file, and the file takes its name only
//! once every block is written.
//!
//! The read layer is region-capable (`NpyRegion`): a consumer that needs
//! only part of a block at a time — a reduction of `x + x.T`, which works
//! in tiles of a quarter of a megabyte — reads each tile from the file
//! inside its own task, and the block is never stored. Such tiles are
//! copied out of the file's memory map (`crate::mapped`), since a `pread`
//! per row of a tile would cost more than the copy; whole blocks are read
//! by `pread` as above.
//!
//! Block reads and writes are registered kernels (`NpyRegion`,
//! `WriteNpyBlock`) whose parameters hold the absolute path and the layout
//! the header gave, so a graph can run in another process on the same
//! filesystem. A read layer's name is derived from the path, the file's
//! size, modification time and inode, the layout and the chunks: the same
//! file read twice has the same keys, a rewritten one new keys. Every whole
//! block read checks the header again, and every tile read the file's
//! stamp, so a file rewritten since it was opened fails the block instead
//! of being misread.
//!
//! The header is parsed here rather than with a crate: the format is a
//! short, fixed dict, and the crates that parse it read the whole array
//! rather than giving the data's offset to read blocks from.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::marker::PhantomData;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::ArrayD;
use rask_core::{Collection, Error, Executor, Kernel, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::{Array, Region};
use crate::chunks::{Chunks, IntoChunks, fmt_shape};
use crate::element::Element;
use crate::kernels::{elem_name, register_elements};
use crate::mapped;
use crate::region::{RegionKernel, RegionRef, register_region_for};
use crate::store::{BlockWrite, FileStamp, check_place, file_path, write_arg};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// The data starts at a multiple of this, as NumPy writes it.
const ALIGN: usize = 64;
/// Runs closer than this in the file are read with one read.
const MAX_GAP: u64 = 8 << 10;
/// The most bytes one read or write moves (bounds the buffer of a task).
const MAX_IO: u64 = 8 << 20;

/// What the header of a `.npy` file says.
///
/// ```
/// # use rask_local as _;
/// use rask_array::{Array, npy};
/// let path = std::env::temp_dir().join(format!("rask-doc-header-{}.npy", std::process::id()));
/// Array::<i16>::zeros(&[3, 5], &[2, 5]).unwrap().to_npy(&path).unwrap();
/// let h = npy::read_header(&path).unwrap();
/// assert_eq!(h.shape, vec![3, 5]);
/// assert_eq!(h.descr, "<i2");
/// assert!(!h.fortran_order);
/// assert_eq!(h.data_offset % 64, 0);
/// std::fs::remove_file(&path).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    /// The format version, `(1, 0)`, `(2, 0)` or `(3, 0)`.
    pub version: (u8, u8),
    /// The dtype as NumPy writes it: byte order, kind and size (`'<f8'`).
    pub descr: String,
    /// Whether the elements are stored in Fortran order (first axis
    /// fastest) rather than C order.
    pub fortran_order: bool,
    /// The array's shape.
    pub shape: Vec<usize>,
    /// Where the elements start in the file, in bytes.
    pub data_offset: u64,
}

/// Reads the header of the `.npy` file at `path` (not the data).
///
/// Fails naming the path when the file cannot be opened, is not an `.npy`
/// file, or has a header this reader does not understand.
pub fn read_header(path: impl AsRef<Path>) -> Result<NpyHeader> {
    let path = path.as_ref();
    let mut file = File::open(path).map_err(|source| io_error(path, source))?;
    parse_header(&mut file).map_err(|msg| bad_file(path, msg))
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn bad_file(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::invalid("npy file", format!("{}: {msg}", path.display()))
}

/// Reads and parses the header from the start of `r`.
fn parse_header(r: &mut impl Read) -> std::result::Result<NpyHeader, String> {
    let mut lead = [0u8; 8];
    let got = read_up_to(r, &mut lead).map_err(|e| format!("cannot read the header: {e}"))?;
    if got < 8 || &lead[..6] != MAGIC {
        return Err(format!(
            "not an npy file: it starts with {:?} where an npy file starts with b\"\\x93NUMPY\" and a version",
            String::from_utf8_lossy(&lead[..got])
        ));
    }
    let version = (lead[6], lead[7]);
    let len_bytes = match version {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        (a, b) => {
            return Err(format!(
                "npy format version {a}.{b} is not supported; versions 1.0, 2.0 and 3.0 are"
            ));
        }
    };
    let mut len = [0u8; 4];
    if read_up_to(r, &mut len[..len_bytes]).map_err(|e| e.to_string())? < len_bytes {
        return Err("the file ends inside the header".into());
    }
    let header_len = u32::from_le_bytes(len) as usize;
    let mut text = Vec::new();
    r.take(header_len as u64)
        .read_to_end(&mut text)
        .map_err(|e| format!("cannot read the header: {e}"))?;
    if text.len() < header_len {
        return Err(format!(
            "the file ends inside the header: the header is {header_len} bytes, but only {} follow",
            text.len()
        ));
    }
    // Versions 1.0 and 2.0 store the header as Latin-1, 3.0 as UTF-8.
    let text: String = if version.0 == 3 {
        String::from_utf8(text).map_err(|_| "the header is not valid UTF-8".to_string())?
    } else {
        text.iter().map(|&b| b as char).collect()
    };
    let (descr, fortran_order, shape) = parse_dict(&text)?;
    Ok(NpyHeader {
        version,
        descr,
        fortran_order,
        shape,
        data_offset: (8 + len_bytes + header_len) as u64,
    })
}

/// Reads until `buf` is full or the input ends; the number of bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A value of the header dict.
enum PyValue {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
    /// Anything else (a list, as in a structured dtype's descr).
    Other(&'static str),
}

/// Parses the header dict: `{'descr': '<f8', 'fortran_order': False,
/// 'shape': (3, 4), }` with any key order and spacing.
fn parse_dict(text: &str) -> std::result::Result<(String, bool, Vec<usize>), String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let fail = |what: &str| format!("the header {text:?} is not a valid npy header dict: {what}");
    p.expect(b'{').map_err(|e| fail(&e))?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string().map_err(|e| fail(&e))?;
        p.expect(b':').map_err(|e| fail(&e))?;
        let value = p.value().map_err(|e| fail(&e))?;
        match (key.as_str(), value) {
            ("descr", PyValue::Str(s)) => descr = Some(s),
            ("descr", PyValue::Other(kind)) => {
                return Err(format!(
                    "the dtype is a {kind} (a structured dtype), which rask arrays cannot hold; \
                     they hold bool, int8-int64, uint8-uint64, float32 and float64"
                ));
            }
            ("fortran_order", PyValue::Bool(b)) => fortran = Some(b),
            ("shape", PyValue::Tuple(t)) => shape = Some(t),
            ("descr" | "fortran_order" | "shape", _) => {
                return Err(fail(&format!("'{key}' has a value of the wrong kind")));
            }
            (other, _) => return Err(fail(&format!("unknown key '{other}'"))),
        }
        p.skip_ws();
        if !p.eat(b',') {
            p.expect(b'}').map_err(|e| fail(&e))?;
            break;
        }
    }
    if p.s[p.i..]
        .iter()
        .any(|c| !c.is_ascii_whitespace() && *c != 0)
    {
        return Err(fail("there is text after the closing brace"));
    }
    match (descr, fortran, shape) {
        (Some(d), Some(f), Some(s)) => Ok((d, f, s)),
        (d, f, _) => {
            let missing = if d.is_none() {
                "descr"
            } else if f.is_none() {
                "fortran_order"
            } else {
                "shape"
            };
            Err(fail(&format!("the key '{missing}' is missing")))
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.i))
        }
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        self.skip_ws();
        let quote = match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("expected a quoted string at byte {}", self.i)),
        };
        let start = self.i + 1;
        let len = self.s[start..]
            .iter()
            .position(|&c| c == quote)
            .ok_or_else(|| "a string is not closed".to_string())?;
        self.i = start + len + 1;
        Ok(String::from_utf8_lossy(&self.s[start..start + len]).into_owned())
    }

    fn value(&mut self) -> std::result::Result<PyValue, String> {
        self.skip_ws();
        let rest = &self.s[self.i..];
        if rest.starts_with(b"True") {
            self.i += 4;
            Ok(PyValue::Bool(true))
        } else if rest.starts_with(b"False") {
            self.i += 5;
            Ok(PyValue::Bool(false))
        } else if matches!(rest.first(), Some(b'\'' | b'"')) {
            Ok(PyValue::Str(self.string()?))
        } else if rest.first() == Some(&b'(') {
            self.i += 1;
            let mut items = Vec::new();
            loop {
                if self.eat(b')') {
                    break;
                }
                self.skip_ws();
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                let n: usize = digits
                    .parse()
                    .map_err(|_| format!("expected an axis length at byte {start}"))?;
                items.push(n);
                // Python 2 wrote long integers with an `L`.
                let _ = self.eat(b'L');
                if !self.eat(b',') {
                    self.expect(b')')?;
                    break;
                }
            }
            Ok(PyValue::Tuple(items))
        } else if rest.first() == Some(&b'[') {
            Ok(PyValue::Other("list"))
        } else {
            Err(format!("unexpected value at byte {}", self.i))
        }
    }
}

/// The dtype a descr names: byte order and NumPy's name.
struct Dtype {
    big_endian: bool,
    /// NumPy's name (`"float64"`), or `None` for a dtype rask arrays cannot
    /// hold.
    name: Option<&'static str>,
}

fn parse_descr(descr: &str) -> Dtype {
    let (order, code) = match descr.as_bytes().first() {
        Some(b'<' | b'>' | b'|' | b'=') => descr.split_at(1),
        _ => ("=", descr),
    };
    let name = match code {
        "b1" | "?" => Some("bool"),
        "i1" | "b" => Some("int8"),
        "i2" => Some("int16"),
        "i4" => Some("int32"),
        "i8" => Some("int64"),
        "u1" | "B" => Some("uint8"),
        "u2" => Some("uint16"),
        "u4" => Some("uint32"),
        "u8" => Some("uint64"),
        "f4" => Some("float32"),
        "f8" => Some("float64"),
        "c8" => Some("complex64"),
        "c16" => Some("complex128"),
        _ => None,
    };
    Dtype {
        big_endian: order == ">" || (order == "=" && cfg!(target_endian = "big")),
        name,
    }
}

/// The little-endian descr of `T`, as NumPy writes it (`'|'` for one byte).
fn descr_of<T: Element>() -> String {
    let order = if size_of::<T>() == 1 { '|' } else { '<' };
    format!("{order}{}", T::NPY_CODE)
}

/// Where the data of a `.npy` file lies and how to decode it, as its
/// header said when the array was opened: what a block read needs besides
/// the block's place, and a layer name's parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct FileLayout {
    /// The absolute path.
    path: String,
    /// Which version of the file (part of the layer name only).
    stamp: FileStamp,
    /// The header's dtype, shape and order, checked again by every block.
    descr: String,
    shape: Vec<usize>,
    fortran_order: bool,
    data_offset: u64,
    big_endian: bool,
}

impl FileLayout {
    /// Where the elements are in the file.
    fn elements(&self) -> mapped::Elements<'_> {
        mapped::Elements {
            data_offset: self.data_offset,
            shape: &self.shape,
            fortran_order: self.fortran_order,
            big_endian: self.big_endian,
        }
    }

    /// The shape as stored in C order: the array's shape, reversed for a
    /// Fortran-order file.
    fn stored_shape(&self) -> Vec<usize> {
        let mut s = self.shape.clone();
        if self.fortran_order {
            s.reverse();
        }
        s
    }

    /// Whether `header`, read from the file now, still describes the data
    /// this layout reads; else what changed.
    fn check(&self, header: &NpyHeader) -> std::result::Result<(), String> {
        if header.descr == self.descr
            && header.shape == self.shape
            && header.fortran_order == self.fortran_order
            && header.data_offset == self.data_offset
        {
            return Ok(());
        }
        let order = |f: bool| if f { "Fortran" } else { "C" };
        Err(format!(
            "the file changed since the array was opened: its header said dtype '{}', shape {}, \
             {} order, data at byte {}, and now says dtype '{}', shape {}, {} order, data at byte {}; \
             open the file again",
            self.descr,
            fmt_shape(&self.shape),
            order(self.fortran_order),
            self.data_offset,
            header.descr,
            fmt_shape(&header.shape),
            order(header.fortran_order),
            header.data_offset
        ))
    }
}

/// Any region of any block of a `.npy` file: the layer's region kernel, so
/// a consumer (an elementwise layer, a reduction of one) reads the file
/// where it needs it instead of a stored block. A whole block is read as
/// the whole-block task reads it (one `pread` per run, nearby runs together); a smaller region is copied out of the file's
/// shared memory map ([`crate::mapped`]), with no system call per run.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct NpyRegion<T> {
    layout: FileLayout,
    tiles: mapped::Tiles,
    _t: PhantomData<T>,
}

impl<T: Element> RegionKernel for NpyRegion<T> {
    const NAME: &'static str = elem_name!("rask.array.from_npy.region", T);
    fn eval(
        &self,
        _: &[Value],
        idx: &[usize],
        region: &Region,
        _: Option<&[usize]>,
    ) -> std::result::Result<Value, TaskError> {
        let l = &self.layout;
        self.tiles.read(
            &l.path,
            &l.stamp,
            &l.elements(),
            idx,
            region,
            &l.path,
            |start, shape| read_block::<T>(l, start, shape),
        )
    }
}

register_region_for!(elements: NpyRegion);

/// Writes one block into the pre-sized, C-order, little-endian `.npy` file
/// being written.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct WriteNpyBlock<T> {
    /// The absolute path of the file being written.
    path: String,
    /// Where the data starts in the file.
    offset: u64,
    /// The whole array's shape.
    shape: Vec<usize>,
    /// The block's index, for errors.
    index: Vec<usize>,
    /// Where the block starts in the array.
    start: Vec<usize>,
    _t: PhantomData<T>,
}

impl<T: Element> Kernel for WriteNpyBlock<T> {
    const NAME: &'static str = elem_name!("rask.array.to_npy", T);
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        write_arg(
            args,
            &self.index,
            &self.start,
            &self.path,
            |block: &ArrayD<T>| {
                check_place(&self.shape, &self.start, block.shape())?;
                OpenOptions::new()
                    .write(true)
                    .open(&self.path)
                    .and_then(|file| {
                        write_block(&file, self.offset, &self.shape, &self.start, block)
                    })
                    .map_err(|e| e.to_string())
            },
        )
    }
    fn label(&self) -> std::borrow::Cow<'static, str> {
        "to-npy".into()
    }
}

register_elements!(WriteNpyBlock);

/// Calls `f(element offset, length)` for every contiguous run, in C order,
/// of the block at `start` of shape `shape` in a C-order array of shape
/// `array_shape`. Runs span every trailing axis the block covers whole.
pub(crate) fn for_each_run<E>(
    array_shape: &[usize],
    start: &[usize],
    shape: &[usize],
    mut f: impl FnMut(u64, u64) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let n = shape.len();
    if shape.contains(&0) {
        return Ok(());
    }
    // Axes from `inner` on are read in one run: all after it are whole.
    let mut inner = n.saturating_sub(1);
    while inner > 0 && shape[inner] == array_shape[inner] {
        inner -= 1;
    }
    let mut strides = vec![1u64; n];
    for a in (0..n.saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * array_shape[a + 1] as u64;
    }
    let run: u64 = shape[inner.min(n)..].iter().map(|&l| l as u64).product();
    let base: u64 = (0..n).map(|a| start[a] as u64 * strides[a]).sum();
    let outer = &shape[..inner.min(n)];
    let mut idx = vec![0usize; outer.len()];
    loop {
        let off: u64 = idx.iter().zip(&strides).map(|(&i, &s)| i as u64 * s).sum();
        f(base + off, run)?;
        // The next index of the outer axes, last fastest.
        let mut a = outer.len();
        loop {
            if a == 0 {
                return Ok(());
            }
            a -= 1;
            idx[a] += 1;
            if idx[a] < outer[a] {
                break;
            }
            idx[a] = 0;
        }
    }
}

/// Reads the block at `start` of shape `shape` (in the array's axes).
fn read_block<T: Element>(
    layout: &FileLayout,
    start: &[usize],
    shape: &[usize],
) -> std::result::Result<ArrayD<T>, String> {
    check_place(&layout.shape, start, shape)?;
    let item = size_of::<T>() as u64;
    let len: usize = shape.iter().product();
    // Zeroed in one allocation (fresh pages come zeroed, so this costs no
    // pass over the memory), then filled run by run.
    let mut out: Vec<T> = Vec::new();
    if len > 0 {
        let mut file = File::open(&layout.path).map_err(|e| e.to_string())?;
        layout.check(&parse_header(&mut file)?)?;
        // A block never holds more than the file does (should it have
        // shrunk, say so before allocating).
        let held = file
            .metadata()
            .map_err(|e| e.to_string())?
            .len()
            .saturating_sub(layout.data_offset)
            / item;
        if len as u64 > held {
            return Err(format!(
                "the block of {len} elements is more than the {held} elements the file holds \
                 after its header: the file is truncated"
            ));
        }
        out = vec![T::default(); len];
        let mut pos = 0usize;
        let stored_shape = layout.stored_shape();
        let (start, shape): (Vec<usize>, Vec<usize>) = if layout.fortran_order {
            (
                start.iter().rev().copied().collect(),
                shape.iter().rev().copied().collect(),
            )
        } else {
            (start.to_vec(), shape.to_vec())
        };
        // Runs in byte offsets, split to at most MAX_IO, gathered into
        // groups read at once.
        let piece = (MAX_IO / item).max(1) * item;
        // Little-endian numbers on a little-endian machine are copied as
        // they are; bools go element by element (any non-zero byte is true).
        let native = !layout.big_endian && cfg!(target_endian = "little") && T::DTYPE != "bool";
        let mut group: Vec<(u64, u64)> = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut flush = |group: &mut Vec<(u64, u64)>| -> std::io::Result<()> {
            let (Some(&(first, _)), Some(&(last, last_len))) = (group.first(), group.last()) else {
                return Ok(());
            };
            let elems = |n: u64| (n / item) as usize;
            let too_long = || std::io::Error::other("the runs read exceed the block");
            if native && group.len() == 1 {
                // One run: read straight into the block's memory.
                let dest = out
                    .get_mut(pos..pos + elems(last_len))
                    .ok_or_else(too_long)?;
                if let Some(bytes) = T::le_bytes_mut(dest) {
                    file.read_exact_at(bytes, layout.data_offset + first)?;
                    pos += elems(last_len);
                    group.clear();
                    return Ok(());
                }
            }
            buf.resize((last + last_len - first) as usize, 0);
            file.read_exact_at(&mut buf, layout.data_offset + first)?;
            for &(off, n) in group.iter() {
                let bytes = &buf[(off - first) as usize..(off - first + n) as usize];
                let dest = out.get_mut(pos..pos + elems(n)).ok_or_else(too_long)?;
                mapped::decode_run(bytes, dest, layout.big_endian)
                    .map_err(std::io::Error::other)?;
                pos += elems(n);
            }
            group.clear();
            Ok(())
        };
        for_each_run::<std::io::Error>(&stored_shape, &start, &shape, |off, run| {
            let (mut off, end) = (off * item, (off + run) * item);
            while off < end {
                let n = piece.min(end - off);
                if let (Some(&(first, _)), Some(&(last, last_len))) = (group.first(), group.last())
                    && (off - (last + last_len) > MAX_GAP || off + n - first > MAX_IO)
                {
                    flush(&mut group)?;
                }
                group.push((off, n));
                off += n;
            }
            Ok(())
        })
        .and_then(|()| flush(&mut group))
        .map_err(|e| e.to_string())?;
        if pos != len {
            return Err(format!("read {pos} of the block's {len} elements"));
        }
    }
    mapped::c_order(shape, layout.fortran_order, out)
}

/// Writes `block`, which starts at `start`, into the C-order data of an
/// array of shape `array_shape` that begins at `data_offset` in `file`.
fn write_block<T: Element>(
    file: &File,
    data_offset: u64,
    array_shape: &[usize],
    start: &[usize],
    block: &ArrayD<T>,
) -> std::io::Result<()> {
    let item = size_of::<T>() as u64;
    let block = block.as_standard_layout();
    let elems = block
        .as_slice()
        .expect("a standard-layout block is contiguous");
    let piece = (MAX_IO / item).max(1);
    let mut pos = 0usize;
    let mut buf: Vec<u8> = Vec::new();
    for_each_run(array_shape, start, block.shape(), |off, run| {
        let mut done = 0;
        while done < run {
            let n = piece.min(run - done);
            buf.clear();
            T::extend_le(&elems[pos..pos + n as usize], &mut buf);
            file.write_all_at(&buf, data_offset + (off + done) * item)?;
            pos += n as usize;
            done += n;
        }
        Ok(())
    })
}

/// The header NumPy would write for this array: version 1.0 when the
/// header fits in 64 KiB, else 2.0; padded so the data is 64-byte aligned.
fn header_bytes(descr: &str, fortran_order: bool, shape: &[usize]) -> Vec<u8> {
    // NumPy's shape tuple, as `fmt_shape` prints it.
    let tuple = fmt_shape(shape);
    let order = if fortran_order { "True" } else { "False" };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {tuple}, }}");
    for (version, len_bytes) in [(1u8, 2usize), (2, 4)] {
        let unpadded = MAGIC.len() + 2 + len_bytes + dict.len() + 1;
        let total = unpadded.div_ceil(ALIGN) * ALIGN;
        let header_len = total - MAGIC.len() - 2 - len_bytes;
        if version == 1 && header_len > u16::MAX as usize {
            continue;
        }
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[version, 0]);
        out.extend_from_slice(&(header_len as u32).to_le_bytes()[..len_bytes]);
        out.extend_from_slice(dict.as_bytes());
        out.resize(total - 1, b' ');
        out.push(b'\n');
        return out;
    }
    unreachable!("a version 2.0 header holds 4 GiB")
}

/// A fresh name next to `path` for the file being written.
pub(crate) fn temp_sibling(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}-{n}.tmp", std::process::id()));
    path.with_file_name(name)
}

impl<T: Element> Array<T> {
    /// Opens the NumPy `.npy` file at `path` as an array split into
    /// `chunks`, reading only the header now: each block is read from the
    /// file when it is computed, so the file may be larger than memory.
    ///
    /// The file may be little- or big-endian, C- or Fortran-order, with a
    /// version 1.0, 2.0 or 3.0 header; its dtype must be `T`'s (`'<f8'`
    /// for `f64`, `'<i4'` for `i32`, `'|b1'` for `bool` …). Fails, naming
    /// the path, when the file is missing, not an `.npy` file, of another
    /// dtype (read it as that type and `astype` it), or shorter than its
    /// header says. A block whose read fails later (the file changed or
    /// vanished) fails the compute with an error naming the path and the
    /// block.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::Array;
    /// let path = std::env::temp_dir().join(format!("rask-doc-from-npy-{}.npy", std::process::id()));
    /// let x = Array::<f64>::arange(0.0, 12.0, 1.0, &[5]).unwrap().reshape(&[3, 4]).unwrap();
    /// x.to_npy(&path).unwrap();
    /// let y = Array::<f64>::from_npy(&path, &[2, 2]).unwrap();
    /// assert_eq!(y.shape(), &[3, 4]);
    /// assert_eq!(y.numblocks(), vec![2, 2]);
    /// assert_eq!(y.compute().unwrap(), x.compute().unwrap());
    /// assert!(Array::<i32>::from_npy(&path, &[2, 2]).is_err()); // the file holds float64
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn from_npy(path: impl AsRef<Path>, chunks: impl IntoChunks) -> Result<Self> {
        let path = path.as_ref();
        let header = read_header(path)?;
        let dtype = parse_descr(&header.descr);
        match dtype.name {
            Some(name) if name == T::DTYPE => {}
            Some(name) => {
                return Err(bad_file(
                    path,
                    format!(
                        "the file holds dtype '{}' ({name}), which does not match the requested element type {}; \
                         read it as Array::<{}>::from_npy and convert with astype::<{}>() if you need {}",
                        header.descr,
                        T::DTYPE,
                        crate::element::rust_type(name),
                        crate::element::rust_type(T::DTYPE),
                        T::DTYPE
                    ),
                ));
            }
            None => {
                return Err(bad_file(
                    path,
                    format!(
                        "the file holds dtype '{}', which rask arrays cannot hold; they hold bool, \
                         int8-int64, uint8-uint64, float32 and float64 (requested: {})",
                        header.descr,
                        T::DTYPE
                    ),
                ));
            }
        }
        let nbytes = header
            .shape
            .iter()
            .try_fold(size_of::<T>() as u64, |acc, &n| acc.checked_mul(n as u64))
            .filter(|n| n.checked_add(header.data_offset).is_some())
            .ok_or_else(|| {
                bad_file(
                    path,
                    format!("the shape {} is too large", fmt_shape(&header.shape)),
                )
            })?;
        let stamp = FileStamp::of(path).map_err(|source| io_error(path, source))?;
        let file_len = stamp.size();
        let expected = header.data_offset + nbytes;
        if file_len < expected {
            return Err(bad_file(
                path,
                format!(
                    "the file is truncated: a {} array of {} with a {}-byte header needs {expected} bytes, \
                     but the file has {file_len}",
                    fmt_shape(&header.shape),
                    T::DTYPE,
                    header.data_offset
                ),
            ));
        }
        let chunks: Chunks = chunks.into_chunks(&header.shape, size_of::<T>())?;
        let layout = FileLayout {
            path: file_path(path)?,
            stamp,
            descr: header.descr,
            shape: header.shape,
            fortran_order: header.fortran_order,
            data_offset: header.data_offset,
            big_endian: dtype.big_endian,
        };
        // Region-capable: a consumer that wants part of a block (a tile of
        // a reduction) reads it from the file itself.
        let tiles = mapped::Tiles::new(&chunks);
        Ok(Array::region_layer(
            "from-npy",
            chunks,
            Vec::new(),
            RegionRef::new(NpyRegion::<T> {
                layout,
                tiles,
                _t: PhantomData,
            }),
            Arc::new(|_: &[usize]| Vec::new()),
            0,
            1,
        ))
    }

    /// Computes the array on the configured scheduler and writes it to
    /// `path` as a NumPy `.npy` file (little-endian, C order, version 1.0
    /// unless the header needs 2.0), which `numpy.load` reads.
    ///
    /// Blocks are computed in parallel and each is written into place as
    /// soon as it is ready, so the whole array is never in memory. The
    /// file is written under a temporary name next to `path` and renamed
    /// to `path` only when every block is written: a failed compute leaves
    /// no partial file at `path`.
    ///
    /// Fails, naming the path, when something already exists there (as
    /// [`Array::to_zarr`] does): pass [`NpyWriteOptions::overwrite`] to
    /// [`Array::to_npy_with`] to replace a file. An array read from `path`
    /// can be written back to `path` that way: its blocks are read from the
    /// old file until the new one replaces it.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::Array;
    /// let path = std::env::temp_dir().join(format!("rask-doc-to-npy-{}.npy", std::process::id()));
    /// let x = Array::<i32>::eye(4, &[3, 3]).unwrap();
    /// x.to_npy(&path).unwrap();
    /// assert!(x.to_npy(&path).is_err()); // the file exists
    /// let bytes = std::fs::read(&path).unwrap();
    /// assert_eq!(&bytes[..6], b"\x93NUMPY");
    /// assert_eq!(bytes.len(), 128 + 16 * 4); // 128-byte header, 16 int32
    /// let back = Array::<i32>::from_npy(&path, &[4, 4]).unwrap();
    /// assert_eq!(back.sum().compute_scalar().unwrap(), 4);
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn to_npy(&self, path: impl AsRef<Path>) -> Result<()> {
        self.to_npy_with(
            path,
            &NpyWriteOptions::new(),
            &*rask_core::executor::current()?,
        )
    }

    /// Like [`Array::to_npy`], with `options` (to replace an existing file),
    /// on `scheduler`.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, npy::NpyWriteOptions};
    /// use rask_local::Scheduler;
    /// let path = std::env::temp_dir().join(format!("rask-doc-to-npy-with-{}.npy", std::process::id()));
    /// Array::<f64>::ones(&[6], &[3]).unwrap().to_npy(&path).unwrap();
    /// // Double it in place: read from the file, write over it.
    /// let y = Array::<f64>::from_npy(&path, &[2]).unwrap() * 2.0;
    /// y.to_npy_with(&path, &NpyWriteOptions::new().overwrite(true), &Scheduler::sync()).unwrap();
    /// let back = Array::<f64>::from_npy(&path, &[6]).unwrap();
    /// assert_eq!(back.sum().compute_scalar().unwrap(), 12.0);
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn to_npy_with(
        &self,
        path: impl AsRef<Path>,
        options: &NpyWriteOptions,
        scheduler: &(impl Executor + ?Sized),
    ) -> Result<()> {
        let path = path.as_ref();
        self.validate()?;
        if let Ok(meta) = path.symlink_metadata() {
            if !options.overwrite {
                return Err(Error::invalid(
                    "npy file",
                    format!(
                        "cannot write {}: the path exists; choose another path, remove it, or \
                         pass NpyWriteOptions::new().overwrite(true) to to_npy_with to replace it",
                        path.display()
                    ),
                ));
            }
            if meta.is_dir() {
                return Err(Error::invalid(
                    "npy file",
                    format!(
                        "cannot overwrite {}: it is a directory; choose another path",
                        path.display()
                    ),
                ));
            }
        }
        let tmp = temp_sibling(path);
        let result = (|| {
            let offset = create_npy::<T>(&tmp, self.shape(), self.nbytes() as u64)?;
            let kernel = npy_block_writer::<T>(&tmp, offset, self.shape())?;
            crate::array::compute_on(
                scheduler,
                &BlockWrite {
                    array: self,
                    prefix: "to-npy",
                    kernel: &kernel,
                },
            )?;
            std::fs::rename(&tmp, path).map_err(|source| io_error(path, source))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

/// How [`Array::to_npy_with`] writes a file.
///
/// ```
/// use rask_array::npy::NpyWriteOptions;
/// assert!(!NpyWriteOptions::new().overwrites());
/// assert!(NpyWriteOptions::new().overwrite(true).overwrites());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NpyWriteOptions {
    overwrite: bool,
}

impl NpyWriteOptions {
    /// The defaults: fail when the path exists.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether to replace a file already at the path (never a directory).
    #[must_use]
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Whether an existing file at the path is replaced.
    pub fn overwrites(&self) -> bool {
        self.overwrite
    }
}

/// Creates the file `tmp` that `to_npy` fills: the header of a
/// little-endian C-order array of `T` of shape `shape`, then room for its
/// `nbytes` of data. Returns where the data starts.
fn create_npy<T: Element>(tmp: &Path, shape: &[usize], nbytes: u64) -> Result<u64> {
    let header = header_bytes(&descr_of::<T>(), false, shape);
    let file = File::create(tmp).map_err(|source| io_error(tmp, source))?;
    file.write_all_at(&header, 0)
        .and_then(|()| file.set_len(header.len() as u64 + nbytes))
        .map_err(|source| io_error(tmp, source))?;
    Ok(header.len() as u64)
}

/// The write kernel of each block of an array of shape `shape` into the
/// pre-sized `.npy` file at `file`, whose data starts at `offset`.
fn npy_block_writer<T: Element>(
    file: &Path,
    offset: u64,
    shape: &[usize],
) -> Result<impl Fn(&[usize], &[usize]) -> WriteNpyBlock<T> + use<T>> {
    let (path, shape) = (file_path(file)?, shape.to_vec());
    Ok(move |index: &[usize], start: &[usize]| WriteNpyBlock {
        path: path.clone(),
        offset,
        shape: shape.clone(),
        index: index.to_vec(),
        start: start.to_vec(),
        _t: PhantomData,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    /// The write graph of `to_npy`, built as it builds it, is portable:
    /// decoded as another process would, it writes the file.
    #[test]
    fn write_graphs_are_portable() {
        use rask_core::{Executor, Plan};
        let dir = std::env::temp_dir().join(format!("rask-npy-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (tmp, path) = (dir.join("w.npy.tmp"), dir.join("w.npy"));
        let a = ArrayD::from_shape_fn(IxDyn(&[5, 7]), |i| (i[0] * 7 + i[1]) as i64 - 9);
        let x = Array::from_ndarray(a.clone(), &[2, 3]).unwrap();
        let offset = create_npy::<i64>(&tmp, x.shape(), x.nbytes() as u64).unwrap();
        let kernel = npy_block_writer::<i64>(&tmp, offset, x.shape()).unwrap();
        let write = BlockWrite {
            array: &x,
            prefix: "to-npy",
            kernel: &kernel,
        };
        let plan = rask_core::compute::plan(&write).unwrap();
        plan.graph.check_portable().unwrap();
        let decoded = Plan::decode(&plan.encode().unwrap()).unwrap();
        rask_local::SyncExecutor.execute(&decoded, &[]).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let back = Array::<i64>::from_npy(&path, &[5, 7]).unwrap();
        assert_eq!(back.compute_with(&rask_local::SyncExecutor).unwrap(), a);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn runs_coalesce_whole_trailing_axes() {
        let runs = |array: &[usize], start: &[usize], shape: &[usize]| {
            let mut runs = Vec::new();
            for_each_run::<()>(array, start, shape, |o, n| {
                runs.push((o, n));
                Ok(())
            })
            .unwrap();
            runs
        };
        // Rows 1..3 of a 4 x 5 array: one run.
        assert_eq!(runs(&[4, 5], &[1, 0], &[2, 5]), vec![(5, 10)]);
        // Columns 1..3 of rows 0..2: a run per row.
        assert_eq!(runs(&[4, 5], &[0, 1], &[2, 2]), vec![(1, 2), (6, 2)]);
        // A 0-d array: one element.
        assert_eq!(runs(&[], &[], &[]), vec![(0, 1)]);
        // One plane of a 3 x 2 x 2 array.
        assert_eq!(runs(&[3, 2, 2], &[2, 0, 0], &[1, 2, 2]), vec![(8, 4)]);
        // An empty block: no run.
        assert_eq!(runs(&[3, 0], &[0, 0], &[3, 0]), vec![]);
    }

    #[test]
    fn header_is_aligned_and_parses_back() {
        for shape in [vec![], vec![3], vec![2, 0, 7]] {
            let h = header_bytes("<f8", false, &shape);
            assert_eq!(h.len() % ALIGN, 0);
            assert_eq!(*h.last().unwrap(), b'\n');
            let parsed = parse_header(&mut h.as_slice()).unwrap();
            assert_eq!(parsed.shape, shape);
            assert_eq!(parsed.descr, "<f8");
            assert_eq!(parsed.version, (1, 0));
            assert_eq!(parsed.data_offset, h.len() as u64);
        }
        // So many axes that the header needs version 2.0.
        let shape = vec![1; 30_000];
        let h = header_bytes("<i4", false, &shape);
        assert_eq!(&h[6..8], &[2, 0]);
        assert_eq!(parse_header(&mut h.as_slice()).unwrap().shape, shape);
    }

    #[test]
    fn dicts_in_other_spellings_parse() {
        let (d, f, s) =
            parse_dict("{\"shape\": (2L, 3L), \"fortran_order\": True, \"descr\": \">u2\"}  \n")
                .unwrap();
        assert_eq!((d.as_str(), f, s), (">u2", true, vec![2, 3]));
        assert!(
            parse_dict("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': ()}")
                .unwrap_err()
                .contains("structured")
        );
        assert!(
            parse_dict("{'descr': '<f8', 'shape': ()}")
                .unwrap_err()
                .contains("'fortran_order' is missing")
        );
    }
}
