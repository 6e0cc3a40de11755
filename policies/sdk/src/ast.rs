//! The statement's syntax tree, for policies that rewrite (feature `ast`).
//!
//! The host sends the tree it checked as JSON (`Statement::ast_json`, the serde format of
//! sqlparser 0.64); [`crate::StatementExt::ast`] reads it back, a policy changes it, typically with
//! sqlparser's `VisitorMut`, and answers with [`rewrite`]. The guest never parses SQL text, which
//! is both faster and safer: the tree it edits is exactly the one the host checked.
//!
//! Rendering with `to_string()` gives sqlparser's canonical SQL, the same form the host shows and
//! runs: `select * from t limit 5` comes back as `SELECT * FROM t LIMIT 5`.

use core::ops::ControlFlow;
use sqlparser::ast::helpers::attached_token::AttachedToken;
use sqlparser::ast::{
    Expr, GroupByExpr, Ident, ObjectName, ObjectNamePart, Query, Select, SelectFlavor, SelectItem,
    SetExpr, TableFactor, TableWithJoins, VisitMut, VisitorMut,
};

use crate::{Statement, Verdict};

/// The deepest JSON nesting [`parse_ast_json`] reads. See there.
pub const MAX_JSON_DEPTH: usize = 512;

/// Reads the host's JSON syntax tree.
///
/// Reading, visiting, rendering and dropping a syntax tree recurse once per level, and a long
/// flat expression (`a AND b AND …`) is a left-deep tree, one level per operator. A tree deeper
/// than [`MAX_JSON_DEPTH`] levels of JSON is refused with an error (the policy should reject the
/// statement) before anything recurses, so the guest never overflows its stack.
pub(crate) fn parse_ast_json(json: &str) -> Result<sqlparser::ast::Statement, String> {
    if json.is_empty() {
        return Err(
            "only PostgreSQL's grammar could read this statement, so there is no syntax tree \
             for this policy to inspect; write it in plainer SQL"
                .to_owned(),
        );
    }
    if crate::tree_json::depth(json) > MAX_JSON_DEPTH {
        return Err(
            "the statement is nested too deeply for this policy to read; split it into \
                    simpler statements"
                .to_owned(),
        );
    }
    crate::tree_json::read_unbounded(json)
        .map_err(|error| format!("cannot read the statement's syntax tree: {error}"))
}

/// The verdict for a possibly changed tree: [`Verdict::Allow`] when it renders to the statement's
/// own SQL, else [`Verdict::Rewrite`] with the new rendering. Use it so that a policy whose
/// change is already in place (a LIMIT that is already low enough) allows rather than rewrites.
pub fn rewrite(statement: &Statement, tree: &sqlparser::ast::Statement) -> Verdict {
    let sql = tree.to_string();
    if sql == statement.sql {
        Verdict::Allow
    } else {
        Verdict::Rewrite(sql)
    }
}

/// An identifier as PostgreSQL resolves it: unquoted names fold to lower case, quoted ones stay.
pub fn folded(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// The parts of an object name, folded as PostgreSQL does (`hr."Employees"` gives `hr`,
/// `Employees`); `None` when a part is not a plain identifier.
pub fn folded_parts(name: &ObjectName) -> Option<Vec<String>> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => Some(folded(ident)),
            ObjectNamePart::Function(_) => None,
        })
        .collect()
}

/// Which WITH names are in scope at the point a visitor has reached, so that a policy can tell a
/// table from a common table expression of the same name.
///
/// Call [`CteScope::enter`] from `pre_visit_query` and [`CteScope::leave`] from
/// `post_visit_query`; then [`CteScope::is_cte`] answers for any table name visited in between.
/// It follows PostgreSQL's rules: the main query of `WITH a AS (…), b AS (…)` sees `a` and `b`;
/// the body of `b` sees only `a` (so `WITH employees AS (SELECT * FROM employees …)` reads the
/// table inside); with `WITH RECURSIVE`, every body sees every name. It relies on sqlparser
/// visiting a query's WITH clause, body by body, before the rest of the query.
#[derive(Debug, Default)]
pub struct CteScope {
    frames: Vec<Frame>,
}

#[derive(Debug)]
struct Frame {
    /// The folded names this query's WITH defines, in order.
    names: Vec<String>,
    recursive: bool,
    /// How many WITH bodies have been visited completely; the one being visited is `names[done]`.
    done: usize,
}

