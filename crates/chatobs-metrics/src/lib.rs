//! # Metrics: bounded counters and histograms, as OpenMetrics text and over OTLP
//!
//! [`install`] (which `chatobs_runtime::init` calls with `[metrics]`) starts recording:
//! cost events ([`chatobs_cost::on_cost`]) give token usage and cost on the
//! caller's thread, finished spans give durations and errors on the export
//! thread (off the request path), [`observe_eval`] gives evaluation scores
//! (the facade connects it to the evaluation pipeline), and the pipeline's
//! and other parts' counters ([`add_source`]) are read when metrics are
//! rendered. This crate knows neither alerts nor evaluations: the facade's
//! `init` connects them. No label is ever a session id or a phone number; every metric
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
//! | `chatobs_chat_events_total` | counter (`chat_event!`, [`observe_chat_event`]) | `event` |
//! | `chatobs_telemetry_dropped_total` | counter: JSON log lines dropped, OTLP log records not delivered, bridged span attributes/events/links over the limits, your own attributes refused or cut | `what` |
//! | `chatobs_llm_errors_total` | counter (every LLM span that ended in error) | `gen_ai_provider_name`, `error_type` |
//! | `chatobs_llm_price_unknown_total` | counter (calls without a complete price) | `gen_ai_provider_name`, `gen_ai_request_model`, `reason` |
//! | `chatobs_whatsapp_errors_total` | counter (errors Meta reported) | `code`, `scope` |
//! | conversations, messages, first response, resolution, handoffs | see [`conversation`] | |
//! | `http_client_request_duration_seconds` | histogram, the OpenTelemetry HTTP buckets ([`http_client`]) | `http_request_method`, `server_address`, `http_response_status_code` |
//! | your own | [`app`]: counters, gauges, histograms | yours, bounded |
//!
//! Span metrics see the spans the sampler kept; cost metrics see every call.
//!
//! ```
//! use chatobs_core::ChatSession;
//! use chatobs_cost as cost;
//! use chatobs_metrics as metrics;
//! metrics::install(&metrics::MetricsConfig::default(), &Default::default()).unwrap();
//! ChatSession::from_exported_id("doc-metrics").unwrap().in_scope(|| {
//!     cost::record_llm_call(&cost::LlmCall::new("gpt-4o-mini").provider("openai")
//!         .input_tokens(1000).output_tokens(200)).unwrap();
//! });
//! let text = metrics::render();
//! assert!(text.contains(r#"chatobs_llm_cost_usd_total{gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini"} 0.00027"#));
//! assert!(!text.contains("doc-metrics")); // never a session id
//! ```
//!
//! Serve it with the axum helper (feature `axum`): `app.merge(chatobs_metrics::router())`
//! adds `GET /metrics`.

pub mod app;
pub mod config;
pub mod conversation;
pub mod exposition;
pub mod http_client;
pub mod registry;

pub use config::{MetricsConfig, OtlpMetrics};

use chatobs_core::model::{FinishedSpan, Status};
use chatobs_core::vocab::{self as v, LABEL_NONE};
use chatobs_cost::{CostEvent, CostEventKind};
use registry::{label_value, Family, Hist, Kind, Scalar};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once, OnceLock};

