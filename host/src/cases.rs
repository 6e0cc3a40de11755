//! Cases files: sample statements with the decision a policy chain must reach, run by
//! `querygate check` in CI.
//!
//! ```toml
//! policies = ["row-limit"]        # optional: run through only these configured policies
//! [context]                       # optional defaults for every case
//! client_name = "cursor"
//!
//! [[case]]
//! name = "adds a limit"
//! sql = "select * from employees"
//! expect = "rewrite"              # allow | rewrite | reject
//! sql_after = "SELECT * FROM employees LIMIT 100"   # optional: exact final SQL
//! # reason = "…"                  # optional: substring of the rejection message
//! # rejected_by = "row-limit"     # optional: a policy name, `guard` or `parse`
//! [case.context]                  # optional per-case context
//! client_name = "claude-ai"
//! ```

//!
//! The same file runs through the Wasm components (`querygate check`) and through a policy's
//! native implementation (the guest SDK's `testing::cases`): both call [`run`], which runs the
//! one chain ([`crate::chain::decide`]) and compares with [`compare`].

use crate::chain::{self, Action, Context, Decision, Outcome, Policy};
use crate::sql::{Catalog, SqlLimits};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a case expects: allow, rewrite or reject.
pub type Expect = Action;

/// Optional context fields; unset ones fall back to the file's `[context]`, then the defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextOverride {
    pub database: Option<String>,
    pub database_user: Option<String>,
    pub database_name: Option<String>,
    pub client_name: Option<String>,
    pub tool: Option<String>,
}

impl ContextOverride {
    /// Set the fields given here.
    pub fn apply(&self, context: &mut Context) {
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
    }
}

/// One `[[case]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub sql: String,
    pub expect: Expect,
    pub sql_after: Option<String>,
    pub reason: Option<String>,
    pub rejected_by: Option<String>,
    #[serde(default)]
    pub context: ContextOverride,
}

/// A whole cases file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesFile {
    #[serde(skip)]
    pub path: PathBuf,
    /// The 1-based line of each `[[case]]` header, in order; empty when the cases are not
    /// written as `[[case]]` tables (an inline array), so reports cannot point at them.
    #[serde(skip)]
    pub case_lines: Vec<usize>,
    pub policies: Option<Vec<String>>,
    #[serde(default)]
    pub context: ContextOverride,
    #[serde(rename = "case")]
    pub cases: Vec<Case>,
}

/// The context a check runs with when nothing overrides it.
pub fn default_context() -> Context {
    Context {
        database: "default".to_string(),
        database_user: "querygate".to_string(),
        database_name: "postgres".to_string(),
        client_name: "querygate-check".to_string(),
        tool: "check".to_string(),
    }
}

impl CasesFile {
    /// Read and check a cases file.
    pub fn load(path: &Path) -> Result<CasesFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read cases file `{}`: {e}", path.display()))?;
        let mut file: CasesFile = toml::from_str(&text).map_err(|e| {
            format!(
                "invalid cases file `{}`: {}",
                path.display(),
                e.to_string().trim()
            )
        })?;
        file.path = path.to_path_buf();
        file.case_lines = case_lines(&text);
        if file.case_lines.len() != file.cases.len() {
            file.case_lines.clear();
        }
        for case in &file.cases {
            let wrong = match case.expect {
                Expect::Reject if case.sql_after.is_some() => Some("`sql_after`"),
                Expect::Allow | Expect::Rewrite if case.reason.is_some() => Some("`reason`"),
                Expect::Allow | Expect::Rewrite if case.rejected_by.is_some() => {
                    Some("`rejected_by`")
                }
                _ => None,
            };
            if let Some(key) = wrong {
                return Err(format!(
                    "invalid cases file `{}`: case `{}` expects {:?} but sets {key}, which only fits {}",
                    path.display(),
                    case.name,
                    case.expect,
                    if key == "`sql_after`" {
                        "allow or rewrite"
                    } else {
                        "reject"
                    }
                ));
            }
        }
        Ok(file)
    }
}

