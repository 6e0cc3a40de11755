//! SQL analysis: the first half of the one path every statement takes.
//!
//! [`analyze`] turns raw text into an [`Analysis`]: it checks the raw-text limits, parses with
//! sqlparser's PostgreSQL dialect under a recursion limit, insists on exactly one statement, runs
//! the built-in read-only guard ([`guard`]), and collects what policies are told about the
//! statement (relations with their catalog columns, functions, column references, LIMIT), plus
//! the canonical SQL that will run and the syntax tree as JSON.
//!
//! Everything that walks or drops the syntax tree happens inside [`analyze`], on a stack that is
//! grown to fit the input (see [`stack_for`]): a long flat expression such as `1+1+…+1` parses
//! without deep parser recursion but builds a very deep tree, and walking, rendering or dropping
//! that tree recurses once per level. Only flat data leaves this module.

mod catalog;
mod facts;
mod functions;
mod guard;
mod reach;

#[cfg(feature = "grammar")]
pub(crate) use functions::{extension_members, side_effect};

pub use catalog::{Catalog, Column, GuardSettings, Origin, Reach, Source};
pub use facts::{ColumnRef, FunctionCall, Relation};
pub use functions::{AUDITED_VERSIONS, is_builtin_function as is_audited_builtin};
pub use reach::UNKNOWN_FUNCTION;

use serde::Serialize;
use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::{Parser, ParserError};

/// Limits on the raw text of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlLimits {
    /// Largest statement accepted, in bytes of UTF-8.
    pub max_sql_bytes: usize,
    /// Deepest nesting the parser accepts (parentheses, subqueries, nested expressions).
    pub max_nesting: usize,
}

impl Default for SqlLimits {
    fn default() -> Self {
        SqlLimits {
            max_sql_bytes: 256 * 1024,
            max_nesting: 50,
        }
    }
}

/// What kind of read-only statement this is; mirrors `statement-kind` in the WIT contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatementKind {
    /// SELECT, VALUES, WITH … SELECT and set operations of them.
    Query,
    /// EXPLAIN (never ANALYZE) of a query.
    Explain,
    /// SHOW of a run-time setting.
    Show,
}

/// A statement that parsed, is exactly one statement, and passed the built-in guard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// The canonical SQL: sqlparser's rendering of the checked syntax tree. This is what runs.
    pub sql: String,
    /// The syntax tree as JSON (sqlparser 0.64's serde format of `Statement`). Empty when only
    /// PostgreSQL's grammar could parse the statement (see `grammar` and `pipeline`): then the
    /// facts below come from PostgreSQL's tree and `sql` is the statement as written.
    #[serde(skip)]
    pub ast_json: String,
    pub kind: StatementKind,
    pub relations: Vec<Relation>,
    pub functions: Vec<FunctionCall>,
    pub column_refs: Vec<ColumnRef>,
    /// The outermost LIMIT / FETCH FIRST count when it is a literal number.
    pub limit: Option<u64>,
    /// The outermost LIMIT / FETCH FIRST count as written.
    pub limit_expr: Option<String>,
}

/// Why a statement did not get through analysis. Every variant rejects the statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    #[error("statement is empty: send one SQL statement")]
    Empty,
    #[error(
        "statement is {size} bytes, over the limit of {limit} bytes: shorten it or raise `limits.max_sql_bytes`"
    )]
    TooLarge { size: usize, limit: usize },
    #[error("statement contains a NUL byte at offset {offset}: remove it")]
    NulByte { offset: usize },
    /// U+FFFD stands where the server received bytes that were not UTF-8 (see `cli::lossy`),
    /// so the statement is not what was sent.
    #[error(
        "statement contains U+FFFD at offset {offset}, which stands for bytes that were not valid \
         UTF-8: send the statement as UTF-8 (write a literal U+FFFD as U&'\\FFFD')"
    )]
    Replaced { offset: usize },
    #[error("could not parse SQL: {message}")]
    Parse { message: String },
    #[error(
        "statement is nested more than {limit} levels deep: simplify it (fewer nested parentheses or subqueries)"
    )]
    TooDeep { limit: usize },
    #[error("found {count} statements: send exactly one statement per call")]
    NotOneStatement { count: usize },
    #[error("refused by the read-only guard: {reason}")]
    Guard { reason: String },
    #[error("invalid schema file: {message}")]
    Schema { message: String },
}

impl SqlError {
    /// A short stable name for the class of error, used in reports and the audit log.
    pub fn class(&self) -> &'static str {
        match self {
            SqlError::Guard { .. } => "guard",
            SqlError::Schema { .. } => "schema",
            _ => "parse",
        }
    }
}

/// Parse, check and describe one statement. See the module documentation.
pub fn analyze(sql: &str, catalog: &Catalog, limits: &SqlLimits) -> Result<Analysis, SqlError> {
    check_raw_text(sql, limits)?;
    analyze_checked_text(sql, catalog, limits)
}

