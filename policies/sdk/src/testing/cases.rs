//! Runs a cases file (the format `querygate check` reads) through policies natively.
//!
//! The cases file is the single source of truth for what a policy does: `querygate check` runs it
//! against the built components, and a policy's unit test runs it here, against the same
//! `querygate.toml` (for each policy's configuration) and schema file. Both use querygate's own
//! code for everything but evaluating a policy: the cases-file reader and the comparison
//! (`querygate::cases`) and the chain (`querygate::chain`), so the analysis, the built-in guard,
//! how a verdict is checked, what counts as a rewrite and who a rejection is by are the same. What
//! this runner cannot reproduce is the sandbox itself (deadlines, memory caps): that is the host's
//! to test. A panic in a policy is what a trap is in a component: a fault that rejects.
//!
//! ```toml
//! policies = ["row-limit"]          # by name (run in configured order); omitted = every policy
//!
//! [context]                         # optional defaults for every case
//! client_name = "querygate-check"
//!
//! [[case]]
//! name = "adds a limit"
//! sql = "select * from employees"
//! expect = "rewrite"                # allow | rewrite | reject
//! sql_after = "SELECT * FROM employees LIMIT 100"
//! # reason = "substring of the reject reason"
//! # rejected_by = "row-limit"       # a policy name, "guard" or "parse"
//! [case.context]                    # optional per-case override
//! client_name = "cursor"
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::Instant;

use querygate::cases::{self as host_cases, CaseResult, CasesFile};
use querygate::chain::{self, Evaluation, Fault};
use querygate::sql::{Analysis, SqlLimits};
use serde::Deserialize;

use super::{catalog, statement_of};
use crate::{Context, Statement, Verdict};

/// A policy's `evaluate`, as a plain function: `<MyPolicy as Policy>::evaluate`.
pub type Evaluate = fn(&Statement, &Context) -> Verdict;

/// Runs every case in `cases_file` and panics with a report of every case that failed.
///
/// `config_file` is a `querygate.toml` whose `[[policy]]` entries give each policy's name, order
/// and `[policy.config]`; `schema_file` describes the tables; `policies` maps the names the cases
/// use to native implementations. A case file whose chain names a policy without an
/// implementation here fails.
pub fn run(
    config_file: &Path,
    schema_file: &Path,
    cases_file: &Path,
    policies: &[(&str, Evaluate)],
) {
    let results = results(config_file, schema_file, &[cases_file], policies);
    let mut failures = String::new();
    for result in results.iter().filter(|r| !r.passed()) {
        let got = match (result.decision.final_sql(), result.decision.rejection()) {
            (Some(sql), _) => format!("{} → {sql}", result.decision.action()),
            (None, reason) => format!("reject: {}", reason.unwrap_or_default()),
        };
        let _ = writeln!(
            failures,
            "- {}: {}\n  got {got}",
            result.name,
            result.failures.join("; ")
        );
    }
    assert!(
        failures.is_empty(),
        "{}: cases failed:\n{failures}",
        cases_file.display()
    );
    eprintln!("{}: {} cases passed", cases_file.display(), results.len());
}

/// The result of every case in `cases_files`, as `querygate check` reports them, with the
/// policies run natively. Panics when a file cannot be read or names a policy that is neither
/// configured nor implemented.
pub fn results(
    config_file: &Path,
    schema_file: &Path,
    cases_files: &[&Path],
    policies: &[(&str, Evaluate)],
) -> Vec<CaseResult> {
    let configured = read_config(config_file);
    let catalog = catalog(&read(schema_file));
    let mut results = Vec::new();
    for cases_file in cases_files {
        let file = CasesFile::load(cases_file).unwrap_or_else(|error| panic!("{error}"));
        let used = |name: &str| {
            file.policies
                .as_ref()
                .is_none_or(|names| names.iter().any(|n| n == name))
        };
        let chain: Vec<Native> = configured
            .iter()
            .filter(|(name, _, _)| used(name))
            .map(|(name, config, enforced)| Native {
                name: name.clone(),
                config: config.clone(),
                enforced: *enforced,
                evaluate: policies
                    .iter()
                    .find(|(implemented, _)| implemented == name)
                    .map(|(_, evaluate)| *evaluate)
                    .unwrap_or_else(|| panic!("no native implementation of policy `{name}` given")),
            })
            .collect();
        results.extend(
            host_cases::run(&file, &chain, &catalog, &SqlLimits::default())
                .unwrap_or_else(|error| panic!("{error}")),
        );
    }
    results
}

/// A policy implemented natively, as a link of querygate's chain.
struct Native {
    name: String,
    config: String,
    /// False for `mode = "monitor"`.
    enforced: bool,
    evaluate: Evaluate,
}

impl chain::Policy for Native {
    fn name(&self) -> &str {
        &self.name
    }

    fn enforced(&self) -> bool {
        self.enforced
    }

