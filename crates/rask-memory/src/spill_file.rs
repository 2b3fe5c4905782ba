//! One spilled value on disk: a small header, then the value's codec bytes
//! in blocks of up to 1 MiB, each LZ4-compressed when that makes it
//! smaller.
//!
//! Layout, integers little-endian:
//!
//! ```text
//! magic     8 bytes  "RASKSPL2"
//! tag_len   2 bytes  then tag_len bytes of the codec tag (UTF-8)
//! raw_len   8 bytes  length of the codec bytes
//! checksum  8 bytes  CRC-32C of tag_len, the tag and raw_len
//! blocks    ceil(raw_len / 1 MiB) of them, each:
//!   method      1 byte   0 = stored, 1 = lz4 block
//!   raw_n       4 bytes  codec bytes in the block (1 MiB, the last fewer)
//!   stored_n    4 bytes  bytes that follow
//!   checksum    8 bytes  CRC-32C of those bytes
//!   stored_n bytes
//! ```
//!
//! The value is streamed through the blocks ([`Value::encode_to`],
//! [`Value::decode_from_reader`]): an n-d block or a dataframe partition
//! is written from its own memory and read back into its new memory, with
//! nothing of the value's size in between — a block at a time is
//! compressed into, or decompressed from, a reused 1 MiB buffer. Spilling
//! happens when memory is short, so it must not need much of its own: each
//! fresh buffer of a value's size is faulted in page by page, which cost
//! more than the LZ4 work. `raw_len` and the header's checksum are written
//! last, over the placeholder the header starts with.
//!
//! The checksums catch a damaged file that would still decode (a flipped
//! bit in the middle of an f64 block decodes to a wrong number): reading a
//! spill file either gives back the value that was written or an error.

use std::io::{Read, Write};
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use rask_config::SpillCompression;
use rask_core::Value;

const MAGIC: &[u8; 8] = b"RASKSPL2";
const STORED: u8 = 0;
const LZ4: u8 = 1;
/// Codec bytes per block.
const BLOCK: usize = 1 << 20;
/// Bytes of a block's header.
const BLOCK_HEADER: usize = 1 + 4 + 4 + 8;

/// Writes `value` to a new file at `path` (which must not exist),
/// compressing blocks with LZ4 when `compression` asks for it and they
/// compress; returns the file's length. A failed write removes the file.
///
/// # Errors
///
/// [`WriteError::Io`] for a failed write (a full disk),
/// [`WriteError::Codec`] when the value cannot be encoded (no codec, a
/// serde error, or a panic in its encoder, caught by `encode_to`).
pub(crate) fn write(
    path: &Path,
    value: &Value,
    compression: SpillCompression,
) -> Result<u64, WriteError> {
    let written = (|| {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)?;
        let tag = value.codec_tag().ok_or_else(|| {
            WriteError::Codec(rask_core::codec::CodecError::NoCodec {
                type_name: value.type_name(),
            })
        })?;
        let tag_len = u16::try_from(tag.len()).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the type tag `{tag}` is too long for a spill file"),
            )
        })?;
        let mut header = Vec::with_capacity(8 + 2 + tag.len() + 16);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&tag_len.to_le_bytes());
        header.extend_from_slice(tag.as_bytes());
        // raw_len and the checksum, written when known.
        header.extend_from_slice(&[0; 16]);
        let mut w = Blocks::new(file, matches!(compression, SpillCompression::Lz4));
        w.file.write_all(&header)?;
        w.len = header.len() as u64;
        let encoded = value.encode_to(&mut w);
        if let Some(e) = w.failed.take() {
            return Err(WriteError::Io(e));
        }
        encoded.map_err(WriteError::Codec)?;
        w.flush_block()?;
        let at = header.len() - 16;
        header[at..at + 8].copy_from_slice(&w.raw_len.to_le_bytes());
        let sum = checksum(&header[8..at + 8]);
        header[at + 8..].copy_from_slice(&sum.to_le_bytes());
        w.file.write_all_at(&header[at..], at as u64)?;
        Ok(w.len)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