/// [`analyze`] for a text that already passed [`check_raw_text`].
pub(crate) fn analyze_checked_text(
    sql: &str,
    catalog: &Catalog,
    limits: &SqlLimits,
) -> Result<Analysis, SqlError> {
    let stack = stack_for(sql.len());
    stacker::maybe_grow(stack, stack, || {
        analyze_on_large_stack(sql, catalog, limits)
    })
}

/// The checks on the raw text alone: size, NUL bytes, replaced bytes, emptiness.
pub fn check_raw_text(sql: &str, limits: &SqlLimits) -> Result<(), SqlError> {
    if sql.len() > limits.max_sql_bytes {
        return Err(SqlError::TooLarge {
            size: sql.len(),
            limit: limits.max_sql_bytes,
        });
    }
    if let Some(offset) = sql.find('\0') {
        return Err(SqlError::NulByte { offset });
    }
    if let Some(offset) = sql.find('\u{FFFD}') {
        return Err(SqlError::Replaced { offset });
    }
    if sql.trim().is_empty() {
        return Err(SqlError::Empty);
    }
    Ok(())
}

/// Deepest syntax tree accepted after parsing. The parser's recursion limit does not bound
/// trees built by loops, such as a flat chain of operators (`1+1+…`) or of UNIONs.
pub const MAX_TREE_DEPTH: usize = 10_000;

/// Stack needed to parse, walk, render, serialize and drop the tree of `len` bytes of SQL.
///
/// A tree is at most one level per byte deep, and walks stop at [`MAX_TREE_DEPTH`]; dropping
/// a deep tree recurses once per level. Measured on x86_64: a walk takes ~2.4 KiB per level in
/// a debug build and ~0.1 KiB in a release build; dropping takes under 128 bytes per level in
/// either. The figures below keep a wide margin. Stack that is not touched costs nothing.
pub fn stack_for(len: usize) -> usize {
    const BASE: usize = 1024 * 1024;
    const WALK_PER_LEVEL: usize = if cfg!(debug_assertions) {
        8 * 1024
    } else {
        1024
    };
    const DROP_PER_BYTE: usize = 256;
    BASE + len.min(MAX_TREE_DEPTH) * WALK_PER_LEVEL + len * DROP_PER_BYTE
}

fn analyze_on_large_stack(
    sql: &str,
    catalog: &Catalog,
    limits: &SqlLimits,
) -> Result<Analysis, SqlError> {
    let mut statements = parse(sql, limits)?;
    let statement = match statements.len() {
        0 => return Err(SqlError::Empty),
        1 => statements.pop().ok_or(SqlError::Empty)?,
        count => return Err(SqlError::NotOneStatement { count }),
    };
    facts::check_depth(&statement, MAX_TREE_DEPTH)?;
    let kind = guard::check_top_level(&statement)?;
    let facts = facts::collect(&statement, catalog)?;
    let ast_json = serde_json::to_string(&statement).map_err(|e| SqlError::Parse {
        message: format!("could not encode the syntax tree: {e}"),
    })?;
    let (limit, limit_expr) = match &statement {
        Statement::Query(q) => facts::outer_limit(q),
        _ => (None, None),
    };
    Ok(Analysis {
        sql: statement.to_string(),
        ast_json,
        kind,
        relations: facts.relations,
        functions: facts.functions,
        column_refs: facts.column_refs,
        limit,
        limit_expr,
    })
}

pub(crate) fn parse(sql: &str, limits: &SqlLimits) -> Result<Vec<Statement>, SqlError> {
    Parser::new(&PostgreSqlDialect {})
        .with_recursion_limit(limits.max_nesting)
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_statements())
        .map_err(|e| match e {
            ParserError::RecursionLimitExceeded => SqlError::TooDeep {
                limit: limits.max_nesting,
            },
            ParserError::TokenizerError(message) | ParserError::ParserError(message) => {
                SqlError::Parse {
                    message: tidy_parser_message(&message),
                }
            }
        })
}

/// sqlparser says `Expected: X, found: Y at Line: 1, Column: 8`; keep its facts, in our style:
/// `expected X, found `Y` at line 1, column 8`.
fn tidy_parser_message(message: &str) -> String {
    let (body, position) = match message.rsplit_once(" at Line: ") {
        Some((body, position)) => (body, Some(position.replace(", Column: ", ", column "))),
        None => (message, None),
    };
    let body = match body.strip_prefix("Expected: ") {
        Some(rest) => match rest.split_once(", found: ") {
            Some((expected, found)) => format!("expected {expected}, found `{found}`"),
            None => format!("expected {rest}"),
        },
        None => {
            let mut chars = body.chars();
            chars
                .next()
                .map(|first| first.to_lowercase().chain(chars).collect())
                .unwrap_or_default()
        }
    };
    match position {
        Some(position) => format!("{body} at line {position}"),
        None => body,
    }
}

#[cfg(test)]
mod tests;
