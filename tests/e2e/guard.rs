//! The catalog-verified guard, attacked as a superuser with no policies: side effects that the
//! statement's text does not name (user functions, views over them, operators, casts to
//! domains, row-level security policies, built-ins that run SQL given as text) are refused
//! through `serve`, and after every call nothing changed: no row in another table, no advisory
//! lock, replication slot, large object, statistics reset or new or lost backend. The same
//! decisions come out of `querygate check --schema` on a `pg_dump --schema-only` of the same
//! database. Legitimate statements, an allowed extension's functions (`pg_trgm`) and an
//! allow-listed user function still run.

use crate::serve::{Client, call, connect, demo_postgres, error_text, structured};
use crate::support::{querygate, stderr, stdout};
use querygate::localpg::LocalPostgres;
use rmcp::model::ProtocolVersion;
use serde_json::json;
use std::path::Path;

/// Objects whose use has a side effect the statement's text does not name. `audit_touch`
/// writes a row through dblink (committed on its own connection, so ROLLBACK cannot undo it);
/// `lock_it` is labelled STABLE and takes a session advisory lock.
const FIXTURES: &str = r#"
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE TABLE public.qg_conn (c text);
CREATE TABLE public.audit_log (id serial PRIMARY KEY, note text);
CREATE FUNCTION public.audit_touch() RETURNS integer LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM public.dblink_exec((SELECT c FROM public.qg_conn),
                             'INSERT INTO public.audit_log (note) VALUES (''touched'')');
  RETURN 1;
END $f$;
CREATE FUNCTION public.lock_it() RETURNS integer STABLE LANGUAGE sql AS
  $f$ SELECT 1 FROM (SELECT pg_catalog.pg_advisory_lock(4242)) AS l $f$;
CREATE FUNCTION public."Quoted Touch"() RETURNS integer LANGUAGE sql AS
  $f$ SELECT public.audit_touch() $f$;
CREATE SCHEMA maint;
CREATE FUNCTION maint.refresh() RETURNS integer LANGUAGE sql AS
  $f$ SELECT public.audit_touch() $f$;
CREATE FUNCTION public.lower(integer) RETURNS text LANGUAGE sql AS
  $f$ SELECT public.audit_touch()::text $f$;
CREATE FUNCTION public.full_name(first text) RETURNS text IMMUTABLE LANGUAGE sql AS
  $f$ SELECT pg_catalog.upper(first) $f$;
CREATE VIEW public.v_touch AS SELECT public.audit_touch() AS t;
CREATE VIEW public.v_over AS SELECT t FROM public.v_touch;
CREATE VIEW public.v_over_over AS SELECT * FROM public.v_over;
CREATE VIEW public.v_lock AS SELECT public.lock_it() AS l;
CREATE VIEW public.v_plain AS SELECT name FROM public.employees;
CREATE FUNCTION public.op_touch(integer, integer) RETURNS boolean LANGUAGE sql AS
  $f$ SELECT public.audit_touch() = 1 $f$;
CREATE OPERATOR public.=== (FUNCTION = public.op_touch, LEFTARG = integer, RIGHTARG = integer);
CREATE VIEW public.v_op AS SELECT 1 === 1 AS b;
CREATE DOMAIN public.touchy AS integer CHECK (public.audit_touch() = 1);
CREATE TABLE public.rls_t (id integer);
INSERT INTO public.rls_t VALUES (1);
CREATE POLICY touch_on_read ON public.rls_t USING (public.audit_touch() = 1);
ALTER TABLE public.rls_t ENABLE ROW LEVEL SECURITY;
"#;

