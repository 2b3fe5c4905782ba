//! The [`Scheduler`] struct, event dispatch, client requests and queries.
//!
//! Every event runs to completion, then `drain` settles the consequences in
//! one place: tasks whose need may have ended (`checks`) are released or
//! forgotten, workers that gained room (`refill`) take withheld root tasks,
//! and the `Free` messages gathered during the event go out, one per worker.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use rask_core::Key;
use rask_protocol::{
    BulkRef, ClientToScheduler, SchedulerToClient, SchedulerToWorker, WireKey, WorkerInfo,
};
use rustc_hash::FxHashMap;

use crate::task::{KeyIndex, Priority, Task, TaskId, TaskState};
use crate::workers::Worker;
use crate::{ClientId, Comm, Event, SchedulerConfig, Stats, WorkerId};

/// A connected client.
#[derive(Debug, Default)]
pub(crate) struct Client {
    pub name: String,
    /// Tasks it wants, possibly with stale entries (released since): the
    /// task's own `wanted_by` is the truth. A log instead of a set keeps a
    /// million wants cheap; it is compacted when mostly stale.
    pub wants: Vec<TaskId>,
    /// How many of `wants` are live.
    pub live: usize,
    /// Whether it asked for small results inline (latest submission).
    pub inline: bool,
}

/// The scheduler state machine; see the crate docs.
#[derive(Debug)]
pub struct Scheduler {
    pub(crate) cfg: SchedulerConfig,
    pub(crate) now: Duration,
    pub(crate) address: String,
    pub(crate) tasks: Vec<Task>,
    pub(crate) free_slots: Vec<TaskId>,
    pub(crate) keys: KeyIndex,
    pub(crate) tags: Vec<String>,
    pub(crate) tag_ids: FxHashMap<String, u32>,
    pub(crate) counts: [u64; 8],
    pub(crate) workers: BTreeMap<WorkerId, Worker>,
    pub(crate) by_address: FxHashMap<String, WorkerId>,
    /// Registered workers that take tasks (not retiring).
    pub(crate) running: BTreeSet<WorkerId>,
    /// Running workers with room for another root task.
    pub(crate) room: BTreeSet<WorkerId>,
    pub(crate) clients: FxHashMap<ClientId, Client>,
    /// Withheld root tasks, best first.
    pub(crate) queue: BTreeSet<(Priority, TaskId)>,
    pub(crate) no_worker: BTreeSet<TaskId>,
    /// Steal requests in flight: task → thief.
    pub(crate) steals: FxHashMap<TaskId, WorkerId>,
    pub(crate) generation: u64,
    pub(crate) epoch: u32,
    pub(crate) checks: Vec<TaskId>,
    pub(crate) refill: Vec<WorkerId>,
    pub(crate) frees: BTreeMap<WorkerId, Vec<WireKey>>,
    /// Moving average of task run time, seconds.
    pub(crate) avg_duration: f64,
    /// Moving average of result sizes, bytes (starts high: no widening
    /// of withholding before results have been seen).
    pub(crate) avg_nbytes: f64,
    pub(crate) last_steal: Duration,
    pub(crate) scratch: Vec<TaskId>,
}

impl Scheduler {
    /// A scheduler with no tasks, workers or clients.
    pub fn new(cfg: SchedulerConfig) -> Self {
        let avg_duration = cfg.default_task_duration.as_secs_f64();
        Scheduler {
            cfg,
            now: Duration::ZERO,
            address: String::new(),
            tasks: Vec::new(),
            free_slots: Vec::new(),
            keys: KeyIndex::default(),
            tags: vec![String::new()],
            tag_ids: FxHashMap::from_iter([(String::new(), 0)]),
            counts: [0; 8],
            workers: BTreeMap::new(),
            by_address: FxHashMap::default(),
            running: BTreeSet::new(),
            room: BTreeSet::new(),
            clients: FxHashMap::default(),
            queue: BTreeSet::new(),
            no_worker: BTreeSet::new(),
            steals: FxHashMap::default(),
            generation: 0,
            epoch: 0,
            checks: Vec::new(),
            refill: Vec::new(),
            frees: BTreeMap::new(),
            avg_duration,
            avg_nbytes: f64::INFINITY,
            last_steal: Duration::ZERO,
            scratch: Vec::new(),
        }
    }

    /// Set the address reported to clients in [`SchedulerToClient::Info`].
    pub fn set_address(&mut self, address: impl Into<String>) {
        self.address = address.into();
    }

    /// The configuration.
    pub fn config(&self) -> &SchedulerConfig {
        &self.cfg
    }

