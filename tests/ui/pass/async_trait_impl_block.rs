#![deny(warnings)]
//! `#[chat_span]` on an `#[async_trait]` impl block, in both attribute orders.
use async_trait::async_trait;
use chatobs_runtime::chat_span;

#[async_trait]
trait Tool {
    async fn run(&self, input: u32) -> u32;
    async fn name(&self) -> &'static str;
}

struct Doubler;
struct Tripler;

// chat_span first: it sees `async fn`s, then async-trait boxes them.
#[chat_span(kind = tool, role = "tool")]
#[async_trait]
impl Tool for Doubler {
    async fn run(&self, input: u32) -> u32 {
        input * 2
    }
    #[chat_span(skip)]
    async fn name(&self) -> &'static str {
        "doubler"
    }
}

// async-trait first: chat_span sees `Box::pin(async move {..})` bodies.
#[async_trait]
#[chat_span(kind = tool)]
impl Tool for Tripler {
    async fn run(&self, input: u32) -> u32 {
        input * 3
    }
    async fn name(&self) -> &'static str {
        "tripler"
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(Doubler.run(2)), 4);
    assert_eq!(rt.block_on(Doubler.name()), "doubler");
    assert_eq!(rt.block_on(Tripler.run(2)), 6);
    assert_eq!(rt.block_on(Tripler.name()), "tripler");
}
