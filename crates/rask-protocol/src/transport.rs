//! Framed messages over TCP: addresses, the handshake, and connections.
//!
//! # Wire format
//!
//! Everything on a connection is a sequence of **frames**: a little-endian
//! `u64` length, then that many bytes. A **message** is one *header frame*
//! followed by its *bulk frames*:
//!
//! ```text
//! header frame:  [u64 len][u32 count (LE)][postcard bytes of the message]
//! bulk frames:   [u64 len][bytes] × count
//! ```
//!
//! The header's payload starts with the number of bulk frames that follow,
//! then the postcard encoding of the message value. Bulk frames carry raw
//! bytes (encoded values) that the message refers to by position
//! ([`crate::BulkRef::frame`]); they are written straight from the caller's
//! buffers, never copied into the header.
//!
//! Every length is checked against the receiver's `max_frame` *before*
//! anything is allocated ([`ProtocolError::FrameTooLarge`]), and a frame's
//! buffer then grows with the bytes that arrive rather than being allocated
//! at the announced length, so a peer that announces a big frame and sends
//! little costs little memory; a header that
//! is too short, announces more than [`MAX_BULK_FRAMES`] bulk frames, or does
//! not decode is [`ProtocolError::Malformed`]. A sender checks its own
//! `max_frame` as well, before writing anything, so a refused send leaves the
//! connection usable.
//!
//! # Handshake
//!
//! The connecting side sends a [`Hello`] message, the accepting side answers
//! with a [`HelloReply`]. The acceptor checks, in this order, the protocol
//! version, the build fingerprint ([`build_fingerprint`]) and the auth token
//! (compared in constant time), and refuses the first mismatch with a reason
//! that says which check failed and what to do. Both sides then get
//! [`ProtocolError::Refused`] with that reason. Handshake frames are limited
//! to [`HANDSHAKE_MAX_FRAME`] bytes so an unauthenticated peer cannot make the
//! acceptor allocate much.
//!
//! # Streams and addresses
//!
//! A connection reads through a buffered reader and writes through a
//! buffered writer over boxed [`AsyncRead`] / [`AsyncWrite`] halves: a TCP
//! stream for `tcp://` addresses, a TLS stream over TCP for `tls://` ones
//! (see [`crate::tls`]: mutual TLS with [`TlsFiles`], the rask handshake
//! running inside TLS). A bare `HOST:PORT` means `tls://` when TLS files are
//! set and `tcp://` otherwise; a `tls://` address without TLS files, or a
//! `tcp://` address with them, is an error rather than a silent change of
//! security.
//!
//! # Example
//!
//! ```
//! use rask_protocol::{connect, ConnectOptions, Listener, ListenOptions};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let listener = Listener::bind("tcp://127.0.0.1:0", ListenOptions::default()).await?;
//! let address = listener.address();
//! let server = tokio::spawn(async move {
//!     let (mut conn, _hello) = listener.accept().await?.handshake().await?;
//!     let request = conn.recv::<String>().await?.expect("a request");
//!     conn.send(&format!("hello, {}", request.msg), &request.bulk).await
//! });
//! let mut conn = connect(&address, &ConnectOptions::default()).await?;
//! conn.send(&"rask".to_string(), &[bytes::Bytes::from_static(b"raw")]).await?;
//! let reply = conn.recv::<String>().await?.expect("a reply");
//! assert_eq!(reply.msg, "hello, rask");
//! assert_eq!(&reply.bulk[0][..], b"raw");
//! server.await.unwrap()?;
//! # Ok::<(), rask_protocol::ProtocolError>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};

use crate::messages::{Hello, HelloReply, PROTOCOL_VERSION, Role};
use crate::tls::{self, TlsFiles};

/// Default limit on one frame: 1 GiB.
pub const DEFAULT_MAX_FRAME: usize = 1 << 30;

/// Limit on the frames of the handshake ([`Hello`], [`HelloReply`]).
pub const HANDSHAKE_MAX_FRAME: usize = 64 * 1024;

/// Most bulk frames one message may carry; a header announcing more is
/// [`ProtocolError::Malformed`].
pub const MAX_BULK_FRAMES: u32 = 1 << 24;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const BUFFER: usize = 64 * 1024;
/// The first allocation for an incoming frame; it doubles as bytes arrive.
const FIRST_CHUNK: usize = 1 << 20;

/// Result of this crate's operations.
pub type Result<T, E = ProtocolError> = std::result::Result<T, E>;

/// Everything that can go wrong on the wire. Every variant names the
/// address concerned (the peer's, or the one being bound or connected to).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The TCP connection could not be made.
    #[error(
        "cannot connect to {address}: {source}; check that a rask scheduler or worker runs there and that the host and port are right"
    )]
    Connect {
        /// The address connected to.
        address: String,
        /// The cause.
        source: io::Error,
    },
    /// The address could not be listened on.
    #[error(
        "cannot listen on {address}: {source}; pick another port (or 0 for any) or stop the process that uses it"
    )]
    Bind {
        /// The address asked for.
        address: String,
        /// The cause.
        source: io::Error,
    },
    /// Connecting or the handshake took too long.
    #[error(
        "{what} with {address} timed out after {after:?}; check that a rask process (and not something else) listens there and that the network lets the connection through"
    )]
    Timeout {
        /// The peer's address.
        address: String,
        /// `"connect"` or `"handshake"`.
        what: &'static str,
        /// The timeout that ran out.
        after: Duration,
    },
    /// The handshake failed a check; `reason` says which and what to do.
    #[error("handshake with {address} refused: {reason}")]
    Refused {
        /// The peer's address.
        address: String,
        /// Which check failed and what to do, meant for people.
        reason: String,
    },
    /// A frame is longer than the limit.
    #[error(
        "a frame of {size} bytes on the connection with {address} exceeds the limit of {limit} bytes; raise max_frame on the receiving side or send smaller values (more, smaller chunks)"
    )]
    FrameTooLarge {
        /// The peer's address.
        address: String,
        /// The frame's size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// The peer sent bytes that are not a rask message.
    #[error(
        "malformed data from {address}: {message}; check that the peer is a rask process of the same version"
    )]
    Malformed {
        /// The peer's address.
        address: String,
        /// What was wrong.
        message: String,
    },
    /// A message could not be encoded (a type serde cannot represent).
    #[error("cannot encode a message for {address}: {message}")]
    Encode {
        /// The peer's address.
        address: String,
        /// What postcard said.
        message: String,
    },
    /// The peer closed the connection in the middle of a message (or,
    /// accepting, before its `Hello`).
    #[error(
        "{address} closed the connection in the middle of a message or of the handshake; the peer probably stopped, crashed or was killed (a port probe does this too)"
    )]
    Closed {
        /// The peer's address.
        address: String,
    },
    /// Reading or writing failed.
    #[error("I/O error on the connection with {address}: {source}")]
    Io {
        /// The peer's address.
        address: String,
        /// The cause.
        source: io::Error,
    },
    /// The address cannot be used.
    #[error("bad address `{address}`: {message}")]
    BadAddress {
        /// The address as given.
        address: String,
        /// What is wrong and how to write it.
        message: String,
    },
    /// A TLS file (CA, certificate or key) cannot be read, parsed, used or
    /// written.
    #[error("TLS file {}: {message}", path.display())]
    TlsFile {
        /// The address the file was loaded for; empty when writing files
        /// ([`crate::generate_self_signed`]).
        address: String,
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// TLS is asked for but not configured, or the TLS handshake failed.
    #[error("TLS with {address}: {message}")]
    Tls {
        /// The peer's address (or the address being bound).
        address: String,
        /// What went wrong and what to check, meant for people.
        message: String,
    },
}

