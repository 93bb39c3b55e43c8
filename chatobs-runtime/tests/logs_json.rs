//! JSON logs carry trace_id, span_id and chat.session_id, and never the
//! user's phone number or message text.

use chatobs_runtime::logs::{layer_to, LogOutput};
use chatobs_runtime::testing::capture;
use chatobs_runtime::{chat_span, ChatSession};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[chat_span(name = "agent.pqr.flow", role = "pqr", step = "intake")]
fn intake(from: &str, text: &str) {
    tracing::info!(from, text, order = 42, "complaint received from {from}");
    tracing::warn!(
        email = "ana@example.com",
        note = "say \"hola\"\n\ttab",
        ratio = 0.5,
        urgent = true,
        "escalating to ana@example.com"
    );
}

#[test]
fn json_lines_have_context_and_no_pii() {
    let buf = Buf::default();
    let sub =
        tracing_subscriber::registry().with(layer_to(LogOutput::Writer(Box::new(buf.clone()))));
    let session = ChatSession::new("wa:573001234567");
    let (_, spans) = tracing::subscriber::with_default(sub, || {
        capture(|| session.in_scope(|| intake("+57 300 123 4567", "mi pedido 88 llegó roto")))
    });
    let span = spans.one("agent.pqr.flow");
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for l in &lines {
        assert_eq!(l["trace_id"], span.trace_id.to_hex());
        assert_eq!(l["span_id"], span.span_id.to_hex());
        assert_eq!(l["chat.session_id"], session.id());
        assert_eq!(l["target"], "logs_json");
        assert!(l["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(lines[0]["level"], "INFO");
    assert_eq!(lines[0]["from"], "[REDACTED]");
    assert_eq!(lines[0]["text"], "[REDACTED]");
    assert_eq!(lines[0]["order"], 42);
    assert_eq!(lines[0]["message"], "complaint received from [REDACTED]");
    assert_eq!(lines[1]["email"], "[REDACTED]");
    assert_eq!(lines[1]["message"], "escalating to [REDACTED]");
    assert_eq!(
        lines[1]["note"], "say \"hola\"\n\ttab",
        "escaped and read back"
    );
    assert_eq!(lines[1]["ratio"], 0.5);
    assert_eq!(lines[1]["urgent"], true);
    for needle in [
        "573001234567",
        "300 123 4567",
        "ana@example.com",
        "llegó roto",
    ] {
        assert!(!text.contains(needle), "{needle} leaked: {text}");
    }
}
