use chatobs_runtime::chat_span;

struct NotDebug;

// A captured parameter must be `Debug`: the error points at its name.
#[chat_span(capture(value))]
fn keep(value: NotDebug) -> NotDebug {
    value
}

fn main() {}