impl ProtocolError {
    /// The address the error is about.
    pub fn address(&self) -> &str {
        match self {
            Self::Connect { address, .. }
            | Self::Bind { address, .. }
            | Self::Timeout { address, .. }
            | Self::Refused { address, .. }
            | Self::FrameTooLarge { address, .. }
            | Self::Malformed { address, .. }
            | Self::Encode { address, .. }
            | Self::Closed { address }
            | Self::Io { address, .. }
            | Self::BadAddress { address, .. }
            | Self::TlsFile { address, .. }
            | Self::Tls { address, .. } => address,
        }
    }
}

/// This build's fingerprint, like
/// `"rask 0.1.0 / rustc 1.95.0 / x86_64-unknown-linux-gnu / protocol 2 / wire 1"`.
///
/// Processes with different fingerprints may encode values or kernels
/// differently, so the handshake refuses them.
pub fn build_fingerprint() -> &'static str {
    static FINGERPRINT: OnceLock<String> = OnceLock::new();
    FINGERPRINT.get_or_init(|| {
        format!(
            "rask {} / {} / {} / protocol {} / wire {}",
            env!("CARGO_PKG_VERSION"),
            env!("RASK_BUILD_RUSTC"),
            env!("RASK_BUILD_TARGET"),
            PROTOCOL_VERSION,
            rask_core::wire::WIRE_VERSION,
        )
    })
}

/// How [`connect`] connects.
#[derive(Clone)]
pub struct ConnectOptions {
    /// What this side is.
    pub role: Role,
    /// This side's name, sent in the [`Hello`].
    pub name: String,
    /// The shared auth token (empty for none).
    pub token: String,
    /// The build fingerprint sent; [`build_fingerprint`] by default.
    pub build: String,
    /// Limit on establishing the TCP connection (default 5 s).
    pub connect_timeout: Duration,
    /// Limit on the handshake (default 5 s).
    pub handshake_timeout: Duration,
    /// Largest frame accepted and sent, in bytes (default 1 GiB).
    pub max_frame: usize,
    /// The files for `tls://` addresses (default none): the server must
    /// present a certificate signed by `ca` and valid for the address's
    /// host; this side presents `cert`.
    pub tls: Option<TlsFiles>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            role: Role::Client,
            name: String::new(),
            token: String::new(),
            build: build_fingerprint().to_owned(),
            connect_timeout: DEFAULT_TIMEOUT,
            handshake_timeout: DEFAULT_TIMEOUT,
            max_frame: DEFAULT_MAX_FRAME,
            tls: None,
        }
    }
}

/// How a [`Listener`] accepts.
#[derive(Clone)]
pub struct ListenOptions {
    /// The auth token peers must present (empty for none).
    pub token: String,
    /// The build fingerprint peers must have; [`build_fingerprint`] by
    /// default.
    pub build: String,
    /// Limit on a peer's handshake (default 5 s).
    pub handshake_timeout: Duration,
    /// Largest frame accepted and sent, in bytes (default 1 GiB).
    pub max_frame: usize,
    /// This side's name, sent in the [`HelloReply::Welcome`].
    pub name: String,
    /// The files for a `tls://` listener (default none): it presents
    /// `cert` and accepts only clients whose certificate is signed by `ca`.
    pub tls: Option<TlsFiles>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            token: String::new(),
            build: build_fingerprint().to_owned(),
            handshake_timeout: DEFAULT_TIMEOUT,
            max_frame: DEFAULT_MAX_FRAME,
            name: String::new(),
            tls: None,
        }
    }
}

/// Shows a token as set or not, never its text.
fn redacted(token: &str) -> &'static str {
    if token.is_empty() {
        "<none>"
    } else {
        "<redacted>"
    }
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("role", &self.role)
            .field("name", &self.name)
            .field("token", &redacted(&self.token))
            .field("build", &self.build)
            .field("connect_timeout", &self.connect_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("max_frame", &self.max_frame)
            .field("tls", &self.tls)
            .finish()
    }
}

impl fmt::Debug for ListenOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenOptions")
            .field("token", &redacted(&self.token))
            .field("build", &self.build)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("max_frame", &self.max_frame)
            .field("name", &self.name)
            .field("tls", &self.tls)
            .finish()
    }
}

/// The scheme an address was written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Tcp,
    Tls,
    /// `HOST:PORT`: TLS when TLS files are set.
    Bare,
}

