use chatobs_runtime::chat_span;

#[chat_span(model = "gemini-1.5-flash")]
fn no_kind() {}

#[chat_span(kind = chain, provider = "gcp.gemini")]
fn chain_kind() {}

fn main() {}
