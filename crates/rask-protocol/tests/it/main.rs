//! Transport tests over real loopback sockets.

use std::time::Duration;

use bytes::Bytes;
use rask_protocol::{
    ConnectOptions, Connection, Hello, HelloReply, ListenOptions, Listener, PROTOCOL_VERSION,
    ProtocolError, Role, build_fingerprint, connect,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod tls;

const LOOPBACK: &str = "tcp://127.0.0.1:0";

async fn listener(opts: ListenOptions) -> Listener {
    Listener::bind(LOOPBACK, opts).await.expect("bind loopback")
}

/// Accepts one connection and runs its handshake.
async fn accept_one(listener: &Listener) -> Result<(Connection, Hello), ProtocolError> {
    listener.accept().await?.handshake().await
}

/// The bytes of a message with no bulk frames, built by hand.
fn raw_message<M: serde::Serialize>(msg: &M) -> Vec<u8> {
    let body = postcard::to_allocvec(msg).unwrap();
    let mut out = ((body.len() + 4) as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Reads one bulk-less message by hand.
async fn read_raw<M: serde::de::DeserializeOwned>(stream: &mut TcpStream) -> M {
    let len = stream.read_u64_le().await.unwrap();
    let mut buf = vec![0u8; len as usize];
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf[..4], &[0, 0, 0, 0]);
    postcard::from_bytes(&buf[4..]).unwrap()
}

fn tcp_addr(address: &str) -> &str {
    address.strip_prefix("tcp://").unwrap()
}

/// Sends a message with bulk frames and checks that it comes back.
pub(crate) async fn roundtrip(conn: &mut rask_protocol::Connection) {
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let bulk = vec![
        Bytes::from_static(b"small"),
        Bytes::new(),
        Bytes::from(big),
        Bytes::from(vec![42u8; 65_536]),
    ];
    let msg = vec!["a".to_string(), "bc".to_string()];
    conn.send(&msg, &bulk).await.unwrap();
    let back = conn.recv::<Vec<String>>().await.unwrap().unwrap();
    assert_eq!(back.msg, msg);
    assert_eq!(back.bulk, bulk);
}

#[tokio::test]
async fn bulk_frames_roundtrip() {
    let listener = listener(ListenOptions {
        name: "sched".into(),
        ..ListenOptions::default()
    })
    .await;
    let address = listener.address();
    assert!(address.starts_with("tcp://127.0.0.1:"), "{address}");
    assert!(!address.ends_with(":0"), "{address}");
    let server = tokio::spawn(async move {
        let (mut conn, hello) = accept_one(&listener).await.unwrap();
        assert_eq!(hello.name, "w1");
        assert_eq!(hello.role, Role::Worker);
        assert_eq!(conn.peer_name(), "w1");
        let m = conn.recv::<Vec<String>>().await.unwrap().unwrap();
        conn.send(&m.msg, &m.bulk).await.unwrap();
        assert!(conn.recv::<Vec<String>>().await.unwrap().is_none());
    });
    let opts = ConnectOptions {
        role: Role::Worker,
        name: "w1".into(),
        ..ConnectOptions::default()
    };
    let mut conn = connect(&address, &opts).await.unwrap();
    assert_eq!(conn.peer(), address);
    assert_eq!(conn.peer_name(), "sched");
    roundtrip(&mut conn).await;
    drop(conn);
    server.await.unwrap();
}

#[tokio::test]
async fn many_small_roundtrips_over_split_halves() {
    let listener = listener(ListenOptions::default()).await;
    let address = listener.address();
    let server = tokio::spawn(async move {
        let (conn, _) = accept_one(&listener).await.unwrap();
        let (mut reader, mut writer) = conn.into_split();
        while let Some(m) = reader.recv::<u64>().await.unwrap() {
            writer.send(&(m.msg + 1), &m.bulk).await.unwrap();
        }
    });
    let mut conn = connect(&address, &ConnectOptions::default()).await.unwrap();
    for i in 0..1000u64 {
        let bulk = [Bytes::from(i.to_le_bytes().to_vec())];
        conn.send(&i, &bulk).await.unwrap();
        let reply = conn.recv::<u64>().await.unwrap().unwrap();
        assert_eq!(reply.msg, i + 1);
        assert_eq!(reply.bulk, bulk);
    }
    drop(conn);
    server.await.unwrap();
}

/// Runs a handshake that must be refused; returns the client's and the
/// server's errors, and checks that the listener still serves a good client.
async fn refused(
    listen: ListenOptions,
    client: impl AsyncFnOnce(&str) -> Result<Connection, ProtocolError>,
) -> (String, String) {
    let good = ConnectOptions {
        token: listen.token.clone(),
        build: listen.build.clone(),
        ..ConnectOptions::default()
    };
    let listener = listener(listen).await;
    let address = listener.address();
    let server = tokio::spawn(async move {
        let bad = accept_one(&listener).await;
        let bad = match bad {
            Err(e @ ProtocolError::Refused { .. }) => e,
            other => panic!("expected Refused, got {other:?}"),
        };
        // The refusing side keeps serving others.
        let (mut conn, _) = accept_one(&listener).await.unwrap();
        conn.send(&"ok", &[]).await.unwrap();
        bad
    });
    let client_err = match client(&address).await {
        Err(e @ ProtocolError::Refused { .. }) => e,
        other => panic!("expected Refused, got {other:?}"),
    };
    assert_eq!(client_err.address(), address);
    let mut conn = connect(&address, &good).await.unwrap();
    let ok = conn.recv::<String>().await.unwrap().unwrap();
    assert_eq!(ok.msg, "ok");
    let server_err = server.await.unwrap();
    assert!(server_err.address().starts_with("tcp://127.0.0.1:"));
    (client_err.to_string(), server_err.to_string())
}

#[tokio::test]
async fn wrong_token_is_refused_on_both_sides() {
    let listen = ListenOptions {
        token: "right".into(),
        ..ListenOptions::default()
    };
    let (client, server) = refused(listen, async |address| {
        let opts = ConnectOptions {
            token: "wrong".into(),
            ..ConnectOptions::default()
        };
        connect(address, &opts).await
    })
    .await;
    for err in [&client, &server] {
        assert!(
            err.contains("auth token does not match: give every process the same RASK_TOKEN"),
            "{err}"
        );
        assert!(!err.contains("right") && !err.contains("wrong"), "{err}");
    }
}

#[tokio::test]
async fn wrong_build_is_refused_on_both_sides() {
    let (client, server) = refused(ListenOptions::default(), async |address| {
        let opts = ConnectOptions {
            build: "rask 0.0.1 / rustc 1.0.0 / elsewhere / protocol 1 / wire 1".into(),
            ..ConnectOptions::default()
        };
        connect(address, &opts).await
    })
    .await;
    for err in [&client, &server] {
        assert!(err.contains("build differs: peer is `rask 0.0.1"), "{err}");
        assert!(err.contains(build_fingerprint()), "{err}");
        assert!(err.contains("start workers from the same build"), "{err}");
    }
}

#[tokio::test]
async fn wrong_version_is_refused_on_both_sides() {
    let (client, server) = refused(ListenOptions::default(), async |address| {
        // No public way to send another version: speak the wire by hand.
        let mut stream = TcpStream::connect(tcp_addr(address)).await.unwrap();
        let hello = Hello {
            protocol: PROTOCOL_VERSION + 1,
            build: build_fingerprint().into(),
            token: String::new(),
            role: Role::Client,
            name: "future".into(),
        };
        stream.write_all(&raw_message(&hello)).await.unwrap();
        match read_raw::<HelloReply>(&mut stream).await {
            HelloReply::Refused { reason } => Err(ProtocolError::Refused {
                address: address.to_owned(),
                reason,
            }),
            HelloReply::Welcome { .. } => panic!("welcomed another version"),
        }
    })
    .await;
    for err in [&client, &server] {
        assert!(
            err.contains(&format!(
                "protocol version {} of the peer differs from {PROTOCOL_VERSION} here: run the same \
                 rask version everywhere",
                PROTOCOL_VERSION + 1
            )),
            "{err}"
        );
    }
}

#[tokio::test]
async fn frame_over_max_frame_is_refused_and_listener_goes_on() {
    let listener = listener(ListenOptions {
        max_frame: 1024,
        ..ListenOptions::default()
    })
    .await;
    let address = listener.address();
    let server = tokio::spawn(async move {
        let (mut conn, _) = accept_one(&listener).await.unwrap();
        let peer = conn.peer().to_owned();
        match conn.recv::<u32>().await {
            Err(ProtocolError::FrameTooLarge {
                address,
                size,
                limit,
            }) => {
                assert_eq!(address, peer);
                assert_eq!((size, limit), (2048, 1024));
            }
            other => panic!("expected FrameTooLarge, got {other:?}"),
        }
        drop(conn);
        let (mut conn, _) = accept_one(&listener).await.unwrap();
        let m = conn.recv::<u32>().await.unwrap().unwrap();
        assert_eq!((m.msg, m.bulk.len()), (7, 1));
    });
    let mut conn = connect(&address, &ConnectOptions::default()).await.unwrap();
    conn.send(&1u32, &[Bytes::from(vec![0u8; 2048])])
        .await
        .unwrap();
    let mut conn2 = connect(&address, &ConnectOptions::default()).await.unwrap();
    conn2
        .send(&7u32, &[Bytes::from(vec![0u8; 1024])])
        .await
        .unwrap();
    server.await.unwrap();
    drop(conn);
}

#[tokio::test]
async fn sending_over_own_max_frame_fails_before_writing() {
    let listener = listener(ListenOptions::default()).await;
    let address = listener.address();
    let server = tokio::spawn(async move {
        let (mut conn, _) = accept_one(&listener).await.unwrap();
        conn.recv::<u32>().await.unwrap().unwrap().msg
    });
    let opts = ConnectOptions {
        max_frame: 100,
        ..ConnectOptions::default()
    };
    let mut conn = connect(&address, &opts).await.unwrap();
    let err = conn
        .send(&1u32, &[Bytes::from(vec![0u8; 101])])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProtocolError::FrameTooLarge {
                size: 101,
                limit: 100,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(&address), "{err}");
    // Nothing was written: the connection still works.
    conn.send(&2u32, &[]).await.unwrap();
    assert_eq!(server.await.unwrap(), 2);
}

#[tokio::test]
async fn garbage_instead_of_hello_is_malformed_and_listener_goes_on() {
    let listener = listener(ListenOptions::default()).await;
    let address = listener.address();
    let garbage: [&[u8]; 2] = [
        b"GET / HTTP/1.1\r\nHost: rask\r\n\r\n",
        // A well-framed header whose payload is not a Hello.
        &[5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff],
    ];
    let server = tokio::spawn(async move {
        for _ in 0..2 {
            match accept_one(&listener).await {
                Err(e @ ProtocolError::Malformed { .. }) => {
                    assert!(e.address().starts_with("tcp://127.0.0.1:"), "{e}")
                }
                other => panic!("expected Malformed, got {other:?}"),
            }
        }
        let (mut conn, _) = accept_one(&listener).await.unwrap();
        conn.send(&"ok", &[]).await.unwrap();
    });
    for bytes in garbage {
        let mut stream = TcpStream::connect(tcp_addr(&address)).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        // Wait until the server is done with it (a refusal or a close).
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink).await;
    }
    let mut conn = connect(&address, &ConnectOptions::default()).await.unwrap();
    assert_eq!(conn.recv::<String>().await.unwrap().unwrap().msg, "ok");
    server.await.unwrap();
}

#[tokio::test]
async fn connecting_to_a_closed_port_names_the_address() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let address = format!("tcp://127.0.0.1:{port}");
    let err = connect(&address, &ConnectOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ProtocolError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains(&address), "{err}");
}

