//! The worker's network side: a tokio runtime on a thread of its own that
//! connects to the scheduler, runs the data server, fetches from peers, and
//! drives the [`WorkerState`] with what happens.
//!
//! Start-up: bind the data server (an error names the address), connect to
//! the scheduler as [`Role::Worker`] (waiting up to `scheduler_wait` for
//! one to answer, following a rewritten scheduler file meanwhile: see
//! `scheduler_file`), work out the address to advertise,
//! send `Register`; only then does [`Worker::start`] return. From there one
//! loop takes events in order — scheduler messages (read by a task of their
//! own, since reads are not cancel-safe), finished runs from the task
//! threads, fetch results, heartbeat ticks, requests from the handle — and
//! performs the actions the state machine returns. Messages to the
//! scheduler are written without flushing while events are waiting (up to
//! [`DRAIN_EVENTS`] of them), then flushed once: a burst of finished tasks
//! costs one system call.
//!
//! Shut-down: `Close` from the scheduler ends the loop with `Ok`; a lost
//! scheduler connection ends it with [`WorkerError::SchedulerLost`]; a kill
//! ends it at once. Every network task is owned by the loop (a `JoinSet`
//! or a handle aborted on exit), so nothing outlives the worker except task
//! threads finishing the run they are in.

use std::net::{SocketAddr, ToSocketAddrs};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rask_core::Key;
use rask_protocol::{
    ConnWriter, ConnectOptions, ListenOptions, Listener, Message, ProtocolError, Role,
    SchedulerToWorker, WorkerToScheduler,
};
use tokio::sync::Notify;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinSet;

use crate::error::{Result, WorkerError};
use crate::execute::{Done, Pool};
use crate::options::WorkerOptions;
use crate::peer::{FetchResult, Peers};
use crate::state::{Action, WorkerState};
use crate::store::Store;

/// Everything the worker's loop reacts to.
pub(crate) enum Event {
    /// A message from the scheduler, or the end of its connection.
    Scheduler(std::result::Result<Option<Message<SchedulerToWorker>>, ProtocolError>),
    /// A task thread finished runs.
    Done(Vec<Done>),
    /// A fetch from a peer ended.
    Fetched {
        peer: String,
        keys: Vec<Key>,
        result: FetchResult,
    },
    /// Ask the scheduler to retire this worker.
    Retire,
    /// Memory fell under the pause threshold: root tasks may start again.
    MemoryResumed,
    /// The supervisor restarts this worker for memory: tell the scheduler
    /// (with the tasks running now), flush, and stop.
    MemoryRestart(crate::supervisor::Request),
}

/// How often a worker with a memory limit samples its memory.
const MEMORY_SAMPLE: Duration = Duration::from_millis(100);

/// The entry point for starting workers in-process; see [`Worker::start`].
///
/// ```no_run
/// use rask_worker::{Worker, WorkerOptions};
/// let mut opts = WorkerOptions::new("tcp://10.0.0.5:8786");
/// opts.nthreads = 4;
/// let worker = Worker::start(opts)?;
/// println!("serving data at {}", worker.address());
/// worker.wait()?; // until the scheduler closes it
/// # Ok::<(), rask_worker::WorkerError>(())
/// ```
#[derive(Debug)]
pub struct Worker;

impl Worker {
    /// Starts a worker on threads of its own and returns once it has
    /// registered with the scheduler.
    ///
    /// The worker runs until the scheduler closes it, the connection to the
    /// scheduler breaks, or its [`WorkerHandle`] is killed or dropped.
    ///
    /// # Errors
    ///
    /// [`WorkerError::InvalidOption`], [`WorkerError::Bind`] when the data
    /// server cannot listen on `opts.listen`, [`WorkerError::Connect`] when
    /// the scheduler cannot be reached or refuses the worker (within
    /// `opts.connect_timeout`), [`WorkerError::NoSchedulerAtFileAddress`]
    /// when `opts.scheduler_file` is set and nothing answered at the
    /// address it holds within `opts.scheduler_wait`, [`WorkerError::Start`]
    /// when threads cannot be made.
    pub fn start(opts: WorkerOptions) -> Result<WorkerHandle> {
        start(opts, false)
    }
}

