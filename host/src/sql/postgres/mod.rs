//! PostgreSQL's own grammar (libpg_query, through the `pg_query` crate) as a second opinion.
//!
//! sqlparser is not PostgreSQL. Where the two read a text differently — a nested comment, a
//! dollar quote, an escape — a guard that trusts one parser can be walked around. So every
//! statement is also parsed by PostgreSQL's grammar and checked on that tree, exhaustively (the
//! tree is walked through its serde form, so no node kind is skipped):
//!
//! - exactly one statement;
//! - of a read-only kind: a query, `EXPLAIN` of a query without `ANALYZE`, or `SHOW`;
//! - nothing inside writes (`INSERT`/`UPDATE`/`DELETE`/`MERGE` in a CTE), creates a table
//!   (`SELECT INTO`), locks rows (`FOR UPDATE`/`SHARE`), takes parameters (`$1`), or calls a
//!   function with side effects (the guard's deny-list, in any case and schema);
//! - everything it reaches resolves, through the catalog, to something free of side effects.
//!
//! [`check`] returns the facts PostgreSQL's tree gives (relations, functions, column
//! references), which is what policies see for a statement only PostgreSQL's grammar could read.
//! [`super::analyze`] puts both parsers together. libpg_query runs on a stack grown to fit the
//! text ([`pg_stack_for`]).
//!
//! By job: `ffi` calls libpg_query, `tree` reads its JSON, `walk` is the guard's walk over
//! that tree, `schema` reads the definitions of a schema file.

#[allow(unsafe_code)]
mod ffi;
mod schema;
mod tree;
mod walk;

pub use ffi::{parse_json, pg_stack_for};
pub(crate) use schema::read_schema_statement;

use crate::sql::{Catalog, ColumnRef, FunctionCall, ReachRefusal, Relation, StatementKind};
use tree::Json as Value;
use walk::Walk;

/// A statement PostgreSQL's grammar reads as one read-only statement, and what it contains.
#[derive(Debug, Clone, PartialEq)]
pub struct PgStatement {
    /// The statement's own text (without a trailing `;` or what follows it).
    pub text: String,
    pub kind: StatementKind,
    pub relations: Vec<Relation>,
    pub functions: Vec<FunctionCall>,
    pub column_refs: Vec<ColumnRef>,
    /// The outermost LIMIT when it is a literal number.
    pub limit: Option<u64>,
    /// libpg_query's JSON of the text, kept for [`PgStatement::tree`]: the key is only built
    /// when something is compared with it.
    json: String,
}

impl PgStatement {
    /// PostgreSQL's parse tree of the statement as compact JSON without source positions:
    /// equal for two texts exactly when PostgreSQL reads them as the same statement (same
    /// names, same literals).
    pub fn tree(&self) -> String {
        tree_key(&self.json)
    }
}

/// Why PostgreSQL's grammar does not accept a text as one read-only statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PgRefusal {
    /// The grammar cannot parse it (the message is libpg_query's).
    #[error("PostgreSQL's grammar cannot parse it: {0}")]
    Unparseable(String),
    /// It parses, but what PostgreSQL's tree shows is not a read-only statement the guard
    /// accepts.
    #[error("{reason}")]
    Refused {
        reason: String,
        /// The function the catalog does not know, when that is the reason: it may have been
        /// created since the catalog was loaded.
        unknown_function: Option<String>,
    },
}

impl From<String> for PgRefusal {
    fn from(reason: String) -> Self {
        PgRefusal::Refused {
            reason,
            unknown_function: None,
        }
    }
}

impl From<&str> for PgRefusal {
    fn from(reason: &str) -> Self {
        reason.to_string().into()
    }
}

impl From<ReachRefusal> for PgRefusal {
    fn from(refusal: ReachRefusal) -> Self {
        PgRefusal::Refused {
            reason: refusal.message,
            unknown_function: refusal.unknown_function,
        }
    }
}