/// A parsed address: scheme, host and port.
fn parse_address(address: &str) -> Result<(Scheme, &str, u16)> {
    let bad = |message: String| ProtocolError::BadAddress {
        address: address.to_owned(),
        message,
    };
    let (scheme, rest) = if let Some(rest) = address.strip_prefix("tcp://") {
        (Scheme::Tcp, rest)
    } else if let Some(rest) = address.strip_prefix("tls://") {
        (Scheme::Tls, rest)
    } else if let Some((scheme, _)) = address.split_once("://") {
        return Err(bad(format!(
            "unknown scheme `{scheme}://`; write tcp://HOST:PORT, tls://HOST:PORT or HOST:PORT"
        )));
    } else {
        (Scheme::Bare, address)
    };
    let Some((host, port)) = rest.rsplit_once(':') else {
        return Err(bad(
            "no port; write tcp://HOST:PORT or HOST:PORT (IPv6 in brackets: tcp://[::1]:8786)"
                .into(),
        ));
    };
    let port: u16 = port.parse().map_err(|_| {
        bad(format!(
            "port `{port}` is not a number from 0 to 65535; write tcp://HOST:PORT"
        ))
    })?;
    let host = if let Some(inner) = host.strip_prefix('[') {
        let Some(inner) = inner.strip_suffix(']') else {
            return Err(bad(
                "unclosed `[`; write IPv6 addresses as [::1]:8786".into()
            ));
        };
        if inner.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad(format!("`{inner}` is not an IPv6 address")));
        }
        inner
    } else if host.contains(':') {
        return Err(bad(
            "IPv6 addresses need brackets; write tcp://[::1]:8786".into()
        ));
    } else {
        host
    };
    if host.is_empty() {
        return Err(bad("no host; write tcp://HOST:PORT".into()));
    }
    Ok((scheme, host, port))
}

/// The TLS files to use for `address`, if TLS is used: `tls://` needs
/// files, `tcp://` refuses them, a bare address follows them. `side` names
/// the options field for the error (`ConnectOptions` or `ListenOptions`).
fn tls_for<'a>(
    address: &str,
    scheme: Scheme,
    files: Option<&'a TlsFiles>,
    side: &str,
) -> Result<Option<&'a TlsFiles>> {
    match (scheme, files) {
        (Scheme::Tls, None) => Err(ProtocolError::Tls {
            address: address.to_owned(),
            message: format!(
                "tls:// address but no TLS files configured: set {side}::tls (CA, certificate and key; `rask certs --out DIR` makes a set for tests), or use a tcp:// address"
            ),
        }),
        (Scheme::Tcp, Some(_)) => Err(ProtocolError::BadAddress {
            address: address.to_owned(),
            message: format!(
                "TLS files are configured but the address says tcp://: write tls://HOST:PORT, or unset {side}::tls for plain TCP"
            ),
        }),
        (_, files) => Ok(files),
    }
}

async fn resolve(address: &str, host: &str, port: u16) -> Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| ProtocolError::BadAddress {
            address: address.to_owned(),
            message: format!("cannot resolve host `{host}`: {e}; check the name"),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(ProtocolError::BadAddress {
            address: address.to_owned(),
            message: format!("host `{host}` resolves to no address; check the name"),
        });
    }
    Ok(addrs)
}

fn tcp_address(addr: SocketAddr) -> String {
    format!("tcp://{addr}")
}

fn tls_address(addr: SocketAddr) -> String {
    format!("tls://{addr}")
}

/// Connects to `address` and does the handshake; returns the connection
/// once the peer has welcomed it.
///
/// `address` is `tcp://HOST:PORT`, `tls://HOST:PORT` or `HOST:PORT`
/// (hostnames are resolved; IPv6 in brackets). Resolving and trying each
/// resolved address in turn share `opts.connect_timeout`; the TLS handshake
/// (for `tls://`) and the rask handshake share `opts.handshake_timeout`.
///
/// # Errors
///
/// [`ProtocolError::BadAddress`], [`ProtocolError::Connect`],
/// [`ProtocolError::Timeout`] (connect or handshake),
/// [`ProtocolError::Refused`] with the peer's reason,
/// [`ProtocolError::TlsFile`] for a TLS file that cannot be used,
/// [`ProtocolError::Tls`] when TLS is not configured or its handshake fails
/// (saying what to check), or an error of the handshake's messages.
pub async fn connect(address: &str, opts: &ConnectOptions) -> Result<Connection> {
    let (scheme, host, port) = parse_address(address)?;
    let tls = match tls_for(address, scheme, opts.tls.as_ref(), "ConnectOptions")? {
        Some(files) => Some((
            files,
            tls::client_config(address, files)?,
            tls::server_name(address, host)?,
        )),
        None => None,
    };
    let stream = tokio::time::timeout(opts.connect_timeout, async {
        let addrs = resolve(address, host, port).await?;
        let mut last = None;
        for addr in &addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(ProtocolError::Connect {
            address: address.to_owned(),
            source: last.unwrap_or_else(|| io::Error::other("no address to try")),
        })
    })
    .await
    .map_err(|_| ProtocolError::Timeout {
        address: address.to_owned(),
        what: "connect",
        after: opts.connect_timeout,
    })??;
    let _ = stream.set_nodelay(true);
    let peer_addr = stream.peer_addr().ok();
    let hello = Hello {
        protocol: PROTOCOL_VERSION,
        build: opts.build.clone(),
        token: opts.token.clone(),
        role: opts.role,
        name: opts.name.clone(),
    };
    match tls {
        None => {
            let peer = peer_addr.map_or_else(|| address.to_owned(), tcp_address);
            let conn = Connection::from_tcp(stream, peer.clone(), opts.max_frame);
            tokio::time::timeout(opts.handshake_timeout, say_hello(conn, hello, None))
                .await
                .map_err(|_| ProtocolError::Timeout {
                    address: peer,
                    what: "handshake",
                    after: opts.handshake_timeout,
                })?
        }
        Some((files, config, name)) => {
            let peer = peer_addr.map_or_else(|| address.to_owned(), tls_address);
            let explain = |e: io::Error| match tls::explain_connect(&e, files, host) {
                Some(message) => ProtocolError::Tls {
                    address: peer.clone(),
                    message,
                },
                None => io_error(&peer, e),
            };
            tokio::time::timeout(opts.handshake_timeout, async {
                let stream = tokio_rustls::TlsConnector::from(config)
                    .connect(name, stream)
                    .await
                    .map_err(explain)?;
                let (read, write) = tokio::io::split(stream);
                let conn = Connection::from_halves(
                    Box::new(read),
                    Box::new(write),
                    peer.clone(),
                    opts.max_frame,
                );
                say_hello(conn, hello, Some(&explain)).await
            })
            .await
            .map_err(|_| ProtocolError::Timeout {
                address: peer.clone(),
                what: "handshake",
                after: opts.handshake_timeout,
            })?
        }
    }
}

