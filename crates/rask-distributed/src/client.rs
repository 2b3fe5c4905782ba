//! The client: a connection to a scheduler, futures, and an executor for
//! every collection.
//!
//! A [`Client`] owns a small tokio runtime (one thread) that keeps the
//! connection to the scheduler: one task writes what the client sends, one
//! reads what the scheduler reports and wakes the threads waiting on
//! futures. Everything the user calls is blocking, like Dask's synchronous
//! client. Results small enough come inline with the scheduler's report;
//! larger ones are fetched straight from the workers that hold them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rask_core::Held;
use rask_core::executor::DefaultExecutorGuard;
use rask_core::wire::{self, WireKey, WireOp, WireStep};
use rask_core::{
    Annotations, Callback, CancelToken, Collection, Error, Executor, Key, Op, Plan, Result,
    TaskError, Tokenizer, Value,
};
use rask_protocol::{
    BulkRef, ClientToScheduler, ConnectOptions, Connection, DepRef, Failure, FailureKind,
    PeerReply, PeerRequest, Role, SchedulerToClient, SubmittedTask, WorkerInfo,
};
use rustc_hash::FxHashMap;
use tokio::sync::{mpsc, oneshot};

use crate::future::{Future, KeyHandle, single};
use crate::remote::{ArgSource, Remote, SubmitArg, SubmitArgs};

/// Whether small results come back inline with the scheduler's report.
const INLINE_RESULTS: bool = true;

/// What one worker sent: the values it had, and the keys it had not.
type Fetched = (Vec<(Key, Value)>, Vec<Key>);

/// How a client connects.
///
/// ```no_run
/// use std::time::Duration;
/// use rask_distributed::{Client, ClientOptions};
/// let options = ClientOptions {
///     token: "s3cret".into(),
///     connect_timeout: Duration::from_secs(30),
///     ..ClientOptions::from_config()?
/// };
/// let client = Client::connect_with("tcp://10.0.0.5:8786", options)?;
/// # Ok::<(), rask_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The shared secret of the cluster (config `token`, `RASK_TOKEN`).
    pub token: String,
    /// Limit for connecting and the handshake (config
    /// `distributed.connect-timeout`).
    pub connect_timeout: Duration,
    /// A name for the scheduler's logs and dashboard.
    pub name: String,
    /// TLS files (config `tls.ca-file`, `tls.cert`, `tls.key`): the
    /// scheduler and workers are then reached over `tls://`.
    pub tls: Option<rask_protocol::TlsFiles>,
    /// Tasks per message when a big graph is submitted (default 50,000):
    /// the cluster starts on the first part while the client encodes the
    /// rest.
    pub submit_part: usize,
    /// Limit on one fetch of results from a worker, reply included
    /// (default 300 s, as workers allow each other): a worker that stops
    /// answering makes `gather` and `result` fail with an error naming it
    /// instead of waiting forever.
    pub fetch_timeout: Duration,
}

impl ClientOptions {
    /// Options from the configuration in force.
    pub fn from_config() -> Result<Self> {
        let config = rask_config::try_get()?;
        Ok(ClientOptions {
            token: config.token.clone(),
            connect_timeout: config.connect_timeout,
            name: format!("client-{}", std::process::id()),
            tls: crate::tls_from_config(&config)?,
            submit_part: SUBMIT_PART,
            fetch_timeout: FETCH_TIMEOUT,
        })
    }
}

/// What the writer task sends.
enum Outgoing {
    Message(ClientToScheduler, Vec<Bytes>),
    Release(Key),
}

/// What the client knows of one key it holds futures for.
enum Status {
    Pending,
    Memory {
        tag: String,
        inline: Option<Bytes>,
        who_has: Vec<String>,
    },
    Failed(Failure),
    Refused(String),
}

struct Entry {
    refs: u32,
    status: Status,
}

#[derive(Default)]
struct State {
    keys: FxHashMap<Key, Entry>,
    /// Why the connection to the scheduler is gone, once it is.
    closed: Option<String>,
    /// Waiting for the scheduler's answers, in the order asked.
    replies: VecDeque<oneshot::Sender<SchedulerToClient>>,
}

/// The state shared with the reader task.
struct Shared {
    state: Mutex<State>,
    cond: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) struct ClientInner {
    address: String,
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Outgoing>,
    peer_options: ConnectOptions,
    /// Idle connections to workers, by address. A fetch takes its
    /// connection out and puts it back once answered, so the lock is never
    /// held over the network.
    peers: Mutex<FxHashMap<String, Connection>>,
    fetch_timeout: Duration,
    runtime: Option<tokio::runtime::Runtime>,
    /// The writer task: the drop waits for it to send the goodbye.
    writer: Option<tokio::task::JoinHandle<()>>,
    closed_by_user: AtomicBool,
    submit_part: usize,
}

/// A connection to a cluster's scheduler (Dask's `Client`).
///
/// Cloning gives another handle to the same connection. Submit functions
/// registered with `#[rask::remote]`, map them over inputs, scatter data,
/// compute or persist any collection; or make the client the default
/// executor so that every `.compute()` runs on the cluster.
///
/// In a program using the `rask` facade (`#[rask::remote]` comes from it):
///
/// ```ignore
/// use rask::distributed::Client;
///
/// #[rask::remote]
/// fn inc(x: &u64) -> u64 { x + 1 }
///
/// let client = Client::connect("tcp://127.0.0.1:8786")?;
/// let f = client.submit(inc, (1u64,))?;
/// assert_eq!(f.result()?, 2);
/// # Ok::<(), rask_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<ClientInner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client({})", self.inner.address)
    }
}

fn cluster_error(address: &str, message: impl Into<String>) -> Error {
    Error::Cluster {
        address: address.to_string(),
        message: message.into(),
    }
}

impl Client {
    /// Connects to the scheduler at `address` (`tcp://host:port`, or
    /// `host:port`) with the token and timeout of the configuration.
    pub fn connect(address: &str) -> Result<Client> {
        Client::connect_with(address, ClientOptions::from_config()?)
    }

