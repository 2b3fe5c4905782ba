//! The worker's logic as a state machine: events in, actions out.
//!
//! [`WorkerState`] knows the tasks the scheduler gave this worker, which of
//! their inputs are here, which are being fetched and from whom, and which
//! threads are busy. Each event (a scheduler message, a finished run, a
//! peer's answer) is a method that returns the [`Action`]s to perform:
//! messages to the scheduler, tasks to hand to a thread, requests to peers.
//! It does no I/O, so it is tested without sockets.
//!
//! # Tasks
//!
//! A task is *waiting* while some input is not in the store, *ready* once
//! all are, and *executing* on a thread. Ready tasks run in
//! [`ComputeTask::priority`] order, smallest first (ties: arrival order),
//! never more at once than threads (while tasks are short, a few more per
//! thread wait at the thread, counted as executing), and only while the
//! abstract resources they hold fit in what the worker offers. A task freed while it runs is
//! forgotten when it ends: its result is dropped, nothing is reported.
//!
//! # Fetching inputs
//!
//! An input not held here is *wanted*, with the addresses that hold it. The
//! fetch policy, applied after every event: take the wanted inputs that are
//! not in flight, give each to the holder with the fewest requests in flight
//! that it has not yet tried, and send one request per holder for all its
//! inputs (up to [`FETCH_BATCH_BYTES`] and [`FETCH_BATCH_KEYS`]), with at most
//! [`FETCH_PER_PEER`] requests in flight per holder and
//! [`FETCH_TOTAL`] in all. Fetched values are kept and announced with
//! `AddKeys` (the scheduler then counts this worker among their holders and
//! frees them here when nobody needs them). A holder that answers "missing"
//! or cannot be reached is crossed off for that input; when every holder is
//! crossed off, each task that needed the input is dropped with
//! `MissingData`, and the scheduler reschedules it.
//!
//! A value that arrives but does not decode here is not missing: the holder
//! has it, and a recomputed copy would not decode either (the workers run
//! different builds). Reporting it missing would make the scheduler free it,
//! recompute it and send the task back, without end when the task can only
//! run here. So, as in Dask, each task that needed it errs (`TaskErred`,
//! naming the input, the peer and the type tag); the scheduler retries or
//! fails it like any task error. An `Acquire` of such a value is reported
//! `MissingData`, as before: that is what lets a retiring holder go.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rask_core::{Key, Value};
use rask_protocol::{
    BulkRef, ComputeTask, DepLocation, Failure, FailureKind, WireKey, WorkerMetrics,
    WorkerToScheduler,
};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::execute::{Done, ExecTask, Outcome};
use crate::peer::Undecodable;
use crate::store::{Entry, Store};

/// Requests in flight to one peer, at most.
pub(crate) const FETCH_PER_PEER: usize = 4;
/// Requests in flight to all peers, at most.
pub(crate) const FETCH_TOTAL: usize = 32;
/// Bytes asked for in one request, at most (a single larger value is still
/// asked for alone).
pub(crate) const FETCH_BATCH_BYTES: u64 = 64 << 20;
/// Keys asked for in one request, at most.
pub(crate) const FETCH_BATCH_KEYS: usize = 10_000;

/// Something the I/O layer must do.
pub(crate) enum Action {
    /// Send a message to the scheduler, with these bulk frames.
    Send(WorkerToScheduler, Vec<Bytes>),
    /// Run a task on an idle thread.
    Execute(ExecTask),
    /// Ask the data server at `peer` for `keys`, then report with
    /// [`WorkerState::on_fetched`], [`WorkerState::on_fetch_failed`] or
    /// [`WorkerState::on_peer_busy`].
    Fetch {
        /// The peer's address.
        peer: String,
        /// The keys.
        keys: Vec<Key>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Some inputs are not here yet.
    Waiting,
    /// All inputs are here; in the ready queue.
    Ready,
    /// On a thread.
    Executing,
}

struct Task {
    wire: WireKey,
    op: Vec<u8>,
    deps: Vec<Key>,
    priority: (i64, u64, u32),
    seq: u64,
    resources: Vec<(String, f64)>,
    inline_limit: u64,
    phase: Phase,
    /// Inputs not yet in the store.
    missing: usize,
    /// Freed while executing: drop the result.
    freed: bool,
}

struct Want {
    wire: WireKey,
    nbytes: u64,
    who_has: Vec<String>,
    tried: Vec<String>,
    /// The peer asked now, if any.
    in_flight: Option<String>,
    /// Whether it is in `pending`.
    pending: bool,
    /// Waiting tasks that need it.
    tasks: Vec<Key>,
    /// Asked for by `Acquire`: keep it even with no task waiting.
    acquire: bool,
}

impl Want {
    /// Holders not yet tried, other than `me`.
    fn next_holder<'a>(&'a self, me: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.who_has
            .iter()
            .filter(move |a| a.as_str() != me && !self.tried.contains(a))
    }
}

