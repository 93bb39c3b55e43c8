use chatobs_runtime::chat_span;

#[chat_span]
struct Intent;

#[chat_span(role = "sales")]
enum Step {
    Greeting,
}

#[chat_span]
trait Agent {
    fn answer(&self);
}

#[chat_span]
mod flows {}

#[chat_span]
static GREETING: &str = "hola";

fn main() {}
