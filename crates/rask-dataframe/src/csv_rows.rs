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
//!
//! The search for the first row start after a boundary stops at the next
//! boundary and takes that one's answer from there; answers are kept per
//! file, so a quote left open to the end (a stray `"` inside a field, which
//! Polars reads the same way and then fails on) costs one pass over the
//! file in all, not one per block.

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

/// The position after the first newline outside quotes at or after `pos`
/// (or `size`); `inside` says whether `pos` is inside quotes.
pub(crate) fn next_row_start(
    f: &mut File,
    pos: u64,
    inside: bool,
    syntax: Syntax,
    size: u64,
) -> std::io::Result<u64> {
    Ok(newline_before(f, pos, inside, syntax, size)?.unwrap_or(size))
}

/// The position after the first newline outside quotes in `pos..limit`, if
/// there is one; `inside` says whether `pos` is inside quotes.
fn newline_before(
    f: &mut File,
    mut pos: u64,
    mut inside: bool,
    syntax: Syntax,
    limit: u64,
) -> std::io::Result<Option<u64>> {
    let mut buf = vec![0u8; 64 << 10];
    while pos < limit {
        let want = buf.len().min((limit - pos) as usize);
        let n = read_at(f, pos, &mut buf[..want])?;
        if n == 0 {
            break;
        }
        for (i, &b) in buf[..n].iter().enumerate() {
            if Some(b) == syntax.quote {
                inside = !inside;
            } else if b == b'\n' && !inside {
                return Ok(Some(pos + i as u64 + 1));
            }
        }
        pos += n as u64;
    }
    Ok(None)
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
    /// Per block boundary, the first row start at or after it.
    starts: Vec<OnceLock<u64>>,
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

    /// The first row start at or after `boundary`, a multiple of the block
    /// size (the file's size when no row starts there or later).
    ///
    /// The scan from a boundary stops at the next one: when no row starts
    /// between them, the answer is the next boundary's. Answers are kept,
    /// so a quote left open to the end of the file (a stray `"` in a
    /// field) costs one pass over the file in all, not one per block.
    pub(crate) fn row_start(&self, f: &mut File, boundary: u64) -> std::io::Result<u64> {
        let first = (boundary / self.blocksize) as usize;
        let mut k = first;
        let answer = loop {
            let b = k as u64 * self.blocksize;
            if b == 0 {
                break 0;
            }
            if b >= self.size {
                break self.size;
            }
            if let Some(&s) = self.starts[k].get() {
                break s;
            }
            let inside = self.inside_at(f, b)?;
            let mut before = [0u8; 1];
            read_at(f, b - 1, &mut before)?;
            if before[0] == b'\n' && !inside {
                break b;
            }
            let limit = (b + self.blocksize).min(self.size);
            if let Some(s) = newline_before(f, b, inside, self.syntax, limit)? {
                break s;
            }
            k += 1;
        };
        // Every boundary from the first asked to the one answered shares
        // the answer.
        for slot in self.starts.iter().take(k + 1).skip(first) {
            let _ = slot.set(answer);
        }
        Ok(answer)
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
                starts: (0..meta.len().div_ceil(blocksize))
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
            let mut f = File::open(&path).unwrap();
            let boundaries: Vec<u64> = (1..).map(|k| k * bs).take_while(|&b| b < size).collect();
            // Asked from the first boundary on, from the last back, and
            // again (kept answers): the same answers.
            let fresh = || FileStates {
                blocksize: bs,
                size,
                syntax: CSV,
                blocks: (0..size.div_ceil(bs)).map(|_| OnceLock::new()).collect(),
                starts: (0..size.div_ceil(bs)).map(|_| OnceLock::new()).collect(),
            };
            let (up, down) = (fresh(), fresh());
            for (states, order) in [
                (&up, boundaries.clone()),
                (&down, boundaries.iter().rev().copied().collect()),
                (&up, boundaries.clone()),
            ] {
                for b in order {
                    let want = starts.iter().copied().find(|&s| s >= b).unwrap_or(size);
                    let got = states.row_start(&mut f, b).unwrap();
                    assert_eq!(got, want, "block size {bs}, boundary {b}");
                }
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_quote_left_open_ends_every_later_block_at_the_end_of_the_file() {
        let dir = std::env::temp_dir().join(format!("rask-csv-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.csv");
        let mut text = b"id,name\n1,12\" pipe\n".to_vec();
        for i in 2..200 {
            text.extend_from_slice(format!("{i},item\n").as_bytes());
        }
        std::fs::write(&path, &text).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let states = file_states(path.to_str().unwrap(), &meta, 16, CSV);
        let mut f = File::open(&path).unwrap();
        for b in (32..meta.len()).step_by(16) {
            assert_eq!(states.row_start(&mut f, b).unwrap(), meta.len(), "{b}");
        }
        // Every later boundary's answer was kept on the way.
        assert!(
            states.starts[2..]
                .iter()
                .all(|s| s.get() == Some(&meta.len()))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
