//! The compute pipeline, the same for every collection and every executor:
//! validate, build the graph, cull, fuse, order, run, hand back.
//!
//! ```text
//! collection ── add_to_graph ──► GraphBuilder ── Plan::new (cull, fuse, order)
//!            ◄── finalize ────── values ◄──────── Executor::execute
//! ```
//!
//! Collections call [`compute`] / [`compute_with`] / [`persist_with`]; they
//! never name a scheduler. The callbacks registered with
//! [`crate::callbacks::register`] join every run. When the executor runs
//! tasks in other processes ([`Executor::requires_portable`]), the plan is
//! checked first and a closure is refused with [`Error::NotPortable`] naming
//! the task.
//!
//! ```
//! use rask_core::{Callback, Executor, GraphBuilder, Key, Op, Plan, Result, Value, compute};
//!
//! /// An executor that runs tasks one by one in priority order.
//! struct InOrder;
//! impl Executor for InOrder {
//!     fn execute(&self, plan: &Plan, _: &[&dyn Callback]) -> Result<Vec<Value>> {
//!         let mut done: Vec<Option<Value>> = vec![None; plan.len()];
//!         for t in rask_core::order::sorted_by_priority(&plan.priority) {
//!             let task = plan.graph.task(t);
//!             let args: Vec<Value> = task.deps.iter().map(|d| done[d.index()].clone().unwrap()).collect();
//!             done[t.index()] = Some(task.run(&args)?);
//!         }
//!         Ok(plan.outputs.iter().map(|o| done[o.index()].clone().unwrap()).collect())
//!     }
//!     fn name(&self) -> &str { "in-order" }
//! }
//!
//! let mut b = GraphBuilder::new();
//! b.insert(Key::new("x"), Op::value(Value::new(20i64)), vec![]);
//! b.insert(Key::new("y"), Op::call("inc", |a: &[Value]| Ok(Value::new(a[0].get::<i64>(0)? + 1))), vec![Key::new("x")]);
//! let out = compute::get(b.build()?, &[Key::new("y")], &InOrder)?;
//! assert_eq!(out[0].downcast_ref::<i64>(), Some(&21));
//! # Ok::<(), rask_core::Error>(())
//! ```

use crate::builder::GraphBuilder;
use crate::callbacks;
use crate::collection::Collection;
use crate::error::{Error, Result};
use crate::executor::{self, Callback, CancelToken, Executor};
use crate::graph::{Graph, Op};
use crate::key::Key;
use crate::plan::{Plan, PlanOptions};
use crate::value::Value;

/// Computes a collection (or a tuple / vector of them, sharing work) on the
/// executor in force ([`executor::current`]).
pub fn compute<C: Collection + ?Sized>(collection: &C) -> Result<C::Output> {
    compute_with(collection, &*executor::current()?)
}

/// Computes a collection on `executor`.
pub fn compute_with<C: Collection + ?Sized, E: Executor + ?Sized>(
    collection: &C,
    executor: &E,
) -> Result<C::Output> {
    let plan = plan(collection)?;
    let values = run(&plan, executor, None)?;
    finish(collection, values)
}

/// Like [`compute_with`], stopping with [`Error::Cancelled`] once `cancel`
/// is cancelled (from another thread).
pub fn compute_cancellable<C: Collection + ?Sized, E: Executor + ?Sized>(
    collection: &C,
    executor: &E,
    cancel: &CancelToken,
) -> Result<C::Output> {
    let plan = plan(collection)?;
    let values = run(&plan, executor, Some(cancel))?;
    finish(collection, values)
}

/// Runs a collection on `executor` and keeps its outputs where they were
/// computed: one operation per output key, in order, to stand for it in
/// later graphs (see [`Executor::persist`]).
pub fn persist_with<C: Collection + ?Sized, E: Executor + ?Sized>(
    collection: &C,
    executor: &E,
) -> Result<Vec<(Key, Op)>> {
    let (plan, keys) = plan_and_keys(collection)?;
    check(&plan, executor)?;
    let registered = callbacks::snapshot();
    let all: Vec<&dyn Callback> = registered.iter().map(|c| c.as_ref()).collect();
    let ops = executor.persist(&plan, &all)?;
    if ops.len() != keys.len() {
        return Err(Error::Scheduler(format!(
            "the executor `{}` persisted {} results for {} keys",
            executor.name(),
            ops.len(),
            keys.len()
        )));
    }
    Ok(keys.into_iter().zip(ops).collect())
}

/// The optimized plan of a collection under the configuration in force
/// (`optimization.fuse`).
pub fn plan<C: Collection + ?Sized>(collection: &C) -> Result<Plan> {
    plan_and_keys(collection).map(|(plan, _)| plan)
}

/// The optimized plan and the collection's output keys, in order.
fn plan_and_keys<C: Collection + ?Sized>(collection: &C) -> Result<(Plan, Vec<Key>)> {
    collection.validate()?;
    let config = rask_config::try_get()?;
    let mut builder = GraphBuilder::new();
    let mut keys = Vec::new();
    collection.add_to_graph(&mut builder, &mut keys);
    let plan = Plan::new(builder, &keys, PlanOptions { fuse: config.fuse })?;
    Ok((plan, keys))
}

/// Runs a hand-built graph on `executor` and returns the values of `keys`
/// (Dask's `get`).
pub fn get<E: Executor + ?Sized>(graph: Graph, keys: &[Key], executor: &E) -> Result<Vec<Value>> {
    let config = rask_config::try_get()?;
    let ids = graph.ids_of(keys)?;
    let plan = Plan::from_graph(graph, &ids, PlanOptions { fuse: config.fuse });
    run(&plan, executor, None)
}

/// Runs a plan on `executor` with the registered callbacks (refusing a
/// non-portable plan when the executor needs portable ones).
pub fn run<E: Executor + ?Sized>(
    plan: &Plan,
    executor: &E,
    cancel: Option<&CancelToken>,
) -> Result<Vec<Value>> {
    check(plan, executor)?;
    let registered = callbacks::snapshot();
    let all: Vec<&dyn Callback> = registered.iter().map(|c| c.as_ref()).collect();
    match cancel {
        Some(c) => executor.execute_cancellable(plan, &all, c),
        None => executor.execute(plan, &all),
    }
}

fn check<E: Executor + ?Sized>(plan: &Plan, executor: &E) -> Result<()> {
    if executor.requires_portable() {
        plan.graph.check_portable()?;
    }
    Ok(())
}

fn finish<C: Collection + ?Sized>(collection: &C, values: Vec<Value>) -> Result<C::Output> {
    let mut values = values.into_iter();
    let out = collection.finalize(&mut values)?;
    if values.next().is_some() {
        return Err(Error::Scheduler(
            "internal error: a collection did not consume all of its outputs".into(),
        ));
    }
    Ok(out)
}
