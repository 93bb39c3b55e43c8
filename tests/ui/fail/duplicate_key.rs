use chatobs_runtime::chat_span;

#[chat_span(role = "sales", step = "a", role = "pqr")]
fn twice() {}

#[chat_span(tags("a"), tags("b"), kind = chain, kind = agent)]
fn four() {}

fn main() {}
