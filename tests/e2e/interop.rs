//! One scenario, three MCP clients: rmcp, the official TypeScript SDK (what Claude Desktop,
//! Cursor and the MCP Inspector run) and the official Python SDK drive the real binary over
//! stdio, each at the current protocol revision and the one before it, and every transcript
//! must meet the same expectations. The SDKs run their own validation (of the tool list, of
//! structured content against each output schema) exactly as those clients do.
//!
//! The TypeScript and Python drivers live in `tests/interop/` and print the transcript
//! shape that [`rmcp_transcript`] builds here.

use crate::serve::{demo_postgres, write_config};
use crate::support::{querygate_bin, repo};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ReadResourceRequestParams,
};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The current revision of the MCP specification (2026-07-28, which has no handshake: only the
/// Python SDK speaks it yet) and the two before it.
const MODERN: &str = "2026-07-28";
const HANDSHAKES: [&str; 2] = ["2025-11-25", "2025-06-18"];

const TOOLS: [&str; 6] = [
    "list_databases",
    "query",
    "explain",
    "check_query",
    "list_tables",
    "describe_table",
];

/// One row holding every mapped kind of value; [`all_types_row`] is how it must arrive.
const ALL_TYPES: &str = "SELECT 12345.678::numeric AS n, \
    '2024-05-01 10:30:00.5+02'::timestamptz AS ts, \
    '{\"b\": [1, 2.5, null], \"a\": \"x\"}'::jsonb AS j, \
    ARRAY[1, 2, NULL]::int4[] AS ints, ARRAY['a,b', 'c']::text[] AS texts, \
    '\\xDEADBEEF'::bytea AS bin, NULL::text AS nothing";

fn all_types_row() -> Value {
    json!([
        "12345.678",
        "2024-05-01T08:30:00.5Z",
        {"a": "x", "b": [1, 2.5, null]},
        [1, 2, null],
        ["a,b", "c"],
        "3q2+7w==",
        null
    ])
}

/// What one call must answer.
enum Expect {
    /// Structured content holding these values (JSON pointer, value).
    Answer(Vec<(&'static str, Value)>),
    /// A tool error (`isError`) whose text contains each of these.
    ToolError(&'static [&'static str]),
}

/// Every tool once with a good input, then with the bad ones that apply to it: a write, a
/// missing table, an argument of the wrong type.
fn calls() -> Vec<(&'static str, Value, Expect)> {
    use Expect::{Answer, ToolError};
    const WRITE: &str = "DELETE FROM employees";
    const MISSING: &str = "SELECT * FROM no_such_table";
    const GUARD: &str = "refused by the read-only guard: `DELETE` is not a read-only statement: \
        querygate runs only SELECT, VALUES, WITH queries, EXPLAIN without ANALYZE, and SHOW";
    let missing: &[&str] = &["relation \"no_such_table\" does not exist (SQLSTATE 42P01)"];
    let sql_type: &[&str] = &["`sql`"];
    let mut calls = vec![
        (
            "list_databases",
            json!({}),
            Answer(vec![
                ("/databases/0/name", json!("hr")),
                ("/databases/1/name", json!("admin")),
            ]),
        ),
        (
            "list_databases",
            json!({"teleport_offered": "yes"}),
            ToolError(&["`teleport_offered`"]),
        ),
        (
            "query",
            json!({"database": "hr", "sql": ALL_TYPES}),
            Answer(vec![
                ("/rows", json!([all_types_row()])),
                ("/row_count", json!(1)),
                ("/truncated", json!(false)),
            ]),
        ),
        (
            "explain",
            json!({"database": "hr", "sql": "SELECT id FROM departments"}),
            Answer(vec![
                ("/explained_sql", json!("SELECT id FROM departments")),
                ("/plan/0/Plan/Relation Name", json!("departments")),
            ]),
        ),
        (
            "check_query",
            json!({"database": "hr", "sql": "SELECT id FROM departments"}),
            Answer(vec![
                ("/decision", json!("allow")),
                ("/final_sql", json!("SELECT id FROM departments")),
            ]),
        ),
    ];
    for tool in ["query", "explain"] {
        calls.push((
            tool,
            json!({"database": "hr", "sql": WRITE}),
            ToolError(&[GUARD]),
        ));
        calls.push((
            tool,
            json!({"database": "hr", "sql": MISSING}),
            ToolError(missing),
        ));
    }
    // check_query answers a refusal as its decision, and decides without running, so a table
    // that does not exist is PostgreSQL's to report when the statement runs.
    calls.push((
        "check_query",
        json!({"database": "hr", "sql": WRITE}),
        Answer(vec![
            ("/decision", json!("reject")),
            ("/rejected_by", json!("guard")),
            ("/reason", json!(GUARD)),
        ]),
    ));
    calls.push((
        "check_query",
        json!({"database": "hr", "sql": MISSING}),
        Answer(vec![("/decision", json!("allow"))]),
    ));
    for tool in ["query", "explain", "check_query"] {
        calls.push((
            tool,
            json!({"database": "hr", "sql": 42}),
            ToolError(sql_type),
        ));
    }
    calls.extend([
        (
            "list_tables",
            json!({"database": "hr", "schema": "public"}),
            Answer(vec![("/database", json!("hr"))]),
        ),
        (
            "list_tables",
            json!({"database": "hr", "schema": 42}),
            ToolError(&["`schema`"]),
        ),
        (
            "describe_table",
            json!({"database": "hr", "table": "departments"}),
            Answer(vec![("/table/name", json!("departments"))]),
        ),
        (
            "describe_table",
            json!({"database": "hr", "table": "no_such_table"}),
            ToolError(&["no table or view `no_such_table` is visible to this role"]),
        ),
        (
            "describe_table",
            json!({"database": "hr", "table": 42}),
            ToolError(&["`table`"]),
        ),
    ]);
    calls
}

/// The scenario a driver runs: how to start the server, the revision to request, the calls.
fn scenario(config: &Path, version: &str, audit: &Path) -> Value {
    let calls: Vec<Value> = calls()
        .into_iter()
        .map(|(name, arguments, _)| json!({"name": name, "arguments": arguments}))
        .collect();
    json!({
        "command": querygate_bin(),
        "args": ["serve", "--config", config, "--audit-log", audit],
        "env": {"XDG_CACHE_HOME": repo().join("target/querygate-test-xdg")},
        "protocolVersion": version,
        "calls": calls,
    })
}

#[derive(Clone, Copy, Debug)]
enum Driver {
    Rmcp,
    TypeScript,
    Python,
}

fn interop_dir() -> PathBuf {
    repo().join("tests/interop")
}

impl Driver {
    /// The revisions each client is driven at: the newest it speaks and the ones before it.
    fn versions(self) -> Vec<&'static str> {
        match self {
            Driver::Python => [MODERN].into_iter().chain(HANDSHAKES).collect(),
            Driver::Rmcp | Driver::TypeScript => HANDSHAKES.to_vec(),
        }
    }

    /// The name each driver gives as its client, which the audit log must record (and
    /// policies see as `client-name`), with or without a handshake.
    fn client_name(self) -> &'static str {
        match self {
            Driver::Rmcp => "interop-rmcp",
            Driver::TypeScript => "interop-typescript",
            Driver::Python => "interop-python",
        }
    }

    /// The program and script of an SDK driver (none for rmcp, which runs in this process). A
    /// missing install fails with the exact command that fixes it.
    fn program(self) -> Option<(PathBuf, &'static str)> {
        let dir = interop_dir();
        match self {
            Driver::Rmcp => None,
            Driver::TypeScript => {
                assert!(
                    dir.join("node_modules/@modelcontextprotocol/sdk").is_dir(),
                    "node_modules missing: run npm ci --prefix tests/interop"
                );
                Some((PathBuf::from("node"), "client.mjs"))
            }
            Driver::Python => {
                let python = dir.join(".venv/bin/python");
                assert!(
                    python.is_file(),
                    "python venv missing: run python3 -m venv tests/interop/.venv && \
                     tests/interop/.venv/bin/pip install -r tests/interop/requirements.txt"
                );
                Some((python, "client.py"))
            }
        }
    }

    /// Run `scenario` (also written to `path`, for the SDK drivers) and return the transcript.
    async fn transcript(self, scenario: &Value, path: &Path) -> Value {
        let Some((program, script)) = self.program() else {
            return rmcp_transcript(scenario).await;
        };
        let output = Command::new(program)
            .arg(interop_dir().join(script))
            .arg(path)
            .current_dir(interop_dir())
            .output()
            .unwrap_or_else(|e| panic!("the {self:?} driver does not start: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "the {self:?} driver printed no transcript ({e}, {}):\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        })
    }
}

