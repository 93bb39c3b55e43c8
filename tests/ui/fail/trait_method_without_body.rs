use chatobs_runtime::chat_span;

trait Agent {
    #[chat_span]
    fn answer(&self) -> String;
}

fn main() {}