    /// Connects with explicit options.
    ///
    /// The client is blocking: it runs its own runtime and its calls wait.
    /// Made inside an async runtime (in an `async fn` on tokio), it would
    /// block that runtime's thread, so this returns an error there: make and
    /// use it on a blocking thread (`tokio::task::spawn_blocking`).
    pub fn connect_with(address: &str, options: ClientOptions) -> Result<Client> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(cluster_error(
                address,
                "the blocking client cannot be made inside an async runtime (it would block the \
                 runtime's thread); make and use it on a blocking thread \
                 (tokio::task::spawn_blocking)",
            ));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("rask-client")
            .enable_all()
            .build()
            .map_err(|e| {
                cluster_error(address, format!("cannot start the client's runtime: {e}"))
            })?;
        let connect = ConnectOptions {
            role: Role::Client,
            name: options.name.clone(),
            token: options.token.clone(),
            tls: options.tls.clone(),
            connect_timeout: options.connect_timeout,
            handshake_timeout: options.connect_timeout,
            ..ConnectOptions::default()
        };
        let conn = runtime
            .block_on(rask_protocol::connect(address, &connect))
            .map_err(|e| cluster_error(address, e.to_string()))?;
        let address = conn.peer().to_string();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let (reader, writer) = conn.into_split();
        let writer = runtime.spawn(write_loop(writer, rx, shared.clone(), address.clone()));
        runtime.spawn(read_loop(reader, shared.clone(), address.clone()));
        let peer_options = ConnectOptions {
            role: Role::Peer,
            ..connect
        };
        Ok(Client {
            inner: Arc::new(ClientInner {
                address,
                shared,
                tx,
                peer_options,
                peers: Mutex::new(FxHashMap::default()),
                fetch_timeout: options.fetch_timeout,
                runtime: Some(runtime),
                writer: Some(writer),
                closed_by_user: AtomicBool::new(false),
                submit_part: options.submit_part.max(1),
            }),
        })
    }

    /// The scheduler's address.
    pub fn address(&self) -> &str {
        &self.inner.address
    }

    /// Runs `f(args…)` on the cluster. `f` is a function marked
    /// `#[rask::remote]`; each argument is a plain value or a future (the
    /// task then waits for it and runs where its data is). The same call
    /// with the same arguments has the same key and runs once.
    pub fn submit<F, A, M, X>(&self, f: F, args: X) -> Result<Future<F::Output>>
    where
        F: Remote<A, M>,
        X: SubmitArgs<A>,
        F::Output: Clone + Send + Sync + 'static,
    {
        self.submitter().submit(f, args)
    }

    /// Runs `f` on every item (each a value or a future), in one
    /// submission: Dask's `client.map`.
    pub fn map<F, A1, M, I>(&self, f: F, items: I) -> Result<Vec<Future<F::Output>>>
    where
        F: Remote<(A1,), M>,
        I: IntoIterator,
        I::Item: SubmitArg<A1>,
        F::Output: Clone + Send + Sync + 'static,
    {
        self.submitter().map(f, items)
    }

    /// Submissions with annotations: `client.retries(2).submit(f, args)`.
    pub fn retries(&self, retries: u32) -> Submitter<'_> {
        self.submitter().retries(retries)
    }

    /// Submissions with a priority (higher runs first):
    /// `client.priority(10).submit(f, args)`.
    pub fn priority(&self, priority: i32) -> Submitter<'_> {
        self.submitter().priority(priority)
    }

    /// A submission builder with no annotations yet.
    pub fn submitter(&self) -> Submitter<'_> {
        Submitter {
            client: self,
            annotations: Annotations::default(),
        }
    }

    /// Waits for every future and brings their results here, in order; the
    /// first failure is the error.
    pub fn gather<T>(&self, futures: &[Future<T>]) -> Result<Vec<T>> {
        // One wait, and one fetch per worker, for all of them.
        let keys: Vec<Key> = futures.iter().flat_map(|f| f.keys().cloned()).collect();
        let mut values = self.inner.values(&keys, None)?.into_iter();
        futures
            .iter()
            .map(|f| f.finish(values.by_ref().take(f.keys().count()).collect()))
            .collect()
    }

    /// Waits until every future is done (finished, failed or cancelled).
    pub fn wait<T>(&self, futures: &[Future<T>]) -> Result<()> {
        let keys: Vec<Key> = futures.iter().flat_map(|f| f.keys().cloned()).collect();
        self.inner.wait_done(&keys, None)
    }

    /// Stores `value` on a worker and returns a future for it, to pass to
    /// later submissions without sending it again. Its type needs a codec
    /// (`#[rask::remote]` argument and result types have one, as do the
    /// built-in types).
    pub fn scatter<T: Clone + Send + Sync + 'static>(&self, value: T) -> Result<Future<T>> {
        let encoded = Value::new(value).encode().map_err(|e| {
            Error::invalid(
                "scattered value",
                format!("{e}; register its type with rask::register_type! or use it in a #[rask::remote] function"),
            )
        })?;
        let short = std::any::type_name::<T>()
            .rsplit("::")
            .next()
            .unwrap_or("value")
            .trim_end_matches('>');
        let key = Tokenizer::new("scatter")
            .str(&encoded.tag)
            .bytes(&encoded.bytes)
            .finish_key(short);
        let handle = self.inner.track(&key);
        self.inner.send(
            ClientToScheduler::Scatter {
                values: vec![(
                    WireKey::from(&key),
                    BulkRef {
                        frame: 0,
                        tag: encoded.tag,
                    },
                )],
                broadcast: false,
            },
            vec![Bytes::from(encoded.bytes)],
        )?;
        Ok(Future::new(vec![handle], single::<T>()))
    }

    /// Computes a collection (an array, a delayed value, a tuple of them)
    /// on the cluster; the future's result is what `.compute()` gives.
    pub fn compute<C>(&self, collection: &C) -> Result<Future<C::Output>>
    where
        C: Collection + Clone + Send + Sync + 'static,
    {
        let plan = rask_core::compute::plan(collection)?;
        plan.graph.check_portable()?;
        let handles = self.inner.submit_plan(&plan)?;
        let c = collection.clone();
        Ok(Future::new(
            handles,
            Arc::new(move |values: Vec<Value>| c.finalize(&mut values.into_iter())),
        ))
    }

    /// Computes a collection and keeps its blocks on the workers: the
    /// returned collection refers to them, so later computations start from
    /// there (Dask's `client.persist`). The data is released when the
    /// returned collection (and everything built from it) is dropped.
    pub fn persist<C: rask_core::Persist>(&self, collection: &C) -> Result<C> {
        collection.persist_on(self)
    }

    /// Makes this client the process's default executor until the guard is
    /// dropped: every `.compute()` runs on the cluster.
    pub fn as_default(&self) -> DefaultExecutorGuard {
        rask_core::executor::set_default(Arc::new(self.clone()))
    }

    /// The workers the scheduler knows.
    pub fn workers_info(&self) -> Result<Vec<WorkerInfo>> {
        Ok(self.info()?.workers)
    }

    /// The cluster as the scheduler sees it: workers and tasks.
    pub fn info(&self) -> Result<ClusterInfo> {
        match self.inner.ask(ClientToScheduler::Info)? {
            SchedulerToClient::Info {
                address,
                workers,
                tasks,
            } => Ok(ClusterInfo {
                address,
                workers,
                tasks,
            }),
            other => Err(cluster_error(
                &self.inner.address,
                format!("unexpected answer to an info request: {other:?}"),
            )),
        }
    }

    /// Cancels the futures' work (see [`Future::cancel`]).
    pub fn cancel<T>(&self, futures: &[Future<T>]) -> Result<()> {
        let keys: Vec<Key> = futures.iter().flat_map(|f| f.keys().cloned()).collect();
        self.inner.cancel(&keys)
    }

    /// Closes the connection: the scheduler releases everything this client
    /// wanted. Futures still held fail with a "client closed" error.
    pub fn close(&self) -> Result<()> {
        self.inner.closed_by_user.store(true, Ordering::Relaxed);
        let r = self.inner.send(ClientToScheduler::Close, Vec::new());
        let mut st = self.inner.shared.lock();
        st.closed
            .get_or_insert_with(|| "the client was closed".to_string());
        drop(st);
        self.inner.shared.cond.notify_all();
        r
    }
}

/// The cluster as the scheduler sees it ([`Client::info`]).
///
/// ```no_run
/// # let client = rask_distributed::Client::connect("tcp://127.0.0.1:8786")?;
/// let info = client.info()?;
/// println!("{}: {} workers, {} tasks", info.address, info.workers.len(), info.tasks);
/// # Ok::<(), rask_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterInfo {
    /// The scheduler's address.
    pub address: String,
    /// The workers.
    pub workers: Vec<WorkerInfo>,
    /// Tasks the scheduler holds records of (in any state but forgotten).
    pub tasks: u64,
}

/// Submissions with annotations (retries, priority, resources, workers).
///
/// ```ignore
/// # use rask::distributed::Client;
/// # #[rask::remote] fn inc(x: &u64) -> u64 { x + 1 }
/// # let client = Client::connect("tcp://127.0.0.1:8786")?;
/// let f = client.retries(3).priority(10).submit(inc, (1u64,))?;
/// # Ok::<(), rask_core::Error>(())
/// ```
pub struct Submitter<'c> {
    client: &'c Client,
    annotations: Annotations,
}

