//! Fault guests and limits: every way a policy can misbehave rejects the statement with a
//! message naming the policy and the cause, and the next evaluation still works.

use crate::support::{cache_dir, policy};
use querygate::pipeline::{Decision, Outcome, Pipeline, Rejector};
use querygate::policy::{Context, PolicyLimits, PolicySpec, Runtime};
use querygate::sql::{Catalog, SqlLimits};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

fn runtime(limits: PolicyLimits) -> Arc<Runtime> {
    Arc::new(Runtime::new(limits, Some(cache_dir())).expect("runtime starts"))
}

/// A pipeline of the fault guest configured as `config`, under `limits`.
fn fault_chain(runtime: &Arc<Runtime>, config: Value) -> Pipeline {
    let spec = PolicySpec {
        name: "fault".into(),
        path: policy("fault"),
        sha256: None,
        config,
        mode: Default::default(),
    };
    let loaded = runtime.load(&spec).expect("fault guest loads");
    Pipeline::new(runtime.clone(), vec![loaded], SqlLimits::default())
}

fn decide(pipeline: &Pipeline, sql: &str) -> Decision {
    pipeline.decide(sql, &Catalog::default(), &Context::default())
}

fn rejection(decision: &Decision) -> String {
    match &decision.outcome {
        Outcome::Rejected { by, reason } => {
            assert_eq!(*by, Rejector::Policy("fault".into()), "{reason}");
            decision.rejection().unwrap_or_default()
        }
        Outcome::Allowed { analysis, .. } => panic!("expected a rejection, got `{}`", analysis.sql),
    }
}

fn assert_allowed(decision: &Decision, sql: &str) {
    assert_eq!(
        decision.final_sql(),
        Some(sql),
        "{:?}",
        decision.rejection()
    );
}

/// Each fault rejects with a message naming the policy and the cause; then the same runtime
/// evaluates a well-behaved policy again.
#[test]
fn every_fault_rejects_and_the_next_evaluation_works() {
    // A deadline long enough that the memory bomb reaches the memory cap first.
    let rt = runtime(PolicyLimits {
        deadline: Duration::from_millis(500),
        memory_bytes: 16 * 1024 * 1024,
        ..PolicyLimits::default()
    });
    let healthy = fault_chain(&rt, json!({"mode": "allow"}));
    let faults = [
        (json!({"mode": "loop"}), "ran past its deadline of 500ms"),
        (
            json!({"mode": "memory-bomb"}),
            "used more than its memory limit of 16 MiB",
        ),
        (
            json!({"mode": "trap"}),
            "trapped: wasm trap: wasm `unreachable` instruction executed",
        ),
        // Rust's shadow stack lives in linear memory: overflowing it is an out-of-bounds access.
        (json!({"mode": "stack"}), "trapped: "),
        (json!({"mode": "native-stack"}), "trapped: stack overflow"),
        (
            json!({"mode": "reject", "reason": ""}),
            "malformed verdict: a rejection without a reason",
        ),
        (
            json!({"mode": "rewrite", "sql": ""}),
            "malformed verdict: a rewrite to empty SQL",
        ),
        (
            json!({"mode": "rewrite", "sql": "DELETE FROM employees"}),
            "its rewrite was refused (refused by the read-only guard: `DELETE` is not a read-only statement",
        ),
        (
            json!({"mode": "rewrite", "sql": "SELECT 1; DROP TABLE employees"}),
            "its rewrite was refused (found 2 statements",
        ),
        (
            json!({"mode": "rewrite", "sql": "SELECT pg_sleep(100)"}),
            "its rewrite was refused (refused by the read-only guard: function `pg_sleep`",
        ),
        (
            json!({"mode": "rewrite", "sql": "SELEC nonsense"}),
            "its rewrite was refused (could not parse SQL",
        ),
    ];
    for (config, expected) in faults {
        let chain = fault_chain(&rt, config.clone());
        let message = rejection(&decide(&chain, "SELECT 1"));
        assert!(
            message.starts_with("rejected by policy `fault`: "),
            "{message}"
        );
        assert!(
            message.contains(expected),
            "{config}: `{message}` should contain `{expected}`"
        );
        assert_allowed(&decide(&healthy, "SELECT 2"), "SELECT 2");
        // The faulty policy itself gets a fresh instance next time too.
        let again = rejection(&decide(&chain, "SELECT 3"));
        assert!(again.contains(expected), "{again}");
    }
}

