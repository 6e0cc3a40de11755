//! Shared helpers for the end-to-end tests: the real `querygate` binary, the example policies
//! built for `wasm32-wasip2` (once per test run), and paths into the repository.

#![allow(dead_code)] // each test or bench binary uses a part of it

pub mod otlp;
pub mod pki;
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

/// Build every policy under `policies/` for wasm32-wasip2 (release) once per process, adding
/// the target with rustup when it is missing, and return the directory holding the `.wasm`
/// files. A build that cannot be done fails loudly with what to do.
pub fn policies() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        querygate::examples::build(&repo().join("policies")).unwrap_or_else(|e| panic!("{e}"))
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
