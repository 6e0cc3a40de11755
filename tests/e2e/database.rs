//! The executor against a real PostgreSQL: every type's JSON, every limit from both sides,
//! read-only enforcement, connection hygiene (errors, cancellation, restarts) and TLS.

use crate::support::pki::Pki;
use crate::support::postgres::{connect, database, shared_url, start};
use querygate::database::{Database, DbError, QueryResult, SslMode, Truncation};
use querygate::localpg::Options;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn run(db: &Database, sql: &str) -> QueryResult {
    match db.execute(sql).await {
        Ok(result) => result,
        Err(e) => panic!("`{sql}` failed: {e}"),
    }
}

async fn scalar(db: &Database, sql: &str) -> Value {
    run(db, sql).await.rows.remove(0).remove(0)
}

fn shared() -> Database {
    database(shared_url(), |_| {})
}

/// (expression, exact JSON) for every kind of value.
fn type_table() -> Vec<(&'static str, Value)> {
    vec![
        ("true", json!(true)),
        ("NULL::int4", Value::Null),
        ("(-32768)::int2", json!(-32768)),
        ("(-2147483648)::int4", json!(-2147483648i64)),
        ("9007199254740993::int8", json!(9007199254740993i64)),
        ("1.5::float4", json!(1.5)),
        ("0.1::float4", json!(0.1)),
        ("1e300::float8", json!(1e300)),
        ("'NaN'::float8", json!("NaN")),
        ("'Infinity'::float8", json!("Infinity")),
        ("'-Infinity'::float4", json!("-Infinity")),
        (
            "123456789012345678901234567890.123456789::numeric",
            json!("123456789012345678901234567890.123456789"),
        ),
        ("0.00001230::numeric", json!("0.00001230")),
        ("12.5::numeric(12,2)", json!("12.50")),
        ("(-0.5)::numeric", json!("-0.5")),
        ("'NaN'::numeric", json!("NaN")),
        ("'Infinity'::numeric", json!("Infinity")),
        ("'-1234.5'::money", json!("-1234.50")),
        ("'a''b'::text", json!("a'b")),
        ("'héllo ✓'::varchar(10)", json!("héllo ✓")),
        ("'ab'::char(4)", json!("ab  ")),
        ("'pg'::name", json!("pg")),
        ("'x'::\"char\"", json!("x")),
        ("'AbC'::citext", json!("AbC")),
        ("'<a>1</a>'::xml", json!("<a>1</a>")),
        ("'happy'::qg_mood", json!("happy")),
        ("5::qg_positive", json!(5)),
        ("pg_sleep(0)", json!("")),
        ("'2024-02-29'::date", json!("2024-02-29")),
        ("'infinity'::date", json!("infinity")),
        ("'-infinity'::date", json!("-infinity")),
        ("'0044-03-15 BC'::date", json!("-0043-03-15")),
        ("'12345-01-01'::date", json!("+12345-01-01")),
        (
            "'2024-05-01 10:30:00.5'::timestamp",
            json!("2024-05-01T10:30:00.5"),
        ),
        (
            "'1999-12-31 23:59:59.999999'::timestamp",
            json!("1999-12-31T23:59:59.999999"),
        ),
        (
            "'2024-05-01 10:30:00+02'::timestamptz",
            json!("2024-05-01T08:30:00Z"),
        ),
        ("'infinity'::timestamptz", json!("infinity")),
        ("'13:45:06.789'::time", json!("13:45:06.789")),
        ("'13:45:06+05:30'::timetz", json!("13:45:06+05:30")),
        (
            "'1 year 2 mons 3 days 04:05:06.5'::interval",
            json!("1 year 2 mons 3 days 04:05:06.5"),
        ),
        ("'-1 days +02:00'::interval", json!("-1 days +02:00:00")),
        ("'0'::interval", json!("00:00:00")),
        (
            "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid",
            json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ),
        (
            "'{\"b\": [1, 2.5, null], \"a\": \"x\"}'::json",
            json!({"a": "x", "b": [1, 2.5, null]}),
        ),
        (
            "'{\"k\": {\"n\": 12345678901234567}}'::jsonb",
            json!({"k": {"n": 12345678901234567i64}}),
        ),
        ("'\"str\"'::jsonb", json!("str")),
        ("'$.a'::jsonpath", json!("$.\"a\"")),
        ("'\\xDEADBEEF'::bytea", json!("3q2+7w==")),
        ("''::bytea", json!("")),
        ("ARRAY[1, 2, NULL]::int4[]", json!([1, 2, null])),
        (
            "ARRAY[[1.5, 2], [3, 4]]::numeric[]",
            json!([["1.5", "2"], ["3", "4"]]),
        ),
        ("'{}'::int4[]", json!([])),
        ("'[0:1]={7,8}'::int4[]", json!([7, 8])),
        ("ARRAY['a,b', NULL, '\"q\"']", json!(["a,b", null, "\"q\""])),
        ("ARRAY['2024-01-01'::date]", json!(["2024-01-01"])),
        ("ARRAY['sad', 'ok']::qg_mood[]", json!(["sad", "ok"])),
        ("ARRAY[ROW(1, 'a')]", json!([[1, "a"]])),
        ("'192.168.0.1/24'::inet", json!("192.168.0.1/24")),
        ("'10.0.0.1'::inet", json!("10.0.0.1")),
        ("'10.0.0.0/8'::cidr", json!("10.0.0.0/8")),
        ("'2001:db8::1'::inet", json!("2001:db8::1")),
        ("'08:00:2b:01:02:03'::macaddr", json!("08:00:2b:01:02:03")),
        (
            "'08:00:2b:01:02:03:04:05'::macaddr8",
            json!("08:00:2b:01:02:03:04:05"),
        ),
        (
            "int4range(1, 10)",
            json!({"lower": 1, "upper": 10, "lower_inc": true, "upper_inc": false}),
        ),
        ("'empty'::int4range", json!({"empty": true})),
        (
            "'[2024-01-01,)'::daterange",
            json!({"lower": "2024-01-01", "upper": null, "lower_inc": true, "upper_inc": false}),
        ),
        (
            "numrange(1.5, 2.5, '[]')",
            json!({"lower": "1.5", "upper": "2.5", "lower_inc": true, "upper_inc": true}),
        ),
        (
            "'{[1,3), [5,7)}'::int4multirange",
            json!([
                {"lower": 1, "upper": 3, "lower_inc": true, "upper_inc": false},
                {"lower": 5, "upper": 7, "lower_inc": true, "upper_inc": false}
            ]),
        ),
        ("ROW(1, 'a')::qg_pair", json!({"n": 1, "label": "a"})),
        (
            "ROW(ROW(2, NULL)::qg_pair, ARRAY['t'])::qg_outer",
            json!({"pair": {"n": 2, "label": null}, "tags": ["t"]}),
        ),
        (
            "ROW(1, 'x', NULL, 2.5::numeric)",
            json!([1, "x", null, "2.5"]),
        ),
        ("'a=>1, b=>NULL'::hstore", json!({"a": "1", "b": null})),
        ("B'1010'", json!("1010")),
        ("B'101'::varbit", json!("101")),
        ("'16/B374D848'::pg_lsn", json!("16/B374D848")),
        ("'(3,4)'::tid", json!("(3,4)")),
        ("'pg_class'::regclass", json!(1259)),
        ("42::oid", json!(42)),
        ("point(1.5, -2)", json!("(1.5,-2)")),
        ("'((0,0),(1,1))'::box", json!("(1,1),(0,0)")),
        ("'<(1,2),3>'::circle", json!("<(1,2),3>")),
        ("'[(0,0),(1,1)]'::path", json!("[(0,0),(1,1)]")),
        (
            "'((0,0),(1,0),(0,1))'::polygon",
            json!("((0,0),(1,0),(0,1))"),
        ),
        ("to_tsvector('simple', 'a b a')", json!("'a':1,3 'b':2")),
        ("setweight('x:1'::tsvector, 'A')", json!("'x':1A")),
    ]
}

