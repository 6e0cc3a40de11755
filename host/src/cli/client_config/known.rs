//! Recognising, in a client's configuration, the MCP servers that reach PostgreSQL without
//! querygate: each one is a way around every policy.
//!
//! An entry is read as words (its `command`, split on spaces, then its `args`) and an
//! environment (its `env`, plus `-e K=V` / `--env K=V` words, as `docker run` takes them).
//! A word is compared without its path, version or image tag (`/usr/bin/tsh`, `tsh.exe`,
//! `@bytebase/dbhub@0.11`, `crystaldba/postgres-mcp:latest`), so the same server is recognised
//! whether it runs from a path, `npx -y`, `uvx`, `pipx run`, `bunx` or `docker run`.
//!
//! | server | recognised by | database from |
//! |---|---|---|
//! | `tsh mcp db start` | `tsh` … `mcp db start` | its `teleport://` URIs |
//! | reference server | `@modelcontextprotocol/server-postgres`, `mcp-server-postgres`, image `mcp/postgres` | the `postgres://` URL argument |
//! | MCP Toolbox | `toolbox` or `@toolbox-sdk/server` with `--prebuilt` naming postgres, or with `POSTGRES_HOST` set | `POSTGRES_HOST`, `POSTGRES_PORT`, `POSTGRES_DATABASE`, `POSTGRES_USER` |
//! | Postgres MCP Pro | `postgres-mcp` | `DATABASE_URI`, else a URL argument |
//! | DBHub | `@bytebase/dbhub`, `dbhub` | `--dsn URL` / `--dsn=URL` / `DSN` (other schemes than postgres: not PostgreSQL) |
//! | any other server | a `postgres://` or `postgresql://` URL in its words or environment | that URL |
//!
//! What is not recognised: servers configured only through a file of their own (Toolbox's
//! `tools.yaml` without `POSTGRES_HOST`, DBHub's `.env` or TOML) and remote (`url`) servers.

use crate::database::Endpoint;
use crate::teleport::TeleportUri;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// A known way to PostgreSQL beside querygate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Tsh,
    Reference,
    Toolbox,
    PostgresMcpPro,
    DbHub,
    Other,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Tsh => "Teleport's `tsh mcp db start`",
            Kind::Reference => {
                "the reference PostgreSQL server (`@modelcontextprotocol/server-postgres`)"
            }
            Kind::Toolbox => "MCP Toolbox for PostgreSQL (`toolbox`)",
            Kind::PostgresMcpPro => "Postgres MCP Pro (`postgres-mcp`)",
            Kind::DbHub => "DBHub (`@bytebase/dbhub`)",
            Kind::Other => "an MCP server given a PostgreSQL URL",
        })
    }
}

/// A database such a server reaches.
#[derive(Debug, Clone)]
pub(super) enum Target {
    /// As the URI was written in the entry.
    Teleport(String),
    Postgres(Endpoint),
    /// Given in a form that cannot be read here (a file, `${input:…}`, nothing at all).
    Unknown,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Teleport(uri) => write!(f, "`{uri}`"),
            Target::Postgres(endpoint) => write!(f, "`{endpoint}`"),
            Target::Unknown => f.write_str("a database it is not told about in this file"),
        }
    }
}

/// One entry that starts a PostgreSQL MCP server other than querygate.
#[derive(Debug, Clone)]
pub(super) struct Recognised {
    pub kind: Kind,
    pub targets: Vec<Target>,
}

/// Whether `entry` starts querygate itself.
pub(super) fn is_querygate(entry: &Value) -> bool {
    Launch::of(entry).is_some_and(|l| {
        l.words
            .first()
            .is_some_and(|w| Word::new(w).base.starts_with("querygate"))
    })
}