impl Submitter<'_> {
    /// Runs a failed task again up to `retries` times.
    pub fn retries(mut self, retries: u32) -> Self {
        self.annotations.retries = retries;
        self
    }

    /// Higher runs first among ready tasks.
    pub fn priority(mut self, priority: i32) -> Self {
        self.annotations.priority = priority;
        self
    }

    /// Needs this much of an abstract resource on its worker.
    pub fn resource(mut self, name: impl Into<String>, amount: f64) -> Self {
        self.annotations.resources.push((name.into(), amount));
        self
    }

    /// May run only on this worker (by name or address); may be repeated.
    pub fn worker(mut self, worker: impl Into<String>) -> Self {
        self.annotations.workers.push(worker.into());
        self
    }

    /// As [`Client::submit`], with these annotations.
    pub fn submit<F, A, M, X>(&self, _f: F, args: X) -> Result<Future<F::Output>>
    where
        F: Remote<A, M>,
        X: SubmitArgs<A>,
        F::Output: Clone + Send + Sync + 'static,
    {
        let call = Call::of::<F>()?;
        let (task, key) = call.task(args.into_sources(), &self.annotations)?;
        let inner = &self.client.inner;
        let handle = inner.track(&key);
        inner.update_graph(vec![task], vec![0])?;
        Ok(Future::new(vec![handle], single::<F::Output>()))
    }

    /// As [`Client::map`], with these annotations.
    pub fn map<F, A1, M, I>(&self, _f: F, items: I) -> Result<Vec<Future<F::Output>>>
    where
        F: Remote<(A1,), M>,
        I: IntoIterator,
        I::Item: SubmitArg<A1>,
        F::Output: Clone + Send + Sync + 'static,
    {
        let call = Call::of::<F>()?;
        let mut tasks = Vec::new();
        let mut keys = Vec::new();
        for item in items {
            let (task, key) = call.task(vec![item.into_source()], &self.annotations)?;
            tasks.push(task);
            keys.push(key);
        }
        let inner = &self.client.inner;
        let finish = single::<F::Output>();
        let futures: Vec<Future<F::Output>> = keys
            .iter()
            .map(|k| Future::new(vec![inner.track(k)], finish.clone()))
            .collect();
        let wanted = (0..tasks.len() as u32).collect();
        inner.update_graph(tasks, wanted)?;
        Ok(futures)
    }
}

/// A registered function as submissions call it.
struct Call {
    kernel: &'static str,
    label: &'static str,
    pure: bool,
}

impl Call {
    fn of<F: 'static>() -> Result<Call> {
        let name = std::any::type_name::<F>();
        let entry = rask_core::kernel::remote_fn::<F>().ok_or_else(|| {
            Error::invalid(
                "submitted function",
                format!(
                    "`{name}` is not registered: mark it #[rask::remote] so that workers can run it"
                ),
            )
        })?;
        if entry.fallible {
            return Err(Error::invalid(
                "submitted function",
                format!(
                    "`{name}` returns a Result; submit a function returning the value itself, \
                     or build the call with `{}::delayed(…)` and compute it with client.compute",
                    name.rsplit("::").next().unwrap_or(name)
                ),
            ));
        }
        Ok(Call {
            kernel: entry.kernel,
            label: rask_core::kernel::short_name(entry.kernel)
                .rsplit("::")
                .next()
                .unwrap_or(entry.kernel),
            pure: entry.pure,
        })
    }

    /// The task of one call: literal arguments are encoded into a fused
    /// operation (one task, not one per argument); futures are
    /// dependencies.
    fn task(
        &self,
        args: Vec<ArgSource>,
        annotations: &Annotations,
    ) -> Result<(SubmittedTask, Key)> {
        let mut token = Tokenizer::new("submit");
        token.str(self.kernel);
        if !self.pure {
            token.str(&rask_core::fresh_token());
        }
        let mut steps = Vec::new();
        let mut call_args = Vec::with_capacity(args.len());
        let mut deps = Vec::new();
        for (i, a) in args.into_iter().enumerate() {
            match a {
                ArgSource::Value(v) => {
                    let e = v.encode().map_err(|e| {
                        Error::invalid(
                            format!("argument {} of `{}`", i + 1, self.label),
                            e.to_string(),
                        )
                    })?;
                    token.u64(0).str(&e.tag).bytes(&e.bytes);
                    call_args.push((true, steps.len() as u32));
                    steps.push(WireStep {
                        key: WireKey {
                            name: format!("{}-arg{}", self.label, i + 1),
                            index: Vec::new(),
                        },
                        op: WireOp::Value {
                            tag: e.tag,
                            bytes: e.bytes,
                        },
                        args: Vec::new(),
                    });
                }
                ArgSource::Key(k) => {
                    token.u64(1).key(&k);
                    call_args.push((false, deps.len() as u32));
                    deps.push(DepRef::Known(WireKey::from(&k)));
                }
            }
        }
        let key = token.finish_key(self.label);
        let kernel = WireOp::Kernel {
            name: self.kernel.to_string(),
            label: self.label.to_string(),
            blockwise: false,
            params: Vec::new(),
        };
        let op = if steps.is_empty() {
            kernel
        } else {
            steps.push(WireStep {
                key: WireKey::from(&key),
                op: kernel,
                args: call_args,
            });
            WireOp::Fused { steps }
        };
        let task = SubmittedTask {
            key: WireKey::from(&key),
            op: wire::to_bytes(&op, "a submitted call")?,
            deps,
            order: 0,
            annotations: (!annotations.is_empty()).then(|| annotations.clone()),
        };
        Ok((task, key))
    }
}

impl ClientInner {
    /// Sends new tasks, wanting those at positions `wanted`.
    fn update_graph(&self, tasks: Vec<SubmittedTask>, wanted: Vec<u32>) -> Result<()> {
        self.send(
            ClientToScheduler::UpdateGraph {
                tasks,
                wanted,
                inline_results: INLINE_RESULTS,
            },
            Vec::new(),
        )
    }

    fn send(&self, msg: ClientToScheduler, bulk: Vec<Bytes>) -> Result<()> {
        if let Some(reason) = &self.shared.lock().closed {
            return Err(cluster_error(&self.address, reason.clone()));
        }
        self.tx
            .send(Outgoing::Message(msg, bulk))
            .map_err(|_| cluster_error(&self.address, "the connection to the scheduler is closed"))
    }

    /// A handle on `key`, counted: the last one dropped releases it.
    pub(crate) fn track(self: &Arc<Self>, key: &Key) -> KeyHandle {
        let mut st = self.shared.lock();
        st.keys
            .entry(key.clone())
            .or_insert(Entry {
                refs: 0,
                status: Status::Pending,
            })
            .refs += 1;
        KeyHandle {
            client: self.clone(),
            key: key.clone(),
        }
    }

    pub(crate) fn untrack(&self, key: &Key) {
        let mut st = self.shared.lock();
        let gone = match st.keys.get_mut(key) {
            Some(e) => {
                e.refs -= 1;
                e.refs == 0
            }
            None => false,
        };
        if gone {
            st.keys.remove(key);
            // Queued before the lock is let go: a submission of the same
            // key by another thread makes its entry after this, so its
            // message is queued after this release too. Queued after the
            // lock, the release could follow the new want and cancel it,
            // leaving the new future pending for ever.
            let _ = self.tx.send(Outgoing::Release(key.clone()));
        }
    }

