#![deny(warnings)]
//! Methods taking `self`, `&self`, `&mut self` and `self: Box<Self>`, including
//! returning a borrow of `self`.
use chatobs_runtime::chat_span;

#[derive(Debug)]
struct Conversation {
    turns: Vec<String>,
}

impl Conversation {
    #[chat_span]
    fn len(&self) -> usize {
        self.turns.len()
    }

    #[chat_span]
    fn push(&mut self, turn: &str) -> &mut Self {
        self.turns.push(turn.to_string());
        self
    }

    #[chat_span]
    fn last_mut(&mut self) -> Option<&mut String> {
        self.turns.last_mut()
    }

    #[chat_span]
    fn first(&self) -> &str {
        &self.turns[0]
    }

    #[chat_span]
    fn into_turns(self) -> Vec<String> {
        self.turns
    }

    #[chat_span]
    fn boxed(self: Box<Self>) -> Box<Self> {
        self
    }

    #[chat_span]
    async fn count_async(&self) -> usize {
        self.turns.len()
    }
}

fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn main() {
    let mut c = Conversation { turns: vec![] };
    c.push("hola").push("precio?");
    c.last_mut().unwrap().push('!');
    assert_eq!(c.len(), 2);
    assert_eq!(c.first(), "hola");
    assert_eq!(block_on(c.count_async()), 2);
    assert_eq!(
        Box::new(Conversation {
            turns: vec!["a".into()]
        })
        .boxed()
        .turns
        .len(),
        1
    );
    assert_eq!(
        c.into_turns(),
        vec!["hola".to_string(), "precio?!".to_string()]
    );
}