pub use exposition::{ExternalFamily, ExternalSeries, ExternalValue, CONTENT_TYPE};

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
    // Read from their owners when rendered (sources, see `add_source`).
    /// `chatobs_conversations_over_budget_total` (set by the alerts source).
    pub over_budget: Family,
    /// `chatobs_alerts_fired_total` (set by the alerts source).
    pub alerts_fired: Family,
    /// `chatobs_alert_deliveries_total` (set by the alerts source).
    pub alert_deliveries: Family,
    /// `chatobs_alert_sink_failures_total` (set by the alerts source).
    pub alert_failures: Family,
    /// `chatobs_alerts_dropped_total` (set by the alerts source).
    pub alerts_dropped: Family,
    spans_dropped: Family,
    spans_exported: Family,
    span_export_failures: Family,
    span_queue: Family,
    overflow: Family,
    llm_price_unknown: Family,
    llm_errors: Family,
    whatsapp_errors: Family,
    chat_events: Family,
    /// `chatobs_telemetry_dropped_total{what}` (log lines and bridge limits
    /// read here; sources add the rest).
    pub telemetry_dropped: Family,
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
            turns: c(v::PROM_TURNS, "Conversation turns (a user message to the last reply sent: roots marked chat.turn, or local roots of a conversation), by outcome.", &[v::PL_OUTCOME], 1),
            turn_duration: h(v::PROM_TURN_DURATION, "Duration of conversation turns (a user message to the last reply sent), seconds.", &[], &TURN_BUCKETS),
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
            llm_errors: c(v::PROM_LLM_ERRORS, "LLM calls that failed, by provider and error type (every LLM span: chatobs' own and bridged ones).", &[v::PL_PROVIDER, v::PL_ERROR_TYPE], 1),
            llm_price_unknown: c(v::PROM_LLM_PRICE_UNKNOWN, "LLM calls recorded without a complete price (unknown model, a component without a price, an overflow, or no usage in the answer), by reason.", &[v::PL_PROVIDER, v::PL_MODEL, v::PL_REASON], 1),
            whatsapp_errors: c(v::PROM_WHATSAPP_ERRORS, "Errors Meta reported (webhook value.errors, message errors[], status errors[], Graph API answers), by code and scope.", &[v::PL_CODE, v::PL_SCOPE], 1),
            chat_events: c(v::PROM_CHAT_EVENTS, "Chat events recorded (chat_event!), by event.", &[v::PL_EVENT], 1),
            telemetry_dropped: c(v::PROM_TELEMETRY_DROPPED, "Telemetry chatobs dropped or failed to deliver, by what: JSON log lines (queue full), OTLP log records (export failed), bridged span attributes, events and links over the limits, your own attributes refused or cut.", &[v::PL_WHAT], 1),
            overflow: c(v::PROM_SERIES_OVERFLOW, "Records whose label set went to the _overflow series (the metric hit its series limit), or app metric values given a wrong number of labels.", &[v::PL_METRIC], 1),
        }
    }

    fn families(&self) -> [&Family; 29] {
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
            &self.llm_price_unknown,
            &self.llm_errors,
            &self.whatsapp_errors,
            &self.chat_events,
            &self.telemetry_dropped,
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

/// Extra bucket bounds other parts ask for, merged into the configured ones:
/// a bound at each per-call cost threshold, at the p95 span-duration alert,
/// at the turn latency SLO (so the generated rules can name a bucket exactly).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExtraBounds {
    /// Bounds of `chatobs_llm_call_cost_usd`.
    pub call_cost: Vec<f64>,
    /// Bounds of `chatobs_span_duration_seconds`.
    pub span_duration: Vec<f64>,
    /// Bounds of `chatobs_turn_duration_seconds`.
    pub turn_duration: Vec<f64>,
}

/// The bucket bounds of each configurable histogram:
/// (call cost, span duration, turn duration).
pub fn bounds_of(cfg: &MetricsConfig, extra: &ExtraBounds) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    (
        with_bounds(&cfg.call_cost_buckets, extra.call_cost.iter().copied()),
        with_bounds(
            &cfg.span_duration_buckets,
            extra.span_duration.iter().copied(),
        ),
        with_bounds(&TURN_BUCKETS, extra.turn_duration.iter().copied()),
    )
}

