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

fn main() {
    assert_eq!(Keywords.classify("cual es el precio"), "sales");
    assert_eq!(Keywords.classify_all(&["precio", "queja"]), vec!["sales", "pqr"]);
    assert_eq!(Keywords.to_string(), "keywords");
}
