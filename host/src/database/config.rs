//! `[[database]]` entries: where a database is, how to authenticate, and the limits its
//! statements run under.
//!
//! ```toml
//! [[database]]
//! name = "hr"
//! url = "postgres://reader@db.internal:5432/hr?sslmode=verify-full"
//! password_env = "HR_PASSWORD"     # or passfile = "~/.pgpass"-style file, or in the url
//! statement_timeout_ms = 30000     # SET LOCAL statement_timeout for every statement
//! max_rows = 1000                  # rows returned before `truncated`
//! max_bytes = 1048576              # JSON bytes of values returned before `truncated`
//! pool_size = 4
//! sslrootcert = "ca.pem"           # sslmode / sslrootcert / sslcert / sslkey: here or in the url
//! ```
//!
//! `url` is a `postgres://` URL or a `key=value` conninfo string, as libpq takes them. The
//! `ssl*` keys are taken out of it here (tokio-postgres knows neither `verify-ca` nor
//! `verify-full` nor certificate files) and handled by [`super::tls`]. A password may come
//! from the url, from `password_env`, or from `passfile` (pgpass format, read at each new
//! connection so rotated files are picked up), in that order; giving it twice is an error.
//! No `PG*` environment variable and no `~/.pgpass` is read implicitly. Passwords never appear
//! in `Debug` output or error messages.

use super::DbError;
use super::conninfo::{self, Params};
use crate::teleport::TeleportUri;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// One `[[database]]` entry.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// The name tools and resources use for this database.
    pub name: String,
    /// `postgres://…` URL or `key=value` conninfo.
    pub url: String,
    /// Name of an environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// A pgpass-format file (`host:port:database:user:password`) to look the password up in.
    #[serde(default)]
    pub passfile: Option<PathBuf>,
    #[serde(default = "defaults::statement_timeout_ms")]
    pub statement_timeout_ms: u64,
    #[serde(default = "defaults::max_rows")]
    pub max_rows: usize,
    #[serde(default = "defaults::max_bytes")]
    pub max_bytes: usize,
    #[serde(default = "defaults::pool_size")]
    pub pool_size: usize,
    /// `disable`, `allow`, `prefer` (default), `require`, `verify-ca`, `verify-full`.
    #[serde(default)]
    pub sslmode: Option<SslMode>,
    /// PEM file of the CA certificates to trust; `system` for the system store.
    #[serde(default)]
    pub sslrootcert: Option<PathBuf>,
    /// PEM client certificate (chain) and its private key, for certificate authentication.
    #[serde(default)]
    pub sslcert: Option<PathBuf>,
    #[serde(default)]
    pub sslkey: Option<PathBuf>,
}

mod defaults {
    pub fn statement_timeout_ms() -> u64 {
        30_000
    }
    pub fn max_rows() -> usize {
        1000
    }
    pub fn max_bytes() -> usize {
        1024 * 1024
    }
    pub fn pool_size() -> usize {
        4
    }
}

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    /// Treated as `prefer`: it accepts the same servers, and encrypts when it can.
    Allow,
    Prefer,
    /// Encrypt, no certificate check (unless `sslrootcert` is given: then as `verify-ca`).
    Require,
    /// Encrypt; the certificate chain must lead to a trusted CA; the host name is not checked.
    VerifyCa,
    /// Encrypt; chain and host name are checked.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// The TLS settings of a database, from the entry's keys and its url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    pub mode: SslMode,
    pub rootcert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// A parsed entry: the driver's config (ssl keys removed) plus what querygate handles itself.
pub(crate) struct Resolved {
    pub pg: tokio_postgres::Config,
    pub tls: TlsSettings,
    /// Only consulted when no password came from the url or `password_env`.
    pub passfile: Option<PathBuf>,
    /// Set for `teleport://` databases: `pg` then has no port yet (the tunnel's is used).
    pub teleport: Option<TeleportUri>,
}

