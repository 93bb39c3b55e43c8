//! OTLP over TLS against local receivers whose certificates are made in the
//! test: real chatobs spans through the core pipeline and the OTLP exporter,
//! over gRPC and HTTP/protobuf; the receiver decodes the protobuf. With the
//! CA configured the spans arrive; without it, or with another CA, every
//! export fails and is counted, and nothing panics. mTLS: a receiver that
//! requires client certificates takes the configured one and refuses none.

mod support;

use chatobs_core::config::{ExporterConfig, SamplingConfig};
use chatobs_core::export::SpanExporter;
use chatobs_core::pipeline::{self, ExporterFactory, PipelineSnapshot};
use chatobs_core::{ChatSession, SpanBuilder};
use chatobs_otlp::{OtlpExporter, OtlpProtocol, OtlpTarget};
use std::sync::Mutex;
use std::time::Duration;
use support::{attr_str, path, pki, Tls};

/// One pipeline per process: the tests of this file take turns.
static PIPELINE: Mutex<()> = Mutex::new(());

/// Runs two chat spans of one conversation through the core pipeline into
/// an `OtlpExporter` built from `target`; returns the counters and the session id.
fn run_pipeline(target: OtlpTarget) -> (PipelineSnapshot, String) {
    let _turn = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    let exporter = ExporterConfig {
        scheduled_delay_ms: 20,
        export_timeout_ms: 3_000,
        shutdown_timeout_ms: 5_000,
        ..ExporterConfig::default()
    };
    let factory: ExporterFactory =
        Box::new(move || OtlpExporter::new(&target).map(|e| Box::new(e) as Box<dyn SpanExporter>));
    let guard =
        pipeline::start(&exporter, &SamplingConfig::default(), vec![factory], None).unwrap();
    let session = ChatSession::new("wa:573001234567");
    session.in_scope(|| {
        drop(SpanBuilder::new("classifier.predict").start());
        drop(SpanBuilder::new("agent.sales.flow").start());
    });
    guard.flush(Duration::from_secs(10));
    // A failed export is counted once its call returns (bounded by the timeout).
    let t = std::time::Instant::now();
    let mut snap = guard.snapshot();
    while snap.exported + snap.export_failed < 2 && t.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(20));
        snap = guard.snapshot();
    }
    drop(guard);
    (snap, session.id().to_owned())
}

fn assert_received(server: &support::Server, session_id: &str) {
    let spans = server.received.wait_spans(2, Duration::from_secs(10));
    let mut names: Vec<&str> = spans.iter().map(|(_, s)| s.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["agent.sales.flow", "classifier.predict"]);
    for (res, s) in &spans {
        assert_eq!(attr_str(res, "service.name"), Some("tls-test-bot"));
        assert_eq!(
            attr_str(&s.attributes, chatobs_core::vocab::CHAT_SESSION_ID),
            Some(session_id),
            "{}",
            s.name
        );
    }
}

#[test]
fn grpc_over_tls_with_the_ca_delivers_and_without_it_fails_counted() {
    let pki = pki();
    let server = support::grpc_receiver(&pki, Tls::Server, false);

    let mut t = support::target(OtlpProtocol::Grpc, server.https_url());
    t.otlp.certificate = path(&pki.ca);
    let (snap, sid) = run_pipeline(t);
    assert_eq!((snap.exported, snap.export_failed), (2, 0), "{snap:?}");
    assert_received(&server, &sid);

    // No CA configured: the system roots do not know the test CA.
    let server = support::grpc_receiver(&pki, Tls::Server, false);
    let t = support::target(OtlpProtocol::Grpc, server.https_url());
    let (snap, _) = run_pipeline(t);
    assert_eq!(snap.exported, 0, "{snap:?}");
    assert_eq!(snap.export_failed, 2, "{snap:?}");
    assert!(server.received.spans().is_empty());

    // The wrong CA.
    let mut t = support::target(OtlpProtocol::Grpc, server.https_url());
    t.otlp.traces_certificate = path(&pki.other_ca);
    let (snap, _) = run_pipeline(t);
    assert_eq!((snap.exported, snap.export_failed), (0, 2), "{snap:?}");
}