    /// Handle one event at `now` (time since the scheduler started; passed
    /// in so tests are deterministic), sending what follows through `comm`.
    pub fn handle(&mut self, now: Duration, event: Event, comm: &mut dyn Comm) {
        self.now = now;
        match event {
            Event::ClientConnected { client, name } => {
                self.clients.entry(client).or_default().name = name;
            }
            Event::Client { client, msg, bulk } => self.on_client(client, msg, bulk, comm),
            Event::ClientGone { client } => self.client_gone(client),
            Event::WorkerConnected {
                worker,
                peer_address,
            } => self.worker_connected(worker, peer_address),
            Event::Worker { worker, msg, bulk } => self.on_worker(worker, msg, bulk, comm),
            Event::WorkerGone { worker } => self.worker_gone(worker, None, comm),
            Event::Tick => self.tick(comm),
        }
        self.drain(comm);
    }

    /// Counts of tasks by state, workers and clients.
    pub fn stats(&self) -> Stats {
        let c = |s: TaskState| self.counts[s as usize];
        Stats {
            tasks: self.keys.len() as u64,
            released: c(TaskState::Released),
            waiting: c(TaskState::Waiting),
            queued: c(TaskState::Queued),
            no_worker: c(TaskState::NoWorker),
            processing: c(TaskState::Processing),
            memory: c(TaskState::Memory),
            erred: c(TaskState::Erred),
            workers: self.workers.values().filter(|w| w.registered).count(),
            clients: self.clients.len(),
        }
    }

    /// The state of the task with this key, or `None` when the scheduler
    /// does not know it (never submitted, or forgotten).
    pub fn task_state(&self, key: &WireKey) -> Option<TaskState> {
        self.lookup(key).map(|t| self.tasks[t as usize].state)
    }

    /// The addresses of the workers holding `key` (empty when none).
    pub fn who_has(&self, key: &WireKey) -> Vec<String> {
        self.lookup(key)
            .map(|t| self.addresses(&self.tasks[t as usize].who_has))
            .unwrap_or_default()
    }

    /// The worker running `key`, if it is processing.
    pub fn processing_on(&self, key: &WireKey) -> Option<WorkerId> {
        self.lookup(key)
            .and_then(|t| self.tasks[t as usize].processing_on)
    }

    /// The registered workers, as clients see them.
    pub fn workers_info(&self) -> Vec<WorkerInfo> {
        self.workers
            .values()
            .filter(|w| w.registered)
            .map(|w| WorkerInfo {
                name: w.name.clone(),
                address: w.address.clone(),
                nthreads: w.nthreads,
                memory_limit: w.memory_limit,
                managed_bytes: w.managed_bytes,
                processing: w.processing.len() as u32,
            })
            .collect()
    }

    /// Ask a worker to retire: it takes no more tasks, its data moves to
    /// peers, then it is sent `Close`. Unknown workers are ignored.
    pub fn retire_worker(&mut self, now: Duration, worker: WorkerId, comm: &mut dyn Comm) {
        self.now = now;
        if self.workers.contains_key(&worker) {
            comm.to_worker(worker, SchedulerToWorker::Retire, Vec::new());
            self.start_retire(worker, comm);
        }
        self.drain(comm);
    }

    pub(crate) fn lookup(&self, key: &WireKey) -> Option<TaskId> {
        self.keys.get_wire(key, &self.tasks)
    }

    pub(crate) fn addresses(&self, ws: &[WorkerId]) -> Vec<String> {
        ws.iter()
            .filter_map(|w| self.workers.get(w).map(|w| w.address.clone()))
            .collect()
    }

    pub(crate) fn intern_tag(&mut self, tag: &str) -> u32 {
        if let Some(&id) = self.tag_ids.get(tag) {
            return id;
        }
        let id = self.tags.len() as u32;
        self.tags.push(tag.to_string());
        self.tag_ids.insert(tag.to_string(), id);
        id
    }

    /// Settle the consequences of an event; see the module docs.
    fn drain(&mut self, comm: &mut dyn Comm) {
        loop {
            if let Some(t) = self.checks.pop() {
                self.maybe_unneeded(t);
            } else if let Some(w) = self.refill.pop() {
                self.fill(w, comm);
            } else {
                break;
            }
        }
        for (w, keys) in std::mem::take(&mut self.frees) {
            if self.workers.contains_key(&w) {
                comm.to_worker(w, SchedulerToWorker::Free { keys }, Vec::new());
            }
        }
    }

    /// Send the `Free`s gathered for `w` now (before a `Compute` to it, so
    /// the worker sees them in order).
    pub(crate) fn flush_frees(&mut self, w: WorkerId, comm: &mut dyn Comm) {
        if let Some(keys) = self.frees.remove(&w) {
            comm.to_worker(w, SchedulerToWorker::Free { keys }, Vec::new());
        }
    }

