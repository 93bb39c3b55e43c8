use chatobs_runtime::chat_span;

struct Bot;

// `name`, `capture` and `skip` belong to one method, not the block.
#[chat_span(name = "bot", capture(x), skip)]
impl Bot {
    fn a(&self) {}
}

struct Other;

#[chat_span(kind = llm, model = "gpt-4o")]
impl Other {
    // A method's own errors: capture of a non-parameter, skip with options,
    // a kind that conflicts with the block's model, a second attribute.
    #[chat_span(capture(y))]
    fn b(&self, x: u32) {
        let _ = x;
    }

    #[chat_span(skip, step = "x")]
    fn c(&self) {}

    #[chat_span(kind = chain)]
    fn d(&self) {}

    #[chat_span(step = "a")]
    #[chat_span(level = debug)]
    fn e(&self) {}
}

fn main() {}
