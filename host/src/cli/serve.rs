//! `querygate serve`: the MCP server over stdio. stdout carries only the protocol; logs go to
//! stderr (`QUERYGATE_LOG=info` for more), audit lines to the configured file or stderr.

use super::demo::Demo;
use super::{ChainArgs, Exit};
use crate::audit::AuditLog;
use crate::database::{Database, DatabaseConfig};
use crate::mcp::{DatabaseEntry, QuerygateServer, ServerState};
use crate::teleport::TeleportUri;
use anyhow::Context as _;
use clap::Args;
use rmcp::ServiceExt;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// A database to serve, as NAME=URL (a postgres:// URL or a key=value connection string),
    /// or a Teleport URI `teleport://clusters/C/databases/NAME?dbName=D&dbUser=U` (named NAME);
    /// repeatable, added to those of --config.
    #[arg(long = "database", value_name = "NAME=URL|TELEPORT_URI")]
    databases: Vec<String>,
    /// Read the password of database NAME from environment variable VARIABLE (the
    /// `password_env` of a [[database]]); repeatable.
    #[arg(long = "password-env", value_name = "NAME=VARIABLE")]
    password_envs: Vec<String>,
    /// The tsh executable for teleport:// databases (default: `[teleport] tsh`, else `tsh`).
    #[arg(long, value_name = "PATH", env = "QUERYGATE_TSH")]
    tsh: Option<PathBuf>,
    /// Also serve the tools under Teleport's names (teleport_list_databases,
    /// teleport_postgres_query), as `tsh mcp db start` does.
    #[arg(long)]
    teleport_tools: bool,
    /// Append audit lines (one JSON object per call) to this file instead of stderr.
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// Serve a throwaway local PostgreSQL with sample data and the example policies.
    #[arg(long)]
    demo: bool,
    /// Write `query` rows as plain JSON text, without the untrusted-data fence
    /// (`[results] fence = false`).
    #[arg(long)]
    no_fence: bool,
}

pub fn run(args: &ServeArgs) -> anyhow::Result<Exit> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Decisions run on the blocking threads. Both parsers grow their stack to fit the
        // text (an `mmap` per call) when less is left than a text of that size could need:
        // 8 MiB, untouched until used, keeps that to statements over about 14 KB.
        .thread_stack_size(8 * 1024 * 1024)
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(serve(args));
    // A blocking read of stdin may still be pending (after a signal): do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

async fn serve(args: &ServeArgs) -> anyhow::Result<Exit> {
    // The demo database lives as long as this function: dropping it stops and removes it.
    let demo = if args.demo {
        Some(Demo::start().await?)
    } else {
        None
    };
    let (pipeline, _catalog, mut config) = match &demo {
        Some(demo) => {
            anyhow::ensure!(
                !args.chain.has_config(),
                "--demo brings its own configuration: drop --config"
            );
            args.chain.load_with(demo.config()?)?
        }
        None => args.chain.load_full()?,
    };
    for flag in &args.databases {
        config.databases.push(database_flag(flag)?);
    }
    for flag in &args.password_envs {
        password_env_flag(&mut config.databases, flag)?;
    }
    if let Some(tsh) = &args.tsh {
        config.teleport.tsh = tsh.clone();
    }
    config.teleport.tool_names |= args.teleport_tools;
    config
        .check()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let audit = match args.audit_log.as_ref().or(config.audit.path.as_ref()) {
        Some(path) => AuditLog::file(path)
            .with_context(|| format!("cannot open the audit log `{}`", path.display()))?,
        None => AuditLog::stderr(),
    };
    let databases = config
        .databases
        .into_iter()
        .map(|c| {
            Database::open(c, &config.teleport)
                .map(|db| DatabaseEntry::new(db).with_guard(config.guard.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tunnels: Vec<_> = databases
        .iter()
        .filter_map(|d| d.db.teleport().cloned())
        .collect();
    if databases.is_empty() {
        anyhow::bail!(
            "no database to serve: add a [[database]] to the config, pass --database NAME=URL, or try --demo"
        );
    }
    tracing::info!(
        databases = databases.len(),
        policies = pipeline.policies().count(),
        "serving MCP over stdio"
    );
    let server = QuerygateServer::new(ServerState {
        pipeline,
        databases,
        audit,
        teleport: config.teleport.clone(),
        fence_results: config.results.fence && !args.no_fence,
    });
    let running = server
        .serve((
            super::lossy::LossyUtf8::new(tokio::io::stdin()),
            tokio::io::stdout(),
        ))
        .await
        .context("the MCP handshake failed")?;
    tokio::select! {
        result = running.waiting() => {
            result.context("the MCP session failed")?;
        }
        _ = shutdown_signal() => {
            tracing::info!("shutting down on signal");
        }
    }
    for tunnel in tunnels {
        tunnel.stop().await;
    }
    drop(demo);
    Ok(Exit::Success)
}

/// `--database NAME=URL`, or a bare Teleport URI named after its database.
fn database_flag(flag: &str) -> anyhow::Result<DatabaseConfig> {
    if TeleportUri::is_teleport(flag) {
        let uri = TeleportUri::parse(flag).map_err(|e| anyhow::anyhow!("--database: {e}"))?;
        return Ok(DatabaseConfig::new(uri.database.clone(), flag.trim()));
    }
    let (name, url) = flag
        .split_once('=')
        .filter(|(name, _)| !name.is_empty() && !name.contains(' '))
        .with_context(|| {
            format!("--database `{flag}` is neither NAME=URL nor a teleport:// URI")
        })?;
    Ok(DatabaseConfig::new(name, url))
}

/// `--password-env NAME=VARIABLE`: set the `password_env` of database NAME.
fn password_env_flag(databases: &mut [DatabaseConfig], flag: &str) -> anyhow::Result<()> {
    let (name, var) = flag
        .split_once('=')
        .filter(|(name, var)| !name.is_empty() && !var.is_empty())
        .with_context(|| format!("--password-env `{flag}` is not NAME=VARIABLE"))?;
    let database = databases
        .iter_mut()
        .find(|d| d.name == name)
        .with_context(|| format!("--password-env `{flag}`: there is no database `{name}`"))?;
    anyhow::ensure!(
        database.password_env.is_none(),
        "--password-env `{flag}`: database `{name}` already has password_env `{}`",
        database.password_env.as_deref().unwrap_or_default()
    );
    database.password_env = Some(var.to_string());
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
