//! `querygate check --format json`, with the example policies run natively instead of as
//! components: prints each case's result as JSON, one array. `tests/e2e/check_cli.rs` runs both
//! on the same files and compares them.
//!
//!     cargo run --manifest-path policies/Cargo.toml -p chain-cases --example native-check -- \
//!         policies/querygate.toml policies/schema.sql policies/chain.toml …
#![cfg_attr(target_arch = "wasm32", allow(unused))]

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    use querygate_policy::Policy;
    use querygate_policy::testing::cases::{self, Evaluate};
    use std::path::{Path, PathBuf};

    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [config, schema, files @ ..] = args.as_slice() else {
        eprintln!("usage: native-check CONFIG SCHEMA CASES...");
        std::process::exit(2);
    };
    let policies: &[(&str, Evaluate)] = &[
        ("row-limit", row_limit::RowLimit::evaluate),
        ("deny-columns", deny_columns::DenyColumns::evaluate),
        (
            "function-allowlist",
            function_allowlist::FunctionAllowlist::evaluate,
        ),
        ("mask-columns", mask_columns::MaskColumns::evaluate),
        ("tenant-scope", tenant_scope::TenantScope::evaluate),
        ("require-where", require_where::RequireWhere::evaluate),
    ];
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let results = cases::results(config, schema, &files, policies);
    match serde_json::to_string_pretty(&results) {
        Ok(json) => println!("{json}"),
        Err(error) => panic!("{error}"),
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}
