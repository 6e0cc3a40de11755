//! Masked columns in WHERE, HAVING, joins, GROUP BY and ORDER BY are rejected.
//!
//! A column counts as masked when it is
//! - `q.c` where `q` resolves to a relation that masks `c`;
//! - `c`, or `q.c` with a qualifier that is not a table (a subquery or WITH alias), where `c` is
//!   a masked column's name or the alias of a select item computed from a masked column, at any
//!   depth (`SELECT ssn AS x … ORDER BY x`, `WITH s AS (SELECT ssn AS x …) … WHERE x = …`),
//!   followed until nothing new is found;
//! - a whole-row reference to a relation with masked columns (`WHERE e::text LIKE …`).
//!
//! Names are compared as PostgreSQL folds them, then without regard to ASCII case: a false match
//! rejects (the safe mistake), and the reason names the column so the user can rename it. A
//! NATURAL join over a relation with masked columns is rejected too: it compares columns without
//! naming them. Positional `ORDER BY 1` is not followed: it orders by the masked value.

use core::ops::ControlFlow;
use std::collections::BTreeSet;

use querygate_policy::ast::folded;
use querygate_policy::sqlparser::ast::{
    Expr, GroupByExpr, Join, JoinConstraint, JoinOperator, OrderByKind, Query, Select, SelectItem,
    SetExpr, Visit, Visitor, visit_expressions,
};
use querygate_policy::{Statement, StatementExt};

use crate::{Masked, is_masked_relation};

/// Rejects a statement that filters, joins, groups or orders on a masked column.
pub(crate) fn check(
    tree: &querygate_policy::sqlparser::ast::Statement,
    statement: &Statement,
    masked: &[Masked],
) -> Result<(), String> {
    let mut clauses = Clauses::default();
    let _ = tree.visit(&mut clauses);
    if clauses.natural
        && let Some(first) = masked.first()
    {
        return Err(format!(
            "table `{}` has masked columns, and a NATURAL join would compare them without \
             naming them: join with ON instead",
            querygate_policy::RelationExt::qualified_name(first.relation)
        ));
    }
    let mut taint = Taint {
        statement,
        masked,
        names: masked
            .iter()
            .flat_map(|m| m.masks.iter().map(|(name, _)| name.to_lowercase()))
            .collect(),
    };
    // Aliases of values computed from masked columns, until nothing new is found.
    loop {
        let before = taint.names.len();
        for (alias, expr) in &clauses.aliases {
            if !taint.names.contains(alias) && taint.first(expr).is_some() {
                taint.names.insert(alias.clone());
            }
        }
        if taint.names.len() == before {
            break;
        }
    }
    for (clause, expr) in &clauses.checked {
        if let Some(column) = taint.first(expr) {
            return Err(format!(
                "{column} is masked, and using it in {clause} would reveal what the mask hides: \
                 leave it out of {clause} (it can be read, masked, in the select list)"
            ));
        }
    }
    for column in &clauses.using {
        if taint.names.contains(column) {
            return Err(format!(
                "column `{column}` is masked, and joining on it would reveal what the mask \
                 hides: leave it out of JOIN … USING"
            ));
        }
    }
    Ok(())
}

/// What the check looks at, collected from every query of the statement.
#[derive(Default)]
struct Clauses {
    /// `(alias, expression)` of every aliased select item, alias folded and lower-cased.
    aliases: Vec<(String, Expr)>,
    /// `(clause, expression)` of every WHERE, HAVING, ON, GROUP BY and ORDER BY expression.
    checked: Vec<(&'static str, Expr)>,
    /// Column names of JOIN … USING, lower-cased.
    using: Vec<String>,
    natural: bool,
}

impl Clauses {
    fn body(&mut self, body: &SetExpr) {
        match body {
            SetExpr::Select(select) => self.select(select),
            SetExpr::SetOperation { left, right, .. } => {
                self.body(left);
                self.body(right);
            }
            // Nested queries are visited on their own.
            _ => {}
        }
    }

