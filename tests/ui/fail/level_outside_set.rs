use chatobs_runtime::chat_span;

#[chat_span(level = warning)]
fn warning() {}

#[chat_span(level = "fatal")]
fn fatal() {}

fn main() {}
