//! `rask certs`: a self-signed set of TLS files that the protocol accepts.

use std::path::PathBuf;

use rask_protocol::{ConnectOptions, ListenOptions, Listener, TlsFiles, connect};

use crate::{TempDir, rask};

#[test]
fn certs_writes_a_set_that_tls_connections_accept() {
    let dir = TempDir::new("certs");
    let run = rask(
        &[
            "certs", "--out", "tls", "--host", "node1", "--host", "10.1.2.3",
        ],
        &[],
        dir.path(),
    );
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    let path_of = |label: &str| -> PathBuf {
        let line = run
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no `{label}` line in {}", run.stdout));
        PathBuf::from(line.trim())
    };
    let files = TlsFiles {
        ca: path_of("ca:"),
        cert: path_of("cert:"),
        key: path_of("key:"),
    };
    let out = std::fs::canonicalize(dir.path().join("tls")).unwrap();
    for (path, name) in [
        (&files.ca, "ca.pem"),
        (&files.cert, "cert.pem"),
        (&files.key, "key.pem"),
    ] {
        assert!(path.is_absolute(), "{}", path.display());
        assert_eq!(std::fs::canonicalize(path).unwrap(), out.join(name));
    }
    assert!(
        run.stdout
            .contains("for: node1, 10.1.2.3, localhost, 127.0.0.1, ::1."),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("tls://node1:8786"), "{}", run.stdout);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The printed files carry a TLS connection on loopback.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = Listener::bind(
            "tls://127.0.0.1:0",
            ListenOptions {
                tls: Some(files.clone()),
                ..ListenOptions::default()
            },
        )
        .await
        .unwrap();
        let address = listener.address();
        let server = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await?.handshake().await?;
            let m = conn.recv::<String>().await?.expect("a message");
            conn.send(&m.msg, &m.bulk).await
        });
        let opts = ConnectOptions {
            tls: Some(files),
            ..ConnectOptions::default()
        };
        let mut conn = connect(&address, &opts).await.unwrap();
        conn.send(&"over tls".to_string(), &[]).await.unwrap();
        let back = conn.recv::<String>().await.unwrap().unwrap();
        assert_eq!(back.msg, "over tls");
        server.await.unwrap().unwrap();
    });
}

#[test]
fn certs_names_a_host_that_cannot_be_certified() {
    let dir = TempDir::new("certs-bad-host");
    let run = rask(
        &["certs", "--out", "tls", "--host", "not a host"],
        &[],
        dir.path(),
    );
    assert_eq!(run.status, Some(1), "{}", run.stdout);
    assert!(run.stderr.contains("`not a host`"), "{}", run.stderr);
    assert!(!dir.path().join("tls").join("key.pem").exists());
}

#[test]
fn certs_needs_an_output_directory() {
    let dir = TempDir::new("certs-no-out");
    let run = rask(&["certs"], &[], dir.path());
    assert_eq!(run.status, Some(2));
    assert!(run.stderr.contains("--out <DIR>"), "{}", run.stderr);
}
