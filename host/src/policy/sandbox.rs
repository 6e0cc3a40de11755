//! The state of one evaluation: a fresh WASI context that grants nothing, a memory limiter, and
//! a size-capped log that collects the `log` import, stdout and stderr, and the `sql` import's
//! rendering of an edited syntax tree.

use super::bindings::{PolicyImports, querygate::policy::sql, querygate::policy::types};
use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll};
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

pub use crate::chain::{LogLevel, LogLine};

/// Everything a policy logged during one evaluation, capped at a number of bytes.
#[derive(Debug, Default)]
pub(super) struct GuestLog {
    pub lines: Vec<LogLine>,
    pub bytes: usize,
    pub cap: usize,
    /// Bytes dropped because the cap was reached.
    pub dropped: usize,
}

impl GuestLog {
    fn push(&mut self, level: LogLevel, message: &str) {
        let room = self.cap.saturating_sub(self.bytes);
        if room == 0 {
            self.dropped += message.len();
            return;
        }
        let mut end = message.len().min(room);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        self.dropped += message.len() - end;
        self.bytes += end;
        self.lines.push(LogLine {
            level,
            message: message[..end].to_string(),
        });
    }
}

pub(super) type SharedLog = Arc<Mutex<GuestLog>>;

fn lock(log: &SharedLog) -> std::sync::MutexGuard<'_, GuestLog> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Store data for one evaluation.
pub(super) struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub log: SharedLog,
    memory_cap: usize,
    /// Set when the guest asked for more memory than the cap.
    pub memory_exceeded: bool,
}

impl GuestState {
    pub fn new(memory_cap: usize, log_cap: usize) -> Self {
        let log: SharedLog = Arc::new(Mutex::new(GuestLog {
            cap: log_cap,
            ..GuestLog::default()
        }));
        // Nothing is granted: no preopened directories, no environment variables, no
        // arguments, no sockets or name lookups, empty stdin. Clocks and random numbers are the
        // host's (reading them changes nothing). stdout and stderr go to the capped log.
        let wasi = WasiCtxBuilder::new()
            .stdout(GuestOutput {
                log: log.clone(),
                level: LogLevel::Info,
            })
            .stderr(GuestOutput {
                log: log.clone(),
                level: LogLevel::Warn,
            })
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        GuestState {
            wasi,
            table: ResourceTable::new(),
            log,
            memory_cap,
            memory_exceeded: false,
        }
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for GuestState {}

impl sql::Host for GuestState {
    /// Runs on the host, outside the guest's deadline, but bounded by the size of what the guest
    /// can hand over (its memory cap) and by [`crate::sql::render_tree`]'s own limits.
    fn render(&mut self, ast_json: String) -> Result<String, String> {
        crate::sql::render_tree(&ast_json)
    }
}

impl PolicyImports for GuestState {
    fn log(&mut self, level: types::Level, message: String) {
        let level = match level {
            types::Level::Debug => LogLevel::Debug,
            types::Level::Info => LogLevel::Info,
            types::Level::Warn => LogLevel::Warn,
            types::Level::Error => LogLevel::Error,
        };
        lock(&self.log).push(level, &message);
    }
}

impl ResourceLimiter for GuestState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.memory_exceeded = true;
            wasmtime::bail!("policy memory limit of {} bytes exceeded", self.memory_cap);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a million entries is far beyond any real policy.
        Ok(desired <= 1_000_000)
    }
}

/// stdout / stderr of a guest: written into the capped log, never blocking, never failing.
#[derive(Clone)]
struct GuestOutput {
    log: SharedLog,
    level: LogLevel,
}

impl GuestOutput {
    fn write_bytes(&self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let mut log = lock(&self.log);
        for line in text.lines().filter(|l| !l.is_empty()) {
            log.push(self.level, line);
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Something the sandbox refused the guest, which stops its evaluation (a trap, for the
/// statement's rejection).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct Forbidden(pub &'static str);

const WAITING: &str = "tried to sleep or wait on a clock, which policies may not do";

/// The WASI version whose clock functions [`forbid_waiting`] replaces: the one wasmtime-wasi
/// defines (guests built against any 0.2.x resolve to it).
const WASI_CLOCKS: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Replace the clock's `subscribe-duration` and `subscribe-instant` with functions that trap.
///
/// A guest that sleeps blocks inside the host, where the epoch deadline cannot reach it: an
/// hour-long `sleep` would hold a host thread for an hour. No policy needs to wait, so waiting
/// on a clock traps (and the statement is rejected); reading the clock still works.
pub(super) fn forbid_waiting(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clocks = linker.instance(WASI_CLOCKS)?;
    clocks.func_wrap(
        "subscribe-duration",
        |_, (_,): (u64,)| -> wasmtime::Result<(Resource<DynPollable>,)> {
            Err(wasmtime::Error::new(Forbidden(WAITING)))
        },
    )?;
    clocks.func_wrap(
        "subscribe-instant",
        |_, (_,): (u64,)| -> wasmtime::Result<(Resource<DynPollable>,)> {
            Err(wasmtime::Error::new(Forbidden(WAITING)))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