#[tokio::test]
async fn every_type_maps_to_exact_json() {
    let db = shared();
    let table = type_table();
    let select = table.iter().map(|(e, _)| *e).collect::<Vec<_>>().join(", ");
    let result = run(&db, &format!("SELECT {select}")).await;
    assert_eq!(result.columns.len(), table.len());
    for ((expr, expected), got) in table.iter().zip(&result.rows[0]) {
        assert_eq!(got, expected, "{expr}");
    }
    let types: Vec<&str> = result
        .columns
        .iter()
        .map(|c| c.type_name.as_str())
        .collect();
    assert_eq!(&types[..3], ["bool", "int4", "int2"]);
    assert!(types.contains(&"qg_mood[]"), "{types:?}");
}

#[tokio::test]
async fn unknown_types_are_tagged_never_null() {
    let db = shared();
    let value = scalar(&db, "SELECT 'a & b'::tsquery").await;
    assert_eq!(value["type"], json!("tsquery"));
    assert!(
        value["base64"].as_str().is_some_and(|b| !b.is_empty()),
        "{value}"
    );
}

#[tokio::test]
async fn text_forms_match_what_postgres_prints() {
    // Values whose JSON is PostgreSQL's own text form, compared with the server's output.
    let db = shared();
    let exprs = [
        "'-1 years -2 mons +3 days -04:05:06.000001'::interval",
        "'1 mon -1 day'::interval",
        "'-00:00:00.5'::interval",
        "'100 years 11 mons'::interval",
        "'23:59:59.999999'::time",
        "'00:00:00-03:30'::timetz",
        "'12:00:00+05:45:10'::timetz",
        "'::ffff:1.2.3.4'::inet",
        "'fe80::/10'::cidr",
        "point(1e20, 1.5e-5)",
        "point(-0.0001, 123456789012345)",
        "point(1e15, 0.1)",
        "'{1,-1,0.5}'::line",
        "'[(0,0),(1e-10,2)]'::lseg",
        "B'0000000011'::varbit",
        "'0/0'::pg_lsn",
        "'a:1A,2B,3C,4 b'::tsvector",
    ];
    for expr in exprs {
        // format('%s') calls the type's output function (a cast to text may differ: inet).
        let result = run(&db, &format!("SELECT {expr}, format('%s', {expr})")).await;
        assert_eq!(result.rows[0][0], result.rows[0][1], "{expr}");
    }
}

