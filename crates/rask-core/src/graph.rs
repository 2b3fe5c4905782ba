//! Task graphs stored in an arena.
//!
//! A [`Graph`] holds [`Task`]s in a vector and addresses them by [`TaskId`],
//! an index into it. Each task has a [`Key`], an [`Op`] and the ids of the
//! tasks it depends on, in argument order.
//!
//! Invariants of a built [`Graph`]: every dependency id is in range, keys are
//! unique, and there is no cycle. Graphs are built with a [`GraphBuilder`](crate::GraphBuilder),
//! which takes dependencies by key, merges tasks with equal keys (the first
//! one added wins, so graphs from several collections share common work), and
//! reports dangling dependencies and cycles as errors.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use crate::annotations::Annotations;
use crate::error::{Error, Result, TaskError};
use crate::kernel::{DynKernel, Kernel};
use crate::key::Key;
use crate::key_index::KeyIndex;
use crate::value::Value;

/// Index of a task in its [`Graph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u32);

impl TaskId {
    /// The index as `usize`.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The function type of a task: dependencies' values in, one value out.
pub type TaskFn = dyn Fn(&[Value]) -> Result<Value, TaskError> + Send + Sync;

/// What a task does.
///
/// A task is *portable* — it can be encoded, shipped to another rask process
/// of the same build and run there — when its operation is a registered
/// [`Kernel`](crate::Kernel), a value whose type has a codec, data held by
/// an executor, or a fused program of those. A [`Op::Call`] closure runs only
/// in the process that made it.
#[derive(Clone)]
pub enum Op {
    /// A value known in advance (a literal, or a persisted result).
    Value(Value),
    /// A named function of the dependencies' values: a closure, local only.
    Call(Arc<Call>),
    /// Several tasks fused into one; see [`Program`].
    Fused(Arc<Program>),
    /// A registered kernel with its parameters; portable.
    Kernel(Arc<KernelOp>),
    /// A result kept by an executor where it was computed (a cluster's
    /// worker, say); see [`Held`].
    Held(Arc<dyn Held>),
}

/// A result an executor keeps where it was computed, referred to by key
/// (Dask's persisted futures). Dropping the last handle lets the executor
/// release the data.
pub trait Held: Send + Sync + 'static {
    /// The key under which the executor holds the data.
    fn key(&self) -> &Key;
    /// The name of the executor that holds it.
    fn executor(&self) -> &str;
    /// The value, when it can be had in this process (fetched from where it
    /// is held, if need be).
    fn fetch(&self) -> Result<Value, TaskError>;
}

/// The body of [`Op::Kernel`]: a kernel and how the task shows it.
pub struct KernelOp {
    kernel: Arc<dyn DynKernel>,
    label: Cow<'static, str>,
    blockwise: bool,
}

impl KernelOp {
    /// The kernel.
    pub fn kernel(&self) -> &Arc<dyn DynKernel> {
        &self.kernel
    }

    /// The display name.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Whether the task is blockwise (see [`Op::blockwise`]).
    pub fn is_blockwise(&self) -> bool {
        self.blockwise
    }
}

/// A named function, the body of [`Op::Call`]: a [`CallBody`] behind one
/// reference count.
///
/// The function is stored in the same allocation as its name. A closure
/// task made by [`Op::call_named_by`] keeps no name at all (the name
/// function is called when the name is shown), so a closure that captures
/// one word costs one allocation of 24 bytes — a million-task graph holds a
/// million of these. [`Op::call`] stores the name given: 48 bytes.
pub struct Call<F: ?Sized = dyn CallBody>(F);

/// What an [`Op::Call`] runs: a function of the dependencies' values, with
/// its name. Implemented by the closures that [`Op::call`],
/// [`Op::blockwise`] and [`Op::call_named_by`] wrap.
pub trait CallBody: Send + Sync {
    /// Runs the function.
    fn call(&self, args: &[Value]) -> Result<Value, TaskError>;
    /// The name shown in errors and diagnostics.
    fn name(&self) -> &str;
    /// Whether the task is blockwise (see [`Op::blockwise`]).
    fn is_blockwise(&self) -> bool;
}

/// A function with a name it stores.
struct Labelled<F> {
    label: CallLabel,
    func: F,
}

impl<F: Fn(&[Value]) -> Result<Value, TaskError> + Send + Sync> CallBody for Labelled<F> {
    fn call(&self, args: &[Value]) -> Result<Value, TaskError> {
        (self.func)(args)
    }
    fn name(&self) -> &str {
        self.label.name()
    }
    fn is_blockwise(&self) -> bool {
        self.label.is_blockwise()
    }
}

