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
//! * [`Collection`] — what `compute` accepts; [`compute`] — the pipeline
//!   every collection goes through, and [`executor::current`] — the
//!   executor in force;
//! * [`Kernel`] — task operations that are data (a registered name plus
//!   serde parameters), so graphs can leave the process ([`wire`]);
//! * [`Value`] — results, with real sizes ([`SizeOf`]) and codecs
//!   ([`codec`]); [`Tokenizer`] — deterministic keys;
//! * [`Annotations`] — priority, retries, resources, allowed workers;
//! * [`Error`].
//!
//! Users normally reach these through the `rask` facade crate.

mod annotations;
mod builder;
pub mod callbacks;
pub mod codec;
mod collection;
pub mod compute;
mod error;
pub mod executor;
mod graph;
pub mod kernel;
mod key;
mod key_index;
pub mod optimize;
pub mod order;
mod panics;
mod plan;
pub mod size;
pub mod splitmix;
mod token;
mod value;
pub mod wire;

pub use annotations::Annotations;
pub use builder::GraphBuilder;
pub use collection::{Collection, Persist};
pub use error::{BoxError, Error, Result, TaskError};
pub use executor::{Callback, CancelToken, Executor};
pub use graph::{
    Arg, Call, CallBody, Dependents, Deps, Graph, Held, KernelOp, Op, Program, Step, Task, TaskFn,
    TaskId,
};
pub use kernel::{DynKernel, Kernel};
pub use key::{Key, fresh_token};
pub use plan::{Plan, PlanOptions};
pub use size::SizeOf;
pub use token::Tokenizer;
pub use value::{Shared, Value};

/// Re-exported for the registration macros.
#[doc(hidden)]
pub use inventory;