    fn on_client(
        &mut self,
        client: ClientId,
        msg: ClientToScheduler,
        bulk: Vec<Bytes>,
        comm: &mut dyn Comm,
    ) {
        self.clients.entry(client).or_insert_with(|| Client {
            name: format!("client-{}", client.0),
            ..Client::default()
        });
        match msg {
            ClientToScheduler::UpdateGraph {
                tasks,
                wanted,
                inline_results,
            } => {
                if let Err(refused) = self.update_graph(client, tasks, wanted, inline_results, comm)
                {
                    refused.send(client, comm);
                }
            }
            ClientToScheduler::Want { keys } => {
                let mut unknown = Vec::new();
                for k in &keys {
                    match self.lookup(k) {
                        Some(t) => self.add_want(client, t, comm),
                        None => unknown.push(k.clone()),
                    }
                }
                if !unknown.is_empty() {
                    let message = format!(
                        "the scheduler does not hold {}; it was released or never submitted, submit it again",
                        unknown.iter().map(fmt_key).collect::<Vec<_>>().join(", ")
                    );
                    Refused {
                        message,
                        keys: unknown,
                    }
                    .send(client, comm);
                }
            }
            ClientToScheduler::Release { keys } => {
                for k in &keys {
                    if let Some(t) = self.lookup(k) {
                        self.remove_want(client, t);
                    }
                }
            }
            ClientToScheduler::Cancel { keys } => {
                for k in &keys {
                    if let Some(t) = self.lookup(k) {
                        self.cancel(client, t, comm);
                    }
                }
            }
            ClientToScheduler::Scatter { values, broadcast } => {
                if let Err(refused) = self.scatter(client, values, broadcast, bulk, comm) {
                    refused.send(client, comm);
                }
            }
            ClientToScheduler::WhoHas { keys } => {
                let entries = keys
                    .into_iter()
                    .map(|k| {
                        let who = self.who_has(&k);
                        (k, who)
                    })
                    .collect();
                comm.to_client(client, SchedulerToClient::WhoHas { entries }, Vec::new());
            }
            ClientToScheduler::Info => {
                let msg = SchedulerToClient::Info {
                    address: self.address.clone(),
                    workers: self.workers_info(),
                    tasks: self.keys.len() as u64,
                };
                comm.to_client(client, msg, Vec::new());
            }
            ClientToScheduler::Close => self.client_gone(client),
        }
    }

    /// Drop everything a client wanted.
    fn client_gone(&mut self, client: ClientId) {
        let Some(c) = self.clients.remove(&client) else {
            return;
        };
        for t in c.wants {
            let task = &mut self.tasks[t as usize];
            let before = task.wanted_by.len();
            task.wanted_by.retain(|w| w.client != client);
            if task.wanted_by.len() != before {
                self.checks.push(t);
            }
        }
    }

    /// `client` no longer wants `t`.
    pub(crate) fn remove_want(&mut self, client: ClientId, t: TaskId) {
        let task = &mut self.tasks[t as usize];
        let before = task.wanted_by.len();
        task.wanted_by.retain(|w| w.client != client);
        if task.wanted_by.len() != before {
            if let Some(c) = self.clients.get_mut(&client) {
                c.live = c.live.saturating_sub(1);
                if c.wants.len() > 64 && c.wants.len() > 4 * c.live {
                    let tasks = &self.tasks;
                    c.wants.sort_unstable();
                    c.wants.dedup();
                    c.wants.retain(|&t| {
                        tasks[t as usize]
                            .wanted_by
                            .iter()
                            .any(|w| w.client == client)
                    });
                    c.live = c.wants.len();
                }
            }
            self.checks.push(t);
        }
    }

    /// Cancel `t` for `client`: it is told the key was cancelled; unless
    /// another client wants it, the work only it needed is dropped (in
    /// `drain`).
    fn cancel(&mut self, client: ClientId, t: TaskId, comm: &mut dyn Comm) {
        let task = &self.tasks[t as usize];
        if !task.wanted_by.iter().any(|w| w.client == client) {
            return;
        }
        let failure = rask_protocol::Failure {
            key: WireKey::from(&task.key),
            op: task.key.prefix().to_string(),
            kind: rask_protocol::FailureKind::Cancelled,
            message: format!("{} was cancelled by the client", task.key),
            worker: None,
        };
        let told = task.wanted_by.iter().any(|w| w.client == client && w.told);
        self.remove_want(client, t);
        if !told {
            comm.to_client(client, SchedulerToClient::Erred(failure), Vec::new());
        }
    }

