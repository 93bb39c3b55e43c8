//! # Metrics: bounded counters and histograms, as Prometheus text and over OTLP
//!
//! [`install`] (which [`crate::init`] calls with `[metrics]`) starts recording:
//! cost events ([`crate::cost::on_cost`]) give token usage and cost on the
//! caller's thread, finished spans give durations and errors on the export
//! thread (off the request path), [`eval_hook`] gives evaluation scores, and
//! the pipeline, alert and evaluation counters are read when metrics are
//! rendered. No label is ever a session id or a phone number; every metric
//! keeps at most `metrics.max_series_per_metric` series (further label sets
//! share one `_overflow` series, counted in `chatobs_metric_series_overflow_total`).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `gen_ai_client_token_usage` (`gen_ai.client.token.usage`) | histogram, buckets 1, 4, 16, ... 67108864 | `gen_ai_token_type`, `gen_ai_operation_name`, `gen_ai_provider_name`, `gen_ai_request_model` |
//! | `gen_ai_client_operation_duration_seconds` (`gen_ai.client.operation.duration`) | histogram, 0.01, 0.02, ... 81.92 | `gen_ai_operation_name`, `gen_ai_provider_name`, `gen_ai_request_model` |
//! | `chatobs_llm_cost_usd_total` | counter | `gen_ai_provider_name`, `gen_ai_request_model` |
//! | `chatobs_llm_call_cost_usd` | histogram, a bound at each per-call threshold | `gen_ai_provider_name`, `gen_ai_request_model` |
//! | `chatobs_whatsapp_cost_usd_total`, `chatobs_whatsapp_messages_total` | counter | `market`, `category`, `pricing_type` |
//! | `chatobs_whatsapp_cost_overestimate_usd_total` | counter (reconciliations that lowered the estimate) | `market`, `category`, `pricing_type` |
//! | `chatobs_conversations_over_budget_total` | counter | `rule` |
//! | `chatobs_span_duration_seconds` | histogram | `agent_role`, `conversation_step` |
//! | `chatobs_spans_total`, `chatobs_span_errors_total` | counter | `agent_role` |
//! | `chatobs_turns_total` / `chatobs_turn_duration_seconds` | counter / histogram | `outcome` / none |
//! | `chatobs_alerts_fired_total` | counter | `rule`, `severity` |
//! | `chatobs_alert_deliveries_total`, `chatobs_alert_sink_failures_total`, `chatobs_alerts_dropped_total` | counter | `sink` |
//! | `chatobs_spans_dropped_total`, `chatobs_spans_exported_total`, `chatobs_span_export_failures_total`, `chatobs_span_queue_spans` | counter / gauge | none |
//! | `chatobs_eval_score` / `chatobs_eval_failures_total` | histogram 0.1 ... 1 / counter | `evaluator` |
//!
//! Span metrics see the spans the sampler kept; cost metrics see every call.
//!
//! ```
//! use chatobs_runtime::{cost, metrics, ChatSession, Config};
//! metrics::install(&Config::default()).unwrap();
//! ChatSession::from_exported_id("doc-metrics").unwrap().in_scope(|| {
//!     cost::record_llm_call(&cost::LlmCall::new("gpt-4o-mini").provider("openai")
//!         .input_tokens(1000).output_tokens(200)).unwrap();
//! });
//! let text = metrics::render();
//! assert!(text.contains(r#"chatobs_llm_cost_usd_total{gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini"} 0.00027"#));
//! assert!(!text.contains("doc-metrics")); // never a session id
//! ```
//!
//! Serve it with the axum helper (feature `axum`): `app.merge(chatobs_runtime::metrics::router())`
//! adds `GET /metrics`.

pub mod config;
#[cfg(feature = "otlp")]
mod otlp;
pub mod registry;
pub mod rules;

pub use config::{MetricsConfig, OtlpMetrics, SloConfig};

