//! SQL analysis: the first half of the one path every statement takes.
//!
//! [`analyze`] turns raw text into an [`Analysis`] or a [`Refusal`]. It checks the raw-text
//! limits ([`check_raw_text`]), then reads the text twice, side by side: with sqlparser's
//! PostgreSQL dialect (`canonical`: the guard, the facts policies are told, and the
//! canonical SQL that will run) and with PostgreSQL's own grammar ([`postgres`]: a second
//! opinion, checked by the same rules on PostgreSQL's tree). Both must agree that the text is
//! one read-only statement of the same kind.
//!
//! Around them: `catalog` (what querygate knows about a database) and `schema_file`
//! (reading one from a `pg_dump --schema-only` file), `facts` and `guard` (sqlparser's
//! tree), `reach` (what a statement reaches, resolved through the catalog), `functions`
//! (the audit of PostgreSQL's built-ins) and `names` (names as PostgreSQL folds them).
//!
//! Without the `grammar` feature there is no second parser: [`analyze`] is sqlparser's reading
//! alone, and a schema file gives tables only.

mod canonical;
mod catalog;
mod facts;
mod functions;
mod guard;
mod names;
#[cfg(feature = "grammar")]
pub mod postgres;
mod reach;
mod schema_file;

pub use canonical::render_tree;
pub use catalog::{Catalog, Column, GuardSettings, Origin, Reach, Source};
pub use facts::{ColumnRef, FunctionCall, Relation};
pub use functions::{AUDITED_VERSIONS, is_builtin_function as is_audited_builtin};
pub use reach::ReachRefusal;
pub use schema_file::SchemaError;

use serde::Serialize;

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
    /// PostgreSQL's grammar could parse the statement (see [`analyze`]): then the
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
}

impl SqlError {
    /// Which class of refusal this is.
    pub fn class(&self) -> RefusalClass {
        match self {
            SqlError::Guard { .. } => RefusalClass::Guard,
            _ => RefusalClass::Parse,
        }
    }
}

/// What kind of refusal a [`Refusal`] is: who stopped the statement before any policy saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalClass {
    /// The text cannot be read as one statement: unparseable, empty, too large, nested too
    /// deeply, several statements.
    Parse,
    /// The built-in read-only guard: the statement is not read-only, or reaches something that
    /// is not known to be free of side effects.
    Guard,
}

impl RefusalClass {
    /// The short stable name used in reports and the audit log: `parse` or `guard`.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalClass::Parse => "parse",
            RefusalClass::Guard => "guard",
        }
    }
}

impl std::fmt::Display for RefusalClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why [`analyze`] refused a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub class: RefusalClass,
    /// What to tell the user.
    pub message: String,
    /// The function the catalog does not know, when the guard refused the statement for that
    /// (`schema.name`, or `name` as written): it may have been created since the catalog was
    /// loaded, so a server reloads its catalog and decides again.
    pub unknown_function: Option<String>,
}

impl From<SqlError> for Refusal {
    fn from(error: SqlError) -> Self {
        Refusal {
            class: error.class(),
            message: error.to_string(),
            unknown_function: None,
        }
    }
}

#[cfg(feature = "grammar")]
impl From<postgres::PgRefusal> for Refusal {
    /// PostgreSQL's grammar does not accept what querygate's parser read, or is the only one
    /// that can read it: the guard refuses it, whatever PostgreSQL objects to.
    fn from(refusal: postgres::PgRefusal) -> Self {
        let unknown_function = match &refusal {
            postgres::PgRefusal::Refused {
                unknown_function, ..
            } => unknown_function.clone(),
            postgres::PgRefusal::Unparseable(_) => None,
        };
        Refusal {
            class: RefusalClass::Guard,
            message: format!("refused by the read-only guard: {refusal}"),
            unknown_function,
        }
    }
}

/// Parse, check and describe one statement: the first step of every decision. See the module
/// documentation.
///
/// sqlparser's analysis (with the guard) when it can read the text, checked against
/// PostgreSQL's grammar, which must agree that it is one read-only statement of the same
/// kind; and the canonical SQL that will run must be, to PostgreSQL, the very statement that
/// came in (same tree, literals included). When only PostgreSQL's grammar can read the text,
/// or sqlparser's rendering would change it, PostgreSQL's tree decides with the same rules and
/// the statement runs as written, its facts taken from PostgreSQL's tree (`ast_json` empty).
pub fn analyze(sql: &str, catalog: &Catalog, limits: &SqlLimits) -> Result<Analysis, Refusal> {
    // The raw-text checks are cheap and shared: an oversized text goes to neither parser.
    check_raw_text(sql, limits)?;
    read_checked_text(sql, catalog, limits)
}

