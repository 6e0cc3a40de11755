//! The policy runtime: loads WebAssembly policy components and evaluates one statement with one
//! policy. It is the only module that knows about wasmtime; the rest of querygate sees
//! [`Runtime::load`], [`Runtime::evaluate`] and plain Rust types.
//!
//! # What a policy can and cannot reach
//! - **State**: every evaluation gets a fresh store and a fresh instance. Nothing a policy
//!   writes to memory or globals survives to the next statement.
//! - **Files**: none. No directory is preopened; every path lookup fails.
//! - **Environment and arguments**: empty.
//! - **Network**: none. TCP, UDP and name lookups are denied.
//! - **stdin**: empty. **stdout / stderr**: captured into the policy's log (info / warn), which
//!   together with the `log` import is capped per evaluation (`policy_log_bytes`); the excess
//!   is dropped, never an error.
//! - **Clocks and random numbers**: the host's. Reading them changes nothing outside the guest.
//! - **Time**: a deadline per evaluation (`policy_deadline_ms`, default 50 ms) enforced with
//!   epoch interruption; a guest past it traps.
//! - **Memory**: a cap per evaluation (`policy_memory_mib`, default 64 MiB); growing past it
//!   traps. The wasm stack is capped by wasmtime (512 KiB); overflowing it traps.
//!
//! Any trap, deadline, memory overrun, or failure to produce a verdict is reported as a
//! [`Fault`], which the pipeline turns into a rejection.
//!
//! Components are compiled once, when loaded, and the compiled code is cached on disk
//! ([`cache`]) keyed by the module's sha256 and the engine's settings.

mod cache;
mod load_error;
mod sandbox;

pub use crate::chain::{Context, Evaluation, Fault, LogLevel, LogLine, Verdict};

use crate::sql::{Analysis, StatementKind};
use sandbox::GuestState;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "policy",
    });
}

use bindings::querygate::policy::types as wit;

/// Limits applied to every evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyLimits {
    pub deadline: Duration,
    pub memory_bytes: usize,
    pub log_bytes: usize,
}

impl Default for PolicyLimits {
    fn default() -> Self {
        PolicyLimits {
            deadline: Duration::from_millis(50),
            memory_bytes: 64 * 1024 * 1024,
            log_bytes: 16 * 1024,
        }
    }
}

/// Whether a policy's verdict counts: `mode` of a `[[policy]]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Its rejections reject and its rewrites run (the default).
    #[default]
    Enforce,
    /// Evaluated, logged and audited (`enforced: false`), but the statement goes on as if the
    /// policy had allowed it: for trying a policy on real traffic before enforcing it.
    Monitor,
}

/// How to find and check one policy.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySpec {
    pub name: String,
    pub path: PathBuf,
    /// Expected sha256 of the file, lower-case hex; loading refuses a mismatch.
    pub sha256: Option<String>,
    /// The policy's own configuration, passed to it as a JSON object.
    pub config: serde_json::Value,
    pub mode: Mode,
}

/// Why a policy could not be loaded. Each one stops start-up.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    // The io error is part of the message, not a `source`: printed as a chain it would repeat.
    #[error("cannot read policy `{name}` from `{path}`: {error}")]
    Read {
        name: String,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "policy `{name}` at `{path}` has sha256 {actual}, but the configuration pins {expected}: rebuild the policy or update the pin"
    )]
    HashMismatch {
        name: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("policy `{name}` at `{path}` is not a usable policy component: {message}; {advice}")]
    Invalid {
        name: String,
        path: PathBuf,
        message: String,
        /// What to do about it (see `load_error::advice`).
        advice: String,
    },
    #[error("policy `{name}` has a config that is not a JSON object: give a table")]
    Config { name: String },
    #[error("cannot set up the policy runtime: {0}")]
    Engine(String),
}

/// A loaded policy, ready to evaluate.
pub struct LoadedPolicy {
    pub name: String,
    pub sha256: String,
    pub mode: Mode,
    config_json: String,
    pre: bindings::PolicyPre<GuestState>,
}

impl std::fmt::Debug for LoadedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPolicy")
            .field("name", &self.name)
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// The wasmtime engine, the linker, and the ticker that enforces deadlines.
pub struct Runtime {
    engine: Engine,
    linker: Linker<GuestState>,
    limits: PolicyLimits,
    deadline_ticks: u64,
    cache_dir: Option<PathBuf>,
    /// Dropping the sender stops the ticker thread.
    _ticker: mpsc::Sender<()>,
}

