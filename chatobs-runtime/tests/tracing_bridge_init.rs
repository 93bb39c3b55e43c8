//! After `init`, with no subscriber of the application's own, the `tracing`
//! bridge is on: `tracing` spans reach the configured exporter (the in-memory
//! one here) through chatobs' pipeline, in the chat spans' traces, turned
//! down by `[tracing] spans`, bounded by `max_attributes` / `max_events`
//! with the drops counted, and log lines inside a bridged span carry its ids.
//! (One test: `init` installs the process's global subscriber once.)

use chatobs_runtime::model::OtelKind;
use chatobs_runtime::{chat_span, ChatSession, Config, Value};

#[tracing::instrument(fields(ticket.priority = "high"))]
fn fetch_ticket(ticket_id: i64) -> i64 {
    tracing::info!("ticket fetched");
    ticket_id
}

#[chat_span(name = "agent.pqr.flow", role = "pqr")]
fn pqr_flow() -> i64 {
    fetch_ticket(9911)
}

#[test]
fn init_bridges_tracing_spans_as_configured() {
    chatobs_runtime::context::set_session_key(b"tracing-bridge-init-test-key-42").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("bot.log");
    let toml = format!(
        r#"
[exporter]
kinds = ["memory"]
[logs]
output = "{}"
level = "info"
[tracing]
spans = "info,sqlx=warn,aws_sdk=off"
max_attributes = 6
max_events = 3
"#,
        log.display()
    );
    let cfg = Config::from_toml_str(&toml, None).unwrap();
    let before = chatobs_runtime::bridge::stats();
    let guard = chatobs_runtime::init(cfg).unwrap();

    let session = ChatSession::new("wa:573001234567");
    session.in_scope(|| {
        tracing::info_span!(
            "whatsapp.webhook",
            otel.kind = "server",
            http.route = "/webhook"
        )
        .in_scope(|| {
            tracing::info!(messages = 1_i64, "webhook received");
            assert_eq!(pqr_flow(), 9911);
        });
        tracing::debug_span!("decode_payload").in_scope(|| {});
        tracing::info_span!(target: "sqlx::query", "SELECT tickets").in_scope(|| {});
        tracing::warn_span!(target: "sqlx::query", "slow SELECT tickets").in_scope(|| {});
        tracing::error_span!(target: "aws_sdk::s3", "PutObject").in_scope(|| {});
        let bulk = tracing::info_span!(
            "bulk.import",
            a1 = 1,
            a2 = 2,
            a3 = 3,
            a4 = 4,
            a5 = 5,
            a6 = 6,
            a7 = 7,
            a8 = 8,
            a9 = 9,
            a10 = 10
        );
        bulk.in_scope(|| {
            for row in 0..5_i64 {
                tracing::info!(row, "row imported");
            }
        });
    });

    let spans = guard.memory_spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    let one = |name: &str| {
        let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
        assert_eq!(found.len(), 1, "{name} in {names:?}");
        found[0].clone()
    };
    let webhook = one("whatsapp.webhook");
    let chat = one("agent.pqr.flow");
    let fetch = one("fetch_ticket");
    assert_eq!(webhook.kind, OtelKind::Server);
    assert_eq!(chat.parent_span_id, webhook.span_id);
    assert_eq!(fetch.parent_span_id, chat.span_id);
    assert_eq!(fetch.trace_id, webhook.trace_id);
    assert_eq!(fetch.session_id(), Some(session.id()));
    assert_eq!(fetch.attr("ticket_id"), Some(&Value::I64(9911)));
    assert_eq!(fetch.attr_str("ticket.priority"), Some("high"));
    assert!(fetch.event("ticket fetched").is_some());
    assert!(webhook.event("webhook received").is_some());

    // Turned down by [tracing] spans.
    for gone in ["decode_payload", "SELECT tickets", "PutObject"] {
        assert!(!names.contains(&gone), "{gone} exported: {names:?}");
    }
    assert!(names.contains(&"slow SELECT tickets"), "{names:?}");

    // Bounded: 6 of 10 attributes, 3 of 5 events, the rest counted.
    let bulk = one("bulk.import");
    assert_eq!(
        bulk.attributes
            .iter()
            .filter(|(k, _)| k.starts_with('a'))
            .count(),
        6
    );
    assert_eq!(bulk.events.len(), 3);
    let after = chatobs_runtime::bridge::stats();
    assert!(
        after.attributes_dropped >= before.attributes_dropped + 4,
        "{after:?}"
    );
    assert!(
        after.events_dropped >= before.events_dropped + 2,
        "{after:?}"
    );

    // Records come back from the export thread and are reused (their string
    // buffers too): nothing of an earlier span shows in a later one.
    for round in 0..4_i64 {
        for i in 0..300_i64 {
            let n = round * 1000 + i;
            let s = tracing::info_span!("reuse.check", n, label = %format!("order-{n}"));
            if n % 2 == 0 {
                s.in_scope(|| tracing::info!(n, "even"));
            }
        }
        guard.flush(std::time::Duration::from_secs(10));
    }
    let reused: Vec<_> = guard
        .memory_spans()
        .into_iter()
        .filter(|s| s.name == "reuse.check")
        .collect();
    assert_eq!(reused.len(), 1200);
    for s in &reused {
        let n = s.attr("n").and_then(Value::as_i64).unwrap();
        assert_eq!(s.attr_str("label"), Some(format!("order-{n}").as_str()));
        // `n`, `label`, and the OpenInference kind every exported span carries.
        assert_eq!(s.attributes.len(), 3, "{s:?}");
        assert_eq!(s.attr_str("openinference.span.kind"), Some("CHAIN"));
        assert_eq!(s.events.len(), usize::from(n % 2 == 0), "{s:?}");
    }

    drop(guard); // flushes the logs
    let text = std::fs::read_to_string(&log).unwrap();
    let line: serde_json::Value = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|v: &serde_json::Value| v["message"] == "webhook received")
        .unwrap_or_else(|| panic!("no log line in {text}"));
    assert_eq!(line["trace_id"], webhook.trace_id.to_hex());
    assert_eq!(line["span_id"], webhook.span_id.to_hex());
    assert_eq!(line["chat.session_id"], session.id());
}
