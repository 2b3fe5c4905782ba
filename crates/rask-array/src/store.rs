//! What the file formats share: the collection behind `to_npy` and
//! `to_zarr` ([`BlockWrite`]), and what a block task needs to find its file
//! again in another process ([`file_path`], [`FileStamp`]).
//!
//! Block reads and writes are registered kernels: their parameters name
//! the file by its absolute path, as text, and the task reopens it itself.
//! A read is pure — the same file read the same way gives the same layer
//! name — so its layer name includes the file's [`FileStamp`]: a file
//! rewritten since gets new keys. A write has side effects, so its keys
//! are fresh each time.

use std::path::Path;

use ndarray::ArrayD;
use rask_core::{Collection, Error, GraphBuilder, Kernel, Key, Op, Result, TaskError, Value};
use serde::{Deserialize, Serialize};

use crate::array::{Array, block_arg};
use crate::chunks::fmt_shape;
use crate::element::Element;

/// An array written block by block: one task per block, blockwise so it
/// fuses with the task that makes the block, which is then dropped as soon
/// as it is written. Computing it returns nothing; the first failed write
/// fails the compute with an error naming the block and the target (see
/// [`write_arg`]).
pub(crate) struct BlockWrite<'a, T, K> {
    pub array: &'a Array<T>,
    /// The tasks' key prefix (`"to-npy"`).
    pub prefix: &'static str,
    /// The write kernel of the block at index `.0`, which starts at element
    /// `.1` of the array.
    pub kernel: &'a dyn Fn(&[usize], &[usize]) -> K,
}

impl<T: Element, K: Kernel> Collection for BlockWrite<'_, T, K> {
    type Output = ();

    fn add_to_graph(&self, builder: &mut GraphBuilder, outputs: &mut Vec<Key>) {
        let mut blocks = Vec::new();
        self.array.add_to_graph(builder, &mut blocks);
        // Writes have side effects: fresh keys, never merged with another
        // write of the same array.
        let name: std::sync::Arc<str> = Key::unique(self.prefix).name().into();
        let chunks = self.array.chunks();
        for (idx, block_key) in chunks.block_indices().zip(blocks) {
            let key = crate::array::block_key(&name, &idx);
            let start = chunks.block_start(&idx);
            let op = Op::kernel_blockwise((self.kernel)(&idx, &start));
            builder.insert(key.clone(), op, [block_key]);
            outputs.push(key);
        }
    }

    fn validate(&self) -> Result<()> {
        self.array.validate()
    }

    fn finalize(&self, values: &mut dyn Iterator<Item = Value>) -> Result<()> {
        for _ in 0..self.array.nblocks() {
            values.next();
        }
        Ok(())
    }
}

/// The body of a write kernel: `write` stores the task's one argument, the
/// block at `index`, which starts at element `start`. A failure names the
/// block and `target` (`"/tmp/x.npy"`, `"the Zarr array /tmp/x"`).
pub(crate) fn write_arg<T: Element>(
    args: &[Value],
    index: &[usize],
    start: &[usize],
    target: impl std::fmt::Display,
    write: impl FnOnce(&ArrayD<T>) -> std::result::Result<(), String>,
) -> std::result::Result<Value, TaskError> {
    let block = block_arg::<T>(args, 0)?;
    write(block).map_err(|e| {
        TaskError::failed(format!(
            "writing block {index:?} (elements from {start:?}, shape {}) to {target}: {e}",
            fmt_shape(block.shape()),
        ))
    })?;
    Ok(Value::with_nbytes((), 0))
}

/// Checks that the block at `start` of shape `shape` lies inside an array
/// of shape `array_shape`, so a task whose parameters came from elsewhere
/// (or whose file changed) fails rather than reading out of bounds.
pub(crate) fn check_place(
    array_shape: &[usize],
    start: &[usize],
    shape: &[usize],
) -> std::result::Result<(), String> {
    let inside = start.len() == array_shape.len()
        && shape.len() == array_shape.len()
        && (0..array_shape.len()).all(|a| {
            start[a]
                .checked_add(shape[a])
                .is_some_and(|e| e <= array_shape[a])
        });
    if inside {
        Ok(())
    } else {
        Err(format!(
            "a block of shape {} at {start:?} does not lie inside an array of shape {}",
            fmt_shape(shape),
            fmt_shape(array_shape)
        ))
    }
}

/// `path` as a block task's parameters hold it: absolute (blocks are read
/// later, perhaps after the working directory changed, perhaps in another
/// process) and as text.
pub(crate) fn file_path(path: &Path) -> Result<String> {
    let absolute = std::path::absolute(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    match absolute.to_str() {
        Some(text) => Ok(text.to_string()),
        None => Err(Error::invalid(
            "path",
            format!(
                "{}: the path is not valid UTF-8, and rask task graphs name files as text; \
                 rename the file or open it through a path that is UTF-8",
                path.display()
            ),
        )),
    }
}

/// Which version of a file a layer reads: its size, modification time and
/// inode. Part of a read layer's name, so that a file rewritten since the
/// last read (even to the same size, or renamed over) gets new keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileStamp {
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
    ino: u64,
}

impl FileStamp {
    /// The stamp of the file at `path` as it is now.
    pub(crate) fn of(path: &Path) -> std::io::Result<FileStamp> {
        Ok(FileStamp::of_meta(&std::fs::metadata(path)?))
    }

    /// The stamp of the file `meta` describes.
    pub(crate) fn of_meta(meta: &std::fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
            ino: meta.ino(),
        }
    }

    /// The file's size in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_outside_the_array_are_refused() {
        assert!(check_place(&[4, 5], &[2, 0], &[2, 5]).is_ok());
        assert!(check_place(&[], &[], &[]).is_ok());
        assert!(check_place(&[4, 5], &[3, 0], &[2, 5]).is_err());
        assert!(check_place(&[4, 5], &[0], &[4]).is_err());
        assert!(check_place(&[4], &[usize::MAX], &[2]).is_err());
    }
}
