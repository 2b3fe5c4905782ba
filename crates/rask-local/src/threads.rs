//! The thread-pool scheduler: one OS thread per core, work stealing, ready
//! tasks taken in priority order.
//!
//! # Design
//!
//! Each compute starts `n - 1` scoped threads and uses the calling thread as
//! the n-th worker, so nothing outlives the call and a task may itself call
//! `compute` without deadlocking a shared pool.
//!
//! * **Nested computes** run on the calling thread only. A thread-local flag
//!   marks the threads that are workers of a running compute; a compute
//!   started from a task on such a thread starts no threads and runs its
//!   plan there, in priority order (as [`SyncExecutor`](crate::SyncExecutor)
//!   would, reporting worker 0 to callbacks). So `n` workers whose tasks
//!   each compute still use `n` threads, not `n²`.
//!
//! * **Roots** (tasks without dependencies) sit in one vector sorted by
//!   priority; workers claim them with a compare-and-swap on a cursor.
//! * **Ready queues**: when a task finishes, the dependents it made ready go
//!   to the finishing worker's own priority heap — they need the value it just
//!   made, so running them there keeps data in its cache.
//! * **Taking work** is one policy: the best of (own heap's top, next root),
//!   else steal the best task from another worker's heap, else sleep.
//!   "Best" is the lowest static priority (`rask_core::order`), so every
//!   worker finishes the branch it is on before starting a new root.
//! * **Release**: each task counts its outstanding dependents; the value is
//!   dropped when the last one has run (outputs are kept).
//! * **Memory**: results live in a [`SpillStore`] (sharded maps, one lock
//!   each, held only to put, clone or take a handle). With a memory limit
//!   (`memory-limit`, by default a fraction of RAM), a finished task that
//!   takes the store over its goal spills the results that no running task
//!   holds, those read last first: each result carries the priority of
//!   the first of its readers that has not run (updated as they run), and
//!   the highest goes first, least recently used among equals; a monitor
//!   thread samples RSS every 100 ms and lowers the goal by the unmanaged
//!   memory it sees (see
//!   `rask_memory::MemoryGauge`). Spilled results are read back when a
//!   dependent runs. Spill files are removed when the run ends.
//! * **Pause**: above the pause threshold (results held plus the last
//!   unmanaged figure, or the sampled RSS) a worker takes no new *root*
//!   task — tasks whose inputs are ready still run, and they are what
//!   releases memory. Paused workers with nothing else to do look again
//!   every few milliseconds. Never a deadlock: when every other worker is
//!   idle, nothing is running that could free memory, so a root starts
//!   anyway.
//! * **Sleeping** uses a counter of queued tasks (`ready`) checked under the
//!   sleep lock, and a pusher that sees sleepers notifies under the same lock,
//!   so a wake-up is never lost. A worker that pushes tasks runs one of them
//!   itself and wakes one sleeper for each of the others (all sleepers when
//!   there are more tasks than sleepers): a root that makes a thousand tasks
//!   ready puts every core to work, and a chain wakes nobody.
//! * **Failure**: the first error is kept, a flag stops all workers from
//!   starting new tasks, sleepers are woken, and the error is returned after
//!   every thread has joined. State lives in the call, so the executor is
//!   usable again at once.
//! * **Panics outside tasks** — in a [`Callback`], in the `Drop` of a value
//!   being released, or anywhere else on a worker — are caught too and fail
//!   the run like a task error (the guards live in `sync.rs`); a worker never
//!   dies and leaves the others waiting for a task that will not finish.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use rask_core::{Callback, CancelToken, Dependents, Error, Executor, Plan, Result, TaskId, Value};
use rask_memory::{MemoryGauge, MemoryPolicy, NEXT_USE_UNKNOWN, SpillError, SpillStore};

use crate::sync::{drop_guarded, drop_quietly, guard_callback, panic_message, with_run_callbacks};

