//! The policy chain: one statement through the analysis and every policy in order, to a
//! [`Decision`]. There is one implementation, [`decide`], generic over how a policy is evaluated
//! ([`Policy`]): the host's pipeline passes WebAssembly components, the guest SDK's native test
//! runner passes plain Rust functions. Both therefore agree on every rule below, and so do
//! `querygate check` and a policy's `cargo test` on the same cases file.
//!
//! - The text is analysed (both parsers, the built-in guard); a refusal rejects, by `parse` or
//!   `guard`.
//! - Each policy sees the current statement. Its verdict is checked first ([`checked`]): a
//!   rejection's reason is cleaned of control characters and cut at 4 KiB; an empty reason or a
//!   rewrite to empty SQL is a malformed verdict, a fault.
//! - A fault rejects, by that policy, with advice on what to change.
//! - A rewrite is analysed again from scratch and is what the next policy sees. A rewrite that
//!   analysis refuses rejects, by the policy that wrote it. A rewrite whose canonical SQL is the
//!   statement it was given is not counted as a rewrite.
//! - A policy in monitor mode ([`Policy::enforced`] false) is evaluated and its step recorded
//!   (`enforced: false`), but the statement goes on as if it had allowed: its rejection, fault or
//!   rewrite changes nothing.
//!
//! Nothing here needs the Wasm runtime or a database, so it is built with the `grammar`
//! feature alone, which the SDK uses.

#[cfg(test)]
mod tests;
mod verdict;

use verdict::fault_reason;
pub use verdict::{MAX_REASON_BYTES, checked};

use crate::sql::{Analysis, Catalog, Refusal, RefusalClass, SqlLimits};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Where a statement comes from; what policies see besides the statement.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Context {
    pub database: String,
    pub database_user: String,
    pub database_name: String,
    pub client_name: String,
    pub tool: String,
}

/// A policy's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "detail", rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Rewrite(String),
    Reject(String),
}

/// Why a policy produced no usable verdict. Every fault rejects the statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    #[error("ran past its deadline of {0:?}")]
    Deadline(Duration),
    #[error("used more than its memory limit of {0} MiB")]
    Memory(usize),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("returned a malformed verdict: {0}")]
    Malformed(String),
}

/// Severity of a policy's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// One line a policy logged (through `log`, stdout or stderr).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
}

/// The result of one evaluation.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub verdict: Result<Verdict, Fault>,
    pub elapsed: Duration,
    pub logs: Vec<LogLine>,
    /// Log bytes dropped because of the cap.
    pub logs_dropped: usize,
}

impl Evaluation {
    /// A verdict reached in `elapsed`, with nothing logged.
    pub fn of(verdict: Verdict, elapsed: Duration) -> Self {
        Evaluation {
            verdict: Ok(verdict),
            elapsed,
            logs: Vec::new(),
            logs_dropped: 0,
        }
    }
}

/// One link of the chain: something with a name that turns a statement into a verdict.
pub trait Policy {
    /// The name cases files and `rejected_by` use.
    fn name(&self) -> &str;
    /// The sha256 of the module, when there is one (the audit log records it).
    fn sha256(&self) -> &str {
        ""
    }
    /// False in monitor mode: the verdict is recorded, and the statement goes on as if allowed.
    fn enforced(&self) -> bool {
        true
    }
    /// Evaluate `statement` in `context`. The chain checks the verdict ([`checked`]).
    fn evaluate(&self, statement: &Analysis, context: &Context) -> Evaluation;
}

impl<P: Policy + ?Sized> Policy for &P {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn sha256(&self) -> &str {
        (**self).sha256()
    }
    fn enforced(&self) -> bool {
        (**self).enforced()
    }
    fn evaluate(&self, statement: &Analysis, context: &Context) -> Evaluation {
        (**self).evaluate(statement, context)
    }
}

/// What happened to a statement, in the words cases files and the `check_query` tool use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "runtime", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Allowed unchanged.
    Allow,
    /// Allowed after at least one policy changed it.
    Rewrite,
    /// Rejected.
    Reject,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::Allow => "allow",
            Action::Rewrite => "rewrite",
            Action::Reject => "reject",
        })
    }
}

/// Who stopped a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", content = "name", rename_all = "lowercase")]
pub enum Rejector {
    /// The text could not be parsed, was empty, too large, or several statements.
    Parse,
    /// The built-in read-only guard.
    Guard,
    /// A policy, by name (its verdict, or its fault, or its rewrite failing analysis).
    Policy(String),
}

impl std::fmt::Display for Rejector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejector::Parse => f.write_str("parse"),
            Rejector::Guard => f.write_str("guard"),
            Rejector::Policy(name) => f.write_str(name),
        }
    }
}

