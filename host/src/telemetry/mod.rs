//! OpenTelemetry export for `serve`, off unless configured (`--otlp ENDPOINT` or
//! `[telemetry] otlp`): a trace per tool call and three metrics, sent over OTLP/HTTP with JSON
//! bodies.
//!
//! Off, nothing here does anything: no exporter, no thread, no connection; every function below
//! returns at its first check of [`on`]. On, [`Exporter::start`] starts the SDK's two export
//! threads (a batch of spans, and metrics every `OTEL_METRIC_EXPORT_INTERVAL` milliseconds,
//! 60 s by default), and [`Exporter::shutdown`] sends what is left when the session ends.
//!
//! The trace of one call (names are what a tracing backend shows):
//! - `tools/call TOOL`, the root: `mcp.method.name`, `gen_ai.tool.name`, and, once decided,
//!   `querygate.outcome`; status error when the answer is a tool error.
//! - `analyze`: both parsers and the built-in guard on one text, which run as one pass (so one
//!   span, not two). `querygate.rejected_by` (`parse` or `guard`) when refused;
//!   `querygate.rewritten_by` when the text is a policy's rewrite.
//! - `policy`, one per policy evaluated: `querygate.policy.name`, `.sha256`, `.verdict` (`allow`,
//!   `rewrite`, `reject`, `fault`), `.enforced`.
//! - `execute` (`query`) or `explain`: `querygate.database`, and for `execute`
//!   `db.response.returned_rows` and `querygate.truncated`; status error with `error.type` (the
//!   SQLSTATE, or what failed) when it did not run.
//!
//! Metrics: `querygate.decisions` (counter: `querygate.outcome` `allowed`, `rewritten`,
//! `rejected` or `error`, `querygate.tool`, and `querygate.rejected_by` for a rejection),
//! `querygate.policy.duration` (histogram, seconds: `querygate.policy.name`,
//! `querygate.policy.verdict`), `querygate.rows` (histogram: rows a `query` returned).
//!
//! No SQL text, rejection reason or row is exported: those stay in the audit log.

mod http;

use crate::chain::{Evaluation, Rejector, Verdict, checked};
use crate::database::DbError;
use crate::pipeline::{DecideError, Outcome};
use crate::sql::{Analysis, Refusal, RefusalClass};
use opentelemetry::metrics::{Counter, Histogram, MeterProvider as _};
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use std::sync::OnceLock;
use std::time::Duration;

/// `[telemetry]`: where to export, and under which service name.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// The OTLP/HTTP endpoint (`http://host:4318`); traces go to `/v1/traces`, metrics to
    /// `/v1/metrics`. Nothing is exported without it.
    pub otlp: Option<String>,
    /// The `service.name` of what is exported; default `OTEL_SERVICE_NAME`, else `querygate`.
    pub service_name: Option<String>,
}

