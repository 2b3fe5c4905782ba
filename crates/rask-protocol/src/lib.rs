//! The wire protocol of rask's distributed runtime.
//!
//! One scheduler, many workers and any number of clients talk over TCP
//! (optionally TLS). Every message is a postcard-encoded header frame,
//! followed by raw bulk frames (encoded values) that the header refers to by
//! position, so values are never copied into the header. The first exchange
//! on a connection is the handshake ([`messages::Hello`] /
//! [`messages::HelloReply`]): protocol version, build fingerprint and auth
//! token are checked, and a peer that does not match is refused with a
//! reason that says which.
//!
//! [`messages`] holds one message enum per direction; [`transport`] holds
//! the framing, the handshake and connections (its docs give the wire
//! format); [`tls`] holds mutual TLS for `tls://` addresses and
//! [`generate_self_signed`] for test certificates.

pub mod messages;
pub mod tls;
pub mod transport;

pub use messages::*;
pub use tls::{TlsFiles, generate_self_signed};
pub use transport::{
    ConnReader, ConnWriter, ConnectOptions, Connection, Incoming, ListenOptions, Listener, Message,
    ProtocolError, build_fingerprint, connect,
};

/// Runs `stop` on `rt` (a runtime being shut down, which blocks): here
/// when the caller is not inside an async runtime, else on a thread of its
/// own named `thread`, since waiting there would panic (and stall the
/// caller's thread). The runtime is handed to that thread only once it
/// runs, so it is never dropped in async code; when no thread can be
/// started, it shuts down in the background.
///
/// ```
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// rask_protocol::stop_runtime(rt, "doc-stop", |rt| rt.shutdown_background());
/// ```
pub fn stop_runtime(
    rt: tokio::runtime::Runtime,
    thread: &str,
    stop: impl FnOnce(tokio::runtime::Runtime) + Send + 'static,
) {
    if tokio::runtime::Handle::try_current().is_err() {
        return stop(rt);
    }
    let (tx, rx) = std::sync::mpsc::channel::<tokio::runtime::Runtime>();
    let spawned = std::thread::Builder::new()
        .name(thread.into())
        .spawn(move || {
            if let Ok(rt) = rx.recv() {
                stop(rt);
            }
        });
    match spawned {
        Ok(_) => {
            let _ = tx.send(rt);
        }
        Err(_) => rt.shutdown_background(),
    }
}

/// This machine's address on its route to `peer` (the interface packets to
/// `peer` would leave by), or `None` when there is no route. Connecting a
/// UDP socket sends nothing; it only picks the route.
///
/// ```
/// let me = rask_protocol::local_ip_toward("127.0.0.1:9".parse().unwrap());
/// assert!(me.is_some_and(|ip| ip.is_loopback()));
/// ```
pub fn local_ip_toward(peer: std::net::SocketAddr) -> Option<std::net::IpAddr> {
    let any: std::net::SocketAddr = if peer.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let probe = std::net::UdpSocket::bind(any).ok()?;
    probe.connect(peer).ok()?;
    probe.local_addr().ok().map(|a| a.ip())
}
