#![deny(warnings)]
//! `kind` as an identifier or a string, every OpenInference span kind.
use chatobs_runtime::chat_span;

#[chat_span(kind = llm)]
fn a() {}
#[chat_span(kind = chain)]
fn b() {}
#[chat_span(kind = agent)]
fn c() {}
#[chat_span(kind = tool)]
fn d() {}
#[chat_span(kind = evaluator)]
fn e() {}
#[chat_span(kind = retriever)]
fn f() {}
#[chat_span(kind = embedding)]
fn g() {}
#[chat_span(kind = guardrail)]
fn h() {}
#[chat_span(kind = reranker)]
fn i() {}
#[chat_span(kind = "prompt")]
fn j() {}
#[chat_span(kind = "unknown")]
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