/// The connecting side of the rask handshake: sends `hello`, reads the
/// answer. Over TLS, `explain` turns I/O errors that carry a TLS failure
/// (such as the server refusing our certificate, which TLS 1.3 reports only
/// after the TLS handshake) into [`ProtocolError::Tls`].
async fn say_hello(
    mut conn: Connection,
    hello: Hello,
    explain: Option<&(dyn Fn(io::Error) -> ProtocolError + Sync)>,
) -> Result<Connection> {
    let peer = conn.peer().to_owned();
    let reply = async {
        conn.send(&hello, &[]).await?;
        conn.reader
            .recv_limited::<HelloReply>(HANDSHAKE_MAX_FRAME)
            .await
    }
    .await;
    let reply = match (reply, explain) {
        (Ok(reply), _) => reply,
        (Err(ProtocolError::Io { source, .. }), Some(explain)) => return Err(explain(source)),
        (Err(_), None) if conn.reader.tls_like => {
            return Err(ProtocolError::Tls {
                address: peer,
                message: "the peer answered with TLS: it listens on tls://; connect with a tls:// address and TLS files".into(),
            });
        }
        (Err(e @ (ProtocolError::Malformed { .. } | ProtocolError::FrameTooLarge { .. })), _) => {
            return Err(ProtocolError::Malformed {
                address: peer,
                message: not_a_handshake("the answer to our Hello", &e),
            });
        }
        (Err(e), _) => return Err(e),
    };
    match reply {
        None => Err(ProtocolError::Malformed {
            address: peer,
            message: "the peer closed the connection instead of answering our Hello (see its log; a tls:// listener does this to a plain TCP client)"
                .into(),
        }),
        Some(Message { msg, .. }) => match msg {
            HelloReply::Welcome { name } => {
                conn.set_peer_name(name);
                Ok(conn)
            }
            HelloReply::Refused { reason } => Err(ProtocolError::Refused {
                address: peer,
                reason,
            }),
        },
    }
}

/// A bound TCP socket that accepts connections, plain or TLS.
///
/// [`Listener::accept`] only accepts; the handshake (TLS, then rask's) runs
/// in [`Incoming::handshake`], typically in a task of its own, so a slow or
/// hostile peer never blocks the accept loop.
#[derive(Debug)]
pub struct Listener {
    inner: TcpListener,
    address: String,
    opts: Arc<ListenOptions>,
    tls: Option<Arc<ServerTls>>,
}

/// A TLS listener's acceptor and the files it came from (for errors).
struct ServerTls {
    acceptor: tokio_rustls::TlsAcceptor,
    files: TlsFiles,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// Binds `address` (`tcp://0.0.0.0:0`, `127.0.0.1:8786`, `tcp://[::]:0`,
    /// `tls://0.0.0.0:8786`; port 0 picks a free port). A `tls://` address
    /// needs `opts.tls`; its files are read here, once.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::BadAddress`], [`ProtocolError::Bind`],
    /// [`ProtocolError::TlsFile`] for a TLS file that cannot be used, or
    /// [`ProtocolError::Tls`] for a `tls://` address without TLS files.
    pub async fn bind(address: &str, opts: ListenOptions) -> Result<Listener> {
        let (scheme, host, port) = parse_address(address)?;
        let tls = match tls_for(address, scheme, opts.tls.as_ref(), "ListenOptions")? {
            Some(files) => Some(Arc::new(ServerTls {
                acceptor: tls::server_config(address, files)?.into(),
                files: files.clone(),
            })),
            None => None,
        };
        let addrs = resolve(address, host, port).await?;
        let inner = TcpListener::bind(&addrs[..])
            .await
            .map_err(|source| ProtocolError::Bind {
                address: address.to_owned(),
                source,
            })?;
        let local = inner.local_addr().map_err(|source| ProtocolError::Bind {
            address: address.to_owned(),
            source,
        })?;
        Ok(Listener {
            inner,
            address: if tls.is_some() {
                tls_address(local)
            } else {
                tcp_address(local)
            },
            opts: Arc::new(opts),
            tls,
        })
    }

    /// The bound socket's address, `tcp://IP:PORT` or `tls://IP:PORT` (the
    /// actual port when 0 was asked for).
    pub fn address(&self) -> String {
        self.address.clone()
    }

