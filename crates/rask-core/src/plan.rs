//! Execution plans: an optimized graph, its outputs and its priorities.
//!
//! Every compute goes through the same steps before an executor sees it:
//! resolve the requested keys, [`cull`](crate::optimize::cull) to what they
//! need, [`fuse`](crate::optimize::fuse) chains and blockwise trees (when enabled),
//! and [`order`](crate::order) the tasks. A [`Plan`] is the result; executors
//! only run plans.

use crate::builder::GraphBuilder;
use crate::error::Result;
use crate::graph::{Graph, TaskId};
use crate::key::Key;
use crate::{optimize, order};

/// Options of the optimization pipeline.
#[derive(Clone, Copy, Debug)]
pub struct PlanOptions {
    /// Fuse linear chains and blockwise trees into single tasks.
    pub fuse: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions { fuse: true }
    }
}

/// A graph ready to run.
///
/// ```
/// use rask_core::{GraphBuilder, Key, Op, Plan, PlanOptions, Value};
/// let mut b = GraphBuilder::new();
/// b.insert(Key::new("a"), Op::value(Value::new(1i64)), vec![]);
/// b.insert(Key::new("b"), Op::call("inc", |x: &[Value]| Ok(Value::new(x[0].get::<i64>(0)? + 1))), vec![Key::new("a")]);
/// let plan = Plan::new(b, &[Key::new("b")], PlanOptions::default()).unwrap();
/// assert_eq!(plan.graph.len(), 1); // the chain a -> b was fused
/// ```
#[derive(Debug)]
pub struct Plan {
    /// The optimized graph.
    pub graph: Graph,
    /// The requested tasks, in request order (a task may appear twice).
    pub outputs: Vec<TaskId>,
    /// Priority of each task: lower runs first.
    pub priority: Vec<u32>,
}

impl Plan {
    /// Builds the graph and runs the pipeline for the requested keys.
    pub fn new(builder: GraphBuilder, outputs: &[Key], options: PlanOptions) -> Result<Plan> {
        let graph = builder.build()?;
        let ids = graph.ids_of(outputs)?;
        Ok(Plan::from_graph(graph, &ids, options))
    }

    /// Runs the pipeline on a built graph.
    ///
    /// # Panics
    ///
    /// When an id in `outputs` is not one of `graph`'s (see
    /// [`optimize::cull`]); [`Plan::new`] resolves keys instead, with an
    /// error for a missing one.
    pub fn from_graph(graph: Graph, outputs: &[TaskId], options: PlanOptions) -> Plan {
        // The passes and the executors address tasks by id: the key index
        // is not needed any more (`Graph::id_of` makes it again on demand).
        let graph = graph.without_index();
        let (graph, outputs) = optimize::cull(graph, outputs);
        let (graph, outputs) = if options.fuse {
            optimize::fuse(graph, &outputs)
        } else {
            (graph, outputs)
        };
        let mut priority = order::priorities(&graph).expect("a built graph is acyclic");
        if graph
            .tasks()
            .iter()
            .any(|t| t.annotations.as_ref().is_some_and(|a| a.priority != 0))
        {
            priority = with_user_priorities(&graph, &priority);
        }
        Plan {
            graph,
            outputs,
            priority,
        }
    }

    /// Whether every task can leave this process (see [`Graph::check_portable`]).
    pub fn is_portable(&self) -> bool {
        self.graph.is_portable()
    }

    /// Number of tasks to run.
    pub fn len(&self) -> usize {
        self.graph.len()
    }

    /// Whether there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.graph.is_empty()
    }
}

/// Re-ranks tasks by the `priority` annotation (higher first), breaking ties
/// by the static order. A task's dependencies inherit the highest priority
/// of the tasks that need them, so the ranking stays a topological order
/// (the sync scheduler runs tasks by rank).
fn with_user_priorities(graph: &Graph, static_rank: &[u32]) -> Vec<u32> {
    let n = graph.len();
    let mut effective: Vec<i32> = graph
        .tasks()
        .iter()
        .map(|t| t.annotations.as_ref().map_or(0, |a| a.priority))
        .collect();
    // Dependents rank after their dependencies, so visiting ranks downwards
    // settles every task before its dependencies.
    for t in order::sorted_by_priority(static_rank).into_iter().rev() {
        let p = effective[t.index()];
        for d in &graph.task(t).deps {
            let e = &mut effective[d.index()];
            *e = (*e).max(p);
        }
    }
    let mut ids: Vec<u32> = (0..n as u32).collect();
    ids.sort_unstable_by_key(|&i| {
        (
            std::cmp::Reverse(effective[i as usize]),
            static_rank[i as usize],
        )
    });
    let mut rank = vec![0u32; n];
    for (r, &i) in ids.iter().enumerate() {
        rank[i as usize] = r as u32;
    }
    rank
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Annotations, Op, Value};
    use std::sync::Arc;

    #[test]
    fn higher_priority_branches_run_first_and_order_stays_topological() {
        let mut b = GraphBuilder::new();
        for br in ["low", "high"] {
            b.insert(
                Key::new(format!("{br}-leaf")),
                Op::value(Value::new(1i64)),
                vec![],
            );
        }
        b.insert(
            Key::new("low-top"),
            Op::value(Value::new(0i64)),
            vec![Key::new("low-leaf")],
        );
        b.insert_annotated(
            Key::new("high-top"),
            Op::value(Value::new(0i64)),
            vec![Key::new("high-leaf")],
            Arc::new(Annotations::default().priority(5)),
        );
        let plan = Plan::new(
            b,
            &[Key::new("low-top"), Key::new("high-top")],
            PlanOptions { fuse: false },
        )
        .unwrap();
        let rank = |k: &str| plan.priority[plan.graph.id_of(&Key::new(k)).unwrap().index()];
        assert!(
            rank("high-leaf") < rank("low-leaf"),
            "the high branch's input inherits its priority"
        );
        assert!(rank("high-top") < rank("low-leaf"));
        for (i, t) in plan.graph.tasks().iter().enumerate() {
            for d in &t.deps {
                assert!(plan.priority[d.index()] < plan.priority[i]);
            }
        }
    }
}
