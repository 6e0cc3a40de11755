//! One walk of the syntax tree that collects what policies are told (relations, functions,
//! column references) and runs the guard's nested checks on the way.
//!
//! Common table expressions are scoped the way PostgreSQL scopes them: a name from `WITH` hides a
//! table of the same name only in the query that declares it, and, for a non-recursive `WITH`,
//! only in the CTEs declared after it and in the main query. So in
//! `WITH employees AS (SELECT * FROM employees) …` the inner `employees` is the real table and is
//! reported as a relation: a policy never loses sight of a table because a CTE shares its name.

use super::catalog::{Catalog, Column};
use super::names::{fold, idents, split_schema};
use super::{SqlError, guard};
use serde::Serialize;
use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, JoinConstraint, ObjectName,
    Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement, TableFactor,
    Value, Visit, Visitor,
};
use std::ops::ControlFlow;

/// A table or view named in the statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Relation {
    pub schema: Option<String>,
    pub name: String,
    pub alias: Option<String>,
    pub known: bool,
    pub columns: Vec<Column>,
}

/// A function called in the statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionCall {
    pub schema: Option<String>,
    pub name: String,
    pub in_from: bool,
}

/// A column reference (`e.salary`, `salary`) or a wildcard (`*`, `e.*`; `name` is `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnRef {
    pub qualifier: Option<String>,
    pub name: Option<String>,
}

pub(super) struct Facts {
    pub relations: Vec<Relation>,
    pub functions: Vec<FunctionCall>,
    pub column_refs: Vec<ColumnRef>,
}

/// Walk `statement` once: nested guard checks plus facts.
pub(super) fn collect(statement: &Statement, catalog: &Catalog) -> Result<Facts, SqlError> {
    let mut walker = Walker {
        catalog,
        top: statement,
        scopes: Vec::new(),
        facts: Facts {
            relations: Vec::new(),
            functions: Vec::new(),
            column_refs: Vec::new(),
        },
    };
    match statement.visit(&mut walker) {
        ControlFlow::Continue(()) => Ok(walker.facts),
        ControlFlow::Break(error) => Err(error),
    }
}

/// Refuse trees deeper than `max` levels of expressions, queries or set operations, walking at
/// most `max` levels: every later walk (guard, facts, rendering, serialization) is then bounded.
pub(super) fn check_depth(statement: &Statement, max: usize) -> Result<(), SqlError> {
    struct Depth {
        now: usize,
        max: usize,
    }
    impl Depth {
        fn enter(&mut self, extra: usize) -> ControlFlow<SqlError> {
            self.now += 1;
            if self.now + extra > self.max {
                ControlFlow::Break(SqlError::TooDeep { limit: self.max })
            } else {
                ControlFlow::Continue(())
            }
        }
    }
    impl Visitor for Depth {
        type Break = SqlError;
        fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<SqlError> {
            self.enter(0)
        }
        fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<SqlError> {
            self.now -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<SqlError> {
            // A chain of set operations nests without passing through another query: measure
            // it without recursion before the walk descends into it.
            let mut deepest = 0;
            let mut pending = vec![(query.body.as_ref(), 0usize)];
            while let Some((body, depth)) = pending.pop() {
                deepest = deepest.max(depth);
                if depth > self.max {
                    break;
                }
                if let SetExpr::SetOperation { left, right, .. } = body {
                    pending.push((left, depth + 1));
                    pending.push((right, depth + 1));
                }
            }
            self.enter(deepest)
        }
        fn post_visit_query(&mut self, _: &Query) -> ControlFlow<SqlError> {
            self.now -= 1;
            ControlFlow::Continue(())
        }
    }
    match statement.visit(&mut Depth { now: 0, max }) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(e) => Err(e),
    }
}

