//! End-to-end tests: the real `querygate` binary and library, real policy components built
//! from `policies/`, and (for the database behaviours) a real PostgreSQL.
//!
//! One test binary, so the policies are built once per run.

#[path = "../support/mod.rs"]
mod support;

mod audit;
mod check_cli;
mod check_formats;
mod client_config;
mod client_config_database;
mod corpus;
mod database;
mod exhaustion;
mod fuzz_smoke;
mod guard;
mod interop;
mod masking;
mod messages;
mod policy_faults;
mod policy_kit;
mod reload;
mod rollout;
mod serve;
mod telemetry;
mod teleport;
mod wit_versions;
