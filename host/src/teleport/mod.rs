//! Teleport databases: `teleport://clusters/<cluster>/databases/<name>?dbName=<db>&dbUser=<user>`,
//! the URI form `tsh mcp db start` takes, reached through a `tsh proxy db --tunnel` child
//! process that querygate starts, supervises and stops ([`Tunnel`]).
//!
//! Teleport authenticates the tunnel with the user's `tsh login` session; querygate connects
//! to the tunnel's local port without TLS (the tunnel itself speaks TLS to Teleport) and with
//! no password. What `tsh` prints is kept, so an expired login or a refused database user can
//! be explained the way Teleport users expect ([`Problem`]).
//!
//! ```toml
//! [teleport]
//! tsh = "/usr/local/bin/tsh"        # default: `tsh` on PATH
//! home = "/home/me/.tsh"            # TELEPORT_HOME for tsh; default: inherited
//! proxy = "teleport.example.com"    # named in `tsh login` hints; default: TELEPORT_PROXY or the cluster
//! start_timeout_ms = 15000          # how long tsh may take to listen
//! tool_names = true                 # also serve teleport_list_databases / teleport_postgres_query
//! ```

mod identity;
mod tunnel;
mod uri;

pub use identity::{IdentityCache, TeleportIdentity};
pub use tunnel::Tunnel;
pub use uri::{SCHEME, TeleportUri};

use serde::Deserialize;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// `[teleport]`: how querygate runs `tsh`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TeleportSettings {
    /// The `tsh` executable; default `tsh`, looked up on PATH.
    pub tsh: PathBuf,
    /// `TELEPORT_HOME` for tsh; default: whatever querygate's environment has.
    pub home: Option<PathBuf>,
    /// The proxy address to name in `tsh login --proxy=…` hints.
    pub proxy: Option<String>,
    /// How long `tsh proxy db` may take to start listening.
    pub start_timeout_ms: u64,
    /// Also serve the tools under Teleport's names (`teleport_list_databases`,
    /// `teleport_postgres_query`), so prompts written for `tsh mcp db start` keep working.
    pub tool_names: bool,
}

impl Default for TeleportSettings {
    fn default() -> Self {
        TeleportSettings {
            tsh: PathBuf::from("tsh"),
            home: None,
            proxy: None,
            start_timeout_ms: 15_000,
            tool_names: false,
        }
    }
}

impl TeleportSettings {
    pub fn start_timeout(&self) -> Duration {
        Duration::from_millis(self.start_timeout_ms.max(1))
    }

    /// A `tsh` command with `TELEPORT_HOME` applied and no stdin.
    pub(crate) fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.tsh);
        if let Some(home) = &self.home {
            command.env("TELEPORT_HOME", home);
        }
        command.stdin(Stdio::null());
        command
    }

    /// The proxy to name in a `tsh login` hint.
    fn proxy_for(&self, cluster: &str) -> String {
        self.proxy
            .clone()
            .or_else(|| {
                std::env::var("TELEPORT_PROXY")
                    .ok()
                    .filter(|v| !v.is_empty())
            })
            .unwrap_or_else(|| cluster.to_string())
    }

    fn home_prefix(&self) -> String {
        match &self.home {
            Some(home) => format!("TELEPORT_HOME={} ", home.display()),
            None => String::new(),
        }
    }

    /// Why tsh could not be started at all.
    pub(crate) fn spawn_error(&self, e: &std::io::Error) -> String {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "cannot run `{}`: not found. Install Teleport's tsh, or set `[teleport] tsh` \
                 (or `--tsh`) to its path",
                self.tsh.display()
            )
        } else {
            format!("cannot run `{}`: {e}", self.tsh.display())
        }
    }
}

/// What tsh's output (or the tunnel's answer) says went wrong, in the terms users act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// No valid `tsh login` session: expired or never made.
    Login,
    /// Teleport refused this database user or database name.
    AccessDenied,
}