#[tokio::test]
async fn a_silent_listener_times_the_handshake_out() {
    let raw = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("127.0.0.1:{}", raw.local_addr().unwrap().port());
    let holder = tokio::spawn(async move {
        let (stream, _) = raw.accept().await.unwrap();
        // Hold it open, say nothing, until the client gives up.
        let mut stream = stream;
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink).await;
    });
    let opts = ConnectOptions {
        handshake_timeout: Duration::from_millis(200),
        ..ConnectOptions::default()
    };
    let err = connect(&address, &opts).await.unwrap_err();
    match &err {
        ProtocolError::Timeout {
            address: a,
            what,
            after,
        } => {
            assert_eq!(a, &format!("tcp://{address}"));
            assert_eq!(*what, "handshake");
            assert_eq!(*after, Duration::from_millis(200));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    holder.await.unwrap();
}

#[tokio::test]
async fn a_silent_client_times_the_handshake_out() {
    let listener = listener(ListenOptions {
        handshake_timeout: Duration::from_millis(200),
        ..ListenOptions::default()
    })
    .await;
    let stream = TcpStream::connect(tcp_addr(&listener.address()))
        .await
        .unwrap();
    let incoming = listener.accept().await.unwrap();
    let peer = incoming.peer().to_owned();
    assert_eq!(peer, format!("tcp://{}", stream.local_addr().unwrap()));
    let err = incoming.handshake().await.unwrap_err();
    assert!(
        matches!(&err, ProtocolError::Timeout { address, what: "handshake", .. } if *address == peer),
        "{err:?}"
    );
}

#[tokio::test]
async fn peer_close_ends_recv_cleanly_or_mid_message() {
    let listener = listener(ListenOptions::default()).await;
    let address = listener.address();
    let server = tokio::spawn(async move {
        let (mut conn, _) = accept_one(&listener).await.unwrap();
        assert!(conn.recv::<u32>().await.unwrap().is_none());
        let (mut conn, _) = accept_one(&listener).await.unwrap();
        let err = conn.recv::<u32>().await.unwrap_err();
        assert!(matches!(err, ProtocolError::Closed { .. }), "{err:?}");
        assert!(err.to_string().contains(conn.peer()), "{err}");
    });
    let conn = connect(&address, &ConnectOptions::default()).await.unwrap();
    drop(conn);
    // A second client that dies after half a frame, speaking by hand.
    let mut stream = TcpStream::connect(tcp_addr(&address)).await.unwrap();
    let hello = Hello {
        protocol: PROTOCOL_VERSION,
        build: build_fingerprint().into(),
        token: String::new(),
        role: Role::Client,
        name: "half".into(),
    };
    stream.write_all(&raw_message(&hello)).await.unwrap();
    assert!(matches!(
        read_raw::<HelloReply>(&mut stream).await,
        HelloReply::Welcome { .. }
    ));
    stream.write_all(&100u64.to_le_bytes()[..5]).await.unwrap();
    drop(stream);
    server.await.unwrap();
}

#[tokio::test]
async fn addresses_in_every_form_bind_and_connect() {
    let listener = Listener::bind("127.0.0.1:0", ListenOptions::default())
        .await
        .unwrap();
    let port = listener.address().rsplit_once(':').unwrap().1.to_owned();
    let server = tokio::spawn(async move {
        for _ in 0..2 {
            accept_one(&listener).await.unwrap();
        }
    });
    for address in [
        format!("localhost:{port}"),
        format!("tcp://127.0.0.1:{port}"),
    ] {
        connect(&address, &ConnectOptions::default()).await.unwrap();
    }
    server.await.unwrap();
    // IPv6 loopback, where the machine has it.
    if let Ok(listener) = Listener::bind("tcp://[::1]:0", ListenOptions::default()).await {
        let address = listener.address();
        assert!(address.starts_with("tcp://[::1]:"), "{address}");
        let server = tokio::spawn(async move { accept_one(&listener).await.map(|_| ()) });
        let conn = connect(&address, &ConnectOptions::default()).await.unwrap();
        assert_eq!(conn.peer(), address);
        server.await.unwrap().unwrap();
    }
    // tls:// is covered in `tls`; without TLS files it cannot bind.
    let err = Listener::bind("tls://127.0.0.1:0", ListenOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ProtocolError::Tls { .. }), "{err:?}");
}

