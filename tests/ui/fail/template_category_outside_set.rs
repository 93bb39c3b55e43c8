use chatobs_runtime::chat_span;

#[chat_span(template_category = promotion)]
fn promo() {}

#[chat_span(template_category = "marketting")]
fn typo() {}

fn main() {}
