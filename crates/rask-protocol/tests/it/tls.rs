//! `tls://` over real loopback sockets: mutual TLS with certificates from
//! `generate_self_signed`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rask_protocol::{
    ConnectOptions, ListenOptions, Listener, ProtocolError, Role, TlsFiles, connect,
    generate_self_signed,
};

use crate::{accept_one, roundtrip};

/// A directory of its own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("rask-protocol-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// A fresh CA and certificate in a subdirectory.
    fn certs(&self, sub: &str) -> TlsFiles {
        generate_self_signed(&self.0.join(sub), &[]).expect("certificates are written")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn tls_listener(files: &TlsFiles) -> Listener {
    Listener::bind(
        "tls://127.0.0.1:0",
        ListenOptions {
            name: "sched".into(),
            tls: Some(files.clone()),
            ..ListenOptions::default()
        },
    )
    .await
    .expect("bind loopback with TLS")
}

fn client(files: Option<&TlsFiles>) -> ConnectOptions {
    ConnectOptions {
        role: Role::Worker,
        name: "w1".into(),
        tls: files.cloned(),
        ..ConnectOptions::default()
    }
}

/// Echoes messages on `conn` until the peer shuts down.
async fn echo(mut conn: rask_protocol::Connection) {
    while let Some(m) = conn.recv::<Vec<String>>().await.unwrap() {
        conn.send(&m.msg, &m.bulk).await.unwrap();
    }
}

#[tokio::test]
async fn bulk_frames_roundtrip_over_tls_by_ip_and_by_name() {
    let dir = TempDir::new("tls-roundtrip");
    let files = dir.certs("set");
    let listener = tls_listener(&files).await;
    let address = listener.address();
    assert!(address.starts_with("tls://127.0.0.1:"), "{address}");
    let port = address.rsplit_once(':').unwrap().1.to_owned();
    let server = tokio::spawn(async move {
        for _ in 0..2 {
            let (conn, hello) = accept_one(&listener).await.unwrap();
            assert_eq!(hello.name, "w1");
            assert!(
                conn.peer().starts_with("tls://127.0.0.1:"),
                "{}",
                conn.peer()
            );
            echo(conn).await;
        }
    });
    // By IP address (an IP SAN), then by name (a DNS SAN).
    for target in [address.clone(), format!("tls://localhost:{port}")] {
        let mut conn = connect(&target, &client(Some(&files))).await.unwrap();
        assert!(conn.peer().starts_with("tls://"), "{}", conn.peer());
        assert_eq!(conn.peer_name(), "sched");
        roundtrip(&mut conn).await;
        conn.shutdown().await.unwrap();
    }
    server.await.unwrap();
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_and_the_listener_goes_on() {
    let dir = TempDir::new("tls-foreign");
    let good = dir.certs("good");
    let other = dir.certs("other");
    let listener = tls_listener(&good).await;
    let address = listener.address();
    let server = tokio::spawn(async move {
        let mut errors = Vec::new();
        for _ in 0..2 {
            errors.push(accept_one(&listener).await.unwrap_err());
        }
        let (conn, _) = accept_one(&listener).await.unwrap();
        echo(conn).await;
        errors
    });

    // Trusts our CA but presents a certificate of another: the server refuses it.
    let mixed = TlsFiles {
        ca: good.ca.clone(),
        ..other.clone()
    };
    let err = connect(&address, &client(Some(&mixed))).await.unwrap_err();
    assert!(matches!(err, ProtocolError::Tls { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&address), "{text}");
    assert!(
        text.contains("the server refused our certificate"),
        "{text}"
    );
    assert!(text.contains(&other.cert.display().to_string()), "{text}");

    // Wholly from another CA: this side refuses the server first.
    let err = connect(&address, &client(Some(&other))).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "the server's certificate is not signed by the CA in {}",
            other.ca.display()
        )),
        "{text}"
    );

    let mut conn = connect(&address, &client(Some(&good))).await.unwrap();
    roundtrip(&mut conn).await;
    conn.shutdown().await.unwrap();

    let errors = server.await.unwrap();
    let text = errors[0].to_string();
    assert!(matches!(errors[0], ProtocolError::Tls { .. }), "{text}");
    assert!(
        text.contains(&format!(
            "the client's certificate is not signed by the CA in {}",
            good.ca.display()
        )),
        "{text}"
    );
    let text = errors[1].to_string();
    assert!(
        text.contains("the client refused our certificate"),
        "{text}"
    );
}

