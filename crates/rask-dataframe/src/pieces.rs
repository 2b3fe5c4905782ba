//! The output of a shuffle's split: one piece per output partition.
//!
//! A [`Pieces`] value lives in memory, like any task result. It is counted
//! by the scheduler's memory manager (its size is the pieces' sizes) and,
//! like any result with a codec, can be spilled by it. Shuffles do not
//! spill on their own: by default each piece is taken out by a task of its
//! own (see [`crate::ShuffleOptions::piece_tasks`]) and becomes an ordinary
//! result, which the scheduler's store spills (those needed last first)
//! and reads back when its gather runs — so a shuffle larger than memory
//! is bounded by the same limit, gauge and spill directory as everything
//! else (the `memory-limit` setting). Sent to another process, a
//! [`Pieces`] travels as its frames.

use std::sync::Arc;

use polars::prelude::DataFrame as PlFrame;
use rask_core::codec::ValueCodec;
use rask_core::{SizeOf, TaskError};

use crate::kernels::{frame_bytes, ipc_size_hint, read_ipc, read_word, write_ipc};

/// The output of a split: one frame per output partition. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Pieces(Arc<[PlFrame]>);

impl Pieces {
    /// The pieces `frames`, piece `j` for output partition `j`.
    pub(crate) fn new(frames: Vec<PlFrame>) -> Pieces {
        Pieces(frames.into())
    }

    /// Piece `j` (a shared copy: frames share their columns).
    pub(crate) fn load(&self, j: usize) -> Result<PlFrame, TaskError> {
        self.0.get(j).cloned().ok_or_else(|| {
            TaskError::failed(format!(
                "shuffle: a split has {} pieces, piece {j} was asked for",
                self.0.len()
            ))
        })
    }
}

impl SizeOf for Pieces {
    fn heap_bytes(&self) -> usize {
        self.0.iter().map(frame_bytes).sum()
    }
}

/// The pieces travel as their count, then each piece as a partition does
/// (see [`Part`](crate::Part)'s codec), written straight into the output
/// or the spill file.
impl ValueCodec for Pieces {
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), String> {
        out.reserve(8 + self.0.iter().map(ipc_size_hint).sum::<usize>());
        self.encode_to(out).map_err(|e| e.to_string())
    }

    fn encode_to(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        w.write_all(&(self.0.len() as u64).to_le_bytes())?;
        self.0.iter().try_for_each(|f| write_ipc(f, w))
    }

    fn decode_from(bytes: &[u8]) -> Result<Self, String> {
        Self::decode_from_reader(&mut &bytes[..], bytes.len())
    }

    fn decode_from_reader(r: &mut dyn std::io::Read, len: usize) -> Result<Self, String> {
        let mut left = len as u64;
        let count = read_word(r, &mut left, "the count of pieces")?;
        // Each piece takes at least its 8-byte height.
        if count > left / 8 {
            return Err(format!("{count} pieces cannot fit in {len} bytes"));
        }
        let mut stream = Vec::new();
        let frames = (0..count)
            .map(|_| read_ipc(r, &mut left, &mut stream))
            .collect::<Result<Vec<_>, String>>()?;
        if left > 0 {
            return Err(format!("{left} bytes after the last piece"));
        }
        Ok(Pieces::new(frames))
    }
}

rask_core::register_codec!(Pieces);