/// A function whose name a function gives, when asked.
struct NamedBy<N, F> {
    name: N,
    func: F,
}

impl<N, F> CallBody for NamedBy<N, F>
where
    N: Fn() -> &'static str + Send + Sync,
    F: Fn(&[Value]) -> Result<Value, TaskError> + Send + Sync,
{
    fn call(&self, args: &[Value]) -> Result<Value, TaskError> {
        (self.func)(args)
    }
    fn name(&self) -> &str {
        (self.name)()
    }
    fn is_blockwise(&self) -> bool {
        false
    }
}

/// The name of a [`Call`] and whether it is blockwise, in 24 bytes: a
/// `Cow<str>` and a flag would take 32.
enum CallLabel {
    Static { name: &'static str, blockwise: bool },
    Owned { name: Box<str>, blockwise: bool },
}

impl CallLabel {
    fn new(name: Cow<'static, str>, blockwise: bool) -> Self {
        match name {
            Cow::Borrowed(name) => CallLabel::Static { name, blockwise },
            Cow::Owned(name) => CallLabel::Owned {
                name: name.into_boxed_str(),
                blockwise,
            },
        }
    }

    fn name(&self) -> &str {
        match self {
            CallLabel::Static { name, .. } => name,
            CallLabel::Owned { name, .. } => name,
        }
    }

    fn is_blockwise(&self) -> bool {
        match self {
            CallLabel::Static { blockwise, .. } | CallLabel::Owned { blockwise, .. } => *blockwise,
        }
    }
}

impl Call {
    /// Runs the function.
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        self.0.call(args)
    }

    fn name(&self) -> &str {
        self.0.name()
    }

    fn is_blockwise(&self) -> bool {
        self.0.is_blockwise()
    }
}

impl Op {
    /// A task running `func` on its dependencies' values.
    ///
    /// ```
    /// use rask_core::{Op, Value};
    /// let add = Op::call("add", |args: &[Value]| {
    ///     let a: &i64 = args[0].get(0)?;
    ///     let b: &i64 = args[1].get(1)?;
    ///     Ok(Value::new(a + b))
    /// });
    /// assert_eq!(add.name(), "add");
    /// ```
    pub fn call(
        name: impl Into<Cow<'static, str>>,
        func: impl Fn(&[Value]) -> Result<Value, TaskError> + Send + Sync + 'static,
    ) -> Self {
        Op::Call(Arc::new(Call(Labelled {
            label: CallLabel::new(name.into(), false),
            func,
        })))
    }

    /// Like [`Op::call`], with the name given by `name`, a function called
    /// only when the name is shown (in errors and diagnostics). A `name`
    /// that captures nothing takes no memory, so a task costs only its
    /// closure: graphs of millions of small closures (`rask-delayed`) use
    /// this.
    ///
    /// ```
    /// use rask_core::{Op, Value};
    /// let one = Op::call_named_by(|| "one", |_: &[Value]| Ok(Value::new(1)));
    /// assert_eq!(one.name(), "one");
    /// ```
    pub fn call_named_by(
        name: impl Fn() -> &'static str + Send + Sync + 'static,
        func: impl Fn(&[Value]) -> Result<Value, TaskError> + Send + Sync + 'static,
    ) -> Self {
        Op::Call(Arc::new(Call(NamedBy { name, func })))
    }

    /// A per-block task of a chunked collection (elementwise arithmetic,
    /// `map_blocks`, block creation). The optimizer may fuse a blockwise task
    /// into its only dependent when that one is blockwise too, so a chain of
    /// elementwise operations becomes one task per block.
    pub fn blockwise(
        name: impl Into<Cow<'static, str>>,
        func: impl Fn(&[Value]) -> Result<Value, TaskError> + Send + Sync + 'static,
    ) -> Self {
        Op::Call(Arc::new(Call(Labelled {
            label: CallLabel::new(name.into(), true),
            func,
        })))
    }

    /// A task whose result is known: `value`.
    pub fn value(value: Value) -> Self {
        Op::Value(value)
    }

    /// A task running the registered kernel `kernel` (its value is the
    /// parameters) on its dependencies' values. Portable.
    pub fn kernel<K: Kernel>(kernel: K) -> Self {
        Op::from_kernel(Arc::new(kernel), false)
    }

    /// Like [`Op::kernel`], for a per-block task that may be fused with
    /// its blockwise neighbours (see [`Op::blockwise`]).
    pub fn kernel_blockwise<K: Kernel>(kernel: K) -> Self {
        Op::from_kernel(Arc::new(kernel), true)
    }