#[tokio::test]
async fn tls_without_files_says_what_to_set() {
    let dir = TempDir::new("tls-no-files");
    let files = dir.certs("set");
    let listener = tls_listener(&files).await;
    let address = listener.address();
    let err = connect(&address, &client(None)).await.unwrap_err();
    assert!(matches!(err, ProtocolError::Tls { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("tls:// address but no TLS files configured: set ConnectOptions::tls"),
        "{text}"
    );
    assert_eq!(err.address(), address);

    let err = Listener::bind("tls://127.0.0.1:0", ListenOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("set ListenOptions::tls"), "{err}");
    // TLS files with a tcp:// address are refused rather than ignored.
    let err = connect(&address.replace("tls://", "tcp://"), &client(Some(&files)))
        .await
        .unwrap_err();
    assert!(matches!(err, ProtocolError::BadAddress { .. }), "{err}");
}

#[tokio::test]
async fn plain_tcp_against_tls_fails_fast_both_ways() {
    let dir = TempDir::new("tls-mismatch");
    let files = dir.certs("set");
    let timeout = Duration::from_secs(5);

    // A plain client at a TLS listener.
    let listener = tls_listener(&files).await;
    let address = listener.address();
    let server = tokio::spawn(async move { accept_one(&listener).await.unwrap_err() });
    let start = Instant::now();
    let err = connect(&address.replace("tls://", "tcp://"), &client(None))
        .await
        .unwrap_err();
    assert!(start.elapsed() < timeout, "{err}");
    assert!(!matches!(err, ProtocolError::Timeout { .. }), "{err}");
    let server_err = server.await.unwrap();
    assert!(
        server_err
            .to_string()
            .contains("the peer does not speak TLS"),
        "{server_err}"
    );

    // A TLS client at a plain listener.
    let listener = Listener::bind("tcp://127.0.0.1:0", ListenOptions::default())
        .await
        .unwrap();
    let address = listener.address();
    let server = tokio::spawn(async move { accept_one(&listener).await.unwrap_err() });
    let start = Instant::now();
    let err = connect(&address.replace("tcp://", "tls://"), &client(Some(&files)))
        .await
        .unwrap_err();
    assert!(start.elapsed() < timeout, "{err}");
    assert!(matches!(err, ProtocolError::Tls { .. }), "{err}");
    assert!(err.to_string().contains("does not speak TLS"), "{err}");
    let server_err = server.await.unwrap();
    assert!(
        server_err
            .to_string()
            .contains("the peer speaks TLS but this listener is plain TCP"),
        "{server_err}"
    );
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_host_the_certificate_does_not_name_is_refused() {
    let dir = TempDir::new("tls-hostname");
    let files = dir.certs("set");
    // All of 127/8 is loopback on Linux; the certificate names 127.0.0.1 only.
    let listener = Listener::bind(
        "tls://127.0.0.2:0",
        ListenOptions {
            tls: Some(files.clone()),
            ..ListenOptions::default()
        },
    )
    .await
    .unwrap();
    let address = listener.address();
    let server = tokio::spawn(async move { accept_one(&listener).await.unwrap_err() });
    let err = connect(&address, &client(Some(&files))).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("the server's certificate is not valid for `127.0.0.2`"),
        "{err}"
    );
    server.await.unwrap();
}

#[test]
fn generated_files_load_and_the_key_is_private() {
    let dir = TempDir::new("tls-generate");
    let files = generate_self_signed(
        &dir.path().join("certs"),
        &[
            "node1.example".into(),
            "10.0.0.7".into(),
            "[fd00::7]".into(),
        ],
    )
    .unwrap();
    for (path, header) in [
        (&files.ca, "-----BEGIN CERTIFICATE-----"),
        (&files.cert, "-----BEGIN CERTIFICATE-----"),
        (&files.key, "-----BEGIN PRIVATE KEY-----"),
    ] {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.starts_with(header), "{}: {text}", path.display());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path().join("certs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    // Running again replaces the set.
    let again = generate_self_signed(&dir.path().join("certs"), &[]).unwrap();
    assert_eq!(again, files);

    let err = generate_self_signed(&dir.path().join("bad"), &["not a host!".into()]).unwrap_err();
    assert!(err.to_string().contains("`not a host!`"), "{err}");
}

#[tokio::test]
async fn bad_tls_files_are_named() {
    let dir = TempDir::new("tls-bad-files");
    let good = dir.certs("good");
    let other = dir.certs("other");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not PEM at all\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let cases = [
        (
            TlsFiles {
                ca: missing.clone(),
                ..good.clone()
            },
            missing.clone(),
            "cannot read it",
        ),
        (
            TlsFiles {
                cert: garbage.clone(),
                ..good.clone()
            },
            garbage.clone(),
            "no certificate in it",
        ),
        (
            TlsFiles {
                key: garbage.clone(),
                ..good.clone()
            },
            garbage.clone(),
            "no private key in it",
        ),
        (
            TlsFiles {
                key: other.key.clone(),
                ..good.clone()
            },
            other.key.clone(),
            "does not belong to the certificate",
        ),
    ];
    for (files, path, says) in cases {
        let bound = Listener::bind(
            "tls://127.0.0.1:0",
            ListenOptions {
                tls: Some(files.clone()),
                ..ListenOptions::default()
            },
        )
        .await;
        let connected = connect("tls://127.0.0.1:1", &client(Some(&files))).await;
        for err in [bound.unwrap_err(), connected.unwrap_err()] {
            let ProtocolError::TlsFile { path: named, .. } = &err else {
                panic!("expected a TLS file error, got {err}");
            };
            assert_eq!(named, &path);
            let text = err.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains(says), "{text}");
        }
    }
}

#[tokio::test]
async fn a_peer_that_drops_between_messages_ends_recv_cleanly() {
    let dir = TempDir::new("tls-drop");
    let files = dir.certs("set");
    let listener = tls_listener(&files).await;
    let address = listener.address();
    let server = tokio::spawn(async move {
        let (mut conn, _) = accept_one(&listener).await.unwrap();
        let first = conn.recv::<u64>().await.unwrap().unwrap();
        assert_eq!(first.msg, 7);
        // No close_notify came: the TCP connection just ended.
        conn.recv::<u64>().await
    });
    let mut conn = connect(&address, &client(Some(&files))).await.unwrap();
    conn.send(&7u64, &[]).await.unwrap();
    drop(conn);
    let end = server.await.unwrap();
    assert!(matches!(end, Ok(None)), "{end:?}");
}
