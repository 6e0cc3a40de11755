//! The audit log as a security team relies on it: who asked, joinable with the server's own
//! views, every record valid against the checked-in schema, and a hash chain that
//! `querygate audit verify` checks across restarts and that breaks where a line was removed or
//! edited.

use crate::serve::{audit_lines, call, connect, demo_postgres, structured, write_config};
use crate::support::{querygate, repo, stdout};
use rmcp::model::ProtocolVersion;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_names_who_asked_and_its_chain_shows_tampering() {
    let pg = demo_postgres().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &pg, true, "");
    let audit = dir.path().join("audit.jsonl");

    for run in 0..2 {
        // A second server appends to the same log, continuing its chain.
        let client = connect(&config, &audit, ProtocolVersion::V_2025_06_18).await;
        // The session names the client, so the server's views join with the audit log.
        let result = call(
            &client,
            "query",
            json!({"database": "hr", "sql":
                "SELECT application_name FROM pg_stat_activity WHERE state = 'active' \
                 AND backend_type = 'client backend'"}),
        )
        .await;
        assert_eq!(structured(&result)["rows"][0][0], "querygate/e2e-client");
        call(
            &client,
            "query",
            json!({"database": "hr", "sql": "select ssn from employees"}),
        )
        .await;
        call(&client, "list_tables", json!({"database": "hr"})).await;
        call(
            &client,
            "query",
            json!({"database": "nope", "sql": "select 1"}),
        )
        .await;
        client.cancel().await.expect("client stops");
        let records = audit_lines(&audit);
        assert_eq!(records.len(), 4 * (run + 1));
    }

    let records = audit_lines(&audit);
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default();
    for record in &records {
        assert_eq!(record["v"], 1);
        assert_eq!(record["client"], "e2e-client");
        assert_eq!(record["client_version"], "1.0");
        if !user.is_empty() {
            assert_eq!(record["os_user"], user.as_str());
        }
    }
    assert_eq!(records[0]["database_user"], "querygate_reader");
    let outcomes: Vec<&str> = records[..4]
        .iter()
        .map(|r| r["outcome"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(outcomes, ["executed", "rejected", "ok", "error"]);

    // Every record is valid against docs/audit-v1.schema.json (the Python SDK's venv has
    // jsonschema, see tests/interop/).
    let python = repo().join("tests/interop/.venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `python3 -m venv tests/interop/.venv && \
         tests/interop/.venv/bin/pip install -r tests/interop/requirements.txt`",
        python.display()
    );
    let validated = std::process::Command::new(&python)
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             jsonschema.Draft202012Validator.check_schema(schema)\n\
             v = jsonschema.Draft202012Validator(schema)\n\
             n = 0\n\
             for line in open(sys.argv[2]):\n\
             \x20   errors = list(v.iter_errors(json.loads(line)))\n\
             \x20   assert not errors, [e.message for e in errors]\n\
             \x20   n += 1\n\
             print(n)",
        ])
        .arg(repo().join("docs/audit-v1.schema.json"))
        .arg(&audit)
        .output()
        .expect("python runs");
    assert!(
        validated.status.success(),
        "{}",
        String::from_utf8_lossy(&validated.stderr)
    );
    assert_eq!(stdout(&validated).trim(), "8");

    // The chain is intact across the restart.
    let path = audit.display().to_string();
    let verified = querygate(&["audit", "verify", &path]);
    assert_eq!(verified.status.code(), Some(0), "{}", stdout(&verified));
    assert!(
        stdout(&verified).contains("intact, 8 lines chained"),
        "{}",
        stdout(&verified)
    );
    assert_eq!(records[0]["prev"], "0".repeat(64));

    // Remove a line, or edit one: verify names where the chain breaks.
    let text = std::fs::read_to_string(&audit).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    let without: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 4)
        .map(|(_, l)| *l)
        .collect();
    std::fs::write(&audit, without.join("\n") + "\n").expect("write");
    let broken = querygate(&["audit", "verify", &path]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        stdout(&broken).contains("broken at line 5:"),
        "{}",
        stdout(&broken)
    );

    let edited: Vec<String> = lines
        .iter()
        .map(|l| l.replace("\"outcome\":\"rejected\"", "\"outcome\":\"executed\""))
        .collect();
    std::fs::write(&audit, edited.join("\n") + "\n").expect("write");
    let broken = querygate(&["audit", "verify", &path]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        stdout(&broken).contains("broken at line 3:"),
        "{}",
        stdout(&broken)
    );
}
