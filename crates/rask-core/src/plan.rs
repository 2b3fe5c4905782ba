//! Execution plans: an optimized graph, its outputs and its priorities.
//!
//! Every compute goes through the same steps before an executor sees it:
//! resolve the requested keys, [`cull`](crate::optimize::cull) to what they
//! need, [`fuse`](crate::optimize::fuse) chains and blockwise trees (when enabled),
//! and [`order`](crate::order) the tasks. A [`Plan`] is the result; executors
//! only run plans.

use crate::error::Result;
use crate::graph::{Graph, GraphBuilder, TaskId};
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
    pub fn from_graph(graph: Graph, outputs: &[TaskId], options: PlanOptions) -> Plan {
        let (graph, outputs) = optimize::cull(graph, outputs);
        let (graph, outputs) = if options.fuse {
            optimize::fuse(graph, &outputs)
        } else {
            (graph, outputs)
        };
        let priority = order::priorities(&graph).expect("a built graph is acyclic");
        // Executors address tasks by id; the key index is not needed any more.
        let graph = graph.without_index();
        Plan {
            graph,
            outputs,
            priority,
        }
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