/// What PostgreSQL server `entry` starts, if it is one querygate knows (see the module doc).
pub(super) fn recognise(entry: &Value) -> Option<Recognised> {
    if is_querygate(entry) {
        return None;
    }
    let launch = Launch::of(entry)?;
    let words: Vec<Word> = launch.words.iter().map(|w| Word::new(w)).collect();
    let any = |test: &dyn Fn(&Word) -> bool| words.iter().any(test);

    let tsh_start = words.iter().position(|w| w.base == "tsh").is_some_and(|i| {
        launch.words[i..]
            .windows(3)
            .any(|w| w == ["mcp", "db", "start"])
    });
    if tsh_start {
        let targets = launch
            .words
            .iter()
            .filter(|w| TeleportUri::is_teleport(w))
            .map(|w| Target::Teleport(w.trim().to_string()))
            .collect();
        return Some(Recognised::new(Kind::Tsh, targets));
    }
    if any(&|w| {
        w.full.contains("@modelcontextprotocol/server-postgres")
            || w.base == "mcp-server-postgres"
            || w.full == "mcp/postgres"
            || w.full.ends_with("/mcp/postgres")
    }) {
        return Some(Recognised::new(Kind::Reference, launch.postgres_urls()));
    }
    if any(&|w| w.base == "postgres-mcp") {
        let targets = match launch.env.get("DATABASE_URI") {
            Some(uri) => vec![target(uri)],
            None => launch.postgres_urls(),
        };
        return Some(Recognised::new(Kind::PostgresMcpPro, targets));
    }
    if any(&|w| w.full.contains("@bytebase/dbhub") || w.base == "dbhub") {
        let dsn = launch
            .option("--dsn")
            .or_else(|| launch.env.get("DSN").cloned());
        return match dsn {
            Some(dsn) if is_postgres_url(&dsn) => {
                Some(Recognised::new(Kind::DbHub, vec![target(&dsn)]))
            }
            // MySQL, SQLite, …: not a way to PostgreSQL.
            Some(dsn) if dsn.contains("://") => None,
            _ => Some(Recognised::new(Kind::DbHub, launch.postgres_urls())),
        };
    }
    if any(&|w| w.base == "toolbox" || w.full.contains("@toolbox-sdk/server")) {
        let prebuilt = launch.option("--prebuilt");
        let env = |key: &str| launch.env.get(key).map(String::as_str);
        if prebuilt.as_deref() == Some("postgres") || env("POSTGRES_HOST").is_some() {
            let endpoint = Endpoint::from_parts(
                env("POSTGRES_HOST"),
                env("POSTGRES_PORT"),
                env("POSTGRES_DATABASE"),
                env("POSTGRES_USER"),
            );
            return Some(Recognised::new(
                Kind::Toolbox,
                vec![Target::Postgres(endpoint)],
            ));
        }
        // `cloud-sql-postgres`, `alloydb-postgres`: PostgreSQL in the cloud, named otherwise.
        if prebuilt.is_some_and(|p| p.contains("postgres")) {
            return Some(Recognised::new(Kind::Toolbox, vec![]));
        }
    }
    let urls = launch.postgres_urls();
    (!urls.is_empty()).then(|| Recognised::new(Kind::Other, urls))
}

impl Recognised {
    fn new(kind: Kind, targets: Vec<Target>) -> Recognised {
        let targets = if targets.is_empty() {
            vec![Target::Unknown]
        } else {
            targets
        };
        Recognised { kind, targets }
    }
}

fn is_postgres_url(text: &str) -> bool {
    let lower = text.trim().to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

fn target(url: &str) -> Target {
    Endpoint::parse(url.trim()).map_or(Target::Unknown, Target::Postgres)
}

/// An entry's command line and environment.
struct Launch {
    words: Vec<String>,
    env: BTreeMap<String, String>,
}

impl Launch {
    /// None for an entry without a command (a remote server).
    fn of(entry: &Value) -> Option<Launch> {
        let command = entry.get("command")?.as_str()?;
        let mut words: Vec<String> = command.split_whitespace().map(str::to_string).collect();
        words.extend(
            entry
                .get("args")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string),
        );
        let mut env: BTreeMap<String, String> = entry
            .get("env")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect();
        // `docker run -e K=V` / `--env K=V` / `--env=K=V`.
        for (i, word) in words.iter().enumerate() {
            let assignment = match word.as_str() {
                "-e" | "--env" => words.get(i + 1).map(String::as_str),
                other => other.strip_prefix("--env="),
            };
            if let Some((key, value)) = assignment.and_then(|a| a.split_once('=')) {
                env.entry(key.to_string())
                    .or_insert_with(|| value.to_string());
            }
        }
        Some(Launch { words, env })
    }

    /// The value of `--name VALUE` or `--name=VALUE`.
    fn option(&self, name: &str) -> Option<String> {
        self.words.iter().enumerate().find_map(|(i, word)| {
            if word == name {
                self.words.get(i + 1).cloned()
            } else {
                word.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('='))
                    .map(str::to_string)
            }
        })
    }

    /// Every PostgreSQL URL in the words (also inside `--dsn=…` or `K=…`) and the environment.
    fn postgres_urls(&self) -> Vec<Target> {
        self.words
            .iter()
            .chain(self.env.values())
            .filter_map(|text| {
                let lower = text.to_ascii_lowercase();
                let start = lower
                    .find("postgresql://")
                    .or_else(|| lower.find("postgres://"))?;
                Some(target(&text[start..]))
            })
            .collect()
    }
}

/// A word without its path, version or tag: `full` keeps an npm scope or image repository,
/// `base` is the last part, without an executable's extension.
struct Word {
    full: String,
    base: String,
}

