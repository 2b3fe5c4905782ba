//! Graph optimizations run before execution: culling and fusion.
//!
//! * [`cull`] keeps only the tasks that the requested outputs need.
//! * [`fuse_linear`] merges linear chains — a task whose only dependent has no
//!   other dependency — into one task, so a chain of `n` small steps costs one
//!   scheduling decision instead of `n`. A fused task keeps the key of the last
//!   step (so requested outputs keep their keys) and remembers every step's
//!   key for errors. Outputs are never fused away.

use crate::graph::{FusedStep, Graph, Op, Task, TaskId};

/// Keeps the tasks reachable from `outputs`; returns the smaller graph and the
/// outputs' ids in it. Relative order of the kept tasks is preserved.
pub fn cull(graph: Graph, outputs: &[TaskId]) -> (Graph, Vec<TaskId>) {
    let n = graph.len();
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
    let tasks = graph
        .into_tasks()
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(mut t, _)| {
            for d in &mut t.deps {
                *d = TaskId(new_id[d.index()]);
            }
            t
        })
        .collect();
    let outputs = outputs.iter().map(|o| TaskId(new_id[o.index()])).collect();
    (Graph::from_tasks_unchecked(tasks), outputs)
}

/// Fuses linear chains; returns the new graph and the outputs' ids in it.
///
/// A task `a` is absorbed into `b` when `b` is `a`'s only dependent, `a` is
/// `b`'s only dependency, and `a` is not an output.
pub fn fuse_linear(graph: Graph, outputs: &[TaskId]) -> (Graph, Vec<TaskId>) {
    let n = graph.len();
    let dependents = graph.dependents();
    let mut is_output = vec![false; n];
    for o in outputs {
        is_output[o.index()] = true;
    }
    // absorbed[a] = a is merged into its single dependent.
    let absorbed: Vec<bool> = (0..n)
        .map(|i| {
            let id = TaskId(i as u32);
            let ds = dependents.of(id);
            !is_output[i] && ds.len() == 1 && graph.task(ds[0]).deps.len() == 1
        })
        .collect();
    if !absorbed.iter().any(|&a| a) {
        return (graph, outputs.to_vec());
    }
    let mut new_id = vec![u32::MAX; n];
    let mut next = 0u32;
    for i in 0..n {
        if !absorbed[i] {
            new_id[i] = next;
            next += 1;
        }
    }
    let mut slots: Vec<Option<Task>> = graph.into_tasks().into_iter().map(Some).collect();
    let mut tasks = Vec::with_capacity(next as usize);
    for i in 0..n {
        if absorbed[i] {
            continue;
        }
        let mut tail = slots[i].take().expect("each task is taken once");
        // Walk up the chain from the tail through absorbed dependencies.
        let mut chain: Vec<Task> = Vec::new();
        loop {
            let cur = chain.last().unwrap_or(&tail);
            let next = match cur.deps.as_slice() {
                [d] if absorbed[d.index()] => *d,
                _ => break,
            };
            chain.push(
                slots[next.index()]
                    .take()
                    .expect("an absorbed task has one dependent"),
            );
        }
        if let Some(head) = chain.last_mut() {
            let head_deps = std::mem::take(&mut head.deps);
            let mut steps: Vec<FusedStep> = Vec::with_capacity(chain.len() + 1);
            for t in chain.into_iter().rev() {
                push_steps(&mut steps, t.key, t.op);
            }
            let tail_op = std::mem::replace(&mut tail.op, Op::Value(crate::Value::new(())));
            push_steps(&mut steps, tail.key.clone(), tail_op);
            tail.op = Op::Fused(steps.into());
            tail.deps = head_deps;
        }
        for d in &mut tail.deps {
            *d = TaskId(new_id[d.index()]);
        }
        tasks.push(tail);
    }
    let outputs = outputs.iter().map(|o| TaskId(new_id[o.index()])).collect();
    (Graph::from_tasks_unchecked(tasks), outputs)
}

fn push_steps(steps: &mut Vec<FusedStep>, key: crate::Key, op: Op) {
    match op {
        Op::Fused(inner) => steps.extend(inner.iter().cloned()),
        op => steps.push(FusedStep { key, op }),
    }
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
        let (g, outs) = fuse_linear(g, &[out]);
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
        let (g, outs) = fuse_linear(g, &[mid, end]);
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
        let (g, outs) = fuse_linear(g, &[out]);
        let err = g.task(outs[0]).op.run(&Key::new("c"), &[]).unwrap_err();
        assert_eq!(err.task_key(), Some(&Key::new("bad-1")));
    }
}
