#![deny(warnings)]
//! A fn returning `!`: the body runs in the span; a panic ends it as it unwinds.
use chatobs_runtime::chat_span;

#[chat_span(role = "gateway")]
fn fail_hard(reason: &str) -> ! {
    panic!("giving up: {reason}")
}

fn main() {
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(|| if true { fail_hard("upstream down") } else { 1 });
    assert!(result.is_err());
}