impl CteScope {
    /// A query starts: its WITH names come into scope (for its own bodies as the rules say).
    pub fn enter(&mut self, query: &Query) {
        let (names, recursive) = match &query.with {
            Some(with) => (
                with.cte_tables
                    .iter()
                    .map(|cte| folded(&cte.alias.name))
                    .collect(),
                with.recursive,
            ),
            None => (Vec::new(), false),
        };
        self.frames.push(Frame {
            names,
            recursive,
            done: 0,
        });
    }

    /// A query ends. If it was the body of an enclosing WITH entry, the next entry's body (and
    /// eventually the main query) sees one more name.
    pub fn leave(&mut self) {
        self.frames.pop();
        if let Some(parent) = self.frames.last_mut()
            && parent.done < parent.names.len()
        {
            // While a query's WITH is being visited, its only direct subqueries are the bodies.
            parent.done += 1;
        }
    }

    /// True when `name`, used as a table in FROM at the current point, names a WITH entry rather
    /// than a table. Only an unqualified name can.
    pub fn is_cte(&self, name: &ObjectName) -> bool {
        let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() else {
            return false;
        };
        let wanted = folded(ident);
        self.frames.iter().any(|frame| {
            let visible = if frame.recursive || frame.done >= frame.names.len() {
                &frame.names[..]
            } else {
                &frame.names[..frame.done]
            };
            visible.contains(&wanted)
        })
    }
}

/// Replace table references in `tree` at any depth (joins, subqueries, WITH bodies), never a
/// WITH name ([`CteScope`]) or a table function. `replace` gets the table's folded name parts
/// (schema first) and the reference as written, and answers `Ok(Some(factor))` to put `factor`
/// in its place (it is not visited again), `Ok(None)` to leave it, or `Err(reason)` to stop. A
/// name that cannot be read as identifiers stops with a reason.
pub fn replace_tables(
    tree: &mut sqlparser::ast::Statement,
    replace: impl FnMut(&[String], &TableFactor) -> Result<Option<TableFactor>, String>,
) -> Result<(), String> {
    let mut replacer = TableReplacer {
        scope: CteScope::default(),
        replace,
    };
    match tree.visit(&mut replacer) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(reason) => Err(reason),
    }
}

struct TableReplacer<F> {
    scope: CteScope,
    replace: F,
}

