//! Workers: registration, their messages, placement, stealing, heartbeats,
//! loss and retirement.
//!
//! # Stealing
//!
//! Every `steal_interval`, on a tick: if some running worker has fewer
//! tasks than threads and another has more tasks than threads, the busy
//! worker is asked (`Steal`) to give back its surplus, lowest priority first
//! (those it would start last), each destined for an idle worker allowed to
//! run it, and only when moving the task's inputs there takes less time
//! than waiting behind the victim's queue. A worker that has not started
//! the task answers `StealReply { released: true }` and the task goes to
//! the thief (or wherever is best, if the thief left meanwhile); a started
//! task stays. A retiring worker is asked the same for all it has queued.
//!
//! # Loss
//!
//! A worker is lost when its connection closes or it sends nothing for
//! `worker_ttl`. Its processing tasks are rescheduled, each counting one
//! more suspicious death; at `allowed_failures` the task errs as "killed
//! worker". Results only it held go back to released and are recomputed from
//! lineage when still needed (scattered data errs as lost).
//!
//! A worker whose supervisor restarts it for memory says so first
//! (`MemoryRestart`, with its RSS, limit and the tasks on its threads).
//! When its connection then closes, only the tasks that were running count
//! a death; queued ones move elsewhere without blame. A task that reaches
//! `allowed_failures` this way errs as [`FailureKind::Memory`], with a
//! message naming it and giving the figure and the limit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rask_protocol::{
    DepLocation, Failure, FailureKind, MemoryRestart, SchedulerToWorker, WireKey, WorkerMetrics,
    WorkerToScheduler,
};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::scheduler::Scheduler;
use crate::task::{TaskId, TaskState};
use crate::{Comm, WorkerId};

/// Candidates looked at when placing one task, beyond the holders of its
/// inputs.
const MAX_IDLE_CANDIDATES: usize = 32;

/// One worker connection.
#[derive(Debug, Default)]
pub(crate) struct Worker {
    pub peer_address: String,
    pub registered: bool,
    pub name: String,
    pub address: String,
    pub nthreads: u32,
    pub memory_limit: u64,
    pub resources: Vec<(String, f64)>,
    pub pid: u32,
    /// Tasks sent to it and not finished.
    pub processing: FxHashSet<TaskId>,
    /// Scattered data sent to it and not confirmed.
    pub pending_store: FxHashSet<TaskId>,
    /// Results it holds.
    pub has_what: FxHashSet<TaskId>,
    pub managed_bytes: u64,
    pub last_seen: Duration,
    pub metrics: WorkerMetrics,
    pub retiring: bool,
    /// Retiring: keys being copied to a peer (key → peer).
    pub moving: FxHashMap<TaskId, WorkerId>,
    /// Retiring: `Close` sent.
    pub closed: bool,
    /// Its supervisor is restarting it for memory: the figures, and the
    /// tasks that were running.
    pub memory_restart: Option<MemoryRestarting>,
}

/// What a worker said before its supervisor restarted it for memory.
#[derive(Debug)]
pub(crate) struct MemoryRestarting {
    pub rss: u64,
    pub limit: u64,
    pub fraction: f64,
    pub executing: FxHashSet<TaskId>,
}

/// Bytes for people: `1.90 GiB`, `191.0 MiB`, `512 B`.
fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (name, unit) in UNITS {
        if n >= unit {
            return format!("{:.2} {name}", n as f64 / unit as f64);
        }
    }
    format!("{n} B")
}

impl Worker {
    /// Tasks it may hold before root tasks are withheld: `ceil(factor ×
    /// threads)`, or, while tasks are short and results small, enough to
    /// keep every thread busy for `window` (at most `max_per_thread` each).
    fn slots(&self, factor: f64, window: Option<(f64, usize)>) -> usize {
        let base = ((factor * self.nthreads as f64).ceil() as usize).max(1);
        match window {
            Some((per_thread, max)) => {
                let more = (per_thread.ceil() as usize).min(max) * self.nthreads as usize;
                base.max(more)
            }
            None => base,
        }
    }
}

impl Scheduler {
    pub(crate) fn worker_connected(&mut self, w: WorkerId, peer_address: String) {
        let now = self.now;
        let worker = self.workers.entry(w).or_default();
        worker.peer_address = peer_address;
        worker.last_seen = now;
    }

