//! `chat.cancelled` marks only a call whose future was dropped before it
//! completed: never a span that ended normally (by `end`, by returning, or a
//! manual span ended by drop).

use chatobs_runtime::testing::{capture, capture_async};
use chatobs_runtime::{chat_span, vocab, SpanBuilder, Value};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

#[chat_span(name = "agent.sales.flow", role = "sales")]
async fn waits_forever() {
    std::future::pending::<()>().await;
}

#[chat_span(name = "agent.pqr.flow", role = "pqr")]
async fn completes() -> u32 {
    7
}

#[chat_span(name = "classifier.predict", role = "classifier")]
fn sync_call() -> &'static str {
    "sales"
}

fn cancelled(s: &chatobs_runtime::FinishedSpan) -> bool {
    s.attr(vocab::CHAT_CANCELLED) == Some(&Value::Bool(true))
}

#[test]
fn manual_and_sync_spans_ended_normally_are_not_cancelled() {
    let ((), spans) = capture(|| {
        let mut a = SpanBuilder::new("orchestrator.decision").start();
        a.in_scope(|| ());
        drop(a); // the documented way to end a manual span
        let _b = SpanBuilder::new("whatsapp.send").start(); // ends at scope exit
        assert_eq!(sync_call(), "sales");
    });
    assert_eq!(spans.len(), 3);
    for name in [
        "orchestrator.decision",
        "whatsapp.send",
        "classifier.predict",
    ] {
        assert!(!cancelled(spans.one(name)), "{name} carries chat.cancelled");
    }
}

#[test]
fn a_completed_future_is_not_cancelled_a_dropped_one_is() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ((), spans) = rt.block_on(capture_async(async {
        assert_eq!(completes().await, 7);
        // Poll the never-ending call once, then drop it (a timeout would do the same).
        let mut fut = pin!(waits_forever());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx) == Poll::Pending);
        // A manual span driven by a future that completes.
        SpanBuilder::new("tool.lookup").start().wrap(async {}).await;
        // A manual span lent to a future that completes, then dropped (how
        // the integrations end their SERVER spans).
        let mut lent = SpanBuilder::new("POST /agents/{agent}").start();
        lent.in_future(async {}).await;
        drop(lent);
    }));
    assert!(!cancelled(spans.one("agent.pqr.flow")));
    assert!(!cancelled(spans.one("tool.lookup")));
    assert!(!cancelled(spans.one("POST /agents/{agent}")));
    assert!(cancelled(spans.one("agent.sales.flow")));
}
