//! What the database's catalog says about its relations: the policy [`Catalog`] (every
//! relation and its columns), and the `list_tables` / `describe_table` answers.
//!
//! "Visible" means what the connecting role could query: schemas it has `USAGE` on, and
//! relations on which it may `SELECT` at least one column. Tables, views, materialized views,
//! foreign tables and partitioned tables count; `pg_toast` and other sessions' temporary
//! schemas do not. These queries are querygate's own, with bound parameters, and run like any
//! statement: read-only, under the statement timeout, rolled back.

use super::{Database, DbError, Session};
use crate::sql::{Catalog, Column};
use schemars::JsonSchema;
use serde::Serialize;

/// A relation in `list_tables`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TableInfo {
    pub schema: String,
    pub name: String,
    /// `table`, `view`, `materialized view`, `foreign table` or `partitioned table`.
    pub kind: String,
    /// The planner's row estimate, when the relation has been analysed.
    pub row_estimate: Option<i64>,
    pub comment: Option<String>,
}

/// A relation in `describe_table`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TableDescription {
    pub schema: String,
    pub name: String,
    pub kind: String,
    pub comment: Option<String>,
    pub columns: Vec<ColumnInfo>,
    /// Primary key columns in key order; empty when there is none.
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ColumnInfo {
    pub name: String,
    /// As `format_type` writes it: `integer`, `numeric(12,2)`, `character varying(80)`.
    pub data_type: String,
    pub nullable: bool,
    pub default: Option<String>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    /// `schema.table` of the referenced relation.
    pub references: String,
    pub referenced_columns: Vec<String>,
}

const RELATION_KINDS: &str = "c.relkind IN ('r', 'v', 'm', 'f', 'p')";
const VISIBLE: &str = "pg_catalog.has_schema_privilege(n.oid, 'USAGE') \
     AND pg_catalog.has_any_column_privilege(c.oid, 'SELECT')";
const KIND_NAME: &str = "CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' \
     WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' \
     ELSE 'partitioned table' END";

