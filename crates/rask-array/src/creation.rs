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

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::array::{
    Array, BlockTask, GraphFn, Input, Region, block_arg, block_value, linear_index,
};
use crate::chunks::{Chunks, IntoChunks, fmt_shape};
use crate::element::{Element, Float, Number};
use crate::region::{RegionKernel, RegionRef, register_region_for};

/// Where a block sits: handed to functions that make or transform blocks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The block `index` of a layer split like `chunks` (block sizes per
    /// axis), or an error when the index is outside the grid.
    pub(crate) fn from_sizes(chunks: &[Vec<usize>], index: &[usize]) -> Result<Self, TaskError> {
        if index.len() != chunks.len() || index.iter().zip(chunks).any(|(&i, c)| i >= c.len()) {
            return Err(TaskError::failed(format!(
                "block {index:?} is not in a grid of {:?} blocks",
                chunks.iter().map(Vec::len).collect::<Vec<_>>()
            )));
        }
        Ok(BlockInfo {
            index: index.to_vec(),
            start: chunks
                .iter()
                .zip(index)
                .map(|(c, &i)| c[..i].iter().sum())
                .collect(),
            shape: chunks.iter().zip(index).map(|(c, &i)| c[i]).collect(),
            numblocks: chunks.iter().map(Vec::len).collect(),
            array_shape: chunks.iter().map(|c| c.iter().sum()).collect(),
        })
    }

    /// The part of this block under `region` (block-local ranges), as a
    /// block of its own; an error when the region leaves the block.
    pub(crate) fn sub(&self, region: &Region) -> Result<Self, TaskError> {
        if region.len() != self.shape.len()
            || region
                .iter()
                .zip(&self.shape)
                .any(|(r, &n)| r.start > r.end || r.end > n)
        {
            return Err(TaskError::failed(format!(
                "region {region:?} is not inside block {:?} of shape {}",
                self.index,
                fmt_shape(&self.shape)
            )));
        }
        let mut sub = self.clone();
        for (a, r) in region.iter().enumerate() {
            sub.start[a] += r.start;
            sub.shape[a] = r.end - r.start;
        }
        Ok(sub)
    }

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

    /// A layer whose blocks depend only on their position (a [`Positional`]
    /// creation): any region of a block is the block that starts there, so
    /// consumers make it region by region where they need it and it is
    /// never stored (see [`Slab`](crate::array::Slab)). Portable, with a
    /// name derived from `p` and the chunks.
    pub(crate) fn positional<P: Positional<Elem = T>>(
        prefix: &'static str,
        chunks: Chunks,
        p: P,
    ) -> Self {
        let expr = RegionRef::new(PositionalRegion {
            p,
            chunks: chunks.as_slices().to_vec(),
        });
        Array::region_layer(
            prefix,
            chunks,
            Vec::new(),
            expr,
            Arc::new(|_: &[usize]| Vec::new()),
            0,
            1,
        )
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
        Ok(Array::positional("full", chunks, Full { value }))
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
        // The name hashes the data (Dask's tokenize of a NumPy array), so
        // the same array split the same way is the same layer anywhere.
        let mut t = rask_core::Tokenizer::new("rask.array.from_ndarray");
        let mut buf = Vec::new();
        for b in &blocks {
            let block = b
                .get::<ArrayD<T>>(0)
                .map_err(|e| Error::invalid("array", e.to_string()))?;
            buf.clear();
            match block.as_slice() {
                Some(xs) => T::extend_le(xs, &mut buf),
                None => T::extend_le(&block.iter().copied().collect::<Vec<T>>(), &mut buf),
            }
            t.bytes(&buf);
        }
        let name =
            crate::kernels::layer_name("array", &(t.finish(), T::DTYPE, chunks.as_slices()), &[]);
        let blocks = Arc::new(blocks);
        let numblocks = chunks.numblocks();
        Ok(Array::layer_named(name, chunks, Vec::new(), move |idx| {
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
        let key_names: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let name = crate::kernels::layer_name(
            "from-delayed",
            &(key_names, T::DTYPE, chunks.as_slices()),
            &[],
        );
        Ok(Array::layer_named(
            name,
            chunks,
            vec![Input::Graph(add)],
            move |idx| BlockTask {
                op: Op::kernel(CheckedBlock::<T> {
                    expected: c.block_shape(idx),
                    _t: std::marker::PhantomData,
                }),
                deps: vec![keys[linear_index(idx, &numblocks)].clone()],
            },
        ))
    }
}

/// A block from elsewhere (a `Delayed`), passed on once its shape is
/// checked against the chunks.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct CheckedBlock<T> {
    expected: Vec<usize>,
    _t: std::marker::PhantomData<T>,
}

impl<T: Element> rask_core::Kernel for CheckedBlock<T> {
    const NAME: &'static str = crate::kernels::elem_name!("rask.array.from_delayed", T);
    fn run(&self, args: &[Value]) -> std::result::Result<Value, TaskError> {
        check_block_shape(block_arg::<T>(args, 0)?, &self.expected)?;
        Ok(args[0].clone())
    }
    fn label(&self) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("from-delayed")
    }
}

