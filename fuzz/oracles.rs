//! The properties the fuzz targets check, beside the fuzzers and outside the product: the
//! targets (`fuzz_targets/`, run by `fuzz/run`) and the stable smoke test over the seeds, the
//! corpus and mutations of them (`tests/e2e/fuzz_smoke.rs`) both include this file. Each
//! function panics when its property does not hold.

use querygate::pipeline::{Outcome, Pipeline};
use querygate::policy::{Context, PolicyLimits, Runtime};
use querygate::sql::{self, Catalog, SqlLimits};
use std::sync::{Arc, OnceLock};

/// sqlparser's analysis and guard on any input (PostgreSQL's grammar runs in `differential`):
/// an answer, never a panic, an abort or a stack overflow (which would abort the process).
/// Bounded time is the fuzzer's `-timeout`.
pub fn analysis(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = sql::analyze_sqlparser_only(&text, &Catalog::default(), &SqlLimits::default());
}

fn pipeline() -> &'static Pipeline {
    static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
    PIPELINE.get_or_init(|| {
        let runtime = Runtime::new(PolicyLimits::default(), None)
            .unwrap_or_else(|e| panic!("the policy runtime starts: {e}"));
        Pipeline::new(Arc::new(runtime), Vec::new(), SqlLimits::default())
    })
}

/// Whatever the decision allows is, to PostgreSQL's grammar, exactly one read-only statement
/// of the kind querygate reported.
pub fn differential(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let decision = pipeline().decide(&text, &Catalog::default(), &Context::default());
    if let Outcome::Allowed { analysis, .. } = &decision.outcome {
        match sql::postgres::check(&analysis.sql, &Catalog::default()) {
            Ok(pg) => assert_eq!(
                pg.kind, analysis.kind,
                "allowed {text:?} as {:?}, PostgreSQL reads {:?}",
                analysis.kind, pg.kind
            ),
            Err(reason) => panic!(
                "allowed {text:?} (runs as {:?}), but to PostgreSQL: {reason}",
                analysis.sql
            ),
        }
    }
}
