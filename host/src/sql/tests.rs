use super::canonical::MAX_TREE_DEPTH;
use super::*;

/// sqlparser's half on its own: these tests are about what it reads, refuses and reports.
fn analyze(sql: &str, catalog: &Catalog, limits: &SqlLimits) -> Result<Analysis, SqlError> {
    analyze_sqlparser_only(sql, catalog, limits)
}

fn ok(sql: &str) -> Analysis {
    analyze(sql, &Catalog::default(), &SqlLimits::default())
        .unwrap_or_else(|e| panic!("`{sql}` should pass: {e}"))
}

fn refused(sql: &str) -> SqlError {
    match analyze(sql, &Catalog::default(), &SqlLimits::default()) {
        Ok(a) => panic!("`{sql}` should be refused, got `{}`", a.sql),
        Err(e) => e,
    }
}

fn guard_reason(sql: &str) -> String {
    match refused(sql) {
        SqlError::Guard { reason } => reason,
        other => panic!("`{sql}` should be refused by the guard, got: {other}"),
    }
}

#[test]
fn canonical_sql_is_the_rendering_of_the_tree() {
    assert_eq!(
        ok("select  *  from employees where id=1").sql,
        "SELECT * FROM employees WHERE id = 1"
    );
    assert_eq!(ok("SELECT 1;").sql, "SELECT 1");
}

/// Read-only SQL an analyst writes, which the guard must let through.
#[test]
fn legitimate_read_only_sql_passes() {
    let corpus = [
        "SELECT department_id, avg(salary) OVER (PARTITION BY department_id ORDER BY hired_on ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM employees",
        "SELECT count(*) FILTER (WHERE salary > 1000) FROM employees",
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY salary) FROM employees",
        "SELECT DISTINCT ON (department_id) department_id, name FROM employees ORDER BY department_id, salary DESC",
        "SELECT d.name, top.name FROM departments d CROSS JOIN LATERAL (SELECT name FROM employees e WHERE e.department_id = d.id ORDER BY salary DESC LIMIT 3) top",
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 10) SELECT sum(n) FROM t",
        "SELECT payload->>'kind', payload #> '{a,b}', payload @> '{\"x\": 1}'::jsonb FROM events",
        "SELECT ARRAY[1, 2, 3] || 4, (ARRAY['a', 'b'])[1], '{1,2}'::int[] && ARRAY[2]",
        "SELECT CAST(salary AS numeric(10, 2)), hired_on::text, '2024-01-01'::date + 1 FROM employees",
        "SELECT 1 -- a comment\n",
        "/* leading comment */ SELECT /* inline */ 2",
        "SELECT $$dollar quoted$$, $tag$ with ; semicolon $tag$",
        "VALUES (1, 'a'), (2, 'b')",
        "SELECT * FROM generate_series(1, 10) AS g(n)",
        "SELECT name FROM employees UNION SELECT name FROM departments ORDER BY 1 LIMIT 5",
        "SELECT e.name FROM employees e WHERE EXISTS (SELECT 1 FROM departments d WHERE d.id = e.department_id)",
        "SELECT date_trunc('month', created_at), count(*) FROM events GROUP BY 1 ORDER BY 1",
        "SELECT name FROM employees GROUP BY GROUPING SETS ((name), ())",
        "SELECT coalesce(nullif(name, ''), 'none') FROM employees",
        "SELECT CASE WHEN salary > 10 THEN 'high' ELSE 'low' END FROM employees",
        "EXPLAIN SELECT * FROM employees",
        "EXPLAIN (FORMAT JSON, VERBOSE) SELECT * FROM employees",
        "SHOW search_path",
        "SELECT current_setting('search_path'), now(), currval('s')",
        "SELECT * FROM employees FETCH FIRST 5 ROWS ONLY",
        "SELECT string_agg(name, ', ' ORDER BY name) FROM employees",
        "SELECT e.* FROM employees e TABLESAMPLE SYSTEM (10)",
        "SELECT x FROM unnest(ARRAY[1, 2]) AS x",
        "SELECT name ILIKE '%a%', name ~ '^A', name SIMILAR TO 'A%' FROM employees",
        "SELECT E'escaped\\nline', U&'\\0041'",
    ];
    for sql in corpus {
        ok(sql);
    }
}