crate::kernels::register_elements!(CheckedBlock);

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
        Ok(Array::positional("arange", chunks, Arange { start, step }))
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
        Ok(Array::positional(
            "eye",
            chunks,
            Eye {
                _t: std::marker::PhantomData,
            },
        ))
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
        Ok(Array::positional(
            "linspace",
            chunks,
            Linspace {
                start,
                stop,
                step,
                num,
            },
        ))
    }
}

/// A creation whose blocks depend only on where they start and their shape
/// (`full`, `arange`, `eye`, `linspace`): the region-wise, portable form.
pub(crate) trait Positional: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The element type made.
    type Elem: Element;
    /// The registry name (per element type).
    const NAME: &'static str;
    /// The block described by `info` (start and shape).
    fn make(&self, info: &BlockInfo) -> ArrayD<Self::Elem>;
}

/// The region kernel of a [`Positional`] creation over a layer split like
/// `chunks`.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct PositionalRegion<P: Positional> {
    p: P,
    chunks: Vec<Vec<usize>>,
}

impl<P: Positional> RegionKernel for PositionalRegion<P> {
    const NAME: &'static str = P::NAME;
    fn eval(
        &self,
        _args: &[Value],
        idx: &[usize],
        region: &Region,
        _layout: Option<&[usize]>,
    ) -> Result<Value, TaskError> {
        let info = BlockInfo::from_sizes(&self.chunks, idx)?.sub(region)?;
        Ok(block_value(self.p.make(&info)))
    }
}

/// `full`: `value` everywhere.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct Full<T: Element> {
    value: T,
}

impl<T: Element> Positional for Full<T> {
    type Elem = T;
    const NAME: &'static str = crate::kernels::elem_name!("rask.array.full", T);
    fn make(&self, info: &BlockInfo) -> ArrayD<T> {
        ArrayD::from_elem(IxDyn(&info.shape), self.value)
    }
}

/// `arange`: element `i` is `start + i * step`.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct Arange<T: Element> {
    start: T,
    step: T,
}

impl<T: Number> Positional for Arange<T> {
    type Elem = T;
    const NAME: &'static str = crate::kernels::elem_name!("rask.array.arange", T);
    fn make(&self, info: &BlockInfo) -> ArrayD<T> {
        let s = info.start.first().copied().unwrap_or(0);
        ArrayD::from_shape_fn(IxDyn(&info.shape), |i| {
            self.start + T::from_f64((s + i[0]) as f64) * self.step
        })
    }
}

/// `eye`: ones on the diagonal.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct Eye<T: Element> {
    _t: std::marker::PhantomData<T>,
}

impl<T: Number> Positional for Eye<T> {
    type Elem = T;
    const NAME: &'static str = crate::kernels::elem_name!("rask.array.eye", T);
    fn make(&self, info: &BlockInfo) -> ArrayD<T> {
        let (r, c) = match info.start.as_slice() {
            &[r, c] => (r, c),
            _ => (0, 0),
        };
        ArrayD::from_shape_fn(IxDyn(&info.shape), |i| {
            if r + i[0] == c + i[1] {
                T::one()
            } else {
                T::zero()
            }
        })
    }
}

/// `linspace`: `num` values from `start` to `stop` inclusive.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct Linspace<T: Element> {
    start: T,
    stop: T,
    step: T,
    num: usize,
}

impl<T: Float> Positional for Linspace<T> {
    type Elem = T;
    const NAME: &'static str = crate::kernels::elem_name!("rask.array.linspace", T);
    fn make(&self, info: &BlockInfo) -> ArrayD<T> {
        let s = info.start.first().copied().unwrap_or(0);
        ArrayD::from_shape_fn(IxDyn(&info.shape), |i| {
            let k = s + i[0];
            if self.num > 1 && k == self.num - 1 {
                self.stop
            } else {
                self.start + T::from_f64(k as f64) * self.step
            }
        })
    }
}

register_region_for!(elements: PositionalRegion<Full>);
register_region_for!(numbers: PositionalRegion<Arange>);
register_region_for!(numbers: PositionalRegion<Eye>);
register_region_for!(floats: PositionalRegion<Linspace>);
