//! The same instruments over OTLP (opentelemetry_sdk metrics, a periodic reader,
//! the OTLP metric exporter driven on its own small runtime).

use crate::config::{OtlpProtocol, OtlpTarget};
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
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;
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

/// Runs the OTLP exporter's futures on a runtime of its own (the periodic
/// reader's thread has none).
struct RtExporter {
    rt: tokio::runtime::Runtime,
    inner: opentelemetry_otlp::MetricExporter,
}

impl PushMetricExporter for RtExporter {
    fn export(
        &self,
        metrics: &ResourceMetrics,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let r = self.rt.block_on(self.inner.export(metrics));
        std::future::ready(r)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| err(e.to_string()))?;
    let endpoint = cfg.otlp.endpoint.trim_end_matches('/').to_owned();
    let timeout = cfg.export_timeout;
    let built = {
        let _g = rt.enter();
        match cfg.otlp.protocol {
            OtlpProtocol::Grpc => {
                let mut md = tonic::metadata::MetadataMap::new();
                for (k, val) in &cfg.otlp.headers {
                    if let (Ok(key), Ok(val)) = (
                        tonic::metadata::MetadataKey::from_bytes(k.as_bytes()),
                        val.parse(),
                    ) {
                        md.insert(key, val);
                    }
                }
                opentelemetry_otlp::MetricExporter::builder()
                    .with_tonic()
                    .with_endpoint(endpoint)
                    .with_timeout(timeout)
                    .with_metadata(md)
                    .build()
            }
            OtlpProtocol::HttpProtobuf => {
                let base = endpoint.trim_end_matches("/v1/traces");
                opentelemetry_otlp::MetricExporter::builder()
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_endpoint(format!("{base}/v1/metrics"))
                    .with_timeout(timeout)
                    .with_headers(cfg.otlp.headers.clone().into_iter().collect())
                    .build()
            }
        }
    };
    let inner = built.map_err(|e| err(e.to_string()))?;
    Ok(RtExporter { rt, inner })
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
    let on = match metrics.otlp {
        OtlpMetrics::Off => false,
        OtlpMetrics::Auto => !cfg.otlp.endpoint.is_empty(),
        OtlpMetrics::On => true,
    };
    if on && cfg.otlp.endpoint.is_empty() {
        return Err(Error::config(
            None,
            "metrics.otlp",
            "\"on\" needs an OTLP endpoint: set OTEL_EXPORTER_OTLP_ENDPOINT or otlp.endpoint",
        ));
    }
    let next = if on {
        let reader = PeriodicReader::builder(exporter(cfg)?)
            .with_interval(Duration::from_millis(metrics.otlp_interval_ms))
            .build();
        let provider = SdkMeterProvider::builder()
            .with_resource(crate::traces::resource(&cfg.service))
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
    with(|m| {
        let a = [
            KeyValue::new(v::AGENT_ROLE, role.to_owned()),
            KeyValue::new(v::CONVERSATION_STEP, step.to_owned()),
        ];
        m.span_duration.record(secs, &a);
        if error {
            m.span_errors.add(1, &a[..1]);
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
}
