//! The graph model of rask.
//!
//! Everything in rask becomes a task graph before it runs. This crate holds
//! that model and the steps between building a graph and running it:
//!
//! * [`Key`] — stable, printable task names with an optional block index;
//! * [`Graph`] / [`GraphBuilder`] — tasks in an arena addressed by
//!   [`TaskId`], merged by key, checked for cycles and dangling dependencies;
//! * [`optimize`] — culling, and fusion of linear chains and blockwise trees;
//! * [`order`] — static priorities that finish branches before starting new
//!   ones, so memory stays low;
//! * [`Plan`] — the optimized, ordered graph that executors run;
//! * [`Executor`] / [`Callback`] — how collections reach schedulers and how
//!   diagnostics watch them;
//! * [`Collection`] — what `compute` accepts;
//! * [`Value`] and [`Error`].
//!
//! Users normally reach these through the `rask` facade crate.

mod collection;
mod error;
mod executor;
mod graph;
mod key;
pub mod optimize;
pub mod order;
mod plan;
mod value;

pub use collection::Collection;
pub use error::{BoxError, Error, Result, TaskError};
pub use executor::{Callback, Executor};
pub use graph::{
    Arg, Call, Dependents, Graph, GraphBuilder, Op, Program, Step, Task, TaskFn, TaskId,
};
pub use key::{Key, fresh_token};
pub use plan::{Plan, PlanOptions};
pub use value::{Shared, Value};
