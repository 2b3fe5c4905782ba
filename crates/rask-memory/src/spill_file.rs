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
//! checksum  8 bytes  of the tag and raw_len
//! blocks    ceil(raw_len / 1 MiB) of them, each:
//!   method      1 byte   0 = stored, 1 = lz4 block
//!   raw_n       4 bytes  codec bytes in the block (1 MiB, the last fewer)
//!   stored_n    4 bytes  bytes that follow
//!   checksum    8 bytes  of those bytes (see `checksum`)
//!   stored_n bytes
//! ```
//!
//! Blocks let a spill be written and read back with no buffer of the
//! value's size besides the codec bytes themselves: a block is compressed
//! into (or read into) one reused 1 MiB buffer and decompressed straight
//! into place. Spilling under memory pressure must not need much memory of
//! its own — fresh memory is faulted in page by page, and a value's size
//! in compressed copies at each spill and read cost more than the LZ4 work.
//!
//! The checksums catch a damaged file that would still decode (a flipped
//! bit in the middle of an f64 block decodes to a wrong number): reading a
//! spill file either gives back the value that was written or an error.

use std::io::{Read, Write};
use std::path::Path;

use rask_config::SpillCompression;
use rask_core::Value;
use rask_core::codec::EncodedValue;

const MAGIC: &[u8; 8] = b"RASKSPL2";
const STORED: u8 = 0;
const LZ4: u8 = 1;
/// Codec bytes per block.
const BLOCK: usize = 1 << 20;
/// Bytes of a block's header.
const BLOCK_HEADER: usize = 1 + 4 + 4 + 8;

/// Writes `encoded` to a new file at `path` (which must not exist),
/// compressing blocks with LZ4 when `compression` asks for it and the
/// bytes compress; returns the file's length. A failed write removes the
/// file.
pub(crate) fn write(
    path: &Path,
    encoded: &EncodedValue,
    compression: SpillCompression,
) -> std::io::Result<u64> {
    let raw = encoded.bytes.as_slice();
    let compress =
        matches!(compression, SpillCompression::Lz4) && raw.len() >= 64 && worth_compressing(raw);
    let tag = encoded.tag.as_bytes();
    let tag_len = u16::try_from(tag.len()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "the type tag `{}` is too long for a spill file",
                encoded.tag
            ),
        )
    })?;
    let mut header = Vec::with_capacity(8 + 2 + tag.len() + 16);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&tag_len.to_le_bytes());
    header.extend_from_slice(tag);
    header.extend_from_slice(&(raw.len() as u64).to_le_bytes());
    header.extend_from_slice(&checksum(&header[8..]).to_le_bytes());
    let mut scratch = if compress {
        vec![0u8; lz4_flex::block::get_maximum_output_size(BLOCK.min(raw.len()))]
    } else {
        Vec::new()
    };
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)?;
        file.write_all(&header)?;
        let mut len = header.len() as u64;
        for block in raw.chunks(BLOCK) {
            let packed = if compress {
                let n = lz4_flex::block::compress_into(block, &mut scratch)
                    .map_err(std::io::Error::other)?;
                (n < block.len() - block.len() / 16).then(|| &scratch[..n])
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
            file.write_all(&h)?;
            file.write_all(body)?;
            len += (BLOCK_HEADER + body.len()) as u64;
        }
        file.flush()?;
        Ok(len)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

/// How many bytes of the middle of a value are compressed to decide
/// whether the whole is worth compressing.
const SAMPLE: usize = 16 << 10;

/// Whether LZ4 is likely to shrink `bytes` by a tenth: small values are
/// tried; for large ones a sample from the middle decides, so incompressible
/// data (noise, already compressed bytes) is not compressed in vain.
fn worth_compressing(bytes: &[u8]) -> bool {
    if bytes.len() < 4 * SAMPLE {
        return true;
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
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ReadError::Corrupt("the file is cut short".into())
        } else {
            ReadError::Io(e)
        }
    }
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
    }
}

