//! What people read, pinned as snapshots (`tests/e2e/snapshots/`): the tool errors a client
//! shows, with the audit outcome each is recorded under, and the output of `check` and `eval`.
//! A change to any of them shows up as a snapshot diff to review, not as a silent drift.
//!
//! After an intended change: `INSTA_UPDATE=always cargo test --test e2e messages`, then review
//! the diff of the `.snap` files.

use crate::serve::{audit_lines, call, connect, demo_postgres, write_config};
use crate::support::{policies, querygate, repo, stdout};
use rmcp::model::ProtocolVersion;
use serde_json::{Value, json};
use std::fmt::Write as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_errors_say_what_happened_and_what_to_do() {
    let pg = demo_postgres().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &pg, true, "");
    let audit = dir.path().join("audit.jsonl");
    let client = connect(&config, &audit, ProtocolVersion::V_2025_06_18).await;

    let calls: [(&str, &'static str, Value); 11] = [
        (
            "an unknown database",
            "query",
            json!({"database": "nope", "sql": "select 1"}),
        ),
        (
            "no database named, two configured",
            "query",
            json!({"sql": "select 1"}),
        ),
        (
            "a wrong-typed argument",
            "query",
            json!({"database": "hr", "sql": 42}),
        ),
        (
            "a write",
            "query",
            json!({"database": "hr", "sql": "delete from employees"}),
        ),
        (
            "a side effect in a function",
            "query",
            json!({"database": "admin", "sql": "select pg_terminate_backend(1)"}),
        ),
        (
            "text that does not parse",
            "query",
            json!({"database": "hr", "sql": "select from where ("}),
        ),
        (
            "two statements",
            "query",
            json!({"database": "hr", "sql": "select 1; select 2"}),
        ),
        (
            "a policy's rejection",
            "query",
            json!({"database": "hr", "sql": "select ssn from employees"}),
        ),
        (
            "PostgreSQL's own error",
            "query",
            json!({"database": "hr", "sql": "select 1/0 as x limit 1"}),
        ),
        (
            "explain of a SHOW",
            "explain",
            json!({"database": "hr", "sql": "show search_path"}),
        ),
        (
            "an unknown table",
            "describe_table",
            json!({"database": "hr", "table": "nowhere"}),
        ),
    ];
    let mut report = String::new();
    for (what, tool, args) in calls {
        let result = call(&client, tool, args).await;
        assert_eq!(result.is_error, Some(true), "{what}: not a tool error");
        let text: Vec<&str> = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
            .collect();
        let _ = writeln!(report, "{what} ({tool}):\n  {}", text.join("\n  "));
    }
    client.cancel().await.expect("client stops");

    let _ = writeln!(report, "\naudit log (tool, outcome, rejected_by):");
    for record in audit_lines(&audit) {
        let _ = writeln!(
            report,
            "  {} {} {}",
            record["tool"].as_str().unwrap_or_default(),
            record["outcome"].as_str().unwrap_or_default(),
            record["rejected_by"].as_str().unwrap_or("-")
        );
    }
    insta::assert_snapshot!(report);
}

#[test]
fn check_and_eval_print_what_a_person_needs() {
    policies();
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = dir.path().join("cases.toml");
    std::fs::write(
        &cases,
        r#"
[[case]]
name = "rewritten as expected"
sql = "select name from employees"
expect = "rewrite"
sql_after = "SELECT name FROM employees LIMIT 100"

[[case]]
name = "expects allow, gets rewrite"
sql = "select name from employees"
expect = "allow"

[[case]]
name = "expects a rejection by the wrong policy, with another reason"
sql = "select ssn from employees where id = 1"
expect = "reject"
rejected_by = "row-limit"
reason = "not this reason"

[[case]]
name = "expects a rejection, gets allow"
sql = "select 1"
expect = "reject"
"#,
    )
    .expect("write cases");
    let cases = cases.display().to_string();
    let chain = [
        "--config",
        "policies/querygate.toml",
        "--schema",
        "policies/schema.sql",
    ];

    let mut args = vec!["check"];
    args.extend(chain);
    args.push(&cases);
    let check = querygate(&args);
    assert_eq!(check.status.code(), Some(1));

    let mut eval = String::new();
    for sql in [
        "select name from employees",
        "select ssn from employees",
        "update employees set name = 'x'",
    ] {
        let mut args = vec!["eval"];
        args.extend(chain);
        args.push(sql);
        eval.push_str(&stdout(&querygate(&args)));
        eval.push('\n');
    }

    let (dir_pattern, repo_pattern) = (
        regex_escape(&dir.path().display().to_string()),
        regex_escape(&repo().display().to_string()),
    );
    insta::with_settings!({filters => vec![
        (dir_pattern.as_str(), "[dir]"),
        (repo_pattern.as_str(), "[repo]"),
        (r"\(\d+ µs\)", "(… µs)"),
    ]}, {
        insta::assert_snapshot!("check", stdout(&check));
        insta::assert_snapshot!("eval", eval);
    });
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}
