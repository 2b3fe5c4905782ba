//! TLS for `tls://` addresses: certificate files, rustls configurations, and
//! errors that say what to check.
//!
//! # Model
//!
//! Mutual TLS, as in Dask's `distributed.comm.tls`: every process of a
//! cluster holds the same CA certificate and a certificate and key signed by
//! that CA ([`TlsFiles`]). A listener requires a client certificate signed by
//! the CA; a client verifies the server's certificate against the CA and
//! checks that it is valid for the host of the address it connected to (a
//! DNS name, or an IP address as an IP SAN). Only TLS 1.3 is offered (rask
//! talks to rask), with the `ring` crypto provider.
//!
//! The TLS handshake runs first; the rask handshake (`Hello`, token and all)
//! then runs inside the encrypted stream. Both share the handshake timeout.
//!
//! [`generate_self_signed`] makes a CA and one certificate that serves as
//! both server and client certificate, for tests and private clusters
//! (`rask certs`).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{AlertDescription, CertificateError, ClientConfig, RootCertStore, ServerConfig};

use crate::transport::{ProtocolError, Result};

/// The files of mutual TLS, all PEM: the CA that signs every certificate of
/// the cluster, this process's certificate, and its private key.
///
/// # Example
///
/// ```
/// use rask_protocol::{ConnectOptions, TlsFiles};
///
/// let opts = ConnectOptions {
///     tls: Some(TlsFiles {
///         ca: "certs/ca.pem".into(),
///         cert: "certs/cert.pem".into(),
///         key: "certs/key.pem".into(),
///     }),
///     ..ConnectOptions::default()
/// };
/// # let _ = opts;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA certificate(s) that peers' certificates must be signed by.
    pub ca: PathBuf,
    /// This process's certificate (chain), leaf first.
    pub cert: PathBuf,
    /// The private key of `cert` (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The crypto provider of every configuration: ring, built once.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

fn file_error(address: &str, path: &Path, message: impl Into<String>) -> ProtocolError {
    ProtocolError::TlsFile {
        address: address.to_owned(),
        path: path.to_owned(),
        message: message.into(),
    }
}

fn read(address: &str, path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| {
        file_error(
            address,
            path,
            format!(
                "cannot read it: {e}; check the path and its permissions (`rask certs --out DIR` makes a set for tests)"
            ),
        )
    })
}

fn load_certs(address: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read(address, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| file_error(address, path, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(
            address,
            path,
            "no certificate in it: expected a PEM file with `-----BEGIN CERTIFICATE-----`",
        ));
    }
    Ok(certs)
}

fn load_key(address: &str, path: &Path) -> Result<PrivateKeyDer<'static>> {
    let pem = read(address, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        let message = match e {
            rustls::pki_types::pem::Error::NoItemsFound => "no private key in it: expected a PEM file with `-----BEGIN PRIVATE KEY-----` (or an RSA or EC private key)".to_owned(),
            e => format!("bad PEM: {e}"),
        };
        file_error(address, path, message)
    })
}