#[tokio::test]
async fn types_without_binary_output_explain_the_cast() {
    let db = shared();
    let e = db
        .execute("SELECT relacl FROM pg_class WHERE relacl IS NOT NULL LIMIT 1")
        .await
        .expect_err("aclitem has no binary output");
    assert_eq!(e.sqlstate(), Some("42883"));
    assert!(e.to_string().contains("cast the column to text"), "{e}");
}

#[tokio::test]
async fn row_cap_obeyed_and_violated() {
    let db = database(shared_url(), |c| c.max_rows = 10);
    let exact = run(&db, "SELECT g FROM generate_series(1, 10) g").await;
    assert_eq!((exact.row_count, exact.truncated), (10, false));
    let over = run(&db, "SELECT g FROM generate_series(1, 11) g").await;
    assert_eq!((over.row_count, over.truncated), (10, true));
    assert_eq!(over.truncated_by, Some(Truncation::MaxRows));
    assert_eq!(over.rows[9], vec![json!(10)]);
    // Stopping at the cap leaves the connection clean: it went back to the pool.
    assert_eq!(db.idle_connections(), 1);
}

#[tokio::test]
async fn byte_cap_obeyed_and_violated() {
    // Each value is 100 bytes of JSON: 98 x's and two quotes.
    let sql = "SELECT repeat('x', 98) FROM generate_series(1, 10)";
    let fits = run(&database(shared_url(), |c| c.max_bytes = 1000), sql).await;
    assert_eq!((fits.row_count, fits.truncated), (10, false));
    let over = run(&database(shared_url(), |c| c.max_bytes = 999), sql).await;
    assert_eq!((over.row_count, over.truncated), (9, true));
    assert_eq!(over.truncated_by, Some(Truncation::MaxBytes));
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_huge_value_is_never_buffered() {
    let db = shared(); // max_bytes 1 MiB
    let before = peak_rss_kib();
    let started = Instant::now();
    let result = run(
        &db,
        "SELECT n, CASE WHEN n = 3 THEN repeat('x', 500000000) ELSE 'small' END \
         FROM generate_series(1, 5) n",
    )
    .await;
    let grown_mib = (peak_rss_kib().saturating_sub(before)) / 1024;
    eprintln!(
        "500 MB value: {:?}, peak RSS grew {grown_mib} MiB",
        started.elapsed()
    );
    assert_eq!(result.row_count, 2);
    assert_eq!(result.truncated_by, Some(Truncation::MaxBytes));
    assert!(grown_mib < 200, "peak RSS grew by {grown_mib} MiB");
    // The cut connection was discarded; the next statement gets a fresh one.
    assert_eq!(scalar(&db, "SELECT 1").await, json!(1));
}

#[tokio::test]
async fn a_hundred_million_rows_are_capped_at_the_server() {
    let db = shared();
    let started = Instant::now();
    let result = run(&db, "SELECT generate_series(1, 100000000)").await;
    eprintln!("generate_series(1, 1e8) capped in {:?}", started.elapsed());
    assert_eq!((result.row_count, result.truncated), (1000, true));
    assert_eq!(db.idle_connections(), 1);
}

#[tokio::test]
async fn statement_timeout_obeyed_and_violated() {
    let slow = database(shared_url(), |c| c.statement_timeout_ms = 100);
    let e = slow
        .execute("SELECT pg_sleep(0.2)")
        .await
        .expect_err("times out");
    assert_eq!(e, DbError::Timeout { timeout_ms: 100 });
    assert_eq!(
        e.to_string(),
        "canceled after the 100 ms statement timeout (statement_timeout_ms)"
    );
    let patient = database(shared_url(), |c| c.statement_timeout_ms = 2000);
    assert_eq!(scalar(&patient, "SELECT pg_sleep(0.2)").await, json!(""));
}

#[tokio::test]
async fn writes_are_refused_by_the_server_too() {
    let db = shared();
    let e = db
        .execute("INSERT INTO departments VALUES (99, 'Shadow IT', 'acme')")
        .await
        .expect_err("read-only transaction");
    assert_eq!(e.sqlstate(), Some("25006"), "{e}");
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM departments WHERE id = 99").await,
        json!(0)
    );
    let e = db
        .execute("SELECT 1; DELETE FROM events")
        .await
        .expect_err("one statement only");
    assert_eq!(e.sqlstate(), Some("42601"), "{e}");
}

