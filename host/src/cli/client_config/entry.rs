//! The server entry `querygate config` writes: the command line of `querygate serve` for the
//! databases asked for, checked before anything is written, and the same as a `claude mcp add`
//! line for Claude Code.
//!
//! A password never goes into a client's configuration, which is a plain file that other
//! programs, backups and dotfile repositories read: a `--database` URL holding one is refused,
//! with the ways querygate reads a password instead (`--password-env`, a passfile, or
//! `password_env` / `passfile` in a querygate.toml).

use super::{Client, ConfigArgs};
use crate::database::Endpoint;
use crate::teleport::TeleportUri;
use anyhow::Context as _;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// What will be written, and what it serves.
pub(super) struct Planned {
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub teleport: Vec<TeleportUri>,
    /// `--database` names and where they point.
    pub databases: Vec<(String, Endpoint)>,
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve `{}`", path.display()))
}

/// `NAME=URL`, checked: a name, a readable PostgreSQL connection string, no password.
fn database_flag(flag: &str) -> anyhow::Result<(String, String, Endpoint)> {
    let flag = flag.trim();
    if TeleportUri::is_teleport(flag) {
        anyhow::bail!("--database: give a Teleport database with --teleport `{flag}`");
    }
    let (name, url) = flag
        .split_once('=')
        .filter(|(name, _)| !name.is_empty() && !name.contains(char::is_whitespace))
        .context(
            "--database takes NAME=URL (a postgres:// URL or a key=value connection string)",
        )?;
    if TeleportUri::is_teleport(url) {
        anyhow::bail!("--database `{name}`: give a Teleport database with --teleport `{url}`");
    }
    let endpoint = Endpoint::parse(url).map_err(|e| anyhow::anyhow!("--database `{name}`: {e}"))?;
    if endpoint.has_password {
        anyhow::bail!(
            "--database `{name}`: the URL holds a password, and querygate does not write \
             passwords into a client's configuration (a plain file other programs and backups \
             read); remove it from the URL and give it through `--password-env {name}=VARIABLE` \
             (an environment variable the client passes to querygate), a passfile \
             (`passfile=/path/to/pgpass` in the URL: pgpass format, mode 0600), or `password_env` \
             / `passfile` in a [[database]] of a querygate.toml given with --config"
        );
    }
    Ok((name.to_string(), url.to_string(), endpoint))
}

/// Check the arguments and assemble the `querygate serve` command line.
pub(super) fn plan(args: &ConfigArgs) -> anyhow::Result<Planned> {
    let command = std::env::current_exe().context("cannot find the querygate binary")?;
    let mut serve = vec!["serve".to_string()];
    if args.demo {
        serve.push("--demo".into());
    }
    if let Some(config) = &args.server_config {
        anyhow::ensure!(
            config.exists(),
            "`{}` does not exist: give the path of your querygate.toml",
            config.display()
        );
        serve.push("--config".into());
        serve.push(absolute(config)?.display().to_string());
    }
    let mut databases = Vec::new();
    for flag in &args.database {
        let (name, url, endpoint) = database_flag(flag)?;
        serve.push("--database".into());
        serve.push(format!("{name}={url}"));
        databases.push((name, endpoint));
    }
    for flag in &args.password_env {
        let (name, var) = flag
            .split_once('=')
            .filter(|(name, var)| !name.is_empty() && is_variable_name(var))
            .with_context(|| {
                format!("--password-env `{flag}` is not NAME=VARIABLE (a database name and an environment variable's name)")
            })?;
        anyhow::ensure!(
            args.server_config.is_some() || databases.iter().any(|(n, _)| n == name),
            "--password-env `{flag}`: there is no --database `{name}`"
        );
        serve.push("--password-env".into());
        serve.push(format!("{name}={var}"));
    }
    let mut teleport = Vec::new();
    for uri in &args.teleport {
        teleport.push(TeleportUri::parse(uri).map_err(|e| anyhow::anyhow!("--teleport: {e}"))?);
        serve.push("--database".into());
        serve.push(uri.trim().to_string());
    }
    let mut env = Vec::new();
    if !teleport.is_empty() {
        serve.push("--teleport-tools".into());
        if let Some(tsh) = &args.tsh {
            serve.push("--tsh".into());
            serve.push(absolute(tsh)?.display().to_string());
        }
        // tsh finds its login through TELEPORT_HOME: a client starts servers with its own
        // environment, so a non-default one is written down.
        if let Some(home) = std::env::var_os("TELEPORT_HOME").filter(|h| !h.is_empty()) {
            let home = absolute(Path::new(&home))?;
            env.push(("TELEPORT_HOME".to_string(), home.display().to_string()));
        }
    }
    Ok(Planned {
        command: command.display().to_string(),
        args: serve,
        env,
        teleport,
        databases,
    })
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Planned {
    /// The entry in the client's own shape.
    pub fn entry(&self, client: Option<Client>) -> Value {
        let mut entry = json!({ "command": self.command, "args": self.args });
        if !self.env.is_empty() {
            entry["env"] = self.env.iter().cloned().collect();
        }
        // VS Code requires the transport; Claude Code's own `claude mcp add` writes it.
        if matches!(client, Some(Client::Vscode | Client::ClaudeCode)) {
            entry["type"] = json!("stdio");
        }
        entry
    }

    /// The `claude mcp add` line that adds the same server to Claude Code.
    pub fn claude_mcp_add(&self, name: &str) -> String {
        let mut words = vec!["claude", "mcp", "add", "--scope", "project"]
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>();
        for (key, value) in &self.env {
            words.push("--env".into());
            words.push(format!("{key}={value}"));
        }
        words.push(name.to_string());
        words.push("--".into());
        words.push(self.command.clone());
        words.extend(self.args.iter().cloned());
        words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A word as a POSIX shell reads it back unchanged.
fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-+=:,./@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_round_trip_through_quotes() {
        assert_eq!(shell_quote("--database"), "--database");
        assert_eq!(
            shell_quote("teleport://clusters/c/databases/hr?dbName=hr&dbUser=r"),
            "'teleport://clusters/c/databases/hr?dbName=hr&dbUser=r'"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn a_database_flag_with_a_password_is_refused_without_echoing_it() {
        for url in [
            "postgres://reader:hunter2@db/hr",
            "host=db user=reader password=hunter2",
            "postgresql://reader@db/hr?password=hunter2",
        ] {
            let e = database_flag(&format!("hr={url}")).expect_err("refused");
            let e = e.to_string();
            assert!(e.contains("password_env") && e.contains("passfile"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        let (name, _, endpoint) =
            database_flag("hr=postgres://reader@db/hr?passfile=/home/r/.pgpass").expect("ok");
        assert_eq!(
            (name.as_str(), endpoint.to_string()),
            ("hr", "db:5432/hr".into())
        );
    }
}
