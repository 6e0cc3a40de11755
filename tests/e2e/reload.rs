//! Hot reload through `serve`, driven by a real MCP client: a changed policy configuration, an
//! added and a removed policy each serve the next call; a broken file changes nothing and is
//! audited; SIGHUP reloads when files are not watched.

use crate::serve::{audit_lines, call, connect, demo_postgres, structured, write_config};
use crate::support::{policies, querygate_bin};
use rmcp::ServiceExt;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// The text of a tool answer (rows or error) for one statement on `hr`.
async fn answer(client: &crate::serve::Client, sql: &str) -> Value {
    let result = call(client, "query", json!({"database": "hr", "sql": sql})).await;
    if result.is_error == Some(true) {
        json!({"error": serde_json::to_string(&result.content).unwrap_or_default()})
    } else {
        json!({"executed_sql": structured(&result)["executed_sql"]})
    }
}

/// Call until `done` says the answer is the one expected (a reload takes effect between calls,
/// at its own pace); fail with the last answer after a generous wait.
async fn eventually(client: &crate::serve::Client, sql: &str, done: impl Fn(&Value) -> bool) {
    let started = Instant::now();
    loop {
        let got = answer(client, sql).await;
        if done(&got) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no reload took effect for `{sql}`: {got}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn edit(config: &Path, edit: impl Fn(String) -> String) {
    let text = std::fs::read_to_string(config).expect("read config");
    // Written elsewhere and renamed over the file, as editors save.
    let tmp = config.with_extension("tmp");
    std::fs::write(&tmp, edit(text)).expect("write config");
    std::fs::rename(&tmp, config).expect("replace config");
}

fn deny_ssn_as(name: &str) -> String {
    format!(
        "\n[[policy]]\nname = \"{name}\"\npath = \"{}/deny_columns.wasm\"\n[policy.config.columns]\nemployees = [\"ssn\"]\n",
        policies().display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_configuration_serves_the_next_call_and_a_broken_one_changes_nothing() {
    let pg = demo_postgres().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &pg, true, "");
    let audit = dir.path().join("audit.jsonl");
    let client = connect(&config, &audit, ProtocolVersion::V_2025_06_18).await;
    let limited = |n: &'static str| {
        move |got: &Value| {
            got["executed_sql"]
                .as_str()
                .is_some_and(|s| s.ends_with(&format!("LIMIT {n}")))
        }
    };
    assert!(limited("100")(
        &answer(&client, "select id from employees").await
    ));

    // A policy's configuration changes.
    edit(&config, |t| t.replace("max_rows = 100", "max_rows = 5"));
    eventually(&client, "select id from employees", limited("5")).await;

    // A policy is removed: deny-columns no longer refuses ssn.
    edit(&config, |t| {
        let start = t
            .find("[[policy]]\nname = \"deny-columns\"")
            .expect("deny-columns");
        let end = start + t[start..].find("\n\n").expect("its end") + 2;
        format!("{}{}", &t[..start], &t[end..])
    });
    eventually(&client, "select ssn from employees limit 1", |got| {
        got.get("executed_sql").is_some()
    })
    .await;

    // A policy is added, under a new name.
    edit(&config, |t| t + &deny_ssn_as("no-ssn"));
    let by_no_ssn = |got: &Value| {
        got["error"]
            .as_str()
            .is_some_and(|e| e.contains("rejected by policy `no-ssn`"))
    };
    eventually(&client, "select ssn from employees limit 1", by_no_ssn).await;

    // A broken file: nothing changes, and the audit log says why.
    let before = audit_lines(&audit).len();
    edit(&config, |t| t + "\n[[policy]\nthis is not toml\n");
    let started = Instant::now();
    let failed = loop {
        let records = audit_lines(&audit);
        if let Some(failed) = records[before..]
            .iter()
            .find(|r| r["tool"] == "reload" && r["outcome"] == "error")
        {
            break failed.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no reload error audited"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let error = failed["error"].as_str().expect("the error");
    assert!(error.contains("keeps serving"), "{error}");
    assert!(by_no_ssn(
        &answer(&client, "select ssn from employees limit 1").await
    ));
    assert!(limited("5")(
        &answer(&client, "select id from employees").await
    ));
    client.cancel().await.expect("client stops");

    // Generations: each successful reload named its chain, and each call its generation.
    let records = audit_lines(&audit);
    let reloads: Vec<&Value> = records
        .iter()
        .filter(|r| r["tool"] == "reload" && r["outcome"] == "ok")
        .collect();
    assert!(reloads.len() >= 3, "{reloads:?}");
    let last = reloads.last().expect("a reload");
    let chain: Vec<&str> = last["chain"]
        .as_array()
        .expect("the chain")
        .iter()
        .map(|p| p["policy"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(chain, ["row-limit", "function-allowlist", "no-ssn"]);
    assert_eq!(records[0]["generation"], 1);
    let latest = last["generation"].as_u64().expect("a generation");
    let query = records
        .iter()
        .rev()
        .find(|r| r["tool"] == "query")
        .expect("a query");
    assert_eq!(query["generation"], latest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_when_files_are_not_watched() {
    let pg = demo_postgres().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &pg, true, "");
    let audit = dir.path().join("audit.jsonl");
    let transport = TokioChildProcess::new(
        tokio::process::Command::new(querygate_bin()).configure(|cmd| {
            cmd.arg("serve")
                .arg("--no-watch")
                .arg("--config")
                .arg(&config)
                .arg("--audit-log")
                .arg(&audit);
        }),
    )
    .expect("querygate serve starts");
    let pid = transport.id().expect("a pid");
    let client = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("e2e-client", "1.0"),
    )
    .serve(transport)
    .await
    .expect("MCP handshake");
    edit(&config, |t| t.replace("max_rows = 100", "max_rows = 7"));
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).expect("pid"),
        rustix::process::Signal::HUP,
    )
    .expect("SIGHUP");
    eventually(&client, "select id from employees", |got| {
        got["executed_sql"]
            .as_str()
            .is_some_and(|s| s.ends_with("LIMIT 7"))
    })
    .await;
    let reloads = audit_lines(&audit)
        .into_iter()
        .filter(|r| r["tool"] == "reload")
        .count();
    assert_eq!(reloads, 1, "one reload, from the signal");
    client.cancel().await.expect("client stops");
}
