//! `querygate config --database NAME=URL`: the entry works as written (Claude Code's project
//! `.mcp.json` and its `claude mcp add` line), a password never goes into the client's file,
//! and another PostgreSQL MCP server on the same database is warned about and found by
//! `--check`.

use crate::serve::{call, demo_postgres, structured};
use crate::support::{querygate, querygate_bin, repo, stderr, stdout};
use rmcp::ServiceExt;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::{Value, json};
use std::path::Path;

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("file written")).expect("valid JSON")
}

/// Other servers, as their READMEs configure them; a comment says whether each reaches
/// `hr` on this machine's port 5432.
fn peers() -> Value {
    json!({
        // Same: localhost is 127.0.0.1.
        "pg-reference": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-postgres", "postgresql://localhost:5432/hr"]},
        // Same, through environment variables.
        "toolbox": {"command": "/opt/toolbox", "args": ["--prebuilt", "postgres", "--stdio"],
            "env": {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "5432", "POSTGRES_DATABASE": "hr", "POSTGRES_USER": "analyst", "POSTGRES_PASSWORD": "hunter2"}},
        // Same, pinned version, DSN in one word, from Docker.
        "dbhub-same": {"command": "docker", "args": ["run", "-i", "--rm", "bytebase/dbhub:0.11", "--transport", "stdio", "--dsn=postgres://u:hunter2@host.docker.internal/hr?sslmode=disable"]},
        // Another database on the same server.
        "pg-pro": {"command": "docker", "args": ["run", "-i", "--rm", "-e", "DATABASE_URI", "crystaldba/postgres-mcp", "--access-mode=unrestricted"],
            "env": {"DATABASE_URI": "postgresql://u:hunter2@localhost:5432/finance"}},
        // Another port.
        "dbhub-other": {"command": "npx", "args": ["-y", "@bytebase/dbhub", "--transport", "stdio", "--dsn", "postgres://u@localhost:5433/hr"]},
        // Not PostgreSQL at all.
        "dbhub-mysql": {"command": "npx", "args": ["-y", "@bytebase/dbhub", "--dsn", "mysql://u@localhost:3306/hr"]},
        "teleport-databases": {"command": "tsh", "args": ["mcp", "db", "start", "teleport://clusters/prod/databases/hr?dbName=hr&dbUser=reader"]},
    })
}

#[test]
fn client_config_database_warns_about_known_postgres_servers_on_the_same_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("claude_desktop_config.json");
    std::fs::write(&file, json!({"mcpServers": peers()}).to_string()).expect("write");
    let path = file.display().to_string();
    let output = querygate(&[
        "config",
        "--path",
        &path,
        "--database",
        "hr=postgres://reader@127.0.0.1/hr?sslmode=require",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let err = stderr(&output);
    let mut warned: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_prefix("warning: `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    warned.sort();
    assert_eq!(warned, ["dbhub-same", "pg-reference", "toolbox"], "{err}");
    assert!(
        err.contains(
            "warning: `toolbox` in this file starts MCP Toolbox for PostgreSQL (`toolbox`) on \
             `localhost:5432/hr`, the database querygate serves as `hr`: an assistant that picks \
             its tools bypasses every policy; remove that entry"
        ),
        "{err}"
    );
    // Warned about, not removed: only tsh entries are moved, and only with --teleport.
    assert_eq!(
        read(&file)["mcpServers"]
            .as_object()
            .expect("servers")
            .len(),
        8
    );

    // --check lists every PostgreSQL path but querygate's (MySQL is not one), with no password.
    let output = querygate(&["config", "--check", "--path", &path]);
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    assert!(
        out.contains("6 ungated database paths beside querygate (`querygate`):"),
        "{out}"
    );
    let mut listed: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("  `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "dbhub-other",
            "dbhub-same",
            "pg-pro",
            "pg-reference",
            "teleport-databases",
            "toolbox"
        ]
    );
    assert!(
        out.contains(
            "`pg-pro` starts Postgres MCP Pro (`postgres-mcp`) for `localhost:5432/finance`"
        ),
        "{out}"
    );
    assert!(!out.contains("hunter2") && !stderr(&output).contains("hunter2"));
}

#[test]
fn client_config_refuses_to_write_a_password_and_points_to_password_env_or_a_passfile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(".mcp.json");
    let path = file.display().to_string();
    for url in [
        "postgres://reader:s3cret-pw@db.example:5432/hr",
        "host=db.example user=reader password=s3cret-pw dbname=hr",
    ] {
        let flag = format!("hr={url}");
        let output = querygate(&[
            "config",
            "--client",
            "claude-code",
            "--path",
            &path,
            "--database",
            &flag,
        ]);
        assert_eq!(output.status.code(), Some(2));
        let err = stderr(&output);
        assert!(
            err.contains("does not write passwords into a client's configuration"),
            "{err}"
        );
        assert!(err.contains("--password-env hr=VARIABLE"), "{err}");
        assert!(err.contains("passfile"), "{err}");
        assert!(!err.contains("s3cret-pw"), "{err}");
        assert!(!file.exists());
    }
}