thread_local! {
    /// Whether this thread is a worker of a running threads compute.
    static IN_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as a worker until dropped.
struct WorkerMark {
    previous: bool,
}

impl WorkerMark {
    fn set() -> Self {
        WorkerMark {
            previous: IN_WORKER.with(|w| w.replace(true)),
        }
    }
}

impl Drop for WorkerMark {
    fn drop(&mut self) {
        IN_WORKER.with(|w| w.set(self.previous));
    }
}

/// A pool of worker threads, one per core by default.
///
/// ```
/// use rask_core::{Executor, GraphBuilder, Key, Op, Plan, PlanOptions, Value};
/// use rask_local::ThreadsExecutor;
/// let pool = ThreadsExecutor::new(2).unwrap();
/// let mut b = GraphBuilder::new();
/// for i in 0..10i64 {
///     b.insert(Key::new(format!("x-{i}")), Op::value(Value::new(i)), vec![]);
/// }
/// let keys: Vec<Key> = (0..10).map(|i| Key::new(format!("x-{i}"))).collect();
/// b.insert(Key::new("sum"), Op::call("sum", |xs: &[Value]| {
///     let mut s = 0i64;
///     for (i, x) in xs.iter().enumerate() { s += x.get::<i64>(i)?; }
///     Ok(Value::new(s))
/// }), keys);
/// let plan = Plan::new(b, &[Key::new("sum")], PlanOptions::default()).unwrap();
/// let out = pool.execute(&plan, &[]).unwrap();
/// assert_eq!(*out[0].downcast_ref::<i64>().unwrap(), 45);
/// assert!(ThreadsExecutor::new(0).is_err());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ThreadsExecutor {
    threads: usize,
}

impl ThreadsExecutor {
    /// A pool of `threads` workers; zero is an error.
    pub fn new(threads: usize) -> Result<Self> {
        if threads == 0 {
            return Err(Error::invalid(
                "number of threads",
                "0 threads cannot run anything; ask for at least 1 (or leave it unset for one per core)",
            ));
        }
        Ok(ThreadsExecutor { threads })
    }

    /// One worker per core.
    pub fn per_core() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        ThreadsExecutor { threads }
    }

    /// Number of workers.
    pub fn threads(&self) -> usize {
        self.threads
    }
}

impl ThreadsExecutor {
    fn run(
        &self,
        plan: &Plan,
        callbacks: &[&dyn Callback],
        cancel: Option<&CancelToken>,
    ) -> Result<Vec<Value>> {
        // Inside a worker, the other cores are already busy with this
        // compute's siblings: run the nested plan here, with no new threads.
        let nested = IN_WORKER.with(Cell::get);
        let threads = if nested {
            1
        } else {
            self.threads.min(plan.len().max(1))
        };
        // A nested compute runs inside a task of an outer one, whose
        // memory manager already watches the process.
        let policy = if nested {
            None
        } else {
            let config = rask_config::try_get()?;
            Some(MemoryPolicy::from_config(&config)?).filter(|p| p.limit > 0)
        };
        with_run_callbacks(plan, callbacks, || {
            execute(plan, callbacks, threads, cancel, policy)
        })
    }
}

impl Executor for ThreadsExecutor {
    fn execute(&self, plan: &Plan, callbacks: &[&dyn Callback]) -> Result<Vec<Value>> {
        self.run(plan, callbacks, None)
    }

    fn execute_cancellable(
        &self,
        plan: &Plan,
        callbacks: &[&dyn Callback],
        cancel: &CancelToken,
    ) -> Result<Vec<Value>> {
        self.run(plan, callbacks, Some(cancel))
    }

    fn name(&self) -> &str {
        "threads"
    }

    fn workers(&self) -> Option<usize> {
        Some(self.threads)
    }
}

/// When the result of `t` is next read: the lowest priority among its
/// dependents that have not run (`waiting` is [`FINISHED`] for those that
/// have), or [`NEXT_USE_UNKNOWN`] for none (an output, read when the run
/// ends). The store spills the value read last first (see
/// `rask_memory::SpillStore::set_next_use`).
fn next_use(dependents: &Dependents, waiting: &[AtomicU32], priority: &[u32], t: TaskId) -> u32 {
    dependents
        .of(t)
        .iter()
        .filter(|u| waiting[u.index()].load(Ordering::Acquire) != FINISHED)
        .map(|u| priority[u.index()])
        .min()
        .unwrap_or(NEXT_USE_UNKNOWN)
}

/// Keeps each worker's queue on its own cache lines.
#[repr(align(128))]
struct Padded<T>(T);

type ReadyHeap = BinaryHeap<Reverse<(u32, TaskId)>>;