/// Statements that must be refused, each reaching a side effect in another shape.
const ATTACKS: &[&str] = &[
    "SELECT audit_touch()",
    "SELECT public.audit_touch()",
    "SELECT \"audit_touch\"()",
    "SELECT \"public\".\"audit_touch\"()",
    "SELECT * FROM audit_touch()",
    "SELECT * FROM ROWS FROM (audit_touch()) AS r(x)",
    "SELECT * FROM employees e, LATERAL (SELECT audit_touch() AS t) AS x LIMIT 1",
    "WITH c AS (SELECT audit_touch() AS t) SELECT t FROM c",
    "SELECT (SELECT (SELECT audit_touch()))",
    "SELECT name FROM employees WHERE id = (SELECT audit_touch())",
    "SELECT lock_it()",
    "SELECT * FROM lock_it()",
    "SELECT \"Quoted Touch\"()",
    "SELECT maint.refresh()",
    "SELECT lower(1)",
    "SELECT lower(name) FROM employees LIMIT 1",
    "SELECT * FROM v_touch",
    "SELECT t FROM public.v_over",
    "SELECT * FROM v_over_over",
    "SELECT * FROM (SELECT * FROM v_over_over) AS s",
    "WITH x AS (SELECT * FROM v_over) SELECT * FROM x",
    "SELECT * FROM v_lock",
    "SELECT * FROM v_op",
    "SELECT 1 === 1",
    "SELECT 1 OPERATOR(public.===) 1",
    "SELECT id FROM employees WHERE id === 1 LIMIT 1",
    "SELECT 1::touchy",
    "SELECT CAST(1 AS public.touchy)",
    "SELECT * FROM rls_t",
    "SELECT ts_stat('SELECT to_tsvector(''simple'', public.audit_touch()::text)')",
    "SELECT * FROM ts_stat('SELECT to_tsvector(''simple'', note) FROM audit_log')",
    "SELECT query_to_xml('SELECT public.audit_touch()', true, false, '')",
    "SELECT ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, ''b''::tsquery')",
    "SELECT dblink_exec('dbname=postgres', 'DELETE FROM audit_log')",
    "SELECT pg_catalog.pg_advisory_lock(1)",
    "SELECT lo_create(0)",
    "SELECT pg_create_physical_replication_slot('qg_slot')",
    "SELECT pg_stat_reset()",
    "SELECT pg_terminate_backend(pg_backend_pid())",
    "SELECT setseed(0.5)",
    "SELECT pg_logical_emit_message(false, 'qg', 'x')",
];

/// Statements that must run: built-ins, the allowed extension, the allow-listed function, a
/// view over plain reads.
const LEGITIMATE: &[&str] = &[
    "SELECT count(*) FROM employees",
    "SELECT upper(name) || '!' FROM employees ORDER BY 1 LIMIT 3",
    "SELECT name FROM employees WHERE name LIKE 'A%' AND id BETWEEN 1 AND 100 LIMIT 3",
    "SELECT CASE id WHEN 1 THEN 'one' ELSE 'other' END FROM employees LIMIT 2",
    "SELECT similarity(name, 'Ann') AS s FROM employees ORDER BY s DESC LIMIT 3",
    "SELECT name FROM employees WHERE name % 'Anna' LIMIT 3",
    "SELECT full_name(name) FROM employees LIMIT 2",
    "SELECT public.full_name('x')",
    "SELECT * FROM v_plain LIMIT 2",
    "SELECT 1::integer, '2'::numeric, now()::date IS NOT NULL",
];

/// Everything a side effect could have left behind, as seen from a separate connection.
async fn state(admin: &tokio_postgres::Client) -> Vec<String> {
    let sql = "SELECT (SELECT count(*) FROM public.audit_log)::text, \
                      (SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory')::text, \
                      (SELECT count(*) FROM pg_catalog.pg_replication_slots)::text, \
                      (SELECT count(*) FROM pg_catalog.pg_largeobject_metadata)::text, \
                      (SELECT COALESCE(stats_reset::text, 'never') FROM pg_catalog.pg_stat_database \
                        WHERE datname = current_database()), \
                      (SELECT count(*) FROM pg_catalog.pg_stat_activity \
                        WHERE backend_type = 'client backend')::text";
    let row = admin.query_one(sql, &[]).await.expect("state query");
    (0..6).map(|i| row.get::<_, String>(i)).collect()
}

async fn fixtures(pg: &LocalPostgres) -> tokio_postgres::Client {
    let admin = pg.superuser_client().await.expect("superuser");
    admin.batch_execute(FIXTURES).await.expect("fixtures load");
    admin
        .execute(
            "INSERT INTO public.qg_conn VALUES ($1)",
            &[&pg.url("postgres", "postgres")],
        )
        .await
        .expect("dblink target");
    admin
}

