//! The spill store of shuffles: where a split's pieces live until their
//! gathers have read them.
//!
//! The pieces held in memory by the shuffles of a process are counted
//! ([`shuffle_bytes_in_memory`]). A split whose pieces would take the
//! count over its limit writes them to files instead (Polars' IPC
//! serialization of frames, i.e. Arrow IPC), named by process and a
//! counter so processes sharing a directory do not collide. A piece's
//! bytes are uncounted, and its file removed, when the last clone of the
//! [`Pieces`] value is dropped — when the executor releases the split's
//! output after its last gather, and also when a compute fails or is
//! abandoned. Sent to another process, a [`Pieces`] travels as its frames
//! (spilled ones read back).

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use polars::prelude::DataFrame as PlFrame;
use rask_core::{SizeOf, TaskError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::kernels::Part;

/// When and where a split spills its pieces.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Spill {
    /// Bytes of pieces the process may hold; `None`: no limit.
    pub limit: Option<u64>,
    /// Where to write (`None`: the system's temporary directory).
    pub dir: Option<String>,
}

/// Bytes of shuffle pieces held in memory by this process.
static HELD: AtomicU64 = AtomicU64::new(0);

/// Tells how many bytes of shuffle pieces this process holds in memory
/// (for tests and diagnostics).
pub fn shuffle_bytes_in_memory() -> u64 {
    HELD.load(Ordering::Relaxed)
}

/// The output of a split: one piece per output partition, in memory or
/// spilled to a file. Cheap to clone; the memory is uncounted and the
/// files removed when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct Pieces(Arc<[Piece]>);

enum Piece {
    /// A frame, and its bytes counted in [`HELD`] while it lives.
    Memory {
        frame: PlFrame,
        _charge: Charge,
    },
    Disk(SpillFile),
}

/// Bytes counted in [`HELD`], given back on drop.
struct Charge(u64);

impl Drop for Charge {
    fn drop(&mut self) {
        HELD.fetch_sub(self.0, Ordering::Relaxed);
    }
}

/// A spilled piece, removed on drop.
struct SpillFile {
    path: PathBuf,
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Distinguishes the spill files of one process.
static SPILLS: AtomicU64 = AtomicU64::new(0);

impl Pieces {
    /// Keeps `frames` in memory, or writes them to files when the process
    /// holds more than `spill.limit` bytes of pieces with them.
    pub(crate) fn hold(frames: Vec<PlFrame>, spill: &Spill) -> Result<Pieces, TaskError> {
        let sizes: Vec<u64> = frames.iter().map(|f| f.estimated_size() as u64).collect();
        let total: u64 = sizes.iter().sum();
        let before = HELD.fetch_add(total, Ordering::Relaxed);
        let over = spill.limit.is_some_and(|l| before + total > l);
        if !over {
            return Ok(Pieces(
                frames
                    .into_iter()
                    .zip(sizes)
                    .map(|(frame, s)| Piece::Memory {
                        frame,
                        _charge: Charge(s),
                    })
                    .collect(),
            ));
        }
        HELD.fetch_sub(total, Ordering::Relaxed);
        let dir = match &spill.dir {
            Some(d) => PathBuf::from(d),
            None => std::env::temp_dir(),
        };
        std::fs::create_dir_all(&dir).map_err(|e| {
            TaskError::failed(format!(
                "shuffle: cannot create the spill directory {}: {e}; set another with \
                 ShuffleOptions::spill_dir",
                dir.display()
            ))
        })?;
        let batch = SPILLS.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        frames
            .into_iter()
            .enumerate()
            .map(|(j, mut f)| {
                let path = dir.join(format!("rask-shuffle-{pid}-{batch}-{j}.arrow"));
                let file = SpillFile { path };
                let w = File::create(&file.path).map_err(|e| spill_error(&file.path, e))?;
                let mut w = BufWriter::new(w);
                f.serialize_into_writer(&mut w)
                    .map_err(|e| spill_error(&file.path, e))?;
                std::io::Write::flush(&mut w).map_err(|e| spill_error(&file.path, e))?;
                Ok(Piece::Disk(file))
            })
            .collect::<Result<Arc<[Piece]>, TaskError>>()
            .map(Pieces)
    }

    /// Piece `j`, read back from its file if spilled.
    pub(crate) fn load(&self, j: usize) -> Result<PlFrame, TaskError> {
        match self.0.get(j) {
            Some(Piece::Memory { frame, .. }) => Ok(frame.clone()),
            Some(Piece::Disk(file)) => {
                let r = File::open(&file.path).map_err(|e| spill_error(&file.path, e))?;
                PlFrame::deserialize_from_reader(&mut BufReader::new(r))
                    .map_err(|e| spill_error(&file.path, e))
            }
            None => Err(TaskError::failed(format!(
                "shuffle: a split has {} pieces, piece {j} was asked for",
                self.0.len()
            ))),
        }
    }
}

fn spill_error(path: &std::path::Path, e: impl std::fmt::Display) -> TaskError {
    TaskError::failed(format!(
        "shuffle: spill file {}: {e}; check the space and permissions of the spill \
         directory (ShuffleOptions::spill_dir)",
        path.display()
    ))
}

impl SizeOf for Pieces {
    fn heap_bytes(&self) -> usize {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Memory { frame, .. } => frame.estimated_size(),
                Piece::Disk(_) => 0,
            })
            .sum()
    }
}

impl Serialize for Pieces {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let frames = (0..self.0.len())
            .map(|j| self.load(j).map(Part))
            .collect::<Result<Vec<_>, _>>()
            .map_err(serde::ser::Error::custom)?;
        frames.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Pieces {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let frames = Vec::<Part>::deserialize(d)?;
        Ok(Pieces(
            frames
                .into_iter()
                .map(|p| Piece::Memory {
                    frame: p.0,
                    _charge: Charge(0),
                })
                .collect(),
        ))
    }
}

rask_core::register_type!(Pieces);
