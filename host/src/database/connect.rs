//! Opening one connection: sockets, TLS, the password, and the message-size cap.
//!
//! querygate opens the socket itself (TCP or Unix, each configured host in turn) and hands it
//! to tokio-postgres with `connect_raw`, so that every byte the server sends passes through
//! [`Capped`]: below the driver's framing, above TLS. The connection's driver task is spawned
//! here and aborted when the connection is discarded, which closes the socket at once instead
//! of draining whatever the server still has to send.

use super::config::passfile_lookup;
use super::error::driver_message;
use super::tls::TlsPlan;
use super::wire_limit::{Capped, Limits, Trip};
use crate::teleport::Tunnel;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio::task::JoinHandle;
use tokio_postgres::Client;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres_rustls::MakeRustlsConnect;

type Socket = Capped<RawSocket>;
type RustlsConnect = <MakeRustlsConnect as MakeTlsConnect<Socket>>::TlsConnect;
type RustlsStream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;

/// One open connection and the task driving it.
pub(crate) struct Conn {
    pub client: Client,
    /// Set when the server sent a message over the size limit (the connection is then dead).
    pub trip: Arc<Trip>,
    /// PostgreSQL 14 or later: `client_connection_check_interval` exists.
    pub checks_client: bool,
    task: JoinHandle<()>,
}

impl Conn {
    /// Close the socket now. Whatever the server was doing for this session ends at its next
    /// write, or within a second while it computes (`client_connection_check_interval`), or at
    /// the statement timeout at the latest.
    pub fn discard(self) {
        self.task.abort();
    }
}

/// Everything needed to open connections to one database.
pub(crate) struct Connector {
    pub database: String,
    pub pg: tokio_postgres::Config,
    pub tls: TlsPlan,
    pub passfile: Option<PathBuf>,
    /// For `teleport://` databases: connections go to this tunnel's loopback port.
    pub tunnel: Option<Arc<Tunnel>>,
    pub limits: Limits,
}

impl Connector {
    /// Try each configured host in order; the first that accepts wins. A Teleport database
    /// connects through its tunnel, started (again) if needed.
    pub async fn connect(&self) -> Result<Conn, String> {
        if let Some(tunnel) = &self.tunnel {
            let port = tunnel.port().await?;
            let timeout = Duration::from_secs(10);
            let target = Target::Tcp("127.0.0.1".to_string());
            let error =
                match tokio::time::timeout(timeout, self.connect_one(target, port, "127.0.0.1"))
                    .await
                {
                    Ok(Ok(conn)) => return Ok(conn),
                    Ok(Err(e)) => e,
                    Err(_) => format!("timed out after {timeout:?}"),
                };
            return Err(tunnel.explain(&error).await);
        }
        let hosts = self.pg.get_hosts();
        let addrs = self.pg.get_hostaddrs();
        let ports = self.pg.get_ports();
        let count = hosts.len().max(addrs.len());
        if count == 0 {
            return Err("no host given in the url".to_string());
        }
        let timeout = self
            .pg
            .get_connect_timeout()
            .copied()
            .unwrap_or(Duration::from_secs(10));
        let mut errors = Vec::new();
        for i in 0..count {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            let host = hosts.get(i).cloned();
            let target = match (addrs.get(i), &host) {
                (Some(ip), _) => Target::Tcp(ip.to_string()),
                (None, Some(Host::Tcp(name))) => Target::Tcp(name.clone()),
                (None, Some(Host::Unix(dir))) => Target::Unix(dir.join(format!(".s.PGSQL.{port}"))),
                (None, None) => continue,
            };
            let tls_name = match &host {
                Some(Host::Tcp(name)) => name.clone(),
                _ => addrs.get(i).map(|ip| ip.to_string()).unwrap_or_default(),
            };
            let attempt = self.connect_one(target.clone(), port, &tls_name);
            match tokio::time::timeout(timeout, attempt).await {
                Ok(Ok(conn)) => return Ok(conn),
                Ok(Err(e)) => errors.push(format!("{target}: {e}")),
                Err(_) => errors.push(format!("{target}: timed out after {timeout:?}")),
            }
        }
        Err(errors.join("; "))
    }