#[tokio::test]
async fn session_changes_do_not_leak_to_the_next_call() {
    let db = database(shared_url(), |c| c.pool_size = 1);
    let pid = scalar(&db, "SELECT pg_backend_pid()").await;
    run(&db, "SET search_path = pg_catalog").await;
    run(
        &db,
        "SELECT set_config('application_name', 'leaked', false)",
    )
    .await;
    run(&db, "SET statement_timeout = 1").await;
    assert_eq!(
        scalar(&db, "SHOW search_path").await,
        json!("\"$user\", public")
    );
    assert_eq!(
        scalar(&db, "SHOW application_name").await,
        json!("querygate")
    );
    assert_eq!(scalar(&db, "SELECT pg_sleep(0.05)").await, json!(""));
    assert_eq!(
        scalar(&db, "SELECT pg_backend_pid()").await,
        pid,
        "same connection"
    );
}

#[tokio::test]
async fn a_connection_that_saw_an_error_is_not_reused() {
    let db = database(shared_url(), |c| c.pool_size = 1);
    let first = scalar(&db, "SELECT pg_backend_pid()").await;
    assert_eq!(
        scalar(&db, "SELECT pg_backend_pid()").await,
        first,
        "clean: reused"
    );
    let e = db
        .execute("SELECT 1 / 0")
        .await
        .expect_err("division by zero");
    assert_eq!(e.sqlstate(), Some("22012"));
    let after = scalar(&db, "SELECT pg_backend_pid()").await;
    assert_ne!(
        after, first,
        "the connection that saw the error was discarded"
    );
}