    pub(crate) fn all_done<'k>(&self, mut keys: impl Iterator<Item = &'k Key>) -> bool {
        let st = self.shared.lock();
        keys.all(|k| {
            st.keys
                .get(k)
                .is_none_or(|e| !matches!(e.status, Status::Pending))
        })
    }

    /// Which futures are done, waiting until at least one is.
    pub(crate) fn wait_any<T>(&self, futures: &[Future<T>]) -> Vec<bool> {
        let mut st = self.shared.lock();
        loop {
            let done: Vec<bool> = futures
                .iter()
                .map(|f| {
                    st.closed.is_some()
                        || f.keys().all(|k| {
                            st.keys
                                .get(k)
                                .is_none_or(|e| !matches!(e.status, Status::Pending))
                        })
                })
                .collect();
            if done.contains(&true) {
                return done;
            }
            st = self.shared.cond.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Waits until every key is done; the first failure is the error.
    pub(crate) fn wait_keys(&self, keys: &[Key], timeout: Option<Duration>) -> Result<()> {
        self.wait_inner(keys, timeout, true, None)
    }

    /// Waits until every key is done, failed or not.
    pub(crate) fn wait_done(&self, keys: &[Key], timeout: Option<Duration>) -> Result<()> {
        self.wait_inner(keys, timeout, false, None)
    }

    fn wait_inner(
        &self,
        keys: &[Key],
        timeout: Option<Duration>,
        fail_fast: bool,
        cancel: Option<&CancelToken>,
    ) -> Result<()> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self.shared.lock();
        // Keys never go back to pending, so the scan resumes where it was.
        let mut next = 0;
        loop {
            while next < keys.len() {
                let Some(e) = st.keys.get(&keys[next]) else {
                    return Err(cluster_error(
                        &self.address,
                        format!("key {} is not held by this client", keys[next]),
                    ));
                };
                match &e.status {
                    Status::Pending => break,
                    Status::Failed(f) if fail_fast => return Err(failure_error(f)),
                    Status::Refused(m) if fail_fast => {
                        return Err(cluster_error(&self.address, m.clone()));
                    }
                    _ => next += 1,
                }
            }
            if next == keys.len() {
                return Ok(());
            }
            if let Some(reason) = &st.closed {
                return Err(cluster_error(&self.address, reason.clone()));
            }
            if cancel.is_some_and(|c| c.is_cancelled()) {
                drop(st);
                let _ = self.cancel(keys);
                return Err(Error::Cancelled);
            }
            let mut wait = Duration::from_millis(if cancel.is_some() { 50 } else { 1000 });
            if let Some(d) = deadline {
                let now = Instant::now();
                if now >= d {
                    return Err(cluster_error(
                        &self.address,
                        format!(
                            "timed out after {:?} waiting for {}",
                            timeout.unwrap_or_default(),
                            keys[next]
                        ),
                    ));
                }
                wait = wait.min(d - now);
            }
            st = self
                .shared
                .cond
                .wait_timeout(st, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// The values of `keys`, waiting for them and fetching those not sent
    /// inline from the workers holding them (one request per worker).
    pub(crate) fn values(&self, keys: &[Key], timeout: Option<Duration>) -> Result<Vec<Value>> {
        self.values_cancellable(keys, timeout, None)
    }

    fn values_cancellable(
        &self,
        keys: &[Key],
        timeout: Option<Duration>,
        cancel: Option<&CancelToken>,
    ) -> Result<Vec<Value>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        self.wait_inner(keys, timeout, true, cancel)?;
        let mut out: Vec<Option<Value>> = vec![None; keys.len()];
        let mut remote: FxHashMap<String, Vec<usize>> = FxHashMap::default();
        // Inline values are decoded after the lock is released, so the
        // reader task is not held up.
        let mut inline: Vec<(usize, String, Bytes)> = Vec::new();
        {
            let st = self.shared.lock();
            for (i, k) in keys.iter().enumerate() {
                match st.keys.get(k).map(|e| &e.status) {
                    Some(Status::Memory {
                        tag,
                        inline: Some(bytes),
                        ..
                    }) => inline.push((i, tag.clone(), bytes.clone())),
                    Some(Status::Memory { who_has, .. }) if !who_has.is_empty() => {
                        remote.entry(who_has[0].clone()).or_default().push(i);
                    }
                    _ => remote.entry(String::new()).or_default().push(i),
                }
            }
        }
        for (i, tag, bytes) in inline {
            out[i] = Some(decode(&keys[i], &tag, &bytes)?);
        }
        for (worker, idx) in remote {
            let wanted: Vec<Key> = idx.iter().map(|&i| keys[i].clone()).collect();
            let got = self.fetch_anywhere(&worker, &wanted, deadline)?;
            for (i, v) in idx.into_iter().zip(got) {
                out[i] = Some(v);
            }
        }
        Ok(out
            .into_iter()
            .map(|v| v.expect("every key filled"))
            .collect())
    }

    /// Fetches from `worker` (when known), asking the scheduler where the
    /// keys are for those it does not have.
    ///
    /// A worker that cannot be reached (it died, or stopped answering) is
    /// not asked again; the scheduler is asked who holds its keys now. A
    /// key nobody holds is being recomputed (the client still wants it, so
    /// the scheduler runs it again), so it is asked for again, less and
    /// less often, until it is back, it fails for good (the scheduler
    /// reports it erred: a lost scattered value, say), or `deadline`
    /// (default: the fetch timeout from now) passes.
    fn fetch_anywhere(
        &self,
        worker: &str,
        keys: &[Key],
        deadline: Option<Instant>,
    ) -> Result<Vec<Value>> {
        let deadline = deadline.unwrap_or_else(|| Instant::now() + self.fetch_timeout);
        let mut found: FxHashMap<Key, Value> = FxHashMap::default();
        let mut missing: Vec<Key> = keys.to_vec();
        let mut unreachable: Vec<String> = Vec::new();
        let mut last_error: Option<Error> = None;
        if !worker.is_empty() {
            match self.fetch(worker, &missing) {
                Ok((got, miss)) => {
                    found.extend(got);
                    missing = miss;
                }
                Err(e) => {
                    unreachable.push(worker.to_string());
                    last_error = Some(e);
                }
            }
        }
        let mut pause = Duration::from_millis(20);
        while !missing.is_empty() {
            self.check_not_failed(&missing)?;
            let mut by_worker: FxHashMap<String, Vec<Key>> = FxHashMap::default();
            let mut unheld = Vec::new();
            for (k, addrs) in self.who_has(&missing)? {
                match addrs.into_iter().find(|a| !unreachable.contains(a)) {
                    Some(a) => by_worker.entry(a).or_default().push(k),
                    None => unheld.push(k),
                }
            }
            for (w, ks) in by_worker {
                match self.fetch(&w, &ks) {
                    Ok((got, miss)) => {
                        found.extend(got);
                        unheld.extend(miss);
                    }
                    Err(e) => {
                        unreachable.push(w);
                        unheld.extend(ks);
                        last_error = Some(e);
                    }
                }
            }
            missing = unheld;
            let Some(k) = missing.first() else { break };
            let now = Instant::now();
            if now >= deadline {
                let why = last_error
                    .map(|e| format!(" (last error: {e})"))
                    .unwrap_or_default();
                return Err(cluster_error(
                    &self.address,
                    format!(
                        "no reachable worker held {k}, and it was not computed again in time{why}; \
                         compute it again"
                    ),
                ));
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_secs(1));
        }
        keys.iter()
            .map(|k| {
                found.remove(k).ok_or_else(|| {
                    cluster_error(&self.address, format!("{k} could not be fetched"))
                })
            })
            .collect()
    }

    /// The error of the first of `keys` that failed (the scheduler reported
    /// it erred), or of a connection to the scheduler that is gone.
    fn check_not_failed(&self, keys: &[Key]) -> Result<()> {
        let st = self.shared.lock();
        if let Some(reason) = &st.closed {
            return Err(cluster_error(&self.address, reason.clone()));
        }
        for k in keys {
            match st.keys.get(k).map(|e| &e.status) {
                Some(Status::Failed(f)) => return Err(failure_error(f)),
                Some(Status::Refused(m)) => return Err(cluster_error(&self.address, m.clone())),
                _ => {}
            }
        }
        Ok(())
    }

    /// Asks one worker for `keys`: the values it had, and the keys it had
    /// not.
    fn fetch(&self, worker: &str, keys: &[Key]) -> Result<Fetched> {
        let runtime = self
            .runtime
            .as_ref()
            .expect("runtime lives as long as the client");
        let request = PeerRequest::GetData {
            keys: keys.iter().map(WireKey::from).collect(),
        };
        let pooled = self
            .peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(worker);
        let exchange = async {
            let mut conn = match pooled {
                Some(c) => c,
                None => rask_protocol::connect(worker, &self.peer_options).await?,
            };
            conn.send(&request, &[]).await?;
            let reply = conn.recv::<PeerReply>().await?;
            Ok::<_, rask_protocol::ProtocolError>((conn, reply))
        };
        // A connection that failed or timed out is dropped, not put back:
        // it may be in the middle of a message.
        let limited = async { tokio::time::timeout(self.fetch_timeout, exchange).await };
        let reply = match runtime.block_on(limited) {
            Ok(Ok((conn, reply))) => {
                if reply.is_some() {
                    self.peers
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(worker.to_string(), conn);
                }
                reply
            }
            Ok(Err(e)) => return Err(cluster_error(worker, e.to_string())),
            Err(_) => {
                return Err(cluster_error(
                    worker,
                    format!(
                        "the worker did not answer a fetch of {} within {:?}; \
                         it may be stalled or overloaded (ClientOptions::fetch_timeout sets the limit)",
                        keys.first().map(Key::to_string).unwrap_or_default(),
                        self.fetch_timeout
                    ),
                ));
            }
        };
        match reply {
            Some(m) => match m.msg {
                PeerReply::Data { values, missing } => {
                    let mut got = Vec::with_capacity(values.len());
                    for (k, r) in values {
                        let key = Key::from(&k);
                        let bytes = m.bulk.get(r.frame as usize).ok_or_else(|| {
                            cluster_error(worker, format!("the value of {key} is missing"))
                        })?;
                        got.push((key.clone(), decode(&key, &r.tag, bytes)?));
                    }
                    Ok((got, missing.iter().map(Key::from).collect()))
                }
                PeerReply::Busy => Ok((Vec::new(), keys.to_vec())),
            },
            None => Err(cluster_error(worker, "the worker closed the connection")),
        }
    }

    fn who_has(&self, keys: &[Key]) -> Result<Vec<(Key, Vec<String>)>> {
        match self.ask(ClientToScheduler::WhoHas {
            keys: keys.iter().map(WireKey::from).collect(),
        })? {
            SchedulerToClient::WhoHas { entries } => Ok(entries
                .into_iter()
                .map(|(k, a)| (Key::from(&k), a))
                .collect()),
            other => Err(cluster_error(
                &self.address,
                format!("unexpected answer to who-has: {other:?}"),
            )),
        }
    }

    /// Sends a request the scheduler answers, and waits for the answer.
    fn ask(&self, msg: ClientToScheduler) -> Result<SchedulerToClient> {
        let (tx, rx) = oneshot::channel();
        {
            // Replies come in the order the requests were sent, so the
            // slot is queued and the request handed to the writer under one
            // lock: a request of another thread cannot get in between and
            // take this one's reply. The channel is unbounded, so sending
            // under the lock never waits.
            let mut st = self.shared.lock();
            if let Some(reason) = &st.closed {
                return Err(cluster_error(&self.address, reason.clone()));
            }
            st.replies.push_back(tx);
            if self.tx.send(Outgoing::Message(msg, Vec::new())).is_err() {
                st.replies.pop_back();
                return Err(cluster_error(
                    &self.address,
                    "the connection to the scheduler is closed",
                ));
            }
        }
        let runtime = self
            .runtime
            .as_ref()
            .expect("runtime lives as long as the client");
        runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(30), rx).await })
            .map_err(|_| cluster_error(&self.address, "the scheduler did not answer in 30 s"))?
            .map_err(|_| cluster_error(&self.address, "the connection to the scheduler closed"))
    }

    pub(crate) fn cancel(&self, keys: &[Key]) -> Result<()> {
        self.send(
            ClientToScheduler::Cancel {
                keys: keys.iter().map(WireKey::from).collect(),
            },
            Vec::new(),
        )
    }

    /// Sends a plan's tasks; the returned handles are for its outputs, in
    /// order. Tasks standing for held data become dependencies on the held
    /// keys.
    ///
    /// A big plan goes in parts of `submit_part` tasks in execution
    /// order, each sent as soon as it is encoded, so the cluster starts on
    /// the first tasks while the client still encodes the rest. A task that
    /// a later part depends on is wanted by the client until the last part
    /// is sent (so the scheduler keeps it), then released.
    pub(crate) fn submit_plan(self: &Arc<Self>, plan: &Plan) -> Result<Vec<KeyHandle>> {
        let g = &plan.graph;
        let held: Vec<Option<Key>> = g
            .tasks()
            .iter()
            .map(|t| match &t.op {
                Op::Held(h) => Some(h.key().clone()),
                _ => None,
            })
            .collect();
        let deps_of = |i: usize| &g.tasks()[i].deps;
        // The order of submission: the graph's (inputs first); for a plan
        // big enough to go in parts, execution order when that too puts
        // every task after its inputs (rask's ordering does), so that the
        // first part holds the first tasks to run.
        let mut seq: Vec<usize> = (0..g.len()).filter(|&i| held[i].is_none()).collect();
        let mut part_len = seq.len().max(1);
        if seq.len() > self.submit_part && plan.priority.len() == g.len() {
            let mut by_priority = seq.clone();
            by_priority.sort_by_key(|&i| plan.priority[i]);
            let mut rank = vec![0usize; g.len()];
            for (r, &i) in by_priority.iter().enumerate() {
                rank[i] = r;
            }
            let inputs_first = by_priority.iter().all(|&i| {
                deps_of(i)
                    .iter()
                    .all(|d| held[d.index()].is_some() || rank[d.index()] < rank[i])
            });
            if inputs_first {
                seq = by_priority;
                part_len = self.submit_part;
            }
        }
        // Each task's part and position in it.
        let mut place: Vec<Option<(usize, u32)>> = vec![None; g.len()];
        for (r, &i) in seq.iter().enumerate() {
            place[i] = Some((r / part_len, (r % part_len) as u32));
        }
        let parts = seq.len().div_ceil(part_len).max(1);
        // Tasks a later part depends on.
        let mut bridge = vec![false; g.len()];
        for &i in &seq {
            let (pi, _) = place[i].expect("placed");
            for d in deps_of(i) {
                if let Some((pd, _)) = place[d.index()]
                    && pd < pi
                {
                    bridge[d.index()] = true;
                }
            }
        }
        // Outputs: handles in order; held ones are wanted by key, the
        // others by position in their part.
        let mut handles = Vec::with_capacity(plan.outputs.len());
        let mut wanted: Vec<Vec<u32>> = vec![Vec::new(); parts];
        let mut known = Vec::new();
        for o in &plan.outputs {
            let i = o.index();
            match (&held[i], place[i]) {
                (Some(k), _) => {
                    handles.push(self.track(k));
                    known.push(WireKey::from(k));
                }
                (None, Some((p, at))) => {
                    handles.push(self.track(&g.task(*o).key));
                    wanted[p].push(at);
                }
                (None, None) => unreachable!("every task is held or submitted"),
            }
        }
        if !known.is_empty() {
            self.send(ClientToScheduler::Want { keys: known }, Vec::new())?;
        }
        // Wanted until every part is sent, then released (dropped).
        let mut bridges = Vec::new();
        for (p, chunk) in seq.chunks(part_len).enumerate() {
            let mut tasks = Vec::with_capacity(chunk.len());
            for &i in chunk {
                let t = &g.tasks()[i];
                let deps = t
                    .deps
                    .iter()
                    .map(|d| match (&held[d.index()], place[d.index()]) {
                        (Some(k), _) => DepRef::Known(WireKey::from(k)),
                        (None, Some((pd, at))) if pd == p => DepRef::Local(at),
                        (None, Some(_)) => DepRef::Known(WireKey::from(&g.task(*d).key)),
                        (None, None) => unreachable!("every task is held or submitted"),
                    })
                    .collect();
                if bridge[i] {
                    bridges.push(self.track(&t.key));
                    wanted[p].push(place[i].expect("placed").1);
                }
                tasks.push(SubmittedTask {
                    key: WireKey::from(&t.key),
                    op: wire::encode_op_bytes(&t.key, &t.op)?,
                    deps,
                    order: plan.priority.get(i).copied().unwrap_or(0),
                    annotations: t.annotations.as_deref().cloned(),
                });
            }
            self.update_graph(tasks, std::mem::take(&mut wanted[p]))?;
        }
        drop(bridges);
        Ok(handles)
    }
}

