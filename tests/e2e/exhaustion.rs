//! Resource exhaustion through `querygate serve`: pathological statements, huge results, many
//! parallel calls and bytes that are not UTF-8. Each gets a clear error or a capped result, the
//! server's memory stays bounded, and it keeps answering.

use crate::serve::{call, connect, demo_postgres, error_text, structured, write_config};
use crate::support::querygate_bin;
use rmcp::model::{CallToolRequestParams, ProtocolVersion};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

/// Peak resident memory of a process, in MiB (`VmHWM`).
fn peak_rss_mib(pid: u32) -> u64 {
    crate::support::proc_status_kib(pid, "VmHWM") / 1024
}

#[tokio::test(flavor = "multi_thread")]
async fn pathological_input_gets_clear_errors_and_the_server_keeps_answering() {
    let pg = demo_postgres().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &pg,
        false,
        "max_rows = 1000\nmax_bytes = 1048576",
    );
    let audit = dir.path().join("audit.jsonl");
    let client = connect(&config, &audit, ProtocolVersion::V_2025_06_18).await;

    let five_mb = format!("SELECT '{}'", "x".repeat(5 * 1024 * 1024));
    let parens = format!("SELECT {}1{}", "(".repeat(20_000), ")".repeat(20_000));
    for (sql, says) in [
        (five_mb.as_str(), "over the limit"),
        (parens.as_str(), "nested"),
        ("SELECT 1\0; DELETE FROM employees", "NUL byte"),
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("-- only a comment", "empty"),
        ("/* only a comment */", "empty"),
    ] {
        let result = call(&client, "query", json!({"database": "hr", "sql": sql})).await;
        let text = error_text(&result);
        assert!(
            text.contains(says),
            "{}…: {text}",
            sql.chars().take(40).collect::<String>()
        );
    }

    // A 500 MB value: the result stops before it, truncated, and is never buffered whole.
    let result = call(
        &client,
        "query",
        json!({"database": "hr", "sql": "SELECT 1 AS n, '' AS v UNION ALL SELECT 2, repeat('x', 500000000)"}),
    )
    .await;
    let out = structured(&result);
    assert_eq!(out["truncated"], true, "{out}");
    assert!(out["row_count"].as_u64().is_some_and(|n| n <= 1), "{out}");

    // A hundred million rows, capped at max_rows.
    let result = call(
        &client,
        "query",
        json!({"database": "hr", "sql": "SELECT n FROM generate_series(1, 100000000) AS n"}),
    )
    .await;
    let out = structured(&result);
    assert_eq!(out["truncated"], true);

    // Fifty calls at once: every one is answered (the pool queues what it cannot serve).
    let calls: Vec<_> = (0..50)
        .map(|i| {
            let peer = client.peer().clone();
            tokio::spawn(async move {
                let sql = format!("SELECT {i} AS i, count(*) FROM events WHERE id % 50 = {i}");
                let Value::Object(args) = json!({"database": "hr", "sql": sql}) else {
                    unreachable!()
                };
                let result = peer
                    .call_tool(CallToolRequestParams::new("query").with_arguments(args))
                    .await
                    .expect("answered");
                structured(&result)["rows"][0][0].clone()
            })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.expect("the call task finishes"));
    }
    assert_eq!(answers, (0..50).map(|i| json!(i)).collect::<Vec<Value>>());

    // Still answering, with bounded memory.
    let result = call(
        &client,
        "query",
        json!({"database": "hr", "sql": "SELECT 1 AS one"}),
    )
    .await;
    assert_eq!(structured(&result)["rows"], json!([[1]]));
    let audit_lines = std::fs::read_to_string(&audit)
        .expect("audit log")
        .lines()
        .count();
    assert_eq!(audit_lines, 7 + 2 + 50 + 1, "one audit line per call");
    client.cancel().await.expect("close");
}

/// Bytes that are not UTF-8 in a JSON-RPC line get an error, and the session goes on.
#[test]
fn invalid_utf8_on_stdin_does_not_end_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(querygate_bin())
        .args(["serve", "--database", "hr=host=/nonexistent dbname=x"])
        .env("XDG_CACHE_HOME", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("querygate serve starts");
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut send = |line: &[u8]| {
        stdin.write_all(line).expect("write");
        stdin.write_all(b"\n").expect("write");
        stdin.flush().expect("flush");
    };
    let mut read = || {
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read");
        serde_json::from_str::<Value>(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    };
    send(br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#);
    assert_eq!(read()["id"], 1);
    send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    // A tool call whose SQL holds bytes that are not UTF-8.
    send(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"query\",\"arguments\":{\"sql\":\"SELECT '\xff\xfe'\"}}}");
    send(br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_databases","arguments":{}}}"#);
    // The bad line gets an answer that says what happened; the next call is answered too.
    let (first, second) = (read(), read());
    let (bad, answer) = if first["id"] == 2 {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(bad["id"], 2, "{bad}");
    assert_eq!(bad["result"]["isError"], true, "{bad}");
    let text = bad["result"]["content"][0]["text"].as_str().unwrap_or("");
    assert!(text.contains("not valid UTF-8"), "{bad}");
    assert_eq!(answer["id"], 3, "{answer}");
    assert_eq!(
        answer["result"]["structuredContent"]["databases"][0]["name"], "hr",
        "{answer}"
    );
    assert!(
        peak_rss_mib(pid) < 200,
        "peak RSS {} MiB",
        peak_rss_mib(pid)
    );
    drop(stdin);
    let status = child.wait().expect("exits");
    assert!(status.success(), "{status}");
}