#[tokio::test]
async fn a_cancelled_call_discards_its_connection_and_stops_the_query() {
    let db = database(shared_url(), |c| c.pool_size = 1);
    let first = scalar(&db, "SELECT pg_backend_pid()").await;
    let cancelled = tokio::time::timeout(
        Duration::from_millis(100),
        db.execute("SELECT pg_sleep(30)"),
    )
    .await;
    assert!(cancelled.is_err(), "the call was still running");
    let after = scalar(&db, "SELECT pg_backend_pid()").await;
    assert_ne!(after, first);
    // The server notices the closed socket (client_connection_check_interval) within seconds.
    let admin = connect(shared_url()).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'",
                &[],
            )
            .await
            .expect("pg_stat_activity");
        if row.get::<_, i64>(0) == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the abandoned query still runs");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// On both roads: the portal road (no bound) and the bounded road.
#[tokio::test]
async fn a_pooled_connection_killed_by_the_server_is_replaced() {
    for bound in [None, Some(1)] {
        let db = database(shared_url(), |c| c.pool_size = 1);
        let pid = async || match db.execute_bounded("SELECT pg_backend_pid()", bound).await {
            Ok(mut result) => result.rows.remove(0).remove(0),
            Err(e) => panic!("bound {bound:?}: {e}"),
        };
        let first = pid().await;
        let admin = connect(shared_url()).await;
        let pid_i32 = first
            .as_i64()
            .and_then(|p| i32::try_from(p).ok())
            .expect("pid");
        admin
            .execute("SELECT pg_terminate_backend($1)", &[&pid_i32])
            .await
            .expect("terminate");
        assert_ne!(pid().await, first, "bound {bound:?}");
    }
}

#[tokio::test]
async fn the_next_call_works_after_a_server_restart() {
    let mut server = start(Options::default());
    let db = database(&server.url("postgres", "postgres"), |_| {});
    assert_eq!(scalar(&db, "SELECT 1").await, json!(1));
    assert_eq!(db.idle_connections(), 1);
    server.restart().expect("restart");
    assert_eq!(scalar(&db, "SELECT 2").await, json!(2));
}

#[tokio::test]
async fn a_server_down_at_start_up_is_an_error_only_when_used() {
    let mut server = start(Options::default());
    server.stop().expect("stop");
    let db = database(&server.url("postgres", "postgres"), |_| {});
    let e = db.execute("SELECT 1").await.expect_err("server is down");
    assert!(
        matches!(&e, DbError::Connect { database, .. } if database == "test"),
        "{e:?}"
    );
    assert!(
        e.to_string().starts_with("could not connect to `test`: "),
        "{e}"
    );
    server.restart().expect("start");
    assert_eq!(scalar(&db, "SELECT 1").await, json!(1));
}

#[tokio::test]
async fn the_catalog_matches_the_demo_schema_file() {
    let db = shared();
    let catalog = db.load_catalog().await.expect("catalog");
    let schema_sql = std::fs::read_to_string(crate::support::repo().join("policies/schema.sql"))
        .expect("policies/schema.sql");
    let expected = querygate::sql::Catalog::from_schema_sql(&schema_sql).expect("parses");
    for table in ["departments", "employees", "events"] {
        assert_eq!(
            catalog.columns(None, table),
            expected.columns(Some("public"), table),
            "{table}"
        );
    }
    assert!(catalog.columns(Some("pg_catalog"), "pg_class").is_some());
    assert!(
        catalog
            .columns(Some("information_schema"), "tables")
            .is_some()
    );
    assert!(catalog.columns(Some("pg_toast"), "pg_toast_2619").is_none());
}