type ReadyItem = Reverse<((i64, u64, u32), u64, Key)>;

/// The worker's state; see the module docs.
pub(crate) struct WorkerState {
    name: String,
    address: String,
    nthreads: usize,
    store: Arc<Store>,
    tasks: FxHashMap<Key, Task>,
    ready: BinaryHeap<ReadyItem>,
    executing: usize,
    /// Moving average of task run time, seconds (infinite until a run has
    /// been seen: nothing is handed to a thread ahead of time before that).
    avg_run: f64,
    seq: u64,
    /// Resources offered, and what is free now.
    offered: FxHashMap<String, f64>,
    free_resources: FxHashMap<String, f64>,
    wants: FxHashMap<Key, Want>,
    pending: Vec<Key>,
    peer_in_flight: FxHashMap<String, usize>,
    total_in_flight: usize,
    retiring: bool,
}

impl WorkerState {
    /// A worker named `name` whose data server is at `address`.
    pub(crate) fn new(
        name: String,
        address: String,
        nthreads: usize,
        resources: &[(String, f64)],
        store: Arc<Store>,
    ) -> WorkerState {
        let offered: FxHashMap<String, f64> = resources.iter().cloned().collect();
        WorkerState {
            name,
            address,
            nthreads: nthreads.max(1),
            store,
            tasks: FxHashMap::default(),
            ready: BinaryHeap::new(),
            executing: 0,
            avg_run: f64::INFINITY,
            seq: 0,
            free_resources: offered.clone(),
            offered,
            wants: FxHashMap::default(),
            pending: Vec::new(),
            peer_in_flight: FxHashMap::default(),
            total_in_flight: 0,
            retiring: false,
        }
    }

    /// The scheduler asked to run a task.
    pub(crate) fn on_compute(&mut self, ct: ComputeTask) -> Vec<Action> {
        let mut out = Vec::new();
        let key = Key::from(&ct.key);
        if self.retiring {
            tracing::debug!(worker = %self.name, task = %key, "task received while retiring; running it");
        }
        if let Some(e) = self.store.get(&key) {
            // Already here (computed before, or stored): report it again.
            out.push(Action::Send(
                WorkerToScheduler::TaskFinished {
                    key: ct.key,
                    nbytes: e.nbytes,
                    tag: e.tag,
                    duration_us: 0,
                    inline: None,
                },
                Vec::new(),
            ));
            return out;
        }
        if let Some(t) = self.tasks.get_mut(&key) {
            // Sent again: it is already here; un-forget it if freed.
            t.freed = false;
            return out;
        }
        if let Some((name, need)) = ct
            .resources
            .iter()
            .find(|(r, need)| self.offered.get(r).copied().unwrap_or(0.0) < *need)
        {
            let have = self.offered.get(name).copied().unwrap_or(0.0);
            out.push(self.erred(
                ct.key,
                String::new(),
                FailureKind::Task,
                format!(
                    "the task needs resource `{name}` = {need}, but worker {} offers {have}; \
                     start workers with that resource or change the task's annotations",
                    self.name
                ),
            ));
            return out;
        }
        let deps: Vec<Key> = ct.deps.iter().map(|d| Key::from(&d.key)).collect();
        let mut missing = 0;
        for (dep, loc) in deps.iter().zip(ct.deps) {
            if !self.store.contains(dep) {
                missing += 1;
                self.want(dep.clone(), loc, Some(key.clone()), false);
            }
        }
        self.seq += 1;
        let task = Task {
            wire: ct.key,
            op: ct.op,
            deps,
            priority: ct.priority,
            seq: self.seq,
            resources: ct.resources,
            inline_limit: ct.inline_limit,
            phase: Phase::Waiting,
            missing,
            freed: false,
        };
        self.tasks.insert(key.clone(), task);
        if missing == 0 {
            self.make_ready(&key);
        }
        self.fetch_and_dispatch(&mut out);
        out
    }

