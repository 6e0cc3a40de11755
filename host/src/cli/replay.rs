//! `querygate replay`: every statement of an audit log decided again under a new chain, and a
//! report of each one whose outcome would change. This is how a team tries a new policy (or a
//! policy switched from monitor to enforce) on last week's real traffic before enforcing it.
//!
//! A record counts when it has SQL and its decision is known: `allowed`, `executed` and
//! `rejected` records, and `error` records that were allowed before they failed (they have a
//! `final_sql`). Its context is the recorded one (database, database user, client, tool). What
//! changes: allowed → rejected, rejected → allowed, rejected by another policy, or allowed with a
//! different final SQL. Exit 0: nothing changed; 1: something changed; 2: could not run.

use super::{ChainArgs, Exit};
use crate::cases::default_context;
use crate::chain::{Context, Decision, Outcome};
use crate::database::Database;
use crate::pipeline::Pipeline;
use crate::sql::Catalog;
use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// Take the catalog from this configured database (of --config) instead of --schema.
    #[arg(long, value_name = "NAME", conflicts_with = "schema")]
    database: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// The audit log (JSON lines, as `serve` writes it).
    #[arg(value_name = "AUDIT")]
    audit: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
}

/// What replay reads of an audit line; other fields are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Recorded {
    time: String,
    client: String,
    tool: String,
    database: Option<String>,
    database_user: Option<String>,
    sql: Option<String>,
    final_sql: Option<String>,
    outcome: String,
    rejected_by: Option<String>,
}

/// A decision, as the audit log and the report state it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
enum Verdict {
    Allowed {
        final_sql: String,
    },
    Rejected {
        rejected_by: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// How an outcome changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Change {
    NowRejected,
    NowAllowed,
    RejectedByAnother,
    RewrittenDifferently,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Change::NowRejected => "now rejected",
            Change::NowAllowed => "now allowed",
            Change::RejectedByAnother => "rejected by another policy",
            Change::RewrittenDifferently => "rewritten differently",
        })
    }
}

/// One statement whose outcome changes.
#[derive(Debug, Serialize)]
struct Changed {
    /// Line of the audit log, from 1.
    line: usize,
    time: String,
    client: String,
    tool: String,
    database: Option<String>,
    sql: String,
    change: Change,
    /// The policy the change is due to: the new rejecter, the old one for a statement now
    /// allowed, or the policies that rewrite it now (`(none)` when none does).
    policy: String,
    before: Verdict,
    after: Verdict,
}

/// The whole report.
#[derive(Debug, Serialize)]
struct Report {
    /// Records decided again.
    statements: usize,
    /// Records without SQL or without a known decision.
    skipped: usize,
    changed: usize,
    by_policy: BTreeMap<String, usize>,
    by_change: BTreeMap<Change, usize>,
    changes: Vec<Changed>,
}

pub fn run(args: &ReplayArgs) -> anyhow::Result<Exit> {
    let text = std::fs::read_to_string(&args.audit)
        .with_context(|| format!("cannot read audit log `{}`", args.audit.display()))?;
    let records = parse(&text, &args.audit)?;
    let (pipeline, catalog, config) = args.chain.load_full()?;
    // The database (and the runtime its connections live on) stays up until the report is done.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (catalog, database) = match &args.database {
        None => (catalog, None),
        Some(name) => {
            let db_config = config
                .databases
                .iter()
                .find(|d| d.name == *name)
                .cloned()
                .with_context(|| format!("no database named `{name}` is configured"))?;
            let (mut catalog, db) = runtime.block_on(async {
                let db = Database::open(db_config, &config.teleport)?;
                let catalog = db
                    .load_catalog()
                    .await
                    .with_context(|| format!("cannot load the catalog of `{name}`"))?;
                anyhow::Ok((catalog, db))
            })?;
            catalog.set_guard(config.guard.clone());
            (catalog, Some(db))
        }
    };
    let report = replay(&records, &pipeline, &catalog, database.as_ref());
    match args.format {
        Format::Human => print!("{}", human(&report)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(if report.changed == 0 {
        Exit::Success
    } else {
        Exit::Failed
    })
}

/// Every line of the log, numbered; a line that is not an audit record makes the log unusable.
fn parse(text: &str, path: &Path) -> anyhow::Result<Vec<(usize, Recorded)>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map(|record| (i + 1, record))
                .with_context(|| {
                    format!("`{}` line {}: not an audit record", path.display(), i + 1)
                })
        })
        .collect()
}

fn replay(
    records: &[(usize, Recorded)],
    pipeline: &Pipeline,
    catalog: &Catalog,
    database: Option<&Database>,
) -> Report {
    let mut report = Report {
        statements: 0,
        skipped: 0,
        changed: 0,
        by_policy: BTreeMap::new(),
        by_change: BTreeMap::new(),
        changes: Vec::new(),
    };
    for (line, record) in records {
        let (Some(sql), Some(before)) = (&record.sql, recorded(record)) else {
            report.skipped += 1;
            continue;
        };
        report.statements += 1;
        let decision = pipeline.decide(sql, catalog, &context(record, database));
        let after = decided(&decision);
        let Some((change, policy)) = compare(&before, &after, &decision) else {
            continue;
        };
        report.changed += 1;
        *report.by_policy.entry(policy.clone()).or_default() += 1;
        *report.by_change.entry(change).or_default() += 1;
        report.changes.push(Changed {
            line: *line,
            time: record.time.clone(),
            client: record.client.clone(),
            tool: record.tool.clone(),
            database: record.database.clone(),
            sql: sql.clone(),
            change,
            policy,
            before,
            after,
        });
    }
    report
}

