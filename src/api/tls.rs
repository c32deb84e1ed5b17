//! HTTPS (feature `tls`): the certificate chain and key loaded from PEM files, and the acceptor
//! new TCP connections handshake with. SIGHUP reloads both files: the next handshakes use the
//! new certificate, connections already open keep what they negotiated, and a file that does
//! not load is logged and leaves the old certificate in service.
//!
//! A reload builds a whole new rustls configuration rather than swapping the key inside one:
//! its resumption cache starts empty, so no client resumes a session from before the reload
//! (a resumed TLS session skips the certificate) and every new connection sees the new one.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{Error as TlsError, InconsistentKeys, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A certificate chain or key file larger than this is refused (a chain is a few KiB; this
/// keeps a mistaken path such as a log file or `/dev/zero` from filling memory).
const MAX_PEM_FILE: u64 = 1024 * 1024;

/// The first byte of every TLS connection (a handshake record).
const HANDSHAKE_RECORD: u8 = 0x16;

/// What a plain-HTTP request to an HTTPS port is told before the connection is closed.
const PLAIN_HTTP: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n\
connection: close\r\ncontent-length: 82\r\n\r\n\
{\"error\":{\"code\":\"bad_request\",\"message\":\"this port speaks HTTPS: use https://\"}}\n";

/// The TLS side of the TCP listeners: where the files are, and the acceptor in force.
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    /// Replaced whole by a reload; a handshake takes a clone (an `Arc`) and lets go at once.
    acceptor: RwLock<TlsAcceptor>,
}

impl Tls {
    /// Loads the certificate chain and key; the error is one line naming the file at fault.
    pub fn load(cert: &Path, key: &Path) -> Result<Tls, String> {
        // ring, explicitly: the only provider compiled in, and no process-wide default needed.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let acceptor = acceptor(cert, key, &provider)?;
        Ok(Tls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
            acceptor: RwLock::new(acceptor),
        })
    }

    /// Reads both files again (SIGHUP); on success new handshakes use them, on failure the
    /// error is logged and the certificate in force stays. Blocking: call off the async
    /// threads.
    pub fn reload(&self) {
        match acceptor(&self.cert, &self.key, &self.provider) {
            Ok(acceptor) => {
                *self
                    .acceptor
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = acceptor;
                log::info!(
                    "SIGHUP: reloaded the TLS certificate {} and key {}",
                    self.cert.display(),
                    self.key.display()
                );
            }
            Err(e) => log::error!("SIGHUP: {e}; still serving the previous certificate"),
        }
    }

    /// The TLS handshake on a new connection, all of it within `limit`. `None` when it failed
    /// or took too long (the connection is closed), or when the client spoke plain HTTP (it is
    /// told to use https:// first).
    pub async fn accept(&self, tcp: TcpStream, limit: Duration) -> Option<TlsStream<TcpStream>> {
        let handshake = async move {
            let mut first = [0u8; 1];
            if tcp.peek(&mut first).await? == 0 {
                return Ok(None); // closed before a byte
            }
            if first[0] != HANDSHAKE_RECORD {
                refuse_plain(tcp).await;
                return Ok(None);
            }
            let acceptor = self
                .acceptor
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            acceptor.accept(tcp).await.map(Some)
        };
        match tokio::time::timeout(limit, handshake).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                log::debug!("TLS handshake failed: {e}");
                None
            }
            Err(_) => {
                log::debug!("TLS handshake not done within {limit:?}");
                None
            }
        }
    }
}

/// Answers a plain-HTTP request with [`PLAIN_HTTP`]: the request's first piece is read first,
/// so closing does not reset the connection before the client reads the answer.
async fn refuse_plain(mut tcp: TcpStream) {
    let mut head = [0u8; 4096];
    let _ = tcp.read(&mut head).await;
    if tcp.write_all(PLAIN_HTTP).await.is_ok() {
        let _ = tcp.shutdown().await;
    }
}

/// An acceptor serving the chain from `cert` with the key from `key`: TLS 1.3 only (rustls'
/// `tls12` feature is off) and HTTP/1.1, all this server speaks.
fn acceptor(
    cert: &Path,
    key: &Path,
    provider: &Arc<CryptoProvider>,
) -> Result<TlsAcceptor, String> {
    let certified = certified_key(cert, key, provider)?;
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The chain from `cert` and the key from `key`, checked to belong together.
fn certified_key(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, String> {
    let (cert_shown, key_shown) = (cert.display(), key.display());
    let chain = CertificateDer::pem_slice_iter(&read_pem(cert, "--tls-cert")?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--tls-cert {cert_shown}: {}", pem_problem(&e, NO_CERT)))?;
    if chain.is_empty() {
        return Err(format!("--tls-cert {cert_shown}: {NO_CERT}"));
    }
    let der = PrivateKeyDer::from_pem_slice(&read_pem(key, "--tls-key")?)
        .map_err(|e| format!("--tls-key {key_shown}: {}", pem_problem(&e, NO_KEY)))?;
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| format!("--tls-key {key_shown}: unusable key: {}", one_line(&e)))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        // Unknown: the key cannot tell its public half (never so with ring's keys).
        Ok(()) | Err(TlsError::InconsistentKeys(InconsistentKeys::Unknown)) => Ok(certified),
        Err(TlsError::InconsistentKeys(_)) => Err(format!(
            "--tls-key {key_shown}: this key does not belong to the certificate in {cert_shown}"
        )),
        Err(e) => Err(format!(
            "--tls-cert {cert_shown}: unusable certificate: {}",
            one_line(&e)
        )),
    }
}

/// The whole file, at most [`MAX_PEM_FILE`] bytes.
fn read_pem(path: &Path, setting: &str) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("{setting} {shown}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{setting} {shown}: {e}"))?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(format!(
            "{setting} {shown}: larger than 1 MiB, not a PEM file"
        ));
    }
    Ok(bytes)
}

const NO_CERT: &str = "no certificate in it (a PEM \"BEGIN CERTIFICATE\" block)";
const NO_KEY: &str = "no private key in it (a PEM \"BEGIN PRIVATE KEY\", \"BEGIN RSA PRIVATE KEY\" \
                      or \"BEGIN EC PRIVATE KEY\" block)";

fn pem_problem(e: &pem::Error, missing: &str) -> String {
    match e {
        pem::Error::NoItemsFound => missing.to_string(),
        other => format!("not valid PEM: {}", one_line(other)),
    }
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().replace(char::is_control, " ")
}