    /// The scheduler no longer needs these keys: drop their values and
    /// forget the tasks if they have not started.
    pub(crate) fn on_free(&mut self, keys: &[WireKey]) -> Vec<Action> {
        for wk in keys {
            let key = Key::from(wk);
            self.store.remove(&key);
            match self.tasks.get(&key).map(|t| t.phase) {
                Some(Phase::Executing) => {
                    if let Some(t) = self.tasks.get_mut(&key) {
                        t.freed = true;
                    }
                }
                Some(_) => self.drop_task(&key),
                None => {}
            }
            if let Some(w) = self.wants.get_mut(&key) {
                w.acquire = false;
                if w.tasks.is_empty() {
                    self.wants.remove(&key);
                }
            }
        }
        let mut out = Vec::new();
        self.fetch_and_dispatch(&mut out);
        out
    }

    /// The scheduler wants `key` back: released when it has not started.
    pub(crate) fn on_steal(&mut self, wk: WireKey) -> Vec<Action> {
        let key = Key::from(&wk);
        let released = match self.tasks.get(&key).map(|t| t.phase) {
            Some(Phase::Waiting | Phase::Ready) => {
                self.drop_task(&key);
                true
            }
            _ => false,
        };
        let mut out = vec![Action::Send(
            WorkerToScheduler::StealReply { key: wk, released },
            Vec::new(),
        )];
        self.fetch_and_dispatch(&mut out);
        out
    }

    /// Values handed to this worker (scattered, or moved from a retiring
    /// peer): keep them and announce them.
    pub(crate) fn on_store(&mut self, values: Vec<(WireKey, Value)>) -> Vec<Action> {
        let mut added = Vec::with_capacity(values.len());
        for (wk, value) in values {
            let key = Key::from(&wk);
            let entry = Entry::new(value);
            added.push((wk, entry.nbytes, entry.tag.clone()));
            self.arrived(key, entry);
        }
        let mut out = vec![Action::Send(
            WorkerToScheduler::AddKeys { keys: added },
            Vec::new(),
        )];
        self.fetch_and_dispatch(&mut out);
        out
    }

    /// Fetch these keys from peers and keep them.
    pub(crate) fn on_acquire(&mut self, keys: Vec<DepLocation>) -> Vec<Action> {
        let mut here = Vec::new();
        for loc in keys {
            let key = Key::from(&loc.key);
            match self.store.get(&key) {
                Some(e) => here.push((loc.key, e.nbytes, e.tag)),
                None => self.want(key, loc, None, true),
            }
        }
        let mut out = Vec::new();
        if !here.is_empty() {
            out.push(Action::Send(
                WorkerToScheduler::AddKeys { keys: here },
                Vec::new(),
            ));
        }
        self.fetch_and_dispatch(&mut out);
        out
    }

    /// The scheduler is retiring this worker: tasks already given still
    /// run; the scheduler sends no more and closes the worker when its data
    /// has moved.
    pub(crate) fn on_retire(&mut self) {
        self.retiring = true;
    }

