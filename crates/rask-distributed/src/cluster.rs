//! Clusters on one machine, and turning a program into a worker.
//!
//! [`LocalCluster`] starts a scheduler in this process and workers as
//! processes (or as threads of this process), all talking over real
//! sockets, like Dask's `LocalCluster`. Worker processes run this very
//! program — so functions registered with `#[rask::remote]` exist there
//! too — which is why `main` must call [`init`] first: in a process
//! launched as a worker, `init` runs the worker and exits instead of
//! returning.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rask_core::{Error, Result};
use rask_scheduler::server::{ServerHandle, ServerOptions};
use rask_worker::{WorkerHandle, WorkerOptions};

use crate::client::{Client, ClientOptions};

static INIT_CALLED: AtomicBool = AtomicBool::new(false);

/// The environment variable that makes a launched process a worker: the
/// scheduler's address.
pub const WORKER_ENV: &str = "RASK_WORKER_SCHEDULER";

/// Call at the top of `main`: when a cluster launched this process as a
/// worker, runs the worker until the scheduler closes it and exits the
/// process; otherwise returns at once.
///
/// ```no_run
/// fn main() -> rask_core::Result<()> {
///     rask_distributed::init()?;
///     // ... the program ...
///     Ok(())
/// }
/// ```
pub fn init() -> Result<()> {
    INIT_CALLED.store(true, Ordering::Relaxed);
    match rask_worker::run_from_env() {
        None => Ok(()),
        Some(Ok(())) => std::process::exit(0),
        Some(Err(e)) => {
            eprintln!("rask worker: {e}");
            std::process::exit(1)
        }
    }
}

/// The child process of `pid` (a supervisor has one: its worker), from
/// `/proc/PID/task/*/children`; `None` where it cannot be read.
fn supervised_child(pid: u32) -> Option<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    tasks.flatten().find_map(|t| {
        let text = std::fs::read_to_string(t.path().join("children")).ok()?;
        text.split_ascii_whitespace().next()?.parse().ok()
    })
}

fn cluster_error(address: &str, message: impl Into<String>) -> Error {
    Error::Cluster {
        address: address.to_string(),
        message: message.into(),
    }
}

/// Settings of a [`LocalCluster`]; see [`LocalCluster::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// use rask_distributed::LocalCluster;
/// let cluster = LocalCluster::builder()
///     .workers(4)
///     .threads_per_worker(2)
///     .memory_limit(4 << 30)
///     .start_timeout(Duration::from_secs(60))
///     .build()?;
/// let client = cluster.client()?;
/// # Ok::<(), rask_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LocalClusterBuilder {
    workers: usize,
    threads_per_worker: usize,
    processes: Option<bool>,
    worker_binary: Option<PathBuf>,
    worker_args: Vec<String>,
    host: String,
    port: u16,
    token: Option<String>,
    tls: Option<Option<rask_protocol::TlsFiles>>,
    /// `None`: the default (see [`LocalClusterBuilder::memory_limit`]).
    memory_limit: Option<u64>,
    start_timeout: Duration,
}

impl LocalClusterBuilder {
    /// Number of workers (default: one per core).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// Threads running tasks in each worker (default 1).
    pub fn threads_per_worker(mut self, n: usize) -> Self {
        self.threads_per_worker = n.max(1);
        self
    }

    /// Workers as separate processes (`true`) or as threads of this process
    /// (`false`). The default is processes when `main` called [`init`]
    /// (or a worker binary is given), threads otherwise. Each worker
    /// process runs under a supervisor (a process of the same program) that
    /// restarts it when it uses more than `memory.terminate` of its memory
    /// limit, or crashes.
    pub fn processes(mut self, processes: bool) -> Self {
        self.processes = Some(processes);
        self
    }

