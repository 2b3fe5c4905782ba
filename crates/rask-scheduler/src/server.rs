//! The scheduler's server: the pure [`Scheduler`] state machine behind TCP.
//!
//! One tokio task owns the state machine and takes events from one channel:
//! connections accepted and lost, messages read from clients and workers,
//! and a clock tick. What the state machine sends goes to a per-connection
//! channel; each connection's writer task writes everything queued before
//! one flush, so a burst of messages costs one system call. Handshakes run
//! in their own tasks, so a slow or hostile peer never blocks the accept
//! loop or the scheduler. A peer that stops reading does not grow the
//! scheduler's memory without end: once more than
//! [`ServerOptions::send_queue_limit`] bytes wait for it and it has taken
//! nothing for [`ServerOptions::send_queue_stall`], its connection is
//! dropped as if it had disconnected.
//!
//! ```no_run
//! use rask_scheduler::server::{ServerOptions, start};
//! let server = start(ServerOptions { listen: "tcp://127.0.0.1:0".into(), ..Default::default() })?;
//! println!("scheduler at {}", server.address());
//! # Ok::<(), rask_protocol::ProtocolError>(())
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rask_protocol::{
    ClientToScheduler, ConnReader, ConnWriter, ListenOptions, Listener, Message, ProtocolError,
    Role, SchedulerToClient, SchedulerToWorker, WorkerToScheduler,
};
use rustc_hash::FxHashMap;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot, watch};

use crate::{ClientId, Comm, Event, Scheduler, SchedulerConfig, Stats, WorkerId};

/// How a scheduler server starts.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Address to listen on (`tcp://0.0.0.0:8786`; port 0 picks a free one).
    pub listen: String,
    /// The shared secret peers must present (empty: none).
    pub token: String,
    /// The state machine's settings.
    pub config: SchedulerConfig,
    /// How often the state machine is ticked (heartbeat checks, stealing).
    pub tick: Duration,
    /// Limit for a peer's handshake.
    pub handshake_timeout: Duration,
    /// TLS files; the listen address must then be `tls://`.
    pub tls: Option<rask_protocol::TlsFiles>,
    /// The most bytes (bulk data plus an estimate per message) that may
    /// wait for one client or worker that is not reading. When more wait
    /// and the peer has taken nothing for [`ServerOptions::send_queue_stall`],
    /// it is dropped as if it had disconnected: a client's work is
    /// released, a worker's tasks go to other workers. 1 GiB by default.
    /// The message being written does not count, so one message larger
    /// than the limit (a big scatter) still goes out whole.
    pub send_queue_limit: u64,
    /// How long a peer with more than [`ServerOptions::send_queue_limit`]
    /// waiting may take nothing before it is dropped (30 s by default), so
    /// a slow link busy with a large message is not mistaken for a peer
    /// that stopped reading.
    pub send_queue_stall: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            listen: "tcp://0.0.0.0:8786".into(),
            token: String::new(),
            config: SchedulerConfig::default(),
            tick: Duration::from_millis(100),
            handshake_timeout: Duration::from_secs(5),
            tls: None,
            send_queue_limit: 1 << 30,
            send_queue_stall: Duration::from_secs(30),
        }
    }
}

enum Input {
    Event(Event),
    ClientWriter(ClientId, Outbox<SchedulerToClient>),
    WorkerWriter(WorkerId, Outbox<SchedulerToWorker>),
    Stats(oneshot::Sender<Stats>),
    Shutdown(String),
}

enum Out<M> {
    /// A message, its bulk frames, and the bytes it counts in the queue.
    Message(M, Vec<Bytes>, u64),
    Close,
}

/// What a queued message counts beyond its bulk frames (an estimate of its
/// encoded size; scheduler messages without bulk are small).
const MESSAGE_BYTES: u64 = 64;

/// What waits for one connection: the state machine adds, the writer
/// takes.
#[derive(Default)]
struct Backlog {
    /// Bytes queued behind the message being written.
    queued: AtomicU64,
    /// Messages the writer has taken.
    taken: AtomicU64,
}