impl TelemetrySettings {
    /// An endpoint, when set, is an http:// or https:// URL.
    pub fn check(&self) -> Result<(), String> {
        match self.otlp.as_deref().map(str::trim) {
            Some(endpoint)
                if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) =>
            {
                Err(format!(
                    "`telemetry.otlp` is `{endpoint}`, not an http:// or https:// URL (an \
                     OTLP/HTTP endpoint such as `http://127.0.0.1:4318`)"
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Why export could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot start the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("telemetry is already started")]
    Started,
}

/// The running export; [`Exporter::shutdown`] flushes it.
pub struct Exporter {
    traces: SdkTracerProvider,
    metrics: SdkMeterProvider,
}

/// What the functions below record to, once export has started.
struct Instruments {
    tracer: SdkTracer,
    decisions: Counter<u64>,
    policy_duration: Histogram<f64>,
    rows: Histogram<u64>,
}

static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();

/// How long one export request may take (the OTLP default).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

fn on() -> Option<&'static Instruments> {
    INSTRUMENTS.get()
}

impl Exporter {
    /// Start exporting to `settings.otlp`; None when it is not set. Once per process. The
    /// endpoint is as `Config::check` accepted it (through [`TelemetrySettings::check`]).
    pub fn start(settings: &TelemetrySettings) -> Result<Option<Exporter>, TelemetryError> {
        let Some(endpoint) = settings.otlp.as_deref() else {
            return Ok(None);
        };
        let endpoint = endpoint.trim().trim_end_matches('/');
        let client = http::Client::new(endpoint.starts_with("https://"), EXPORT_TIMEOUT);
        let spans = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(format!("{endpoint}/v1/traces"))
            .with_timeout(EXPORT_TIMEOUT)
            .with_http_client(client.clone())
            .build()?;
        let metrics = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(format!("{endpoint}/v1/metrics"))
            .with_timeout(EXPORT_TIMEOUT)
            .with_http_client(client)
            .build()?;
        let mut resource = opentelemetry_sdk::Resource::builder();
        if let Some(name) = &settings.service_name {
            resource = resource.with_service_name(name.clone());
        } else if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name("querygate");
        }
        let resource = resource.build();
        let traces = SdkTracerProvider::builder()
            .with_batch_exporter(spans)
            .with_resource(resource.clone())
            .build();
        let metrics = SdkMeterProvider::builder()
            .with_periodic_exporter(metrics)
            .with_resource(resource)
            .build();
        let meter = metrics.meter("querygate");
        let instruments = Instruments {
            tracer: opentelemetry::trace::TracerProvider::tracer(&traces, "querygate"),
            decisions: meter
                .u64_counter("querygate.decisions")
                .with_description("Statements decided, by outcome")
                .with_unit("{decision}")
                .build(),
            policy_duration: meter
                .f64_histogram("querygate.policy.duration")
                .with_description("Time one policy took to evaluate one statement")
                .with_unit("s")
                .build(),
            rows: meter
                .u64_histogram("querygate.rows")
                .with_description("Rows a query returned")
                .with_unit("{row}")
                .build(),
        };
        let exporter = Exporter { traces, metrics };
        if INSTRUMENTS.set(instruments).is_err() {
            exporter.shutdown();
            return Err(TelemetryError::Started);
        }
        Ok(Some(exporter))
    }

    /// Export what is left and stop the export threads (blocks up to the export timeout).
    pub fn shutdown(self) {
        if let Err(e) = self.traces.shutdown() {
            tracing::warn!(error = %e, "could not export the last spans");
        }
        if let Err(e) = self.metrics.shutdown() {
            tracing::warn!(error = %e, "could not export the last metrics");
        }
    }
}

/// Run one tool call as a trace of its own; `failed` says whether its answer is an error.
pub async fn tool_call<T>(
    tool: &str,
    call: impl Future<Output = T>,
    failed: impl FnOnce(&T) -> bool,
) -> T {
    let Some(on) = on() else {
        return call.await;
    };
    use opentelemetry::context::FutureExt as _;
    let span = on
        .tracer
        .span_builder(format!("tools/call {tool}"))
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("mcp.method.name", "tools/call"),
            KeyValue::new("gen_ai.tool.name", tool.to_string()),
        ])
        .start_with_context(&on.tracer, &Context::new());
    let cx = Context::new().with_span(span);
    let answer = call.with_context(cx.clone()).await;
    if failed(&answer) {
        cx.span()
            .set_attribute(KeyValue::new("error.type", "tool_error"));
        cx.span().set_status(Status::error(""));
    }
    cx.span().end();
    answer
}

/// The trace a call is in, to carry onto the thread that decides.
pub struct Carried(Option<Context>);

/// The current trace, for [`Carried::run`] on another thread.
pub fn carry() -> Carried {
    Carried(on().map(|_| Context::current()))
}

impl Carried {
    /// Run `f` in the carried trace.
    pub fn run<T>(self, f: impl FnOnce() -> T) -> T {
        let _attached = self.0.map(Context::attach);
        f()
    }
}

/// A span in the current trace, ended (with `end`'s attributes) when `run` returns.
fn in_span<T>(
    on: &Instruments,
    name: &'static str,
    attributes: Vec<KeyValue>,
    run: impl FnOnce() -> T,
    end: impl FnOnce(&T, &mut opentelemetry_sdk::trace::Span),
) -> T {
    let mut span = on
        .tracer
        .span_builder(name)
        .with_kind(SpanKind::Internal)
        .with_attributes(attributes)
        .start(&on.tracer);
    let result = run();
    end(&result, &mut span);
    span.end();
    result
}

/// One analysis of a text (both parsers and the guard), as the span `analyze`.
pub fn analysis(
    rewritten_by: Option<&str>,
    analyze: impl FnOnce() -> Result<Analysis, Refusal>,
) -> Result<Analysis, Refusal> {
    let Some(on) = on() else {
        return analyze();
    };
    let attributes = rewritten_by
        .map(|name| vec![KeyValue::new("querygate.rewritten_by", name.to_string())])
        .unwrap_or_default();
    in_span(on, "analyze", attributes, analyze, |result, span| {
        if let Err(refusal) = result {
            let by = match refusal.class {
                RefusalClass::Parse => "parse",
                RefusalClass::Guard => "guard",
            };
            span.set_attribute(KeyValue::new("querygate.rejected_by", by));
        }
    })
}

