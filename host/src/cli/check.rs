//! `querygate check`: run cases files against a policy chain and report, for people or for CI.

use super::report::{self, Format};
use super::{ChainArgs, Exit};
use crate::cases::{self, CaseResult, CasesFile};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Cases files (TOML) to run.
    #[arg(required = true, value_name = "CASES")]
    files: Vec<PathBuf>,
}

pub fn run(args: &CheckArgs) -> anyhow::Result<Exit> {
    // Read every cases file before compiling anything: a typo fails fast.
    let files = args
        .files
        .iter()
        .map(|path| CasesFile::load(path))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    run_files(&files, &args.chain, args.format)
}

/// Run read cases files through the chain of `chain`, print the report, and say how it ended.
pub(super) fn run_files(
    files: &[CasesFile],
    chain: &ChainArgs,
    format: Format,
) -> anyhow::Result<Exit> {
    let (pipeline, catalog) = chain.load()?;
    let mut results = Vec::new();
    for file in files {
        results.extend(
            cases::run(file, pipeline.components(), &catalog, pipeline.sql_limits())
                .map_err(anyhow::Error::msg)?,
        );
    }
    print!("{}", report::render(&results, format)?);
    Ok(if results.iter().all(CaseResult::passed) {
        Exit::Success
    } else {
        Exit::Failed
    })
}