#[tokio::test]
async fn list_and_describe_tables() {
    let db = shared();
    let tables = db.list_tables(None).await.expect("list");
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["departments", "employees", "events"]);
    assert_eq!(tables[1].kind, "table");
    assert_eq!(tables[1].row_estimate, Some(250));
    let system = db.list_tables(Some("pg_catalog")).await.expect("list");
    assert!(system.iter().any(|t| t.name == "pg_class"));

    let employees = db
        .describe_table("public.employees")
        .await
        .expect("describe");
    assert_eq!(employees.primary_key, ["id"]);
    let ssn = employees
        .columns
        .iter()
        .find(|c| c.name == "ssn")
        .expect("ssn");
    assert_eq!(ssn.data_type, "character(11)");
    assert!(!ssn.nullable);
    assert_eq!(
        ssn.comment.as_deref(),
        Some("US social security number (PII)")
    );
    let dept = employees
        .columns
        .iter()
        .find(|c| c.name == "department_id")
        .expect("column");
    assert!(dept.nullable);
    assert_eq!(employees.foreign_keys.len(), 1);
    assert_eq!(employees.foreign_keys[0].references, "public.departments");
    assert_eq!(employees.foreign_keys[0].columns, ["department_id"]);
    let events = db.describe_table("events").await.expect("describe");
    let id = &events.columns[0];
    assert_eq!(
        id.default.as_deref(),
        Some("nextval('events_id_seq'::regclass)")
    );

    let e = db.describe_table("nope").await.expect_err("missing");
    assert_eq!(
        e.to_string(),
        "no table or view `nope` is visible to this role"
    );
}

#[tokio::test]
async fn explain_returns_the_plan_as_json() {
    let db = shared();
    let plan = db
        .explain("SELECT * FROM employees WHERE id = 7")
        .await
        .expect("plan");
    assert_eq!(plan[0]["Plan"]["Relation Name"], json!("employees"));
}

#[tokio::test]
async fn tls_modes_against_a_real_server() {
    let pki = Pki::new();
    let server = start(Options {
        tcp: true,
        tls: Some((pki.path("server.crt").into(), pki.path("server.key").into())),
    });
    let port = server.port();
    let encrypted = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    let with = |host: &str, mode: SslMode, ca: Option<&str>| {
        database(
            &format!("postgres://postgres@{host}:{port}/postgres"),
            |c| {
                c.sslmode = Some(mode);
                c.sslrootcert = ca.map(|ca| pki.path(ca).into());
            },
        )
    };

    let full = with("localhost", SslMode::VerifyFull, Some("ca.pem"));
    assert_eq!(scalar(&full, encrypted).await, json!(true), "verify-full");

    let require = with("127.0.0.1", SslMode::Require, None);
    assert_eq!(scalar(&require, encrypted).await, json!(true), "require");

    let ca_only = with("127.0.0.1", SslMode::VerifyCa, Some("ca.pem"));
    assert_eq!(scalar(&ca_only, encrypted).await, json!(true), "verify-ca");

    let wrong_name = with("127.0.0.1", SslMode::VerifyFull, Some("ca.pem"));
    let e = wrong_name
        .execute("SELECT 1")
        .await
        .expect_err("name mismatch");
    assert!(
        e.to_string().contains("not valid for name \"127.0.0.1\""),
        "{e}"
    );

    let wrong_ca = with("localhost", SslMode::VerifyFull, Some("other-ca.pem"));
    let e = wrong_ca
        .execute("SELECT 1")
        .await
        .expect_err("unknown issuer");
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");

    let wrong_ca_verify_ca = with("localhost", SslMode::VerifyCa, Some("other-ca.pem"));
    assert!(wrong_ca_verify_ca.execute("SELECT 1").await.is_err());
}