/// An answer, or what the client returned instead, as the drivers record it.
fn outcome<T: serde::Serialize, E: std::fmt::Display>(result: Result<T, E>) -> Value {
    match result {
        Ok(value) => serde_json::to_value(value).expect("answers serialize"),
        Err(e) => json!({"exception": e.to_string()}),
    }
}

fn call_outcome(result: CallToolResult) -> Value {
    let text: Vec<&str> = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect();
    json!({
        "isError": result.is_error.unwrap_or(false),
        "text": text.join("\n"),
        "structuredContent": result.structured_content,
    })
}

/// The scenario through rmcp's client, as the same transcript the SDK drivers print.
async fn rmcp_transcript(scenario: &Value) -> Value {
    let mut transcript = json!({"protocolVersion": null, "serverInfo": null, "tools": null,
        "calls": [], "resources": null, "reads": []});
    let text = |v: &Value| v.as_str().expect("a string").to_owned();
    let command = tokio::process::Command::new(text(&scenario["command"])).configure(|cmd| {
        let args = scenario["args"].as_array().expect("args");
        cmd.args(args.iter().map(text));
        let env = scenario["env"].as_object().expect("env");
        cmd.envs(env.iter().map(|(k, v)| (k, text(v))));
    });
    let transport = TokioChildProcess::new(command).expect("querygate serve starts");
    let mut config = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("interop-rmcp", "1.0.0"),
    );
    if !scenario["protocolVersion"].is_null() {
        let version = serde_json::from_value(scenario["protocolVersion"].clone());
        config = config.with_protocol_version(version.expect("a protocol version"));
    }
    let client = match config.serve(transport).await {
        Ok(client) => client,
        Err(e) => {
            transcript["exception"] = json!(e.to_string());
            return transcript;
        }
    };
    if let Some(info) = client.peer_info() {
        transcript["protocolVersion"] = json!(info.protocol_version.to_string());
        transcript["serverInfo"] = json!(info.server_info);
    }
    transcript["tools"] = outcome(client.list_all_tools().await);
    for call in scenario["calls"].as_array().expect("calls") {
        let arguments = call["arguments"].as_object().cloned().unwrap_or_default();
        let params = CallToolRequestParams::new(text(&call["name"])).with_arguments(arguments);
        let result = client.call_tool(params).await.map(call_outcome);
        transcript["calls"]
            .as_array_mut()
            .expect("calls")
            .push(result.unwrap_or_else(|e| json!({"exception": e.to_string()})));
    }
    let resources = client.list_all_resources().await;
    for resource in resources.iter().flatten() {
        let read = client
            .read_resource(ReadResourceRequestParams::new(resource.uri.clone()))
            .await
            .map(|r| {
                let contents = serde_json::to_value(&r.contents).expect("contents serialize");
                let texts: Vec<&str> = contents
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["text"].as_str())
                    .collect();
                json!({"uri": resource.uri, "text": texts.join("\n")})
            });
        transcript["reads"]
            .as_array_mut()
            .expect("reads")
            .push(outcome(read));
    }
    transcript["resources"] = outcome(resources);
    client.cancel().await.expect("client closes");
    transcript
}

