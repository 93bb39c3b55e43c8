use chatobs_runtime::chat_span;

struct Lead {
    temperature: f64,
}

// A value that is not a string, bool, number or array of them: the error is at the value.
#[chat_span(fields(lead.temperature = lead.temperature, lead.raw = lead))]
fn qualify(lead: &Lead) {
    let _ = lead;
}

fn main() {
    qualify(&Lead { temperature: 0.5 });
}