/// Why a value could not be spilled.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// Writing the file failed.
    Io(std::io::Error),
    /// The value could not be encoded: it stays in memory.
    Codec(rask_core::codec::CodecError),
}

impl From<std::io::Error> for WriteError {
    fn from(e: std::io::Error) -> Self {
        WriteError::Io(e)
    }
}

/// A writer that cuts what it is given into blocks and writes each to the
/// file, compressed when that pays. An I/O error is kept (`failed`) and
/// ends the writing; the encoder sees a plain error.
struct Blocks {
    file: std::fs::File,
    /// Bytes of the block being filled.
    buf: Vec<u8>,
    /// Where a block is compressed.
    scratch: Vec<u8>,
    compress: bool,
    raw_len: u64,
    /// Bytes written to the file.
    len: u64,
    failed: Option<std::io::Error>,
}

impl Blocks {
    fn new(file: std::fs::File, compress: bool) -> Blocks {
        Blocks {
            file,
            buf: Vec::new(),
            scratch: Vec::new(),
            compress,
            raw_len: 0,
            len: 0,
            failed: None,
        }
    }

    /// Writes one block of codec bytes.
    fn block(&mut self, block: &[u8]) -> std::io::Result<()> {
        let packed = if self.compress && worth_compressing(block) {
            self.scratch
                .resize(lz4_flex::block::get_maximum_output_size(block.len()), 0);
            let n = lz4_flex::block::compress_into(block, &mut self.scratch)
                .map_err(std::io::Error::other)?;
            (n < block.len() - block.len() / 16).then(|| &self.scratch[..n])
        } else {
            None
        };
        let (method, body) = match packed {
            Some(p) => (LZ4, p),
            None => (STORED, block),
        };
        let mut h = [0u8; BLOCK_HEADER];
        h[0] = method;
        h[1..5].copy_from_slice(&(block.len() as u32).to_le_bytes());
        h[5..9].copy_from_slice(&(body.len() as u32).to_le_bytes());
        h[9..].copy_from_slice(&checksum(body).to_le_bytes());
        self.file.write_all(&h)?;
        self.file.write_all(body)?;
        self.len += (BLOCK_HEADER + body.len()) as u64;
        self.raw_len += block.len() as u64;
        Ok(())
    }

    /// Writes the block being filled, if any.
    fn flush_block(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.buf);
        let r = self.block(&buf);
        self.buf = buf;
        self.buf.clear();
        r
    }

    fn write_all_blocks(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            if self.buf.is_empty() && data.len() >= BLOCK {
                // Whole blocks straight from the caller's memory.
                let (block, rest) = data.split_at(BLOCK);
                self.block(block)?;
                data = rest;
                continue;
            }
            if self.buf.capacity() < BLOCK {
                self.buf.reserve_exact(BLOCK - self.buf.len());
            }
            let n = (BLOCK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() == BLOCK {
                self.flush_block()?;
            }
        }
        Ok(())
    }
}