    async fn connect_one(&self, target: Target, port: u16, tls_name: &str) -> Result<Conn, String> {
        let mut pg = self.pg.clone();
        let socket = match &target {
            Target::Tcp(host) => {
                let stream = TcpStream::connect((host.as_str(), port))
                    .await
                    .map_err(|e| e.to_string())?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                pg.ssl_mode(self.tls.mode);
                RawSocket::Tcp(stream)
            }
            Target::Unix(path) => {
                pg.ssl_mode(SslMode::Disable); // PostgreSQL offers no TLS on Unix sockets
                RawSocket::Unix(UnixStream::connect(path).await.map_err(|e| e.to_string())?)
            }
        };
        if pg.get_password().is_none()
            && let Some(passfile) = &self.passfile
        {
            let host = match &target {
                Target::Tcp(_) => tls_name.to_string(),
                Target::Unix(path) => path
                    .parent()
                    .map(|dir| dir.display().to_string())
                    .unwrap_or_default(),
            };
            let user = pg.get_user().unwrap_or("");
            let dbname = pg.get_dbname().unwrap_or(user);
            if let Some(password) = passfile_lookup(passfile, &host, port, dbname, user)? {
                pg.password(password);
            }
        }
        let trip = Arc::new(Trip::default());
        let socket = Capped::new(socket, self.limits, trip.clone());
        let tls = CappedTls {
            inner: match &self.tls.config {
                Some(config) if pg.get_ssl_mode() != SslMode::Disable => {
                    let mut make = MakeRustlsConnect::new((**config).clone());
                    match <MakeRustlsConnect as MakeTlsConnect<Socket>>::make_tls_connect(
                        &mut make, tls_name,
                    ) {
                        Ok(connect) => Some(connect),
                        Err(never) => match never {},
                    }
                }
                _ => None,
            },
            limits: self.limits,
            trip: trip.clone(),
        };
        let (client, connection) = pg
            .connect_raw(socket, tls)
            .await
            .map_err(|e| with_tls_hint(driver_message(&e)))?;
        let checks_client = connection
            .parameter("server_version")
            .and_then(|v| {
                v.split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse::<u32>()
                    .ok()
            })
            .is_some_and(|major| major >= 14);
        let database = self.database.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(database, "connection ended: {}", driver_message(&e));
            }
        });
        // Belt and braces for the pipelined road ([`super::execute`]): should a `BEGIN READ
        // ONLY` ever fail, a statement outside it is still read-only.
        // With it, the catalog's freshness check, planned once for the connection's life.
        client
            .batch_execute(&format!(
                "SET default_transaction_read_only = on; {}",
                super::catalog::freshness_prepare()
            ))
            .await
            .map_err(|e| driver_message(&e))?;
        Ok(Conn {
            client,
            trip,
            checks_client,
            task,
        })
    }
}

/// What to do about the certificate errors people meet most.
fn with_tls_hint(message: String) -> String {
    let hint = if message.contains("UnknownIssuer") {
        "the server's certificate does not chain to a trusted CA: set sslrootcert to the CA that \
         issued it"
    } else if message.contains("not valid for name") {
        "verify-full checks the host in the url against the certificate: connect by a name it \
         was issued for, or use sslmode=verify-ca"
    } else if message.contains("CaUsedAsEndEntity") {
        "the server presents a CA certificate as its own, which rustls refuses: issue the server \
         a leaf certificate signed by a separate CA"
    } else {
        return message;
    };
    format!("{message} ({hint})")
}

#[derive(Clone)]
enum Target {
    Tcp(String),
    Unix(PathBuf),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp(host) => write!(f, "{host}"),
            Target::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// rustls under a [`Capped`] stream; the raw socket's own cap is switched off when TLS starts.
struct CappedTls {
    inner: Option<RustlsConnect>,
    limits: Limits,
    trip: Arc<Trip>,
}

impl TlsConnect<Socket> for CappedTls {
    type Stream = Capped<RustlsStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Stream>> + Send>>;

    fn connect(self, mut stream: Socket) -> Self::Future {
        stream.disarm();
        Box::pin(async move {
            let Some(inner) = self.inner else {
                return Err(io::Error::other("tls is not configured for this host"));
            };
            let tls = inner.connect(stream).await?;
            Ok(Capped::new(tls, self.limits, self.trip))
        })
    }
}

/// A TCP or Unix socket (a concrete type: the driver's futures must be `Send`).
enum RawSocket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl AsyncRead for RawSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            RawSocket::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            RawSocket::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for RawSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            RawSocket::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            RawSocket::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            RawSocket::Tcp(s) => Pin::new(s).poll_flush(cx),
            RawSocket::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            RawSocket::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            RawSocket::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
