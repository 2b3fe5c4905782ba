//! The task profiler: what ran where and when, and how many bytes it made.
//!
//! A [`Profiler`] is a [`Callback`] registered for a scope with
//! [`rask_local::callbacks::register`]. Every run (one `compute` or `get`)
//! while it is registered becomes a [`RunRecord`] with its own start, and
//! each task that ran becomes a [`TaskRecord`] with times measured from the
//! start of its run.
//!
//! # Design
//!
//! The hot path takes no lock and allocates nothing: at `on_start` the
//! profiler allocates one slot of atomics per task of the plan; each task
//! runs once per run, so its start, end, worker and size are plain stores
//! into its own slot. The run is found by the address of its plan in a short
//! list of runs in progress (usually one entry, read under a read lock that
//! is never contended by writers during a run). At `on_end` the slots become
//! records, and the plan's dependency edges turn the finish times into the
//! series of bytes held by results (see [`RunRecord::memory`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use rask_core::{Callback, Key, Plan, TaskId, Value};
use rask_local::callbacks::{self, CallbackGuard};

/// One task that ran.
#[derive(Clone, Debug)]
pub struct TaskRecord {
    /// Index of the run (see [`RunRecord::index`]).
    pub run: usize,
    /// The task's key; `Display` prints it.
    pub key: Key,
    /// The name of the task's operation.
    pub op: Arc<str>,
    /// The worker (thread index of the executor) that ran it.
    pub worker: usize,
    /// When it started, from the start of its run.
    pub start: Duration,
    /// When it ended, from the start of its run.
    pub end: Duration,
    /// Whether it succeeded.
    pub ok: bool,
    /// Size of its result ([`Value::nbytes`]); 0 when it failed.
    pub nbytes: u64,
}

impl TaskRecord {
    /// How long it ran.
    pub fn duration(&self) -> Duration {
        self.end.saturating_sub(self.start)
    }
}

/// One run (a `compute` or `get`) seen by the profiler.
#[derive(Clone, Debug)]
pub struct RunRecord {
    /// Runs are numbered from 0 in the order they started.
    pub index: usize,
    /// When the run started, from the profiler's start.
    pub offset: Duration,
    /// How long it took.
    pub duration: Duration,
    /// Number of tasks in its plan (tasks cancelled after a failure are not
    /// recorded).
    pub tasks: usize,
    /// Whether it succeeded.
    pub ok: bool,
    /// The keys it was asked for.
    pub outputs: Vec<Key>,
    /// Bytes held by results over time, from the start of the run: a step
    /// series of `(time, bytes)` points, starting at `(0, 0)`.
    ///
    /// A result is held from the end of its task until its last dependent
    /// finished (as the executors release it); one without dependents is
    /// released at once; requested outputs are held until the end of the
    /// run, so a successful run's series ends at the outputs' total size. In
    /// a failed run, results still waiting for a dependent are released at
    /// the end of the run, so its series ends at 0.
    pub memory: Vec<(Duration, u64)>,
}

/// Count, time and bytes of the tasks of one key prefix
/// ([`Key::prefix`]), from [`Profiler::by_prefix`].
#[derive(Clone, Debug, PartialEq)]
pub struct PrefixSummary {
    /// The key prefix: what the tasks do.
    pub prefix: String,
    /// Number of tasks.
    pub count: usize,
    /// Their total running time.
    pub total: Duration,
    /// Their mean running time.
    pub mean: Duration,
    /// Total size of their results.
    pub nbytes: u64,
}

