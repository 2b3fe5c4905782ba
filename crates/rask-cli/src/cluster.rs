//! `rask scheduler` and `rask worker`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Runs a scheduler until SIGINT or SIGTERM.
pub fn scheduler(
    port: u16,
    host: &str,
    scheduler_file: Option<&Path>,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let config = rask::config::try_get()?;
    let tls = rask::distributed::tls_from_config(&config)?;
    let scheme = if tls.is_some() { "tls" } else { "tcp" };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback && tls.is_none() && config.token.is_empty() {
        // As Dask's scheduler, it serves anyone who reaches the port; say
        // so once, with the remedy.
        eprintln!(
            "rask scheduler: warning: listening on {host} with no token and no TLS: anyone who \
             can reach this port can run rask's built-in operations (which read and write \
             files) on its workers; set a token (RASK_TOKEN, the same for every worker and \
             client) or TLS (`rask certs`), or listen on 127.0.0.1"
        );
    }
    let listen = if host.contains(':') {
        format!("{scheme}://[{host}]:{port}")
    } else {
        format!("{scheme}://{host}:{port}")
    };
    let server = rask_scheduler::server::start(rask_scheduler::server::ServerOptions {
        listen,
        token: config.token.clone(),
        tls,
        handshake_timeout: config.connect_timeout,
        ..Default::default()
    })?;
    // Bound to every interface (the default): others reach it by this
    // machine's address, which is what the scheduler file must hold.
    let address = contact_address(server.address());
    writeln!(out, "rask scheduler listening at {address}")?;
    out.flush()?;
    if let Some(path) = scheduler_file {
        write_scheduler_file(path, &address)
            .with_context(|| format!("cannot write the scheduler file {}", path.display()))?;
    }
    server.run_until_signal();
    if let Some(path) = scheduler_file {
        let _ = std::fs::remove_file(path);
    }
    Ok(ExitCode::SUCCESS)
}

/// The address other machines reach a server bound at `bound` by: an
/// unspecified host (`0.0.0.0`, `::`) becomes this machine's address on its
/// default route, else its host name when that names a non-loopback
/// address (HPC nodes without a default route), else it stays as it is.
fn contact_address(bound: &str) -> String {
    use std::net::{SocketAddr, ToSocketAddrs};
    let (scheme, rest) = bound.split_once("://").unwrap_or(("tcp", bound));
    let Some(addr) = rest.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        return bound.to_string();
    };
    if !addr.ip().is_unspecified() {
        return bound.to_string();
    }
    // Any public address picks the default route (nothing is sent).
    let public: SocketAddr = if addr.is_ipv4() {
        ([8, 8, 8, 8], 53).into()
    } else {
        (
            std::net::Ipv6Addr::new(0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888),
            53,
        )
            .into()
    };
    let routed = rask_protocol::local_ip_toward(public)
        .filter(|ip| !ip.is_unspecified() && !ip.is_loopback());
    if let Some(ip) = routed {
        return format!("{scheme}://{}", SocketAddr::new(ip, addr.port()));
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let reachable = !host.is_empty()
        && (host.as_str(), addr.port())
            .to_socket_addrs()
            .is_ok_and(|mut a| a.any(|a| !a.ip().is_loopback()));
    if reachable {
        return format!("{scheme}://{host}:{}", addr.port());
    }
    bound.to_string()
}

/// Writes `{"address": "..."}` by a temporary name and renames it, so a
/// reader never sees half a file; the temporary file is removed when
/// either step fails.
fn write_scheduler_file(path: &Path, address: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let text = serde_json::json!({ "address": address }).to_string();
    let written = std::fs::write(&tmp, text + "\n").and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Reads the address from a scheduler file, waiting up to `wait` for it.
fn read_scheduler_file(path: &Path, wait: Duration) -> anyhow::Result<String> {
    let deadline = Instant::now() + wait;
    loop {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let v: serde_json::Value = serde_json::from_str(&text).with_context(|| {
                    format!("the scheduler file {} is not JSON", path.display())
                })?;
                return match v.get("address").and_then(|a| a.as_str()) {
                    Some(a) => Ok(a.to_string()),
                    None => bail!(
                        "the scheduler file {} has no \"address\"; it should be written by \
                         `rask scheduler --scheduler-file`",
                        path.display()
                    ),
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot read the scheduler file {} (waited {wait:?} for it)",
                        path.display()
                    )
                });
            }
        }
    }
}

