use chatobs_runtime::{chat_span, record};

// `record!` only knows the vocabulary's keys and categories.
#[chat_span(role = "orchestrator")]
fn decide() {
    record!(stpe = "pay");
    record!(template_category = markting);
}

fn main() {
    decide();
}
