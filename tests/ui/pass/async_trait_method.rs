#![deny(warnings)]
//! async-trait methods: `#[chat_span]` under `#[async_trait]` sees the
//! `Box::pin(async move {..})` body and instruments the boxed future.
use async_trait::async_trait;
use chatobs_runtime::chat_span;

#[async_trait]
trait Agent {
    async fn answer(&self, text: &str) -> Result<String, String>;
    async fn reset(&mut self);
}

struct Sales {
    greeting: String,
    turns: u32,
}

#[async_trait]
impl Agent for Sales {
    #[chat_span(name = "agent.sales.flow", role = "sales", capture(text))]
    async fn answer(&self, text: &str) -> Result<String, String> {
        tokio::task::yield_now().await;
        if text.is_empty() {
            return Err("empty message".to_string());
        }
        Ok(format!("{} {text}", self.greeting))
    }

    #[chat_span]
    async fn reset(&mut self) {
        self.turns = 0;
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut bot = Sales {
        greeting: "hola".into(),
        turns: 3,
    };
    assert_eq!(rt.block_on(bot.answer("mundo")).unwrap(), "hola mundo");
    assert!(rt.block_on(bot.answer("")).is_err());
    rt.block_on(bot.reset());
    assert_eq!(bot.turns, 0);
    let dynbot: Box<dyn Agent + Send + Sync> = Box::new(Sales {
        greeting: "hi".into(),
        turns: 0,
    });
    assert_eq!(rt.block_on(dynbot.answer("there")).unwrap(), "hi there");
}
