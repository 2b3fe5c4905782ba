//! Task annotations: priority, retries, resources and allowed workers.
//!
//! As with Dask's `dask.annotate`, annotations travel with tasks into the
//! executor. The local schedulers honour `priority` (among ready tasks, a
//! higher priority runs first; a task's dependencies inherit its priority so
//! the order stays a valid one) and `retries` (a failed task is run again up
//! to that many times). The distributed scheduler honours all four. Fusion
//! keeps annotations: tasks with different annotations are never fused.
//!
//! ```
//! use std::sync::Arc;
//! use rask_core::Annotations;
//! let a = Annotations::default().priority(10).retries(2).resource("GPU", 1.0);
//! assert_eq!(a.priority, 10);
//! assert_eq!(a.resources, vec![("GPU".to_string(), 1.0)]);
//! assert!(!a.is_empty());
//! assert!(Annotations::default().is_empty());
//! ```

use serde::{Deserialize, Serialize};

/// Annotations of a task; see the module docs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Annotations {
    /// Higher runs first among ready tasks (Dask's convention); default 0.
    pub priority: i32,
    /// How many times a failed task is run again before its error counts.
    pub retries: u32,
    /// Abstract resources a task needs on its worker, like `("GPU", 1.0)`.
    pub resources: Vec<(String, f64)>,
    /// Workers (by name or address) allowed to run the task; empty is any.
    pub workers: Vec<String>,
}

impl Annotations {
    /// With `priority`.
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// With `retries`.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// With a resource requirement added.
    pub fn resource(mut self, name: impl Into<String>, amount: f64) -> Self {
        self.resources.push((name.into(), amount));
        self
    }

    /// With a worker added to the allowed ones.
    pub fn worker(mut self, worker: impl Into<String>) -> Self {
        self.workers.push(worker.into());
        self
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == Annotations::default()
    }
}