#[test]
fn a_garbage_verdict_from_a_hand_written_component_rejects() {
    // A component whose `evaluate` answers with variant case 7, which `verdict` does not have.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("garbage.wat");
    std::fs::write(&path, GARBAGE_VERDICT_WAT).expect("write wat");
    let rt = runtime(PolicyLimits::default());
    let spec = PolicySpec {
        name: "fault".into(),
        path,
        sha256: None,
        config: json!({}),
        mode: Default::default(),
    };
    let loaded = rt
        .load(&spec)
        .expect("the hand-written component type-checks");
    let chain = Pipeline::new(rt.clone(), vec![loaded], SqlLimits::default());
    let message = rejection(&decide(&chain, "SELECT 1"));
    assert!(message.contains("malformed verdict"), "{message}");
    let message = rejection(&decide(&chain, "SELECT 1"));
    assert!(message.contains("malformed verdict"), "{message}");
}

#[test]
fn the_deadline_is_obeyed_just_under_and_violated_just_over() {
    let rt = runtime(PolicyLimits {
        deadline: Duration::from_millis(200),
        ..PolicyLimits::default()
    });
    // Ticks are a tenth of the deadline, so a guest is stopped between 180 and 200 ms.
    let under = fault_chain(&rt, json!({"mode": "spin", "ms": 120}));
    assert_allowed(&decide(&under, "SELECT 1"), "SELECT 1");
    let over = fault_chain(&rt, json!({"mode": "spin", "ms": 260}));
    let message = rejection(&decide(&over, "SELECT 1"));
    assert!(
        message.contains("ran past its deadline of 200ms"),
        "{message}"
    );
    assert!(message.contains("policy_deadline_ms"), "{message}");
}

/// A guest that tries to sleep (an hour) would block inside the host, out of the deadline's
/// reach: waiting on a clock traps at once, and the statement is rejected.
#[test]
fn a_guest_that_sleeps_is_stopped_at_once() {
    let rt = runtime(PolicyLimits {
        deadline: Duration::from_millis(200),
        ..PolicyLimits::default()
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let chain = fault_chain(&rt, json!({"mode": "sleep"}));
        let _ = tx.send(rejection(&decide(&chain, "SELECT 1")));
    });
    let message = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("an hour-long sleep in the guest blocked the host");
    assert!(message.contains("policies may not do"), "{message}");
}

#[test]
fn the_memory_cap_is_obeyed_just_under_and_violated_just_over() {
    // What is tested is the memory cap, not the deadline: touching 24 MiB on a machine busy
    // with the rest of the suite can take longer than the default 50 ms.
    let rt = runtime(PolicyLimits {
        memory_bytes: 32 * 1024 * 1024,
        deadline: Duration::from_secs(10),
        ..PolicyLimits::default()
    });
    let under = fault_chain(&rt, json!({"mode": "allocate", "bytes": 24 << 20}));
    assert_allowed(&decide(&under, "SELECT 1"), "SELECT 1");
    let over = fault_chain(&rt, json!({"mode": "allocate", "bytes": 40 << 20}));
    let message = rejection(&decide(&over, "SELECT 1"));
    assert!(
        message.contains("used more than its memory limit of 32 MiB"),
        "{message}"
    );
}

