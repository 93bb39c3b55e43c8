use chatobs_runtime::{chat_span, record};

// A dotted key in chatobs' own namespace does not compile.
#[chat_span(role = "sales")]
fn qualify() {
    record!(lead.temperature = 0.8);
    record!(gen_ai.usage.input_tokens = 3);
    record!(conversation.step = "pay");
}

fn main() {
    qualify();
}