    pub(crate) fn on_worker(
        &mut self,
        w: WorkerId,
        msg: WorkerToScheduler,
        bulk: Vec<Bytes>,
        comm: &mut dyn Comm,
    ) {
        let now = self.now;
        if matches!(msg, WorkerToScheduler::Register { .. }) && !self.workers.contains_key(&w) {
            self.worker_connected(w, String::new());
        }
        let Some(worker) = self.workers.get_mut(&w) else {
            return; // already forgotten (closed for missing heartbeats)
        };
        worker.last_seen = now;
        let registered = worker.registered;
        match msg {
            WorkerToScheduler::Register {
                name,
                address,
                nthreads,
                memory_limit,
                resources,
                pid,
            } => self.register(
                w,
                name,
                address,
                nthreads,
                memory_limit,
                resources,
                pid,
                comm,
            ),
            _ if !registered => {}
            WorkerToScheduler::Heartbeat(metrics) => {
                if let Some(worker) = self.workers.get_mut(&w) {
                    worker.metrics = metrics;
                }
            }
            WorkerToScheduler::TaskFinished {
                key,
                nbytes,
                tag,
                duration_us,
                inline,
            } => {
                let Some(t) = self.lookup(&key) else {
                    self.frees.entry(w).or_default().push(key);
                    return;
                };
                let inline = inline.and_then(|r| {
                    let frame = bulk.get(r.frame as usize)?.clone();
                    Some((r, frame))
                });
                self.finished(t, w, nbytes, &tag, Some(duration_us), inline, comm);
                if self.workers.get(&w).is_some_and(|x| x.retiring) {
                    self.retire_progress(w, comm);
                }
            }
            WorkerToScheduler::TaskErred(mut failure) => {
                let Some(t) = self.lookup(&failure.key) else {
                    return;
                };
                let task = &self.tasks[t as usize];
                if task.state != TaskState::Processing || task.processing_on != Some(w) {
                    return; // stale: it was moved or cancelled meanwhile
                }
                self.steals.remove(&t);
                self.unassign(t);
                let task = &mut self.tasks[t as usize];
                // Scattered data is never recomputed: its record may still
                // hold the op and retries of an earlier submission of the
                // key, but the client's value replaced them.
                if task.retries_left > 0 && !task.scattered {
                    task.retries_left -= 1;
                    self.set_state(t, TaskState::Waiting);
                    self.recount(t);
                    if self.tasks[t as usize].waiting_on == 0 {
                        self.make_ready(t, comm);
                    }
                } else {
                    if failure.worker.is_none() {
                        failure.worker = self.workers.get(&w).map(|x| x.name.clone());
                    }
                    self.fail(t, Arc::new(failure), comm);
                }
            }
            WorkerToScheduler::MissingData { key, missing } => {
                let mut lost = Vec::new();
                for (k, addrs) in &missing {
                    let Some(d) = self.lookup(k) else { continue };
                    for a in addrs {
                        let Some(&hw) = self.by_address.get(a) else {
                            continue;
                        };
                        // The holder is no longer counted: if it still has
                        // the value (it was only unreachable), it is told to
                        // drop it, or it would keep it uncounted. A holder
                        // that leaves meanwhile gets nothing (`drain`).
                        if self.tasks[d as usize].who_has.contains(&hw) {
                            self.frees.entry(hw).or_default().push(k.clone());
                        }
                        if self.remove_replica(d, hw) {
                            lost.push(d);
                        }
                    }
                }
                let t = self.lookup(&key);
                if let Some(t) = t {
                    let task = &self.tasks[t as usize];
                    if task.state == TaskState::Processing && task.processing_on == Some(w) {
                        self.steals.remove(&t);
                        self.unassign(t);
                        self.set_state(t, TaskState::Waiting);
                    }
                }
                for d in lost {
                    self.lose_key(d, comm);
                }
                if let Some(t) = t
                    && self.tasks[t as usize].state == TaskState::Waiting
                {
                    self.recount(t);
                    if self.tasks[t as usize].waiting_on == 0 {
                        self.make_ready(t, comm);
                    }
                }
            }
            WorkerToScheduler::StealReply { key, released } => {
                let Some(t) = self.lookup(&key) else { return };
                let Some(thief) = self.steals.remove(&t) else {
                    return;
                };
                let task = &self.tasks[t as usize];
                if !released || task.state != TaskState::Processing || task.processing_on != Some(w)
                {
                    return;
                }
                self.unassign(t);
                self.set_state(t, TaskState::Waiting);
                if self.running.contains(&thief) && self.allowed_on(t, thief) {
                    self.assign(t, thief, comm);
                } else {
                    self.make_ready(t, comm);
                }
            }
            WorkerToScheduler::AddKeys { keys } => {
                for (k, nbytes, tag) in keys {
                    match self.lookup(&k) {
                        Some(t) => self.finished(t, w, nbytes, &tag, None, None, comm),
                        None => self.frees.entry(w).or_default().push(k),
                    }
                }
                self.progress_retirements(comm);
            }
            WorkerToScheduler::RemovedKeys { keys } => {
                for k in keys {
                    if let Some(t) = self.lookup(&k)
                        && self.remove_replica(t, w)
                    {
                        self.lose_key(t, comm);
                    }
                }
            }
            WorkerToScheduler::Retire => self.start_retire(w, comm),
            WorkerToScheduler::MemoryRestart(MemoryRestart {
                rss,
                limit,
                fraction,
                executing,
            }) => {
                let executing = executing.iter().filter_map(|k| self.lookup(k)).collect();
                if let Some(worker) = self.workers.get_mut(&w) {
                    tracing::warn!(
                        worker = %worker.name,
                        "restarted by its supervisor: memory {} over the limit {} x {fraction}",
                        human_bytes(rss),
                        human_bytes(limit)
                    );
                    worker.memory_restart = Some(MemoryRestarting {
                        rss,
                        limit,
                        fraction,
                        executing,
                    });
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn register(
        &mut self,
        w: WorkerId,
        name: String,
        address: String,
        nthreads: u32,
        memory_limit: u64,
        resources: Vec<(String, f64)>,
        pid: u32,
        comm: &mut dyn Comm,
    ) {
        let clash = self
            .workers
            .iter()
            .find(|(id, x)| **id != w && x.registered && (x.name == name || x.address == address));
        if let Some((_, other)) = clash {
            let reason = format!(
                "a worker named {} at {} is already registered (this one: {name} at {address}); give each worker its own --name and port",
                other.name, other.address
            );
            comm.to_worker(
                w,
                SchedulerToWorker::Close {
                    reason: reason.clone(),
                },
                Vec::new(),
            );
            comm.close_worker(w, &reason);
            self.workers.remove(&w);
            return;
        }
        let worker = self.workers.get_mut(&w).expect("checked by the caller");
        if worker.registered {
            return;
        }
        worker.registered = true;
        worker.name = name;
        worker.address = address.clone();
        worker.nthreads = nthreads.max(1);
        worker.memory_limit = memory_limit;
        worker.resources = resources;
        worker.pid = pid;
        self.by_address.insert(address, w);
        self.running.insert(w);
        self.refresh_room(w);
        self.refill.push(w);
        // Tasks that had nowhere to go may fit now.
        let mut parked: Vec<TaskId> = std::mem::take(&mut self.no_worker).into_iter().collect();
        parked.sort_unstable_by_key(|&t| (self.tasks[t as usize].priority, t));
        for t in parked {
            self.set_state(t, TaskState::Waiting);
            self.make_ready(t, comm);
        }
    }

    /// Forget worker `w`: reschedule what it ran, recompute what only it
    /// held. `reason` is given when the scheduler itself drops it.
    pub(crate) fn worker_gone(&mut self, w: WorkerId, reason: Option<&str>, comm: &mut dyn Comm) {
        let Some(worker) = self.workers.remove(&w) else {
            return;
        };
        if let Some(reason) = reason {
            comm.close_worker(w, reason);
        }
        self.running.remove(&w);
        self.room.remove(&w);
        self.frees.remove(&w);
        if worker.registered && self.by_address.get(&worker.address) == Some(&w) {
            self.by_address.remove(&worker.address);
        }
        self.steals.retain(|_, thief| *thief != w);
        // Tasks it was running.
        let mut rescheduled: Vec<TaskId> = worker.processing.iter().copied().collect();
        rescheduled.sort_unstable();
        let mut killed = Vec::new();
        let memory = worker.memory_restart.as_ref();
        for &t in &rescheduled {
            self.steals.remove(&t);
            let task = &mut self.tasks[t as usize];
            task.processing_on = None;
            // A memory restart blames only the tasks that were running.
            if memory.is_none_or(|m| m.executing.contains(&t)) {
                task.failures += 1;
                if task.failures >= self.cfg.allowed_failures {
                    killed.push(t);
                }
            }
            self.set_state(t, TaskState::Waiting);
        }
        // Scattered data it never confirmed.
        let mut unconfirmed: Vec<TaskId> = worker.pending_store.iter().copied().collect();
        unconfirmed.sort_unstable();
        for t in unconfirmed {
            let task = &mut self.tasks[t as usize];
            if task.processing_on == Some(w) {
                task.processing_on = None;
                self.set_state(t, TaskState::Released);
                self.activate(t, comm); // errs as lost when still wanted
                self.checks.push(t);
            }
        }
        // Results only it held.
        let mut held: Vec<TaskId> = worker.has_what.iter().copied().collect();
        held.sort_unstable();
        let mut lost = Vec::new();
        for t in held {
            let task = &mut self.tasks[t as usize];
            if let Some(i) = task.who_has.iter().position(|&x| x == w) {
                task.who_has.swap_remove(i);
            }
            if task.who_has.is_empty() && task.state == TaskState::Memory {
                lost.push(t);
            }
        }
        for t in killed {
            let task = &self.tasks[t as usize];
            let failure = match memory {
                Some(m) => Failure {
                    key: WireKey::from(&task.key),
                    op: task.key.prefix().to_string(),
                    kind: FailureKind::Memory,
                    message: format!(
                        "task {} used too much memory: the workers running it were restarted {} times \
                         (last: {} at {}, RSS {} over its limit {} x {} = {}); give workers a larger \
                         --memory-limit or split the task into smaller ones",
                        task.key,
                        task.failures,
                        worker.name,
                        worker.address,
                        human_bytes(m.rss),
                        human_bytes(m.limit),
                        m.fraction,
                        human_bytes((m.limit as f64 * m.fraction) as u64),
                    ),
                    worker: Some(worker.name.clone()),
                },
                None => Failure {
                    key: WireKey::from(&task.key),
                    op: task.key.prefix().to_string(),
                    kind: FailureKind::KilledWorker,
                    message: format!(
                        "task {} was running on {} workers that died (last: {} at {}); it may crash its worker or use too much memory",
                        task.key, task.failures, worker.name, worker.address
                    ),
                    worker: Some(worker.name.clone()),
                },
            };
            self.fail(t, Arc::new(failure), comm);
        }
        for t in lost {
            self.lose_key(t, comm);
        }
        for t in rescheduled {
            if self.tasks[t as usize].state == TaskState::Waiting {
                self.recount(t);
                if self.tasks[t as usize].waiting_on == 0 {
                    self.make_ready(t, comm);
                }
            }
        }
    }

    /// Heartbeat timeouts, stealing, retirement progress.
    pub(crate) fn tick(&mut self, comm: &mut dyn Comm) {
        let now = self.now;
        let ttl = self.cfg.worker_ttl;
        let silent: Vec<(WorkerId, String)> = self
            .workers
            .iter()
            .filter(|(_, x)| now.saturating_sub(x.last_seen) > ttl)
            .map(|(&w, x)| {
                let who = if x.registered {
                    format!("worker {} at {}", x.name, x.address)
                } else {
                    format!("unregistered worker from {}", x.peer_address)
                };
                (w, who)
            })
            .collect();
        for (w, who) in silent {
            let reason = format!(
                "{who} sent no heartbeat for {:.1} s (worker_ttl); its tasks are rescheduled",
                ttl.as_secs_f64()
            );
            self.worker_gone(w, Some(&reason), comm);
        }
        if now.saturating_sub(self.last_steal) >= self.cfg.steal_interval {
            self.last_steal = now;
            self.steal(comm);
        }
        self.progress_retirements(comm);
    }

    /// Moves every retiring worker's retirement along.
    fn progress_retirements(&mut self, comm: &mut dyn Comm) {
        let retiring: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, x)| x.retiring)
            .map(|(&id, _)| id)
            .collect();
        for w in retiring {
            self.retire_progress(w, comm);
        }
    }

    /// See the module docs.
    fn steal(&mut self, comm: &mut dyn Comm) {
        let mut capacity: BTreeMap<WorkerId, usize> = BTreeMap::new();
        for &w in &self.running {
            let x = &self.workers[&w];
            let incoming = self.steals.values().filter(|&&t| t == w).count();
            let used = x.processing.len() + incoming;
            if used < x.nthreads as usize {
                capacity.insert(w, x.nthreads as usize - used);
            }
        }
        if capacity.is_empty() {
            return;
        }
        let victims: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, x)| x.processing.len() > x.nthreads as usize)
            .map(|(&w, _)| w)
            .collect();
        for v in victims {
            let mut candidates = self.not_being_stolen(v);
            let x = &self.workers[&v];
            let surplus = x
                .processing
                .len()
                .saturating_sub(x.nthreads as usize)
                .saturating_sub(x.processing.len() - candidates.len());
            // Lowest priority first: the ones it would start last.
            candidates
                .sort_unstable_by_key(|&t| std::cmp::Reverse((self.tasks[t as usize].priority, t)));
            let mut taken = 0;
            for t in candidates {
                if taken >= surplus || capacity.is_empty() {
                    break;
                }
                // Worth it only if moving the inputs costs less than
                // waiting behind the victim's queue.
                let wait = surplus as f64 / x.nthreads as f64 * self.avg_duration;
                let Some(thief) = capacity
                    .keys()
                    .copied()
                    .find(|&w| w != v && self.allowed_on(t, w) && self.transfer_time(t, w) <= wait)
                else {
                    continue;
                };
                let left = capacity.get_mut(&thief).expect("found above");
                *left -= 1;
                if *left == 0 {
                    capacity.remove(&thief);
                }
                self.steals.insert(t, thief);
                let key = WireKey::from(&self.tasks[t as usize].key);
                comm.to_worker(v, SchedulerToWorker::Steal { key }, Vec::new());
                taken += 1;
            }
        }
    }