    /// A thread finished a task.
    pub(crate) fn on_done(&mut self, done: Done) -> Vec<Action> {
        let mut out = Vec::new();
        let run = done.duration.as_secs_f64();
        self.avg_run = if self.avg_run.is_finite() {
            0.9 * self.avg_run + 0.1 * run
        } else {
            run
        };
        let Some(task) = self.tasks.remove(&done.key) else {
            return out;
        };
        self.executing -= 1;
        for (r, n) in &task.resources {
            if let Some(free) = self.free_resources.get_mut(r) {
                *free += n;
            }
        }
        if !task.freed {
            match done.outcome {
                Outcome::Finished { value, inline } => {
                    let entry = Entry::new(value);
                    let (nbytes, tag) = (entry.nbytes, entry.tag.clone());
                    self.arrived(done.key, entry);
                    let (inline, bulk) = match inline {
                        Some(bytes) => (
                            Some(BulkRef {
                                frame: 0,
                                tag: tag.clone(),
                            }),
                            vec![Bytes::from(bytes)],
                        ),
                        None => (None, Vec::new()),
                    };
                    out.push(Action::Send(
                        WorkerToScheduler::TaskFinished {
                            key: task.wire,
                            nbytes,
                            tag,
                            duration_us: micros(done.duration),
                            inline,
                        },
                        bulk,
                    ));
                }
                Outcome::Failed { kind, op, message } => {
                    out.push(self.erred(task.wire, op, kind, message));
                }
            }
        }
        self.fetch_and_dispatch(&mut out);
        out
    }

    /// A peer answered a fetch of `requested`: `found` values, values that
    /// arrived but do not decode here (`undecodable`: the tasks that need
    /// them fail), and the rest it lacked.
    pub(crate) fn on_fetched(
        &mut self,
        peer: &str,
        requested: &[Key],
        found: Vec<(Key, Value)>,
        undecodable: Vec<Undecodable>,
    ) -> Vec<Action> {
        self.request_done(peer);
        let mut added = Vec::new();
        let mut got = FxHashSet::default();
        let asked: FxHashSet<&Key> = requested.iter().collect();
        for (key, value) in found {
            if !asked.contains(&key) || !self.wants.contains_key(&key) {
                continue; // not asked for, or nobody needs it any more
            }
            let entry = Entry::new(value);
            if let Some(w) = self.wants.get(&key) {
                added.push((w.wire.clone(), entry.nbytes, entry.tag.clone()));
            }
            got.insert(key.clone());
            self.arrived(key, entry);
        }
        let mut out = Vec::new();
        if !added.is_empty() {
            out.push(Action::Send(
                WorkerToScheduler::AddKeys { keys: added },
                Vec::new(),
            ));
        }
        for bad in undecodable {
            if asked.contains(&bad.key) {
                got.insert(bad.key.clone());
                self.cannot_decode(peer, bad, &mut out);
            }
        }
        for key in requested.iter().filter(|k| !got.contains(*k)) {
            self.cross_off(key, peer, &mut out);
        }
        self.fetch_and_dispatch(&mut out);
        out
    }

    /// A fetch from `peer` failed (unreachable, refused, broken reply).
    pub(crate) fn on_fetch_failed(&mut self, peer: &str, requested: &[Key]) -> Vec<Action> {
        self.request_done(peer);
        let mut out = Vec::new();
        for key in requested {
            self.cross_off(key, peer, &mut out);
        }
        self.fetch_and_dispatch(&mut out);
        out
    }

    /// `peer` was too busy to answer; the keys are asked for again (the
    /// I/O layer waits a little before reporting this).
    pub(crate) fn on_peer_busy(&mut self, peer: &str, requested: &[Key]) -> Vec<Action> {
        self.request_done(peer);
        for key in requested {
            if let Some(w) = self.wants.get_mut(key)
                && w.in_flight.as_deref() == Some(peer)
            {
                w.in_flight = None;
                if !w.pending {
                    w.pending = true;
                    self.pending.push(key.clone());
                }
            }
        }
        let mut out = Vec::new();
        self.fetch_and_dispatch(&mut out);
        out
    }

    /// Memory fell under the pause threshold: start what waited.
    pub(crate) fn on_memory_resumed(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        self.fetch_and_dispatch(&mut out);
        out
    }

    /// The heartbeat's figures.
    pub(crate) fn metrics(&self) -> WorkerMetrics {
        WorkerMetrics {
            managed_bytes: self.store.managed_bytes(),
            spilled_bytes: self.store.spilled_bytes(),
            rss: crate::rss_bytes(),
            executing: self.executing as u32,
            queued: (self.tasks.len() - self.executing) as u32,
        }
    }

    /// The keys of the tasks on threads now.
    pub(crate) fn executing_keys(&self) -> Vec<WireKey> {
        self.tasks
            .values()
            .filter(|t| t.phase == Phase::Executing)
            .map(|t| t.wire.clone())
            .collect()
    }