/// Tasks per message when a big plan is sent in parts (the default of
/// [`ClientOptions::submit_part`]).
const SUBMIT_PART: usize = 50_000;

/// Limit on one fetch from a worker (the default of
/// [`ClientOptions::fetch_timeout`]): the same as workers allow each other.
const FETCH_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a dropped client waits for its goodbye to be written.
const GOODBYE_WAIT: Duration = Duration::from_secs(2);

impl Drop for ClientInner {
    fn drop(&mut self) {
        if !self.closed_by_user.load(Ordering::Relaxed) {
            let _ = self
                .tx
                .send(Outgoing::Message(ClientToScheduler::Close, Vec::new()));
        }
        if let Some(rt) = self.runtime.take() {
            // Stopping the runtime cancels its tasks wherever they are, so
            // first the writer is given a bounded time to write and flush
            // the goodbye (it returns once it has, or once the connection
            // fails).
            let writer = self.writer.take();
            let stop = move |rt: tokio::runtime::Runtime| {
                if let Some(writer) = writer {
                    // The timer is made inside the runtime, which it needs.
                    let _ = rt.block_on(async { tokio::time::timeout(GOODBYE_WAIT, writer).await });
                }
                rt.shutdown_timeout(Duration::from_millis(200));
            };
            // In async code, on a thread of its own.
            rask_protocol::stop_runtime(rt, "rask-client-stop", stop);
        }
    }
}

