//! A span shows its conversation's running total as it was when the span
//! ended, though the export thread writes those attributes later: a cost
//! added after a span ended, before the export thread converted it, is on
//! the next span and not on that one. (The span's own thread takes a copy of
//! the totals at its end; reading the ledger at export would show the later
//! figure.)

use chatobs_runtime::config::ExporterKind;
use chatobs_runtime::cost::{self, LlmCall};
use chatobs_runtime::{vocab, ChatSession, Config, Decimal, FinishedSpan, SpanBuilder};
use std::time::Duration;

fn total_of(spans: &[FinishedSpan], name: &str) -> Option<Decimal> {
    spans
        .iter()
        .find(|s| s.name == name)?
        .attr(vocab::CHAT_SESSION_COST_USD)?
        .as_decimal()
}

#[test]
fn each_span_shows_the_total_of_when_it_ended() {
    let mut cfg = Config::default();
    cfg.exporter.kinds = vec![ExporterKind::Memory];
    // The export thread converts nothing until the flush: a full batch is
    // far away and its timer a minute off.
    cfg.exporter.batch_size = 4096;
    cfg.exporter.scheduled_delay_ms = 60_000;
    let guard = chatobs_runtime::init(cfg).expect("init");
    let call = LlmCall::new("gpt-4o-mini")
        .provider("openai")
        .input_tokens(1000)
        .output_tokens(200);
    let session = ChatSession::from_exported_id("conv-totals-at-end").expect("session");
    let (first, second) = session.in_scope(|| {
        let mut s = SpanBuilder::new("first").start();
        let first = s
            .in_scope(|| cost::record_llm_call(&call))
            .expect("priced")
            .total;
        drop(s);
        // Added after `first` ended, before anything was exported.
        let second = cost::record_llm_call(&call).expect("priced").total;
        drop(SpanBuilder::new("second").start());
        (first, second)
    });
    assert_eq!(guard.snapshot().exported, 0, "nothing converted yet");
    assert!(guard.flush(Duration::from_secs(10)));
    let spans = guard.memory_spans();
    assert_eq!(spans.len(), 2);
    // gpt-4o-mini: 1000 x $0.15/M + 200 x $0.60/M = $0.00027 a call.
    assert_eq!(first, Decimal::new(27, 5));
    assert_eq!(total_of(&spans, "first"), Some(first));
    assert_eq!(total_of(&spans, "second"), Some(first + second));
    assert_eq!(
        cost::session_totals(&session).total_usd(),
        Decimal::new(54, 5)
    );
    drop(guard);
}
