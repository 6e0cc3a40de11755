//! `querygate config`: write (or print) the entry that makes an MCP client start
//! `querygate serve`, merging with the client's existing configuration: other servers are never
//! touched, except the ways around querygate to the same databases, and an existing `querygate`
//! entry is only replaced with `--overwrite`.
//!
//! - With `--teleport URI`, the entry is the drop-in for what `tsh mcp db config` writes, and
//!   the URI moves out of the file's `tsh mcp db start` entry ([`tsh`]) unless `--keep-tsh`.
//! - With `--database NAME=URL`, another server reaching the same database is warned about
//!   ([`known`]); a URL with a password is refused ([`entry`]).
//! - `--check` reports the ungated ways to PostgreSQL in a client's file ([`check`]).
//! - Files are never lost: see [`file`].

mod check;
mod entry;
mod file;
mod known;
mod tsh;

use super::Exit;
use crate::config::Config;
use crate::database::Endpoint;
use crate::teleport::TeleportUri;
use anyhow::Context as _;
use clap::{Args, ValueEnum};
use file::ClientFile;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The MCP client to configure.
    #[arg(long, value_enum, required_unless_present_any = ["path", "check"])]
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
    /// A PostgreSQL database to serve, as NAME=URL (a postgres:// URL or a key=value
    /// connection string, without a password); repeatable. Warns when another server in the
    /// file reaches the same database.
    #[arg(long, value_name = "NAME=URL", conflicts_with = "demo")]
    database: Vec<String>,
    /// Read the password of database NAME from environment variable VARIABLE when the server
    /// starts (the `password_env` of a [[database]]); repeatable.
    #[arg(long, value_name = "NAME=VARIABLE")]
    password_env: Vec<String>,
    /// A Teleport database to serve, as `tsh mcp db config` writes it:
    /// `teleport://clusters/C/databases/NAME?dbName=D&dbUser=U` (repeatable). The entry also
    /// serves Teleport's tool names, so prompts written for `tsh mcp db start` keep working,
    /// and the URI is moved out of the file's `tsh mcp db start` entry.
    #[arg(long, value_name = "URI", conflicts_with = "demo")]
    teleport: Vec<String>,
    /// Leave the `tsh mcp db start` entry as it is (an ungated way to the same databases).
    #[arg(long, requires = "teleport")]
    keep_tsh: bool,
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
    /// Write nothing: report the servers in the client's file (every client's, without
    /// --client or --path) that reach PostgreSQL without querygate; exit 1 if there is one.
    #[arg(long, conflicts_with_all = ["server_config", "demo", "database", "password_env", "teleport", "overwrite", "print"])]
    check: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Client {
    /// Claude Desktop (`claude_desktop_config.json`).
    Claude,
    /// Cursor (`~/.cursor/mcp.json`).
    Cursor,
    /// VS Code (`.vscode/mcp.json` in the current folder).
    Vscode,
    /// Claude Code, project scope (`.mcp.json` in the current folder).
    ClaudeCode,
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
            Client::ClaudeCode => PathBuf::from(".mcp.json"),
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

pub fn run(args: &ConfigArgs) -> anyhow::Result<Exit> {
    let path = match (&args.path, args.client) {
        (Some(path), _) => Some(path.clone()),
        (None, Some(client)) => Some(client.default_path()?),
        (None, None) => None,
    };
    if args.check {
        return match path {
            Some(path) => check::run(&[path], true),
            None => {
                let every: Vec<PathBuf> = Client::value_variants()
                    .iter()
                    .filter_map(|c| c.default_path().ok())
                    .collect();
                check::run(&every, false)
            }
        };
    }
    let path = path.context("give --client or --path")?;
    let planned = entry::plan(args)?;
    let entry = planned.entry(args.client);

    let mut file = ClientFile::read(&path)?;
    let servers = file.servers_mut(Client::servers_key(args.client))?;
    match servers.get(&args.name) {
        Some(existing) if *existing == entry => {}
        Some(_) if !args.overwrite => anyhow::bail!(
            "`{}` already has a server named `{}`: pass --overwrite to replace it, or --name to add another",
            path.display(),
            args.name
        ),
        _ => {
            servers.insert(args.name.clone(), entry);
        }
    }
    let moves = tsh::take_out(servers, &planned.teleport, &args.name, args.keep_tsh);
    let mut warnings = moves.warnings;
    warnings.extend(same_database_elsewhere(servers, args, &planned.databases));
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }

    if !file.changed() {
        eprintln!(
            "`{}` already has this `{}` entry",
            path.display(),
            args.name
        );
        if !args.print {
            return Ok(Exit::Success);
        }
    }
    if args.print {
        print!("{}", file.text()?);
        for line in &moves.moved {
            eprintln!("{line} (printed, not written)");
        }
        if args.client == Some(Client::ClaudeCode) {
            eprintln!(
                "or with Claude Code's CLI: {}",
                planned.claude_mcp_add(&args.name)
            );
        }
        return Ok(Exit::Success);
    }
    let backup = file.write()?;
    eprintln!("wrote the `{}` server to `{}`", args.name, path.display());
    for line in &moves.moved {
        eprintln!("{line}");
    }
    if let Some(backup) = backup {
        eprintln!("the previous file is kept as `{}`", backup.display());
    }
    if args.client == Some(Client::ClaudeCode) {
        eprintln!("the same with Claude Code's CLI:");
        println!("{}", planned.claude_mcp_add(&args.name));
    }
    Ok(Exit::Success)
}

/// Warnings for the other entries that start a known PostgreSQL server on a database this
/// entry serves: the `--database` ones, and the plain ones of `--config` when it loads.
fn same_database_elsewhere(
    servers: &serde_json::Map<String, serde_json::Value>,
    args: &ConfigArgs,
    databases: &[(String, Endpoint)],
) -> Vec<String> {
    let mut ours: Vec<(String, Endpoint)> = databases.to_vec();
    if let Some(config) = args
        .server_config
        .as_deref()
        .and_then(|p| Config::load(p).ok())
    {
        ours.extend(config.databases.iter().filter_map(|d| {
            let plain = !TeleportUri::is_teleport(&d.url);
            plain
                .then(|| Endpoint::parse(&d.url).ok())
                .flatten()
                .map(|e| (d.name.clone(), e))
        }));
    }
    let mut warnings = Vec::new();
    for (name, entry) in servers.iter().filter(|(n, _)| **n != args.name) {
        let Some(recognised) = known::recognise(entry) else {
            continue;
        };
        for target in &recognised.targets {
            let known::Target::Postgres(theirs) = target else {
                continue;
            };
            if let Some((db, _)) = ours.iter().find(|(_, e)| e.same_database(theirs)) {
                warnings.push(format!(
                    "`{name}` in this file starts {} on `{theirs}`, the database querygate \
                     serves as `{db}`: an assistant that picks its tools bypasses every policy; \
                     remove that entry",
                    recognised.kind
                ));
            }
        }
    }
    warnings
}
