#![deny(warnings)]
//! A fn returning `impl Future` whose body ends in an `async` block: the span
//! covers the future; statements before the block run at call time.
use chatobs_runtime::chat_span;
use std::future::Future;

#[chat_span(step = "fetch")]
fn fetch(id: u32) -> impl Future<Output = Result<String, std::fmt::Error>> {
    let prefix = format!("item-{id}");
    async move { Ok(format!("{prefix}:ok")) }
}

#[chat_span]
fn borrowed<'a>(text: &'a str) -> impl Future<Output = usize> + 'a {
    let trimmed = text.trim();
    async { trimmed.len() }
}

fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn main() {
    assert_eq!(block_on(fetch(7)).unwrap(), "item-7:ok");
    assert_eq!(block_on(borrowed(" hola ")), 4);
}