    /// Accepts the next TCP connection, without the handshake.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::Io`] naming the listener's address. Some of these
    /// are transient (too many open files, a connection aborted before it
    /// was accepted): an accept loop should log them and go on.
    pub async fn accept(&self) -> Result<Incoming> {
        let (stream, addr) = self
            .inner
            .accept()
            .await
            .map_err(|source| ProtocolError::Io {
                address: self.address.clone(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        Ok(Incoming {
            stream,
            peer: if self.tls.is_some() {
                tls_address(addr)
            } else {
                tcp_address(addr)
            },
            opts: Arc::clone(&self.opts),
            tls: self.tls.clone(),
        })
    }
}

/// An accepted connection whose handshake has not run yet.
#[derive(Debug)]
pub struct Incoming {
    stream: TcpStream,
    peer: String,
    opts: Arc<ListenOptions>,
    tls: Option<Arc<ServerTls>>,
}

impl Incoming {
    /// The peer's address, `tcp://IP:PORT` or `tls://IP:PORT`.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Runs the handshake within the listener's `handshake_timeout`: on a
    /// TLS listener first the TLS handshake (which checks the client's
    /// certificate against the CA), then, inside it, rask's: reads the
    /// peer's [`Hello`], checks the protocol version, then the build, then
    /// the token, and answers.
    ///
    /// # Errors
    ///
    /// A peer that fails a check is sent [`HelloReply::Refused`] and this
    /// returns [`ProtocolError::Refused`] with the same reason. A peer that
    /// sends something else than a `Hello` gets a refusal too and this
    /// returns [`ProtocolError::Malformed`]; one that says nothing gets
    /// [`ProtocolError::Timeout`]. A failed TLS handshake (a certificate
    /// from another CA, a peer that does not speak TLS) is
    /// [`ProtocolError::Tls`], saying what to check.
    pub async fn handshake(self) -> Result<(Connection, Hello)> {
        let Incoming {
            stream,
            peer,
            opts,
            tls,
        } = self;
        let after = opts.handshake_timeout;
        let address = peer.clone();
        tokio::time::timeout(after, async move {
            let conn = match tls {
                None => Connection::from_tcp(stream, peer, opts.max_frame),
                Some(tls) => {
                    let stream = match tls.acceptor.accept(stream).into_fallible().await {
                        Ok(stream) => stream,
                        Err((e, stream)) => {
                            linger(stream).await;
                            return Err(match tls::explain_accept(&e, &tls.files) {
                                Some(message) => ProtocolError::Tls {
                                    address: peer,
                                    message,
                                },
                                None => io_error(&peer, e),
                            });
                        }
                    };
                    let (read, write) = tokio::io::split(stream);
                    Connection::from_halves(Box::new(read), Box::new(write), peer, opts.max_frame)
                }
            };
            hear_hello(conn, &opts).await
        })
        .await
        .map_err(|_| ProtocolError::Timeout {
            address,
            what: "handshake",
            after,
        })?
    }
}

/// After a failed TLS handshake: closes our side and reads what the peer
/// still sends until it closes too, so the alert rustls wrote reaches the
/// peer instead of being lost to a reset. Bounded by the caller's timeout.
async fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let mut left = HANDSHAKE_MAX_FRAME;
    while left > 0 {
        match stream.read(&mut sink).await {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// The accepting side of the rask handshake: reads the [`Hello`], checks
/// it, answers.
async fn hear_hello(mut conn: Connection, opts: &ListenOptions) -> Result<(Connection, Hello)> {
    let peer = conn.peer().to_owned();
    let hello = match conn.reader.recv_limited::<Hello>(HANDSHAKE_MAX_FRAME).await {
        Ok(Some(hello)) => hello.msg,
        Ok(None) => return Err(ProtocolError::Closed { address: peer }),
        Err(e @ (ProtocolError::Malformed { .. } | ProtocolError::FrameTooLarge { .. })) => {
            let reason = match conn.reader.undecoded_protocol.take() {
                Some(version) if version != PROTOCOL_VERSION => version_reason(version),
                _ if conn.reader.tls_like => "the peer speaks TLS but this listener is plain TCP: connect with a tcp:// address, or start the listener on tls://".to_owned(),
                _ => "the first message was not a rask Hello: connect with a rask client or worker of the same version".to_owned(),
            };
            // Best effort: the peer may not even speak the protocol.
            let _ = conn
                .send(
                    &HelloReply::Refused {
                        reason: reason.clone(),
                    },
                    &[],
                )
                .await;
            let _ = conn.writer.shutdown().await;
            if conn.reader.tls_like {
                return Err(ProtocolError::Tls {
                    address: peer,
                    message: reason,
                });
            }
            return Err(ProtocolError::Malformed {
                address: peer,
                message: not_a_handshake("a Hello", &e),
            });
        }
        Err(e) => return Err(e),
    };
    if let Some(reason) = check_hello(&hello, opts) {
        conn.send(
            &HelloReply::Refused {
                reason: reason.clone(),
            },
            &[],
        )
        .await?;
        // Let the refusal reach the peer before the socket closes.
        let _ = conn.writer.shutdown().await;
        return Err(ProtocolError::Refused {
            address: peer,
            reason,
        });
    }
    conn.send(
        &HelloReply::Welcome {
            name: opts.name.clone(),
        },
        &[],
    )
    .await?;
    conn.set_peer_name(hello.name.clone());
    Ok((conn, hello))
}

/// What a handshake frame that is not one of ours looked like.
fn not_a_handshake(expected: &str, e: &ProtocolError) -> String {
    match e {
        ProtocolError::FrameTooLarge { size, limit, .. } => format!(
            "expected {expected}, got a frame length of {size} bytes where a handshake frame has at most {limit}: the peer does not speak the rask protocol"
        ),
        ProtocolError::Malformed { message, .. } => format!("expected {expected}: {message}"),
        e => format!("expected {expected}: {e}"),
    }
}

fn version_reason(theirs: u32) -> String {
    format!(
        "protocol version {theirs} of the peer differs from {PROTOCOL_VERSION} here: run the same rask version everywhere"
    )
}

/// Why `hello` is refused, if it is.
fn check_hello(hello: &Hello, opts: &ListenOptions) -> Option<String> {
    if hello.protocol != PROTOCOL_VERSION {
        return Some(version_reason(hello.protocol));
    }
    if hello.build != opts.build {
        return Some(format!(
            "build differs: peer is `{}`, here `{}`: start workers from the same build (the same binary or the same rask version compiled with the same compiler)",
            hello.build, opts.build
        ));
    }
    if !constant_time_eq(hello.token.as_bytes(), opts.token.as_bytes()) {
        return Some(
            "auth token does not match: give every process the same RASK_TOKEN".to_owned(),
        );
    }
    None
}

/// Compares without an early exit, so the time taken does not tell how
/// much of a guessed token was right (only its length may leak).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(x ^ y);
    }
    diff == 0
}

/// A received message and its bulk frames, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Message<M> {
    /// The decoded header.
    pub msg: M,
    /// The bulk frames that followed it.
    pub bulk: Vec<Bytes>,
}

type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// An established connection (handshake done).
///
/// [`Connection::into_split`] gives a reader and a writer for two tasks.
pub struct Connection {
    reader: ConnReader,
    writer: ConnWriter,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.reader.peer)
            .field("peer_name", &self.reader.peer_name)
            .finish_non_exhaustive()
    }
}

impl Connection {
    fn from_tcp(stream: TcpStream, peer: String, max_frame: usize) -> Self {
        let (read, write) = stream.into_split();
        Self::from_halves(Box::new(read), Box::new(write), peer, max_frame)
    }

    /// Builds a connection over any stream halves (those of a TLS stream).
    fn from_halves(read: BoxRead, write: BoxWrite, peer: String, max_frame: usize) -> Self {
        let peer: Arc<str> = peer.into();
        let name: Arc<str> = "".into();
        Connection {
            reader: ConnReader {
                inner: BufReader::with_capacity(BUFFER, read),
                peer: Arc::clone(&peer),
                peer_name: Arc::clone(&name),
                max_frame,
                undecoded_protocol: None,
                tls_like: false,
                scratch: Vec::new(),
            },
            writer: ConnWriter {
                inner: BufWriter::with_capacity(BUFFER, write),
                peer,
                peer_name: name,
                max_frame,
                scratch: Vec::new(),
            },
        }
    }

