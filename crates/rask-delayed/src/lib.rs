//! Lazy, typed calls of ordinary Rust functions.
//!
//! `delayed` turns existing code into a task graph without rewriting it: wrap
//! a call in [`delayed()`], chain further calls with [`Delayed::map`],
//! [`Delayed::map2`], [`Delayed::zip`] and [`collect`], and run the whole
//! graph with [`Delayed::compute`] — on every core by default.
//!
//! ```
//! use rask_delayed::{self as delayed, Delayed};
//!
//! fn load(i: u64) -> Vec<f64> { (0..100).map(|x| (x * i) as f64).collect() }
//! fn fit(v: &[f64]) -> f64 { v.iter().sum::<f64>() / v.len() as f64 }
//!
//! let parts: Vec<Delayed<Vec<f64>>> = (0..8).map(|i| delayed::delayed(move || load(i))).collect();
//! let fitted: Vec<Delayed<f64>> = parts.iter().map(|p| p.map(|v| fit(v))).collect();
//! let total: Delayed<f64> = delayed::collect(fitted).map(|xs| xs.iter().sum());
//! assert_eq!(total.compute().unwrap(), 49.5 * 28.0);
//! ```
//!
//! # Named calls
//!
//! [`delayed!`] is Dask's `delayed(f)(a, b)`: `delayed!(fit(&cleaned, alpha))`
//! calls the function `fit` on any mix of delayed and plain arguments, and
//! the task's key and operation are named `fit`, so an error says which
//! function failed; [`Delayed::with_index`] adds which item of many it was,
//! and [`Delayed::with_name`] gives a name of your own.
//!
//! # Model
//!
//! A [`Delayed<T>`] is a handle on one node of a graph: a key, an operation
//! and the nodes it depends on. Cloning it is cheap (one reference count).
//! Functions receive their arguments by reference, because a value may feed
//! several dependents; it is computed once and dropped as soon as the last of
//! them has run. Computing requires `T: Clone` only to hand the result out:
//! when nothing else holds it, it is moved, not cloned.
//!
//! Functions are `Fn` (not `FnOnce`) so that a task can be run again, by a
//! retry or on another worker. Errors returned by [`try_delayed`] /
//! [`Delayed::try_map`] functions and panics come back from `compute` as
//! [`Error::Task`] naming the failed task's key.
//!
//! # Local closures and registered functions
//!
//! Closures run in the process that built them. Functions marked
//! `#[rask::remote]` are registered kernels ([`from_kernel`]): their tasks
//! can be sent to other processes (a cluster's workers), and their keys are
//! deterministic — derived from the function's name and its inputs' keys —
//! so the same call built twice is one task. A graph that holds a closure is
//! refused by an executor that needs portable tasks, with an error naming
//! the task.

use std::any::Any;
use std::borrow::Borrow;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

mod call;

/// What the [`delayed!`] macro expands to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::call::*;
    pub use rask_core::Value;
}

use rask_core::{
    Annotations, BoxError, Collection, Deps, Error, Executor, GraphBuilder, Kernel, Key, Op,
    Result, Shared, TaskError, TaskId, Tokenizer, Value,
};

/// A lazy value of type `T`: a node in a task graph.
#[must_use = "a Delayed does nothing until it is computed"]
pub struct Delayed<T> {
    node: Arc<Node>,
    _type: PhantomData<fn() -> T>,
}

/// One node of a delayed graph. A graph of a million closures holds a
/// million of these, so the layout is kept small: 64 bytes, plus one
/// allocation for the operation (a closure, 24 bytes for one that captures
/// a word: its name is found from its type when shown, see
/// `Op::call_named_by`) and, for a node
/// with dependencies, one for the operation and dependencies together and
/// one for the dependencies; a key `prefix-<token>` is stored inline.
struct Node {
    key: Key,
    body: Body,
    /// Where this node's task went in the builder that added it last: the
    /// builder's serial (its low 32 bits) in the high half, the task id in
    /// the low half. A hint that saves looking the key up, trusted only when
    /// the builder's task of that id has this node's key (see [`Node::id_in`]).
    added_as: AtomicU64,
}

enum Body {
    /// A task without dependencies: what it does. Kept apart from [`Body::Task`]
    /// so a leaf (most nodes of a wide graph) needs no room for dependencies.
    Leaf(Op),
    /// A task: what it does and the nodes it depends on, in argument order.
    Task(Box<WithDeps>),
    /// A task with priority, retries, resources or allowed workers.
    Annotated(Box<Annotated>),
    /// A task of another collection's graph, which this adds to a builder
    /// (the graph holds a task with the node's key).
    External(Arc<GraphFn>),
}

