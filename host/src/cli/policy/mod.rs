//! `querygate policy`: write a policy in Rust, JavaScript or Python. `new` creates a project, `build`
//! runs its language's toolchain into `dist/<name>.wasm`, `test` runs its cases through that
//! component exactly as `querygate check` does.
//!
//! A project is a directory with `querygate.toml` (a chain of this one policy, with its
//! configuration), `cases.toml`, and the source: `Cargo.toml` (Rust), `policy.js` (JavaScript)
//! or `app.py` (Python).

mod build;
mod new;
mod test;

use super::Exit;
use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Create a policy project: source that compiles, a README, and cases for allow, rewrite and reject.
    New(new::NewArgs),
    /// Build a policy project into a component; print its path and sha256.
    Build(build::BuildArgs),
    /// Build a policy project if needed, then run its cases.toml through the component, as `check` does.
    Test(test::TestArgs),
}

pub fn run(args: &PolicyArgs) -> anyhow::Result<Exit> {
    match &args.command {
        PolicyCommand::New(args) => new::run(args),
        PolicyCommand::Build(args) => build::run(args),
        PolicyCommand::Test(args) => test::run(args),
    }
}

/// The languages a policy project can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Rust, with the guest SDK (crate `querygate-policy`), built with cargo for wasm32-wasip2.
    Rust,
    /// JavaScript (ES module), built with componentize-qjs (QuickJS).
    Js,
    /// Python, built with componentize-py.
    Python,
}

/// A policy project on disk.
#[derive(Debug)]
struct Project {
    dir: PathBuf,
    lang: Lang,
    /// The component's name: `dist/<name>.wasm`.
    name: String,
}

impl Project {
    /// Recognise the project in `dir` by its source.
    fn open(dir: &Path) -> anyhow::Result<Project> {
        let dir = dir.to_path_buf();
        if dir.join("Cargo.toml").is_file() {
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
                .with_context(|| format!("cannot read `{}`", dir.join("Cargo.toml").display()))?;
            let manifest: toml::Table = toml::from_str(&manifest)
                .with_context(|| format!("invalid `{}`", dir.join("Cargo.toml").display()))?;
            let name = manifest
                .get("package")
                .and_then(|package| package.get("name"))
                .and_then(|name| name.as_str())
                .with_context(|| {
                    format!("`{}` has no package name", dir.join("Cargo.toml").display())
                })?
                .to_string();
            return Ok(Project {
                dir,
                lang: Lang::Rust,
                name,
            });
        }
        if dir.join("policy.js").is_file() {
            let package = std::fs::read_to_string(dir.join("package.json"))
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
            let name = match package.as_ref().and_then(|p| p["name"].as_str()) {
                Some(name) => name.to_string(),
                None => std::path::absolute(&dir)?
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .context("the project directory has no name")?,
            };
            return Ok(Project {
                dir,
                lang: Lang::Js,
                name,
            });
        }
        if dir.join("app.py").is_file() {
            let name = std::path::absolute(&dir)?
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .context("the project directory has no name")?;
            return Ok(Project {
                dir,
                lang: Lang::Python,
                name,
            });
        }
        anyhow::bail!(
            "`{}` is not a policy project: expected Cargo.toml (Rust), policy.js (JavaScript) or \
             app.py (Python) there; create one with `querygate policy new NAME --lang rust|js|python`",
            dir.display()
        )
    }

    /// Where `build` writes the component.
    fn component(&self) -> PathBuf {
        self.dir.join("dist").join(format!("{}.wasm", self.name))
    }
}
