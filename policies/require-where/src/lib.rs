//! `require-where`: a SELECT that reads a listed (large) table must say which rows it wants.
//!
//! A SELECT with a listed table in its FROM or JOINs (directly, not inside a subquery) is
//! rejected when it has no WHERE clause and its query has no LIMIT or FETCH FIRST. The query
//! that counts is the one the SELECT belongs to, including a set operation around it
//! (`SELECT … UNION SELECT … LIMIT 10`); a LIMIT further out does not count, because it does not
//! stop an inner aggregate or sort from reading the whole table. Any WHERE clause counts: this is
//! a guard rail against accidental full scans, not a security boundary. A WITH entry that
//! shadows a listed table is not the table. EXPLAIN is checked like the query it explains.

use core::ops::ControlFlow;

use querygate_policy::ast::{CteScope, folded_parts};
use querygate_policy::sqlparser::ast::{
    LimitClause, ObjectName, Query, Select, SetExpr, TableFactor, TableWithJoins, Visit, Visitor,
};
use querygate_policy::{Context, Policy, Statement, StatementExt, StatementKind, Verdict};
use serde::Deserialize;

/// `[policy.config]` of `require-where`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The tables that need a WHERE clause or a LIMIT: `events`, or `schema.events`.
    tables: Vec<String>,
}

/// The `require-where` policy.
pub struct RequireWhere;

impl Policy for RequireWhere {
    fn evaluate(statement: &Statement, context: &Context) -> Verdict {
        match check(statement, context) {
            Ok(()) => Verdict::Allow,
            Err(reason) => Verdict::Reject(reason),
        }
    }
}

querygate_policy::export_policy!(RequireWhere);

fn check(statement: &Statement, context: &Context) -> Result<(), String> {
    let config: Config = querygate_policy::config(context)?;
    // The analysis is enough to skip most statements without reading the syntax tree.
    let reads_listed = statement.relations.iter().any(|relation| {
        config
            .tables
            .iter()
            .any(|table| querygate_policy::RelationExt::is_named(relation, table))
    });
    if statement.kind == StatementKind::Show || !reads_listed {
        return Ok(());
    }
    let tree = statement.ast()?;
    let mut checker = Checker {
        tables: &config.tables,
        scope: CteScope::default(),
    };
    match tree.visit(&mut checker) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(reason) => Err(reason),
    }
}

struct Checker<'a> {
    tables: &'a [String],
    scope: CteScope,
}

impl Checker<'_> {
    /// The first listed table read directly by `select`, as written.
    fn listed_table(&self, select: &Select) -> Option<String> {
        let mut factors = Vec::new();
        for table in &select.from {
            collect_factors(table, &mut factors);
        }
        factors.into_iter().find_map(|factor| match factor {
            TableFactor::Table {
                name, args: None, ..
            } if self.is_listed(name) => Some(name.to_string()),
            _ => None,
        })
    }

    fn is_listed(&self, name: &ObjectName) -> bool {
        if self.scope.is_cte(name) {
            return false;
        }
        let Some(parts) = folded_parts(name) else {
            return false;
        };
        let Some((table, schema)) = parts.split_last() else {
            return false;
        };
        self.tables
            .iter()
            .any(|listed| match listed.rsplit_once('.') {
                None => listed.eq_ignore_ascii_case(table),
                Some((listed_schema, listed_table)) => {
                    listed_table.eq_ignore_ascii_case(table)
                        && schema
                            .last()
                            .is_none_or(|schema| schema.eq_ignore_ascii_case(listed_schema))
                }
            })
    }
}

/// The table factors of a FROM item, through its joins and parenthesised joins (not subqueries).
fn collect_factors<'a>(table: &'a TableWithJoins, into: &mut Vec<&'a TableFactor>) {
    for factor in
        core::iter::once(&table.relation).chain(table.joins.iter().map(|join| &join.relation))
    {
        match factor {
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => collect_factors(table_with_joins, into),
            factor => into.push(factor),
        }
    }
}

/// The SELECTs that make up a query body: itself, or both sides of set operations.
fn selects<'a>(body: &'a SetExpr, into: &mut Vec<&'a Select>) {
    match body {
        SetExpr::Select(select) => into.push(select),
        SetExpr::SetOperation { left, right, .. } => {
            selects(left, into);
            selects(right, into);
        }
        // A parenthesised query is a query of its own, with its own LIMIT; it is visited itself.
        _ => {}
    }
}

