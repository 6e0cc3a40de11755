use super::*;
use crate::sql::{self, Refusal, RefusalClass, SqlLimits, analyze};

fn ok(sql: &str) -> PgStatement {
    check(sql, &Catalog::default()).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn refused(sql: &str) -> String {
    match check(sql, &Catalog::default()) {
        Ok(s) => panic!("{sql} was accepted as {:?}", s.kind),
        Err(e) => e.to_string(),
    }
}

#[test]
fn read_only_statements_pass_with_their_facts() {
    let s = ok(
        "SELECT e.name, lower(d.name) FROM hr.employees e JOIN departments d ON d.id = e.department_id LIMIT 5;",
    );
    assert_eq!(s.kind, StatementKind::Query);
    assert_eq!(
        s.text,
        "SELECT e.name, lower(d.name) FROM hr.employees e JOIN departments d ON d.id = e.department_id LIMIT 5"
    );
    assert_eq!(s.limit, Some(5));
    let names: Vec<_> = s
        .relations
        .iter()
        .map(|r| (r.schema.clone(), r.name.clone(), r.alias.clone()))
        .collect();
    assert!(names.contains(&(Some("hr".into()), "employees".into(), Some("e".into()))));
    assert!(names.contains(&(None, "departments".into(), Some("d".into()))));
    assert_eq!(s.functions[0].name, "lower");
    assert!(s.column_refs.contains(&ColumnRef {
        qualifier: Some("e".into()),
        name: Some("name".into())
    }));
    assert_eq!(ok("SHOW search_path").kind, StatementKind::Show);
    assert_eq!(ok("EXPLAIN SELECT 1").kind, StatementKind::Explain);
    let from = ok("SELECT * FROM generate_series(1, 3) AS g");
    assert!(from.functions[0].in_from);
    let cte = ok("WITH x AS (SELECT 1 AS a) SELECT a FROM x");
    assert!(cte.relations.is_empty(), "{:?}", cte.relations);
}

#[test]
fn what_postgres_reads_as_more_or_as_writes_is_refused() {
    for (sql, says) in [
        ("SELECT 1; DELETE FROM t", "2 statements"),
        ("COMMIT; DELETE FROM t", "2 statements"),
        ("DELETE FROM t", "DELETE"),
        ("SET transaction_read_only = off", "SET"),
        ("BEGIN", "transaction command"),
        (
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "DELETE inside",
        ),
        (
            "SELECT * FROM (SELECT 1) s, LATERAL (SELECT 1 FOR UPDATE) x",
            "locks rows",
        ),
        ("SELECT 1 INTO TEMP x", "SELECT INTO"),
        ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYZE"),
        ("EXPLAIN (ANALYZE, FORMAT JSON) SELECT 1", "EXPLAIN ANALYZE"),
        ("EXPLAIN DELETE FROM t", "EXPLAIN of DELETE"),
        ("SELECT $1", "parameter"),
        ("SELECT PG_CATALOG.PG_SLEEP(10)", "pg_sleep"),
        ("SELECT \"pg_read_file\"('/etc/passwd')", "pg_read_file"),
        (
            "SELECT * FROM dblink_exec('x', 'DROP TABLE t')",
            "dblink_exec",
        ),
        ("SELECT CASE WHEN true THEN nextval('s') END", "nextval"),
        (
            "SELECT 1 /* a /* nested */ still a comment */; DELETE FROM t",
            "2 statements",
        ),
        ("SELECT $q$ ; $q$; DELETE FROM t", "2 statements"),
        ("SELECT E'\\''; DELETE FROM t; --'", "2 statements"),
        ("SELECT (", "cannot parse"),
    ] {
        let error = refused(sql);
        assert!(error.contains(says), "{sql}: {error}");
    }
}

/// A schema dump as `pg_dump --schema-only` writes it (search_path empty, names
/// qualified), with a user function, views over it, an operator, a policy and an
/// extension.
const DUMP: &str = r#"
SET search_path = '';
--
-- Name: pg_trgm; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
CREATE TABLE public.employees (id integer, name text);
CREATE TABLE public.departments (id integer, name text);
CREATE FUNCTION public.audit_touch() RETURNS integer
    LANGUAGE plpgsql
    AS $$ BEGIN PERFORM public.dblink_exec('x', 'DELETE FROM t'); RETURN 1; END $$;
CREATE FUNCTION public.full_name(first text) RETURNS text LANGUAGE sql AS $$ SELECT upper(first) $$;
CREATE FUNCTION public.op_touch(integer, integer) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR public.=== (
    FUNCTION = public.op_touch,
    LEFTARG = integer,
    RIGHTARG = integer
);
CREATE VIEW public.v_touch AS
 SELECT public.audit_touch() AS t;
CREATE VIEW public.v_over AS
 SELECT v_touch.t FROM public.v_touch;
CREATE VIEW public.v_plain AS
 SELECT departments.name FROM public.departments WHERE (departments.id OPERATOR(pg_catalog.>) 1);
CREATE VIEW public.v_op AS
 SELECT (1 OPERATOR(public.===) 1) AS b;
CREATE POLICY p ON public.employees USING ((public.audit_touch() = 1));
CREATE DOMAIN public.touchy AS integer
	CONSTRAINT touchy_check CHECK ((public.audit_touch() = 1));
"#;

fn dump_catalog(allow: &[&str], extensions: &[&str]) -> Catalog {
    let mut catalog = Catalog::from_schema_sql(DUMP).expect("dump reads");
    catalog.set_guard(sql::GuardSettings {
        allow_functions: allow.iter().map(|s| s.to_string()).collect(),
        allow_extensions: extensions.iter().map(|s| s.to_string()).collect(),
    });
    catalog
}

#[test]
fn what_a_statement_reaches_is_resolved_through_the_catalog() {
    let catalog = dump_catalog(&["public.full_name"], &["pg_trgm"]);
    let decide = |sql: &str| check(sql, &catalog).map(|_| ()).map_err(|e| e.to_string());
    for (sql, says) in [
        (
            "SELECT audit_touch()",
            "function `public.audit_touch` is not known to be free of side effects: allow it with `[guard] allow_functions = [\"public.audit_touch\"]` if it is",
        ),
        ("SELECT \"public\".\"audit_touch\"()", "public.audit_touch"),
        (
            "SELECT * FROM ROWS FROM (audit_touch()) r(x)",
            "public.audit_touch",
        ),
        (
            "SELECT * FROM t, LATERAL (SELECT audit_touch()) x",
            "public.audit_touch",
        ),
        (
            "SELECT * FROM public.v_over",
            "relation `public.v_over` reaches relation `public.v_touch` reaches function `public.audit_touch`",
        ),
        (
            "WITH x AS (SELECT * FROM v_over) SELECT * FROM x",
            "public.v_over",
        ),
        (
            "SELECT * FROM v_op",
            "operator `public.===` runs function `public.op_touch`",
        ),
        ("SELECT 1 === 2", "public.op_touch"),
        ("SELECT 1 OPERATOR(public.===) 2", "public.op_touch"),
        (
            "SELECT name FROM employees",
            "relation `public.employees` reaches",
        ),
        ("SELECT ts_stat('SELECT 1')", "runs SQL given as text"),
        (
            "SELECT 1::public.touchy",
            "type `public.touchy` runs function `public.audit_touch`",
        ),
        ("SELECT CAST(1 AS touchy)", "public.audit_touch"),
        (
            "SELECT nosuch(1)",
            "unknown function `nosuch`: it is neither a PostgreSQL built-in nor in the schema file",
        ),
        ("SELECT 1 @@@@ 2", "unknown operator `@@@@`"),
    ] {
        let error = decide(sql).expect_err(sql);
        assert!(error.contains(says), "{sql}: {error}");
    }
    for sql in [
        "SELECT full_name('x')",
        "SELECT similarity('a', 'b')",
        "SELECT 'a' % 'b'",
        "SELECT * FROM v_plain",
        "SELECT lower('X') LIKE 'x' AND 1 BETWEEN 0 AND 2",
        "SELECT CASE 1 WHEN 1 THEN 'a' END",
    ] {
        decide(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    // The extension is not trusted unless allowed.
    let strict = dump_catalog(&[], &[]);
    let error = check("SELECT similarity('a', 'b')", &strict)
        .map(|_| ())
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("allow_extensions = [\"pg_trgm\"]"),
        "{error}"
    );
    let error = check("SELECT 'a' % 'b'", &strict)
        .map(|_| ())
        .expect_err("refused")
        .to_string();
    assert!(error.contains("operator `public.%`"), "{error}");
}

#[test]
fn without_a_schema_only_built_ins_are_known() {
    let error = refused("SELECT full_name('x')");
    assert!(
        error.contains(
            "unknown function `full_name`: it is not a PostgreSQL built-in, and without a schema"
        ),
        "{error}"
    );
    let mut catalog = Catalog::default();
    catalog.set_guard(sql::GuardSettings {
        allow_functions: vec!["public.full_name".into()],
        allow_extensions: Vec::new(),
    });
    check("SELECT full_name('x')", &catalog).expect("allow-listed");
    ok("SELECT count(*), lower('a'), now(), generate_series(1, 2)");
    ok("SELECT 1 FROM t TABLESAMPLE SYSTEM (10)");
}

#[test]
fn tree_keys_leave_out_positions_and_nothing_else() {
    let plain = tree_key(r#"{"a":1,"b":{"c":"x"}}"#);
    for positioned in [
        r#"{"a":1,"location":7,"b":{"c":"x","location":-1}}"#,
        r#"{"location":7,"a":1,"b":{"location":9,"c":"x"}}"#,
        r#"{"a":1,"b":{"c":"x","arg_location":3},"stmt_len":12}"#,
    ] {
        assert_eq!(tree_key(positioned), plain, "{positioned}");
    }
    for other in [
        r#"{"a":2,"b":{"c":"x"}}"#,
        r#"{"a":1,"b":{"c":"location"}}"#,
        r#"{"a":1,"b":{"c":"x\":5"}}"#,
    ] {
        assert_ne!(tree_key(other), plain, "{other}");
    }
    assert_eq!(ok("SELECT 1 LIMIT 0").limit, Some(0));
    assert_eq!(ok("SELECT 1 LIMIT 7").limit, Some(7));
    assert_eq!(ok("SELECT 1 LIMIT ALL").limit, None);
    assert_eq!(ok("SELECT 1; ").text, "SELECT 1");
    // A literal whose bytes are not UTF-8 is refused by PostgreSQL's scanner itself (a
    // tree holding such bytes would be refused too: see `parse_json`).
    assert!(refused("SELECT E'\\xff'").contains("invalid byte sequence"));
}

#[test]
fn long_operator_chains_are_refused_with_a_way_out_and_flat_lists_are_not() {
    let chain = |n: usize| vec!["a"; n].join(" + ");
    ok(&format!("SELECT {}", chain(50)));
    let error = refused(&format!("SELECT {}", chain(100)));
    assert!(
        error.contains("group a long chain with parentheses"),
        "{error}"
    );
    let grouped = vec![format!("({})", chain(10)); 10].join(" + ");
    ok(&format!("SELECT {grouped}"));
    ok(&format!(
        "SELECT 1 WHERE {}",
        vec!["a = 1"; 1000].join(" AND ")
    ));
    ok(&format!(
        "SELECT 1 WHERE a IN ({})",
        vec!["1"; 5000].join(", ")
    ));
}

/// libpg_query writes its JSON by recursing once per tree level and checks no depth of its
/// own: a 240 KB `1+1+…` that only PostgreSQL's grammar reads (GROUP BY DISTINCT) crashed
/// `querygate check` with a stack overflow. Every deep shape, at the default size limit,
/// on a thread with a tokio worker's 2 MiB stack, is a clean refusal.
#[test]
fn deep_trees_at_the_size_limit_are_refused_not_a_crash_on_a_small_stack() {
    let limit = SqlLimits::default().max_sql_bytes;
    let fill = |prefix: &str, unit: &str, end: &str| {
        let room = limit - prefix.len() - end.len() - 16;
        format!("{prefix}{}{end}", unit.repeat(room / unit.len()))
    };
    let shapes = [
        fill("SELECT ", "1+", "1 FROM t GROUP BY DISTINCT a"),
        fill("SELECT ", "1+", "1"),
        fill("SELECT 1", "::int", ""),
        fill("SELECT ", "NOT ", "true"),
        fill("SELECT ", "- ", "1"),
        fill("SELECT 1 FROM t", " JOIN t ON true", ""),
        fill("SELECT 1", " UNION SELECT 1", ""),
        fill("SELECT ", "f(", "1"),
        fill("SELECT ", "(", "1"),
        fill("SELECT ", "ARRAY[", "1"),
    ];
    for sql in shapes {
        assert!(sql.len() <= limit);
        let head: String = sql.chars().take(40).collect();
        let result = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || {
                let checked = check(&sql, &Catalog::default()).map(|_| ());
                let analyzed =
                    analyze(&sql, &Catalog::default(), &SqlLimits::default()).map(|_| ());
                (checked, analyzed)
            })
            .expect("spawn")
            .join()
            .unwrap_or_else(|_| panic!("`{head}…` crashed the thread"));
        assert!(result.0.is_err(), "`{head}…` passed the check");
        assert!(result.1.is_err(), "`{head}…` passed the analysis");
    }
}

#[test]
fn two_spellings_of_one_statement_have_one_tree() {
    assert_eq!(
        ok("SELECT a FROM t WHERE b = 1").tree(),
        ok("select  a\nfrom t /* x */ where (b = 1);").tree()
    );
    assert_eq!(
        ok("SELECT x::int FROM t").tree(),
        ok("SELECT CAST(x AS INT) FROM t").tree()
    );
    for other in [
        "SELECT a FROM t WHERE b = 2",
        "SELECT a FROM t WHERE c = 1",
        "SELECT a FROM t WHERE b = '1'",
        "SELECT \"A\" FROM t WHERE b = 1",
    ] {
        assert_ne!(
            ok("SELECT a FROM t WHERE b = 1").tree(),
            ok(other).tree(),
            "{other}"
        );
    }
    assert_ne!(ok("SELECT E'\\n'").tree(), ok("SELECT '\\n'").tree());
    let tree = ok("SELECT a FROM t WHERE b = 1").tree();
    assert!(reads_as("SELECT a FROM t WHERE (b = 1)", &tree));
    assert!(!reads_as("SELECT a FROM t WHERE b = 1; SELECT 1", &tree));
    assert!(!reads_as("SELECT a FROM t WHERE b = 1 LIMIT 2", &tree));
    assert!(!reads_as("SELECT (", &tree));
    // Positions are taken out of the tree, text that looks like them is not.
    assert_ne!(
        ok("SELECT 'location\":5' AS location").tree(),
        ok("SELECT 'location\":6' AS location").tree()
    );
}

/// What stopped a statement is told by type, not read back from its message: the class, and
/// the function a stale catalog may not know yet, however deep the guard found it.
#[test]
fn refusals_say_their_class_and_an_unknown_function_by_type() {
    let refusal = |sql: &str, catalog: &Catalog| -> Refusal {
        analyze(sql, catalog, &SqlLimits::default()).expect_err(sql)
    };
    let none = Catalog::default();
    let unparseable = refusal("SELECT (", &none);
    assert_eq!(unparseable.class, RefusalClass::Parse);
    assert!(
        unparseable.message.starts_with("could not parse SQL: "),
        "{unparseable:?}"
    );
    assert_eq!(refusal("", &none).class, RefusalClass::Parse);
    assert_eq!(
        refusal("SELECT 1; SELECT 2", &none).class,
        RefusalClass::Parse
    );
    let write = refusal("DELETE FROM t", &none);
    assert_eq!(
        (write.class, write.unknown_function),
        (RefusalClass::Guard, None)
    );
    // Only PostgreSQL's grammar reads `TABLE t`; what it refuses is the guard's refusal.
    assert_eq!(
        refusal("TABLE t FOR UPDATE", &none).class,
        RefusalClass::Guard
    );
    assert_eq!(
        (
            RefusalClass::Parse.to_string(),
            RefusalClass::Guard.to_string()
        ),
        ("parse".into(), "guard".into())
    );

    let unknown = refusal("SELECT nosuch(1)", &none);
    assert_eq!(unknown.class, RefusalClass::Guard);
    assert_eq!(unknown.unknown_function.as_deref(), Some("nosuch"));
    assert!(
        unknown
            .message
            .starts_with("refused by the read-only guard: unknown function `nosuch`: "),
        "{unknown:?}"
    );
    let qualified = refusal("SELECT * FROM ROWS FROM (hr.nosuch()) r(x)", &none);
    assert_eq!(qualified.unknown_function.as_deref(), Some("hr.nosuch"));
    // Behind a view and an operator, the unknown function is still named.
    let mut catalog = dump_catalog(&[], &[]);
    catalog.insert_relation_reach(
        "public",
        "v_gone",
        sql::Reach::Function {
            schema: Some("public".into()),
            name: "gone".into(),
        },
    );
    catalog.insert_operator("public", "<=>", ("public", "gone"));
    for sql in ["SELECT * FROM v_gone", "SELECT 1 <=> 2"] {
        let behind = refusal(sql, &catalog);
        assert_eq!(
            behind.unknown_function.as_deref(),
            Some("public.gone"),
            "{sql}: {behind:?}"
        );
    }
    // An unknown operator, or a function known to have side effects, is no stale catalog.
    assert_eq!(refusal("SELECT 1 @@@@ 2", &none).unknown_function, None);
    assert_eq!(
        refusal("SELECT audit_touch()", &catalog).unknown_function,
        None
    );
    // A message that merely quotes such text names nothing.
    let lookalike = refusal(
        "SELECT a FROM t WHERE a = 1 \"unknown function `x`\"",
        &none,
    );
    assert!(
        lookalike.message.contains("unknown function `x`"),
        "{lookalike:?}"
    );
    assert_eq!(lookalike.unknown_function, None);
}
