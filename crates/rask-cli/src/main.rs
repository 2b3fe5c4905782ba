//! `rask`, the command-line tool of rask.
//!
//! ```text
//! rask config          # the configuration in force, as a complete rask.toml
//! rask config --keys   # every key with its environment variable, default and meaning
//! rask version         # the version (also `rask --version`)
//! rask scheduler       # a cluster's scheduler, on port 8786
//! rask worker tcp://HOST:8786 --nthreads 4   # a worker of that scheduler
//! rask certs --out DIR [--host H]...   # a self-signed CA and certificate for tls://
//! ```
//!
//! The configuration comes from the defaults, then `rask.toml` (or the file
//! named by `RASK_CONFIG`), then `RASK_*` environment variables. A bad value
//! anywhere makes `rask config` print the error and exit with status 2.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

mod cluster;

/// Parallel computing for Rust in the spirit of Dask.
#[derive(Debug, Parser)]
#[command(name = "rask", version, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the configuration in force, as a rask.toml.
    ///
    /// Values come from the defaults, overridden by the config file (the one
    /// named by RASK_CONFIG, else ./rask.toml if there is one), overridden by
    /// RASK_* environment variables. An invalid value is reported and the
    /// exit status is 2.
    Config {
        /// List every key with its environment variable, default and
        /// description instead.
        #[arg(long)]
        keys: bool,
    },
    /// Print the version of rask.
    Version,
    /// Run a cluster's scheduler until stopped (Ctrl-C or SIGTERM).
    ///
    /// Workers join with `rask worker ADDRESS`, clients with
    /// `Client::connect(ADDRESS)`. Every peer must present the same token
    /// (RASK_TOKEN, or `token` in rask.toml).
    Scheduler {
        /// Port to listen on.
        #[arg(long, default_value_t = 8786)]
        port: u16,
        /// Interface to listen on (0.0.0.0: every interface).
        #[arg(long, default_value = "0.0.0.0")]
        host: String,
        /// Write the scheduler's address to this file (JSON), for workers
        /// and clients started by a batch system.
        #[arg(long)]
        scheduler_file: Option<std::path::PathBuf>,
    },
    /// Run a worker of the scheduler at ADDRESS until the scheduler closes
    /// it; SIGTERM or Ctrl-C hands its data to other workers first.
    Worker(cluster::WorkerArgs),
    /// Write a self-signed CA and a certificate for tls:// addresses.
    ///
    /// Writes ca.pem, cert.pem and key.pem into DIR: a new CA, and one
    /// certificate signed by it that is valid for every --host plus
    /// localhost, 127.0.0.1 and ::1, as server and as client certificate.
    /// Give the same three files to the scheduler, every worker and every
    /// client. For tests and private clusters: whoever holds key.pem is
    /// trusted.
    Certs {
        /// The directory to write into (created if missing; existing files
        /// there are replaced).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// A DNS name or IP address the certificate is valid for (repeat
        /// for more).
        #[arg(long = "host", value_name = "HOST")]
        hosts: Vec<String>,
    },
}

/// Exit status when the configuration cannot be read.
const CONFIG_ERROR: u8 = 2;

fn main() -> ExitCode {
    // A cluster started this process as a worker: run it and exit.
    if let Err(e) = rask::distributed::init() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    let mut out = io::stdout().lock();
    match run(cli.command, &mut out) {
        Ok(code) => code,
        // `rask config | head -1` closes the pipe early: that is not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    match command {
        Command::Config { keys: true } => {
            write_keys(out).context("cannot write the list of keys")?;
        }
        Command::Config { keys: false } => {
            let config = match rask::config::try_get() {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("error: {e}");
                    eprintln!("(`rask config --keys` lists every key and the values it takes)");
                    return Ok(ExitCode::from(CONFIG_ERROR));
                }
            };
            out.write_all(config.to_toml().as_bytes())
                .context("cannot write the configuration")?;
        }
        Command::Version => {
            writeln!(out, "rask {}", env!("CARGO_PKG_VERSION")).context("cannot write")?;
        }
        Command::Scheduler {
            port,
            host,
            scheduler_file,
        } => return cluster::scheduler(port, &host, scheduler_file.as_deref(), out),
        Command::Worker(args) => return cluster::worker(args),
        Command::Certs { out: dir, hosts } => {
            let files = rask_protocol::generate_self_signed(&dir, &hosts)?;
            write_certs_report(out, &files, &hosts).context("cannot write")?;
        }
    }
    out.flush().context("cannot write to standard output")?;
    Ok(ExitCode::SUCCESS)
}