/// Records every task of every compute while it is registered.
///
/// Cloning is cheap: clones share the records. See the crate docs for an
/// example with a report.
///
/// ```
/// use rask_core::{GraphBuilder, Key, Op, Value};
/// use rask_diagnostics::Profiler;
/// use rask_local::Scheduler;
///
/// let mut b = GraphBuilder::new();
/// b.insert(Key::new("one-doc"), Op::value(Value::new(1u8)), vec![]);
/// let guard = Profiler::start();
/// Scheduler::sync().get(b.build().unwrap(), &[Key::new("one-doc")]).unwrap();
/// let profiler = guard.finish();
/// // Other threads may compute at the same time; find this run's task.
/// let mine: Vec<_> = profiler.records().into_iter().filter(|r| r.key.name() == "one-doc").collect();
/// assert_eq!(mine.len(), 1);
/// assert!(mine[0].start <= mine[0].end);
/// assert_eq!(mine[0].nbytes, 1);
/// ```
#[derive(Clone)]
pub struct Profiler {
    inner: Arc<Inner>,
}

struct Inner {
    origin: Instant,
    next_run: AtomicUsize,
    active: RwLock<Vec<Arc<ActiveRun>>>,
    done: Mutex<Done>,
}

#[derive(Default)]
struct Done {
    runs: Vec<RunRecord>,
    records: Vec<TaskRecord>,
}

struct ActiveRun {
    plan: usize,
    index: usize,
    start: Instant,
    slots: Vec<Slot>,
}

/// One task's measurements; `start == 0` means it never started.
#[derive(Default)]
struct Slot {
    /// Nanoseconds from the run's start, plus 1.
    start: AtomicU64,
    end: AtomicU64,
    worker: AtomicUsize,
    nbytes: AtomicU64,
    ok: AtomicBool,
}

/// Keeps a [`Profiler`] registered; dropping it or [`finish`](Self::finish)
/// stops the recording.
#[must_use = "the profiler stops recording when the guard is dropped"]
pub struct ProfilerGuard {
    profiler: Profiler,
    registration: CallbackGuard,
}

impl ProfilerGuard {
    /// Stops recording and returns the profiler with its records. A run
    /// still in progress is recorded when it ends.
    pub fn finish(self) -> Profiler {
        let ProfilerGuard {
            profiler,
            registration,
        } = self;
        registration.unregister();
        profiler
    }

    /// The profiler being recorded into.
    pub fn profiler(&self) -> &Profiler {
        &self.profiler
    }
}

impl Default for Profiler {
    fn default() -> Self {
        Profiler::new()
    }
}

impl std::fmt::Debug for Profiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let done = self.done();
        f.debug_struct("Profiler")
            .field("runs", &done.runs.len())
            .field("records", &done.records.len())
            .finish()
    }
}

impl Profiler {
    /// A profiler that is not registered yet; see [`record`](Self::record).
    /// Its clock starts now.
    pub fn new() -> Self {
        Profiler {
            inner: Arc::new(Inner {
                origin: Instant::now(),
                next_run: AtomicUsize::new(0),
                active: RwLock::new(Vec::new()),
                done: Mutex::new(Done::default()),
            }),
        }
    }

    /// A new profiler, recording every compute until the guard is dropped
    /// (Dask's `with Profiler() as prof:`).
    pub fn start() -> ProfilerGuard {
        Profiler::new().record()
    }

    /// Records into this profiler (again) until the guard is dropped; runs
    /// accumulate.
    pub fn record(&self) -> ProfilerGuard {
        let registration = callbacks::register(Arc::new(self.clone()));
        ProfilerGuard {
            profiler: self.clone(),
            registration,
        }
    }

    /// When the profiler's clock started; runs are placed on this clock by
    /// [`RunRecord::offset`].
    pub fn origin(&self) -> Instant {
        self.inner.origin
    }

    /// Every task recorded, run by run, in the order tasks started within
    /// each run (ties in the order of the plan).
    pub fn records(&self) -> Vec<TaskRecord> {
        self.done().records.clone()
    }

    /// The runs recorded, in the order they ended.
    pub fn runs(&self) -> Vec<RunRecord> {
        self.done().runs.clone()
    }

    /// Count, total and mean time and total bytes per key prefix, the
    /// prefix with the most time first.
    pub fn by_prefix(&self) -> Vec<PrefixSummary> {
        summarize(&self.done().records)
    }

