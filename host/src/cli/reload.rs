//! Hot reload for `serve`: the configuration file and every policy file are watched (inotify,
//! through `notify`), and SIGHUP reloads too.
//!
//! A reload builds the whole next generation before anything changes: the file is read and
//! checked (unknown keys, names), every policy is compiled and its sha256 pin checked, every
//! database entry is opened. Only then is it swapped in, atomically; a call in flight finishes on
//! the generation it started with. A database entry that did not change (same `[[database]]`,
//! `[teleport]` and `[guard]`) is carried over with its pool and cached catalog; the others are
//! dropped once the last call using them ends, which closes their connections. Anything invalid
//! changes nothing: the old generation keeps serving, and the error goes to the log and to an
//! audit record (`tool` `reload`, `outcome` `error`). A successful reload writes one too, with the
//! new generation and each policy's sha256.
//!
//! What a reload cannot change: the audit log's path, the results fence flag given on the
//! command line, which tools are listed (Teleport's names), and `[telemetry]` (where traces and
//! metrics go): those need a restart. A reload that changes `[telemetry]` says so in the log.

use super::ChainArgs;
use super::serve::{ReloadArgs, assemble_with};
use crate::audit::{AuditLog, AuditOutcome, AuditRecord, ChainRecord};
use crate::config::Config;
use crate::database::Database;
use crate::mcp::{DatabaseEntry, QuerygateServer, ServerState};
use notify::{RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Everything a reload reads besides the files.
pub(super) struct Source {
    pub args: ReloadArgs,
    pub audit: Arc<AuditLog>,
    pub fence: bool,
    /// The `[telemetry]` the server started with (and keeps until a restart).
    pub telemetry: crate::telemetry::TelemetrySettings,
}

/// Build a generation from `config`, carrying over `previous`'s unchanged database entries.
pub(super) fn build(
    chain: &ChainArgs,
    config: Config,
    previous: Option<&ServerState>,
    audit: Arc<AuditLog>,
    fence: bool,
) -> anyhow::Result<ServerState> {
    let (pipeline, _catalog, config) = chain.load_with(config)?;
    // An entry is carried over only if nothing it was opened with changed.
    let reusable = previous
        .filter(|previous| previous.teleport == config.teleport)
        .map_or(&[][..], |previous| &previous.databases[..]);
    let mut databases = Vec::with_capacity(config.databases.len());
    for db_config in &config.databases {
        let carried = reusable
            .iter()
            .find(|entry| {
                entry.source.as_ref() == Some(db_config) && entry.guard() == &config.guard
            })
            .cloned();
        let entry = match carried {
            Some(entry) => entry,
            None => Arc::new(
                DatabaseEntry::new(Database::open(db_config.clone(), &config.teleport)?)
                    .with_guard(config.guard.clone())
                    .with_source(db_config.clone()),
            ),
        };
        databases.push(entry);
    }
    Ok(ServerState {
        generation: previous.map_or(1, |p| p.generation + 1),
        pipeline,
        databases,
        audit,
        teleport: config.teleport.clone(),
        fence_results: config.results.fence && fence,
    })
}

/// The files whose change reloads: the configuration and every policy it names.
fn watched(args: &ReloadArgs, config: Option<&Config>) -> BTreeSet<PathBuf> {
    let mut files: BTreeSet<PathBuf> = args.chain.config.iter().cloned().collect();
    files.extend(args.chain.policies.iter().cloned());
    if let Some(config) = config {
        files.extend(config.policies.iter().map(|p| p.path.clone()));
    }
    files
        .into_iter()
        .map(|f| std::fs::canonicalize(&f).unwrap_or(f))
        .collect()
}

type Watching = (
    notify::RecommendedWatcher,
    Arc<std::sync::Mutex<BTreeSet<PathBuf>>>,
);

/// Start watching the files now (so that a change made once this returns is seen), and return
/// the task that reloads on each change and on SIGHUP for as long as the server runs.
pub(super) fn start(
    server: QuerygateServer,
    source: Source,
    watch: bool,
    mut hangup: tokio::signal::unix::Signal,
) -> impl Future<Output = ()> + Send + 'static {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let files = watched(&source.args, source.args.chain.read_config().ok().as_ref());
    let mut watcher = if watch {
        let interesting = Arc::new(std::sync::Mutex::new(files.clone()));
        let seen = interesting.clone();
        let tx = tx.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            let files = seen.lock().unwrap_or_else(|e| e.into_inner());
            // Editors replace a file by renaming another over it: watch the folders, and
            // react to any event that names one of the files.
            if event.paths.iter().any(|path| {
                let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
                files.contains(&path)
            }) {
                let _ = tx.send(());
            }
        });
        match watcher {
            Ok(watcher) => Some((watcher, interesting)),
            Err(e) => {
                tracing::error!(error = %e, "cannot watch the configuration; SIGHUP still reloads");
                None
            }
        }
    } else {
        None
    };
    let mut folders = BTreeSet::new();
    follow(&mut watcher, &mut folders, &files);
    async move {
        loop {
            let why = tokio::select! {
                Some(()) = rx.recv() => "a watched file changed",
                Some(()) = hangup.recv() => "SIGHUP",
            };
            // A save is often several events (truncate, write, rename): take them as one.
            tokio::time::sleep(Duration::from_millis(200)).await;
            while rx.try_recv().is_ok() {}
            if let Some(config) = reload(&server, &source, why).await {
                follow(
                    &mut watcher,
                    &mut folders,
                    &watched(&source.args, Some(&config)),
                );
            }
        }
    }
}

