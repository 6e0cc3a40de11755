//! `teleport://` databases through `tsh proxy db --tunnel`: the real querygate binary driven by
//! a real MCP client, a real PostgreSQL, and a stand-in `tsh` (`tests/tsh/tsh`, no Teleport
//! cluster runs here) that forwards to it and can simulate an expired login, a refused database
//! user and a crash.

use crate::serve::{Client, audit_lines, call, demo_postgres, error_text, structured};
use crate::support::{cache_dir, policies, querygate_bin, repo};
use querygate::localpg::LocalPostgres;
use rmcp::ServiceExt;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ReadResourceRequestParams};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const HR: &str = "teleport://clusters/test/databases/hr?dbName=postgres&dbUser=querygate_reader";
const FINANCE: &str =
    "teleport://clusters/test/databases/finance?dbName=postgres&dbUser=querygate_reader";

fn standin_tsh() -> PathBuf {
    repo().join("tests/tsh/tsh")
}

/// A TELEPORT_HOME the stand-in reads: cluster `test` with `hr` (querygate_reader may use
/// database `postgres`) and `finance` (nobody may).
fn teleport_home(dir: &Path, pg: &LocalPostgres) -> PathBuf {
    let home = dir.join("tsh-home");
    std::fs::create_dir_all(&home).expect("create TELEPORT_HOME");
    let upstream = pg
        .socket_dir()
        .join(format!(".s.PGSQL.{}", pg.port()))
        .display()
        .to_string();
    let state = json!({
        "cluster": "test",
        "databases": [
            {"name": "hr", "upstream": upstream, "users": ["querygate_reader"], "names": ["postgres"],
             "description": "HR replica", "labels": {"env": "test"}},
            {"name": "finance", "upstream": upstream, "users": [], "names": []},
        ],
    });
    std::fs::write(home.join("standin.json"), state.to_string()).expect("write standin.json");
    home
}

/// A config with the example row-limit and deny-columns policies and no database.
fn policy_config(dir: &Path) -> PathBuf {
    let policies = policies();
    let text = format!(
        "[[policy]]\nname = \"row-limit\"\npath = \"{p}/row_limit.wasm\"\n[policy.config]\nmax_rows = 100\n\n\
         [[policy]]\nname = \"deny-columns\"\npath = \"{p}/deny_columns.wasm\"\n[policy.config.columns]\nemployees = [\"ssn\", \"salary\"]\n\n\
         [cache]\ndir = \"{cache}\"\n\n[teleport]\nproxy = \"teleport.example.com:443\"\n",
        p = policies.display(),
        cache = cache_dir().display()
    );
    let path = dir.join("querygate.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// `querygate serve` with `args`, TELEPORT_HOME set; returns the client and querygate's pid.
async fn serve(home: &Path, args: &[&str]) -> (Client, u32) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let home = home.to_path_buf();
    let transport = TokioChildProcess::new(
        tokio::process::Command::new(querygate_bin()).configure(|cmd| {
            cmd.arg("serve").args(&args).env("TELEPORT_HOME", &home);
        }),
    )
    .expect("querygate serve starts");
    let pid = transport.id().expect("querygate has a pid");
    let client = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("teleport-e2e", "1.0"),
    )
    .serve(transport)
    .await
    .expect("MCP handshake");
    (client, pid)
}

/// Whether a process exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