impl Database {
    /// Every visible relation with its columns, in every schema (`pg_catalog` and
    /// `information_schema` included), and the role's search path.
    pub async fn load_catalog(&self) -> Result<Catalog, DbError> {
        let sql = format!(
            "SELECT n.nspname::text, c.relname::text, a.attname::text, \
                    pg_catalog.format_type(a.atttypid, a.atttypmod) \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_catalog.pg_attribute a \
                    ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             WHERE {RELATION_KINDS} AND n.nspname <> 'pg_toast' \
               AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%' \
               AND {VISIBLE} \
             ORDER BY 1, 2, a.attnum"
        );
        self.run(async move |s: Session<'_>| {
            let rows = s.query(&sql, &[]).await?;
            let path = s
                .query("SELECT pg_catalog.current_schemas(false)::text[]", &[])
                .await?;
            let mut catalog = Catalog::default();
            let mut current: Option<(String, String, Vec<Column>)> = None;
            for row in rows {
                let (schema, name): (String, String) = (row.get(0), row.get(1));
                if current
                    .as_ref()
                    .is_none_or(|(s, n, _)| *s != schema || *n != name)
                {
                    if let Some((s, n, columns)) = current.take() {
                        catalog.insert(&s, &n, columns);
                    }
                    current = Some((schema, name, Vec::new()));
                }
                if let (Some((_, _, columns)), Some(column)) =
                    (current.as_mut(), row.get::<_, Option<String>>(2))
                {
                    columns.push(Column {
                        name: column,
                        data_type: row.get(3),
                    });
                }
            }
            if let Some((s, n, columns)) = current {
                catalog.insert(&s, &n, columns);
            }
            if let Some(row) = path.first() {
                catalog.set_search_path(row.get(0));
            }
            s.finish(catalog).await
        })
        .await
    }

    /// Visible relations of `schema`, or of every schema but the system ones when `None`.
    pub async fn list_tables(&self, schema: Option<&str>) -> Result<Vec<TableInfo>, DbError> {
        let sql = format!(
            "SELECT n.nspname::text, c.relname::text, {KIND_NAME}, \
                    CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END, \
                    pg_catalog.obj_description(c.oid, 'pg_class') \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE {RELATION_KINDS} AND {VISIBLE} \
               AND CASE WHEN $1::text IS NULL \
                        THEN n.nspname NOT IN ('pg_catalog', 'information_schema') \
                             AND n.nspname NOT LIKE 'pg\\_%' \
                        ELSE n.nspname = $1::text END \
             ORDER BY 1, 2"
        );
        let schema = schema.map(str::to_string);
        self.run(async move |s: Session<'_>| {
            let rows = s.query(&sql, &[&schema]).await?;
            let tables = rows
                .iter()
                .map(|row| TableInfo {
                    schema: row.get(0),
                    name: row.get(1),
                    kind: row.get(2),
                    row_estimate: row.get(3),
                    comment: row.get(4),
                })
                .collect();
            s.finish(tables).await
        })
        .await
    }

    /// Columns, primary key, foreign keys and comments of one relation. `table` is resolved
    /// as PostgreSQL resolves a name in SQL: `employees`, `hr.employees`, `"Mixed Case"`.
    pub async fn describe_table(&self, table: &str) -> Result<TableDescription, DbError> {
        let relation = format!(
            "SELECT c.oid, n.nspname::text, c.relname::text, {KIND_NAME}, \
                    pg_catalog.obj_description(c.oid, 'pg_class') \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = pg_catalog.to_regclass($1::text) AND {RELATION_KINDS} AND {VISIBLE}"
        );
        let columns = "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), \
                    NOT a.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid), \
                    pg_catalog.col_description(a.attrelid, a.attnum) \
             FROM pg_catalog.pg_attribute a \
             LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum";
        let names = |keys: &str, rel: &str| {
            format!(
                "ARRAY(SELECT a.attname::text FROM unnest(con.{keys}) WITH ORDINALITY k(num, ord) \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = con.{rel} AND a.attnum = k.num \
                 ORDER BY k.ord)"
            )
        };
        let constraints = format!(
            "SELECT con.conname::text, con.contype = 'p', {}, {}, \
                    (SELECT rn.nspname || '.' || rc.relname FROM pg_catalog.pg_class rc \
                     JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace \
                     WHERE rc.oid = con.confrelid) \
             FROM pg_catalog.pg_constraint con \
             WHERE con.conrelid = $1 AND con.contype IN ('p', 'f') \
             ORDER BY con.contype DESC, con.conname",
            names("conkey", "conrelid"),
            names("confkey", "confrelid"),
        );
        let table = table.to_string();
        self.run(async move |s: Session<'_>| {
            let found = s.query(&relation, &[&table]).await?;
            let Some(rel) = found.first() else {
                return Err(DbError::NotFound { table });
            };
            let oid: u32 = rel.get(0);
            let mut description = TableDescription {
                schema: rel.get(1),
                name: rel.get(2),
                kind: rel.get(3),
                comment: rel.get(4),
                columns: Vec::new(),
                primary_key: Vec::new(),
                foreign_keys: Vec::new(),
            };
            for row in s.query(columns, &[&oid]).await? {
                description.columns.push(ColumnInfo {
                    name: row.get(0),
                    data_type: row.get(1),
                    nullable: row.get(2),
                    default: row.get(3),
                    comment: row.get(4),
                });
            }
            for row in s.query(&constraints, &[&oid]).await? {
                if row.get::<_, bool>(1) {
                    description.primary_key = row.get(2);
                } else {
                    description.foreign_keys.push(ForeignKey {
                        name: row.get(0),
                        columns: row.get(2),
                        references: row.get::<_, Option<String>>(4).unwrap_or_default(),
                        referenced_columns: row.get(3),
                    });
                }
            }
            s.finish(description).await
        })
        .await
    }
}