#[test]
fn http_protobuf_over_tls_with_the_ca_delivers_and_without_it_fails_counted() {
    let pki = pki();
    let server = support::http_receiver(&pki, Tls::Server, 200, 200);

    let mut t = support::target(OtlpProtocol::HttpProtobuf, server.https_url());
    t.otlp.certificate = path(&pki.ca);
    let (snap, sid) = run_pipeline(t);
    assert_eq!((snap.exported, snap.export_failed), (2, 0), "{snap:?}");
    assert_received(&server, &sid);

    let server = support::http_receiver(&pki, Tls::Server, 200, 200);
    let t = support::target(OtlpProtocol::HttpProtobuf, server.https_url());
    let (snap, _) = run_pipeline(t);
    assert_eq!((snap.exported, snap.export_failed), (0, 2), "{snap:?}");
    assert!(server.received.spans().is_empty());

    let mut t = support::target(OtlpProtocol::HttpProtobuf, server.https_url());
    t.otlp.certificate = path(&pki.other_ca);
    let (snap, _) = run_pipeline(t);
    assert_eq!((snap.exported, snap.export_failed), (0, 2), "{snap:?}");
}

/// The error of an untrusted server says what to set.
#[test]
fn an_untrusted_certificate_is_explained() {
    let pki = pki();
    let server = support::http_receiver(&pki, Tls::Server, 200, 200);
    let t = support::target(OtlpProtocol::HttpProtobuf, server.https_url());
    let mut e = OtlpExporter::new(&t).unwrap();
    let err = e
        .export(&[support::span("classifier.predict", "s-1", 1)])
        .unwrap_err();
    assert!(err.contains("OTEL_EXPORTER_OTLP_CERTIFICATE"), "{err}");
}

fn mtls(protocol: OtlpProtocol) {
    let pki = pki();
    let server = match protocol {
        OtlpProtocol::Grpc => support::grpc_receiver(&pki, Tls::Mutual, false),
        OtlpProtocol::HttpProtobuf => support::http_receiver(&pki, Tls::Mutual, 200, 200),
    };
    let base = || {
        let mut t = support::target(protocol, server.https_url());
        t.otlp.certificate = path(&pki.ca);
        t.export_timeout = Duration::from_secs(3);
        t
    };

    // With the client certificate signed by the CA the receiver trusts: accepted.
    let mut t = base();
    t.otlp.client_certificate = path(&pki.client_cert);
    t.otlp.client_key = path(&pki.client_key);
    let mut e = OtlpExporter::new(&t).unwrap();
    e.export(&[support::span("classifier.predict", "s-mtls", 1)])
        .unwrap();
    let spans = server.received.wait_spans(1, Duration::from_secs(5));
    assert_eq!(spans.len(), 1);
    assert_eq!(
        attr_str(&spans[0].1.attributes, chatobs_core::vocab::CHAT_SESSION_ID),
        Some("s-mtls")
    );
    e.shutdown().unwrap();

    // Without one: refused, an error, no panic.
    let mut e = OtlpExporter::new(&base()).unwrap();
    assert!(e
        .export(&[support::span("classifier.predict", "s-none", 2)])
        .is_err());

    // With a certificate from another CA: refused.
    let mut t = base();
    t.otlp.traces_client_certificate = path(&pki.other_client_cert);
    t.otlp.traces_client_key = path(&pki.other_client_key);
    let mut e = OtlpExporter::new(&t).unwrap();
    assert!(e
        .export(&[support::span("classifier.predict", "s-other", 3)])
        .is_err());
    assert_eq!(
        server.received.spans().len(),
        1,
        "only the first was accepted"
    );
}

#[test]
fn mtls_over_grpc() {
    mtls(OtlpProtocol::Grpc);
}

#[test]
fn mtls_over_http_protobuf() {
    mtls(OtlpProtocol::HttpProtobuf);
}
