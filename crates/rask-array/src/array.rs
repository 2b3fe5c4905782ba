//! The lazy chunked array: [`Array`].
//!
//! An array is a node in a graph of *layers*. A layer knows its name, its
//! [`Chunks`], the layers (or other graphs) it reads, and a function that
//! gives the task of any one block: its operation and the keys of the blocks
//! it needs. Block `(i, j)` of a layer named `add-3f2a…` has the key
//! `('add-3f2a…', i, j)`. Nothing runs until `compute`: then every layer
//! reachable from the array adds its block tasks to one graph, which is
//! culled, fused (chains of blockwise operations become one task per block)
//! and ordered like any other.
//!
//! Operations that cannot fail in a way known only later — arithmetic
//! operators, reductions along axes given by the caller — never panic: an
//! invalid call gives an array that carries the error, every array derived
//! from it carries it too, and `compute` returns it.

use std::marker::PhantomData;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, Slice};
use rask_core::{Collection, Error, Executor, GraphBuilder, Key, Op, Result, TaskError, Value};
use rask_delayed::Delayed;

use crate::chunks::{Chunks, fmt_shape};
use crate::element::Element;

/// The task of one block: what it does and which keys it reads.
pub(crate) struct BlockTask {
    pub op: Op,
    pub deps: Vec<Key>,
}

pub(crate) type BlockFn = dyn Fn(&[usize]) -> BlockTask + Send + Sync;
pub(crate) type GraphFn = rask_delayed::GraphFn;

/// What a layer reads.
#[derive(Clone)]
pub(crate) enum Input {
    /// Another array's layer.
    Array(Arc<Node>),
    /// Tasks from elsewhere, such as `Delayed` blocks.
    Graph(Arc<GraphFn>),
}

impl Input {
    /// What identifies the input in a layer name: the layer's name, or a
    /// fresh token for a graph from elsewhere.
    pub(crate) fn token_name(&self) -> Arc<str> {
        match self {
            Input::Array(n) => n.name.clone(),
            Input::Graph(_) => rask_core::fresh_token().into(),
        }
    }
}

pub(crate) struct Node {
    pub name: Arc<str>,
    pub shape: Vec<usize>,
    pub chunks: Chunks,
    pub make: Option<Box<BlockFn>>,
    pub inputs: Vec<Input>,
    /// Why this array is invalid; `make` is `None` then.
    pub error: Option<String>,
    /// For a transpose: the source layer and the axis permutation, so
    /// elementwise operations can read the source blocks through permuted
    /// views instead of copying them (see `elementwise::blockwise_layer`).
    pub transposed: Option<(Arc<Node>, Vec<usize>)>,
    /// For an elementwise or creation layer: how to evaluate any region of
    /// any block, so consumers can evaluate it piecewise without storing
    /// the block (see [`Slab`]).
    pub slab: Option<Slab>,
}

/// The keys a block of a layer reads, by block index.
pub(crate) type DepsFn = dyn Fn(&[usize]) -> Vec<Key> + Send + Sync;

/// A region of a block: a range along every axis, in the block's own
/// coordinates.
pub(crate) type Region = [std::ops::Range<usize>];

/// Region-wise evaluation of a layer whose elements are cheap to compute
/// where they are needed: an elementwise layer (from the blocks it reads)
/// or a creation layer (from nothing).
///
/// A reduction evaluates its input one slab of rows at a time through this,
/// so `(x + y).sum()` never stores `x + y`, and an elementwise layer
/// evaluates its operands' regions inline, so a whole expression tree runs
/// slab by slab inside one task, reading only its stored leaves.
pub(crate) struct Slab {
    /// What the layer reads.
    pub inputs: Vec<Input>,
    /// The keys a block reads; always `ndeps` of them.
    pub deps: Arc<DepsFn>,
    /// How many keys a block reads.
    pub ndeps: usize,
    /// One region of a block, as data (see [`crate::region`]).
    pub expr: crate::region::RegionRef,
    /// Leaves (stored reads and generators) one evaluation touches: the
    /// work repeated when the layer is evaluated inline by several
    /// consumers, kept small so shared subtrees cannot blow up.
    pub cost: usize,
    /// The layers an elementwise evaluation reads region by region, each
    /// with whether it is read transposed (2-d only; empty for a leaf):
    /// see [`Slab::mirrored`].
    pub reads: Vec<(Arc<str>, bool)>,
}

