//! Runs a cases file (the format `querygate check` reads) through policies natively.
//!
//! The cases file is the single source of truth for what a policy does: `querygate check` runs it
//! against the built components, and a policy's unit test runs it here, against the same
//! `querygate.toml` (for each policy's configuration) and schema file. Each case goes through
//! querygate's analysis (so the built-in guard and parse errors count, as `guard` and `parse`),
//! then through the selected policies in order; a rewrite is analysed again before the next
//! policy sees it, as the host does. What this runner cannot reproduce is the sandbox itself
//! (deadlines, memory caps, traps): that is the host's to test.
//!
//! ```toml
//! policies = ["row-limit"]          # by name, in chain order; omitted = every configured policy
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
use std::path::Path;

use querygate::sql::Catalog;
use serde::Deserialize;

use super::{analyze, catalog, context};
use crate::{Context, Statement, Verdict};

/// A policy's `evaluate`, as a plain function: `<MyPolicy as Policy>::evaluate`.
pub type Evaluate = fn(&Statement, &Context) -> Verdict;

/// Runs every case in `cases_file` and panics with a report of every case that failed.
///
/// `config_file` is a `querygate.toml` whose `[[policy]]` entries give each policy's name, order
/// and `[policy.config]`; `schema_file` describes the tables; `policies` maps the names the cases
/// use to native implementations. A case that names a policy without an implementation here
/// fails.
pub fn run(
    config_file: &Path,
    schema_file: &Path,
    cases_file: &Path,
    policies: &[(&str, Evaluate)],
) {
    let configured = read_config(config_file);
    let catalog = catalog(&read(schema_file));
    let file: CasesFile = parse_toml(cases_file);

    let names: Vec<String> = match &file.policies {
        Some(names) => names.clone(),
        None => configured.iter().map(|(name, _)| name.clone()).collect(),
    };
    let chain: Vec<Step> = names
        .iter()
        .map(|name| {
            let config = configured
                .iter()
                .find(|(configured, _)| configured == name)
                .map(|(_, config)| config.clone())
                .unwrap_or_else(|| {
                    panic!("{}: no [[policy]] named `{name}`", config_file.display())
                });
            let evaluate = policies
                .iter()
                .find(|(implemented, _)| implemented == name)
                .map(|(_, evaluate)| *evaluate)
                .unwrap_or_else(|| panic!("no native implementation of policy `{name}` given"));
            Step {
                name: name.clone(),
                config,
                evaluate,
            }
        })
        .collect();

    let defaults = file.context.unwrap_or_default();
    let mut failures = String::new();
    for case in &file.cases {
        let overrides = case.context.clone().unwrap_or_default();
        let base = defaults.apply_to(context("{}"));
        let base = overrides.apply_to(base);
        let outcome = run_case(&case.sql, &catalog, &chain, &base);
        if let Err(problem) = case.check(&outcome) {
            let _ = writeln!(failures, "- {}: {problem}\n  got {outcome:?}", case.name);
        }
    }
    assert!(
        failures.is_empty(),
        "{}: cases failed:\n{failures}",
        cases_file.display()
    );
    eprintln!(
        "{}: {} cases passed",
        cases_file.display(),
        file.cases.len()
    );
}

struct Step {
    name: String,
    config: String,
    evaluate: Evaluate,
}

/// What the chain did with one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every policy allowed it unchanged; `sql` is the canonical SQL.
    Allowed { sql: String },
    /// At least one policy rewrote it; `sql` is the canonical SQL of the final statement.
    Rewritten { sql: String, by: Vec<String> },
    /// Refused by `by`: a policy name, `guard` or `parse`.
    Rejected { by: String, reason: String },
}