    /// Seconds to move `t`'s inputs that `w` lacks.
    fn transfer_time(&self, t: TaskId, w: WorkerId) -> f64 {
        let bytes: u64 = self.tasks[t as usize]
            .deps
            .iter()
            .map(|&d| &self.tasks[d as usize])
            .filter(|d| !d.who_has.contains(&w))
            .map(|d| d.nbytes)
            .sum();
        bytes as f64 / self.cfg.bandwidth
    }

    /// Stop giving `w` tasks and start moving its data away.
    pub(crate) fn start_retire(&mut self, w: WorkerId, comm: &mut dyn Comm) {
        let Some(worker) = self.workers.get_mut(&w) else {
            return;
        };
        if worker.retiring {
            return;
        }
        worker.retiring = true;
        self.running.remove(&w);
        self.room.remove(&w);
        // Ask for its queued tasks back (beyond what its threads run now),
        // so retiring does not wait for a long queue.
        if !self.running.is_empty() {
            let mut queued = self.not_being_stolen(w);
            let worker = &self.workers[&w];
            queued.sort_unstable_by_key(|&t| (self.tasks[t as usize].priority, t));
            let running_now = worker.nthreads as usize;
            for &t in queued.iter().skip(running_now) {
                // The retiring worker as "thief": the reply places it anew.
                self.steals.insert(t, w);
                let key = WireKey::from(&self.tasks[t as usize].key);
                comm.to_worker(w, SchedulerToWorker::Steal { key }, Vec::new());
            }
        }
        self.retire_progress(w, comm);
    }

