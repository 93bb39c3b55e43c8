#![deny(warnings)]
//! Functions in trait impls (including a default method in a trait definition).
use chatobs_runtime::chat_span;

trait Classifier {
    fn classify(&self, text: &str) -> &'static str;

    #[chat_span(role = "classifier")]
    fn classify_all(&self, texts: &[&str]) -> Vec<&'static str> {
        texts.iter().map(|t| self.classify(t)).collect()
    }
}

struct Keywords;

impl Classifier for Keywords {
    #[chat_span(name = "classifier.predict", role = "classifier", kind = chain)]
    fn classify(&self, text: &str) -> &'static str {
        if text.contains("precio") {
            "sales"
        } else {
            "pqr"
        }
    }
}

impl std::fmt::Display for Keywords {
    #[chat_span]
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("keywords")
    }
}

// Native `async fn` in a trait.
trait Responder {
    async fn respond(&self, text: &str) -> String;
}

impl Responder for Keywords {
    #[chat_span(role = "support")]
    async fn respond(&self, text: &str) -> String {
        format!("re: {text}")
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
    assert_eq!(block_on(Keywords.respond("hola")), "re: hola");
    assert_eq!(Keywords.classify("cual es el precio"), "sales");
    assert_eq!(
        Keywords.classify_all(&["precio", "queja"]),
        vec!["sales", "pqr"]
    );
    assert_eq!(Keywords.to_string(), "keywords");
}
