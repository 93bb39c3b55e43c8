//! Checked chat events: `chat_event!` writes an event on the current span, a
//! log line and a counter; a message's text is recorded only as its length.

use chatobs_runtime::logs::{layer_to, LogOutput};
use chatobs_runtime::testing::capture;
use chatobs_runtime::{chat_event, chat_span, vocab, ChatSession, Value};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing_subscriber::layer::SubscriberExt;

/// A realistic inbound message: Spanish, with the user's phone number in it.
const TEXT: &str = "Hola, necesito ayuda con mi pedido 4821. Llámenme al +57 300 555 0199 o al 3005550199, por favor.";
const PHONE_FORMS: [&str; 3] = ["300 555 0199", "3005550199", "5550199"];

#[chat_span(name = "agent.support.flow", role = "support", step = "intake")]
fn handle(text: &str) {
    chat_event!(
        message.received,
        channel = "whatsapp",
        message_type = "text",
        content = text
    );
    chat_event!(
        conversation.created,
        conversation_id = "tk-1042",
        channel = "whatsapp",
        queue = "soporte"
    );
    let reply = format!(
        "Gracias, revisamos el pedido 4821 ({} caracteres).",
        text.len()
    );
    chat_event!(
        message.sent,
        content = reply,
        channel = String::from("whatsapp")
    );
    chat_event!(
        integration.failure,
        system = "crm",
        operation = "create_ticket",
        duration_ms = 812.5,
        status_code = 503_u16,
        error = "service unavailable"
    );
    chat_event!(message.failed, error_code = 131026, content = &reply);
    chat_event!(
        conversation.closed,
        conversation_id = "tk-1042",
        resolved = true
    );
}

fn attrs(ev: &chatobs_runtime::model::Event) -> Vec<(String, Value)> {
    ev.attributes
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn kv(k: &str, v: impl Into<Value>) -> (String, Value) {
    (k.to_owned(), v.into())
}

#[test]
fn events_go_on_the_current_span_with_their_typed_fields() {
    let ((), spans) = capture(|| handle(TEXT));
    let span = spans.one("agent.support.flow");
    let names: Vec<&str> = span.events.iter().map(|e| e.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "message.received",
            "conversation.created",
            "message.sent",
            "integration.failure",
            "message.failed",
            "conversation.closed",
        ]
    );
    let reply_len = format!(
        "Gracias, revisamos el pedido 4821 ({} caracteres).",
        TEXT.len()
    )
    .chars()
    .count() as i64;
    let expected = [
        vec![
            kv(vocab::CHAT_EVENT_NAME, "message.received"),
            kv("channel", "whatsapp"),
            kv("message_type", "text"),
            kv("content.length", TEXT.chars().count() as i64),
        ],
        vec![
            kv(vocab::CHAT_EVENT_NAME, "conversation.created"),
            kv("conversation_id", "tk-1042"),
            kv("channel", "whatsapp"),
            kv("queue", "soporte"),
        ],
        vec![
            kv(vocab::CHAT_EVENT_NAME, "message.sent"),
            kv("content.length", reply_len),
            kv("channel", "whatsapp"),
        ],
        vec![
            kv(vocab::CHAT_EVENT_NAME, "integration.failure"),
            kv("system", "crm"),
            kv("operation", "create_ticket"),
            kv("duration_ms", 812.5),
            kv("status_code", 503_i64),
            kv("error", "service unavailable"),
        ],
        vec![
            kv(vocab::CHAT_EVENT_NAME, "message.failed"),
            kv("error_code", 131026_i64),
            kv("content.length", reply_len),
        ],
        vec![
            kv(vocab::CHAT_EVENT_NAME, "conversation.closed"),
            kv("conversation_id", "tk-1042"),
            kv("resolved", true),
        ],
    ];
    for (ev, want) in span.events.iter().zip(expected) {
        assert_eq!(attrs(ev), want, "{}", ev.name);
    }
    // 97 characters, 98 bytes: the length is in characters.
    assert_eq!((TEXT.chars().count(), TEXT.len()), (97, 98));
}

#[test]
fn message_text_is_only_a_length_and_the_phone_number_appears_nowhere() {
    let buf = Buf::default();
    let sub =
        tracing_subscriber::registry().with(layer_to(LogOutput::Writer(Box::new(buf.clone()))));
    let session = ChatSession::new("wa:573005550199");
    let ((), spans) =
        tracing::subscriber::with_default(sub, || capture(|| session.in_scope(|| handle(TEXT))));
    let span = spans.one("agent.support.flow");
    let received = span.event("message.received").unwrap();
    assert_eq!(
        received.attr("content.length"),
        Some(&Value::from(TEXT.chars().count() as i64))
    );
    assert!(received.attr("content").is_none());

    let exported = format!("{spans:?}");
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    for needle in PHONE_FORMS
        .iter()
        .chain(&["necesito ayuda", "Llámenme", "Gracias, revisamos"])
    {
        assert!(
            !exported.contains(needle),
            "{needle} in the span: {exported}"
        );
        assert!(!logs.contains(needle), "{needle} in the logs: {logs}");
    }

    // One log line per event, target chatobs::event, in the span's context.
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &serde_json::Value| l["target"] == "chatobs::event")
        .collect();
    assert_eq!(lines.len(), 6, "{logs}");
    let first = &lines[0];
    assert_eq!(first["level"], "INFO");
    assert_eq!(first["message"], "message.received");
    assert_eq!(first["chat.event.name"], "message.received");
    assert_eq!(
        first["chat.event.fields"],
        format!(
            r#"channel="whatsapp" message_type="text" content.length={}"#,
            TEXT.chars().count()
        )
    );
    assert_eq!(first["span_id"], span.span_id.to_hex());
    assert_eq!(first["chat.session_id"], session.id());
    assert_eq!(
        lines[3]["chat.event.fields"],
        r#"system="crm" operation="create_ticket" duration_ms=812.5 status_code=503 error="service unavailable""#
    );
}

#[test]
fn a_phone_number_in_a_text_field_is_redacted() {
    let ((), spans) = capture(|| {
        let mut span = chatobs_runtime::SpanBuilder::new("handoff").start();
        span.in_scope(|| {
            chat_event!(
                conversation.transferred,
                agent = "humano",
                reason = "el cliente pidió que lo llamen al +57 300 555 0199"
            );
        });
    });
    let ev = spans
        .one("handoff")
        .event("conversation.transferred")
        .unwrap();
    assert_eq!(ev.attr("agent"), Some(&Value::from("humano")));
    let reason = ev.attr("reason").and_then(Value::as_str).unwrap();
    assert_eq!(reason, "el cliente pidió que lo llamen al [REDACTED]");
}

#[test]
fn outside_a_span_nothing_is_recorded_and_the_values_are_not_evaluated() {
    let evaluated = std::cell::Cell::new(0);
    let text = || {
        evaluated.set(evaluated.get() + 1);
        "hola"
    };
    let ((), spans) = capture(|| {
        chat_event!(message.delivered, content = text());
    });
    assert!(spans.is_empty());
    assert_eq!(evaluated.get(), 0);
    // Inside a recording span they are, once.
    let ((), _) = capture(|| {
        let mut span = chatobs_runtime::SpanBuilder::new("send").start();
        span.in_scope(|| chat_event!(message.delivered, content = text()));
    });
    assert_eq!(evaluated.get(), 1);
}

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
