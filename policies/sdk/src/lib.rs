//! The guest SDK for querygate policies.
//!
//! A policy is a WebAssembly component implementing the `policy` world of `wit/policy.wit`: querygate
//! hands it one checked SQL statement and a context, and it answers allow, rewrite or reject. This
//! crate owns the bindings for that world and the small helpers every policy needs, so a policy
//! crate is a `cdylib` with one function:
//!
//! ```
//! use querygate_policy::{Context, Policy, Statement, StatementKind, Verdict};
//!
//! struct NoShow;
//!
//! impl Policy for NoShow {
//!     fn evaluate(statement: &Statement, _context: &Context) -> Verdict {
//!         match statement.kind {
//!             StatementKind::Show => Verdict::Reject("SHOW is not allowed here".into()),
//!             _ => Verdict::Allow,
//!         }
//!     }
//! }
//!
//! querygate_policy::export_policy!(NoShow);
//! ```
//!
//! built with `cargo build --release --target wasm32-wasip2`. On other targets the export macro
//! expands to nothing, so the same crate compiles natively and its unit tests run there; the
//! `testing` feature builds statements with querygate's own analysis for those tests.
//!
//! Features:
//! - `ast`: [`StatementExt::ast`] turns the host's syntax tree back into a
//!   [`sqlparser`] `Statement`, for policies that rewrite. Off by default: it makes a module about
//!   25 times larger (4 MB rather than 150 KB), and policies that only read the analysis do not
//!   need it.
//! - `testing` (native only): [`testing`].

mod config;
pub mod log;
mod statement;

#[cfg(feature = "ast")]
pub mod ast;
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub mod testing;
#[cfg(feature = "ast")]
mod tree_json;

#[cfg(feature = "ast")]
pub use sqlparser;

pub use config::config;
pub use statement::{RelationExt, StatementExt, has_column};

/// The bindings generated from `wit/policy.wit`. Policies use the re-exports at the crate root and
/// [`export_policy!`]; this module is public only for that macro.
#[doc(hidden)]
pub mod bindings {
    #![allow(unsafe_code, reason = "generated ABI glue")]

    wit_bindgen::generate!({
        path: "../../wit",
        world: "policy",
        pub_export_macro: true,
        default_bindings_module: "querygate_policy::bindings",
        additional_derives: [PartialEq, Eq],
    });
}

pub use bindings::querygate::policy::types::{
    Column, ColumnRef, Context, FunctionCall, Level, Relation, Statement, StatementKind, Verdict,
};

/// querygate's rendering of a syntax tree, as JSON in the format of [`Statement::ast_json`], back
/// to SQL: the host's `sql.render` import (WIT 0.1.1), the renderer policies in other languages
/// call. Rust policies with the `ast` feature can render with sqlparser themselves, which gives
/// the same SQL. The error says why the tree could not be read.
///
/// Natively (tests) there is no host to ask: with the `ast` feature this renders with the same
/// version of sqlparser as querygate; without it, it returns an error.
pub fn render(ast_json: &str) -> Result<String, String> {
    #[cfg(target_arch = "wasm32")]
    {
        bindings::querygate::policy::sql::render(ast_json)
    }
    #[cfg(all(not(target_arch = "wasm32"), feature = "ast"))]
    {
        ast::parse_ast_json(ast_json).map(|tree| tree.to_string())
    }
    #[cfg(all(not(target_arch = "wasm32"), not(feature = "ast")))]
    {
        let _ = ast_json;
        Err("natively, rendering a syntax tree needs the `ast` feature".to_owned())
    }
}

/// A policy: decides what happens to one statement.
///
/// Called with a fresh instance for every statement, so there is no `self` and nothing to keep
/// between calls. Export the implementing type with [`export_policy!`].
pub trait Policy {
    /// Allow the statement, rewrite it into other SQL, or reject it with a reason the user reads.
    fn evaluate(statement: &Statement, context: &Context) -> Verdict;
}

/// Exports a [`Policy`] as the component's `evaluate` function.
///
/// Expands to nothing unless the target is `wasm32`, so a policy crate also builds natively.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct QuerygatePolicyExport;

            impl $crate::bindings::Guest for QuerygatePolicyExport {
                fn evaluate(
                    statement: $crate::Statement,
                    context: $crate::Context,
                ) -> $crate::Verdict {
                    <$policy as $crate::Policy>::evaluate(&statement, &context)
                }
            }

    $crate::bindings::export!(QuerygatePolicyExport with_types_in $crate::bindings);
        };
    };
}
