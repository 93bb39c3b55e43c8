//! Your own attributes and events, as a bot writes them: typed, redacted,
//! bounded, and refused (and counted) in chatobs' own namespaces.

use chatobs_runtime::{attrs, chat_span, record, testing, Value};

#[chat_span(role = "sales", fields(
    lead.note = note,
    lead.temperature = 0.8,
    lead.visits = 3_u64,
    lead.scores = scores.clone(),
))]
fn qualify(note: &str, scores: Vec<i64>) {
    let _ = (note, scores);
}

#[test]
fn values_are_redacted_and_bounded() {
    let before = attrs::dropped();
    let note = "call me at +57 300 123 4567 or ana.gomez@example.com, card 4111 1111 1111 1111";
    let scores: Vec<i64> = (0..200).collect();
    let ((), spans) = testing::capture(|| qualify(note, scores));
    let s = spans.one("qualify");
    let exported = s.attr_str("lead.note").unwrap();
    for secret in [
        "300 123 4567",
        "3001234567",
        "ana.gomez@example.com",
        "4111 1111 1111 1111",
    ] {
        assert!(!exported.contains(secret), "{secret} in {exported}");
    }
    assert!(exported.starts_with("call me at "), "{exported}");
    assert_eq!(s.attr("lead.temperature"), Some(&Value::F64(0.8)));
    assert_eq!(s.attr("lead.visits"), Some(&Value::I64(3)));
    match s.attr("lead.scores") {
        Some(Value::I64Array(a)) => {
            assert_eq!(a.len(), attrs::MAX_ARRAY_LEN);
            assert_eq!(a[..3], [0, 1, 2]);
        }
        other => panic!("{other:?}"),
    }
    assert!(attrs::dropped() > before, "the cut array is counted");
}

#[chat_span(role = "support")]
fn many() {
    let long = "x".repeat(10_000);
    assert!(attrs::set("ticket.body", long.as_str()));
    // Chatobs' own keys and bad keys are refused, never overwritten.
    assert!(!attrs::set("conversation.step", "hacked"));
    assert!(!attrs::set("gen_ai.usage.input_tokens", 1_i64));
    assert!(!attrs::set("Ticket Id", 1_i64));
    for i in 0..80 {
        let ok = attrs::set(&format!("ticket.f{i}"), i);
        // ticket.body is the first of the 64.
        assert_eq!(ok, i < attrs::MAX_CUSTOM_PER_SPAN - 1, "f{i}");
    }
    // Replacing a key already there is always allowed.
    assert!(attrs::set("ticket.f0", true));
    assert!(record!(ticket.f1 = false));
    assert!(attrs::event(
        "ticket.escalated",
        &[
            ("ticket.priority", &2_i64),
            ("chat.session_id", &"forged"),
            ("ticket.reason", &"cliente escribió desde +57 310 555 0101"),
        ]
    ));
    assert!(!attrs::event("Bad Name", &[]));
}

#[test]
fn keys_are_checked_and_the_span_keeps_at_most_64_of_them() {
    let before = attrs::dropped();
    let ((), spans) = testing::capture(many);
    let s = spans.one("many");
    let body = s.attr_str("ticket.body").unwrap();
    assert!(
        body.len() <= attrs::MAX_STRING_BYTES + '…'.len_utf8(),
        "{}",
        body.len()
    );
    assert!(body.starts_with(&"x".repeat(attrs::MAX_STRING_BYTES - 3)) && body.ends_with('…'));
    assert_eq!(s.attr_str("conversation.step"), None);
    assert_eq!(s.attr("gen_ai.usage.input_tokens"), None);
    let custom = s
        .attributes
        .iter()
        .filter(|(k, _)| k.starts_with("ticket."))
        .count();
    assert_eq!(custom, attrs::MAX_CUSTOM_PER_SPAN);
    assert_eq!(s.attr("ticket.f0"), Some(&Value::Bool(true)));
    assert_eq!(s.attr("ticket.f1"), Some(&Value::Bool(false)));
    assert_eq!(s.attr("ticket.f63"), None);
    let e = &s.events[0];
    assert_eq!(e.name, "ticket.escalated");
    let keys: Vec<&str> = e.attributes.iter().map(|(k, _)| k.as_ref()).collect();
    assert_eq!(
        keys,
        ["ticket.priority", "ticket.reason"],
        "the forged key is left out"
    );
    let reason = e.attributes[1].1.as_str().unwrap();
    assert!(
        !reason.contains("555 0101") && !reason.contains("3105550101"),
        "{reason}"
    );
    // Cut body, 3 refused keys, 17 over the limit, 1 refused event key, 1 refused event.
    assert!(
        attrs::dropped() - before >= 23,
        "{}",
        attrs::dropped() - before
    );
}

#[test]
fn outside_a_span_nothing_is_set() {
    assert!(!attrs::set("lead.temperature", 0.5));
    assert!(!record!(lead.temperature = 0.5));
    assert!(!attrs::event("lead.scored", &[]));
}