    fn set_peer_name(&mut self, name: String) {
        let name: Arc<str> = name.into();
        self.reader.peer_name = Arc::clone(&name);
        self.writer.peer_name = name;
    }

    /// The peer's address, `tcp://IP:PORT` or `tls://IP:PORT`.
    pub fn peer(&self) -> &str {
        &self.reader.peer
    }

    /// The peer's name from the handshake (its [`Hello::name`] or the name
    /// in its [`HelloReply::Welcome`]).
    pub fn peer_name(&self) -> &str {
        &self.reader.peer_name
    }

    /// Sends `msg` followed by the `bulk` frames. See [`ConnWriter::send`].
    ///
    /// # Errors
    ///
    /// As [`ConnWriter::send`].
    pub async fn send<M: Serialize>(&mut self, msg: &M, bulk: &[Bytes]) -> Result<()> {
        self.writer.send(msg, bulk).await
    }

    /// Writes `msg` and its bulk frames without flushing. See
    /// [`ConnWriter::feed`].
    ///
    /// # Errors
    ///
    /// As [`ConnWriter::send`].
    pub async fn feed<M: Serialize>(&mut self, msg: &M, bulk: &[Bytes]) -> Result<()> {
        self.writer.feed(msg, bulk).await
    }

    /// Writes out what [`Connection::feed`] left in the buffer.
    ///
    /// # Errors
    ///
    /// As [`ConnWriter::flush`].
    pub async fn flush(&mut self) -> Result<()> {
        self.writer.flush().await
    }

    /// Receives the next message. See [`ConnReader::recv`].
    ///
    /// # Errors
    ///
    /// As [`ConnReader::recv`].
    pub async fn recv<M: DeserializeOwned>(&mut self) -> Result<Option<Message<M>>> {
        self.reader.recv().await
    }

    /// Flushes and closes the writing side. See [`ConnWriter::shutdown`].
    ///
    /// # Errors
    ///
    /// As [`ConnWriter::shutdown`].
    pub async fn shutdown(&mut self) -> Result<()> {
        self.writer.shutdown().await
    }

    /// Splits into a reader and a writer, so one task reads while another
    /// writes.
    pub fn into_split(self) -> (ConnReader, ConnWriter) {
        (self.reader, self.writer)
    }
}

/// The reading half of a [`Connection`].
pub struct ConnReader {
    inner: BufReader<BoxRead>,
    peer: Arc<str>,
    peer_name: Arc<str>,
    max_frame: usize,
    /// When a header failed to decode: the leading `u32` of its message, in
    /// case it was a `Hello` of another protocol version.
    undecoded_protocol: Option<u32>,
    /// Whether the last frame length that failed looked like a TLS record
    /// header: the peer speaks TLS where plain TCP was expected.
    tls_like: bool,
    /// The header being read, reused between messages.
    scratch: Vec<u8>,
}

impl fmt::Debug for ConnReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnReader")
            .field("peer", &self.peer)
            .field("peer_name", &self.peer_name)
            .finish_non_exhaustive()
    }
}

impl ConnReader {
    /// The peer's address, `tcp://IP:PORT` or `tls://IP:PORT`.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The peer's name from the handshake.
    pub fn peer_name(&self) -> &str {
        &self.peer_name
    }

    /// Receives the next message with its bulk frames; `Ok(None)` when the
    /// peer closed the connection cleanly between messages.
    ///
    /// Not cancel-safe: dropping the future in the middle of a message
    /// leaves the connection unusable.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::FrameTooLarge`] for a frame over `max_frame`,
    /// [`ProtocolError::Malformed`] for a header that does not decode as
    /// `M`, [`ProtocolError::Closed`] when the peer closed mid-message,
    /// [`ProtocolError::Io`] otherwise. After an error the connection
    /// should be dropped.
    pub async fn recv<M: DeserializeOwned>(&mut self) -> Result<Option<Message<M>>> {
        self.recv_limited(self.max_frame).await
    }

    async fn recv_limited<M: DeserializeOwned>(
        &mut self,
        limit: usize,
    ) -> Result<Option<Message<M>>> {
        let Some(len) = self.read_len_or_eof().await? else {
            return Ok(None);
        };
        if let Err(e) = self.check_len(len, limit) {
            self.tls_like = tls::looks_like_tls(&len.to_le_bytes());
            return Err(e);
        }
        if len < 4 {
            return Err(self.malformed(format!(
                "a header frame of {len} bytes is shorter than its 4-byte bulk count"
            )));
        }
        let mut header = std::mem::take(&mut self.scratch);
        self.read_frame(len, &mut header).await?;
        let decoded = self.decode_header::<M>(&header);
        // Keep a modest buffer around for the next header.
        if header.capacity() <= BUFFER {
            self.scratch = header;
        }
        let (msg, count) = decoded?;
        let mut bulk = Vec::with_capacity(count.min(1024) as usize);
        for _ in 0..count {
            let mut len = [0u8; 8];
            self.read_exact(&mut len).await?;
            let len = u64::from_le_bytes(len);
            self.check_len(len, limit)?;
            let mut frame = Vec::new();
            self.read_frame(len, &mut frame).await?;
            bulk.push(Bytes::from(frame));
        }
        Ok(Some(Message { msg, bulk }))
    }

    /// Decodes a header frame's payload: the message and its bulk count.
    fn decode_header<M: DeserializeOwned>(&mut self, header: &[u8]) -> Result<(M, u32)> {
        let count = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        if count > MAX_BULK_FRAMES {
            return Err(self.malformed(format!(
                "the header announces {count} bulk frames, more than the limit of {MAX_BULK_FRAMES}"
            )));
        }
        let msg = match postcard::take_from_bytes::<M>(&header[4..]) {
            Ok((msg, [])) => msg,
            Ok((_, rest)) => {
                self.undecoded_protocol = postcard::take_from_bytes::<u32>(&header[4..])
                    .ok()
                    .map(|(v, _)| v);
                return Err(self.malformed(format!(
                    "{} bytes are left over after a {}: the peer sent another message type",
                    rest.len(),
                    std::any::type_name::<M>()
                )));
            }
            Err(e) => {
                self.undecoded_protocol = postcard::take_from_bytes::<u32>(&header[4..])
                    .ok()
                    .map(|(v, _)| v);
                return Err(self.malformed(format!(
                    "the message header does not decode as {}: {e}",
                    std::any::type_name::<M>()
                )));
            }
        };
        Ok((msg, count))
    }

