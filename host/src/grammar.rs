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
//!   function with side effects (the guard's deny-list, in any case and schema).
//!
//! [`check`] returns the facts PostgreSQL's tree gives (relations, functions, column
//! references), which is what policies see for a statement only PostgreSQL's grammar could read.
//! [`analyze`] puts both parsers together, running them side by side on two threads; the
//! pipeline and the SDK's native tests call it. libpg_query runs on a stack grown to fit the
//! text ([`pg_stack_for`]).

use crate::sql::{
    self, Analysis, Catalog, ColumnRef, FunctionCall, Relation, SqlError, SqlLimits, StatementKind,
};
use json::Json as Value;

/// Why [`analyze`] refused a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `parse` (unreadable, empty, too large, several statements) or `guard` (not read-only).
    pub class: &'static str,
    pub message: String,
}

/// Both parsers on one text, the first step of every decision.
///
/// sqlparser's analysis (with the guard) when it can read the text, checked against
/// PostgreSQL's grammar, which must agree that it is one read-only statement of the same
/// kind; and the canonical SQL that will run must be, to PostgreSQL, the very statement that
/// came in (same tree, literals included). When only PostgreSQL's grammar can read the text,
/// or sqlparser's rendering would change it, PostgreSQL's tree decides with the same rules and
/// the statement runs as written, its facts taken from PostgreSQL's tree (`ast_json` empty).
pub fn analyze(sql: &str, catalog: &Catalog, limits: &SqlLimits) -> Result<Analysis, Refusal> {
    let guard = |reason: String| Refusal {
        class: "guard",
        message: format!("refused by the read-only guard: {reason}"),
    };
    // The raw-text checks are cheap and shared: an oversized text goes to neither parser.
    sql::check_raw_text(sql, limits).map_err(|error| Refusal {
        class: error.class(),
        message: error.to_string(),
    })?;
    let (ours, pg) = side_by_side(
        || sql::analyze_checked_text(sql, catalog, limits),
        || check(sql, catalog),
    );
    match ours {
        Ok(analysis) => {
            let pg = pg.map_err(guard)?;
            if pg.kind != analysis.kind {
                return Err(guard(format!(
                    "querygate's parser reads a {:?} statement, PostgreSQL's grammar a {:?} one; \
                     write it more plainly",
                    analysis.kind, pg.kind
                )));
            }
            if analysis.sql == pg.text || reads_as(&analysis.sql, &pg.tree()) {
                Ok(analysis)
            } else {
                Ok(postgres_only(pg))
            }
        }
        Err(SqlError::Parse { message }) => match pg {
            Ok(pg) => Ok(postgres_only(pg)),
            Err(reason) if reason.starts_with("PostgreSQL's grammar cannot parse") => {
                Err(Refusal {
                    class: "parse",
                    message: format!("could not parse SQL: {message}"),
                })
            }
            Err(reason) => Err(guard(reason)),
        },
        Err(error) => Err(Refusal {
            class: error.class(),
            message: error.to_string(),
        }),
    }
}

/// Run `ours` here and `theirs` on a small pool of threads at the same time, and return both.
/// The two parsers are independent and together most of a decision: side by side, a decision
/// waits for the slower one instead of both. Without a pool (threads could not be started),
/// one after the other.
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
fn postgres_only(pg: PgStatement) -> Analysis {
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

/// Parse `sql` with PostgreSQL's grammar and check it is one read-only statement.
/// The error says what PostgreSQL's grammar sees that makes it unacceptable.
pub fn check(sql: &str, catalog: &Catalog) -> Result<PgStatement, String> {
    let json = parse_json(sql).map_err(|e| format!("PostgreSQL's grammar cannot parse it: {e}"))?;
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
        return Err(format!(
            "PostgreSQL's grammar reads {} statements here: send exactly one",
            stmts.len()
        ));
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
                    "EXPLAIN ANALYZE runs the statement: send EXPLAIN without ANALYZE".to_string(),
                );
            }
            let inner = top
                .1
                .get("query")
                .and_then(Value::first_member)
                .map(|(key, _)| key);
            if inner != Some("SelectStmt") {
                return Err(format!(
                    "PostgreSQL's grammar reads an EXPLAIN of {}, not of a query",
                    inner.map(statement_name).unwrap_or("nothing".into())
                ));
            }
            StatementKind::Explain
        }
        other => {
            return Err(format!(
                "PostgreSQL's grammar reads it as {}, which is not a read-only query",
                statement_name(other)
            ));
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

#[derive(Default)]
struct Walk {
    relations: Vec<(Option<String>, String, Option<String>)>,
    functions: Vec<FunctionCall>,
    column_refs: Vec<ColumnRef>,
    ctes: Vec<String>,
    /// Operators used, by (schema, symbol), including those PostgreSQL looks up by name for
    /// `IN`, `LIKE`, `BETWEEN`, simple `CASE`, `USING` and `NATURAL` joins.
    operators: Vec<(Option<String>, String)>,
    /// Types cast to, by (schema, name).
    types: Vec<(Option<String>, String)>,
    /// TABLESAMPLE methods, by (schema, name): each is a function.
    samples: Vec<(Option<String>, String)>,
    /// Only collect (a definition in a schema file): refusals come when it is used.
    collect_only: bool,
}

/// A qualified name's last part and its schema.
fn split_name(mut names: Vec<String>) -> Option<(Option<String>, String)> {
    let name = names.pop()?;
    Some((names.pop(), name))
}

fn strings(list: Option<&Value>) -> Vec<String> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| n.pointer("/String/sval").and_then(Value::as_str))
        .map(String::from)
        .collect()
}