    fn select(&mut self, select: &Select) {
        for item in &select.projection {
            if let SelectItem::ExprWithAlias { expr, alias } = item {
                self.aliases
                    .push((folded(alias).to_lowercase(), expr.clone()));
            }
        }
        if let Some(selection) = &select.selection {
            self.checked.push(("WHERE", selection.clone()));
        }
        if let Some(having) = &select.having {
            self.checked.push(("HAVING", having.clone()));
        }
        if let GroupByExpr::Expressions(exprs, _) = &select.group_by {
            for expr in exprs {
                self.checked.push(("GROUP BY", expr.clone()));
            }
        }
        for join in select.from.iter().flat_map(|from| &from.joins) {
            self.join(join);
        }
    }

    fn join(&mut self, join: &Join) {
        match constraint(&join.join_operator) {
            Some(JoinConstraint::On(expr)) => self.checked.push(("JOIN … ON", expr.clone())),
            Some(JoinConstraint::Using(names) | JoinConstraint::UsingAlias(names, _)) => {
                self.using.extend(names.iter().filter_map(|name| {
                    name.0
                        .last()
                        .and_then(|part| part.as_ident())
                        .map(|ident| folded(ident).to_lowercase())
                }));
            }
            Some(JoinConstraint::Natural) => self.natural = true,
            Some(JoinConstraint::None) | None => {}
        }
    }
}

impl Visitor for Clauses {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.body(&query.body);
        if let Some(order_by) = &query.order_by
            && let OrderByKind::Expressions(exprs) = &order_by.kind
        {
            for expr in exprs {
                self.checked.push(("ORDER BY", expr.expr.clone()));
            }
        }
        ControlFlow::Continue(())
    }
}

/// The constraint of the joins PostgreSQL has.
fn constraint(operator: &JoinOperator) -> Option<&JoinConstraint> {
    match operator {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c)
        | JoinOperator::CrossJoin(c) => Some(c),
        _ => None,
    }
}

struct Taint<'a> {
    statement: &'a Statement,
    masked: &'a [Masked<'a>],
    /// Masked column names and the aliases computed from them, lower-cased.
    names: BTreeSet<String>,
}

impl Taint<'_> {
    /// The first masked column `expr` reads, described for a message.
    fn first(&self, expr: &Expr) -> Option<String> {
        let mut found = None;
        let _ = visit_expressions(expr, |expr| {
            found = match expr {
                Expr::Identifier(ident) => self.column(None, &folded(ident)),
                Expr::CompoundIdentifier(parts) => match parts.split_last() {
                    Some((name, qualifier)) if !qualifier.is_empty() => {
                        let qualifier: Vec<String> = qualifier.iter().map(folded).collect();
                        self.column(Some(&qualifier.join(".")), &folded(name))
                    }
                    _ => None,
                },
                _ => None,
            };
            match found {
                Some(_) => ControlFlow::Break(()),
                None => ControlFlow::Continue(()),
            }
        });
        found
    }

    fn column(&self, qualifier: Option<&str>, name: &str) -> Option<String> {
        let named = self.names.contains(&name.to_lowercase());
        match qualifier {
            Some(qualifier) => {
                let relations = self.statement.resolve(qualifier);
                if relations.is_empty() {
                    return named.then(|| format!("column `{qualifier}.{name}`"));
                }
                relations.iter().find_map(|relation| {
                    self.masked
                        .iter()
                        .find(|m| core::ptr::eq(m.relation, *relation))
                        .and_then(|m| m.mask(name))
                        .map(|_| format!("column `{qualifier}.{name}`"))
                })
            }
            None if named => Some(format!("column `{name}`")),
            None => is_masked_relation(self.statement, self.masked, name)
                .then(|| format!("the whole row `{name}`")),
        }
    }
}