use crate::cost::{CostEvent, CostEventKind};
use crate::model::{FinishedSpan, Status};
use crate::vocab::{self as v, LABEL_NONE};
use registry::{label_value, Family, Kind};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once, OnceLock};

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Picodollars per dollar: USD counters add integers, so sums are exact.
const PICO: u64 = 1_000_000_000_000;

/// Buckets of `gen_ai.client.token.usage` (GenAI conventions).
pub const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];
/// Buckets of `gen_ai.client.operation.duration` (GenAI conventions).
pub const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/// Buckets of `chatobs_eval_score`.
pub const SCORE_BUCKETS: [f64; 10] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
/// Default buckets of `chatobs_turn_duration_seconds` (the SLO bound is added).
pub const TURN_BUCKETS: [f64; 11] = [0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 30.0, 60.0];

const L_LLM: &[&str] = &[v::PL_PROVIDER, v::PL_MODEL];
const L_TOKENS: &[&str] = &[
    v::PL_TOKEN_TYPE,
    v::PL_OPERATION,
    v::PL_PROVIDER,
    v::PL_MODEL,
];
const L_OP: &[&str] = &[v::PL_OPERATION, v::PL_PROVIDER, v::PL_MODEL];
const L_WA: &[&str] = &[v::PL_MARKET, v::PL_CATEGORY, v::PL_PRICING_TYPE];

