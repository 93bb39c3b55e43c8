#![deny(warnings)]
//! `role = "builtin"`: every built-in role.
use chatobs_runtime::chat_span;

#[chat_span(role = "classifier")]
fn a() {}
#[chat_span(role = "orchestrator")]
fn b() {}
#[chat_span(role = "sales")]
fn c() {}
#[chat_span(role = "pqr")]
fn d() {}
#[chat_span(role = "support")]
fn e() {}
#[chat_span(role = "gateway")]
fn f() {}
#[chat_span(role = "retriever")]
fn g() {}
#[chat_span(role = "tool")]
fn h() {}
#[chat_span(role = "evaluator")]
fn i() {}
#[chat_span(role = "handoff")]
fn j() {}
#[chat_span(role = "operator")]
fn k() {}

fn main() {
    a();
    b();
    c();
    d();
    e();
    f();
    g();
    h();
    i();
    j();
    k();
}