/// Where the same measurements also go (the OTLP crate mirrors them as
/// OpenTelemetry instruments). Called on the recording thread: keep it cheap.
pub trait Mirror: Send + Sync + 'static {
    /// One LLM call: operation, provider, model labels, tokens, cost in USD.
    fn llm(&self, op: &str, provider: &str, model: &str, input: u64, output: u64, usd: f64);
    /// One WhatsApp charge: market, category, pricing type labels, USD.
    fn whatsapp(&self, labels: &[&str; 3], usd: f64);
    /// One LLM span's duration: operation, provider, model labels.
    fn operation(&self, labels: &[&str; 3], secs: f64);
    /// One chat span: role, step, duration, whether it failed.
    fn span(&self, role: &str, step: &str, secs: f64, error: bool);
    /// A run of chat spans of one role and step (the spans of a batch in a
    /// row with the same labels): each one's duration, and how many failed.
    /// [`observe_spans`] calls this, so the labels are made once a run, not
    /// once a span; the default calls [`Mirror::span`] for each duration
    /// (the first `errors` counted as failed: a counter does not tell which).
    fn span_run(&self, role: &str, step: &str, secs: &[f64], errors: u64) {
        for (i, s) in secs.iter().enumerate() {
            self.span(role, step, *s, (i as u64) < errors);
        }
    }
    /// One value of an app metric ([`app`]): its name, help, kind, label
    /// names and (bounded) values, and the value (a counter's increment, a
    /// gauge's value, a histogram's observation).
    fn app(
        &self,
        name: &'static str,
        help: &'static str,
        kind: registry::Kind,
        labels: &'static [&'static str],
        values: &[&str],
        value: f64,
    ) {
        let _ = (name, help, kind, labels, values, value);
    }
}

static MAX_SERIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(2000);

/// The configured `metrics.max_series_per_metric`.
pub(crate) fn max_series() -> usize {
    MAX_SERIES.load(Ordering::Relaxed)
}

/// Counts one value that could not be recorded in `metric` (in
/// `chatobs_metric_series_overflow_total{metric}`).
pub(crate) fn count_dropped(metric: &'static str) {
    if let Some(c) = global().overflow.scalar(&[metric]) {
        c.add(1);
    }
}

static MIRROR: OnceLock<&'static dyn Mirror> = OnceLock::new();

/// Sets the mirror (once per process; returns false if one was set).
pub fn set_mirror(m: &'static dyn Mirror) -> bool {
    MIRROR.set(m).is_ok()
}

#[inline]
fn mirror(f: impl FnOnce(&dyn Mirror)) {
    if let Some(m) = MIRROR.get() {
        f(*m)
    }
}

/// A source of counters another part owns, copied into its families each
/// time metrics are rendered (the facade adds one for alerts).
pub type Source = Box<dyn Fn(&Metrics) + Send + Sync>;
static SOURCES: std::sync::RwLock<Vec<Source>> = std::sync::RwLock::new(Vec::new());

/// Adds a [`Source`], run before every [`render`].
pub fn add_source(source: Source) {
    SOURCES
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .push(source);
}

/// Starts recording with `cfg` and the `extra` bucket bounds: registers the
/// cost listener and the span observer once; calling it again resets every series.
pub fn install(cfg: &MetricsConfig, extra: &ExtraBounds) -> Result<(), chatobs_core::Error> {
    cfg.validate()?;
    if !cfg.enabled {
        ENABLED.store(false, Ordering::Release);
        return Ok(());
    }
    let m = global();
    let max = cfg.max_series_per_metric;
    MAX_SERIES.store(max, Ordering::Relaxed);
    for f in conversation::families().all() {
        f.reset(None, max);
    }
    http_client::family().reset(None, max);
    let (call, span, turn) = bounds_of(cfg, extra);
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
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        chatobs_cost::on_cost(Arc::new(|ev: &CostEvent<'_>| {
            if ENABLED.load(Ordering::Relaxed) {
                observe_cost(ev);
            }
        }));
        chatobs_core::pipeline::set_span_observer(|batch| {
            if ENABLED.load(Ordering::Relaxed) {
                observe_spans(batch);
            }
        });
    });
    ENABLED.store(true, Ordering::Release);
    Ok(())
}

/// Whether metrics are being recorded.
pub fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Stops recording (the series stay until the next [`install`]).
pub fn shutdown() {
    ENABLED.store(false, Ordering::Release);
}