impl Slab {
    /// Whether region `r` of block `(i, j)` and region `rᵀ` of block
    /// `(j, i)` read the same data: the layer reads some 2-d array both as
    /// it is and transposed, as `x + x.T` or `2 * x - x.T` do. A reduction
    /// of the whole layer then makes the two blocks in one task, tile after
    /// mirrored tile, so each tile of `x` comes from memory once, not twice.
    pub fn mirrored(&self) -> bool {
        self.reads
            .iter()
            .any(|(n, t)| !t && self.reads.iter().any(|(m, u)| *u && m == n))
    }
}

/// The shape of a region.
pub(crate) fn region_shape(region: &Region) -> Vec<usize> {
    region.iter().map(|r| r.end - r.start).collect()
}

/// The whole of a block of shape `shape`, as a region.
pub(crate) fn whole(shape: &[usize]) -> Vec<std::ops::Range<usize>> {
    shape.iter().map(|&n| 0..n).collect()
}

impl Drop for Node {
    /// Iterative drop, so a long chain of layers does not overflow the stack.
    fn drop(&mut self) {
        let mut stack = std::mem::take(&mut self.inputs);
        while let Some(input) = stack.pop() {
            if let Input::Array(node) = input
                && let Ok(mut node) = Arc::try_unwrap(node)
            {
                stack.append(&mut node.inputs);
            }
        }
    }
}

/// A lazy n-d array of `T`, split into blocks that are `ndarray` arrays.
///
/// Cheap to clone: clones share the graph. Shape, chunks and dtype are known
/// without computing.
///
/// ```
/// # use rask_local as _;
/// use rask_array::Array;
/// let x = Array::<f64>::ones(&[4, 6], &[2, 3]).unwrap();
/// assert_eq!(x.shape(), &[4, 6]);
/// assert_eq!(x.numblocks(), vec![2, 2]);
/// assert_eq!(x.dtype(), "float64");
/// let y = (&x + &x) * 3.0;
/// assert_eq!(y.sum().compute_scalar().unwrap(), 144.0);
/// ```
#[must_use = "an Array does nothing until it is computed"]
pub struct Array<T> {
    pub(crate) node: Arc<Node>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Array<T> {
    fn clone(&self) -> Self {
        Array {
            node: self.node.clone(),
            _type: PhantomData,
        }
    }
}

impl<T: Element> std::fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.node.error {
            Some(e) => write!(f, "rask.Array<invalid: {e}>"),
            None => write!(
                f,
                "rask.Array<{}, shape={}, dtype={}, chunksize={}, blocks={}>",
                self.node.name,
                fmt_shape(&self.node.shape),
                T::DTYPE,
                fmt_shape(&self.chunksize()),
                self.nblocks()
            ),
        }
    }
}

/// The block at `i` among a task's arguments.
pub(crate) fn block_arg<T: Element>(
    args: &[Value],
    i: usize,
) -> std::result::Result<&ArrayD<T>, TaskError> {
    match args.get(i) {
        Some(v) => v.get::<ArrayD<T>>(i),
        None => Err(TaskError::WrongArity {
            expected: i + 1,
            found: args.len(),
        }),
    }
}

/// Wraps a block as a task value, with its size.
pub(crate) fn block_value<T: Element>(block: ArrayD<T>) -> Value {
    let nbytes = block.len() * std::mem::size_of::<T>();
    Value::with_nbytes(block, nbytes)
}

/// The key of block `index` of the layer `name`.
pub(crate) fn block_key(name: &Arc<str>, index: &[usize]) -> Key {
    let idx: Vec<u32> = index.iter().map(|&i| i as u32).collect();
    Key::with_index(name.clone(), &idx)
}