/// The arguments of `rask worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The scheduler's address (tcp://HOST:PORT); or use --scheduler-file.
    address: Option<String>,
    /// Read the scheduler's address from this file (written by
    /// `rask scheduler --scheduler-file`), waiting for it to appear. While
    /// no scheduler answers there, the file is read again before each
    /// attempt: one left by a killed scheduler is followed once a new
    /// scheduler rewrites it.
    #[arg(long)]
    scheduler_file: Option<PathBuf>,
    /// Threads running tasks (default: one per core).
    #[arg(long)]
    nthreads: Option<usize>,
    /// Memory limit, like "4 GiB"; "none" (or 0) for none; "auto" (the
    /// default): this worker's share of the machine, 80% of the smaller of
    /// RAM and the cgroup limit times min(1, nthreads / cores), as Dask's
    /// `dask worker`.
    #[arg(long, default_value = "auto")]
    memory_limit: String,
    /// The worker's name (default: host-pid).
    #[arg(long)]
    name: Option<String>,
    /// Address the data server listens on.
    #[arg(long, default_value = "tcp://0.0.0.0:0")]
    listen: String,
    /// Address peers should use to reach this worker, when it differs
    /// from the one it listens on (NAT, containers).
    #[arg(long)]
    contact_address: Option<String>,
    /// Seconds to keep trying a scheduler that is not listening yet.
    #[arg(long, default_value_t = 60.0)]
    scheduler_wait: f64,
    /// Run the worker in this process, without a supervisor. By default a
    /// supervisor process starts the worker and restarts it when it uses
    /// more than `memory.terminate` (0.95) of --memory-limit, or crashes.
    #[arg(long)]
    no_nanny: bool,
}

/// Runs a worker until the scheduler closes it.
pub fn worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let config = rask::config::try_get()?;
    if !(args.scheduler_wait >= 0.0 && args.scheduler_wait.is_finite()) {
        bail!("--scheduler-wait must be a number of seconds, at least 0");
    }
    let address = match (args.address, &args.scheduler_file) {
        (Some(a), None) => a,
        // The file is waited for as long as the scheduler is.
        (None, Some(path)) => {
            read_scheduler_file(path, Duration::from_secs_f64(args.scheduler_wait))?
        }
        (Some(_), Some(_)) => bail!("give the scheduler's address or --scheduler-file, not both"),
        (None, None) => bail!(
            "which scheduler? give its address (rask worker tcp://HOST:8786) or --scheduler-file"
        ),
    };
    let mut opts = rask_worker::WorkerOptions::new(address);
    // Read again while the scheduler does not answer: it may be a file a
    // killed scheduler left, which the new one is about to rewrite. Under
    // a supervisor, each worker process it starts reads the file itself
    // (the same arguments), so a restarted worker finds a moved scheduler.
    opts.scheduler_file = args.scheduler_file;
    if let Some(n) = args.nthreads {
        if n == 0 {
            bail!("--nthreads must be at least 1");
        }
        opts.nthreads = n;
    }
    opts.memory_limit = rask_worker::parse_memory_limit(&args.memory_limit, opts.nthreads)
        .map_err(|e| anyhow::anyhow!("--memory-limit {:?}: {e}", args.memory_limit))?;
    opts.name = args.name;
    opts.listen = args.listen;
    opts.contact_address = args.contact_address;
    opts.token = config.token.clone();
    opts.tls = rask::distributed::tls_from_config(&config)?;
    if opts.tls.is_some() && opts.listen.starts_with("tcp://") {
        opts.listen = opts.listen.replacen("tcp://", "tls://", 1);
    }
    opts.connect_timeout = config.connect_timeout;
    opts.scheduler_wait = Duration::from_secs_f64(args.scheduler_wait);
    opts.supervised =
        std::env::var_os(rask_worker::supervisor::SUPERVISED_ENV).is_some_and(|v| v == "1");
    if args.no_nanny || opts.supervised {
        rask_worker::run(opts)?;
        return Ok(ExitCode::SUCCESS);
    }
    // The supervisor: this program again, with the same arguments, as the
    // worker (which then runs in-process, listening to the supervisor).
    let program = std::env::current_exe().context("cannot find this program to start a worker")?;
    let mut s = rask_worker::supervisor::SupervisorOptions::new(program);
    // `--no-nanny` right after `worker`: after a `--` it would be read
    // as the scheduler's address.
    s.args = std::env::args_os().skip(1).collect();
    let at = s
        .args
        .iter()
        .position(|a| a == "worker")
        .map_or(0, |i| i + 1);
    s.args.insert(at, "--no-nanny".into());
    s.memory_limit = opts.memory_limit;
    s.terminate = rask_worker::terminate_fraction()?;
    rask_worker::supervisor::supervise(s)?;
    Ok(ExitCode::SUCCESS)
}
