//! Running tasks: the worker's own threads and what one task run does.
//!
//! The state machine hands ready tasks to a pool of `nthreads` OS threads:
//! one per thread, and, while tasks are short, one more per thread queued
//! ahead so that a thread never sleeps between two tiny tasks.
//! A thread decodes the task's operation, runs it on its inputs, and, when
//! the scheduler asked for small results inline, encodes the result; then it
//! reports a [`Done`] back to the state machine.
//!
//! Failures are data: an error returned by the task, a panic (caught, kept
//! quiet by rask-core's panic hook, and reported with its location), or an
//! operation this build cannot decode — a kernel or value type that is not
//! registered here is [`FailureKind::Missing`] with a message that says how
//! to start workers that have it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rask_core::wire::{self, WireOp};
use rask_core::{Error, Key, TaskError, Value};
use rask_protocol::FailureKind;

use crate::store::tag_of;

/// A task handed to a thread: everything it needs to run.
pub(crate) struct ExecTask {
    /// Its key.
    pub(crate) key: Key,
    /// Its operation: postcard bytes of a [`WireOp`].
    pub(crate) op: Vec<u8>,
    /// Its inputs, in argument order.
    pub(crate) args: Vec<Value>,
    /// Encode the result for the scheduler when it is at most this many
    /// bytes (0: never).
    pub(crate) inline_limit: u64,
}

/// What came of running a task.
pub(crate) enum Outcome {
    /// It produced a value.
    Finished {
        /// The value.
        value: Value,
        /// Its encoding, when small enough to go inline.
        inline: Option<Vec<u8>>,
    },
    /// It failed.
    Failed {
        /// Why, in the scheduler's terms.
        kind: FailureKind,
        /// The operation's display name ("" when it did not decode).
        op: String,
        /// The cause, meant for people.
        message: String,
    },
}

/// A finished run, reported to the state machine.
pub(crate) struct Done {
    /// The task's key.
    pub(crate) key: Key,
    /// What came of it.
    pub(crate) outcome: Outcome,
    /// How long it ran.
    pub(crate) duration: Duration,
}

/// Runs one task: decode, run, encode small results.
pub(crate) fn run_task(task: ExecTask) -> Done {
    let start = Instant::now();
    let outcome = outcome_of(&task);
    Done {
        key: task.key,
        outcome,
        duration: start.elapsed(),
    }
}

fn outcome_of(task: &ExecTask) -> Outcome {
    let op = match wire::decode_op_bytes(&task.key, &task.op, None) {
        Ok(op) => op,
        Err(e) => {
            return match missing_in_build(&task.op) {
                Some((op, message)) => Outcome::Failed {
                    kind: FailureKind::Missing,
                    op,
                    message,
                },
                None => Outcome::Failed {
                    kind: FailureKind::Task,
                    op: String::new(),
                    message: e.to_string(),
                },
            };
        }
    };
    // `Op::run` catches panics in task code itself (quietly); this outer
    // guard keeps a thread alive should anything else panic.
    let result = catch_unwind(AssertUnwindSafe(|| op.run(&task.key, &task.args))).unwrap_or_else(
        |payload| {
            Err(Error::Task {
                key: task.key.clone(),
                op: op.name().to_string(),
                cause: TaskError::from_panic(payload),
            })
        },
    );
    match result {
        Ok(value) => {
            let inline = inline_encoding(&value, task.inline_limit);
            Outcome::Finished { value, inline }
        }
        Err(Error::Task {
            key,
            op: step,
            cause,
        }) => Outcome::Failed {
            kind: FailureKind::Task,
            op: op.name().to_string(),
            message: if key == task.key {
                cause.to_string()
            } else {
                // A step of a fused task failed: say which.
                format!("in step {key} (operation `{step}`): {cause}")
            },
        },
        Err(e) => Outcome::Failed {
            kind: FailureKind::Task,
            op: op.name().to_string(),
            message: e.to_string(),
        },
    }
}

/// The encoding of `value` when it has a codec and encodes to at most
/// `limit` bytes.
fn inline_encoding(value: &Value, limit: u64) -> Option<Vec<u8>> {
    // `nbytes` is close to the encoded size for registered types; a value
    // far bigger than the limit is not encoded just to find out.
    if limit == 0 || value.nbytes() as u64 > limit.saturating_mul(2) || tag_of(value).is_empty() {
        return None;
    }
    match value.encode() {
        Ok(e) if e.bytes.len() as u64 <= limit => Some(e.bytes),
        Ok(_) => None,
        Err(e) => {
            tracing::debug!("result not sent inline: {e}");
            None
        }
    }
}

