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
use rask_core::{SizeOf, TaskError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::kernels::Part;

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

impl Serialize for Pieces {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|f| Part(f.clone())))
    }
}

impl<'de> Deserialize<'de> for Pieces {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let frames = Vec::<Part>::deserialize(d)?;
        Ok(Pieces::new(frames.into_iter().map(|p| p.0).collect()))
    }
}

rask_core::register_type!(Pieces);
