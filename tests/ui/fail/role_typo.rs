use chatobs_runtime::chat_span;

#[chat_span(role = "salse")]
fn sales_flow() {}

#[chat_span(role = "Classifier")]
fn capitalized() {}

fn main() {}
