//! Graph optimizations run before execution: culling and fusion.
//!
//! * [`cull`] keeps only the tasks that the requested outputs need.
//! * [`fuse`] merges a task into its only dependent when that dependent has no
//!   other dependency (linear chains), or when both are blockwise operations
//!   (trees of elementwise operations on one block). A chain of `n` small
//!   steps then costs one scheduling decision instead of `n`, and
//!   `(x + y) * 2 - z` is one task per block. A fused task keeps the key of
//!   its last step (so requested outputs keep their keys) and remembers every
//!   step's key for errors. Outputs are never fused away, and tasks with
//!   different annotations (priority, retries, ...) are never fused together.
//!   Data held by an executor ([`Op::Held`]) is never fused into another task.
//!
//! Both passes work in place: the tasks that stay are moved down in the
//! graph's own task list, keeping their relative order, and only their
//! dependency ids are rewritten, so neither pass holds two copies of a
//! graph of a million tasks.

use std::sync::Arc;

use crate::graph::{Arg, Deps, Graph, Op, Program, Step, Task, TaskId};
use crate::key::Key;
use crate::value::Value;

/// Keeps the tasks reachable from `outputs`; returns the smaller graph and the
/// outputs' ids in it. Relative order of the kept tasks is preserved.
///
/// # Panics
///
/// When an id in `outputs` is not one of `graph`'s (out of range): ids come
/// from the graph itself ([`Graph::ids_of`]), so this is a programmer
/// error, as indexing is. The message names the id and the graph's size.
pub fn cull(graph: Graph, outputs: &[TaskId]) -> (Graph, Vec<TaskId>) {
    let n = graph.len();
    check_ids(outputs, n);
    let mut keep = vec![false; n];
    let mut stack: Vec<TaskId> = outputs.to_vec();
    while let Some(t) = stack.pop() {
        if std::mem::replace(&mut keep[t.index()], true) {
            continue;
        }
        stack.extend(
            graph
                .task(t)
                .deps
                .iter()
                .copied()
                .filter(|d| !keep[d.index()]),
        );
    }
    if keep.iter().all(|&k| k) {
        return (graph, outputs.to_vec());
    }
    let mut new_id = vec![u32::MAX; n];
    let mut next = 0u32;
    for (i, &k) in keep.iter().enumerate() {
        if k {
            new_id[i] = next;
            next += 1;
        }
    }
    let mut tasks = graph.into_tasks();
    let mut position = 0;
    tasks.retain(|_| {
        position += 1;
        keep[position - 1]
    });
    for t in &mut tasks {
        for d in &mut t.deps {
            *d = TaskId(new_id[d.index()]);
        }
    }
    let outputs = outputs.iter().map(|o| TaskId(new_id[o.index()])).collect();
    (Graph::from_tasks_unchecked(tasks), outputs)
}

/// Panics naming the first id in `ids` that is not below `n`.
fn check_ids(ids: &[TaskId], n: usize) {
    if let Some(t) = ids.iter().find(|t| t.index() >= n) {
        panic!(
            "output {t:?} is not a task of this graph, which has {n} tasks; take ids from \
             this graph's `ids_of`"
        );
    }
}