/// sqlparser's reading alone, raw-text checks included: [`analyze`] without PostgreSQL's
/// grammar, so no decision rests on it. Public only for what measures or fuzzes that half on
/// its own (the decision benchmark's baseline, the `analysis` fuzz target).
#[doc(hidden)]
pub fn analyze_sqlparser_only(
    sql: &str,
    catalog: &Catalog,
    limits: &SqlLimits,
) -> Result<Analysis, SqlError> {
    check_raw_text(sql, limits)?;
    canonical::analyze_checked_text(sql, catalog, limits)
}

#[cfg(not(feature = "grammar"))]
fn read_checked_text(
    sql: &str,
    catalog: &Catalog,
    limits: &SqlLimits,
) -> Result<Analysis, Refusal> {
    Ok(canonical::analyze_checked_text(sql, catalog, limits)?)
}

#[cfg(feature = "grammar")]
fn read_checked_text(
    sql: &str,
    catalog: &Catalog,
    limits: &SqlLimits,
) -> Result<Analysis, Refusal> {
    use postgres::PgRefusal;
    let (ours, pg) = side_by_side(
        || canonical::analyze_checked_text(sql, catalog, limits),
        || postgres::check(sql, catalog),
    );
    match ours {
        Ok(analysis) => {
            let pg = pg?;
            if pg.kind != analysis.kind {
                return Err(Refusal::from(PgRefusal::from(format!(
                    "querygate's parser reads a {:?} statement, PostgreSQL's grammar a {:?} one; \
                     write it more plainly",
                    analysis.kind, pg.kind
                ))));
            }
            if analysis.sql == pg.text || postgres::reads_as(&analysis.sql, &pg.tree()) {
                Ok(analysis)
            } else {
                Ok(postgres_only(pg))
            }
        }
        Err(SqlError::Parse { message }) => match pg {
            Ok(pg) => Ok(postgres_only(pg)),
            // Neither parser can read it: sqlparser's message says where.
            Err(PgRefusal::Unparseable(_)) => Err(SqlError::Parse { message }.into()),
            Err(refused) => Err(refused.into()),
        },
        Err(error) => Err(error.into()),
    }
}

/// Run `ours` here and `theirs` on a small pool of threads at the same time, and return both.
/// The two parsers are independent and together most of a decision: side by side, a decision
/// waits for the slower one instead of both. Without a pool (threads could not be started),
/// one after the other.
#[cfg(feature = "grammar")]
fn side_by_side<A, B: Send>(ours: impl FnOnce() -> A, theirs: impl FnOnce() -> B + Send) -> (A, B) {
    static POOL: std::sync::OnceLock<Option<rayon_core::ThreadPool>> = std::sync::OnceLock::new();
    let pool = POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8));
        rayon_core::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("querygate-grammar-{i}"))
            // As the server's blocking threads: room for `parse_json` without a new stack
            // up to about 14 KB of text.
            .stack_size(8 * 1024 * 1024)
            .build()
            .ok()
    });
    let Some(pool) = pool else {
        let a = ours();
        return (a, theirs());
    };
    let mut b = None;
    let a = pool.in_place_scope(|scope| {
        scope.spawn(|_| b = Some(theirs()));
        ours()
    });
    // `in_place_scope` returns only once the spawned job has run (a panic in it is raised
    // again here), so `b` is always set.
    (a, b.expect("the scope waits for its job"))
}

/// The analysis of a statement as PostgreSQL's grammar read it: it runs as written, and
/// policies get no sqlparser tree (`ast_json` empty).
#[cfg(feature = "grammar")]
fn postgres_only(pg: postgres::PgStatement) -> Analysis {
    Analysis {
        limit_expr: pg.limit.map(|n| n.to_string()),
        sql: pg.text,
        ast_json: String::new(),
        kind: pg.kind,
        relations: pg.relations,
        functions: pg.functions,
        column_refs: pg.column_refs,
        limit: pg.limit,
    }
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

#[cfg(test)]
mod tests;