/// Every chatobs metric family.
pub struct Metrics {
    /// `gen_ai_client_token_usage`.
    pub token_usage: Family,
    /// `gen_ai_client_operation_duration_seconds`.
    pub operation_duration: Family,
    /// `chatobs_llm_cost_usd_total`.
    pub llm_cost: Family,
    /// `chatobs_llm_call_cost_usd`.
    pub call_cost: Family,
    /// `chatobs_whatsapp_cost_usd_total`.
    pub whatsapp_cost: Family,
    /// `chatobs_whatsapp_cost_overestimate_usd_total`.
    pub whatsapp_overestimate: Family,
    /// `chatobs_whatsapp_messages_total`.
    pub whatsapp_messages: Family,
    /// `chatobs_span_duration_seconds`.
    pub span_duration: Family,
    /// `chatobs_spans_total`.
    pub spans: Family,
    /// `chatobs_span_errors_total`.
    pub span_errors: Family,
    /// `chatobs_turns_total`.
    pub turns: Family,
    /// `chatobs_turn_duration_seconds`.
    pub turn_duration: Family,
    /// `chatobs_eval_score`.
    pub eval_score: Family,
    /// `chatobs_eval_failures_total`.
    pub eval_failures: Family,
    // Read from their owners when rendered.
    over_budget: Family,
    alerts_fired: Family,
    alert_deliveries: Family,
    alert_failures: Family,
    alerts_dropped: Family,
    spans_dropped: Family,
    spans_exported: Family,
    span_export_failures: Family,
    span_queue: Family,
    overflow: Family,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    fn new() -> Metrics {
        let d = MetricsConfig::default();
        let c =
            |name, help, labels, scale| Family::new(name, help, Kind::Counter, labels, scale, &[]);
        let h = |name, help, labels, bounds: &[f64]| {
            Family::new(name, help, Kind::Histogram, labels, 1, bounds)
        };
        Metrics {
            token_usage: h(v::PROM_GEN_AI_TOKEN_USAGE, "Tokens used per LLM call (gen_ai.client.token.usage).", L_TOKENS, &TOKEN_BUCKETS),
            operation_duration: h(v::PROM_GEN_AI_OPERATION_DURATION, "Duration of LLM calls, seconds (gen_ai.client.operation.duration).", L_OP, &DURATION_BUCKETS),
            llm_cost: c(v::PROM_LLM_COST, "LLM spend in USD, by provider and model.", L_LLM, PICO),
            call_cost: h(v::PROM_LLM_CALL_COST, "Cost of one LLM call in USD (a bucket bound at each per-call threshold).", L_LLM, &d.call_cost_buckets),
            whatsapp_cost: c(v::PROM_WHATSAPP_COST, "WhatsApp spend in USD (estimates, plus reconciliations that raised them).", L_WA, PICO),
            whatsapp_overestimate: c(v::PROM_WHATSAPP_OVERESTIMATE, "USD by which reconciliations lowered WhatsApp estimates (subtract from the spend).", L_WA, PICO),
            whatsapp_messages: c(v::PROM_WHATSAPP_MESSAGES, "Outbound WhatsApp messages priced.", L_WA, 1),
            span_duration: h(v::PROM_SPAN_DURATION, "Duration of chat spans, seconds, by role and step.", &[v::PL_ROLE, v::PL_STEP], &d.span_duration_buckets),
            spans: c(v::PROM_SPANS, "Chat spans ended, by role.", &[v::PL_ROLE], 1),
            span_errors: c(v::PROM_SPAN_ERRORS, "Chat spans ended in error, by role.", &[v::PL_ROLE], 1),
            turns: c(v::PROM_TURNS, "Conversation turns (local root spans of a conversation), by outcome.", &[v::PL_OUTCOME], 1),
            turn_duration: h(v::PROM_TURN_DURATION, "Duration of conversation turns, seconds.", &[], &TURN_BUCKETS),
            eval_score: h(v::PROM_EVAL_SCORE, "Evaluation scores, by evaluator.", &[v::PL_EVALUATOR], &SCORE_BUCKETS),
            eval_failures: c(v::PROM_EVAL_FAILURES, "Evaluations that failed, by evaluator.", &[v::PL_EVALUATOR], 1),
            over_budget: c(v::PROM_CONVERSATIONS_OVER_BUDGET, "Conversations that crossed a per-conversation budget rule.", &[v::PL_RULE], 1),
            alerts_fired: c(v::PROM_ALERTS_FIRED, "Alerts fired in process, by rule.", &[v::PL_RULE, v::PL_SEVERITY], 1),
            alert_deliveries: c(v::PROM_ALERT_DELIVERIES, "Alerts delivered, by sink.", &[v::PL_SINK], 1),
            alert_failures: c(v::PROM_ALERT_SINK_FAILURES, "Alerts a sink failed to take after every retry.", &[v::PL_SINK], 1),
            alerts_dropped: c(v::PROM_ALERTS_DROPPED, "Alerts dropped because a sink's queue was full.", &[v::PL_SINK], 1),
            spans_dropped: c(v::PROM_SPANS_DROPPED, "Spans dropped by the exporter (queue full or closed).", &[], 1),
            spans_exported: c(v::PROM_SPANS_EXPORTED, "Spans exported.", &[], 1),
            span_export_failures: c(v::PROM_SPAN_EXPORT_FAILURES, "Spans in batches an exporter failed on.", &[], 1),
            span_queue: Family::new(v::PROM_SPAN_QUEUE, "Spans waiting in the export queue.", Kind::Gauge, &[], 1, &[]),
            overflow: c(v::PROM_SERIES_OVERFLOW, "Records whose label set went to the _overflow series (the metric hit its series limit).", &[v::PL_METRIC], 1),
        }
    }

    fn families(&self) -> [&Family; 24] {
        [
            &self.token_usage,
            &self.operation_duration,
            &self.llm_cost,
            &self.call_cost,
            &self.whatsapp_cost,
            &self.whatsapp_overestimate,
            &self.whatsapp_messages,
            &self.over_budget,
            &self.span_duration,
            &self.spans,
            &self.span_errors,
            &self.turns,
            &self.turn_duration,
            &self.alerts_fired,
            &self.alert_deliveries,
            &self.alert_failures,
            &self.alerts_dropped,
            &self.spans_dropped,
            &self.spans_exported,
            &self.span_export_failures,
            &self.span_queue,
            &self.eval_score,
            &self.eval_failures,
            &self.overflow,
        ]
    }
}

