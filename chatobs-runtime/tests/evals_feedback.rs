//! Operator and user feedback: by span, by WhatsApp message id, and from a
//! WhatsApp reaction webhook to the span that sent the replied message.

use chatobs_runtime::evals::feedback::FeedbackError;
use chatobs_runtime::evals::{Feedback, FeedbackConfig, FeedbackRecorder, Thumb};
use chatobs_runtime::model::Value;
use chatobs_runtime::{testing, vocab, ChatSession, SpanBuilder};

const SESSION: &str = "cs_feedback_session";

/// A WhatsApp Cloud API webhook body with one reaction message.
fn reaction_webhook(replied_wamid: &str, emoji: &str) -> serde_json::Value {
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                    "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
                    "messages": [{
                        "from": "16505551234",
                        "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
                        "timestamp": "1749854575",
                        "type": "reaction",
                        "reaction": {"message_id": replied_wamid, "emoji": emoji}
                    }]
                }
            }]
        }]
    })
}

#[test]
fn a_reaction_reaches_the_span_that_sent_the_replied_message() {
    let fb = FeedbackRecorder::new(&FeedbackConfig::default());
    let session = ChatSession::from_exported_id(SESSION).unwrap();
    let ((), spans) = testing::capture(|| {
        session.in_scope(|| {
            // Two bot replies; WhatsApp returned a wamid for each.
            let mut first = SpanBuilder::new("agent.sales.flow").start();
            first.in_scope(|| fb.register_sent_current("wamid.FIRST"));
            drop(first);
            let second = SpanBuilder::new("agent.pqr.flow").start();
            fb.register_sent("wamid.SECOND", second.context());
            drop(second);
        });
        // The webhook arrives later, outside any span or session.
        let out = fb.record_webhook(&reaction_webhook("wamid.SECOND", "👎🏽"));
        assert_eq!(out, vec![Ok(Thumb::Down)]);
        // Not a thumb: ignored. A removed reaction (empty emoji): ignored.
        assert!(fb
            .record_webhook(&reaction_webhook("wamid.FIRST", "❤️"))
            .is_empty());
        assert!(fb
            .record_webhook(&reaction_webhook("wamid.FIRST", ""))
            .is_empty());
        // A thumbs-up to an unknown message is reported, not panicking, and
        // the error names the message by its keyed hash (a wamid carries the
        // customer's number).
        let out = fb.record_webhook(&reaction_webhook("wamid.UNKNOWN", "👍"));
        assert_eq!(
            out,
            vec![Err(FeedbackError::UnknownMessage(
                chatobs_runtime::evals::feedback::exported_wamid("wamid.UNKNOWN")
            ))]
        );
        assert!(!format!("{out:?}").contains("wamid.UNKNOWN"));
    });
    let sent = spans.one("agent.pqr.flow");
    let f = spans.one("feedback");
    assert_eq!(f.parent_span_id, sent.span_id);
    assert_eq!(f.trace_id, sent.trace_id);
    assert_eq!(f.session_id(), Some(SESSION));
    assert_eq!(
        f.attr_str(vocab::OPENINFERENCE_SPAN_KIND),
        Some("EVALUATOR")
    );
    assert_eq!(f.attr_str(vocab::FEEDBACK_ROLE), Some("user"));
    assert_eq!(f.attr_str(vocab::FEEDBACK_LABEL), Some("thumbs-down"));
    assert_eq!(
        f.attr(vocab::FEEDBACK_SCORE).and_then(Value::as_f64),
        Some(0.0)
    );
    assert_eq!(f.attr_str(vocab::FEEDBACK_SOURCE), Some("reaction"));
    // The message id leaves the process only as its keyed hash (the same the
    // webhook writes in `messaging.message.id`, so the two join).
    assert_eq!(
        f.attr_str(vocab::FEEDBACK_WAMID),
        Some(chatobs_runtime::evals::feedback::exported_wamid("wamid.SECOND").as_str())
    );
    assert_eq!(
        chatobs_runtime::evals::feedback::exported_wamid("wamid.SECOND"),
        chatobs_runtime::integrations::whatsapp::hashed_message_id("wamid.SECOND").unwrap()
    );
    assert_eq!(f.attr_str("eval.user_feedback.label"), Some("thumbs-down"));
    let ev = f.event(vocab::GEN_AI_EVALUATION_RESULT).unwrap();
    assert_eq!(
        ev.attr(vocab::GEN_AI_EVALUATION_NAME)
            .and_then(Value::as_str),
        Some("user feedback")
    );
    assert_eq!(
        fb.counts(),
        vec![("thumbs-down".to_string(), "user".to_string(), 1)]
    );
}

