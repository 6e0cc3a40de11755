//! Questions policies ask about a statement's analysis: which relation a qualifier names, and
//! whether a relation has a column.
//!
//! Names are compared without regard to ASCII case. querygate lower-cases unquoted names, so this
//! only matters for quoted ones (`"Employees"` and `employees` are two tables to PostgreSQL), and
//! for a policy that protects data the safe mistake is to treat them as one.

use crate::{Column, Relation, Statement};

/// Lookups on a [`Statement`].
pub trait StatementExt {
    /// The relations a column qualifier can refer to: `e` in `e.salary` names the relation whose
    /// alias is `e`, or, without an alias, the one named `e`; `hr.employees` in
    /// `hr.employees.salary` names an unaliased `employees` read from `hr` (or from an unwritten
    /// schema). A statement lists its relations without their scopes, so the same alias used in
    /// two subqueries yields both; an unknown qualifier (a subquery alias, a WITH name) yields
    /// none.
    fn resolve(&self, qualifier: &str) -> Vec<&Relation>;

    /// The catalog columns of the first relation `qualifier` resolves to whose columns are known.
    fn columns_of(&self, qualifier: &str) -> Option<&[Column]>;

    /// The statement's syntax tree, as the host parsed it. See [`crate::ast`].
    #[cfg(feature = "ast")]
    fn ast(&self) -> Result<sqlparser::ast::Statement, String>;
}

impl StatementExt for Statement {
    fn resolve(&self, qualifier: &str) -> Vec<&Relation> {
        let (schema, name) = match qualifier.rsplit_once('.') {
            Some((prefix, name)) => {
                let schema = prefix.rsplit('.').next().unwrap_or(prefix);
                (Some(schema), name)
            }
            None => (None, qualifier),
        };
        self.relations
            .iter()
            .filter(|relation| match (schema, &relation.alias) {
                (None, Some(alias)) => alias.eq_ignore_ascii_case(name),
                (None, None) => relation.name.eq_ignore_ascii_case(name),
                (Some(_), Some(_)) => false,
                (Some(schema), None) => {
                    relation.name.eq_ignore_ascii_case(name)
                        && relation
                            .schema
                            .as_deref()
                            .is_none_or(|written| written.eq_ignore_ascii_case(schema))
                }
            })
            .collect()
    }

    fn columns_of(&self, qualifier: &str) -> Option<&[Column]> {
        self.resolve(qualifier)
            .into_iter()
            .find(|relation| relation.known)
            .map(|relation| relation.columns.as_slice())
    }

    #[cfg(feature = "ast")]
    fn ast(&self) -> Result<sqlparser::ast::Statement, String> {
        crate::ast::parse_ast_json(&self.ast_json)
    }
}

/// Lookups on a [`Relation`].
pub trait RelationExt {
    /// True when the catalog lists `column` for this relation (ASCII case ignored). False for a
    /// relation the catalog does not know: check [`Relation::known`] where that matters.
    fn has_column(&self, column: &str) -> bool;

    /// True when `name` designates this relation: `employees` matches `employees` read from any
    /// schema; `hr.employees` matches `hr.employees` and an unqualified `employees` (which the
    /// search path may resolve to `hr`). The alias plays no part.
    fn is_named(&self, name: &str) -> bool;

    /// The relation as written, schema-qualified when the statement qualified it: `hr.employees`.
    fn qualified_name(&self) -> String;
}

impl RelationExt for Relation {
    fn has_column(&self, column: &str) -> bool {
        self.columns
            .iter()
            .any(|candidate| candidate.name.eq_ignore_ascii_case(column))
    }

    fn is_named(&self, name: &str) -> bool {
        match name.rsplit_once('.') {
            None => self.name.eq_ignore_ascii_case(name),
            Some((schema, table)) => {
                self.name.eq_ignore_ascii_case(table)
                    && self
                        .schema
                        .as_deref()
                        .is_none_or(|written| written.eq_ignore_ascii_case(schema))
            }
        }
    }

    fn qualified_name(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// True when the catalog lists `column` for `relation`; see [`RelationExt::has_column`].
pub fn has_column(relation: &Relation, column: &str) -> bool {
    relation.has_column(column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StatementKind;

    fn relation(
        schema: Option<&str>,
        name: &str,
        alias: Option<&str>,
        columns: &[&str],
    ) -> Relation {
        Relation {
            schema: schema.map(str::to_owned),
            name: name.to_owned(),
            alias: alias.map(str::to_owned),
            known: !columns.is_empty(),
            columns: columns
                .iter()
                .map(|name| Column {
                    name: (*name).to_owned(),
                    data_type: "text".to_owned(),
                })
                .collect(),
        }
    }

    fn statement(relations: Vec<Relation>) -> Statement {
        Statement {
            sql: String::new(),
            ast_json: String::new(),
            kind: StatementKind::Query,
            relations,
            functions: Vec::new(),
            column_refs: Vec::new(),
            limit: None,
            limit_expr: None,
        }
    }

    #[test]
    fn a_qualifier_resolves_to_an_alias_or_an_unaliased_name() {
        let statement = statement(vec![
            relation(None, "employees", Some("e"), &["id", "ssn"]),
            relation(Some("public"), "departments", None, &["id", "name"]),
        ]);
        let names = |qualifier: &str| -> Vec<String> {
            statement
                .resolve(qualifier)
                .iter()
                .map(|r| r.qualified_name())
                .collect()
        };
        assert_eq!(names("e"), ["employees"]);
        assert_eq!(names("E"), ["employees"]);
        assert!(
            names("employees").is_empty(),
            "an aliased table is only reachable by its alias"
        );
        assert_eq!(names("departments"), ["public.departments"]);
        assert_eq!(names("public.departments"), ["public.departments"]);
        assert!(names("hr.departments").is_empty());
        assert!(names("sub").is_empty());
        assert_eq!(statement.columns_of("e").map(<[Column]>::len), Some(2));
    }

    #[test]
    fn a_schema_qualifier_matches_an_unqualified_relation() {
        let statement = statement(vec![relation(None, "employees", None, &[])]);
        assert_eq!(statement.resolve("hr.employees").len(), 1);
        assert_eq!(statement.resolve("db.hr.employees").len(), 1);
        assert_eq!(
            statement.columns_of("employees"),
            None,
            "unknown relations have no columns"
        );
    }

    #[test]
    fn names_and_columns_ignore_ascii_case() {
        let employees = relation(Some("hr"), "employees", Some("e"), &["SSN"]);
        assert!(employees.has_column("ssn"));
        assert!(has_column(&employees, "Ssn"));
        assert!(!employees.has_column("salary"));
        assert!(employees.is_named("employees"));
        assert!(employees.is_named("HR.Employees"));
        assert!(!employees.is_named("public.employees"));
        assert!(!employees.is_named("e"));
        assert!(relation(None, "employees", None, &[]).is_named("hr.employees"));
    }
}
