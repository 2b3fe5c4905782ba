//! Creating arrays: constants, ranges, identity, from an `ndarray`, from a
//! function of the block, from `Delayed` blocks.
//!
//! Every creation function takes the shape and a chunk request
//! ([`IntoChunks`]: block sizes, [`ChunkSpec`](crate::ChunkSpec)s, or
//! [`Chunks`]) and returns an error naming the shape when they do not fit.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, Slice};
use rask_core::{Collection, Error, GraphBuilder, Op, Result, TaskError, Value};
use rask_delayed::Delayed;

use crate::array::{
    Array, BlockTask, GraphFn, Input, Region, Slab, block_arg, block_value, linear_index,
    region_shape, whole,
};
use crate::chunks::{Chunks, IntoChunks, fmt_shape};
use crate::element::{Element, Float, Number};

/// Where a block sits: handed to functions that make or transform blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    /// The block's index in the block grid.
    pub index: Vec<usize>,
    /// Where the block starts in the array.
    pub start: Vec<usize>,
    /// The block's shape.
    pub shape: Vec<usize>,
    /// Number of blocks along every axis.
    pub numblocks: Vec<usize>,
    /// The whole array's shape.
    pub array_shape: Vec<usize>,
}

impl BlockInfo {
    pub(crate) fn new(chunks: &Chunks, index: &[usize]) -> Self {
        BlockInfo {
            index: index.to_vec(),
            start: chunks.block_start(index),
            shape: chunks.block_shape(index),
            numblocks: chunks.numblocks(),
            array_shape: chunks.shape(),
        }
    }
}

impl<T: Element> Array<T> {
    /// A layer whose blocks are made by `f` from their [`BlockInfo`]; `f`
    /// must return a block of the shape it is given.
    pub(crate) fn generated(
        prefix: &'static str,
        chunks: Chunks,
        f: impl Fn(&BlockInfo) -> ArrayD<T> + Send + Sync + 'static,
    ) -> Self {
        let f = Arc::new(f);
        let c = chunks.clone();
        Array::layer(prefix, chunks, Vec::new(), move |idx| {
            let info = BlockInfo::new(&c, idx);
            let f = f.clone();
            BlockTask {
                op: Op::blockwise(prefix, move |_: &[Value]| {
                    let block = f(&info);
                    check_block_shape(&block, &info.shape)?;
                    Ok(block_value(block))
                }),
                deps: Vec::new(),
            }
        })
    }

    /// A layer whose elements are cheap to make anywhere: `f` gives any
    /// region (block-local ranges along every axis) of the block described
    /// by a [`BlockInfo`], with the region's shape, optionally laid out for
    /// a permuted view (see [`RegionFn`](crate::array::RegionFn)). Consumers evaluate such
    /// a layer region by region where they need it (see
    /// [`Slab`](crate::array::Slab)), so its blocks are never stored.
    pub(crate) fn generated_regions(
        prefix: &'static str,
        chunks: Chunks,
        f: impl Fn(&BlockInfo, &Region, Option<&[usize]>) -> ArrayD<T> + Send + Sync + 'static,
    ) -> Self {
        let f = Arc::new(f);
        let c = chunks.clone();
        let whole_block = f.clone();
        let mut out = Array::generated(prefix, chunks, move |info| {
            whole_block(info, &whole(&info.shape), None)
        });
        if let Some(node) = Arc::get_mut(&mut out.node) {
            node.slab = Some(Slab {
                inputs: Vec::new(),
                deps: Arc::new(|_: &[usize]| Vec::new()),
                ndeps: 0,
                eval: Arc::new(move |_: &[Value], idx: &[usize], region: &Region, order| {
                    let info = BlockInfo::new(&c, idx);
                    let block = f(&info, region, order);
                    check_block_shape(&block, &region_shape(region))?;
                    Ok(block_value(block))
                }),
                cost: 1,
            });
        }
        out
    }

    /// A layer made by `f`, which reads only [`BlockInfo::start`] and
    /// [`BlockInfo::shape`]: any region of a block is then `f` of a block
    /// that starts at the region, so the layer is region-capable.
    pub(crate) fn positional(
        prefix: &'static str,
        chunks: Chunks,
        f: impl Fn(&BlockInfo) -> ArrayD<T> + Send + Sync + 'static,
    ) -> Self {
        Array::generated_regions(prefix, chunks, move |info, region, _| {
            let mut sub = info.clone();
            for (a, r) in region.iter().enumerate() {
                sub.start[a] += r.start;
                sub.shape[a] = r.end - r.start;
            }
            f(&sub)
        })
    }

