//! The WIT contract across versions: a component built against 0.1.0 still loads and decides
//! under this host (0.1.1), and 0.1.1's `sql.render` import renders an edited syntax tree back
//! to SQL for a policy, whose rewrite is then checked like any other.

use crate::support::{cache_dir, policy};
use querygate::pipeline::{Decision, Outcome, Pipeline, Rejector};
use querygate::policy::{Context, PolicyLimits, PolicySpec, Runtime};
use querygate::sql::{Catalog, SqlLimits};
use serde_json::{Value, json};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use std::sync::Arc;

fn chain(file_stem: &str, config: Value) -> Pipeline {
    let runtime =
        Arc::new(Runtime::new(PolicyLimits::default(), Some(cache_dir())).expect("runtime starts"));
    let spec = PolicySpec {
        name: file_stem.replace('_', "-"),
        path: policy(file_stem),
        sha256: None,
        config,
        mode: Default::default(),
    };
    let loaded = runtime
        .load(&spec)
        .unwrap_or_else(|e| panic!("{file_stem} loads: {e}"));
    Pipeline::new(runtime, vec![loaded], SqlLimits::default())
}

fn decide(pipeline: &Pipeline, sql: &str) -> Decision {
    pipeline.decide(sql, &Catalog::default(), &Context::default())
}

/// The rejection's reason, which must come from `policy`.
fn rejected_by(decision: &Decision, policy: &str) -> String {
    match &decision.outcome {
        Outcome::Rejected { by, reason } => {
            assert_eq!(*by, Rejector::Policy(policy.into()), "{reason}");
            reason.clone()
        }
        Outcome::Allowed { analysis, .. } => panic!("expected a rejection, got `{}`", analysis.sql),
    }
}

/// sqlparser's JSON tree of `sql`, as a policy would hand it to `sql.render`.
fn tree(sql: &str) -> String {
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses");
    serde_json::to_string(&statements[0]).expect("serializes")
}

#[test]
fn a_component_built_against_wit_0_1_0_loads_and_decides() {
    let component = std::fs::read(policy("compat_v0_1_0")).expect("built");
    let text = String::from_utf8_lossy(&component);
    assert!(
        text.contains("querygate:policy/types@0.1.0") && !text.contains("@0.1.1"),
        "compat-v0-1-0 must be built against 0.1.0 only"
    );
    let pipeline = chain("compat_v0_1_0", json!({}));
    let allowed = decide(&pipeline, "select 1");
    assert_eq!(
        allowed.final_sql(),
        Some("SELECT 1"),
        "{:?}",
        allowed.rejection()
    );
    let denied = decide(&pipeline, "select * from secrets");
    assert_eq!(
        rejected_by(&denied, "compat-v0-1-0"),
        "compat-v0-1-0: `secrets` is not readable"
    );
}

#[test]
fn render_gives_the_canonical_sql_of_an_edited_tree() {
    // The tree of another statement than the one decided: the policy edited it.
    let edited = tree("select name from employees where id = 7 limit 5");
    let pipeline = chain("fault", json!({"mode": "render", "sql": edited}));
    let decision = decide(&pipeline, "select name from employees");
    assert_eq!(
        decision.final_sql(),
        Some("SELECT name FROM employees WHERE id = 7 LIMIT 5"),
        "{:?}",
        decision.rejection()
    );
    match &decision.outcome {
        Outcome::Allowed { rewritten_by, .. } => assert_eq!(rewritten_by, &["fault"]),
        Outcome::Rejected { .. } => unreachable!("allowed above"),
    }
}

#[test]
fn a_tree_as_deep_as_the_guard_accepts_renders() {
    // A flat chain of operators is one level of the tree per operator; PostgreSQL's side of the
    // guard accepts about 55 (deeper trees render too: see the unit test in host/src/sql).
    let json = tree(&format!("select 1{}", "+1".repeat(50)));
    let pipeline = chain("fault", json!({"mode": "render", "sql": json}));
    let decision = decide(&pipeline, "select 2");
    let expected = format!("SELECT 1{}", " + 1".repeat(50));
    assert_eq!(
        decision.final_sql(),
        Some(expected.as_str()),
        "{:?}",
        decision.rejection()
    );
}

#[test]
fn a_rendered_tree_is_checked_like_any_rewrite() {
    // Rendering checks nothing; the rewrite it becomes meets the guard, and the policy that
    // wrote it is the one that rejects.
    let pipeline = chain(
        "fault",
        json!({"mode": "render", "sql": tree("delete from employees")}),
    );
    let reason = rejected_by(&decide(&pipeline, "select 1"), "fault");
    assert!(
        reason.starts_with(
            "its rewrite was refused (refused by the read-only guard: `DELETE` is not a \
             read-only statement"
        ),
        "{reason}"
    );
}

#[test]
fn a_tree_render_cannot_read_is_an_error_the_policy_sees() {
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    for (json, expected) in [
        ("", "render: the syntax tree is not a statement"),
        (
            "{\"Query\": 1}",
            "render: the syntax tree is not a statement",
        ),
        (
            deep.as_str(),
            "render: the syntax tree is nested 5000 levels deep in JSON",
        ),
    ] {
        let pipeline = chain("fault", json!({"mode": "render", "sql": json}));
        let reason = rejected_by(&decide(&pipeline, "select 1"), "fault");
        assert!(reason.starts_with(expected), "{expected}: {reason}");
    }
}
