//! `querygate serve`: the MCP server over stdio. stdout carries only the protocol; logs go to
//! stderr (`QUERYGATE_LOG=info` for more), audit lines to the configured file or stderr, and,
//! when configured, traces and metrics to an OpenTelemetry collector ([`crate::telemetry`]).

use super::demo::Demo;
use super::{ChainArgs, Exit, reload};
use crate::audit::AuditLog;
use crate::config::Config;
use crate::database::DatabaseConfig;
use crate::mcp::QuerygateServer;
use crate::teleport::TeleportUri;
use anyhow::Context as _;
use clap::Args;
use rmcp::ServiceExt;
use std::path::PathBuf;
use std::sync::Arc;

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
    /// Do not watch the configuration and policy files for changes (SIGHUP still reloads).
    #[arg(long)]
    no_watch: bool,
    /// Export OpenTelemetry traces (one per tool call: analyze, each policy, execute) and
    /// metrics (decisions, policy duration, rows) to this OTLP/HTTP endpoint, e.g.
    /// http://127.0.0.1:4318 (`[telemetry] otlp`). Nothing is exported without it.
    #[arg(long, value_name = "ENDPOINT")]
    otlp: Option<String>,
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
    let demo_config = match &demo {
        Some(demo) => {
            anyhow::ensure!(
                !args.chain.has_config(),
                "--demo brings its own configuration: drop --config"
            );
            Some(demo.config()?)
        }
        None => None,
    };
    // SIGHUP reloads a configuration file: listen before the handshake, so that a signal sent
    // as soon as the client is connected is never the default one (which ends the process).
    let hangup = match (&args.chain.config, &demo) {
        (Some(_), None) => Some(
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .context("cannot listen for SIGHUP")?,
        ),
        _ => None,
    };
    let config = assemble(args, demo_config)?;
    let audit = Arc::new(
        match args.audit_log.as_ref().or(config.audit.path.as_ref()) {
            Some(path) => AuditLog::file(path)
                .with_context(|| format!("cannot open the audit log `{}`", path.display()))?,
            None => AuditLog::stderr(),
        },
    );
    let fence = !args.no_fence;
    // Started once: a reload does not change where telemetry goes (it says so in the log).
    let telemetry = config.telemetry.clone();
    let exporter = crate::telemetry::Exporter::start(&telemetry)?;
    let state = reload::build(&args.chain, config, None, audit.clone(), fence)?;
    tracing::info!(
        databases = state.databases.len(),
        policies = state.pipeline.policies().count(),
        "serving MCP over stdio"
    );
    let server = QuerygateServer::new(state);
    // Watching starts before the client is connected: no change made after that is missed.
    let reloading = hangup.map(|hangup| {
        tokio::spawn(reload::start(
            server.clone(),
            reload::Source {
                args: ReloadArgs::of(args),
                audit: audit.clone(),
                fence,
                telemetry,
            },
            !args.no_watch,
            hangup,
        ))
    });
    let running = server
        .clone()
        .serve((
            super::lossy::LossyUtf8::new(tokio::io::stdin()),
            tokio::io::stdout(),
        ))
        .await
        .context("the MCP handshake failed")?;
    // A configuration file is watched, and SIGHUP reloads it too (not for the demo's own).
    tokio::select! {
        result = running.waiting() => {
            result.context("the MCP session failed")?;
        }
        _ = shutdown_signal() => {
            tracing::info!("shutting down on signal");
        }
    }
    if let Some(reloading) = reloading {
        reloading.abort();
    }
    for entry in &server.current().databases {
        if let Some(tunnel) = entry.db.teleport() {
            tunnel.stop().await;
        }
    }
    drop(demo);
    if let Some(exporter) = exporter {
        // Blocks until the last spans and metrics are sent (or the export times out).
        let _ = tokio::task::spawn_blocking(move || exporter.shutdown()).await;
    }
    Ok(Exit::Success)
}

/// What a reload needs of the command line: everything but the demo.
#[derive(Debug, Clone)]
pub(super) struct ReloadArgs {
    pub chain: ChainArgs,
    databases: Vec<String>,
    password_envs: Vec<String>,
    tsh: Option<PathBuf>,
    teleport_tools: bool,
    otlp: Option<String>,
}

impl ReloadArgs {
    fn of(args: &ServeArgs) -> ReloadArgs {
        ReloadArgs {
            chain: args.chain.clone(),
            databases: args.databases.clone(),
            password_envs: args.password_envs.clone(),
            tsh: args.tsh.clone(),
            teleport_tools: args.teleport_tools,
            otlp: args.otlp.clone(),
        }
    }
}

/// The configuration `serve` runs with: the file (or the demo's), then the flags.
fn assemble(args: &ServeArgs, demo: Option<Config>) -> anyhow::Result<Config> {
    let config = match demo {
        Some(config) => config,
        None => args.chain.read_config()?,
    };
    assemble_with(&ReloadArgs::of(args), config)
}

pub(super) fn assemble_with(args: &ReloadArgs, mut config: Config) -> anyhow::Result<Config> {
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
    if let Some(otlp) = &args.otlp {
        config.telemetry.otlp = Some(otlp.clone());
    }
    config
        .check()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    anyhow::ensure!(
        !config.databases.is_empty(),
        "no database to serve: add a [[database]] to the config, pass --database NAME=URL, or try --demo"
    );
    Ok(config)
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
