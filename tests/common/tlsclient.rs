//! HTTPS for black-box tests: a self-signed certificate for 127.0.0.1 made by the `openssl`
//! command, a rustls client configuration that trusts exactly the given certificates, and one
//! raw request over TLS. Used with `server.rs` (`mod server` beside it).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::common::TIMEOUT;
use crate::server::{Resp, parse_response};

/// A self-signed certificate for 127.0.0.1 and its key, as PEM files in `dir`.
pub struct Cert {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: CertificateDer<'static>,
}

impl Cert {
    pub fn new(dir: &Path, name: &str) -> Cert {
        let (cert, key) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        let out = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", &format!("/CN={name}")])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("run openssl (apt-get install openssl)");
        assert!(out.status.success(), "openssl: {out:?}");
        let der = CertificateDer::from_pem_file(&cert).expect("the new certificate");
        Cert { cert, key, der }
    }

    /// Copies this certificate and key over `to`'s files.
    pub fn install_as(&self, to: &Cert) {
        std::fs::copy(&self.cert, &to.cert).unwrap();
        std::fs::copy(&self.key, &to.key).unwrap();
    }

    /// The flags that serve HTTPS with this certificate.
    pub fn flags(&self) -> [&str; 4] {
        [
            "--tls-cert",
            self.cert.to_str().unwrap(),
            "--tls-key",
            self.key.to_str().unwrap(),
        ]
    }
}

/// A client configuration that trusts these certificates and nothing else.
pub fn trusting(certs: &[&Cert]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots.add(c.der.clone()).expect("a usable root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

pub fn server_name() -> ServerName<'static> {
    ServerName::try_from("127.0.0.1").unwrap()
}

/// Writes `request` (head and body, as they are) over TLS to `addr` on a fresh connection and
/// reads the answer to the end: the answer and the certificate the server presented.
pub fn https_raw(
    addr: &str,
    tls: &Arc<ClientConfig>,
    request: &[u8],
) -> (Resp, CertificateDer<'static>) {
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    let conn = ClientConnection::new(tls.clone(), server_name()).unwrap();
    let mut stream = StreamOwned::new(conn, tcp);
    stream
        .write_all(request)
        .unwrap_or_else(|e| panic!("HTTPS {:?}: {e}", String::from_utf8_lossy(request)));
    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw) {
        // A close without TLS's close_notify is fine once the whole answer is here.
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
    }
    let presented = stream.conn.peer_certificates().expect("a certificate")[0].clone();
    (parse_response(&raw), presented.into_owned())
}
