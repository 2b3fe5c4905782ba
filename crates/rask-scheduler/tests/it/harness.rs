//! A recording `Comm` and simulated workers: the scheduler is driven by
//! events and every message it sends is kept for assertions.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use rask_protocol::*;
use rask_scheduler::{ClientId, Comm, Event, Scheduler, SchedulerConfig, WorkerId};

/// One message the scheduler sent.
#[derive(Debug, Clone)]
pub enum Msg {
    Client(ClientId, SchedulerToClient, Vec<Bytes>),
    Worker(WorkerId, SchedulerToWorker, Vec<Bytes>),
    Closed(WorkerId, String),
}

/// Records every message.
#[derive(Default, Debug)]
pub struct Rec {
    pub msgs: Vec<Msg>,
}

impl Comm for Rec {
    fn to_client(&mut self, c: ClientId, msg: SchedulerToClient, bulk: Vec<Bytes>) {
        self.msgs.push(Msg::Client(c, msg, bulk));
    }
    fn to_worker(&mut self, w: WorkerId, msg: SchedulerToWorker, bulk: Vec<Bytes>) {
        self.msgs.push(Msg::Worker(w, msg, bulk));
    }
    fn close_worker(&mut self, w: WorkerId, reason: &str) {
        self.msgs.push(Msg::Closed(w, reason.to_string()));
    }
}

pub fn key(name: &str) -> WireKey {
    WireKey {
        name: name.into(),
        index: vec![],
    }
}

pub fn task(name: &str, deps: &[u32]) -> SubmittedTask {
    SubmittedTask {
        key: key(name),
        op: name.as_bytes().to_vec(),
        deps: deps.iter().map(|&d| DepRef::Local(d)).collect(),
        order: 0,
        annotations: None,
    }
}

pub fn address(w: u32) -> String {
    format!("tcp://10.0.0.{w}:4000")
}

pub const C: ClientId = ClientId(0);

/// The scheduler, a recorder and a clock.
pub struct H {
    pub s: Scheduler,
    pub rec: Rec,
    pub now: Duration,
}

impl H {
    pub fn new() -> H {
        H::with(SchedulerConfig::default())
    }

    pub fn with(cfg: SchedulerConfig) -> H {
        let mut h = H {
            s: Scheduler::new(cfg),
            rec: Rec::default(),
            now: Duration::ZERO,
        };
        h.ev(Event::ClientConnected {
            client: C,
            name: "c0".into(),
        });
        h
    }

    pub fn ev(&mut self, e: Event) {
        self.s.handle(self.now, e, &mut self.rec);
        if let Err(e) = self.s.check_invariants() {
            panic!("invariant broken: {e}");
        }
    }

    pub fn worker(&mut self, w: u32, nthreads: u32) {
        self.worker_with(w, nthreads, vec![]);
    }

    pub fn worker_with(&mut self, w: u32, nthreads: u32, resources: Vec<(String, f64)>) {
        self.ev(Event::WorkerConnected {
            worker: WorkerId(w),
            peer_address: format!("10.0.0.{w}:50000"),
        });
        self.worker_says(
            w,
            WorkerToScheduler::Register {
                name: format!("w{w}"),
                address: address(w),
                nthreads,
                memory_limit: 0,
                resources,
                pid: 100 + w,
            },
        );
    }

    pub fn worker_says(&mut self, w: u32, msg: WorkerToScheduler) {
        self.ev(Event::Worker {
            worker: WorkerId(w),
            msg,
            bulk: vec![],
        });
    }

    pub fn client_says(&mut self, msg: ClientToScheduler) {
        self.ev(Event::Client {
            client: C,
            msg,
            bulk: vec![],
        });
    }

