//! After `init` with an OTLP endpoint, the JSON log lines also go out over
//! OTLP (the logs signal) through the log writer's bounded queue: a real
//! gRPC receiver on 127.0.0.1 decodes them, with the trace and span ids of
//! the span they were written in, the conversation's id, typed fields, and
//! the same redaction as the line in the log file. (One test: `init` runs once.)

mod support;

use chatobs_runtime::{chat_span, ChatSession, Config};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use std::time::Duration;

#[chat_span(name = "agent.pqr.flow", role = "pqr")]
fn open_ticket(text: &str) -> (String, String) {
    let (t, s) = chatobs_runtime::current::ids().unwrap();
    tracing::info!(
        ticket_id = 9911_i64,
        urgent = true,
        customer_phone = "+57 310 555 0101",
        "ticket abierto: {text}"
    );
    (t.to_string(), s.to_string())
}

fn attr<'a>(r: &'a LogRecord, k: &str) -> Option<&'a Av> {
    r.attributes
        .iter()
        .find(|kv| kv.key == k)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn log_lines_reach_an_otlp_receiver_after_init() {
    chatobs_runtime::context::set_session_key(b"otlp-logs-init-test-key-000042").unwrap();
    let receiver = support::grpc_receiver();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("bot.log");
    let toml = format!(
        r#"
[exporter]
kinds = ["otlp"]
[otlp]
endpoint = "http://{}"
protocol = "grpc"
[logs]
output = "{}"
level = "info"
"#,
        receiver.addr,
        log.display()
    );
    let guard = chatobs_runtime::init(Config::from_toml_str(&toml, None).unwrap()).unwrap();
    let session = ChatSession::new("wa:573105550101");
    let (trace, span) = session
        .in_scope(|| open_ticket("me cobraron dos veces, escríbanme a ana.gomez@example.com"));
    drop(guard); // flushes the log writer, which sends the batch

    let file = std::fs::read_to_string(&log).unwrap();
    let line: serde_json::Value = file
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("ticket abierto"))
        })
        .unwrap_or_else(|| panic!("no ticket line in {file}"));

    let t = std::time::Instant::now();
    let records: Vec<LogRecord> = loop {
        let got: Vec<LogRecord> = receiver
            .logs
            .lock()
            .unwrap()
            .iter()
            .flat_map(|r| r.resource_logs.iter())
            .flat_map(|rl| rl.scope_logs.iter())
            .flat_map(|sl| sl.log_records.iter().cloned())
            .collect();
        if !got.is_empty() || t.elapsed() > Duration::from_secs(10) {
            break got;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let r = records
        .iter()
        .find(|r| {
            matches!(r.body.as_ref().and_then(|b| b.value.as_ref()), Some(Av::StringValue(s)) if s.starts_with("ticket abierto"))
        })
        .unwrap_or_else(|| panic!("no ticket record in {records:?}"));
    assert_eq!(hex(&r.trace_id), trace);
    assert_eq!(hex(&r.span_id), span);
    assert_eq!(r.severity_text, "INFO");
    assert_eq!(
        attr(r, "session.id"),
        Some(&Av::StringValue(session.id().into()))
    );
    assert_eq!(attr(r, "ticket_id"), Some(&Av::IntValue(9911)));
    assert_eq!(attr(r, "urgent"), Some(&Av::BoolValue(true)));
    // The same redaction as the file's line, field by field.
    let body = match r.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(Av::StringValue(s)) => s.clone(),
        _ => unreachable!(),
    };
    assert_eq!(body, line["message"].as_str().unwrap());
    assert_eq!(
        attr(r, "customer_phone"),
        Some(&Av::StringValue(
            line["customer_phone"].as_str().unwrap().into()
        ))
    );
    let all = format!("{records:?}");
    for secret in [
        "310 555 0101",
        "3105550101",
        "573105550101",
        "ana.gomez@example.com",
    ] {
        assert!(!all.contains(secret), "{secret} reached the receiver");
        assert!(!file.contains(secret), "{secret} in the log file");
    }
}