    /// Reads a frame length; `None` on a clean end of stream before it.
    async fn read_len_or_eof(&mut self) -> Result<Option<u64>> {
        let mut buf = [0u8; 8];
        let mut filled = 0;
        while filled < buf.len() {
            let n = match self.inner.read(&mut buf[filled..]).await {
                Ok(n) => n,
                // A TLS peer that ends the TCP connection without a
                // close_notify between messages has gone like a TCP peer
                // that closes: treat both alike (mid-message it is Closed).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && filled == 0 => 0,
                Err(e) => return Err(self.io(e)),
            };
            if n == 0 {
                if filled == 0 {
                    return Ok(None);
                }
                self.tls_like = tls::looks_like_tls(&buf[..filled]);
                return Err(ProtocolError::Closed {
                    address: self.peer.to_string(),
                });
            }
            filled += n;
        }
        Ok(Some(u64::from_le_bytes(buf)))
    }

    /// Reads a frame's `len` bytes into `buf` (emptied first).
    ///
    /// The length comes from the peer, so the buffer grows with the bytes
    /// that actually arrive — by doubling from [`FIRST_CHUNK`], never past
    /// `len` — rather than being allocated whole up front: a peer that
    /// announces a gigabyte and sends nothing costs a chunk, not the
    /// gigabyte. Growth by doubling keeps the copies amortized, and the
    /// final capacity is exactly `len`.
    async fn read_frame(&mut self, len: u64, buf: &mut Vec<u8>) -> Result<()> {
        // `len` was checked against `max_frame`, a `usize`.
        let len = len as usize;
        buf.clear();
        while buf.len() < len {
            if buf.len() == buf.capacity() {
                let target = len.min(buf.capacity().saturating_mul(2).max(FIRST_CHUNK));
                buf.reserve_exact(target - buf.len());
            }
            let room = (buf.capacity().min(len) - buf.len()) as u64;
            let n = (&mut self.inner)
                .take(room)
                .read_buf(buf)
                .await
                .map_err(|e| self.io(e))?;
            if n == 0 {
                return Err(ProtocolError::Closed {
                    address: self.peer.to_string(),
                });
            }
        }
        Ok(())
    }

    async fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        match self.inner.read_exact(buf).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.io(e)),
        }
    }

    fn check_len(&self, len: u64, limit: usize) -> Result<()> {
        if len > limit as u64 {
            return Err(ProtocolError::FrameTooLarge {
                address: self.peer.to_string(),
                size: len,
                limit: limit as u64,
            });
        }
        Ok(())
    }

    fn malformed(&self, message: String) -> ProtocolError {
        ProtocolError::Malformed {
            address: self.peer.to_string(),
            message,
        }
    }

    fn io(&self, e: io::Error) -> ProtocolError {
        io_error(&self.peer, e)
    }
}

fn io_error(peer: &str, e: io::Error) -> ProtocolError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        ProtocolError::Closed {
            address: peer.to_owned(),
        }
    } else {
        ProtocolError::Io {
            address: peer.to_owned(),
            source: e,
        }
    }
}

/// The writing half of a [`Connection`].
pub struct ConnWriter {
    inner: BufWriter<BoxWrite>,
    peer: Arc<str>,
    peer_name: Arc<str>,
    max_frame: usize,
    /// The header being encoded, reused between messages.
    scratch: Vec<u8>,
}

impl fmt::Debug for ConnWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnWriter")
            .field("peer", &self.peer)
            .field("peer_name", &self.peer_name)
            .finish_non_exhaustive()
    }
}

impl ConnWriter {
    /// The peer's address, `tcp://IP:PORT` or `tls://IP:PORT`.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The peer's name from the handshake.
    pub fn peer_name(&self) -> &str {
        &self.peer_name
    }

    /// Sends `msg` followed by the `bulk` frames, and flushes.
    ///
    /// Small parts go through a buffer; large bulk frames are written
    /// straight from their `Bytes`, never copied into the header. Sizes are
    /// checked against `max_frame` before anything is written, so a refused
    /// send leaves the connection usable. Not cancel-safe: dropping the
    /// future mid-message leaves the connection unusable.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::FrameTooLarge`], [`ProtocolError::Encode`],
    /// [`ProtocolError::Malformed`] for more than [`MAX_BULK_FRAMES`] bulk
    /// frames, [`ProtocolError::Io`] or [`ProtocolError::Closed`] when the
    /// peer is gone.
    pub async fn send<M: Serialize>(&mut self, msg: &M, bulk: &[Bytes]) -> Result<()> {
        self.feed(msg, bulk).await?;
        self.flush().await
    }

    /// Like [`ConnWriter::send`] but without the flush: the message may
    /// wait in the buffer until the next [`ConnWriter::flush`] (or until the
    /// buffer fills). Feeding a burst of small messages and flushing once
    /// saves a system call per message.
    ///
    /// # Errors
    ///
    /// As [`ConnWriter::send`].
    pub async fn feed<M: Serialize>(&mut self, msg: &M, bulk: &[Bytes]) -> Result<()> {
        let count = u32::try_from(bulk.len())
            .ok()
            .filter(|&c| c <= MAX_BULK_FRAMES)
            .ok_or_else(|| ProtocolError::Malformed {
                address: self.peer.to_string(),
                message: format!(
                    "a message may carry at most {MAX_BULK_FRAMES} bulk frames, not {}; send the values in several messages",
                    bulk.len()
                ),
            })?;
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(&[0u8; 8]);
        scratch.extend_from_slice(&count.to_le_bytes());
        let encoded = postcard::to_extend(msg, scratch);
        let mut header = match encoded {
            Ok(header) => header,
            Err(e) => {
                return Err(ProtocolError::Encode {
                    address: self.peer.to_string(),
                    message: e.to_string(),
                });
            }
        };
        let header_len = (header.len() - 8) as u64;
        let too_large = std::iter::once(header_len)
            .chain(bulk.iter().map(|b| b.len() as u64))
            .find(|&len| len > self.max_frame as u64);
        if let Some(size) = too_large {
            self.scratch = header;
            return Err(ProtocolError::FrameTooLarge {
                address: self.peer.to_string(),
                size,
                limit: self.max_frame as u64,
            });
        }
        header[..8].copy_from_slice(&header_len.to_le_bytes());
        let result = self.write_message(&header, bulk).await;
        // Keep a modest buffer around for the next header.
        if header.capacity() <= BUFFER {
            self.scratch = header;
        }
        result.map_err(|e| io_error(&self.peer, e))
    }