#[test]
fn the_log_is_capped_and_a_flood_does_not_fail_the_policy() {
    // What is tested is the log cap, not the deadline: a generous one keeps a loaded machine
    // from turning 200 writes into a deadline rejection.
    let rt = runtime(PolicyLimits {
        log_bytes: 1000,
        deadline: Duration::from_secs(10),
        ..PolicyLimits::default()
    });
    let chain = fault_chain(
        &rt,
        json!({"mode": "log-flood", "count": 200, "size": 4096}),
    );
    let decision = decide(&chain, "SELECT 1");
    assert_allowed(&decision, "SELECT 1");
    let logged: usize = decision.steps[0].logs.iter().map(|l| l.message.len()).sum();
    assert!(logged <= 1000, "{logged} bytes logged");
    assert!(logged > 0, "some log lines are kept");
}

#[test]
fn no_state_survives_between_evaluations() {
    let rt = runtime(PolicyLimits::default());
    let chain = fault_chain(&rt, json!({"mode": "counter"}));
    for _ in 0..3 {
        let message = rejection(&decide(&chain, "SELECT 1"));
        assert!(message.contains("counter: 1"), "{message}");
    }
}

/// The sandbox: each probe reports what the guest saw.
#[test]
fn the_sandbox_grants_no_files_environment_or_network() {
    let rt = runtime(PolicyLimits::default());
    for (mode, expected) in [
        ("read-file", "read-file: denied"),
        ("env", "env: 0 variables"),
        ("network", "network: denied"),
        // Granted, and harmless: reading the clock or random numbers changes nothing.
        ("clock", "clock: real"),
        ("random", "random: distinct"),
    ] {
        let chain = fault_chain(&rt, json!({"mode": mode}));
        let message = rejection(&decide(&chain, "SELECT 1"));
        assert!(message.contains(expected), "{mode}: {message}");
    }
}

const GARBAGE_VERDICT_WAT: &str = r#"
(component
  (core module $m
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $at i32)
      (local.set $at (i32.and (i32.add (global.get $next) (i32.const 7)) (i32.const -8)))
      (global.set $next (i32.add (local.get $at) (local.get 3)))
      (local.get $at))
    (func (export "evaluate") (param i32) (result i32)
      (i32.store8 (i32.const 16) (i32.const 7))
      (i32.const 16)))
  (core instance $i (instantiate $m))
  (type $column (record (field "name" string) (field "data-type" string)))
  (export $column-e "column" (type $column))
  (type $relation (record
    (field "schema" (option string)) (field "name" string) (field "alias" (option string))
    (field "known" bool) (field "columns" (list $column-e))))
  (export $relation-e "relation" (type $relation))
  (type $function-call (record (field "schema" (option string)) (field "name" string) (field "in-from" bool)))
  (export $function-call-e "function-call" (type $function-call))
  (type $column-ref (record (field "qualifier" (option string)) (field "name" (option string))))
  (export $column-ref-e "column-ref" (type $column-ref))
  (type $kind (enum "query" "explain" "show"))
  (export $kind-e "statement-kind" (type $kind))
  (type $statement (record
    (field "sql" string) (field "ast-json" string) (field "kind" $kind-e)
    (field "relations" (list $relation-e)) (field "functions" (list $function-call-e))
    (field "column-refs" (list $column-ref-e)) (field "limit" (option u64))
    (field "limit-expr" (option string))))
  (export $statement-e "statement" (type $statement))
  (type $context (record
    (field "database" string) (field "database-user" string) (field "database-name" string)
    (field "client-name" string) (field "tool" string) (field "config" string)))
  (export $context-e "context" (type $context))
  (type $verdict (variant (case "allow") (case "rewrite" string) (case "reject" string)))
  (export $verdict-e "verdict" (type $verdict))
  (func (export "evaluate") (param "statement" $statement-e) (param "context" $context-e) (result $verdict-e)
    (canon lift (core func $i "evaluate") (memory (core memory $i "memory"))
      (realloc (core func $i "realloc"))))
)
"#;