    /// The program worker processes run (default: this program). It must
    /// call [`init`] at the top of `main`, as the `rask` command does.
    pub fn worker_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.worker_binary = Some(path.into());
        self
    }

    /// The program worker processes run, with arguments (a test binary
    /// running its worker test, say). The program must call [`init`].
    pub fn worker_command(
        mut self,
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.worker_binary = Some(program.into());
        self.worker_args = args.into_iter().map(Into::into).collect();
        self
    }

    /// The interface the scheduler listens on (default 127.0.0.1).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The scheduler's port (default 0: any free one).
    pub fn scheduler_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The shared secret (default: the configuration's `token`).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Talk over TLS with these files (default: the configuration's
    /// `tls.*` keys, if set).
    pub fn tls(mut self, files: rask_protocol::TlsFiles) -> Self {
        self.tls = Some(Some(files));
        self
    }

    /// Memory limit of each worker in bytes (0: none). By default, as in
    /// Dask's `LocalCluster`, worker processes share the machine's `auto`
    /// limit (80% of the smaller of RAM and the cgroup limit) equally:
    /// each gets its 1 / `workers` part ([`rask_worker::auto_memory_limit`]),
    /// so together they stay under what the machine has, each spilling and
    /// pausing on its own share, and each supervisor restarting its worker
    /// above `memory.terminate` of it. Workers that are threads of this
    /// process have no limit by default: they would all measure the one
    /// process's memory. [`LocalCluster::memory_limit`] tells the limit in
    /// force.
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// How long the workers may take to join (default 30 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Starts the scheduler and the workers, and waits until every worker
    /// has joined.
    pub fn build(self) -> Result<LocalCluster> {
        if let Ok(addr) = std::env::var(WORKER_ENV) {
            return Err(cluster_error(
                &addr,
                "this process was started as a worker, but main did not call \
                 rask::distributed::init() before building a cluster; call it at the top of main",
            ));
        }
        let token = match self.token.clone() {
            Some(t) => t,
            None => rask_config::try_get()?.token.clone(),
        };
        let tls = match self.tls.clone() {
            Some(t) => t,
            None => crate::tls_from_config(&*rask_config::try_get()?)?,
        };
        let scheme = if tls.is_some() { "tls" } else { "tcp" };
        let listen = format!("{scheme}://{}:{}", self.host, self.port);
        let server = rask_scheduler::server::start(ServerOptions {
            listen: listen.clone(),
            token: token.clone(),
            tls: tls.clone(),
            ..ServerOptions::default()
        })
        .map_err(|e| cluster_error(&listen, e.to_string()))?;
        let address = server.address().to_string();
        let processes = self
            .processes
            .unwrap_or(self.worker_binary.is_some() || INIT_CALLED.load(Ordering::Relaxed));
        let mut settings = self.clone();
        settings.memory_limit = Some(match self.memory_limit {
            Some(bytes) => bytes,
            None if processes => rask_worker::auto_memory_limit(1.0 / self.workers.max(1) as f64),
            None => 0,
        });
        let mut cluster = LocalCluster {
            server: Some(server),
            workers: Vec::new(),
            address: address.clone(),
            token: token.clone(),
            tls,
            settings,
            processes,
            next_name: 0,
        };
        for _ in 0..self.workers {
            cluster.start_worker()?;
        }
        cluster.wait_for_workers(self.workers, self.start_timeout)?;
        Ok(cluster)
    }
}

enum LocalWorker {
    Thread(Option<WorkerHandle>),
    Process(Child),
}

/// A scheduler in this process and workers on this machine (Dask's
/// `LocalCluster`).
///
/// ```no_run
/// use rask_distributed::LocalCluster;
/// let cluster = LocalCluster::builder().workers(2).threads_per_worker(1).build()?;
/// let client = cluster.client()?;
/// # Ok::<(), rask_core::Error>(())
/// ```
pub struct LocalCluster {
    server: Option<ServerHandle>,
    workers: Vec<LocalWorker>,
    address: String,
    token: String,
    tls: Option<rask_protocol::TlsFiles>,
    settings: LocalClusterBuilder,
    processes: bool,
    next_name: usize,
}

impl LocalCluster {
    /// A builder with the defaults: one worker per core, one thread each.
    pub fn builder() -> LocalClusterBuilder {
        LocalClusterBuilder {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            threads_per_worker: 1,
            processes: None,
            worker_binary: None,
            worker_args: Vec::new(),
            host: "127.0.0.1".into(),
            port: 0,
            token: None,
            tls: None,
            memory_limit: None,
            start_timeout: Duration::from_secs(30),
        }
    }

    /// The scheduler's address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Each worker's memory limit in bytes (0: none): the one given to
    /// the builder, else the default (see
    /// [`LocalClusterBuilder::memory_limit`]).
    ///
    /// ```no_run
    /// use rask_distributed::LocalCluster;
    /// let cluster = LocalCluster::builder().workers(2).memory_limit(2 << 30).build()?;
    /// assert_eq!(cluster.memory_limit(), 2 << 30);
    /// # Ok::<(), rask_core::Error>(())
    /// ```
    pub fn memory_limit(&self) -> u64 {
        self.settings.memory_limit.unwrap_or(0)
    }

    /// Whether the workers are processes (else threads of this process).
    pub fn uses_processes(&self) -> bool {
        self.processes
    }

    /// A client connected to this cluster's scheduler.
    pub fn client(&self) -> Result<Client> {
        let mut options = ClientOptions::from_config()?;
        options.token = self.token.clone();
        options.tls = self.tls.clone();
        Client::connect_with(&self.address, options)
    }