struct WithDeps {
    op: Op,
    deps: Box<[Arc<Node>]>,
}

struct Annotated {
    op: Op,
    deps: Box<[Arc<Node>]>,
    annotations: Arc<Annotations>,
}

/// Adds tasks to a graph builder.
pub type GraphFn = dyn Fn(&mut GraphBuilder) + Send + Sync;

impl Node {
    fn new(key: Key, body: Body) -> Arc<Node> {
        Arc::new(Node {
            key,
            body,
            added_as: AtomicU64::new(0),
        })
    }

    fn task(key: Key, op: Op, deps: Box<[Arc<Node>]>) -> Arc<Node> {
        let body = if deps.is_empty() {
            Body::Leaf(op)
        } else {
            Body::Task(Box::new(WithDeps { op, deps }))
        };
        Node::new(key, body)
    }

    /// The nodes this one depends on, in argument order.
    fn deps(&self) -> &[Arc<Node>] {
        match &self.body {
            Body::Task(t) => &t.deps,
            Body::Annotated(a) => &a.deps,
            Body::Leaf(_) | Body::External(_) => &[],
        }
    }

    /// The operation; `None` for an external node.
    fn op(&self) -> Option<&Op> {
        match &self.body {
            Body::Leaf(op) => Some(op),
            Body::Task(t) => Some(&t.op),
            Body::Annotated(a) => Some(&a.op),
            Body::External(_) => None,
        }
    }

    fn annotations(&self) -> Option<&Arc<Annotations>> {
        match &self.body {
            Body::Annotated(a) => Some(&a.annotations),
            _ => None,
        }
    }

    /// The id of this node's task in `builder`, when the node was added to
    /// it (or a task with an equal key was).
    fn id_in(&self, builder: &GraphBuilder) -> Option<TaskId> {
        if let Some(id) = self.hinted_in(builder) {
            return Some(id);
        }
        let id = builder.id_of(&self.key)?;
        self.remember(builder, id);
        Some(id)
    }

    /// The id of this node's task in `builder` when the hint names it.
    #[inline]
    fn hinted_in(&self, builder: &GraphBuilder) -> Option<TaskId> {
        let hint = self.added_as.load(Ordering::Relaxed);
        // A hint from another builder (one running on another thread, or
        // one whose serial agrees in the low 32 bits) names a task with
        // another key, or none: checked, never trusted.
        if hint >> 32 == builder.serial() & 0xffff_ffff {
            let id = TaskId(hint as u32);
            if builder.key(id) == Some(&self.key) {
                return Some(id);
            }
        }
        None
    }

    fn remember(&self, builder: &GraphBuilder, id: TaskId) {
        let hint = (builder.serial() << 32) | u64::from(id.0);
        self.added_as.store(hint, Ordering::Relaxed);
    }

    /// Takes the dependencies out, leaving none.
    fn take_deps(&mut self) -> Box<[Arc<Node>]> {
        match &mut self.body {
            Body::Task(t) => std::mem::take(&mut t.deps),
            Body::Annotated(a) => std::mem::take(&mut a.deps),
            Body::Leaf(_) | Body::External(_) => Box::default(),
        }
    }
}

impl Drop for Node {
    /// Drops long chains without recursion: a chain of a million nodes would
    /// otherwise overflow the stack.
    fn drop(&mut self) {
        let mut stack = self.take_deps().into_vec();
        while let Some(dep) = stack.pop() {
            if let Ok(mut node) = Arc::try_unwrap(dep) {
                stack.extend(node.take_deps());
            }
        }
    }
}

impl<T> Clone for Delayed<T> {
    fn clone(&self) -> Self {
        Delayed {
            node: self.node.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Delayed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Delayed<{}>({})",
            std::any::type_name::<T>(),
            self.node.key
        )
    }
}

/// Bounds of values that flow through a graph.
pub trait Data: Any + Send + Sync {}
impl<T: Any + Send + Sync> Data for T {}