/// Shared state of one run.
struct Run<'a> {
    plan: &'a Plan,
    callbacks: &'a [&'a dyn Callback],
    dependents: &'a Dependents,
    /// Unfinished dependencies per task; [`FINISHED`] once it has run.
    waiting: Vec<AtomicU32>,
    /// Dependents per task that have not run yet.
    refs: Vec<AtomicU32>,
    /// Results, present from the task's end until its last dependent ran;
    /// in memory or spilled.
    store: SpillStore<u32>,
    /// The memory limit, when there is one.
    gauge: Option<MemoryGauge>,
    /// Set when the workers are done, for the monitor thread.
    finished: AtomicBool,
    keep: Vec<bool>,
    roots: Vec<TaskId>,
    next_root: AtomicUsize,
    queues: Vec<Padded<Mutex<ReadyHeap>>>,
    /// Tasks in queues plus roots not yet claimed.
    ready: AtomicUsize,
    /// Tasks not yet finished.
    remaining: AtomicUsize,
    failed: AtomicBool,
    error: Mutex<Option<Error>>,
    sleepers: AtomicUsize,
    sleep_lock: Mutex<()>,
    wake: Condvar,
    /// Checked before every task; sleepers wake now and then to look.
    cancel: Option<&'a CancelToken>,
}

/// `waiting` of a task that has run: its count reached zero before it
/// started, and nothing counts it down again.
const FINISHED: u32 = u32::MAX;

/// Dependents above which the next use of a result is not followed as its
/// readers run: it keeps the priority of its first reader, which marks it
/// as needed soon (a value read by many is rarely worth spilling), and
/// each update would scan all of them.
const NEXT_USE_SCAN_LIMIT: usize = 64;

/// How often a sleeping worker looks at a cancel token.
const CANCEL_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// How often a worker paused for memory looks again.
const PAUSE_POLL: std::time::Duration = std::time::Duration::from_millis(5);

/// How often worker threads sample the process's memory between tasks, at
/// most (reading RSS costs a few microseconds).
const INLINE_SAMPLE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// How often the monitor samples the process's memory.
const SAMPLE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// Peak managed memory above which a run hands freed memory back to the
/// operating system when it ends...
const TRIM_AFTER: u64 = 64 << 20;
/// ...if its peak RSS also reached this fraction (1 / n) of the memory
/// limit, or it spilled. A run that held little of what the limit allows
/// keeps its freed pages for the next run (mimalloc still purges them
/// after its delay): giving them back and faulting them in again costs a
/// short query up to a fifth of its time.
const TRIM_SHARE: u64 = 4;

