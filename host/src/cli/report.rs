//! The reports of `querygate check` and `querygate policy test`: for people (human), for
//! programs (json), and for CI systems (junit, tap, sarif, github).

use crate::cases::CaseResult;
use clap::ValueEnum;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeMap;

/// How results are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line per case, and the counts.
    #[default]
    Human,
    /// One JSON document with every decision.
    Json,
    /// JUnit XML, one test suite per cases file.
    Junit,
    /// Test Anything Protocol, version 14.
    Tap,
    /// SARIF 2.1.0: each failed case is a result at its `[[case]]` in the cases file.
    Sarif,
    /// GitHub Actions workflow commands: an error annotation per failed case.
    Github,
}

/// The report of `results` in `format`.
pub fn render(results: &[CaseResult], format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Human => human(results),
        Format::Json => json(results)?,
        Format::Junit => junit(results)?,
        Format::Tap => tap(results),
        Format::Sarif => sarif(results)?,
        Format::Github => github(results),
    })
}

pub(super) fn counts(results: &[CaseResult]) -> (usize, usize) {
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

/// TAP 14: one test point per case, a YAML block saying where and why for each failure.
fn tap(results: &[CaseResult]) -> String {
    let mut out = format!("TAP version 14\n1..{}\n", results.len());
    for (index, result) in results.iter().enumerate() {
        let status = if result.passed() { "ok" } else { "not ok" };
        // `#` starts a directive in a description; a line break would end the test point.
        let description = format!("{}: {}", result.file, result.name)
            .replace('\\', "\\\\")
            .replace('#', "\\#")
            .replace(['\n', '\r'], " ");
        out.push_str(&format!("{status} {} - {description}\n", index + 1));
        if !result.passed() {
            // JSON strings are YAML double-quoted scalars.
            let quote = |text: &str| serde_json::Value::from(text).to_string();
            out.push_str("  ---\n");
            out.push_str(&format!("  file: {}\n", quote(&result.file)));
            if let Some(line) = result.line {
                out.push_str(&format!("  line: {line}\n"));
            }
            out.push_str(&format!("  expect: {}\n  failures:\n", result.expect));
            for failure in &result.failures {
                out.push_str(&format!("    - {}\n", quote(failure)));
            }
            out.push_str("  ...\n");
        }
    }
    let (passed, failed) = counts(results);
    out.push_str(&format!("# {passed} passed, {failed} failed\n"));
    out
}

/// GitHub Actions workflow commands: `::error file=…,line=…,title=…::…` per failed case, shown
/// on the cases file in a pull request, then the counts as a plain line.
fn github(results: &[CaseResult]) -> String {
    // https://github.com/actions/toolkit/blob/main/packages/core/src/command.ts
    fn data(text: &str) -> String {
        text.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    }
    fn property(text: &str) -> String {
        data(text).replace(':', "%3A").replace(',', "%2C")
    }
    let mut out = String::new();
    for result in results.iter().filter(|r| !r.passed()) {
        let mut properties = format!("file={}", property(&result.file));
        if let Some(line) = result.line {
            properties.push_str(&format!(",line={line}"));
        }
        properties.push_str(&format!(
            ",title={}",
            property(&format!("case `{}` failed", result.name))
        ));
        out.push_str(&format!(
            "::error {properties}::{}\n",
            data(&result.failures.join("\n"))
        ));
    }
    let (passed, failed) = counts(results);
    out.push_str(&format!("{passed} passed, {failed} failed\n"));
    out
}

/// SARIF 2.1.0: one run of the `querygate` tool, one result per failed case, located at the
/// case's `[[case]]` header in its cases file.
fn sarif(results: &[CaseResult]) -> anyhow::Result<String> {
    let findings: Vec<serde_json::Value> = results
        .iter()
        .filter(|r| !r.passed())
        .map(|result| {
            let mut location = serde_json::json!({
                "artifactLocation": { "uri": file_uri(&result.file) },
            });
            if let Some(line) = result.line {
                location["region"] = serde_json::json!({ "startLine": line });
            }
            serde_json::json!({
                "ruleId": "case-failed",
                "ruleIndex": 0,
                "level": "error",
                "message": {
                    "text": format!("case `{}` failed: {}", result.name, result.failures.join("; ")),
                },
                "locations": [{ "physicalLocation": location }],
            })
        })
        .collect();
    let report = serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "querygate",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": [{
                    "id": "case-failed",
                    "name": "CaseFailed",
                    "shortDescription": {
                        "text": "A policy chain's decision differs from what a case expects",
                    },
                    "defaultConfiguration": { "level": "error" },
                }],
            }},
            "results": findings,
        }],
    });
    Ok(format!("{}\n", serde_json::to_string_pretty(&report)?))
}

/// A cases file's path as a URI reference: relative paths stay relative (to the directory
/// `check` ran in), absolute ones become `file://` URIs; bytes outside the unreserved set and
/// `/` are percent-encoded.
fn file_uri(path: &str) -> String {
    let mut out = String::new();
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}
