//! sqlparser's reading of a statement, the half of [`super::analyze`] that yields the
//! canonical SQL: it parses with sqlparser's PostgreSQL dialect under a recursion limit,
//! insists on exactly one statement, runs the built-in read-only guard ([`super::guard`]), and
//! collects what policies are told about the statement (relations with their catalog columns,
//! functions, column references, LIMIT), plus the canonical SQL that will run and the syntax
//! tree as JSON.
//!
//! Everything that walks or drops the syntax tree happens here, on a stack that is grown to
//! fit the input (see [`stack_for`]): a long flat expression such as `1+1+…+1` parses without
//! deep parser recursion but builds a very deep tree, and walking, rendering or dropping that
//! tree recurses once per level. Only flat data leaves this module.

use super::{Analysis, Catalog, SqlError, SqlLimits, facts, guard};
use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::{Parser, ParserError};

// The guest SDK's reader of tree JSON, the same file: the host renders what policies edit.
#[path = "../../../policies/sdk/src/tree_json.rs"]
mod tree_json;

/// sqlparser's analysis of a text that already passed [`super::check_raw_text`].
pub(super) fn analyze_checked_text(
    sql: &str,
    catalog: &Catalog,
    limits: &SqlLimits,
) -> Result<Analysis, SqlError> {
    let stack = stack_for(sql.len());
    stacker::maybe_grow(stack, stack, || {
        analyze_on_large_stack(sql, catalog, limits)
    })
}

/// Deepest syntax tree accepted after parsing. The parser's recursion limit does not bound
/// trees built by loops, such as a flat chain of operators (`1+1+…`) or of UNIONs.
pub(super) const MAX_TREE_DEPTH: usize = 10_000;

/// Stack needed to parse, walk, render, serialize and drop the tree of `len` bytes of SQL.
///
/// A tree is at most one level per byte deep, and walks stop at [`MAX_TREE_DEPTH`]; dropping
/// a deep tree recurses once per level. Measured on x86_64: a walk takes ~2.4 KiB per level in
/// a debug build and ~0.1 KiB in a release build; dropping takes under 128 bytes per level in
/// either. The figures below keep a wide margin. Stack that is not touched costs nothing.
pub(super) fn stack_for(len: usize) -> usize {
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

fn parse(sql: &str, limits: &SqlLimits) -> Result<Vec<Statement>, SqlError> {
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

/// Largest syntax tree, in bytes of JSON, that [`render_tree`] reads. The tree of the largest
/// statement accepted (256 KiB of SQL by default) is well under it.
pub const MAX_TREE_JSON_BYTES: usize = 32 * 1024 * 1024;

/// Deepest nesting of JSON objects and arrays that [`render_tree`] reads: an edited tree of any
/// statement querygate accepts (its nesting is capped by the parser's recursion limit, and a flat
/// chain of operators adds about three levels of JSON per operator) fits several times over.
pub const MAX_TREE_JSON_DEPTH: usize = 4096;

/// A syntax tree as JSON (the format of [`Analysis::ast_json`]) rendered back to SQL, in the
/// canonical form: the host's `sql.render` import for policies that edit the tree in a language
/// without sqlparser. Nothing is checked here; the SQL a policy answers with is analysed again,
/// guard included, like any rewrite. The error says why the tree could not be read.
pub fn render_tree(json: &str) -> Result<String, String> {
    if json.len() > MAX_TREE_JSON_BYTES {
        return Err(format!(
            "the syntax tree is {} bytes of JSON, more than the {MAX_TREE_JSON_BYTES} querygate \
             renders",
            json.len()
        ));
    }
    let depth = tree_json::depth(json);
    if depth > MAX_TREE_JSON_DEPTH {
        return Err(format!(
            "the syntax tree is nested {depth} levels deep in JSON, more than the \
             {MAX_TREE_JSON_DEPTH} querygate renders"
        ));
    }
    // Reading, rendering and dropping recurse once per level of JSON; a debug build's frames for
    // sqlparser's large enums are several KiB each.
    let stack = 1024 * 1024 + depth * 64 * 1024;
    stacker::maybe_grow(stack, stack, || {
        let statement: Statement = tree_json::read_unbounded(json).map_err(|error| {
            format!("the syntax tree is not a statement in sqlparser 0.64's format: {error}")
        })?;
        Ok(statement.to_string())
    })
}