fn run_case(sql: &str, catalog: &Catalog, chain: &[Step], base: &Context) -> Outcome {
    let mut statement = match analyze(sql, catalog) {
        Ok(statement) => statement,
        Err(refusal) => {
            return Outcome::Rejected {
                by: refusal.class,
                reason: refusal.message,
            };
        }
    };
    let mut rewritten_by = Vec::new();
    for step in chain {
        let context = Context {
            config: step.config.clone(),
            ..base.clone()
        };
        match (step.evaluate)(&statement, &context) {
            Verdict::Allow => {}
            Verdict::Rewrite(sql) => match analyze(&sql, catalog) {
                Ok(next) => {
                    statement = next;
                    rewritten_by.push(step.name.clone());
                }
                Err(refusal) => {
                    return Outcome::Rejected {
                        by: refusal.class,
                        reason: format!("rewrite by `{}` refused: {}", step.name, refusal.message),
                    };
                }
            },
            Verdict::Reject(reason) if reason.trim().is_empty() => {
                return Outcome::Rejected {
                    by: step.name.clone(),
                    reason: "malformed verdict: empty reject reason".to_owned(),
                };
            }
            Verdict::Reject(reason) => {
                return Outcome::Rejected {
                    by: step.name.clone(),
                    reason,
                };
            }
        }
    }
    if rewritten_by.is_empty() {
        Outcome::Allowed { sql: statement.sql }
    } else {
        Outcome::Rewritten {
            sql: statement.sql,
            by: rewritten_by,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CasesFile {
    policies: Option<Vec<String>>,
    context: Option<ContextFields>,
    #[serde(rename = "case", default)]
    cases: Vec<Case>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContextFields {
    database: Option<String>,
    database_user: Option<String>,
    database_name: Option<String>,
    client_name: Option<String>,
    tool: Option<String>,
}

impl ContextFields {
    fn apply_to(&self, mut context: Context) -> Context {
        let fields = [
            (&self.database, &mut context.database),
            (&self.database_user, &mut context.database_user),
            (&self.database_name, &mut context.database_name),
            (&self.client_name, &mut context.client_name),
            (&self.tool, &mut context.tool),
        ];
        for (value, field) in fields {
            if let Some(value) = value {
                field.clone_from(value);
            }
        }
        context
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    sql: String,
    expect: Expect,
    sql_after: Option<String>,
    reason: Option<String>,
    rejected_by: Option<String>,
    context: Option<ContextFields>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Expect {
    Allow,
    Rewrite,
    Reject,
}

impl Case {
    fn check(&self, outcome: &Outcome) -> Result<(), String> {
        if self.expect == Expect::Reject && self.sql_after.is_some() {
            return Err("`sql_after` is only for allow and rewrite".to_owned());
        }
        if self.expect != Expect::Reject && (self.reason.is_some() || self.rejected_by.is_some()) {
            return Err("`reason` and `rejected_by` are only for reject".to_owned());
        }
        match (self.expect, outcome) {
            (Expect::Allow, Outcome::Allowed { sql })
            | (Expect::Rewrite, Outcome::Rewritten { sql, .. }) => match &self.sql_after {
                Some(expected) if expected != sql => Err(format!(
                    "expected sql_after\n    {expected}\n  but it was\n    {sql}"
                )),
                _ => Ok(()),
            },
            (Expect::Reject, Outcome::Rejected { by, reason }) => {
                if let Some(expected) = &self.rejected_by
                    && expected != by
                {
                    return Err(format!("expected rejection by `{expected}`, not `{by}`"));
                }
                match &self.reason {
                    Some(part) if !reason.contains(part.as_str()) => {
                        Err(format!("expected the reason to contain `{part}`"))
                    }
                    _ => Ok(()),
                }
            }
            (expect, _) => Err(format!("expected {expect:?}")),
        }
    }
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
}

/// `(name, config as JSON)` for every `[[policy]]`, in order.
fn read_config(path: &Path) -> Vec<(String, String)> {
    let file: ConfigFile = parse_toml(path);
    file.policy
        .into_iter()
        .map(|entry| {
            let json = serde_json::to_string(&entry.config).unwrap_or_else(|error| {
                panic!("{}: config of `{}`: {error}", path.display(), entry.name)
            });
            (entry.name, json)
        })
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    toml::from_str(&read(path)).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
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
}
