//! What the database's catalog says about its relations: the policy [`Catalog`] (every
//! relation and its columns), and the `list_tables` / `describe_table` answers.
//!
//! "Visible" means what the connecting role could query: schemas it has `USAGE` on, and
//! relations on which it may `SELECT` at least one column. Tables, views, materialized views,
//! foreign tables and partitioned tables count; `pg_toast` and other sessions' temporary
//! schemas do not. These queries are querygate's own, with bound parameters, and run like any
//! statement: read-only, under the statement timeout, rolled back.

use super::{Database, DbError, Session};
use crate::sql::{Catalog, Column, Origin, Reach, Source};
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
            // First, so that a change committed while the rest loads makes the catalog stale.
            let stamp: String = match s.query(&stamp_sql(), &[]).await?.first() {
                Some(row) => row.get(0),
                None => String::new(),
            };
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
            load_guard_facts(&s, &mut catalog).await?;
            catalog.freshness = stamp;
            s.finish(catalog).await
        })
        .await
        .inspect(|catalog| {
            *self.reset.write().unwrap_or_else(|e| e.into_inner()) =
                super::hygiene::Reset::for_extensions(
                    catalog.extension_schema("dblink"),
                    catalog.extension_schema("postgres_fdw"),
                );
        })
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

/// Functions that are not audited built-ins: every function created after initdb (the first
/// normal object id is 16384), every extension member, with its extension; and, marked by a
/// NULL extension and `true`, built-ins of this server that the audit may not know.
const FUNCTIONS: &str = "\
    SELECT n.nspname::text, p.proname::text, e.extname::text, p.oid < 16384 \
    FROM pg_catalog.pg_proc p \
    JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
    LEFT JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass \
         AND d.objid = p.oid AND d.deptype = 'e' \
         AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass \
    LEFT JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid \
    WHERE n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'";

/// Operators created after initdb, with the function each runs.
const OPERATORS: &str = "\
    SELECT n.nspname::text, o.oprname::text, pn.nspname::text, p.proname::text \
    FROM pg_catalog.pg_operator o \
    JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace \
    JOIN pg_catalog.pg_proc p ON p.oid = o.oprcode \
    JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace \
    WHERE o.oid >= 16384";

/// Types created after initdb and the functions using them runs that are not built-ins:
/// input/output, casts from or to them, comparison support of their operator classes,
/// operators on them, and the functions their domain constraints call.
const TYPES: &str = "\
    SELECT DISTINCT tn.nspname::text, t.typname::text, fn.nspname::text, f.proname::text \
    FROM pg_catalog.pg_type t \
    JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace \
    CROSS JOIN LATERAL ( \
        SELECT unnest(ARRAY[t.typinput, t.typoutput, t.typreceive, t.typsend, t.typmodin, \
                            t.typmodout, t.typanalyze]::oid[]) AS fn \
        UNION SELECT c.castfunc FROM pg_catalog.pg_cast c \
              WHERE c.castsource = t.oid OR c.casttarget = t.oid \
        UNION SELECT ap.amproc FROM pg_catalog.pg_opclass oc \
              JOIN pg_catalog.pg_amproc ap ON ap.amprocfamily = oc.opcfamily \
              WHERE oc.opcintype = t.oid \
        UNION SELECT o.oprcode FROM pg_catalog.pg_operator o \
              WHERE o.oprleft = t.oid OR o.oprright = t.oid \
        UNION SELECT d.refobjid FROM pg_catalog.pg_constraint con \
              JOIN pg_catalog.pg_depend d \
                ON d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass \
               AND d.objid = con.oid \
               AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass \
              WHERE con.contypid = t.oid \
    ) used \
    JOIN pg_catalog.pg_proc f ON f.oid = used.fn \
    JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace \
    WHERE t.oid >= 16384 AND f.oid >= 16384";

