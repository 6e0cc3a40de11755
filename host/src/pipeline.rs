//! The one path every statement takes, from raw text to the SQL that may run.
//!
//! raw-text limits → parse → exactly one statement → built-in guard, while PostgreSQL's
//! grammar reads the same text on another thread and must agree ([`sql::analyze`]) → each policy
//! in order → PostgreSQL's grammar reads the SQL that will
//! run as the same single read-only statement. A rewrite is analysed again from scratch (both
//! parsers, guard, facts) and is what the next policy sees; a policy fault rejects. A statement
//! only PostgreSQL's grammar can read is checked on its tree by the same rules and goes to the
//! policies without a sqlparser syntax tree (`ast_json` empty). The MCP tools, `querygate check` and `querygate eval` all call
//! [`Pipeline::decide`]; nothing reaches the database by another road.

use crate::policy::{Context, Evaluation, Fault, LoadedPolicy, LogLine, Runtime, Verdict};
use crate::sql::{self, Analysis, Catalog, Refusal, RefusalClass, SqlLimits};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A configured chain of policies and the limits they run under.
#[derive(Clone)]
pub struct Pipeline {
    runtime: Arc<Runtime>,
    policies: Vec<Arc<LoadedPolicy>>,
    sql_limits: SqlLimits,
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

impl From<RefusalClass> for Rejector {
    fn from(class: RefusalClass) -> Self {
        match class {
            RefusalClass::Parse => Rejector::Parse,
            RefusalClass::Guard => Rejector::Guard,
        }
    }
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
    /// The SQL the policy was shown.
    pub input_sql: String,
    #[serde(flatten)]
    pub verdict: StepVerdict,
    #[serde(serialize_with = "micros")]
    pub elapsed: Duration,
    pub logs: Vec<LogLine>,
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

/// Why a pipeline could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("no policy named `{0}` is configured (configured: {1})")]
    UnknownPolicy(String, String),
}

impl Pipeline {
    pub fn new(runtime: Arc<Runtime>, policies: Vec<LoadedPolicy>, sql_limits: SqlLimits) -> Self {
        Pipeline {
            runtime,
            policies: policies.into_iter().map(Arc::new).collect(),
            sql_limits,
        }
    }

    pub fn policies(&self) -> impl Iterator<Item = &LoadedPolicy> {
        self.policies.iter().map(|p| p.as_ref())
    }

    pub fn sql_limits(&self) -> &SqlLimits {
        &self.sql_limits
    }

    /// The same pipeline with only the named policies, kept in configured order.
    pub fn only(&self, names: &[String]) -> Result<Pipeline, PipelineError> {
        if let Some(missing) = names
            .iter()
            .find(|n| !self.policies.iter().any(|p| &p.name == *n))
        {
            let configured: Vec<&str> = self.policies.iter().map(|p| p.name.as_str()).collect();
            return Err(PipelineError::UnknownPolicy(
                missing.clone(),
                configured.join(", "),
            ));
        }
        Ok(Pipeline {
            runtime: self.runtime.clone(),
            policies: self
                .policies
                .iter()
                .filter(|p| names.contains(&p.name))
                .cloned()
                .collect(),
            sql_limits: self.sql_limits,
        })
    }

    /// Run `sql` through the whole path and decide.
    pub fn decide(&self, sql: &str, catalog: &Catalog, context: &Context) -> Decision {
        let started = Instant::now();
        let mut steps = Vec::with_capacity(self.policies.len());
        let mut unknown_relations = Vec::new();
        let outcome = self.run(sql, catalog, context, &mut steps, &mut unknown_relations);
        Decision {
            original_sql: sql.to_string(),
            steps,
            outcome,
            elapsed: started.elapsed(),
            unknown_relations,
            catalog_freshness: catalog.freshness.clone(),
        }
    }

    fn run(
        &self,
        sql: &str,
        catalog: &Catalog,
        context: &Context,
        steps: &mut Vec<Step>,
        unknown_relations: &mut Vec<String>,
    ) -> Outcome {
        let mut analysis = match self.analyze(sql, catalog) {
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
        unknown_relations.extend(analysis.relations.iter().filter(|r| !r.known).map(|r| {
            match &r.schema {
                Some(schema) => format!("{schema}.{}", r.name),
                None => r.name.clone(),
            }
        }));
        let mut rewritten_by = Vec::new();
        for policy in &self.policies {
            let Evaluation {
                verdict,
                elapsed,
                logs,
                logs_dropped,
            } = self.runtime.evaluate(policy, &analysis, context);
            for line in &logs {
                tracing::info!(policy = %policy.name, level = ?line.level, "{}", line.message);
            }
            if logs_dropped > 0 {
                tracing::warn!(policy = %policy.name, bytes = logs_dropped, "policy log capped");
            }
            let step_verdict = match &verdict {
                Ok(Verdict::Allow) => StepVerdict::Allow,
                Ok(Verdict::Rewrite(sql)) => StepVerdict::Rewrite(sql.clone()),
                Ok(Verdict::Reject(reason)) => StepVerdict::Reject(reason.clone()),
                Err(fault) => StepVerdict::Fault(fault.to_string()),
            };
            steps.push(Step {
                policy: policy.name.clone(),
                sha256: policy.sha256.clone(),
                input_sql: analysis.sql.clone(),
                verdict: step_verdict,
                elapsed,
                logs,
            });
            let reject = |reason: String| Outcome::Rejected {
                by: Rejector::Policy(policy.name.clone()),
                reason,
            };
            match verdict {
                Ok(Verdict::Allow) => {}
                Ok(Verdict::Reject(reason)) => return reject(reason),
                Err(fault) => return reject(fault_reason(&fault)),
                Ok(Verdict::Rewrite(new_sql)) => match self.analyze(&new_sql, catalog) {
                    Ok(new) => {
                        if new.sql != analysis.sql {
                            rewritten_by.push(policy.name.clone());
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

    /// Both parsers on one text: see [`sql::analyze`].
    fn analyze(&self, sql: &str, catalog: &Catalog) -> Result<Analysis, Refusal> {
        sql::analyze(sql, catalog, &self.sql_limits)
    }
}

fn fault_reason(fault: &Fault) -> String {
    let advice = match fault {
        Fault::Deadline(_) => "make the policy faster or raise `limits.policy_deadline_ms`",
        Fault::Memory(_) => "make the policy use less memory or raise `limits.policy_memory_mib`",
        Fault::Trap(_) | Fault::Malformed(_) => "fix the policy",
    };
    format!("the policy {fault}, so the statement is rejected; {advice}")
}