impl Write for Blocks {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.failed.is_some() {
            return Err(std::io::Error::other("an earlier write failed"));
        }
        match self.write_all_blocks(data) {
            Ok(()) => Ok(data.len()),
            Err(e) => {
                let text = e.to_string();
                self.failed = Some(e);
                Err(std::io::Error::other(text))
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How many bytes of a block are compressed to decide whether the whole
/// is worth compressing.
const SAMPLE: usize = 16 << 10;

/// Whether LZ4 is likely to shrink `bytes` by a tenth: small blocks are
/// tried; for larger ones a sample from the middle decides, so
/// incompressible data (noise, already compressed bytes) is not compressed
/// in vain.
fn worth_compressing(bytes: &[u8]) -> bool {
    if bytes.len() < 4 * SAMPLE {
        return bytes.len() >= 64;
    }
    let start = bytes.len() / 2 - SAMPLE / 2;
    let sample = &bytes[start..start + SAMPLE];
    lz4_flex::block::compress(sample).len() < SAMPLE - SAMPLE / 10
}

/// Why a spill file could not be read back.
pub(crate) enum ReadError {
    /// The file could not be opened or read.
    Io(std::io::Error),
    /// The file is not what was written (cut short, damaged).
    Corrupt(String),
    /// The file is whole but the type's decoder panicked on it.
    Decode(rask_core::codec::CodecError),
}

/// The value spilled to `path`.
pub(crate) fn read(path: &Path) -> Result<Value, ReadError> {
    let mut file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let len = file.metadata().map_err(ReadError::Io)?.len();
    read_from(&mut file, len)
}

/// The value of a spill file's bytes (tests read damaged copies).
#[cfg(test)]
fn parse(bytes: &[u8]) -> Result<Value, String> {
    match read_from(&mut &bytes[..], bytes.len() as u64) {
        Ok(v) => Ok(v),
        Err(ReadError::Corrupt(reason)) => Err(reason),
        Err(ReadError::Io(e)) => Err(e.to_string()),
        Err(ReadError::Decode(e)) => Err(e.to_string()),
    }
}

fn corrupt(reason: impl Into<String>) -> ReadError {
    ReadError::Corrupt(reason.into())
}

/// A read error: the file cut short is damage, the rest I/O.
fn io(e: std::io::Error) -> ReadError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        corrupt("the file is cut short")
    } else {
        ReadError::Io(e)
    }
}

fn word(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Reads a spill file of `len` bytes from `r`.
fn read_from(r: &mut dyn Read, len: u64) -> Result<Value, ReadError> {
    let mut head = [0u8; 10];
    r.read_exact(&mut head).map_err(io)?;
    if &head[..8] != MAGIC {
        return Err(corrupt("it does not start with rask's spill header"));
    }
    let tag_len = u16::from_le_bytes([head[8], head[9]]) as usize;
    let mut rest = vec![0u8; tag_len + 16];
    r.read_exact(&mut rest).map_err(io)?;
    let mut summed = head[8..].to_vec();
    summed.extend_from_slice(&rest[..tag_len + 8]);
    if checksum(&summed) != word(&rest[tag_len + 8..]) {
        return Err(corrupt("its header's checksum does not match"));
    }
    let tag =
        std::str::from_utf8(&rest[..tag_len]).map_err(|_| corrupt("the type tag is not UTF-8"))?;
    let raw_len = word(&rest[tag_len..]);
    // LZ4 expands at most 255-fold: a larger length is damage, not a
    // reason to allocate.
    if raw_len > len.saturating_mul(255) {
        return Err(corrupt(format!(
            "it claims {raw_len} bytes of data in a file of {len} bytes"
        )));
    }
    let raw_len = usize::try_from(raw_len).map_err(|_| corrupt("too large for memory"))?;
    let mut blocks = Unblocks {
        r,
        left: raw_len,
        buf: Vec::new(),
        at: 0,
        scratch: Vec::new(),
        failed: None,
    };
    let value = Value::decode_from_reader(tag, &mut blocks, raw_len);
    if let Some(e) = blocks.failed.take() {
        return Err(e);
    }
    let value = value.map_err(|e| match e {
        // Every block's checksum matched: the decoder is at fault.
        rask_core::codec::CodecError::Panicked { .. } => ReadError::Decode(e),
        e => corrupt(e.to_string()),
    })?;
    if blocks.left > 0 || blocks.at < blocks.buf.len() {
        return Err(corrupt("the value ended before its bytes did"));
    }
    if blocks.r.read(&mut [0u8; 1]).map_err(io)? != 0 {
        return Err(corrupt("bytes follow the last block"));
    }
    Ok(value)
}

/// A reader of the codec bytes in a file's blocks, each checked and
/// decompressed as it is reached. A failure is kept (`failed`); the
/// decoder sees a plain error.
struct Unblocks<'a> {
    r: &'a mut dyn Read,
    /// Codec bytes in blocks not read yet.
    left: usize,
    /// The current block's codec bytes, and how many were handed out.
    buf: Vec<u8>,
    at: usize,
    scratch: Vec<u8>,
    failed: Option<ReadError>,
}

impl Unblocks<'_> {
    /// Reads the next block's header; its method, raw and stored length.
    fn header(&mut self) -> Result<(u8, usize, u64), ReadError> {
        let mut h = [0u8; BLOCK_HEADER];
        self.r.read_exact(&mut h).map_err(io)?;
        let raw_n = u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize;
        let stored_n = u32::from_le_bytes([h[5], h[6], h[7], h[8]]) as usize;
        let expected = self.left.min(BLOCK);
        let ok = match h[0] {
            STORED => stored_n == raw_n,
            LZ4 => stored_n <= lz4_flex::block::get_maximum_output_size(BLOCK),
            _ => false,
        };
        if raw_n != expected || !ok {
            return Err(corrupt(
                "a block's header is not one that was written (method or lengths)",
            ));
        }
        self.scratch.resize(stored_n, 0);
        Ok((h[0], raw_n, word(&h[9..])))
    }