/// The LIMIT (or FETCH FIRST) of the outermost query: as a number when literal, and as written.
pub(super) fn outer_limit(query: &Query) -> (Option<u64>, Option<String>) {
    use sqlparser::ast::LimitClause;
    let expr = match &query.limit_clause {
        Some(LimitClause::LimitOffset { limit: Some(e), .. }) => Some(e),
        Some(LimitClause::OffsetCommaLimit { limit, .. }) => Some(limit),
        _ => query
            .fetch
            .as_ref()
            .filter(|f| !f.percent)
            .and_then(|f| f.quantity.as_ref()),
    };
    let literal = expr.and_then(|e| match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse::<u64>().ok(),
            _ => None,
        },
        _ => None,
    });
    (literal, expr.map(ToString::to_string))
}

/// The names a `WITH` clause declares, and how many of them are visible right now.
struct Scope {
    /// The declaring query, to recognise each CTE body by address as the walk enters it.
    bodies: Vec<*const Query>,
    names: Vec<String>,
    recursive: bool,
    visible: usize,
}

struct Walker<'a> {
    catalog: &'a Catalog,
    top: &'a Statement,
    scopes: Vec<Scope>,
    facts: Facts,
}

impl Walker<'_> {
    fn is_cte(&self, name: &str) -> bool {
        self.scopes.iter().any(|scope| {
            let visible = if scope.recursive {
                scope.names.len()
            } else {
                scope.visible
            };
            scope.names[..visible].iter().any(|n| n == name)
        })
    }

    fn add_function(&mut self, name: &ObjectName, in_from: bool) -> Result<(), SqlError> {
        guard::check_function(name)?;
        let (schema, name) = split_schema(name);
        self.facts.functions.push(FunctionCall {
            schema,
            name,
            in_from,
        });
        Ok(())
    }

    fn add_relation(&mut self, name: &ObjectName, alias: Option<&Ident>) {
        let (schema, name) = split_schema(name);
        if schema.is_none() && self.is_cte(&name) {
            return;
        }
        let columns = self.catalog.columns(schema.as_deref(), &name);
        self.facts.relations.push(Relation {
            known: columns.is_some(),
            columns: columns.map(<[_]>::to_vec).unwrap_or_default(),
            schema,
            name,
            alias: alias.map(fold),
        });
    }

    fn add_wildcard(&mut self, qualifier: Option<&ObjectName>) {
        self.facts.column_refs.push(ColumnRef {
            qualifier: qualifier.map(|q| idents(q).join(".")),
            name: None,
        });
    }

    fn add_column(&mut self, parts: &[Ident]) {
        let Some((last, qualifier)) = parts.split_last() else {
            return;
        };
        self.facts.column_refs.push(ColumnRef {
            qualifier: (!qualifier.is_empty())
                .then(|| qualifier.iter().map(fold).collect::<Vec<_>>().join(".")),
            name: Some(fold(last)),
        });
    }

    /// `TABLE t` inside a set expression is a relation with no table factor of its own.
    fn add_table_commands(&mut self, body: &SetExpr) {
        match body {
            SetExpr::Table(table) => {
                if let Some(name) = &table.table_name {
                    let mut parts = Vec::new();
                    parts.extend(table.schema_name.clone());
                    parts.push(name.clone());
                    self.add_relation(&ObjectName::from(parts), None);
                }
            }
            SetExpr::SetOperation { left, right, .. } => {
                self.add_table_commands(left);
                self.add_table_commands(right);
            }
            _ => {}
        }
    }
}

fn flow(result: Result<(), SqlError>) -> ControlFlow<SqlError> {
    match result {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => ControlFlow::Break(e),
    }
}

