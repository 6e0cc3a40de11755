//! Test-only crate: `tests/chain.rs` runs `policies/chain.toml` through the example policies
//! natively, in the order of `policies/querygate.toml`, the way `querygate check` runs it through
//! the components. It has no code of its own.