    /// Reads the next block into `out` (exactly its length).
    fn block_into(&mut self, method: u8, sum: u64, out: &mut [u8]) -> Result<(), ReadError> {
        if method == STORED {
            self.r.read_exact(out).map_err(io)?;
            if checksum(out) != sum {
                return Err(corrupt("a block's checksum does not match"));
            }
        } else {
            self.r.read_exact(&mut self.scratch).map_err(io)?;
            if checksum(&self.scratch) != sum {
                return Err(corrupt("a block's checksum does not match"));
            }
            let n = lz4_flex::block::decompress_into(&self.scratch, out)
                .map_err(|e| corrupt(format!("LZ4 data does not decompress: {e}")))?;
            if n != out.len() {
                return Err(corrupt(format!(
                    "a block of {} bytes decompressed to {n}",
                    out.len()
                )));
            }
        }
        self.left -= out.len();
        Ok(())
    }

    fn read_some(&mut self, out: &mut [u8]) -> Result<usize, ReadError> {
        if self.at == self.buf.len() {
            if self.left == 0 || out.is_empty() {
                return Ok(0);
            }
            let (method, raw_n, sum) = self.header()?;
            if out.len() >= raw_n {
                // A whole block straight into the caller's memory.
                self.block_into(method, sum, &mut out[..raw_n])?;
                return Ok(raw_n);
            }
            let mut buf = std::mem::take(&mut self.buf);
            buf.resize(raw_n, 0);
            let r = self.block_into(method, sum, &mut buf);
            self.buf = buf;
            self.at = 0;
            if let Err(e) = r {
                self.buf.clear();
                return Err(e);
            }
        }
        let n = (self.buf.len() - self.at).min(out.len());
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl Read for Unblocks<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.failed.is_some() {
            return Err(std::io::Error::other("an earlier read failed"));
        }
        self.read_some(out).map_err(|e| {
            let text = match &e {
                ReadError::Io(e) => e.to_string(),
                ReadError::Corrupt(s) => s.clone(),
                ReadError::Decode(e) => e.to_string(),
            };
            self.failed = Some(e);
            std::io::Error::other(text)
        })
    }
}