    /// Bytes held by results of all runs on the profiler's clock, as a step
    /// series: the sum over runs of [`RunRecord::memory`], each shifted by
    /// its offset and dropping to 0 when its run ends (the outputs are then
    /// the caller's).
    pub fn memory(&self) -> Vec<(Duration, u64)> {
        let done = self.done();
        let mut deltas: Vec<(Duration, i64)> = Vec::new();
        for run in &done.runs {
            let mut last = 0u64;
            for &(t, bytes) in &run.memory {
                deltas.push((run.offset + t, bytes as i64 - last as i64));
                last = bytes;
            }
            deltas.push((run.offset + run.duration, -(last as i64)));
        }
        step_series(deltas)
    }

    fn done(&self) -> MutexGuard<'_, Done> {
        self.inner.done.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn active(&self, plan: &Plan) -> Option<Arc<ActiveRun>> {
        let key = plan_id(plan);
        let active = self.inner.active.read().unwrap_or_else(|p| p.into_inner());
        active.iter().find(|r| r.plan == key).cloned()
    }

    fn with_slot(&self, plan: &Plan, task: TaskId, f: impl FnOnce(&ActiveRun, &Slot)) {
        if let Some(run) = self.active(plan)
            && let Some(slot) = run.slots.get(task.index())
        {
            f(&run, slot);
        }
    }
}

fn plan_id(plan: &Plan) -> usize {
    plan as *const Plan as usize
}

fn nanos_since(start: Instant) -> u64 {
    start.elapsed().as_nanos().min(u64::MAX as u128 - 1) as u64 + 1
}

impl Callback for Profiler {
    fn on_start(&self, plan: &Plan) {
        let start = Instant::now();
        let run = ActiveRun {
            plan: plan_id(plan),
            index: self.inner.next_run.fetch_add(1, Ordering::Relaxed),
            start,
            slots: (0..plan.len()).map(|_| Slot::default()).collect(),
        };
        let mut active = self.inner.active.write().unwrap_or_else(|p| p.into_inner());
        active.push(Arc::new(run));
    }

    fn on_task_start(&self, plan: &Plan, task: TaskId, worker: usize) {
        self.with_slot(plan, task, |run, slot| {
            slot.worker.store(worker, Ordering::Relaxed);
            slot.start.store(nanos_since(run.start), Ordering::Relaxed);
        });
    }

    fn on_task_result(&self, plan: &Plan, task: TaskId, _worker: usize, value: &Value) {
        self.with_slot(plan, task, |_, slot| {
            slot.nbytes.store(value.nbytes() as u64, Ordering::Relaxed);
        });
    }

    fn on_task_finish(&self, plan: &Plan, task: TaskId, _worker: usize, ok: bool) {
        self.with_slot(plan, task, |run, slot| {
            slot.ok.store(ok, Ordering::Relaxed);
            slot.end.store(nanos_since(run.start), Ordering::Relaxed);
        });
    }

    fn on_end(&self, plan: &Plan, ok: bool) {
        let run = {
            let mut active = self.inner.active.write().unwrap_or_else(|p| p.into_inner());
            let Some(i) = active.iter().position(|r| r.plan == plan_id(plan)) else {
                return;
            };
            active.swap_remove(i)
        };
        let duration = run.start.elapsed();
        let (records, memory) = collect(plan, &run, duration);
        let record = RunRecord {
            index: run.index,
            offset: run.start.saturating_duration_since(self.inner.origin),
            duration,
            tasks: plan.len(),
            ok,
            outputs: plan
                .outputs
                .iter()
                .map(|o| plan.graph.task(*o).key.clone())
                .collect(),
            memory,
        };
        let mut done = self.done();
        done.runs.push(record);
        done.records.extend(records);
    }
}