impl<T: Element> Array<T> {
    /// A new layer with a fresh random name (for layers whose tasks are
    /// closures): `make` gives the task of each block.
    pub(crate) fn layer(
        prefix: &str,
        chunks: Chunks,
        inputs: Vec<Input>,
        make: impl Fn(&[usize]) -> BlockTask + Send + Sync + 'static,
    ) -> Self {
        Array::layer_named(Key::unique(prefix).name().into(), chunks, inputs, make)
    }

    /// A new layer of portable tasks, named deterministically from the
    /// operation `prefix`, its `params` and the layers it reads (see
    /// [`crate::kernels::layer_name`]).
    pub(crate) fn kernel_layer<P: serde::Serialize + ?Sized>(
        prefix: &str,
        params: &P,
        chunks: Chunks,
        inputs: Vec<Input>,
        make: impl Fn(&[usize]) -> BlockTask + Send + Sync + 'static,
    ) -> Self {
        let names: Vec<Arc<str>> = inputs.iter().map(Input::token_name).collect();
        let refs: Vec<&str> = names.iter().map(|n| &**n).collect();
        let name =
            crate::kernels::layer_name(prefix, &(params, T::DTYPE, chunks.as_slices()), &refs);
        Array::layer_named(name, chunks, inputs, make)
    }

    /// A new layer called `name`: `make` gives the task of each block.
    pub(crate) fn layer_named(
        name: Arc<str>,
        chunks: Chunks,
        inputs: Vec<Input>,
        make: impl Fn(&[usize]) -> BlockTask + Send + Sync + 'static,
    ) -> Self {
        Array {
            node: Arc::new(Node {
                name,
                shape: chunks.shape(),
                chunks,
                make: Some(Box::new(make)),
                inputs,
                error: None,
                transposed: None,
                slab: None,
            }),
            _type: PhantomData,
        }
    }

