//! Building a [`Graph`] from tasks named by key.
//!
//! Collections add their tasks to a [`GraphBuilder`]; tasks with equal keys
//! are one task (the first one added wins), so graphs of several collections
//! share common work.
//!
//! # Design
//!
//! The builder holds the graph's task list itself and a compact key index
//! ([`KeyIndex`]: an id and 32 hash bits per task), so building costs one
//! [`Task`] per task plus 8 bytes, and [`GraphBuilder::build`] hands both to
//! the [`Graph`] without copying.
//!
//! A dependency is resolved when its task is added:
//!
//! * [`GraphBuilder::insert_with_ids`] takes dependencies as ids of tasks
//!   already added — the fast path for collections that add a task after its
//!   dependencies and remember their ids (`rask-delayed` does). No key is
//!   hashed for a dependency.
//! * [`GraphBuilder::insert`] takes dependencies by key. A key added before is
//!   resolved at once; any other one is recorded as a *forward reference* and
//!   resolved by [`GraphBuilder::build`], which reports it as missing if no
//!   task has that key by then.
//!
//! Invariant: every dependency id stored is lower than its task's id, except
//! for forward references. A builder without forward references therefore
//! holds an acyclic graph in topological order, and `build` checks for
//! cycles only when there were some.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::annotations::Annotations;
use crate::error::{Error, Result};
use crate::graph::{Deps, Graph, Op, Task, TaskId};
use crate::key::Key;
use crate::key_index::KeyIndex;

/// Builds a [`Graph`] from tasks whose dependencies are given by key or by
/// id; see the module docs.
///
/// ```
/// use rask_core::{GraphBuilder, Key, Op, Value};
/// let mut b = GraphBuilder::new();
/// b.insert(Key::new("a"), Op::value(Value::new(2i64)), vec![]);
/// b.insert(Key::new("double"), Op::call("double", |a: &[Value]| Ok(Value::new(a[0].get::<i64>(0)? * 2))), vec![Key::new("a")]);
/// let g = b.build().unwrap();
/// assert_eq!(g.len(), 2);
/// ```
pub struct GraphBuilder {
    /// The tasks, in the order added; a forward reference is `TaskId(u32::MAX)`
    /// until `build` resolves it.
    tasks: Vec<Task>,
    index: KeyIndex,
    /// Dependencies named by a key that no task had yet: (task, argument
    /// position, key).
    forward: Vec<(u32, u32, Key)>,
    /// Annotations given to every task inserted while set.
    scope: Option<Arc<Annotations>>,
    serial: u64,
}

/// Placeholder of a forward reference.
const UNRESOLVED: TaskId = TaskId(u32::MAX);