/// Make `querygate_reader` log in with a password only (SCRAM), as a real server would.
async fn require_a_password(pg: &querygate::localpg::LocalPostgres, password: &str) {
    let client = pg.superuser_client().await.expect("superuser");
    client
        .batch_execute(&format!(
            "ALTER ROLE querygate_reader PASSWORD '{password}'"
        ))
        .await
        .expect("set the password");
    let hba: String = client
        .query_one("SHOW hba_file", &[])
        .await
        .expect("hba_file")
        .get(0);
    client
        .batch_execute(&format!(
            "COPY (SELECT line FROM (VALUES \
               (1, 'local all querygate_reader scram-sha-256'), \
               (2, 'local all all trust')) AS l(n, line) ORDER BY n) TO '{hba}'; \
             SELECT pg_reload_conf();"
        ))
        .await
        .expect("rewrite pg_hba.conf");
    // The reload is asynchronous: wait until a password-less login is refused.
    let url = pg.url("postgres", "querygate_reader");
    for _ in 0..100 {
        if tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the server still lets querygate_reader in without a password");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_config_for_claude_code_with_password_env_writes_an_entry_that_works() {
    let pg = demo_postgres().await;
    require_a_password(&pg, "s3cret-pw").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = pg.url("postgres", "querygate_reader");
    let flag = format!("hr={url}");

    // Claude Code's project file is `.mcp.json` in the current folder.
    let output = std::process::Command::new(querygate_bin())
        .args(["config", "--client", "claude-code", "--database", &flag])
        .args(["--password-env", "hr=QG_E2E_HR_PASSWORD"])
        .current_dir(dir.path())
        .output()
        .expect("querygate runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let written = read(&dir.path().join(".mcp.json"));
    let entry = &written["mcpServers"]["querygate"];
    assert_eq!(entry["type"], "stdio");
    assert_eq!(
        entry["args"],
        json!([
            "serve",
            "--database",
            flag,
            "--password-env",
            "hr=QG_E2E_HR_PASSWORD"
        ])
    );
    let command = entry["command"].as_str().expect("command").to_string();
    let args: Vec<String> = entry["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string").to_string())
        .collect();

    // The printed `claude mcp add` line is that entry, word for word, once a shell reads it.
    let line = stdout(&output);
    assert_eq!(line.lines().count(), 1, "{line}");
    let words = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("printf '%s\\n' {}", line.trim()))
        .output()
        .expect("sh runs");
    let words: Vec<String> = stdout(&words).lines().map(str::to_string).collect();
    let mut expected: Vec<String> = [
        "claude",
        "mcp",
        "add",
        "--scope",
        "project",
        "querygate",
        "--",
    ]
    .map(str::to_string)
    .to_vec();
    expected.push(command.clone());
    expected.extend(args.iter().cloned());
    assert_eq!(words, expected);

    // Started as Claude Code would, with the variable in its environment, it queries.
    let transport =
        TokioChildProcess::new(tokio::process::Command::new(&command).configure(|cmd| {
            cmd.args(&args)
                .env("QG_E2E_HR_PASSWORD", "s3cret-pw")
                .env("XDG_CACHE_HOME", repo().join("target/querygate-test-xdg"));
        }))
        .expect("the configured command starts");
    let client = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("claude-code-ish", "1.0"),
    )
    .serve(transport)
    .await
    .expect("MCP handshake");
    let result = call(
        &client,
        "query",
        json!({"database": "hr", "sql": "SELECT count(*) FROM departments"}),
    )
    .await;
    assert_eq!(structured(&result)["rows"][0][0], 8);
    client.cancel().await.expect("close");

    // Without the variable the server refuses to start, naming it.
    let output = std::process::Command::new(&command)
        .args(&args)
        .env_remove("QG_E2E_HR_PASSWORD")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("querygate runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output)
            .contains("environment variable `QG_E2E_HR_PASSWORD` (password_env) is not set"),
        "{}",
        stderr(&output)
    );
}
