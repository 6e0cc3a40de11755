//! Names as PostgreSQL reads them from sqlparser's tree: folded the way PostgreSQL folds them,
//! and split into schema and name. The catalog and the facts both read names this way.

use sqlparser::ast::{Ident, ObjectName};

/// PostgreSQL's name folding: unquoted names are lower-cased, quoted ones kept as written.
pub(super) fn fold(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// The parts of a qualified name, each folded.
pub(super) fn idents(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|part| match part.as_ident() {
            Some(ident) => fold(ident),
            None => part.to_string(),
        })
        .collect()
}

/// A qualified name's last part, and what comes before it as its schema.
pub(super) fn split_schema(name: &ObjectName) -> (Option<String>, String) {
    let mut parts = idents(name);
    let last = parts.pop().unwrap_or_default();
    let schema = if parts.is_empty() {
        None
    } else {
        Some(parts.join("."))
    };
    (schema, last)
}