fn execute(
    plan: &Plan,
    callbacks: &[&dyn Callback],
    threads: usize,
    cancel: Option<&CancelToken>,
    policy: Option<MemoryPolicy>,
) -> Result<Vec<Value>> {
    let graph = &plan.graph;
    let store = SpillStore::new(
        policy
            .as_ref()
            .map(|p| p.spill_options.clone())
            .unwrap_or_default(),
    );
    let gauge = policy.map(MemoryGauge::new);
    if let Some(g) = &gauge {
        g.attach(&store);
    }
    let n = graph.len();
    let mut keep = vec![false; n];
    for o in &plan.outputs {
        keep[o.index()] = true;
    }
    let mut roots: Vec<TaskId> = (0..n as u32)
        .map(TaskId)
        .filter(|t| graph.task(*t).deps.is_empty())
        .collect();
    roots.sort_unstable_by_key(|t| plan.priority[t.index()]);
    let dependents = graph.dependents();
    let run = Run {
        plan,
        callbacks,
        dependents,
        waiting: graph
            .tasks()
            .iter()
            .map(|t| AtomicU32::new(t.deps.len() as u32))
            .collect(),
        refs: (0..n as u32)
            .map(|i| AtomicU32::new(dependents.of(TaskId(i)).len() as u32))
            .collect(),
        store,
        gauge,
        finished: AtomicBool::new(false),
        keep,
        ready: AtomicUsize::new(roots.len()),
        roots,
        next_root: AtomicUsize::new(0),
        queues: (0..threads)
            .map(|_| Padded(Mutex::new(BinaryHeap::new())))
            .collect(),
        remaining: AtomicUsize::new(n),
        failed: AtomicBool::new(false),
        error: Mutex::new(None),
        sleepers: AtomicUsize::new(0),
        sleep_lock: Mutex::new(()),
        wake: Condvar::new(),
        cancel,
    };
    if n > 0 {
        std::thread::scope(|s| {
            let monitor = run.gauge.as_ref().and_then(|_| {
                let run = &run;
                std::thread::Builder::new()
                    .name("rask-memory".into())
                    .spawn_scoped(s, move || run.guarded_monitor())
                    .ok()
            });
            let mut workers = Vec::with_capacity(threads.saturating_sub(1));
            for w in 1..threads {
                let run = &run;
                let spawned = std::thread::Builder::new()
                    .name(format!("rask-worker-{w}"))
                    .spawn_scoped(s, move || run.work(w));
                match spawned {
                    Ok(h) => workers.push(h),
                    Err(e) => {
                        run.fail(Error::Scheduler(format!(
                            "cannot start worker thread {w}: {e}"
                        )));
                        break;
                    }
                }
            }
            run.work(0);
            for h in workers {
                // `work` catches every panic, so a worker always returns.
                let _ = h.join();
            }
            run.finished.store(true, Ordering::Release);
            if let Some(m) = monitor {
                m.thread().unpark();
            }
        });
    }
    run.warn_unspillable();
    let stats = run.gauge.as_ref().map(|g| g.stats(&run.store));
    let Run { store, error, .. } = run;
    if let Some(e) = into_inner(error) {
        // Values left by a failed run: a panic dropping one must not
        // replace the error that stopped the run.
        drop_quietly(store);
        finish_memory(stats);
        return Err(e);
    }
    let out: Result<Vec<Value>> = plan
        .outputs
        .iter()
        .map(|o| match store.get(&o.0) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(Error::Scheduler(format!(
                "internal error: output {} has no value",
                graph.task(*o).key
            ))),
            Err(e) => Err(spill_error(plan, e)),
        })
        .collect();
    // Only outputs are left; `out` holds their values now. Dropping the
    // store removes its spill files.
    let released = drop_guarded(plan, None, store);
    finish_memory(stats);
    match (out, released) {
        (Ok(out), Ok(())) => Ok(out),
        (Err(e), _) | (Ok(_), Err(e)) => Err(e),
    }
}

/// Publishes a run's last memory figures and, after a run that held a lot,
/// hands freed memory back to the operating system.
fn finish_memory(stats: Option<rask_memory::MemoryStats>) {
    let Some(mut stats) = stats else {
        return;
    };
    rask_memory::set_memory_pressure(false);
    let held_much = stats.peak_managed > TRIM_AFTER && stats.peak_rss >= stats.limit / TRIM_SHARE;
    if held_much || stats.spills > 0 {
        rask_memory::release_free_memory();
    }
    stats.managed = 0;
    stats.spilled = 0;
    stats.spilled_disk = 0;
    stats.spilled_count = 0;
    stats.paused = false;
    if let Some(rss) = rask_memory::private_rss_bytes() {
        stats.rss = rss;
        stats.unmanaged = rss;
    }
    crate::memory::publish(stats);
}

/// A store error as rask's error, naming the task's key.
fn spill_error(plan: &Plan, e: SpillError<u32>) -> Error {
    e.map_key(|id| plan.graph.task(TaskId(id)).key.to_string())
        .into_error()
}

/// Locks, ignoring poisoning: no code panics while holding these locks
/// (task code, callbacks and drops of values run outside them, behind
/// `catch_unwind`).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn into_inner<T>(m: Mutex<T>) -> T {
    m.into_inner().unwrap_or_else(|p| p.into_inner())
}

