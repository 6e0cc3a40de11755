//! One supervised `tsh proxy db --tunnel` child per Teleport database.
//!
//! Started lazily by the first connection that needs it, on a free loopback port, and ready
//! once that port accepts. Whenever a connection is needed and the child has exited (crashed,
//! killed, its login expired) it is started again, so a fresh `tsh login` is picked up without
//! restarting anything. Stopped with SIGTERM (then SIGKILL) by [`Tunnel::stop`], when dropped,
//! and — should querygate itself be killed outright — by a small watchdog process that
//! outlives it by at most a second.

use super::{Problem, TeleportSettings, TeleportUri};
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::TcpStream;
use tokio::process::Child;

/// Lines of tsh output kept for error messages.
const KEPT_LINES: usize = 20;

/// The last lines tsh printed (stdout and stderr interleaved).
#[derive(Default)]
struct Said(Mutex<VecDeque<String>>);

impl Said {
    fn push(&self, line: String) {
        let mut lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == KEPT_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    fn text(&self) -> String {
        let lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().cloned().collect::<Vec<_>>().join(" / ")
    }
}

struct Running {
    child: Child,
    watchdog: Option<std::process::Child>,
    port: u16,
    said: Arc<Said>,
}

impl Running {
    fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// The tunnel to one Teleport database.
pub struct Tunnel {
    uri: TeleportUri,
    settings: TeleportSettings,
    running: tokio::sync::Mutex<Option<Running>>,
}

impl Tunnel {
    pub fn new(uri: TeleportUri, settings: TeleportSettings) -> Tunnel {
        Tunnel {
            uri,
            settings,
            running: tokio::sync::Mutex::new(None),
        }
    }

    pub fn uri(&self) -> &TeleportUri {
        &self.uri
    }

    pub fn settings(&self) -> &TeleportSettings {
        &self.settings
    }

    /// The process id of the running tsh, if one runs (for diagnostics and tests).
    pub async fn pid(&self) -> Option<u32> {
        self.running.lock().await.as_ref().and_then(Running::pid)
    }

    /// The local port of a listening tunnel, starting (or restarting) tsh when needed.
    pub async fn port(&self) -> Result<u16, String> {
        let mut running = self.running.lock().await;
        if let Some(current) = running.as_mut() {
            match current.child.try_wait() {
                Ok(None) => return Ok(current.port),
                Ok(Some(status)) => {
                    let said = current.said.text();
                    tracing::warn!(database = %self.uri.database, %status, %said, "tsh proxy db exited; starting it again");
                }
                Err(e) => tracing::warn!(error = %e, "cannot check on tsh proxy db"),
            }
            if let Some(old) = running.take() {
                retire(old).await;
            }
        }
        let started = self.start().await?;
        let port = started.port;
        *running = Some(started);
        Ok(port)
    }

    /// Word a failed connection through the tunnel: a Teleport problem if tsh or the tunnel
    /// said so, otherwise what happened plus what tsh last printed.
    pub async fn explain(&self, error: &str) -> String {
        let mut said = String::new();
        let mut exited = None;
        {
            let mut running = self.running.lock().await;
            if let Some(current) = running.as_mut() {
                // Give a dying tsh a moment to finish printing why.
                for _ in 0..20 {
                    match current.child.try_wait() {
                        Ok(Some(status)) => {
                            exited = Some(status);
                            break;
                        }
                        Ok(None) if error.contains("refused") || error.contains("closed") => {
                            tokio::time::sleep(Duration::from_millis(25)).await;
                        }
                        _ => break,
                    }
                }
                said = current.said.text();
            }
        }
        if let Some(problem) = Problem::classify(error).or_else(|| Problem::classify(&said)) {
            let detail = if Problem::classify(error).is_some() {
                error
            } else {
                &said
            };
            return problem.explain(&self.uri, &self.settings, detail);
        }
        let mut message = format!(
            "through the Teleport tunnel to `{}` (cluster `{}`): {error}",
            self.uri.database, self.uri.cluster
        );
        if let Some(status) = exited {
            message.push_str(&format!(
                "; tsh proxy db exited ({status}), the next call starts it again"
            ));
        }
        if !said.is_empty() {
            message.push_str(&format!("; tsh said: {said}"));
        }
        message
    }

