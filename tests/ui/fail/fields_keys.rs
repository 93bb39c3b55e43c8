use chatobs_runtime::chat_span;

// `fields(...)` keys: your own namespace, written once, `key = value`.
#[chat_span(fields(
    conversation.step = "pay",
    gen_ai.usage.input_tokens = 3,
    Lead.Temp = 0.5,
    lead.temperature = 0.5,
    lead.temperature = 0.7,
    "user id" = 1,
    score
))]
fn qualify() {}

fn main() {
    qualify();
}
