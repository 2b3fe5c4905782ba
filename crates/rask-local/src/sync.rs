//! The single-threaded scheduler: deterministic, for debugging.
//!
//! Runs tasks one after another in priority order (which is a topological
//! order, see `rask_core::order`) on the calling thread, and drops each value
//! as soon as its last dependent has run.

use rask_core::{Callback, Error, Plan, Result, Value, order};

/// Runs every task on the calling thread, in priority order.
///
/// ```
/// use rask_core::{Executor, GraphBuilder, Key, Op, Plan, PlanOptions, Value};
/// use rask_local::SyncExecutor;
/// let mut b = GraphBuilder::new();
/// b.insert(Key::new("a"), Op::value(Value::new(20i64)), vec![]);
/// b.insert(Key::new("b"), Op::call("add1", |x: &[Value]| Ok(Value::new(x[0].get::<i64>(0)? + 1))), vec![Key::new("a")]);
/// let plan = Plan::new(b, &[Key::new("b")], PlanOptions::default()).unwrap();
/// let out = SyncExecutor.execute(&plan, &[]).unwrap();
/// assert_eq!(*out[0].downcast_ref::<i64>().unwrap(), 21);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncExecutor;

impl rask_core::Executor for SyncExecutor {
    fn execute(&self, plan: &Plan, callbacks: &[&dyn Callback]) -> Result<Vec<Value>> {
        for cb in callbacks {
            cb.on_start(plan);
        }
        let result = run(plan, callbacks);
        for cb in callbacks {
            cb.on_end(plan, result.is_ok());
        }
        result
    }

    fn name(&self) -> &str {
        "sync"
    }
}

fn run(plan: &Plan, callbacks: &[&dyn Callback]) -> Result<Vec<Value>> {
    let graph = &plan.graph;
    let mut refs = graph.dependent_counts();
    let mut keep = vec![false; graph.len()];
    for o in &plan.outputs {
        keep[o.index()] = true;
    }
    let mut slots: Vec<Option<Value>> = vec![None; graph.len()];
    let mut args: Vec<Value> = Vec::new();
    for t in order::sorted_by_priority(&plan.priority) {
        let task = graph.task(t);
        for cb in callbacks {
            cb.on_task_start(plan, t, 0);
        }
        args.clear();
        for d in &task.deps {
            args.push(slots[d.index()].clone().ok_or_else(|| missing(plan, t))?);
        }
        let result = task.op.run(&task.key, &args);
        args.clear();
        if let Ok(value) = &result {
            for cb in callbacks {
                cb.on_task_result(plan, t, 0, value);
            }
        }
        for cb in callbacks {
            cb.on_task_finish(plan, t, 0, result.is_ok());
        }
        let value = result?;
        for d in &task.deps {
            let r = &mut refs[d.index()];
            *r -= 1;
            if *r == 0 && !keep[d.index()] {
                slots[d.index()] = None;
            }
        }
        if refs[t.index()] > 0 || keep[t.index()] {
            slots[t.index()] = Some(value);
        }
    }
    plan.outputs
        .iter()
        .map(|o| slots[o.index()].clone().ok_or_else(|| missing(plan, *o)))
        .collect()
}

fn missing(plan: &Plan, t: rask_core::TaskId) -> Error {
    Error::Scheduler(format!(
        "internal error: a value needed by {} was released early",
        plan.graph.task(t).key
    ))
}