/// What reading a relation created after initdb reaches, as PostgreSQL records it in
/// `pg_depend`: a view's rewrite rule (functions, operators, types, other relations), row-level
/// security policies' expressions, columns of types created after initdb, and a foreign
/// table's wrapper handler. Materialized views are plain reads.
const RELATION_REACH: &str = "\
    WITH deps AS ( \
        SELECT r.ev_class AS rel, d.refclassid, d.refobjid \
        FROM pg_catalog.pg_rewrite r \
        JOIN pg_catalog.pg_class v ON v.oid = r.ev_class AND v.relkind = 'v' \
        JOIN pg_catalog.pg_depend d \
          ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid \
        WHERE NOT (d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                   AND d.refobjid = r.ev_class) \
        UNION \
        SELECT pol.polrelid, d.refclassid, d.refobjid \
        FROM pg_catalog.pg_policy pol \
        JOIN pg_catalog.pg_depend d \
          ON d.classid = 'pg_catalog.pg_policy'::pg_catalog.regclass AND d.objid = pol.oid \
        UNION \
        SELECT a.attrelid, 'pg_catalog.pg_type'::pg_catalog.regclass, a.atttypid \
        FROM pg_catalog.pg_attribute a \
        WHERE a.attnum > 0 AND NOT a.attisdropped AND a.atttypid >= 16384 \
        UNION \
        SELECT ft.ftrelid, 'pg_catalog.pg_proc'::pg_catalog.regclass, w.fdwhandler \
        FROM pg_catalog.pg_foreign_table ft \
        JOIN pg_catalog.pg_foreign_server fs ON fs.oid = ft.ftserver \
        JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = fs.srvfdw \
        WHERE w.fdwhandler <> 0 \
    ) \
    SELECT rn.nspname::text, rc.relname::text, \
           CASE deps.refclassid \
             WHEN 'pg_catalog.pg_proc'::pg_catalog.regclass THEN 'function' \
             WHEN 'pg_catalog.pg_operator'::pg_catalog.regclass THEN 'operator' \
             WHEN 'pg_catalog.pg_type'::pg_catalog.regclass THEN 'type' \
             ELSE 'relation' END, \
           COALESCE(pn.nspname, opn.nspname, tn.nspname, cn.nspname)::text, \
           COALESCE(p.proname, o.oprname, t.typname, c.relname)::text \
    FROM deps \
    JOIN pg_catalog.pg_class rc ON rc.oid = deps.rel \
    JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace \
    LEFT JOIN pg_catalog.pg_proc p \
      ON deps.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND p.oid = deps.refobjid \
    LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace \
    LEFT JOIN pg_catalog.pg_operator o \
      ON deps.refclassid = 'pg_catalog.pg_operator'::pg_catalog.regclass \
     AND o.oid = deps.refobjid \
    LEFT JOIN pg_catalog.pg_namespace opn ON opn.oid = o.oprnamespace \
    LEFT JOIN pg_catalog.pg_type t \
      ON deps.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass AND t.oid = deps.refobjid \
    LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace \
    LEFT JOIN pg_catalog.pg_class c \
      ON deps.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.oid = deps.refobjid \
    LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace \
    WHERE rc.oid >= 16384 \
      AND COALESCE(p.oid, o.oid, t.oid, c.oid) IS NOT NULL";

/// Installed extensions and their schemas.
const EXTENSIONS: &str = "\
    SELECT e.extname::text, n.nspname::text \
    FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace";