/// The key prefix for a function: its name for a `fn` item, `default` for a
/// closure.
fn prefix_of<F>(default: &'static str) -> &'static str {
    let full = std::any::type_name::<F>();
    if full.contains("{{closure}}") {
        return default;
    }
    let path = full.split('<').next().unwrap_or(full);
    match path.rsplit("::").next() {
        Some(name) if !name.is_empty() => name,
        _ => default,
    }
}

fn arg<T: Data>(args: &[Value], i: usize, arity: usize) -> Result<&T, TaskError> {
    if args.len() != arity {
        return Err(TaskError::WrongArity {
            expected: arity,
            found: args.len(),
        });
    }
    args[i].get::<T>(i)
}

impl<T: Data> Delayed<T> {
    fn from_parts(prefix: &str, op: Op, deps: Vec<Arc<Node>>) -> Self {
        Delayed {
            node: Node::task(Key::unique(prefix), op, deps.into_boxed_slice()),
            _type: PhantomData,
        }
    }

    /// The same task with `annotations` (Dask's `dask.annotate`): a
    /// `priority` (higher runs first among ready tasks), `retries` (a
    /// failure is run again up to that many times), and, for clusters,
    /// `resources` and allowed `workers`. The key stays the same.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use rask_core::Annotations;
    /// static TRIES: AtomicU32 = AtomicU32::new(0);
    /// let flaky = rask_delayed::try_delayed(|| {
    ///     if TRIES.fetch_add(1, Ordering::SeqCst) < 2 { Err("not yet") } else { Ok(7) }
    /// });
    /// # use rask_local as _;
    /// let x = flaky.with_annotations(Annotations::default().retries(2));
    /// assert_eq!(x.compute().unwrap(), 7);
    /// assert_eq!(TRIES.load(Ordering::SeqCst), 3);
    /// ```
    pub fn with_annotations(&self, annotations: Annotations) -> Delayed<T> {
        let body = match (&self.node.body, self.node.op()) {
            // The task belongs to another collection, with its annotations.
            (Body::External(add), _) => Body::External(add.clone()),
            (_, op) => Body::Annotated(Box::new(Annotated {
                op: op
                    .expect("a node that is not external has an operation")
                    .clone(),
                deps: self.node.deps().into(),
                annotations: Arc::new(annotations),
            })),
        };
        Delayed {
            node: Node::new(self.node.key.clone(), body),
            _type: PhantomData,
        }
    }

    /// The key of this node.
    pub fn key(&self) -> &Key {
        &self.node.key
    }

    /// The same computation under a key with another prefix and an
    /// operation of that name, for readable errors and diagnostics. Call it
    /// before using the node elsewhere: the renamed node is a separate task.
    ///
    /// ```
    /// let d = rask_delayed::try_delayed(|| Err::<i32, _>("disk full")).with_name("load");
    /// assert_eq!(d.key().prefix(), "load");
    /// let err = d.compute().unwrap_err().to_string();
    /// assert!(err.contains("load"), "{err}");
    /// ```
    pub fn with_name(&self, prefix: &str) -> Delayed<T> {
        let Some(op) = self.node.op() else {
            return self.clone(); // its key belongs to another collection
        };
        let op = op.renamed(prefix.to_string());
        Delayed::from_parts(prefix, op, self.node.deps().to_vec())
    }

    /// The same computation under the key `(name, index)`, where `name` is
    /// a fresh `prefix-<token>` with this node's prefix: for many calls of
    /// one function, the error of a failed one says which item it was
    /// (`task ('fit-3d30…', 7) (operation `fit`) failed: …`), as the keys
    /// of an array's blocks do. Call it before using the node elsewhere:
    /// the new node is a separate task.
    ///
    /// ```
    /// fn fit(rows: &Vec<f64>) -> Result<f64, String> {
    ///     rows.first().copied().ok_or_else(|| "no valid rows".to_string())
    /// }
    /// let parts = vec![vec![1.0], vec![], vec![3.0]];
    /// let fits: Vec<_> = parts
    ///     .into_iter()
    ///     .enumerate()
    ///     .map(|(i, rows)| rask_delayed::delayed!(fit(&rows)?).with_index(i as u32))
    ///     .collect();
    /// assert_eq!(fits[1].key().index(), &[1]);
    /// let err = rask_delayed::collect(&fits).compute().unwrap_err().to_string();
    /// assert!(err.starts_with("task ('fit-") && err.contains("', 1) (operation `fit`) failed: no valid rows"), "{err}");
    /// ```
    pub fn with_index(&self, index: u32) -> Delayed<T> {
        let Some(op) = self.node.op() else {
            return self.clone(); // its key belongs to another collection
        };
        let name = Key::unique(self.node.key.prefix());
        Delayed {
            node: Node::task(
                Key::with_index(name.shared_name(), &[index]),
                op.clone(),
                self.node.deps().into(),
            ),
            _type: PhantomData,
        }
    }

    /// Applies `f` to the value.
    ///
    /// ```
    /// let n = rask_delayed::value(vec![1, 2, 3]).map(|v| v.len());
    /// assert_eq!(n.compute().unwrap(), 3);
    /// ```
    pub fn map<U: Data>(&self, f: impl Fn(&T) -> U + Send + Sync + 'static) -> Delayed<U> {
        let name = prefix_name(&f, "map");
        let op = Op::call_named_by(map_name(&f), move |args: &[Value]| {
            Ok(Value::new(f(arg::<T>(args, 0, 1)?)))
        });
        Delayed::from_parts(name, op, vec![self.node.clone()])
    }

    /// Applies a fallible `f` to the value; an `Err` fails the task.
    ///
    /// ```
    /// let parsed = rask_delayed::value("12".to_string()).try_map(|s| s.parse::<i32>());
    /// assert_eq!(parsed.compute().unwrap(), 12);
    /// let bad = rask_delayed::value("x".to_string()).try_map(|s| s.parse::<i32>());
    /// assert!(bad.compute().is_err());
    /// ```
    pub fn try_map<U: Data, E: Into<BoxError>>(
        &self,
        f: impl Fn(&T) -> Result<U, E> + Send + Sync + 'static,
    ) -> Delayed<U> {
        let name = prefix_name(&f, "map");
        let op = Op::call_named_by(map_name(&f), move |args: &[Value]| {
            f(arg::<T>(args, 0, 1)?)
                .map(Value::new)
                .map_err(TaskError::failed)
        });
        Delayed::from_parts(name, op, vec![self.node.clone()])
    }

    /// Applies `f` to this value and another.
    ///
    /// ```
    /// let a = rask_delayed::value(2);
    /// let b = rask_delayed::value(3);
    /// assert_eq!(a.map2(&b, |x, y| x * y).compute().unwrap(), 6);
    /// ```
    pub fn map2<U: Data, V: Data>(
        &self,
        other: &Delayed<U>,
        f: impl Fn(&T, &U) -> V + Send + Sync + 'static,
    ) -> Delayed<V> {
        let name = prefix_name(&f, "map");
        let op = Op::call_named_by(map_name(&f), move |args: &[Value]| {
            Ok(Value::new(f(arg::<T>(args, 0, 2)?, arg::<U>(args, 1, 2)?)))
        });
        Delayed::from_parts(name, op, vec![self.node.clone(), other.node.clone()])
    }

    /// Applies `f` to this value and two others.
    ///
    /// ```
    /// let (a, b, c) = (rask_delayed::value(1), rask_delayed::value(2), rask_delayed::value(3));
    /// assert_eq!(a.map3(&b, &c, |x, y, z| x + y + z).compute().unwrap(), 6);
    /// ```
    pub fn map3<U: Data, V: Data, W: Data>(
        &self,
        b: &Delayed<U>,
        c: &Delayed<V>,
        f: impl Fn(&T, &U, &V) -> W + Send + Sync + 'static,
    ) -> Delayed<W> {
        let name = prefix_name(&f, "map");
        let op = Op::call_named_by(map_name(&f), move |args: &[Value]| {
            Ok(Value::new(f(
                arg::<T>(args, 0, 3)?,
                arg::<U>(args, 1, 3)?,
                arg::<V>(args, 2, 3)?,
            )))
        });
        Delayed::from_parts(
            name,
            op,
            vec![self.node.clone(), b.node.clone(), c.node.clone()],
        )
    }

    /// Pairs this value with another.
    ///
    /// ```
    /// let p = rask_delayed::value(1).zip(&rask_delayed::value("a"));
    /// assert_eq!(p.compute().unwrap(), (1, "a"));
    /// ```
    pub fn zip<U: Data + Clone>(&self, other: &Delayed<U>) -> Delayed<(T, U)>
    where
        T: Clone,
    {
        let op = Op::call_named_by(
            || "zip",
            |args: &[Value]| {
                Ok(Value::new((
                    arg::<T>(args, 0, 2)?.clone(),
                    arg::<U>(args, 1, 2)?.clone(),
                )))
            },
        );
        Delayed::from_parts("zip", op, vec![self.node.clone(), other.node.clone()])
    }
}

impl<T: Data + Clone> Delayed<T> {
    /// Computes the value on the executor in force (the configured
    /// scheduler, threads by default; see `rask_core::executor`).
    pub fn compute(&self) -> Result<T> {
        rask_core::compute::compute(self)
    }

    /// Computes the value on `executor`.
    ///
    /// ```
    /// use rask_local::Scheduler;
    /// let x = rask_delayed::delayed(|| 40).map(|x| x + 2);
    /// assert_eq!(x.compute_with(&Scheduler::sync()).unwrap(), 42);
    /// ```
    pub fn compute_with<E: Executor + ?Sized>(&self, executor: &E) -> Result<T> {
        rask_core::compute::compute_with(self, executor)
    }
}

impl<T: Data> Delayed<T> {
    /// Computes the value now and returns a `Delayed` backed by it, with the
    /// same key: later computations that use it do not repeat the work.
    ///
    /// ```
    /// let x = rask_delayed::delayed(|| 6 * 7).persist().unwrap();
    /// assert_eq!(x.map(|v| v + 1).compute().unwrap(), 43);
    /// ```
    pub fn persist(&self) -> Result<Delayed<T>> {
        self.persist_with(&*rask_core::executor::current()?)
    }

    /// Like [`Delayed::persist`], on `executor`: the result stays where the
    /// executor keeps it (in this process for the local schedulers).
    pub fn persist_with<E: Executor + ?Sized>(&self, executor: &E) -> Result<Delayed<T>> {
        let mut kept = rask_core::compute::persist_with(&RawValue(&self.node), executor)?;
        let (key, op) = kept.pop().ok_or_else(|| missing_output(&self.node.key))?;
        Ok(Delayed {
            node: Node::task(key, op, Box::default()),
            _type: PhantomData,
        })
    }

    /// This node without its type, for building calls of kernels
    /// ([`from_kernel`]).
    pub fn erase(&self) -> AnyDelayed {
        AnyDelayed(self.node.clone())
    }

    /// Writes the graph behind this value as Graphviz DOT to `path`.
    ///
    /// ```no_run
    /// let x = rask_delayed::delayed(|| 1).map(|v| v + 1);
    /// x.visualize("graph.dot").unwrap();
    /// ```
    pub fn visualize(&self, path: impl AsRef<Path>) -> Result<()> {
        visualize(&RawValue(&self.node), path)
    }
}

/// Writes the (unoptimized) graph of any collection as Graphviz DOT.
pub fn visualize<C: Collection + ?Sized>(collection: &C, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let mut builder = GraphBuilder::new();
    collection.add_to_graph(&mut builder, &mut Vec::new());
    let dot = builder.build()?.to_dot();
    std::fs::write(path, dot).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn prefix_name<F>(_f: &F, default: &'static str) -> &'static str {
    prefix_of::<F>(default)
}

/// The name of an operation calling `f` (see [`prefix_name`]), as a
/// function that captures nothing and so takes no memory in the task (see
/// `Op::call_named_by`); it is found when it is shown.
fn map_name<F: 'static>(_f: &F) -> impl Fn() -> &'static str + Send + Sync + 'static {
    || prefix_of::<F>("map")
}

/// Like [`map_name`], for a call without arguments.
fn delayed_name<F: 'static>(_f: &F) -> impl Fn() -> &'static str + Send + Sync + 'static {
    || prefix_of::<F>("delayed")
}

/// Adds the graph under `root` to `builder`, without recursion.
///
/// Each task is added after its dependencies (post-order, dependencies in
/// argument order), by [`GraphBuilder::insert_with_ids`], and its node
/// remembers the id it got: a dependency is then resolved without hashing
/// its key. Only a node met for the first time is looked up by key, so a
/// node whose key is in the builder already (an equal value, a pure kernel
/// call built twice, an annotated copy) is one task with it, and its
/// dependencies are not visited: the first one added wins.
fn add_nodes(root: &Arc<Node>, builder: &mut GraphBuilder) {
    if is_added(root, builder) {
        return;
    }
    builder.reserve(count_new(root, builder));
    // (node, index of the next dependency to visit)
    let mut stack: Vec<(&Node, usize)> = vec![(root, 0)];
    while let Some((node, next)) = stack.last_mut() {
        let node: &Node = node;
        if let Some(dep) = node.deps().get(*next) {
            *next += 1;
            if !is_added(dep, builder) {
                stack.push((dep, 0));
            }
            continue;
        }
        stack.pop();
        add_node(node, builder);
    }
}

/// How many nodes of the graph of `root` (not added to `builder`) have no
/// task in `builder` yet: one pass that marks each node it counts, so a
/// shared node counts once. Nodes added by another builder count too; an
/// external node counts as one task. A bound to reserve room with, not exact.
fn count_new(root: &Node, builder: &GraphBuilder) -> usize {
    // A hint that names no task (the id is never a task's), for this builder.
    let counted = (builder.serial() << 32) | u64::from(u32::MAX);
    let mut count = 0;
    let mut stack: Vec<&Node> = vec![root];
    while let Some(node) = stack.pop() {
        let hint = node.added_as.load(Ordering::Relaxed);
        if hint == counted || node.hinted_in(builder).is_some() {
            continue;
        }
        node.added_as.store(counted, Ordering::Relaxed);
        count += 1;
        stack.extend(node.deps().iter().map(|d| &**d));
    }
    count
}

/// Whether `node` has a task in `builder`; an external node's graph is
/// added now.
fn is_added(node: &Node, builder: &mut GraphBuilder) -> bool {
    if node.id_in(builder).is_some() {
        return true;
    }
    if let Body::External(add) = &node.body {
        add(builder);
        return true;
    }
    false
}

/// Adds the task of `node`, whose dependencies were visited.
fn add_node(node: &Node, builder: &mut GraphBuilder) {
    let op = node
        .op()
        .expect("an external node is never added as a task");
    let ids: Option<Deps> = node.deps().iter().map(|d| d.id_in(builder)).collect();
    let Some(ids) = ids else {
        // An external graph did not add the key it promised: by key, so
        // that building reports the missing dependency.
        let keys = node.deps().iter().map(|d| d.key.clone());
        match node.annotations() {
            Some(a) => builder.insert_annotated(node.key.clone(), op.clone(), keys, a.clone()),
            None => builder.insert(node.key.clone(), op.clone(), keys),
        };
        return;
    };
    let annotations = node.annotations().cloned();
    let (id, _) = builder.insert_with_ids(node.key.clone(), op.clone(), ids, annotations);
    node.remember(builder, id);
}

/// A node computed to its raw [`Value`].
struct RawValue<'a>(&'a Arc<Node>);

