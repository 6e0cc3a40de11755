//! Decision latency: how long the host takes to decide on one statement, before any database
//! work. Baseline: parse + guard alone. Then each example policy on its own, then a chain of
//! three, each evaluation in a fresh instance (as in production).
//!
//! Run with `cargo bench -p querygate --bench decision`. Besides criterion's own report, it
//! prints a table of p50 / p99 and the ratio of each p50 to the baseline's, all measured in the
//! same run. `DECISION_SUMMARY=0` skips the table (for profiling one criterion benchmark with
//! `--profile-time`).

use criterion::{Criterion, criterion_group};
use querygate::pipeline::Pipeline;
use querygate::policy::{Context, LoadedPolicy, PolicyLimits, PolicySpec, Runtime};
use querygate::sql::{self, Catalog, SqlLimits};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const QUERY: &str = "SELECT d.name, count(*) AS n, avg(e.salary) AS avg_salary \
    FROM employees e JOIN departments d ON d.id = e.department_id \
    JOIN events ev ON ev.employee_id = e.id \
    WHERE ev.kind = 'login' AND e.hired_on > '2020-01-01' \
    GROUP BY d.name HAVING count(*) > 1 ORDER BY n DESC";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Setup {
    catalog: Catalog,
    single: Vec<(String, Pipeline)>,
    chain: Pipeline,
    runtime: Arc<Runtime>,
    /// The test policy `fault` answering allow and nothing else: what any evaluation costs.
    allow: LoadedPolicy,
}

fn setup() -> Setup {
    let built =
        querygate::examples::build(&repo().join("policies")).unwrap_or_else(|e| panic!("{e}"));
    let config = querygate::config::Config::load(&repo().join("policies/querygate.toml"))
        .expect("policies/querygate.toml loads");
    let runtime = Arc::new(
        Runtime::new(PolicyLimits::default(), config.cache_dir()).expect("runtime starts"),
    );
    let loaded: Vec<_> = config
        .policy_specs()
        .iter()
        .map(|spec| runtime.load(spec).expect("policy loads"))
        .collect();
    let allow = runtime
        .load(&PolicySpec {
            name: "allow".into(),
            path: built.join("fault.wasm"),
            sha256: None,
            config: serde_json::json!({"mode": "allow"}),
            mode: Default::default(),
        })
        .expect("the fault policy loads");
    let all = Pipeline::new(runtime.clone(), loaded, SqlLimits::default());
    let names: Vec<String> = all.policies().map(|p| p.name.clone()).collect();
    let mut single: Vec<(String, Pipeline)> = names
        .iter()
        .map(|n| (n.clone(), all.only(std::slice::from_ref(n)).expect("known")))
        .collect();
    // The JavaScript and Python ports of function-allowlist and row-limit, when built
    // (`querygate policy build policies/sdk-js/examples/row-limit`, as the e2e tests do): what a
    // team pays for writing a policy in another language than Rust, same statement, same
    // configuration. row-limit's ports edit the syntax tree and have the host render it.
    for policy in ["function-allowlist", "row-limit"] {
        for (language, sdk) in [("JavaScript", "sdk-js"), ("Python", "sdk-py")] {
            let port = repo().join(format!(
                "policies/{sdk}/examples/{policy}/dist/{policy}.wasm"
            ));
            if !port.exists() {
                eprintln!(
                    "{} is not built: the {policy} ({language}) row is skipped",
                    port.display()
                );
                continue;
            }
            let spec = config
                .policy_specs()
                .into_iter()
                .find(|spec| spec.name == policy)
                .expect("the policy is configured");
            let started = Instant::now();
            let loaded = runtime
                .load(&PolicySpec { path: port, ..spec })
                .expect("the port loads");
            eprintln!("{policy} ({language}) loaded in {:?}", started.elapsed());
            single.push((
                format!("{policy} ({language})"),
                Pipeline::new(runtime.clone(), vec![loaded], SqlLimits::default()),
            ));
        }
    }
    let chain = all
        .only(&[
            "row-limit".to_string(),
            "deny-columns".to_string(),
            "function-allowlist".to_string(),
        ])
        .expect("known");
    let schema = std::fs::read_to_string(repo().join("policies/schema.sql")).expect("schema");
    Setup {
        catalog: Catalog::from_schema_sql(&schema).expect("schema parses"),
        single,
        chain,
        runtime,
        allow,
    }
}

fn context() -> Context {
    Context {
        database: "hr".into(),
        database_user: "analyst".into(),
        database_name: "hr".into(),
        client_name: "bench".into(),
        tool: "query".into(),
    }
}

fn percentiles(mut f: impl FnMut()) -> (Duration, Duration) {
    for _ in 0..200 {
        f();
    }
    let mut samples: Vec<Duration> = (0..3000)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}