    /// A task running a kernel given as a trait object (a decoded one, or
    /// one shared by many tasks).
    pub fn from_kernel(kernel: Arc<dyn DynKernel>, blockwise: bool) -> Self {
        let label = kernel.label();
        Op::Kernel(Arc::new(KernelOp {
            kernel,
            label,
            blockwise,
        }))
    }

    /// The kernel's registry name and its encoded parameters, for a kernel
    /// task (`None` otherwise). The parameters are `Err` with the reason
    /// when they fail to encode.
    pub fn kernel_parts(&self) -> Option<(&'static str, std::result::Result<Vec<u8>, String>)> {
        match self {
            Op::Kernel(k) => Some((k.kernel.kernel_name(), k.kernel.encode_params())),
            _ => None,
        }
    }

    /// Data held by an executor.
    pub fn held(held: Arc<dyn Held>) -> Self {
        Op::Held(held)
    }

    /// Why the operation cannot leave this process, or `None` when it is
    /// portable.
    pub fn non_portable_reason(&self) -> Option<String> {
        match self {
            Op::Held(_) => None,
            Op::Kernel(k) if k.kernel.is_portable() => None,
            Op::Kernel(k) => Some(format!(
                "its operation `{}` holds a closure, which cannot be sent to another process; \
                 use built-in operations or functions marked `#[rask::remote]` instead",
                k.label
            )),
            Op::Call(c) => Some(format!(
                "its operation `{}` is a closure, which cannot be sent to another process; \
                 mark the function `#[rask::remote]` (or implement `rask::graph::Kernel` and \
                 register it) and build the task from that",
                c.name()
            )),
            Op::Value(v) if v.is_portable() => None,
            Op::Value(v) => Some(format!(
                "its value of type `{}` has no codec; register the type with \
                 `rask::register_type!`",
                v.type_name()
            )),
            Op::Fused(p) => p.steps.iter().find_map(|s| {
                s.op.non_portable_reason()
                    .map(|r| format!("its fused step {}: {r}", s.key))
            }),
        }
    }

    /// Whether the operation can leave this process (see the type's docs).
    pub fn is_portable(&self) -> bool {
        self.non_portable_reason().is_none()
    }

    /// The same operation under another name (shown in errors and
    /// diagnostics); the function is shared, not copied. A value or a fused
    /// program keeps its own name.
    ///
    /// ```
    /// use rask_core::{Op, Value};
    /// let op = Op::call("lambda", |_: &[Value]| Ok(Value::new(1)));
    /// assert_eq!(op.renamed("load").name(), "load");
    /// ```
    pub fn renamed(&self, name: impl Into<Cow<'static, str>>) -> Op {
        match self {
            Op::Call(c) => {
                let inner = c.clone();
                Op::Call(Arc::new(Call(Labelled {
                    label: CallLabel::new(name.into(), c.is_blockwise()),
                    func: move |args: &[Value]| inner.run(args),
                })))
            }
            Op::Kernel(k) => Op::Kernel(Arc::new(KernelOp {
                kernel: k.kernel.clone(),
                label: name.into(),
                blockwise: k.blockwise,
            })),
            other => other.clone(),
        }
    }

    /// Whether this is a blockwise operation (see [`Op::blockwise`]).
    pub fn is_blockwise(&self) -> bool {
        match self {
            Op::Value(_) | Op::Held(_) => false,
            Op::Call(c) => c.is_blockwise(),
            Op::Kernel(k) => k.blockwise,
            Op::Fused(p) => p.steps.last().is_some_and(|s| s.op.is_blockwise()),
        }
    }

    /// The operation's name, for errors and diagnostics.
    pub fn name(&self) -> &str {
        match self {
            Op::Value(_) => "value",
            Op::Held(_) => "held",
            Op::Call(c) => c.name(),
            Op::Kernel(k) => &k.label,
            Op::Fused(p) => p.name(),
        }
    }

    /// Runs the operation. Panics in user code are caught and reported as
    /// [`TaskError::Panicked`]; the error names `key`, or for a fused task the
    /// key of the step that failed.
    pub fn run(&self, key: &Key, args: &[Value]) -> Result<Value> {
        let result = match self {
            Op::Fused(program) => return program.run(key, args),
            Op::Value(v) => Ok(v.clone()),
            Op::Held(h) => h.fetch(),
            Op::Call(c) => crate::panics::catch(|| c.run(args)),
            Op::Kernel(k) => crate::panics::catch(|| k.kernel.run(args)),
        };
        result.map_err(|cause| Error::Task {
            key: key.clone(),
            op: self.name().to_string(),
            cause,
        })
    }
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Value(v) => write!(f, "Value({v:?})"),
            Op::Call(c) => write!(f, "Call({})", c.name()),
            Op::Kernel(k) => write!(f, "Kernel({}: {})", k.kernel.kernel_name(), k.label),
            Op::Held(h) => write!(f, "Held({} on {})", h.key(), h.executor()),
            Op::Fused(p) => write!(f, "Fused({} steps)", p.steps.len()),
        }
    }
}