impl Collection for RawValue<'_> {
    type Output = Value;
    fn add_to_graph(&self, builder: &mut GraphBuilder, outputs: &mut Vec<Key>) {
        add_nodes(self.0, builder);
        outputs.push(self.0.key.clone());
    }
    fn finalize(&self, values: &mut dyn Iterator<Item = Value>) -> Result<Value> {
        values.next().ok_or_else(|| missing_output(&self.0.key))
    }
}

fn missing_output(key: &Key) -> Error {
    Error::Scheduler(format!("internal error: no value came back for {key}"))
}

impl<T: Data + Clone> Collection for Delayed<T> {
    type Output = T;
    fn add_to_graph(&self, builder: &mut GraphBuilder, outputs: &mut Vec<Key>) {
        add_nodes(&self.node, builder);
        outputs.push(self.node.key.clone());
    }
    fn finalize(&self, values: &mut dyn Iterator<Item = Value>) -> Result<T> {
        let value = values
            .next()
            .ok_or_else(|| missing_output(&self.node.key))?;
        value.into_inner::<T>(0).map_err(|cause| Error::Task {
            key: self.node.key.clone(),
            op: "compute".into(),
            cause,
        })
    }
}

/// A lazy call of `f`: nothing runs until the result is computed.
///
/// The key's prefix is the function's name for a `fn` item, `delayed` for a
/// closure (rename with [`Delayed::with_name`]).
///
/// ```
/// fn answer() -> u32 { 42 }
/// let d = rask_delayed::delayed(answer);
/// assert_eq!(d.key().prefix(), "answer");
/// assert_eq!(d.compute().unwrap(), 42);
/// ```
pub fn delayed<T: Data>(f: impl Fn() -> T + Send + Sync + 'static) -> Delayed<T> {
    let name = prefix_name(&f, "delayed");
    let op = Op::call_named_by(delayed_name(&f), move |args: &[Value]| {
        if !args.is_empty() {
            return Err(TaskError::WrongArity {
                expected: 0,
                found: args.len(),
            });
        }
        Ok(Value::new(f()))
    });
    Delayed::from_parts(name, op, Vec::new())
}

