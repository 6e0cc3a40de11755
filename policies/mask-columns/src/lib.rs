//! `mask-columns`: listed columns are read masked (the last characters kept, a hash, or NULL),
//! whatever the statement calls them on the way out.
//!
//! Masking follows where a value comes from, not the name of the output column. Each reference to
//! a table with masked columns, in FROM or JOIN at any depth (subqueries, WITH bodies, joins,
//! LATERAL, subqueries in expressions), is replaced by a subquery under the same name that reads
//! every column of the table, the masked ones through their mask:
//!
//! ```sql
//! SELECT ssn AS remark FROM employees e
//! -- becomes
//! SELECT ssn AS remark FROM (SELECT employees.id, …, CASE WHEN length(employees.ssn::TEXT) > 4
//!   THEN '***' || right(employees.ssn::TEXT, 4) WHEN employees.ssn IS NOT NULL THEN '***' END
//!   AS ssn, … FROM employees) AS e
//! ```
//!
//! So an alias, `*`, `t.*`, a whole-row reference, a subquery, a WITH entry or an expression over
//! the column all see only the masked value: nothing else of the table is in scope. The columns
//! come from the catalog (the relation's columns the host supplies), in table order, so `*` keeps
//! its shape; a masked table the catalog does not know is rejected, as its columns cannot be
//! listed.
//!
//! A masked column used in WHERE, HAVING, a join (ON, USING, NATURAL), GROUP BY or ORDER BY is
//! rejected with a reason ([`predicates`]): filtering on the real value would reveal what the mask
//! hides, and after the rewrite such a filter would only see the masked value, which is rarely what
//! was meant. A statement that cannot read a masked column (no reference to one by name, no
//! wildcard, no whole-row reference) is allowed unchanged.
//!
//! The masks use side-effect-free built-ins only (`length`, `right`, `md5`, `sha256`, `encode`,
//! `convert_to`, casts); the host's guard checks the rewrite like any statement.

mod predicates;

use std::collections::BTreeMap;

use querygate_policy::ast::{identifier, replace_tables, select_from};
use querygate_policy::sqlparser::ast::{Expr, SelectItem, TableAlias, TableFactor};
use querygate_policy::sqlparser::dialect::PostgreSqlDialect;
use querygate_policy::sqlparser::parser::Parser;
use querygate_policy::{
    ColumnRef, Context, Policy, Relation, RelationExt, Statement, StatementExt, StatementKind,
    Verdict,
};
use serde::Deserialize;

/// `[policy.config]` of `mask-columns`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Relation name (`employees`, or `hr.employees` for one schema) to its masked columns.
    columns: BTreeMap<String, BTreeMap<String, Mask>>,
}

/// How one column is masked: `"null"`, `{ keep_last = 4 }`, `{ hash = "md5" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Mask {
    /// NULL, of the column's type.
    Null,
    /// `***` and the last N characters of the text form; `***` alone for values of N characters
    /// or fewer; NULL stays NULL.
    KeepLast(u32),
    /// The hash of the text form, in hex; NULL stays NULL.
    Hash(Hash),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Hash {
    Md5,
    Sha256,
}

impl Mask {
    /// The masked expression for `column` (qualified, rendered) of type `data_type`.
    fn sql(self, column: &str, data_type: &str) -> String {
        let text = format!("{column}::text");
        match self {
            Mask::Null => format!("CAST(NULL AS {data_type})"),
            Mask::KeepLast(n) => format!(
                "CASE WHEN length({text}) > {n} THEN '***' || right({text}, {n}) \
                 WHEN {column} IS NOT NULL THEN '***' END"
            ),
            Mask::Hash(Hash::Md5) => format!("md5({text})"),
            Mask::Hash(Hash::Sha256) => {
                format!("encode(sha256(convert_to({text}, 'UTF8')), 'hex')")
            }
        }
    }
}

/// The `mask-columns` policy.
pub struct MaskColumns;

impl Policy for MaskColumns {
    fn evaluate(statement: &Statement, context: &Context) -> Verdict {
        match mask(statement, context) {
            Ok(verdict) => verdict,
            Err(reason) => Verdict::Reject(reason),
        }
    }
}

querygate_policy::export_policy!(MaskColumns);

/// A relation of the statement with the configured masks of the columns it may have.
struct Masked<'a> {
    relation: &'a Relation,
    masks: Vec<(&'a str, Mask)>,
}

impl Masked<'_> {
    fn mask(&self, column: &str) -> Option<Mask> {
        self.masks
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(column))
            .map(|(_, mask)| *mask)
    }
}