fn root_store(address: &str, ca: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(address, ca)? {
        roots
            .add(cert)
            .map_err(|e| file_error(address, ca, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// Why the certificate and key cannot be used together.
fn key_error(address: &str, files: &TlsFiles, e: rustls::Error) -> ProtocolError {
    let message = match e {
        rustls::Error::InconsistentKeys(_) => format!(
            "the key does not belong to the certificate in {}; use the key made with that certificate",
            files.cert.display()
        ),
        e => format!(
            "cannot be used with the certificate in {}: {e}",
            files.cert.display()
        ),
    };
    file_error(address, &files.key, message)
}

fn config_error(address: &str, e: impl std::fmt::Display) -> ProtocolError {
    ProtocolError::Tls {
        address: address.to_owned(),
        message: format!("cannot set up TLS: {e}"),
    }
}

/// The client side's configuration: trusts the CA, presents the
/// certificate.
pub(crate) fn client_config(address: &str, files: &TlsFiles) -> Result<Arc<ClientConfig>> {
    let roots = root_store(address, &files.ca)?;
    let certs = load_certs(address, &files.cert)?;
    let key = load_key(address, &files.key)?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| config_error(address, e))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| key_error(address, files, e))?;
    Ok(Arc::new(config))
}

/// The server side's configuration: presents the certificate, requires
/// client certificates signed by the CA.
pub(crate) fn server_config(address: &str, files: &TlsFiles) -> Result<Arc<ServerConfig>> {
    let roots = root_store(address, &files.ca)?;
    let certs = load_certs(address, &files.cert)?;
    let key = load_key(address, &files.key)?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| {
            file_error(
                address,
                &files.ca,
                format!("cannot verify clients with it: {e}"),
            )
        })?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| config_error(address, e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| key_error(address, files, e))?;
    Ok(Arc::new(config))
}

/// The name the server's certificate must hold: the address's host, as a
/// DNS name or an IP address.
pub(crate) fn server_name(address: &str, host: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(host.to_owned()).map_err(|_| ProtocolError::BadAddress {
        address: address.to_owned(),
        message: format!(
            "`{host}` is neither a DNS name nor an IP address, so no TLS certificate can name it"
        ),
    })
}

/// The rustls error inside an I/O error of a TLS stream, if any.
fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

/// Alerts a peer sends when it does not accept our certificate.
fn refuses_certificate(alert: &AlertDescription) -> bool {
    matches!(
        alert,
        AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied
            | AlertDescription::DecryptError
            | AlertDescription::CertificateRequired
    )
}

const NOT_TLS_FROM_CLIENT: &str = "the peer does not speak TLS (it probably listens on tcp://): connect with a tcp:// address, or start it on tls://";

/// What a TLS failure seen by the connecting side means, or `None` when
/// `e` is not a TLS error.
pub(crate) fn explain_connect(e: &io::Error, files: &TlsFiles, host: &str) -> Option<String> {
    let ca = files.ca.display();
    let Some(err) = rustls_error(e) else {
        return (e.kind() == io::ErrorKind::UnexpectedEof).then(|| {
            "the peer closed the connection during the TLS handshake: it may not speak TLS (a tcp:// listener?) or may have refused our certificate; see its log".to_owned()
        });
    };
    Some(match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                "the server's certificate is not signed by the CA in {ca}: give every process certificates from the same CA (one `rask certs` set)"
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => format!(
                "the server's certificate is not valid for `{host}`: connect with a name or IP address it lists, or make certificates for that host (`rask certs --host {host}`)"
            ),
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => {
                "the server's certificate has expired or is not valid yet: make new certificates, or check the clocks".to_owned()
            }
            other => format!(
                "the server's certificate is refused ({other}): check that it was made for TLS servers and signed by the CA in {ca}"
            ),
        },
        rustls::Error::AlertReceived(alert) if refuses_certificate(alert) => format!(
            "the server refused our certificate {} ({alert:?}): it must be signed by the CA the server trusts; give every process certificates from the same CA",
            files.cert.display()
        ),
        rustls::Error::AlertReceived(alert) => {
            format!("the server ended the TLS handshake ({alert:?}); see its log")
        }
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. }
        | rustls::Error::PeerSentOversizedRecord => NOT_TLS_FROM_CLIENT.to_owned(),
        other => format!(
            "{other}; check that both sides use TLS files from the same CA (the CA here is {ca})"
        ),
    })
}

/// What a TLS failure seen by the accepting side means, or `None` when `e`
/// is not a TLS error.
pub(crate) fn explain_accept(e: &io::Error, files: &TlsFiles) -> Option<String> {
    let ca = files.ca.display();
    let Some(err) = rustls_error(e) else {
        return (e.kind() == io::ErrorKind::UnexpectedEof).then(|| {
            "the peer closed the connection during the TLS handshake: it may have refused our certificate (see its log) or be a port probe".to_owned()
        });
    };
    Some(match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                "the client's certificate is not signed by the CA in {ca}: give every process certificates from the same CA (one `rask certs` set)"
            ),
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => {
                "the client's certificate has expired or is not valid yet: make new certificates, or check the clocks".to_owned()
            }
            other => format!(
                "the client's certificate is refused ({other}): check that it was made for TLS clients and signed by the CA in {ca}"
            ),
        },
        rustls::Error::NoCertificatesPresented => {
            "the client sent no certificate: give it TLS files (CA, certificate and key) signed by the same CA".to_owned()
        }
        rustls::Error::AlertReceived(alert) if refuses_certificate(alert) => format!(
            "the client refused our certificate {} ({alert:?}): it must be signed by the CA the client trusts and valid for the host the client connected to",
            files.cert.display()
        ),
        rustls::Error::AlertReceived(alert) => {
            format!("the client ended the TLS handshake ({alert:?}); see its log")
        }
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. }
        | rustls::Error::PeerSentOversizedRecord => {
            "the peer does not speak TLS: connect with a tls:// address and TLS files".to_owned()
        }
        other => format!(
            "{other}; check that both sides use TLS files from the same CA (the CA here is {ca})"
        ),
    })
}

/// Whether the first bytes of a frame length look like a TLS record header
/// (content type 20–24, version 3.x): the peer speaks TLS where plain TCP
/// was expected.
pub(crate) fn looks_like_tls(bytes: &[u8]) -> bool {
    matches!(bytes, [0x14..=0x18, 0x03, 0x00..=0x04, ..])
}

