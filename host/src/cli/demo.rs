//! `querygate demo` and `serve --demo`: a throwaway local PostgreSQL with the sample HR
//! database and the example policies, so a newcomer sees allow, rewrite and reject on real
//! data in one command. The server is removed when querygate exits.

use super::{ChainArgs, Exit};
use crate::config::Config;
use crate::database::{Database, DatabaseConfig};
use crate::localpg::{self, LocalPostgres};
use crate::pipeline::Outcome;
use crate::policy::Context;
use anyhow::Context as _;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct DemoArgs {}

/// A running demo: the database, and where the example policies are.
pub struct Demo {
    pg: LocalPostgres,
    policies: PathBuf,
}

impl Demo {
    /// Start PostgreSQL, load the sample data, and build or locate the example policies.
    pub async fn start() -> anyhow::Result<Demo> {
        let policies = example_policies()?;
        eprintln!("starting a throwaway PostgreSQL…");
        let pg = LocalPostgres::start()?;
        let client = pg.superuser_client().await?;
        localpg::load_demo_data(&client).await?;
        Ok(Demo { pg, policies })
    }

    /// The example policies and the demo database, as a configuration.
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(&self.policies.join("querygate.toml"))?;
        config.databases = vec![DatabaseConfig::new(
            "hr",
            self.pg.url("postgres", "querygate_reader"),
        )];
        Ok(config)
    }
}

/// The repository's `policies/` folder, with the example policies built for wasm32-wasip2
/// (building them with cargo when they are missing).
fn example_policies() -> anyhow::Result<PathBuf> {
    let candidates = [
        std::env::var_os("QUERYGATE_EXAMPLES").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")),
        Some(PathBuf::from("policies")),
    ];
    let dir = candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("querygate.toml").exists())
        .context(
            "cannot find the example policies: run the demo from a querygate checkout, or set QUERYGATE_EXAMPLES to its policies/ folder",
        )?;
    let built = dir.join("target/wasm32-wasip2/release");
    let missing = [
        "row_limit",
        "deny_columns",
        "function_allowlist",
        "tenant_scope",
        "require_where",
        "mask_columns",
    ]
    .iter()
    .any(|stem| !built.join(format!("{stem}.wasm")).exists());
    if missing {
        eprintln!("building the example policies for wasm32-wasip2…");
        crate::examples::build(&dir).map_err(anyhow::Error::msg)?;
    }
    Ok(dir)
}

/// The statements of the tour, each with what it shows.
const TOUR: &[(&str, &str)] = &[
    (
        "an ordinary query gets a LIMIT (row-limit)",
        "SELECT name, hired_on FROM employees ORDER BY hired_on",
    ),
    (
        "a query within the rules runs as written",
        "SELECT d.name, count(*) AS people FROM departments d JOIN employees e ON e.department_id = d.id GROUP BY d.name ORDER BY people DESC LIMIT 5",
    ),
    (
        "sensitive columns are refused (deny-columns)",
        "SELECT name, ssn FROM employees LIMIT 5",
    ),
    ("…also through *", "SELECT * FROM employees LIMIT 5"),
    (
        "only allowed functions may be called (function-allowlist)",
        "SELECT md5(email) FROM employees LIMIT 5",
    ),
    (
        "writes never get past the built-in guard",
        "DELETE FROM employees",
    ),
    (
        "nor do stacked statements",
        "SELECT 1; DROP TABLE employees",
    ),
    (
        "nor side-effect functions, however spelled",
        "SELECT PG_CATALOG.\"pg_sleep\"(60)",
    ),
];

pub fn run(_args: &DemoArgs) -> anyhow::Result<Exit> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(tour())
}

async fn tour() -> anyhow::Result<Exit> {
    let demo = Demo::start().await?;
    let (pipeline, _, config) = ChainArgs::default().load_with(demo.config()?)?;
    let db_config = config
        .databases
        .into_iter()
        .next()
        .context("demo database")?;
    let db = Database::new(db_config)?;
    let catalog = db.load_catalog().await?;
    let context = Context {
        database: "hr".into(),
        database_user: "querygate_reader".into(),
        database_name: "postgres".into(),
        client_name: "querygate-demo".into(),
        tool: "query".into(),
    };
    println!("querygate demo: the sample HR database, through the example policies\n");
    for (what, sql) in TOUR {
        println!("── {what}\n   {sql}");
        let decision = pipeline.decide(sql, &catalog, &context);
        match &decision.outcome {
            Outcome::Allowed {
                analysis,
                rewritten_by,
            } => {
                if rewritten_by.is_empty() {
                    println!("   ✓ allowed");
                } else {
                    println!(
                        "   ✎ rewritten by {}: {}",
                        rewritten_by.join(", "),
                        analysis.sql
                    );
                }
                match db.execute(&analysis.sql).await {
                    Ok(result) => {
                        let shown = result.rows.len().min(3);
                        for row in &result.rows[..shown] {
                            println!("     {}", serde_json::Value::Array(row.clone()));
                        }
                        println!(
                            "     … {} row(s){}",
                            result.row_count,
                            if result.truncated { ", truncated" } else { "" }
                        );
                    }
                    Err(error) => println!("   database error: {error}"),
                }
            }
            Outcome::Rejected { .. } => {
                println!("   ✗ {}", decision.rejection().unwrap_or_default());
            }
        }
        println!();
    }
    println!("Serve the same over MCP with `querygate serve --demo`.");
    Ok(Exit::Success)
}