impl DatabaseConfig {
    /// An entry with every limit at its default.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> DatabaseConfig {
        DatabaseConfig {
            name: name.into(),
            url: url.into(),
            password_env: None,
            passfile: None,
            statement_timeout_ms: defaults::statement_timeout_ms(),
            max_rows: defaults::max_rows(),
            max_bytes: defaults::max_bytes(),
            pool_size: defaults::pool_size(),
            sslmode: None,
            sslrootcert: None,
            sslcert: None,
            sslkey: None,
        }
    }

    /// Resolve relative file paths against `base` (the directory of the configuration file).
    pub fn resolve_paths(&mut self, base: &Path) {
        for path in [
            &mut self.passfile,
            &mut self.sslrootcert,
            &mut self.sslcert,
            &mut self.sslkey,
        ]
        .into_iter()
        .flatten()
        {
            if path.is_relative() && path.as_os_str() != "system" {
                *path = base.join(&*path);
            }
        }
    }

    fn error(&self, message: impl Into<String>) -> DbError {
        DbError::Config {
            database: self.name.clone(),
            message: message.into(),
        }
    }

    /// Check the limits, split the url, and apply `password_env`.
    pub(crate) fn resolve(&self) -> Result<Resolved, DbError> {
        if self.statement_timeout_ms == 0 {
            return Err(self.error("statement_timeout_ms must be at least 1"));
        }
        if self.max_rows == 0 || self.max_rows >= i32::MAX as usize {
            return Err(self.error("max_rows must be between 1 and 2147483646"));
        }
        if self.max_bytes == 0 {
            return Err(self.error("max_bytes must be at least 1"));
        }
        if self.pool_size == 0 {
            return Err(self.error("pool_size must be at least 1"));
        }
        if TeleportUri::is_teleport(&self.url) {
            return self.resolve_teleport();
        }
        let Params { rest, mut taken } = conninfo::split(
            &self.url,
            &["sslmode", "sslrootcert", "sslcert", "sslkey", "passfile"],
        )
        .map_err(|e| self.error(format!("invalid url: {e}")))?;
        let mut pg: tokio_postgres::Config = rest
            .parse()
            .map_err(|e| self.error(format!("invalid url: {e}")))?;

        let mut take = |key: &str| taken.remove(key);
        let mode = match (take("sslmode"), self.sslmode) {
            (Some(text), key) => {
                let mode = SslMode::parse(&text)
                    .ok_or_else(|| self.error(format!("unknown sslmode `{text}`")))?;
                if key.is_some_and(|key| key != mode) {
                    return Err(self.error("sslmode is set differently in `url` and as a key"));
                }
                mode
            }
            (None, Some(mode)) => mode,
            (None, None) => SslMode::Prefer,
        };
        let mut path = |key: &str, field: &Option<PathBuf>| -> Result<Option<PathBuf>, DbError> {
            match (take(key), field) {
                (Some(_), Some(_)) => {
                    Err(self.error(format!("{key} is set both in `url` and as a key")))
                }
                (Some(text), None) => Ok(Some(PathBuf::from(text))),
                (None, field) => Ok(field.clone()),
            }
        };
        let tls = TlsSettings {
            mode,
            rootcert: path("sslrootcert", &self.sslrootcert)?,
            cert: path("sslcert", &self.sslcert)?,
            key: path("sslkey", &self.sslkey)?,
        };
        if tls.cert.is_some() != tls.key.is_some() {
            return Err(self.error("sslcert and sslkey go together: set both or neither"));
        }
        let passfile = path("passfile", &self.passfile)?;

        if let Some(var) = &self.password_env {
            if pg.get_password().is_some() {
                return Err(self.error(format!(
                    "the password is given twice: in `url` and through password_env `{var}`"
                )));
            }
            let password = std::env::var(var).map_err(|_| {
                self.error(format!(
                    "environment variable `{var}` (password_env) is not set"
                ))
            })?;
            pg.password(password);
        }
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(std::time::Duration::from_secs(10));
        }
        if pg.get_application_name().is_none() {
            pg.application_name("querygate");
        }
        Ok(Resolved {
            pg,
            tls,
            passfile,
            teleport: None,
        })
    }

    /// A `teleport://` URI: Teleport authenticates and encrypts the tunnel, so querygate
    /// speaks plain PostgreSQL to its loopback port, with no password.
    fn resolve_teleport(&self) -> Result<Resolved, DbError> {
        let uri = TeleportUri::parse(&self.url).map_err(|e| self.error(e))?;
        let set = [
            ("password_env", self.password_env.is_some()),
            ("passfile", self.passfile.is_some()),
            ("sslmode", self.sslmode.is_some()),
            ("sslrootcert", self.sslrootcert.is_some()),
            ("sslcert", self.sslcert.is_some()),
            ("sslkey", self.sslkey.is_some()),
        ];
        if let Some((key, _)) = set.iter().find(|(_, set)| *set) {
            return Err(self.error(format!(
                "`{key}` does not apply to a teleport:// database: Teleport authenticates and \
                 encrypts the connection with your tsh login; remove it"
            )));
        }
        let mut pg = tokio_postgres::Config::new();
        pg.host("127.0.0.1")
            .user(&uri.db_user)
            .dbname(&uri.db_name)
            .application_name("querygate")
            .connect_timeout(std::time::Duration::from_secs(10));
        Ok(Resolved {
            pg,
            tls: TlsSettings {
                mode: SslMode::Disable,
                rootcert: None,
                cert: None,
                key: None,
            },
            passfile: None,
            teleport: Some(uri),
        })
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("name", &self.name)
            .field("url", &conninfo::redact(&self.url))
            .field("password_env", &self.password_env)
            .field("passfile", &self.passfile)
            .field("statement_timeout_ms", &self.statement_timeout_ms)
            .field("max_rows", &self.max_rows)
            .field("max_bytes", &self.max_bytes)
            .field("pool_size", &self.pool_size)
            .field("sslmode", &self.sslmode)
            .field("sslrootcert", &self.sslrootcert)
            .field("sslcert", &self.sslcert)
            .field("sslkey", &self.sslkey)
            .finish()
    }
}