/// One line per key, in columns: key, environment variable, default, what
/// it does.
fn write_keys(out: &mut impl Write) -> io::Result<()> {
    const HEADER: [&str; 4] = ["KEY", "ENVIRONMENT VARIABLE", "DEFAULT", "DESCRIPTION"];
    let keys = rask::config::KEYS;
    let width = |header: &str, field: fn(&rask::config::KeyDoc) -> &str| {
        keys.iter()
            .map(|k| field(k).len())
            .chain([header.len()])
            .max()
            .unwrap_or(0)
    };
    let (key_w, env_w, default_w) = (
        width(HEADER[0], |k| k.key),
        width(HEADER[1], |k| k.env),
        width(HEADER[2], |k| k.default),
    );
    let rows = [HEADER]
        .into_iter()
        .chain(keys.iter().map(|k| [k.key, k.env, k.default, k.doc]));
    for [key, env, default, doc] in rows {
        writeln!(
            out,
            "{key:<key_w$}  {env:<env_w$}  {default:<default_w$}  {doc}"
        )?;
    }
    Ok(())
}

/// What `rask certs` wrote and how to use it.
fn write_certs_report(
    out: &mut impl Write,
    files: &rask_protocol::TlsFiles,
    hosts: &[String],
) -> io::Result<()> {
    // Absolute paths, so they can be pasted into options anywhere.
    let absolute = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let (ca, cert, key) = (
        absolute(&files.ca),
        absolute(&files.cert),
        absolute(&files.key),
    );
    // As generate_self_signed names them: trimmed, `[::1]` as `::1`, once.
    let mut valid_for: Vec<&str> = Vec::new();
    for host in hosts
        .iter()
        .map(|h| h.trim())
        .chain(["localhost", "127.0.0.1", "::1"])
    {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if !valid_for.contains(&host) {
            valid_for.push(host);
        }
    }
    let example = match valid_for[0] {
        ipv6 if ipv6.contains(':') => format!("[{ipv6}]"),
        host => host.to_owned(),
    };
    writeln!(out, "ca:   {}", ca.display())?;
    writeln!(out, "cert: {}", cert.display())?;
    writeln!(out, "key:  {}", key.display())?;
    writeln!(out)?;
    writeln!(
        out,
        "A new CA, and a certificate signed by it for: {}.",
        valid_for.join(", ")
    )?;
    writeln!(
        out,
        "Give these three files to the scheduler, every worker and every client, as the TLS"
    )?;
    writeln!(
        out,
        "options (TlsFiles {{ ca, cert, key }} in ConnectOptions::tls and ListenOptions::tls),"
    )?;
    writeln!(out, "and use tls:// addresses, e.g. tls://{example}:8786.")?;
    writeln!(
        out,
        "For tests and private clusters only: whoever holds key.pem is trusted."
    )
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_listed_in_aligned_columns() {
        let mut out = Vec::new();
        write_keys(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), rask::config::KEYS.len() + 1);
        let env_column = lines[0].find("ENVIRONMENT VARIABLE").unwrap();
        for (line, key) in lines[1..].iter().zip(rask::config::KEYS) {
            assert!(line.starts_with(key.key), "{line}");
            assert_eq!(line.find(key.env), Some(env_column), "{line}");
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
