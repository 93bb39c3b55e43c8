use chatobs_runtime::chat_span;

#[chat_span(capture(txt))]
fn detect(text: &str, lang: &str) {
    let _ = (text, lang);
}

#[chat_span(capture(self))]
fn free_fn(text: &str) {
    let _ = text;
}

#[chat_span(capture(anything))]
fn no_params() {}

fn main() {}