    /// An array of `value` everywhere.
    ///
    /// ```
    /// # use rask_local as _;
    /// let x = rask_array::Array::full(&[3, 2], &[2, 2], 7u8).unwrap();
    /// assert_eq!(x.compute().unwrap().sum(), 42);
    /// ```
    pub fn full(shape: &[usize], chunks: impl IntoChunks, value: T) -> Result<Self> {
        let chunks = chunks.into_chunks(shape, size_of::<T>())?;
        Ok(Array::positional("full", chunks, move |info| {
            ArrayD::from_elem(IxDyn(&info.shape), value)
        }))
    }

    /// An array whose blocks are made by `f` from their position, which must
    /// return a block of the shape in [`BlockInfo::shape`].
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray::{ArrayD, IxDyn}};
    /// // Each element holds the index of its block.
    /// let x = Array::from_fn(&[4], &[2], |info| ArrayD::from_elem(IxDyn(&info.shape), info.index[0] as i32)).unwrap();
    /// assert_eq!(x.compute().unwrap().into_raw_vec_and_offset().0, vec![0, 0, 1, 1]);
    /// ```
    pub fn from_fn(
        shape: &[usize],
        chunks: impl IntoChunks,
        f: impl Fn(&BlockInfo) -> ArrayD<T> + Send + Sync + 'static,
    ) -> Result<Self> {
        let chunks = chunks.into_chunks(shape, size_of::<T>())?;
        Ok(Array::generated("from-fn", chunks, f))
    }

    /// Splits an in-memory array into blocks.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, ndarray};
    /// let nd = ndarray::Array2::<f64>::from_shape_fn((6, 4), |(i, j)| (i * 4 + j) as f64);
    /// let a = Array::from_ndarray(nd.clone().into_dyn(), &[4, 3]).unwrap();
    /// assert_eq!(a.numblocks(), vec![2, 2]);
    /// assert_eq!(a.compute().unwrap(), nd.into_dyn());
    /// ```
    pub fn from_ndarray(array: ArrayD<T>, chunks: impl IntoChunks) -> Result<Self> {
        let chunks = chunks.into_chunks(array.shape(), size_of::<T>())?;
        let blocks: Vec<Value> = chunks
            .block_indices()
            .map(|idx| {
                let start = chunks.block_start(&idx);
                let shape = chunks.block_shape(&idx);
                let view = array.slice_each_axis(|ax| {
                    let i = ax.axis.index();
                    Slice::from(start[i]..start[i] + shape[i])
                });
                block_value(view.to_owned())
            })
            .collect();
        let blocks = Arc::new(blocks);
        let numblocks = chunks.numblocks();
        Ok(Array::layer("array", chunks, Vec::new(), move |idx| {
            BlockTask {
                op: Op::value(blocks[linear_index(idx, &numblocks)].clone()),
                deps: Vec::new(),
            }
        }))
    }

    /// An array made of `Delayed` blocks laid out like `blocks` (one per
    /// block of `chunks`). A block whose computed shape differs from what
    /// `chunks` says fails the compute with an error naming the block.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::{Array, Chunks, ndarray::{ArrayD, IxDyn}};
    /// let parts: Vec<_> = (0..3).map(|i| rask_delayed::delayed(move || ArrayD::from_elem(IxDyn(&[2]), i as f64))).collect();
    /// let grid = ArrayD::from_shape_vec(IxDyn(&[3]), parts).unwrap();
    /// let a = Array::from_delayed(&grid, Chunks::new(vec![vec![2, 2, 2]], &[6]).unwrap()).unwrap();
    /// assert_eq!(a.sum().compute_scalar().unwrap(), 6.0);
    /// ```
    pub fn from_delayed(blocks: &ArrayD<Delayed<ArrayD<T>>>, chunks: Chunks) -> Result<Self> {
        if blocks.shape() != chunks.numblocks().as_slice() {
            return Err(Error::invalid(
                "blocks",
                format!(
                    "{} delayed blocks laid out as {}, but the chunks have {} blocks",
                    blocks.len(),
                    fmt_shape(blocks.shape()),
                    fmt_shape(&chunks.numblocks())
                ),
            ));
        }
        let delayed: Vec<Delayed<ArrayD<T>>> = blocks.iter().cloned().collect();
        let keys: Vec<rask_core::Key> = delayed.iter().map(|d| d.key().clone()).collect();
        let add: Arc<GraphFn> = Arc::new(move |b: &mut GraphBuilder| {
            for d in &delayed {
                d.add_to_graph(b, &mut Vec::new());
            }
        });
        let numblocks = chunks.numblocks();
        let c = chunks.clone();
        Ok(Array::layer(
            "from-delayed",
            chunks,
            vec![Input::Graph(add)],
            move |idx| {
                let expected = c.block_shape(idx);
                BlockTask {
                    op: Op::call("from-delayed", move |args: &[Value]| {
                        check_block_shape(block_arg::<T>(args, 0)?, &expected)?;
                        Ok(args[0].clone())
                    }),
                    deps: vec![keys[linear_index(idx, &numblocks)].clone()],
                }
            },
        ))
    }
}