/// Fuses tasks into their only dependent; returns the new graph and the
/// outputs' ids in it.
///
/// A task `a` that is not an output and has exactly one dependent `b` is
/// absorbed into `b` when
/// * `a` is `b`'s only dependency (a linear chain), or
/// * both are blockwise operations ([`Op::blockwise`]): a tree of
///   elementwise operations over the same block becomes one task.
///
/// The fused task keeps `b`'s key and runs a [`Program`] of the absorbed
/// tasks in post-order; its dependencies are the tree's external inputs.
///
/// # Panics
///
/// As [`cull`], when an id in `outputs` is not one of `graph`'s.
pub fn fuse(graph: Graph, outputs: &[TaskId]) -> (Graph, Vec<TaskId>) {
    let n = graph.len();
    check_ids(outputs, n);
    let absorbed = absorbed_tasks(&graph, outputs);
    if !absorbed.iter().any(|&a| a) {
        return (graph, outputs.to_vec());
    }
    // For a task that stays, its new id; for an absorbed one, its place in
    // `parts`.
    let mut slot = vec![0u32; n];
    let (mut stays, mut parts_len) = (0u32, 0u32);
    for (s, &a) in slot.iter_mut().zip(&absorbed) {
        let counter = if a { &mut parts_len } else { &mut stays };
        *s = *counter;
        *counter += 1;
    }
    let mut tasks = graph.into_tasks();
    // The absorbed tasks, moved out so their places can be reused.
    let hole = Op::value(Value::new(()));
    let mut parts: Vec<Part> = Vec::with_capacity(parts_len as usize);
    for (t, _) in tasks.iter_mut().zip(&absorbed).filter(|(_, a)| **a) {
        parts.push(Part {
            key: std::mem::replace(&mut t.key, Key::from("")),
            op: std::mem::replace(&mut t.op, hole.clone()),
            deps: std::mem::take(&mut t.deps),
            step: u32::MAX,
        });
    }
    let mut walk = TreeWalk::default();
    for i in 0..n {
        if absorbed[i] {
            continue;
        }
        let task = &mut tasks[i];
        if task.deps.iter().any(|d| absorbed[d.index()]) {
            walk.fuse_into(task, &absorbed, &slot, &mut parts, &hole);
        } else {
            for d in &mut task.deps {
                *d = TaskId(slot[d.index()]);
            }
        }
        // Every place below `i` that no kept task holds is free: absorbed
        // tasks were moved out, kept ones moved down already.
        tasks.swap(slot[i] as usize, i);
    }
    tasks.truncate(stays as usize);
    let outputs = outputs.iter().map(|o| TaskId(slot[o.index()])).collect();
    (Graph::from_tasks_unchecked(tasks), outputs)
}

/// Which tasks [`fuse`] absorbs into their dependent.
fn absorbed_tasks(graph: &Graph, outputs: &[TaskId]) -> Vec<bool> {
    let n = graph.len();
    let dependents = graph.dependents();
    let mut is_output = vec![false; n];
    for o in outputs {
        is_output[o.index()] = true;
    }
    (0..n)
        .map(|i| {
            let id = TaskId(i as u32);
            let &[b] = dependents.of(id) else {
                return false;
            };
            let (a, b) = (graph.task(id), graph.task(b));
            // Held data stays a task of its own: an executor that holds it
            // resolves it as a dependency, not as a step of another task.
            !is_output[i]
                && !matches!(a.op, Op::Held(_))
                && same_annotations(a, b)
                && (b.deps.len() == 1 || (a.op.is_blockwise() && b.op.is_blockwise()))
        })
        .collect()
}

/// An absorbed task, moved out of the graph until it becomes a step.
struct Part {
    key: Key,
    op: Op,
    deps: Deps,
    /// Its step number in the program being built.
    step: u32,
}

/// Scratch space of [`fuse`], reused from one fused task to the next.
#[derive(Default)]
struct TreeWalk {
    /// (absorbed task's place in `parts`, or `None` for the root; index of
    /// the next dependency to visit)
    stack: Vec<(Option<u32>, usize)>,
    /// The fused task's inputs, by old id.
    inputs: Vec<TaskId>,
}

