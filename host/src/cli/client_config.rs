//! `querygate config`: write (or print) the entry that makes an MCP client start
//! `querygate serve`, merging with the client's existing configuration: other servers are never
//! touched, and an existing `querygate` entry is only replaced with `--overwrite`.
//!
//! With `--teleport URI`, the entry is the drop-in for what `tsh mcp db config` writes: the same
//! databases, through tsh, with Teleport's tool names also served.

use super::Exit;
use crate::teleport::TeleportUri;
use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The MCP client to configure.
    #[arg(long, value_enum, required_unless_present = "path")]
    client: Option<Client>,
    /// Write to this file instead of the client's usual one (an `mcpServers` JSON file).
    #[arg(long, value_name = "FILE")]
    path: Option<PathBuf>,
    /// The querygate configuration the server should use.
    #[arg(long = "config", short = 'c', value_name = "FILE")]
    server_config: Option<PathBuf>,
    /// Serve the demo database instead of a configuration.
    #[arg(long, conflicts_with = "server_config")]
    demo: bool,
    /// A Teleport database to serve, as `tsh mcp db config` writes it:
    /// `teleport://clusters/C/databases/NAME?dbName=D&dbUser=U` (repeatable). The entry also
    /// serves Teleport's tool names, so prompts written for `tsh mcp db start` keep working.
    #[arg(long, value_name = "URI", conflicts_with = "demo")]
    teleport: Vec<String>,
    /// The tsh executable the server should run for --teleport databases.
    #[arg(long, value_name = "PATH", requires = "teleport")]
    tsh: Option<PathBuf>,
    /// Name of the server entry.
    #[arg(long, default_value = "querygate")]
    name: String,
    /// Replace an existing entry of that name.
    #[arg(long)]
    overwrite: bool,
    /// Print the merged file instead of writing it.
    #[arg(long)]
    print: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Client {
    /// Claude Desktop (`claude_desktop_config.json`).
    Claude,
    /// Cursor (`~/.cursor/mcp.json`).
    Cursor,
    /// VS Code (`.vscode/mcp.json` in the current folder).
    Vscode,
}

impl Client {
    fn default_path(self) -> anyhow::Result<PathBuf> {
        let home = || {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .context("HOME is not set: give the file with --path")
        };
        Ok(match self {
            Client::Claude if cfg!(target_os = "macos") => {
                home()?.join("Library/Application Support/Claude/claude_desktop_config.json")
            }
            Client::Claude => std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .map_or_else(|| home().map(|h| h.join(".config")), Ok)?
                .join("Claude/claude_desktop_config.json"),
            Client::Cursor => home()?.join(".cursor/mcp.json"),
            Client::Vscode => PathBuf::from(".vscode/mcp.json"),
        })
    }

    /// VS Code keeps servers under `servers` with a `type`; the others under `mcpServers`.
    fn servers_key(client: Option<Client>) -> &'static str {
        match client {
            Some(Client::Vscode) => "servers",
            _ => "mcpServers",
        }
    }
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve `{}`", path.display()))
}

pub fn run(args: &ConfigArgs) -> anyhow::Result<Exit> {
    let path = match (&args.path, args.client) {
        (Some(path), _) => path.clone(),
        (None, Some(client)) => client.default_path()?,
        (None, None) => anyhow::bail!("give --client or --path"),
    };
    let command = std::env::current_exe().context("cannot find the querygate binary")?;
    let mut serve_args = vec!["serve".to_string()];
    if args.demo {
        serve_args.push("--demo".into());
    }
    if let Some(config) = &args.server_config {
        anyhow::ensure!(
            config.exists(),
            "`{}` does not exist: give the path of your querygate.toml",
            config.display()
        );
        serve_args.push("--config".into());
        serve_args.push(absolute(config)?.display().to_string());
    }
    if !args.teleport.is_empty() {
        for uri in &args.teleport {
            TeleportUri::parse(uri).map_err(|e| anyhow::anyhow!("--teleport: {e}"))?;
            serve_args.push("--database".into());
            serve_args.push(uri.trim().to_string());
        }
        serve_args.push("--teleport-tools".into());
        if let Some(tsh) = &args.tsh {
            serve_args.push("--tsh".into());
            serve_args.push(absolute(tsh)?.display().to_string());
        }
    }
    let mut entry = json!({ "command": command.display().to_string(), "args": serve_args });
    // tsh finds its login through TELEPORT_HOME: a client starts servers with its own
    // environment, so a non-default one is written down.
    if !args.teleport.is_empty()
        && let Some(home) = std::env::var_os("TELEPORT_HOME").filter(|h| !h.is_empty())
    {
        let home = absolute(Path::new(&home))?;
        entry["env"] = json!({ "TELEPORT_HOME": home.display().to_string() });
    }
    if args.client == Some(Client::Vscode) {
        entry["type"] = json!("stdio");
    }

    let mut document = match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => {
            serde_json::from_str::<Value>(&text).with_context(|| {
                format!(
                    "`{}` is not valid JSON: fix or move it first",
                    path.display()
                )
            })?
        }
        Ok(_) => json!({}),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    };
    let root = document
        .as_object_mut()
        .with_context(|| format!("`{}` is not a JSON object", path.display()))?;
    let servers = root
        .entry(Client::servers_key(args.client))
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .with_context(|| {
            format!(
                "`{}` has a servers entry that is not an object",
                path.display()
            )
        })?;
    match servers.get(&args.name) {
        Some(existing) if *existing == entry => {
            eprintln!(
                "`{}` already has this `{}` entry",
                path.display(),
                args.name
            );
            if !args.print {
                return Ok(Exit::Success);
            }
        }
        Some(_) if !args.overwrite => anyhow::bail!(
            "`{}` already has a server named `{}`: pass --overwrite to replace it, or --name to add another",
            path.display(),
            args.name
        ),
        _ => {
            servers.insert(args.name.clone(), entry);
        }
    }
    let text = format!("{}\n", serde_json::to_string_pretty(&document)?);
    if args.print {
        print!("{text}");
        return Ok(Exit::Success);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    let mut file = tempfile::NamedTempFile::new_in(
        path.parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    file.persist(&path)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    eprintln!("wrote the `{}` server to `{}`", args.name, path.display());
    Ok(Exit::Success)
}
