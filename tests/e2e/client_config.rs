//! `querygate config` merges its entry into an MCP client's configuration without clobbering.

use crate::support::{querygate, stderr};
use serde_json::{Value, json};

fn read(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("file written")).expect("valid JSON")
}

#[test]
fn config_merges_with_other_servers_and_replaces_only_with_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("claude_desktop_config.json");
    let other = json!({"command": "tsh", "args": ["mcp", "db", "start"]});
    std::fs::write(
        &file,
        serde_json::to_string(&json!({"theme": "dark", "mcpServers": {"teleport": other}}))
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
    assert_eq!(written["mcpServers"]["teleport"], other);
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

    // A different entry under the same name is refused without --overwrite; nothing changes.
    let before = std::fs::read_to_string(&file).expect("read");
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
    assert_eq!(written["mcpServers"]["teleport"], other);
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
