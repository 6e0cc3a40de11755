//! querygate: every SQL statement an AI assistant sends is parsed, checked by a built-in
//! read-only guard, passed through a chain of WebAssembly policy components that may allow,
//! rewrite or reject it, and only then run on PostgreSQL.
//!
//! [`sql`] is the analysis and guard; `policy` the Wasm runtime; `pipeline` the one path every
//! statement takes; `cli` the commands. Without the default `runtime` feature only [`sql`] is
//! built, so policy authors can test against the host's own analysis natively.

pub mod sql;

#[cfg(feature = "runtime")]
pub mod audit;
#[cfg(feature = "grammar")]
pub mod cases;
#[cfg(feature = "grammar")]
pub mod chain;
#[cfg(feature = "runtime")]
pub mod cli;
#[cfg(feature = "runtime")]
pub mod config;
#[cfg(feature = "runtime")]
pub mod database;
#[cfg(feature = "runtime")]
pub mod examples;
#[cfg(feature = "runtime")]
pub mod localpg;
#[cfg(feature = "runtime")]
pub mod mcp;
#[cfg(feature = "runtime")]
pub mod pipeline;
#[cfg(feature = "runtime")]
pub mod policy;
#[cfg(feature = "runtime")]
pub mod telemetry;
#[cfg(feature = "runtime")]
pub mod teleport;
#[cfg(feature = "runtime")]
mod watchdog;