/// The CRC-32C of `bytes` (the SSE 4.2 and ARMv8 CRC instructions where
/// the machine has them: several GB/s, where a multiply-rotate hash over
/// 8-byte words was a few percent of a spilling run's time). It finds
/// damage, not tampering.
fn checksum(bytes: &[u8]) -> u64 {
    u64::from(crc32c::crc32c(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "rask-spill-file-test-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn values_round_trip_raw_and_compressed() {
        let d = dir("round-trip");
        let values = [
            Value::new(vec![0u8; 10_000]),
            Value::new((0..1000).map(|i| i as f64 * 0.37).collect::<Vec<f64>>()),
            Value::new(String::from("x")),
        ];
        for (i, v) in values.iter().enumerate() {
            for c in [SpillCompression::Lz4, SpillCompression::None] {
                let path = d.join(format!("{i}-{c}"));
                let e = v.encode().unwrap();
                let len = write(&path, v, c).unwrap();
                assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
                let back = read(&path).ok().unwrap();
                assert_eq!(back.encode().unwrap(), e);
            }
        }
        let zeros = std::fs::metadata(d.join("0-lz4")).unwrap().len();
        assert!(zeros < 1000, "10 kB of zeros compress, got {zeros} bytes");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn incompressible_values_are_stored_raw_without_compressing_them_all() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..(1 << 20))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(!worth_compressing(&noise));
        assert!(worth_compressing(&vec![0u8; 1 << 20]));
        let d = dir("noise");
        let v = Value::new(noise);
        let e = v.encode().unwrap();
        let len = write(&d.join("v"), &v, SpillCompression::Lz4).unwrap();
        assert!(len > 1 << 20);
        assert_eq!(read(&d.join("v")).ok().unwrap().encode().unwrap(), e);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn values_of_many_blocks_round_trip_with_blocks_stored_and_compressed() {
        // 3.5 MiB: noise (a stored block), then a pattern (compressed
        // blocks; the middle, where the sample is taken, is in it).
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let bytes: Vec<u8> = (0..(7 << 19))
            .map(|i| {
                if i >= 1 << 20 {
                    return (i % 7) as u8;
                }
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let d = dir("blocks");
        let v = Value::new(bytes);
        let e = v.encode().unwrap();
        for c in [SpillCompression::Lz4, SpillCompression::None] {
            let path = d.join(format!("{c}"));
            let len = write(&path, &v, c).unwrap();
            assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
            let file = std::fs::read(&path).unwrap();
            assert_eq!(parse(&file).ok().unwrap().encode().unwrap(), e);
            assert_eq!(read(&path).ok().unwrap().encode().unwrap(), e);
            if c == SpillCompression::Lz4 {
                // The pattern shrank, the noise did not grow.
                assert!(len < e.bytes.len() as u64 - (1 << 20), "{len} bytes");
            }
            // Cut at every block boundary and inside the last block.
            let mut at = 8 + 2 + e.tag.len() + 16;
            while at < file.len() {
                assert!(parse(&file[..at]).is_err(), "{c}: cut at {at}");
                let n = u32::from_le_bytes(file[at + 5..at + 9].try_into().unwrap()) as usize;
                at += BLOCK_HEADER + n;
            }
            assert!(parse(&file[..file.len() - 1]).is_err());
            let mut longer = file.clone();
            longer.push(0);
            assert!(parse(&longer).is_err());
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn blocks_stream_from_and_into_their_memory_in_any_layout() {
        use ndarray::{ArrayD, IxDyn};
        let d = dir("arrays");
        let a = ArrayD::from_shape_fn(IxDyn(&[300, 700, 3]), |i| {
            (i[0] * 7 + i[1] * 3 + i[2]) as f64 * 0.25
        });
        // Not contiguous in standard order: written element by element.
        let t = a.clone().reversed_axes();
        assert!(t.as_slice().is_none());
        let empty = ArrayD::<f64>::zeros(IxDyn(&[0, 4]));
        for (i, x) in [a, t, empty].into_iter().enumerate() {
            let v = Value::new(x.clone());
            for c in [SpillCompression::Lz4, SpillCompression::None] {
                let path = d.join(format!("{i}-{c}"));
                write(&path, &v, c).unwrap();
                let back = read(&path).ok().unwrap();
                assert_eq!(back.downcast_ref::<ArrayD<f64>>(), Some(&x), "{i} {c}");
                let file = std::fs::read(&path).unwrap();
                for cut in [file.len() / 3, file.len() - 1] {
                    assert!(parse(&file[..cut]).is_err(), "{i} {c}: cut at {cut}");
                }
            }
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_value_without_a_codec_is_not_written() {
        struct Local;
        let d = dir("no-codec");
        let path = d.join("v");
        let r = write(&path, &Value::new(Local), SpillCompression::Lz4);
        assert!(matches!(r, Err(WriteError::Codec(_))));
        assert!(!path.exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn every_damage_is_an_error() {
        let d = dir("damage");
        let path = d.join("v");
        write(
            &path,
            &Value::new(vec![1.5f64; 100]),
            SpillCompression::None,
        )
        .unwrap();
        let good = std::fs::read(&path).unwrap();
        for cut in 0..good.len() {
            assert!(parse(&good[..cut]).is_err(), "cut at {cut}");
        }
        for i in (0..good.len()).step_by(7) {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            assert!(parse(&bad).is_err(), "flipped byte {i}");
        }
        std::fs::remove_dir_all(&d).unwrap();
    }
}
