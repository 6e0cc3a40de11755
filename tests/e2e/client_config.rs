//! `querygate config` merges its entry into an MCP client's configuration without clobbering,
//! takes Teleport databases out of tsh's ungated entry, never loses a file, and `--check`
//! finds the ungated paths left: in each client's format.

use crate::support::{querygate, stderr, stdout};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const HR: &str = "teleport://clusters/prod/databases/hr?dbName=hr&dbUser=reader";
const FINANCE: &str = "teleport://clusters/prod/databases/finance?dbName=finance&dbUser=reader";

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("file written")).expect("valid JSON")
}

/// How one client keeps its servers.
struct Format {
    client: &'static str,
    file: &'static str,
    key: &'static str,
    /// Entries carry `"type": "stdio"`.
    typed: bool,
}

const FORMATS: [Format; 4] = [
    Format {
        client: "claude",
        file: "claude_desktop_config.json",
        key: "mcpServers",
        typed: false,
    },
    Format {
        client: "cursor",
        file: "mcp.json",
        key: "mcpServers",
        typed: false,
    },
    Format {
        client: "vscode",
        file: "mcp.json",
        key: "servers",
        typed: true,
    },
    Format {
        client: "claude-code",
        file: ".mcp.json",
        key: "mcpServers",
        typed: true,
    },
];

impl Format {
    /// What `tsh mcp db config` writes for `uris`.
    fn tsh_entry(&self, uris: &[&str]) -> Value {
        let mut args = vec!["mcp", "db", "start"];
        args.extend(uris);
        let mut entry = json!({"command": "/usr/local/bin/tsh", "args": args});
        if self.typed {
            entry["type"] = json!("stdio");
        }
        entry
    }

    /// A file with tsh's entry for `uris`, an unrelated server and an unrelated setting;
    /// returns its path and exact text.
    fn write(&self, dir: &Path, uris: &[&str]) -> (PathBuf, String) {
        let path = dir.join(self.file);
        let mut document = json!({"theme": "dark"});
        document[self.key] = json!({
            "teleport-databases": self.tsh_entry(uris),
            "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]},
        });
        let text = serde_json::to_string_pretty(&document).expect("json");
        std::fs::write(&path, &text).expect("write");
        (path, text)
    }

    fn config(&self, path: &Path, args: &[&str]) -> std::process::Output {
        let path = path.display().to_string();
        let mut all = vec!["config", "--client", self.client, "--path", &path];
        all.extend(args);
        querygate(&all)
    }

    fn check(&self, path: &Path) -> std::process::Output {
        self.config(path, &["--check"])
    }

    fn servers<'a>(&self, document: &'a Value) -> &'a Value {
        &document[self.key]
    }
}

fn lines_starting<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

fn backup(path: &Path) -> PathBuf {
    let mut name = path.file_name().expect("file name").to_os_string();
    name.push(".bak");
    path.with_file_name(name)
}

#[test]
fn client_config_moves_the_teleport_uri_out_of_tsh_and_keeps_a_backup_in_every_format() {
    for format in &FORMATS {
        let dir = tempfile::tempdir().expect("tempdir");
        let (file, before) = format.write(dir.path(), &[HR]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let output = format.config(&file, &["--teleport", HR]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}: {}",
            format.client,
            stderr(&output)
        );

        let written = read(&file);
        let servers = format.servers(&written);
        assert_eq!(
            servers.get("teleport-databases"),
            None,
            "{}: {written}",
            format.client
        );
        assert_eq!(
            servers["files"]["args"][1],
            "@modelcontextprotocol/server-filesystem"
        );
        assert_eq!(written["theme"], "dark");
        let args = &servers["querygate"]["args"];
        assert_eq!(args[0], "serve");
        assert!(
            args.as_array().expect("args").contains(&json!(HR)),
            "{args}"
        );
        assert_eq!(
            servers["querygate"].get("type").is_some(),
            format.typed,
            "{written}"
        );

        let err = stderr(&output);
        assert_eq!(
            lines_starting(&err, "moved "),
            [format!(
                "moved `{HR}` from `teleport-databases` (tsh mcp db start) to `querygate`"
            )],
            "{}: {err}",
            format.client
        );
        assert!(
            err.contains("removed `teleport-databases`: no database was left in it"),
            "{err}"
        );

        // The previous file, byte for byte, beside it; the new one keeps its permissions, and
        // no temporary file is left behind.
        assert_eq!(
            std::fs::read_to_string(backup(&file)).expect("backup"),
            before
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", format.client);
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [format.file.to_string(), format!("{}.bak", format.file)]
        );

        // Nothing ungated is left.
        let output = format.check(&file);
        assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
        assert!(
            stdout(&output).contains("no ungated database path beside querygate (`querygate`)"),
            "{}",
            stdout(&output)
        );
    }
}

#[test]
fn client_config_moves_only_the_named_uri_from_a_tsh_entry_with_several_in_every_format() {
    // The same database as FINANCE, its query written the other way round.
    let finance_reordered =
        "teleport://clusters/prod/databases/finance?dbUser=reader&dbName=finance";
    for format in &FORMATS {
        let dir = tempfile::tempdir().expect("tempdir");
        let (file, _) = format.write(dir.path(), &[HR, FINANCE]);
        let output = format.config(&file, &["--teleport", finance_reordered]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let written = read(&file);
        assert_eq!(
            format.servers(&written)["teleport-databases"],
            format.tsh_entry(&[HR]),
            "{}",
            format.client
        );
        let err = stderr(&output);
        assert_eq!(
            lines_starting(&err, "moved "),
            [format!(
                "moved `{FINANCE}` from `teleport-databases` (tsh mcp db start) to `querygate`"
            )]
        );
        assert!(!err.contains("removed"), "{err}");

        // HR is still reachable without querygate: --check finds it and fails.
        let output = format.check(&file);
        assert_eq!(output.status.code(), Some(1), "{}", format.client);
        let out = stdout(&output);
        assert!(
            out.contains("1 ungated database path beside querygate (`querygate`)"),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "`teleport-databases` starts Teleport's `tsh mcp db start` for `{HR}`"
            )),
            "{out}"
        );
    }
}

