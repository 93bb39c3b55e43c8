use chatobs_runtime::chat_span;

// The body does not parse: the tokens pass through unchanged, so the only
// error is rustc's own syntax error (editors keep working).
#[chat_span(role = "sales")]
fn broken(text: &str) -> usize {
    let x = ;
    text.len()
}

// The attribute's own errors are still reported.
#[chat_span(role = "salse")]
fn broken_too() {
    let = 3;
}

fn main() {}
