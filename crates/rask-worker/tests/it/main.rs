//! Integration tests of the worker over real loopback sockets. The test
//! plays the scheduler (and clients) with the protocol crate's `Listener`
//! and `connect`, and speaks the messages itself.

mod harness;
mod kernels;
mod lifecycle;
mod memory;
mod peers;
mod tasks;
