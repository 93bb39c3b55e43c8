use chatobs_runtime::chat_span;

#[chat_span(name = 5)]
fn name_int() {}

#[chat_span(name = predict)]
fn name_ident() {}

#[chat_span(tags = "vip")]
fn tags_eq() {}

#[chat_span(tags("vip", 3, vip))]
fn tags_not_strings() {}

#[chat_span(capture = text)]
fn capture_eq(text: &str) {
    let _ = text;
}

#[chat_span(capture(text.len()))]
fn capture_expr(text: &str) {
    let _ = text;
}

#[chat_span(step)]
fn step_no_value() {}

#[chat_span(model = gemini, kind = llm)]
fn model_ident() {}

#[chat_span(crate = "chatobs_runtime")]
fn crate_string() {}

#[chat_span(role = 3)]
fn role_int() {}

#[chat_span(level = 3)]
fn level_int() {}

#[chat_span(name = "")]
fn name_empty() {}

fn main() {}