impl Backlog {
    /// The writer took a message of `size` bytes off the queue (the
    /// message being written does not count against the limit).
    fn take(&self, size: u64) {
        self.queued.fetch_sub(size, Ordering::Relaxed);
        self.taken.fetch_add(1, Ordering::Relaxed);
    }
}

/// When a connection's peer counts as not reading (the server's options).
#[derive(Clone, Copy)]
struct SendLimits {
    bytes: u64,
    stall: Duration,
}

/// The state machine's watch over one backlog. The clock is read only
/// while more than the limit waits, so the usual message costs two atomic
/// operations.
#[derive(Default)]
struct Stall {
    /// While over the limit: the writer's count of taken messages when the
    /// backlog was first seen over it with that count, and when.
    seen: Option<(u64, Instant)>,
}

impl Stall {
    /// Whether the peer counts as not reading: more than `limits.bytes`
    /// wait (`queued`) and it has taken nothing (`taken` unchanged) for
    /// `limits.stall`. A burst queued at once, or a large message on a slow
    /// link, is over the limit for a while without being a stalled peer.
    fn stalled(
        &mut self,
        queued: u64,
        taken: u64,
        now: impl FnOnce() -> Instant,
        limits: SendLimits,
    ) -> bool {
        if queued <= limits.bytes {
            self.seen = None;
            return false;
        }
        match self.seen {
            Some((t, since)) if t == taken => now().duration_since(since) >= limits.stall,
            _ => {
                self.seen = Some((taken, now()));
                false
            }
        }
    }
}

/// A connection's outgoing queue, as the state machine holds it.
struct Outbox<M> {
    tx: mpsc::UnboundedSender<Out<M>>,
    backlog: Arc<Backlog>,
    stall: Stall,
    /// Set to drop the connection: its reader and writer stop.
    kill: watch::Sender<bool>,
}

impl<M> Outbox<M> {
    /// A new queue, and what its connection's writer and reader take.
    fn new() -> (Self, mpsc::UnboundedReceiver<Out<M>>, watch::Receiver<bool>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (kill, killed) = watch::channel(false);
        let outbox = Outbox {
            tx,
            backlog: Arc::default(),
            stall: Stall::default(),
            kill,
        };
        (outbox, rx, killed)
    }

    /// Queues a message, unless the peer has stopped reading (see
    /// [`Stall::stalled`]): then the connection is told to stop and `false`
    /// returned.
    fn push(&mut self, msg: M, bulk: Vec<Bytes>, limits: SendLimits) -> bool {
        let queued = self.backlog.queued.load(Ordering::Relaxed);
        let taken = self.backlog.taken.load(Ordering::Relaxed);
        if self.stall.stalled(queued, taken, Instant::now, limits) {
            let _ = self.kill.send(true);
            return false;
        }
        let size = MESSAGE_BYTES + bulk.iter().map(|b| b.len() as u64).sum::<u64>();
        self.backlog.queued.fetch_add(size, Ordering::Relaxed);
        let _ = self.tx.send(Out::Message(msg, bulk, size));
        true
    }

    /// Queues a last message and the close after it, whatever is queued.
    fn goodbye(&self, msg: M) {
        let _ = self.tx.send(Out::Message(msg, Vec::new(), 0));
        let _ = self.tx.send(Out::Close);
    }
}