#[test]
fn client_config_keep_tsh_keeps_the_entry_and_warns_naming_it_in_every_format() {
    for format in &FORMATS {
        let dir = tempfile::tempdir().expect("tempdir");
        let (file, _) = format.write(dir.path(), &[HR]);
        let output = format.config(&file, &["--teleport", HR, "--keep-tsh"]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let written = read(&file);
        assert_eq!(
            format.servers(&written)["teleport-databases"],
            format.tsh_entry(&[HR])
        );
        let err = stderr(&output);
        assert!(
            err.contains(&format!(
                "warning: `teleport-databases` (tsh mcp db start) still serves `{HR}` without \
                 querygate: an assistant that picks its tools bypasses every policy"
            )),
            "{}: {err}",
            format.client
        );
        assert!(lines_starting(&err, "moved ").is_empty(), "{err}");
        let kept = std::fs::read_to_string(&file).expect("read");
        assert_eq!(format.check(&file).status.code(), Some(1));

        // Run again without --keep-tsh: the entry is complete already, the URI moves now, and
        // the backup is the file as it was just before.
        let output = format.config(&file, &["--teleport", HR]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        assert_eq!(format.servers(&read(&file)).get("teleport-databases"), None);
        assert_eq!(
            std::fs::read_to_string(backup(&file)).expect("backup"),
            kept
        );
        assert_eq!(format.check(&file).status.code(), Some(0));
    }
}

#[test]
fn client_config_never_overwrites_a_malformed_file_and_says_where_it_stopped_in_every_format() {
    for format in &FORMATS {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join(format.file);
        // A trailing comma, as a hand edit leaves it.
        let text = format!(
            "{{\n  \"{}\": {{\n    \"teleport-databases\": {{\"command\": \"tsh\", \"args\": [\"mcp\", \"db\", \"start\", \"{HR}\"]}},\n  }}\n}}\n",
            format.key
        );
        std::fs::write(&file, &text).expect("write");
        for args in [vec!["--teleport", HR], vec!["--check"]] {
            let output = format.config(&file, &args);
            assert_eq!(output.status.code(), Some(2), "{}", format.client);
            let err = stderr(&output);
            assert!(
                err.contains("is not valid JSON: parsing stopped at line 4, column 3"),
                "{err}"
            );
            assert!(err.contains("left untouched"), "{err}");
            assert_eq!(std::fs::read_to_string(&file).expect("read"), text);
            assert!(!backup(&file).exists());
        }
    }
}

#[test]
fn config_merges_with_other_servers_and_replaces_only_with_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("claude_desktop_config.json");
    let other = json!({"command": "uvx", "args": ["mcp-server-time"]});
    std::fs::write(
        &file,
        serde_json::to_string(&json!({"theme": "dark", "mcpServers": {"time": other}}))
            .expect("json"),
    )
    .expect("write");
    let qg_config = dir.path().join("querygate.toml");
    std::fs::write(&qg_config, "").expect("write");
    let path = file.display().to_string();
    let cfg = qg_config.display().to_string();

    let output = querygate(&["config", "--path", &path, "--config", &cfg]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let written = read(&file);
    assert_eq!(written["theme"], "dark");
    assert_eq!(written["mcpServers"]["time"], other);
    let entry = &written["mcpServers"]["querygate"];
    assert!(
        entry["command"]
            .as_str()
            .is_some_and(|c| c.ends_with("querygate")),
        "{entry}"
    );
    assert_eq!(entry["args"][0], "serve");
    assert_eq!(entry["args"][1], "--config");
    assert!(
        entry["args"][2]
            .as_str()
            .is_some_and(|p| p.starts_with('/')),
        "{entry}"
    );

    // The same again changes nothing, and writes nothing.
    let before = std::fs::read_to_string(&file).expect("read");
    std::fs::remove_file(backup(&file)).expect("a backup was written");
    let output = querygate(&["config", "--path", &path, "--config", &cfg]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("already has this `querygate` entry"));
    assert!(!backup(&file).exists());

    // A different entry under the same name is refused without --overwrite; nothing changes.
    let output = querygate(&["config", "--path", &path, "--demo"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--overwrite"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read_to_string(&file).expect("read"), before);

    let output = querygate(&["config", "--path", &path, "--demo", "--overwrite"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let written = read(&file);
    assert_eq!(
        written["mcpServers"]["querygate"]["args"],
        json!(["serve", "--demo"])
    );
    assert_eq!(written["mcpServers"]["time"], other);
}

#[test]
fn config_for_vscode_uses_its_servers_key_and_stdio_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("mcp.json");
    let path = file.display().to_string();
    let output = querygate(&["config", "--client", "vscode", "--path", &path, "--demo"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let written = read(&file);
    assert_eq!(written["servers"]["querygate"]["type"], "stdio");
    assert_eq!(
        written["servers"]["querygate"]["args"],
        json!(["serve", "--demo"])
    );
}
