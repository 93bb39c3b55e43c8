use chatobs_runtime::chat_span;

// The user's own errors inside the body are reported on the user's lines.
#[chat_span(role = "classifier")]
fn predict(text: &str) -> u32 {
    let n: u32 = text.len();
    "not a number"
}

#[derive(Debug)]
struct BotError;

#[chat_span]
async fn flow(text: &str) -> Result<u32, BotError> {
    let n: u32 = text.parse()?;
    Ok(n + undefined_variable)
}

#[chat_span]
fn impl_future() -> impl std::future::Future<Output = u32> {
    async move { "still not a number" }
}

fn main() {}
