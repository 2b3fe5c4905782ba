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
