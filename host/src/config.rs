//! `querygate.toml`: the policy chain, its limits, and (for `serve`) the databases.
//!
//! Unknown keys are errors, so a typo never silently turns a setting off. Relative paths are
//! resolved against the directory of the file.
//!
//! ```toml
//! [limits]
//! max_sql_bytes = 262144      # largest statement accepted
//! policy_deadline_ms = 50     # per policy evaluation
//! policy_memory_mib = 64      # per policy evaluation
//!
//! [guard]
//! allow_functions = ["public.full_name"]   # user functions trusted, schema-qualified
//! allow_extensions = ["pg_trgm"]           # extensions whose members are trusted
//!
//! [telemetry]
//! otlp = "http://127.0.0.1:4318"   # export traces and metrics (OTLP/HTTP); off when absent
//!
//! [[policy]]
//! name = "row-limit"
//! path = "policies/row_limit.wasm"
//! sha256 = "…"                # optional pin: a mismatch refuses to start
//! mode = "monitor"            # optional: verdicts are audited, not enforced
//! [policy.config]
//! max_rows = 100
//! ```

use crate::policy::{PolicyLimits, PolicySpec};
use crate::sql::SqlLimits;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub cache: Cache,
    /// `[guard]`: what the built-in guard trusts beyond PostgreSQL's audited built-ins.
    #[serde(default)]
    pub guard: crate::sql::GuardSettings,
    #[serde(default, rename = "policy")]
    pub policies: Vec<PolicyEntry>,
    #[serde(default, rename = "database")]
    pub databases: Vec<crate::database::DatabaseConfig>,
    #[serde(default)]
    pub audit: Audit,
    /// How `teleport://` databases are reached through `tsh`.
    #[serde(default)]
    pub teleport: crate::teleport::TeleportSettings,
    /// `[results]`: how answers are written for the model.
    #[serde(default)]
    pub results: Results,
    /// `[telemetry]`: OpenTelemetry export (`serve` only; off unless `otlp` is set).
    #[serde(default)]
    pub telemetry: crate::telemetry::TelemetrySettings,
}

/// `[results]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Results {
    /// Fence `query` rows in the text content as data the model must not obey (default on).
    pub fence: bool,
}

impl Default for Results {
    fn default() -> Self {
        Results { fence: true }
    }
}

/// `[audit]`: where audit lines go.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    /// Append audit lines to this file; default: standard error.
    pub path: Option<PathBuf>,
}

/// The largest `limits.max_sql_bytes` accepted: 4 MiB.
pub const MAX_SQL_BYTES_CEILING: usize = 4 * 1024 * 1024;

/// `[limits]`: every limit has a safe default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_sql_bytes: usize,
    pub max_nesting: usize,
    pub policy_deadline_ms: u64,
    pub policy_memory_mib: usize,
    pub policy_log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        let sql = SqlLimits::default();
        let policy = PolicyLimits::default();
        Limits {
            max_sql_bytes: sql.max_sql_bytes,
            max_nesting: sql.max_nesting,
            policy_deadline_ms: policy.deadline.as_millis() as u64,
            policy_memory_mib: policy.memory_bytes / (1024 * 1024),
            policy_log_bytes: policy.log_bytes,
        }
    }
}

impl Limits {
    pub fn sql(&self) -> SqlLimits {
        SqlLimits {
            max_sql_bytes: self.max_sql_bytes,
            max_nesting: self.max_nesting,
        }
    }

    pub fn policy(&self) -> PolicyLimits {
        PolicyLimits {
            deadline: Duration::from_millis(self.policy_deadline_ms),
            memory_bytes: self.policy_memory_mib * 1024 * 1024,
            log_bytes: self.policy_log_bytes,
        }
    }
}

/// `[cache]`: where compiled policies are kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cache {
    /// Directory for compiled policies; default `$XDG_CACHE_HOME/querygate` or
    /// `~/.cache/querygate`.
    pub dir: Option<PathBuf>,
    /// Set to true to compile every policy at every start.
    pub disabled: bool,
}

