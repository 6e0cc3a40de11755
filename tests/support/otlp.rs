//! An OTLP/HTTP receiver for the tests and benches that run `serve --otlp`: it answers every
//! POST with 200 and keeps what was sent, as a collector would receive it.

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::TcpListener;

/// An OTLP/HTTP receiver: answers every POST with 200 and keeps (path, JSON body).
pub struct Receiver {
    port: u16,
    https: bool,
    received: Arc<Mutex<Vec<(String, Value)>>>,
    connections: Arc<Mutex<usize>>,
}

impl Receiver {
    /// A receiver over plain HTTP.
    pub async fn start() -> Receiver {
        Receiver::listen(None).await
    }

    /// A receiver over HTTPS at `127.0.0.1`, with `pki`'s leaf (which must name `127.0.0.1`),
    /// signed by its `ca.pem`. A client that does not trust that CA gets no further than the
    /// handshake.
    pub async fn start_tls(pki: &super::pki::Pki) -> Receiver {
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_file_iter(pki.path("server.crt"))
            .expect("server.crt")
            .collect::<Result<Vec<_>, _>>()
            .expect("server.crt parses");
        let key = PrivateKeyDer::from_pem_file(pki.path("server.key")).expect("server.key");
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("certificate and key");
        Receiver::listen(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn listen(tls: Option<tokio_rustls::TlsAcceptor>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let (got, count) = (received.clone(), connections.clone());
        let https = tls.is_some();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                *count.lock().expect("lock") += 1;
                let got = got.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        // A client that refuses the certificate ends here.
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(stream).await {
                                answer(stream, got).await;
                            }
                        }
                        None => answer(stream, got).await,
                    }
                });
            }
        });
        Receiver {
            port,
            https,
            received,
            connections,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        *self.connections.lock().expect("lock")
    }

    pub fn endpoint(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The bodies POSTed to `path` so far.
    pub fn bodies(&self, path: &str) -> Vec<Value> {
        let received = self.received.lock().expect("lock");
        received
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// Wait (up to a minute) until `done` holds for the bodies of `path`.
    pub async fn wait_for(&self, path: &str, what: &str, done: impl Fn(&[Value]) -> bool) {
        let started = Instant::now();
        while !done(&self.bodies(path)) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no {what} at {path}: got {:#}",
                json!(self.bodies(path))
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Answers every request on one (kept-alive) connection with 200, keeping (path, JSON body).
async fn answer(
    stream: impl AsyncRead + AsyncWrite + Unpin,
    got: Arc<Mutex<Vec<(String, Value)>>>,
) {
    let mut stream = BufReader::new(stream);
    while let Some((path, body)) = read_request(&mut stream).await {
        let body: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{path}: the body is not JSON: {e}"));
        got.lock().expect("lock").push((path, body));
        let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                      content-length: 2\r\n\r\n{}";
        if stream.write_all(answer.as_bytes()).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
}

/// One HTTP/1.1 POST (with a content-length) from `stream`: its path and body; None at the end
/// of the connection.
async fn read_request(stream: &mut (impl AsyncBufRead + Unpin)) -> Option<(String, Vec<u8>)> {
    let mut line = String::new();
    stream.read_line(&mut line).await.ok().filter(|&n| n > 0)?;
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("POST"), "{line}");
    let path = words.next().expect("a path").to_string();
    let mut length = None;
    loop {
        let mut header = String::new();
        stream.read_line(&mut header).await.ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').expect("a header");
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse::<usize>().ok(),
            "content-type" => assert_eq!(value.trim(), "application/json", "{path}"),
            _ => {}
        }
    }
    let mut body = vec![0; length.expect("a content-length")];
    stream.read_exact(&mut body).await.ok()?;
    Some((path, body))
}
