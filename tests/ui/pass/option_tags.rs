#![deny(warnings)]
//! `tags("a", "b")`: string tags; an empty list is allowed.
use chatobs_runtime::chat_span;

#[chat_span(tags("checkout", "vip"))]
fn checkout() {}

#[chat_span(tags("single"))]
fn single() {}

#[chat_span(tags())]
fn none() {}

fn main() {
    checkout();
    single();
    none();
}