#[test]
fn operator_feedback_by_span_and_by_wamid() {
    let fb = FeedbackRecorder::new(&FeedbackConfig::default());
    let session = ChatSession::from_exported_id(SESSION).unwrap();
    let ((), spans) = testing::capture(|| {
        let reply = session.in_scope(|| SpanBuilder::new("agent.sales.flow").start());
        let ctx = reply.context();
        fb.register_sent("wamid.OP", ctx.clone());
        drop(reply);
        fb.record(
            &ctx,
            &Feedback::operator(Thumb::Up, "op-17")
                .note("good answer, call me at +57 300 123 4567"),
        )
        .unwrap();
        fb.record_for_wamid("wamid.OP", &Feedback::operator(Thumb::Down, "op-18"))
            .unwrap();
        assert!(matches!(
            fb.record_for_wamid("wamid.NOPE", &Feedback::operator(Thumb::Up, "op-1")),
            Err(FeedbackError::UnknownMessage(_))
        ));
        assert_eq!(
            fb.record(
                &chatobs_runtime::Context::default(),
                &Feedback::operator(Thumb::Up, "x")
            ),
            Err(FeedbackError::NoSpan)
        );
    });
    let reply = spans.one("agent.sales.flow");
    let fbs = spans.named("feedback");
    assert_eq!(fbs.len(), 2);
    for f in &fbs {
        assert_eq!(f.parent_span_id, reply.span_id);
        assert_eq!(f.session_id(), Some(SESSION));
        assert_eq!(f.attr_str(vocab::FEEDBACK_ROLE), Some("operator"));
        assert_eq!(f.attr_str(vocab::AGENT_ROLE), Some("operator"));
    }
    let up = fbs
        .iter()
        .find(|f| f.attr_str(vocab::FEEDBACK_LABEL) == Some("thumbs-up"))
        .unwrap();
    assert_eq!(up.attr_str(vocab::FEEDBACK_OPERATOR_ID), Some("op-17"));
    let note = up.attr_str(vocab::FEEDBACK_NOTE).unwrap();
    assert!(
        note.contains("[REDACTED]") && !note.contains("123 4567"),
        "{note}"
    );
    assert_eq!(
        up.attr(vocab::FEEDBACK_SCORE).and_then(Value::as_f64),
        Some(1.0)
    );
    assert_eq!(
        fb.counts(),
        vec![
            ("thumbs-down".to_string(), "operator".to_string(), 1),
            ("thumbs-up".to_string(), "operator".to_string(), 1),
        ]
    );
}

#[test]
fn the_wamid_map_is_bounded() {
    let fb = FeedbackRecorder::new(&FeedbackConfig {
        wamid_capacity: 3,
        ..FeedbackConfig::default()
    });
    let ((), _spans) = testing::capture(|| {
        for i in 0..5 {
            let s = SpanBuilder::new("send").start();
            fb.register_sent(&format!("wamid.{i}"), s.context());
        }
    });
    assert!(fb.span_of("wamid.0").is_none());
    assert!(fb.span_of("wamid.1").is_none());
    for i in 2..5 {
        assert!(fb.span_of(&format!("wamid.{i}")).is_some());
    }
}

#[test]
fn thumbs_from_emoji() {
    assert_eq!(Thumb::from_emoji("👍"), Some(Thumb::Up));
    assert_eq!(Thumb::from_emoji("👍🏿"), Some(Thumb::Up));
    assert_eq!(Thumb::from_emoji("👎"), Some(Thumb::Down));
    assert_eq!(Thumb::from_emoji("😂"), None);
    assert_eq!(Thumb::from_emoji(""), None);
}