fn summary(s: &Setup) {
    let ctx = context();
    let limits = SqlLimits::default();
    let mut rows = vec![(
        "parse + guard".to_string(),
        percentiles(|| {
            sql::analyze_sqlparser_only(QUERY, &s.catalog, &limits).expect("query passes");
        }),
    )];
    // A floor under every decision: sqlparser's own parse of the statement, before any check.
    let parse = percentiles(|| {
        sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, QUERY)
            .expect("parses");
    });
    rows.push(("  of which sqlparser's parse alone".to_string(), parse));
    // What the second parser costs: PostgreSQL's grammar checking the statement, and reading
    // sqlparser's rendering back to compare trees.
    let tree = sql::postgres::check(QUERY, &s.catalog)
        .expect("PostgreSQL reads it")
        .tree();
    let analysis = sql::analyze_sqlparser_only(QUERY, &s.catalog, &limits).expect("query passes");
    let rendered = &analysis.sql;
    rows.push((
        "  of which PostgreSQL's grammar: check".to_string(),
        percentiles(|| {
            sql::postgres::check(QUERY, &s.catalog).expect("PostgreSQL reads it");
        }),
    ));
    rows.push((
        "  of which PostgreSQL's grammar: rendering reads the same".to_string(),
        percentiles(|| {
            assert!(sql::postgres::reads_as(rendered, &tree));
        }),
    ));
    rows.push((
        "  of which libpg_query's parse to JSON".to_string(),
        percentiles(|| {
            sql::postgres::parse_json(QUERY).expect("parses");
        }),
    ));
    rows.push((
        "both parsers, side by side (sql::analyze)".to_string(),
        percentiles(|| {
            sql::analyze(QUERY, &s.catalog, &limits).expect("query passes");
        }),
    ));
    // What the `sql.render` import costs the host for this statement's tree.
    rows.push((
        format!(
            "host render of the tree ({} bytes of JSON)",
            analysis.ast_json.len()
        ),
        percentiles(|| {
            sql::render_tree(&analysis.ast_json).expect("renders");
        }),
    ));
    // The other floor: one evaluation in a fresh instance of a policy that answers allow
    // without looking, on this statement and on the smallest one.
    rows.push((
        "one evaluation, allow-all policy, this statement".to_string(),
        percentiles(|| {
            s.runtime.evaluate(&s.allow, &analysis, &ctx);
        }),
    ));
    let tiny = sql::analyze_sqlparser_only("SELECT 1", &s.catalog, &limits).expect("query passes");
    let evaluation = percentiles(|| {
        s.runtime.evaluate(&s.allow, &tiny, &ctx);
    });
    rows.push((
        "one evaluation, allow-all policy, SELECT 1".to_string(),
        evaluation,
    ));
    for (name, pipeline) in &s.single {
        rows.push((
            format!("+ {name}"),
            percentiles(|| {
                pipeline.decide(QUERY, &s.catalog, &ctx);
            }),
        ));
    }
    rows.push((
        "+ chain of 3 (row-limit, deny-columns, function-allowlist)".to_string(),
        percentiles(|| {
            s.chain.decide(QUERY, &s.catalog, &ctx);
        }),
    ));
    let base = rows[0].1.0.as_secs_f64();
    println!(
        "\n{:<62} {:>10} {:>10} {:>8}",
        "decision", "p50 µs", "p99 µs", "×base"
    );
    for (name, (p50, p99)) in &rows {
        println!(
            "{name:<62} {:>10.1} {:>10.1} {:>8.2}",
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6,
            p50.as_secs_f64() / base
        );
    }
    // The least a chain of three with one rewrite can cost: the statement and the rewrite
    // each parsed by sqlparser, and three fresh instances.
    println!(
        "\nfloor of a chain of 3 with one rewrite (2 × sqlparser's parse + 3 × the cheapest \
         evaluation): {:.1} µs\n",
        (2 * parse.0 + 3 * evaluation.0).as_secs_f64() * 1e6
    );
}

fn decision(c: &mut Criterion) {
    let s = setup();
    if std::env::var_os("DECISION_SUMMARY").is_none_or(|v| v != "0") {
        summary(&s);
    }
    let ctx = context();
    let limits = SqlLimits::default();
    let mut group = c.benchmark_group("decision");
    group.bench_function("parse+guard", |b| {
        b.iter(|| sql::analyze_sqlparser_only(QUERY, &s.catalog, &limits).expect("query passes"))
    });
    group.bench_function("grammar-check", |b| {
        b.iter(|| sql::postgres::check(QUERY, &s.catalog).expect("PostgreSQL reads it"))
    });
    for (name, pipeline) in &s.single {
        group.bench_function(name.as_str(), |b| {
            b.iter(|| pipeline.decide(QUERY, &s.catalog, &ctx))
        });
    }
    group.bench_function("chain-of-3", |b| {
        b.iter(|| s.chain.decide(QUERY, &s.catalog, &ctx))
    });
    group.finish();
}

criterion_group!(benches, decision);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
