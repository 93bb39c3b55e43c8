#![deny(warnings)]
//! `session = <expression>`: a `ChatSession`, a reference to one, or anything
//! that borrows as one (`Arc<ChatSession>`, a method returning `&ChatSession`).
use chatobs_runtime::{chat_span, ChatSession};
use std::sync::Arc;

struct Inbound {
    session: ChatSession,
    text: String,
}

impl Inbound {
    fn session(&self) -> &ChatSession {
        &self.session
    }
}

#[chat_span(session = msg.session())]
fn handle(msg: &Inbound) -> usize {
    msg.text.len()
}

#[chat_span(session = session)]
fn by_value(session: ChatSession) -> bool {
    !session.id().is_empty()
}

#[chat_span(session = shared)]
async fn shared_session(shared: Arc<ChatSession>) -> bool {
    !shared.id().is_empty()
}

#[chat_span(session = ChatSession::new("wa:573001234567"))]
fn fresh() {}

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
    let msg = Inbound {
        session: ChatSession::new("wa:573001234567"),
        text: "hola".into(),
    };
    assert_eq!(handle(&msg), 4);
    assert!(by_value(ChatSession::new("x")));
    assert!(block_on(shared_session(Arc::new(ChatSession::new("y")))));
    fresh();
}