impl Word {
    fn new(word: &str) -> Word {
        let lower = word.trim().to_ascii_lowercase();
        // `@scope/name@1.2.3`, `name@latest`, `image@sha256:…`: the version goes.
        let unversioned = match lower.strip_prefix('@') {
            Some(rest) => format!("@{}", rest.split('@').next().unwrap_or(rest)),
            None => lower.split('@').next().unwrap_or(&lower).to_string(),
        };
        // `repo/image:tag` (but not `C:\…` or a URL): the tag goes.
        let full = match unversioned.rsplit_once(':') {
            Some((image, tag)) if !tag.contains('/') && !tag.contains('\\') && image.len() > 1 => {
                image.to_string()
            }
            _ => unversioned,
        };
        let last = full.rsplit(['/', '\\']).next().unwrap_or(&full);
        let base = [".exe", ".cmd", ".js", ".py"]
            .iter()
            .find_map(|ext| last.strip_suffix(ext))
            .unwrap_or(last)
            .to_string();
        Word { full, base }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(entry: Value) -> Option<Kind> {
        recognise(&entry).map(|r| r.kind)
    }

    fn endpoint(entry: Value) -> String {
        let recognised = recognise(&entry).expect("recognised");
        recognised.targets[0].to_string()
    }

    #[test]
    fn each_known_server_in_the_shapes_its_docs_show() {
        let tsh = json!({"command": "/usr/local/bin/tsh", "args": ["mcp", "db", "start", "teleport://clusters/c/databases/hr?dbName=hr&dbUser=r"]});
        assert_eq!(kind(tsh.clone()), Some(Kind::Tsh));
        assert_eq!(
            endpoint(tsh),
            "`teleport://clusters/c/databases/hr?dbName=hr&dbUser=r`"
        );
        let reference = json!({"command": "npx", "args": ["-y", "@modelcontextprotocol/server-postgres@0.6.2", "postgresql://localhost/mydb"]});
        assert_eq!(endpoint(reference), "`localhost:5432/mydb`");
        let docker = json!({"command": "docker", "args": ["run", "-i", "--rm", "mcp/postgres", "postgresql://host.docker.internal:5432/mydb"]});
        assert_eq!(kind(docker.clone()), Some(Kind::Reference));
        assert_eq!(endpoint(docker), "`localhost:5432/mydb`");
        let toolbox = json!({"command": "./toolbox", "args": ["--prebuilt", "postgres", "--stdio"],
            "env": {"POSTGRES_HOST": "db.example", "POSTGRES_PORT": "6543", "POSTGRES_DATABASE": "hr", "POSTGRES_USER": "u", "POSTGRES_PASSWORD": "p"}});
        assert_eq!(endpoint(toolbox), "`db.example:6543/hr`");
        let pro = json!({"command": "uvx", "args": ["postgres-mcp", "--access-mode=unrestricted"], "env": {"DATABASE_URI": "postgresql://u:p@localhost:5432/dbname"}});
        assert_eq!(kind(pro.clone()), Some(Kind::PostgresMcpPro));
        assert_eq!(endpoint(pro), "`localhost:5432/dbname`");
        let pro_docker = json!({"command": "docker", "args": ["run", "-i", "--rm", "-e", "DATABASE_URI", "crystaldba/postgres-mcp", "--access-mode=restricted"], "env": {"DATABASE_URI": "postgresql://u@h/db"}});
        assert_eq!(endpoint(pro_docker), "`h:5432/db`");
        let dbhub = json!({"command": "npx", "args": ["-y", "@bytebase/dbhub", "--transport", "stdio", "--dsn", "postgres://u:p@localhost:5432/dbname?sslmode=disable"]});
        assert_eq!(endpoint(dbhub), "`localhost:5432/dbname`");
        let dbhub_mysql = json!({"command": "npx", "args": ["@bytebase/dbhub", "--dsn=mysql://u:p@localhost:3306/db"]});
        assert_eq!(kind(dbhub_mysql), None);
        let other = json!({"command": "node", "args": ["server.js"], "env": {"DATABASE_URL": "postgres://db.example/hr"}});
        assert_eq!(kind(other), Some(Kind::Other));
    }

    #[test]
    fn querygate_and_unrelated_servers_are_not_ungated_paths() {
        let qg = json!({"command": "/opt/bin/querygate", "args": ["serve", "--database", "hr=postgres://h/hr"]});
        assert!(is_querygate(&qg));
        assert_eq!(kind(qg), None);
        assert_eq!(
            kind(
                json!({"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]})
            ),
            None
        );
        assert_eq!(kind(json!({"url": "https://example.com/mcp"})), None);
        assert_eq!(
            kind(json!({"command": "tsh", "args": ["mcp", "app", "start"]})),
            None
        );
        // A toolbox serving something else.
        assert_eq!(
            kind(json!({"command": "toolbox", "args": ["--prebuilt", "bigquery", "--stdio"]})),
            None
        );
    }

    #[test]
    fn unreadable_databases_are_still_ungated_paths() {
        let entry =
            json!({"command": "npx", "args": ["-y", "@bytebase/dbhub", "--dsn", "${input:dsn}"]});
        let recognised = recognise(&entry).expect("recognised");
        assert_eq!(recognised.kind, Kind::DbHub);
        assert!(matches!(recognised.targets[..], [Target::Unknown]));
    }
}