/// A lazy call of a fallible `f`; an `Err` fails the task and comes back from
/// `compute` naming its key.
///
/// ```
/// let d = rask_delayed::try_delayed(|| std::fs::read_to_string("/no/such/file"));
/// let err = d.compute().unwrap_err();
/// assert!(err.to_string().contains("delayed-"));
/// ```
pub fn try_delayed<T: Data, E: Into<BoxError>>(
    f: impl Fn() -> Result<T, E> + Send + Sync + 'static,
) -> Delayed<T> {
    let name = prefix_name(&f, "delayed");
    let op = Op::call_named_by(delayed_name(&f), move |_: &[Value]| {
        f().map(Value::new).map_err(TaskError::failed)
    });
    Delayed::from_parts(name, op, Vec::new())
}

/// A `Delayed` for the task `key` of another collection's graph, which `add`
/// puts into a builder (for example one block of an array). The task's value
/// must be a `T`; a mismatch fails at compute time with a type error.
///
/// ```
/// use std::sync::Arc;
/// use rask_core::{Key, Op, Value};
/// let key = Key::new("answer-1");
/// let k = key.clone();
/// let d: rask_delayed::Delayed<i32> = rask_delayed::from_graph(key, Arc::new(move |b| {
///     b.insert(k.clone(), Op::value(Value::new(42i32)), []);
/// }));
/// assert_eq!(d.compute().unwrap(), 42);
/// ```
pub fn from_graph<T: Data>(key: Key, add: Arc<GraphFn>) -> Delayed<T> {
    Delayed {
        node: Node::new(key, Body::External(add)),
        _type: PhantomData,
    }
}

