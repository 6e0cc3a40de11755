//! `{{name}}`: a querygate policy. It sees each statement after querygate has parsed it and
//! checked it with its read-only guard, and answers allow, rewrite or reject.
//!
//! This starting point shows one of each, driven by `[policy.config]` in querygate.toml:
//! - reject a statement that reads one of `denied_tables`;
//! - rewrite a query without LIMIT into one with `LIMIT max_rows`;
//! - allow everything else.

use querygate_policy::{Context, Policy, Statement, StatementKind, Verdict};
use serde::Deserialize;

/// `[policy.config]` of this policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The most rows a query may return; one without LIMIT gets this one.
    max_rows: u64,
    /// Tables no statement may read.
    #[serde(default)]
    denied_tables: Vec<String>,
}

struct ThisPolicy;

impl Policy for ThisPolicy {
    fn evaluate(statement: &Statement, context: &Context) -> Verdict {
        // A policy that cannot read its configuration refuses every statement.
        let config: Config = match querygate_policy::config(context) {
            Ok(config) => config,
            Err(reason) => return Verdict::Reject(reason),
        };
        if let Some(relation) = statement.relations.iter().find(|relation| {
            config
                .denied_tables
                .iter()
                .any(|table| table.eq_ignore_ascii_case(&relation.name))
        }) {
            return Verdict::Reject(format!(
                "table `{}` may not be read: ask for the data you need another way",
                relation.name
            ));
        }
        if statement.kind == StatementKind::Query && statement.limit_expr.is_none() {
            // querygate parses a rewrite again and checks it like any statement.
            return Verdict::Rewrite(format!("{} LIMIT {}", statement.sql, config.max_rows));
        }
        Verdict::Allow
    }
}

querygate_policy::export_policy!(ThisPolicy);
