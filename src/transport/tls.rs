//! TLS for TCP endpoints, the part that needs no I/O loop: turning an endpoint's `tls` configuration (PEM
//! files) into one shared `rustls::ServerConfig` at start-up, and reading what an established TLS
//! connection tells the session layer ([`TlsInfo`]: channel binding, client certificate). The shard drives
//! the handshake itself over its sockets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ServerConnection, VerifierBuilderError, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig};

use crate::auth::TlsInfo;
use crate::config::{ClientCertificate, TlsConfig};

/// The RFC 9266 `tls-exporter` channel binding label.
const CHANNEL_BINDING_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

/// Why an endpoint's TLS configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read TLS {what} file {}: {source}", .path.display())]
    Read { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("TLS {what} file {} is not valid PEM: {source}", .path.display())]
    Pem { what: &'static str, path: PathBuf, source: pem::Error },
    #[error("TLS {what} file {} holds no {expected}", .path.display())]
    Empty { what: &'static str, path: PathBuf, expected: &'static str },
    #[error("TLS client CA file {}: {source}", .path.display())]
    ClientCa { path: PathBuf, source: rustls::Error },
    #[error("TLS client CA file {}: {source}", .path.display())]
    Verifier { path: PathBuf, source: VerifierBuilderError },
    #[error("TLS certificate {} with key {}: {source}", .certificate.display(), .key.display())]
    Certificate { certificate: PathBuf, key: PathBuf, source: rustls::Error },
    #[error("TLS protocol versions: {0}")]
    Protocols(rustls::Error),
}

/// Builds the server configuration of one TLS endpoint from its PEM files (read now, once; every shard
/// shares the result).
///
/// TLS 1.2 is accepted only with the extended master secret (RFC 7627), so that the `tls-exporter` channel
/// binding in [`TlsInfo`] is sound on every connection (RFC 9266 section 3); TLS 1.3 always has it.
pub fn server_config(tls: &TlsConfig) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certificates = read_certificates("certificate", &tls.certificate)?;
    let key = read_key(&tls.key)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsSetupError::Protocols)?;
    let builder = match (&tls.client_ca, tls.client_auth()) {
        (Some(path), policy @ (ClientCertificate::Optional | ClientCertificate::Required)) => {
            let mut roots = RootCertStore::empty();
            for certificate in read_certificates("client CA", path)? {
                roots
                    .add(certificate)
                    .map_err(|source| TlsSetupError::ClientCa { path: path.clone(), source })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match policy {
                ClientCertificate::Optional => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier =
                verifier.build().map_err(|source| TlsSetupError::Verifier { path: path.clone(), source })?;
            builder.with_client_cert_verifier(verifier)
        }
        // The config check rejects a CA without a policy and a policy without a CA.
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certificates, key).map_err(|source| {
        TlsSetupError::Certificate { certificate: tls.certificate.clone(), key: tls.key.clone(), source }
    })?;
    config.require_ems = true;
    Ok(Arc::new(config))
}

/// What an established TLS connection tells the session layer. The client certificate is the end-entity
/// certificate the client presented; the verifier already checked it against the client CA.
pub fn tls_info(connection: &ServerConnection) -> TlsInfo {
    let channel_binding_exporter =
        connection.export_keying_material([0u8; 32], CHANNEL_BINDING_LABEL, None).ok();
    let client_cert = connection.peer_certificates().and_then(|chain| chain.first());
    TlsInfo {
        channel_binding_exporter,
        client_cert_sha256: client_cert.map(|der| sha256(der)),
        client_cert_cn: client_cert.and_then(|der| common_name(der)),
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

/// The first Common Name of a DER certificate's subject, if it has one in a string type.
fn common_name(der: &[u8]) -> Option<String> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = certificate.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsSetupError> {
    std::fs::read(path).map_err(|source| TlsSetupError::Read { what, path: path.to_owned(), source })
}

fn read_certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let pem = read_file(what, path)?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsSetupError::Pem { what, path: path.to_owned(), source })?;
    if certificates.is_empty() {
        return Err(TlsSetupError::Empty { what, path: path.to_owned(), expected: "CERTIFICATE" });
    }
    Ok(certificates)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    let what = "key";
    let pem = read_file(what, path)?;
    match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => {
            Err(TlsSetupError::Empty { what, path: path.to_owned(), expected: "PRIVATE KEY" })
        }
        Err(source) => Err(TlsSetupError::Pem { what, path: path.to_owned(), source }),
    }
}