impl Problem {
    /// Classify what tsh printed or what the tunnel answered.
    pub fn classify(text: &str) -> Option<Problem> {
        let text = text.to_ascii_lowercase();
        const LOGIN: [&str; 6] = [
            "not logged in",
            "expired",
            "tsh login",
            "please login",
            "please log in",
            "login session",
        ];
        const DENIED: [&str; 3] = ["access denied", "access to db denied", "not authorized"];
        if LOGIN.iter().any(|k| text.contains(k)) {
            Some(Problem::Login)
        } else if DENIED.iter().any(|k| text.contains(k)) {
            Some(Problem::AccessDenied)
        } else {
            None
        }
    }

    /// The message a Teleport user expects: what happened and the command that fixes it.
    pub fn explain(&self, uri: &TeleportUri, settings: &TeleportSettings, said: &str) -> String {
        let said = said.trim();
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(" (tsh: {said})")
        };
        match self {
            Problem::Login => format!(
                "the Teleport login for cluster `{}` has expired or is missing{said}. Run \
                 `{}tsh login --proxy={}` in a terminal, then call again: querygate reconnects by \
                 itself, no restart of the MCP client is needed",
                uri.cluster,
                settings.home_prefix(),
                settings.proxy_for(&uri.cluster)
            ),
            Problem::AccessDenied => format!(
                "Teleport denied access to database `{}` in cluster `{}` as database user `{}`, \
                 database name `{}`{said}. Check that your Teleport roles allow this user and \
                 name (`tsh db ls` lists what you may use), and try `{}tsh db connect {} \
                 --db-user={} --db-name={}` to see Teleport's full answer",
                uri.database,
                uri.cluster,
                uri.db_user,
                uri.db_name,
                settings.home_prefix(),
                uri.database,
                uri.db_user,
                uri.db_name
            ),
        }
    }
}

/// One database `tsh db ls --format=json` offers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Offered {
    pub cluster: String,
    pub name: String,
    pub protocol: String,
    pub description: String,
    #[schemars(schema_with = "crate::mcp::schema::labels")]
    pub labels: serde_json::Map<String, serde_json::Value>,
    /// The URI to configure (`dbName` / `dbUser` still to fill in).
    pub uri: String,
}

