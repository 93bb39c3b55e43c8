//! `chat_event!` counters on `/metrics`. A binary of its own: `init`
//! installs the process's global subscriber, which the scoped subscribers of
//! `chat_events.rs` must not race with.

use chatobs_runtime::chat_event;
use chatobs_runtime::config::{ExporterKind, LogFormat};
use chatobs_runtime::{metrics, Config};

#[test]
fn the_counter_is_in_the_prometheus_text_by_event() {
    let mut cfg = Config::default();
    cfg.exporter.kinds = vec![ExporterKind::Memory];
    cfg.logs.format = LogFormat::Off;
    let _guard = chatobs_runtime::init(cfg).unwrap();
    // Only this test records these two events (tests of this file run in parallel).
    for _ in 0..2 {
        chat_event!(
            auth.permission_denied,
            user_id = "op-77",
            permission = "refund"
        );
    }
    chat_event!(ai.confirmation_required, tool = "refund_order");
    let text = metrics::render();
    assert!(
        text.contains("# TYPE chatobs_chat_events counter"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == r#"chatobs_chat_events_total{event="auth.permission_denied"} 2"#),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == r#"chatobs_chat_events_total{event="ai.confirmation_required"} 1"#),
        "{text}"
    );
    assert!(!text.contains("op-77") && !text.contains("refund_order"));
}
