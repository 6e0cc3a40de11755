//! `querygate policy build DIR`: run the project's toolchain, write `dist/<name>.wasm`, print
//! its path and sha256 (the value to pin in a deployment's `[[policy]]`).

use super::{Lang, Project};
use crate::cli::Exit;
use crate::examples::{self, TARGET};
use anyhow::Context as _;
use clap::Args;
use sha2::{Digest, Sha256};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The componentize-qjs that new JavaScript projects pin (package.json) and CI installs.
pub const COMPONENTIZE_QJS: &str = "0.4.5";
/// The componentize-py that new Python projects pin (requirements.txt) and CI installs.
pub const COMPONENTIZE_PY: &str = "0.25.1";

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The policy project's directory.
    #[arg(default_value = ".", value_name = "DIR")]
    dir: PathBuf,
}

pub fn run(args: &BuildArgs) -> anyhow::Result<Exit> {
    let project = Project::open(&args.dir)?;
    let component = build(&project)?;
    print!("{}", describe(&component)?);
    Ok(Exit::Success)
}

/// Build `project` into its component and return the component's path.
pub(super) fn build(project: &Project) -> anyhow::Result<PathBuf> {
    let component = project.component();
    std::fs::create_dir_all(component.parent().unwrap_or(Path::new(".")))
        .with_context(|| format!("cannot create `{}`", component.display()))?;
    match project.lang {
        Lang::Rust => rust(project, &component)?,
        Lang::Js => js(project, &component)?,
        Lang::Python => python(project, &component)?,
    }
    Ok(component)
}

/// The lines `build` prints about a component: path, size and sha256.
pub(super) fn describe(component: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(component)
        .with_context(|| format!("cannot read `{}`", component.display()))?;
    Ok(format!(
        "component {} ({} bytes)\nsha256    {}\n",
        component.display(),
        bytes.len(),
        hex::encode(Sha256::digest(&bytes))
    ))
}

/// `cargo build --release --target wasm32-wasip2`, then copy the `.wasm` cargo reports.
fn rust(project: &Project, component: &Path) -> anyhow::Result<()> {
    examples::ensure_target().map_err(anyhow::Error::msg)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(["build", "--release", "--target", TARGET])
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(project.dir.join("Cargo.toml"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => anyhow::anyhow!(
                "cargo is not installed: install Rust with \
                 `curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh`, then \
                 `rustup target add {TARGET}`"
            ),
            _ => anyhow::anyhow!("cannot run cargo: {e}"),
        })?;
    if !output.status.success() {
        anyhow::bail!(
            "building `{}` failed (cargo's messages are above)",
            project.dir.display()
        );
    }
    // The last compiler artifact with a .wasm file is the policy (the others are libraries).
    let built = String::from_utf8_lossy(&output.stdout)
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter_map(|message| {
            message["filenames"]
                .as_array()?
                .iter()
                .filter_map(|name| name.as_str())
                .find(|name| name.ends_with(".wasm"))
                .map(PathBuf::from)
        })
        .next()
        .context("cargo built no .wasm file: is the crate a `cdylib`?")?;
    std::fs::copy(&built, component).with_context(|| {
        format!(
            "cannot copy `{}` to `{}`",
            built.display(),
            component.display()
        )
    })?;
    Ok(())
}

/// The project's `wit/`, or for the examples in querygate's repository, the repository's.
fn wit_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    dir.ancestors()
        .map(|d| d.join("wit"))
        .find(|wit| wit.join("policy.wit").is_file())
        .context("no wit/policy.wit in the project or above it: `querygate policy new` writes one")
}

/// The toolchain's root for a project in `dir` (the nearest directory holding `marker`, else the
/// project) and the tool to run: the root's own install at `local`, else `name` on PATH.
fn toolchain(dir: &Path, marker: &str, local: &str, name: &str) -> (PathBuf, PathBuf) {
    let root = dir
        .ancestors()
        .find(|d| d.join(marker).is_file())
        .unwrap_or(dir)
        .to_path_buf();
    let local = root.join(local);
    let tool = if local.is_file() {
        local
    } else {
        PathBuf::from(name)
    };
    (root, tool)
}

/// `componentize-py componentize app` with the project's `wit/`. The SDK (`querygate.py`) is
/// the project's, or for the examples in querygate's repository, `policies/sdk-py`'s.
fn python(project: &Project, component: &Path) -> anyhow::Result<()> {
    let dir = std::path::absolute(&project.dir)?;
    // The toolchain's root: the nearest directory with a requirements.txt.
    let (root, tool) = toolchain(
        &dir,
        "requirements.txt",
        ".venv/bin/componentize-py",
        "componentize-py",
    );
    let install = format!(
        "python3 -m venv {venv} && {venv}/bin/pip install componentize-py=={COMPONENTIZE_PY}",
        venv = root.join(".venv").display()
    );
    let output = Command::new(&tool)
        .arg("--wit-path")
        .arg(wit_dir(&dir)?)
        .args(["--world", "policy", "componentize", "--python-path"])
        .arg(&dir)
        .arg("--python-path")
        .arg(&root)
        .args(["app", "--output"])
        .arg(std::path::absolute(component)?)
        .output()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => {
                anyhow::anyhow!("componentize-py is not installed: run `{install}`")
            }
            _ => anyhow::anyhow!("cannot run `{}`: {e}", tool.display()),
        })?;
    if !output.status.success() {
        anyhow::bail!(
            "building `{}` failed:\n{}{}",
            project.dir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// `componentize-qjs --sync` on `policy.js`, with the project's `wit/`.
fn js(project: &Project, component: &Path) -> anyhow::Result<()> {
    let dir = std::path::absolute(&project.dir)?;
    // The JavaScript root: the nearest directory with a package.json (the project, or for the
    // examples in querygate's repository, policies/sdk-js). Modules are resolved under it.
    let (root, tool) = toolchain(
        &dir,
        "package.json",
        "node_modules/.bin/componentize-qjs",
        "componentize-qjs",
    );
    let wit = wit_dir(&dir)?;
    let install = if root.join("package.json").is_file() {
        format!("npm install --prefix {}", root.display())
    } else {
        format!(
            "npm install --prefix {} componentize-qjs@{COMPONENTIZE_QJS}",
            root.display()
        )
    };
    let output = Command::new(&tool)
        .arg("--wit")
        .arg(&wit)
        .arg("--js")
        .arg(dir.join("policy.js"))
        .arg("--module-root")
        .arg(&root)
        .args(["--world", "policy", "--sync", "--output"])
        .arg(std::path::absolute(component)?)
        .output()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => anyhow::anyhow!(
                "componentize-qjs is not installed: run `{install}` (needs Node.js and npm)"
            ),
            _ => anyhow::anyhow!("cannot run `{}`: {e}", tool.display()),
        })?;
    if !output.status.success() {
        // `/usr/bin/env node` exits 127 when Node.js is missing.
        if output.status.code() == Some(127) {
            anyhow::bail!(
                "componentize-qjs needs Node.js: install it (with npm), then run `{install}`"
            );
        }
        anyhow::bail!(
            "building `{}` failed:\n{}{}",
            project.dir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