fn decode(key: &Key, tag: &str, bytes: &[u8]) -> Result<Value> {
    Value::decode(tag, bytes).map_err(|e| Error::Decode {
        what: format!("the result of {key}"),
        message: e.to_string(),
    })
}

/// The error a failed key gives.
pub(crate) fn failure_error(f: &Failure) -> Error {
    let key = Key::from(&f.key);
    let on = f
        .worker
        .as_deref()
        .map(|w| format!(" (on worker {w})"))
        .unwrap_or_default();
    match f.kind {
        FailureKind::KilledWorker => Error::KilledWorker {
            key,
            op: f.op.clone(),
            message: f.message.clone(),
        },
        FailureKind::Cancelled => Error::Cancelled,
        FailureKind::Lost => Error::Cluster {
            address: f.worker.clone().unwrap_or_default(),
            message: format!("{key} was lost: {}", f.message),
        },
        // The message names the task and gives its memory and the limit.
        FailureKind::Task
        | FailureKind::Dependency
        | FailureKind::Missing
        | FailureKind::Memory => Error::Task {
            key,
            op: f.op.clone(),
            cause: TaskError::failed(format!("{}{on}", f.message)),
        },
    }
}

async fn write_loop(
    mut writer: rask_protocol::ConnWriter,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    shared: Arc<Shared>,
    address: String,
) {
    // Everything queued is written before one flush; releases in a row
    // become one message, sent before whatever follows them (a key released
    // and then wanted again must reach the scheduler in that order).
    let mut releases: Vec<WireKey> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut item = Some(first);
        while let Some(next) = item.take() {
            match next {
                Outgoing::Release(k) => releases.push(WireKey::from(&k)),
                Outgoing::Message(m, b) => {
                    let closing = matches!(m, ClientToScheduler::Close);
                    let r = async {
                        if !releases.is_empty() {
                            let keys = std::mem::take(&mut releases);
                            writer
                                .feed(&ClientToScheduler::Release { keys }, &[])
                                .await?;
                        }
                        writer.feed(&m, &b).await?;
                        if closing {
                            writer.flush().await?;
                        }
                        Ok::<(), rask_protocol::ProtocolError>(())
                    }
                    .await;
                    if let Err(e) = r {
                        return lost(&shared, &address, e.to_string());
                    }
                    if closing {
                        return;
                    }
                }
            }
            item = rx.try_recv().ok();
        }
        let r = async {
            if !releases.is_empty() {
                let keys = std::mem::take(&mut releases);
                writer
                    .feed(&ClientToScheduler::Release { keys }, &[])
                    .await?;
            }
            writer.flush().await
        }
        .await;
        if let Err(e) = r {
            return lost(&shared, &address, e.to_string());
        }
    }
}

fn lost(shared: &Shared, address: &str, why: String) {
    let mut st = shared.lock();
    st.closed.get_or_insert_with(|| {
        format!("lost the connection to the scheduler ({why}); results of unfinished futures are gone, connect again")
    });
    st.replies.clear();
    drop(st);
    shared.cond.notify_all();
    let _ = address;
}

async fn read_loop(mut reader: rask_protocol::ConnReader, shared: Arc<Shared>, address: String) {
    loop {
        let m = match reader.recv::<SchedulerToClient>().await {
            Ok(Some(m)) => m,
            Ok(None) => return lost(&shared, &address, "the scheduler closed it".into()),
            Err(e) => return lost(&shared, &address, e.to_string()),
        };
        let mut st = shared.lock();
        match m.msg {
            SchedulerToClient::InMemory {
                key,
                tag,
                inline,
                who_has,
                ..
            } => {
                let key = Key::from(&key);
                if let Some(e) = st.keys.get_mut(&key) {
                    // A key asked for again is reported again, maybe without
                    // the inline bytes the first report brought: same key,
                    // same value, so they are kept.
                    let inline = inline
                        .and_then(|r| m.bulk.get(r.frame as usize).cloned())
                        .or_else(|| match &mut e.status {
                            Status::Memory { inline, .. } => inline.take(),
                            _ => None,
                        });
                    e.status = Status::Memory {
                        tag,
                        inline,
                        who_has,
                    };
                }
            }
            SchedulerToClient::Erred(f) => {
                let key = Key::from(&f.key);
                if let Some(e) = st.keys.get_mut(&key) {
                    e.status = Status::Failed(f);
                }
            }
            reply @ (SchedulerToClient::WhoHas { .. } | SchedulerToClient::Info { .. }) => {
                if let Some(tx) = st.replies.pop_front() {
                    let _ = tx.send(reply);
                }
            }
            SchedulerToClient::Error {
                message,
                keys: Some(keys),
            } => {
                // Only the futures of the refused request fail.
                for k in &keys {
                    if let Some(e) = st.keys.get_mut(&Key::from(k))
                        && matches!(e.status, Status::Pending)
                    {
                        e.status = Status::Refused(message.clone());
                    }
                }
            }
            SchedulerToClient::Error {
                message,
                keys: None,
            } => {
                // Not tied to keys: fail every waiting future rather than
                // leave one waiting for ever.
                for e in st.keys.values_mut() {
                    if matches!(e.status, Status::Pending) {
                        e.status = Status::Refused(message.clone());
                    }
                }
            }
            SchedulerToClient::Closing { reason } => {
                drop(st);
                return lost(
                    &shared,
                    &address,
                    format!("the scheduler is closing: {reason}"),
                );
            }
        }
        drop(st);
        shared.cond.notify_all();
    }
}

/// A result kept on the cluster, standing for itself in later graphs.
struct HeldResult {
    handle: KeyHandle,
}

impl Held for HeldResult {
    fn key(&self) -> &Key {
        &self.handle.key
    }
    fn executor(&self) -> &str {
        "distributed"
    }
    fn fetch(&self) -> std::result::Result<Value, TaskError> {
        self.handle
            .client
            .values(std::slice::from_ref(&self.handle.key), None)
            .map(|mut v| v.remove(0))
            .map_err(TaskError::failed)
    }
}

impl Executor for Client {
    fn execute(&self, plan: &Plan, callbacks: &[&dyn Callback]) -> Result<Vec<Value>> {
        self.execute_cancellable(plan, callbacks, &CancelToken::new())
    }