/// Where a schema holds a boolean sub-schema (`true`/`false` in place of an object).
fn boolean_subschemas(schema: &Value, at: &str, found: &mut Vec<String>) {
    const ONE: &[&str] = &[
        "items",
        "additionalItems",
        "additionalProperties",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contains",
        "propertyNames",
        "not",
        "if",
        "then",
        "else",
    ];
    const MAPS: &[&str] = &[
        "properties",
        "patternProperties",
        "dependentSchemas",
        "$defs",
        "definitions",
    ];
    const LISTS: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems", "items"];
    match schema {
        Value::Bool(_) => found.push(format!("{at}: {schema}")),
        Value::Object(map) => {
            for (key, value) in map {
                let at = format!("{at}/{key}");
                match value {
                    Value::Object(children) if MAPS.contains(&key.as_str()) => {
                        for (name, child) in children {
                            boolean_subschemas(child, &format!("{at}/{name}"), found);
                        }
                    }
                    Value::Array(children) if LISTS.contains(&key.as_str()) => {
                        for (i, child) in children.iter().enumerate() {
                            boolean_subschemas(child, &format!("{at}/{i}"), found);
                        }
                    }
                    _ if ONE.contains(&key.as_str()) => boolean_subschemas(value, &at, found),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// Everything in `transcript` that differs from what every client must see.
fn problems(transcript: &Value, version: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };
    if let Some(exception) = transcript.get("exception") {
        expect(false, format!("the session failed: {exception}"));
    }
    expect(
        transcript["protocolVersion"] == version,
        format!("negotiated {} for {version}", transcript["protocolVersion"]),
    );
    expect(
        transcript["serverInfo"]["name"] == "querygate"
            && transcript["serverInfo"]["version"] == env!("CARGO_PKG_VERSION"),
        format!("server info {}", transcript["serverInfo"]),
    );

    // The tool list as the client kept it: every tool, read-only, with object schemas and no
    // boolean sub-schema anywhere.
    let tools = transcript["tools"].as_array();
    expect(
        tools.is_some(),
        format!("tools/list: {}", transcript["tools"]),
    );
    for name in TOOLS {
        let Some(tool) = tools.into_iter().flatten().find(|t| t["name"] == name) else {
            expect(false, format!("tool `{name}` missing"));
            continue;
        };
        expect(
            tool["annotations"]["readOnlyHint"] == true,
            format!("`{name}` annotations {}", tool["annotations"]),
        );
        for key in ["inputSchema", "outputSchema"] {
            let schema = &tool[key];
            expect(
                schema["type"] == "object",
                format!("`{name}` {key} is not an object schema: {schema}"),
            );
            let mut found = Vec::new();
            boolean_subschemas(schema, "", &mut found);
            expect(
                found.is_empty(),
                format!("`{name}` {key} has boolean sub-schemas: {found:?}"),
            );
        }
    }

    // Every call: the answer or the tool error it must be.
    let answers = transcript["calls"].as_array().cloned().unwrap_or_default();
    let calls = calls();
    expect(
        answers.len() == calls.len(),
        format!("{} answers to {} calls", answers.len(), calls.len()),
    );
    for ((tool, arguments, expected), answer) in calls.iter().zip(&answers) {
        let call = format!("{tool} {arguments}");
        match expected {
            Expect::Answer(values) => {
                expect(
                    answer["isError"] == false,
                    format!("{call}: expected an answer, got {answer}"),
                );
                for (pointer, value) in values {
                    let got = answer["structuredContent"].pointer(pointer);
                    expect(
                        got == Some(value),
                        format!("{call}: {pointer} is {got:?}, expected {value}"),
                    );
                }
            }
            Expect::ToolError(parts) => {
                let text = answer["text"].as_str().unwrap_or_default();
                expect(
                    answer["isError"] == true && parts.iter().all(|p| text.contains(p)),
                    format!("{call}: expected a tool error containing {parts:?}, got {answer}"),
                );
            }
        }
    }

    // One resource per database, each readable as a summary of its tables.
    let uris: Vec<&Value> = transcript["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| &r["uri"])
        .collect();
    expect(
        uris == [
            &json!("querygate://databases/hr"),
            &json!("querygate://databases/admin"),
        ],
        format!("resources/list: {}", transcript["resources"]),
    );
    let reads = transcript["reads"].as_array().cloned().unwrap_or_default();
    expect(
        reads.len() == uris.len()
            && reads.iter().zip(&uris).all(|(read, uri)| {
                read["uri"] == **uri
                    && read["text"]
                        .as_str()
                        .is_some_and(|t| t.contains("employees"))
            }),
        format!("resources/read: {}", transcript["reads"]),
    );
    problems
}

#[tokio::test(flavor = "multi_thread")]
async fn rmcp_and_the_official_sdks_see_the_same_server() {
    let drivers = [Driver::Rmcp, Driver::TypeScript, Driver::Python];
    // Missing prerequisites fail here, before a server starts.
    for driver in drivers {
        driver.program();
    }
    let pg = demo_postgres().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &pg, false, "");
    let mut failures = Vec::new();
    for driver in drivers {
        for version in driver.versions() {
            let audit = dir.path().join(format!("audit-{driver:?}-{version}.jsonl"));
            let scenario = scenario(&config, version, &audit);
            let path = dir
                .path()
                .join(format!("scenario-{driver:?}-{version}.json"));
            std::fs::write(&path, scenario.to_string()).expect("write the scenario");
            let transcript = driver.transcript(&scenario, &path).await;
            let mut found = problems(&transcript, version);
            found.extend(audit_problems(&audit, driver.client_name()));
            for problem in found {
                failures.push(format!("{driver:?} at {version}: {problem}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every call of a run is in its audit log, under the client's own name.
fn audit_problems(audit: &Path, client: &str) -> Vec<String> {
    let text = std::fs::read_to_string(audit).unwrap_or_default();
    let records: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or(Value::Null))
        .collect();
    let mut found = Vec::new();
    // Each tool's good and bad calls, and the resource reads.
    if records.len() < calls().len() {
        found.push(format!(
            "the audit log holds {} records for {} calls",
            records.len(),
            calls().len()
        ));
    }
    for record in &records {
        if record["client"] != client {
            found.push(format!("audit record not under `{client}`: {record}"));
        }
    }
    found
}
