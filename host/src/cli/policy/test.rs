//! `querygate policy test DIR`: build the project when its component is missing or older than
//! its sources, then run `cases.toml` through `querygate.toml`'s chain, as `querygate check`.

use super::{Project, build};
use crate::cases::CasesFile;
use crate::cli::report::Format;
use crate::cli::{ChainArgs, Exit, check};
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The policy project's directory.
    #[arg(default_value = ".", value_name = "DIR")]
    dir: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

pub fn run(args: &TestArgs) -> anyhow::Result<Exit> {
    let project = Project::open(&args.dir)?;
    let component = project.component();
    if stale(&project.dir, &component) {
        build::build(&project)?;
        // stdout is the report (which may be JSON or XML); what was built goes to stderr.
        eprint!("{}", build::describe(&component)?);
    }
    let files = [CasesFile::load(&project.dir.join("cases.toml")).map_err(anyhow::Error::msg)?];
    let schema = project.dir.join("schema.sql");
    let chain = ChainArgs {
        config: Some(project.dir.join("querygate.toml")),
        policies: Vec::new(),
        schema: schema.is_file().then_some(schema),
    };
    check::run_files(&files, &chain, args.format)
}

/// Whether `component` is missing or older than a file of the project (outside build output).
fn stale(dir: &Path, component: &Path) -> bool {
    let Some(built) = modified(component) else {
        return true;
    };
    newest_source(dir).is_some_and(|newest| newest > built)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn newest_source(dir: &Path) -> Option<SystemTime> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let path = entry.path();
            let name = entry.file_name();
            let kind = entry.file_type().ok()?;
            if kind.is_dir() {
                let skip = ["target", "dist", "node_modules", ".git"];
                if skip.iter().any(|s| name == *s) {
                    None
                } else {
                    newest_source(&path)
                }
            } else {
                modified(&path)
            }
        })
        .max()
}
