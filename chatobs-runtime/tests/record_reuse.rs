//! The export thread hands the records it has read back to the bot threads,
//! which reuse them (box, attribute and event vectors) for their next spans.
//! Nothing of an earlier span may show on a later one: attributes, events,
//! status, session, step, tags, links.

use chatobs_runtime::config::{ExporterKind, LogFormat};
use chatobs_runtime::model::{OtelKind, Status, Value};
use chatobs_runtime::{chat_span, ChatSession, Config, SpanBuilder};
use std::time::Duration;

#[chat_span(name = "agent.sales.flow", role = "sales", step = (format!("s{i}")), tags("checkout"), capture(i))]
fn sales(i: usize) -> Result<(), String> {
    if i.is_multiple_of(3) {
        Err(format!("failed {i}"))
    } else {
        Ok(())
    }
}

#[chat_span(name = "classifier.predict", role = "classifier")]
fn classify() {}

#[test]
fn reused_records_carry_nothing_of_earlier_spans() {
    let mut c = Config::default();
    c.exporter.kinds = vec![ExporterKind::Memory];
    // Small batches, exported often: records come back while spans are made.
    c.exporter.batch_size = 8;
    c.exporter.scheduled_delay_ms = 1;
    c.logs.format = LogFormat::Off;
    let guard = chatobs_runtime::init(c).unwrap();
    let n = 3000;
    for i in 0..n {
        match i % 4 {
            0 => {
                let s = ChatSession::from_exported_id(&format!("sess-{i}")).unwrap();
                let _ = s.in_scope(|| sales(i));
            }
            1 => {
                let mut b = SpanBuilder::new("whatsapp.send")
                    .kind(OtelKind::Client)
                    .attribute("test.only_b", i as i64);
                for k in 0..(i % 7) {
                    b = b.attribute(format!("test.extra_{k}"), "x");
                }
                let mut sp = b.start();
                sp.add_event("test.event", vec![("test.i".into(), Value::from(i as i64))]);
            }
            2 => classify(),
            _ => {
                let _ = sales(i);
            }
        }
        if i.is_multiple_of(200) {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    assert!(guard.flush(Duration::from_secs(10)));
    let spans = guard.memory_spans();
    assert_eq!(spans.len(), n, "every span exported once");
    for s in &spans {
        let keys: Vec<&str> = s.attributes.iter().map(|(k, _)| k.as_ref()).collect();
        let mut uniq = keys.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), keys.len(), "no attribute twice: {keys:?}");
        match s.name.as_ref() {
            "agent.sales.flow" => {
                let i: usize = s.attr_str("chat.arg.i").unwrap().parse().unwrap();
                assert_eq!(
                    s.attr_str("conversation.step"),
                    Some(format!("s{i}").as_str())
                );
                assert!(s.attr("test.only_b").is_none());
                assert!(s.event("test.event").is_none());
                if i.is_multiple_of(4) {
                    assert_eq!(s.session_id(), Some(format!("sess-{i}").as_str()));
                } else {
                    assert_eq!(s.session_id(), None, "span {i} has no session");
                }
                if i.is_multiple_of(3) {
                    assert_eq!(s.status, Status::Error(format!("failed {i}").into()));
                    assert_eq!(s.events.len(), 1, "one exception event");
                } else {
                    assert_eq!(s.status, Status::Ok);
                    assert!(s.events.is_empty(), "span {i}: {:?}", s.events);
                }
            }
            "whatsapp.send" => {
                let i = s.attr("test.only_b").and_then(Value::as_i64).unwrap() as usize;
                assert_eq!(s.kind, OtelKind::Client);
                let extras = keys.iter().filter(|k| k.starts_with("test.extra_")).count();
                assert_eq!(extras, i % 7, "span {i}");
                assert!(s.attr("chat.arg.i").is_none());
                assert!(s.attr("conversation.step").is_none());
                assert_eq!(s.status, Status::Unset);
                assert_eq!(s.events.len(), 1);
                assert_eq!(
                    s.events[0].attr("test.i").and_then(Value::as_i64),
                    Some(i as i64)
                );
                assert_eq!(s.session_id(), None);
            }
            "classifier.predict" => {
                assert_eq!(s.attr_str("agent.role"), Some("classifier"));
                assert!(s.attr("chat.arg.i").is_none());
                assert!(s.attr("tag.tags").is_none(), "{keys:?}");
                assert!(s.attr("conversation.step").is_none());
                assert!(s.events.is_empty());
                assert_eq!(s.status, Status::Unset);
                assert_eq!(s.session_id(), None);
            }
            other => panic!("unexpected span {other}"),
        }
    }
}