/// When an operation failed to decode because this build lacks one of its
/// kernels or value types: the operation's name and the message for the
/// scheduler.
fn missing_in_build(bytes: &[u8]) -> Option<(String, String)> {
    let op: WireOp = wire::from_bytes(bytes, "an operation").ok()?;
    missing_in(&op)
}

fn missing_in(op: &WireOp) -> Option<(String, String)> {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "an unknown executable".into());
    let advice = "start workers from your own program (call rask::distributed::init() at the \
                  top of main) or use only built-in operations with the generic `rask worker`";
    match op {
        WireOp::Kernel { name, label, .. } if rask_core::kernel::lookup(name).is_none() => Some((
            label.clone(),
            format!("kernel `{name}` is not in this worker's build (`{exe}`): {advice}"),
        )),
        WireOp::Value { tag, .. } if rask_core::codec::entry_for_tag(tag).is_none() => Some((
            "value".into(),
            format!("value type `{tag}` is not in this worker's build (`{exe}`): {advice}"),
        )),
        WireOp::Fused { steps } => steps.iter().find_map(|s| missing_in(&s.op)),
        _ => None,
    }
}

/// The worker's task threads.
///
/// Results go back in batches: a thread that has another task waiting for
/// it keeps its results until its queue runs dry, the batch is
/// [`RESULT_BATCH_AGE`] old or [`RESULT_BATCH_LEN`] long, so a stream of
/// tiny tasks costs one wake-up of the worker's loop per batch instead of
/// one per task. A thread with nothing more to run reports at once, so a
/// lone task's result is never held back.
pub(crate) struct Pool {
    queue: Option<mpsc::Sender<ExecTask>>,
    threads: Vec<JoinHandle<()>>,
}

/// A thread reports its results at the latest when the oldest is this old.
const RESULT_BATCH_AGE: Duration = Duration::from_micros(500);
/// ... or when it holds this many.
const RESULT_BATCH_LEN: usize = 64;

impl Pool {
    /// Starts `nthreads` threads named after the worker; each reports its
    /// runs to `done`, in batches (see [`Pool`]).
    ///
    /// `after_task` runs on the thread after each task (the worker watches
    /// its memory there).
    pub(crate) fn start(
        nthreads: usize,
        worker: &str,
        done: impl Fn(Vec<Done>) + Send + Sync + 'static,
        after_task: impl Fn() + Send + Sync + 'static,
    ) -> std::io::Result<Pool> {
        let (tx, rx) = mpsc::channel::<ExecTask>();
        let rx = Arc::new(Mutex::new(rx));
        let done = Arc::new(done);
        let after_task = Arc::new(after_task);
        let mut threads = Vec::with_capacity(nthreads);
        for i in 0..nthreads.max(1) {
            let rx = Arc::clone(&rx);
            let done = Arc::clone(&done);
            let after_task = Arc::clone(&after_task);
            let thread = std::thread::Builder::new()
                .name(format!("rask-worker-{worker}-{i}"))
                .spawn(move || {
                    let mut batch: Vec<Done> = Vec::new();
                    let mut oldest = Instant::now();
                    loop {
                        // The lock is held only while taking the next task,
                        // never while running one.
                        let next = if batch.is_empty() {
                            rx.lock().unwrap_or_else(|p| p.into_inner()).recv().ok()
                        } else {
                            // With results in hand, never wait: not for a
                            // task, and not for the lock, which an idle
                            // thread holds while it waits for one (the
                            // results would wait with it).
                            let taken = match rx.try_lock() {
                                Ok(rx) => rx.try_recv(),
                                Err(std::sync::TryLockError::Poisoned(p)) => {
                                    p.into_inner().try_recv()
                                }
                                Err(std::sync::TryLockError::WouldBlock) => {
                                    Err(mpsc::TryRecvError::Empty)
                                }
                            };
                            match taken {
                                Ok(task) => Some(task),
                                Err(mpsc::TryRecvError::Disconnected) => None,
                                Err(mpsc::TryRecvError::Empty) => {
                                    done(std::mem::take(&mut batch));
                                    continue;
                                }
                            }
                        };
                        let Some(task) = next else { break };
                        if batch.is_empty() {
                            oldest = Instant::now();
                        }
                        batch.push(run_task(task));
                        after_task();
                        if batch.len() >= RESULT_BATCH_LEN || oldest.elapsed() >= RESULT_BATCH_AGE {
                            done(std::mem::take(&mut batch));
                        }
                    }
                    if !batch.is_empty() {
                        done(batch);
                    }
                })?;
            threads.push(thread);
        }
        Ok(Pool {
            queue: Some(tx),
            threads,
        })
    }