/// The process-wide metrics.
pub fn global() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(Metrics::new)
}

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Buckets with `extra` bounds merged in (sorted, deduplicated).
pub fn with_bounds(base: &[f64], extra: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut b: Vec<f64> = base
        .iter()
        .copied()
        .chain(extra)
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    b.sort_by(|a, b| a.total_cmp(b));
    b.dedup_by(|a, b| registry::format_float(*a) == registry::format_float(*b));
    b
}

/// The per-call cost thresholds of `cfg` (bounds of `chatobs_llm_call_cost_usd`).
pub fn call_cost_thresholds(cfg: &crate::Config) -> Vec<f64> {
    cfg.alerts
        .enabled_rules()
        .filter(|(_, r)| r.quantity == crate::alerts::Quantity::LlmCallCostUsd)
        .filter_map(|(_, r)| r.above.and_then(|d| d.to_f64()))
        .collect()
}

/// The bucket bounds `cfg` gives each configurable histogram:
/// (call cost, span duration, turn duration).
pub fn bounds_of(cfg: &crate::Config) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    (
        with_bounds(&cfg.metrics.call_cost_buckets, call_cost_thresholds(cfg)),
        with_bounds(
            &cfg.metrics.span_duration_buckets,
            [cfg.alerts.prometheus.p95_span_duration_above_seconds],
        ),
        with_bounds(&TURN_BUCKETS, [cfg.slo.turn_latency_seconds]),
    )
}

/// Starts recording with `cfg` (buckets, series limit, OTLP): registers the
/// cost listener and the span observer once; calling it again resets every series.
pub fn install(cfg: &crate::Config) -> Result<(), crate::Error> {
    cfg.metrics.validate()?;
    if !cfg.metrics.enabled {
        ENABLED.store(false, Ordering::Release);
        return Ok(());
    }
    let m = global();
    let max = cfg.metrics.max_series_per_metric;
    let (call, span, turn) = bounds_of(cfg);
    for f in m.families() {
        let b = if std::ptr::eq(f, &m.call_cost) {
            Some(call.as_slice())
        } else if std::ptr::eq(f, &m.span_duration) {
            Some(span.as_slice())
        } else if std::ptr::eq(f, &m.turn_duration) {
            Some(turn.as_slice())
        } else {
            None
        };
        f.reset(b, max);
    }
    #[cfg(feature = "otlp")]
    otlp::configure(cfg, &call, &span, &turn)?;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        crate::cost::on_cost(Arc::new(|ev: &CostEvent<'_>| {
            if ENABLED.load(Ordering::Relaxed) {
                observe_cost(ev);
            }
        }));
        // Evaluation scores: histogram per evaluator, and score alert rules.
        crate::evals::pipeline::on_every_result(Arc::new(eval_hook()));
        crate::pipeline::set_span_observer(|batch| {
            if ENABLED.load(Ordering::Relaxed) {
                observe_spans(batch);
            }
        });
    });
    ENABLED.store(true, Ordering::Release);
    Ok(())
}

/// Stops recording (the series stay until the next [`install`]) and flushes OTLP metrics.
pub fn shutdown() {
    ENABLED.store(false, Ordering::Release);
    #[cfg(feature = "otlp")]
    otlp::shutdown();
}

fn usd(d: Decimal) -> u64 {
    (d * Decimal::from(PICO)).round().to_u64().unwrap_or(0)
}

