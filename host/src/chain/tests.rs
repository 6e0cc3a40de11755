//! The chain's rules, with native policies: no Wasm, no database.

use super::*;
use std::time::Duration;

/// A policy that is a closure over the statement's SQL.
struct Native<F>(&'static str, F);

impl<F: Fn(&str) -> Result<Verdict, Fault>> Policy for Native<F> {
    fn name(&self) -> &str {
        self.0
    }
    fn evaluate(&self, statement: &Analysis, _: &Context) -> Evaluation {
        Evaluation {
            verdict: (self.1)(&statement.sql),
            elapsed: Duration::from_micros(7),
            logs: Vec::new(),
            logs_dropped: 0,
        }
    }
}

type Boxed = Box<dyn Policy>;

fn native(name: &'static str, f: impl Fn(&str) -> Result<Verdict, Fault> + 'static) -> Boxed {
    Box::new(Native(name, f))
}

impl Policy for Boxed {
    fn name(&self) -> &str {
        self.as_ref().name()
    }
    fn enforced(&self) -> bool {
        self.as_ref().enforced()
    }
    fn evaluate(&self, statement: &Analysis, context: &Context) -> Evaluation {
        self.as_ref().evaluate(statement, context)
    }
}

fn decide_with(policies: &[Boxed], sql: &str) -> Decision {
    decide(
        policies,
        sql,
        &Catalog::default(),
        &Context::default(),
        &SqlLimits::default(),
    )
}

fn allow() -> Boxed {
    native("allow", |_| Ok(Verdict::Allow))
}

fn rejected(decision: &Decision) -> (Rejector, String) {
    match &decision.outcome {
        Outcome::Rejected { by, reason } => (by.clone(), reason.clone()),
        Outcome::Allowed { analysis, .. } => panic!("allowed: {}", analysis.sql),
    }
}

#[test]
fn allowed_statements_run_as_their_canonical_sql() {
    let decision = decide_with(&[allow()], "select 1 as one");
    assert_eq!(decision.action(), Action::Allow);
    assert_eq!(decision.final_sql(), Some("SELECT 1 AS one"));
    assert_eq!(decision.steps.len(), 1);
    assert_eq!(decision.steps[0].verdict, StepVerdict::Allow);
    assert_eq!(decision.steps[0].input_sql, "SELECT 1 AS one");
}

#[test]
fn a_rewrite_is_analysed_again_and_is_what_the_next_policy_sees() {
    let policies = [
        native("limit", |sql| {
            Ok(Verdict::Rewrite(format!("{sql} limit 5")))
        }),
        native("see", |sql| {
            assert_eq!(sql, "SELECT 1 LIMIT 5");
            Ok(Verdict::Allow)
        }),
    ];
    let decision = decide_with(&policies, "select 1");
    assert_eq!(decision.action(), Action::Rewrite);
    assert_eq!(decision.final_sql(), Some("SELECT 1 LIMIT 5"));
    assert_eq!(decision.steps[1].input_sql, "SELECT 1 LIMIT 5");
    match &decision.outcome {
        Outcome::Allowed { rewritten_by, .. } => assert_eq!(rewritten_by, &["limit"]),
        Outcome::Rejected { .. } => panic!("rejected"),
    }
}

#[test]
fn a_rewrite_to_the_same_canonical_sql_is_not_a_rewrite() {
    let policies = [native("same", |_| {
        Ok(Verdict::Rewrite("SELECT   1".to_string()))
    })];
    let decision = decide_with(&policies, "select 1");
    assert_eq!(decision.action(), Action::Allow);
    assert_eq!(
        decision.steps[0].verdict,
        StepVerdict::Rewrite("SELECT   1".to_string())
    );
}

#[test]
fn a_refused_rewrite_rejects_by_the_policy_that_wrote_it() {
    let policies = [
        native("writer", |_| {
            Ok(Verdict::Rewrite("delete from t".to_string()))
        }),
        native("never", |_| panic!("a later policy must not run")),
    ];
    let (by, reason) = rejected(&decide_with(&policies, "select 1"));
    assert_eq!(by, Rejector::Policy("writer".to_string()));
    assert!(reason.starts_with("its rewrite was refused ("), "{reason}");
    assert!(reason.ends_with("); fix the policy"), "{reason}");
}

#[test]
fn a_rejection_stops_the_chain_and_names_the_policy() {
    let policies = [
        native("no", |_| Ok(Verdict::Reject("not today".to_string()))),
        native("never", |_| panic!("a later policy must not run")),
    ];
    let decision = decide_with(&policies, "select 1");
    assert_eq!(decision.action(), Action::Reject);
    assert_eq!(decision.steps.len(), 1);
    assert_eq!(
        decision.rejection().as_deref(),
        Some("rejected by policy `no`: not today")
    );
}

#[test]
fn reasons_are_cleaned_and_cut() {
    let policies = [native("noisy", |_| {
        Ok(Verdict::Reject(
            " \u{1b}[31mred\u{7}\tand\nmore \u{0} ".to_string(),
        ))
    })];
    let (_, reason) = rejected(&decide_with(&policies, "select 1"));
    assert_eq!(reason, "[31mred\tand\nmore");

    let long = "é".repeat(MAX_REASON_BYTES);
    let policies = [native("long", move |_| Ok(Verdict::Reject(long.clone())))];
    let (_, reason) = rejected(&decide_with(&policies, "select 1"));
    let kept = reason.strip_suffix('…').expect("a cut reason ends with …");
    assert_eq!(kept.len(), MAX_REASON_BYTES);
    assert!(kept.chars().all(|c| c == 'é'));

    let exact = "x".repeat(MAX_REASON_BYTES);
    let policies = [native("exact", move |_| Ok(Verdict::Reject(exact.clone())))];
    let (_, reason) = rejected(&decide_with(&policies, "select 1"));
    assert_eq!(
        reason.len(),
        MAX_REASON_BYTES,
        "a reason at the limit is kept whole"
    );
}

#[test]
fn malformed_verdicts_and_faults_reject_with_advice() {
    for (verdict, expected) in [
        (
            Ok(Verdict::Reject(" \n ".to_string())),
            "the policy returned a malformed verdict: a rejection without a reason, so the \
             statement is rejected; fix the policy",
        ),
        (
            Ok(Verdict::Rewrite("  ".to_string())),
            "the policy returned a malformed verdict: a rewrite to empty SQL, so the statement \
             is rejected; fix the policy",
        ),
        (
            Err(Fault::Deadline(Duration::from_millis(50))),
            "the policy ran past its deadline of 50ms, so the statement is rejected; make the \
             policy faster or raise `limits.policy_deadline_ms`",
        ),
        (
            Err(Fault::Memory(64)),
            "the policy used more than its memory limit of 64 MiB, so the statement is \
             rejected; make the policy use less memory or raise `limits.policy_memory_mib`",
        ),
    ] {
        let policies = [native("bad", move |_| verdict.clone())];
        let decision = decide_with(&policies, "select 1");
        let (by, reason) = rejected(&decision);
        assert_eq!(by, Rejector::Policy("bad".to_string()));
        assert_eq!(reason, expected);
        assert!(matches!(decision.steps[0].verdict, StepVerdict::Fault(_)));
    }
}

#[test]
fn the_analysis_rejects_before_any_policy() {
    let never = [native("never", |_| panic!("no policy may see this"))];
    let decision = decide_with(&never, "select (");
    assert_eq!(rejected(&decision).0, Rejector::Parse);
    assert!(decision.steps.is_empty());
    let decision = decide_with(&never, "delete from t");
    assert_eq!(rejected(&decision).0, Rejector::Guard);
    assert_eq!(decision.action(), Action::Reject);
}

#[test]
fn unknown_relations_and_functions_are_reported_for_a_reload() {
    let decision = decide_with(&[allow()], "select * from s.t, u");
    assert_eq!(decision.unknown_relations, ["s.t", "u"]);
    let decision = decide_with(&[allow()], "select app.f()");
    assert_eq!(decision.unknown_relations, ["function app.f"]);
}

#[test]
fn select_keeps_configured_order_and_names_what_is_missing() {
    let policies = [allow(), native("b", |_| Ok(Verdict::Allow))];
    let names = ["b".to_string(), "allow".to_string()];
    let Ok(chosen) = select(&policies, &names) else {
        panic!("both names are configured")
    };
    let chosen: Vec<&str> = chosen.into_iter().map(|p| p.name()).collect();
    assert_eq!(chosen, ["allow", "b"]);
    let Err(error) = select(&policies, &["c".to_string()]) else {
        panic!("an unknown name must be an error")
    };
    assert_eq!(
        error.to_string(),
        "no policy named `c` is configured (configured: allow, b)"
    );
}

/// A policy in monitor mode.
struct Monitored(Boxed);

impl Policy for Monitored {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn enforced(&self) -> bool {
        false
    }
    fn evaluate(&self, statement: &Analysis, context: &Context) -> Evaluation {
        self.0.evaluate(statement, context)
    }
}

#[test]
fn a_monitored_policy_is_recorded_but_changes_nothing() {
    let policies: Vec<Boxed> = vec![
        Box::new(Monitored(native("strict", |_| {
            Ok(Verdict::Reject("no".into()))
        }))),
        Box::new(Monitored(native("limiter", |sql| {
            Ok(Verdict::Rewrite(format!("{sql} LIMIT 1")))
        }))),
        Box::new(Monitored(native("broken", |_| {
            Err(Fault::Trap("unreachable".into()))
        }))),
        allow(),
    ];
    let decision = decide_with(&policies, "select 1");
    assert_eq!(decision.action(), Action::Allow);
    assert_eq!(decision.final_sql(), Some("SELECT 1"));
    let steps: Vec<(&str, bool, StepKind)> = decision
        .steps
        .iter()
        .map(|s| (s.policy.as_str(), s.enforced, s.verdict.kind()))
        .collect();
    assert_eq!(
        steps,
        [
            ("strict", false, StepKind::Reject),
            ("limiter", false, StepKind::Rewrite),
            ("broken", false, StepKind::Fault),
            ("allow", true, StepKind::Allow),
        ]
    );
    // Each policy saw the statement as it stands, not as a monitored rewrite would have left it.
    assert!(decision.steps.iter().all(|s| s.input_sql == "SELECT 1"));
    let json = serde_json::to_value(&decision).expect("serializes");
    assert_eq!(json["steps"][0]["enforced"], false);
}

/// Records each analysis it is shown: whose text it was, and whether it passed.
#[derive(Default)]
struct Recorder(std::cell::RefCell<Vec<(Option<String>, bool)>>);

impl Observer for Recorder {
    fn analysis(
        &self,
        rewritten_by: Option<&str>,
        analyze: &mut dyn FnMut() -> Result<Analysis, Refusal>,
    ) -> Result<Analysis, Refusal> {
        let result = analyze();
        self.0
            .borrow_mut()
            .push((rewritten_by.map(str::to_string), result.is_ok()));
        result
    }
}

fn decide_observed_with(policies: &[Boxed], sql: &str, observer: &Recorder) -> Decision {
    decide_observed(
        policies,
        sql,
        &Catalog::default(),
        &Context::default(),
        &SqlLimits::default(),
        observer,
    )
}

#[test]
fn an_observer_sees_every_analysis_and_whose_rewrite_it_was() {
    let limit = || {
        native("limit", |sql| {
            Ok(Verdict::Rewrite(format!("{sql} limit 5")))
        })
    };
    let observer = Recorder::default();
    let decision = decide_observed_with(&[allow(), limit()], "select 1", &observer);
    assert_eq!(decision.final_sql(), Some("SELECT 1 LIMIT 5"));
    assert_eq!(
        observer.0.take(),
        [(None, true), (Some("limit".to_string()), true)]
    );

    // A refused statement is analysed once, and no policy runs.
    let decision = decide_observed_with(&[limit()], "delete from t", &observer);
    assert_eq!(rejected(&decision).0, Rejector::Guard);
    assert!(decision.steps.is_empty());
    assert_eq!(observer.0.take(), [(None, false)]);
}
