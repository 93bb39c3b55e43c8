use chatobs_runtime::chat_span;

#[chat_span(skip)]
fn free() {}

struct Bot;

impl Bot {
    #[chat_span(skip)]
    fn in_plain_impl(&self) {}
}

fn main() {}