fn write_config(dir: &Path, pg: &LocalPostgres) -> std::path::PathBuf {
    let text = format!(
        "[guard]\nallow_functions = [\"public.full_name\"]\nallow_extensions = [\"pg_trgm\"]\n\n\
         [cache]\ndir = \"{}\"\n\n[[database]]\nname = \"admin\"\nurl = \"{}\"\n",
        crate::support::cache_dir().display(),
        pg.url("postgres", "postgres")
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    );
    let path = dir.join("querygate.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

async fn query(client: &Client, sql: &str) -> rmcp::model::CallToolResult {
    call(client, "query", json!({"database": "admin", "sql": sql})).await
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_a_superuser_reaches_through_functions_views_operators_or_text_escapes() {
    let pg = demo_postgres().await;
    let admin = fixtures(&pg).await;
    // The attack works when the guard is not in the way: the fixtures do what they claim.
    admin
        .batch_execute("BEGIN; SELECT public.audit_touch(); ROLLBACK")
        .await
        .expect("touch");
    assert_eq!(
        state(&admin).await[0],
        "1",
        "dblink writes outside the transaction"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &pg);
    let dump = dir.path().join("schema.sql");
    let bin = querygate::localpg::find_bin_dir().expect("PostgreSQL binaries");
    let pg_dump = bin.join("pg_dump");
    let pg_dump = match pg_dump.exists() {
        true => pg_dump,
        false => "pg_dump".into(),
    };
    let pg_dump = std::process::Command::new(pg_dump)
        .args(["--schema-only", "--no-owner", "-f"])
        .arg(&dump)
        .arg(pg.url("postgres", "postgres"))
        .output()
        .expect("pg_dump runs");
    assert!(
        pg_dump.status.success(),
        "{}",
        String::from_utf8_lossy(&pg_dump.stderr)
    );
    let client = connect(
        &config,
        &dir.path().join("audit.log"),
        ProtocolVersion::V_2025_11_25,
    )
    .await;
    // Warm the pool, so that the backend count below includes querygate's connection.
    structured(&query(&client, "SELECT 1").await);
    let before = state(&admin).await;
    let mut escaped = Vec::new();
    for sql in ATTACKS {
        let result = query(&client, sql).await;
        if result.is_error != Some(true) {
            escaped.push(format!("{sql}: allowed"));
            continue;
        }
        let error = message(&result);
        if !error.contains("refused by the read-only guard") {
            escaped.push(format!("{sql}: not refused by the guard: {error}"));
        }
        let after = state(&admin).await;
        if after != before {
            escaped.push(format!("{sql}: state changed {before:?} -> {after:?}"));
        }
    }
    assert!(escaped.is_empty(), "{}", escaped.join("\n"));

    for sql in LEGITIMATE {
        let result = query(&client, sql).await;
        assert_ne!(result.is_error, Some(true), "{sql}: {:?}", result.content);
    }
    assert_eq!(state(&admin).await, before);

    // Messages say why and name the setting that allows it.
    let error = message(&query(&client, "SELECT audit_touch()").await);
    assert!(
        error.contains(
            "function `public.audit_touch` is not known to be free of side effects: allow it \
             with `[guard] allow_functions = [\"public.audit_touch\"]` if it is"
        ),
        "{error}"
    );
    let error = message(&query(&client, "SELECT * FROM v_over_over").await);
    assert!(
        error.contains("relation `public.v_over_over` reaches"),
        "{error}"
    );
    let error = message(&query(&client, "SELECT dmetaphone('x')").await);
    assert!(error.contains("unknown function `dmetaphone`"), "{error}");

    // A function created after start-up is not trusted from the cached catalog: an overload
    // of a built-in that was allowed a moment ago.
    structured(&query(&client, "SELECT upper('x')").await);
    admin
        .batch_execute(
            "CREATE FUNCTION public.upper(integer) RETURNS text LANGUAGE sql AS \
             $f$ SELECT public.audit_touch()::text $f$",
        )
        .await
        .expect("create after start-up");
    let result = query(&client, "SELECT upper(1)").await;
    let error = message(&result);
    assert!(error.contains("public.upper"), "{error}");
    assert_eq!(
        state(&admin).await,
        before,
        "nothing ran on the stale catalog"
    );
    client.cancel().await.expect("client stops");

    // The same decisions through `check --schema` on the schema dump taken at the start.
    let mut cases = String::new();
    for (i, sql) in ATTACKS.iter().enumerate() {
        cases.push_str(&format!(
            "[[case]]\nname = \"attack {i}\"\nsql = {}\nexpect = \"reject\"\nrejected_by = \"guard\"\n\n",
            toml_string(sql)
        ));
    }
    for (i, sql) in LEGITIMATE.iter().enumerate() {
        cases.push_str(&format!(
            "[[case]]\nname = \"legitimate {i}\"\nsql = {}\nexpect = \"allow\"\n\n",
            toml_string(sql)
        ));
    }
    let cases_path = dir.path().join("cases.toml");
    std::fs::write(&cases_path, cases).expect("write cases");
    let output = querygate(&[
        "check",
        "--config",
        &config.display().to_string(),
        "--schema",
        &dump.display().to_string(),
        &cases_path.display().to_string(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
}

/// The text of a tool error.
fn message(result: &rmcp::model::CallToolResult) -> String {
    let content: serde_json::Value =
        serde_json::from_str(&error_text(result)).expect("content is JSON");
    content[0]["text"].as_str().unwrap_or_default().to_string()
}

fn toml_string(s: &str) -> String {
    format!("'''{s}'''")
}
