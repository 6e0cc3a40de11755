//! `tenant-scope`: every read of a tenant table only sees the current tenant's rows.
//!
//! Each reference to a tenant table in FROM or JOIN, at any depth (subqueries, WITH bodies,
//! joins, LATERAL, subqueries in expressions), is replaced by a filtered subquery under the same
//! name:
//!
//! ```sql
//! SELECT e.name FROM employees e
//! -- becomes
//! SELECT e.name FROM (SELECT * FROM employees WHERE employees.tenant_id = 'acme') AS e
//! ```
//!
//! The column is qualified inside the subquery so that it can never resolve to a column of an
//! enclosing query (a correlated reference that would filter on the wrong row). The value is a
//! string literal, quotes doubled; it comes from the configuration or from the context (the MCP
//! client's name, or the database user).
//!
//! Which tables are tenant tables: those listed in `tables`, or, without that setting, every
//! relation whose catalog columns include the tenant column. Fail-closed choices:
//! - without `tables`, a relation the catalog does not know is rejected: the policy cannot tell
//!   whether it holds tenant data;
//! - an empty tenant value (say, a client that sent no name) is rejected;
//! - a statement too deep to read is rejected.
//!
//! WITH names are not tables and are left alone, with PostgreSQL's scoping: in
//! `WITH employees AS (SELECT * FROM employees)` the inner `employees` is the table and is
//! filtered. A reference written schema-qualified (`hr.employees.name`) stops resolving once the
//! table is replaced, and PostgreSQL then refuses the statement, which fails closed. Dynamic SQL
//! functions (`query_to_xml`) would bypass any rewrite: keep them out with `function-allowlist`.

use querygate_policy::ast::{identifier, replace_tables, select_from};
use querygate_policy::sqlparser::ast::{
    BinaryOperator, Expr, SelectItem, TableAlias, TableFactor, Value, WildcardAdditionalOptions,
};
use querygate_policy::{
    Context, Policy, Relation, RelationExt, Statement, StatementExt, StatementKind, Verdict,
};
use serde::Deserialize;

/// `[policy.config]` of `tenant-scope`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The tenant column, e.g. `tenant_id`.
    column: String,
    /// The tenant, written in the configuration.
    value: Option<String>,
    /// Where to take the tenant from instead.
    value_from: Option<ValueFrom>,
    /// The tenant tables (`employees` or `hr.employees`). Default: every relation whose catalog
    /// columns include `column`.
    tables: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ValueFrom {
    ClientName,
    DatabaseUser,
}

/// The `tenant-scope` policy.
pub struct TenantScope;

impl Policy for TenantScope {
    fn evaluate(statement: &Statement, context: &Context) -> Verdict {
        match scope(statement, context) {
            Ok(verdict) => verdict,
            Err(reason) => Verdict::Reject(reason),
        }
    }
}

querygate_policy::export_policy!(TenantScope);

fn scope(statement: &Statement, context: &Context) -> Result<Verdict, String> {
    let config: Config = querygate_policy::config(context)?;
    let tenant = tenant(&config, context)?;
    if config.column.is_empty() {
        return Err("invalid policy config: `column` is empty".into());
    }
    if statement.kind == StatementKind::Show {
        return Ok(Verdict::Allow);
    }
    let mut tree = statement.ast()?;
    let rewriter = Rewriter {
        statement,
        config: &config,
        tenant: &tenant,
    };
    replace_tables(&mut tree, |parts, table| {
        Ok(rewriter
            .is_tenant_table(parts)?
            .then(|| rewriter.filtered(table.clone())))
    })?;
    Ok(querygate_policy::ast::rewrite(statement, &tree))
}

fn tenant(config: &Config, context: &Context) -> Result<String, String> {
    let (tenant, source) = match (&config.value, config.value_from) {
        (Some(value), None) => (value.clone(), "the configured `value`"),
        (None, Some(ValueFrom::ClientName)) => (context.client_name.clone(), "the client name"),
        (None, Some(ValueFrom::DatabaseUser)) => {
            (context.database_user.clone(), "the database user")
        }
        _ => {
            return Err(
                "invalid policy config: set exactly one of `value` and `value_from`".into(),
            );
        }
    };
    if tenant.is_empty() {
        return Err(format!(
            "no tenant to scope the statement to: {source} is empty"
        ));
    }
    Ok(tenant)
}