/// Where a fused step takes an argument from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// The fused task's dependency at this position.
    Input(u32),
    /// The result of an earlier step.
    Step(u32),
}

/// One step of a [`Program`]: a task as it was before fusion.
#[derive(Clone, Debug)]
pub struct Step {
    /// The step's original key, used in errors.
    pub key: Key,
    /// The step's operation.
    pub op: Op,
    /// Its arguments.
    pub args: Vec<Arg>,
}

/// The body of a fused task: steps in execution order, the last one giving
/// the result. Each step's result is dropped right after its last use.
#[derive(Debug)]
pub struct Program {
    steps: Vec<Step>,
    /// The operations of the steps, in order, joined by `+` (`smooth+mean`):
    /// the fused task's name in errors and diagnostics.
    name: Box<str>,
    /// (step, an earlier step whose last use it is), by step: after running
    /// a step, the results listed for it are dropped.
    frees: Box<[(u32, u32)]>,
}

/// The name of a program of `steps`: the names of their operations in
/// order, joined by `+`, a run of equal names once (`add+add` is `add`),
/// values and held data left out.
fn fused_name(steps: &[Step]) -> Box<str> {
    let mut names: Vec<&str> = Vec::new();
    for s in steps {
        if matches!(s.op, Op::Value(_) | Op::Held(_)) {
            continue;
        }
        for name in s.op.name().split('+') {
            if names.last() != Some(&name) {
                names.push(name);
            }
        }
    }
    match names.as_slice() {
        [] => "fused".into(),
        names => names.join("+").into_boxed_str(),
    }
}

impl Program {
    /// The operations of the steps in order, joined by `+` (`smooth+mean`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A program of `steps`; every [`Arg::Step`] must refer to an earlier
    /// step, which is checked.
    pub fn new(steps: Vec<Step>) -> Result<Self> {
        if steps.is_empty() {
            return Err(Error::invalid("fused program", "it has no steps"));
        }
        // (last use, step); a result never used is the program's own.
        let mut frees: Vec<(u32, u32)> = Vec::with_capacity(steps.len() - 1);
        let mut last_use = vec![u32::MAX; steps.len()];
        for (i, s) in steps.iter().enumerate() {
            for a in &s.args {
                if let Arg::Step(j) = *a {
                    if j as usize >= i {
                        return Err(Error::invalid(
                            "fused program",
                            format!("step {} ({}) uses the result of a later step {j}", i, s.key),
                        ));
                    }
                    last_use[j as usize] = i as u32;
                }
            }
        }
        for (j, &u) in last_use.iter().enumerate() {
            if u != u32::MAX {
                frees.push((u, j as u32));
            }
        }
        frees.sort_unstable();
        Ok(Program {
            name: fused_name(&steps),
            steps,
            frees: frees.into_boxed_slice(),
        })
    }

    /// The steps, in execution order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    fn run(&self, key: &Key, inputs: &[Value]) -> Result<Value> {
        let mut results: Vec<Option<Value>> = vec![None; self.steps.len()];
        let mut args: Vec<Value> = Vec::new();
        let mut frees = self.frees.iter().peekable();
        for (i, step) in self.steps.iter().enumerate() {
            args.clear();
            for a in &step.args {
                let v = match *a {
                    Arg::Input(k) => inputs.get(k as usize).cloned(),
                    Arg::Step(j) => results[j as usize].clone(),
                };
                args.push(v.ok_or_else(|| {
                    Error::Scheduler(format!(
                        "fused task {key}: step {} lacks an argument",
                        step.key
                    ))
                })?);
            }
            let value = step.op.run(&step.key, &args)?;
            args.clear();
            while let Some((_, j)) = frees.next_if(|(after, _)| *after as usize == i) {
                results[*j as usize] = None;
            }
            results[i] = Some(value);
        }
        results
            .pop()
            .flatten()
            .ok_or_else(|| Error::Scheduler(format!("fused task {key} produced no value")))
    }
}

