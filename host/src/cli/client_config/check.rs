//! `querygate config --check`: list the ungated ways to PostgreSQL in clients' files, for a
//! laptop's provisioning to run. Exit 1 when there is one, 0 when there is none.
//!
//! Every server entry that starts a known PostgreSQL MCP server ([`super::known`]) is an
//! ungated path, whatever it points to: an assistant can use its tools and no policy sees the
//! query. Both `mcpServers` and `servers` (VS Code) are read in every file. A file that does
//! not exist has nothing to report; one that does not parse is an error (exit 2).

use super::file::ClientFile;
use super::known::{self, Recognised};
use crate::cli::Exit;
use std::path::PathBuf;

/// Check `files`; `explicit` when the user named them (a missing one is then worth saying).
pub(super) fn run(files: &[PathBuf], explicit: bool) -> anyhow::Result<Exit> {
    let mut found = 0;
    let mut read = 0;
    for path in files {
        let file = ClientFile::read(path)?;
        if !file.exists() {
            if explicit {
                println!("`{}`: no such file, so no server", path.display());
            }
            continue;
        }
        read += 1;
        let mut gates = Vec::new();
        let mut ungated: Vec<(String, Recognised)> = Vec::new();
        for key in ["mcpServers", "servers"] {
            for (name, entry) in file.servers(key).into_iter().flatten() {
                if known::is_querygate(entry) {
                    gates.push(format!("`{name}`"));
                } else if let Some(recognised) = known::recognise(entry) {
                    ungated.push((name.clone(), recognised));
                }
            }
        }
        let beside = match gates.as_slice() {
            [] => "(and no querygate entry)".to_string(),
            gates => format!("beside querygate ({})", gates.join(", ")),
        };
        match ungated.len() {
            0 if gates.is_empty() => {
                println!("`{}`: no PostgreSQL MCP server", path.display());
            }
            0 => println!("`{}`: no ungated database path {beside}", path.display()),
            n => {
                let paths = if n == 1 { "path" } else { "paths" };
                println!(
                    "`{}`: {n} ungated database {paths} {beside}:",
                    path.display()
                );
                for (name, recognised) in &ungated {
                    let targets: Vec<String> =
                        recognised.targets.iter().map(ToString::to_string).collect();
                    println!(
                        "  `{name}` starts {} for {}",
                        recognised.kind,
                        targets.join(", ")
                    );
                }
            }
        }
        found += ungated.len();
    }
    if read == 0 && !explicit {
        let looked: Vec<String> = files.iter().map(|p| format!("`{}`", p.display())).collect();
        println!(
            "no MCP client configuration found (looked for {})",
            looked.join(", ")
        );
    }
    if found == 0 {
        return Ok(Exit::Success);
    }
    eprintln!(
        "an assistant can query through these servers without any policy: serve their databases \
         through querygate instead (`querygate config --teleport URI` moves a tsh database; \
         `--database NAME=URL` adds another) and remove the entries"
    );
    Ok(Exit::Failed)
}