/// The error for a block of the wrong shape.
pub(crate) fn check_block_shape<T>(
    block: &ArrayD<T>,
    expected: &[usize],
) -> std::result::Result<(), TaskError> {
    if block.shape() == expected {
        Ok(())
    } else {
        Err(TaskError::failed(format!(
            "the block has shape {}, but its chunks say {}; return a block of that shape or declare other chunks",
            fmt_shape(block.shape()),
            fmt_shape(expected)
        )))
    }
}

impl<T: Number> Array<T> {
    /// An array of zeros.
    ///
    /// ```
    /// # use rask_local as _;
    /// let z = rask_array::Array::<i32>::zeros(&[5], &[2]).unwrap();
    /// assert_eq!(z.compute().unwrap().sum(), 0);
    /// ```
    pub fn zeros(shape: &[usize], chunks: impl IntoChunks) -> Result<Self> {
        Array::full(shape, chunks, T::zero())
    }

    /// An array of ones.
    pub fn ones(shape: &[usize], chunks: impl IntoChunks) -> Result<Self> {
        Array::full(shape, chunks, T::one())
    }

    /// Evenly spaced values in `[start, stop)` with `step`, as NumPy's
    /// `arange`: element `i` is `start + i * step`.
    ///
    /// ```
    /// # use rask_local as _;
    /// let a = rask_array::Array::arange(1.0, 2.0, 0.25, &[3]).unwrap();
    /// assert_eq!(a.compute().unwrap().into_raw_vec_and_offset().0, vec![1.0, 1.25, 1.5, 1.75]);
    /// ```
    pub fn arange(start: T, stop: T, step: T, chunks: impl IntoChunks) -> Result<Self> {
        if step == T::zero() {
            return Err(Error::invalid("step", "arange needs a non-zero step"));
        }
        let len = ((stop.to_f64() - start.to_f64()) / step.to_f64()).ceil();
        if !len.is_finite() {
            return Err(Error::invalid(
                "arange",
                format!(
                    "cannot compute the length of arange({start:?}, {stop:?}, {step:?}); give finite bounds and step"
                ),
            ));
        }
        let n = len.max(0.0) as usize;
        let chunks = chunks.into_chunks(&[n], size_of::<T>())?;
        Ok(Array::positional("arange", chunks, move |info| {
            let s = info.start[0];
            ArrayD::from_shape_fn(IxDyn(&info.shape), |i| {
                start + T::from_f64((s + i[0]) as f64) * step
            })
        }))
    }

    /// The `n` x `n` identity matrix.
    ///
    /// ```
    /// # use rask_local as _;
    /// let i = rask_array::Array::<f32>::eye(5, &[2, 2]).unwrap();
    /// assert_eq!(i.sum().compute_scalar().unwrap(), 5.0);
    /// ```
    pub fn eye(n: usize, chunks: impl IntoChunks) -> Result<Self> {
        let chunks = chunks.into_chunks(&[n, n], size_of::<T>())?;
        Ok(Array::positional("eye", chunks, |info| {
            let (r, c) = (info.start[0], info.start[1]);
            ArrayD::from_shape_fn(IxDyn(&info.shape), |i| {
                if r + i[0] == c + i[1] {
                    T::one()
                } else {
                    T::zero()
                }
            })
        }))
    }
}

impl<T: Float> Array<T> {
    /// `num` evenly spaced values from `start` to `stop` inclusive, as
    /// NumPy's `linspace`.
    ///
    /// ```
    /// # use rask_local as _;
    /// let a = rask_array::Array::linspace(0.0, 1.0, 5, &[2]).unwrap();
    /// assert_eq!(a.compute().unwrap().into_raw_vec_and_offset().0, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    /// ```
    pub fn linspace(start: T, stop: T, num: usize, chunks: impl IntoChunks) -> Result<Self> {
        let chunks = chunks.into_chunks(&[num], size_of::<T>())?;
        let div = if num > 1 { num - 1 } else { 1 };
        let step = (stop - start) / T::from_f64(div as f64);
        Ok(Array::positional("linspace", chunks, move |info| {
            let s = info.start[0];
            ArrayD::from_shape_fn(IxDyn(&info.shape), |i| {
                let k = s + i[0];
                if num > 1 && k == num - 1 {
                    stop
                } else {
                    start + T::from_f64(k as f64) * step
                }
            })
        }))
    }
}
