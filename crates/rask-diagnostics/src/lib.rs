//! Diagnostics of rask: where the time and the memory of a compute go.
//!
//! * [`Profiler`] records every task of every compute while it is
//!   registered: key, operation, worker, start, end, success and the size
//!   of its result; [`Profiler::by_prefix`] sums them per key prefix, and
//!   [`RunRecord::memory`] gives the bytes held by results over time.
//! * [`ResourceProfiler`] samples the process's RSS and CPU use on a
//!   thread (Linux only; elsewhere it records nothing).
//! * [`report`] writes both into one self-contained HTML file: a task
//!   stream, memory and CPU over time, and a summary table.
//!
//! As with Dask's `with Profiler() as prof, ResourceProfiler() as rprof:`,
//! both record from `start` until their guard is finished or dropped, for
//! every compute in the process (on any thread), through
//! [`rask_local::callbacks::register`].
//!
//! ```
//! use rask_core::{GraphBuilder, Key, Op, Value};
//! use rask_diagnostics::{Profiler, ResourceProfiler, report};
//! use rask_local::Scheduler;
//!
//! # fn main() -> rask_core::Result<()> {
//! let mut b = GraphBuilder::new();
//! let parts: Vec<Key> = (0..8).map(|i| Key::with_index("doc-part", &[i])).collect();
//! for (i, k) in parts.iter().enumerate() {
//!     let make = Op::call("make", move |_: &[Value]| Ok(Value::with_nbytes(vec![i as u8; 1000], 1000)));
//!     b.insert(k.clone(), make, vec![]);
//! }
//! let total = Op::call("total", |xs: &[Value]| {
//!     let mut n = 0usize;
//!     for (i, x) in xs.iter().enumerate() { n += x.get::<Vec<u8>>(i)?.len(); }
//!     Ok(Value::with_nbytes(n, 8))
//! });
//! b.insert(Key::new("doc-total"), total, parts);
//!
//! let prof = Profiler::start();
//! let rprof = ResourceProfiler::start()?;
//! let out = Scheduler::threads(2)?.get(b.build()?, &[Key::new("doc-total")])?;
//! let (prof, rprof) = (prof.finish(), rprof.finish());
//! assert_eq!(out[0].downcast_ref::<usize>(), Some(&8000));
//!
//! // Other threads of this process may compute too: look at our run only.
//! let run = prof.runs().into_iter().find(|r| r.outputs == [Key::new("doc-total")]).unwrap();
//! let mine: Vec<_> = prof.records().into_iter().filter(|t| t.run == run.index).collect();
//! assert_eq!(mine.len(), 9);
//! assert_eq!(mine.iter().map(|t| t.nbytes).sum::<u64>(), 8 * 1000 + 8);
//! assert_eq!(run.memory.last().unwrap().1, 8); // only the output is left
//!
//! let dir = std::env::temp_dir().join(format!("rask-doc-profile-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! report(dir.join("profile.html"), &prof, Some(&rprof))?;
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(())
//! # }
//! ```

mod profiler;
mod report;
mod resources;

pub use profiler::{PrefixSummary, Profiler, ProfilerGuard, RunRecord, TaskRecord};
pub use report::{report, report_html};
pub use resources::{ResourceGuard, ResourceProfiler, Sample};

#[cfg(test)]
mod tests;