/// Completes once `kill` is set; never when its sender is dropped (the
/// state machine forgot the connection or stopped: what is queued still
/// goes out).
async fn killed(mut kill: watch::Receiver<bool>) {
    if kill.wait_for(|k| *k).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A running scheduler server; dropping it shuts the server down.
pub struct ServerHandle {
    address: String,
    tx: mpsc::UnboundedSender<Input>,
    runtime: Option<tokio::runtime::Runtime>,
    /// Connection writers still running.
    writers: Arc<AtomicUsize>,
}

impl ServerHandle {
    /// The address clients and workers connect to (`tcp://IP:PORT`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Counts of tasks by state and of workers.
    pub fn stats(&self) -> Option<Stats> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Input::Stats(tx)).ok()?;
        self.runtime.as_ref()?.block_on(rx).ok()
    }

    /// Tells every client and worker that the scheduler is closing, then
    /// stops. Called (or the handle dropped) inside an async runtime, it
    /// returns at once and the server stops on a thread of its own.
    pub fn close(mut self) {
        self.shutdown("the scheduler was closed");
    }

    fn shutdown(&mut self, reason: &str) {
        let Some(rt) = self.runtime.take() else {
            return;
        };
        let _ = self.tx.send(Input::Shutdown(reason.to_string()));
        // Let the writers deliver the goodbyes (a second at most).
        let writers = self.writers.clone();
        let stop = move |rt: tokio::runtime::Runtime| {
            rt.block_on(async {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
                while writers.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            });
            rt.shutdown_timeout(Duration::from_millis(100));
        };
        // Closed or dropped in async code, the goodbyes go out from a
        // thread of its own.
        rask_protocol::stop_runtime(rt, "rask-scheduler-stop", stop);
    }

    /// Blocks until the process gets SIGINT or SIGTERM, then closes.
    pub fn run_until_signal(mut self) {
        if let Some(rt) = &self.runtime {
            rt.block_on(async {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = async {
                        match term.as_mut() {
                            Some(t) => { t.recv().await; }
                            None => std::future::pending::<()>().await,
                        }
                    } => {}
                }
            });
        }
        self.shutdown("the scheduler was stopped");
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown("the scheduler was closed");
    }
}

/// Starts a scheduler server on its own runtime and returns once it
/// listens.
pub fn start(options: ServerOptions) -> Result<ServerHandle, ProtocolError> {
    // One thread for the state machine and every connection: the state
    // machine is single-threaded anyway, and with everything on one thread a
    // message passed from a connection's reader to the state machine and on
    // to a writer never wakes another thread (a system call each).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("rask-scheduler")
        .enable_all()
        .build()
        .map_err(|source| ProtocolError::Bind {
            address: options.listen.clone(),
            source,
        })?;
    let listener = runtime.block_on(Listener::bind(
        &options.listen,
        ListenOptions {
            token: options.token.clone(),
            tls: options.tls.clone(),
            handshake_timeout: options.handshake_timeout,
            name: "scheduler".into(),
            ..ListenOptions::default()
        },
    ))?;
    let address = listener.address();
    let (tx, rx) = mpsc::unbounded_channel();
    runtime.spawn(core_loop(
        Scheduler::new(options.config.clone()),
        rx,
        options.tick,
        SendLimits {
            bytes: options.send_queue_limit,
            stall: options.send_queue_stall,
        },
    ));
    let writers = Arc::new(AtomicUsize::new(0));
    runtime.spawn(accept_loop(listener, tx.clone(), writers.clone()));
    Ok(ServerHandle {
        address,
        tx,
        runtime: Some(runtime),
        writers,
    })
}

/// The [`Comm`] of the server: per-connection queues.
struct Queues {
    clients: FxHashMap<ClientId, Outbox<SchedulerToClient>>,
    workers: FxHashMap<WorkerId, Outbox<SchedulerToWorker>>,
    limits: SendLimits,
}

/// Queues `msg` for peer `id` of `queues`; a peer that has stopped reading
/// is dropped instead (its reader stops and reports it gone).
fn queue_or_drop<K: Copy + Eq + std::hash::Hash + std::fmt::Debug, M>(
    queues: &mut FxHashMap<K, Outbox<M>>,
    id: K,
    msg: M,
    bulk: Vec<Bytes>,
    limits: SendLimits,
) {
    if let Some(q) = queues.get_mut(&id)
        && !q.push(msg, bulk, limits)
    {
        tracing::warn!(
            "{id:?} does not read: more than {} bytes wait for it and it took nothing for {:?}; \
             dropping its connection",
            limits.bytes,
            limits.stall
        );
        queues.remove(&id);
    }
}

impl Comm for Queues {
    fn to_client(&mut self, c: ClientId, msg: SchedulerToClient, bulk: Vec<Bytes>) {
        queue_or_drop(&mut self.clients, c, msg, bulk, self.limits);
    }

