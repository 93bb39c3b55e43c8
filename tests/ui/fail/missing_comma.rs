use chatobs_runtime::chat_span;

#[chat_span(role = "sales" step = "pay")]
fn no_comma() {}

#[chat_span(step = foo(,), kind = chain)]
fn broken_expr() {}

fn main() {}