/// `d` dollars in picodollars, the unit the USD counters add. `None` (and a
/// warning, once) for an amount a counter cannot hold: negative, or above
/// about $18 million in one record, which only a broken price table gives.
fn usd(d: Decimal) -> Option<u64> {
    // At most 12 decimals (every price and most totals): exact integer
    // arithmetic, no rounding to decide.
    let exact = || {
        let up = 12u32.checked_sub(d.scale())?;
        let p = d.mantissa().checked_mul(10i128.checked_pow(up)?)?;
        u64::try_from(p).ok()
    };
    let n = exact().or_else(|| {
        d.checked_mul(Decimal::from(PICO))
            .and_then(|p| p.round().to_u64())
    });
    if n.is_none() {
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| {
            tracing::warn!(target: "chatobs::metrics", amount = %d, "an amount outside what a USD counter can hold was not added to the metrics (check the price tables)");
        });
    }
    n
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
            m.token_usage
                .observe(&["input", op, p, md], usage.input_tokens as f64);
            m.token_usage
                .observe(&["output", op, p, md], usage.output_tokens as f64);
            if let Some(n) = usd(cost.total) {
                m.llm_cost.add(&[p, md], n);
            }
            let total = chatobs_core::model::decimal_to_f64(cost.total);
            if cost.complete {
                m.call_cost.observe(&[p, md], total);
            } else {
                // An incomplete figure is a lower bound (0 for an unknown
                // model): observed as a call's cost it would read as free.
                let reason = if cost.missing.is_empty() {
                    "overflow"
                } else {
                    "no_price"
                };
                m.llm_price_unknown.add(&[p, md, reason], 1);
            }
            mirror(|x| x.llm(op, p, md, usage.input_tokens, usage.output_tokens, total));
        }
        CostEventKind::WhatsApp { charge } => {
            let mk = label_value(charge.market.as_deref().unwrap_or(LABEL_NONE));
            let l = [mk, charge.category.as_str(), charge.pricing_type.as_str()];
            if let Some(n) = usd(charge.price) {
                m.whatsapp_cost.add(&l, n);
            }
            m.whatsapp_messages.add(&l, 1);
            let kind = match charge.category.as_str() {
                "service" => "free_form",
                other => other,
            };
            conversation::outbound(ev.session.map(|s| s.id()), "whatsapp", kind);
            mirror(|x| x.whatsapp(&l, chatobs_core::model::decimal_to_f64(charge.price)));
        }
        CostEventKind::Reconciled { reconciliation: r } => {
            let l = [
                LABEL_NONE,
                label_value(&r.meta_category),
                label_value(r.meta_type.as_deref().unwrap_or(LABEL_NONE)),
            ];
            if r.difference > Decimal::ZERO {
                if let Some(c) = m.whatsapp_cost.scalar(&l) {
                    if let Some(n) = usd(r.difference) {
                        c.add(n);
                    }
                }
            } else if r.difference < Decimal::ZERO {
                if let Some(c) = m.whatsapp_overestimate.scalar(&l) {
                    if let Some(n) = usd(-r.difference) {
                        c.add(n);
                    }
                }
            }
        }
        CostEventKind::Closed { .. } => {
            if let Some(s) = ev.session {
                conversation::closed(s.id());
            }
        }
        CostEventKind::LlmUsageMissing {
            provider, model, ..
        } => {
            let p = label_value(provider.unwrap_or(LABEL_NONE));
            let md = label_value(model);
            if let Some(c) = m.llm_price_unknown.scalar(&[p, md, "usage_missing"]) {
                c.add(1);
            }
        }
        _ => {}
    }
}

/// Counts an error Meta reported: `code` is Meta's numeric code, `scope`
/// where it was reported (`webhook`, `message`, `status`, `send`).
pub fn observe_whatsapp_error(code: i64, scope: &'static str) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let code = code.to_string();
    if let Some(c) = global()
        .whatsapp_errors
        .scalar(&[label_value(&code), scope])
    {
        c.add(1);
    }
}

/// Counts one chat event (`chat_event!`) in `chatobs_chat_events_total{event}`;
/// `event` is a name of the closed vocabulary (`chatobs_vocab::events`).
pub fn observe_chat_event(event: &'static str) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    if let Some(c) = global().chat_events.scalar(&[event]) {
        c.add(1);
    }
}

