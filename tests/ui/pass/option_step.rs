#![deny(warnings)]
//! `step = "literal"` and `step = <expression>` evaluated at call time with the
//! parameters (a method call, a field, a `&mut` parameter, a block).
use chatobs_runtime::chat_span;
use std::fmt;

enum Step {
    Greeting,
    Checkout,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Greeting => "greeting",
            Step::Checkout => "checkout",
        })
    }
}

struct State {
    step: Step,
    count: u32,
}

impl State {
    fn step(&self) -> &Step {
        &self.step
    }
}

#[chat_span(step = "pay")]
fn pay() {}

#[chat_span(step = state.step())]
fn advance(state: &mut State) {
    state.step = Step::Checkout;
}

#[chat_span(step = state.count)]
fn count(state: &State) -> u32 {
    state.count
}

#[chat_span(step = { if n > 1 { "many" } else { "one" } })]
fn block_expr(n: u32) -> u32 {
    n
}

#[chat_span(step = format!("turn-{}", n))]
async fn formatted(n: u32) -> u32 {
    n
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
    pay();
    let mut s = State {
        step: Step::Greeting,
        count: 3,
    };
    advance(&mut s);
    assert_eq!(s.step().to_string(), "checkout");
    assert_eq!(count(&s), 3);
    assert_eq!(block_expr(2), 2);
    assert_eq!(block_on(formatted(4)), 4);
}
