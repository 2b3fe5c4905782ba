//! A peer announces a big frame and sends almost nothing: the receiver's
//! memory must grow with the bytes that arrive, not with the announced
//! length.
//!
//! A binary of its own, because it counts allocations with a global
//! allocator: the largest single allocation made on the test's thread
//! (each test runs on a current-thread runtime, so the receiver's reads
//! happen there).

// A counting global allocator is `unsafe` to implement; it only forwards to
// the system allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use rask_protocol::{
    Hello, HelloReply, ListenOptions, Listener, PROTOCOL_VERSION, ProtocolError, Role,
    build_fingerprint,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

struct Tracking;

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: every call is forwarded to `System` unchanged; the only extra is
// a thread-local counter that does not allocate.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

/// Announced, and far over what any allocation here may reach.
const ANNOUNCED: u64 = 512 << 20;
const ALLOWED: usize = 8 << 20;

/// The bytes of a message with no bulk frames, built by hand.
fn raw_message<M: serde::Serialize>(msg: &M) -> Vec<u8> {
    let body = postcard::to_allocvec(msg).unwrap();
    let mut out = ((body.len() + 4) as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Connects by hand to `address`, says hello, and reads the welcome.
async fn raw_client(address: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address.strip_prefix("tcp://").unwrap())
        .await
        .unwrap();
    let hello = Hello {
        protocol: PROTOCOL_VERSION,
        build: build_fingerprint().into(),
        token: String::new(),
        role: Role::Client,
        name: "liar".into(),
    };
    stream.write_all(&raw_message(&hello)).await.unwrap();
    let len = stream.read_u64_le().await.unwrap();
    let mut buf = vec![0u8; len as usize];
    stream.read_exact(&mut buf).await.unwrap();
    let reply: HelloReply = postcard::from_bytes(&buf[4..]).unwrap();
    assert!(matches!(reply, HelloReply::Welcome { .. }), "{reply:?}");
    stream
}

/// Accepts one peer, which sends `bytes` and closes; the receive must fail
/// as `Closed` without an allocation anywhere near the announced length.
async fn receive_from_a_liar(bytes: Vec<u8>) {
    let listener = Listener::bind("tcp://127.0.0.1:0", ListenOptions::default())
        .await
        .unwrap();
    let address = listener.address();
    let liar = tokio::spawn(async move {
        let mut stream = raw_client(&address).await;
        stream.write_all(&bytes).await.unwrap();
        stream.shutdown().await.unwrap();
    });
    let (mut conn, _) = listener.accept().await.unwrap().handshake().await.unwrap();
    LARGEST.with(|l| l.set(0));
    let err = conn.recv::<u32>().await.unwrap_err();
    let largest = LARGEST.with(|l| l.get());
    liar.await.unwrap();
    assert!(matches!(err, ProtocolError::Closed { .. }), "{err:?}");
    assert!(
        largest <= ALLOWED,
        "receiving a frame announced as {ANNOUNCED} bytes of which 1,000 came allocated {largest} bytes at once"
    );
}

/// Regression: the header buffer was zero-filled to the announced length
/// before any of it arrived.
#[tokio::test(flavor = "current_thread")]
async fn an_announced_header_is_not_allocated_before_it_arrives() {
    let mut bytes = ANNOUNCED.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[0u8; 1000]);
    receive_from_a_liar(bytes).await;
}

/// Regression: a bulk frame's buffer was allocated at the announced length
/// before any of it arrived.
#[tokio::test(flavor = "current_thread")]
async fn an_announced_bulk_frame_is_not_allocated_before_it_arrives() {
    // A whole header (a u32 message, one bulk frame), then a bulk frame
    // that stops short.
    let body = postcard::to_allocvec(&7u32).unwrap();
    let mut bytes = ((body.len() + 4) as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&body);
    bytes.extend_from_slice(&ANNOUNCED.to_le_bytes());
    bytes.extend_from_slice(&[0u8; 1000]);
    receive_from_a_liar(bytes).await;
}

/// Frames past the first chunk still arrive whole and unchanged, header
/// and bulk alike.
#[tokio::test(flavor = "current_thread")]
async fn frames_of_several_chunks_arrive_whole() {
    let listener = Listener::bind("tcp://127.0.0.1:0", ListenOptions::default())
        .await
        .unwrap();
    let address = listener.address();
    let big: Vec<u8> = (0..5_000_003u32).map(|i| (i * 7 % 251) as u8).collect();
    let header = "h".repeat(3_000_001);
    let bulk = vec![bytes::Bytes::from(big), bytes::Bytes::from_static(b"tail")];
    let sent = (header.clone(), bulk.clone());
    let sender = tokio::spawn(async move {
        let mut conn = rask_protocol::connect(&address, &Default::default())
            .await
            .unwrap();
        conn.send(&sent.0, &sent.1).await.unwrap();
        conn
    });
    let (mut conn, _) = listener.accept().await.unwrap().handshake().await.unwrap();
    let got = conn.recv::<String>().await.unwrap().unwrap();
    assert_eq!(got.msg, header);
    assert_eq!(got.bulk, bulk);
    drop(sender.await.unwrap());
}
