//! `querygate eval`: one statement through the chain, every step printed (for policy authors).

use super::{ChainArgs, Exit};
use crate::cases::{ContextOverride, default_context};
use crate::pipeline::{Outcome, StepVerdict};
use clap::Args;

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// Print the decision as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Client name the policies see.
    #[arg(long, value_name = "NAME")]
    client_name: Option<String>,
    /// Database user the policies see.
    #[arg(long, value_name = "USER")]
    database_user: Option<String>,
    /// The statement.
    #[arg(value_name = "SQL")]
    sql: String,
}

pub fn run(args: &EvalArgs) -> anyhow::Result<Exit> {
    let (pipeline, catalog) = args.chain.load()?;
    let mut context = default_context();
    context.tool = "eval".to_string();
    ContextOverride {
        client_name: args.client_name.clone(),
        database_user: args.database_user.clone(),
        ..ContextOverride::default()
    }
    .apply(&mut context);
    let decision = pipeline.decide(&args.sql, &catalog, &context);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&decision)?);
    } else {
        println!("input     {}", args.sql.trim());
        let first = decision
            .steps
            .first()
            .map(|s| s.input_sql.clone())
            .or_else(|| decision.final_sql().map(str::to_string));
        match (&first, &decision.outcome) {
            (Some(sql), _) => {
                println!("parse     ok: {sql}");
                println!("guard     ok: read-only");
            }
            (None, Outcome::Rejected { by, reason }) => {
                println!("{:<9} refused: {reason}", by.to_string());
            }
            (None, Outcome::Allowed { .. }) => {}
        }
        for step in &decision.steps {
            let verdict = match &step.verdict {
                StepVerdict::Allow => "allow".to_string(),
                StepVerdict::Rewrite(sql) => format!("rewrite → {sql}"),
                StepVerdict::Reject(reason) => format!("reject: {reason}"),
                StepVerdict::Fault(fault) => format!("fault: {fault}"),
            };
            println!(
                "policy    {} ({} µs): {verdict}",
                step.policy.clone() + if step.enforced { "" } else { " [monitor]" },
                step.elapsed.as_micros()
            );
            for line in &step.logs {
                println!("  log     {:?}: {}", line.level, line.message);
            }
        }
        match &decision.outcome {
            Outcome::Allowed { analysis, .. } => println!("final     {}", analysis.sql),
            Outcome::Rejected { .. } => {
                println!("rejected  {}", decision.rejection().unwrap_or_default())
            }
        }
    }
    Ok(match decision.outcome {
        Outcome::Allowed { .. } => Exit::Success,
        Outcome::Rejected { .. } => Exit::Failed,
    })
}