    /// Tasks here, not yet finished.
    #[cfg(test)]
    pub(crate) fn task_count(&self) -> usize {
        self.tasks.len()
    }

    // ---- internals ----

    fn erred(&self, key: WireKey, op: String, kind: FailureKind, message: String) -> Action {
        Action::Send(
            WorkerToScheduler::TaskErred(Failure {
                key,
                op,
                kind,
                message,
                worker: Some(self.name.clone()),
            }),
            Vec::new(),
        )
    }

    /// Records that `key` is wanted (by `task`, or by `Acquire`).
    fn want(&mut self, key: Key, loc: DepLocation, task: Option<Key>, acquire: bool) {
        let w = self.wants.entry(key.clone()).or_insert_with(|| Want {
            wire: loc.key.clone(),
            nbytes: loc.nbytes,
            who_has: Vec::new(),
            tried: Vec::new(),
            in_flight: None,
            pending: false,
            tasks: Vec::new(),
            acquire: false,
        });
        for a in loc.who_has {
            if !w.who_has.contains(&a) {
                w.who_has.push(a);
            }
        }
        w.nbytes = w.nbytes.max(loc.nbytes);
        w.tasks.extend(task);
        w.acquire |= acquire;
        if w.in_flight.is_none() && !w.pending {
            w.pending = true;
            self.pending.push(key);
        }
    }

    /// A value is now in the store: tasks waiting for it may be ready.
    fn arrived(&mut self, key: Key, entry: Entry) {
        self.store.insert(key.clone(), entry);
        let Some(w) = self.wants.remove(&key) else {
            return;
        };
        for t in w.tasks {
            let ready = match self.tasks.get_mut(&t) {
                Some(task) if task.phase == Phase::Waiting => {
                    task.missing -= 1;
                    task.missing == 0
                }
                _ => false,
            };
            if ready {
                self.make_ready(&t);
            }
        }
    }

    fn make_ready(&mut self, key: &Key) {
        if let Some(t) = self.tasks.get_mut(key) {
            t.phase = Phase::Ready;
            self.ready.push(Reverse((t.priority, t.seq, key.clone())));
        }
    }

    /// Forgets a task that has not started, and what it wanted.
    fn drop_task(&mut self, key: &Key) {
        let Some(task) = self.tasks.remove(key) else {
            return;
        };
        // A ready task's heap entry goes stale and is skipped when popped.
        for dep in &task.deps {
            if let Some(w) = self.wants.get_mut(dep) {
                w.tasks.retain(|t| t != key);
                if w.tasks.is_empty() && !w.acquire {
                    // An answer in flight for it is discarded on arrival.
                    self.wants.remove(dep);
                }
            }
        }
    }

    fn request_done(&mut self, peer: &str) {
        self.total_in_flight = self.total_in_flight.saturating_sub(1);
        if let Some(n) = self.peer_in_flight.get_mut(peer) {
            *n -= 1;
            if *n == 0 {
                self.peer_in_flight.remove(peer);
            }
        }
    }

    /// `peer` did not deliver `key`: try another holder, or give up on it.
    fn cross_off(&mut self, key: &Key, peer: &str, out: &mut Vec<Action>) {
        let Some(w) = self.wants.get_mut(key) else {
            return;
        };
        if w.in_flight.as_deref() == Some(peer) {
            w.in_flight = None;
        }
        if !w.tried.iter().any(|t| t == peer) {
            w.tried.push(peer.to_string());
        }
        if w.in_flight.is_some() || w.pending {
            return;
        }
        if w.next_holder(&self.address).next().is_some() {
            w.pending = true;
            self.pending.push(key.clone());
        } else {
            self.give_up(key, out);
        }
    }