/// Ask tsh which databases `cluster` offers (`tsh db ls --format=json`).
pub async fn list_offered(
    settings: &TeleportSettings,
    cluster: &str,
) -> Result<Vec<Offered>, String> {
    let mut command = settings.command();
    command
        .args(["db", "ls", "--format=json", "--cluster", cluster])
        .kill_on_drop(true);
    let output = tokio::time::timeout(settings.start_timeout(), command.output())
        .await
        .map_err(|_| {
            format!(
                "`tsh db ls` did not answer within {} ms",
                settings.start_timeout_ms
            )
        })?
        .map_err(|e| settings.spawn_error(&e))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said.trim();
        let uri = TeleportUri {
            cluster: cluster.to_string(),
            database: String::new(),
            db_name: String::new(),
            db_user: String::new(),
        };
        return Err(match Problem::classify(said) {
            Some(Problem::Login) => Problem::Login.explain(&uri, settings, said),
            _ => format!("`tsh db ls` failed ({}): {said}", output.status),
        });
    }
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| {
        format!("`tsh db ls --format=json` printed something that is not JSON: {e}")
    })?;
    let items = listed
        .as_array()
        .ok_or("`tsh db ls --format=json` printed JSON that is not a list")?;
    Ok(items
        .iter()
        .filter_map(|item| {
            let text = |v: Option<&serde_json::Value>| {
                v.and_then(|v| v.as_str()).unwrap_or("").to_string()
            };
            let metadata = item.get("metadata");
            let name = text(metadata.and_then(|m| m.get("name")));
            if name.is_empty() {
                return None;
            }
            let mut uri = url::Url::parse("teleport://clusters").ok()?;
            uri.path_segments_mut()
                .ok()?
                .extend([cluster, "databases", name.as_str()]);
            Some(Offered {
                cluster: cluster.to_string(),
                protocol: text(item.get("spec").and_then(|s| s.get("protocol"))),
                description: text(metadata.and_then(|m| m.get("description"))),
                labels: metadata
                    .and_then(|m| m.get("labels"))
                    .and_then(|l| l.as_object())
                    .cloned()
                    .unwrap_or_default(),
                uri: uri.to_string(),
                name,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tsh_mcp_uri_form_parses_and_prints_back() {
        let text = "teleport://clusters/teleport.example.com/databases/postgres-dev?dbName=employees&dbUser=reader";
        let uri = TeleportUri::parse(text).expect("parses");
        assert_eq!(uri.cluster, "teleport.example.com");
        assert_eq!(uri.database, "postgres-dev");
        assert_eq!(uri.db_name, "employees");
        assert_eq!(uri.db_user, "reader");
        assert_eq!(uri.to_string(), text);
        assert!(TeleportUri::is_teleport(text));
        assert!(TeleportUri::is_teleport("TELEPORT://clusters/x"));
        assert!(!TeleportUri::is_teleport("postgres://x"));
    }

    #[test]
    fn escaped_values_are_decoded_and_reencoded() {
        let uri =
            TeleportUri::parse("teleport://clusters/c%201/databases/d?dbName=my%20db&dbUser=a%2Bb")
                .expect("parses");
        assert_eq!(uri.cluster, "c 1");
        assert_eq!(uri.db_name, "my db");
        assert_eq!(uri.db_user, "a+b");
        assert_eq!(TeleportUri::parse(&uri.to_string()), Ok(uri));
    }

    #[test]
    fn malformed_uris_say_which_form_is_expected() {
        for (text, says) in [
            ("teleport://clusters/c/databases/d?dbName=x", "no dbUser"),
            ("teleport://clusters/c/databases/d?dbUser=x", "no dbName"),
            (
                "teleport://clusters/c/databases/d?dbName=&dbUser=u",
                "no dbName",
            ),
            (
                "teleport://clusters/c/apps/d?dbName=x&dbUser=u",
                "does not name",
            ),
            (
                "teleport://clusters/c/databases?dbName=x&dbUser=u",
                "does not name",
            ),
            (
                "teleport://nodes/c/databases/d?dbName=x&dbUser=u",
                "not a Teleport",
            ),
            (
                "teleport://clusters/c/databases/d?dbName=x&dbUser=u&sslmode=disable",
                "unknown parameter `sslmode`",
            ),
        ] {
            let error = TeleportUri::parse(text).expect_err(text);
            assert!(error.contains(says), "{text}: {error}");
            assert!(
                error.contains("teleport://clusters/<cluster>"),
                "{text}: {error}"
            );
        }
    }

    #[test]
    fn problems_are_recognised_from_what_tsh_prints() {
        for said in [
            "ERROR: Not logged in.",
            "ERROR: your Teleport session has expired, run 'tsh login'",
            "ERROR: ssh: cert has expired",
        ] {
            assert_eq!(Problem::classify(said), Some(Problem::Login), "{said}");
        }
        for said in [
            "ERROR: access denied to reader connecting to hr",
            "access to db denied. User does not have permissions. Confirm database user and name.",
        ] {
            assert_eq!(
                Problem::classify(said),
                Some(Problem::AccessDenied),
                "{said}"
            );
        }
        assert_eq!(Problem::classify("connection refused"), None);
    }

    #[test]
    fn explanations_name_the_command_that_fixes_it() {
        let uri =
            TeleportUri::parse("teleport://clusters/prod/databases/hr?dbName=hr&dbUser=reader")
                .expect("parses");
        let settings = TeleportSettings {
            proxy: Some("teleport.example.com:443".into()),
            ..TeleportSettings::default()
        };
        let login = Problem::Login.explain(&uri, &settings, "ERROR: Not logged in.");
        assert!(
            login.contains("tsh login --proxy=teleport.example.com:443"),
            "{login}"
        );
        assert!(login.contains("no restart of the MCP client"), "{login}");
        let denied = Problem::AccessDenied.explain(&uri, &settings, "");
        assert!(denied.contains("database user `reader`"), "{denied}");
        assert!(denied.contains("database name `hr`"), "{denied}");
        assert!(
            denied.contains("tsh db connect hr --db-user=reader --db-name=hr"),
            "{denied}"
        );
    }
}