/// A running worker.
///
/// Dropping the handle stops the worker abruptly, like [`WorkerHandle::kill`];
/// call [`WorkerHandle::wait`] to let it run until the scheduler closes it.
pub struct WorkerHandle {
    name: String,
    address: String,
    events: UnboundedSender<Event>,
    kill: Arc<Notify>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl std::fmt::Debug for WorkerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerHandle")
            .field("name", &self.name)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl WorkerHandle {
    /// The worker's name, as registered.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address of the worker's data server, as advertised to the
    /// cluster (`tcp://IP:PORT`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Waits until the worker stops: `Ok` when the scheduler closed it.
    ///
    /// # Errors
    ///
    /// [`WorkerError::SchedulerLost`] naming the scheduler's address when the
    /// connection broke, [`WorkerError::Killed`] after a second interrupt.
    pub fn wait(mut self) -> Result<()> {
        self.join()
    }

    /// Stops the worker at once, as if its process died: connections close,
    /// nothing is handed over. Tasks running on its threads finish in the
    /// background and are discarded.
    pub fn kill(mut self) {
        self.kill.notify_one();
        let _ = self.join();
    }

    /// Asks the scheduler to retire this worker: it takes no more tasks,
    /// its data moves to peers, then the scheduler closes it (and
    /// [`WorkerHandle::wait`] returns `Ok`).
    pub fn retire(&self) {
        let _ = self.events.send(Event::Retire);
    }

    fn join(&mut self) -> Result<()> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(WorkerError::Start("the worker's thread panicked".into()))),
            None => Ok(()),
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.kill.notify_one();
            let _ = self.join();
        }
    }
}

/// Starts a worker; with `signals`, SIGTERM and SIGINT retire it.
pub(crate) fn start(opts: WorkerOptions, signals: bool) -> Result<WorkerHandle> {
    let opts = opts.validated()?;
    let name = opts.name.clone().unwrap_or_else(default_name);
    let (events_tx, events_rx) = unbounded_channel();
    // A kill does not queue behind events: it ends the loop wherever it is.
    let kill = Arc::new(Notify::new());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<String>();
    let thread = {
        let events_tx = events_tx.clone();
        let kill = Arc::clone(&kill);
        let name = name.clone();
        std::thread::Builder::new()
            .name(format!("rask-worker-{name}"))
            .spawn(move || {
                // The loop runs on this thread (`block_on`), the network
                // tasks on one runtime thread. Everything on one
                // current-thread runtime saved a wake-up per message (about
                // 25% of the worker's CPU on a stream of tiny tasks) but
                // added ~50 µs to a lone task's round trip: the loop then
                // sleeps in epoll, and a finished task wakes it through an
                // eventfd. Latency wins; batched results keep wake-ups rare
                // on streams anyway. Big encodes and decodes go to tokio's
                // blocking threads.
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name(format!("rask-worker-{name}-io"))
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        return Err(WorkerError::Start(format!("cannot start its runtime: {e}")));
                    }
                };
                let result = rt.block_on(run_worker(
                    opts, name, events_tx, events_rx, kill, ready_tx, signals,
                ));
                // Blocking encodes or decodes still under way are dropped.
                rt.shutdown_timeout(Duration::from_millis(100));
                result
            })
            .map_err(|e| WorkerError::Start(format!("cannot start a thread: {e}")))?
    };
    // The thread sends the address once registered, or ends with the
    // start-up error (dropping the sender).
    match ready_rx.recv() {
        Ok(address) => Ok(WorkerHandle {
            name,
            address,
            events: events_tx,
            kill,
            thread: Some(thread),
        }),
        Err(_) => Err(match thread.join() {
            Ok(Err(e)) => e,
            _ => WorkerError::Start("the worker's thread stopped while starting".into()),
        }),
    }
}