/// Round-trip costs, for the record (`cargo test … -- --ignored --nocapture measure`).
#[tokio::test]
#[ignore = "measurement, not a test"]
async fn measure_round_trips() {
    let url = shared_url();
    let db = shared();
    let raw = connect(url).await;
    let statement = raw.prepare("SELECT 1").await.expect("prepare");
    let n = 2000;
    for _ in 0..200 {
        raw.query(&statement, &[]).await.expect("query");
        run(&db, "SELECT 1").await;
    }
    let started = Instant::now();
    for _ in 0..n {
        raw.query(&statement, &[]).await.expect("query");
    }
    let raw_us = started.elapsed().as_micros() as f64 / n as f64;
    let started = Instant::now();
    for _ in 0..n {
        run(&db, "SELECT 1").await;
    }
    let ours_us = started.elapsed().as_micros() as f64 / n as f64;
    let started = Instant::now();
    let server = start(Options::default());
    let start_ms = started.elapsed().as_millis();
    drop(server);
    eprintln!(
        "prepared SELECT 1: raw tokio-postgres {raw_us:.0} µs, execute {ours_us:.0} µs \
         ({:.1}x); local server start from template {start_ms} ms",
        ours_us / raw_us
    );
}

/// The bounded road: a statement whose LIMIT is within `max_rows` takes two round trips
/// instead of four. It keeps every guarantee of the other road; these tests repeat the
/// essential ones through it.
async fn run_bounded(db: &Database, sql: &str, bound: u64) -> QueryResult {
    match db.execute_bounded(sql, Some(bound)).await {
        Ok(result) => result,
        Err(e) => panic!("`{sql}` (bounded by {bound}) failed: {e}"),
    }
}

async fn bounded_scalar(db: &Database, sql: &str) -> Value {
    run_bounded(db, sql, 1).await.rows.remove(0).remove(0)
}

#[tokio::test]
async fn the_bounded_road_maps_every_type_the_same() {
    let db = shared();
    let table = type_table();
    let select = table.iter().map(|(e, _)| *e).collect::<Vec<_>>().join(", ");
    let sql = format!("SELECT {select} LIMIT 1");
    let bounded = run_bounded(&db, &sql, 1).await;
    let portal = run(&db, &sql).await;
    assert_eq!(bounded.columns, portal.columns);
    for ((expr, expected), got) in table.iter().zip(&bounded.rows[0]) {
        assert_eq!(got, expected, "{expr}");
    }
}

#[tokio::test]
async fn the_bounded_road_is_read_only_rolled_back_and_reuses_its_connection() {
    let db = database(shared_url(), |c| c.pool_size = 1);
    let pid = bounded_scalar(&db, "SELECT pg_backend_pid() LIMIT 1").await;
    let e = db
        .execute_bounded(
            "WITH w AS (INSERT INTO departments VALUES (98, 'Shadow IT', 'acme') RETURNING id) SELECT id FROM w LIMIT 1",
            Some(1),
        )
        .await
        .expect_err("read-only transaction");
    assert_eq!(e.sqlstate(), Some("25006"), "{e}");
    run_bounded(
        &db,
        "SELECT set_config('search_path', 'pg_catalog', false) LIMIT 1",
        1,
    )
    .await;
    assert_eq!(
        bounded_scalar(&db, "SELECT current_setting('search_path') LIMIT 1").await,
        json!("\"$user\", public"),
        "a setting made in one call is rolled back"
    );
    assert_eq!(
        bounded_scalar(
            &db,
            "SELECT count(*) FROM departments WHERE id = 98 LIMIT 1"
        )
        .await,
        json!(0)
    );
    // The error discarded the first connection; clean calls since then reuse the second.
    let now = bounded_scalar(&db, "SELECT pg_backend_pid() LIMIT 1").await;
    assert_ne!(now, pid, "the connection that saw the error was discarded");
    assert_eq!(
        bounded_scalar(&db, "SELECT pg_backend_pid() LIMIT 1").await,
        now,
        "clean: reused"
    );
    assert_eq!(db.idle_connections(), 1);
}