    /// Copy keys only `w` holds to peers; close it once it holds nothing
    /// unique and runs nothing.
    pub(crate) fn retire_progress(&mut self, w: WorkerId, comm: &mut dyn Comm) {
        let Some(worker) = self.workers.get(&w) else {
            return;
        };
        if !worker.retiring || worker.closed {
            return;
        }
        let mut unique: Vec<TaskId> = worker
            .has_what
            .iter()
            .copied()
            .filter(|&t| self.tasks[t as usize].who_has.len() == 1)
            .collect();
        unique.sort_unstable();
        let busy = !worker.processing.is_empty() || !worker.pending_store.is_empty();
        let address = worker.address.clone();
        let mut moving = worker.moving.clone();
        moving.retain(|t, peer| unique.contains(t) && self.running.contains(peer));
        let mut planned: FxHashMap<WorkerId, u64> = FxHashMap::default();
        let mut acquire: BTreeMap<WorkerId, Vec<DepLocation>> = BTreeMap::new();
        if !self.running.is_empty() {
            for &t in &unique {
                if moving.contains_key(&t) {
                    continue;
                }
                let peer = *self
                    .running
                    .iter()
                    .min_by_key(|p| {
                        self.workers[p].managed_bytes + planned.get(p).copied().unwrap_or(0)
                    })
                    .expect("not empty");
                let task = &self.tasks[t as usize];
                *planned.entry(peer).or_default() += task.nbytes;
                moving.insert(t, peer);
                acquire.entry(peer).or_default().push(DepLocation {
                    key: WireKey::from(&task.key),
                    nbytes: task.nbytes,
                    who_has: vec![address.clone()],
                });
            }
        }
        let done = !busy && (moving.is_empty() || self.running.is_empty());
        let worker = self.workers.get_mut(&w).expect("checked above");
        worker.moving = moving;
        for (peer, keys) in acquire {
            comm.to_worker(peer, SchedulerToWorker::Acquire { keys }, Vec::new());
        }
        if done {
            worker.closed = true;
            let reason = "retired: its data has moved to peers".to_string();
            comm.to_worker(w, SchedulerToWorker::Close { reason }, Vec::new());
        }
    }