/// What one policy did with the statement.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub policy: String,
    pub sha256: String,
    /// False for a policy in monitor mode: its verdict did not count.
    pub enforced: bool,
    /// The SQL the policy was shown.
    pub input_sql: String,
    #[serde(flatten)]
    pub verdict: StepVerdict,
    #[serde(serialize_with = "micros")]
    pub elapsed: Duration,
    pub logs: Vec<LogLine>,
    /// Log bytes dropped because of the cap.
    #[serde(skip)]
    pub logs_dropped: usize,
}

/// A policy's verdict, or the fault that replaced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "detail", rename_all = "lowercase")]
pub enum StepVerdict {
    Allow,
    Rewrite(String),
    Reject(String),
    Fault(String),
}

impl StepVerdict {
    /// Which of the four it is.
    pub fn kind(&self) -> StepKind {
        match self {
            StepVerdict::Allow => StepKind::Allow,
            StepVerdict::Rewrite(_) => StepKind::Rewrite,
            StepVerdict::Reject(_) => StepKind::Reject,
            StepVerdict::Fault(_) => StepKind::Fault,
        }
    }

    /// The rewritten SQL, the reason, or the fault.
    pub fn detail(&self) -> Option<&str> {
        match self {
            StepVerdict::Allow => None,
            StepVerdict::Rewrite(detail)
            | StepVerdict::Reject(detail)
            | StepVerdict::Fault(detail) => Some(detail),
        }
    }
}

/// What one policy's step came to, without its detail (the audit log and `check_query` name it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "runtime", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    Allow,
    Rewrite,
    Reject,
    Fault,
}

/// The decision on one statement.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub original_sql: String,
    pub steps: Vec<Step>,
    #[serde(flatten)]
    pub outcome: Outcome,
    #[serde(serialize_with = "micros")]
    pub elapsed: Duration,
    /// Relations and functions (`function name`) the statement names that the catalog does
    /// not know (a stale catalog, or a typo). The server reloads its catalog once and decides
    /// again when this is not empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown_relations: Vec<String>,
    /// The stamp of the catalog the decision was made with (`Catalog::freshness`): the
    /// statement runs only if the database's catalog is still in that state.
    #[serde(skip)]
    pub catalog_freshness: String,
}

/// Allowed (with the final analysis) or rejected (by whom, and why).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Outcome {
    Allowed {
        /// The final statement: its canonical SQL is what runs.
        #[serde(rename = "final")]
        analysis: Box<Analysis>,
        /// Policies that rewrote the statement, in order.
        rewritten_by: Vec<String>,
    },
    Rejected {
        #[serde(rename = "rejected_by")]
        by: Rejector,
        reason: String,
    },
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros() as u64)
}

impl Decision {
    /// The SQL that will run, when allowed.
    pub fn final_sql(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Allowed { analysis, .. } => Some(&analysis.sql),
            Outcome::Rejected { .. } => None,
        }
    }

    /// Allow, rewrite or reject.
    pub fn action(&self) -> Action {
        match &self.outcome {
            Outcome::Allowed { rewritten_by, .. } if rewritten_by.is_empty() => Action::Allow,
            Outcome::Allowed { .. } => Action::Rewrite,
            Outcome::Rejected { .. } => Action::Reject,
        }
    }

    /// A message for the person who sent the statement, when rejected.
    pub fn rejection(&self) -> Option<String> {
        match &self.outcome {
            Outcome::Allowed { .. } => None,
            Outcome::Rejected { by, reason } => Some(match by {
                Rejector::Parse | Rejector::Guard => reason.clone(),
                Rejector::Policy(name) => format!("rejected by policy `{name}`: {reason}"),
            }),
        }
    }
}

/// A name a cases file or a command asked for that no configured policy has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no policy named `{name}` is configured (configured: {configured})")]
pub struct UnknownPolicy {
    pub name: String,
    pub configured: String,
}

/// The policies named in `names`, kept in configured order.
pub fn select<'a, P: Policy>(
    policies: &'a [P],
    names: &[String],
) -> Result<Vec<&'a P>, UnknownPolicy> {
    if let Some(missing) = names
        .iter()
        .find(|name| !policies.iter().any(|p| p.name() == name.as_str()))
    {
        let configured: Vec<&str> = policies.iter().map(Policy::name).collect();
        return Err(UnknownPolicy {
            name: missing.clone(),
            configured: configured.join(", "),
        });
    }
    Ok(policies
        .iter()
        .filter(|p| names.iter().any(|name| name == p.name()))
        .collect())
}

/// What watches a decision from outside the chain: the server's telemetry times each analysis
/// (the policies it times itself, in their [`Policy::evaluate`]). The chain has no tracing of
/// its own: it is built with the `grammar` feature alone.
pub trait Observer {
    /// Run `analyze` on the statement as sent (`rewritten_by` None) or on the rewrite of the
    /// policy named, and return what it returns.
    fn analysis(
        &self,
        rewritten_by: Option<&str>,
        analyze: &mut dyn FnMut() -> Result<Analysis, Refusal>,
    ) -> Result<Analysis, Refusal> {
        let _ = rewritten_by;
        analyze()
    }
}

