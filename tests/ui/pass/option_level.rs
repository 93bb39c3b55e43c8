#![deny(warnings)]
//! `level` as an identifier or a string, every level.
use chatobs_runtime::chat_span;

#[chat_span(level = trace)]
fn a() {}
#[chat_span(level = debug)]
fn b() {}
#[chat_span(level = info)]
fn c() {}
#[chat_span(level = "warn")]
fn d() {}
#[chat_span(level = "error")]
fn e() {}

fn main() {
    a();
    b();
    c();
    d();
    e();
}
