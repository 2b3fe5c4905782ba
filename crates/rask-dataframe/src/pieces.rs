//! The output of a shuffle's split: one piece per output partition.
//!
//! A [`Pieces`] value lives in memory, like any task result. It is counted
//! by the scheduler's memory manager (its size is the pieces' sizes) and,
//! like any result with a codec, can be spilled by it. Shuffles do not
//! spill on their own: by default each piece is taken out by a task of its
//! own (see [`crate::ShuffleOptions::piece_tasks`]) and becomes an ordinary
//! result, which the scheduler's store spills least recently used first
//! and reads back when its gather runs — so a shuffle larger than memory
//! is bounded by the same limit, gauge and spill directory as everything
//! else (the `memory-limit` setting). Sent to another process, a
//! [`Pieces`] travels as its frames.

use std::sync::Arc;

use polars::prelude::DataFrame as PlFrame;
use rask_core::codec::ValueCodec;
use rask_core::{SizeOf, TaskError};

use crate::kernels::{read_ipc, write_ipc};

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
        self.0.iter().map(crate::kernels::frame_bytes).sum()
    }
}

/// The pieces travel as their count, then each piece's length and Arrow
/// IPC stream (see [`Part`]'s codec), written straight into the output.
impl ValueCodec for Pieces {
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), String> {
        out.extend_from_slice(&(self.0.len() as u64).to_le_bytes());
        for f in self.0.iter() {
            let at = out.len();
            out.extend_from_slice(&0u64.to_le_bytes());
            write_ipc(f, out)?;
            let len = (out.len() - at - 8) as u64;
            out[at..at + 8].copy_from_slice(&len.to_le_bytes());
        }
        Ok(())
    }

    fn decode_from(bytes: &[u8]) -> Result<Self, String> {
        let mut rest = bytes;
        let mut take = |n: usize| -> Result<&[u8], String> {
            if rest.len() < n {
                return Err("the pieces are cut short".into());
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
        let count = word(take(8)?);
        // Each piece takes at least its 8-byte length.
        if count > (bytes.len() / 8) as u64 {
            return Err(format!(
                "{count} pieces cannot fit in {} bytes",
                bytes.len()
            ));
        }
        let frames = (0..count)
            .map(|_| {
                let len = usize::try_from(word(take(8)?)).map_err(|e| e.to_string())?;
                read_ipc(take(len)?)
            })
            .collect::<Result<Vec<_>, String>>()?;
        if !rest.is_empty() {
            return Err(format!("{} bytes after the last piece", rest.len()));
        }
        Ok(Pieces::new(frames))
    }
}

rask_core::register_codec!(Pieces);
