use chatobs_runtime::chat_span;

struct State;

// Errors in option expressions point at the user's expression.
#[chat_span(step = state.no_such_method())]
fn advance(state: &State) {}

#[chat_span(step = state)]
fn not_display(state: &State) {}

#[chat_span(session = 42)]
fn not_a_session() {}

fn main() {}