    fn to_worker(&mut self, w: WorkerId, msg: SchedulerToWorker, bulk: Vec<Bytes>) {
        queue_or_drop(&mut self.workers, w, msg, bulk, self.limits);
    }

    fn close_worker(&mut self, w: WorkerId, _reason: &str) {
        if let Some(q) = self.workers.remove(&w) {
            let _ = q.tx.send(Out::Close);
        }
    }
}

async fn core_loop(
    mut scheduler: Scheduler,
    mut rx: mpsc::UnboundedReceiver<Input>,
    tick: Duration,
    limits: SendLimits,
) {
    let start = Instant::now();
    let mut queues = Queues {
        clients: FxHashMap::default(),
        workers: FxHashMap::default(),
        limits,
    };
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let input = tokio::select! {
            biased;
            i = rx.recv() => match i { Some(i) => i, None => return },
            _ = ticker.tick() => Input::Event(Event::Tick),
        };
        let mut next = Some(input);
        // Everything already queued is handled before yielding.
        while let Some(input) = next.take() {
            match input {
                Input::Event(e) => {
                    if let Event::ClientGone { client } = &e {
                        queues.clients.remove(client);
                    }
                    let gone_worker = match &e {
                        Event::WorkerGone { worker } => Some(*worker),
                        _ => None,
                    };
                    scheduler.handle(start.elapsed(), e, &mut queues);
                    if let Some(w) = gone_worker {
                        queues.workers.remove(&w);
                    }
                }
                Input::ClientWriter(id, q) => {
                    queues.clients.insert(id, q);
                }
                Input::WorkerWriter(id, q) => {
                    queues.workers.insert(id, q);
                }
                Input::Stats(tx) => {
                    let _ = tx.send(scheduler.stats());
                }
                Input::Shutdown(reason) => {
                    for q in queues.clients.values() {
                        q.goodbye(SchedulerToClient::Closing {
                            reason: reason.clone(),
                        });
                    }
                    for q in queues.workers.values() {
                        q.goodbye(SchedulerToWorker::Close {
                            reason: reason.clone(),
                        });
                    }
                    return;
                }
            }
            next = rx.try_recv().ok();
        }
    }
}