    /// Whether `t`'s restrictions allow worker `w`.
    pub(crate) fn allowed_on(&self, t: TaskId, w: WorkerId) -> bool {
        let Some(r) = &self.tasks[t as usize].restrictions else {
            return true;
        };
        let Some(x) = self.workers.get(&w) else {
            return false;
        };
        // By name, full address, address without scheme, or host alone.
        let no_scheme = x.address.split_once("://").map_or(&*x.address, |(_, h)| h);
        let host = no_scheme.rsplit_once(':').map_or(no_scheme, |(h, _)| h);
        let by_name = r.workers.is_empty()
            || r.workers
                .iter()
                .any(|a| *a == x.name || *a == x.address || a == no_scheme || a == host);
        by_name
            && r.resources.iter().all(|(name, need)| {
                x.resources
                    .iter()
                    .any(|(have, amount)| have == name && amount >= need)
            })
    }

    /// Tasks processing on `w` that no steal request is out for.
    fn not_being_stolen(&self, w: WorkerId) -> Vec<TaskId> {
        self.workers[&w]
            .processing
            .iter()
            .copied()
            .filter(|t| !self.steals.contains_key(t))
            .collect()
    }

    /// Keep `room` (workers with a free slot for a root task) current.
    pub(crate) fn refresh_room(&mut self, w: WorkerId) {
        let Some(x) = self.workers.get(&w) else {
            self.room.remove(&w);
            return;
        };
        let window = (!self.cfg.withhold_window.is_zero()
            && self.avg_nbytes <= self.cfg.withhold_small_result as f64)
            .then(|| {
                (
                    self.cfg.withhold_window.as_secs_f64() / self.avg_duration.max(1e-7),
                    self.cfg.withhold_max_per_thread,
                )
            });
        if self.running.contains(&w)
            && x.processing.len() < x.slots(self.cfg.withhold_factor, window)
        {
            self.room.insert(w);
        } else {
            self.room.remove(&w);
        }
    }