fn has_limit(query: &Query) -> bool {
    let limited = match &query.limit_clause {
        Some(LimitClause::LimitOffset { limit, .. }) => limit.is_some(),
        Some(LimitClause::OffsetCommaLimit { .. }) => true,
        None => false,
    };
    limited || query.fetch.is_some()
}

impl Visitor for Checker<'_> {
    type Break = String;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
        self.scope.enter(query);
        ControlFlow::Continue(())
    }

    // Checked on the way out, when the query's own WITH names are all in scope for its body.
    fn post_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
        let mut found = Vec::new();
        selects(&query.body, &mut found);
        let verdict = if has_limit(query) {
            None
        } else {
            found
                .into_iter()
                .filter(|select| select.selection.is_none())
                .find_map(|select| self.listed_table(select))
        };
        self.scope.leave();
        match verdict {
            Some(table) => ControlFlow::Break(format!(
                "reading `{table}` needs a WHERE clause: add a condition that narrows the rows \
                 (for example on a date or an id), or a LIMIT"
            )),
            None => ControlFlow::Continue(()),
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::path::Path;

    use querygate_policy::testing::{self, cases};

    use super::*;

    const CONFIG: &str = r#"{"tables": ["events", "audit.log"]}"#;

    fn evaluate(sql: &str) -> Verdict {
        RequireWhere::evaluate(&testing::statement(sql), &testing::context(CONFIG))
    }

    fn rejected(sql: &str) -> bool {
        matches!(evaluate(sql), Verdict::Reject(_))
    }

    #[test]
    fn cases_file() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        cases::run(
            &dir.join("../querygate.toml"),
            &dir.join("../schema.sql"),
            &dir.join("cases.toml"),
            &[("require-where", RequireWhere::evaluate)],
        );
    }

    #[test]
    fn a_where_or_a_limit_is_enough() {
        assert_eq!(
            evaluate("select * from events"),
            Verdict::Reject(
                "reading `events` needs a WHERE clause: add a condition that narrows the rows \
                 (for example on a date or an id), or a LIMIT"
                    .into()
            )
        );
        assert_eq!(
            evaluate("select * from events where id = 1"),
            Verdict::Allow
        );
        assert_eq!(evaluate("select * from events limit 5"), Verdict::Allow);
        assert_eq!(
            evaluate("select * from events fetch first 5 rows only"),
            Verdict::Allow
        );
        assert!(rejected("select * from events limit all"));
        assert_eq!(evaluate("select * from employees"), Verdict::Allow);
    }

    #[test]
    fn the_limit_must_be_on_the_selects_own_query() {
        assert!(rejected(
            "select count(*) from (select * from events) s limit 1"
        ));
        assert_eq!(
            evaluate("select * from events union all select * from events limit 3"),
            Verdict::Allow
        );
        assert!(rejected(
            "select * from events where id = 1 union all select * from events"
        ));
    }

    #[test]
    fn joins_and_nested_joins() {
        assert!(rejected(
            "select * from employees e join events v on v.employee_id = e.id"
        ));
        assert!(rejected(
            "select * from employees e join (departments d join events v on true) on true"
        ));
        assert_eq!(
            evaluate(
                "select * from employees e join events v on v.employee_id = e.id where e.id = 1"
            ),
            Verdict::Allow
        );
    }

    #[test]
    fn schemas_and_ctes() {
        assert!(rejected("select * from audit.log"));
        assert!(
            rejected("select * from log"),
            "an unqualified name may resolve to the listed schema"
        );
        assert_eq!(evaluate("select * from public.log"), Verdict::Allow);
        assert_eq!(
            evaluate("with events as (select * from events where id > 5) select * from events"),
            Verdict::Allow
        );
        assert!(rejected(
            "with recent as (select * from events) select * from recent where id = 1"
        ));
    }

    #[test]
    fn a_missing_table_list_is_a_config_error() {
        let verdict =
            RequireWhere::evaluate(&testing::statement("select 1"), &testing::context("{}"));
        assert_eq!(
            verdict,
            Verdict::Reject("invalid policy config: missing field `tables`".into())
        );
    }
}
