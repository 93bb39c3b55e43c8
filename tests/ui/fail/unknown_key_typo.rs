use chatobs_runtime::chat_span;

#[chat_span(nmae = "classifier.predict")]
fn predict() {}

#[chat_span(tag("vip"))]
fn tagged() {}

#[chat_span(category = marketing)]
fn categorized() {}

fn main() {}