/// Reads a spill file of `len` bytes from `r`.
fn read_from(r: &mut impl Read, len: u64) -> Result<Value, ReadError> {
    let corrupt = |reason: &str| ReadError::Corrupt(reason.to_owned());
    let mut head = [0u8; 10];
    r.read_exact(&mut head)?;
    if &head[..8] != MAGIC {
        return Err(corrupt("it does not start with rask's spill header"));
    }
    let tag_len = u16::from_le_bytes([head[8], head[9]]) as usize;
    let mut rest = vec![0u8; tag_len + 16];
    r.read_exact(&mut rest)?;
    let word = |b: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        u64::from_le_bytes(a)
    };
    let mut summed = head[8..].to_vec();
    summed.extend_from_slice(&rest[..tag_len + 8]);
    if checksum(&summed) != word(&rest[tag_len + 8..]) {
        return Err(corrupt("its header's checksum does not match"));
    }
    let tag =
        std::str::from_utf8(&rest[..tag_len]).map_err(|_| corrupt("the type tag is not UTF-8"))?;
    let raw_len = word(&rest[tag_len..tag_len + 8]);
    // LZ4 expands at most 255-fold: a larger length is damage, not a
    // reason to allocate.
    if raw_len > len.saturating_mul(255) {
        return Err(ReadError::Corrupt(format!(
            "it claims {raw_len} bytes of data in a file of {len} bytes"
        )));
    }
    let raw_len = usize::try_from(raw_len).map_err(|_| corrupt("too large for memory"))?;
    let mut raw = vec![0u8; raw_len];
    let mut scratch = Vec::new();
    for block in raw.chunks_mut(BLOCK) {
        let mut h = [0u8; BLOCK_HEADER];
        r.read_exact(&mut h)?;
        let raw_n = u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize;
        let stored_n = u32::from_le_bytes([h[5], h[6], h[7], h[8]]) as usize;
        let sum = word(&h[9..]);
        if raw_n != block.len() || stored_n > lz4_flex::block::get_maximum_output_size(BLOCK) {
            return Err(corrupt("a block's lengths are not those written"));
        }
        match h[0] {
            STORED if stored_n == raw_n => {
                r.read_exact(block)?;
                if checksum(block) != sum {
                    return Err(corrupt("its checksum does not match"));
                }
            }
            LZ4 => {
                scratch.resize(stored_n, 0);
                r.read_exact(&mut scratch)?;
                if checksum(&scratch) != sum {
                    return Err(corrupt("its checksum does not match"));
                }
                let n = lz4_flex::block::decompress_into(&scratch, block).map_err(|e| {
                    ReadError::Corrupt(format!("LZ4 data does not decompress: {e}"))
                })?;
                if n != raw_n {
                    return Err(ReadError::Corrupt(format!(
                        "a block of {raw_n} bytes decompressed to {n}"
                    )));
                }
            }
            m => {
                return Err(ReadError::Corrupt(format!(
                    "unknown block method {m} or a stored block of the wrong length"
                )));
            }
        }
    }
    if r.read(&mut [0u8; 1])? != 0 {
        return Err(corrupt("bytes follow the last block"));
    }
    Value::decode(tag, &raw).map_err(|e| ReadError::Corrupt(e.to_string()))
}

/// A fast hash of `bytes` (not cryptographic: it finds damage, not
/// tampering).
fn checksum(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(a)).wrapping_mul(K);
    }
    for &b in words.remainder() {
        h = (h.rotate_left(23) ^ u64::from(b)).wrapping_mul(K);
    }
    h ^ (h >> 29)
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
                let len = write(&path, &e, c).unwrap();
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
        let e = Value::new(noise).encode().unwrap();
        let len = write(&d.join("v"), &e, SpillCompression::Lz4).unwrap();
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
        let e = Value::new(bytes).encode().unwrap();
        for c in [SpillCompression::Lz4, SpillCompression::None] {
            let path = d.join(format!("{c}"));
            let len = write(&path, &e, c).unwrap();
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
    fn every_damage_is_an_error() {
        let d = dir("damage");
        let path = d.join("v");
        let e = Value::new(vec![1.5f64; 100]).encode().unwrap();
        write(&path, &e, SpillCompression::None).unwrap();
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
