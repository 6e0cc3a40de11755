//! `querygate check --format tap|github|sarif`: the reports CI systems read, with each failed
//! case located at its `[[case]]` in the cases file.

use crate::support::{policies, querygate, stdout};
use std::path::Path;

/// One passing and one failing case (line 9), with characters each format must escape.
const CASES: &str = r#"policies = ["row-limit"]

[[case]]
name = "a limit is added"
sql = "select * from employees"
expect = "rewrite"
sql_after = "SELECT * FROM employees LIMIT 100"

[[case]] # the failing one
name = "wrong: expects allow, #1"
sql = "select * from employees"
expect = "allow"
"#;

const FAILURE: &str =
    "expected allow, got rewrite by row-limit: `SELECT * FROM employees LIMIT 100`";

fn check(format: &str, cases: &Path) -> (Option<i32>, String) {
    policies();
    let cases = cases.display().to_string();
    let output = querygate(&[
        "check",
        "--config",
        "policies/querygate.toml",
        "--schema",
        "policies/schema.sql",
        "--format",
        format,
        &cases,
    ]);
    (output.status.code(), stdout(&output))
}

fn cases_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("cases.toml");
    std::fs::write(&path, CASES).expect("write cases");
    path
}

#[test]
fn tap_reports_every_case_and_where_a_failure_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = cases_file(dir.path());
    let (code, out) = check("tap", &cases);
    let path = cases.display();
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(
        out,
        format!(
            "TAP version 14\n\
             1..2\n\
             ok 1 - {path}: a limit is added\n\
             not ok 2 - {path}: wrong: expects allow, \\#1\n  \
             ---\n  \
             file: \"{path}\"\n  \
             line: 9\n  \
             expect: allow\n  \
             failures:\n    \
             - \"{FAILURE}\"\n  \
             ...\n\
             # 1 passed, 1 failed\n"
        )
    );
}

#[test]
fn github_annotates_each_failed_case_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = cases_file(dir.path());
    let (code, out) = check("github", &cases);
    let path = cases.display();
    assert_eq!(code, Some(1), "{out}");
    // Properties escape `:` and `,`; the message keeps them.
    assert_eq!(
        out,
        format!(
            "::error file={path},line=9,title=case `wrong%3A expects allow%2C #1` failed::{FAILURE}\n\
             1 passed, 1 failed\n"
        )
    );
}

#[test]
fn github_prints_only_the_counts_when_everything_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = dir.path().join("cases.toml");
    std::fs::write(
        &cases,
        &CASES[..CASES.find("[[case]] #").expect("second case")],
    )
    .expect("write");
    let (code, out) = check("github", &cases);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, "1 passed, 0 failed\n");
}

#[test]
fn sarif_has_one_result_per_failed_case_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = cases_file(dir.path());
    let (code, out) = check("sarif", &cases);
    assert_eq!(code, Some(1), "{out}");
    let sarif: serde_json::Value = serde_json::from_str(&out).expect("SARIF is JSON");
    // The parts of SARIF 2.1.0 that GitHub code scanning requires.
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        sarif["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    let run = &sarif["runs"][0];
    assert_eq!(sarif["runs"].as_array().map(Vec::len), Some(1));
    assert_eq!(run["tool"]["driver"]["name"], "querygate");
    let rule = &run["tool"]["driver"]["rules"][0];
    assert!(rule["shortDescription"]["text"].is_string(), "{rule}");
    let results = run["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "only the failed case: {out}");
    let result = &results[0];
    assert_eq!(result["ruleId"], rule["id"]);
    assert_eq!(result["ruleIndex"], 0);
    assert_eq!(result["level"], "error");
    assert_eq!(
        result["message"]["text"],
        format!("case `wrong: expects allow, #1` failed: {FAILURE}")
    );
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(
        location["artifactLocation"]["uri"],
        format!("file://{}", cases.display())
    );
    assert_eq!(location["region"]["startLine"], 9);
}
