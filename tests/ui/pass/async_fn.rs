#![deny(warnings)]
//! `async fn`, including `?` with an error conversion inferred from the signature.
use chatobs_runtime::chat_span;

#[derive(Debug)]
struct BotError(String);

impl std::fmt::Display for BotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<std::num::ParseIntError> for BotError {
    fn from(e: std::num::ParseIntError) -> Self {
        BotError(e.to_string())
    }
}

async fn yield_once() {}

#[chat_span]
async fn parse(text: &str) -> Result<u32, BotError> {
    yield_once().await;
    let n: u32 = text.trim().parse()?;
    Ok(n * 2)
}

#[chat_span]
async fn unit() {
    yield_once().await;
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
    assert_eq!(block_on(parse(" 21 ")).unwrap(), 42);
    assert!(block_on(parse("x")).is_err());
    block_on(unit());
}
