//! One spilled value on disk: a small header, then the value's codec bytes
//! (LZ4-compressed when that makes them smaller).
//!
//! Layout, integers little-endian:
//!
//! ```text
//! magic     8 bytes  "RASKSPL1"
//! method    1 byte   0 = raw, 1 = lz4 block
//! tag_len   2 bytes  then tag_len bytes of the codec tag (UTF-8)
//! raw_len   8 bytes  length of the codec bytes
//! body_len  8 bytes  length of the body that follows
//! checksum  8 bytes  of the body (see `checksum`)
//! body
//! ```
//!
//! The checksum catches a damaged file that would still decode (a flipped
//! bit in the middle of an f64 block decodes to a wrong number): reading a
//! spill file either gives back the value that was written or an error.

use std::io::Write as _;
use std::path::Path;

use rask_config::SpillCompression;
use rask_core::Value;
use rask_core::codec::EncodedValue;

const MAGIC: &[u8; 8] = b"RASKSPL1";
const RAW: u8 = 0;
const LZ4: u8 = 1;

/// Writes `encoded` to a new file at `path`; returns the file's length.
/// A partly written file is removed.
pub(crate) fn write(
    path: &Path,
    encoded: &EncodedValue,
    compression: SpillCompression,
) -> std::io::Result<u64> {
    let compressed = match compression {
        SpillCompression::Lz4 if encoded.bytes.len() >= 64 && worth_compressing(&encoded.bytes) => {
            let c = lz4_flex::block::compress(&encoded.bytes);
            // Incompressible values (random floats) are stored raw: reading
            // them back then costs no decompression.
            (c.len() < encoded.bytes.len() - encoded.bytes.len() / 16).then_some(c)
        }
        _ => None,
    };
    let (method, body) = match &compressed {
        Some(c) => (LZ4, c.as_slice()),
        None => (RAW, encoded.bytes.as_slice()),
    };
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
    let mut header = Vec::with_capacity(8 + 1 + 2 + tag.len() + 24);
    header.extend_from_slice(MAGIC);
    header.push(method);
    header.extend_from_slice(&tag_len.to_le_bytes());
    header.extend_from_slice(tag);
    header.extend_from_slice(&(encoded.bytes.len() as u64).to_le_bytes());
    header.extend_from_slice(&(body.len() as u64).to_le_bytes());
    header.extend_from_slice(&checksum(body).to_le_bytes());
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)?;
        file.write_all(&header)?;
        file.write_all(body)?;
        // No fsync: a spill file lives only as long as this process, and
        // the page cache is what makes spilling fast.
        file.flush()
    })();
    match written {
        Ok(()) => Ok((header.len() + body.len()) as u64),
        Err(e) => {
            let _ = std::fs::remove_file(path);
            Err(e)
        }
    }
}

/// Bytes of a large value tried before compressing all of it.
const SAMPLE: usize = 16 << 10;

/// Whether compressing `bytes` looks worth it: for a large value, a sample
/// from its middle must shrink by a tenth. Most floating-point data does
/// not compress, and trying costs as much as the write (Dask's
/// `maybe_compress` samples the same way).
fn worth_compressing(bytes: &[u8]) -> bool {
    if bytes.len() < 4 * SAMPLE {
        return true;
    }
    let start = bytes.len() / 2 - SAMPLE / 2;
    let sample = &bytes[start..start + SAMPLE];
    lz4_flex::block::compress(sample).len() < SAMPLE - SAMPLE / 10
}

/// Why a spill file could not be read.
pub(crate) enum ReadError {
    Io(std::io::Error),
    Corrupt(String),
}

/// Reads the value in the spill file at `path`.
pub(crate) fn read(path: &Path) -> Result<Value, ReadError> {
    let bytes = std::fs::read(path).map_err(ReadError::Io)?;
    parse(&bytes).map_err(ReadError::Corrupt)
}

fn parse(bytes: &[u8]) -> Result<Value, String> {
    let mut r = Reader(bytes);
    if r.take(8)? != MAGIC {
        return Err("it does not start with rask's spill header".into());
    }
    let method = r.take(1)?[0];
    let tag_len = u16::from_le_bytes(r.array()?) as usize;
    let tag = std::str::from_utf8(r.take(tag_len)?)
        .map_err(|_| "the type tag is not UTF-8".to_owned())?;
    let raw_len = u64::from_le_bytes(r.array()?);
    let body_len = u64::from_le_bytes(r.array()?);
    let sum = u64::from_le_bytes(r.array()?);
    let body = r.0;
    if body.len() as u64 != body_len {
        return Err(format!(
            "{body_len} bytes of data were written, {} are there",
            body.len()
        ));
    }
    if checksum(body) != sum {
        return Err("its checksum does not match".into());
    }
    let raw_len = usize::try_from(raw_len).map_err(|_| "too large for memory".to_owned())?;
    let decompressed;
    let raw = match method {
        RAW => body,
        LZ4 => {
            decompressed = lz4_flex::block::decompress(body, raw_len)
                .map_err(|e| format!("LZ4 data does not decompress: {e}"))?;
            decompressed.as_slice()
        }
        m => return Err(format!("unknown compression method {m}")),
    };
    if raw.len() != raw_len {
        return Err(format!(
            "{raw_len} bytes were encoded, {} came back",
            raw.len()
        ));
    }
    Value::decode(tag, raw).map_err(|e| e.to_string())
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("the file is cut short".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
}

/// A fast 64-bit checksum (multiply-rotate over 8-byte words, several
/// gigabytes per second): it catches damage, not forgery.
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