/// The dependencies of a task, in argument order: a list of [`TaskId`]s in
/// 16 bytes (a `Vec` takes 24), up to two of them inside the list itself,
/// so most tasks need no allocation for it. It dereferences to
/// `[TaskId]`, compares equal to a `Vec<TaskId>` or an array with the same
/// ids, and is made from either.
///
/// ```
/// use rask_core::{Deps, TaskId};
/// let d: Deps = vec![TaskId(3), TaskId(1)].into();
/// assert_eq!(d.len(), 2);
/// assert_eq!(d, vec![TaskId(3), TaskId(1)]);
/// assert_eq!(d.iter().map(|t| t.0).sum::<u32>(), 4);
/// let many: Deps = (0..5).map(TaskId).collect();
/// assert_eq!(many[4], TaskId(4));
/// assert!(Deps::default().is_empty());
/// ```
#[derive(Clone)]
pub struct Deps(DepsRepr);

#[derive(Clone)]
enum DepsRepr {
    /// Up to two ids; [`Deps::NONE`] marks an unused place.
    Inline([TaskId; 2]),
    /// Any other list.
    Heap(Box<[TaskId]>),
}

impl Deps {
    /// The unused place of an inline list: never a task's id, since a graph
    /// has fewer than `u32::MAX` tasks. A list holding it is stored on the
    /// heap.
    const NONE: TaskId = TaskId(u32::MAX);

    /// No dependencies.
    pub const fn new() -> Self {
        Deps(DepsRepr::Inline([Deps::NONE; 2]))
    }

    /// The ids as a slice.
    #[inline]
    pub fn as_slice(&self) -> &[TaskId] {
        match &self.0 {
            DepsRepr::Inline(ids) => &ids[..Deps::inline_len(ids)],
            DepsRepr::Heap(ids) => ids,
        }
    }

    /// The ids as a mutable slice (to rewrite ids in place).
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [TaskId] {
        match &mut self.0 {
            DepsRepr::Inline(ids) => {
                let n = Deps::inline_len(ids);
                &mut ids[..n]
            }
            DepsRepr::Heap(ids) => ids,
        }
    }

    #[inline]
    fn inline_len(ids: &[TaskId; 2]) -> usize {
        if ids[0] == Deps::NONE {
            0
        } else if ids[1] == Deps::NONE {
            1
        } else {
            2
        }
    }

    /// The ids in a `Vec`.
    pub fn into_vec(self) -> Vec<TaskId> {
        match self.0 {
            DepsRepr::Heap(ids) => ids.into_vec(),
            DepsRepr::Inline(_) => self.as_slice().to_vec(),
        }
    }

    /// The list of `ids`, inline when there are at most two (and none is
    /// `u32::MAX`).
    fn from_slice(ids: &[TaskId]) -> Self {
        match *ids {
            [] => Deps::new(),
            [a] if a != Deps::NONE => Deps(DepsRepr::Inline([a, Deps::NONE])),
            [a, b] if a != Deps::NONE && b != Deps::NONE => Deps(DepsRepr::Inline([a, b])),
            _ => Deps(DepsRepr::Heap(ids.into())),
        }
    }
}

impl Default for Deps {
    fn default() -> Self {
        Deps::new()
    }
}

impl std::ops::Deref for Deps {
    type Target = [TaskId];
    #[inline]
    fn deref(&self) -> &[TaskId] {
        self.as_slice()
    }
}

impl std::ops::DerefMut for Deps {
    #[inline]
    fn deref_mut(&mut self) -> &mut [TaskId] {
        self.as_mut_slice()
    }
}

impl From<Vec<TaskId>> for Deps {
    fn from(ids: Vec<TaskId>) -> Self {
        if ids.len() <= 2 {
            Deps::from_slice(&ids)
        } else {
            Deps(DepsRepr::Heap(ids.into_boxed_slice()))
        }
    }
}

impl From<&[TaskId]> for Deps {
    fn from(ids: &[TaskId]) -> Self {
        Deps::from_slice(ids)
    }
}

impl<const N: usize> From<[TaskId; N]> for Deps {
    fn from(ids: [TaskId; N]) -> Self {
        Deps::from_slice(&ids)
    }
}

impl From<Deps> for Vec<TaskId> {
    fn from(deps: Deps) -> Self {
        deps.into_vec()
    }
}

impl FromIterator<TaskId> for Deps {
    /// Collects without allocating up to two ids.
    fn from_iter<I: IntoIterator<Item = TaskId>>(iter: I) -> Self {
        let mut iter = iter.into_iter();
        let Some(a) = iter.next() else {
            return Deps::new();
        };
        let Some(b) = iter.next() else {
            return Deps::from_slice(&[a]);
        };
        let Some(c) = iter.next() else {
            return Deps::from_slice(&[a, b]);
        };
        let mut ids = Vec::with_capacity(3 + iter.size_hint().0);
        ids.extend([a, b, c]);
        ids.extend(iter);
        Deps(DepsRepr::Heap(ids.into_boxed_slice()))
    }
}

