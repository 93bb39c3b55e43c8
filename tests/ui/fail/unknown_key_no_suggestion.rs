use chatobs_runtime::chat_span;

#[chat_span(colour = "red")]
fn painted() {}

#[chat_span("classifier.predict")]
fn positional() {}

fn main() {}