impl Run<'_> {
    /// Runs tasks until none are left or the run failed. A panic that
    /// escapes the guards around tasks, callbacks and drops fails the run
    /// instead of killing this worker while the others wait for its task.
    fn work(&self, w: usize) {
        let _mark = WorkerMark::set();
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.work_loop(w))) {
            self.fail(Error::Scheduler(format!(
                "worker thread {w} panicked outside any task: {}",
                panic_message(payload)
            )));
        }
    }

    fn work_loop(&self, w: usize) {
        let mut args: Vec<Value> = Vec::new();
        let mut newly_ready: Vec<TaskId> = Vec::new();
        while !self.failed.load(Ordering::Acquire) {
            if self.cancel.is_some_and(CancelToken::is_cancelled) {
                self.fail(Error::Cancelled);
                break;
            }
            match self.next_task(w) {
                Some(t) => self.run_task(w, t, &mut args, &mut newly_ready),
                None if self.remaining.load(Ordering::Acquire) == 0 => break,
                None => self.sleep(),
            }
        }
    }

    /// The policy: own heap or next root, whichever has the better priority;
    /// else steal; else nothing.
    fn next_task(&self, w: usize) -> Option<TaskId> {
        self.take_local_or_root(w).or_else(|| self.steal(w))
    }

    fn take_local_or_root(&self, w: usize) -> Option<TaskId> {
        let prio = &self.plan.priority;
        let mut queue = lock(&self.queues[w].0);
        loop {
            let local = queue.peek().map(|Reverse((p, _))| *p);
            let cursor = self.next_root.load(Ordering::Acquire);
            let root = self.roots.get(cursor).copied();
            let take_root = match (local, root) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(lp), Some(r)) => prio[r.index()] < lp,
            } && self.may_start_root(false);
            if take_root {
                if self
                    .next_root
                    .compare_exchange_weak(cursor, cursor + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    self.ready.fetch_sub(1, Ordering::SeqCst);
                    return root;
                }
                continue;
            }
            let Reverse((_, t)) = queue.pop()?;
            self.ready.fetch_sub(1, Ordering::SeqCst);
            return Some(t);
        }
    }

    fn steal(&self, w: usize) -> Option<TaskId> {
        let n = self.queues.len();
        (1..n).map(|i| (w + i) % n).find_map(|victim| {
            let Reverse((_, t)) = lock(&self.queues[victim].0).pop()?;
            self.ready.fetch_sub(1, Ordering::SeqCst);
            Some(t)
        })
    }

    fn run_task(&self, w: usize, t: TaskId, args: &mut Vec<Value>, newly_ready: &mut Vec<TaskId>) {
        if let Err(e) = self.try_run_task(w, t, args, newly_ready) {
            self.fail(e);
        }
        if let Some(gauge) = &self.gauge {
            // Memory is watched between tasks too: a busy machine may delay
            // the monitor thread while tasks go on allocating.
            let was_paused = gauge.paused();
            match gauge.sample_if_due(&self.store, INLINE_SAMPLE_INTERVAL) {
                Ok(Some(paused)) if was_paused && !paused => self.wake_all(),
                Ok(_) => {}
                Err(e) => self.fail(spill_error(self.plan, e)),
            }
            // Memory freed on this thread goes back to the system when a
            // sample asked for it (allocators with per-thread heaps).
            rask_memory::release_point();
        }
    }

    fn try_run_task(
        &self,
        w: usize,
        t: TaskId,
        args: &mut Vec<Value>,
        newly_ready: &mut Vec<TaskId>,
    ) -> Result<()> {
        let plan = self.plan;
        let task = plan.graph.task(t);
        for cb in self.callbacks {
            guard_callback(plan, "on_task_start", Some(t), || {
                cb.on_task_start(plan, t, w)
            })?;
        }
        args.clear();
        for d in &task.deps {
            match self.store.get(&d.0) {
                Ok(Some(v)) => args.push(v),
                Ok(None) => {
                    return Err(Error::Scheduler(format!(
                        "internal error: the value of {} was released before {} ran",
                        plan.graph.task(*d).key,
                        task.key
                    )));
                }
                Err(e) => return Err(spill_error(plan, e)),
            }
        }
        let result = task.run(args);
        // Clones: the slots still hold these values (released below).
        args.clear();
        let value = match result {
            Ok(value) => {
                let notified = self
                    .callbacks
                    .iter()
                    .try_for_each(|cb| {
                        guard_callback(plan, "on_task_result", Some(t), || {
                            cb.on_task_result(plan, t, w, &value)
                        })
                    })
                    .and_then(|()| {
                        self.callbacks.iter().try_for_each(|cb| {
                            guard_callback(plan, "on_task_finish", Some(t), || {
                                cb.on_task_finish(plan, t, w, true)
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
                for cb in self.callbacks {
                    let _ = guard_callback(plan, "on_task_finish", Some(t), || {
                        cb.on_task_finish(plan, t, w, false)
                    });
                }
                return Err(e);
            }
        };
        // Spilling needs to know when each held value is next read; without
        // a memory limit nothing is spilled, and nothing is followed.
        let managed = self.gauge.is_some();
        if self.keep[t.index()] || self.refs[t.index()].load(Ordering::Relaxed) > 0 {
            let next = if managed {
                self.next_use(t)
            } else {
                NEXT_USE_UNKNOWN
            };
            let old = self.store.insert_with_next_use(t.0, value, next);
            debug_assert!(old.is_none(), "a task runs once");
            self.store
                .spill_if_needed()
                .map_err(|e| spill_error(plan, e))?;
        } else {
            drop_guarded(plan, Some(t), value)?;
        }
        self.waiting[t.index()].store(FINISHED, Ordering::Release);
        let mine = plan.priority[t.index()];
        for d in &task.deps {
            let left = self.refs[d.index()].fetch_sub(1, Ordering::AcqRel) - 1;
            if left == 0 && !self.keep[d.index()] {
                // Taken under the lock, dropped after it is released.
                let released = self.store.remove(&d.0);
                drop_guarded(plan, Some(*d), released)?;
            } else if managed && self.dependents.of(*d).len() <= NEXT_USE_SCAN_LIMIT {
                // This task was the value's next use, or one before it
                // (a reader that finished while the next use was being
                // worked out, unseen): the next is the first of its
                // readers that has not run. A later next use stays.
                self.store
                    .update_next_use(&d.0, |next| (next <= mine).then(|| self.next_use(*d)));
            }
        }
        newly_ready.clear();
        for &c in self.dependents.of(t) {
            if self.waiting[c.index()].fetch_sub(1, Ordering::AcqRel) == 1 {
                newly_ready.push(c);
            }
        }
        if !newly_ready.is_empty() {
            self.push_ready(w, newly_ready);
        }
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.wake_all();
        }
        Ok(())
    }

    /// When the result of `t` is next read (see [`next_use`]).
    fn next_use(&self, t: TaskId) -> u32 {
        next_use(self.dependents, &self.waiting, &self.plan.priority, t)
    }

    fn push_ready(&self, w: usize, tasks: &[TaskId]) {
        let prio = &self.plan.priority;
        let queued = {
            let mut queue = lock(&self.queues[w].0);
            queue.extend(tasks.iter().map(|&t| Reverse((prio[t.index()], t))));
            // Counted before the lock is released, so a thief that pops one
            // of these never sees the counter below the number of tasks.
            self.ready.fetch_add(tasks.len(), Ordering::SeqCst);
            queue.len()
        };
        // This worker runs one of them next; wake a sleeper for each of the
        // others, so a batch of ready tasks reaches every idle core.
        let extra = queued - 1;
        let sleepers = self.sleepers.load(Ordering::SeqCst);
        if extra > 0 && sleepers > 0 {
            let _g = lock(&self.sleep_lock);
            if extra >= sleepers {
                self.wake.notify_all();
            } else {
                for _ in 0..extra {
                    self.wake.notify_one();
                }
            }
        }
    }

    fn sleep(&self) {
        let mut guard = lock(&self.sleep_lock);
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        while self.remaining.load(Ordering::SeqCst) != 0 && !self.failed.load(Ordering::SeqCst) {
            let ready = self.ready.load(Ordering::SeqCst);
            if ready > 0 && !self.paused_with_only_roots(ready) {
                break;
            }
            let timeout = if ready > 0 {
                // Paused: look again soon (spilling or a finishing task
                // may bring memory down).
                Some(PAUSE_POLL)
            } else {
                self.cancel.map(|_| CANCEL_POLL)
            };
            if self.cancel.is_some_and(CancelToken::is_cancelled) {
                break;
            }
            guard = match timeout {
                Some(t) => {
                    self.wake
                        .wait_timeout(guard, t)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => self.wake.wait(guard).unwrap_or_else(|p| p.into_inner()),
            };
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    /// Whether a sleeping worker should stay asleep although `ready` tasks
    /// are counted: memory is paused and all of them are roots.
    fn paused_with_only_roots(&self, ready: usize) -> bool {
        if self.gauge.is_none() {
            return false;
        }
        let claimed = self.next_root.load(Ordering::SeqCst).min(self.roots.len());
        let roots_left = self.roots.len() - claimed;
        ready <= roots_left && !self.may_start_root(true)
    }

    /// Whether a new root task may start: memory is not paused, or every
    /// other worker is idle (then nothing runs that could free memory, and
    /// waiting would deadlock). `sleeping`: whether the caller counts
    /// itself among the sleepers.
    #[inline]
    fn may_start_root(&self, sleeping: bool) -> bool {
        let Some(g) = &self.gauge else {
            return true;
        };
        if !g.should_pause(&self.store) {
            return true;
        }
        let idle = self.sleepers.load(Ordering::SeqCst) + usize::from(!sleeping);
        idle >= self.queues.len()
    }

    /// [`Run::monitor`], with a panic (of code it calls that rask does not
    /// guard itself) failing the run: a panic on a scoped thread would
    /// otherwise come out of `compute`.
    fn guarded_monitor(&self) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.monitor())) {
            self.fail(Error::Scheduler(format!(
                "the memory monitor thread panicked: {}",
                panic_message(payload)
            )));
        }
    }

    /// Says which results stay in memory because their type's encoder
    /// failed or panicked when they were spilled (Dask logs a value it
    /// cannot pickle and keeps it). Each is said once: the store does not
    /// try it again.
    fn warn_unspillable(&self) {
        for (id, error) in self.store.take_encode_failures() {
            eprintln!(
                "rask: the result of `{}` stays in memory, it cannot be spilled: {error}",
                self.plan.graph.task(TaskId(id)).key
            );
        }
    }

    /// The memory monitor: samples every [`SAMPLE_INTERVAL`] until the
    /// workers are done, wakes paused workers when the pause ends, and
    /// publishes the figures.
    fn monitor(&self) {
        let Some(gauge) = &self.gauge else {
            return;
        };
        while !self.finished.load(Ordering::Acquire) && !self.failed.load(Ordering::Acquire) {
            let was_paused = gauge.paused();
            match gauge.sample(&self.store) {
                Ok(paused) => {
                    if was_paused && !paused {
                        self.wake_all();
                    }
                }
                Err(e) => self.fail(spill_error(self.plan, e)),
            }
            self.warn_unspillable();
            crate::memory::publish(gauge.stats(&self.store));
            std::thread::park_timeout(SAMPLE_INTERVAL);
        }
    }

    fn wake_all(&self) {
        let _g = lock(&self.sleep_lock);
        self.wake.notify_all();
    }

    fn fail(&self, e: Error) {
        {
            let mut slot = lock(&self.error);
            if slot.is_none() {
                *slot = Some(e);
            }
        }
        self.failed.store(true, Ordering::SeqCst);
        self.wake_all();
    }
}

#[cfg(test)]
mod next_use_tests {
    use super::*;
    use rask_core::{GraphBuilder, Key, Op};

    #[test]
    fn the_next_use_is_the_first_reader_that_has_not_run() {
        // x is read by a, b and c; a and c also by the output `out`.
        let mut g = GraphBuilder::new();
        let lit = || Op::value(Value::new(0u8));
        g.insert(Key::new("x"), lit(), vec![]);
        for r in ["a", "b", "c"] {
            g.insert(Key::new(r), lit(), vec![Key::new("x")]);
        }
        g.insert(Key::new("out"), lit(), vec![Key::new("a"), Key::new("c")]);
        let graph = g.build().unwrap();
        let id = |k: &str| graph.id_of(&Key::new(k)).unwrap();
        let (x, a, b, c, out) = (id("x"), id("a"), id("b"), id("c"), id("out"));
        let mut priority = vec![0; graph.len()];
        for (t, p) in [(x, 0), (b, 1), (c, 5), (a, 7), (out, 9)] {
            priority[t.index()] = p;
        }
        let waiting: Vec<AtomicU32> = graph
            .tasks()
            .iter()
            .map(|t| AtomicU32::new(t.deps.len() as u32))
            .collect();
        let deps = graph.dependents();
        let next = |t| next_use(deps, &waiting, &priority, t);
        assert_eq!(next(x), 1, "b, at 1, reads x first");
        waiting[b.index()].store(FINISHED, Ordering::Release);
        assert_eq!(next(x), 5, "then c");
        // Readers that are running or waiting still count; only finished
        // ones are passed over, in whatever order they finish.
        waiting[a.index()].store(FINISHED, Ordering::Release);
        assert_eq!(next(x), 5);
        waiting[c.index()].store(FINISHED, Ordering::Release);
        assert_eq!(next(x), NEXT_USE_UNKNOWN, "every reader ran");
        assert_eq!(next(out), NEXT_USE_UNKNOWN, "an output has no reader");
        assert_eq!(next(a), 9);
    }
}
