//! Client, futures and clusters of rask's distributed runtime.
//!
//! Used through the facade as `rask::distributed`:
//!
//! * [`Client`] connects to a scheduler; it submits registered functions
//!   ([`Client::submit`], [`Client::map`]), stores data on workers
//!   ([`Client::scatter`]), computes and persists any collection, and can be
//!   made the default executor so that `.compute()` runs on the cluster.
//! * [`Future`] is a handle to a result on the cluster; [`as_completed`]
//!   yields futures as they finish.
//! * [`LocalCluster`] starts a scheduler and workers on this machine;
//!   [`init`] at the top of `main` lets it start this program as a worker.

mod client;
mod cluster;
mod future;
mod remote;

pub use client::{Client, ClientOptions, ClusterInfo, Submitter};
pub use cluster::{LocalCluster, LocalClusterBuilder, WORKER_ENV, init};
pub use future::{AsCompleted, Future, as_completed};
pub use rask_protocol::{TlsFiles, WorkerInfo};
pub use rask_worker::auto_memory_limit;

/// The TLS files the configuration names (`tls.ca-file`, `tls.cert`,
/// `tls.key`): all three or none.
pub fn tls_from_config(config: &rask_config::Config) -> rask_core::Result<Option<TlsFiles>> {
    match (&config.tls_ca_file, &config.tls_cert, &config.tls_key) {
        (None, None, None) => Ok(None),
        (Some(ca), Some(cert), Some(key)) => Ok(Some(TlsFiles {
            ca: ca.clone(),
            cert: cert.clone(),
            key: key.clone(),
        })),
        _ => Err(rask_core::Error::invalid(
            "TLS configuration",
            "set all three of tls.ca-file, tls.cert and tls.key (RASK_TLS_CA_FILE, RASK_TLS_CERT, \
             RASK_TLS_KEY), or none; `rask certs --out DIR` writes a set",
        )),
    }
}
pub use remote::{ArgSource, ByRef, BySlice, ByStr, ByValue, Remote, SubmitArg, SubmitArgs};
