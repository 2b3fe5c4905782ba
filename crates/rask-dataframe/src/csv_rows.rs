//! Where CSV rows start, when quoted fields may hold newlines.
//!
//! A row starts after a newline that is not inside quotes. Inside or not is
//! read the way Polars' own row splitter reads it: every quote character
//! toggles it (RFC 4180 writes a quote inside a quoted field twice, so it
//! leaves the state as it was). Whether a byte is inside quotes is then the
//! parity of the quote characters before it.
//!
//! **Blocks in parallel.** A block's task must know that parity at its
//! first byte without reading the file from the start. Each block of a file
//! is summarised once — the parity of its quote characters, one pass over
//! its bytes — and the summaries are cached per file in the process; the
//! state at block `k`'s start is the sum over blocks `0..k`. Reading a file
//! therefore costs one extra counting pass over its bytes, spread over its
//! blocks' tasks. Two neighbouring blocks compute their shared boundary
//! from the same state, so every row is read by exactly one block.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

/// The characters that matter for finding rows.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Syntax {
    pub quote: Option<u8>,
}

impl Syntax {
    /// The positions after each newline outside quotes in `bytes`, which
    /// start outside quotes.
    pub(crate) fn row_starts(&self, bytes: &[u8]) -> Vec<usize> {
        let mut inside = false;
        let mut out = Vec::new();
        for (i, &b) in bytes.iter().enumerate() {
            if Some(b) == self.quote {
                inside = !inside;
            } else if b == b'\n' && !inside {
                out.push(i + 1);
            }
        }
        out
    }

    /// Whether `bytes` hold an odd number of quote characters.
    fn odd_quotes(&self, bytes: &[u8]) -> bool {
        match self.quote {
            Some(q) => bytes.iter().filter(|&&b| b == q).count() % 2 == 1,
            None => false,
        }
    }
}

/// The first row start at or after `pos`: `pos` itself when the byte before
/// it is a newline outside quotes, else the position after the first newline
/// outside quotes from `pos` on (or `size`). `inside` says whether `pos` is
/// inside quotes.
pub(crate) fn row_start_from(
    f: &mut File,
    pos: u64,
    inside: bool,
    syntax: Syntax,
    size: u64,
) -> std::io::Result<u64> {
    if pos == 0 {
        return Ok(0);
    }
    let mut before = [0u8; 1];
    read_at(f, pos - 1, &mut before)?;
    if before[0] == b'\n' && !inside {
        return Ok(pos);
    }
    next_row_start(f, pos, inside, syntax, size)
}

/// The position after the first newline outside quotes at or after `pos`
/// (or `size`); `inside` says whether `pos` is inside quotes.
pub(crate) fn next_row_start(
    f: &mut File,
    mut pos: u64,
    mut inside: bool,
    syntax: Syntax,
    size: u64,
) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 64 << 10];
    while pos < size {
        let n = read_at(f, pos, &mut buf)?;
        if n == 0 {
            break;
        }
        for (i, &b) in buf[..n].iter().enumerate() {
            if Some(b) == syntax.quote {
                inside = !inside;
            } else if b == b'\n' && !inside {
                return Ok(pos + i as u64 + 1);
            }
        }
        pos += n as u64;
    }
    Ok(size)
}

/// Reads up to `buf.len()` bytes at `pos`; the number read.
pub(crate) fn read_at(f: &mut File, pos: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    f.seek(SeekFrom::Start(pos))?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The summaries of one file's blocks, each made when first needed.
pub(crate) struct FileStates {
    blocksize: u64,
    size: u64,
    syntax: Syntax,
    blocks: Vec<OnceLock<bool>>,
}

impl FileStates {
    /// Whether byte `boundary`, a multiple of the block size, is inside
    /// quotes: the parity of the quotes in the blocks before it.
    pub(crate) fn inside_at(&self, f: &mut File, boundary: u64) -> std::io::Result<bool> {
        let mut inside = false;
        for k in 0..(boundary / self.blocksize) as usize {
            inside ^= self.odd(f, k)?;
        }
        Ok(inside)
    }

    fn odd(&self, f: &mut File, k: usize) -> std::io::Result<bool> {
        if let Some(s) = self.blocks[k].get() {
            return Ok(*s);
        }
        let from = k as u64 * self.blocksize;
        let to = (from + self.blocksize).min(self.size);
        let mut buf = vec![0u8; (to - from) as usize];
        let n = read_at(f, from, &mut buf)?;
        buf.truncate(n);
        let odd = self.syntax.odd_quotes(&buf);
        Ok(*self.blocks[k].get_or_init(|| odd))
    }
}

type Key = (String, u64, Option<std::time::SystemTime>, u64, Option<u8>);

/// The block summaries of the file at `path` (cached by path, size,
/// modification time, block size and syntax; at most 1024 files are
/// remembered).
pub(crate) fn file_states(
    path: &str,
    meta: &std::fs::Metadata,
    blocksize: u64,
    syntax: Syntax,
) -> Arc<FileStates> {
    static CACHE: LazyLock<Mutex<HashMap<Key, Arc<FileStates>>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    let blocksize = blocksize.max(1);
    let key = (
        path.to_string(),
        meta.len(),
        meta.modified().ok(),
        blocksize,
        syntax.quote,
    );
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= 1024 && !cache.contains_key(&key) {
        cache.clear();
    }
    cache
        .entry(key)
        .or_insert_with(|| {
            Arc::new(FileStates {
                blocksize,
                size: meta.len(),
                syntax,
                blocks: (0..meta.len().div_ceil(blocksize))
                    .map(|_| OnceLock::new())
                    .collect(),
            })
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: Syntax = Syntax { quote: Some(b'"') };

    #[test]
    fn rows_start_after_newlines_outside_quotes() {
        let text = b"a,b\n1,\"x\ny\"\n2,\"he said \"\"hi\"\"\n\"\n3,ok\n4,z";
        assert_eq!(CSV.row_starts(text), [4, 12, 32, 37]);
        assert_eq!(Syntax { quote: None }.row_starts(b"a\"\nb\n"), [3, 5]);
    }

    #[test]
    fn block_boundaries_agree_with_one_pass() {
        let dir = std::env::temp_dir().join(format!("rask-csv-rows-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.csv");
        let text: &[u8] = b"id,n\n1,\"a\n\"\"b\"\",\nc\"\n2,x\n3,\"\"\n4,\"q\n\"\n";
        std::fs::write(&path, text).unwrap();
        let starts: Vec<u64> = CSV.row_starts(text).iter().map(|&p| p as u64).collect();
        let meta = std::fs::metadata(&path).unwrap();
        let size = meta.len();
        for bs in 1..=size {
            let states = file_states(path.to_str().unwrap(), &meta, bs, CSV);
            let mut f = File::open(&path).unwrap();
            let mut b = bs;
            while b < size {
                let inside = states.inside_at(&mut f, b).unwrap();
                let got = row_start_from(&mut f, b, inside, CSV, size).unwrap();
                let want = starts.iter().copied().find(|&s| s >= b).unwrap_or(size);
                assert_eq!(got, want, "block size {bs}, boundary {b}");
                b += bs;
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
