//! Rolling a policy out: `mode = "monitor"` through `querygate serve` (the verdict is audited, not
//! enforced), then `querygate replay` of the audit log `serve` wrote, with the policy switched to
//! enforce: the report lists the statements that would now be rejected.

use crate::serve::{audit_lines, call, connect, demo_postgres, structured, write_config};
use crate::support::{policies, querygate, stdout};
use rmcp::model::ProtocolVersion;
use serde_json::{Value, json};
use std::path::Path;

/// The serve config of `write_config` with deny-columns first, in `mode`.
fn with_deny_columns(config: &Path, mode: &str, to: &Path) {
    let text = std::fs::read_to_string(config).expect("read config");
    let policy = format!(
        "[[policy]]\nname = \"deny-columns\"\npath = \"{}/deny_columns.wasm\"\nmode = \"{mode}\"\n\
         [policy.config.columns]\nemployees = [\"ssn\", \"salary\"]\n\n",
        policies().display()
    );
    std::fs::write(to, policy + &text).expect("write config");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_monitored_rejection_runs_and_replay_under_enforce_reports_it() {
    let pg = demo_postgres().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let base = write_config(dir.path(), &pg, false, "");
    let monitor = dir.path().join("monitor.toml");
    let enforce = dir.path().join("enforce.toml");
    with_deny_columns(&base, "monitor", &monitor);
    with_deny_columns(&base, "enforce", &enforce);
    let audit = dir.path().join("audit.jsonl");
    let client = connect(&monitor, &audit, ProtocolVersion::V_2025_06_18).await;

    let admin = pg.superuser_client().await.expect("superuser");
    let ssn: String = admin
        .query_one("SELECT ssn FROM employees WHERE id = 7", &[])
        .await
        .expect("the real value")
        .get(0);

    // The monitored policy would reject; the statement runs anyway, unchanged.
    let denied = "SELECT name, ssn FROM employees WHERE id = 7";
    let result = call(&client, "query", json!({"database": "hr", "sql": denied})).await;
    let out = structured(&result);
    assert_eq!(out["rows"][0][1], json!(ssn));
    assert_eq!(out["rewritten_by"], json!([]));
    let result = call(
        &client,
        "check_query",
        json!({"database": "hr", "sql": denied}),
    )
    .await;
    let out = structured(&result);
    assert_eq!(out["decision"], "allow");
    assert_eq!(out["policies"][0]["policy"], "deny-columns");
    assert_eq!(out["policies"][0]["verdict"], "reject");
    assert_eq!(out["policies"][0]["enforced"], false);
    let fine = "SELECT name FROM employees WHERE id = 7";
    structured(&call(&client, "query", json!({"database": "hr", "sql": fine})).await);
    client.cancel().await.expect("close");

    let lines = audit_lines(&audit);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["outcome"], "executed");
    assert_eq!(lines[0]["policies"][0]["verdict"], "reject");
    assert_eq!(lines[0]["policies"][0]["enforced"], false);
    assert!(
        lines[0]["policies"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("`employees.ssn` is not readable")),
        "{}",
        lines[0]
    );

    // Replayed under the same chain, nothing changes.
    let audit_arg = audit.to_str().expect("utf-8 path");
    let schema = crate::support::repo().join("policies/schema.sql");
    let schema = schema.to_str().expect("utf-8 path");
    let output = querygate(&[
        "replay",
        "--config",
        monitor.to_str().expect("utf-8"),
        "--schema",
        schema,
        audit_arg,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("0 of 3 statements would change"),
        "{}",
        stdout(&output)
    );

    // Enforced, the two statements that read ssn would now be rejected; the catalog comes from
    // the database, as serve saw it.
    let enforce = enforce.to_str().expect("utf-8");
    let output = querygate(&["replay", "--config", enforce, "--database", "hr", audit_arg]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("2 of 3 statements would change"), "{text}");
    assert!(text.contains("line 1 ("), "{text}");
    assert!(text.contains(&format!("sql     {denied}")), "{text}");
    assert!(text.contains("now rejected: 2"), "{text}");
    assert!(text.contains("by `deny-columns`: 2"), "{text}");
    assert!(!text.contains(fine), "{text}");

    let output = querygate(&[
        "replay", "--config", enforce, "--schema", schema, "--format", "json", audit_arg,
    ]);
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout(&output)).expect("JSON report");
    assert_eq!(report["statements"], 3);
    assert_eq!(report["changed"], 2);
    assert_eq!(report["by_policy"], json!({"deny-columns": 2}));
    assert_eq!(report["by_change"], json!({"now-rejected": 2}));
    let change = &report["changes"][0];
    assert_eq!(change["line"], 1);
    assert_eq!(change["tool"], "query");
    assert_eq!(change["client"], "e2e-client");
    assert_eq!(change["before"]["outcome"], "allowed");
    assert_eq!(change["after"]["outcome"], "rejected");
    assert_eq!(change["after"]["rejected_by"], "deny-columns");
    assert_eq!(report["changes"][1]["tool"], "check_query");

    // Could not run: exit 2.
    let missing = dir.path().join("missing.jsonl");
    let output = querygate(&[
        "replay",
        "--config",
        enforce,
        missing.to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(2));
}
