//! The single-threaded scheduler: deterministic, for debugging.
//!
//! Runs tasks one after another in priority order (which is a topological
//! order, see `rask_core::order`) on the calling thread, and drops each value
//! as soon as its last dependent has run.
//!
//! This module also holds the panic guards both local executors use: a panic
//! in a task is caught by the task's [`Op`](rask_core::Op), but code outside
//! it — a [`Callback`], or the `Drop` of a value being released — could
//! panic too. The guards catch that and turn it into an [`Error`] naming the
//! task, so `compute` fails cleanly instead of unwinding through the
//! scheduler (and, with threads, leaving the other workers waiting forever).

use std::panic::{AssertUnwindSafe, catch_unwind};

use rask_core::{Callback, Error, Plan, Result, TaskError, TaskId, Value, order};

use crate::slots::Slots;

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
        with_run_callbacks(plan, callbacks, || run(plan, callbacks, None))
    }

    fn execute_cancellable(
        &self,
        plan: &Plan,
        callbacks: &[&dyn Callback],
        cancel: &rask_core::CancelToken,
    ) -> Result<Vec<Value>> {
        with_run_callbacks(plan, callbacks, || run(plan, callbacks, Some(cancel)))
    }

    fn workers(&self) -> Option<usize> {
        Some(1)
    }

    fn name(&self) -> &str {
        "sync"
    }
}

fn run(
    plan: &Plan,
    callbacks: &[&dyn Callback],
    cancel: Option<&rask_core::CancelToken>,
) -> Result<Vec<Value>> {
    let graph = &plan.graph;
    let mut refs = graph.dependent_counts();
    let mut keep = vec![false; graph.len()];
    for o in &plan.outputs {
        keep[o.index()] = true;
    }
    let mut slots = Slots::default();
    let result = run_tasks(plan, callbacks, cancel, &mut refs, &keep, &mut slots);
    let out = result.and_then(|()| {
        plan.outputs
            .iter()
            .map(|o| {
                crate::slots::get(&slots, *o)
                    .cloned()
                    .ok_or_else(|| missing(plan, *o))
            })
            .collect::<Result<Vec<Value>>>()
    });
    match out {
        // Only outputs are left, and `out` holds their values now.
        Ok(out) => drop_guarded(plan, None, slots).map(|()| out),
        Err(e) => {
            drop_quietly(slots);
            Err(e)
        }
    }
}

fn run_tasks(
    plan: &Plan,
    callbacks: &[&dyn Callback],
    cancel: Option<&rask_core::CancelToken>,
    refs: &mut [u32],
    keep: &[bool],
    slots: &mut Slots,
) -> Result<()> {
    let graph = &plan.graph;
    let mut args: Vec<Value> = Vec::new();
    for t in order::sorted_by_priority(&plan.priority) {
        if cancel.is_some_and(rask_core::CancelToken::is_cancelled) {
            return Err(Error::Cancelled);
        }
        let task = graph.task(t);
        for cb in callbacks {
            guard_callback(plan, "on_task_start", Some(t), || {
                cb.on_task_start(plan, t, 0)
            })?;
        }
        args.clear();
        for d in &task.deps {
            args.push(
                crate::slots::get(slots, *d)
                    .cloned()
                    .ok_or_else(|| missing(plan, t))?,
            );
        }
        let result = task.run(&args);
        args.clear();
        let value = match result {
            Ok(value) => {
                let notified = callbacks
                    .iter()
                    .try_for_each(|cb| {
                        guard_callback(plan, "on_task_result", Some(t), || {
                            cb.on_task_result(plan, t, 0, &value)
                        })
                    })
                    .and_then(|()| {
                        callbacks.iter().try_for_each(|cb| {
                            guard_callback(plan, "on_task_finish", Some(t), || {
                                cb.on_task_finish(plan, t, 0, true)
                            })
                        })
                    });
                if let Err(e) = notified {
                    drop_quietly(value);
                    return Err(e);
                }
                value
            }
            Err(e) => {
                // The task's own error is the one to report.
                for cb in callbacks {
                    let _ = guard_callback(plan, "on_task_finish", Some(t), || {
                        cb.on_task_finish(plan, t, 0, false)
                    });
                }
                return Err(e);
            }
        };
        for d in &task.deps {
            let r = &mut refs[d.index()];
            *r -= 1;
            if *r == 0 && !keep[d.index()] {
                drop_guarded(plan, Some(*d), slots.remove(&d.0))?;
            }
        }
        if refs[t.index()] > 0 || keep[t.index()] {
            slots.insert(t.0, value);
        } else {
            drop_guarded(plan, Some(t), value)?;
        }
    }
    Ok(())
}

fn missing(plan: &Plan, t: rask_core::TaskId) -> Error {
    Error::Scheduler(format!(
        "internal error: a value needed by {} was released early",
        plan.graph.task(t).key
    ))
}

/// Calls `on_start` of every callback, runs `run`, then calls `on_end`: a
/// panic in either fails the run (a run that failed already keeps its own
/// error).
pub(crate) fn with_run_callbacks(
    plan: &Plan,
    callbacks: &[&dyn Callback],
    run: impl FnOnce() -> Result<Vec<Value>>,
) -> Result<Vec<Value>> {
    let result = callbacks
        .iter()
        .try_for_each(|cb| guard_callback(plan, "on_start", None, || cb.on_start(plan)))
        .and_then(|()| run());
    let ok = result.is_ok();
    let ended = callbacks
        .iter()
        .try_for_each(|cb| guard_callback(plan, "on_end", None, || cb.on_end(plan, ok)));
    match (result, ended) {
        (Ok(values), Err(e)) => {
            drop_quietly(values);
            Err(e)
        }
        (result, _) => result,
    }
}

/// Calls one callback hook, turning a panic into [`Error::Scheduler`] that
/// names the hook and the task.
pub(crate) fn guard_callback(
    plan: &Plan,
    hook: &str,
    task: Option<TaskId>,
    call: impl FnOnce(),
) -> Result<()> {
    catch_unwind(AssertUnwindSafe(call)).map_err(|payload| {
        let of_task = task.map_or_else(String::new, |t| {
            format!(" for task {}", plan.graph.task(t).key)
        });
        Error::Scheduler(format!(
            "callback `{hook}`{of_task} panicked: {}",
            panic_message(payload)
        ))
    })
}

/// Drops `values` (a released value, or what is left of a run), turning a
/// panic in a `Drop` into an error: [`Error::Task`] for the value of `task`,
/// [`Error::Scheduler`] when no single task owns them.
pub(crate) fn drop_guarded<T>(plan: &Plan, task: Option<TaskId>, values: T) -> Result<()> {
    catch_unwind(AssertUnwindSafe(move || drop(values))).map_err(|payload| {
        let message = panic_message(payload);
        match task {
            Some(t) => {
                let task = plan.graph.task(t);
                Error::Task {
                    key: task.key.clone(),
                    op: task.op.name().to_string(),
                    cause: TaskError::Panicked(format!(
                        "the Drop of its value panicked: {message}"
                    )),
                }
            }
            None => Error::Scheduler(format!(
                "the Drop of a value left at the end of the run panicked: {message}"
            )),
        }
    })
}

/// Drops `values`, ignoring a panic: for values left behind by a run that
/// failed already, whose first error is the one to report.
pub(crate) fn drop_quietly<T>(values: T) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(values)));
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match TaskError::from_panic(payload) {
        TaskError::Panicked(message) => message,
        other => other.to_string(),
    }
}