fn default_name() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// The whole life of a worker; `ready` gets the advertised address once
/// registered (and is dropped unused on a start-up error).
async fn run_worker(
    opts: WorkerOptions,
    name: String,
    events_tx: UnboundedSender<Event>,
    mut events: UnboundedReceiver<Event>,
    kill: Arc<Notify>,
    ready: std::sync::mpsc::Sender<String>,
    signals: bool,
) -> Result<()> {
    // Handlers go in before registering, so a signal that follows the
    // registration is never the default one (death).
    let signals = if signals {
        Some(Signals::install())
    } else {
        None
    };
    let Started {
        listener,
        writer,
        reader,
        address,
        scheduler,
    } = start_up(&opts, &name).await?;
    let lost = |message: String| WorkerError::SchedulerLost {
        address: scheduler.clone(),
        message,
    };
    let register = WorkerToScheduler::Register {
        name: name.clone(),
        address: address.clone(),
        nthreads: opts.nthreads as u32,
        memory_limit: opts.memory_limit,
        resources: opts.resources.clone(),
        pid: std::process::id(),
    };
    let mut writer = writer;
    writer
        .send(&register, &[])
        .await
        .map_err(|e| lost(e.to_string()))?;

    // The network tasks; all are aborted when this function returns.
    let mut tasks = JoinSet::new();
    {
        let tx = events_tx.clone();
        let mut reader = reader;
        tasks.spawn(async move {
            loop {
                let m = reader.recv::<SchedulerToWorker>().await;
                let end = !matches!(m, Ok(Some(_)));
                if tx.send(Event::Scheduler(m)).is_err() || end {
                    break;
                }
            }
        });
    }
    let store = Arc::new(Store::new(memory_policy(opts.memory_limit)?));
    tasks.spawn(crate::peer::serve(listener, Arc::clone(&store)));
    if store.has_limit() {
        tasks.spawn(watch_memory(Arc::clone(&store), events_tx.clone()));
    }
    if let Some(signals) = signals {
        tasks.spawn(signals.watch(events_tx.clone(), Arc::clone(&kill)));
    }
    if opts.supervised {
        crate::supervisor::listen_to_supervisor(events_tx.clone(), &name)?;
    }
    let pool = {
        let tx = events_tx.clone();
        let resumed = events_tx.clone();
        let watched = Arc::clone(&store);
        Pool::start(
            opts.nthreads,
            &name,
            move |d| {
                let _ = tx.send(Event::Done(d));
            },
            // Memory is watched between tasks too (a busy machine may delay
            // the sampling task while tasks go on allocating); this thread
            // hands its free memory back when a sample asked for it.
            move || {
                if watched.has_limit() {
                    if watched.sample_if_due() == Some((true, false)) {
                        let _ = resumed.send(Event::MemoryResumed);
                    }
                    rask_memory::release_point();
                }
            },
        )
        .map_err(|e| WorkerError::Start(format!("cannot start task threads: {e}")))?
    };
    let peers = Arc::new(Peers::new(ConnectOptions {
        role: Role::Peer,
        name: name.clone(),
        token: opts.token.clone(),
        tls: opts.tls.clone(),
        connect_timeout: opts.connect_timeout,
        handshake_timeout: opts.connect_timeout,
        ..ConnectOptions::default()
    }));
    let state = WorkerState::new(
        name.clone(),
        address.clone(),
        opts.nthreads,
        &opts.resources,
        Arc::clone(&store),
    );
    tracing::info!(worker = %name, %address, %scheduler, "worker registered");
    let _ = ready.send(address);

    let mut core = Core {
        state,
        pool,
        peers,
        fetches: JoinSet::new(),
        events_tx,
        writer,
        name,
        scheduler,
        retire_sent: false,
        restarting: false,
    };
    let result = tokio::select! {
        result = core.run(&mut events, opts.heartbeat) => result,
        _ = kill.notified() => Err(WorkerError::Killed),
    };
    if let Err(e) = &result {
        tracing::warn!(worker = %core.name, "worker stopped: {e}");
    }
    core.pool.stop(false);
    core.fetches.abort_all();
    tasks.abort_all();
    result
}

/// The memory policy of a worker with a limit of `limit` bytes (0: none):
/// thresholds, spill directory and compression from the configuration.
fn memory_policy(limit: u64) -> Result<Option<rask_memory::MemoryPolicy>> {
    if limit == 0 {
        return Ok(None);
    }
    let config = rask_config::get();
    let mut policy = rask_memory::MemoryPolicy::from_config(&config).map_err(|e| {
        WorkerError::InvalidOption {
            what: "memory thresholds".into(),
            message: e.to_string(),
        }
    })?;
    policy.limit = limit;
    Ok(Some(policy))
}

