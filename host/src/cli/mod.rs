//! The `querygate` command line: one file per subcommand, an exit-code type, and the shared
//! assembly of a policy chain from `--config` / `--policy`.

mod audit;
mod check;
mod client_config;
mod demo;
mod eval;
mod lossy;
mod policy;
mod reload;
mod replay;
mod report;
mod serve;

use crate::config::{Config, PolicyEntry};
use crate::pipeline::Pipeline;
use crate::policy::Runtime;
use crate::sql::Catalog;
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;

/// How a run ended, as the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything passed.
    Success = 0,
    /// A case failed (check) or the statement was rejected (eval).
    Failed = 1,
    /// Could not run: bad configuration, module, cases file or arguments.
    Unusable = 2,
}

#[derive(Debug, Parser)]
#[command(
    name = "querygate",
    version,
    about = "Checks every SQL statement an AI assistant sends with WebAssembly policies before it reaches PostgreSQL"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run cases files against a policy chain (for CI): exit 0 all pass, 1 a case failed, 2 could not run.
    Check(check::CheckArgs),
    /// Send one statement through the chain and print every step (for policy authors).
    Eval(eval::EvalArgs),
    /// Serve MCP over stdio: the tools an AI assistant uses to query PostgreSQL through the policies.
    Serve(serve::ServeArgs),
    /// A tour on a throwaway PostgreSQL with sample data and the example policies.
    Demo(demo::DemoArgs),
    /// Write a policy: create a project, build it into a component, run its cases.
    Policy(policy::PolicyArgs),
    /// Write the entry that makes Claude Desktop, Cursor, VS Code or Claude Code start
    /// `querygate serve`, or (--check) report the ungated ways to PostgreSQL beside it.
    Config(client_config::ConfigArgs),
    /// Work with the audit log: `audit verify FILE` checks its hash chain.
    Audit(audit::AuditArgs),
    /// Decide every statement of an audit log again under a new chain and report what would change: exit 0 nothing, 1 something, 2 could not run.
    Replay(replay::ReplayArgs),
}

/// Where the policy chain comes from.
#[derive(Debug, Default, Clone, Args)]
pub struct ChainArgs {
    /// Configuration file (policies, their config, limits).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// A policy component to add to the chain, after those of --config; repeatable.
    #[arg(long = "policy", value_name = "PATH")]
    policies: Vec<PathBuf>,
    /// A `pg_dump --schema-only` file: its CREATE TABLE statements give relation columns, and its
    /// CREATE FUNCTION, VIEW, OPERATOR, EXTENSION and POLICY statements what the guard resolves
    /// names to (without it, functions that are not PostgreSQL built-ins are refused).
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
}

impl ChainArgs {
    /// Load the configuration, compile the policies, and read the schema.
    pub fn load(&self) -> anyhow::Result<(Pipeline, Catalog)> {
        let (pipeline, catalog, _) = self.load_full()?;
        Ok((pipeline, catalog))
    }

    /// Whether `--config` was given.
    pub fn has_config(&self) -> bool {
        self.config.is_some()
    }

    /// As [`ChainArgs::load`], also returning the configuration.
    pub fn load_full(&self) -> anyhow::Result<(Pipeline, Catalog, Config)> {
        self.load_with(self.read_config()?)
    }

    /// The configuration file as it is now (the defaults without `--config`).
    pub fn read_config(&self) -> anyhow::Result<Config> {
        Ok(match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        })
    }

    /// Compile the policies of `config` plus those of `--policy`, and read the schema.
    pub fn load_with(&self, mut config: Config) -> anyhow::Result<(Pipeline, Catalog, Config)> {
        config
            .policies
            .extend(self.policies.iter().map(|path| PolicyEntry {
                name: None,
                path: path.clone(),
                sha256: None,
                config: None,
                mode: Default::default(),
            }));
        // `--policy` flags can collide with configured names: check the merged chain.
        config.check().map_err(anyhow::Error::msg)?;
        let specs = config.policy_specs();
        let runtime = Arc::new(Runtime::new(config.limits.policy(), config.cache_dir())?);
        let policies = specs
            .iter()
            .map(|spec| runtime.load(spec))
            .collect::<Result<Vec<_>, _>>()?;
        let catalog = match &self.schema {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read schema file `{}`", path.display()))?;
                Catalog::from_schema_sql(&text)
                    .with_context(|| format!("schema file `{}`", path.display()))?
            }
            None => Catalog::default(),
        };
        let mut catalog = catalog;
        catalog.set_guard(config.guard.clone());
        let pipeline = Pipeline::new(runtime, policies, config.limits.sql());
        Ok((pipeline, catalog, config))
    }
}

/// Parse the arguments, run the command, and map the outcome to an exit code.
pub fn main() -> Exit {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Config(args) => client_config::run(&args),
        Command::Audit(args) => audit::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Policy(args) => policy::run(&args),
    };
    match result {
        Ok(exit) => exit,
        Err(error) => {
            eprintln!("error: {error:#}");
            Exit::Unusable
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("QUERYGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