/// Records one cost event (what the cost listener does).
pub fn observe_cost(ev: &CostEvent<'_>) {
    let m = global();
    match &ev.kind {
        CostEventKind::LlmCall {
            operation,
            provider,
            model,
            usage,
            cost,
        } => {
            let p = label_value(provider.unwrap_or(LABEL_NONE));
            let md = label_value(model);
            let op = label_value(operation);
            if let Some(h) = m.token_usage.hist(&["input", op, p, md]) {
                h.observe(usage.input_tokens as f64);
            }
            if let Some(h) = m.token_usage.hist(&["output", op, p, md]) {
                h.observe(usage.output_tokens as f64);
            }
            if let Some(c) = m.llm_cost.scalar(&[p, md]) {
                c.add(usd(cost.total));
            }
            let total = cost.total.to_f64().unwrap_or(0.0);
            if let Some(h) = m.call_cost.hist(&[p, md]) {
                h.observe(total);
            }
            #[cfg(feature = "otlp")]
            otlp::llm(op, p, md, usage.input_tokens, usage.output_tokens, total);
        }
        CostEventKind::WhatsApp { charge } => {
            let mk = label_value(charge.market.as_deref().unwrap_or(LABEL_NONE));
            let l = [mk, charge.category.as_str(), charge.pricing_type.as_str()];
            if let Some(c) = m.whatsapp_cost.scalar(&l) {
                c.add(usd(charge.price));
            }
            if let Some(c) = m.whatsapp_messages.scalar(&l) {
                c.add(1);
            }
            #[cfg(feature = "otlp")]
            otlp::whatsapp(&l, charge.price.to_f64().unwrap_or(0.0));
        }
        CostEventKind::Reconciled { reconciliation: r } => {
            let l = [
                LABEL_NONE,
                label_value(&r.meta_category),
                label_value(r.meta_type.as_deref().unwrap_or(LABEL_NONE)),
            ];
            if r.difference > Decimal::ZERO {
                if let Some(c) = m.whatsapp_cost.scalar(&l) {
                    c.add(usd(r.difference));
                }
            } else if r.difference < Decimal::ZERO {
                if let Some(c) = m.whatsapp_overestimate.scalar(&l) {
                    c.add(usd(-r.difference));
                }
            }
        }
        _ => {}
    }
}

/// Records a batch of finished spans (what the span observer does, on the export thread).
pub fn observe_spans(batch: &[FinishedSpan]) {
    let m = global();
    for s in batch {
        let role = label_value(s.attr_str(v::AGENT_ROLE).unwrap_or(LABEL_NONE));
        let step = label_value(s.attr_str(v::CONVERSATION_STEP).unwrap_or(LABEL_NONE));
        let secs = s.duration().as_secs_f64();
        let error = matches!(s.status, Status::Error(_));
        if let Some(h) = m.span_duration.hist(&[role, step]) {
            h.observe(secs);
        }
        if let Some(c) = m.spans.scalar(&[role]) {
            c.add(1);
        }
        if error {
            if let Some(c) = m.span_errors.scalar(&[role]) {
                c.add(1);
            }
        }
        if let (Some(op), Some(model)) = (
            s.attr_str(v::GEN_AI_OPERATION_NAME),
            s.attr_str(v::GEN_AI_REQUEST_MODEL),
        ) {
            let p = label_value(s.attr_str(v::GEN_AI_PROVIDER_NAME).unwrap_or(LABEL_NONE));
            let l = [label_value(op), p, label_value(model)];
            if let Some(h) = m.operation_duration.hist(&l) {
                h.observe(secs);
            }
            #[cfg(feature = "otlp")]
            otlp::operation(&l, secs);
        }
        let turn = s.session_id().is_some()
            && (s.parent_span_id == crate::SpanId::INVALID || s.parent_remote);
        if turn {
            let outcome = if error { "error" } else { "ok" };
            if let Some(c) = m.turns.scalar(&[outcome]) {
                c.add(1);
            }
            if let Some(h) = m.turn_duration.hist(&[]) {
                h.observe(secs);
            }
        }
        #[cfg(feature = "otlp")]
        otlp::span(role, step, secs, error);
    }
}