    /// Stop tsh: SIGTERM, then SIGKILL after a second.
    pub async fn stop(&self) {
        if let Some(running) = self.running.lock().await.take() {
            retire(running).await;
        }
    }

    async fn start(&self) -> Result<Running, String> {
        let port = free_port().map_err(|e| format!("cannot find a free local port: {e}"))?;
        let mut command = self.settings.command();
        command
            .args(["proxy", "db", "--tunnel", "--port"])
            .arg(port.to_string())
            .args(["--db-user", &self.uri.db_user])
            .args(["--db-name", &self.uri.db_name])
            .args(["--cluster", &self.uri.cluster])
            .arg(&self.uri.database)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        tracing::info!(database = %self.uri.database, cluster = %self.uri.cluster, port, "starting tsh proxy db --tunnel");
        let mut child = command.spawn().map_err(|e| self.settings.spawn_error(&e))?;
        let said = Arc::new(Said::default());
        if let Some(out) = child.stdout.take() {
            tokio::spawn(collect(out, said.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(collect(err, said.clone()));
        }
        let watchdog = child.id().and_then(|pid| watchdog(pid).ok());
        let mut running = Running {
            child,
            watchdog,
            port,
            said,
        };
        let deadline = Instant::now() + self.settings.start_timeout();
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        loop {
            if let Ok(Some(status)) = running.child.try_wait() {
                // Let the readers catch the last lines.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let said = running.said.text();
                retire(running).await;
                return Err(match Problem::classify(&said) {
                    Some(problem) => problem.explain(&self.uri, &self.settings, &said),
                    None => format!(
                        "tsh proxy db for `{}` (cluster `{}`) exited ({status}) before listening{}",
                        self.uri.database,
                        self.uri.cluster,
                        if said.is_empty() {
                            String::new()
                        } else {
                            format!("; tsh said: {said}")
                        }
                    ),
                });
            }
            if TcpStream::connect(address).await.is_ok() {
                return Ok(running);
            }
            if Instant::now() >= deadline {
                let said = running.said.text();
                retire(running).await;
                return Err(format!(
                    "tsh proxy db for `{}` did not listen on 127.0.0.1:{port} within {} ms \
                     ([teleport] start_timeout_ms); tsh said: {said}",
                    self.uri.database, self.settings.start_timeout_ms
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        // `kill_on_drop` sends SIGKILL to tsh as `running.child` drops here.
        if let Some(mut watchdog) = self
            .running
            .get_mut()
            .take()
            .and_then(|running| running.watchdog)
        {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

/// Stop a child: SIGTERM, up to a second to exit, then SIGKILL; and its watchdog.
async fn retire(mut running: Running) {
    if let Ok(None) = running.child.try_wait()
        && let Some(pid) = running.child.id()
        && let Some(pid) = rustix::process::Pid::from_raw(pid as i32)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        if tokio::time::timeout(Duration::from_secs(1), running.child.wait())
            .await
            .is_err()
        {
            let _ = running.child.kill().await;
        }
    }
    let _ = running.child.wait().await;
    if let Some(mut watchdog) = running.watchdog.take() {
        let _ = watchdog.kill();
        let _ = watchdog.wait();
    }
}

async fn collect(stream: impl AsyncRead + Unpin, said: Arc<Said>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(target: "querygate::tsh", "{line}");
        if !line.trim().is_empty() {
            said.push(line);
        }
    }
}

/// A port free right now on the loopback interface (tsh binds it a moment later).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// A shell that sends SIGTERM to `tsh` once this process is gone (even after SIGKILL).
fn watchdog(tsh: u32) -> std::io::Result<std::process::Child> {
    crate::watchdog::after_exit(&format!("kill -TERM {tsh} 2>/dev/null"))
}
