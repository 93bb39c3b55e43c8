//! Behaviour of chat spans, asserted on the spans the test kit captured.

use chatobs_runtime::model::{Status, Value};
use chatobs_runtime::testing::{capture, capture_async};
use chatobs_runtime::{chat_span, record, vocab, ChatSession, Context, SpanId};

#[derive(Debug)]
struct BotError(String);
impl std::fmt::Display for BotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bot failed: {}", self.0)
    }
}

#[derive(Debug)]
struct DebugOnly;

struct State {
    step: &'static str,
}
impl State {
    fn step(&self) -> &'static str {
        self.step
    }
}

#[chat_span(name = "classifier.predict", role = "classifier", kind = chain)]
fn predict(text: &str) -> &'static str {
    if text.contains("comprar") {
        "sales"
    } else {
        "pqr"
    }
}

#[chat_span(name = "orchestrator.decision", role = "orchestrator", step = "route")]
fn decide(text: &str) -> Result<&'static str, BotError> {
    match predict(text) {
        "sales" => Ok("agent.sales.flow"),
        _ => Err(BotError("no agent for this intent".into())),
    }
}

#[chat_span(name = "agent.sales.flow", role = "sales", step = state.step(), tags("checkout", "vip"), template_category = marketing)]
async fn sales_flow(state: &mut State, text: &str) -> Result<String, BotError> {
    tokio::task::yield_now().await;
    let id = chatobs_runtime::spawn(child_task()).await.unwrap();
    state.step = "closed";
    Ok(format!("{text}:{id}"))
}

#[chat_span(name = "agent.sales.child", role = "sales")]
async fn child_task() -> String {
    tokio::task::yield_now().await;
    ChatSession::current()
        .map(|s| s.id().to_owned())
        .unwrap_or_default()
}

#[chat_span(name = "agent.pqr.flow", role = "pqr")]
fn pqr_panics() -> u32 {
    panic!("the complaint was lost")
}

#[chat_span(name = "agent.pqr.async", role = "pqr")]
async fn pqr_async_panics() -> u32 {
    tokio::task::yield_now().await;
    panic!("async complaint lost")
}

#[chat_span(name = "debug.err", role = "support")]
fn debug_error() -> Result<(), DebugOnly> {
    Err(DebugOnly)
}

#[chat_span(name = "capture.args", role = "support", capture(phone, order))]
fn with_capture(phone: &str, order: u32, text: &str) -> usize {
    phone.len() + order as usize + text.len()
}

#[chat_span(name = "record.later", role = "orchestrator")]
fn record_later(intent: &str) -> bool {
    let r = record!(step = format!("routed-{intent}"));
    record!(tag = "late-tag");
    record!(template_category = marketing);
    let decided = chatobs_runtime::TemplateCategory::Utility;
    record!(template_category = (decided));
    r
}

#[chat_span(name = "session.override", role = "gateway", session = ChatSession::new("wa:570000000001"))]
fn with_own_session() -> Option<String> {
    ChatSession::current().map(|s| s.id().to_owned())
}

#[test]
fn attributes_and_parent_links() {
    let s = ChatSession::new("wa:573001234567");
    let (r, spans) = capture(|| s.in_scope(|| decide("quiero comprar")));
    assert_eq!(r.unwrap(), "agent.sales.flow");
    assert_eq!(spans.len(), 2);
    let d = spans.one("orchestrator.decision");
    let p = spans.one("classifier.predict");
    assert_eq!(p.parent_span_id, d.span_id);
    assert_eq!(p.trace_id, d.trace_id);
    assert_eq!(d.parent_span_id, SpanId::INVALID);
    assert_eq!(d.attr_str(vocab::AGENT_ROLE), Some("orchestrator"));
    assert_eq!(d.attr_str(vocab::CONVERSATION_STEP), Some("route"));
    assert_eq!(d.status, Status::Ok);
    assert_eq!(p.attr_str(vocab::OPENINFERENCE_SPAN_KIND), Some("CHAIN"));
    assert_eq!(
        p.status,
        Status::Unset,
        "a non-Result return leaves the status unset"
    );
    for span in [d, p] {
        assert_eq!(span.attr_str(vocab::CHAT_SESSION_ID), Some(s.id()));
        assert_eq!(span.attr_str(vocab::SESSION_ID), Some(s.id()));
        assert_eq!(span.attr_str(vocab::GEN_AI_CONVERSATION_ID), Some(s.id()));
    }
    assert!(s.id().starts_with("cs_") && !s.id().contains("573001234567"));
}

#[test]
fn err_sets_error_status_and_exception_event() {
    let (r, spans) = capture(|| decide("tengo un reclamo"));
    assert!(r.is_err());
    let d = spans.one("orchestrator.decision");
    assert_eq!(
        d.status,
        Status::Error("bot failed: no agent for this intent".into())
    );
    let ev = d.event(vocab::EXCEPTION_EVENT).expect("exception event");
    assert_eq!(
        ev.attr(vocab::EXCEPTION_MESSAGE).and_then(Value::as_str),
        Some("bot failed: no agent for this intent")
    );
    assert!(ev
        .attr(vocab::EXCEPTION_TYPE)
        .and_then(Value::as_str)
        .unwrap()
        .ends_with("BotError"));

    let (_, spans) = capture(debug_error);
    assert_eq!(
        spans.one("debug.err").status,
        Status::Error("DebugOnly".into())
    );
}