/// Nobody watching.
impl Observer for () {}

/// Run `sql` through the analysis and `policies` in order, and decide.
pub fn decide<P: Policy>(
    policies: &[P],
    sql: &str,
    catalog: &Catalog,
    context: &Context,
    limits: &SqlLimits,
) -> Decision {
    decide_observed(policies, sql, catalog, context, limits, &())
}

/// [`decide`], with each analysis run through `observer`.
pub fn decide_observed<P: Policy>(
    policies: &[P],
    sql: &str,
    catalog: &Catalog,
    context: &Context,
    limits: &SqlLimits,
    observer: &impl Observer,
) -> Decision {
    let started = Instant::now();
    let mut steps = Vec::with_capacity(policies.len());
    let mut unknown_relations = Vec::new();
    let analyze = |text: &str, rewritten_by: Option<&str>| {
        observer.analysis(rewritten_by, &mut || analyze(text, catalog, limits))
    };
    let outcome = run(
        policies,
        sql,
        &analyze,
        context,
        &mut steps,
        &mut unknown_relations,
    );
    Decision {
        original_sql: sql.to_string(),
        steps,
        outcome,
        elapsed: started.elapsed(),
        unknown_relations,
        catalog_freshness: catalog.freshness.clone(),
    }
}

/// Analyse a text: the statement as sent (None) or the rewrite of the policy named.
type Analyze<'a> = dyn Fn(&str, Option<&str>) -> Result<Analysis, Refusal> + 'a;

fn run<P: Policy>(
    policies: &[P],
    sql: &str,
    analyze: &Analyze<'_>,
    context: &Context,
    steps: &mut Vec<Step>,
    unknown_relations: &mut Vec<String>,
) -> Outcome {
    let mut analysis = match analyze(sql, None) {
        Ok(analysis) => analysis,
        Err(refusal) => {
            // A function the catalog does not know may have been created since it was
            // loaded: say so, and the server reloads and decides again.
            if let Some(name) = &refusal.unknown_function {
                unknown_relations.push(format!("function {name}"));
            }
            return Outcome::Rejected {
                by: refusal.class.into(),
                reason: refusal.message,
            };
        }
    };
    unknown_relations.extend(analysis.relations.iter().filter(|r| !r.known).map(
        |r| match &r.schema {
            Some(schema) => format!("{schema}.{}", r.name),
            None => r.name.clone(),
        },
    ));
    let mut rewritten_by = Vec::new();
    for policy in policies {
        let Evaluation {
            verdict,
            elapsed,
            logs,
            logs_dropped,
        } = policy.evaluate(&analysis, context);
        let verdict = verdict.and_then(checked);
        steps.push(Step {
            policy: policy.name().to_string(),
            sha256: policy.sha256().to_string(),
            enforced: policy.enforced(),
            input_sql: analysis.sql.clone(),
            verdict: match &verdict {
                Ok(Verdict::Allow) => StepVerdict::Allow,
                Ok(Verdict::Rewrite(sql)) => StepVerdict::Rewrite(sql.clone()),
                Ok(Verdict::Reject(reason)) => StepVerdict::Reject(reason.clone()),
                Err(fault) => StepVerdict::Fault(fault.to_string()),
            },
            elapsed,
            logs,
            logs_dropped,
        });
        let reject = |reason: String| Outcome::Rejected {
            by: Rejector::Policy(policy.name().to_string()),
            reason,
        };
        if !policy.enforced() {
            continue;
        }
        match verdict {
            Ok(Verdict::Allow) => {}
            Ok(Verdict::Reject(reason)) => return reject(reason),
            Err(fault) => return reject(fault_reason(&fault)),
            Ok(Verdict::Rewrite(new_sql)) => match analyze(&new_sql, Some(policy.name())) {
                Ok(new) => {
                    if new.sql != analysis.sql {
                        rewritten_by.push(policy.name().to_string());
                    }
                    analysis = new;
                }
                Err(refusal) => {
                    return reject(format!(
                        "its rewrite was refused ({}); fix the policy",
                        refusal.message
                    ));
                }
            },
        }
    }
    Outcome::Allowed {
        analysis: Box::new(analysis),
        rewritten_by,
    }
}

/// Both parsers and the guard on one text: see [`crate::sql::analyze`].
fn analyze(sql: &str, catalog: &Catalog, limits: &SqlLimits) -> Result<Analysis, Refusal> {
    crate::sql::analyze(sql, catalog, limits)
}

impl From<RefusalClass> for Rejector {
    fn from(class: RefusalClass) -> Self {
        match class {
            RefusalClass::Parse => Rejector::Parse,
            RefusalClass::Guard => Rejector::Guard,
        }
    }
}