impl TreeWalk {
    /// Makes `root` the fused task of the absorbed tree under it: a
    /// post-order walk, dependencies in argument order.
    fn fuse_into(
        &mut self,
        root: &mut Task,
        absorbed: &[bool],
        slot: &[u32],
        parts: &mut [Part],
        hole: &Op,
    ) {
        let mut steps: Vec<Step> = Vec::new();
        self.inputs.clear();
        self.stack.push((None, 0));
        while let Some((node, next_dep)) = self.stack.last_mut() {
            let node = *node;
            let deps = match node {
                Some(p) => &parts[p as usize].deps,
                None => &root.deps,
            };
            if let Some(&d) = deps.get(*next_dep) {
                *next_dep += 1;
                if absorbed[d.index()] {
                    self.stack.push((Some(slot[d.index()]), 0));
                }
                continue;
            }
            self.stack.pop();
            let args = deps
                .iter()
                .map(|d| {
                    if absorbed[d.index()] {
                        Arg::Step(parts[slot[d.index()] as usize].step)
                    } else {
                        Arg::Input(input_slot(&mut self.inputs, *d))
                    }
                })
                .collect();
            let (key, op) = match node {
                Some(p) => {
                    let part = &mut parts[p as usize];
                    part.step = steps.len() as u32;
                    let key = std::mem::replace(&mut part.key, Key::from(""));
                    (key, std::mem::replace(&mut part.op, hole.clone()))
                }
                None => (
                    root.key.clone(),
                    std::mem::replace(&mut root.op, hole.clone()),
                ),
            };
            steps.push(Step { key, op, args });
        }
        let program = Program::new(steps).expect("post-order steps only use earlier steps");
        root.op = Op::Fused(Arc::new(program));
        root.deps = self
            .inputs
            .iter()
            .map(|d| TaskId(slot[d.index()]))
            .collect();
    }
}

/// Tasks fuse only when their annotations agree (a task with retries or a
/// priority keeps them, and never hands them to its neighbours).
fn same_annotations(a: &Task, b: &Task) -> bool {
    match (&a.annotations, &b.annotations) {
        (None, None) => true,
        (Some(x), Some(y)) => Arc::ptr_eq(x, y) || x == y,
        _ => false,
    }
}