    /// An array that carries an error, returned by `compute`.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Array {
            node: Arc::new(Node {
                name: Key::unique("invalid").name().into(),
                shape: Vec::new(),
                chunks: Chunks::from_vec(Vec::new()),
                make: None,
                inputs: Vec::new(),
                error: Some(message.into()),
                transposed: None,
                slab: None,
            }),
            _type: PhantomData,
        }
    }

    /// The error this array carries, if it is invalid (see "Invalid
    /// arrays" in the crate docs): made by an infallible operation (an
    /// operator, a reduction) on bad input, or derived from such an array.
    ///
    /// ```
    /// use rask_array::Array;
    /// let a = Array::<f64>::ones(&[100, 100], &[50, 50]).unwrap();
    /// let b = Array::<f64>::ones(&[100, 99], &[50, 50]).unwrap();
    /// let c = &a + &b;
    /// assert!(!c.is_valid());
    /// assert!(c.error().unwrap().contains("(100, 99)"), "{:?}", c.error());
    /// assert!(c.try_shape().is_err());
    /// assert!(format!("{c:?}").contains("invalid"));
    /// ```
    pub fn error(&self) -> Option<&str> {
        self.node.error.as_deref()
    }

    /// Whether the array is valid: it carries no error (see
    /// [`Array::error`]).
    pub fn is_valid(&self) -> bool {
        self.node.error.is_none()
    }

    /// This array, or the error it carries.
    pub(crate) fn into_result(self) -> Result<Self> {
        match &self.node.error {
            Some(e) => Err(Error::invalid("array", e.clone())),
            None => Ok(self),
        }
    }

    /// The shape, or the error of an invalid array (whose [`Array::shape`]
    /// is empty).
    pub fn try_shape(&self) -> Result<&[usize]> {
        match &self.node.error {
            Some(e) => Err(Error::invalid("array", e.clone())),
            None => Ok(&self.node.shape),
        }
    }

    /// The chunks, or the error of an invalid array (whose
    /// [`Array::chunks`] has no axis).
    pub fn try_chunks(&self) -> Result<&Chunks> {
        match &self.node.error {
            Some(e) => Err(Error::invalid("array", e.clone())),
            None => Ok(&self.node.chunks),
        }
    }

    /// This array as an input of another layer.
    pub(crate) fn input(&self) -> Input {
        Input::Array(self.node.clone())
    }

    /// The key of one block.
    pub(crate) fn key(&self, index: &[usize]) -> Key {
        block_key(&self.node.name, index)
    }

    /// The layer's name: the common name of its block keys.
    pub fn name(&self) -> &str {
        &self.node.name
    }

    /// The same array with its last operation named `name`: block keys
    /// `('name-<token>', i, j)` and tasks whose operation is `name`, in
    /// errors and in the profiler's report (where a fused task lists it
    /// among its steps). For closures given to `map_blocks` or
    /// `map_overlap`, which are otherwise named `map_blocks`; a function
    /// item names its tasks itself. An invalid array is returned as it is.
    ///
    /// ```
    /// # use rask_local as _;
    /// use rask_array::Array;
    /// let x = Array::<f64>::ones(&[6], &[3]).unwrap();
    /// let y = x.map_blocks(|b| b * 2.0).with_name("double");
    /// assert!(y.name().starts_with("double-"));
    /// assert_eq!(y.sum().compute_scalar().unwrap(), 12.0);
    /// ```
    pub fn with_name(&self, name: &str) -> Array<T> {
        if self.node.error.is_some() || self.node.make.is_none() {
            return self.clone();
        }
        let old = self.node.clone();
        let label: Arc<str> = name.into();
        Array::layer(name, old.chunks.clone(), old.inputs.clone(), move |idx| {
            let make = old
                .make
                .as_ref()
                .expect("a valid layer has a make function (checked above)");
            let task = make(idx);
            BlockTask {
                op: task.op.renamed(label.to_string()),
                deps: task.deps,
            }
        })
    }

    /// The shape; empty for an invalid array (see [`Array::try_shape`]).
    pub fn shape(&self) -> &[usize] {
        &self.node.shape
    }

    /// Number of axes.
    pub fn ndim(&self) -> usize {
        self.node.shape.len()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.node.shape.iter().product()
    }

    /// Whether the array has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Block sizes along every axis; no axis for an invalid array (see
    /// [`Array::try_chunks`]).
    pub fn chunks(&self) -> &Chunks {
        &self.node.chunks
    }

    /// The size of the first (largest regular) block along every axis.
    pub fn chunksize(&self) -> Vec<usize> {
        self.node
            .chunks
            .as_slices()
            .iter()
            .map(|a| a.iter().copied().max().unwrap_or(0))
            .collect()
    }

    /// Number of blocks along every axis.
    pub fn numblocks(&self) -> Vec<usize> {
        self.node.chunks.numblocks()
    }

    /// Total number of blocks.
    pub fn nblocks(&self) -> usize {
        self.node.chunks.nblocks()
    }

    /// NumPy's name of the element type.
    pub fn dtype(&self) -> &'static str {
        T::DTYPE
    }

    /// Size of the whole array in bytes.
    pub fn nbytes(&self) -> usize {
        self.len() * std::mem::size_of::<T>()
    }

    /// Computes the whole array on the executor in force (the configured
    /// scheduler, threads by default).
    pub fn compute(&self) -> Result<ArrayD<T>> {
        rask_core::compute::compute(self)
    }

    /// Computes the whole array on `scheduler` (any executor).
    pub fn compute_with(&self, scheduler: &(impl Executor + ?Sized)) -> Result<ArrayD<T>> {
        crate::array::compute_on(scheduler, self)
    }

    /// Computes a 0-d array (the result of a full reduction) to its value.
    ///
    /// ```
    /// # use rask_local as _;
    /// let x = rask_array::Array::<i64>::arange(0, 10, 1, &[3]).unwrap();
    /// assert_eq!(x.sum().compute_scalar().unwrap(), 45);
    /// ```
    pub fn compute_scalar(&self) -> Result<T> {
        if self.error().is_none() && self.ndim() != 0 {
            return Err(Error::invalid(
                "array",
                format!(
                    "compute_scalar needs a 0-d array, but this one has shape {}; reduce it first or use compute",
                    fmt_shape(self.shape())
                ),
            ));
        }
        let a = self.compute()?;
        a.iter()
            .next()
            .copied()
            .ok_or_else(|| Error::Scheduler("a 0-d array has no element".into()))
    }

    /// Computes every block now and returns an array backed by the results,
    /// with the same keys: later computations do not repeat the work.
    pub fn persist(&self) -> Result<Array<T>> {
        self.persist_with(&*rask_core::executor::current()?)
    }

    /// Like [`Array::persist`], on `scheduler`: the blocks stay where the
    /// executor keeps them (in this process for the local schedulers).
    pub fn persist_with(&self, scheduler: &(impl Executor + ?Sized)) -> Result<Array<T>> {
        let kept = rask_core::compute::persist_with(self, scheduler)?;
        let name = self.node.name.clone();
        let chunks = self.node.chunks.clone();
        let values: Arc<Vec<Op>> = Arc::new(kept.into_iter().map(|(_, op)| op).collect());
        let numblocks = chunks.numblocks();
        Ok(Array {
            node: Arc::new(Node {
                name,
                shape: self.node.shape.clone(),
                chunks,
                make: Some(Box::new(move |idx: &[usize]| BlockTask {
                    op: values[linear_index(idx, &numblocks)].clone(),
                    deps: Vec::new(),
                })),
                inputs: Vec::new(),
                error: None,
                transposed: None,
                slab: None,
            }),
            _type: PhantomData,
        })
    }

    /// The blocks as `Delayed` values, in an array shaped like the block
    /// grid.
    ///
    /// ```
    /// # use rask_local as _;
    /// let x = rask_array::Array::<f64>::ones(&[4], &[2]).unwrap();
    /// let blocks = x.to_delayed();
    /// assert_eq!(blocks.shape(), &[2]);
    /// let b = blocks[[1]].compute().unwrap();
    /// assert_eq!(b.len(), 2);
    /// ```
    pub fn to_delayed(&self) -> ArrayD<Delayed<ArrayD<T>>> {
        let this = self.clone();
        let add: Arc<GraphFn> =
            Arc::new(move |b: &mut GraphBuilder| this.add_to_graph(b, &mut Vec::new()));
        let blocks: Vec<Delayed<ArrayD<T>>> = self
            .node
            .chunks
            .block_indices()
            .map(|idx| rask_delayed::from_graph(self.key(&idx), add.clone()))
            .collect();
        ArrayD::from_shape_vec(IxDyn(&self.numblocks()), blocks).expect("one delayed per block")
    }

    /// Writes the graph of this array as Graphviz DOT.
    pub fn visualize(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        rask_delayed::visualize(self, path)
    }
}