    /// The least loaded worker with room for a root task.
    pub(crate) fn pick_room_worker(&self) -> Option<WorkerId> {
        self.room
            .iter()
            .take(MAX_IDLE_CANDIDATES * 2)
            .min_by(|a, b| {
                let load = |w: &WorkerId| {
                    let x = &self.workers[w];
                    x.processing.len() as f64 / x.nthreads as f64
                };
                load(a).total_cmp(&load(b)).then(a.cmp(b))
            })
            .copied()
    }

    /// The worker where `t` would start soonest: inputs to fetch over the
    /// bandwidth, plus queued work per thread. `None` when no running worker
    /// may run it.
    pub(crate) fn best_worker(&self, t: TaskId) -> Option<WorkerId> {
        let task = &self.tasks[t as usize];
        let mut candidates: Vec<WorkerId> = Vec::new();
        if task.restrictions.is_some() {
            candidates.extend(
                self.running
                    .iter()
                    .copied()
                    .filter(|&w| self.allowed_on(t, w)),
            );
        } else {
            for &d in task.deps.iter() {
                for w in self.tasks[d as usize].who_has.iter() {
                    if self.running.contains(w) && !candidates.contains(w) {
                        candidates.push(*w);
                    }
                }
            }
            for &w in self.room.iter().take(MAX_IDLE_CANDIDATES) {
                if !candidates.contains(&w) {
                    candidates.push(w);
                }
            }
            if candidates.is_empty() {
                candidates.extend(self.running.iter().copied());
            }
        }
        let cost = |w: WorkerId| {
            let x = &self.workers[&w];
            let fetch: u64 = task
                .deps
                .iter()
                .map(|&d| &self.tasks[d as usize])
                .filter(|d| !d.who_has.contains(&w))
                .map(|d| d.nbytes)
                .sum();
            fetch as f64 / self.cfg.bandwidth
                + (x.processing.len() as f64 + 1.0) / x.nthreads as f64 * self.avg_duration
        };
        candidates
            .into_iter()
            .map(|w| (cost(w), w))
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
            .map(|(_, w)| w)
    }
}