/// The position of `dep` among a fused task's inputs, adding it if new.
fn input_slot(inputs: &mut Vec<TaskId>, dep: TaskId) -> u32 {
    let pos = inputs.iter().position(|&x| x == dep).unwrap_or_else(|| {
        inputs.push(dep);
        inputs.len() - 1
    });
    pos as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GraphBuilder, Key, Value};

    fn inc() -> Op {
        Op::call("inc", |a: &[Value]| Ok(Value::new(a[0].get::<i64>(0)? + 1)))
    }

    fn chain(n: usize) -> Graph {
        let mut b = GraphBuilder::new();
        b.insert("c-0".into(), Op::value(Value::new(0i64)), vec![]);
        for i in 1..n {
            b.insert(
                format!("c-{i}").into(),
                inc(),
                vec![format!("c-{}", i - 1).into()],
            );
        }
        b.build().unwrap()
    }

    #[test]
    fn chain_fuses_into_one_task_keeping_the_output_key() {
        let g = chain(1000);
        let out = g.id_of(&Key::new("c-999")).unwrap();
        let (g, outs) = fuse(g, &[out]);
        assert_eq!(g.len(), 1);
        assert_eq!(g.task(outs[0]).key, Key::new("c-999"));
        let v = g.task(outs[0]).op.run(&Key::new("c-999"), &[]).unwrap();
        assert_eq!(*v.downcast_ref::<i64>().unwrap(), 999);
    }

    #[test]
    fn outputs_are_not_fused_away() {
        let g = chain(10);
        let mid = g.id_of(&Key::new("c-4")).unwrap();
        let end = g.id_of(&Key::new("c-9")).unwrap();
        let (g, outs) = fuse(g, &[mid, end]);
        assert_eq!(g.len(), 2);
        assert_eq!(g.task(outs[0]).key, Key::new("c-4"));
        assert_eq!(g.task(outs[1]).deps, vec![outs[0]]);
    }

    #[test]
    fn cull_drops_unneeded_tasks() {
        let mut b = GraphBuilder::new();
        b.insert("a".into(), Op::value(Value::new(1i64)), vec![]);
        b.insert("b".into(), inc(), vec!["a".into()]);
        b.insert("unused".into(), inc(), vec!["a".into()]);
        let g = b.build().unwrap();
        let out = g.id_of(&Key::new("b")).unwrap();
        let (g, outs) = cull(g, &[out]);
        assert_eq!(g.len(), 2);
        assert_eq!(g.task(outs[0]).key, Key::new("b"));
        assert!(g.id_of(&Key::new("unused")).is_none());
    }

    #[test]
    #[should_panic(expected = "output TaskId(7) is not a task of this graph, which has 2 tasks")]
    fn cull_of_an_id_from_elsewhere_panics_naming_it() {
        let mut b = GraphBuilder::new();
        b.insert("a".into(), Op::value(Value::new(1i64)), vec![]);
        b.insert("b".into(), inc(), vec!["a".into()]);
        let g = b.build().unwrap();
        let _ = cull(g, &[TaskId(0), TaskId(7)]);
    }

    #[test]
    #[should_panic(expected = "output TaskId(2) is not a task of this graph, which has 2 tasks")]
    fn fuse_of_an_id_from_elsewhere_panics_naming_it() {
        let mut b = GraphBuilder::new();
        b.insert("a".into(), Op::value(Value::new(1i64)), vec![]);
        b.insert("b".into(), inc(), vec!["a".into()]);
        let _ = fuse(b.build().unwrap(), &[TaskId(2)]);
    }

    fn add() -> Op {
        Op::blockwise("add", |a: &[Value]| {
            Ok(Value::new(a[0].get::<i64>(0)? + a[1].get::<i64>(1)?))
        })
    }

    #[test]
    fn blockwise_trees_fuse_into_one_task_per_block() {
        // (x + y) + (x + z) per block: x is shared, so it stays a task; the
        // three additions become one.
        let mut b = GraphBuilder::new();
        for (k, v) in [("x", 1i64), ("y", 10), ("z", 100)] {
            b.insert(k.into(), Op::value(Value::new(v)), vec![]);
        }
        b.insert("xy".into(), add(), vec!["x".into(), "y".into()]);
        b.insert("xz".into(), add(), vec!["x".into(), "z".into()]);
        b.insert("out".into(), add(), vec!["xy".into(), "xz".into()]);
        let g = b.build().unwrap();
        let out = g.id_of(&Key::new("out")).unwrap();
        let (g, outs) = fuse(g, &[out]);
        assert_eq!(g.len(), 4, "x, y, z and one fused task");
        let fused = g.task(outs[0]);
        let Op::Fused(p) = &fused.op else {
            panic!("expected a fused task")
        };
        assert_eq!(p.steps().len(), 3);
        let keys: Vec<_> = fused
            .deps
            .iter()
            .map(|d| g.task(*d).key.name().to_string())
            .collect();
        assert_eq!(keys, ["x", "y", "z"], "shared input x appears once");
        let args: Vec<Value> = [1i64, 10, 100].into_iter().map(Value::new).collect();
        let v = fused.op.run(&fused.key, &args).unwrap();
        assert_eq!(*v.downcast_ref::<i64>().unwrap(), 112);
    }

    #[test]
    fn non_blockwise_trees_are_not_fused() {
        let sum = || Op::call("sum", |a: &[Value]| Ok(Value::new(a.len() as i64)));
        let mut b = GraphBuilder::new();
        for k in ["a", "b", "c", "d"] {
            b.insert(k.into(), Op::value(Value::new(0i64)), vec![]);
        }
        b.insert("ab".into(), sum(), vec!["a".into(), "b".into()]);
        b.insert("cd".into(), sum(), vec!["c".into(), "d".into()]);
        b.insert("top".into(), sum(), vec!["ab".into(), "cd".into()]);
        let g = b.build().unwrap();
        let out = g.id_of(&Key::new("top")).unwrap();
        let (g, _) = fuse(g, &[out]);
        assert_eq!(g.len(), 7, "a tree reduction keeps its parallelism");
    }

    #[test]
    fn fused_error_names_the_failing_step() {
        let mut b = GraphBuilder::new();
        b.insert("a".into(), Op::value(Value::new(1i64)), vec![]);
        b.insert(
            "bad-1".into(),
            Op::call("bad", |_: &[Value]| panic!("no")),
            vec!["a".into()],
        );
        b.insert("c".into(), inc(), vec!["bad-1".into()]);
        let g = b.build().unwrap();
        let out = g.id_of(&Key::new("c")).unwrap();
        let (g, outs) = fuse(g, &[out]);
        let err = g.task(outs[0]).op.run(&Key::new("c"), &[]).unwrap_err();
        assert_eq!(err.task_key(), Some(&Key::new("bad-1")));
    }
}
