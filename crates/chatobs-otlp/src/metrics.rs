//! The same instruments over OTLP (opentelemetry_sdk metrics, a periodic reader,
//! the OTLP metric exporter driven on its own small runtime).
//!
//! Metrics go to `metrics_endpoint` (`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`)
//! when set, else to the traces endpoint, and nowhere over OTLP with
//! `metrics_exporter = "none"` (`OTEL_METRICS_EXPORTER=none`). An endpoint
//! that does not take metrics (HTTP 404/405, gRPC Unimplemented) is reported
//! once with one WARN line saying what to set; every failed export is counted
//! in [`export_stats`], and logged again only after an export succeeded.
//!
//! Span durations arrive a run at a time (the spans of a batch in a row with
//! one role and step, `chatobs_metrics::Mirror::span_run`) and are recorded
//! through a histogram bound to the run's labels: OpenTelemetry 0.33's bound
//! instruments (the specification's `Bind`, still marked Development, behind
//! the SDK feature `experimental_metrics_bound_instruments`). Recording each
//! value with its attributes made the SDK hash them to find the series, a
//! third of the export thread's time at 1.5M spans/s (docs/benchmarks.md).
//! The feature is pinned with the 0.33 crates; should it change, `span_run`
//! is the one place to adapt (recording with attributes gives the same series).

use crate::config::{MetricsExporter, OtlpProtocol, OtlpTarget, Signal};
use crate::rt::ExportRuntime;
use crate::transport::{self, Probe};
use chatobs_core::vocab as v;
use chatobs_core::Error;
use chatobs_metrics::{MetricsConfig, OtlpMetrics};
use opentelemetry::metrics::{Counter, Histogram, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Mirror {
    provider: SdkMeterProvider,
    tokens: Histogram<u64>,
    op_duration: Histogram<f64>,
    llm_cost: Counter<f64>,
    call_cost: Histogram<f64>,
    wa_cost: Counter<f64>,
    span_duration: Histogram<f64>,
    span_errors: Counter<u64>,
    /// The app's own metrics ([`chatobs_metrics::app`]), made when first recorded.
    app: Mutex<std::collections::HashMap<&'static str, AppInstrument>>,
    meter: opentelemetry::metrics::Meter,
}

enum AppInstrument {
    Counter(Counter<f64>),
    Gauge(opentelemetry::metrics::Gauge<f64>),
    Histogram(Histogram<f64>),
}

// Replaced mirrors are shut down and kept (leaked) so concurrent recorders stay valid.
static MIRROR: AtomicPtr<Mirror> = AtomicPtr::new(std::ptr::null_mut());
static SWAP: Mutex<()> = Mutex::new(());

#[inline]
fn with(f: impl FnOnce(&Mirror)) {
    // SAFETY: only leaked, never freed mirrors are stored.
    if let Some(m) = unsafe { MIRROR.load(Ordering::Acquire).as_ref() } {
        f(m)
    }
}

/// How the OTLP metric exports of the current mirror went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsExportStats {
    /// Export calls that succeeded.
    pub exported: u64,
    /// Export calls that failed (each one counted, whether logged or not).
    pub failed: u64,
    /// The last failure, described (which signal, what to do).
    pub last_error: Option<String>,
    /// Whether the endpoint said it does not take metrics (404/405, Unimplemented).
    pub not_accepted: bool,
}

struct ExportState {
    exported: AtomicU64,
    failed: AtomicU64,
    failing: AtomicBool,
    warned_not_accepted: AtomicBool,
    last_error: Mutex<Option<String>>,
}

static STATE: ExportState = ExportState {
    exported: AtomicU64::new(0),
    failed: AtomicU64::new(0),
    failing: AtomicBool::new(false),
    warned_not_accepted: AtomicBool::new(false),
    last_error: Mutex::new(None),
};

