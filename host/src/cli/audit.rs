//! `querygate audit verify FILE`: check the audit log's hash chain.

use super::Exit;
use crate::audit::chain;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check that no line of an audit log was removed, edited or inserted: exit 0 intact, 1
    /// broken (the line where it breaks is named), 2 unreadable.
    Verify {
        /// The audit log (JSON lines, as `serve --audit-log` writes it).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

pub fn run(args: &AuditArgs) -> anyhow::Result<Exit> {
    let AuditCommand::Verify { file } = &args.command;
    let verified = chain::verify(file)
        .map_err(|e| anyhow::anyhow!("cannot read the audit log `{}`: {e}", file.display()))?;
    Ok(match verified {
        Ok(verified) => {
            println!(
                "{}: intact, {} lines chained; last line's hash {}",
                file.display(),
                verified.lines,
                verified.last
            );
            if let Some(prev) = verified.continues_from {
                println!(
                    "the first line continues a chain from a line hashing to {prev} (an earlier, \
                     rotated log)"
                );
            }
            Exit::Success
        }
        Err(broken) => {
            println!("{}: broken at {broken}", file.display());
            Exit::Failed
        }
    })
}