/// A `Delayed` holding a value that exists already (Dask's `delayed(obj)`).
///
/// When the value's type has a codec (see `rask_core::codec`), the key is
/// derived from its bytes, so equal values are one task and the value can
/// be sent to other processes.
///
/// ```
/// assert_eq!(rask_delayed::value(5).compute().unwrap(), 5);
/// assert_eq!(rask_delayed::value(5).key(), rask_delayed::value(5).key());
/// ```
pub fn value<T: Data>(value: T) -> Delayed<T> {
    let value = Value::new(value);
    let key = match value.encode() {
        Ok(e) => Tokenizer::new("value")
            .str(&e.tag)
            .bytes(&e.bytes)
            .finish_key("value"),
        Err(_) => Key::unique("value"),
    };
    Delayed {
        node: Node::task(key, Op::value(value), Box::default()),
        _type: PhantomData,
    }
}

/// A [`Delayed`] without its type: an argument of [`from_kernel`].
#[derive(Clone)]
pub struct AnyDelayed(Arc<Node>);

impl AnyDelayed {
    /// The node's key.
    pub fn key(&self) -> &Key {
        &self.0.key
    }
}

/// What a registered function accepts as an argument of type `T`: a
/// `&Delayed<T>` (its result, once computed) or a plain `T` (wrapped with
/// [`value`]).
pub trait IntoArg<T> {
    /// The argument as a delayed value.
    fn into_arg(self) -> Delayed<T>;
}