/// Samples memory every [`MEMORY_SAMPLE`] (spilling off the async threads)
/// and tells the loop when a pause ends.
async fn watch_memory(store: Arc<Store>, events: UnboundedSender<Event>) {
    let mut tick = tokio::time::interval(MEMORY_SAMPLE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let s = Arc::clone(&store);
        let Ok((was, now)) = tokio::task::spawn_blocking(move || s.sample()).await else {
            break;
        };
        if was && !now && events.send(Event::MemoryResumed).is_err() {
            break;
        }
    }
}

/// Events handled between two flushes, at most.
const DRAIN_EVENTS: usize = 256;

/// What the worker's loop works with.
struct Core {
    state: WorkerState,
    pool: Pool,
    peers: Arc<Peers>,
    fetches: JoinSet<()>,
    events_tx: UnboundedSender<Event>,
    writer: ConnWriter,
    name: String,
    scheduler: String,
    /// `Retire` was sent (a signal and the supervisor may both ask).
    retire_sent: bool,
    /// `MemoryRestart` was sent: stop after the next flush.
    restarting: bool,
}

impl Core {
    fn lost(&self, message: String) -> WorkerError {
        WorkerError::SchedulerLost {
            address: self.scheduler.clone(),
            message,
        }
    }

    /// The loop: events in, actions out, until the worker stops.
    async fn run(
        &mut self,
        events: &mut UnboundedReceiver<Event>,
        heartbeat: Duration,
    ) -> Result<()> {
        let mut heartbeat = tokio::time::interval(heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let step = tokio::select! {
                // The loop holds a sender itself, so the channel stays open.
                Some(event) = events.recv() => self.on_event(event),
                _ = heartbeat.tick() => ControlFlow::Continue(vec![Action::Send(
                    WorkerToScheduler::Heartbeat(self.state.metrics()),
                    Vec::new(),
                )]),
                Some(_) = self.fetches.join_next(), if !self.fetches.is_empty() => {
                    ControlFlow::Continue(Vec::new())
                }
            };
            let mut stop = match step {
                ControlFlow::Break(result) => Some(result),
                ControlFlow::Continue(actions) => self.perform(actions).await.err().map(Err),
            };
            // Take the events already waiting too, then flush once: a burst of
            // messages costs one system call, not one each.
            for _ in 0..DRAIN_EVENTS {
                if stop.is_some() {
                    break;
                }
                let Ok(event) = events.try_recv() else { break };
                stop = match self.on_event(event) {
                    ControlFlow::Break(result) => Some(result),
                    ControlFlow::Continue(actions) => self.perform(actions).await.err().map(Err),
                };
            }
            if let Err(e) = self.writer.flush().await {
                stop.get_or_insert(Err(self.lost(e.to_string())));
            }
            if self.restarting {
                stop.get_or_insert(Ok(()));
            }
            if let Some(result) = stop {
                break result;
            }
        }
    }