/// The 1-based lines of the `[[case]]` headers of a cases file.
fn case_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let line = line.trim_start();
            line.strip_prefix("[[")
                .and_then(|rest| rest.split_once("]]"))
                .is_some_and(|(key, after)| {
                    key.trim() == "case"
                        && matches!(after.trim_start().chars().next(), None | Some('#'))
                })
        })
        .map(|(index, _)| index + 1)
        .collect()
}

/// The result of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub file: String,
    pub name: String,
    /// The line of the case's `[[case]]` header in the file, when known.
    pub line: Option<usize>,
    pub expect: Expect,
    /// Empty when the case passed; otherwise each way the decision differed.
    pub failures: Vec<String>,
    pub decision: Decision,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Run every case of `file` through `policies` (narrowed to the file's `policies`), in order.
pub fn run<P: Policy>(
    file: &CasesFile,
    policies: &[P],
    catalog: &Catalog,
    limits: &SqlLimits,
) -> Result<Vec<CaseResult>, String> {
    let chain: Vec<&P> = match &file.policies {
        Some(names) => chain::select(policies, names)
            .map_err(|e| format!("cases file `{}`: {e}", file.path.display()))?,
        None => policies.iter().collect(),
    };
    let mut base = default_context();
    file.context.apply(&mut base);
    Ok(file
        .cases
        .iter()
        .enumerate()
        .map(|(index, case)| {
            let mut context = base.clone();
            case.context.apply(&mut context);
            let decision = chain::decide(&chain, &case.sql, catalog, &context, limits);
            CaseResult {
                file: file.path.display().to_string(),
                name: case.name.clone(),
                line: file.case_lines.get(index).copied(),
                expect: case.expect,
                failures: compare(case, &decision),
                decision,
            }
        })
        .collect())
}

/// Each way `decision` differs from what `case` expects; empty when it passed.
pub fn compare(case: &Case, decision: &Decision) -> Vec<String> {
    let mut failures = Vec::new();
    let got = decision.action();
    match &decision.outcome {
        Outcome::Allowed {
            analysis,
            rewritten_by,
        } => {
            if got != case.expect {
                let by = if rewritten_by.is_empty() {
                    String::new()
                } else {
                    format!(" by {}", rewritten_by.join(", "))
                };
                failures.push(format!(
                    "expected {}, got {got}{by}: `{}`",
                    case.expect, analysis.sql
                ));
            }
            if let Some(expected) = &case.sql_after
                && *expected != analysis.sql
            {
                failures.push(format!(
                    "expected final SQL `{expected}`, got `{}`",
                    analysis.sql
                ));
            }
        }
        Outcome::Rejected { by, .. } => {
            let message = decision.rejection().unwrap_or_default();
            if case.expect != Action::Reject {
                failures.push(format!("expected {}, got reject: {message}", case.expect));
            }
            if let Some(reason) = &case.reason
                && !message.contains(reason.as_str())
            {
                failures.push(format!(
                    "expected the reason to contain `{reason}`, got: {message}"
                ));
            }
            if let Some(expected) = &case.rejected_by
                && *expected != by.to_string()
            {
                failures.push(format!("expected rejection by `{expected}`, got `{by}`"));
            }
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> CasesFile {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cases.toml");
        std::fs::write(&path, text).expect("write");
        CasesFile::load(&path).expect("loads")
    }

    #[test]
    fn each_case_knows_the_line_of_its_header() {
        let file = load(
            "# cases\n[[case]]\nname = \"a\"\nsql = \"select 1\"\nexpect = \"allow\"\n\n  [[ case ]]  # b\nname = \"b\"\nsql = \"select 2\"\nexpect = \"allow\"\n[case.context]\ntool = \"x\"\n",
        );
        assert_eq!(file.case_lines, vec![2, 7]);
    }

    #[test]
    fn cases_written_inline_have_no_lines() {
        let file = load("case = [{ name = \"a\", sql = \"select 1\", expect = \"allow\" }]\n");
        assert_eq!(file.cases.len(), 1);
        assert!(file.case_lines.is_empty());
    }
}