    async fn write_message(&mut self, header: &[u8], bulk: &[Bytes]) -> io::Result<()> {
        self.inner.write_all(header).await?;
        for frame in bulk {
            self.inner
                .write_all(&(frame.len() as u64).to_le_bytes())
                .await?;
            // A frame at least as large as the buffer bypasses it.
            self.inner.write_all(frame).await?;
        }
        Ok(())
    }

    /// Writes out what [`ConnWriter::feed`] left in the buffer.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::Io`] or [`ProtocolError::Closed`] when the peer is
    /// gone.
    pub async fn flush(&mut self) -> Result<()> {
        self.inner
            .flush()
            .await
            .map_err(|e| io_error(&self.peer, e))
    }

    /// Flushes and closes the writing side; the peer's `recv` then returns
    /// `Ok(None)`.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::Io`] when the peer is gone.
    pub async fn shutdown(&mut self) -> Result<()> {
        self.inner
            .shutdown()
            .await
            .map_err(|e| io_error(&self.peer, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse() {
        assert_eq!(
            parse_address("tcp://127.0.0.1:8786").unwrap(),
            (Scheme::Tcp, "127.0.0.1", 8786)
        );
        assert_eq!(
            parse_address("tls://node1:8786").unwrap(),
            (Scheme::Tls, "node1", 8786)
        );
        assert_eq!(
            parse_address("localhost:0").unwrap(),
            (Scheme::Bare, "localhost", 0)
        );
        assert_eq!(
            parse_address("tcp://[::]:0").unwrap(),
            (Scheme::Tcp, "::", 0)
        );
        assert_eq!(parse_address("[::1]:9").unwrap(), (Scheme::Bare, "::1", 9));
        for bad in [
            "",
            "tcp://",
            "tls://",
            "host",
            "host:port",
            "host:70000",
            "::1:80",
            "[::1:80",
            "udp://h:1",
            ":80",
        ] {
            let err = parse_address(bad).unwrap_err();
            assert!(
                matches!(err, ProtocolError::BadAddress { .. }),
                "{bad}: {err}"
            );
            assert_eq!(err.address(), bad);
        }
    }

    #[test]
    fn the_scheme_and_the_tls_files_agree() {
        let files = TlsFiles {
            ca: "ca.pem".into(),
            cert: "cert.pem".into(),
            key: "key.pem".into(),
        };
        let a = "tls://h:1";
        let err = tls_for(a, Scheme::Tls, None, "ConnectOptions").unwrap_err();
        assert!(matches!(err, ProtocolError::Tls { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("no TLS files configured"), "{text}");
        assert!(text.contains("ConnectOptions::tls"), "{text}");
        let err = tls_for("tcp://h:1", Scheme::Tcp, Some(&files), "ListenOptions").unwrap_err();
        assert!(err.to_string().contains("write tls://HOST:PORT"), "{err}");
        assert_eq!(
            tls_for(a, Scheme::Tls, Some(&files), "").unwrap(),
            Some(&files)
        );
        assert_eq!(
            tls_for("h:1", Scheme::Bare, Some(&files), "").unwrap(),
            Some(&files)
        );
        assert_eq!(tls_for("h:1", Scheme::Bare, None, "").unwrap(), None);
        assert_eq!(tls_for("tcp://h:1", Scheme::Tcp, None, "").unwrap(), None);
    }

    /// Servers spawn these futures on multi-threaded runtimes.
    #[test]
    fn connect_and_handshake_futures_are_send() {
        fn send<T: Send>(_: &T) {}
        let opts = ConnectOptions::default();
        send(&connect("tls://h:1", &opts));
        send(&Listener::bind("tls://h:1", ListenOptions::default()));
        let handshake = |incoming: Incoming| async move { incoming.handshake().await };
        fn send_fn<F: Fn(Incoming) -> Fut, Fut: Send>(_: F) {}
        send_fn(handshake);
    }

    #[test]
    fn fingerprint_names_everything() {
        let f = build_fingerprint();
        assert!(
            f.starts_with(&format!("rask {} / rustc ", env!("CARGO_PKG_VERSION"))),
            "{f}"
        );
        assert!(f.ends_with(" / protocol 3 / wire 1"), "{f}");
    }

    #[test]
    fn debug_hides_tokens() {
        let opts = ListenOptions {
            token: "hunter2".into(),
            ..ListenOptions::default()
        };
        assert!(!format!("{opts:?}").contains("hunter2"));
        let opts = ConnectOptions {
            token: "hunter2".into(),
            ..ConnectOptions::default()
        };
        assert!(!format!("{opts:?}").contains("hunter2"));
    }

    #[test]
    fn tokens_compare() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn checks_run_in_order() {
        let opts = ListenOptions {
            token: "t".into(),
            ..ListenOptions::default()
        };
        let hello = Hello {
            protocol: PROTOCOL_VERSION + 1,
            build: "other".into(),
            token: "wrong".into(),
            role: Role::Worker,
            name: "w".into(),
        };
        assert!(
            check_hello(&hello, &opts)
                .unwrap()
                .starts_with(&format!("protocol version {}", PROTOCOL_VERSION + 1))
        );
        let hello = Hello {
            protocol: PROTOCOL_VERSION,
            ..hello
        };
        assert!(
            check_hello(&hello, &opts)
                .unwrap()
                .starts_with("build differs")
        );
        let hello = Hello {
            build: opts.build.clone(),
            ..hello
        };
        assert!(
            check_hello(&hello, &opts)
                .unwrap()
                .starts_with("auth token")
        );
        let hello = Hello {
            token: "t".into(),
            ..hello
        };
        assert_eq!(check_hello(&hello, &opts), None);
    }
}