impl ExportState {
    fn reset(&self) {
        self.exported.store(0, Ordering::Relaxed);
        self.failed.store(0, Ordering::Relaxed);
        self.failing.store(false, Ordering::Relaxed);
        self.warned_not_accepted.store(false, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn success(&self) {
        self.exported.fetch_add(1, Ordering::Relaxed);
        self.failing.store(false, Ordering::Relaxed);
    }

    fn failure(&self, f: transport::Failure) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let newly_failing = !self.failing.swap(true, Ordering::Relaxed);
        let log = if f.not_accepted {
            !self.warned_not_accepted.swap(true, Ordering::Relaxed)
        } else {
            newly_failing
        };
        if log {
            tracing::warn!(
                target: "chatobs::otlp",
                signal = "metrics",
                "OTLP metrics export failed: {} (further failures are counted, not logged)",
                f.message
            );
        }
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(f.message);
    }
}

/// How the OTLP metric exports went since the mirror was (re)configured.
pub fn export_stats() -> MetricsExportStats {
    MetricsExportStats {
        exported: STATE.exported.load(Ordering::Relaxed),
        failed: STATE.failed.load(Ordering::Relaxed),
        last_error: STATE
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
        not_accepted: STATE.warned_not_accepted.load(Ordering::Relaxed),
    }
}

/// Runs the OTLP exporter's futures on a runtime of its own (the periodic
/// reader's thread has none), cut at the export timeout; records the outcome
/// in [`export_stats`] and reports failures itself (so the SDK does not log
/// each one again).
struct RtExporter {
    // Dropped before the runtime it was built on.
    inner: opentelemetry_otlp::MetricExporter,
    rt: ExportRuntime,
    timeout: Duration,
    url: String,
    protocol: OtlpProtocol,
    probe: Arc<Probe>,
}

impl PushMetricExporter for RtExporter {
    fn export(
        &self,
        metrics: &ResourceMetrics,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.probe.reset();
        let timeout = self.timeout;
        let fut = self.inner.export(metrics);
        let raw = match self
            .rt
            .block_on(async move { tokio::time::timeout(timeout, fut).await })
        {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => Some(e.to_string()),
            Ok(Err(_)) => Some(format!("no answer within {} ms", timeout.as_millis())),
            Err(e) => Some(e),
        };
        match raw {
            None => STATE.success(),
            Some(raw) => STATE.failure(transport::describe(
                Signal::Metrics,
                self.protocol,
                &self.url,
                &raw,
                &self.probe,
            )),
        }
        std::future::ready(Ok(()))
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.rt.enter(|| self.inner.shutdown_with_timeout(timeout))
    }
    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

fn exporter(cfg: &OtlpTarget) -> Result<RtExporter, Error> {
    let err = |reason: String| Error::Exporter {
        exporter: "otlp metrics",
        reason,
    };
    let mut problems = Vec::new();
    let plan = transport::plan(&cfg.otlp, Signal::Metrics, &mut problems).ok_or_else(|| {
        if problems.is_empty() {
            err("no endpoint: set OTEL_EXPORTER_OTLP_METRICS_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT".into())
        } else {
            crate::to_error(problems)
        }
    })?;
    let rt = ExportRuntime::new().map_err(err)?;
    let timeout = cfg.export_timeout;
    let probe = Arc::new(Probe::default());
    let built = rt.enter(|| match plan.protocol {
        OtlpProtocol::Grpc => {
            let b = opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(plan.url.clone())
                .with_timeout(timeout)
                .with_metadata(plan.metadata());
            match &plan.tls {
                Some(tls) => b.with_tls_config(tls.tonic()).build(),
                None => b.build(),
            }
        }
        OtlpProtocol::HttpProtobuf => opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(plan.url.clone())
            .with_timeout(timeout)
            .with_headers(plan.headers.iter().cloned().collect())
            .with_http_client(transport::http_client(&plan, timeout, probe.clone()))
            .build(),
    });
    let inner = built.map_err(|e| err(format!("{}: {e}", plan.url)))?;
    Ok(RtExporter {
        inner,
        rt,
        timeout,
        url: plan.url,
        protocol: plan.protocol,
        probe,
    })
}

/// Counters another part owns, observed at each export: `(rule, fired)` pairs
/// for `chatobs.alerts.fired` (the facade passes the alert engine's).
pub type FiredSource = fn() -> Vec<(String, u64)>;

/// Starts (or replaces, or stops) the OTLP metrics mirror as `metrics.otlp`
/// says: `auto` when an endpoint is set, `on`, `off`. `call` and `span` are
/// the bucket bounds the Prometheus histograms use, so both views agree.
pub fn configure(
    cfg: &OtlpTarget,
    metrics: &MetricsConfig,
    call: &[f64],
    span: &[f64],
    fired: Option<FiredSource>,
) -> Result<(), Error> {
    crate::check(cfg)?;
    let has_target = !cfg.otlp.metrics_target().0.is_empty();
    let over_otlp = cfg.otlp.metrics_exporter == MetricsExporter::Otlp;
    let on = match metrics.otlp {
        OtlpMetrics::Off => false,
        OtlpMetrics::Auto => has_target && over_otlp,
        // `metrics_exporter = "none"` (OTEL_METRICS_EXPORTER=none) wins: an
        // operator can always stop the pushes without editing the file.
        OtlpMetrics::On => over_otlp,
    };
    if on && !has_target {
        return Err(Error::config(
            None,
            "metrics.otlp",
            "\"on\" needs an OTLP endpoint: set OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT or otlp.endpoint",
        ));
    }
    let next = if on {
        let exporter = exporter(cfg)?;
        STATE.reset();
        let reader = PeriodicReader::builder(exporter)
            .with_interval(Duration::from_millis(metrics.otlp_interval_ms))
            .build();
        let provider = SdkMeterProvider::builder()
            .with_resource(crate::traces::resource_for(cfg))
            .with_reader(reader)
            .build();
        let meter = provider.meter(v::SCOPE_NAME);
        meter
            .u64_observable_counter(v::METRIC_SPANS_DROPPED)
            .with_description("Spans dropped by the exporter.")
            .with_callback(|o| {
                if let Some(s) = chatobs_core::pipeline::snapshot() {
                    o.observe(s.dropped, &[]);
                }
            })
            .build();
        meter
            .u64_observable_counter(v::METRIC_ALERTS_FIRED)
            .with_description("Alerts fired in process, by rule.")
            .with_callback(move |o| {
                if let Some(fired) = fired {
                    for (rule, n) in fired() {
                        o.observe(n, &[KeyValue::new(v::PL_RULE, rule)]);
                    }
                }
            })
            .build();
        let m = Mirror {
            tokens: meter
                .u64_histogram(v::METRIC_GEN_AI_TOKEN_USAGE)
                .with_unit("{token}")
                .with_description("Measures number of input and output tokens used.")
                .with_boundaries(chatobs_metrics::TOKEN_BUCKETS.to_vec())
                .build(),
            op_duration: meter
                .f64_histogram(v::METRIC_GEN_AI_OPERATION_DURATION)
                .with_unit("s")
                .with_description("GenAI operation duration.")
                .with_boundaries(chatobs_metrics::DURATION_BUCKETS.to_vec())
                .build(),
            llm_cost: meter
                .f64_counter(v::METRIC_LLM_COST)
                .with_unit("USD")
                .build(),
            call_cost: meter
                .f64_histogram(v::METRIC_LLM_CALL_COST)
                .with_unit("USD")
                .with_boundaries(call.to_vec())
                .build(),
            wa_cost: meter
                .f64_counter(v::METRIC_WHATSAPP_COST)
                .with_unit("USD")
                .build(),
            span_duration: meter
                .f64_histogram(v::METRIC_SPAN_DURATION)
                .with_unit("s")
                .with_boundaries(span.to_vec())
                .build(),
            span_errors: meter.u64_counter(v::METRIC_SPAN_ERRORS).build(),
            app: Mutex::new(std::collections::HashMap::new()),
            meter: provider.meter("chatobs-app"),
            provider,
        };
        Box::leak(Box::new(m)) as *mut Mirror
    } else {
        std::ptr::null_mut()
    };
    let _g = SWAP.lock().unwrap_or_else(|e| e.into_inner());
    let prev = MIRROR.swap(next, Ordering::AcqRel);
    // SAFETY: as in `with`.
    if let Some(p) = unsafe { prev.as_ref() } {
        let _ = p.provider.shutdown();
    }
    Ok(())
}

/// Stops the mirror, pushing what it holds.
pub fn shutdown() {
    let _g = SWAP.lock().unwrap_or_else(|e| e.into_inner());
    let prev = MIRROR.swap(std::ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: as in `with`.
    if let Some(p) = unsafe { prev.as_ref() } {
        let _ = p.provider.shutdown();
    }
}

fn llm_attrs(op: &str, p: &str, md: &str) -> [KeyValue; 3] {
    [
        KeyValue::new(v::GEN_AI_OPERATION_NAME, op.to_owned()),
        KeyValue::new(v::GEN_AI_PROVIDER_NAME, p.to_owned()),
        KeyValue::new(v::GEN_AI_REQUEST_MODEL, md.to_owned()),
    ]
}

fn llm(op: &str, p: &str, md: &str, input: u64, output: u64, total: f64) {
    with(|m| {
        let a = llm_attrs(op, p, md);
        let mut t = a.to_vec();
        t.push(KeyValue::new(v::GEN_AI_TOKEN_TYPE, "input"));
        m.tokens.record(input, &t);
        if let Some(last) = t.last_mut() {
            *last = KeyValue::new(v::GEN_AI_TOKEN_TYPE, "output");
        }
        m.tokens.record(output, &t);
        m.llm_cost.add(total, &a[1..]);
        m.call_cost.record(total, &a[1..]);
    })
}

fn whatsapp(l: &[&str; 3], price: f64) {
    with(|m| {
        m.wa_cost.add(
            price,
            &[
                KeyValue::new(v::MESSAGING_WHATSAPP_MARKET, l[0].to_owned()),
                KeyValue::new(v::MESSAGING_WHATSAPP_CATEGORY, l[1].to_owned()),
                KeyValue::new(v::MESSAGING_WHATSAPP_PRICING_TYPE, l[2].to_owned()),
            ],
        )
    })
}

fn operation(l: &[&str; 3], secs: f64) {
    with(|m| m.op_duration.record(secs, &llm_attrs(l[0], l[1], l[2])))
}

fn span(role: &str, step: &str, secs: f64, error: bool) {
    span_run(role, step, &[secs], u64::from(error))
}

/// A run of spans with the same labels: the labels are made once for the
/// run (two strings), not once a span, and the failures added once.
fn span_run(role: &str, step: &str, secs: &[f64], errors: u64) {
    with(|m| {
        let a = [
            KeyValue::new(v::AGENT_ROLE, role.to_owned()),
            KeyValue::new(v::CONVERSATION_STEP, step.to_owned()),
        ];
        // Bound once for the run: each value then skips the SDK's lookup
        // of its attributes (a hash of both labels per value otherwise).
        match secs {
            [one] => m.span_duration.record(*one, &a),
            many => {
                let bound = m.span_duration.bind(&a);
                for s in many {
                    bound.record(*s);
                }
            }
        }
        if errors > 0 {
            m.span_errors.add(errors, &a[..1]);
        }
    })
}

fn app(
    name: &'static str,
    help: &'static str,
    kind: chatobs_metrics::registry::Kind,
    labels: &'static [&'static str],
    values: &[&str],
    value: f64,
) {
    use chatobs_metrics::registry::Kind;
    with(|m| {
        let attrs: Vec<KeyValue> = labels
            .iter()
            .zip(values)
            .map(|(k, val)| KeyValue::new(*k, (*val).to_owned()))
            .collect();
        let mut g = m.app.lock().unwrap_or_else(|e| e.into_inner());
        let inst = g.entry(name).or_insert_with(|| match kind {
            Kind::Counter => {
                AppInstrument::Counter(m.meter.f64_counter(name).with_description(help).build())
            }
            Kind::Gauge => {
                AppInstrument::Gauge(m.meter.f64_gauge(name).with_description(help).build())
            }
            Kind::Histogram => {
                AppInstrument::Histogram(m.meter.f64_histogram(name).with_description(help).build())
            }
        });
        match inst {
            AppInstrument::Counter(c) => c.add(value, &attrs),
            AppInstrument::Gauge(gg) => gg.record(value, &attrs),
            AppInstrument::Histogram(h) => h.record(value, &attrs),
        }
    })
}

/// The mirror `chatobs_metrics::set_mirror` takes: each measurement chatobs'
/// metrics record is also recorded on the OTLP instruments (when configured).
#[derive(Debug)]
pub struct OtlpMirror;

impl chatobs_metrics::Mirror for OtlpMirror {
    fn llm(&self, op: &str, provider: &str, model: &str, input: u64, output: u64, usd: f64) {
        llm(op, provider, model, input, output, usd)
    }
    fn whatsapp(&self, labels: &[&str; 3], usd: f64) {
        whatsapp(labels, usd)
    }
    fn operation(&self, labels: &[&str; 3], secs: f64) {
        operation(labels, secs)
    }
    fn span(&self, role: &str, step: &str, secs: f64, error: bool) {
        span(role, step, secs, error)
    }
    fn span_run(&self, role: &str, step: &str, secs: &[f64], errors: u64) {
        span_run(role, step, secs, errors)
    }
    fn app(
        &self,
        name: &'static str,
        help: &'static str,
        kind: chatobs_metrics::registry::Kind,
        labels: &'static [&'static str],
        values: &[&str],
        value: f64,
    ) {
        app(name, help, kind, labels, values, value)
    }
}
