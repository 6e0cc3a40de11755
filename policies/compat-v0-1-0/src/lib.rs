//! A policy written against the 0.1.0 WIT contract (see README.md).
#![allow(unsafe_code, reason = "generated ABI glue, exported at the crate root")]

mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "policy",
    });
}

use bindings::querygate::policy::types::{Context, Level, Statement, Verdict};

struct Compat;

impl bindings::Guest for Compat {
    fn evaluate(statement: Statement, context: Context) -> Verdict {
        bindings::log(
            Level::Info,
            &format!("0.1.0 policy called from {}", context.tool),
        );
        if statement.relations.iter().any(|r| r.name == "secrets") {
            Verdict::Reject("compat-v0-1-0: `secrets` is not readable".to_owned())
        } else {
            Verdict::Allow
        }
    }
}

bindings::export!(Compat with_types_in bindings);
