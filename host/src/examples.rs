//! The example policies of a querygate checkout (`policies/`), built for `wasm32-wasip2`: for
//! `querygate demo`, the tests and the benchmarks, which all use the real components.
//!
//! On a fresh machine the build does what set-up it can: when `rustup` is on PATH and the
//! `wasm32-wasip2` target is missing, it adds the target first. Without rustup the error names
//! what to install.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Rust target policies are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Build every policy crate under `dir` (a `policies/` folder) in release mode into
/// `dir/target`, whatever `CARGO_TARGET_DIR` says, and return the folder holding the `.wasm`
/// files. cargo only rebuilds what changed.
pub fn build(dir: &Path) -> Result<PathBuf, String> {
    ensure_target()?;
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(dir.join("target"))
        .output()
        .map_err(|e| format!("cannot run cargo to build the example policies: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "building the example policies in `{}` failed:\n{stderr}",
            dir.display()
        ));
    }
    Ok(dir.join("target").join(TARGET).join("release"))
}

/// Add the wasm target with rustup when it is missing. Without rustup, a toolchain that
/// lacks the target fails in cargo, and the message says what to do.
pub fn ensure_target() -> Result<(), String> {
    let Ok(installed) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        // No rustup: the toolchain came another way; cargo will say if the target is missing.
        return Ok(());
    };
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == TARGET)
    {
        return Ok(());
    }
    eprintln!("adding the {TARGET} target (rustup target add {TARGET})…");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .map_err(|e| format!("cannot run `rustup target add {TARGET}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`rustup target add {TARGET}` failed: policies cannot be built without it"
        ))
    }
}