async fn gone_within(pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn tunnel_pid(home: &Path, name: &str) -> u32 {
    std::fs::read_to_string(home.join(format!("tunnel-{name}.pid")))
        .expect("the stand-in wrote its pid")
        .trim()
        .parse()
        .expect("a pid")
}

/// Tunnel starts the stand-in recorded: `pid name user dbname cluster port` per line.
fn starts(home: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(home.join("starts.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(' ').map(String::from).collect())
        .collect()
}

async fn count_employees(client: &Client) -> Value {
    let result = call(
        client,
        "query",
        json!({"database": "hr", "sql": "SELECT count(*) AS n FROM employees"}),
    )
    .await;
    structured(&result)["rows"][0][0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_teleport_database_is_served_through_a_supervised_tsh_tunnel() {
    let pg = demo_postgres().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let home = teleport_home(dir.path(), &pg);
    let config = policy_config(dir.path());
    let audit = dir.path().join("audit.jsonl");
    let tsh = standin_tsh();
    let (client, querygate) = serve(
        &home,
        &[
            "--config",
            &config.display().to_string(),
            "--audit-log",
            &audit.display().to_string(),
            "--tsh",
            &tsh.display().to_string(),
            "--teleport-tools",
            "--database",
            HR,
            "--database",
            FINANCE,
        ],
    )
    .await;

    // Nothing starts before a statement needs the database.
    assert!(starts(&home).is_empty(), "tsh started before it was needed");

    // A query goes through the tunnel tsh was asked for, and the policies still apply.
    assert_eq!(count_employees(&client).await, json!(250));
    let started = starts(&home);
    assert_eq!(started.len(), 1, "one tunnel: {started:?}");
    assert_eq!(
        started[0][1..5],
        ["hr", "querygate_reader", "postgres", "test"]
    );
    let first_pid = tunnel_pid(&home, "hr");
    let rewritten = call(
        &client,
        "query",
        json!({"database": "hr", "sql": "SELECT id FROM employees"}),
    )
    .await;
    let out = structured(&rewritten);
    assert_eq!(out["rewritten_by"], json!(["row-limit"]));
    assert_eq!(out["row_count"], 100);
    assert_eq!(starts(&home).len(), 1, "the tunnel is reused between calls");

    // The audit log says who is logged in to Teleport, asking `tsh status` once per login.
    let status_runs = || {
        std::fs::read_to_string(home.join("status.log"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    let identities = || -> Vec<(Value, Value)> {
        audit_lines(&audit)
            .iter()
            .filter(|r| r["database"] == "hr")
            .map(|r| (r["teleport_user"].clone(), r["teleport_roles"].clone()))
            .collect()
    };
    assert_eq!(status_runs(), 1, "tsh status runs once per login");
    let seen = identities();
    assert_eq!(seen.len(), 2);
    for identity in &seen {
        assert_eq!(
            identity,
            &(json!("alice@example.com"), json!(["access"])),
            "{seen:?}"
        );
    }
    // A new login (tsh rewrites the profile) as someone else: asked again.
    let mut state: Value = serde_json::from_str(
        &std::fs::read_to_string(home.join("standin.json")).expect("standin.json"),
    )
    .expect("JSON");
    state["user"] = json!("bob@example.com");
    state["roles"] = json!(["access", "db-reader"]);
    std::fs::write(home.join("standin.json"), state.to_string()).expect("write standin.json");
    std::fs::write(home.join("current-profile"), "teleport.test").expect("log in again");
    assert_eq!(count_employees(&client).await, json!(250));
    assert_eq!(status_runs(), 2, "a new login is read again");
    assert_eq!(
        identities().last(),
        Some(&(json!("bob@example.com"), json!(["access", "db-reader"])))
    );

    // list_databases shows the URI; with teleport_offered, what `tsh db ls` lists.
    let listed = call(&client, "list_databases", json!({})).await;
    let out = structured(&listed);
    assert_eq!(out["databases"][0]["name"], "hr");
    assert_eq!(out["databases"][0]["uri"], HR);
    assert_eq!(out["databases"][0]["user"], "querygate_reader");
    assert!(out.get("teleport_offered").is_none());
    let offered = call(&client, "list_databases", json!({"teleport_offered": true})).await;
    let out = structured(&offered);
    let names: Vec<_> = out["teleport_offered"]
        .as_array()
        .expect("offered databases")
        .iter()
        .map(|d| (d["name"].clone(), d["uri"].clone(), d["protocol"].clone()))
        .collect();
    assert_eq!(
        names,
        [
            (
                json!("hr"),
                json!("teleport://clusters/test/databases/hr"),
                json!("postgres")
            ),
            (
                json!("finance"),
                json!("teleport://clusters/test/databases/finance"),
                json!("postgres")
            ),
        ]
    );

    // Teleport databases are resources under their URI, as with tsh.
    let resources = client.list_all_resources().await.expect("resources/list");
    let uris: Vec<_> = resources.iter().map(|r| r.uri.clone()).collect();
    assert_eq!(uris, [HR, FINANCE]);
    let read = client
        .read_resource(ReadResourceRequestParams::new(HR))
        .await
        .expect("resources/read");
    let summary = serde_json::to_string(&read).expect("serializes");
    assert!(summary.contains("employees"), "{summary}");

    // Teleport's tool names, with Teleport's arguments, through the same policies.
    let tools = client.list_all_tools().await.expect("tools/list");
    let tool_names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    for name in [
        "teleport_list_databases",
        "teleport_postgres_query",
        "query",
    ] {
        assert!(tool_names.contains(&name.to_string()), "{tool_names:?}");
    }
    let result = call(
        &client,
        "teleport_postgres_query",
        json!({"database": HR, "query": "SELECT name FROM departments ORDER BY id"}),
    )
    .await;
    assert_eq!(structured(&result)["rows"][0][0], "Engineering");
    let denied = call(
        &client,
        "teleport_postgres_query",
        json!({"database": "teleport://clusters/test/databases/hr", "query": "SELECT ssn FROM employees"}),
    )
    .await;
    let text = error_text(&denied);
    assert!(text.contains("deny-columns"), "{text}");
    let listed = call(&client, "teleport_list_databases", json!({})).await;
    assert_eq!(structured(&listed)["databases"][1]["uri"], FINANCE);

    // Access denied names the user and database, and the command to check.
    let refused = call(
        &client,
        "query",
        json!({"database": "finance", "sql": "SELECT 1"}),
    )
    .await;
    let text = error_text(&refused);
    for needle in [
        "Teleport denied access to database `finance`",
        "database user `querygate_reader`",
        "database name `postgres`",
        "tsh db connect finance --db-user=querygate_reader --db-name=postgres",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in {text}");
    }

    // A crash mid-session: the next call starts tsh again and works.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(first_pid as i32).expect("pid"),
        rustix::process::Signal::KILL,
    )
    .expect("kill the tunnel");
    assert!(gone_within(first_pid, Duration::from_secs(5)).await);
    assert_eq!(count_employees(&client).await, json!(250));
    let second_pid = tunnel_pid(&home, "hr");
    assert_ne!(first_pid, second_pid, "tsh was started again");

    // The login expires mid-session: the tunnel exits; calls explain what to run.
    std::fs::write(home.join("logged-out"), "").expect("log out");
    assert!(gone_within(second_pid, Duration::from_secs(5)).await);
    let expired = call(
        &client,
        "query",
        json!({"database": "hr", "sql": "SELECT 1"}),
    )
    .await;
    let text = error_text(&expired);
    for needle in [
        "Teleport login for cluster `test` has expired or is missing",
        "tsh login --proxy=teleport.example.com:443",
        "no restart of the MCP client is needed",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in {text}");
    }
    let offered = call(&client, "list_databases", json!({"teleport_offered": true})).await;
    let error = structured(&offered)["teleport_offered_error"]
        .as_str()
        .expect("tsh db ls failed")
        .to_string();
    assert!(error.contains("tsh login --proxy="), "{error}");

    // A fresh login: the next call works, with no restart of anything.
    std::fs::remove_file(home.join("logged-out")).expect("log in");
    assert_eq!(count_employees(&client).await, json!(250));
    let third_pid = tunnel_pid(&home, "hr");
    assert!(alive(third_pid));

    // The audit log kept every call, errors included.
    let lines = audit_lines(&audit);
    let tools: Vec<_> = lines
        .iter()
        .map(|l| l["tool"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        tools
            .iter()
            .filter(|t| **t == "teleport_postgres_query")
            .count(),
        2
    );
    let errors: Vec<_> = lines.iter().filter(|l| l["outcome"] == "error").collect();
    assert!(
        errors
            .iter()
            .any(|l| l["error"].as_str().unwrap_or("").contains("tsh login")),
        "{errors:?}"
    );

    // The client closes stdin: querygate exits and takes tsh with it.
    client.cancel().await.expect("close the session");
    assert!(
        gone_within(querygate, Duration::from_secs(10)).await,
        "querygate did not exit"
    );
    assert!(
        gone_within(third_pid, Duration::from_secs(5)).await,
        "tsh outlived querygate"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tsh_never_outlives_querygate() {
    let pg = demo_postgres().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let home = teleport_home(dir.path(), &pg);
    let config = policy_config(dir.path());
    let tsh = standin_tsh().display().to_string();
    let args = [
        "--config",
        &config.display().to_string(),
        "--tsh",
        &tsh,
        "--database",
        HR,
    ]
    .map(String::from);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    for signal in [rustix::process::Signal::TERM, rustix::process::Signal::KILL] {
        let (client, querygate) = serve(&home, &args).await;
        assert_eq!(count_employees(&client).await, json!(250));
        let tunnel = tunnel_pid(&home, "hr");
        assert!(alive(tunnel));
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(querygate as i32).expect("pid"),
            signal,
        )
        .expect("signal querygate");
        assert!(
            gone_within(querygate, Duration::from_secs(10)).await,
            "querygate survived {signal:?}"
        );
        // SIGTERM stops tsh on the way out; after SIGKILL the watchdog does, within a second.
        assert!(
            gone_within(tunnel, Duration::from_secs(5)).await,
            "tsh outlived querygate killed with {signal:?}"
        );
        drop(client);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_tsh_or_the_option_the_server_says_so_and_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-tsh");
    let (client, _) = serve(
        dir.path(),
        &["--tsh", &missing.display().to_string(), "--database", HR],
    )
    .await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(
        !tools.iter().any(|t| t.name.starts_with("teleport_")),
        "Teleport's tool names are served only with --teleport-tools"
    );
    for _ in 0..2 {
        let result = call(&client, "query", json!({"sql": "SELECT 1"})).await;
        let text = error_text(&result);
        assert!(text.contains("no-such-tsh"), "{text}");
        assert!(text.contains("not found"), "{text}");
        assert!(text.contains("--tsh"), "{text}");
    }
    client.cancel().await.expect("close the session");

    // A URI that is not of tsh's form is refused at start-up, saying which form is expected.
    let output = std::process::Command::new(querygate_bin())
        .args([
            "serve",
            "--database",
            "teleport://clusters/test/databases/hr?dbName=postgres",
        ])
        .output()
        .expect("querygate runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no dbUser"), "{stderr}");
    assert!(
        stderr.contains("teleport://clusters/<cluster>/databases/<name>"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn config_teleport_writes_a_drop_in_for_tsh_mcp_db_config_that_works() {
    let pg = demo_postgres().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let home = teleport_home(dir.path(), &pg);
    let file = dir.path().join("claude_desktop_config.json");
    // What `tsh mcp db config` wrote, to be replaced by one entry.
    let tsh_entry = json!({"command": "tsh", "args": ["mcp", "db", "start", HR]});
    std::fs::write(
        &file,
        json!({"mcpServers": {"teleport-databases": tsh_entry}}).to_string(),
    )
    .expect("write");
    let tsh = standin_tsh();
    let output = std::process::Command::new(querygate_bin())
        .args(["config", "--path"])
        .arg(&file)
        .args(["--teleport", HR, "--tsh"])
        .arg(&tsh)
        .env("TELEPORT_HOME", &home)
        .output()
        .expect("querygate runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("JSON");
    // The URI moved: tsh's entry, left with no database, is gone, so no ungated path remains.
    assert_eq!(written["mcpServers"].get("teleport-databases"), None);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&format!(
            "moved `{HR}` from `teleport-databases` (tsh mcp db start) to `querygate`"
        )),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let entry = &written["mcpServers"]["querygate"];
    assert_eq!(
        entry["args"],
        json!([
            "serve",
            "--database",
            HR,
            "--teleport-tools",
            "--tsh",
            tsh.display().to_string()
        ])
    );
    assert_eq!(entry["env"]["TELEPORT_HOME"], home.display().to_string());

    // Start the server exactly as a client would from that entry, and use Teleport's tools.
    let command = entry["command"].as_str().expect("command").to_string();
    let args: Vec<String> = entry["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string").to_string())
        .collect();
    let env_home = entry["env"]["TELEPORT_HOME"]
        .as_str()
        .expect("env")
        .to_string();
    let transport =
        TokioChildProcess::new(tokio::process::Command::new(command).configure(|cmd| {
            cmd.args(&args)
                .env_remove("TELEPORT_HOME")
                .env("TELEPORT_HOME", &env_home)
                .env("XDG_CACHE_HOME", dir.path().join("xdg"));
        }))
        .expect("the configured command starts");
    let client = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("claude-ish", "1.0"),
    )
    .serve(transport)
    .await
    .expect("MCP handshake");
    let listed = call(&client, "teleport_list_databases", json!({})).await;
    let uri = structured(&listed)["databases"][0]["uri"].clone();
    assert_eq!(uri, HR);
    let result = call(
        &client,
        "teleport_postgres_query",
        json!({"database": uri, "query": "SELECT count(*) FROM departments"}),
    )
    .await;
    assert_eq!(structured(&result)["rows"][0][0], 8);
    client.cancel().await.expect("close");

    // An invalid URI is refused and the file is left alone.
    let before = std::fs::read_to_string(&file).expect("read");
    let output = std::process::Command::new(querygate_bin())
        .args(["config", "--path"])
        .arg(&file)
        .args(["--teleport", "teleport://clusters/test/hr", "--overwrite"])
        .output()
        .expect("querygate runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("does not name a cluster and a database")
    );
    assert_eq!(std::fs::read_to_string(&file).expect("read"), before);
}