    /// Hands a task to an idle thread.
    pub(crate) fn execute(&self, task: ExecTask) {
        if let Some(q) = &self.queue {
            // The threads exit only when `queue` is dropped, so the send
            // succeeds while the pool lives.
            let _ = q.send(task);
        }
    }

    /// Stops the threads after the tasks they are running, waiting for them
    /// when `join`.
    pub(crate) fn stop(mut self, join: bool) {
        self.queue = None;
        if join {
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rask_core::Op;

    fn task(op: &Op, args: Vec<Value>, inline_limit: u64) -> ExecTask {
        let key = Key::new("t");
        ExecTask {
            op: wire::encode_op_bytes(&key, op).unwrap(),
            key,
            args,
            inline_limit,
        }
    }

    #[test]
    fn a_value_task_runs_and_small_results_go_inline() {
        let op = Op::value(Value::new(vec![1u32, 2, 3]));
        let done = run_task(task(&op, vec![], 1000));
        let Outcome::Finished { value, inline } = done.outcome else {
            panic!("failed")
        };
        assert_eq!(value.downcast_ref::<Vec<u32>>(), Some(&vec![1, 2, 3]));
        let tag = tag_of(&value);
        let back = Value::decode(&tag, &inline.unwrap()).unwrap();
        assert_eq!(back.downcast_ref::<Vec<u32>>(), Some(&vec![1, 2, 3]));

        let done = run_task(task(&op, vec![], 2));
        assert!(matches!(
            done.outcome,
            Outcome::Finished { inline: None, .. }
        ));
    }

    #[test]
    fn bad_bytes_fail_the_task_without_panicking() {
        let done = run_task(ExecTask {
            key: Key::new("t"),
            op: vec![200, 1, 2],
            args: vec![],
            inline_limit: 0,
        });
        let Outcome::Failed { kind, message, .. } = done.outcome else {
            panic!("ran")
        };
        assert_eq!(kind, FailureKind::Task);
        assert!(message.contains("t"), "{message}");
    }

    #[test]
    fn an_unknown_kernel_is_missing_from_the_build() {
        let op = WireOp::Kernel {
            name: "nowhere.kernel".into(),
            label: "kernel".into(),
            blockwise: false,
            params: vec![],
        };
        let done = run_task(ExecTask {
            key: Key::new("t"),
            op: wire::to_bytes(&op, "op").unwrap(),
            args: vec![],
            inline_limit: 0,
        });
        let Outcome::Failed { kind, message, .. } = done.outcome else {
            panic!("ran")
        };
        assert_eq!(kind, FailureKind::Missing);
        assert!(message.contains("kernel `nowhere.kernel` is not in this worker's build"));
        assert!(message.contains("rask::distributed::init()"));
    }

    /// A pool of two threads that sends the key of each run to the
    /// receiver.
    fn counting_pool() -> (Pool, mpsc::Receiver<Key>) {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let pool = Pool::start(
            2,
            "p",
            move |ds| {
                for d in ds {
                    let _ = tx.lock().unwrap().send(d.key);
                }
            },
            || {},
        )
        .unwrap();
        (pool, rx)
    }

    #[test]
    fn a_result_is_reported_while_another_thread_waits_for_work() {
        // One task at a time on two threads: the idle thread holds the
        // queue's lock while it waits; the busy one must still report.
        let (pool, rx) = counting_pool();
        for _ in 0..50 {
            pool.execute(task(&Op::value(Value::new(1u8)), vec![], 0));
            assert!(rx.recv_timeout(Duration::from_secs(10)).is_ok());
        }
        pool.stop(true);
    }

    #[test]
    fn the_pool_runs_tasks_on_its_threads() {
        let (pool, rx) = counting_pool();
        for _ in 0..3 {
            pool.execute(task(&Op::value(Value::new(1u8)), vec![], 0));
        }
        for _ in 0..3 {
            assert_eq!(
                rx.recv_timeout(Duration::from_secs(10)).unwrap(),
                Key::new("t")
            );
        }
        pool.stop(true);
    }
}
