//! The audit log: one JSON line per tool call, written and flushed before the reply is sent.
//!
//! A record says who asked (client), where (database, database user), what (the original SQL
//! and the final SQL), what every policy decided (with the module's sha256 and its time), and
//! how it ended (outcome, row count, truncation, error). Passwords never reach this module: it
//! only sees names and SQL.
//!
//! The format is versioned (`v`, described by `docs/audit-v1.schema.json`), and each record
//! carries the sha256 of the line before it (`prev`), so a deleted or edited line breaks the
//! chain where it was ([`chain`], `querygate audit verify`).

pub mod chain;

use crate::chain::{Decision, Outcome, StepKind};
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// The version of the record format (`v`).
pub const FORMAT_VERSION: u32 = 1;

/// Where audit lines go, and the hash of the last line written there.
pub struct AuditLog {
    out: Mutex<(Box<dyn Write + Send>, String)>,
}

/// One policy's part in a decision.
#[derive(Debug, Serialize)]
pub struct PolicyRecord {
    pub policy: String,
    pub sha256: String,
    pub verdict: StepKind,
    /// False for a policy in monitor mode: its verdict was recorded, not applied.
    pub enforced: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub micros: u64,
}

/// One policy of a generation a reload put in service.
#[derive(Debug, Serialize)]
pub struct ChainRecord {
    pub policy: String,
    pub sha256: String,
}

/// One audit line (without its `prev`, which [`AuditLog::write`] adds).
#[derive(Debug, Serialize)]
pub struct AuditRecord {
    /// [`FORMAT_VERSION`].
    pub v: u32,
    pub time: String,
    /// The configuration generation that served the call: 1 at start, one more per reload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// The operating-system user querygate runs as.
    pub os_user: String,
    /// The MCP client's name and version, from its handshake (or its request's metadata).
    pub client: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_version: Option<String>,
    /// For a Teleport database: the Teleport user and roles of the active `tsh` login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teleport_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teleport_roles: Option<Vec<String>>,
    pub tool: String,
    pub database: Option<String>,
    pub database_user: Option<String>,
    pub sql: Option<String>,
    pub final_sql: Option<String>,
    pub policies: Vec<PolicyRecord>,
    /// For a `reload` record: the policies, in order, of the generation now served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<Vec<ChainRecord>>,
    pub outcome: AuditOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcome {
    /// A tool without SQL answered.
    Ok,
    /// The statement was allowed (and not run: `check_query`, or not yet).
    Allowed,
    /// The guard or a policy rejected the statement.
    Rejected,
    /// The allowed statement ran (or was explained).
    Executed,
    /// The call failed: see `error`.
    Error,
}

impl AuditRecord {
    /// A record for `tool`, called by `client`, with nothing decided yet.
    pub fn new(client: &str, tool: &str) -> Self {
        AuditRecord {
            v: FORMAT_VERSION,
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            generation: None,
            os_user: os_user().to_string(),
            client: client.to_string(),
            client_version: None,
            teleport_user: None,
            teleport_roles: None,
            tool: tool.to_string(),
            database: None,
            database_user: None,
            sql: None,
            final_sql: None,
            policies: Vec::new(),
            chain: None,
            outcome: AuditOutcome::Ok,
            rejected_by: None,
            row_count: None,
            truncated: None,
            error: None,
        }
    }

    /// Fill in what the pipeline decided.
    pub fn decision(&mut self, decision: &Decision) {
        self.sql = Some(decision.original_sql.clone());
        self.policies = decision
            .steps
            .iter()
            .map(|step| PolicyRecord {
                policy: step.policy.clone(),
                sha256: step.sha256.clone(),
                verdict: step.verdict.kind(),
                enforced: step.enforced,
                detail: step.verdict.detail().map(str::to_string),
                micros: step.elapsed.as_micros() as u64,
            })
            .collect();
        match &decision.outcome {
            Outcome::Allowed { analysis, .. } => {
                self.final_sql = Some(analysis.sql.clone());
                self.outcome = AuditOutcome::Allowed;
            }
            Outcome::Rejected { by, .. } => {
                self.outcome = AuditOutcome::Rejected;
                self.rejected_by = Some(by.to_string());
                self.error = decision.rejection();
            }
        }
    }
}

/// The operating-system user: `$USER`, else `$LOGNAME`, else `uid N`.
fn os_user() -> &'static str {
    static USER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    USER.get_or_init(|| {
        ["USER", "LOGNAME"]
            .iter()
            .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| format!("uid {}", rustix::process::getuid().as_raw()))
    })
}

impl AuditLog {
    /// Audit to standard error; the chain starts afresh.
    pub fn stderr() -> Self {
        AuditLog {
            out: Mutex::new((Box::new(std::io::stderr()), chain::GENESIS.to_string())),
        }
    }

    /// Audit to a file, appending (created if missing); the chain continues from its last line.
    pub fn file(path: &Path) -> std::io::Result<Self> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let last = chain::last_line_hash(&mut file)?;
        Ok(AuditLog {
            out: Mutex::new((Box::new(file), last)),
        })
    }

    /// Write one record, chained to the line before it, and flush it. A failure to audit is
    /// returned so the caller can refuse to answer rather than answer unaudited.
    pub fn write(&self, record: &AuditRecord) -> std::io::Result<()> {
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (sink, prev) = &mut *out;
        let mut line = serde_json::to_vec(&chain::Chained { record, prev })?;
        let hash = chain::hash(&line);
        line.push(b'\n');
        sink.write_all(&line)?;
        sink.flush()?;
        *prev = hash;
        Ok(())
    }
}
