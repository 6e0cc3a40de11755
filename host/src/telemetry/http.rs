//! The HTTP client the OTLP exporter sends with: ureq, blocking. The SDK exports from its own
//! threads (it polls the export on them, outside any async runtime), so a blocking client fits,
//! and it reuses the rustls (with ring) and the system's root certificates that database TLS
//! already uses, instead of bringing hyper and an async TLS stack.

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use std::sync::Arc;
use std::time::Duration;

/// Sends one request at a time; cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub(super) struct Client(ureq::Agent);

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ureq::Agent")
    }
}

impl Client {
    /// A client whose every request ends within `timeout`; for `https`, one that trusts the
    /// system's root certificates.
    pub(super) fn new(https: bool, timeout: Duration) -> Client {
        let mut config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // The exporter reads the status itself (and retries what is worth retrying).
            .http_status_as_error(false)
            .max_redirects(0);
        if https {
            let certs = rustls_native_certs::load_native_certs().certs;
            let roots: Vec<ureq::tls::Certificate<'static>> = certs
                .iter()
                .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
                .collect();
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .provider(ureq::tls::TlsProvider::Rustls)
                    .root_certs(ureq::tls::RootCerts::from(roots))
                    .unversioned_rustls_crypto_provider(Arc::new(
                        rustls::crypto::ring::default_provider(),
                    ))
                    .build(),
            );
        }
        Client(config.build().new_agent())
    }
}

#[async_trait::async_trait]
impl HttpClient for Client {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, body.to_vec());
        let uri = request.uri().clone();
        // The SDK reports only "network error"; say what failed (a refused connection, a
        // certificate the system's roots do not verify, …) and where.
        let response = self.0.run(request).inspect_err(|error| {
            tracing::warn!(%error, endpoint = %uri, "cannot send telemetry to the OTLP collector");
        })?;
        let (parts, mut body) = response.into_parts();
        // An OTLP answer is a small status message; anything larger is not read.
        let body = body.with_config().limit(64 * 1024).read_to_vec()?;
        Ok(Response::from_parts(parts, Bytes::from(body)))
    }
}