/// One policy's evaluation, as the span `policy` and a sample of `querygate.policy.duration`.
pub fn policy(
    name: &str,
    sha256: &str,
    enforced: bool,
    evaluate: impl FnOnce() -> Evaluation,
) -> Evaluation {
    let Some(on) = on() else {
        return evaluate();
    };
    let attributes = vec![
        KeyValue::new("querygate.policy.name", name.to_string()),
        KeyValue::new("querygate.policy.sha256", sha256.to_string()),
        KeyValue::new("querygate.policy.enforced", enforced),
    ];
    in_span(on, "policy", attributes, evaluate, |evaluation, span| {
        // As the chain will see it: a malformed verdict is a fault.
        let verdict = match evaluation.verdict.clone().and_then(checked) {
            Ok(Verdict::Allow) => "allow",
            Ok(Verdict::Rewrite(_)) => "rewrite",
            Ok(Verdict::Reject(_)) => "reject",
            Err(_) => "fault",
        };
        span.set_attribute(KeyValue::new("querygate.policy.verdict", verdict));
        if verdict == "fault" {
            span.set_status(Status::error(""));
        }
        on.policy_duration.record(
            evaluation.elapsed.as_secs_f64(),
            &[
                KeyValue::new("querygate.policy.name", name.to_string()),
                KeyValue::new("querygate.policy.verdict", verdict),
            ],
        );
    })
}

/// The decision on a call's statement (or why there is none): one `querygate.decisions`, and
/// `querygate.outcome` on the call's span.
pub fn decided(tool: &str, decision: &Result<crate::chain::Decision, DecideError>) {
    let Some(on) = on() else {
        return;
    };
    let mut attributes = vec![KeyValue::new("querygate.tool", tool.to_string())];
    let outcome = match decision.as_ref().map(|d| &d.outcome) {
        Err(_) => "error",
        Ok(Outcome::Allowed { rewritten_by, .. }) if rewritten_by.is_empty() => "allowed",
        Ok(Outcome::Allowed { .. }) => "rewritten",
        Ok(Outcome::Rejected { by, .. }) => {
            let by = match by {
                Rejector::Parse => "parse".to_string(),
                Rejector::Guard => "guard".to_string(),
                Rejector::Policy(name) => name.clone(),
            };
            attributes.push(KeyValue::new("querygate.rejected_by", by));
            "rejected"
        }
    };
    Context::current()
        .span()
        .set_attribute(KeyValue::new("querygate.outcome", outcome));
    attributes.push(KeyValue::new("querygate.outcome", outcome));
    on.decisions.add(1, &attributes);
}

/// Running the allowed statement on `database`, as the span `name` (`execute` or `explain`);
/// `rows` says how many rows came back, and whether some were left out.
pub async fn database<T>(
    name: &'static str,
    database: &str,
    run: impl Future<Output = Result<T, DbError>>,
    rows: impl FnOnce(&T) -> Option<(usize, bool)>,
) -> Result<T, DbError> {
    let Some(on) = on() else {
        return run.await;
    };
    use opentelemetry::context::FutureExt as _;
    let span = on
        .tracer
        .span_builder(name)
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("db.system.name", "postgresql"),
            KeyValue::new("querygate.database", database.to_string()),
        ])
        .start(&on.tracer);
    let cx = Context::current_with_span(span);
    let result = run.with_context(cx.clone()).await;
    let span = cx.span();
    match &result {
        Ok(out) => {
            if let Some((count, truncated)) = rows(out) {
                span.set_attribute(KeyValue::new("db.response.returned_rows", count as i64));
                span.set_attribute(KeyValue::new("querygate.truncated", truncated));
                on.rows.record(
                    count as u64,
                    &[KeyValue::new("querygate.database", database.to_string())],
                );
            }
        }
        Err(error) => {
            span.set_attribute(KeyValue::new("error.type", error_type(error)));
            span.set_status(Status::error(""));
        }
    }
    span.end();
    result
}

/// A low-cardinality name for what failed: the SQLSTATE, or the kind of failure. Not the
/// message, which may quote the statement's values.
fn error_type(error: &DbError) -> String {
    match error {
        DbError::Server(e) => e.code.clone(),
        DbError::Config { .. } => "config".into(),
        DbError::Connect { .. } => "connect".into(),
        DbError::ConnectionLost { .. } => "connection_lost".into(),
        DbError::Busy { .. } => "busy".into(),
        DbError::Timeout { .. } => "timeout".into(),
        DbError::Encode { .. } => "encode".into(),
        DbError::Oversized { .. } => "oversized".into(),
        DbError::Parameters { .. } => "parameters".into(),
        DbError::PlanTooLarge { .. } => "plan_too_large".into(),
        DbError::NotFound { .. } => "not_found".into(),
    }
}