    fn name(&self) -> &str {
        "distributed"
    }

    fn execute_cancellable(
        &self,
        plan: &Plan,
        callbacks: &[&dyn Callback],
        cancel: &CancelToken,
    ) -> Result<Vec<Value>> {
        for c in callbacks {
            c.on_start(plan);
        }
        let handles = self.inner.submit_plan(plan)?;
        let keys: Vec<Key> = handles.iter().map(|h| h.key.clone()).collect();
        let r = self.inner.values_cancellable(&keys, None, Some(cancel));
        for c in callbacks {
            c.on_end(plan, r.is_ok());
        }
        drop(handles);
        r
    }

    fn persist(&self, plan: &Plan, callbacks: &[&dyn Callback]) -> Result<Vec<Op>> {
        for c in callbacks {
            c.on_start(plan);
        }
        let handles = self.inner.submit_plan(plan)?;
        let keys: Vec<Key> = handles.iter().map(|h| h.key.clone()).collect();
        let r = self.inner.wait_keys(&keys, None);
        for c in callbacks {
            c.on_end(plan, r.is_ok());
        }
        r?;
        Ok(handles
            .into_iter()
            .map(|handle| Op::held(Arc::new(HeldResult { handle })))
            .collect())
    }

    fn requires_portable(&self) -> bool {
        true
    }

    fn workers(&self) -> Option<usize> {
        self.workers_info()
            .ok()
            .map(|ws| ws.iter().map(|w| w.nthreads as usize).sum::<usize>().max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rask_protocol::{ListenOptions, Listener};

    /// A stand-in scheduler on a loopback socket: it accepts one client and
    /// answers each message with what `answer` makes of it (nothing for
    /// `None`), in the order the messages came.
    struct FakeScheduler {
        address: String,
        /// Keeps the fake scheduler's task running.
        _runtime: tokio::runtime::Runtime,
    }

    impl FakeScheduler {
        fn start(
            answer: impl Fn(ClientToScheduler) -> Option<SchedulerToClient> + Send + 'static,
        ) -> FakeScheduler {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let listener = listen(&runtime);
            let address = listener.address();
            runtime.spawn(async move {
                let (mut conn, _) = listener.accept().await?.handshake().await?;
                while let Some(m) = conn.recv::<ClientToScheduler>().await? {
                    if let Some(reply) = answer(m.msg) {
                        conn.send(&reply, &[]).await?;
                    }
                }
                Ok::<(), rask_protocol::ProtocolError>(())
            });
            FakeScheduler {
                address,
                _runtime: runtime,
            }
        }

        fn client(&self) -> Client {
            Client::connect_with(&self.address, test_options()).unwrap()
        }
    }

    /// Regression: the reply slot was queued under the lock and the request
    /// sent after it was released, so two threads asking at once could get
    /// each other's answers.
    #[test]
    fn concurrent_requests_get_their_own_replies() {
        let scheduler = FakeScheduler::start(|m| match m {
            ClientToScheduler::WhoHas { keys } => Some(SchedulerToClient::WhoHas {
                entries: keys.into_iter().map(|k| (k, Vec::new())).collect(),
            }),
            _ => None,
        });
        let client = scheduler.client();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let client = client.clone();
                std::thread::spawn(move || {
                    for i in 0..2_000 {
                        let key = Key::new(format!("thread{t}-request{i}"));
                        let entries = client.inner.who_has(std::slice::from_ref(&key)).unwrap();
                        let got: Vec<&Key> = entries.iter().map(|(k, _)| k).collect();
                        assert_eq!(got, vec![&key], "thread {t} got another request's reply");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    /// Regression: one `Error` from the scheduler (a submission that
    /// named a released key, a scatter with no workers) failed every
    /// pending future of the client; now only those of the refused request.
    #[test]
    fn a_refused_submission_fails_only_its_own_futures() {
        let scheduler = FakeScheduler::start(|m| match m {
            ClientToScheduler::UpdateGraph { tasks, .. } if tasks[0].key.name == "refused" => {
                Some(SchedulerToClient::Error {
                    message: "refused: it depends on a released key".into(),
                    keys: Some(vec![tasks[0].key.clone()]),
                })
            }
            // Asked after the refusal: the other one is done.
            ClientToScheduler::Want { keys } => Some(SchedulerToClient::InMemory {
                key: keys[0].clone(),
                nbytes: 8,
                tag: "u64".into(),
                inline: None,
                who_has: vec![],
            }),
            _ => None,
        });
        let client = scheduler.client();
        let submit = |name: &str| {
            let key = Key::new(name);
            let handle = client.inner.track(&key);
            let task = SubmittedTask {
                key: WireKey::from(&key),
                op: Vec::new(),
                deps: Vec::new(),
                order: 0,
                annotations: None,
            };
            client.inner.update_graph(vec![task], vec![0]).unwrap();
            (key, handle)
        };
        let (fine, _fine_handle) = submit("fine");
        let (refused, _refused_handle) = submit("refused");
        let limit = Some(Duration::from_secs(10));
        let err = client
            .inner
            .wait_keys(std::slice::from_ref(&refused), limit)
            .unwrap_err();
        assert!(err.to_string().contains("released key"), "{err}");
        client
            .inner
            .send(
                ClientToScheduler::Want {
                    keys: vec![WireKey::from(&fine)],
                },
                Vec::new(),
            )
            .unwrap();
        client
            .inner
            .wait_keys(std::slice::from_ref(&fine), limit)
            .expect("the other submission is not failed by the refusal");
    }

    /// An error the scheduler cannot tie to keys still fails every waiting
    /// future, so that none waits for ever.
    #[test]
    fn an_error_without_keys_fails_every_waiting_future() {
        let scheduler = FakeScheduler::start(|m| match m {
            ClientToScheduler::Want { .. } => Some(SchedulerToClient::Error {
                message: "something went wrong".into(),
                keys: None,
            }),
            _ => None,
        });
        let client = scheduler.client();
        let keys = [Key::new("a"), Key::new("b")];
        let _handles: Vec<_> = keys.iter().map(|k| client.inner.track(k)).collect();
        client
            .inner
            .send(ClientToScheduler::Want { keys: vec![] }, Vec::new())
            .unwrap();
        for k in &keys {
            let err = client
                .inner
                .wait_keys(std::slice::from_ref(k), Some(Duration::from_secs(10)))
                .unwrap_err();
            assert!(err.to_string().contains("something went wrong"), "{err}");
        }
    }

    fn test_options() -> ClientOptions {
        ClientOptions {
            token: String::new(),
            connect_timeout: Duration::from_secs(10),
            name: "test".into(),
            tls: None,
            submit_part: SUBMIT_PART,
            fetch_timeout: Duration::from_secs(2),
        }
    }

    /// Regression: made inside an async runtime, the blocking client
    /// panicked ("Cannot start a runtime from within a runtime"); now it
    /// says what to do instead.
    #[test]
    fn a_client_made_in_async_code_is_an_error_not_a_panic() {
        let scheduler = FakeScheduler::start(|_| None);
        let address = scheduler.address.clone();
        let outer = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = outer
            .block_on(async { Client::connect_with(&address, test_options()) })
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("inside an async runtime"), "{text}");
        assert!(text.contains("spawn_blocking"), "{text}");
    }

    /// Regression: a client dropped in async code panicked (its runtime
    /// stopped with a wait, which tokio forbids there); now it stops on a
    /// thread of its own and its connection closes.
    #[test]
    fn a_client_dropped_in_async_code_stops_without_panic() {
        // A note per message; the sender drops when the fake scheduler's
        // connection ends.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let tx = Mutex::new(tx);
        let scheduler = FakeScheduler::start(move |_| {
            let _ = tx.lock().unwrap().send(());
            None
        });
        let client = Client::connect_with(&scheduler.address, test_options()).unwrap();
        let outer = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        outer.block_on(async move { drop(client) });
        let started = Instant::now();
        while rx.recv_timeout(Duration::from_secs(10)).is_ok() {
            assert!(started.elapsed() < Duration::from_secs(10), "no end");
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the client's connection closes"
        );
    }

    /// Regression: the client's drop queued `Close` and stopped its runtime
    /// at once, which cancels the writer task wherever it is, so the goodbye
    /// was lost about one time in three; now the drop waits (bounded) for
    /// the writer to flush it.
    #[test]
    fn a_dropped_client_always_says_goodbye() {
        for attempt in 0..20 {
            // Every message the fake scheduler receives; the sender drops
            // when its connection ends.
            let (tx, rx) = std::sync::mpsc::channel::<ClientToScheduler>();
            let tx = Mutex::new(tx);
            let scheduler = FakeScheduler::start(move |m| {
                let _ = tx.lock().unwrap().send(m);
                None
            });
            drop(scheduler.client());
            let mut got = Vec::new();
            loop {
                match rx.recv_timeout(Duration::from_secs(10)) {
                    Ok(m) => got.push(m),
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                    Err(e) => panic!("attempt {attempt}: the connection does not end: {e}"),
                }
            }
            assert!(
                matches!(got.last(), Some(ClientToScheduler::Close)),
                "attempt {attempt}: the scheduler got {got:?}, no Close last"
            );
        }
    }

    /// A listener on a free loopback port, on `runtime`.
    fn listen(runtime: &tokio::runtime::Runtime) -> Listener {
        runtime
            .block_on(Listener::bind(
                "tcp://127.0.0.1:0",
                ListenOptions::default(),
            ))
            .unwrap()
    }

    /// A stand-in worker: it accepts peers and answers every fetch with
    /// "missing", or, `stalled`, never answers (a worker under SIGSTOP).
    fn fake_worker(runtime: &tokio::runtime::Runtime, stalled: bool) -> String {
        let listener = listen(runtime);
        let address = listener.address();
        runtime.spawn(async move {
            loop {
                let Ok(incoming) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let (mut conn, _) = incoming.handshake().await?;
                    while let Some(m) = conn.recv::<PeerRequest>().await? {
                        if stalled {
                            continue;
                        }
                        let PeerRequest::GetData { keys } = m.msg;
                        let reply = PeerReply::Data {
                            values: Vec::new(),
                            missing: keys,
                        };
                        conn.send(&reply, &[]).await?;
                    }
                    Ok::<(), rask_protocol::ProtocolError>(())
                });
            }
        });
        address
    }

    /// Regression: a fetch waited for the worker's reply without a limit,
    /// holding the lock on every worker connection, so a stalled worker
    /// hung `gather` and every other fetch of the process.
    #[test]
    fn a_stalled_worker_fails_its_fetch_in_time_and_holds_up_no_other() {
        let scheduler = FakeScheduler::start(|_| None);
        let client = scheduler.client();
        let stalled = fake_worker(&scheduler._runtime, true);
        let healthy = fake_worker(&scheduler._runtime, false);
        let key = Key::new("big-result");
        // Each fetch runs on its own thread, so a hung one fails the test
        // instead of hanging it.
        let fetch_on_thread = |worker: &str| {
            let (tx, rx) = std::sync::mpsc::channel();
            let client = client.clone();
            let key = key.clone();
            let worker = worker.to_string();
            std::thread::spawn(move || {
                let _ = tx.send(client.inner.fetch(&worker, std::slice::from_ref(&key)));
            });
            rx
        };
        let started = Instant::now();
        let done_rx = fetch_on_thread(&stalled);
        // The stalled fetch is under way; one from another worker goes
        // through meanwhile.
        std::thread::sleep(Duration::from_millis(300));
        let (got, missing) = fetch_on_thread(&healthy)
            .recv_timeout(Duration::from_secs(1))
            .expect("the fetch from a healthy worker does not wait for the stalled one")
            .unwrap();
        assert!(got.is_empty());
        assert_eq!(missing, vec![key.clone()]);
        // The stalled one fails after the limit, naming the worker.
        let err = done_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the fetch from a stalled worker returns")
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&stalled), "{text}");
        assert!(text.contains("did not answer"), "{text}");
        assert!(started.elapsed() >= Duration::from_secs(2), "{text}");
        // The healthy worker's connection was kept for the next fetch.
        assert!(client.inner.peers.lock().unwrap().contains_key(&healthy));
    }

    /// Regression: a scattered value its worker could not decode was
    /// dropped there and stayed processing on the scheduler, so `result`
    /// never returned. Now the key errs, naming itself and the type tag.
    #[test]
    fn a_scattered_value_no_worker_can_decode_fails_its_future() {
        let cluster = crate::LocalCluster::builder()
            .workers(1)
            .threads_per_worker(1)
            .processes(false)
            .build()
            .unwrap();
        let client = cluster.client().unwrap();
        // Sent by hand: the client's own scatter only sends types it can
        // encode, which a worker of the same build can decode.
        let key = Key::new("scatter-alien");
        let handle = client.inner.track(&key);
        client
            .inner
            .send(
                ClientToScheduler::Scatter {
                    values: vec![(
                        WireKey::from(&key),
                        BulkRef {
                            frame: 0,
                            tag: "type-from-another-build".into(),
                        },
                    )],
                    broadcast: false,
                },
                vec![Bytes::from_static(b"opaque")],
            )
            .unwrap();
        let err = client
            .inner
            .values(std::slice::from_ref(&key), Some(Duration::from_secs(20)))
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("scatter-alien"), "{text}");
        assert!(text.contains("`type-from-another-build`"), "{text}");
        assert!(!text.contains("timed out"), "{text}");
        drop(handle);
    }

