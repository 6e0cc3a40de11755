//! The audit log: one JSON line per tool call, written and flushed before the reply is sent.
//!
//! A record says who asked (client), where (database, database user), what (the original SQL
//! and the final SQL), what every policy decided (with the module's sha256 and its time), and
//! how it ended (outcome, row count, truncation, error). Passwords never reach this module: it
//! only sees names and SQL.

use crate::chain::{Decision, Outcome, StepKind};
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// Where audit lines go.
pub struct AuditLog {
    out: Mutex<Box<dyn Write + Send>>,
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

/// One audit line.
#[derive(Debug, Serialize)]
pub struct AuditRecord {
    pub time: String,
    pub client: String,
    pub tool: String,
    pub database: Option<String>,
    pub database_user: Option<String>,
    pub sql: Option<String>,
    pub final_sql: Option<String>,
    pub policies: Vec<PolicyRecord>,
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
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            client: client.to_string(),
            tool: tool.to_string(),
            database: None,
            database_user: None,
            sql: None,
            final_sql: None,
            policies: Vec::new(),
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

impl AuditLog {
    /// Audit to standard error.
    pub fn stderr() -> Self {
        AuditLog {
            out: Mutex::new(Box::new(std::io::stderr())),
        }
    }

    /// Audit to a file, appending; created if missing.
    pub fn file(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(AuditLog {
            out: Mutex::new(Box::new(file)),
        })
    }

    /// Write one record and flush it. A failure to audit is returned so the caller can refuse
    /// to answer rather than answer unaudited.
    pub fn write(&self, record: &AuditRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        out.write_all(&line)?;
        out.flush()
    }
}