async fn accept_loop(
    listener: Listener,
    tx: mpsc::UnboundedSender<Input>,
    writers: Arc<AtomicUsize>,
) {
    let ids = Arc::new(std::sync::atomic::AtomicU32::new(0));
    loop {
        let incoming = match listener.accept().await {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!("accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let tx = tx.clone();
        let ids = ids.clone();
        let writers = writers.clone();
        tokio::spawn(async move {
            let (conn, hello) = match incoming.handshake().await {
                Ok(x) => x,
                Err(ProtocolError::Closed { .. }) => return,
                Err(e) => {
                    tracing::warn!("refused a connection: {e}");
                    return;
                }
            };
            let id = ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let peer = conn.peer().to_string();
            let (mut reader, writer) = conn.into_split();
            match hello.role {
                Role::Client => {
                    let client = ClientId(id);
                    let (outbox, kill) = open(writer, &writers);
                    let _ = tx.send(Input::ClientWriter(client, outbox));
                    let _ = tx.send(Input::Event(Event::ClientConnected {
                        client,
                        name: hello.name,
                    }));
                    read_loop(
                        &mut reader,
                        kill,
                        &peer,
                        "client",
                        |m: Message<ClientToScheduler>| {
                            let _ = tx.send(Input::Event(Event::Client {
                                client,
                                msg: m.msg,
                                bulk: m.bulk,
                            }));
                        },
                    )
                    .await;
                    let _ = tx.send(Input::Event(Event::ClientGone { client }));
                }
                Role::Worker => {
                    let worker = WorkerId(id);
                    let (outbox, kill) = open(writer, &writers);
                    let _ = tx.send(Input::WorkerWriter(worker, outbox));
                    let _ = tx.send(Input::Event(Event::WorkerConnected {
                        worker,
                        peer_address: peer.clone(),
                    }));
                    read_loop(
                        &mut reader,
                        kill,
                        &peer,
                        "worker",
                        |m: Message<WorkerToScheduler>| {
                            let _ = tx.send(Input::Event(Event::Worker {
                                worker,
                                msg: m.msg,
                                bulk: m.bulk,
                            }));
                        },
                    )
                    .await;
                    let _ = tx.send(Input::Event(Event::WorkerGone { worker }));
                }
                Role::Peer => {
                    tracing::warn!(
                        "{peer} asked the scheduler for data; data is served by workers"
                    );
                }
            }
        });
    }
}

/// A connection's outgoing side: its queue, with its writer running
/// (counted in `writers`), and the flag that stops its reader.
fn open<M: Serialize + Send + Sync + 'static>(
    writer: ConnWriter,
    writers: &Arc<AtomicUsize>,
) -> (Outbox<M>, watch::Receiver<bool>) {
    let (outbox, rx, kill) = Outbox::new();
    tokio::spawn(counted(
        writers.clone(),
        write_loop(writer, rx, outbox.backlog.clone(), kill.clone()),
    ));
    (outbox, kill)
}

/// Hands a peer's messages to `deliver` until the peer closes, the
/// connection fails, or the state machine kills it.
async fn read_loop<M: DeserializeOwned>(
    reader: &mut ConnReader,
    kill: watch::Receiver<bool>,
    peer: &str,
    role: &str,
    mut deliver: impl FnMut(Message<M>),
) {
    let stop = killed(kill);
    tokio::pin!(stop);
    loop {
        let next = tokio::select! {
            m = reader.recv::<M>() => m,
            () = &mut stop => return,
        };
        match next {
            Ok(Some(m)) => deliver(m),
            Ok(None) => return,
            Err(e) => {
                tracing::warn!("{role} {peer}: {e}");
                return;
            }
        }
    }
}

/// Runs a writer, counted in `writers` while it runs.
async fn counted(writers: Arc<AtomicUsize>, writer: impl std::future::Future<Output = ()>) {
    writers.fetch_add(1, Ordering::AcqRel);
    writer.await;
    writers.fetch_sub(1, Ordering::AcqRel);
}

/// Writes what is queued for one connection until the queue closes, the
/// connection fails, or the connection is killed (then the writer is
/// dropped mid-write: the peer was not reading anyway).
async fn write_loop<M: Serialize>(
    writer: ConnWriter,
    rx: mpsc::UnboundedReceiver<Out<M>>,
    backlog: Arc<Backlog>,
    kill: watch::Receiver<bool>,
) {
    tokio::select! {
        () = drain(writer, rx, backlog) => {}
        () = killed(kill) => {}
    }
}

async fn drain<M: Serialize>(
    mut writer: ConnWriter,
    mut rx: mpsc::UnboundedReceiver<Out<M>>,
    backlog: Arc<Backlog>,
) {
    while let Some(first) = rx.recv().await {
        let mut item = Some(first);
        while let Some(out) = item.take() {
            match out {
                Out::Message(m, b, size) => {
                    backlog.take(size);
                    if writer.feed(&m, &b).await.is_err() {
                        return;
                    }
                }
                Out::Close => {
                    let _ = writer.flush().await;
                    let _ = writer.shutdown().await;
                    return;
                }
            }
            item = rx.try_recv().ok();
        }
        if writer.flush().await.is_err() {
            return;
        }
    }
    let _ = writer.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use rask_protocol::{ConnectOptions, Connection};

    /// A server on a free loopback port, its address, and a runtime for
    /// the test's client.
    fn loopback(options: ServerOptions) -> (ServerHandle, String, tokio::runtime::Runtime) {
        let server = start(ServerOptions {
            listen: "tcp://127.0.0.1:0".into(),
            ..options
        })
        .unwrap();
        let address = server.address().to_string();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        (server, address, rt)
    }

    async fn connect_client(address: &str) -> Connection {
        let options = ConnectOptions {
            role: Role::Client,
            ..ConnectOptions::default()
        };
        rask_protocol::connect(address, &options).await.unwrap()
    }

    /// A client that keeps asking and never reads the answers is dropped
    /// once more than `send_queue_limit` bytes wait for it, instead of
    /// growing the scheduler's memory: its connection is closed and the
    /// scheduler forgets it.
    #[test]
    fn a_client_that_does_not_read_is_dropped() {
        let (server, address, rt) = loopback(ServerOptions {
            send_queue_limit: 1 << 20,
            send_queue_stall: Duration::from_millis(200),
            ..ServerOptions::default()
        });
        let refused = rt.block_on(async move {
            let mut conn = connect_client(&address).await;
            let deadline = Instant::now() + Duration::from_secs(60);
            // The answers fill the socket buffers (a few MB), then the
            // scheduler's queue; the scheduler then closes the connection
            // and a write fails.
            while Instant::now() < deadline {
                for _ in 0..1000 {
                    if conn.feed(&ClientToScheduler::Info, &[]).await.is_err() {
                        return true;
                    }
                }
                if conn.flush().await.is_err() {
                    return true;
                }
            }
            false
        });
        assert!(
            refused,
            "the scheduler kept a client that did not read for 60 s"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.stats().map(|s| s.clients) != Some(0) {
            assert!(
                Instant::now() < deadline,
                "the scheduler still counts the client"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A backlog over the limit drops the peer only once it has taken
    /// nothing for the stall time: a peer busy with a large message, or a
    /// burst queued at once, is not mistaken for one that stopped reading.
    #[test]
    fn a_backlog_over_the_limit_drops_only_a_stalled_peer() {
        let limits = SendLimits {
            bytes: 100,
            stall: Duration::from_secs(30),
        };
        let t0 = Instant::now();
        let at = |s: u64| move || t0 + Duration::from_secs(s);
        let mut w = Stall::default();
        // At the limit: never stalled, whatever the time.
        assert!(!w.stalled(100, 0, at(0), limits));
        // Over it: the wait starts when it is first seen.
        assert!(!w.stalled(1_000, 0, at(10), limits));
        assert!(!w.stalled(1_010, 0, at(39), limits));
        // Nothing taken for the stall time.
        assert!(w.stalled(1_020, 0, at(40), limits));
        // The writer takes a message: the wait starts again.
        assert!(!w.stalled(1_020, 1, at(41), limits));
        assert!(!w.stalled(1_020, 1, at(70), limits));
        assert!(w.stalled(1_020, 1, at(71), limits));
        // Back under the limit, then over it again later: a new wait.
        assert!(!w.stalled(50, 5, at(80), limits));
        assert!(!w.stalled(500, 5, at(200), limits));
        assert!(!w.stalled(500, 5, at(229), limits));
        assert!(w.stalled(500, 5, at(230), limits));
    }

    /// Regression: dropping the handle inside async code panicked with
    /// "Cannot start a runtime from within a runtime" (its shutdown waited
    /// with `block_on`). Now it stops on its own thread and still tells its
    /// clients it is closing.
    #[test]
    fn a_server_dropped_in_async_code_stops_and_says_goodbye() {
        let (server, address, outer) = loopback(ServerOptions::default());
        let goodbye = outer.block_on(async move {
            let mut conn = connect_client(&address).await;
            // One round trip first: the handshake finishing on this side does
            // not mean the server has registered the client yet, and a
            // client it never registered gets no goodbye.
            conn.send(&ClientToScheduler::Info, &[]).await.unwrap();
            let info = conn.recv::<SchedulerToClient>().await.unwrap().unwrap();
            assert!(
                matches!(info.msg, SchedulerToClient::Info { .. }),
                "{:?}",
                info.msg
            );
            drop(server);
            tokio::time::timeout(Duration::from_secs(10), conn.recv::<SchedulerToClient>()).await
        });
        let msg = goodbye
            .expect("the goodbye comes in time")
            .unwrap()
            .expect("a message before the connection closes");
        assert!(
            matches!(msg.msg, SchedulerToClient::Closing { .. }),
            "{:?}",
            msg.msg
        );
    }
}
