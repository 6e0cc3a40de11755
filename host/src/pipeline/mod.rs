//! The one path every statement takes, from raw text to the SQL that may run, as the server and
//! the commands run it: the [`chain`] over the configured WebAssembly components.
//!
//! raw-text limits → both parsers side by side (sqlparser and PostgreSQL's grammar, which must
//! agree) → the built-in guard → each policy in order; a rewrite is analysed again from scratch
//! and is what the next policy sees; a policy fault rejects. The MCP tools, `querygate check` and
//! `querygate eval` all call [`Pipeline::decide`]; nothing reaches the database by another road.

mod served;

pub use crate::chain::{Decision, Outcome, Rejector, Step, StepVerdict};
pub use served::{DatabaseEntry, DecideError};

use crate::chain::{self, Context, Evaluation, Policy};
use crate::policy::{LoadedPolicy, Runtime};
use crate::sql::{Analysis, Catalog, Refusal, SqlLimits};
use std::sync::Arc;

/// A configured chain of policies and the limits they run under.
#[derive(Clone)]
pub struct Pipeline {
    policies: Vec<Component>,
    sql_limits: SqlLimits,
}

/// A loaded component as a link of the [`chain`]: evaluated by the Wasm runtime.
#[derive(Clone)]
pub struct Component {
    runtime: Arc<Runtime>,
    policy: Arc<LoadedPolicy>,
}

impl Policy for Component {
    fn name(&self) -> &str {
        &self.policy.name
    }
    fn sha256(&self) -> &str {
        &self.policy.sha256
    }
    fn enforced(&self) -> bool {
        self.policy.mode == crate::policy::Mode::Enforce
    }
    fn evaluate(&self, statement: &Analysis, context: &Context) -> Evaluation {
        crate::telemetry::policy(self.name(), self.sha256(), self.enforced(), || {
            self.runtime.evaluate(&self.policy, statement, context)
        })
    }
}

/// Each analysis as a span of the call's trace, when telemetry is on ([`crate::telemetry`]).
struct Traced;

impl chain::Observer for Traced {
    fn analysis(
        &self,
        rewritten_by: Option<&str>,
        analyze: &mut dyn FnMut() -> Result<Analysis, Refusal>,
    ) -> Result<Analysis, Refusal> {
        crate::telemetry::analysis(rewritten_by, analyze)
    }
}

/// Why a pipeline could not be assembled.
pub type PipelineError = chain::UnknownPolicy;

impl Pipeline {
    pub fn new(runtime: Arc<Runtime>, policies: Vec<LoadedPolicy>, sql_limits: SqlLimits) -> Self {
        Pipeline {
            policies: policies
                .into_iter()
                .map(|policy| Component {
                    runtime: runtime.clone(),
                    policy: Arc::new(policy),
                })
                .collect(),
            sql_limits,
        }
    }

    pub fn policies(&self) -> impl Iterator<Item = &LoadedPolicy> {
        self.policies.iter().map(|c| c.policy.as_ref())
    }

    /// The chain's links, for [`crate::cases::run`].
    pub fn components(&self) -> &[Component] {
        &self.policies
    }

    pub fn sql_limits(&self) -> &SqlLimits {
        &self.sql_limits
    }

    /// The same pipeline with only the named policies, kept in configured order.
    pub fn only(&self, names: &[String]) -> Result<Pipeline, PipelineError> {
        Ok(Pipeline {
            policies: chain::select(&self.policies, names)?
                .into_iter()
                .cloned()
                .collect(),
            sql_limits: self.sql_limits,
        })
    }

    /// Run `sql` through the whole path and decide; the policies' log lines go to the log.
    pub fn decide(&self, sql: &str, catalog: &Catalog, context: &Context) -> Decision {
        let decision = chain::decide_observed(
            &self.policies,
            sql,
            catalog,
            context,
            &self.sql_limits,
            &Traced,
        );
        for step in &decision.steps {
            for line in &step.logs {
                tracing::info!(policy = %step.policy, level = ?line.level, "{}", line.message);
            }
            if step.logs_dropped > 0 {
                tracing::warn!(policy = %step.policy, bytes = step.logs_dropped, "policy log capped");
            }
            if !step.enforced && step.verdict != StepVerdict::Allow {
                tracing::warn!(
                    policy = %step.policy,
                    verdict = ?step.verdict.kind(),
                    detail = step.verdict.detail().unwrap_or_default(),
                    "monitor mode: not enforced"
                );
            }
        }
        decision
    }
}
