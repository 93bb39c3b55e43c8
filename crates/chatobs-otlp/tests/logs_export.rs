//! The JSON log lines over OTLP: real lines written by chatobs' log layer
//! (inside a chat span of a conversation, with a phone number, an e-mail
//! address and message text in the fields) go through `OtlpLogSink` to a
//! receiver on 127.0.0.1 that decodes the protobuf, over gRPC and
//! HTTP/protobuf. The records carry the span's trace and span ids, the
//! session id, typed fields, and nothing the JSON line did not.

mod support;

use chatobs_core::logs::{layer_to, LogOutput};
use chatobs_core::{ChatSession, SpanBuilder};
use chatobs_otlp::logs::OtlpLogSink;
use chatobs_otlp::OtlpProtocol;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{pki, Tls};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Lines the log layer writes for a bot's events, and the span's ids.
fn real_lines() -> (Vec<String>, String, String, String) {
    let buf = Buf::default();
    let subscriber =
        tracing_subscriber::registry().with(layer_to(LogOutput::Writer(Box::new(buf.clone()))));
    let session = ChatSession::from_exported_id("cs-logs-otlp-1").unwrap();
    let mut ids = (String::new(), String::new());
    let ((), _spans) = chatobs_core::testing::capture(|| {
        tracing::subscriber::with_default(subscriber, || {
            session.in_scope(|| {
                let mut span = SpanBuilder::new("agent.sales.flow").start();
                span.in_scope(|| {
                    let (t, s) = chatobs_core::current::ids().unwrap();
                    ids = (t.to_string(), s.to_string());
                    tracing::info!(
                        order_total = 42,
                        ratio = 0.25,
                        express = true,
                        customer = "+57 300 123 4567",
                        email = "ana.gomez@example.com",
                        "pedido recibido de +57 300 123 4567"
                    );
                    tracing::warn!(retries = 3_u64, "Gemini respondió 429");
                });
                drop(span);
            });
        });
    });
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    (lines, ids.0, ids.1, session.id().to_owned())
}

fn attr<'a>(r: &'a LogRecord, k: &str) -> Option<&'a Av> {
    r.attributes
        .iter()
        .find(|kv: &&KeyValue| kv.key == k)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn check(server: &support::Server, trace: &str, span: &str, session: &str, lines: &[String]) {
    let t = std::time::Instant::now();
    let records: Vec<(Vec<KeyValue>, LogRecord)> = loop {
        let got: Vec<(Vec<KeyValue>, LogRecord)> = server
            .received
            .logs
            .lock()
            .unwrap()
            .iter()
            .flat_map(|req| {
                req.resource_logs.iter().flat_map(|rl| {
                    let res = rl
                        .resource
                        .as_ref()
                        .map(|r| r.attributes.clone())
                        .unwrap_or_default();
                    rl.scope_logs.iter().flat_map(move |sl| {
                        sl.log_records.iter().map({
                            let res = res.clone();
                            move |r| (res.clone(), r.clone())
                        })
                    })
                })
            })
            .collect();
        if got.len() >= 2 || t.elapsed() > Duration::from_secs(10) {
            break got;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(records.len(), 2, "{records:?}");
    let (res, info) = &records[0];
    assert!(res.iter().any(|kv| kv.key == "service.name"
        && matches!(kv.value.as_ref().and_then(|v| v.value.as_ref()), Some(Av::StringValue(s)) if s == "tls-test-bot")));
    assert_eq!(info.severity_text, "INFO");
    assert_eq!(info.severity_number, 9);
    assert_eq!(hex(&info.trace_id), trace);
    assert_eq!(hex(&info.span_id), span);
    assert!(info.time_unix_nano > 0);
    assert_eq!(
        attr(info, "session.id"),
        Some(&Av::StringValue(session.into()))
    );
    assert_eq!(
        attr(info, "chat.session_id"),
        Some(&Av::StringValue(session.into()))
    );
    assert_eq!(attr(info, "order_total"), Some(&Av::IntValue(42)));
    assert_eq!(attr(info, "ratio"), Some(&Av::DoubleValue(0.25)));
    assert_eq!(attr(info, "express"), Some(&Av::BoolValue(true)));
    let (_, warn) = &records[1];
    assert_eq!(warn.severity_text, "WARN");
    assert_eq!(warn.severity_number, 13);
    assert_eq!(attr(warn, "retries"), Some(&Av::IntValue(3)));
    // Redacted exactly as the JSON line: the same body, the same field text.
    let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let body = match info.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(Av::StringValue(s)) => s.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(body, line["message"].as_str().unwrap());
    assert_eq!(
        attr(info, "customer"),
        Some(&Av::StringValue(line["customer"].as_str().unwrap().into()))
    );
    let all = format!("{records:?}");
    for secret in ["300 123 4567", "3001234567", "ana.gomez@example.com"] {
        assert!(!all.contains(secret), "{secret} reached the receiver");
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn log_lines_reach_a_grpc_and_an_http_receiver_decoded() {
    let (lines, trace, span, session) = real_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for l in &lines {
        for secret in ["300 123 4567", "ana.gomez@example.com"] {
            assert!(!l.contains(secret), "the JSON line itself is redacted: {l}");
        }
    }
    let pki = pki();
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
        let server = match protocol {
            OtlpProtocol::Grpc => support::grpc_receiver(&pki, Tls::Plain, false),
            OtlpProtocol::HttpProtobuf => support::http_receiver(&pki, Tls::Plain, 200, 200),
        };
        let sink = OtlpLogSink::new(&support::target(protocol, server.http_url())).unwrap();
        for l in &lines {
            sink.push_line(l);
        }
        sink.flush();
        assert_eq!(sink.exported(), 2, "{protocol:?}");
        assert_eq!(sink.failed(), 0);
        check(&server, &trace, &span, &session, &lines);
    }
}

#[test]
fn hostile_lines_are_sent_as_text_and_a_dead_collector_is_counted() {
    let pki = pki();
    let server = support::http_receiver(&pki, Tls::Plain, 200, 200);
    let sink = OtlpLogSink::new(&support::target(
        OtlpProtocol::HttpProtobuf,
        server.http_url(),
    ))
    .unwrap();
    for l in [
        "not json at all",
        "{\"timestamp\":\"9999-99-99T99:99:99Z\",\"level\":\"LOUD\",\"message\":7}",
        "[1,2,3]",
        "{\"trace_id\":\"zz\",\"span_id\":\"\",\"nested\":{\"a\":[1,{\"b\":null}]}}",
        "",
    ] {
        sink.push_line(l);
    }
    sink.flush();
    assert_eq!(sink.exported(), 5);
    assert_eq!(sink.malformed(), 3);
    drop(server);

    // Nothing listens there any more: the batch fails, is counted, nothing panics.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut t = support::target(
        OtlpProtocol::HttpProtobuf,
        format!("http://127.0.0.1:{port}"),
    );
    t.export_timeout = Duration::from_millis(500);
    let dead = OtlpLogSink::new(&t).unwrap();
    dead.push_line("{\"level\":\"INFO\",\"message\":\"hola\"}");
    dead.flush();
    assert_eq!((dead.exported(), dead.failed()), (0, 1));
}
