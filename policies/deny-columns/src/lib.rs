//! `deny-columns`: statements may not read configured columns (PII, salaries, secrets).
//!
//! Works on the host's analysis alone, no syntax tree. A statement lists its column references
//! without their scopes, so the policy decides conservatively; it rejects when
//! - a reference `q.c` names a denied column `c` of a relation `q` resolves to (its alias, or its
//!   name when it has no alias);
//! - an unqualified reference `c` names a denied column of any listed relation in the statement;
//! - a wildcard `*` appears anywhere in a statement that reads a listed relation, or `q.*`
//!   resolves to one;
//! - a bare name resolves to a listed relation: a whole-row reference such as
//!   `SELECT e FROM employees e` or `row_to_json(e)`;
//! - the statement has a `NATURAL` join and reads a listed relation: the join compares every
//!   column the two sides share, without naming them (found in the canonical SQL, where the
//!   keyword is always written `NATURAL`; a string literal containing it also counts).
//!
//! A relation the catalog knows is only held to the denied columns it actually has; one it does
//! not know is assumed to have all of them. Reading a denied column through a subquery or a WITH
//! entry is caught where the subquery reads it. EXPLAIN is checked like the query it explains:
//! the planner may evaluate expressions while planning.

use std::collections::BTreeMap;

use querygate_policy::{
    ColumnRef, Context, Policy, Relation, RelationExt, Statement, StatementExt, Verdict,
};
use serde::Deserialize;

/// `[policy.config]` of `deny-columns`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Relation name (`employees`, or `hr.employees` for one schema) to its denied columns.
    columns: BTreeMap<String, Vec<String>>,
}

/// The `deny-columns` policy.
pub struct DenyColumns;

impl Policy for DenyColumns {
    fn evaluate(statement: &Statement, context: &Context) -> Verdict {
        let config: Config = match querygate_policy::config(context) {
            Ok(config) => config,
            Err(reason) => return Verdict::Reject(reason),
        };
        match check(statement, &config) {
            Ok(()) => Verdict::Allow,
            Err(reason) => Verdict::Reject(reason),
        }
    }
}

querygate_policy::export_policy!(DenyColumns);

/// A relation of the statement with the configured columns it may not expose.
struct Listed<'a> {
    relation: &'a Relation,
    denied: Vec<&'a str>,
}

impl<'a> Listed<'a> {
    fn denies(&self, column: &str) -> bool {
        self.denied
            .iter()
            .any(|denied| denied.eq_ignore_ascii_case(column))
            && may_have(self.relation, column)
    }

    /// The first denied column this relation may have: what a wildcard would expose.
    fn exposed(&self) -> Option<&'a str> {
        self.denied
            .iter()
            .copied()
            .find(|column| may_have(self.relation, column))
    }

    fn column(&self, column: &str) -> String {
        format!(
            "column `{}.{column}` is not readable",
            self.relation.qualified_name()
        )
    }
}

/// An unknown relation may have any column; a known one has what the catalog lists.
fn may_have(relation: &Relation, column: &str) -> bool {
    !relation.known || relation.has_column(column)
}

fn check(statement: &Statement, config: &Config) -> Result<(), String> {
    let listed: Vec<Listed> = statement
        .relations
        .iter()
        .map(|relation| Listed {
            relation,
            denied: config
                .columns
                .iter()
                .filter(|(name, _)| relation.is_named(name))
                .flat_map(|(_, columns)| columns.iter().map(String::as_str))
                .collect(),
        })
        .filter(|listed| !listed.denied.is_empty())
        .collect();
    if listed.is_empty() {
        return Ok(());
    }
    if statement.sql.contains("NATURAL ")
        && let Some((listed, column)) = first_exposed(&listed)
    {
        return Err(format!(
            "{}, and a NATURAL join would compare it: join with ON or USING instead",
            listed.column(column)
        ));
    }
    let resolves_to = |qualifier: &str| -> Vec<&Listed> {
        let relations = statement.resolve(qualifier);
        listed
            .iter()
            .filter(|listed| {
                relations
                    .iter()
                    .any(|relation| std::ptr::eq(*relation, listed.relation))
            })
            .collect()
    };

    for reference in &statement.column_refs {
        match reference {
            ColumnRef {
                qualifier: None,
                name: None,
            } => {
                if let Some((listed, column)) = first_exposed(&listed) {
                    return Err(format!(
                        "{}, and `*` would include it: list the columns you need instead",
                        listed.column(column)
                    ));
                }
            }
            ColumnRef {
                qualifier: Some(qualifier),
                name: None,
            } => {
                if let Some((listed, column)) = first_exposed(resolves_to(qualifier)) {
                    return Err(format!(
                        "{}, and `{qualifier}.*` would include it: list the columns you need \
                         instead",
                        listed.column(column)
                    ));
                }
            }
            ColumnRef {
                qualifier,
                name: Some(name),
            } => {
                let candidates: Vec<&Listed> = match qualifier {
                    Some(qualifier) => resolves_to(qualifier),
                    None => listed.iter().collect(),
                };
                if let Some(listed) = candidates.iter().find(|listed| listed.denies(name)) {
                    return Err(format!(
                        "{}: leave it out of the query",
                        listed.column(name)
                    ));
                }
                // `e` in `SELECT e FROM employees e`, or `hr.employees` used as a value.
                let whole_row = match qualifier {
                    Some(qualifier) => format!("{qualifier}.{name}"),
                    None => name.clone(),
                };
                if let Some((listed, column)) = first_exposed(resolves_to(&whole_row)) {
                    return Err(format!(
                        "{}, and the whole-row reference `{whole_row}` would include it: list \
                         the columns you need instead",
                        listed.column(column)
                    ));
                }
            }
        }
    }
    Ok(())
}