/// Every class of statement that is not read-only, with words the reason must contain.
#[test]
fn every_class_that_writes_or_escapes_is_refused() {
    let corpus = [
        ("INSERT INTO t VALUES (1)", "`INSERT`"),
        ("UPDATE t SET a = 1", "`UPDATE`"),
        ("DELETE FROM t", "`DELETE`"),
        (
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
            "`MERGE`",
        ),
        ("TRUNCATE t", "`TRUNCATE`"),
        ("CREATE TABLE t (a int)", "`CREATE TABLE`"),
        ("DROP TABLE t", "`DROP TABLE`"),
        ("ALTER TABLE t ADD COLUMN b int", "`ALTER TABLE`"),
        ("CREATE INDEX i ON t (a)", "`CREATE INDEX`"),
        ("GRANT SELECT ON t TO public", "`GRANT`"),
        (
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "inside a query",
        ),
        (
            "WITH d AS (SELECT 1) INSERT INTO t SELECT * FROM d",
            "`INSERT`",
        ),
        (
            "WITH a AS (SELECT 1), b AS (UPDATE t SET a = 1 RETURNING 1) SELECT 1",
            "inside a query",
        ),
        ("SELECT * INTO newtable FROM t", "SELECT INTO"),
        ("SELECT * FROM t FOR UPDATE", "locking clause"),
        ("SELECT * FROM t FOR SHARE", "locking clause"),
        (
            "SELECT * FROM t FOR UPDATE OF t SKIP LOCKED",
            "locking clause",
        ),
        ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYZE"),
        ("EXPLAIN (ANALYZE) SELECT 1", "EXPLAIN ANALYZE"),
        (
            "EXPLAIN (ANALYZE true, FORMAT JSON) DELETE FROM t",
            "EXPLAIN ANALYZE",
        ),
        ("EXPLAIN DELETE FROM t", "only queries"),
        ("BEGIN", "`BEGIN`"),
        ("START TRANSACTION READ WRITE", "`START TRANSACTION`"),
        ("COMMIT", "`COMMIT`"),
        ("ROLLBACK", "`ROLLBACK`"),
        ("SAVEPOINT s", "`SAVEPOINT`"),
        ("SET TRANSACTION READ WRITE", "`SET TRANSACTION`"),
        ("SET transaction_read_only = off", "`SET`"),
        ("SET ROLE postgres", "`SET ROLE`"),
        ("SET SESSION AUTHORIZATION postgres", "`SET SESSION`"),
        ("RESET ALL", "`RESET"),
        ("DISCARD ALL", "`DISCARD`"),
        ("PREPARE p AS DELETE FROM t", "`PREPARE`"),
        ("EXECUTE p", "`EXECUTE`"),
        ("DEALLOCATE p", "`DEALLOCATE`"),
        ("DECLARE c CURSOR FOR SELECT 1", "`DECLARE`"),
        ("FETCH NEXT FROM c", "`FETCH`"),
        ("LISTEN ch", "`LISTEN`"),
        ("NOTIFY ch", "`NOTIFY`"),
        ("COPY t TO STDOUT", "`COPY`"),
        ("COPY t FROM '/etc/passwd'", "`COPY`"),
        ("COPY (SELECT 1) TO PROGRAM 'id'", "`COPY`"),
        ("CALL p()", "`CALL`"),
        ("LOCK TABLE t", "`LOCK`"),
        ("VACUUM t", "`VACUUM`"),
        ("ANALYZE t", "`ANALYZE`"),
        ("SELECT pg_sleep(10)", "`pg_sleep`"),
        ("SELECT PG_SLEEP(10)", "`pg_sleep`"),
        ("SELECT pg_catalog.pg_sleep(10)", "`pg_sleep`"),
        ("SELECT \"pg_sleep\"(10)", "`pg_sleep`"),
        (
            "SELECT pg_catalog.\"pg_terminate_backend\"(1)",
            "`pg_terminate_backend`",
        ),
        ("SELECT * FROM pg_catalog.pg_ls_dir('.')", "`pg_ls_dir`"),
        ("SELECT pg_read_file('/etc/passwd')", "`pg_read_file`"),
        ("SELECT lo_import('/etc/passwd')", "`lo_import`"),
        ("SELECT lo_from_bytea(0, 'x')", "`lo_from_bytea`"),
        (
            "SELECT * FROM dblink('x', 'select 1') AS t(a int)",
            "`dblink`",
        ),
        ("SELECT dblink_exec('x', 'delete from t')", "`dblink_exec`"),
        (
            "SELECT set_config('transaction_read_only', 'off', false)",
            "`set_config`",
        ),
        ("SELECT nextval('s')", "`nextval`"),
        ("SELECT setval('s', 1)", "`setval`"),
        ("SELECT pg_advisory_lock(1)", "`pg_advisory_lock`"),
        ("SELECT pg_notify('ch', 'x')", "`pg_notify`"),
        ("SELECT pg_switch_wal()", "`pg_switch_wal`"),
        ("SELECT txid_current()", "`txid_current`"),
        (
            "SELECT query_to_xml('select * from t', true, true, '')",
            "`query_to_xml`",
        ),
        ("SELECT (SELECT max(pg_sleep(1)) FROM t)", "`pg_sleep`"),
        (
            "SELECT * FROM t WHERE a IN (SELECT pg_cancel_backend(pid) FROM pg_stat_activity)",
            "`pg_cancel_backend`",
        ),
        ("SELECT * FROM t ORDER BY pg_sleep(1)", "`pg_sleep`"),
        ("VALUES (nextval('s'))", "`nextval`"),
        ("SELECT * FROM t WHERE id = $1", "parameter `$1`"),
    ];
    for (sql, words) in corpus {
        let reason = guard_reason(sql);
        assert!(
            reason.contains(words),
            "`{sql}`: reason `{reason}` should mention {words}"
        );
    }
}