fn mask(statement: &Statement, context: &Context) -> Result<Verdict, String> {
    let config: Config = querygate_policy::config(context)?;
    if statement.kind == StatementKind::Show {
        return Ok(Verdict::Allow);
    }
    let masked = masked_relations(statement, &config);
    if masked.is_empty() || !may_read(statement, &masked) {
        return Ok(Verdict::Allow);
    }
    let mut tree = statement.ast()?;
    predicates::check(&tree, statement, &masked)?;
    let rewriter = Rewriter { masked: &masked };
    replace_tables(&mut tree, |parts, table| match rewriter.find(parts) {
        Some(masked) => rewriter.wrapped(table.clone(), masked).map(Some),
        None => Ok(None),
    })?;
    Ok(querygate_policy::ast::rewrite(statement, &tree))
}

/// The statement's relations that have masked columns. A relation the catalog knows keeps the
/// masks of the columns it has; one it does not know keeps them all.
fn masked_relations<'a>(statement: &'a Statement, config: &'a Config) -> Vec<Masked<'a>> {
    statement
        .relations
        .iter()
        .map(|relation| Masked {
            relation,
            masks: config
                .columns
                .iter()
                .filter(|(name, _)| relation.is_named(name))
                .flat_map(|(_, columns)| columns.iter())
                .filter(|(column, _)| !relation.known || relation.has_column(column))
                .map(|(column, mask)| (column.as_str(), *mask))
                .collect(),
        })
        .filter(|masked| !masked.masks.is_empty())
        .collect()
}

/// Whether the statement may read a masked column: a reference by a masked column's name
/// (whatever its qualifier), any wildcard, a whole-row reference to a masked relation, or a
/// NATURAL join. Conservative: when in doubt, the tables are wrapped.
fn may_read(statement: &Statement, masked: &[Masked]) -> bool {
    if statement.sql.contains("NATURAL ") {
        return true;
    }
    statement
        .column_refs
        .iter()
        .any(|reference| match reference {
            ColumnRef { name: None, .. } => true,
            ColumnRef {
                qualifier,
                name: Some(name),
            } => {
                let whole_row = match qualifier {
                    Some(qualifier) => format!("{qualifier}.{name}"),
                    None => name.clone(),
                };
                masked.iter().any(|m| m.mask(name).is_some())
                    || is_masked_relation(statement, masked, &whole_row)
            }
        })
}

/// True when `qualifier` resolves to a relation with masked columns.
fn is_masked_relation(statement: &Statement, masked: &[Masked], qualifier: &str) -> bool {
    statement
        .resolve(qualifier)
        .iter()
        .any(|relation| masked.iter().any(|m| core::ptr::eq(m.relation, *relation)))
}

struct Rewriter<'a> {
    masked: &'a [Masked<'a>],
}

impl Rewriter<'_> {
    /// The masked relation the table `parts` (folded, schema first) names, as written.
    fn find(&self, parts: &[String]) -> Option<&Masked<'_>> {
        let (name, schema) = match parts {
            [schema @ .., name] => (name, schema.last()),
            [] => return None,
        };
        self.masked.iter().find(|m| {
            m.relation.name.eq_ignore_ascii_case(name)
                && match (schema, &m.relation.schema) {
                    (None, None) => true,
                    (Some(wanted), Some(written)) => written.eq_ignore_ascii_case(wanted),
                    _ => false,
                }
        })
    }

    /// `(SELECT t.a, <mask of t.b> AS b, … FROM <table>) AS <alias or table>`.
    fn wrapped(&self, mut table: TableFactor, masked: &Masked) -> Result<TableFactor, String> {
        let relation = masked.relation;
        if !relation.known {
            return Err(format!(
                "table `{}` has masked columns, but querygate's catalog does not know its \
                 columns, so `mask-columns` cannot list them: give querygate the schema",
                relation.qualified_name()
            ));
        }
        let TableFactor::Table { name, alias, .. } = &mut table else {
            return Ok(table);
        };
        let Some(qualifier) = name.0.last().and_then(|part| part.as_ident()).cloned() else {
            return Err(format!("cannot tell which table `{name}` is"));
        };
        let alias = alias.take().unwrap_or_else(|| TableAlias {
            explicit: true,
            name: qualifier.clone(),
            columns: Vec::new(),
            at: None,
        });
        let projection = relation
            .columns
            .iter()
            .map(|column| {
                let ident = identifier(&column.name);
                let reference = Expr::CompoundIdentifier(vec![qualifier.clone(), ident.clone()]);
                match masked.mask(&column.name) {
                    None => Ok(SelectItem::UnnamedExpr(reference)),
                    Some(mask) => Ok(SelectItem::ExprWithAlias {
                        expr: expression(&mask.sql(&reference.to_string(), &column.data_type))?,
                        alias: ident,
                    }),
                }
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(TableFactor::Derived {
            lateral: false,
            subquery: Box::new(select_from(projection, table, None)),
            alias: Some(alias),
            sample: None,
        })
    }
}

/// One of the policy's own mask expressions, as a tree. Only the column's type comes from
/// outside (the catalog); a type that does not read back rejects.
fn expression(sql: &str) -> Result<Expr, String> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_expr())
        .map_err(|error| format!("cannot write the mask `{sql}`: {error}"))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