/// A hook for [`crate::evals::EvalPipelineBuilder::on_result`]: records
/// `chatobs_eval_score` / `chatobs_eval_failures_total` and checks the
/// `eval_score` alert rules.
///
/// ```no_run
/// # let cfg = chatobs_runtime::Config::default();
/// let evals = chatobs_runtime::evals::EvalPipeline::builder(cfg.evals.clone())
///     .on_result(chatobs_runtime::metrics::eval_hook())
///     .start()?;
/// # Ok::<(), chatobs_runtime::Error>(())
/// ```
pub fn eval_hook() -> impl Fn(&crate::evals::EvalRecord) + Send + Sync + 'static {
    |r| {
        let name = label_value(&r.evaluator);
        match &r.result {
            Ok(res) => {
                if let Some(score) = res.score {
                    if ENABLED.load(Ordering::Relaxed) {
                        if let Some(h) = global().eval_score.hist(&[name]) {
                            h.observe(score);
                        }
                    }
                    crate::alerts::observe_score(&r.evaluator, score, &r.target);
                }
            }
            Err(_) => {
                if ENABLED.load(Ordering::Relaxed) {
                    if let Some(c) = global().eval_failures.scalar(&[name]) {
                        c.add(1);
                    }
                }
            }
        }
    }
}

/// Copies the counters other parts own (pipeline, alerts) into their families.
fn refresh() {
    let m = global();
    if let Some(s) = crate::pipeline::snapshot() {
        let set = |f: &Family, n: u64| {
            if let Some(c) = f.scalar(&[]) {
                c.set(n);
            }
        };
        set(&m.spans_dropped, s.dropped);
        set(&m.spans_exported, s.exported);
        set(&m.span_export_failures, s.export_failed);
        set(&m.span_queue, s.queued as u64);
    }
    if let Some(e) = crate::alerts::current() {
        for r in e.rule_stats() {
            if let Some(c) = m.alerts_fired.scalar(&[&r.rule, &r.severity]) {
                c.set(r.fired);
            }
            if r.per_conversation {
                if let Some(c) = m.over_budget.scalar(&[&r.rule]) {
                    c.set(r.fired);
                }
            }
        }
        for (sink, st) in e.sink_stats() {
            let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
            for (f, n) in [
                (&m.alert_deliveries, get(&st.delivered)),
                (&m.alert_failures, get(&st.failed)),
                (&m.alerts_dropped, get(&st.dropped)),
            ] {
                if let Some(c) = f.scalar(&[sink]) {
                    c.set(n);
                }
            }
        }
    }
    for f in m.families() {
        if std::ptr::eq(f, &m.overflow) {
            continue;
        }
        let n = f.overflowed();
        if n > 0 {
            if let Some(c) = m.overflow.scalar(&[f.name]) {
                c.set(n);
            }
        }
    }
}

/// Every metric in the Prometheus text format (version 0.0.4).
pub fn render() -> String {
    refresh();
    let mut out = String::with_capacity(16 * 1024);
    for f in global().families() {
        f.encode(&mut out);
    }
    for source in TEXT_SOURCES
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        out.push_str(&source());
    }
    out
}

static TEXT_SOURCES: std::sync::RwLock<Vec<fn() -> String>> = std::sync::RwLock::new(Vec::new());

/// Adds a family rendered elsewhere (in the Prometheus text format) to
/// [`render`]: modules built on this one, such as the HTTP server metrics of
/// the axum layer, register here so `/metrics` serves everything.
pub fn register_text_source(source: fn() -> String) {
    let mut v = TEXT_SOURCES.write().unwrap_or_else(|e| e.into_inner());
    if !v.iter().any(|f| std::ptr::fn_addr_eq(*f, source)) {
        v.push(source);
    }
}

/// An axum router serving [`render`] at `GET /metrics`.
#[cfg(feature = "axum")]
pub fn router<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    axum::Router::new().route("/metrics", axum::routing::get(handler))
}

/// The axum handler behind [`router`] (mount it on a path of your own).
#[cfg(feature = "axum")]
pub async fn handler() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)], render())
}
