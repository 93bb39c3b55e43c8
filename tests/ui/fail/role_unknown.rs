use chatobs_runtime::chat_span;

// Not close to any built-in role: no suggestion, the list and how to declare one.
#[chat_span(role = "lead_bot")]
fn custom_as_string() {}

// A built-in role written as an identifier.
#[chat_span(role = sales)]
fn ident_role() {}

fn main() {}
