//! Moving Teleport databases out of the `tsh mcp db start` entries of a client's file, so that
//! querygate is the only way to them: a gate with an open door beside it is not a gate.
//!
//! A URI in a tsh entry is the same database as one given to `--teleport` when both parse to
//! the same cluster, database, `dbName` and `dbUser` (however the query is ordered or encoded),
//! or when they are the same text.

use super::known::{self, Kind};
use crate::teleport::TeleportUri;
use serde_json::{Map, Value};

/// What happened to the tsh entries, in messages for the user.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    /// One line per URI moved, and one per entry removed.
    pub moved: Vec<String>,
    /// Ways to the same Teleport databases that stay ungated.
    pub warnings: Vec<String>,
}

fn same(written: &str, wanted: &TeleportUri) -> bool {
    match TeleportUri::parse(written) {
        Ok(uri) => uri == *wanted,
        Err(_) => written.trim() == wanted.to_string(),
    }
}

fn same_database(written: &str, wanted: &TeleportUri) -> bool {
    TeleportUri::parse(written)
        .is_ok_and(|uri| uri.cluster == wanted.cluster && uri.database == wanted.database)
}

/// The names of the `tsh mcp db start` entries, except `ours`.
fn tsh_entries(servers: &Map<String, Value>, ours: &str) -> Vec<String> {
    servers
        .iter()
        .filter(|(name, entry)| {
            name.as_str() != ours && known::recognise(entry).is_some_and(|r| r.kind == Kind::Tsh)
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Take `wanted` out of the `args` of every tsh entry but `ours`; remove an entry left with no
/// URI. With `keep`, change nothing and warn instead.
pub(super) fn take_out(
    servers: &mut Map<String, Value>,
    wanted: &[TeleportUri],
    ours: &str,
    keep: bool,
) -> Outcome {
    let mut outcome = Outcome::default();
    for name in tsh_entries(servers, ours) {
        let Some(args) = servers
            .get_mut(&name)
            .and_then(|entry| entry.get_mut("args"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        let is_wanted = |arg: &Value| {
            arg.as_str()
                .is_some_and(|a| TeleportUri::is_teleport(a) && wanted.iter().any(|w| same(a, w)))
        };
        if keep {
            for uri in args
                .iter()
                .filter(|a| is_wanted(a))
                .filter_map(Value::as_str)
            {
                outcome.warnings.push(format!(
                    "`{name}` (tsh mcp db start) still serves `{uri}` without querygate: an \
                     assistant that picks its tools bypasses every policy (run again without \
                     --keep-tsh to move it)"
                ));
            }
        } else {
            let before = std::mem::take(args);
            for arg in before {
                match arg.as_str() {
                    Some(uri) if is_wanted(&arg) => outcome.moved.push(format!(
                        "moved `{uri}` from `{name}` (tsh mcp db start) to `{ours}`"
                    )),
                    _ => args.push(arg),
                }
            }
        }
        // The same Teleport database under another database user or name stays open too.
        for uri in args
            .iter()
            .filter_map(Value::as_str)
            .filter(|a| TeleportUri::is_teleport(a))
        {
            if let Some(w) = wanted
                .iter()
                .find(|w| !same(uri, w) && same_database(uri, w))
            {
                outcome.warnings.push(format!(
                    "`{name}` (tsh mcp db start) also serves `{uri}`, the Teleport database \
                     `{}` under another database user or name, without querygate: move it with \
                     --teleport or remove it",
                    w.database
                ));
            }
        }
        let left = args
            .iter()
            .filter_map(Value::as_str)
            .any(TeleportUri::is_teleport);
        if !keep && !left {
            servers.remove(&name);
            outcome
                .moved
                .push(format!("removed `{name}`: no database was left in it"));
        }
    }
    outcome
}
