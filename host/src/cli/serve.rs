//! `querygate serve`: the MCP server over stdio. stdout carries only the protocol; logs go to
//! stderr (`QUERYGATE_LOG=info` for more), audit lines to the configured file or stderr.

use super::demo::Demo;
use super::{ChainArgs, Exit};
use crate::audit::AuditLog;
use crate::database::{Database, DatabaseConfig};
use crate::mcp::{DatabaseEntry, QuerygateServer, ServerState};
use anyhow::Context as _;
use clap::Args;
use rmcp::ServiceExt;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// A database to serve, as NAME=URL (a postgres:// URL or a key=value connection string);
    /// repeatable, added to those of --config.
    #[arg(long = "database", value_name = "NAME=URL")]
    databases: Vec<String>,
    /// Append audit lines (one JSON object per call) to this file instead of stderr.
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// Serve a throwaway local PostgreSQL with sample data and the example policies.
    #[arg(long)]
    demo: bool,
}

pub fn run(args: &ServeArgs) -> anyhow::Result<Exit> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
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
        let (name, url) = flag
            .split_once('=')
            .filter(|(name, _)| !name.is_empty() && !name.contains(' '))
            .with_context(|| format!("--database `{flag}` is not NAME=URL"))?;
        config.databases.push(DatabaseConfig::new(name, url));
    }
    let audit = match args.audit_log.as_ref().or(config.audit.path.as_ref()) {
        Some(path) => AuditLog::file(path)
            .with_context(|| format!("cannot open the audit log `{}`", path.display()))?,
        None => AuditLog::stderr(),
    };
    let databases = config
        .databases
        .into_iter()
        .map(|c| Database::new(c).map(DatabaseEntry::new))
        .collect::<Result<Vec<_>, _>>()?;
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
    });
    let running = server
        .serve(rmcp::transport::stdio())
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
    drop(demo);
    Ok(Exit::Success)
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