/// One `[[policy]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyEntry {
    /// Name used in messages, reports and the audit log; default: the file name without `.wasm`.
    pub name: Option<String>,
    pub path: PathBuf,
    pub sha256: Option<String>,
    #[serde(default)]
    pub config: Option<toml::Table>,
    /// `"enforce"` (default) or `"monitor"`: see [`crate::policy::Mode`].
    #[serde(default)]
    pub mode: crate::policy::Mode,
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // The io error is part of the message, not a `source`: printed as a chain it would repeat.
    #[error("cannot read config `{path}`: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("invalid config `{path}`: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Read and check a configuration file; relative paths become relative to its directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let mut config = Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for policy in &mut config.policies {
            if policy.path.is_relative() {
                policy.path = base.join(&policy.path);
            }
        }
        for dir in [
            &mut config.cache.dir,
            &mut config.audit.path,
            &mut config.teleport.home,
        ]
        .into_iter()
        .flatten()
        {
            if dir.is_relative() {
                *dir = base.join(&*dir);
            }
        }
        for database in &mut config.databases {
            database.resolve_paths(base);
        }
        Ok(config)
    }

    /// Parse and check configuration text (paths are left as written).
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        config.check()?;
        Ok(config)
    }

    /// Check what types cannot: limits above zero, distinct names, well-formed pins.
    pub fn check(&self) -> Result<(), String> {
        let l = &self.limits;
        for (key, value) in [
            ("max_sql_bytes", l.max_sql_bytes as u64),
            ("max_nesting", l.max_nesting as u64),
            ("policy_deadline_ms", l.policy_deadline_ms),
            ("policy_memory_mib", l.policy_memory_mib as u64),
        ] {
            if value == 0 {
                return Err(format!("`limits.{key}` must be greater than 0"));
            }
        }
        if l.max_sql_bytes > MAX_SQL_BYTES_CEILING {
            return Err(format!(
                "`limits.max_sql_bytes` is {}, above the ceiling of {MAX_SQL_BYTES_CEILING} \
                 (4 MiB): both parsers run on a stack sized to the text, and no statement an \
                 assistant writes is that large",
                l.max_sql_bytes
            ));
        }
        self.guard.check()?;
        self.telemetry.check()?;
        for (i, db) in self.databases.iter().enumerate() {
            if self.databases[..i].iter().any(|d| d.name == db.name) {
                return Err(format!(
                    "two databases are named `{}`: give each a distinct `name`",
                    db.name
                ));
            }
        }
        let specs = self.policy_specs();
        for (i, spec) in specs.iter().enumerate() {
            if specs[..i].iter().any(|s| s.name == spec.name) {
                return Err(format!(
                    "two policies are named `{}`: give each a distinct `name`",
                    spec.name
                ));
            }
            if let Some(pin) = &spec.sha256
                && (pin.len() != 64 || !pin.chars().all(|c| c.is_ascii_hexdigit()))
            {
                return Err(format!(
                    "policy `{}` has sha256 `{pin}`, which is not 64 hex digits",
                    spec.name
                ));
            }
        }
        Ok(())
    }

    /// The policies as the runtime needs them, in configured order.
    pub fn policy_specs(&self) -> Vec<PolicySpec> {
        self.policies
            .iter()
            .map(|p| PolicySpec {
                name: p.name.clone().unwrap_or_else(|| default_name(&p.path)),
                path: p.path.clone(),
                sha256: p.sha256.clone(),
                config: p
                    .config
                    .as_ref()
                    .and_then(|t| serde_json::to_value(t).ok())
                    .unwrap_or(serde_json::Value::Object(Default::default())),
                mode: p.mode,
            })
            .collect()
    }

    /// The directory for compiled policies, or None when the cache is off.
    pub fn cache_dir(&self) -> Option<PathBuf> {
        if self.cache.disabled {
            return None;
        }
        self.cache
            .dir
            .clone()
            .or_else(crate::policy::default_cache_dir)
    }
}