fn first_exposed<'l, 'a>(
    listed: impl IntoIterator<Item = &'l Listed<'a>>,
) -> Option<(&'l Listed<'a>, &'a str)> {
    listed
        .into_iter()
        .find_map(|listed| listed.exposed().map(|column| (listed, column)))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::path::Path;

    use querygate_policy::testing::{self, cases};

    use super::*;

    const SCHEMA: &str =
        "CREATE TABLE public.employees (id integer, name text, ssn text, salary numeric);
        CREATE TABLE public.departments (id integer, name text);";
    const CONFIG: &str = r#"{"columns": {"employees": ["ssn", "salary"]}}"#;

    fn with_schema(sql: &str) -> Verdict {
        DenyColumns::evaluate(
            &testing::statement_with_schema(sql, SCHEMA),
            &testing::context(CONFIG),
        )
    }

    fn without_schema(sql: &str) -> Verdict {
        DenyColumns::evaluate(&testing::statement(sql), &testing::context(CONFIG))
    }

    fn reason(verdict: Verdict) -> String {
        match verdict {
            Verdict::Reject(reason) => reason,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn cases_file() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        cases::run(
            &dir.join("../querygate.toml"),
            &dir.join("../schema.sql"),
            &dir.join("cases.toml"),
            &[("deny-columns", DenyColumns::evaluate)],
        );
    }

    #[test]
    fn qualified_and_unqualified_references() {
        assert_eq!(
            reason(with_schema("select e.ssn from employees e")),
            "column `employees.ssn` is not readable: leave it out of the query"
        );
        assert!(reason(with_schema("select salary from employees")).contains("`employees.salary`"));
        assert!(
            reason(with_schema(
                "select d.name from departments d, employees where ssn = ''"
            ))
            .contains("ssn")
        );
        assert_eq!(
            with_schema("select e.name, d.name from employees e join departments d on d.id = e.id"),
            Verdict::Allow
        );
    }

    #[test]
    fn a_qualifier_naming_another_relation_is_fine() {
        let schema = "CREATE TABLE public.employees (id integer, ssn text);
            CREATE TABLE public.people (id integer, ssn text);";
        let statement = testing::statement_with_schema(
            "select p.ssn from people p join employees e on e.id = p.id",
            schema,
        );
        assert_eq!(
            DenyColumns::evaluate(&statement, &testing::context(CONFIG)),
            Verdict::Allow
        );
    }

    #[test]
    fn wildcards_over_a_listed_relation() {
        assert!(reason(with_schema("select * from employees")).contains("`*` would include it"));
        assert!(
            reason(with_schema("select e.* from employees e")).contains("`e.*` would include it")
        );
        assert_eq!(
            with_schema("select d.* from departments d join employees e on e.id = d.id"),
            Verdict::Allow
        );
        assert_eq!(
            with_schema("select count(*) from employees"),
            Verdict::Allow,
            "count(*) reads no column"
        );
    }

    #[test]
    fn whole_row_references() {
        assert!(
            reason(with_schema("select e from employees e")).contains("whole-row reference `e`")
        );
        assert!(
            reason(with_schema("select row_to_json(employees) from employees"))
                .contains("`employees`")
        );
    }

    #[test]
    fn natural_joins_compare_unnamed_columns() {
        let reason = reason(with_schema(
            "select d.name from departments d natural join employees e",
        ));
        assert!(reason.contains("NATURAL join"), "{reason}");
        assert_eq!(
            with_schema("select d.name from departments d natural join departments x"),
            Verdict::Allow
        );
    }

    #[test]
    fn the_catalog_decides_for_known_relations() {
        let schema = "CREATE TABLE public.employees (id integer, name text);";
        let statement = testing::statement_with_schema("select * from employees", schema);
        assert_eq!(
            DenyColumns::evaluate(&statement, &testing::context(CONFIG)),
            Verdict::Allow
        );
    }

    #[test]
    fn unknown_relations_are_assumed_to_have_every_denied_column() {
        assert!(reason(without_schema("select * from employees")).contains("`employees.ssn`"));
        assert!(
            reason(without_schema("select e.salary from employees e"))
                .contains("`employees.salary`")
        );
        assert_eq!(without_schema("select name from employees"), Verdict::Allow);
    }

    #[test]
    fn schema_qualified_keys() {
        let config = r#"{"columns": {"hr.employees": ["ssn"]}}"#;
        let verdict =
            |sql: &str| DenyColumns::evaluate(&testing::statement(sql), &testing::context(config));
        assert!(matches!(
            verdict("select ssn from hr.employees"),
            Verdict::Reject(_)
        ));
        assert!(
            matches!(verdict("select ssn from employees"), Verdict::Reject(_)),
            "search path may find hr"
        );
        assert_eq!(verdict("select ssn from public.employees"), Verdict::Allow);
    }

    #[test]
    fn a_bad_config_rejects() {
        let verdict =
            DenyColumns::evaluate(&testing::statement("select 1"), &testing::context("{}"));
        assert_eq!(
            verdict,
            Verdict::Reject("invalid policy config: missing field `columns`".into())
        );
    }
}