#[test]
fn panic_is_recorded_as_error_before_unwinding() {
    let (r, spans) = capture(|| std::panic::catch_unwind(pqr_panics));
    assert!(r.is_err());
    let p = spans.one("agent.pqr.flow");
    match &p.status {
        Status::Error(m) => assert!(m.contains("panicked"), "{m}"),
        s => panic!("expected an error status, got {s:?}"),
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (r, spans) = rt.block_on(capture_async(async {
        chatobs_runtime::spawn(pqr_async_panics()).await
    }));
    assert!(r.is_err(), "the task panicked");
    let p = spans.one("agent.pqr.async");
    assert!(
        matches!(&p.status, Status::Error(m) if m.contains("panicked")),
        "{:?}",
        p.status
    );
}

#[test]
fn session_survives_await_and_spawned_tasks() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s = ChatSession::new("wa:573009999999");
    let mut state = State { step: "qualify" };
    let (r, spans) = rt.block_on(capture_async(s.scope(async {
        let out = sales_flow(&mut state, "hola").await;
        let blocking =
            chatobs_runtime::spawn_blocking(|| ChatSession::current().map(|s| s.id().to_owned()))
                .await
                .unwrap();
        (out, blocking)
    })));
    let (out, blocking) = r;
    assert_eq!(out.unwrap(), format!("hola:{}", s.id()));
    assert_eq!(blocking.as_deref(), Some(s.id()));
    assert_eq!(state.step, "closed");
    let flow = spans.one("agent.sales.flow");
    let child = spans.one("agent.sales.child");
    assert_eq!(
        child.parent_span_id, flow.span_id,
        "the spawned task's span is a child"
    );
    assert_eq!(child.trace_id, flow.trace_id);
    assert_eq!(child.session_id(), Some(s.id()));
    assert_eq!(
        flow.attr_str(vocab::CONVERSATION_STEP),
        Some("qualify"),
        "step evaluated at call time"
    );
    assert_eq!(flow.attr_str(vocab::TEMPLATE_CATEGORY), Some("marketing"));
    assert_eq!(
        flow.attr(vocab::TAG_TAGS).and_then(Value::as_str_array),
        Some(vec!["checkout", "vip"])
    );
    assert_eq!(
        flow.attr(vocab::LOGFIRE_TAGS).and_then(Value::as_str_array),
        Some(vec!["checkout", "vip"])
    );
    assert_eq!(flow.status, Status::Ok);
    assert!(flow.duration() >= child.duration());
}

#[test]
fn capture_is_opt_in_and_redacted() {
    let (_, spans) = capture(|| with_capture("+57 300 123 4567", 42, "mi dirección es calle 5"));
    let c = spans.one("capture.args");
    assert_eq!(c.attr_str("chat.arg.phone"), Some("\"[REDACTED]\""));
    assert_eq!(c.attr_str("chat.arg.order"), Some("42"));
    assert!(c.attr("chat.arg.text").is_none(), "not captured");
    let (_, spans) = capture(|| predict("mi número es 3001234567"));
    assert!(
        spans
            .one("classifier.predict")
            .attributes
            .iter()
            .all(|(k, _)| !k.starts_with("chat.arg.")),
        "nothing captured by default"
    );
}

#[test]
fn record_sets_vocabulary_attributes_later() {
    let (recorded, spans) = capture(|| record_later("buy"));
    assert!(recorded);
    let s = spans.one("record.later");
    assert_eq!(s.attr_str(vocab::CONVERSATION_STEP), Some("routed-buy"));
    assert_eq!(s.attr_str(vocab::TEMPLATE_CATEGORY), Some("utility"));
    assert_eq!(
        s.attr(vocab::TAG_TAGS).and_then(Value::as_str_array),
        Some(vec!["late-tag"])
    );
    assert!(
        !record!(step = "outside"),
        "no span outside instrumented code"
    );
}

#[test]
fn session_option_sets_the_conversation() {
    let outer = ChatSession::new("wa:573001111111");
    let (inner_id, spans) = capture(|| outer.in_scope(with_own_session));
    let expected = ChatSession::new("wa:570000000001");
    assert_eq!(inner_id.as_deref(), Some(expected.id()));
    assert_eq!(
        spans.one("session.override").session_id(),
        Some(expected.id())
    );
}

#[test]
fn context_propagates_through_traceparent_and_baggage() {
    let s = ChatSession::new("wa:573002222222");
    let (headers, spans) = capture(|| {
        s.in_scope(|| {
            let mut h = std::collections::HashMap::new();
            let mut span = chatobs_runtime::SpanBuilder::new("http.client").start();
            span.in_scope(|| Context::current().inject_map(&mut h));
            drop(span);
            h
        })
    });
    let client = spans.one("http.client");
    let tp = headers.get("traceparent").unwrap();
    assert_eq!(tp, &format!("00-{}-{}-01", client.trace_id, client.span_id));
    let ctx = Context::extract_map(&headers);
    assert_eq!(ctx.trace_id, client.trace_id);
    assert_eq!(ctx.session.as_ref().map(|s| s.id()), Some(s.id()));
    assert!(ctx.remote);

    // The receiving side continues the trace and the session.
    let (_, spans) = capture(|| {
        let mut server = chatobs_runtime::SpanBuilder::new("webhook")
            .parent(ctx.clone())
            .start();
        server.in_scope(|| predict("x"));
    });
    let w = spans.one("webhook");
    assert_eq!(w.trace_id, client.trace_id);
    assert_eq!(w.parent_span_id, client.span_id);
    assert!(w.parent_remote);
    assert_eq!(spans.one("classifier.predict").session_id(), Some(s.id()));

    // Malformed input is ignored, never an error.
    for bad in [
        "",
        "00-xyz",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    ] {
        let mut m = std::collections::HashMap::new();
        m.insert("traceparent".to_owned(), bad.to_owned());
        m.insert(
            "baggage".to_owned(),
            "chat.session_id=".to_owned() + &"x".repeat(9000),
        );
        let c = Context::extract_map(&m);
        assert!(!c.has_span() && c.session.is_none(), "{bad}");
    }
}