impl<T> IntoArg<T> for &Delayed<T> {
    fn into_arg(self) -> Delayed<T> {
        self.clone()
    }
}

impl<T> IntoArg<T> for Delayed<T> {
    fn into_arg(self) -> Delayed<T> {
        self
    }
}

impl<T: Data> IntoArg<T> for T {
    fn into_arg(self) -> Delayed<T> {
        value(self)
    }
}

/// A lazy call of the registered kernel `kernel` on `args` (what
/// `#[rask::remote]` functions build): portable, and when `pure`, keyed by
/// the kernel's name, parameters and the arguments' keys, so the same call
/// built twice is one task. The kernel's result must be a `T`.
///
/// ```
/// use rask_core::{Kernel, TaskError, Value};
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Add;
/// impl Kernel for Add {
///     const NAME: &'static str = "doc.add";
///     fn run(&self, a: &[Value]) -> Result<Value, TaskError> {
///         Ok(Value::new(a[0].get::<i64>(0)? + a[1].get::<i64>(1)?))
///     }
/// }
/// rask_core::register_kernel!(Add);
/// let (a, b) = (rask_delayed::value(2i64), rask_delayed::value(3i64));
/// let s: rask_delayed::Delayed<i64> = rask_delayed::from_kernel(Add, vec![a.erase(), b.erase()], true);
/// let t: rask_delayed::Delayed<i64> = rask_delayed::from_kernel(Add, vec![a.erase(), b.erase()], true);
/// assert_eq!(s.key(), t.key());
/// # use rask_local as _;
/// assert_eq!(s.compute().unwrap(), 5);
/// ```
pub fn from_kernel<T: Data, K: Kernel>(kernel: K, args: Vec<AnyDelayed>, pure: bool) -> Delayed<T> {
    let label = kernel.label();
    let key = if pure {
        let mut t = Tokenizer::new(K::NAME);
        t.serde(&kernel);
        for a in &args {
            t.key(&a.0.key);
        }
        t.finish_key(&label)
    } else {
        Key::unique(&label)
    };
    Delayed {
        node: Node::task(
            key,
            Op::kernel(kernel),
            args.into_iter().map(|a| a.0).collect(),
        ),
        _type: PhantomData,
    }
}

/// The portable `collect`: gathers values of the registered type `tag`.
#[derive(serde::Serialize, serde::Deserialize)]
struct Collect {
    tag: String,
}