/// Computes `collection` on `executor` (argument order of the old
/// `Scheduler::compute`, for the writers).
pub(crate) fn compute_on<C: Collection + ?Sized>(
    executor: &(impl Executor + ?Sized),
    collection: &C,
) -> Result<C::Output> {
    rask_core::compute::compute_with(collection, executor)
}

/// Position of a block in C order.
pub(crate) fn linear_index(index: &[usize], numblocks: &[usize]) -> usize {
    index
        .iter()
        .zip(numblocks)
        .fold(0, |acc, (&i, &n)| acc * n + i)
}

/// Adds every layer reachable from `root`, each once.
fn add_layers(root: &Arc<Node>, builder: &mut GraphBuilder) {
    let mut stack: Vec<&Arc<Node>> = vec![root];
    let mut extra: Vec<&Arc<GraphFn>> = Vec::new();
    while let Some(node) = stack.pop() {
        let Some(make) = &node.make else { continue };
        let first = block_key(&node.name, &vec![0; node.shape.len()]);
        if builder.contains(&first) {
            continue; // added through another path
        }
        for idx in node.chunks.block_indices() {
            let task = make(&idx);
            builder.insert(block_key(&node.name, &idx), task.op, task.deps);
        }
        for input in &node.inputs {
            match input {
                Input::Array(n) => stack.push(n),
                Input::Graph(g) => extra.push(g),
            }
        }
    }
    for g in extra {
        g(builder);
    }
}