/// Look a password up in a pgpass file: the first line whose host, port, database and user
/// match (`*` matches anything). Lines starting with `#` are comments; `\:` and `\\` escape.
pub(crate) fn passfile_lookup(
    path: &Path,
    host: &str,
    port: u16,
    dbname: &str,
    user: &str,
) -> Result<Option<String>, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("cannot read passfile `{}`: {e}", path.display()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "passfile `{}` is readable by group or others: run `chmod 0600` on it",
                path.display()
            ));
        }
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read passfile `{}`: {e}", path.display()))?;
    let port = port.to_string();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = pgpass_fields(line);
        let [h, p, d, u, password] = fields.as_slice() else {
            continue;
        };
        let matches = |field: &str, value: &str| field == "*" || field == value;
        let host_matches = matches(h, host) || (h == "localhost" && host.starts_with('/'));
        if host_matches && matches(p, &port) && matches(d, dbname) && matches(u, user) {
            return Ok(Some(password.clone()));
        }
    }
    Ok(None)
}

fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(field)) = (chars.next(), fields.last_mut()) {
                    field.push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(field) = fields.last_mut() {
                    field.push(c);
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_keys_leave_the_url_and_verify_modes_are_understood() {
        let config = DatabaseConfig::new(
            "hr",
            "postgres://u:secret@db.example:5433/hr?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x",
        );
        let resolved = config.resolve().expect("valid");
        assert_eq!(resolved.tls.mode, SslMode::VerifyFull);
        assert_eq!(resolved.tls.rootcert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(resolved.pg.get_ports(), &[5433]);
        assert_eq!(resolved.pg.get_password(), Some(&b"secret"[..]));
        assert_eq!(resolved.pg.get_application_name(), Some("x"));
    }

    #[test]
    fn conninfo_form_and_key_conflicts() {
        let mut config = DatabaseConfig::new("hr", "host=/tmp port=5432 sslmode='require' user=a");
        assert_eq!(config.resolve().expect("valid").tls.mode, SslMode::Require);
        config.sslmode = Some(SslMode::Disable);
        let e = config.resolve().err().expect("conflict");
        assert_eq!(
            e.to_string(),
            "database `hr`: sslmode is set differently in `url` and as a key"
        );
    }

    #[test]
    fn debug_and_errors_never_show_the_password() {
        let config = DatabaseConfig::new("hr", "postgres://u:hunter2@h/db?port=notaport");
        assert!(!format!("{config:?}").contains("hunter2"));
        let e = config.resolve().err().expect("bad port");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let config = DatabaseConfig::new("hr", "host=h password='hunter2' user=u");
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn missing_password_env_is_named() {
        let mut config = DatabaseConfig::new("hr", "postgres://u@h/db");
        config.password_env = Some("QUERYGATE_TEST_SURELY_UNSET".into());
        assert_eq!(
            config.resolve().err().expect("unset").to_string(),
            "database `hr`: environment variable `QUERYGATE_TEST_SURELY_UNSET` (password_env) is not set"
        );
    }

    #[test]
    fn pgpass_lines_match_with_wildcards_and_escapes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pgpass");
        std::fs::write(
            &path,
            "# comment\nother:5432:*:*:nope\ndb.example:*:hr:reader:pa\\:ss\n*:*:*:*:fallback\n",
        )
        .expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let found = passfile_lookup(&path, "db.example", 5432, "hr", "reader").expect("read");
        assert_eq!(found.as_deref(), Some("pa:ss"));
        let found = passfile_lookup(&path, "x", 1, "y", "z").expect("read");
        assert_eq!(found.as_deref(), Some("fallback"));
    }
}
