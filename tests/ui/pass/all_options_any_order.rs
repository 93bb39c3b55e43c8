#![deny(warnings)]
//! Every option at once, in two different orders, with trailing commas.
use chatobs_runtime::{chat_span, ChatSession};

struct State {
    step: &'static str,
}

#[chat_span(
    name = "agent.sales.flow",
    role = "sales",
    step = state.step,
    tags("checkout", "vip"),
    template_category = marketing,
    kind = llm,
    model = "gemini-1.5-flash",
    provider = "gcp.gemini",
    session = session,
    capture(text),
    level = debug,
    crate = ::chatobs_runtime,
)]
async fn sales_flow(
    state: &mut State,
    session: &ChatSession,
    text: &str,
) -> Result<String, String> {
    state.step = "done";
    Ok(text.to_uppercase())
}

#[chat_span(
    crate = chatobs_runtime,
    level = "warn",
    capture(text),
    session = session,
    provider = "openai",
    model = "gpt-4o",
    kind = "llm",
    template_category = "utility",
    tags("a"),
    step = "fixed",
    role = "pqr",
    name = "agent.pqr.flow"
)]
fn pqr_flow(session: &ChatSession, text: &str) -> usize {
    text.len()
}

fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn main() {
    let session = ChatSession::new("wa:573001234567");
    let mut state = State { step: "start" };
    assert_eq!(
        block_on(sales_flow(&mut state, &session, "hola")).unwrap(),
        "HOLA"
    );
    assert_eq!(state.step, "done");
    assert_eq!(pqr_flow(&session, "queja"), 5);
}