#[tokio::test]
async fn the_bounded_road_keeps_the_caps_when_the_bound_is_wrong() {
    let db = database(shared_url(), |c| c.max_rows = 10);
    // Within the bound: every row, not truncated.
    let exact = run_bounded(&db, "SELECT g FROM generate_series(1, 10) g LIMIT 10", 10).await;
    assert_eq!((exact.row_count, exact.truncated), (10, false));
    assert_eq!(db.idle_connections(), 1);
    // A bound that lies (the road is only chosen by it): still capped at max_rows, and the
    // connection, whose rows were not all read, is discarded.
    let over = run_bounded(&db, "SELECT g FROM generate_series(1, 100000000) g", 5).await;
    assert_eq!((over.row_count, over.truncated), (10, true));
    assert_eq!(over.truncated_by, Some(Truncation::MaxRows));
    assert_eq!(db.idle_connections(), 0);
    // A bound over max_rows takes the portal road, which caps on the server.
    let portal = db
        .execute_bounded("SELECT g FROM generate_series(1, 11) g LIMIT 11", Some(11))
        .await
        .expect("runs");
    assert_eq!((portal.row_count, portal.truncated), (10, true));
    assert_eq!(db.idle_connections(), 1);
    // The byte cap, from both sides.
    let sql = "SELECT repeat('x', 98) FROM generate_series(1, 10) LIMIT 10";
    let fits = run_bounded(&database(shared_url(), |c| c.max_bytes = 1000), sql, 10).await;
    assert_eq!((fits.row_count, fits.truncated), (10, false));
    let over = run_bounded(&database(shared_url(), |c| c.max_bytes = 999), sql, 10).await;
    assert_eq!((over.row_count, over.truncated), (9, true));
    assert_eq!(over.truncated_by, Some(Truncation::MaxBytes));
}

#[tokio::test]
async fn the_bounded_road_obeys_the_statement_timeout() {
    let slow = database(shared_url(), |c| c.statement_timeout_ms = 100);
    let e = slow
        .execute_bounded("SELECT pg_sleep(0.2) LIMIT 1", Some(1))
        .await
        .expect_err("times out");
    assert_eq!(e, DbError::Timeout { timeout_ms: 100 });
    let patient = database(shared_url(), |c| c.statement_timeout_ms = 2000);
    assert_eq!(
        bounded_scalar(&patient, "SELECT pg_sleep(0.2) LIMIT 1").await,
        json!("")
    );
}

/// Session hygiene, below the guard: a session advisory lock taken by a statement (as a user
/// function the guard was told to trust could) does not stay held on the pooled connection,
/// and the connection is still reused.
#[tokio::test]
async fn a_session_advisory_lock_does_not_outlive_the_call() {
    let url = shared_url();
    let db = database(url, |_| {});
    let watcher = connect(url).await;
    let held = async || -> i64 {
        watcher
            .query_one(
                "SELECT count(*) FROM pg_catalog.pg_locks \
                 WHERE locktype = 'advisory' AND objid = 770077",
                &[],
            )
            .await
            .expect("pg_locks")
            .get(0)
    };
    assert_eq!(
        scalar(&db, "SELECT pg_catalog.pg_advisory_lock(770077)::text").await,
        json!("")
    );
    // The unlock is sent before the connection goes back to the pool, without waiting for it:
    // the next statement on that connection runs after it.
    assert_eq!(scalar(&db, "SELECT 1").await, json!(1));
    assert_eq!(held().await, 0, "the lock was released");
    assert_eq!(db.idle_connections(), 1, "the connection is reused");
}

#[tokio::test]
async fn the_bounded_road_releases_a_session_advisory_lock_too() {
    let url = shared_url();
    let db = database(url, |_| {});
    let watcher = connect(url).await;
    bounded_scalar(
        &db,
        "SELECT pg_catalog.pg_advisory_lock(770078)::text LIMIT 1",
    )
    .await;
    bounded_scalar(&db, "SELECT 1 LIMIT 1").await;
    let held: i64 = watcher
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND objid = 770078",
            &[],
        )
        .await
        .expect("pg_locks")
        .get(0);
    assert_eq!(held, 0, "the lock was released");
    assert_eq!(db.idle_connections(), 1, "the connection is reused");
}
