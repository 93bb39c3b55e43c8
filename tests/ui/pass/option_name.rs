#![deny(warnings)]
//! `name = "literal"` sets the span name (dots and spaces allowed).
use chatobs_runtime::chat_span;

#[chat_span(name = "classifier.predict")]
fn predict(text: &str) -> bool {
    text.contains('?')
}

#[chat_span(name = "chat gemini-1.5-flash")]
fn llm_call() {}

fn main() {
    assert!(predict("precio?"));
    llm_call();
}
