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
//! [`messages`] holds one message enum per direction.

pub mod messages;

pub use messages::*;
