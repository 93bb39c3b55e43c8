use chatobs_runtime::chat_span;

#[chat_span(kind = llmm)]
fn typo() {}

#[chat_span(kind = "workflow")]
fn unknown() {}

#[chat_span(kind = LLM)]
fn capitals() {}

fn main() {}
