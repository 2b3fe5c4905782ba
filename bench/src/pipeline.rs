//! The compute pipeline taken apart, for counting tasks and timing phases.
//!
//! This is the only module that uses rask's graph internals
//! (`Collection::add_to_graph`, `GraphBuilder`, `Plan`, `Executor`); when the
//! core's API shifts, only these two functions need to follow.

use std::time::Instant;

use rask::graph::{Executor, GraphBuilder, Plan, PlanOptions};
use rask::{Collection, Scheduler};

/// Tasks of a collection's graph: as built (before culling and fusion) and
/// as run (the optimized plan).
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub built: usize,
    pub run: usize,
}

/// Seconds spent in each phase of one compute, and the graph sizes.
#[derive(Clone, Copy, Debug)]
pub struct Phases {
    pub sizes: Sizes,
    /// `add_to_graph` + `GraphBuilder::build`.
    pub merge_s: f64,
    /// `Plan::from_graph`: cull, fuse, order (with the output key lookup).
    pub optimize_s: f64,
    /// `Executor::execute` of the plan on the scheduler.
    pub run_s: f64,
    /// Dropping the plan (its graph and closures) and turning the output
    /// values into the result (`Collection::finalize`).
    pub release_s: f64,
}

/// Counts the tasks of `collection` without running anything.
pub fn sizes<C: Collection + ?Sized>(collection: &C) -> anyhow::Result<Sizes> {
    let mut builder = GraphBuilder::new();
    let mut keys = Vec::new();
    collection.add_to_graph(&mut builder, &mut keys);
    let built = builder.len();
    let plan = Plan::new(builder, &keys, PlanOptions::default())?;
    Ok(Sizes {
        built,
        run: plan.len(),
    })
}

/// Computes `collection` on `scheduler` the way `Scheduler::compute` does
/// (with `PlanOptions::default()`, no callbacks, no progress bar), timing the
/// graph merge, the optimization, the run and the release of the plan
/// separately.
pub fn timed_compute<C: Collection + ?Sized>(
    collection: &C,
    scheduler: &Scheduler,
) -> anyhow::Result<(Phases, C::Output)> {
    collection.validate()?;
    let t0 = Instant::now();
    let mut builder = GraphBuilder::new();
    let mut keys = Vec::new();
    collection.add_to_graph(&mut builder, &mut keys);
    let built = builder.len();
    let graph = builder.build()?;
    let t1 = Instant::now();
    let ids = graph.ids_of(&keys)?;
    let plan = Plan::from_graph(graph, &ids, PlanOptions::default());
    let t2 = Instant::now();
    let values = scheduler.execute(&plan, &[])?;
    let t3 = Instant::now();
    let run = plan.len();
    drop(plan);
    let out = collection.finalize(&mut values.into_iter())?;
    let t4 = Instant::now();
    let phases = Phases {
        sizes: Sizes { built, run },
        merge_s: (t1 - t0).as_secs_f64(),
        optimize_s: (t2 - t1).as_secs_f64(),
        run_s: (t3 - t2).as_secs_f64(),
        release_s: (t4 - t3).as_secs_f64(),
    };
    Ok((phases, out))
}