/// Concurrent evaluations the instance pool holds slots for. More at once fail (and reject).
const POOL_SLOTS: u32 = 64;

/// Linear memory a pool slot keeps mapped between evaluations, reset with `memset`; the rest
/// is given back to the kernel, so the next evaluation starts from zeroed or image pages.
/// Measured in the decision benchmark: 0 B and 64 KiB were best (a Rust guest's stack is its
/// lowest megabyte, so more than that costs a `memset` of bytes no evaluation touched).
///
/// Not used: wasmtime's `pagemap_scan`, which resets only the pages an evaluation touched and
/// keeps more resident (measured 50–100 µs faster per policy). It resets only pages that are
/// present in RAM, so a written page swapped out at that moment would keep one evaluation's
/// bytes for the next (wasmtime marks the option as still being evaluated). Isolation between
/// evaluations comes first.
const KEEP_RESIDENT: usize = 64 * 1024;

impl Runtime {
    /// Set up an engine for these limits. `cache_dir` holds compiled policies (None: no cache).
    pub fn new(limits: PolicyLimits, cache_dir: Option<PathBuf>) -> Result<Runtime, LoadError> {
        let engine_error = |e: wasmtime::Error| LoadError::Engine(format!("{e:#}"));
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_SLOTS)
            .total_core_instances(POOL_SLOTS * 8)
            .total_memories(POOL_SLOTS * 2)
            .total_tables(POOL_SLOTS * 8)
            .total_stacks(POOL_SLOTS)
            .max_memories_per_component(4)
            .max_tables_per_component(16)
            .max_core_instances_per_component(32)
            .max_memory_size(limits.memory_bytes.max(1 << 16))
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(64 * 1024);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(engine_error)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(engine_error)?;
        sandbox::forbid_waiting(&mut linker).map_err(engine_error)?;
        bindings::Policy::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(engine_error)?;

