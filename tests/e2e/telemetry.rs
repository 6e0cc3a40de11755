//! OpenTelemetry export through `serve --otlp`, driven by a real MCP client, received by an
//! OTLP/HTTP receiver the test runs itself: a trace per tool call with its analysis, policy and
//! execute spans; decision counts, policy durations and rows as metrics, sent while serving;
//! the last spans sent when the session ends. Without `--otlp`, nothing is sent, even with the
//! standard OTLP environment variables set.

use crate::serve::{call, demo_postgres, error_text, structured, write_config};
use crate::support::otlp::Receiver;
use crate::support::pki::Pki;
use crate::support::{policy, querygate_bin};
use querygate::localpg::LocalPostgres;
use rmcp::ServiceExt;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What every test here serves: the demo data on a throwaway PostgreSQL, and a configuration
/// with the example policies (in a directory that lives as long as the test).
struct Setup {
    _pg: LocalPostgres,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

async fn setup() -> Setup {
    let pg = demo_postgres().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &pg, true, "");
    Setup {
        _pg: pg,
        _dir: dir,
        config,
    }
}

/// `serve` on `config` with `args` and `env`; the child is ours, to wait for its exit.
async fn serve(
    config: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (crate::serve::Client, tokio::process::Child) {
    let mut child = tokio::process::Command::new(querygate_bin())
        .arg("serve")
        .arg("--config")
        .arg(config)
        .arg("--audit-log")
        .arg(config.with_file_name("audit.jsonl"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("querygate serve starts");
    let (stdout, stdin) = (
        child.stdout.take().expect("stdout"),
        child.stdin.take().expect("stdin"),
    );
    let client = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("e2e-client", "1.0"),
    )
    .serve((stdout, stdin))
    .await
    .expect("MCP handshake");
    (client, child)
}

/// Close the session (stdin) and wait for the server to exit cleanly.
async fn close(client: crate::serve::Client, mut child: tokio::process::Child) {
    client.cancel().await.expect("client stops");
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("serve exits once stdin is closed")
        .expect("wait");
    assert!(status.success(), "serve exited with {status}");
}

/// An OTLP attribute list as a map of plain JSON values.
fn attributes(item: &Value) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    for kv in item["attributes"].as_array().into_iter().flatten() {
        let value = &kv["value"];
        let plain = if let Some(s) = value.get("stringValue") {
            s.clone()
        } else if let Some(b) = value.get("boolValue") {
            b.clone()
        } else if let Some(i) = value.get("intValue") {
            // int64 is a string in OTLP's JSON mapping; accept a number too.
            json!(
                i.as_i64()
                    .or_else(|| i.as_str().and_then(|s| s.parse().ok()))
            )
        } else {
            value.clone()
        };
        map.insert(kv["key"].as_str().expect("a key").to_string(), plain);
    }
    map
}

fn number(value: &Value) -> u64 {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

/// Every span received.
fn spans(bodies: &[Value]) -> Vec<Value> {
    let mut spans = Vec::new();
    for body in bodies {
        for resource in body["resourceSpans"].as_array().into_iter().flatten() {
            let service = attributes(&resource["resource"])["service.name"].clone();
            assert_eq!(service, "querygate", "the service name");
            for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                spans.extend(scope["spans"].as_array().into_iter().flatten().cloned());
            }
        }
    }
    spans
}

/// The data points of metric `name` in the latest body that has it (each export is
/// cumulative).
fn points(bodies: &[Value], name: &str) -> Vec<Value> {
    let mut latest = Vec::new();
    for body in bodies {
        for resource in body["resourceMetrics"].as_array().into_iter().flatten() {
            for scope in resource["scopeMetrics"].as_array().into_iter().flatten() {
                for metric in scope["metrics"].as_array().into_iter().flatten() {
                    if metric["name"] == name {
                        let data = metric
                            .get("sum")
                            .or_else(|| metric.get("histogram"))
                            .expect("a sum or a histogram");
                        latest = data["dataPoints"].as_array().cloned().unwrap_or_default();
                    }
                }
            }
        }
    }
    latest
}

/// `querygate.decisions` by outcome, as received so far.
fn decisions(bodies: &[Value]) -> BTreeMap<String, u64> {
    points(bodies, "querygate.decisions")
        .iter()
        .map(|p| {
            let outcome = attributes(p)["querygate.outcome"].clone();
            (
                outcome.as_str().expect("an outcome").to_string(),
                number(&p["asInt"]),
            )
        })
        .collect()
}

fn sha256_of(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("read policy");
    let digest = <sha2::Sha256 as sha2::Digest>::digest(&bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tool_call_is_a_trace_and_decisions_are_counted_by_outcome() {
    let Setup { config, .. } = &setup().await;
    let receiver = Receiver::start().await;
    let endpoint = receiver.endpoint();
    let (client, child) = serve(
        config,
        &["--otlp", &endpoint],
        // Metrics every 200 ms; spans only in a batch that is never due, so those that arrive
        // were sent when the session ended.
        &[
            ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ],
    )
    .await;

    let query =
        async |sql: &str| call(&client, "query", json!({"database": "hr", "sql": sql})).await;
    let allowed = query("SELECT id, name FROM departments ORDER BY id LIMIT 2").await;
    assert_eq!(structured(&allowed)["row_count"], 2);
    let rewritten = query("select id from employees order by id").await;
    assert_eq!(structured(&rewritten)["rewritten_by"], json!(["row-limit"]));
    let rejected = query("SELECT name, ssn FROM employees LIMIT 5").await;
    assert!(error_text(&rejected).contains("rejected by policy `deny-columns`"));

    // Metrics arrive while the server runs.
    let expected: BTreeMap<String, u64> = [("allowed", 1), ("rejected", 1), ("rewritten", 1)]
        .map(|(k, v)| (k.to_string(), v))
        .into();
    receiver
        .wait_for("/v1/metrics", "decision counts", |bodies| {
            decisions(bodies) == expected
        })
        .await;
    assert!(receiver.bodies("/v1/traces").is_empty());
    close(client, child).await;

    // Metrics: by outcome (a rejection says by whom), each policy's duration, rows.
    let metrics = receiver.bodies("/v1/metrics");
    assert_eq!(decisions(&metrics), expected);
    for point in points(&metrics, "querygate.decisions") {
        let attrs = attributes(&point);
        assert_eq!(attrs["querygate.tool"], "query");
        let by = attrs.get("querygate.rejected_by");
        match attrs["querygate.outcome"].as_str() {
            Some("rejected") => assert_eq!(by, Some(&json!("deny-columns"))),
            _ => assert_eq!(by, None),
        }
    }
    let mut evaluations: BTreeMap<String, u64> = BTreeMap::new();
    for point in points(&metrics, "querygate.policy.duration") {
        let name = attributes(&point)["querygate.policy.name"].clone();
        *evaluations
            .entry(name.as_str().expect("a name").to_string())
            .or_default() += number(&point["count"]);
    }
    assert_eq!(
        evaluations,
        [
            ("deny-columns", 3),
            ("function-allowlist", 2),
            ("row-limit", 3)
        ]
        .map(|(k, v)| (k.to_string(), v))
        .into()
    );
    let rows = points(&metrics, "querygate.rows");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(number(&rows[0]["count"]), 2);
    assert_eq!(
        rows[0]["sum"].as_f64(),
        Some(102.0),
        "a histogram's sum is a double"
    );

    // Traces, sent when the session ended: one per call, its spans children of the call's.
    let spans = spans(&receiver.bodies("/v1/traces"));
    let roots: Vec<&Value> = spans
        .iter()
        .filter(|s| s["parentSpanId"].as_str().unwrap_or_default().is_empty())
        .collect();
    assert_eq!(roots.len(), 3, "{roots:#?}");
    let mut traces = Vec::new();
    for root in &roots {
        assert_eq!(root["name"], "tools/call query");
        let mut children: Vec<&Value> = spans
            .iter()
            .filter(|s| s["traceId"] == root["traceId"] && s["spanId"] != root["spanId"])
            .collect();
        for child in &children {
            assert_eq!(child["parentSpanId"], root["spanId"], "{child:#}");
        }
        children.sort_by_key(|s| number(&s["startTimeUnixNano"]));
        traces.push((*root, children));
    }
    let traced: usize = traces.iter().map(|(_, c)| c.len() + 1).sum();
    assert_eq!(traced, spans.len(), "every span is in one call's trace");
    traces.sort_by_key(|(root, _)| number(&root["startTimeUnixNano"]));

    let sha = |stem: &str| json!(sha256_of(&policy(stem)));
    // What each child span says: its name and the attributes a user filters on.
    let summary = |children: &[&Value]| -> Vec<Value> {
        children
            .iter()
            .map(|s| {
                let a = attributes(s);
                match s["name"].as_str() {
                    Some("policy") => {
                        let stem = a["querygate.policy.name"]
                            .as_str()
                            .expect("a name")
                            .replace('-', "_");
                        assert_eq!(a["querygate.policy.sha256"], sha(&stem));
                        assert_eq!(a["querygate.policy.enforced"], true);
                        json!([
                            "policy",
                            a["querygate.policy.name"],
                            a["querygate.policy.verdict"]
                        ])
                    }
                    Some("analyze") => {
                        json!(["analyze", a.get("querygate.rewritten_by")])
                    }
                    Some("execute") => {
                        assert_eq!(a["querygate.database"], "hr");
                        json!(["execute", a["db.response.returned_rows"]])
                    }
                    other => panic!("unexpected span {other:?}"),
                }
            })
            .collect()
    };
    let outcome = |root: &Value| attributes(root)["querygate.outcome"].clone();

    let (root, children) = &traces[0];
    assert_eq!(outcome(root), "allowed");
    assert_eq!(
        summary(children),
        [
            json!(["analyze", null]),
            json!(["policy", "row-limit", "allow"]),
            json!(["policy", "deny-columns", "allow"]),
            json!(["policy", "function-allowlist", "allow"]),
            json!(["execute", 2]),
        ]
    );
    let (root, children) = &traces[1];
    assert_eq!(outcome(root), "rewritten");
    assert_eq!(
        summary(children),
        [
            json!(["analyze", null]),
            json!(["policy", "row-limit", "rewrite"]),
            json!(["analyze", "row-limit"]),
            json!(["policy", "deny-columns", "allow"]),
            json!(["policy", "function-allowlist", "allow"]),
            json!(["execute", 100]),
        ]
    );
    // Rejected: the chain stops at deny-columns, nothing runs, and the call is an error.
    let (root, children) = &traces[2];
    assert_eq!(outcome(root), "rejected");
    assert_eq!(root["status"]["code"], 2, "STATUS_CODE_ERROR: {root:#}");
    assert_eq!(
        summary(children),
        [
            json!(["analyze", null]),
            json!(["policy", "row-limit", "allow"]),
            json!(["policy", "deny-columns", "reject"]),
        ]
    );
    for (root, _) in &traces[..2] {
        assert_ne!(root["status"]["code"], 2, "{root:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_otlp_nothing_is_sent_even_with_the_standard_variables_set() {
    let Setup { config, .. } = &setup().await;
    let receiver = Receiver::start().await;
    let endpoint = receiver.endpoint();
    let (client, child) = serve(
        config,
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_METRIC_EXPORT_INTERVAL", "100"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    let result = call(
        &client,
        "query",
        json!({"database": "hr", "sql": "select id from employees order by id"}),
    )
    .await;
    assert_eq!(structured(&result)["row_count"], 100);
    // Several export intervals, then the end of the session, when an exporter would flush.
    tokio::time::sleep(Duration::from_millis(500)).await;
    close(client, child).await;
    assert_eq!(receiver.connections(), 0);
}

/// Over `https://`, spans reach a collector whose certificate chains to a root the system
/// trusts (here `SSL_CERT_FILE`, which the exporter reads like the system's roots), and never
/// one it cannot verify; either way the call is answered and the session ends cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_only_a_collector_with_a_trusted_certificate_receives() {
    let Setup { config, .. } = &setup().await;
    let pki = Pki::for_names(&["127.0.0.1"]);
    let receiver = Receiver::start_tls(&pki).await;
    let endpoint = receiver.endpoint();
    assert!(endpoint.starts_with("https://"), "{endpoint}");
    for (roots, trusted) in [("other-ca.pem", false), ("ca.pem", true)] {
        let connections = receiver.connections();
        let (client, child) = serve(
            config,
            &["--otlp", &endpoint],
            &[("SSL_CERT_FILE", &pki.path(roots))],
        )
        .await;
        let result = call(
            &client,
            "query",
            json!({"database": "hr", "sql": "select id from employees order by id"}),
        )
        .await;
        assert_eq!(
            structured(&result)["row_count"],
            100,
            "{}",
            error_text(&result)
        );
        // The end of the session sends the call's spans.
        close(client, child).await;
        assert!(
            receiver.connections() > connections,
            "the exporter did not try {endpoint} (roots: {roots})"
        );
        let names: Vec<Value> = spans(&receiver.bodies("/v1/traces"))
            .iter()
            .map(|span| span["name"].clone())
            .collect();
        if trusted {
            assert!(names.contains(&json!("tools/call query")), "{names:?}");
        } else {
            assert!(
                names.is_empty(),
                "spans went to a collector whose certificate the exporter cannot verify: {names:?}"
            );
        }
    }
}