/// Turns a finished run's slots into records and its memory series.
fn collect(
    plan: &Plan,
    run: &ActiveRun,
    duration: Duration,
) -> (Vec<TaskRecord>, Vec<(Duration, u64)>) {
    let graph = &plan.graph;
    let mut ops: HashMap<&str, Arc<str>> = HashMap::new();
    let mut records = Vec::new();
    // End of each task that succeeded, in nanoseconds from the run's start.
    let mut ends: Vec<Option<u64>> = vec![None; run.slots.len()];
    for (i, slot) in run.slots.iter().enumerate() {
        let start = slot.start.load(Ordering::Relaxed);
        if start == 0 {
            continue;
        }
        let end = slot.end.load(Ordering::Relaxed).max(start);
        let ok = slot.ok.load(Ordering::Relaxed);
        if ok {
            ends[i] = Some(end - 1);
        }
        let task = graph.task(TaskId(i as u32));
        let name = task.op.name();
        let op = ops.entry(name).or_insert_with(|| name.into()).clone();
        records.push(TaskRecord {
            run: run.index,
            key: task.key.clone(),
            op,
            worker: slot.worker.load(Ordering::Relaxed),
            start: Duration::from_nanos(start - 1),
            end: Duration::from_nanos(end - 1),
            ok,
            nbytes: if ok {
                slot.nbytes.load(Ordering::Relaxed)
            } else {
                0
            },
        });
    }
    records.sort_by_key(|r| r.start);

    let mut is_output = vec![false; graph.len()];
    for o in &plan.outputs {
        is_output[o.index()] = true;
    }
    let dependents = graph.dependents();
    let run_end = duration.as_nanos() as u64;
    let mut deltas: Vec<(Duration, i64)> = Vec::new();
    for (i, slot) in run.slots.iter().enumerate() {
        let Some(end) = ends[i] else {
            continue;
        };
        let bytes = slot.nbytes.load(Ordering::Relaxed) as i64;
        if bytes == 0 {
            continue;
        }
        deltas.push((Duration::from_nanos(end), bytes));
        if is_output[i] {
            continue;
        }
        // Released after the last dependent succeeded; held to the end of
        // the run when one failed or never ran (the run failed).
        let mut release = Some(end);
        for d in dependents.of(TaskId(i as u32)) {
            release = match (release, ends[d.index()]) {
                (Some(r), Some(e)) => Some(r.max(e)),
                _ => None,
            };
        }
        let release = release.unwrap_or(run_end).max(end);
        deltas.push((Duration::from_nanos(release), -bytes));
    }
    (records, step_series(deltas))
}

/// Sums deltas into a step series starting at `(0, 0)`; at equal times
/// additions come first, so a release never precedes its allocation.
fn step_series(mut deltas: Vec<(Duration, i64)>) -> Vec<(Duration, u64)> {
    deltas.sort_by_key(|&(t, d)| (t, d < 0));
    let mut series = vec![(Duration::ZERO, 0u64)];
    let mut held: i64 = 0;
    for (t, d) in deltas {
        held += d;
        let value = held.max(0) as u64;
        match series.last_mut() {
            Some(last) if last.0 == t => last.1 = value,
            _ => series.push((t, value)),
        }
    }
    series
}

fn summarize(records: &[TaskRecord]) -> Vec<PrefixSummary> {
    let mut by: HashMap<&str, (usize, Duration, u64)> = HashMap::new();
    for r in records {
        let e = by.entry(r.key.prefix()).or_default();
        e.0 += 1;
        e.1 += r.duration();
        e.2 += r.nbytes;
    }
    let mut out: Vec<PrefixSummary> = by
        .into_iter()
        .map(|(prefix, (count, total, nbytes))| PrefixSummary {
            prefix: prefix.to_string(),
            count,
            total,
            mean: Duration::from_nanos((total.as_nanos() / count as u128) as u64),
            nbytes,
        })
        .collect();
    out.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.prefix.cmp(&b.prefix)));
    out
}