    /// Feeds an event to the state machine: the actions to perform, or the
    /// end of the worker.
    fn on_event(&mut self, event: Event) -> ControlFlow<Result<()>, Vec<Action>> {
        let state = &mut self.state;
        let name = &self.name;
        ControlFlow::Continue(match event {
            Event::Scheduler(Ok(Some(m))) => match m.msg {
                SchedulerToWorker::Compute(ct) => state.on_compute(ct),
                SchedulerToWorker::Free { keys } => state.on_free(&keys),
                SchedulerToWorker::Steal { key } => state.on_steal(key),
                SchedulerToWorker::Store { values } => {
                    // A value that does not decode fails its key: nothing
                    // else holds it, so the scheduler would wait forever.
                    let (values, failed) = crate::peer::decode_stored(values, &m.bulk);
                    let mut out: Vec<Action> = failed
                        .into_iter()
                        .map(|f| {
                            tracing::warn!(worker = %name, "{}", f.message);
                            Action::Send(WorkerToScheduler::TaskErred(f), Vec::new())
                        })
                        .collect();
                    if !values.is_empty() {
                        out.extend(state.on_store(values));
                    }
                    out
                }
                SchedulerToWorker::Acquire { keys } => state.on_acquire(keys),
                SchedulerToWorker::Retire => {
                    tracing::info!(worker = %name, "retiring");
                    state.on_retire();
                    Vec::new()
                }
                SchedulerToWorker::Close { reason } => {
                    tracing::info!(worker = %name, %reason, "closed by the scheduler");
                    return ControlFlow::Break(Ok(()));
                }
            },
            Event::Scheduler(Ok(None)) => {
                return ControlFlow::Break(Err(
                    self.lost("the scheduler closed the connection".into())
                ));
            }
            Event::Scheduler(Err(e)) => return ControlFlow::Break(Err(self.lost(e.to_string()))),
            Event::Done(done) => done.into_iter().flat_map(|d| state.on_done(d)).collect(),
            Event::Fetched { peer, keys, result } => match result {
                FetchResult::Data { found, undecodable } => {
                    state.on_fetched(&peer, &keys, found, undecodable)
                }
                FetchResult::Busy => state.on_peer_busy(&peer, &keys),
                FetchResult::Failed(message) => {
                    tracing::warn!(worker = %name, %peer, "fetch failed: {message}");
                    state.on_fetch_failed(&peer, &keys)
                }
            },
            Event::Retire if self.retire_sent => Vec::new(),
            Event::Retire => {
                tracing::info!(worker = %name, "asking the scheduler to retire this worker");
                self.retire_sent = true;
                vec![Action::Send(WorkerToScheduler::Retire, Vec::new())]
            }
            Event::MemoryResumed => state.on_memory_resumed(),
            Event::MemoryRestart(r) => {
                tracing::warn!(worker = %name, rss = r.rss, limit = r.limit, "restarted by its supervisor for memory");
                self.restarting = true;
                vec![Action::Send(
                    WorkerToScheduler::MemoryRestart(rask_protocol::MemoryRestart {
                        rss: r.rss,
                        limit: r.limit,
                        fraction: r.fraction,
                        executing: state.executing_keys(),
                    }),
                    Vec::new(),
                )]
            }
        })
    }

    /// Performs the state machine's actions; messages are fed, not flushed.
    async fn perform(&mut self, actions: Vec<Action>) -> Result<()> {
        for action in actions {
            match action {
                Action::Send(msg, bulk) => {
                    if let Err(e) = self.writer.feed(&msg, &bulk).await {
                        return Err(self.lost(e.to_string()));
                    }
                }
                Action::Execute(task) => self.pool.execute(task),
                Action::Fetch { peer, keys } => {
                    let peers = Arc::clone(&self.peers);
                    let tx = self.events_tx.clone();
                    self.fetches.spawn(async move {
                        let result = peers.fetch(&peer, &keys).await;
                        let _ = tx.send(Event::Fetched { peer, keys, result });
                    });
                }
            }
        }
        Ok(())
    }
}

/// A worker ready to register: its data server, its connection to the
/// scheduler, the address it advertises, and the scheduler's address (the
/// one it connected to, which may come from a rewritten scheduler file).
struct Started {
    listener: Listener,
    writer: ConnWriter,
    reader: rask_protocol::ConnReader,
    address: String,
    scheduler: String,
}