    /// Store client values on workers. Each key is `processing` on its
    /// (first) worker until that worker confirms with `AddKeys`, then in
    /// memory and reported to the client.
    fn scatter(
        &mut self,
        client: ClientId,
        values: Vec<(WireKey, BulkRef)>,
        broadcast: bool,
        bulk: Vec<Bytes>,
        comm: &mut dyn Comm,
    ) -> Result<(), Refused> {
        // A refused scatter fails the futures of all its values.
        let refuse = |message: String| Refused {
            message,
            keys: values.iter().map(|(k, _)| k.clone()).collect(),
        };
        if self.running.is_empty() {
            return Err(refuse(
                "cannot scatter: no workers are connected; start a worker (`rask worker ADDRESS`) and try again"
                    .into(),
            ));
        }
        for (k, r) in &values {
            if r.frame as usize >= bulk.len() {
                return Err(refuse(format!(
                    "scatter of {} names frame {}, but the message carries {} frames",
                    fmt_key(k),
                    r.frame,
                    bulk.len()
                )));
            }
        }
        self.generation += 1;
        let mut planned: FxHashMap<WorkerId, u64> = FxHashMap::default();
        // Per worker: the values and their frames.
        type Batch = (Vec<(WireKey, BulkRef)>, Vec<Bytes>);
        let mut out: BTreeMap<WorkerId, Batch> = BTreeMap::new();
        for (i, (wk, r)) in values.into_iter().enumerate() {
            let key = Key::from(&wk);
            let frame = bulk[r.frame as usize].clone();
            if let Some(t) = self.keys.get(&key, &self.tasks) {
                let state = self.tasks[t as usize].state;
                if state != TaskState::Released {
                    self.add_want(client, t, comm);
                    continue;
                }
            }
            let targets: Vec<WorkerId> = if broadcast {
                self.running.iter().copied().collect()
            } else {
                let w = *self
                    .running
                    .iter()
                    .min_by_key(|w| {
                        self.workers[w].managed_bytes + planned.get(w).copied().unwrap_or(0)
                    })
                    .expect("running is not empty (checked above)");
                vec![w]
            };
            let t = match self.keys.get(&key, &self.tasks) {
                Some(t) => {
                    // A record kept as lineage becomes data: its old op and
                    // inputs go, so they are neither rerun nor held for it.
                    self.drop_lineage(t);
                    self.tasks[t as usize].scattered = true;
                    t
                }
                None => self.new_task(
                    key,
                    Box::default(),
                    Vec::new(),
                    None,
                    (0, self.generation as u32, i as u32),
                    None,
                    0,
                    true,
                ),
            };
            let tag = self.intern_tag(&r.tag);
            let task = &mut self.tasks[t as usize];
            task.nbytes = frame.len() as u64;
            task.tag = tag;
            task.processing_on = Some(targets[0]);
            self.set_state(t, TaskState::Processing);
            if let Some(w) = self.workers.get_mut(&targets[0]) {
                w.pending_store.insert(t);
            }
            for w in targets {
                *planned.entry(w).or_default() += frame.len() as u64;
                let (vals, frames) = out.entry(w).or_default();
                vals.push((
                    wk.clone(),
                    BulkRef {
                        frame: frames.len() as u32,
                        tag: r.tag.clone(),
                    },
                ));
                frames.push(frame.clone());
            }
            self.add_want(client, t, comm);
        }
        for (w, (values, frames)) in out {
            self.flush_frees(w, comm);
            comm.to_worker(w, SchedulerToWorker::Store { values }, frames);
        }
        Ok(())
    }
}

impl Scheduler {
    /// Forgets how the released record `t` was made (op, inputs), so it
    /// can hold scattered data: its inputs stop counting it as a dependent
    /// and are released or forgotten if nothing else needs them.
    fn drop_lineage(&mut self, t: TaskId) {
        let task = &mut self.tasks[t as usize];
        debug_assert!(
            !task.state.is_active(),
            "only a released record is scattered over"
        );
        task.op = Box::default();
        task.args = None;
        let deps = std::mem::take(&mut task.deps);
        for &d in deps.iter() {
            self.tasks[d as usize].dependents.remove(t);
            self.checks.push(d);
        }
    }
}

/// A wire key as people read it.
/// A client's request refused: why, and the keys whose futures that fails.
pub(crate) struct Refused {
    pub(crate) message: String,
    pub(crate) keys: Vec<WireKey>,
}

impl Refused {
    /// Tells `client`.
    fn send(self, client: ClientId, comm: &mut dyn Comm) {
        let msg = SchedulerToClient::Error {
            message: self.message,
            keys: Some(self.keys),
        };
        comm.to_client(client, msg, Vec::new());
    }
}

pub(crate) fn fmt_key(k: &WireKey) -> String {
    Key::from(k).to_string()
}
