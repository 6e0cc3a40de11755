//! End-to-end harness: `querygate serve` (three example policies on) driven by a real MCP client
//! over stdio, against the same statements sent directly with tokio-postgres, on the same
//! throwaway PostgreSQL in the same run. Prints p50 / p99, the ratio to direct, the server's RSS,
//! and the time to an answered `initialize` with compiled policies cached.
//!
//! `cargo bench -p querygate --bench serve`

use querygate::localpg::{self, LocalPostgres};
#[path = "../../tests/support/mod.rs"]
mod support;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::json;
use std::time::{Duration, Instant};
use support::{cache_dir, policies, querygate_bin};

const POINT: &str = "SELECT id, name FROM departments WHERE id = 3";
const ROWS_1000: &str =
    "SELECT id, employee_id, kind, created_at FROM events ORDER BY id LIMIT 1000";

fn stats(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 99 / 100]),
    )
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn rss_kib(pid: u32) -> u64 {
    support::proc_status_kib(pid, "VmRSS")
}

fn server_pid(config: &str) -> u32 {
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let Ok(entry) = entry else { continue };
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(config) {
            return pid;
        }
    }
    panic!("querygate serve is not running")
}

/// One `query` call on `client`; a tool error stops the harness.
async fn query_on(client: &rmcp::Peer<rmcp::RoleClient>, sql: &str) -> rmcp::model::CallToolResult {
    let args = json!({"database": "hr", "sql": sql});
    let result = client
        .call_tool(
            CallToolRequestParams::new("query")
                .with_arguments(args.as_object().cloned().unwrap_or_default()),
        )
        .await
        .expect("tool answers");
    assert_ne!(result.is_error, Some(true), "{:?}", result.content);
    result
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let bin = querygate_bin();
    let dir = policies();
    let pg = LocalPostgres::start().expect("PostgreSQL starts");
    localpg::load_demo_data(&pg.superuser_client().await.expect("connect"))
        .await
        .expect("demo data");
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("querygate.toml");
    std::fs::write(
        &config,
        format!(
            "[cache]\ndir = \"{cache}\"\n\n\
             [[policy]]\nname = \"row-limit\"\npath = \"{d}/row_limit.wasm\"\n[policy.config]\nmax_rows = 1000\n\n\
             [[policy]]\nname = \"deny-columns\"\npath = \"{d}/deny_columns.wasm\"\n[policy.config.columns]\nemployees = [\"ssn\", \"salary\"]\n\n\
             [[policy]]\nname = \"function-allowlist\"\npath = \"{d}/function_allowlist.wasm\"\n\n\
             [[database]]\nname = \"hr\"\nurl = \"{url}\"\n",
            cache = cache_dir().display(),
            d = dir.display(),
            url = pg.url("postgres", "querygate_reader").replace('"', "\\\""),
        ),
    )
    .expect("config");
    let config_arg = config.display().to_string();
    let audit = tmp.path().join("audit.jsonl").display().to_string();

    let spawn = || {
        let (bin, config_arg, audit) = (bin.clone(), config_arg.clone(), audit.clone());
        TokioChildProcess::new(tokio::process::Command::new(bin).configure(move |cmd| {
            cmd.args(["serve", "--config", &config_arg, "--audit-log", &audit]);
        }))
        .expect("serve starts")
    };
    let info = || {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("bench", "1"),
        )
    };

    // Warm the compiled-policy cache, then time start-up to an answered initialize.
    info()
        .serve(spawn())
        .await
        .expect("handshake")
        .cancel()
        .await
        .ok();
    let mut startups = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let client = info().serve(spawn()).await.expect("handshake");
        startups.push(started.elapsed());
        client.cancel().await.ok();
    }

    let client = info().serve(spawn()).await.expect("handshake");
    let pid = server_pid(&config_arg);
    let query = |sql: &'static str| query_on(&client, sql);
    let call = |sql: &'static str| {
        let query = &query;
        async move {
            let result = query(sql).await;
            // The server's own timings: deciding, and running on the database (rows into JSON
            // included).
            let timing = |name: &str| {
                result
                    .structured_content
                    .as_ref()
                    .and_then(|s| s.pointer(&format!("/timings/{name}")))
                    .and_then(serde_json::Value::as_f64)
                    .expect("the result carries its timings")
            };
            (timing("decide_ms"), timing("execute_ms"))
        }
    };
    call(POINT).await;
    let idle_rss = rss_kib(pid);

    let (direct, connection) = tokio_postgres::connect(
        &pg.url("postgres", "querygate_reader"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("direct connection");
    tokio::spawn(connection);

    let mut rows = Vec::new();
    for (name, sql, n) in [("point query", POINT, 500), ("1,000 rows", ROWS_1000, 100)] {
        let mut through = Vec::new();
        let mut plain = Vec::new();
        let (mut decide, mut execute) = (Vec::new(), Vec::new());
        for _ in 0..20 {
            call(sql).await;
            direct.query(sql, &[]).await.expect("direct");
        }
        for _ in 0..n {
            let t = Instant::now();
            let (decide_ms, execute_ms) = call(sql).await;
            through.push(t.elapsed());
            decide.push(decide_ms);
            execute.push(execute_ms);
            let t = Instant::now();
            let result = direct.query(sql, &[]).await.expect("direct");
            plain.push(t.elapsed());
            assert!(!result.is_empty());
        }
        rows.push((
            name,
            stats(through),
            stats(plain),
            (median(decide), median(execute)),
        ));
    }
    let busy_rss = rss_kib(pid);

    // The floor every call stands on: a tool that neither decides nor touches the database.
    let mut floor = Vec::new();
    for i in 0..520 {
        let t = Instant::now();
        client
            .call_tool(CallToolRequestParams::new("list_databases"))
            .await
            .expect("tool answers");
        if i >= 20 {
            floor.push(t.elapsed());
        }
    }
    let (floor50, floor99) = stats(floor);

    // What OpenTelemetry export costs a call: a second server, exporting to a receiver that
    // answers 200 at once (spans batched, metrics every second), called in turn with this one.
    let receiver = support::otlp::Receiver::start().await;
    let endpoint = receiver.endpoint();
    let traced = {
        let (bin, config_arg) = (bin.clone(), config_arg.clone());
        let audit = tmp.path().join("audit-traced.jsonl").display().to_string();
        let process =
            TokioChildProcess::new(tokio::process::Command::new(bin).configure(move |cmd| {
                cmd.args(["serve", "--config", &config_arg, "--audit-log", &audit])
                    .args(["--otlp", &endpoint])
                    .env("OTEL_METRIC_EXPORT_INTERVAL", "1000");
            }))
            .expect("serve --otlp starts");
        info().serve(process).await.expect("handshake")
    };
    let (mut plain_calls, mut traced_calls) = (Vec::new(), Vec::new());
    for i in 0..520 {
        let t = Instant::now();
        query(POINT).await;
        let plain_elapsed = t.elapsed();
        let t = Instant::now();
        query_on(&traced, POINT).await;
        if i >= 20 {
            plain_calls.push(plain_elapsed);
            traced_calls.push(t.elapsed());
        }
    }
    traced.cancel().await.ok();
    let (otel_off, otel_on) = (stats(plain_calls), stats(traced_calls));
    let exported = receiver.bodies("/v1/traces").len() + receiver.bodies("/v1/metrics").len();

    // What decoding the 1,000-row answer costs an MCP client, apart from everything else: the
    // answer as it came over stdio (a JSON-RPC response), parsed again and again by rmcp's
    // client types, and, as the least any JSON client pays, into a plain `serde_json::Value`.
    let answer = query(ROWS_1000).await;
    let wire = serde_json::to_string(&json!({"jsonrpc": "2.0", "id": 7, "result": answer}))
        .expect("the answer encodes");
    let time_decode = |decode: &dyn Fn(&str)| {
        stats(
            (0..60)
                .map(|_| {
                    let t = Instant::now();
                    decode(&wire);
                    t.elapsed()
                })
                .collect(),
        )
        .0
    };
    let rmcp_decode = time_decode(&|text| {
        serde_json::from_str::<rmcp::model::ServerJsonRpcMessage>(text).expect("decodes");
    });
    let value_decode = time_decode(&|text| {
        serde_json::from_str::<serde_json::Value>(text).expect("decodes");
    });
    client.cancel().await.ok();

    println!(
        "\n{:<14} {:>12} {:>12} {:>12} {:>12} {:>8}",
        "statement", "serve p50", "serve p99", "direct p50", "direct p99", "ratio"
    );
    for (name, (s50, s99), (d50, d99), (decide, execute)) in &rows {
        println!(
            "{name:<14} {s50:>10.3}ms {s99:>10.3}ms {d50:>10.3}ms {d99:>10.3}ms {:>8.2}",
            s50 / d50
        );
        println!(
            "{:<14} overhead p50: {:.3} ms; the server's p50s: deciding {decide:.3} ms, \
             on the database (rows into JSON included) {execute:.3} ms, so the rest (MCP \
             encoding and decoding on both sides, stdio) is about {:.3} ms",
            "",
            s50 - d50,
            s50 - decide - execute
        );
    }
    println!(
        "\nan MCP call that neither decides nor touches the database (list_databases): \
         p50 {floor50:.3} ms, p99 {floor99:.3} ms"
    );
    let direct_1000 = rows[1].2.0;
    println!(
        "decoding the 1,000-row answer ({} bytes of JSON-RPC) in the client alone: rmcp's types \
         {rmcp_decode:.3} ms, a plain serde_json::Value {value_decode:.3} ms; so even with \
         nothing else, direct + decoding is {:.2}× (rmcp) or {:.2}× (Value) of direct",
        wire.len(),
        (direct_1000 + rmcp_decode) / direct_1000,
        (direct_1000 + value_decode) / direct_1000,
    );
    let (start50, _) = stats(startups);
    println!(
        "\nstart-up to an answered initialize (cached policies): p50 {start50:.1} ms\n\
         serve RSS: idle {:.1} MiB, after the 1,000-row loop {:.1} MiB\n",
        idle_rss as f64 / 1024.0,
        busy_rss as f64 / 1024.0
    );
    println!(
        "\nOpenTelemetry export, point query through the MCP client, 500 calls each, in turn: \
         p50 {:.3} ms off, {:.3} ms on ({:.2}×); p99 {:.3} / {:.3} ms; {exported} export \
         requests received",
        otel_off.0,
        otel_on.0,
        otel_on.0 / otel_off.0,
        otel_off.1,
        otel_on.1,
    );
}
