#![deny(warnings)]
//! A plain sync fn: default span name, unit and value returns, early `return`.
use chatobs_runtime::chat_span;

#[chat_span]
fn no_return() {}

#[chat_span]
fn add(a: u32, b: u32) -> u32 {
    a + b
}

#[chat_span]
fn early(x: i32) -> &'static str {
    if x < 0 {
        return "negative";
    }
    "positive"
}

fn main() {
    no_return();
    assert_eq!(add(2, 3), 5);
    assert_eq!(early(-1), "negative");
    assert_eq!(early(1), "positive");
}
