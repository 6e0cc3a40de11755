//! Native test helpers (feature `testing`, not on `wasm32`).
//!
//! Statements are built by querygate's own analysis (`querygate::sql::analyze`: sqlparser
//! and PostgreSQL's grammar, as every decision starts), so a unit test
//! sees exactly what the host would pass to the component: the same canonical SQL, syntax tree,
//! relations, functions and column references. [`cases`] runs a `cases.toml` file through policies
//! natively with querygate's own chain and comparison (`querygate::cases`), the code
//! `querygate check` runs it with through the components.
//!
//! These helpers panic on bad input: they are for tests only.

pub mod cases;

use querygate::sql::{self, Catalog, SqlLimits};

use crate::{Column, ColumnRef, Context, FunctionCall, Relation, Statement, StatementKind};

/// The statement querygate would pass for `sql` with an empty catalog (every relation unknown).
///
/// Panics with querygate's error when the statement does not get through analysis (a parse
/// error, several statements, or the built-in read-only guard).
pub fn statement(sql: &str) -> Statement {
    analyze(sql, &Catalog::default()).unwrap_or_else(|error| panic!("`{sql}`: {error}"))
}

/// As [`statement`], with the built-in guard trusting `functions` (`schema.name`, as
/// `[guard] allow_functions` in `querygate.toml`): without a schema, querygate refuses any
/// function that is not a PostgreSQL built-in.
pub fn statement_trusting(sql: &str, functions: &[&str]) -> Statement {
    let mut catalog = Catalog::default();
    catalog.set_guard(sql::GuardSettings {
        allow_functions: functions.iter().map(|f| (*f).to_owned()).collect(),
        allow_extensions: Vec::new(),
    });
    analyze(sql, &catalog).unwrap_or_else(|error| panic!("`{sql}`: {error}"))
}

/// The statement querygate would pass for `sql` with the catalog described by `schema_sql`
/// (`CREATE TABLE` statements as `pg_dump --schema-only` writes them).
pub fn statement_with_schema(sql: &str, schema_sql: &str) -> Statement {
    let catalog = catalog(schema_sql);
    analyze(sql, &catalog).unwrap_or_else(|error| panic!("`{sql}`: {error}"))
}

/// A context as `querygate check` builds it, with `config_json` as the policy's configuration.
pub fn context(config_json: &str) -> Context {
    Context {
        database: "demo".to_owned(),
        database_user: "analyst".to_owned(),
        database_name: "demo".to_owned(),
        client_name: "querygate-check".to_owned(),
        tool: "check".to_owned(),
        config: config_json.to_owned(),
    }
}

/// A catalog from a schema file's text; panics when querygate cannot read it.
pub fn catalog(schema_sql: &str) -> Catalog {
    Catalog::from_schema_sql(schema_sql).unwrap_or_else(|error| panic!("schema: {error}"))
}

/// Why querygate refused a statement before any policy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// [`sql::RefusalClass::Guard`] for the built-in read-only guard, `Parse` for everything
    /// else (displayed as `guard` / `parse`, the words cases files use).
    pub class: sql::RefusalClass,
    /// querygate's message.
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.class)
    }
}

/// Runs querygate's analysis on `sql` with `catalog` and the default limits.
pub fn analyze(sql: &str, catalog: &Catalog) -> Result<Statement, Refusal> {
    let analysis =
        sql::analyze(sql, catalog, &SqlLimits::default()).map_err(|refusal| Refusal {
            class: refusal.class,
            message: refusal.message,
        })?;
    Ok(statement_of(analysis))
}

/// The statement a component is given for querygate's analysis of it.
pub(crate) fn statement_of(analysis: sql::Analysis) -> Statement {
    Statement {
        sql: analysis.sql,
        ast_json: analysis.ast_json,
        kind: match analysis.kind {
            sql::StatementKind::Query => StatementKind::Query,
            sql::StatementKind::Explain => StatementKind::Explain,
            sql::StatementKind::Show => StatementKind::Show,
        },
        relations: analysis
            .relations
            .into_iter()
            .map(|relation| Relation {
                schema: relation.schema,
                name: relation.name,
                alias: relation.alias,
                known: relation.known,
                columns: relation
                    .columns
                    .into_iter()
                    .map(|column| Column {
                        name: column.name,
                        data_type: column.data_type,
                    })
                    .collect(),
            })
            .collect(),
        functions: analysis
            .functions
            .into_iter()
            .map(|function| FunctionCall {
                schema: function.schema,
                name: function.name,
                in_from: function.in_from,
            })
            .collect(),
        column_refs: analysis
            .column_refs
            .into_iter()
            .map(|column| ColumnRef {
                qualifier: column.qualifier,
                name: column.name,
            })
            .collect(),
        limit: analysis.limit,
        limit_expr: analysis.limit_expr,
    }
}