struct Rewriter<'a> {
    statement: &'a Statement,
    config: &'a Config,
    tenant: &'a str,
}

impl Rewriter<'_> {
    /// Whether the table `parts` (folded, schema first) must be filtered.
    fn is_tenant_table(&self, parts: &[String]) -> Result<bool, String> {
        let (name, schema) = match parts {
            [schema @ .., name] => (name, schema.last()),
            [] => return Ok(false),
        };
        let written = parts.join(".");
        if let Some(tables) = &self.config.tables {
            return Ok(tables.iter().any(|table| named(name, schema, table)));
        }
        let relation = self.statement.relations.iter().find(|relation| {
            relation.name.eq_ignore_ascii_case(name)
                && match (schema, &relation.schema) {
                    (None, None) => true,
                    (Some(wanted), Some(written)) => written.eq_ignore_ascii_case(wanted),
                    _ => false,
                }
        });
        match relation {
            Some(relation @ Relation { known: true, .. }) => {
                Ok(relation.has_column(&self.config.column))
            }
            _ => Err(format!(
                "table `{written}` is not in querygate's catalog, so `tenant-scope` cannot tell \
                 whether it holds tenant data: give querygate the schema, or list the tenant \
                 tables in the policy's `tables` setting"
            )),
        }
    }

    /// `(SELECT * FROM <table> WHERE <table>.<column> = '<tenant>') AS <alias or table>`.
    fn filtered(&self, mut table: TableFactor) -> TableFactor {
        let TableFactor::Table { name, alias, .. } = &mut table else {
            return table;
        };
        let Some(table_name) = name.0.last().and_then(|part| part.as_ident()).cloned() else {
            return table;
        };
        let alias = alias.take().unwrap_or_else(|| TableAlias {
            explicit: true,
            name: table_name.clone(),
            columns: Vec::new(),
            at: None,
        });
        let condition = Expr::BinaryOp {
            left: Box::new(Expr::CompoundIdentifier(vec![
                table_name,
                identifier(&self.config.column),
            ])),
            op: BinaryOperator::Eq,
            right: Box::new(Expr::value(Value::SingleQuotedString(
                self.tenant.to_owned(),
            ))),
        };
        TableFactor::Derived {
            lateral: false,
            subquery: Box::new(select_from(
                vec![SelectItem::Wildcard(WildcardAdditionalOptions::default())],
                table,
                Some(condition),
            )),
            alias: Some(alias),
            sample: None,
        }
    }
}