impl<'a> IntoIterator for &'a Deps {
    type Item = &'a TaskId;
    type IntoIter = std::slice::Iter<'a, TaskId>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl<'a> IntoIterator for &'a mut Deps {
    type Item = &'a mut TaskId;
    type IntoIter = std::slice::IterMut<'a, TaskId>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_mut_slice().iter_mut()
    }
}

impl PartialEq for Deps {
    fn eq(&self, other: &Deps) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Deps {}

impl PartialEq<Vec<TaskId>> for Deps {
    fn eq(&self, other: &Vec<TaskId>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl PartialEq<[TaskId]> for Deps {
    fn eq(&self, other: &[TaskId]) -> bool {
        self.as_slice() == other
    }
}

impl<const N: usize> PartialEq<[TaskId; N]> for Deps {
    fn eq(&self, other: &[TaskId; N]) -> bool {
        self.as_slice() == other
    }
}

impl std::hash::Hash for Deps {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl std::fmt::Debug for Deps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// One node of a [`Graph`].
#[derive(Clone, Debug)]
pub struct Task {
    /// The task's key.
    pub key: Key,
    /// What it does.
    pub op: Op,
    /// Its dependencies, in argument order.
    pub deps: Deps,
    /// Priority, retries, resources and allowed workers, when any was set.
    pub annotations: Option<Arc<Annotations>>,
}

impl Task {
    /// A task without annotations.
    pub fn new(key: Key, op: Op, deps: impl Into<Deps>) -> Self {
        Task {
            key,
            op,
            deps: deps.into(),
            annotations: None,
        }
    }

    /// How many times a failed run is retried (annotation `retries`).
    pub fn retries(&self) -> u32 {
        self.annotations.as_ref().map_or(0, |a| a.retries)
    }

    /// Runs the operation on `args`, retrying a failure as many times as the
    /// task's `retries` annotation allows; the last failure is returned.
    pub fn run(&self, args: &[Value]) -> Result<Value> {
        let mut left = self.retries();
        loop {
            match self.op.run(&self.key, args) {
                Err(_) if left > 0 => left -= 1,
                other => return other,
            }
        }
    }
}

/// An acyclic task graph in an arena; see the module docs.
#[derive(Debug, Default)]
pub struct Graph {
    tasks: Vec<Task>,
    /// Task ids by key, made on first use when the graph was not built with
    /// one.
    index: OnceLock<KeyIndex>,
    /// Made on first use: ordering and the executors share it.
    dependents: OnceLock<Dependents>,
}

impl Graph {
    /// Builds a graph from tasks whose dependency ids are already resolved.
    ///
    /// Checks the invariants: ids in range, keys unique, no cycle.
    pub fn from_tasks(tasks: Vec<Task>) -> Result<Self> {
        let n = tasks.len();
        if n > u32::MAX as usize {
            return Err(Error::invalid("graph", "more than 2^32 - 1 tasks"));
        }
        for t in &tasks {
            if let Some(&d) = t.deps.iter().find(|d| d.index() >= n) {
                return Err(Error::Scheduler(format!(
                    "task {} depends on task id {} but the graph has {n} tasks",
                    t.key, d.0
                )));
            }
        }
        let (index, repeated) = KeyIndex::of_tasks(&tasks);
        if let Some(t) = repeated {
            return Err(Error::invalid(
                "graph",
                format!(
                    "key {} appears twice; keys must be unique",
                    tasks[t.index()].key
                ),
            ));
        }
        let g = Graph::from_parts(tasks, index);
        g.check_acyclic()?;
        Ok(g)
    }

    /// A graph of `tasks` with their key index.
    pub(crate) fn from_parts(tasks: Vec<Task>, index: KeyIndex) -> Self {
        Graph {
            tasks,
            index: OnceLock::from(index),
            dependents: OnceLock::new(),
        }
    }

    /// Builds without checks; the caller keeps the invariants.
    pub(crate) fn from_tasks_unchecked(tasks: Vec<Task>) -> Self {
        Graph {
            tasks,
            index: OnceLock::new(),
            dependents: OnceLock::new(),
        }
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the graph has no task.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// All tasks, indexed by [`TaskId`].
    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    /// One task.
    ///
    /// # Panics
    ///
    /// When `id` is not one of this graph's tasks (an id from another
    /// graph), as slice indexing does; [`Graph::tasks`] gives the range.
    #[inline]
    pub fn task(&self, id: TaskId) -> &Task {
        &self.tasks[id.index()]
    }

    /// The same graph without its key index (rebuilt on demand by
    /// [`Graph::id_of`]), to save memory while it runs.
    pub(crate) fn without_index(mut self) -> Self {
        self.index = OnceLock::new();
        self
    }

    /// Takes the tasks out, for passes that rebuild the graph.
    pub(crate) fn into_tasks(self) -> Vec<Task> {
        self.tasks
    }

    /// The id of the task with this key.
    pub fn id_of(&self, key: &Key) -> Option<TaskId> {
        self.index
            .get_or_init(|| KeyIndex::of_tasks(&self.tasks).0)
            .get(key, &self.tasks)
    }

    /// The first task that cannot leave this process, with the reason, or
    /// `Ok` when the whole graph is portable (see [`Op`]).
    pub fn check_portable(&self) -> Result<()> {
        for t in &self.tasks {
            if let Some(reason) = t.op.non_portable_reason() {
                return Err(Error::NotPortable {
                    key: t.key.clone(),
                    op: t.op.name().to_string(),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// Whether every task can leave this process.
    pub fn is_portable(&self) -> bool {
        self.tasks.iter().all(|t| t.op.is_portable())
    }

    /// Ids of the tasks with these keys, or [`Error::MissingKey`].
    pub fn ids_of(&self, keys: &[Key]) -> Result<Vec<TaskId>> {
        keys.iter()
            .map(|k| {
                self.id_of(k)
                    .ok_or_else(|| Error::MissingKey { key: k.clone() })
            })
            .collect()
    }

    /// For each task, the number of tasks that depend on it (an edge counts
    /// once per argument position).
    pub fn dependent_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.tasks.len()];
        for t in &self.tasks {
            for d in &t.deps {
                counts[d.index()] += 1;
            }
        }
        counts
    }

    /// Dependents of every task in compressed form: the dependents of task `i`
    /// are `targets[offsets[i]..offsets[i + 1]]`. Made on first use and kept
    /// with the graph.
    pub fn dependents(&self) -> &Dependents {
        self.dependents.get_or_init(|| self.make_dependents())
    }

    fn make_dependents(&self) -> Dependents {
        let counts = self.dependent_counts();
        let mut offsets = Vec::with_capacity(counts.len() + 1);
        let mut acc = 0u32;
        offsets.push(0);
        for c in &counts {
            acc += c;
            offsets.push(acc);
        }
        let mut fill = offsets.clone();
        let mut targets = vec![TaskId(0); acc as usize];
        for (i, t) in self.tasks.iter().enumerate() {
            for d in &t.deps {
                let slot = &mut fill[d.index()];
                targets[*slot as usize] = TaskId(i as u32);
                *slot += 1;
            }
        }
        Dependents { offsets, targets }
    }

    /// A topological order (every task after its dependencies), or the cycle
    /// that prevents one.
    pub fn topological_order(&self) -> Result<Vec<TaskId>> {
        let n = self.tasks.len();
        let deps_of = self.dependents();
        let mut waiting: Vec<u32> = self.tasks.iter().map(|t| t.deps.len() as u32).collect();
        let mut order: Vec<TaskId> = (0..n)
            .filter(|&i| waiting[i] == 0)
            .map(|i| TaskId(i as u32))
            .collect();
        let mut head = 0;
        while head < order.len() {
            let t = order[head];
            head += 1;
            for &c in deps_of.of(t) {
                let w = &mut waiting[c.index()];
                *w -= 1;
                if *w == 0 {
                    order.push(c);
                }
            }
        }
        if order.len() == n {
            return Ok(order);
        }
        Err(Error::Cycle {
            keys: self.find_cycle(&waiting),
        })
    }

    pub(crate) fn check_acyclic(&self) -> Result<()> {
        self.topological_order().map(|_| ())
    }

    /// Finds one cycle among the tasks left with unmet dependencies.
    fn find_cycle(&self, waiting: &[u32]) -> Vec<Key> {
        // Every task left over has a dependency that is also left over, so
        // walking "first leftover dependency" must revisit a task.
        let Some(start) = waiting.iter().position(|&w| w > 0) else {
            return Vec::new();
        };
        let mut seen = vec![usize::MAX; self.tasks.len()];
        let mut path = Vec::new();
        let mut cur = start;
        while seen[cur] == usize::MAX {
            seen[cur] = path.len();
            path.push(cur);
            cur = self.tasks[cur]
                .deps
                .iter()
                .map(|d| d.index())
                .find(|&d| waiting[d] > 0)
                .expect("a task in a cycle has a leftover dependency");
        }
        path[seen[cur]..]
            .iter()
            .map(|&i| self.tasks[i].key.clone())
            .collect()
    }

    /// The graph in Graphviz DOT: one node per task labelled with its key,
    /// one edge from each dependency to its dependent.
    ///
    /// ```
    /// use rask_core::{GraphBuilder, Key, Op, Value};
    /// let mut b = GraphBuilder::new();
    /// b.insert(Key::new("x-1"), Op::value(Value::new(1)), vec![]);
    /// b.insert(Key::new("inc-2"), Op::call("inc", |a: &[Value]| Ok(Value::new(*a[0].get::<i32>(0)? + 1))), vec![Key::new("x-1")]);
    /// let dot = b.build().unwrap().to_dot();
    /// assert!(dot.contains("n0 -> n1"));
    /// ```
    pub fn to_dot(&self) -> String {
        let mut s = String::from(
            "digraph rask {\n  rankdir=BT;\n  node [shape=box, fontname=\"monospace\"];\n",
        );
        for (i, t) in self.tasks.iter().enumerate() {
            let label = t.key.to_string().replace('\\', "\\\\").replace('"', "\\\"");
            let shape = if matches!(t.op, Op::Value(_)) {
                ", shape=ellipse"
            } else {
                ""
            };
            let _ = writeln!(s, "  n{i} [label=\"{label}\"{shape}];");
        }
        for (i, t) in self.tasks.iter().enumerate() {
            for d in &t.deps {
                let _ = writeln!(s, "  n{} -> n{i};", d.0);
            }
        }
        s.push_str("}\n");
        s
    }
}

/// Dependents of every task; see [`Graph::dependents`].
#[derive(Clone, Debug)]
pub struct Dependents {
    offsets: Vec<u32>,
    targets: Vec<TaskId>,
}

impl Dependents {
    /// The tasks that depend on `id`.
    #[inline]
    pub fn of(&self, id: TaskId) -> &[TaskId] {
        let i = id.index();
        &self.targets[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GraphBuilder;

    fn lit(v: i64) -> Op {
        Op::value(Value::new(v))
    }

    #[test]
    fn a_call_of_a_one_word_closure_named_by_a_function_is_8_bytes() {
        // With the `Arc` counts, 24 bytes per closure task (see `Call`).
        let name = || "x";
        let word = 7u64;
        let f = move |_: &[Value]| Ok::<_, TaskError>(Value::new(word));
        assert_eq!(std::mem::size_of_val(&Call(NamedBy { name, func: f })), 8);
        assert_eq!(std::mem::size_of::<Call<Labelled<u64>>>(), 32);
        let op = Op::blockwise(String::from("owned"), |_: &[Value]| Ok(Value::new(1)));
        assert_eq!(op.name(), "owned");
        assert!(op.is_blockwise());
    }

    #[test]
    fn a_task_is_80_bytes_and_its_deps_16() {
        // A million-task plan holds a million tasks.
        assert_eq!(std::mem::size_of::<Deps>(), 16);
        assert_eq!(std::mem::size_of::<Task>(), 80);
    }

    #[test]
    fn deps_keep_every_id_and_compare_by_content() {
        for n in 0..5u32 {
            let ids: Vec<TaskId> = (0..n).map(|i| TaskId(i * 7)).collect();
            let d = Deps::from(ids.clone());
            assert_eq!(d, ids);
            assert_eq!(d.len(), n as usize);
            assert_eq!(ids.iter().copied().collect::<Deps>(), d);
            assert_eq!(Deps::from(&ids[..]).into_vec(), ids);
        }
        // An id that is no task's goes on the heap, kept (and caught by
        // the graph's checks).
        let odd = Deps::from(vec![TaskId(u32::MAX)]);
        assert_eq!(odd.as_slice(), &[TaskId(u32::MAX)]);
        let mut d = Deps::from([TaskId(1), TaskId(2)]);
        d[1] = TaskId(5);
        assert_eq!(d, [TaskId(1), TaskId(5)]);
    }

    #[test]
    fn dependents_are_inverse_of_deps() {
        let mut b = GraphBuilder::new();
        b.insert("a".into(), lit(1), vec![]);
        b.insert("b".into(), lit(1), vec!["a".into()]);
        b.insert("c".into(), lit(1), vec!["a".into(), "b".into()]);
        let g = b.build().unwrap();
        let d = g.dependents();
        assert_eq!(d.of(TaskId(0)), &[TaskId(1), TaskId(2)]);
        assert_eq!(d.of(TaskId(1)), &[TaskId(2)]);
        assert!(d.of(TaskId(2)).is_empty());
    }

    #[test]
    fn panics_become_task_errors() {
        let op = Op::call("boom", |_: &[Value]| panic!("kaboom"));
        let err = op.run(&Key::new("boom-1"), &[]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("boom-1") && msg.contains("kaboom"), "{msg}");
    }
}