/// Watch the folders of `files` (those not watched yet) and react to events naming `files`.
fn follow(
    watcher: &mut Option<Watching>,
    folders: &mut BTreeSet<PathBuf>,
    files: &BTreeSet<PathBuf>,
) {
    let Some((watcher, interesting)) = watcher else {
        return;
    };
    *interesting.lock().unwrap_or_else(|e| e.into_inner()) = files.clone();
    for folder in files.iter().filter_map(|f| f.parent()) {
        if folders.insert(folder.to_path_buf())
            && let Err(e) = watcher.watch(folder, RecursiveMode::NonRecursive)
        {
            tracing::error!(folder = %folder.display(), error = %e, "cannot watch");
        }
    }
}

/// Build the next generation and swap it in, or keep the current one; audit either way.
/// Returns the configuration that is now served.
async fn reload(server: &QuerygateServer, source: &Source, why: &str) -> Option<Config> {
    let current = server.current();
    let args = source.args.clone();
    let (audit, fence) = (source.audit.clone(), source.fence);
    let previous = current.clone();
    let built = tokio::task::spawn_blocking(move || {
        let config = assemble_with(&args, args.chain.read_config()?)?;
        let state = build(&args.chain, config.clone(), Some(&previous), audit, fence)?;
        anyhow::Ok((state, config))
    })
    .await
    .map_err(|e| anyhow::anyhow!("the reload failed: {e}"))
    .and_then(|built| built);
    let mut record = AuditRecord::new("querygate", "reload");
    match built {
        Ok((state, config)) => {
            record.generation = Some(state.generation);
            record.chain = Some(
                state
                    .pipeline
                    .policies()
                    .map(|p| ChainRecord {
                        policy: p.name.clone(),
                        sha256: p.sha256.clone(),
                    })
                    .collect(),
            );
            tracing::info!(generation = state.generation, why, "configuration reloaded");
            if config.telemetry != source.telemetry {
                tracing::warn!(
                    generation = state.generation,
                    "[telemetry] changed: it takes effect at the next restart; until then \
                     telemetry goes where it went"
                );
            }
            // What the old generation alone holds (pools, tsh tunnels) goes when its last call
            // ends and drops it.
            server.swap(state);
            write(&source.audit, &record);
            Some(config)
        }
        Err(error) => {
            let message = format!("{error:#}");
            tracing::error!(
                error = %message,
                why,
                generation = current.generation,
                "configuration not reloaded: the previous one keeps serving"
            );
            record.generation = Some(current.generation);
            record.outcome = AuditOutcome::Error;
            record.error = Some(format!(
                "not reloaded ({why}): {message}; generation {} keeps serving",
                current.generation
            ));
            write(&source.audit, &record);
            None
        }
    }
}

fn write(audit: &AuditLog, record: &AuditRecord) {
    if let Err(e) = audit.write(record) {
        tracing::error!(error = %e, "audit log write failed");
    }
}
