//! Shared helpers for the end-to-end tests: the real `querygate` binary, the example policies
//! built for `wasm32-wasip2` (once per test run), and paths into the repository.

#![allow(dead_code)] // each test or bench binary uses a part of it

pub mod postgres;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ sits inside the repository")
}

/// Build every policy under `policies/` for wasm32-wasip2 (release) once per process, and
/// return the directory holding the `.wasm` files. A missing target or toolchain fails loudly
/// with the command that fixes it.
pub fn policies() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let manifest = repo().join("policies/Cargo.toml");
        let output = Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(&manifest)
            // Where the .wasm files are looked for, whatever CARGO_TARGET_DIR says.
            .arg("--target-dir")
            .arg(repo().join("policies/target"))
            .output()
            .expect("cargo runs");
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let hint = if stderr.contains("wasm32-wasip2") && stderr.contains("target") {
                "\nthe wasm target is missing: run `rustup target add wasm32-wasip2`"
            } else {
                ""
            };
            panic!("building the example policies failed:{hint}\n{stderr}");
        }
        repo().join("policies/target/wasm32-wasip2/release")
    })
}

/// The path of one built policy, e.g. `policy("row_limit")`.
pub fn policy(file_stem: &str) -> PathBuf {
    let path = policies().join(format!("{file_stem}.wasm"));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The `querygate` binary, which cargo builds before it builds the tests and benches of this
/// package.
pub fn querygate_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_querygate"))
}

/// A private compiled-policy cache shared by the tests of one run.
pub fn cache_dir() -> PathBuf {
    repo().join("target/querygate-test-cache")
}

/// Run the binary with `args` (and a test cache directory); return its output.
pub fn querygate(args: &[&str]) -> Output {
    Command::new(querygate_bin())
        .args(args)
        .env("XDG_CACHE_HOME", repo().join("target/querygate-test-xdg"))
        .current_dir(repo())
        .output()
        .expect("querygate runs")
}

/// stdout of an output, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr of an output, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A `/proc/<pid>/status` figure in KiB (`VmRSS`, `VmHWM`, …); 0 when unreadable.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}
