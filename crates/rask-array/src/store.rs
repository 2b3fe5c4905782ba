//! Writing an array block by block: the collection behind `to_npy` and
//! `to_zarr`.

use std::sync::Arc;

use ndarray::ArrayD;
use rask_core::{Collection, GraphBuilder, Key, Op, Result, TaskError, Value};

use crate::array::{Array, block_arg};
use crate::chunks::fmt_shape;
use crate::element::Element;

/// Writes one block, given where it starts in the array.
pub(crate) type WriteFn<T> =
    dyn Fn(&[usize], &ArrayD<T>) -> std::result::Result<(), String> + Send + Sync;

/// An array written block by block: one task per block, blockwise so it
/// fuses with the task that makes the block, which is then dropped as soon
/// as it is written. Computing it returns nothing; the first failed write
/// fails the compute with an error naming the block and `target`.
pub(crate) struct BlockWrite<'a, T> {
    pub array: &'a Array<T>,
    /// The tasks' key prefix and operation name (`"to-npy"`).
    pub prefix: &'static str,
    /// What is written, for errors (`"/tmp/x.npy"`, `"the Zarr array /tmp/x"`).
    pub target: Arc<str>,
    pub write: Arc<WriteFn<T>>,
}

impl<T: Element> Collection for BlockWrite<'_, T> {
    type Output = ();

    fn add_to_graph(&self, builder: &mut GraphBuilder, outputs: &mut Vec<Key>) {
        let mut blocks = Vec::new();
        self.array.add_to_graph(builder, &mut blocks);
        let name: Arc<str> = Key::unique(self.prefix).name().into();
        let chunks = self.array.chunks();
        for (idx, block_key) in chunks.block_indices().zip(blocks) {
            let key = crate::array::block_key(&name, &idx);
            let start = chunks.block_start(&idx);
            let (write, target) = (self.write.clone(), self.target.clone());
            let op = Op::blockwise(self.prefix, move |args: &[Value]| {
                let block = block_arg::<T>(args, 0)?;
                write(&start, block).map_err(|e| {
                    TaskError::failed(format!(
                        "writing block {idx:?} (elements from {start:?}, shape {}) to {target}: {e}",
                        fmt_shape(block.shape()),
                    ))
                })?;
                Ok(Value::with_nbytes((), 0))
            });
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
