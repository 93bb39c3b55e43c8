#![deny(warnings)]
//! `model` and `provider` on an LLM span (`kind = llm`), in any order.
use chatobs_runtime::chat_span;

#[chat_span(kind = llm, model = "gemini-1.5-flash", provider = "gcp.gemini")]
async fn complete(prompt: &str) -> Result<String, String> {
    Ok(format!("echo: {prompt}"))
}

#[chat_span(model = "gpt-4o-mini", kind = "llm")]
fn model_only() {}

#[chat_span(provider = "openai", name = "chat gpt-4o", kind = llm)]
fn provider_only() {}

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
    assert_eq!(block_on(complete("hi")).unwrap(), "echo: hi");
    model_only();
    provider_only();
}