/// The first error among a node and everything it reads.
fn find_error(root: &Arc<Node>) -> Option<String> {
    let mut stack = vec![root];
    let mut seen = std::collections::HashSet::new();
    while let Some(n) = stack.pop() {
        if let Some(e) = &n.error {
            return Some(e.clone());
        }
        if !seen.insert(Arc::as_ptr(n)) {
            continue;
        }
        stack.extend(n.inputs.iter().filter_map(|i| match i {
            Input::Array(n) => Some(n),
            Input::Graph(_) => None,
        }));
    }
    None
}

impl<T: Element> Collection for Array<T> {
    type Output = ArrayD<T>;

    fn add_to_graph(&self, builder: &mut GraphBuilder, outputs: &mut Vec<Key>) {
        if let Some(e) = find_error(&self.node) {
            // A task that fails with the array's error, so compute reports it.
            let key = Key::unique("invalid-array");
            builder.insert(
                key.clone(),
                Op::call("invalid-array", move |_: &[Value]| {
                    Err(TaskError::failed(e.clone()))
                }),
                [],
            );
            outputs.push(key);
            return;
        }
        add_layers(&self.node, builder);
        outputs.extend(self.node.chunks.block_indices().map(|idx| self.key(&idx)));
    }

    fn validate(&self) -> Result<()> {
        match find_error(&self.node) {
            Some(e) => Err(Error::invalid("array", e)),
            None => Ok(()),
        }
    }

    fn finalize(&self, values: &mut dyn Iterator<Item = Value>) -> Result<ArrayD<T>> {
        if find_error(&self.node).is_some() {
            let _ = values.next();
            return Err(Error::Scheduler("an invalid array was computed".into()));
        }
        let chunks = &self.node.chunks;
        if chunks.nblocks() == 1 {
            let v = values.next().ok_or_else(|| missing(self))?;
            return v
                .into_inner::<ArrayD<T>>(0)
                .map_err(|cause| wrong_block(self, cause));
        }
        let mut out = ArrayD::<T>::default(IxDyn(&self.node.shape));
        for idx in chunks.block_indices() {
            let v = values.next().ok_or_else(|| missing(self))?;
            let block = v
                .get::<ArrayD<T>>(0)
                .map_err(|cause| wrong_block(self, cause))?;
            let start = chunks.block_start(&idx);
            let mut view = out.view_mut();
            for (ax, (&s, &len)) in start.iter().zip(block.shape()).enumerate() {
                view.slice_axis_inplace(ndarray::Axis(ax), Slice::from(s..s + len));
            }
            if view.shape() != block.shape() {
                return Err(Error::Task {
                    key: self.key(&idx),
                    op: "assemble".into(),
                    cause: TaskError::failed(format!(
                        "block {idx:?} has shape {}, but the chunks say {}",
                        fmt_shape(block.shape()),
                        fmt_shape(&chunks.block_shape(&idx))
                    )),
                });
            }
            view.assign(block);
        }
        Ok(out)
    }
}

fn missing<T: Element>(a: &Array<T>) -> Error {
    Error::Scheduler(format!(
        "internal error: a block of {} did not come back",
        a.name()
    ))
}

fn wrong_block<T: Element>(a: &Array<T>, cause: TaskError) -> Error {
    Error::Task {
        key: Key::new(a.name()),
        op: "assemble".into(),
        cause,
    }
}

impl<T: Element> rask_core::Persist for Array<T> {
    fn persist_on(&self, executor: &dyn Executor) -> Result<Self> {
        self.persist_with(executor)
    }
}
