//! `policies/chain.toml`, run natively through the whole example chain.
#![cfg(not(target_arch = "wasm32"))]

use std::path::Path;

use querygate_policy::Policy;
use querygate_policy::testing::cases::{self, Evaluate};

#[test]
fn chain_cases() {
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
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    cases::run(
        &dir.join("querygate.toml"),
        &dir.join("schema.sql"),
        &dir.join("chain.toml"),
        policies,
    );
}