/// Records a batch of finished spans (what the span observer does, on the export thread).
pub fn observe_spans(batch: &[FinishedSpan]) {
    let m = global();
    // The (role, step) series of the spans before: a batch is mostly spans
    // of a few functions in a row, so their durations and count are
    // gathered here and added to the series once per run of spans (no map
    // lookup, no atomic per span).
    let mut run: Option<Run<'_>> = None;
    for s in batch {
        let a = SpanAttrs::of(s);
        let role = label_value(a.role.unwrap_or(LABEL_NONE));
        let step = label_value(a.step.unwrap_or(LABEL_NONE));
        let secs = s.duration().as_secs_f64();
        let error = matches!(s.status, Status::Error(_));
        let same = run
            .as_ref()
            .is_some_and(|r| r.role == role && r.step == step);
        if !same {
            if let Some(r) = &mut run {
                r.flush();
            }
            run = Some(Run::new(m, role, step, run.take(), batch.len()));
        }
        if let Some(r) = &mut run {
            if let Some(t) = &mut r.tally {
                t.observe(secs);
            }
            r.spans = r.spans.saturating_add(1);
            if let Some(v) = &mut r.mirrored {
                v.push(secs);
                if error {
                    r.errors = r.errors.saturating_add(1);
                }
            }
        }
        if error {
            m.span_errors.add(&[role], 1);
        }
        if let (Some(op), Some(model)) = (a.operation, a.model) {
            let p = label_value(a.provider.unwrap_or(LABEL_NONE));
            let l = [label_value(op), p, label_value(model)];
            m.operation_duration.observe(&l, secs);
            mirror(|x| x.operation(&l, secs));
            if error {
                // The error type the span names (`429`, `timeout`, a provider's
                // own word), bounded like every label.
                let et = label_value(a.error_type.unwrap_or("_OTHER"));
                m.llm_errors.add(&[p, et], 1);
            }
        }
        if let (Some(from), Some(to)) = (a.handoff_from, a.handoff_to) {
            conversation::handoff(from, to);
        }
        // A turn: the root the webhook marks `chat.turn = true` (from the
        // message's arrival to the last reply sent); a root it marks `false`
        // (a status callback, a reaction, a closing) is none. Other roots
        // count when they carry a conversation. A span whose parent is in
        // another service is part of that service's turn, never one of its own.
        let turn = match a.turn {
            Some(chatobs_core::model::Value::Bool(b)) => *b,
            _ => a.session && s.parent_span_id == chatobs_core::SpanId::INVALID && !s.parent_remote,
        };
        if turn {
            let outcome = if error { "error" } else { "ok" };
            m.turns.add(&[outcome], 1);
            m.turn_duration.observe(&[], secs);
        }
    }
    if let Some(r) = &mut run {
        r.flush();
    }
}

/// A run of spans of one (role, step) series in a batch ([`observe_spans`]).
struct Run<'a> {
    role: &'a str,
    step: &'a str,
    hist: Option<Arc<Hist>>,
    counter: Option<Arc<Scalar>>,
    tally: Option<registry::Tally>,
    spans: u64,
    /// The run's durations for the [`Mirror`] (`None`: none installed),
    /// and how many of its spans failed.
    mirrored: Option<Vec<f64>>,
    errors: u64,
}

