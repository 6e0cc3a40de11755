//! `querygate check` and `querygate eval` as CI and policy authors run them.

use crate::support::{policies, querygate, repo, stderr, stdout};
use std::path::Path;

fn example_cases() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo().join("policies"))
        .expect("policies/ exists")
        .filter_map(|entry| {
            let cases = entry.ok()?.path().join("cases.toml");
            cases.exists().then(|| cases.display().to_string())
        })
        .collect();
    files.sort();
    files.push(repo().join("policies/chain.toml").display().to_string());
    files
}

fn check(extra: &[&str]) -> std::process::Output {
    policies();
    let mut args = vec![
        "check",
        "--config",
        "policies/querygate.toml",
        "--schema",
        "policies/schema.sql",
    ];
    args.extend_from_slice(extra);
    querygate(&args)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

#[test]
fn every_example_policy_passes_its_cases_file() {
    let files = example_cases();
    assert!(
        files.len() >= 6,
        "expected five policies' cases and chain.toml: {files:?}"
    );
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let output = check(&refs);
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{out}\n{}", stderr(&output));
    assert!(out.contains(" passed, 0 failed"), "{out}");
    assert!(!out.contains("FAIL "), "{out}");
}

#[test]
fn a_failing_case_exits_1_and_says_what_differed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = write(
        dir.path(),
        "cases.toml",
        r#"
policies = ["row-limit"]
[[case]]
name = "wrong expectation"
sql = "select * from employees"
expect = "allow"
[[case]]
name = "right expectation"
sql = "select * from employees"
expect = "rewrite"
sql_after = "SELECT * FROM employees LIMIT 100"
"#,
    );
    let output = check(&[&cases]);
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL"), "{out}");
    assert!(
        out.contains(
            "expected allow, got rewrite by row-limit: `SELECT * FROM employees LIMIT 100`"
        ),
        "{out}"
    );
    assert!(out.contains("1 passed, 1 failed"), "{out}");
}

#[test]
fn json_and_junit_reports_are_machine_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = write(
        dir.path(),
        "cases.toml",
        r#"
[[case]]
name = "guard refuses a delete"
sql = "delete from employees"
expect = "reject"
rejected_by = "guard"
reason = "`DELETE` is not a read-only statement"
[[case]]
name = "a failing one"
sql = "select 1"
expect = "reject"
"#,
    );
    let output = check(&["--format", "json", &cases]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    assert_eq!(report["passed"], 1);
    assert_eq!(report["failed"], 1);
    assert_eq!(report["cases"][0]["decision"]["outcome"], "rejected");
    assert_eq!(report["cases"][0]["decision"]["rejected_by"]["by"], "guard");
    assert_eq!(
        report["cases"][1]["decision"]["final"]["sql"],
        "SELECT 1 LIMIT 100"
    );

    let output = check(&["--format", "junit", &cases]);
    assert_eq!(output.status.code(), Some(1));
    let xml = stdout(&output);
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains("tests=\"2\""), "{xml}");
    assert!(xml.contains("failures=\"1\""), "{xml}");
    assert!(
        xml.contains("<testcase name=\"guard refuses a delete\""),
        "{xml}"
    );
}

