//! With nothing installed, instrumented code runs unchanged and records nothing.

use chatobs_runtime::{chat_span, record, ChatSession, Context};

#[chat_span(name = "agent.sales.flow", role = "sales", step = expensive_step(), tags("a", "b"), template_category = marketing, kind = agent)]
fn turn(x: u32) -> Result<u32, std::num::TryFromIntError> {
    assert!(
        !Context::current().has_span(),
        "no span context when nothing is installed"
    );
    assert!(!record!(step = "late"), "record! is a no-op");
    u8::try_from(x).map(u32::from)
}

static EVALUATED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
// With `off` the span, and the call to this in its `step`, is compiled out.
#[cfg_attr(feature = "off", allow(dead_code))]
fn expensive_step() -> &'static str {
    EVALUATED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    "qualify"
}

#[chat_span(role = "pqr")]
async fn async_turn() -> u32 {
    7
}

#[test]
fn nothing_installed_is_a_no_op() {
    assert!(!chatobs_runtime::is_installed());
    assert_eq!(turn(5).unwrap(), 5);
    assert!(turn(500).is_err());
    assert_eq!(
        EVALUATED.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "attribute expressions are not evaluated"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(async_turn()), 7);
    // Sessions still work for code that reads them.
    let s = ChatSession::new("wa:1");
    assert_eq!(s.in_scope(ChatSession::current), Some(s.clone()));
    assert!(chatobs_runtime::pipeline::snapshot().is_none());
}