    /// Input `x` of `nbytes` computed on worker 1, then `n` wanted tasks
    /// `y0`, `y1`, … that read it (in that order of priority).
    pub fn x_on_worker_1_and_readers(&mut self, nbytes: u64, n: u32) {
        self.submit(vec![task("x", &[])], &[0]);
        self.take();
        self.finish(1, "x", nbytes);
        let readers: Vec<_> = (0..n)
            .map(|i| SubmittedTask {
                key: key(&format!("y{i}")),
                op: vec![],
                deps: vec![DepRef::Known(key("x"))],
                order: i,
                annotations: None,
            })
            .collect();
        self.submit(readers, &(0..n).collect::<Vec<_>>());
    }

    pub fn submit(&mut self, tasks: Vec<SubmittedTask>, wanted: &[u32]) {
        self.client_says(ClientToScheduler::UpdateGraph {
            tasks,
            wanted: wanted.to_vec(),
            inline_results: false,
        });
    }

    pub fn finish(&mut self, w: u32, name: &str, nbytes: u64) {
        self.worker_says(
            w,
            WorkerToScheduler::TaskFinished {
                key: key(name),
                nbytes,
                tag: "u64".into(),
                duration_us: 10,
                inline: None,
            },
        );
    }

    pub fn take(&mut self) -> Vec<Msg> {
        std::mem::take(&mut self.rec.msgs)
    }

    /// Keys sent to worker `w` with `Compute` (taken from the log).
    pub fn computes(&mut self) -> Vec<(u32, String)> {
        let mut out = Vec::new();
        self.rec.msgs.retain(|m| match m {
            Msg::Worker(w, SchedulerToWorker::Compute(c), _) => {
                out.push((w.0, c.key.name.clone()));
                false
            }
            _ => true,
        });
        out
    }

    /// Messages to the client (taken from the log).
    pub fn client_msgs(&mut self) -> Vec<SchedulerToClient> {
        let mut out = Vec::new();
        self.rec.msgs.retain(|m| match m {
            Msg::Client(_, msg, _) => {
                out.push(msg.clone());
                false
            }
            _ => true,
        });
        out
    }

    /// Keys freed on worker `w` so far (taken from the log).
    pub fn frees(&mut self) -> BTreeSet<(u32, String)> {
        let mut out = BTreeSet::new();
        self.rec.msgs.retain(|m| match m {
            Msg::Worker(w, SchedulerToWorker::Free { keys }, _) => {
                out.extend(keys.iter().map(|k| (w.0, k.name.clone())));
                false
            }
            _ => true,
        });
        out
    }
}

/// Names of keys reported in memory, in order.
pub fn in_memory(msgs: &[SchedulerToClient]) -> Vec<String> {
    msgs.iter()
        .filter_map(|m| match m {
            SchedulerToClient::InMemory { key, .. } => Some(key.name.clone()),
            _ => None,
        })
        .collect()
}

