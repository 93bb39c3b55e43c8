#![deny(warnings)]
//! `impl Trait` in argument and return position.
use chatobs_runtime::chat_span;
use std::fmt::Display;

#[chat_span(step = label)]
fn render(label: impl Display, items: impl IntoIterator<Item = u32>) -> impl Display {
    let total: u32 = items.into_iter().sum();
    format!("{label}: {total}")
}

#[chat_span]
fn boxed_closure(offset: u32) -> Box<impl Fn(u32) -> u32> {
    Box::new(move |x| x + offset)
}

fn main() {
    assert_eq!(render("total", [1, 2, 3]).to_string(), "total: 6");
    assert_eq!(boxed_closure(2)(3), 5);
}
