//! The same instruments over OTLP (opentelemetry_sdk metrics, a periodic reader,
//! the OTLP metric exporter driven on its own small runtime).

use crate::config::{Config, OtlpProtocol};
use crate::metrics::OtlpMetrics;
use crate::vocab as v;
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

fn exporter(cfg: &Config) -> Result<RtExporter, crate::Error> {
    let err = |reason: String| crate::Error::Exporter {
        exporter: "otlp metrics",
        reason,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| err(e.to_string()))?;
    let endpoint = cfg.otlp.endpoint.trim_end_matches('/').to_owned();
    let timeout = Duration::from_millis(cfg.exporter.export_timeout_ms);
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

pub(crate) fn configure(
    cfg: &Config,
    call: &[f64],
    span: &[f64],
    _turn: &[f64],
) -> Result<(), crate::Error> {
    let on = match cfg.metrics.otlp {
        OtlpMetrics::Off => false,
        OtlpMetrics::Auto => !cfg.otlp.endpoint.is_empty(),
        OtlpMetrics::On => true,
    };
    if on && cfg.otlp.endpoint.is_empty() {
        return Err(crate::Error::config(
            None,
            "metrics.otlp",
            "\"on\" needs an OTLP endpoint: set OTEL_EXPORTER_OTLP_ENDPOINT or otlp.endpoint",
        ));
    }
    let next = if on {
        let reader = PeriodicReader::builder(exporter(cfg)?)
            .with_interval(Duration::from_millis(cfg.metrics.otlp_interval_ms))
            .build();
        let provider = SdkMeterProvider::builder()
            .with_resource(crate::export::otlp::resource(cfg))
            .with_reader(reader)
            .build();
        let meter = provider.meter(v::SCOPE_NAME);
        meter
            .u64_observable_counter(v::METRIC_SPANS_DROPPED)
            .with_description("Spans dropped by the exporter.")
            .with_callback(|o| {
                if let Some(s) = crate::pipeline::snapshot() {
                    o.observe(s.dropped, &[]);
                }
            })
            .build();
        meter
            .u64_observable_counter(v::METRIC_ALERTS_FIRED)
            .with_description("Alerts fired in process, by rule.")
            .with_callback(|o| {
                if let Some(e) = crate::alerts::current() {
                    for r in e.rule_stats() {
                        o.observe(r.fired, &[KeyValue::new(v::PL_RULE, r.rule)]);
                    }
                }
            })
            .build();
        let m = Mirror {
            tokens: meter
                .u64_histogram(v::METRIC_GEN_AI_TOKEN_USAGE)
                .with_unit("{token}")
                .with_description("Measures number of input and output tokens used.")
                .with_boundaries(super::TOKEN_BUCKETS.to_vec())
                .build(),
            op_duration: meter
                .f64_histogram(v::METRIC_GEN_AI_OPERATION_DURATION)
                .with_unit("s")
                .with_description("GenAI operation duration.")
                .with_boundaries(super::DURATION_BUCKETS.to_vec())
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

pub(crate) fn shutdown() {
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

pub(crate) fn llm(op: &str, p: &str, md: &str, input: u64, output: u64, total: f64) {
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

pub(crate) fn whatsapp(l: &[&str; 3], price: f64) {
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

pub(crate) fn operation(l: &[&str; 3], secs: f64) {
    with(|m| m.op_duration.record(secs, &llm_attrs(l[0], l[1], l[2])))
}

pub(crate) fn span(role: &str, step: &str, secs: f64, error: bool) {
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
