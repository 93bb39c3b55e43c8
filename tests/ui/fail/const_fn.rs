use chatobs_runtime::chat_span;

#[chat_span]
const fn answer() -> u32 {
    42
}

struct Bot;

impl Bot {
    #[chat_span(role = "sales")]
    pub const fn limit() -> usize {
        3
    }
}

fn main() {}