    /// No holder of `key` delivered it: each task that needed it is dropped
    /// and reported with `MissingData` (an `Acquire` too, with the key
    /// itself as the task).
    fn give_up(&mut self, key: &Key, out: &mut Vec<Action>) {
        let Some(w) = self.wants.remove(key) else {
            return;
        };
        let mut tried = w.tried.clone();
        for a in &w.who_has {
            if !tried.contains(a) {
                tried.push(a.clone());
            }
        }
        tracing::debug!(worker = %self.name, key = %key, holders = ?tried, "no holder delivered an input");
        if w.acquire {
            out.push(missing_data(w.wire.clone(), &w.wire, tried.clone()));
        }
        for t in w.tasks {
            let Some(task) = self.tasks.get(&t) else {
                continue;
            };
            let wire = task.wire.clone();
            self.drop_task(&t);
            out.push(missing_data(wire, &w.wire, tried.clone()));
        }
    }

    /// A value arrived from `peer` but does not decode here (module docs):
    /// each task that needed it is dropped and errs, naming the input, the
    /// peer and the cause; an `Acquire` of it is reported `MissingData`.
    fn cannot_decode(&mut self, peer: &str, bad: Undecodable, out: &mut Vec<Action>) {
        let Some(w) = self.wants.remove(&bad.key) else {
            return; // nobody needs it any more
        };
        // A request for it still in flight elsewhere is answered into the
        // void: the key is no longer wanted.
        let kind = bad.kind();
        let message = format!(
            "input {} (type tag `{}`) was fetched from {peer} but cannot be used on worker {}: \
             {}; the workers run different builds: start every worker from the same binary, \
             with the same kernels and value types registered",
            bad.key, bad.tag, self.name, bad.error
        );
        if w.acquire {
            // Nothing else lets the scheduler stop waiting for this copy.
            out.push(missing_data(
                w.wire.clone(),
                &w.wire,
                vec![peer.to_string()],
            ));
        }
        for t in w.tasks {
            let Some(task) = self.tasks.get(&t) else {
                continue;
            };
            let wire = task.wire.clone();
            self.drop_task(&t);
            out.push(self.erred(wire, String::new(), kind.clone(), message.clone()));
        }
    }

    fn fetch_and_dispatch(&mut self, out: &mut Vec<Action>) {
        self.schedule_fetches(out);
        self.dispatch(out);
    }

    /// The fetch policy of the module docs.
    fn schedule_fetches(&mut self, out: &mut Vec<Action>) {
        if self.pending.is_empty() || self.total_in_flight >= FETCH_TOTAL {
            return;
        }
        let mut batches: Vec<(String, Vec<Key>, u64)> = Vec::new();
        let mut keep = Vec::new();
        let mut give_up = Vec::new();
        for key in std::mem::take(&mut self.pending) {
            let Some(w) = self.wants.get(&key) else {
                continue; // no longer wanted
            };
            if !w.pending {
                continue;
            }
            if self.store.contains(&key) {
                let entry = self.store.get(&key);
                if let Some(e) = entry {
                    self.arrived(key, e);
                }
                continue;
            }
            // The holder not yet tried with the fewest requests in flight
            // (counting the ones planned here) that can take one more key.
            let mut candidates = w.next_holder(&self.address).peekable();
            if candidates.peek().is_none() {
                give_up.push(key);
                continue;
            }
            let in_flight = &self.peer_in_flight;
            let load = |peer: &str| {
                in_flight.get(peer).copied().unwrap_or(0)
                    + batches.iter().filter(|b| b.0 == peer).count()
            };
            let open = |peer: &str| {
                // A batch planned for the peer that has room, or room for a
                // new request.
                batches.iter().any(|b| b.0 == peer && has_room(b, w.nbytes))
                    || (load(peer) < FETCH_PER_PEER
                        && self.total_in_flight + batches.len() < FETCH_TOTAL)
            };
            let Some(peer) = candidates
                .filter(|p| open(p))
                .min_by_key(|p| load(p))
                .cloned()
            else {
                keep.push(key);
                continue;
            };
            let nbytes = w.nbytes;
            match batches
                .iter_mut()
                .find(|b| b.0 == peer && has_room(b, nbytes))
            {
                Some(b) => {
                    b.1.push(key.clone());
                    b.2 += nbytes;
                }
                None => batches.push((peer.clone(), vec![key.clone()], nbytes)),
            }
            if let Some(w) = self.wants.get_mut(&key) {
                w.pending = false;
                w.in_flight = Some(peer);
            }
        }
        self.pending = keep;
        for (peer, keys, _) in batches {
            self.total_in_flight += 1;
            *self.peer_in_flight.entry(peer.clone()).or_default() += 1;
            out.push(Action::Fetch { peer, keys });
        }
        for key in give_up {
            if let Some(w) = self.wants.get_mut(&key) {
                w.pending = false;
            }
            self.give_up(&key, out);
        }
    }