/// Failures reported.
pub fn erred(msgs: &[SchedulerToClient]) -> Vec<Failure> {
    msgs.iter()
        .filter_map(|m| match m {
            SchedulerToClient::Erred(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

/// A simulated worker: a queue of tasks and a store of keys.
#[derive(Default, Debug)]
pub struct SimWorker {
    pub queue: VecDeque<ComputeTask>,
    pub held: BTreeSet<String>,
}

/// Simulated workers that obey the scheduler's messages.
#[derive(Default, Debug)]
pub struct Sim {
    pub workers: BTreeMap<u32, SimWorker>,
    /// Every client message seen.
    pub client: Vec<SchedulerToClient>,
    /// Tasks that always fail.
    pub failing: BTreeSet<String>,
}

impl Sim {
    /// Apply the scheduler's messages to the simulated workers; answers
    /// (steal replies, added keys) are returned as events to deliver.
    pub fn absorb(&mut self, h: &mut H) -> Vec<(u32, WorkerToScheduler)> {
        let mut replies = Vec::new();
        for m in h.take() {
            match m {
                Msg::Client(_, msg, _) => self.client.push(msg),
                Msg::Closed(w, _) => {
                    self.workers.remove(&w.0);
                }
                Msg::Worker(w, msg, bulk) => {
                    let Some(x) = self.workers.get_mut(&w.0) else {
                        continue;
                    };
                    match msg {
                        SchedulerToWorker::Compute(c) => x.queue.push_back(c),
                        SchedulerToWorker::Free { keys } => {
                            for k in keys {
                                x.held.remove(&k.name);
                                x.queue.retain(|c| c.key != k);
                            }
                        }
                        SchedulerToWorker::Steal { key } => {
                            let pos = x.queue.iter().position(|c| c.key == key);
                            if let Some(p) = pos {
                                x.queue.remove(p);
                            }
                            replies.push((
                                w.0,
                                WorkerToScheduler::StealReply {
                                    key,
                                    released: pos.is_some(),
                                },
                            ));
                        }
                        SchedulerToWorker::Store { values } => {
                            assert_eq!(values.len(), bulk.len(), "one frame per stored value");
                            let keys = values
                                .into_iter()
                                .map(|(k, _)| {
                                    x.held.insert(k.name.clone());
                                    (k, 8, "u64".to_string())
                                })
                                .collect();
                            replies.push((w.0, WorkerToScheduler::AddKeys { keys }));
                        }
                        SchedulerToWorker::Acquire { keys } => {
                            let keys = keys
                                .into_iter()
                                .map(|d| {
                                    x.held.insert(d.key.name.clone());
                                    (d.key, d.nbytes, "u64".to_string())
                                })
                                .collect();
                            replies.push((w.0, WorkerToScheduler::AddKeys { keys }));
                        }
                        SchedulerToWorker::Retire => {}
                        SchedulerToWorker::Close { .. } => {
                            self.workers.remove(&w.0);
                        }
                    }
                }
            }
        }
        replies
    }

    /// Run the first queued task of worker `w`: fetch inputs from the
    /// holders the scheduler named, then finish (or report missing data).
    pub fn run_one(&mut self, w: u32) -> Option<WorkerToScheduler> {
        let c = self.workers.get_mut(&w)?.queue.pop_front()?;
        let mut missing = Vec::new();
        for d in &c.deps {
            let have = self.workers.iter().any(|(id, x)| {
                (*id == w || d.who_has.contains(&address(*id))) && x.held.contains(&d.key.name)
            });
            if !have {
                missing.push((d.key.clone(), d.who_has.clone()));
            }
        }
        if !missing.is_empty() {
            return Some(WorkerToScheduler::MissingData {
                key: c.key,
                missing,
            });
        }
        if self.failing.contains(&c.key.name) {
            return Some(WorkerToScheduler::TaskErred(Failure {
                key: c.key,
                op: "sim".into(),
                kind: FailureKind::Task,
                message: "simulated failure".into(),
                worker: None,
            }));
        }
        self.workers.get_mut(&w)?.held.insert(c.key.name.clone());
        Some(WorkerToScheduler::TaskFinished {
            key: c.key,
            nbytes: 8,
            tag: "u64".into(),
            duration_us: 5,
            inline: None,
        })
    }

    /// Deliver messages and run tasks until nothing is left to do.
    pub fn run_all(&mut self, h: &mut H) {
        for _ in 0..100_000 {
            for (w, r) in self.absorb(h) {
                h.worker_says(w, r);
            }
            let Some(w) = self
                .workers
                .iter()
                .find(|(_, x)| !x.queue.is_empty())
                .map(|(&w, _)| w)
            else {
                if h.rec.msgs.is_empty() {
                    return;
                }
                continue;
            };
            if let Some(m) = self.run_one(w) {
                h.worker_says(w, m);
            }
        }
        panic!("simulation did not settle");
    }

    pub fn add(&mut self, h: &mut H, w: u32, nthreads: u32) {
        self.workers.insert(w, SimWorker::default());
        h.worker(w, nthreads);
    }
}