#[test]
fn unusable_input_exits_2_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let typo = write(
        dir.path(),
        "typo.toml",
        "[[case]]\nname = \"x\"\nsql = \"select 1\"\nexpect = \"allow\"\nreson = \"x\"\n",
    );
    let output = check(&[&typo]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("unknown field `reson`"),
        "{}",
        stderr(&output)
    );

    let bad_expect = write(
        dir.path(),
        "bad.toml",
        "[[case]]\nname = \"x\"\nsql = \"select 1\"\nexpect = \"maybe\"\n",
    );
    let output = check(&[&bad_expect]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("maybe"), "{}", stderr(&output));

    let unknown_policy = write(
        dir.path(),
        "unknown.toml",
        "policies = [\"nope\"]\n[[case]]\nname = \"x\"\nsql = \"select 1\"\nexpect = \"allow\"\n",
    );
    let output = check(&[&unknown_policy]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no policy named `nope`"),
        "{}",
        stderr(&output)
    );

    let output = querygate(&["check", "--config", "does/not/exist.toml", &typo]);
    assert_eq!(output.status.code(), Some(2));
    let fine = write(
        dir.path(),
        "fine.toml",
        "[[case]]\nname = \"x\"\nsql = \"select 1\"\nexpect = \"allow\"\n",
    );
    let output = querygate(&["check", "--config", "does/not/exist.toml", &fine]);
    assert_eq!(output.status.code(), Some(2));
    // The cause is said once, not repeated as its own source.
    assert_eq!(
        stderr(&output).trim_end(),
        "error: cannot read config `does/not/exist.toml`: No such file or directory (os error 2)"
    );
    let output = querygate(&["eval", "--policy", "does/not/exist.wasm", "select 1"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output).trim_end(),
        "error: cannot read policy `exist` from `does/not/exist.wasm`: No such file or directory \
         (os error 2)"
    );

    let not_wasm = write(dir.path(), "not.wasm", "this is not wasm");
    let ok_cases = write(
        dir.path(),
        "ok.toml",
        "[[case]]\nname = \"x\"\nsql = \"select 1\"\nexpect = \"allow\"\n",
    );
    let output = querygate(&["check", "--policy", &not_wasm, &ok_cases]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("is not a usable policy component"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_sha256_pin_that_does_not_match_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wasm = policies().join("row_limit.wasm");
    let config = write(
        dir.path(),
        "querygate.toml",
        &format!(
            "[[policy]]\npath = \"{}\"\nsha256 = \"{}\"\n",
            wasm.display(),
            "0".repeat(64)
        ),
    );
    let cases = write(
        dir.path(),
        "cases.toml",
        "[[case]]\nname = \"x\"\nsql = \"select 1\"\nexpect = \"rewrite\"\n",
    );
    let output = querygate(&["check", "--config", &config, &cases]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("but the configuration pins 0000"), "{err}");

    // The right pin starts.
    let digest = {
        use std::fmt::Write;
        let bytes = std::fs::read(&wasm).expect("read wasm");
        let sum = <sha2::Sha256 as sha2::Digest>::digest(&bytes);
        sum.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    };
    let config = write(
        dir.path(),
        "pinned.toml",
        &format!(
            "[[policy]]\npath = \"{}\"\nsha256 = \"{digest}\"\n",
            wasm.display()
        ),
    );
    let output = querygate(&["check", "--config", &config, &cases]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
}

#[test]
fn eval_prints_every_step_and_the_final_sql() {
    policies();
    let output = querygate(&[
        "eval",
        "--config",
        "policies/querygate.toml",
        "--schema",
        "policies/schema.sql",
        "select name from employees",
    ]);
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{out}{}", stderr(&output));
    assert!(
        out.contains("parse     ok: SELECT name FROM employees"),
        "{out}"
    );
    assert!(out.contains("policy    row-limit ("), "{out}");
    assert!(
        out.contains("rewrite → SELECT name FROM employees LIMIT 100"),
        "{out}"
    );
    assert!(out.contains("final     "), "{out}");

    let output = querygate(&[
        "eval",
        "--config",
        "policies/querygate.toml",
        "--schema",
        "policies/schema.sql",
        "select ssn from employees",
    ]);
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(
        out.contains("rejected  rejected by policy `deny-columns`"),
        "{out}"
    );
}

/// What a case's result says, without what only one side can know (timings, the module's
/// sha256, the component's log lines).
fn decided(case: &serde_json::Value) -> serde_json::Value {
    let decision = &case["decision"];
    let steps: Vec<serde_json::Value> = decision["steps"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|step| {
            serde_json::json!([
                step["policy"],
                step["input_sql"],
                step["verdict"],
                step["detail"]
            ])
        })
        .collect();
    serde_json::json!({
        "file": case["file"],
        "name": case["name"],
        "expect": case["expect"],
        "failures": case["failures"],
        "outcome": decision["outcome"],
        "rejected_by": decision["rejected_by"],
        "reason": decision["reason"],
        "final_sql": decision["final"]["sql"],
        "rewritten_by": decision["rewritten_by"],
        "unknown_relations": decision["unknown_relations"],
        "steps": steps,
    })
}

#[test]
fn the_sdk_native_runner_and_check_reach_identical_results_on_the_same_cases() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Beside the example files (which all pass): cases that fail, in each way a case can, and
    // refusals before any policy.
    let mixed = write(
        dir.path(),
        "mixed.toml",
        r#"
[[case]]
name = "expects allow, gets rewrite"
sql = "select name from employees"
expect = "allow"

[[case]]
name = "expects a rejection by the wrong policy"
sql = "select ssn from employees where id = 1"
expect = "reject"
rejected_by = "row-limit"
reason = "not this reason"

[[case]]
name = "guard"
sql = "select pg_terminate_backend(1)"
expect = "reject"
rejected_by = "guard"

[[case]]
name = "parse"
sql = "select from where"
expect = "allow"

[[case]]
name = "unknown table"
sql = "select * from nowhere limit 3"
expect = "allow"
[case.context]
client_name = "cursor"
"#,
    );
    let mut files = example_cases();
    files.push(mixed);
    let config = repo().join("policies/querygate.toml");
    let schema = repo().join("policies/schema.sql");

    let mut args = vec!["--format", "json"];
    args.extend(files.iter().map(String::as_str));
    let output = check(&args);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let components: serde_json::Value =
        serde_json::from_str(&stdout(&output)).expect("check --format json prints JSON");

    // The example policies natively, through the SDK's runner (policies/chain-cases), built in
    // the target directory the policies' own tests use.
    let target = std::env::var_os("POLICIES_NATIVE_TARGET")
        .map_or_else(|| repo().join("target"), std::path::PathBuf::from);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let native = std::process::Command::new(cargo)
        .args(["run", "--quiet", "--manifest-path"])
        .arg(repo().join("policies/Cargo.toml"))
        .args(["-p", "chain-cases", "--example", "native-check", "--"])
        .arg(&config)
        .arg(&schema)
        .args(&files)
        .env("CARGO_TARGET_DIR", target)
        .current_dir(repo())
        .output()
        .expect("cargo runs");
    assert!(native.status.success(), "native-check: {}", stderr(&native));
    let native: serde_json::Value =
        serde_json::from_str(&stdout(&native)).expect("native-check prints JSON");

    let components: Vec<serde_json::Value> = components["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(decided)
        .collect();
    let native: Vec<serde_json::Value> = native
        .as_array()
        .expect("an array")
        .iter()
        .map(decided)
        .collect();
    assert!(components.len() > 40, "{} cases", components.len());
    assert_eq!(components.len(), native.len());
    let failing = components
        .iter()
        .filter(|c| c["failures"].as_array().is_some_and(|f| !f.is_empty()))
        .count();
    assert_eq!(
        failing, 4,
        "the mixed file's failing cases: {components:#?}"
    );
    for (component, native) in components.iter().zip(&native) {
        assert_eq!(
            component, native,
            "components (left) and native (right) differ"
        );
    }
}