        // Deadlines are counted in ticks of a tenth of the deadline (at least 1 ms), so a
        // runaway guest is stopped between 90% and 100% of its deadline.
        let tick = (limits.deadline / 10).max(Duration::from_millis(1));
        let deadline_ticks = (limits.deadline.as_nanos() / tick.as_nanos()).max(1) as u64;
        let (stop, ticks) = mpsc::channel::<()>();
        let ticking = engine.clone();
        std::thread::Builder::new()
            .name("querygate-epoch".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = ticks.recv_timeout(tick) {
                    ticking.increment_epoch();
                }
            })
            .map_err(|e| LoadError::Engine(format!("cannot start the deadline ticker: {e}")))?;

        Ok(Runtime {
            engine,
            linker,
            limits,
            deadline_ticks,
            cache_dir,
            _ticker: stop,
        })
    }

    pub fn limits(&self) -> PolicyLimits {
        self.limits
    }

    /// Read, check, compile (or load from the cache) and link one policy.
    pub fn load(&self, spec: &PolicySpec) -> Result<LoadedPolicy, LoadError> {
        let bytes = std::fs::read(&spec.path).map_err(|error| LoadError::Read {
            name: spec.name.clone(),
            path: spec.path.clone(),
            error,
        })?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if let Some(expected) = &spec.sha256
            && !expected.eq_ignore_ascii_case(&sha256)
        {
            return Err(LoadError::HashMismatch {
                name: spec.name.clone(),
                path: spec.path.clone(),
                expected: expected.clone(),
                actual: sha256,
            });
        }
        let invalid = |component: Option<&Component>, e: wasmtime::Error| {
            let message = format!("{e:#}");
            LoadError::Invalid {
                name: spec.name.clone(),
                path: spec.path.clone(),
                advice: load_error::advice(&self.engine, component, &message),
                message,
            }
        };
        let component = match &self.cache_dir {
            Some(dir) => cache::component(&self.engine, dir, &sha256, &bytes),
            None => Component::new(&self.engine, &bytes),
        }
        .map_err(|e| invalid(None, e))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(bindings::PolicyPre::new)
            .map_err(|e| invalid(Some(&component), e))?;
        let config_json = match &spec.config {
            serde_json::Value::Object(_) => spec.config.to_string(),
            serde_json::Value::Null => "{}".to_string(),
            _ => {
                return Err(LoadError::Config {
                    name: spec.name.clone(),
                });
            }
        };
        Ok(LoadedPolicy {
            name: spec.name.clone(),
            sha256,
            mode: spec.mode,
            config_json,
            pre,
        })
    }

    /// Evaluate `statement` with `policy` in a fresh instance, under the limits.
    pub fn evaluate(
        &self,
        policy: &LoadedPolicy,
        statement: &Analysis,
        context: &Context,
    ) -> Evaluation {
        let started = Instant::now();
        let mut store = Store::new(
            &self.engine,
            GuestState::new(self.limits.memory_bytes, self.limits.log_bytes),
        );
        store.limiter(|state| state);
        store.set_epoch_deadline(self.deadline_ticks);
        store.epoch_deadline_trap();

        let result = policy.pre.instantiate(&mut store).and_then(|instance| {
            instance.call_evaluate(
                &mut store,
                &to_wit_statement(statement),
                &to_wit_context(context, &policy.config_json),
            )
        });
        let verdict = match result {
            Ok(verdict) => Ok(from_wit(verdict)),
            Err(error) => Err(self.fault(&store, &error)),
        };
        let elapsed = started.elapsed();
        let log = std::mem::take(
            &mut *store
                .data()
                .log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        Evaluation {
            verdict,
            elapsed,
            logs: log.lines,
            logs_dropped: log.dropped,
        }
    }

    fn fault(&self, store: &Store<GuestState>, error: &wasmtime::Error) -> Fault {
        if store.data().memory_exceeded {
            return Fault::Memory(self.limits.memory_bytes / (1024 * 1024));
        }
        if let Some(sandbox::Forbidden(why)) = error.downcast_ref::<sandbox::Forbidden>() {
            return Fault::Trap(why.to_string());
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Fault::Deadline(self.limits.deadline),
            Some(Trap::StackOverflow) => Fault::Trap("stack overflow".to_string()),
            Some(trap) => Fault::Trap(first_line(&trap.to_string())),
            None => {
                let text = first_line(&format!("{error:#}"));
                if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
                    Fault::Trap(format!("exited with status {}", exit.0))
                } else if text.contains("maximum concurrent") {
                    Fault::Trap(
                        "could not start: too many evaluations at once, try again".to_string(),
                    )
                } else {
                    // Not a trap inside the guest: the host could not read the guest's answer
                    // (an unknown variant case, invalid UTF-8, an out-of-bounds pointer).
                    Fault::Malformed(text)
                }
            }
        }
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

/// The guest's verdict as the chain's; the chain checks it ([`crate::chain::checked`]).
fn from_wit(verdict: wit::Verdict) -> Verdict {
    match verdict {
        wit::Verdict::Allow => Verdict::Allow,
        wit::Verdict::Rewrite(sql) => Verdict::Rewrite(sql),
        wit::Verdict::Reject(reason) => Verdict::Reject(reason),
    }
}

fn to_wit_statement(a: &Analysis) -> wit::Statement {
    wit::Statement {
        sql: a.sql.clone(),
        ast_json: a.ast_json.clone(),
        kind: match a.kind {
            StatementKind::Query => wit::StatementKind::Query,
            StatementKind::Explain => wit::StatementKind::Explain,
            StatementKind::Show => wit::StatementKind::Show,
        },
        relations: a
            .relations
            .iter()
            .map(|r| wit::Relation {
                schema: r.schema.clone(),
                name: r.name.clone(),
                alias: r.alias.clone(),
                known: r.known,
                columns: r
                    .columns
                    .iter()
                    .map(|c| wit::Column {
                        name: c.name.clone(),
                        data_type: c.data_type.clone(),
                    })
                    .collect(),
            })
            .collect(),
        functions: a
            .functions
            .iter()
            .map(|f| wit::FunctionCall {
                schema: f.schema.clone(),
                name: f.name.clone(),
                in_from: f.in_from,
            })
            .collect(),
        column_refs: a
            .column_refs
            .iter()
            .map(|c| wit::ColumnRef {
                qualifier: c.qualifier.clone(),
                name: c.name.clone(),
            })
            .collect(),
        limit: a.limit,
        limit_expr: a.limit_expr.clone(),
    }
}

fn to_wit_context(c: &Context, config: &str) -> wit::Context {
    wit::Context {
        database: c.database.clone(),
        database_user: c.database_user.clone(),
        database_name: c.database_name.clone(),
        client_name: c.client_name.clone(),
        tool: c.tool.clone(),
        config: config.to_string(),
    }
}

/// The default cache directory: `$XDG_CACHE_HOME/querygate` or `~/.cache/querygate`.
pub fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .map(|base| base.join("querygate"))
}