    /// Number of workers started (alive or not).
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Whether no worker was started.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// Process ids of the worker processes (empty for thread workers), for
    /// reading their CPU time or memory. Each runs under a supervisor (see
    /// [`LocalCluster::supervisor_pids`]), so after a restart the id is the
    /// new worker's; where a supervisor's child cannot be read (between two
    /// workers, or not on Linux) the supervisor's own id stands in.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.supervisor_pids()
            .into_iter()
            .map(|p| supervised_child(p).unwrap_or(p))
            .collect()
    }

    /// Process ids of the workers' supervisors (empty for thread workers):
    /// the processes this cluster started, each of which runs its worker as
    /// a child and restarts it above its memory limit or after a crash.
    pub fn supervisor_pids(&self) -> Vec<u32> {
        self.workers
            .iter()
            .filter_map(|w| match w {
                LocalWorker::Process(c) => Some(c.id()),
                LocalWorker::Thread(_) => None,
            })
            .collect()
    }

    /// Starts one more worker and waits until it has joined.
    pub fn add_worker(&mut self) -> Result<()> {
        let want = self.joined_workers() + 1;
        self.start_worker()?;
        self.wait_for_workers(want, self.settings.start_timeout)
    }

    /// Kills worker `i` abruptly (SIGKILL for a process), as a crash would.
    /// For a process, its supervisor is killed, and the worker with it (it
    /// exits when its supervisor goes): the worker is not restarted.
    pub fn kill_worker(&mut self, i: usize) -> Result<()> {
        match self.workers.get_mut(i) {
            Some(LocalWorker::Process(c)) => {
                let _ = c.kill();
                let _ = c.wait();
                Ok(())
            }
            Some(LocalWorker::Thread(h)) => {
                if let Some(h) = h.take() {
                    h.kill();
                }
                Ok(())
            }
            None => Err(Error::invalid(
                "worker",
                format!(
                    "there is no worker {i}; the cluster has {}",
                    self.workers.len()
                ),
            )),
        }
    }

    fn joined_workers(&self) -> usize {
        self.server
            .as_ref()
            .and_then(|s| s.stats())
            .map_or(0, |s| s.workers)
    }

    fn start_worker(&mut self) -> Result<()> {
        let name = format!("local-{}", self.next_name);
        self.next_name += 1;
        let s = &self.settings;
        if self.processes {
            let program = match &s.worker_binary {
                Some(p) => p.clone(),
                None => std::env::current_exe().map_err(|e| {
                    cluster_error(
                        &self.address,
                        format!("cannot find this program to start workers: {e}"),
                    )
                })?,
            };
            let mut cmd = Command::new(&program);
            if let Some(t) = &self.tls {
                cmd.env("RASK_TLS_CA_FILE", &t.ca)
                    .env("RASK_TLS_CERT", &t.cert)
                    .env("RASK_TLS_KEY", &t.key);
            }
            let child = cmd
                .args(&s.worker_args)
                .env(WORKER_ENV, &self.address)
                // Through a supervisor, which restarts the worker above its
                // memory limit or after a crash.
                .env(rask_worker::supervisor::SUPERVISE_ENV, "1")
                .env("RASK_WORKER_NTHREADS", s.threads_per_worker.to_string())
                .env("RASK_WORKER_NAME", &name)
                .env("RASK_WORKER_MEMORY_LIMIT", self.memory_limit().to_string())
                .env("RASK_TOKEN", &self.token)
                .stdin(Stdio::null())
                .spawn()
                .map_err(|e| {
                    cluster_error(
                        &self.address,
                        format!("cannot start worker process {}: {e}", program.display()),
                    )
                })?;
            self.workers.push(LocalWorker::Process(child));
        } else {
            let handle = rask_worker::Worker::start(WorkerOptions {
                name: Some(name),
                nthreads: s.threads_per_worker,
                memory_limit: self.memory_limit(),
                token: self.token.clone(),
                tls: self.tls.clone(),
                listen: format!(
                    "{}://{}:0",
                    if self.tls.is_some() { "tls" } else { "tcp" },
                    s.host
                ),
                ..WorkerOptions::new(self.address.clone())
            })
            .map_err(|e| cluster_error(&self.address, e.to_string()))?;
            self.workers.push(LocalWorker::Thread(Some(handle)));
        }
        Ok(())
    }

    fn wait_for_workers(&mut self, n: usize, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.joined_workers() >= n {
                return Ok(());
            }
            for w in &mut self.workers {
                if let LocalWorker::Process(c) = w
                    && let Ok(Some(status)) = c.try_wait()
                {
                    return Err(cluster_error(
                        &self.address,
                        format!(
                            "a worker process exited ({status}) before joining; a program used as \
                             a worker must call rask::distributed::init() at the top of main \
                             (see its error output above)"
                        ),
                    ));
                }
            }
            if Instant::now() >= deadline {
                return Err(cluster_error(
                    &self.address,
                    format!(
                        "only {} of {n} workers joined within {timeout:?}",
                        self.joined_workers()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the workers and the scheduler.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(server) = self.server.take() {
            server.close();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        for w in &mut self.workers {
            match w {
                LocalWorker::Process(c) => {
                    while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    let _ = c.kill();
                    let _ = c.wait();
                }
                LocalWorker::Thread(h) => {
                    if let Some(h) = h.take() {
                        h.kill();
                    }
                }
            }
        }
        self.workers.clear();
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}