impl Kernel for Collect {
    const NAME: &'static str = "rask.delayed.collect";
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        rask_core::codec::entry_for_tag(&self.tag)
            .and_then(|e| e.collect(args))
            .unwrap_or_else(|| {
                Err(TaskError::failed(format!(
                    "values of type `{}` cannot be collected here: the type is not registered \
                     in this program",
                    self.tag
                )))
            })
    }
}

rask_core::register_kernel!(Collect);

/// Gathers many delayed values into one delayed vector, in order.
///
/// When `T` is a registered type (numbers, strings, vectors, n-d blocks, and
/// the argument and result types of `#[rask::remote]` functions), the task
/// is portable and its key is derived from its inputs' keys.
///
/// ```
/// let xs: Vec<_> = (0..4).map(|i| rask_delayed::delayed(move || i * i)).collect();
/// assert_eq!(rask_delayed::collect(&xs).compute().unwrap(), vec![0, 1, 4, 9]);
/// ```
pub fn collect<T, I>(items: I) -> Delayed<Vec<T>>
where
    T: Data + Clone,
    I: IntoIterator,
    I::Item: Borrow<Delayed<T>>,
{
    let deps: Vec<Arc<Node>> = items.into_iter().map(|d| d.borrow().node.clone()).collect();
    if let Some(entry) = rask_core::codec::entry_of(std::any::TypeId::of::<T>())
        && entry.collect(&[]).is_some()
    {
        return from_kernel(
            Collect {
                tag: entry.tag().to_string(),
            },
            deps.into_iter().map(AnyDelayed).collect(),
            true,
        );
    }
    let arity = deps.len();
    let op = Op::call_named_by(
        || "collect",
        move |args: &[Value]| {
            (0..arity)
                .map(|i| arg::<T>(args, i, arity).cloned())
                .collect::<Result<Vec<T>, _>>()
                .map(Value::new)
        },
    );
    Delayed::from_parts("collect", op, deps)
}

/// Gathers a list of delayed values into one list of shared handles: like
/// [`collect`], but the values are not copied (and need not be `Clone`),
/// which matters when they are large — per-device frames, fitted models.
/// Each [`Shared`] dereferences to its value.
///
/// ```
/// use rask_delayed::{collect_shared, delayed};
/// // A type without Clone.
/// struct Model { weights: Vec<f64> }
/// let models: Vec<_> = (0..3)
///     .map(|i| delayed(move || Model { weights: vec![i as f64; 1000] }))
///     .collect();
/// let total = collect_shared(&models)
///     .map(|ms| ms.iter().map(|m| m.weights.iter().sum::<f64>()).sum::<f64>());
/// assert_eq!(total.compute().unwrap(), 3000.0);
/// ```
pub fn collect_shared<T, I>(items: I) -> Delayed<Vec<Shared<T>>>
where
    T: Data,
    I: IntoIterator,
    I::Item: Borrow<Delayed<T>>,
{
    let deps: Vec<Arc<Node>> = items.into_iter().map(|d| d.borrow().node.clone()).collect();
    let arity = deps.len();
    let op = Op::call_named_by(
        || "collect",
        move |args: &[Value]| {
            if args.len() != arity {
                return Err(TaskError::WrongArity {
                    expected: arity,
                    found: args.len(),
                });
            }
            args.iter()
                .enumerate()
                .map(|(i, v)| v.shared::<T>(i))
                .collect::<Result<Vec<Shared<T>>, _>>()
                .map(Value::new)
        },
    );
    Delayed::from_parts("collect", op, deps)
}

impl<T: Data + Clone> rask_core::Persist for Delayed<T> {
    fn persist_on(&self, executor: &dyn Executor) -> Result<Self> {
        self.persist_with(executor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: &i64) -> i64 {
        x * 2
    }

    #[test]
    fn a_node_is_64_bytes() {
        // A million-task graph holds a million nodes (see the `Node` docs).
        assert_eq!(std::mem::size_of::<Node>(), 64);
    }

    #[test]
    fn prefixes_come_from_fn_names() {
        let d = value(2i64).map(double);
        assert_eq!(d.key().prefix(), "double");
        assert_eq!(value(1).map(|x| x + 1).key().prefix(), "map");
        assert_eq!(delayed(|| 1).key().prefix(), "delayed");
    }

    #[test]
    fn dropping_a_long_chain_does_not_overflow() {
        let mut x = value(0u64);
        for _ in 0..1_000_000 {
            x = x.map(|v| v + 1);
        }
        drop(x);
    }
}
