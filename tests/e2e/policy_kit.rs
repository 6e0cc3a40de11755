//! `querygate policy new` → `build` → `test`, for Rust, JavaScript and Python, as a policy
//! author runs them; and the JavaScript and Python ports of `function-allowlist` and `row-limit`
//! against the Rust policies' cases.
//!
//! The JavaScript toolchain (componentize-qjs) comes from `policies/sdk-js/node_modules`, which
//! `.ci/run` installs with `npm ci`, and the Python one (componentize-py) from
//! `policies/sdk-py/.venv`, which it installs with pip; nothing is downloaded here.

use crate::support::{policies, querygate, querygate_bin, repo, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Run the binary in `dir` with `PATH` set to `path`.
fn run_in(dir: &Path, path: &str, args: &[&str]) -> Output {
    Command::new(querygate_bin())
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("XDG_CACHE_HOME", repo().join("target/querygate-test-xdg"))
        // New Rust projects share the example policies' build of their dependencies.
        .env("CARGO_TARGET_DIR", repo().join("policies/target"))
        .output()
        .expect("querygate runs")
}

/// `PATH` with componentize-qjs on it; fails loudly when it was not installed.
fn js_path() -> String {
    let bin = repo().join("policies/sdk-js/node_modules/.bin");
    assert!(
        bin.join("componentize-qjs").exists(),
        "componentize-qjs is not installed: run `npm ci --prefix policies/sdk-js` (.ci/run does)"
    );
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// `PATH` with componentize-py on it; fails loudly when it was not installed.
fn py_path() -> String {
    let bin = repo().join("policies/sdk-py/.venv/bin");
    assert!(
        bin.join("componentize-py").exists(),
        "componentize-py is not installed: run `python3 -m venv policies/sdk-py/.venv && \
         policies/sdk-py/.venv/bin/pip install -r policies/sdk-py/requirements.txt` (.ci/run does)"
    );
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn ok(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// `policy new NAME --lang LANG` in a fresh directory; returns it and the project's path.
fn new_project(lang: &str, path: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = ok(&run_in(
        dir.path(),
        path,
        &["policy", "new", "my-policy", "--lang", lang],
    ));
    assert!(out.contains("querygate policy test my-policy\n"), "{out}");
    let project = dir.path().join("my-policy");
    for file in [
        "cases.toml",
        "querygate.toml",
        "README.md",
        "wit/policy.wit",
    ] {
        assert!(project.join(file).is_file(), "{file} is missing:\n{out}");
    }
    (dir, project)
}

/// Every verdict passes, and the component is where `build` said, with the sha256 it printed.
fn builds_and_passes(dir: &Path, path: &str) {
    let out = ok(&run_in(dir, path, &["policy", "build", "my-policy"]));
    let component = dir.join("my-policy/dist/my-policy.wasm");
    let bytes = std::fs::read(&component).expect("the component was written");
    let sha = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&bytes));
    let sha: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    assert!(out.contains("my-policy/dist/my-policy.wasm"), "{out}");
    assert!(out.contains(&format!("sha256    {sha}")), "{out}");

    let out = ok(&run_in(dir, path, &["policy", "test", "my-policy"]));
    for case in [
        "a query with a limit is allowed",
        "a query without a limit gets one",
        "a denied table is rejected",
    ] {
        assert!(
            out.contains(&format!("PASS my-policy/cases.toml: {case}")),
            "{out}"
        );
    }
    assert!(out.contains("3 passed, 0 failed"), "{out}");
}

#[test]
fn a_new_rust_policy_builds_and_passes_its_cases() {
    policies(); // the shared dependency builds
    let path = std::env::var("PATH").unwrap_or_default();
    let (dir, project) = new_project("rust", &path);
    assert!(project.join("vendor/querygate-policy/src/lib.rs").is_file());
    builds_and_passes(dir.path(), &path);
}

#[test]
fn a_new_javascript_policy_builds_and_passes_its_cases() {
    let path = js_path();
    let (dir, project) = new_project("js", &path);
    builds_and_passes(dir.path(), &path);

    // A case that no longer holds: `policy test` rebuilds (cases.toml is newer) and exits 1.
    let cases = project.join("cases.toml");
    let text = std::fs::read_to_string(&cases).expect("cases");
    std::fs::write(&cases, text.replace("LIMIT 100\"", "LIMIT 50\"")).expect("write");
    let output = run_in(
        dir.path(),
        &path,
        &["policy", "test", "my-policy", "--format", "tap"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("not ok 2 - "),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_new_python_policy_builds_and_passes_its_cases() {
    let path = py_path();
    let (dir, project) = new_project("python", &path);
    assert!(project.join("app.py").is_file());
    builds_and_passes(dir.path(), &path);
}

#[test]
fn a_missing_javascript_toolchain_names_its_install_command() {
    let (dir, project) = new_project("js", "/usr/bin:/bin");
    let output = run_in(
        dir.path(),
        "/usr/bin:/bin",
        &["policy", "build", "my-policy"],
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    let absolute = std::path::absolute(&project).expect("absolute");
    assert!(
        err.contains(&format!(
            "componentize-qjs is not installed: run `npm install --prefix {}`",
            absolute.display()
        )),
        "{err}"
    );
}

#[test]
fn policy_new_refuses_a_bad_name_and_an_existing_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = run_in(
        dir.path(),
        "/usr/bin:/bin",
        &["policy", "new", "My_Policy", "--lang", "js"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("invalid policy name `My_Policy`"),
        "{}",
        stderr(&output)
    );

    std::fs::write(dir.path().join("taken"), "").expect("write");
    let output = run_in(
        dir.path(),
        "/usr/bin:/bin",
        &["policy", "new", "x", "--lang", "rust", "--dir", "."],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("already exists and is not empty"),
        "{}",
        stderr(&output)
    );

    let output = run_in(dir.path(), "/usr/bin:/bin", &["policy", "build", "."]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("is not a policy project"),
        "{}",
        stderr(&output)
    );
}

/// A port of a Rust example policy (`function-allowlist`, or `row-limit`, which edits the syntax
/// tree and has the host render it) passes the Rust policy's own cases file, through `check` and
/// through `policy test` (whose cases.toml links to the same file).
fn port_passes_the_rust_policys_cases(example: &str, path: &str) {
    let policy = example.rsplit('/').next().expect("a policy name");
    let out = ok(&run_in(repo(), path, &["policy", "build", example]));
    assert!(out.contains(&format!("{policy}.wasm")), "{out}");
    let output = querygate(&[
        "check",
        "--config",
        &format!("{example}/querygate.toml"),
        "--schema",
        "policies/schema.sql",
        &format!("policies/{policy}/cases.toml"),
    ]);
    let out = ok(&output);
    assert!(out.contains(" passed, 0 failed"), "{out}");
    let out = ok(&run_in(repo(), path, &["policy", "test", example]));
    assert!(out.contains(" passed, 0 failed"), "{out}");
}

#[test]
fn the_javascript_function_allowlist_passes_the_rust_policys_cases() {
    port_passes_the_rust_policys_cases("policies/sdk-js/examples/function-allowlist", &js_path());
}

#[test]
fn the_python_function_allowlist_passes_the_rust_policys_cases() {
    port_passes_the_rust_policys_cases("policies/sdk-py/examples/function-allowlist", &py_path());
}

#[test]
fn the_javascript_row_limit_rewrites_the_tree_as_the_rust_policy_does() {
    port_passes_the_rust_policys_cases("policies/sdk-js/examples/row-limit", &js_path());
}

#[test]
fn the_python_row_limit_rewrites_the_tree_as_the_rust_policy_does() {
    port_passes_the_rust_policys_cases("policies/sdk-py/examples/row-limit", &py_path());
}
