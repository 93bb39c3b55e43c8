use chatobs_runtime::chat_span;

// Every problem of one attribute is reported in one compile, each at its token.
#[chat_span(nmae = "x", role = "salse", kind = chian, capture(txt), level = loud, role = "pqr")]
fn everything_wrong(text: &str) {
    let _ = text;
}

fn main() {}
