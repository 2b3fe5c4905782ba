//! Integration tests of the local schedulers, run through the public
//! [`Executor`](rask_core::Executor) API with hand-built plans.

mod memory;
mod support;
mod threads;