fn non_empty(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

impl Walk {
    /// Visit every value; `in_from` is set under a function in FROM (`RangeFunction`).
    fn value(&mut self, value: &Value, in_from: bool) -> Result<(), String> {
        match value {
            Value::Array(items) => items.iter().try_for_each(|v| self.value(v, in_from)),
            Value::Object(members) => {
                for (key, inner) in members {
                    let in_from = in_from || key == "RangeFunction";
                    self.node(key, inner, in_from)?;
                    self.value(inner, in_from)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn node(&mut self, key: &str, node: &Value, in_from: bool) -> Result<(), String> {
        match key {
            "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt" => Err(format!(
                "PostgreSQL's grammar finds {} inside the statement: data-modifying statements are refused",
                statement_name(key)
            )),
            "SelectStmt" => {
                if node.get("intoClause").is_some_and(|v| !v.is_null()) {
                    return Err("SELECT INTO creates a table: use a plain SELECT".to_string());
                }
                if node
                    .get("lockingClause")
                    .and_then(Value::as_array)
                    .is_some_and(|l| !l.is_empty())
                {
                    return Err(
                        "FOR UPDATE / FOR SHARE locks rows: remove the locking clause".to_string(),
                    );
                }
                Ok(())
            }
            "ParamRef" => Err(
                "the statement has `$n` parameter placeholders and no values: write the values in"
                    .to_string(),
            ),
            "FuncCall" => {
                let mut names = strings(node.get("funcname"));
                let Some(name) = names.pop() else {
                    return Ok(());
                };
                if let Some(why) = crate::sql::side_effect(&name).filter(|_| !self.collect_only) {
                    return Err(format!("function `{name}` is not allowed: {why}"));
                }
                self.functions.push(FunctionCall {
                    schema: names.pop(),
                    name,
                    in_from,
                });
                Ok(())
            }
            "RangeVar" => {
                let Some(name) = non_empty(node.get("relname")) else {
                    return Ok(());
                };
                let alias = non_empty(node.pointer("/alias/aliasname"));
                self.relations
                    .push((non_empty(node.get("schemaname")), name, alias));
                Ok(())
            }
            "CommonTableExpr" => {
                if let Some(name) = non_empty(node.get("ctename")) {
                    self.ctes.push(name);
                }
                Ok(())
            }
            "A_Expr" => {
                let Some((schema, symbol)) = split_name(strings(node.get("name"))) else {
                    return Ok(());
                };
                if symbol.chars().all(|c| c.is_ascii_alphabetic() || c == ' ') {
                    // BETWEEN [SYMMETRIC] is written with a word; PostgreSQL runs the
                    // comparison operators, found by name.
                    for op in [">=", "<=", ">", "<"] {
                        self.operators.push((schema.clone(), op.to_string()));
                    }
                } else {
                    self.operators.push((schema, symbol));
                }
                Ok(())
            }
            "SubLink" => {
                match split_name(strings(node.get("operName"))) {
                    Some(op) => self.operators.push(op),
                    // `x IN (SELECT …)` is `= ANY` without a name written.
                    None if node.get("subLinkType").and_then(Value::as_str)
                        == Some("ANY_SUBLINK") =>
                    {
                        self.operators.push((None, "=".to_string()))
                    }
                    None => {}
                }
                Ok(())
            }
            "SortBy" => {
                if let Some(op) = split_name(strings(node.get("useOp"))) {
                    self.operators.push(op);
                }
                Ok(())
            }
            "CaseExpr" if node.get("arg").is_some_and(|a| !a.is_null()) => {
                self.operators.push((None, "=".to_string()));
                Ok(())
            }
            "JoinExpr"
                if node.get("isNatural").is_some_and(|v| !v.is_null())
                    || node
                        .get("usingClause")
                        .and_then(Value::as_array)
                        .is_some_and(|u| !u.is_empty()) =>
            {
                self.operators.push((None, "=".to_string()));
                Ok(())
            }
            "TypeCast" => {
                if let Some(t) = split_name(strings(node.pointer("/typeName/names"))) {
                    self.types.push(t);
                }
                Ok(())
            }
            "RangeTableSample" => {
                if let Some(method) = split_name(strings(node.get("method"))) {
                    self.samples.push(method);
                }
                Ok(())
            }
            "ColumnRef" => {
                let fields = node.get("fields").and_then(Value::as_array);
                let mut parts: Vec<Option<String>> = fields
                    .into_iter()
                    .flatten()
                    .map(|f| {
                        f.pointer("/String/sval")
                            .and_then(Value::as_str)
                            .map(String::from)
                    })
                    .collect();
                let name = parts.pop().flatten();
                self.column_refs.push(ColumnRef {
                    qualifier: parts.pop().flatten(),
                    name,
                });
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl Walk {
    /// Everything the statement reaches, resolved through the catalog (see `sql::reach`).
    fn check_reach(&self, catalog: &Catalog) -> Result<(), String> {
        for f in &self.functions {
            catalog.check_function(f.schema.as_deref(), &f.name)?;
        }
        for (schema, symbol) in &self.operators {
            catalog.check_operator(schema.as_deref(), symbol)?;
        }
        for (schema, name) in &self.types {
            catalog.check_type(schema.as_deref(), name)?;
        }
        for (schema, name) in &self.samples {
            if !is_builtin_sample(schema.as_deref(), name) {
                catalog.check_function(schema.as_deref(), name)?;
            }
        }
        for (schema, name, _) in &self.relations {
            if schema.is_none() && self.ctes.contains(name) {
                continue;
            }
            catalog.check_relation(schema.as_deref(), name)?;
        }
        Ok(())
    }

    /// What the walked text reaches, as a view or policy definition in a schema file.
    fn reaches(&self) -> Vec<sql::Reach> {
        use sql::Reach;
        let mut out: Vec<Reach> = Vec::new();
        for f in &self.functions {
            out.push(Reach::Function {
                schema: f.schema.clone(),
                name: f.name.clone(),
            });
        }
        for (schema, symbol) in &self.operators {
            out.push(Reach::Operator {
                schema: schema.clone(),
                symbol: symbol.clone(),
            });
        }
        for (schema, name) in &self.types {
            out.push(Reach::Type {
                schema: schema.clone(),
                name: name.clone(),
            });
        }
        for (schema, name) in &self.samples {
            if !is_builtin_sample(schema.as_deref(), name) {
                out.push(Reach::Function {
                    schema: schema.clone(),
                    name: name.clone(),
                });
            }
        }
        for (schema, name, _) in &self.relations {
            if schema.is_none() && self.ctes.contains(name) {
                continue;
            }
            out.push(Reach::Relation {
                schema: schema.clone(),
                name: name.clone(),
            });
        }
        out
    }
}

/// `TABLESAMPLE SYSTEM` and `BERNOULLI` are PostgreSQL's own sampling methods (their handler
/// functions are not for queries, so the audit refuses calling them).
fn is_builtin_sample(schema: Option<&str>, name: &str) -> bool {
    matches!(schema, None | Some("pg_catalog")) && matches!(name, "system" | "bernoulli")
}

/// Read one statement of a `pg_dump --schema-only` file into `catalog`, if it is one the guard
/// needs: `CREATE FUNCTION`/`PROCEDURE` (a user function), `CREATE VIEW` (what its definition
/// reaches), `CREATE DOMAIN` (what its checks call), `CREATE OPERATOR` (the function it runs), `CREATE EXTENSION` (its members, from
/// the checked-in list of the extensions PostgreSQL ships) and `CREATE POLICY` (what its
/// expressions reach). Other statements are skipped. Unqualified names go to `public`.
pub fn read_schema_statement(sql: &str, catalog: &mut Catalog) -> Result<(), String> {
    // pg_dump writes a comment block before each statement.
    let words: Vec<String> = sql
        .lines()
        .skip_while(|line| {
            let line = line.trim();
            line.is_empty() || line.starts_with("--")
        })
        .flat_map(str::split_whitespace)
        .take(6)
        .map(str::to_uppercase)
        .collect();
    let read = words.first().map(String::as_str) == Some("CREATE")
        && words.iter().skip(1).any(|w| {
            matches!(
                w.as_str(),
                "FUNCTION" | "PROCEDURE" | "VIEW" | "OPERATOR" | "EXTENSION" | "POLICY" | "DOMAIN"
            )
        });
    if !read {
        return Ok(());
    }
    let json = parse_json(sql)?;
    let tree: Value =
        serde_json::from_str(&json).map_err(|e| format!("cannot read its parse tree: {e}"))?;
    let public = || "public".to_string();
    for raw in tree
        .get("stmts")
        .and_then(Value::as_array)
        .unwrap_or_default()
    {
        let Some((kind, node)) = raw.get("stmt").and_then(Value::first_member) else {
            continue;
        };
        match kind {
            "CreateFunctionStmt" => {
                if let Some((schema, name)) = split_name(strings(node.get("funcname"))) {
                    let schema = schema.unwrap_or_else(public);
                    catalog.insert_function(&schema, &name, sql::Origin::User);
                }
            }
            "ViewStmt" | "CreatePolicyStmt" => {
                let target = if kind == "ViewStmt" { "view" } else { "table" };
                let Some(relation) = node.get(target) else {
                    continue;
                };
                let Some(name) = non_empty(relation.get("relname")) else {
                    continue;
                };
                let schema = non_empty(relation.get("schemaname")).unwrap_or_else(public);
                let mut walk = Walk {
                    collect_only: true,
                    ..Walk::default()
                };
                for part in ["query", "qual", "with_check"] {
                    if let Some(body) = node.get(part) {
                        walk.value(body, false)?;
                    }
                }
                for what in walk.reaches() {
                    catalog.insert_relation_reach(&schema, &name, what);
                }
            }
            "CreateDomainStmt" => {
                let Some((schema, name)) = split_name(strings(node.get("domainname"))) else {
                    continue;
                };
                let schema = schema.unwrap_or_else(public);
                let mut walk = Walk {
                    collect_only: true,
                    ..Walk::default()
                };
                if let Some(constraints) = node.get("constraints") {
                    walk.value(constraints, false)?;
                }
                for what in walk.reaches() {
                    catalog.insert_type_reach(&schema, &name, what);
                }
            }
            "DefineStmt" if node.get("kind").and_then(Value::as_str) == Some("OBJECT_OPERATOR") => {
                let Some((schema, symbol)) = split_name(strings(node.get("defnames"))) else {
                    continue;
                };
                let schema = schema.unwrap_or_else(public);
                let definition = node.get("definition").and_then(Value::as_array);
                for element in definition.into_iter().flatten() {
                    let Some(def) = element.get("DefElem") else {
                        continue;
                    };
                    let is_function = def
                        .get("defname")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n == "function" || n == "procedure");
                    if !is_function {
                        continue;
                    }
                    let names = def
                        .pointer("/arg/TypeName/names")
                        .or_else(|| def.pointer("/arg/List/items"));
                    if let Some((fschema, fname)) = split_name(strings(names)) {
                        let fschema = fschema.unwrap_or_else(public);
                        catalog.insert_operator(&schema, &symbol, (&fschema, &fname));
                    }
                }
            }
            "CreateExtensionStmt" => {
                let Some(extension) = non_empty(node.get("extname")) else {
                    continue;
                };
                let options = node.get("options").and_then(Value::as_array);
                let schema = options
                    .into_iter()
                    .flatten()
                    .filter_map(|o| o.get("DefElem"))
                    .find(|d| d.get("defname").and_then(Value::as_str) == Some("schema"))
                    .and_then(|d| non_empty(d.pointer("/arg/String/sval")))
                    .unwrap_or_else(public);
                catalog.insert_extension(&extension, &schema);
                for (member, name, function) in sql::extension_members(&extension) {
                    let origin = sql::Origin::Extension(extension.clone());
                    if member == "function" {
                        catalog.insert_function(&schema, name, origin);
                    } else {
                        catalog.insert_operator(&schema, name, (&schema, function));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// libpg_query's JSON output, which the `pg_query` crate does not expose: the C library is
/// linked in through that crate, and these are its own declarations (`pg_query.h`). The only
/// unsafe code here: two C calls and one read of the string they return (see [`parse_json`]).
#[allow(unsafe_code)]
mod ffi {
    // The crate builds and links the static library these symbols live in.
    extern crate pg_query;
    use std::os::raw::{c_char, c_int};

    #[repr(C)]
    pub struct PgQueryError {
        pub message: *mut c_char,
        pub funcname: *mut c_char,
        pub filename: *mut c_char,
        pub lineno: c_int,
        pub cursorpos: c_int,
        pub context: *mut c_char,
    }

    #[repr(C)]
    pub struct PgQueryParseResult {
        pub parse_tree: *mut c_char,
        pub stderr_buffer: *mut c_char,
        pub error: *mut PgQueryError,
    }

    unsafe extern "C" {
        pub fn pg_query_parse(input: *const c_char) -> PgQueryParseResult;
        pub fn pg_query_free_parse_result(result: PgQueryParseResult);
    }
}

/// PostgreSQL's parse tree of `sql` as libpg_query writes it in JSON: every node of every
/// kind, its type as the key (`{"SelectStmt": {…}}`), fields that hold their default value
/// left out.
///
/// Runs on a stack grown to fit the text ([`pg_stack_for`]): libpg_query writes its JSON by
/// recursing once per tree level, without a depth check of its own, and a flat chain such as
/// `1+1+…` is one level per operator.
pub fn parse_json(sql: &str) -> Result<String, String> {
    let stack = pg_stack_for(sql.len());
    stacker::maybe_grow(stack, stack, || parse_json_here(sql))
}

/// Stack that libpg_query needs to parse `len` bytes and write their tree as JSON, whatever
/// the text. A tree has at most one level per byte; measured on x86_64 (release), the JSON
/// writer takes 110–150 bytes of stack per level of `1+1+…` (two bytes of text per level).
/// 512 bytes per byte keeps a wide margin for other shapes and builds. Stack that is not
/// touched costs nothing, and a statement of ordinary size needs no new stack at all.
pub fn pg_stack_for(len: usize) -> usize {
    1024 * 1024 + len * 512
}

#[allow(unsafe_code)]
fn parse_json_here(sql: &str) -> Result<String, String> {
    use std::ffi::{CStr, CString};
    let input = CString::new(sql)
        .map_err(|e| format!("the text holds a NUL byte at {}", e.nul_position()))?;
    // SAFETY: `input` is a NUL-terminated string that outlives the call; the result is read
    // before it is handed back to libpg_query, exactly once, to be freed.
    unsafe {
        let result = ffi::pg_query_parse(input.as_ptr());
        let out =
            if !result.error.is_null() {
                let error = &*result.error;
                let message = if error.message.is_null() {
                    "an error without a message".into()
                } else {
                    CStr::from_ptr(error.message).to_string_lossy()
                };
                Err(if error.cursorpos > 0 {
                    format!("{message} (at character {})", error.cursorpos)
                } else {
                    message.into_owned()
                })
            } else if result.parse_tree.is_null() {
                Err("libpg_query returned no tree".to_string())
            } else {
                CStr::from_ptr(result.parse_tree).to_str().map(str::to_owned).map_err(|_| {
                "a string in it holds bytes that are not UTF-8: write such bytes as a bytea \
                 literal ('\\xff'::bytea)"
                    .to_string()
            })
            };
        ffi::pg_query_free_parse_result(result);
        out
    }
}

/// libpg_query's JSON read into a tree that borrows its strings from the text and keeps each
/// object's members as a list in order: about three times cheaper to build than a
/// `serde_json::Value` (no map, no key copies), and all a walk needs.
mod json {
    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::borrow::Cow;
    use std::fmt;

    pub enum Json<'a> {
        Null,
        /// A boolean, or a number that is not an i64: nothing the checks read.
        OtherScalar,
        Int(i64),
        Str(Cow<'a, str>),
        Array(Vec<Json<'a>>),
        Object(Vec<(Cow<'a, str>, Json<'a>)>),
    }

    impl<'a> Json<'a> {
        pub fn get(&self, key: &str) -> Option<&Json<'a>> {
            match self {
                Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
                _ => None,
            }
        }

        /// The value at a `/`-separated path of member names.
        pub fn pointer(&self, path: &str) -> Option<&Json<'a>> {
            path.split('/')
                .filter(|step| !step.is_empty())
                .try_fold(self, |value, step| value.get(step))
        }

        /// An object's first member: a node's type and its fields.
        pub fn first_member(&self) -> Option<(&str, &Json<'a>)> {
            match self {
                Json::Object(members) => members.first().map(|(k, v)| (k.as_ref(), v)),
                _ => None,
            }
        }

        pub fn as_array(&self) -> Option<&[Json<'a>]> {
            match self {
                Json::Array(items) => Some(items),
                _ => None,
            }
        }

        pub fn as_str(&self) -> Option<&str> {
            match self {
                Json::Str(s) => Some(s),
                _ => None,
            }
        }

        pub fn as_i64(&self) -> Option<i64> {
            match self {
                Json::Int(n) => Some(*n),
                _ => None,
            }
        }

        pub fn as_u64(&self) -> Option<u64> {
            self.as_i64().and_then(|n| u64::try_from(n).ok())
        }

        pub fn is_null(&self) -> bool {
            matches!(self, Json::Null)
        }
    }

    impl<'de> Deserialize<'de> for Json<'de> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct JsonVisitor;
            impl<'de> Visitor<'de> for JsonVisitor {
                type Value = Json<'de>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("JSON")
                }
                fn visit_unit<E>(self) -> Result<Self::Value, E> {
                    Ok(Json::Null)
                }
                fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                    Ok(Json::OtherScalar)
                }
                fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                    Ok(Json::Int(v))
                }
                fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                    Ok(i64::try_from(v).map_or(Json::OtherScalar, Json::Int))
                }
                fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                    Ok(Json::OtherScalar)
                }
                fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                    Ok(Json::Str(Cow::Borrowed(v)))
                }
                fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                    Ok(Json::Str(Cow::Owned(v.to_string())))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                    let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                    while let Some(item) = seq.next_element()? {
                        items.push(item);
                    }
                    Ok(Json::Array(items))
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                    let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
                    // serde_json reads a key as a string, borrowed when it holds no escapes.
                    while let Some((key, value)) = map.next_entry::<Json, Json>()? {
                        let Json::Str(key) = key else {
                            return Err(serde::de::Error::custom("a key that is not a string"));
                        };
                        members.push((key, value));
                    }
                    Ok(Json::Object(members))
                }
            }
            deserializer.deserialize_any(JsonVisitor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(sql: &str) -> PgStatement {
        check(sql, &Catalog::default()).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    fn refused(sql: &str) -> String {
        match check(sql, &Catalog::default()) {
            Ok(s) => panic!("{sql} was accepted as {:?}", s.kind),
            Err(e) => e,
        }
    }

    #[test]
    fn read_only_statements_pass_with_their_facts() {
        let s = ok(
            "SELECT e.name, lower(d.name) FROM hr.employees e JOIN departments d ON d.id = e.department_id LIMIT 5;",
        );
        assert_eq!(s.kind, StatementKind::Query);
        assert_eq!(
            s.text,
            "SELECT e.name, lower(d.name) FROM hr.employees e JOIN departments d ON d.id = e.department_id LIMIT 5"
        );
        assert_eq!(s.limit, Some(5));
        let names: Vec<_> = s
            .relations
            .iter()
            .map(|r| (r.schema.clone(), r.name.clone(), r.alias.clone()))
            .collect();
        assert!(names.contains(&(Some("hr".into()), "employees".into(), Some("e".into()))));
        assert!(names.contains(&(None, "departments".into(), Some("d".into()))));
        assert_eq!(s.functions[0].name, "lower");
        assert!(s.column_refs.contains(&ColumnRef {
            qualifier: Some("e".into()),
            name: Some("name".into())
        }));
        assert_eq!(ok("SHOW search_path").kind, StatementKind::Show);
        assert_eq!(ok("EXPLAIN SELECT 1").kind, StatementKind::Explain);
        let from = ok("SELECT * FROM generate_series(1, 3) AS g");
        assert!(from.functions[0].in_from);
        let cte = ok("WITH x AS (SELECT 1 AS a) SELECT a FROM x");
        assert!(cte.relations.is_empty(), "{:?}", cte.relations);
    }

    #[test]
    fn what_postgres_reads_as_more_or_as_writes_is_refused() {
        for (sql, says) in [
            ("SELECT 1; DELETE FROM t", "2 statements"),
            ("COMMIT; DELETE FROM t", "2 statements"),
            ("DELETE FROM t", "DELETE"),
            ("SET transaction_read_only = off", "SET"),
            ("BEGIN", "transaction command"),
            (
                "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
                "DELETE inside",
            ),
            (
                "SELECT * FROM (SELECT 1) s, LATERAL (SELECT 1 FOR UPDATE) x",
                "locks rows",
            ),
            ("SELECT 1 INTO TEMP x", "SELECT INTO"),
            ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYZE"),
            ("EXPLAIN (ANALYZE, FORMAT JSON) SELECT 1", "EXPLAIN ANALYZE"),
            ("EXPLAIN DELETE FROM t", "EXPLAIN of DELETE"),
            ("SELECT $1", "parameter"),
            ("SELECT PG_CATALOG.PG_SLEEP(10)", "pg_sleep"),
            ("SELECT \"pg_read_file\"('/etc/passwd')", "pg_read_file"),
            (
                "SELECT * FROM dblink_exec('x', 'DROP TABLE t')",
                "dblink_exec",
            ),
            ("SELECT CASE WHEN true THEN nextval('s') END", "nextval"),
            (
                "SELECT 1 /* a /* nested */ still a comment */; DELETE FROM t",
                "2 statements",
            ),
            ("SELECT $q$ ; $q$; DELETE FROM t", "2 statements"),
            ("SELECT E'\\''; DELETE FROM t; --'", "2 statements"),
            ("SELECT (", "cannot parse"),
        ] {
            let error = refused(sql);
            assert!(error.contains(says), "{sql}: {error}");
        }
    }

    /// A schema dump as `pg_dump --schema-only` writes it (search_path empty, names
    /// qualified), with a user function, views over it, an operator, a policy and an
    /// extension.
    const DUMP: &str = r#"
SET search_path = '';
--
-- Name: pg_trgm; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
CREATE TABLE public.employees (id integer, name text);
CREATE TABLE public.departments (id integer, name text);
CREATE FUNCTION public.audit_touch() RETURNS integer
    LANGUAGE plpgsql
    AS $$ BEGIN PERFORM public.dblink_exec('x', 'DELETE FROM t'); RETURN 1; END $$;
CREATE FUNCTION public.full_name(first text) RETURNS text LANGUAGE sql AS $$ SELECT upper(first) $$;
CREATE FUNCTION public.op_touch(integer, integer) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR public.=== (
    FUNCTION = public.op_touch,
    LEFTARG = integer,
    RIGHTARG = integer
);
CREATE VIEW public.v_touch AS
 SELECT public.audit_touch() AS t;
CREATE VIEW public.v_over AS
 SELECT v_touch.t FROM public.v_touch;
CREATE VIEW public.v_plain AS
 SELECT departments.name FROM public.departments WHERE (departments.id OPERATOR(pg_catalog.>) 1);
CREATE VIEW public.v_op AS
 SELECT (1 OPERATOR(public.===) 1) AS b;
CREATE POLICY p ON public.employees USING ((public.audit_touch() = 1));
CREATE DOMAIN public.touchy AS integer
	CONSTRAINT touchy_check CHECK ((public.audit_touch() = 1));
"#;

    fn dump_catalog(allow: &[&str], extensions: &[&str]) -> Catalog {
        let mut catalog = Catalog::from_schema_sql(DUMP).expect("dump reads");
        catalog.set_guard(sql::GuardSettings {
            allow_functions: allow.iter().map(|s| s.to_string()).collect(),
            allow_extensions: extensions.iter().map(|s| s.to_string()).collect(),
        });
        catalog
    }

    #[test]
    fn what_a_statement_reaches_is_resolved_through_the_catalog() {
        let catalog = dump_catalog(&["public.full_name"], &["pg_trgm"]);
        let decide = |sql: &str| check(sql, &catalog).map(|_| ());
        for (sql, says) in [
            (
                "SELECT audit_touch()",
                "function `public.audit_touch` is not known to be free of side effects: allow it with `[guard] allow_functions = [\"public.audit_touch\"]` if it is",
            ),
            ("SELECT \"public\".\"audit_touch\"()", "public.audit_touch"),
            (
                "SELECT * FROM ROWS FROM (audit_touch()) r(x)",
                "public.audit_touch",
            ),
            (
                "SELECT * FROM t, LATERAL (SELECT audit_touch()) x",
                "public.audit_touch",
            ),
            (
                "SELECT * FROM public.v_over",
                "relation `public.v_over` reaches relation `public.v_touch` reaches function `public.audit_touch`",
            ),
            (
                "WITH x AS (SELECT * FROM v_over) SELECT * FROM x",
                "public.v_over",
            ),
            (
                "SELECT * FROM v_op",
                "operator `public.===` runs function `public.op_touch`",
            ),
            ("SELECT 1 === 2", "public.op_touch"),
            ("SELECT 1 OPERATOR(public.===) 2", "public.op_touch"),
            (
                "SELECT name FROM employees",
                "relation `public.employees` reaches",
            ),
            ("SELECT ts_stat('SELECT 1')", "runs SQL given as text"),
            (
                "SELECT 1::public.touchy",
                "type `public.touchy` runs function `public.audit_touch`",
            ),
            ("SELECT CAST(1 AS touchy)", "public.audit_touch"),
            (
                "SELECT nosuch(1)",
                "unknown function `nosuch`: it is neither a PostgreSQL built-in nor in the schema file",
            ),
            ("SELECT 1 @@@@ 2", "unknown operator `@@@@`"),
        ] {
            let error = decide(sql).expect_err(sql);
            assert!(error.contains(says), "{sql}: {error}");
        }
        for sql in [
            "SELECT full_name('x')",
            "SELECT similarity('a', 'b')",
            "SELECT 'a' % 'b'",
            "SELECT * FROM v_plain",
            "SELECT lower('X') LIKE 'x' AND 1 BETWEEN 0 AND 2",
            "SELECT CASE 1 WHEN 1 THEN 'a' END",
        ] {
            decide(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        // The extension is not trusted unless allowed.
        let strict = dump_catalog(&[], &[]);
        let error = check("SELECT similarity('a', 'b')", &strict)
            .map(|_| ())
            .expect_err("refused");
        assert!(
            error.contains("allow_extensions = [\"pg_trgm\"]"),
            "{error}"
        );
        let error = check("SELECT 'a' % 'b'", &strict)
            .map(|_| ())
            .expect_err("refused");
        assert!(error.contains("operator `public.%`"), "{error}");
    }

    #[test]
    fn without_a_schema_only_built_ins_are_known() {
        let error = refused("SELECT full_name('x')");
        assert!(
            error.contains("unknown function `full_name`: it is not a PostgreSQL built-in, and without a schema"),
            "{error}"
        );
        let mut catalog = Catalog::default();
        catalog.set_guard(sql::GuardSettings {
            allow_functions: vec!["public.full_name".into()],
            allow_extensions: Vec::new(),
        });
        check("SELECT full_name('x')", &catalog).expect("allow-listed");
        ok("SELECT count(*), lower('a'), now(), generate_series(1, 2)");
        ok("SELECT 1 FROM t TABLESAMPLE SYSTEM (10)");
    }

    #[test]
    fn tree_keys_leave_out_positions_and_nothing_else() {
        let plain = tree_key(r#"{"a":1,"b":{"c":"x"}}"#);
        for positioned in [
            r#"{"a":1,"location":7,"b":{"c":"x","location":-1}}"#,
            r#"{"location":7,"a":1,"b":{"location":9,"c":"x"}}"#,
            r#"{"a":1,"b":{"c":"x","arg_location":3},"stmt_len":12}"#,
        ] {
            assert_eq!(tree_key(positioned), plain, "{positioned}");
        }
        for other in [
            r#"{"a":2,"b":{"c":"x"}}"#,
            r#"{"a":1,"b":{"c":"location"}}"#,
            r#"{"a":1,"b":{"c":"x\":5"}}"#,
        ] {
            assert_ne!(tree_key(other), plain, "{other}");
        }
        assert_eq!(ok("SELECT 1 LIMIT 0").limit, Some(0));
        assert_eq!(ok("SELECT 1 LIMIT 7").limit, Some(7));
        assert_eq!(ok("SELECT 1 LIMIT ALL").limit, None);
        assert_eq!(ok("SELECT 1; ").text, "SELECT 1");
        // A literal whose bytes are not UTF-8 is refused by PostgreSQL's scanner itself (a
        // tree holding such bytes would be refused too: see `parse_json`).
        assert!(refused("SELECT E'\\xff'").contains("invalid byte sequence"));
    }

    #[test]
    fn long_operator_chains_are_refused_with_a_way_out_and_flat_lists_are_not() {
        let chain = |n: usize| vec!["a"; n].join(" + ");
        ok(&format!("SELECT {}", chain(50)));
        let error = refused(&format!("SELECT {}", chain(100)));
        assert!(
            error.contains("group a long chain with parentheses"),
            "{error}"
        );
        let grouped = vec![format!("({})", chain(10)); 10].join(" + ");
        ok(&format!("SELECT {grouped}"));
        ok(&format!(
            "SELECT 1 WHERE {}",
            vec!["a = 1"; 1000].join(" AND ")
        ));
        ok(&format!(
            "SELECT 1 WHERE a IN ({})",
            vec!["1"; 5000].join(", ")
        ));
    }

    /// libpg_query writes its JSON by recursing once per tree level and checks no depth of its
    /// own: a 240 KB `1+1+…` that only PostgreSQL's grammar reads (GROUP BY DISTINCT) crashed
    /// `querygate check` with a stack overflow. Every deep shape, at the default size limit,
    /// on a thread with a tokio worker's 2 MiB stack, is a clean refusal.
    #[test]
    fn deep_trees_at_the_size_limit_are_refused_not_a_crash_on_a_small_stack() {
        let limit = SqlLimits::default().max_sql_bytes;
        let fill = |prefix: &str, unit: &str, end: &str| {
            let room = limit - prefix.len() - end.len() - 16;
            format!("{prefix}{}{end}", unit.repeat(room / unit.len()))
        };
        let shapes = [
            fill("SELECT ", "1+", "1 FROM t GROUP BY DISTINCT a"),
            fill("SELECT ", "1+", "1"),
            fill("SELECT 1", "::int", ""),
            fill("SELECT ", "NOT ", "true"),
            fill("SELECT ", "- ", "1"),
            fill("SELECT 1 FROM t", " JOIN t ON true", ""),
            fill("SELECT 1", " UNION SELECT 1", ""),
            fill("SELECT ", "f(", "1"),
            fill("SELECT ", "(", "1"),
            fill("SELECT ", "ARRAY[", "1"),
        ];
        for sql in shapes {
            assert!(sql.len() <= limit);
            let head: String = sql.chars().take(40).collect();
            let result = std::thread::Builder::new()
                .stack_size(2 * 1024 * 1024)
                .spawn(move || {
                    let checked = check(&sql, &Catalog::default()).map(|_| ());
                    let analyzed =
                        analyze(&sql, &Catalog::default(), &SqlLimits::default()).map(|_| ());
                    (checked, analyzed)
                })
                .expect("spawn")
                .join()
                .unwrap_or_else(|_| panic!("`{head}…` crashed the thread"));
            assert!(result.0.is_err(), "`{head}…` passed the check");
            assert!(result.1.is_err(), "`{head}…` passed the analysis");
        }
    }

    #[test]
    fn two_spellings_of_one_statement_have_one_tree() {
        assert_eq!(
            ok("SELECT a FROM t WHERE b = 1").tree(),
            ok("select  a\nfrom t /* x */ where (b = 1);").tree()
        );
        assert_eq!(
            ok("SELECT x::int FROM t").tree(),
            ok("SELECT CAST(x AS INT) FROM t").tree()
        );
        for other in [
            "SELECT a FROM t WHERE b = 2",
            "SELECT a FROM t WHERE c = 1",
            "SELECT a FROM t WHERE b = '1'",
            "SELECT \"A\" FROM t WHERE b = 1",
        ] {
            assert_ne!(
                ok("SELECT a FROM t WHERE b = 1").tree(),
                ok(other).tree(),
                "{other}"
            );
        }
        assert_ne!(ok("SELECT E'\\n'").tree(), ok("SELECT '\\n'").tree());
        let tree = ok("SELECT a FROM t WHERE b = 1").tree();
        assert!(reads_as("SELECT a FROM t WHERE (b = 1)", &tree));
        assert!(!reads_as("SELECT a FROM t WHERE b = 1; SELECT 1", &tree));
        assert!(!reads_as("SELECT a FROM t WHERE b = 1 LIMIT 2", &tree));
        assert!(!reads_as("SELECT (", &tree));
        // Positions are taken out of the tree, text that looks like them is not.
        assert_ne!(
            ok("SELECT 'location\":5' AS location").tree(),
            ok("SELECT 'location\":6' AS location").tree()
        );
    }
}
