//! The corpora: realistic analytic SQL that must pass and run, and forbidden SQL that must be
//! refused (`tests/corpus/*.sql`, one entry per `-- name:` line).
//!
//! Legitimate statements go through the whole decision (sqlparser, the guard, PostgreSQL's
//! grammar, no policies) and the SQL that would run is then run on the demo data as the
//! read-only role, so a statement that passes but no longer means what it said shows up as a
//! failure. Forbidden statements must each be refused, with a reason.

use crate::support::postgres::{database, shared_url};
use querygate::pipeline::{Outcome, Pipeline};
use querygate::policy::{Context, PolicyLimits, Runtime};
use querygate::sql::{Catalog, SqlLimits};
use std::sync::Arc;

/// `(name, statement)` entries of a corpus file.
pub(crate) fn entries(file: &str) -> Vec<(String, String)> {
    let path = crate::support::repo().join("tests/corpus").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("-- name:") {
            entries.push((name.trim().to_string(), String::new()));
        } else if let Some((_, sql)) = entries.last_mut() {
            sql.push_str(line);
            sql.push('\n');
        }
    }
    for (name, sql) in &mut entries {
        *sql = sql.trim().to_string();
        assert!(!sql.is_empty(), "{file}: entry `{name}` is empty");
    }
    let mut names: Vec<_> = entries.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), entries.len(), "{file}: entry names repeat");
    entries
}

fn pipeline() -> Pipeline {
    let runtime = Arc::new(Runtime::new(PolicyLimits::default(), None).expect("runtime starts"));
    Pipeline::new(runtime, Vec::new(), SqlLimits::default())
}

fn demo_catalog() -> Catalog {
    let path = crate::support::repo().join("policies/schema.sql");
    let schema = std::fs::read_to_string(path).expect("policies/schema.sql");
    Catalog::from_schema_sql(&schema).expect("schema parses")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_legitimate_analytic_statement_passes_and_runs() {
    let corpus = entries("legit.sql");
    assert!(
        corpus.len() >= 150,
        "only {} legitimate statements",
        corpus.len()
    );
    let url = shared_url();
    let reader = url.replace("user='postgres'", "user='querygate_reader'");
    let db = database(&reader, |c| c.max_rows = 50);
    let pipeline = pipeline();
    let catalog = demo_catalog();
    let context = Context::default();
    let mut failures = Vec::new();
    let mut postgres_only = Vec::new();
    for (name, sql) in &corpus {
        let decision = pipeline.decide(sql, &catalog, &context);
        let analysis = match &decision.outcome {
            Outcome::Allowed { analysis, .. } => analysis,
            Outcome::Rejected { by, reason } => {
                failures.push(format!("{name}: refused by {by}: {reason}"));
                continue;
            }
        };
        if analysis.ast_json.is_empty() {
            postgres_only.push(name.as_str());
        }
        if let Err(e) = db.execute(&analysis.sql).await {
            failures.push(format!("{name}: `{}` failed to run: {e}", analysis.sql));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} legitimate statements failed:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );
    println!(
        "{} legitimate statements passed and ran; {} only PostgreSQL's grammar could read: {}",
        corpus.len(),
        postgres_only.len(),
        postgres_only.join(", ")
    );
}

#[test]
fn every_forbidden_statement_is_refused_with_a_reason() {
    let corpus = entries("forbidden.sql");
    assert!(
        corpus.len() >= 80,
        "only {} forbidden statements",
        corpus.len()
    );
    let pipeline = pipeline();
    let catalog = demo_catalog();
    let context = Context::default();
    let mut allowed = Vec::new();
    for (name, sql) in &corpus {
        let decision = pipeline.decide(sql, &catalog, &context);
        match &decision.outcome {
            Outcome::Allowed { analysis, .. } => {
                allowed.push(format!("{name}: allowed as `{}`", analysis.sql));
            }
            Outcome::Rejected { reason, .. } => {
                assert!(
                    reason.len() > 20,
                    "{name}: a reason that says little: {reason}"
                );
            }
        }
    }
    assert!(
        allowed.is_empty(),
        "{} of {} forbidden statements got through:\n{}",
        allowed.len(),
        corpus.len(),
        allowed.join("\n")
    );
}