impl<'a> Run<'a> {
    /// The run of `role` and `step`, keeping the previous run's tally when
    /// it fits the new histogram (all of `span_duration`'s series share
    /// their bounds).
    /// `most`: how many spans the run can hold (its batch's length), the
    /// room the durations for the mirror get at once.
    fn new(
        m: &Metrics,
        role: &'a str,
        step: &'a str,
        before: Option<Run<'_>>,
        most: usize,
    ) -> Run<'a> {
        let hist = m.span_duration.hist(&[role, step]);
        let (before_tally, before_mirrored) = match before {
            Some(b) => (b.tally, b.mirrored),
            None => (None, None),
        };
        let tally = match (&hist, before_tally) {
            (Some(h), Some(t)) if t.fits(h) => Some(t),
            (Some(h), _) => Some(h.tally()),
            (None, _) => None,
        };
        // The buffer of the run before, emptied by its flush (one buffer a
        // batch, sized for it once).
        let mirrored = MIRROR
            .get()
            .map(|_| before_mirrored.unwrap_or_else(|| Vec::with_capacity(most)));
        Run {
            role,
            step,
            counter: m.spans.scalar(&[role]),
            hist,
            tally,
            spans: 0,
            mirrored,
            errors: 0,
        }
    }
    /// Adds what the run counted to its series.
    fn flush(&mut self) {
        if let (Some(h), Some(t)) = (&self.hist, &mut self.tally) {
            h.add_tally(t);
        }
        if let Some(c) = &self.counter {
            c.add(self.spans);
        }
        self.spans = 0;
        if let Some(v) = &mut self.mirrored {
            if !v.is_empty() {
                let (role, step, errors) = (self.role, self.step, self.errors);
                mirror(|x| x.span_run(role, step, v, errors));
            }
            v.clear();
        }
        self.errors = 0;
    }
}

/// The attributes [`observe_spans`] reads, found in one pass over the
/// span's attributes (instead of a search per key); the last one set wins,
/// as [`chatobs_core::FinishedSpan::attr`] finds.
#[derive(Default)]
struct SpanAttrs<'a> {
    role: Option<&'a str>,
    step: Option<&'a str>,
    operation: Option<&'a str>,
    model: Option<&'a str>,
    provider: Option<&'a str>,
    error_type: Option<&'a str>,
    handoff_from: Option<&'a str>,
    handoff_to: Option<&'a str>,
    turn: Option<&'a chatobs_core::model::Value>,
    session: bool,
}

impl<'a> SpanAttrs<'a> {
    fn of(s: &'a FinishedSpan) -> SpanAttrs<'a> {
        let mut a = SpanAttrs::default();
        for (k, val) in &s.attributes {
            let text = val.as_str();
            match k.as_ref() {
                v::AGENT_ROLE => a.role = text,
                v::CONVERSATION_STEP => a.step = text,
                v::GEN_AI_OPERATION_NAME => a.operation = text,
                v::GEN_AI_REQUEST_MODEL => a.model = text,
                v::GEN_AI_PROVIDER_NAME => a.provider = text,
                v::ERROR_TYPE => a.error_type = text,
                v::HANDOFF_FROM => a.handoff_from = text,
                v::HANDOFF_TO => a.handoff_to = text,
                v::CHAT_TURN => a.turn = Some(val),
                v::CHAT_SESSION_ID => a.session = text.is_some(),
                _ => {}
            }
        }
        a
    }
}

/// Records one evaluation result: its score in `chatobs_eval_score`, or a
/// failure in `chatobs_eval_failures_total` (`score` is `Err(())`). The
/// facade's evaluation hook calls it for each result.
pub fn observe_eval(evaluator: &str, score: Result<Option<f64>, ()>) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let name = label_value(evaluator);
    match score {
        Ok(Some(score)) => {
            if let Some(h) = global().eval_score.hist(&[name]) {
                h.observe(score);
            }
        }
        Ok(None) => {}
        Err(()) => {
            if let Some(c) = global().eval_failures.scalar(&[name]) {
                c.add(1);
            }
        }
    }
}