#[tokio::test]
async fn an_undecodable_hello_of_another_version_gets_the_version_reason() {
    let listener = listener(ListenOptions::default()).await;
    let address = listener.address();
    let server = tokio::spawn(async move {
        let err = accept_one(&listener).await.unwrap_err();
        assert!(matches!(err, ProtocolError::Malformed { .. }), "{err:?}");
    });
    let mut stream = TcpStream::connect(tcp_addr(&address)).await.unwrap();
    // Version 7 first (as every Hello starts), then a shape we cannot read.
    let frame = [6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0xff];
    stream.write_all(&frame).await.unwrap();
    match read_raw::<HelloReply>(&mut stream).await {
        HelloReply::Refused { reason } => {
            assert!(
                reason.starts_with(&format!(
                    "protocol version 7 of the peer differs from {PROTOCOL_VERSION}"
                )),
                "{reason}"
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    server.await.unwrap();
}

#[tokio::test]
async fn fed_messages_arrive_after_a_flush_and_wrong_types_are_malformed() {
    let listener = listener(ListenOptions::default()).await;
    let address = listener.address();
    let server = tokio::spawn(async move {
        let (mut conn, _) = accept_one(&listener).await.unwrap();
        for i in 0..10u32 {
            let m = conn.recv::<u32>().await.unwrap().unwrap();
            assert_eq!(m.msg, i);
            assert_eq!(m.bulk, [Bytes::from(vec![i as u8; i as usize])]);
        }
        // A (u32, u32) read as a u32 leaves bytes over.
        let err = conn.recv::<u32>().await.unwrap_err();
        assert!(
            matches!(&err, ProtocolError::Malformed { message, .. } if message.contains("left over")),
            "{err:?}"
        );
    });
    let mut conn = connect(&address, &ConnectOptions::default()).await.unwrap();
    for i in 0..10u32 {
        conn.feed(&i, &[Bytes::from(vec![i as u8; i as usize])])
            .await
            .unwrap();
    }
    conn.flush().await.unwrap();
    conn.send(&(1000u32, 2000u32), &[]).await.unwrap();
    server.await.unwrap();
}