/// What the guard needs beyond relations: functions, operators, types, what relations reach,
/// extensions (see `sql::reach`), and the catalog's freshness key.
async fn load_guard_facts(s: &Session<'_>, catalog: &mut Catalog) -> Result<(), DbError> {
    catalog.set_source(Source::Database);
    for row in s.query(FUNCTIONS, &[]).await? {
        let (schema, name): (String, String) = (row.get(0), row.get(1));
        let origin = match (row.get::<_, Option<String>>(2), row.get::<_, bool>(3)) {
            (Some(extension), _) => Origin::Extension(extension),
            (None, true) if crate::sql::is_audited_builtin(&schema, &name) => continue,
            (None, true) => Origin::UnauditedBuiltIn,
            (None, false) => Origin::User,
        };
        catalog.insert_function(&schema, &name, origin);
    }
    for row in s.query(OPERATORS, &[]).await? {
        let (schema, symbol, fschema, fname): (String, String, String, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        catalog.insert_operator(&schema, &symbol, (&fschema, &fname));
    }
    for row in s.query(TYPES, &[]).await? {
        let (schema, name): (String, String) = (row.get(0), row.get(1));
        catalog.insert_type_reach(
            &schema,
            &name,
            Reach::Function {
                schema: Some(row.get(2)),
                name: row.get(3),
            },
        );
    }
    for row in s.query(RELATION_REACH, &[]).await? {
        let (schema, name, kind): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        let (target_schema, target): (Option<String>, String) = (row.get(3), row.get(4));
        let what = match kind.as_str() {
            "function" => Reach::Function {
                schema: target_schema,
                name: target,
            },
            "operator" => Reach::Operator {
                schema: target_schema,
                symbol: target,
            },
            "type" => Reach::Type {
                schema: target_schema,
                name: target,
            },
            _ => Reach::Relation {
                schema: target_schema,
                name: target,
            },
        };
        catalog.insert_relation_reach(&schema, &name, what);
    }
    for row in s.query(EXTENSIONS, &[]).await? {
        let (name, schema): (String, String) = (row.get(0), row.get(1));
        catalog.insert_extension(&name, &schema);
    }
    Ok(())
}

/// What [`freshness_check`] compares: the snapshot of committed transactions, then the key.
fn stamp_sql() -> String {
    format!("SELECT pg_catalog.txid_current_snapshot()::text || '|' || ({FRESHNESS})")
}

/// The text of the error a stale catalog raises (see [`freshness_check`]).
pub(crate) const STALE_CATALOG: &str = "querygate-catalog-changed";

/// A statement that fails when the catalog is no longer the one `freshness` (a loaded
/// catalog's stamp) describes, and costs almost nothing when it is: if no transaction that
/// could write has committed since (the same snapshot), nothing changed; otherwise the key of
/// the catalogs the guard reads is computed and compared. Sent with the session limits before
/// the statement, in the same round trip, it stops the statement from running on a decision
/// made with a stale catalog (see `mcp`, which then reloads and decides again).
///
/// The failing branch is not a constant, so the planner does not fold it in advance. When the
/// check passes it answers the snapshot it saw: the caller stamps the same catalog with it
/// ([`QueryResult::catalog_snapshot`](super::QueryResult)), so that after any write elsewhere in
/// the cluster the key is computed once, not on every later call.
pub(crate) fn freshness_check(freshness: &str) -> Option<String> {
    let (snapshot, key) = freshness.split_once('|')?;
    let literal = |s: &str| format!("'{}'", s.replace('\'', "''"));
    Some(format!(
        "EXECUTE {FRESHNESS_STATEMENT}({}, {})",
        literal(snapshot),
        literal(key)
    ))
}

/// The name of the session's prepared freshness check ([`freshness_prepare`]).
const FRESHNESS_STATEMENT: &str = "querygate_catalog_freshness";

/// Prepares the freshness check once per connection (sent when it opens): PostgreSQL plans a
/// query's every subquery even when a cheap condition decides, and planning the key's ten
/// catalog scans took 1.4–2.6 ms per call; a prepared statement is planned once. User SQL
/// cannot reach it: the guard refuses PREPARE, EXECUTE, DEALLOCATE and DISCARD.
pub(crate) fn freshness_prepare() -> String {
    format!(
        "PREPARE {FRESHNESS_STATEMENT}(text, text) AS \
         SELECT CASE WHEN pg_catalog.txid_current_snapshot()::text = $1 \
                          THEN pg_catalog.txid_current_snapshot()::text \
                     WHEN ({FRESHNESS}) = $2 THEN pg_catalog.txid_current_snapshot()::text \
                     ELSE ('{STALE_CATALOG} ' || ({FRESHNESS}))::int::text END"
    )
}

/// A key that changes whenever anything the guard reads from the catalog changes: every row
/// that DDL inserts or updates in these catalogs carries the id of the transaction that wrote
/// it (`xmin`), so their sum and count move with any CREATE, ALTER, DROP or REPLACE of a
/// function, operator, view, policy, type, cast, extension or schema, and with a role's or
/// database's settings (the search path).
pub(crate) const FRESHNESS: &str = "\
    SELECT (SELECT count(*) || '.' || sum(xmin::text::bigint) FROM pg_catalog.pg_proc) \
    || '/' || (SELECT count(*) || '.' || sum(xmin::text::bigint) FROM pg_catalog.pg_operator) \
    || '/' || (SELECT count(*) || '.' || sum(xmin::text::bigint) FROM pg_catalog.pg_rewrite) \
    || '/' || (SELECT count(*) || '.' || COALESCE(sum(xmin::text::bigint), 0) FROM pg_catalog.pg_policy) \
    || '/' || (SELECT count(*) || '.' || sum(xmin::text::bigint) FROM pg_catalog.pg_type) \
    || '/' || (SELECT count(*) || '.' || sum(xmin::text::bigint) FROM pg_catalog.pg_cast) \
    || '/' || (SELECT count(*) || '.' || sum(xmin::text::bigint) FROM pg_catalog.pg_class) \
    || '/' || (SELECT count(*) || '.' || sum(xmin::text::bigint) FROM pg_catalog.pg_namespace) \
    || '/' || (SELECT count(*) || '.' || sum(xmin::text::bigint) FROM pg_catalog.pg_extension) \
    || '/' || (SELECT count(*) || '.' || COALESCE(sum(xmin::text::bigint), 0) FROM pg_catalog.pg_db_role_setting)";
