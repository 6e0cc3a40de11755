//! TLS to PostgreSQL with rustls, for every libpq `sslmode`.
//!
//! | sslmode       | encrypted            | certificate chain checked | host name checked |
//! |---------------|----------------------|---------------------------|-------------------|
//! | `disable`     | no                   | –                         | –                 |
//! | `allow`, `prefer` (default) | if the server offers it | no          | no                |
//! | `require`     | yes                  | no (yes with `sslrootcert`, as libpq) | no    |
//! | `verify-ca`   | yes                  | yes                       | no                |
//! | `verify-full` | yes                  | yes                       | yes               |
//!
//! Trusted roots come from `sslrootcert` (a PEM file, possibly with several certificates), or
//! from the system store (`rustls-native-certs`, also for `sslrootcert=system`); nothing is
//! downloaded at run time. Unix-socket connections never use TLS (PostgreSQL does not offer it
//! there), whatever the mode. `sslcert` + `sslkey` (PEM) present a client certificate.
//!
//! What server operators must know, because rustls is stricter than OpenSSL:
//! - a self-signed certificate that is its own CA (`CA:TRUE`) is refused as the server
//!   certificate: issue the server a leaf certificate signed by a separate CA, and give that
//!   CA as `sslrootcert`;
//! - under `verify-full` the name in the url (`host=`) must be in the certificate's subject
//!   alternative names (DNS name or IP address); the common name alone is not enough.
//!
//! Even unverified modes check the handshake signature, so the session is at least bound to
//! the certificate the server showed; they do not stop an active man in the middle.

use super::config::{SslMode, TlsSettings};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::path::Path;
use std::sync::Arc;
use tokio_postgres::config::SslMode as PgSslMode;

/// How connections to one database negotiate TLS.
#[derive(Clone)]
pub(crate) struct TlsPlan {
    /// What tokio-postgres is told (it only knows disable / prefer / require).
    pub mode: PgSslMode,
    /// The rustls configuration; `None` for `disable`.
    pub config: Option<Arc<ClientConfig>>,
}

/// Build the TLS plan once per database (reading certificate files now, not per connection).
pub(crate) fn plan(settings: &TlsSettings) -> Result<TlsPlan, String> {
    let mut mode = settings.mode;
    let system_roots = settings.rootcert.as_deref() == Some(Path::new("system"));
    if mode == SslMode::Require && settings.rootcert.is_some() {
        mode = SslMode::VerifyCa; // libpq: require with a root certificate verifies the chain
    }
    if system_roots && mode != SslMode::Disable {
        mode = SslMode::VerifyFull; // libpq: sslrootcert=system implies verify-full
    }
    let pg_mode = match mode {
        SslMode::Disable => {
            return Ok(TlsPlan {
                mode: PgSslMode::Disable,
                config: None,
            });
        }
        SslMode::Allow | SslMode::Prefer => PgSslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls setup: {e}"))?;
    let builder = match mode {
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = Arc::new(roots(
                settings.rootcert.as_deref().filter(|_| !system_roots),
            )?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| format!("tls setup: {e}"))?;
            let verifier: Arc<dyn ServerCertVerifier> = if mode == SslMode::VerifyCa {
                Arc::new(ChainOnly(webpki))
            } else {
                webpki
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
        }
        _ => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider))),
    };
    let config = match (&settings.cert, &settings.key) {
        (Some(cert), Some(key)) => {
            let certs = pem_certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("cannot read sslkey `{}`: {e}", key.display()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("sslcert / sslkey: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(TlsPlan {
        mode: pg_mode,
        config: Some(Arc::new(config)),
    })
}

fn pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let read_error = |e: &dyn std::fmt::Display| format!("cannot read `{}`: {e}", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| read_error(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read_error(&e))?;
    if certs.is_empty() {
        return Err(format!("`{}` holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

fn roots(rootcert: Option<&Path>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match rootcert {
        Some(path) => {
            for cert in pem_certs(path)? {
                store
                    .add(cert)
                    .map_err(|e| format!("sslrootcert `{}`: {e}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(
                    "no system root certificates found: set sslrootcert to the CA's PEM file"
                        .to_string(),
                );
            }
        }
    }
    Ok(store)
}

/// `verify-ca`: the full webpki check, except that a certificate issued for another name is
/// accepted. webpki checks the chain before the name, so a name error means the chain passed.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` / `require`: any certificate, but a valid handshake signature by it.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
