#![deny(warnings)]
//! What the expansion produces, observed on the captured spans: default names,
//! `<Type>.<method>` in impl blocks, merged options, `skip`, and the chat
//! attributes of each option.
use chatobs_runtime::{chat_span, testing, vocab};

#[chat_span]
fn plain() {}

#[chat_span(name = "classifier.predict", role = "classifier", kind = chain, step = "predict")]
fn predict(text: &str) -> bool {
    text.contains('?')
}

#[chat_span(step = format!("turn-{}", n), tags("checkout", "vip"), template_category = marketing)]
fn tagged(n: u32) -> u32 {
    n
}

struct SalesBot;

#[chat_span(role = "sales", kind = agent, step = "default")]
impl SalesBot {
    fn offer(&self) {}

    #[chat_span(name = "agent.sales.flow", step = "checkout")]
    fn flow(&self) {}

    #[chat_span(skip)]
    fn helper(&self) {}
}

fn main() {
    let ((), spans) = testing::capture(|| {
        plain();
        predict("precio?");
        tagged(3);
        SalesBot.offer();
        SalesBot.flow();
        SalesBot.helper();
    });

    assert_eq!(
        spans.len(),
        5,
        "{:?}",
        spans.spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    spans.one("plain");

    let p = spans.one("classifier.predict");
    assert_eq!(p.attr_str(vocab::AGENT_ROLE), Some("classifier"));
    assert_eq!(p.attr_str(vocab::OPENINFERENCE_SPAN_KIND), Some("CHAIN"));
    assert_eq!(p.attr_str(vocab::CONVERSATION_STEP), Some("predict"));

    let t = spans.one("tagged");
    assert_eq!(t.attr_str(vocab::CONVERSATION_STEP), Some("turn-3"));
    assert_eq!(t.attr_str(vocab::TEMPLATE_CATEGORY), Some("marketing"));
    assert_eq!(
        t.attr(vocab::TAG_TAGS).and_then(|v| v.as_str_array()),
        Some(vec!["checkout", "vip"])
    );

    let offer = spans.one("SalesBot.offer");
    assert_eq!(offer.attr_str(vocab::AGENT_ROLE), Some("sales"));
    assert_eq!(
        offer.attr_str(vocab::OPENINFERENCE_SPAN_KIND),
        Some("AGENT")
    );
    assert_eq!(offer.attr_str(vocab::CONVERSATION_STEP), Some("default"));

    // The method's own options merge over the block's.
    let flow = spans.one("agent.sales.flow");
    assert_eq!(flow.attr_str(vocab::AGENT_ROLE), Some("sales"));
    assert_eq!(flow.attr_str(vocab::CONVERSATION_STEP), Some("checkout"));

    assert!(spans.named("SalesBot.helper").is_empty());
}