#[test]
fn stacked_statements_are_refused_before_the_guard() {
    for sql in [
        "COMMIT; DELETE FROM t",
        "SELECT 1; SELECT 2",
        "SELECT 1; /* hidden */ DROP TABLE t",
        "ROLLBACK; SELECT 1",
    ] {
        assert!(
            matches!(refused(sql), SqlError::NotOneStatement { count: 2 }),
            "{sql}"
        );
    }
}

#[test]
fn parse_errors_name_line_and_column() {
    let SqlError::Parse { message } = refused("SELECT *\nFROM t WHERE )") else {
        panic!("expected a parse error");
    };
    assert!(message.contains("line 2, column"), "{message}");
    assert_eq!(refused(""), SqlError::Empty);
    assert_eq!(refused("   \n "), SqlError::Empty);
    assert_eq!(refused("-- only a comment"), SqlError::Empty);
    assert_eq!(refused("SELECT 1\0"), SqlError::NulByte { offset: 8 });
}

#[test]
fn the_size_limit_is_obeyed_just_under_and_violated_just_over() {
    let limits = SqlLimits {
        max_sql_bytes: 100,
        ..SqlLimits::default()
    };
    let at_limit = format!("SELECT '{}'", "x".repeat(100 - 9));
    assert_eq!(at_limit.len(), 100);
    assert!(analyze(&at_limit, &Catalog::default(), &limits).is_ok());
    let over = format!("SELECT '{}'", "x".repeat(100 - 8));
    assert_eq!(
        analyze(&over, &Catalog::default(), &limits),
        Err(SqlError::TooLarge {
            size: 101,
            limit: 100
        })
    );
}

#[test]
fn the_nesting_limit_is_obeyed_just_under_and_violated_just_over() {
    let limits = SqlLimits::default();
    let nested = |n: usize| format!("SELECT {}1{}", "(".repeat(n), ")".repeat(n));
    // Each parenthesis level costs the parser a level on top of the statement itself.
    let deepest_ok = (1..200)
        .take_while(|n| analyze(&nested(*n), &Catalog::default(), &limits).is_ok())
        .last()
        .expect("some nesting passes");
    assert!(deepest_ok >= 40, "only {deepest_ok} levels pass");
    assert_eq!(
        analyze(&nested(deepest_ok + 1), &Catalog::default(), &limits),
        Err(SqlError::TooDeep { limit: 50 })
    );
}

#[test]
fn twenty_thousand_nested_parentheses_are_a_clean_error() {
    let sql = format!("SELECT {}1{}", "(".repeat(20_000), ")".repeat(20_000));
    assert_eq!(
        refused(&sql),
        SqlError::TooDeep {
            limit: SqlLimits::default().max_nesting
        }
    );
}

#[test]
fn a_megabyte_flat_expression_is_a_clean_error_even_on_a_small_stack() {
    let sql = format!("SELECT {}1", "1+".repeat(512 * 1024));
    let limits = SqlLimits {
        max_sql_bytes: 2 * 1024 * 1024,
        ..SqlLimits::default()
    };
    // Run on a thread with a small stack, like a tokio worker: the analysis must grow its own.
    let result = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || analyze(&sql, &Catalog::default(), &limits))
        .expect("spawn")
        .join()
        .expect("analysis must not crash the thread");
    assert_eq!(
        result,
        Err(SqlError::TooDeep {
            limit: MAX_TREE_DEPTH
        })
    );
}

#[test]
fn a_long_union_chain_is_refused_cleanly() {
    let sql = vec!["SELECT 1"; 12_000].join(" UNION ALL ");
    let result = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || analyze(&sql, &Catalog::default(), &SqlLimits::default()))
        .expect("spawn")
        .join()
        .expect("analysis must not crash the thread");
    assert_eq!(
        result,
        Err(SqlError::TooDeep {
            limit: MAX_TREE_DEPTH
        })
    );
}

#[test]
fn a_flat_expression_just_under_the_tree_depth_limit_passes() {
    let sql = format!("SELECT {}1", "1+".repeat(MAX_TREE_DEPTH - 10));
    let result = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || analyze(&sql, &Catalog::default(), &SqlLimits::default()).map(|a| a.kind))
        .expect("spawn")
        .join()
        .expect("analysis must not crash the thread");
    assert_eq!(result, Ok(StatementKind::Query));
}

