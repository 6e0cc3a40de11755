//! The built-in read-only guard, always on, before any policy.
//!
//! It is an allow-list of statement kinds, not a deny-list: only SELECT / VALUES / WITH queries,
//! EXPLAIN (never ANALYZE) of such a query, and SHOW of a setting get through. Inside a query it
//! refuses anything that writes or locks: data-modifying statements nested in WITH (found by
//! walking every nested statement), SELECT INTO, locking clauses (FOR UPDATE / SHARE), and calls
//! to functions with side effects ([`super::functions`]). What a statement reaches through the
//! catalog (functions by every candidate, operators, casts, views, policies) is resolved on
//! PostgreSQL's tree of the statement, which every statement also gets ([`super::reach`]). Parameters (`$1`) are refused too: the
//! statement runs without bound values.
//!
//! The checks here run on the syntax tree; [`super::facts`] calls the nested ones during its
//! single walk of the tree, so a statement is walked once.

use super::{SqlError, StatementKind, functions};
use sqlparser::ast::{
    AnalyzeFormatKind, DescribeAlias, Expr, ObjectName, Query, Select, Statement, Value,
};

const ALLOWED: &str =
    "querygate runs only SELECT, VALUES, WITH queries, EXPLAIN without ANALYZE, and SHOW";

pub(super) fn refuse(reason: impl Into<String>) -> SqlError {
    SqlError::Guard {
        reason: reason.into(),
    }
}

/// Accept the outermost statement's kind, or say why not.
pub(super) fn check_top_level(statement: &Statement) -> Result<StatementKind, SqlError> {
    match statement {
        Statement::Query(_) => Ok(StatementKind::Query),
        Statement::Explain {
            describe_alias,
            analyze,
            statement: inner,
            options,
            query_plan,
            estimate,
            format,
            ..
        } => {
            if *describe_alias != DescribeAlias::Explain || *query_plan || *estimate {
                return Err(refuse(format!(
                    "`{}` is not supported: use EXPLAIN",
                    leading_words(statement)
                )));
            }
            let analyze_option = options
                .iter()
                .flatten()
                .any(|option| option.name.value.eq_ignore_ascii_case("analyze"));
            if *analyze || analyze_option {
                return Err(refuse(
                    "EXPLAIN ANALYZE runs the statement: use EXPLAIN without ANALYZE",
                ));
            }
            if let Some(AnalyzeFormatKind::Assignment(_)) = format {
                return Err(refuse("EXPLAIN FORMAT = … is not PostgreSQL syntax"));
            }
            match inner.as_ref() {
                Statement::Query(_) => Ok(StatementKind::Explain),
                other => Err(refuse(format!(
                    "EXPLAIN of `{}` is not allowed: only queries can be explained",
                    leading_words(other)
                ))),
            }
        }
        Statement::ShowVariable { .. } => Ok(StatementKind::Show),
        other => Err(refuse(format!(
            "`{}` is not a read-only statement: {ALLOWED}",
            leading_words(other)
        ))),
    }
}

/// A statement found inside a query (e.g. a DELETE in a WITH clause).
pub(super) fn refuse_nested(statement: &Statement) -> SqlError {
    refuse(format!(
        "`{}` inside a query changes data: {ALLOWED}",
        leading_words(statement)
    ))
}

pub(super) fn check_query(query: &Query) -> Result<(), SqlError> {
    if let Some(lock) = query.locks.first() {
        return Err(refuse(format!(
            "locking clause `{}` takes row locks: remove it",
            lock.to_string().trim()
        )));
    }
    if query.for_clause.is_some()
        || query.settings.is_some()
        || query.format_clause.is_some()
        || !query.pipe_operators.is_empty()
    {
        return Err(refuse(
            "query uses a clause PostgreSQL does not have (FOR XML/JSON, SETTINGS, FORMAT or pipe operators)",
        ));
    }
    Ok(())
}

pub(super) fn check_select(select: &Select) -> Result<(), SqlError> {
    if select.into.is_some() {
        return Err(refuse(
            "SELECT INTO creates a table: remove the INTO clause",
        ));
    }
    Ok(())
}

pub(super) fn check_expr(expr: &Expr) -> Result<(), SqlError> {
    if let Expr::Value(value) = expr
        && let Value::Placeholder(placeholder) = &value.value
    {
        return Err(refuse(format!(
            "parameter `{placeholder}` has no value: write the value into the statement"
        )));
    }
    Ok(())
}

pub(super) fn check_function(name: &ObjectName) -> Result<(), SqlError> {
    let Some(last) = name.0.last().and_then(|part| part.as_ident()) else {
        return Err(refuse(format!("function name `{name}` is not supported")));
    };
    match functions::side_effect(&last.value) {
        Some(why) => Err(refuse(format!(
            "function `{}` is not allowed: it {why}",
            last.value.to_lowercase()
        ))),
        None => Ok(()),
    }
}

/// The statement's first keywords, for messages (`DELETE`, `CREATE TABLE`, `SET`).
fn leading_words(statement: &Statement) -> String {
    let rendered = statement.to_string();
    let mut words = rendered.split_whitespace();
    let first = words.next().unwrap_or_default().to_uppercase();
    let second = words.next().map(str::to_uppercase);
    let two_word = matches!(
        (first.as_str(), second.as_deref()),
        (
            "CREATE" | "DROP" | "ALTER" | "START" | "EXPLAIN" | "DESCRIBE",
            _
        ) | (
            "SET" | "RESET",
            Some("TRANSACTION" | "ROLE" | "SESSION" | "ALL")
        )
    );
    match second {
        Some(second) if two_word => format!("{first} {second}"),
        _ => first,
    }
}
