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

#[chat_span]
fn push(mut turns: Vec<u8>, extra: u8) -> Vec<u8> {
    turns.push(extra);
    turns
}

#[chat_span]
fn with_items(text: &str) -> usize {
    // Items and labels inside the body keep working.
    const LIMIT: usize = 3;
    fn helper(t: &str) -> usize {
        t.len()
    }
    let mut n = 0;
    'outer: for _ in 0..10 {
        n += 1;
        if n == LIMIT {
            break 'outer;
        }
    }
    n + helper(text)
}

fn main() {
    assert_eq!(push(vec![1], 2), vec![1, 2]);
    assert_eq!(with_items("ab"), 5);
    no_return();
    assert_eq!(add(2, 3), 5);
    assert_eq!(early(-1), "negative");
    assert_eq!(early(1), "positive");
}