/// Copies the counters other parts own (pipeline, alerts) into their families.
fn refresh() {
    let m = global();
    if let Some(s) = chatobs_core::pipeline::snapshot() {
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
    let dropped = |what: &str, n: u64| {
        if let Some(c) = m.telemetry_dropped.scalar(&[what]) {
            c.set(n);
        }
    };
    dropped("log_lines", chatobs_core::logs::dropped());
    let b = chatobs_core::bridge::stats();
    dropped("bridge_attributes", b.attributes_dropped);
    dropped("bridge_events", b.events_dropped);
    dropped("bridge_links", b.links_dropped);
    for source in SOURCES.read().unwrap_or_else(|e| e.into_inner()).iter() {
        source(m);
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

/// Every metric in the OpenMetrics text format (1.0), ending in `# EOF`,
/// encoded by `prometheus-client` ([`exposition`] says why and what it means
/// for names and buckets). Serve it with [`CONTENT_TYPE`].
pub fn render() -> String {
    refresh();
    conversation::refresh();
    #[derive(Debug)]
    struct Registry(prometheus_client::registry::Registry);
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    let r = REGISTRY.get_or_init(|| {
        let mut r = prometheus_client::registry::Registry::default();
        r.register_collector(Box::new(exposition::All));
        Registry(r)
    });
    let mut out = String::with_capacity(16 * 1024);
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &r.0) {
        // Writing to a String does not fail; the encoder only reports what a
        // writer reports. Never serve half an exposition silently.
        tracing::warn!(error = %e, "chatobs: encoding /metrics failed; serving what was written");
    }
    out
}

/// Every family, in order: chatobs' own, conversations, outbound HTTP, the
/// app's, then the external families ([`register_external`]).
pub(crate) fn encode_all(
    enc: &mut prometheus_client::encoding::DescriptorEncoder<'_>,
) -> std::fmt::Result {
    for f in global().families() {
        exposition::encode_family(enc, f)?;
    }
    for f in conversation::families().all() {
        exposition::encode_family(enc, f)?;
    }
    exposition::encode_family(enc, http_client::family())?;
    app::encode(enc)?;
    let sources: Vec<fn() -> Vec<ExternalFamily>> =
        EXTERNAL.read().unwrap_or_else(|e| e.into_inner()).clone();
    for source in sources {
        for f in source() {
            exposition::encode_external(enc, &f)?;
        }
    }
    Ok(())
}

/// Reads families kept by another crate at scrape time ([`register_external`]).
pub type ExternalSource = fn() -> Vec<ExternalFamily>;

static EXTERNAL: std::sync::RwLock<Vec<ExternalSource>> = std::sync::RwLock::new(Vec::new());

/// Adds families kept elsewhere to [`render`]: crates built on this one,
/// such as the HTTP server metrics of the axum layer, register a function
/// that reads their series at each scrape, so `/metrics` serves everything
/// through one encoder. Registering the same function twice adds it once.
pub fn register_external(source: ExternalSource) {
    let mut v = EXTERNAL.write().unwrap_or_else(|e| e.into_inner());
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

#[cfg(test)]
mod usd_tests {
    use super::*;

    /// The rounding path alone, as `usd` was before its integer fast path.
    fn by_rounding(d: Decimal) -> Option<u64> {
        d.checked_mul(Decimal::from(PICO))
            .and_then(|p| p.round().to_u64())
    }

    #[test]
    fn picodollars_are_the_same_with_and_without_the_integer_path() {
        let mut cases = vec![
            Decimal::ZERO,
            Decimal::new(125, 7),         // 0.0000125, a token price
            Decimal::new(237_825, 9),     // 0.000237825
            Decimal::new(1_131_925, 6),   // 1.131925
            Decimal::new(1, 12),          // one picodollar
            Decimal::new(15, 13),         // 1.5 picodollars: rounds (to even)
            Decimal::new(25, 13),         // 2.5 picodollars: rounds to even
            Decimal::new(-125, 7),        // negative: no counter holds it
            Decimal::from(18_446_744u64), // just below u64::MAX picodollars
            Decimal::from(18_446_745u64), // just above
            Decimal::from_i128_with_scale(i128::from(u64::MAX), 12),
        ];
        // Every scale, a few mantissas each.
        for scale in 0..=28u32 {
            for m in [1i128, 7, 999_999, 123_456_789_012_345] {
                cases.push(Decimal::from_i128_with_scale(m, scale));
            }
        }
        for d in cases {
            assert_eq!(usd(d), by_rounding(d), "{d}");
        }
        assert_eq!(usd(Decimal::new(125, 7)), Some(12_500_000));
    }
}