impl Visitor for Walker<'_> {
    type Break = SqlError;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<SqlError> {
        let is_top = std::ptr::eq(statement, self.top);
        let is_explained = matches!(self.top, Statement::Explain { statement: inner, .. }
            if std::ptr::eq(statement, inner.as_ref()));
        if is_top || (is_explained && matches!(statement, Statement::Query(_))) {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(guard::refuse_nested(statement))
        }
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<SqlError> {
        if let Some(scope) = self.scopes.last_mut()
            && let Some(i) = scope.bodies.iter().position(|b| std::ptr::eq(*b, query))
        {
            scope.visible = i;
        }
        if let Some(with) = &query.with {
            self.scopes.push(Scope {
                bodies: with
                    .cte_tables
                    .iter()
                    .map(|cte| &*cte.query as *const Query)
                    .collect(),
                names: with
                    .cte_tables
                    .iter()
                    .map(|c| fold(&c.alias.name))
                    .collect(),
                recursive: with.recursive,
                visible: 0,
            });
        }
        self.add_table_commands(&query.body);
        flow(guard::check_query(query))
    }

    fn post_visit_query(&mut self, query: &Query) -> ControlFlow<SqlError> {
        if query.with.is_some() {
            self.scopes.pop();
        }
        if let Some(scope) = self.scopes.last_mut()
            && let Some(i) = scope.bodies.iter().position(|b| std::ptr::eq(*b, query))
        {
            scope.visible = i + 1;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<SqlError> {
        if let Err(e) = guard::check_select(select) {
            return ControlFlow::Break(e);
        }
        for item in &select.projection {
            match item {
                SelectItem::Wildcard(_) => self.add_wildcard(None),
                SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(q),
                    _,
                ) => self.add_wildcard(Some(q)),
                _ => {}
            }
        }
        for table in &select.from {
            for join in &table.joins {
                use sqlparser::ast::JoinOperator as J;
                let constraint = match &join.join_operator {
                    J::Join(c)
                    | J::Inner(c)
                    | J::Left(c)
                    | J::LeftOuter(c)
                    | J::Right(c)
                    | J::RightOuter(c)
                    | J::FullOuter(c)
                    | J::Semi(c)
                    | J::LeftSemi(c)
                    | J::RightSemi(c)
                    | J::Anti(c)
                    | J::LeftAnti(c)
                    | J::RightAnti(c)
                    | J::StraightJoin(c) => Some(c),
                    _ => None,
                };
                if let Some(
                    JoinConstraint::Using(columns) | JoinConstraint::UsingAlias(columns, _),
                ) = constraint
                {
                    for column in columns {
                        let parts: Vec<Ident> = column
                            .0
                            .iter()
                            .filter_map(|p| p.as_ident().cloned())
                            .collect();
                        self.add_column(&parts);
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<SqlError> {
        let result = match factor {
            TableFactor::Table {
                name,
                alias,
                args: None,
                ..
            } => {
                self.add_relation(name, alias.as_ref().map(|a| &a.name));
                Ok(())
            }
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => self.add_function(name, true),
            TableFactor::UNNEST { .. } => {
                self.add_function(&ObjectName::from(vec![Ident::new("unnest")]), true)
            }
            _ => Ok(()),
        };
        flow(result)
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<SqlError> {
        if let Err(e) = guard::check_expr(expr) {
            return ControlFlow::Break(e);
        }
        match expr {
            Expr::Identifier(ident) => self.add_column(std::slice::from_ref(ident)),
            Expr::CompoundIdentifier(parts) => self.add_column(parts),
            Expr::Wildcard(_) => self.add_wildcard(None),
            Expr::QualifiedWildcard(q, _) => self.add_wildcard(Some(q)),
            Expr::Function(function) => {
                if let Err(e) = self.add_function(&function.name, false) {
                    return ControlFlow::Break(e);
                }
                if let FunctionArguments::List(list) = &function.args {
                    for arg in &list.args {
                        let arg = match arg {
                            FunctionArg::Named { arg, .. }
                            | FunctionArg::ExprNamed { arg, .. }
                            | FunctionArg::Unnamed(arg) => arg,
                        };
                        if let FunctionArgExpr::QualifiedWildcard(q) = arg {
                            self.add_wildcard(Some(q));
                        }
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}