/// Parse `sql` with PostgreSQL's grammar and check it is one read-only statement.
/// The error says what PostgreSQL's grammar sees that makes it unacceptable.
pub fn check(sql: &str, catalog: &Catalog) -> Result<PgStatement, PgRefusal> {
    let json = parse_json(sql).map_err(PgRefusal::Unparseable)?;
    let tree: Value = serde_json::from_str(&json).map_err(|e| {
        if e.to_string().contains("recursion limit") {
            // serde_json stops at 128 levels, which keeps the walks below on a bounded stack.
            "PostgreSQL's parse tree of this statement is nested too deeply to check (a chain \
             of more than about 55 operators, such as `a + b + …`, nests one level per \
             operator): group a long chain with parentheses, `(a + b + …) + (c + d + …)`"
                .to_string()
        } else {
            format!("cannot read PostgreSQL's parse tree: {e}")
        }
    })?;
    let stmts = tree
        .get("stmts")
        .and_then(Value::as_array)
        .unwrap_or_default();
    if stmts.len() != 1 {
        return Err(PgRefusal::from(format!(
            "PostgreSQL's grammar reads {} statements here: send exactly one",
            stmts.len()
        )));
    }
    let raw = &stmts[0];
    let position = |key: &str| raw.get(key).and_then(Value::as_i64).unwrap_or(0);
    let text = statement_text(sql, position("stmt_location"), position("stmt_len"));
    let top = raw
        .get("stmt")
        .and_then(Value::first_member)
        .ok_or("PostgreSQL's grammar produced an empty statement")?;
    let kind = match top.0 {
        "SelectStmt" => StatementKind::Query,
        "VariableShowStmt" => StatementKind::Show,
        "ExplainStmt" => {
            let options = top.1.get("options").and_then(Value::as_array);
            let analyze = options.into_iter().flatten().any(|option| {
                option
                    .pointer("/DefElem/defname")
                    .and_then(Value::as_str)
                    .is_some_and(|name| name.eq_ignore_ascii_case("analyze"))
            });
            if analyze {
                return Err(
                    "EXPLAIN ANALYZE runs the statement: send EXPLAIN without ANALYZE".into(),
                );
            }
            let inner = top
                .1
                .get("query")
                .and_then(Value::first_member)
                .map(|(key, _)| key);
            if inner != Some("SelectStmt") {
                return Err(PgRefusal::from(format!(
                    "PostgreSQL's grammar reads an EXPLAIN of {}, not of a query",
                    inner.map(statement_name).unwrap_or("nothing".into())
                )));
            }
            StatementKind::Explain
        }
        other => {
            return Err(PgRefusal::from(format!(
                "PostgreSQL's grammar reads it as {}, which is not a read-only query",
                statement_name(other)
            )));
        }
    };
    let mut walk = Walk::default();
    walk.value(raw, false)?;
    walk.check_reach(catalog)?;
    let limit = top
        .1
        .pointer("/limitCount/A_Const")
        .and_then(integer_constant);
    let relations = walk
        .relations
        .into_iter()
        .filter(|(schema, name, _)| schema.is_some() || !walk.ctes.contains(name))
        .map(|(schema, name, alias)| {
            let columns = catalog.columns(schema.as_deref(), &name);
            Relation {
                known: columns.is_some(),
                columns: columns.map(<[_]>::to_vec).unwrap_or_default(),
                schema,
                name,
                alias,
            }
        })
        .collect();
    Ok(PgStatement {
        text,
        kind,
        relations,
        functions: walk.functions,
        column_refs: walk.column_refs,
        limit,
        json,
    })
}

/// A parse tree's JSON with every source position taken out: the members whose key ends in
/// `location` (`location`, `stmt_location`, `arg_location`, …) and `stmt_len`, which differ
/// between two spellings of one statement, with one comma beside each. Inside a JSON string a
/// quote is written `\"`, so a name in quotes followed by `:` is only ever a member's key.
fn tree_key(json: &str) -> String {
    let mut key = String::with_capacity(json.len());
    let mut rest = json;
    let finder = memchr::memmem::Finder::new("\":");
    while let Some(at) = finder.find(rest.as_bytes()) {
        let name_start = memchr::memrchr(b'"', &rest.as_bytes()[..at]).map_or(at, |q| q + 1);
        let name = &rest[name_start..at];
        let value = &rest[at + 2..];
        if name.ends_with("location") || name == "stmt_len" {
            let digits = value
                .bytes()
                .take_while(|b| b.is_ascii_digit() || *b == b'-')
                .count();
            key.push_str(&rest[..name_start - 1]);
            rest = &value[digits..];
            // Take one comma with it, so that `{"a":1,"location":7}`, `{"location":7,"a":1}`
            // and `{"a":1}` all read the same.
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if key.ends_with(',') {
                key.pop();
            }
        } else {
            key.push_str(&rest[..at + 2]);
            rest = value;
        }
    }
    key.push_str(rest);
    key
}

/// The value of an integer constant node (`{"ival": {"ival": 5}}`; zero is `{"ival": {}}`).
fn integer_constant(constant: &Value) -> Option<u64> {
    let ival = constant.get("ival")?;
    if !matches!(ival, Value::Object(_)) {
        return None;
    }
    match ival.get("ival") {
        None => Some(0),
        Some(n) => n.as_u64(),
    }
}

/// Whether PostgreSQL's grammar reads `sql` as exactly the statement whose tree is `tree` (as
/// [`PgStatement::tree`] gives it): one statement, same tree, literals included. Enough for the
/// rendering of a statement already checked, whose rules then hold too.
pub fn reads_as(sql: &str, tree: &str) -> bool {
    parse_json(sql).is_ok_and(|json| tree_key(&json) == tree)
}

/// `SelectStmt` → `SELECT`, `DeleteStmt` → `DELETE`, `VariableSetStmt` → `SET`, …
fn statement_name(node: &str) -> String {
    let known = [
        ("InsertStmt", "INSERT"),
        ("UpdateStmt", "UPDATE"),
        ("DeleteStmt", "DELETE"),
        ("MergeStmt", "MERGE"),
        ("VariableSetStmt", "SET"),
        (
            "TransactionStmt",
            "a transaction command (BEGIN, COMMIT, ROLLBACK, …)",
        ),
        ("DoStmt", "DO"),
        ("CallStmt", "CALL"),
        ("CopyStmt", "COPY"),
        ("PrepareStmt", "PREPARE"),
        ("ExecuteStmt", "EXECUTE"),
        ("SelectStmt", "a query"),
    ];
    known
        .iter()
        .find(|(k, _)| *k == node)
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| format!("`{node}`"))
}

/// The text of the statement at `location` (`len` 0: to the end), trimmed.
fn statement_text(sql: &str, location: i64, len: i64) -> String {
    let start = usize::try_from(location).unwrap_or(0).min(sql.len());
    let end = match usize::try_from(len) {
        Ok(0) | Err(_) => sql.len(),
        Ok(len) => (start + len).min(sql.len()),
    };
    sql.get(start..end).unwrap_or(sql).trim().to_string()
}

#[cfg(test)]
mod tests;