/// True when the configured `table` (`name` or `schema.name`) designates the written `name`
/// (with its written `schema`, if any); ASCII case is ignored, like `RelationExt::is_named`.
fn named(name: &str, schema: Option<&String>, table: &str) -> bool {
    match table.rsplit_once('.') {
        None => table.eq_ignore_ascii_case(name),
        Some((wanted_schema, wanted)) => {
            wanted.eq_ignore_ascii_case(name)
                && schema.is_none_or(|schema| schema.eq_ignore_ascii_case(wanted_schema))
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::path::Path;

    use querygate_policy::Context;
    use querygate_policy::testing::{self, cases};

    use super::*;

    const SCHEMA: &str = "CREATE TABLE public.employees (id integer, name text, tenant_id text);
        CREATE TABLE public.departments (id integer, name text, tenant_id text);
        CREATE TABLE public.countries (code text, name text);";
    const ACME: &str = r#"{"column": "tenant_id", "value": "acme"}"#;

    fn evaluate(sql: &str, config: &str) -> Verdict {
        TenantScope::evaluate(
            &testing::statement_with_schema(sql, SCHEMA),
            &testing::context(config),
        )
    }

    fn rewritten(sql: &str) -> String {
        match evaluate(sql, ACME) {
            Verdict::Rewrite(sql) => sql,
            other => panic!("`{sql}`: expected a rewrite, got {other:?}"),
        }
    }

    fn rejected(verdict: Verdict) -> String {
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
            &[("tenant-scope", TenantScope::evaluate)],
        );
    }

    #[test]
    fn a_table_keeps_its_name_or_alias() {
        assert_eq!(
            rewritten("select name from employees"),
            "SELECT name FROM (SELECT * FROM employees WHERE employees.tenant_id = 'acme') AS employees"
        );
        assert_eq!(
            rewritten("select e.name from employees e"),
            "SELECT e.name FROM (SELECT * FROM employees WHERE employees.tenant_id = 'acme') e"
        );
        assert_eq!(
            rewritten("select x.a from employees as x (a, b)"),
            "SELECT x.a FROM (SELECT * FROM employees WHERE employees.tenant_id = 'acme') AS x (a, b)"
        );
    }

    #[test]
    fn tables_without_the_column_are_left_alone() {
        assert_eq!(evaluate("select * from countries", ACME), Verdict::Allow);
    }

    #[test]
    fn every_depth_is_scoped() {
        let sql = rewritten(
            "select * from countries c where exists (select 1 from departments d \
             join lateral (select * from employees) e on true where d.name = c.name)",
        );
        assert_eq!(sql.matches("tenant_id = 'acme'").count(), 2, "{sql}");
    }

    #[test]
    fn the_value_is_a_string_literal() {
        let config = r#"{"column": "tenant_id", "value": "o'brien"}"#;
        let Verdict::Rewrite(sql) = evaluate("select 1 from employees", config) else {
            panic!("expected a rewrite");
        };
        assert!(sql.contains("employees.tenant_id = 'o''brien'"), "{sql}");
    }

    #[test]
    fn the_value_can_come_from_the_context() {
        let statement = testing::statement_with_schema("select * from employees", SCHEMA);
        let context = Context {
            client_name: "globex".into(),
            database_user: "acme_reader".into(),
            ..testing::context(r#"{"column": "tenant_id", "value_from": "client-name"}"#)
        };
        let Verdict::Rewrite(sql) = TenantScope::evaluate(&statement, &context) else {
            panic!("expected a rewrite");
        };
        assert!(sql.contains("= 'globex'"), "{sql}");
        let context = Context {
            config: r#"{"column": "tenant_id", "value_from": "database-user"}"#.into(),
            ..context
        };
        let Verdict::Rewrite(sql) = TenantScope::evaluate(&statement, &context) else {
            panic!("expected a rewrite");
        };
        assert!(sql.contains("= 'acme_reader'"), "{sql}");
        let context = Context {
            database_user: String::new(),
            ..context
        };
        assert_eq!(
            rejected(TenantScope::evaluate(&statement, &context)),
            "no tenant to scope the statement to: the database user is empty"
        );
    }

    #[test]
    fn value_and_value_from_are_exclusive() {
        let both = r#"{"column": "tenant_id", "value": "a", "value_from": "client-name"}"#;
        assert!(
            rejected(evaluate("select 1", both))
                .contains("exactly one of `value` and `value_from`")
        );
        let neither = r#"{"column": "tenant_id"}"#;
        assert!(rejected(evaluate("select 1", neither)).contains("exactly one"));
        let bad = r#"{"column": "tenant_id", "value_from": "hostname"}"#;
        assert!(
            rejected(evaluate("select 1", bad))
                .starts_with("invalid policy config: unknown variant `hostname`")
        );
    }

    #[test]
    fn unknown_tables_are_rejected_unless_tables_are_listed() {
        assert!(
            rejected(evaluate("select * from audit_log", ACME))
                .starts_with("table `audit_log` is not in")
        );
        let listed =
            r#"{"column": "tenant_id", "value": "acme", "tables": ["audit_log", "hr.people"]}"#;
        assert_eq!(
            evaluate("select * from audit_log, employees, hr.people, public.people", listed),
            Verdict::Rewrite(
                "SELECT * FROM (SELECT * FROM audit_log WHERE audit_log.tenant_id = 'acme') AS audit_log, \
                 employees, (SELECT * FROM hr.people WHERE people.tenant_id = 'acme') AS people, public.people"
                    .into()
            )
        );
    }

    #[test]
    fn a_quoted_column_is_quoted() {
        let schema = r#"CREATE TABLE public.t (id integer, "Tenant" text);"#;
        let statement = testing::statement_with_schema("select id from t", schema);
        let verdict = TenantScope::evaluate(
            &statement,
            &testing::context(r#"{"column": "Tenant", "value": "a"}"#),
        );
        assert_eq!(
            verdict,
            Verdict::Rewrite(
                r#"SELECT id FROM (SELECT * FROM t WHERE t."Tenant" = 'a') AS t"#.into()
            )
        );
    }

    #[test]
    fn show_is_allowed() {
        assert_eq!(evaluate("show search_path", ACME), Verdict::Allow);
    }
}
