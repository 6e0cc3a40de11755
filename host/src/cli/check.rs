//! `querygate check`: run cases files against a policy chain and report, for people or for CI.

use super::{ChainArgs, Exit};
use crate::cases::{self, CaseResult, CasesFile};
use clap::{Args, ValueEnum};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Cases files (TOML) to run.
    #[arg(required = true, value_name = "CASES")]
    files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
    Junit,
}

pub fn run(args: &CheckArgs) -> anyhow::Result<Exit> {
    // Read every cases file before compiling anything: a typo fails fast.
    let files = args
        .files
        .iter()
        .map(|path| CasesFile::load(path))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let (pipeline, catalog) = args.chain.load()?;
    let mut results = Vec::new();
    for file in &files {
        results.extend(
            cases::run(file, pipeline.components(), &catalog, pipeline.sql_limits())
                .map_err(anyhow::Error::msg)?,
        );
    }
    let output = match args.format {
        Format::Human => human(&results),
        Format::Json => json(&results)?,
        Format::Junit => junit(&results)?,
    };
    print!("{output}");
    Ok(if results.iter().all(CaseResult::passed) {
        Exit::Success
    } else {
        Exit::Failed
    })
}

fn counts(results: &[CaseResult]) -> (usize, usize) {
    let passed = results.iter().filter(|r| r.passed()).count();
    (passed, results.len() - passed)
}

fn human(results: &[CaseResult]) -> String {
    let mut out = String::new();
    for result in results {
        let status = if result.passed() { "PASS" } else { "FAIL" };
        let detail = match (result.decision.final_sql(), result.decision.rejection()) {
            (Some(sql), _) => format!("→ {sql}"),
            (None, Some(reason)) => format!("✗ {reason}"),
            (None, None) => String::new(),
        };
        out.push_str(&format!(
            "{status} {}: {}  {detail}\n",
            result.file, result.name
        ));
        for failure in &result.failures {
            out.push_str(&format!("     {failure}\n"));
        }
    }
    let (passed, failed) = counts(results);
    out.push_str(&format!("\n{passed} passed, {failed} failed\n"));
    out
}

fn json(results: &[CaseResult]) -> anyhow::Result<String> {
    let (passed, failed) = counts(results);
    let cases: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            serde_json::json!({
                "file": r.file,
                "name": r.name,
                "expect": r.expect,
                "passed": r.passed(),
                "failures": r.failures,
                "decision": r.decision,
            })
        })
        .collect();
    let report = serde_json::json!({ "passed": passed, "failed": failed, "cases": cases });
    Ok(format!("{}\n", serde_json::to_string_pretty(&report)?))
}

fn junit(results: &[CaseResult]) -> anyhow::Result<String> {
    let mut by_file: BTreeMap<&str, Vec<&CaseResult>> = BTreeMap::new();
    for result in results {
        by_file.entry(&result.file).or_default().push(result);
    }
    let mut report = Report::new("querygate check");
    for (file, results) in by_file {
        let mut suite = TestSuite::new(file);
        for result in results {
            let status = if result.passed() {
                TestCaseStatus::success()
            } else {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status
                    .set_message(result.failures.join("; "))
                    .set_type("decision mismatch");
                status
            };
            let mut case = TestCase::new(result.name.as_str(), status);
            case.set_classname(file).set_time(result.decision.elapsed);
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    Ok(report.to_string()?)
}
