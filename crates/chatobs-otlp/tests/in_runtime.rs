//! Bots are often `#[tokio::main]`: `init` and shutdown then run inside a
//! tokio runtime, where dropping a runtime or calling `block_on` panics. The
//! paths the facade takes (`check`, `OtlpExporter::new`/`export`/`shutdown`/
//! drop, `metrics::configure`/`shutdown`) must work there, with good and bad
//! inputs, on a current-thread and a multi-thread runtime.
#![cfg(feature = "metrics")]

mod support;

use chatobs_core::export::SpanExporter;
use chatobs_metrics::{MetricsConfig, OtlpMetrics};
use chatobs_otlp::{check, metrics, OtlpExporter, OtlpProtocol};
use std::sync::Mutex;
use std::time::Duration;
use support::{path, Tls};

static MIRROR: Mutex<()> = Mutex::new(());

fn metrics_on() -> MetricsConfig {
    MetricsConfig {
        otlp: OtlpMetrics::On,
        otlp_interval_ms: 50,
        ..MetricsConfig::default()
    }
}

/// Everything the facade does with OTLP, from wherever it is called.
fn facade_paths(pki: &support::Pki) {
    let _g = MIRROR.lock().unwrap_or_else(|e| e.into_inner());
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
        let server = match protocol {
            OtlpProtocol::Grpc => support::grpc_receiver(pki, Tls::Server, true),
            OtlpProtocol::HttpProtobuf => support::http_receiver(pki, Tls::Server, 200, 200),
        };
        // Good TLS settings: build, export, replace the metrics mirror, shut down.
        let mut t = support::target(protocol, server.https_url());
        t.otlp.certificate = path(&pki.ca);
        t.export_timeout = Duration::from_secs(3);
        check(&t).unwrap();
        let mut e = OtlpExporter::new(&t).unwrap();
        e.export(&[support::span("classifier.predict", "s-rt", 1)])
            .unwrap();
        e.shutdown().unwrap();
        drop(e);
        metrics::configure(&t, &metrics_on(), &[1.0], &[1.0], None).unwrap();
        std::thread::sleep(Duration::from_millis(120));
        metrics::configure(&t, &metrics_on(), &[1.0], &[1.0], None).unwrap();
        metrics::shutdown();

        // An https endpoint whose certificate is not trusted, and one nothing listens on.
        for endpoint in [server.https_url(), "https://127.0.0.1:1".to_string()] {
            let mut t = support::target(protocol, endpoint);
            t.export_timeout = Duration::from_millis(500);
            let mut e = OtlpExporter::new(&t).unwrap();
            assert!(e.export(&[support::span("a", "s", 2)]).is_err());
            drop(e);
            metrics::configure(&t, &metrics_on(), &[1.0], &[1.0], None).unwrap();
            metrics::shutdown();
        }

        // Inputs that used to panic `init`: errors now, dropped in the runtime.
        for endpoint in ["http://exa mple.com", "https://h:99999", "localhost:4317"] {
            let t = support::target(protocol, endpoint.into());
            assert!(check(&t).is_err());
            assert!(OtlpExporter::new(&t).is_err());
            assert!(metrics::configure(&t, &metrics_on(), &[1.0], &[1.0], None).is_err());
        }
        let mut t = support::target(protocol, server.https_url());
        t.otlp.certificate = "/nonexistent/ca.pem".into();
        assert!(OtlpExporter::new(&t).is_err());
        assert!(metrics::configure(&t, &metrics_on(), &[1.0], &[1.0], None).is_err());
    }
}

#[tokio::test]
async fn inside_a_current_thread_runtime() {
    let pki = support::pki();
    facade_paths(&pki);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_a_multi_thread_runtime() {
    let pki = support::pki();
    facade_paths(&pki);
}

#[test]
fn inside_block_on_and_outside_any_runtime() {
    let pki = support::pki();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { facade_paths(&pki) });
    drop(rt);
    facade_paths(&pki);
}

/// An exporter built outside a runtime and dropped inside one (a bot that
/// keeps it in a struct its async code owns).
#[test]
fn dropped_inside_a_runtime_after_being_built_outside() {
    let pki = support::pki();
    let server = support::http_receiver(&pki, Tls::Server, 200, 200);
    let mut t = support::target(OtlpProtocol::HttpProtobuf, server.https_url());
    t.otlp.certificate = path(&pki.ca);
    let mut e = OtlpExporter::new(&t).unwrap();
    e.export(&[support::span("x", "s", 1)]).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        tokio::task::yield_now().await;
        drop(e);
    });
}