    fn evaluate(&self, statement: &Analysis, context: &chain::Context) -> Evaluation {
        let started = Instant::now();
        let context = Context {
            database: context.database.clone(),
            database_user: context.database_user.clone(),
            database_name: context.database_name.clone(),
            client_name: context.client_name.clone(),
            tool: context.tool.clone(),
            config: self.config.clone(),
        };
        let statement = statement_of(statement.clone());
        let verdict =
            std::panic::catch_unwind(AssertUnwindSafe(|| (self.evaluate)(&statement, &context)));
        let verdict = match verdict {
            Ok(Verdict::Allow) => Ok(chain::Verdict::Allow),
            Ok(Verdict::Rewrite(sql)) => Ok(chain::Verdict::Rewrite(sql)),
            Ok(Verdict::Reject(reason)) => Ok(chain::Verdict::Reject(reason)),
            Err(panic) => Err(Fault::Trap(panic_message(panic.as_ref()))),
        };
        Evaluation {
            verdict,
            elapsed: started.elapsed(),
            logs: Vec::new(),
            logs_dropped: 0,
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    format!("panicked: {text}")
}

#[derive(Debug, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    policy: Vec<PolicyEntry>,
}

#[derive(Debug, Deserialize)]
struct PolicyEntry {
    name: String,
    #[serde(default)]
    config: HashMap<String, toml::Value>,
    #[serde(default)]
    mode: Option<String>,
}

/// `(name, config as JSON, enforced)` for every `[[policy]]`, in order.
fn read_config(path: &Path) -> Vec<(String, String, bool)> {
    let text = read(path);
    let file: ConfigFile =
        toml::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    file.policy
        .into_iter()
        .map(|entry| {
            let json = serde_json::to_string(&entry.config).unwrap_or_else(|error| {
                panic!("{}: config of `{}`: {error}", path.display(), entry.name)
            });
            let enforced = entry.mode.as_deref() != Some("monitor");
            (entry.name, json, enforced)
        })
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StatementKind;

    fn no_show(statement: &Statement, _: &Context) -> Verdict {
        match statement.kind {
            StatementKind::Show => Verdict::Reject("no SHOW here".to_owned()),
            _ => Verdict::Allow,
        }
    }

    fn lowercase_limit(statement: &Statement, context: &Context) -> Verdict {
        if statement.limit.is_some() || statement.kind != StatementKind::Query {
            return Verdict::Allow;
        }
        let rows: serde_json::Value = serde_json::from_str(&context.config).unwrap();
        Verdict::Rewrite(format!("{} limit {}", statement.sql, rows["rows"]))
    }

    fn client_only(_: &Statement, context: &Context) -> Verdict {
        if context.client_name == "cursor" {
            Verdict::Allow
        } else {
            Verdict::Reject(format!("client `{}` may not query", context.client_name))
        }
    }

    #[test]
    fn runs_cases_through_a_chain() {
        let dir =
            std::env::temp_dir().join(format!("querygate-policy-cases-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("querygate.toml"),
            "[[policy]]\nname = \"no-show\"\npath = \"x.wasm\"\n\n\
             [[policy]]\nname = \"limit\"\npath = \"y.wasm\"\n[policy.config]\nrows = 7\n\n\
             [[policy]]\nname = \"client\"\npath = \"z.wasm\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("schema.sql"),
            "CREATE TABLE public.t (id integer);\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("cases.toml"),
            r#"
policies = ["no-show", "limit"]

[[case]]
name = "rewrite"
sql = "select id from t"
expect = "rewrite"
sql_after = "SELECT id FROM t LIMIT 7"

[[case]]
name = "allow"
sql = "select id from t limit 3"
expect = "allow"
sql_after = "SELECT id FROM t LIMIT 3"

[[case]]
name = "reject"
sql = "show search_path"
expect = "reject"
reason = "no SHOW"
rejected_by = "no-show"

[[case]]
name = "guard"
sql = "delete from t"
expect = "reject"
rejected_by = "guard"

[[case]]
name = "parse"
sql = "select ("
expect = "reject"
rejected_by = "parse"
"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("chain.toml"),
            r#"
[context]
client_name = "cursor"

[[case]]
name = "whole chain"
sql = "select 1"
expect = "rewrite"
sql_after = "SELECT 1 LIMIT 7"

[[case]]
name = "per-case context"
sql = "select 1 limit 1"
expect = "reject"
reason = "client `claude-ai`"
rejected_by = "client"
[case.context]
client_name = "claude-ai"
"#,
        )
        .unwrap();
        let policies: &[(&str, Evaluate)] = &[
            ("no-show", no_show),
            ("limit", lowercase_limit),
            ("client", client_only),
        ];
        for cases in ["cases.toml", "chain.toml"] {
            run(
                &dir.join("querygate.toml"),
                &dir.join("schema.sql"),
                &dir.join(cases),
                policies,
            );
        }

        std::fs::write(
            dir.join("wrong.toml"),
            "policies = [\"limit\"]\n[[case]]\nname = \"wrong\"\nsql = \"select 1\"\nexpect = \"allow\"\n",
        )
        .unwrap();
        let failed = std::panic::catch_unwind(|| {
            run(
                &dir.join("querygate.toml"),
                &dir.join("schema.sql"),
                &dir.join("wrong.toml"),
                policies,
            )
        });
        assert!(failed.is_err(), "a failing case must fail the test");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_policy_in_monitor_mode_is_recorded_and_not_enforced() {
        let dir =
            std::env::temp_dir().join(format!("querygate-policy-monitor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("querygate.toml"),
            "[[policy]]\nname = \"no-show\"\npath = \"x.wasm\"\nmode = \"monitor\"\n",
        )
        .unwrap();
        std::fs::write(dir.join("schema.sql"), "").unwrap();
        std::fs::write(
            dir.join("cases.toml"),
            "[[case]]\nname = \"monitored\"\nsql = \"show search_path\"\nexpect = \"allow\"\n",
        )
        .unwrap();
        let policies: &[(&str, Evaluate)] = &[("no-show", no_show)];
        let results = results(
            &dir.join("querygate.toml"),
            &dir.join("schema.sql"),
            &[&dir.join("cases.toml")],
            policies,
        );
        assert!(results[0].passed(), "{:?}", results[0].failures);
        let step = &results[0].decision.steps[0];
        assert!(!step.enforced);
        assert_eq!(step.verdict.detail(), Some("no SHOW here"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