impl<F: FnMut(&[String], &TableFactor) -> Result<Option<TableFactor>, String>> VisitorMut
    for TableReplacer<F>
{
    type Break = String;

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<String> {
        self.scope.enter(query);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<String> {
        self.scope.leave();
        ControlFlow::Continue(())
    }

    // Post-visit: what is put in place here is not visited again.
    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<String> {
        let TableFactor::Table {
            name, args: None, ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        if self.scope.is_cte(name) {
            return ControlFlow::Continue(());
        }
        let Some(parts) = folded_parts(name) else {
            return ControlFlow::Break(format!("cannot tell which table `{name}` is"));
        };
        match (self.replace)(&parts, factor) {
            Ok(Some(replacement)) => *factor = replacement,
            Ok(None) => {}
            Err(reason) => return ControlFlow::Break(reason),
        }
        ControlFlow::Continue(())
    }
}

/// `SELECT <projection> FROM <table> [WHERE <selection>]`, with nothing else.
pub fn select_from(
    projection: Vec<SelectItem>,
    table: TableFactor,
    selection: Option<Expr>,
) -> Query {
    let select = Select {
        select_token: AttachedToken::empty(),
        optimizer_hints: Vec::new(),
        distinct: None,
        select_modifiers: None,
        top: None,
        top_before_distinct: false,
        projection,
        exclude: None,
        into: None,
        from: vec![TableWithJoins {
            relation: table,
            joins: Vec::new(),
        }],
        lateral_views: Vec::new(),
        prewhere: None,
        selection,
        connect_by: Vec::new(),
        group_by: GroupByExpr::Expressions(Vec::new(), Vec::new()),
        cluster_by: Vec::new(),
        distribute_by: Vec::new(),
        sort_by: Vec::new(),
        having: None,
        named_window: Vec::new(),
        qualify: None,
        window_before_qualify: false,
        value_table_mode: None,
        flavor: SelectFlavor::Standard,
    };
    Query {
        with: None,
        body: Box::new(SetExpr::Select(Box::new(select))),
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: Vec::new(),
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: Vec::new(),
    }
}

/// A column name as an identifier: quoted unless it is a plain lower-case name.
pub fn identifier(column: &str) -> Ident {
    let plain = column.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && column
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        Ident::new(column)
    } else {
        Ident::with_quote('"', column)
    }
}

#[cfg(test)]
mod tests {
    use core::ops::ControlFlow;

    use sqlparser::ast::{TableFactor, Visit, Visitor};
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;

    use super::*;

    #[test]
    fn render_natively_gives_the_hosts_canonical_sql() {
        let tree = &Parser::parse_sql(&PostgreSqlDialect {}, "select a from t limit 3").unwrap()[0];
        let json = serde_json::to_string(tree).unwrap();
        assert_eq!(crate::render(&json).unwrap(), "SELECT a FROM t LIMIT 3");
        assert!(crate::render("{\"Query\": 1}").is_err());
    }

    /// Lists every table in FROM as `name` or `name (cte)`.
    #[derive(Default)]
    struct Tables {
        scope: CteScope,
        seen: Vec<String>,
    }

    impl Visitor for Tables {
        type Break = ();

        fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
            self.scope.enter(query);
            ControlFlow::Continue(())
        }

        fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
            self.scope.leave();
            ControlFlow::Continue(())
        }

        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, .. } = factor {
                let cte = if self.scope.is_cte(name) {
                    " (cte)"
                } else {
                    ""
                };
                self.seen.push(format!("{name}{cte}"));
            }
            ControlFlow::Continue(())
        }
    }

    fn tables(sql: &str) -> Vec<String> {
        let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        let mut visitor = Tables::default();
        let _ = statements.visit(&mut visitor);
        visitor.seen
    }

    #[test]
    fn a_with_name_shadows_a_table_in_the_main_query_only() {
        assert_eq!(
            tables("WITH employees AS (SELECT * FROM employees) SELECT * FROM employees"),
            ["employees", "employees (cte)"]
        );
    }

    #[test]
    fn a_body_sees_the_entries_before_it() {
        assert_eq!(
            tables("WITH a AS (SELECT * FROM b), b AS (SELECT * FROM a) SELECT * FROM a, b, c"),
            ["b", "a (cte)", "a (cte)", "b (cte)", "c"]
        );
    }

    #[test]
    fn recursive_bodies_see_every_entry() {
        assert_eq!(
            tables(
                "WITH RECURSIVE a AS (SELECT * FROM a UNION SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a"
            ),
            ["a (cte)", "b (cte)", "a (cte)"]
        );
    }

    #[test]
    fn names_go_out_of_scope_with_their_query() {
        assert_eq!(
            tables(
                "SELECT * FROM (WITH x AS (SELECT * FROM (SELECT 1) s) SELECT * FROM x) q, x \
                 WHERE EXISTS (SELECT 1 FROM x)"
            ),
            ["x (cte)", "x", "x"]
        );
    }

    #[test]
    fn nested_with_bodies_count_for_their_own_query() {
        assert_eq!(
            tables(
                "WITH a AS (WITH b AS (SELECT 1) SELECT * FROM b, (SELECT * FROM c) s), \
                 c AS (SELECT * FROM a) SELECT * FROM c"
            ),
            ["b (cte)", "c", "a (cte)", "c (cte)"]
        );
    }

    #[test]
    fn quoting_decides_what_matches() {
        assert_eq!(
            tables(r#"WITH "X" AS (SELECT 1) SELECT * FROM x, "X", public."X""#),
            ["x", "\"X\" (cte)", "public.\"X\""]
        );
        assert_eq!(tables("WITH X AS (SELECT 1) SELECT * FROM x"), ["x (cte)"]);
    }

    #[test]
    fn parts_fold_like_postgresql() {
        let Ok(name) = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(r#"Hr."Employees""#)
            .and_then(|mut parser| parser.parse_object_name(false))
        else {
            panic!("parse");
        };
        assert_eq!(
            folded_parts(&name),
            Some(vec!["hr".to_owned(), "Employees".to_owned()])
        );
    }
}