    /// Regression: a result over the inline limit, held by one worker that
    /// then died, made `gather` fail with a connection error; now the
    /// client asks the scheduler again and waits while it is recomputed.
    #[test]
    fn a_big_result_whose_worker_died_is_fetched_once_recomputed() {
        use rask_core::{GraphBuilder, PlanOptions};
        use rask_scheduler::server::ServerOptions;
        use rask_worker::{Worker, WorkerOptions};

        let server = rask_scheduler::server::start(ServerOptions {
            listen: "tcp://127.0.0.1:0".into(),
            ..ServerOptions::default()
        })
        .unwrap();
        let address = server.address().to_string();
        let worker = || {
            Worker::start(WorkerOptions {
                nthreads: 1,
                listen: "tcp://127.0.0.1:0".into(),
                ..WorkerOptions::new(address.clone())
            })
            .unwrap()
        };
        let first = worker();
        let client = Client::connect_with(
            &address,
            ClientOptions {
                fetch_timeout: Duration::from_secs(10),
                ..test_options()
            },
        )
        .unwrap();
        // Over the scheduler's inline limit (64 KiB): it stays on the
        // worker that computed it, the only one there is.
        let key = Key::new("big");
        let mut b = GraphBuilder::new();
        b.insert(
            key.clone(),
            Op::value(Value::new(vec![7u8; 200_000])),
            vec![],
        );
        let plan = Plan::new(b, std::slice::from_ref(&key), PlanOptions::default()).unwrap();
        let handles = client.inner.submit_plan(&plan).unwrap();
        let keys = [key.clone()];
        client
            .inner
            .wait_keys(&keys, Some(Duration::from_secs(20)))
            .unwrap();
        match &client.inner.shared.lock().keys[&key].status {
            Status::Memory {
                inline: None,
                who_has,
                ..
            } => assert_eq!(who_has, &vec![first.address().to_string()]),
            _ => panic!("{key} is not held on the first worker alone"),
        }
        let second = worker();
        let started = Instant::now();
        while client.workers_info().unwrap().len() < 2 {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no second worker"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        first.kill();
        let v = client
            .inner
            .values(&keys, Some(Duration::from_secs(30)))
            .unwrap();
        assert_eq!(v[0].downcast_ref::<Vec<u8>>().unwrap(), &vec![7u8; 200_000]);
        drop(handles);
        second.kill();
        server.close();
    }
}