    /// Hands ready tasks to idle threads, in priority order, as far as
    /// resources allow. While tasks are short (under a millisecond on
    /// average), each thread also gets tasks ahead — about [`AHEAD_WORK`] of
    /// work, at least one and at most [`AHEAD_MAX`] — which it starts the
    /// moment it is done with the one before, instead of sleeping until this
    /// state machine has seen the first finish (a wake-up and a thread
    /// switch per task); the thread then reports their results together. A
    /// task handed ahead counts as started: it cannot be stolen back.
    fn dispatch(&mut self, out: &mut Vec<Action>) {
        let mut set_aside = Vec::new();
        let ahead = if self.avg_run < 1e-3 {
            let per_thread = (AHEAD_WORK.as_secs_f64() / self.avg_run.max(1e-9)) as usize;
            self.nthreads * per_thread.clamp(1, AHEAD_MAX)
        } else {
            0
        };
        while self.executing < self.nthreads + ahead {
            let Some(Reverse(item)) = self.ready.pop() else {
                break;
            };
            let key = &item.2;
            let Some(task) = self.tasks.get(key) else {
                continue; // stale: dropped
            };
            if task.phase != Phase::Ready || task.seq != item.1 {
                continue;
            }
            let fits = task
                .resources
                .iter()
                .all(|(r, n)| self.free_resources.get(r).copied().unwrap_or(0.0) >= *n)
                && (self.executing < self.nthreads || task.resources.is_empty());
            if !fits {
                set_aside.push(Reverse(item));
                continue;
            }
            // Paused for memory: no new root task while others run (they
            // release memory; with none running, waiting would be forever).
            if task.deps.is_empty() && self.executing > 0 && self.store.paused() {
                set_aside.push(Reverse(item));
                continue;
            }
            let key = item.2;
            let entries = self.store.get_many(&task.deps);
            if let Some(i) = entries.iter().position(Option::is_none) {
                // An input was freed after it arrived: let the scheduler
                // sort it out.
                let missing = vec![(WireKey::from(&task.deps[i]), vec![self.address.clone()])];
                let wire = task.wire.clone();
                self.drop_task(&key);
                out.push(Action::Send(
                    WorkerToScheduler::MissingData { key: wire, missing },
                    Vec::new(),
                ));
                continue;
            }
            let Some(task) = self.tasks.get_mut(&key) else {
                continue;
            };
            for (r, n) in &task.resources {
                if let Some(free) = self.free_resources.get_mut(r) {
                    *free -= n;
                }
            }
            task.phase = Phase::Executing;
            self.executing += 1;
            out.push(Action::Execute(ExecTask {
                key,
                op: std::mem::take(&mut task.op),
                args: entries.into_iter().flatten().map(|e| e.value).collect(),
                inline_limit: task.inline_limit,
            }));
        }
        self.ready.extend(set_aside);
    }
}

/// Work handed to each thread ahead of time while tasks are short.
const AHEAD_WORK: Duration = Duration::from_micros(500);
/// Tasks handed to each thread ahead of time, at most.
const AHEAD_MAX: usize = 64;

/// Whether a planned request (peer, keys, bytes) can take a value of
/// `nbytes` more.
/// Tells the scheduler that `key` cannot run (or be acquired) here: its
/// input `input` was not found at the holders `tried`.
fn missing_data(key: WireKey, input: &WireKey, tried: Vec<String>) -> Action {
    Action::Send(
        WorkerToScheduler::MissingData {
            key,
            missing: vec![(input.clone(), tried)],
        },
        Vec::new(),
    )
}

fn has_room(batch: &(String, Vec<Key>, u64), nbytes: u64) -> bool {
    batch.1.len() < FETCH_BATCH_KEYS && batch.2 + nbytes <= FETCH_BATCH_BYTES
}

/// A run's duration for the wire.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