/// `row_limit.wasm` → `row-limit`.
pub fn default_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().replace('_', "-"))
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_errors() {
        let error = Config::parse("[limits]\nmax_sql_byte = 10\n").expect_err("typo must fail");
        assert!(error.contains("unknown field `max_sql_byte`"), "{error}");
        let error = Config::parse("[[policy]]\npath = \"a.wasm\"\nsha = \"x\"\n")
            .expect_err("typo must fail");
        assert!(error.contains("unknown field `sha`"), "{error}");
    }

    #[test]
    fn defaults_are_the_safe_ones() {
        let config = Config::parse("").expect("empty config is valid");
        assert_eq!(config.limits.sql(), SqlLimits::default());
        assert_eq!(config.limits.policy(), PolicyLimits::default());
    }

    #[test]
    fn policy_names_default_to_the_file_stem_and_configs_become_json() {
        let config = Config::parse(
            "[[policy]]\npath = \"x/row_limit.wasm\"\n[policy.config]\nmax_rows = 5\n",
        )
        .expect("valid");
        let specs = config.policy_specs();
        assert_eq!(specs[0].name, "row-limit");
        assert_eq!(specs[0].config, serde_json::json!({"max_rows": 5}));
    }

    #[test]
    fn bad_pins_duplicate_names_and_zero_limits_are_errors() {
        assert!(Config::parse("[[policy]]\npath = \"a.wasm\"\nsha256 = \"abc\"\n").is_err());
        assert!(
            Config::parse("[[policy]]\npath = \"a.wasm\"\n[[policy]]\npath = \"b/a.wasm\"\n")
                .is_err()
        );
        assert!(Config::parse("[limits]\npolicy_deadline_ms = 0\n").is_err());
    }

    #[test]
    fn a_policy_is_enforced_unless_it_is_in_monitor_mode() {
        use crate::policy::Mode;
        let config = Config::parse(
            "[[policy]]\npath = \"a.wasm\"\n[[policy]]\npath = \"b.wasm\"\nmode = \"monitor\"\n",
        )
        .expect("valid");
        let modes: Vec<Mode> = config.policy_specs().iter().map(|s| s.mode).collect();
        assert_eq!(modes, [Mode::Enforce, Mode::Monitor]);
        let error = Config::parse("[[policy]]\npath = \"a.wasm\"\nmode = \"learn\"\n")
            .expect_err("unknown mode");
        assert!(error.contains("unknown variant `learn`"), "{error}");
    }

    #[test]
    fn telemetry_is_off_unless_an_http_endpoint_is_given() {
        assert_eq!(Config::parse("").expect("valid").telemetry.otlp, None);
        let config = Config::parse(
            "[telemetry]\notlp = \"https://otel.example:4318\"\nservice_name = \"qg-laptop\"\n",
        )
        .expect("valid");
        assert_eq!(
            config.telemetry.otlp.as_deref(),
            Some("https://otel.example:4318")
        );
        assert_eq!(config.telemetry.service_name.as_deref(), Some("qg-laptop"));
        let error = Config::parse("[telemetry]\nendpoint = \"http://x\"\n").expect_err("typo");
        assert!(error.contains("unknown field `endpoint`"), "{error}");
        let error =
            Config::parse("[telemetry]\notlp = \"127.0.0.1:4317\"\n").expect_err("no scheme");
        assert!(error.contains("not an http:// or https:// URL"), "{error}");
    }

    #[test]
    fn max_sql_bytes_has_a_ceiling() {
        let at = format!("[limits]\nmax_sql_bytes = {MAX_SQL_BYTES_CEILING}\n");
        assert!(Config::parse(&at).is_ok());
        let over = format!("[limits]\nmax_sql_bytes = {}\n", MAX_SQL_BYTES_CEILING + 1);
        let error = Config::parse(&over).expect_err("over the ceiling");
        assert!(error.contains("above the ceiling of 4194304"), "{error}");
    }
}