/// Writes a CA and one certificate signed by it into `dir` (created if
/// missing): `ca.pem`, `cert.pem` and `key.pem`.
///
/// The certificate is valid for every entry of `hosts` (DNS names or IP
/// addresses) plus `localhost`, `127.0.0.1` and `::1`, as a server and as a
/// client certificate, so the same three files serve a scheduler, its
/// workers and clients: copy them to every machine. The CA's own key is not
/// kept, so no further certificate can be signed by this CA; run again for a
/// new set. Each file is written under a temporary name and renamed into
/// place; `key.pem` is readable by its owner only (mode 0600 on Unix).
///
/// Meant for tests and private clusters: whoever holds `key.pem` is trusted.
///
/// # Example
///
/// ```
/// let dir = std::env::temp_dir().join(format!("rask-doc-certs-{}", std::process::id()));
/// let files = rask_protocol::generate_self_signed(&dir, &["node1".to_string()])?;
/// assert!(files.key.ends_with("key.pem"));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), rask_protocol::ProtocolError>(())
/// ```
///
/// # Errors
///
/// [`ProtocolError::TlsFile`] naming the file that cannot be written, or
/// the host that cannot go into a certificate (its `address` is empty).
pub fn generate_self_signed(dir: &Path, hosts: &[String]) -> Result<TlsFiles> {
    let files = TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    let mut names: Vec<String> = Vec::new();
    for host in hosts
        .iter()
        .map(|h| h.trim())
        .chain(["localhost", "127.0.0.1", "::1"])
    {
        // `[::1]` as written in addresses is `::1` in a certificate.
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        // What a client can verify is what goes in: a DNS name or an IP.
        if ServerName::try_from(host).is_err() {
            return Err(file_error(
                "",
                &files.cert,
                format!(
                    "cannot make a certificate for host `{host}`: it is neither a DNS name nor an IP address"
                ),
            ));
        }
        if !names.iter().any(|n| n == host) {
            names.push(host.to_owned());
        }
    }
    let (ca_pem, cert_pem, key_pem) = make_certificates(&names).map_err(|(host, e)| {
        let message = match host {
            Some(host) => format!(
                "cannot make a certificate for host `{host}`: {e}; give DNS names or IP addresses"
            ),
            None => format!("cannot make the certificates: {e}"),
        };
        file_error("", &files.cert, message)
    })?;
    fs::create_dir_all(dir).map_err(|e| {
        file_error(
            "",
            dir,
            format!("cannot create the directory: {e}; pick a writable place"),
        )
    })?;
    write_atomically(&files.ca, ca_pem.as_bytes(), false)?;
    write_atomically(&files.cert, cert_pem.as_bytes(), false)?;
    write_atomically(&files.key, key_pem.as_bytes(), true)?;
    Ok(files)
}

/// The CA certificate, the leaf certificate and the leaf key, in PEM; on
/// error, the host that could not be encoded (if that was the cause).
fn make_certificates(
    names: &[String],
) -> std::result::Result<(String, String, String), (Option<String>, rcgen::Error)> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "rask self-signed CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().map_err(|e| (None, e))?;
    let ca_cert = ca.self_signed(&ca_key).map_err(|e| (None, e))?;
    let issuer = Issuer::new(ca, ca_key);

    for name in names {
        CertificateParams::new(vec![name.clone()]).map_err(|e| (Some(name.clone()), e))?;
    }
    let mut leaf = CertificateParams::new(names.to_vec()).map_err(|e| (None, e))?;
    leaf.distinguished_name.push(DnType::CommonName, "rask");
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let leaf_key = KeyPair::generate().map_err(|e| (None, e))?;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(|e| (None, e))?;
    Ok((ca_cert.pem(), leaf_cert.pem(), leaf_key.serialize_pem()))
}

/// Writes `path` through a temporary file in the same directory and a
/// rename, so no reader sees half a file.
fn write_atomically(path: &Path, contents: &[u8], private: bool) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| -> io::Result<()> {
        // A stale temporary file would keep its old mode: start afresh.
        let _ = fs::remove_file(&tmp);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let mut file = options.open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    written.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        file_error(
            "",
            path,
            format!("cannot write it: {e}; pick a writable directory"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_records_are_recognised() {
        assert!(looks_like_tls(&[0x16, 0x03, 0x01, 0x02, 0x00]));
        assert!(looks_like_tls(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]));
        assert!(!looks_like_tls(&[0x2a, 0, 0, 0, 0, 0, 0, 0]));
        assert!(!looks_like_tls(&[0x16]));
    }
}
