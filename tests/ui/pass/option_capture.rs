#![deny(warnings)]
//! `capture(arg, ...)`: parameters by name, `self`, destructured bindings, and
//! the parameters stay usable (moved) in the body afterwards.
use chatobs_runtime::chat_span;

#[derive(Debug)]
struct Cart {
    items: Vec<String>,
}

impl Cart {
    #[chat_span(capture(self, extra))]
    fn total(&self, extra: u32) -> u32 {
        self.items.len() as u32 + extra
    }

    #[chat_span(capture(self))]
    fn consume(self) -> Vec<String> {
        self.items
    }
}

#[chat_span(capture(text, lang))]
fn detect(text: String, lang: &str) -> String {
    format!("{lang}:{text}")
}

#[chat_span(capture(a, b))]
fn destructured((a, b): (u32, u32)) -> u32 {
    a + b
}

#[chat_span(capture(items))]
async fn owned_async(items: Vec<u8>) -> usize {
    items.len()
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
    let cart = Cart {
        items: vec!["a".into()],
    };
    assert_eq!(cart.total(2), 3);
    assert_eq!(cart.consume().len(), 1);
    assert_eq!(detect("hola".to_string(), "es"), "es:hola");
    assert_eq!(destructured((1, 2)), 3);
    assert_eq!(block_on(owned_async(vec![1, 2])), 2);
}