/// The recorded decision, when the record has one.
fn recorded(record: &Recorded) -> Option<Verdict> {
    match (
        record.outcome.as_str(),
        &record.final_sql,
        &record.rejected_by,
    ) {
        ("rejected", _, Some(by)) => Some(Verdict::Rejected {
            rejected_by: by.clone(),
            reason: None,
        }),
        ("allowed" | "executed" | "error", Some(sql), _) => Some(Verdict::Allowed {
            final_sql: sql.clone(),
        }),
        _ => None,
    }
}

fn decided(decision: &Decision) -> Verdict {
    match &decision.outcome {
        Outcome::Allowed { analysis, .. } => Verdict::Allowed {
            final_sql: analysis.sql.clone(),
        },
        Outcome::Rejected { by, reason } => Verdict::Rejected {
            rejected_by: by.to_string(),
            reason: Some(reason.clone()),
        },
    }
}

/// What policies saw when the statement was recorded; with `--database`, its user and name.
fn context(record: &Recorded, database: Option<&Database>) -> Context {
    let mut context = default_context();
    context.client_name = record.client.clone();
    context.tool = record.tool.clone();
    if let Some(name) = &record.database {
        context.database = name.clone();
    }
    if let Some(user) = &record.database_user {
        context.database_user = user.clone();
    }
    if let Some(db) = database {
        context.database_name = db.dbname().to_string();
    }
    context
}

/// The change and the policy it is due to; `None` when the outcome is the same.
fn compare(before: &Verdict, after: &Verdict, decision: &Decision) -> Option<(Change, String)> {
    match (before, after) {
        (Verdict::Allowed { final_sql: old }, Verdict::Allowed { final_sql: new }) => {
            if old == new {
                return None;
            }
            let rewriters = match &decision.outcome {
                Outcome::Allowed { rewritten_by, .. } if !rewritten_by.is_empty() => {
                    rewritten_by.join(", ")
                }
                _ => "(none)".to_string(),
            };
            Some((Change::RewrittenDifferently, rewriters))
        }
        (Verdict::Allowed { .. }, Verdict::Rejected { rejected_by, .. }) => {
            Some((Change::NowRejected, rejected_by.clone()))
        }
        (Verdict::Rejected { rejected_by, .. }, Verdict::Allowed { .. }) => {
            Some((Change::NowAllowed, rejected_by.clone()))
        }
        (
            Verdict::Rejected {
                rejected_by: old, ..
            },
            Verdict::Rejected {
                rejected_by: new, ..
            },
        ) => (old != new).then(|| (Change::RejectedByAnother, new.clone())),
    }
}

fn describe(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Allowed { final_sql } => format!("allowed: {final_sql}"),
        Verdict::Rejected {
            rejected_by,
            reason: Some(reason),
        } => format!("rejected by `{rejected_by}`: {reason}"),
        Verdict::Rejected { rejected_by, .. } => format!("rejected by `{rejected_by}`"),
    }
}

fn human(report: &Report) -> String {
    let mut out = String::new();
    for c in &report.changes {
        let on = c
            .database
            .as_deref()
            .map(|d| format!(" on `{d}`"))
            .unwrap_or_default();
        out.push_str(&format!(
            "line {} ({}, `{}` by `{}`{on}): {} ({})\n  sql     {}\n  before  {}\n  after   {}\n",
            c.line,
            c.time,
            c.tool,
            c.client,
            c.change,
            c.policy,
            c.sql,
            describe(&c.before),
            describe(&c.after)
        ));
    }
    if !report.changes.is_empty() {
        out.push('\n');
    }
    out.push_str(&format!(
        "{} of {} statements would change ({} records skipped: no SQL or no decision)\n",
        report.changed, report.statements, report.skipped
    ));
    for (change, count) in &report.by_change {
        out.push_str(&format!("  {change}: {count}\n"));
    }
    for (policy, count) in &report.by_policy {
        out.push_str(&format!("  by `{policy}`: {count}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(line: &str) -> Recorded {
        serde_json::from_str(line).expect("a record")
    }

    #[test]
    fn what_counts_as_a_recorded_decision() {
        let allowed =
            record(r#"{"sql": "select 1", "final_sql": "SELECT 1", "outcome": "executed"}"#);
        assert_eq!(
            recorded(&allowed),
            Some(Verdict::Allowed {
                final_sql: "SELECT 1".into()
            })
        );
        let rejected = record(r#"{"sql": "x", "outcome": "rejected", "rejected_by": "guard"}"#);
        assert!(matches!(
            recorded(&rejected),
            Some(Verdict::Rejected { .. })
        ));
        let failed = record(r#"{"sql": "select 1", "outcome": "error", "error": "no database"}"#);
        assert_eq!(recorded(&failed), None);
        let listing = record(r#"{"tool": "list_tables", "outcome": "ok", "extra": 1}"#);
        assert_eq!(recorded(&listing), None);
    }

    #[test]
    fn a_line_that_is_not_a_record_is_an_error() {
        let error = parse("{}\nnot json\n", Path::new("a.jsonl")).expect_err("bad line");
        assert!(
            format!("{error:#}").contains("`a.jsonl` line 2"),
            "{error:#}"
        );
    }
}
