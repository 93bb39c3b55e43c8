//! Metrics go only where metrics are accepted: a receiver that answers 405
//! to /v1/metrics (Phoenix does) gets one WARN line saying what to set, and
//! every later failure is counted, not logged; `metrics_exporter = none`
//! stops the pushes; `metrics_endpoint` sends them elsewhere; gRPC
//! Unimplemented is the same case; a 404 on /v1/traces says so for traces.
#![cfg(feature = "metrics")]

mod support;

use chatobs_core::export::SpanExporter;
use chatobs_metrics::{MetricsConfig, Mirror as _, OtlpMetrics};
use chatobs_otlp::{metrics, MetricsExporter, OtlpExporter, OtlpProtocol};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::Tls;
use tracing_subscriber::layer::SubscriberExt;

/// WARN lines of chatobs' OTLP code.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

struct Message(String);
impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
    fn on_event(&self, e: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let m = e.metadata();
        if *m.level() == tracing::Level::WARN && m.target().starts_with("chatobs::otlp") {
            let mut msg = Message(String::new());
            e.record(&mut msg);
            self.0.lock().unwrap().push(msg.0);
        }
    }
}

fn metrics_on() -> MetricsConfig {
    MetricsConfig {
        otlp: OtlpMetrics::On,
        otlp_interval_ms: 40,
        ..MetricsConfig::default()
    }
}

fn record_some() {
    metrics::OtlpMirror.span("sales", "qualify", 0.25, false);
    metrics::OtlpMirror.operation(&["chat", "openai", "gpt-4o"], 0.5);
}

fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

#[test]
fn endpoints_that_refuse_a_signal_are_reported_once_and_counted() {
    let warnings = Warnings::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(warnings.clone()))
        .unwrap();
    let pki = support::pki();

    // A traces-only receiver over HTTP/protobuf: 405 on /v1/metrics.
    let phoenix = support::http_receiver(&pki, Tls::Plain, 200, 405);
    let t = support::target(OtlpProtocol::HttpProtobuf, phoenix.http_url());
    metrics::configure(&t, &metrics_on(), &[1.0], &[1.0], None).unwrap();
    assert!(wait_for(Duration::from_secs(15), || {
        record_some();
        metrics::export_stats().failed >= 4
    }));
    metrics::shutdown();
    let stats = metrics::export_stats();
    assert!(stats.not_accepted, "{stats:?}");
    assert_eq!(stats.exported, 0, "{stats:?}");
    let err = stats.last_error.unwrap();
    assert!(err.contains("does not accept metrics (HTTP 405)"), "{err}");
    assert!(
        err.contains("OTEL_METRICS_EXPORTER=none")
            && err.contains("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
        "{err}"
    );
    assert!(phoenix.received.refused.load(Ordering::Relaxed) >= 4);
    let w = warnings.0.lock().unwrap().clone();
    assert_eq!(w.len(), 1, "one WARN line, not one per export: {w:?}");
    assert!(w[0].contains("does not accept metrics"), "{w:?}");

    // OTEL_METRICS_EXPORTER=none: nothing is pushed any more.
    let mut t2 = t.clone();
    t2.otlp.metrics_exporter = MetricsExporter::None;
    let before = phoenix.received.refused.load(Ordering::Relaxed);
    metrics::configure(&t2, &metrics_on(), &[1.0], &[1.0], None).unwrap();
    record_some();
    std::thread::sleep(Duration::from_millis(300));
    metrics::shutdown();
    assert_eq!(phoenix.received.refused.load(Ordering::Relaxed), before);

    // OTEL_EXPORTER_OTLP_METRICS_ENDPOINT wins: metrics go to a collector that takes them.
    let collector = support::http_receiver(&pki, Tls::Plain, 200, 200);
    let mut t3 = t.clone();
    t3.otlp.metrics_endpoint = collector.http_url();
    metrics::configure(&t3, &metrics_on(), &[1.0], &[1.0], None).unwrap();
    assert!(wait_for(Duration::from_secs(10), || {
        record_some();
        !collector.received.metrics.lock().unwrap().is_empty()
    }));
    metrics::shutdown();
    assert_eq!(phoenix.received.refused.load(Ordering::Relaxed), before);
    assert_eq!(metrics::export_stats().failed, 0);

    // gRPC: a receiver without the metrics service answers Unimplemented.
    let grpc = support::grpc_receiver(&pki, Tls::Plain, false);
    let t4 = support::target(OtlpProtocol::Grpc, format!("http://{}", grpc.addr));
    metrics::configure(&t4, &metrics_on(), &[1.0], &[1.0], None).unwrap();
    assert!(wait_for(Duration::from_secs(15), || {
        record_some();
        metrics::export_stats().failed >= 3
    }));
    metrics::shutdown();
    let stats = metrics::export_stats();
    assert!(stats.not_accepted, "{stats:?}");
    assert!(stats
        .last_error
        .unwrap()
        .contains("does not accept metrics (gRPC Unimplemented)"),);
    assert_eq!(
        warnings.0.lock().unwrap().len(),
        2,
        "one more for the new mirror"
    );

    // Traces: a 404 on /v1/traces says which signal and what to check.
    let wrong = support::http_receiver(&pki, Tls::Plain, 404, 200);
    let t5 = support::target(OtlpProtocol::HttpProtobuf, wrong.http_url());
    let mut e = OtlpExporter::new(&t5).unwrap();
    let err = e.export(&[support::span("x", "s", 1)]).unwrap_err();
    assert!(err.contains("does not accept traces (HTTP 404)"), "{err}");
    assert!(err.contains("OTEL_EXPORTER_OTLP_PROTOCOL"), "{err}");
}