impl Default for GraphBuilder {
    fn default() -> Self {
        static SERIAL: AtomicU64 = AtomicU64::new(1);
        GraphBuilder {
            tasks: Vec::new(),
            index: KeyIndex::default(),
            forward: Vec::new(),
            scope: None,
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl GraphBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A number that tells this builder apart from every other one made by
    /// this process (counting from 1), for collections that remember the
    /// ids their nodes got in a builder.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// Whether a task with this key was added.
    pub fn contains(&self, key: &Key) -> bool {
        self.id_of(key).is_some()
    }

    /// The id of the task with this key, if one was added.
    #[inline]
    pub fn id_of(&self, key: &Key) -> Option<TaskId> {
        self.index.get(key, &self.tasks)
    }

    /// The key of the task `id`, if there is one.
    #[inline]
    pub fn key(&self, id: TaskId) -> Option<&Key> {
        self.tasks.get(id.index()).map(|t| &t.key)
    }

    /// Number of tasks added.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether no task was added.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Adds a task. Returns `false`, keeping the first task, when one with an
    /// equal key was added before: equal keys are one task.
    pub fn insert(&mut self, key: Key, op: Op, deps: impl IntoIterator<Item = Key>) -> bool {
        self.insert_by_key(key, op, deps, None)
    }

    /// Makes room for `additional` more tasks. A collection that knows how
    /// many tasks it will add says so first: the task list and the key index
    /// then grow once, and a graph of millions of tasks does not leave the
    /// smaller lists it outgrew behind (freed, but often not yet returned to
    /// the system when memory use peaks).
    ///
    /// ```
    /// let mut b = rask_core::GraphBuilder::new();
    /// b.reserve(1_000);
    /// assert!(b.is_empty());
    /// ```
    pub fn reserve(&mut self, additional: usize) {
        self.tasks.reserve_exact(additional);
        self.index.reserve(additional);
    }

    /// Adds a task with annotations (priority, retries, resources, allowed
    /// workers); like [`GraphBuilder::insert`] otherwise.
    pub fn insert_annotated(
        &mut self,
        key: Key,
        op: Op,
        deps: impl IntoIterator<Item = Key>,
        annotations: Arc<Annotations>,
    ) -> bool {
        self.insert_by_key(key, op, deps, Some(annotations))
    }

    fn insert_by_key(
        &mut self,
        key: Key,
        op: Op,
        deps: impl IntoIterator<Item = Key>,
        annotations: Option<Arc<Annotations>>,
    ) -> bool {
        if self.contains(&key) {
            return false;
        }
        let id = self.tasks.len() as u32;
        let (tasks, index, forward) = (&self.tasks, &self.index, &mut self.forward);
        // Resolved before the task's own key is indexed, so a task that
        // names itself is a forward reference (and a cycle).
        let deps = deps
            .into_iter()
            .enumerate()
            .map(|(pos, d)| {
                index.get(&d, tasks).unwrap_or_else(|| {
                    forward.push((id, pos as u32, d));
                    UNRESOLVED
                })
            })
            .collect();
        self.push(key, op, deps, annotations);
        true
    }

    /// Adds a task whose dependencies are tasks added before, by id, and
    /// returns the id of the task with this key: the new task's, or — when a
    /// task with an equal key was added before — that one's, keeping it
    /// (`op`, `deps` and `annotations` are then dropped). Annotations given
    /// here replace those of [`GraphBuilder::set_scope`].
    ///
    /// This is the fast path for collections that add a task after its
    /// dependencies: no dependency key is looked up.
    ///
    /// # Panics
    ///
    /// When a dependency is not the id of a task added to this builder.
    ///
    /// ```
    /// use rask_core::{GraphBuilder, Key, Op, Value};
    /// let mut b = GraphBuilder::new();
    /// let (a, _) = b.insert_with_ids(Key::new("a"), Op::value(Value::new(2i64)), vec![], None);
    /// let (c, added) = b.insert_with_ids(Key::new("c"), Op::value(Value::new(0i64)), vec![a, a], None);
    /// assert!(added);
    /// assert_eq!(b.insert_with_ids(Key::new("c"), Op::value(Value::new(1i64)), vec![], None), (c, false));
    /// assert_eq!(b.build().unwrap().task(c).deps, vec![a, a]);
    /// ```
    pub fn insert_with_ids(
        &mut self,
        key: Key,
        op: Op,
        deps: impl Into<Deps>,
        annotations: Option<Arc<Annotations>>,
    ) -> (TaskId, bool) {
        let deps = deps.into();
        let id = TaskId(self.tasks.len() as u32);
        if let Some(d) = deps.iter().find(|d| d.0 >= id.0) {
            panic!(
                "GraphBuilder::insert_with_ids: dependency {} of {key} is not a task of this \
                 builder ({} tasks)",
                d.0, id.0
            );
        }
        if let Err(first) = self.index.insert(&key, id, &self.tasks) {
            return (first, false);
        }
        self.push_indexed(key, op, deps, annotations);
        (id, true)
    }

    /// Appends a task whose key is not indexed yet.
    fn push(&mut self, key: Key, op: Op, deps: Deps, annotations: Option<Arc<Annotations>>) {
        let id = TaskId(self.tasks.len() as u32);
        let fresh = self.index.insert(&key, id, &self.tasks);
        debug_assert!(fresh.is_ok(), "the caller checked that {key} is new");
        self.push_indexed(key, op, deps, annotations);
    }

    /// Appends a task whose key was just indexed under the next id; tasks
    /// without annotations of their own get the scope's.
    fn push_indexed(
        &mut self,
        key: Key,
        op: Op,
        deps: Deps,
        annotations: Option<Arc<Annotations>>,
    ) {
        let annotations = annotations.or_else(|| self.scope.clone());
        self.tasks.push(Task {
            key,
            op,
            deps,
            annotations,
        });
    }

    /// Gives `annotations` to every task inserted until the returned value
    /// is passed back to [`GraphBuilder::set_scope`] (Dask's
    /// `with dask.annotate(...)` while a collection adds its tasks).
    pub fn set_scope(&mut self, annotations: Option<Arc<Annotations>>) -> Option<Arc<Annotations>> {
        std::mem::replace(&mut self.scope, annotations)
    }

    /// Resolves forward references and checks the graph: a dependency on a
    /// key that was never added is [`Error::MissingDependency`], a cycle is
    /// [`Error::Cycle`]. The graph keeps the builder's key index.
    pub fn build(self) -> Result<Graph> {
        let GraphBuilder {
            mut tasks,
            index,
            forward,
            ..
        } = self;
        let acyclic = forward.is_empty();
        for (task, pos, key) in forward {
            match index.get(&key, &tasks) {
                Some(id) => tasks[task as usize].deps[pos as usize] = id,
                None => {
                    return Err(Error::MissingDependency {
                        key: tasks[task as usize].key.clone(),
                        missing: key,
                    });
                }
            }
        }
        let graph = Graph::from_parts(tasks, index);
        if !acyclic {
            graph.check_acyclic()?;
        }
        Ok(graph)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    fn lit(v: i64) -> Op {
        Op::value(Value::new(v))
    }

    #[test]
    fn missing_dependency_names_both_keys() {
        let mut b = GraphBuilder::new();
        b.insert("a".into(), lit(1), vec!["nope".into()]);
        let err = b.build().unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::MissingDependency { .. }));
        assert!(msg.contains("a") && msg.contains("nope"), "{msg}");
    }

    #[test]
    fn the_first_task_with_a_missing_dependency_is_reported() {
        let mut b = GraphBuilder::new();
        b.insert("a".into(), lit(1), vec!["later".into()]);
        b.insert("b".into(), lit(1), vec!["a".into(), "nope-1".into()]);
        b.insert("c".into(), lit(1), vec!["nope-2".into()]);
        b.insert("later".into(), lit(1), vec![]);
        let Err(Error::MissingDependency { key, missing }) = b.build() else {
            panic!("expected a missing dependency")
        };
        assert_eq!((key.name(), missing.name()), ("b", "nope-1"));
    }

    #[test]
    fn cycle_is_reported_with_its_keys() {
        let mut b = GraphBuilder::new();
        b.insert("root".into(), lit(1), vec![]);
        b.insert("a".into(), lit(1), vec!["c".into(), "root".into()]);
        b.insert("b".into(), lit(1), vec!["a".into()]);
        b.insert("c".into(), lit(1), vec!["b".into()]);
        b.insert("d".into(), lit(1), vec!["c".into()]);
        let Err(Error::Cycle { keys }) = b.build() else {
            panic!("expected a cycle")
        };
        let mut names: Vec<_> = keys.iter().map(|k| k.name().to_string()).collect();
        names.sort();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn self_loop_is_a_cycle() {
        let mut b = GraphBuilder::new();
        b.insert("a".into(), lit(1), vec!["a".into()]);
        assert!(matches!(b.build(), Err(Error::Cycle { .. })));
    }

    #[test]
    fn equal_keys_merge() {
        let mut b = GraphBuilder::new();
        assert!(b.insert("a".into(), lit(1), vec![]));
        assert!(!b.insert("a".into(), lit(2), vec![]));
        let (id, added) = b.insert_with_ids("a".into(), lit(3), vec![], None);
        assert_eq!((id, added), (TaskId(0), false));
        let g = b.build().unwrap();
        assert_eq!(g.len(), 1);
        let v = g.task(TaskId(0)).op.run(&"a".into(), &[]).unwrap();
        assert_eq!(*v.downcast_ref::<i64>().unwrap(), 1, "the first task wins");
    }

    #[test]
    fn keys_and_ids_mix() {
        let mut b = GraphBuilder::new();
        b.insert("top".into(), lit(0), vec!["x".into(), "y".into()]);
        let (x, _) = b.insert_with_ids("x".into(), lit(1), vec![], None);
        b.insert("y".into(), lit(2), vec!["x".into()]);
        let (z, _) = b.insert_with_ids("z".into(), lit(3), vec![x, TaskId(2)], None);
        assert_eq!(b.id_of(&"y".into()), Some(TaskId(2)));
        assert_eq!(b.key(z).map(Key::name), Some("z"));
        let g = b.build().unwrap();
        assert_eq!(g.task(TaskId(0)).deps, vec![x, TaskId(2)]);
        assert_eq!(g.task(TaskId(2)).deps, vec![x]);
        assert_eq!(g.id_of(&"z".into()), Some(z));
    }

    #[test]
    #[should_panic(expected = "is not a task of this builder")]
    fn ids_must_be_of_tasks_added_before() {
        let mut b = GraphBuilder::new();
        b.insert_with_ids("a".into(), lit(1), vec![TaskId(0)], None);
    }

    #[test]
    fn scope_annotates_tasks_without_their_own() {
        let mut b = GraphBuilder::new();
        let scope = Arc::new(Annotations::default().retries(2));
        b.set_scope(Some(scope.clone()));
        b.insert("a".into(), lit(1), vec![]);
        b.insert_with_ids("b".into(), lit(1), vec![], None);
        let own = Arc::new(Annotations::default().priority(3));
        b.insert_annotated("c".into(), lit(1), vec![], own.clone());
        b.set_scope(None);
        b.insert("d".into(), lit(1), vec![]);
        let g = b.build().unwrap();
        let ann: Vec<_> = g.tasks().iter().map(|t| t.annotations.clone()).collect();
        assert_eq!(ann, [Some(scope.clone()), Some(scope), Some(own), None]);
    }

    #[test]
    fn serials_differ() {
        assert_ne!(GraphBuilder::new().serial(), GraphBuilder::new().serial());
    }
}