fn hr_catalog() -> Catalog {
    Catalog::from_schema_sql(
        "SET statement_timeout = 0;\n\
         CREATE TABLE public.employees (id integer NOT NULL, name text, ssn character varying(11));\n\
         COMMENT ON TABLE public.employees IS 'people; with a semicolon';\n\
         CREATE TABLE hr.salaries (employee_id integer, amount numeric(12,2));\n",
    )
    .expect("schema parses")
}

#[test]
fn relations_carry_catalog_columns_and_ctes_are_scoped() {
    let a = analyze(
        "SELECT e.name, s.amount FROM employees AS e JOIN hr.salaries s ON s.employee_id = e.id",
        &hr_catalog(),
        &SqlLimits::default(),
    )
    .expect("passes");
    assert_eq!(a.relations.len(), 2);
    assert_eq!(a.relations[0].name, "employees");
    assert_eq!(a.relations[0].alias.as_deref(), Some("e"));
    assert!(a.relations[0].known);
    assert_eq!(
        a.relations[0]
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["id", "name", "ssn"]
    );
    assert_eq!(a.relations[0].columns[2].data_type, "character varying(11)");
    assert_eq!(a.relations[1].schema.as_deref(), Some("hr"));
    assert_eq!(a.relations[1].columns[1].data_type, "numeric(12,2)");

    // A CTE is not a relation where it is visible...
    let a = analyze(
        "WITH x AS (SELECT 1) SELECT * FROM x",
        &hr_catalog(),
        &SqlLimits::default(),
    )
    .expect("passes");
    assert!(a.relations.is_empty(), "{:?}", a.relations);
    // ...but a CTE named like a table does not hide the table inside its own body.
    let a = analyze(
        "WITH employees AS (SELECT * FROM employees) SELECT * FROM employees",
        &hr_catalog(),
        &SqlLimits::default(),
    )
    .expect("passes");
    assert_eq!(a.relations.len(), 1);
    assert!(a.relations[0].known);
    // In WITH RECURSIVE the name is visible in its own body.
    let a = ok(
        "WITH RECURSIVE t AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT * FROM t",
    );
    assert!(a.relations.is_empty(), "{:?}", a.relations);
}

#[test]
fn functions_column_refs_and_limit_are_reported() {
    let a = ok(
        "SELECT e.*, upper(name), count(*) FROM employees e, generate_series(1, 2) g \
         WHERE \"Dept\".x = 1 AND ssn IS NULL LIMIT 10",
    );
    let functions: Vec<(&str, bool)> = a
        .functions
        .iter()
        .map(|f| (f.name.as_str(), f.in_from))
        .collect();
    assert_eq!(
        functions,
        [
            ("upper", false),
            ("count", false),
            ("generate_series", true)
        ]
    );
    assert!(a.column_refs.contains(&ColumnRef {
        qualifier: Some("e".into()),
        name: None
    }));
    assert!(a.column_refs.contains(&ColumnRef {
        qualifier: Some("Dept".into()),
        name: Some("x".into())
    }));
    assert!(a.column_refs.contains(&ColumnRef {
        qualifier: None,
        name: Some("ssn".into())
    }));
    assert_eq!(a.limit, Some(10));
    assert_eq!(a.limit_expr.as_deref(), Some("10"));
    let a = ok("SELECT 1 FETCH FIRST 3 ROWS ONLY");
    assert_eq!(a.limit, Some(3));
    let a = ok("SELECT 1 LIMIT ALL");
    assert_eq!(a.limit, None);
    let a = ok("SELECT 1");
    assert_eq!((a.limit, a.limit_expr), (None, None));
}

#[test]
fn the_ast_json_round_trips_to_the_canonical_sql() {
    let a = ok("select name from employees where id in (1, 2) order by name limit 3");
    let statement: sqlparser::ast::Statement =
        serde_json::from_str(&a.ast_json).expect("ast json is a Statement");
    assert_eq!(statement.to_string(), a.sql);
}

#[test]
fn a_deep_tree_renders_on_a_small_stack() {
    // A flat chain of 1,200 operators: ~3,600 levels of JSON, under the render's depth limit.
    let sql = format!("select 1{}", "+1".repeat(1200));
    let analysis = analyze(&sql, &Catalog::default(), &SqlLimits::default()).expect("analyzes");
    let json = analysis.ast_json.clone();
    // A thread with a small stack, as the host's evaluation threads might have.
    let rendered = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || render_tree(&json))
        .expect("spawns")
        .join()
        .expect("does not overflow");
    assert_eq!(rendered.expect("renders"), analysis.sql);
}