/// How long a worker waiting for its scheduler pauses between attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Binds the data server, connects to the scheduler, and works out the
/// address to advertise.
async fn start_up(opts: &WorkerOptions, name: &str) -> Result<Started> {
    let listener = Listener::bind(
        &opts.listen,
        ListenOptions {
            token: opts.token.clone(),
            tls: opts.tls.clone(),
            handshake_timeout: opts.connect_timeout,
            name: name.to_string(),
            ..ListenOptions::default()
        },
    )
    .await
    .map_err(|e| WorkerError::Bind {
        address: opts.listen.clone(),
        message: e.to_string(),
    })?;
    let connect = ConnectOptions {
        role: Role::Worker,
        name: name.to_string(),
        token: opts.token.clone(),
        tls: opts.tls.clone(),
        connect_timeout: opts.connect_timeout,
        handshake_timeout: opts.connect_timeout,
        ..ConnectOptions::default()
    };
    // A scheduler that is not listening yet (started at the same time, as
    // batch jobs are) or does not answer is tried again until
    // `scheduler_wait` has passed; a refusal is final. Before each new
    // attempt the scheduler file, if any, is read again: it may have
    // named a killed scheduler and been rewritten by a new one since.
    let wait_until = std::time::Instant::now() + opts.scheduler_wait;
    let mut scheduler = opts.scheduler.clone();
    let conn = loop {
        let e = match rask_protocol::connect(&scheduler, &connect).await {
            Ok(c) => break c,
            Err(e) => e,
        };
        let unreachable = not_reachable(&e);
        let waiting = unreachable && std::time::Instant::now() < wait_until;
        if waiting {
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        // Read even when the wait is over: a file rewritten at the last
        // moment still gets its one attempt.
        if unreachable && let Some(file) = &opts.scheduler_file {
            let (path, current) = (file.clone(), scheduler.clone());
            let changed = tokio::task::spawn_blocking(move || {
                crate::scheduler_file::changed_address(&path, &current)
            })
            .await
            .ok()
            .flatten();
            if let Some(new) = changed {
                tracing::info!(
                    file = %file.display(),
                    old = %scheduler,
                    new = %new,
                    "the scheduler file names a new address; connecting there"
                );
                scheduler = new;
                continue;
            }
        }
        if waiting {
            continue;
        }
        return Err(match &opts.scheduler_file {
            Some(path) if unreachable => WorkerError::NoSchedulerAtFileAddress {
                path: path.clone(),
                address: scheduler,
                // The cause alone: the error says the rest.
                message: match e {
                    ProtocolError::Connect { source, .. } => source.to_string(),
                    ProtocolError::Timeout { after, .. } => format!("no answer within {after:?}"),
                    e => e.to_string(),
                },
            },
            _ => WorkerError::Connect {
                address: scheduler,
                message: e.to_string(),
            },
        });
    };
    let address = match &opts.contact_address {
        Some(a) => a.clone(),
        None => advertised(&listener.address(), conn.peer()),
    };
    let (reader, writer) = conn.into_split();
    Ok(Started {
        listener,
        writer,
        reader,
        address,
        scheduler,
    })
}

/// Whether `e` says that nothing answers at the address (nothing listens,
/// or the host does not answer in time), as opposed to a peer that
/// answered and refused: only the former is worth waiting out.
fn not_reachable(e: &ProtocolError) -> bool {
    matches!(
        e,
        ProtocolError::Connect { .. }
            | ProtocolError::Timeout {
                what: "connect",
                ..
            }
    )
}

/// The data server's address as peers should use it: an unspecified host
/// (`0.0.0.0`, `::`) is replaced by this machine's address on the route to
/// `scheduler` (`tcp://IP:PORT`).
fn advertised(bound: &str, scheduler: &str) -> String {
    let Some(bound_addr) = socket_addr(bound) else {
        return bound.to_string();
    };
    if !bound_addr.ip().is_unspecified() {
        return bound.to_string();
    }
    let ip = socket_addr(scheduler).and_then(rask_protocol::local_ip_toward);
    let scheme = bound.split_once("://").map_or("tcp", |(s, _)| s);
    match ip {
        Some(ip) => format!("{scheme}://{}", SocketAddr::new(ip, bound_addr.port())),
        None => bound.to_string(),
    }
}

fn socket_addr(address: &str) -> Option<SocketAddr> {
    let rest = address.split_once("://").map_or(address, |(_, r)| r);
    rest.to_socket_addrs().ok()?.next()
}

/// SIGTERM and SIGINT, caught.
struct Signals {
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        let streams = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(int)) => Some((term, int)),
            _ => {
                tracing::warn!(
                    "cannot watch for SIGTERM and SIGINT; stop the worker through the scheduler"
                );
                None
            }
        };
        Signals { streams }
    }

    /// The first signal retires the worker, the second stops it.
    async fn watch(self, events: UnboundedSender<Event>, kill: Arc<Notify>) {
        let Some((mut term, mut int)) = self.streams else {
            return;
        };
        let mut count = 0;
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            count += 1;
            if count == 1 {
                tracing::info!("signal received: retiring (send it again to stop at once)");
                if events.send(Event::Retire).is_err() {
                    return;
                }
            } else {
                kill.notify_one();
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_host_is_replaced_by_the_route_to_the_scheduler() {
        assert_eq!(
            advertised("tcp://0.0.0.0:4000", "tcp://127.0.0.1:8786"),
            "tcp://127.0.0.1:4000"
        );
        assert_eq!(
            advertised("tcp://10.1.1.1:4000", "tcp://127.0.0.1:8786"),
            "tcp://10.1.1.1:4000"
        );
    }
}
