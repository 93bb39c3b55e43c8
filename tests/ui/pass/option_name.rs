#![deny(warnings)]
//! `name = "literal"` sets the span name (dots and spaces allowed); without it
//! the name is the function's.
use chatobs_runtime::{chat_span, testing};

#[chat_span(name = "classifier.predict")]
fn predict(text: &str) -> bool {
    text.contains('?')
}

#[chat_span(name = "chat gemini-1.5-flash")]
fn llm_call() {}

#[chat_span]
fn unnamed() {}

fn main() {
    let (yes, spans) = testing::capture(|| {
        llm_call();
        unnamed();
        predict("precio?")
    });
    assert!(yes);
    let names: Vec<&str> = spans.spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(
        names,
        ["chat gemini-1.5-flash", "unnamed", "classifier.predict"]
    );
}
