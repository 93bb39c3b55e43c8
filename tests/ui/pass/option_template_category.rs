#![deny(warnings)]
//! `template_category` as an identifier or a string, every category.
use chatobs_runtime::chat_span;

#[chat_span(template_category = marketing)]
fn a() {}
#[chat_span(template_category = utility)]
fn b() {}
#[chat_span(template_category = "authentication")]
fn c() {}
#[chat_span(template_category = "service")]
fn d() {}

fn main() {
    a();
    b();
    c();
    d();
}
