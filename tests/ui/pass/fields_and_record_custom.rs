#![deny(warnings)]
use chatobs_runtime::{attrs, chat_span, record, testing, Value};

#[chat_span(role = "sales", fields(
    lead.temperature = temperature,
    lead.hot = temperature > 0.7,
    lead.visits = visits,
    lead.tags = ["ads", "returning"],
    lead.scores = vec![1_i64, 2, 3],
    "user.id" = user,
))]
fn qualify(temperature: f64, visits: u32, user: &str) -> bool {
    record!(intent.confidence = 0.92_f32);
    record!(intent.alternatives = &["buy", "ask"][..]);
    attrs::event("lead.scored", &[("score", &temperature)]);
    temperature > 0.7
}

fn main() {
    let (hot, spans) = testing::capture(|| qualify(0.8, 3, "u-1"));
    assert!(hot);
    let s = spans.one("qualify");
    assert_eq!(s.attr("lead.temperature"), Some(&Value::F64(0.8)));
    assert_eq!(s.attr("lead.hot"), Some(&Value::Bool(true)));
    assert_eq!(s.attr("lead.visits"), Some(&Value::I64(3)));
    assert_eq!(s.attr("lead.scores"), Some(&Value::I64Array(vec![1, 2, 3])));
    assert_eq!(s.attr_str("user.id"), Some("u-1"));
    assert_eq!(s.attr("intent.confidence").and_then(|v| v.as_f64()).map(|f| (f * 100.0).round()), Some(92.0));
    assert_eq!(s.attr("lead.tags").and_then(|v| v.as_str_array()), Some(vec!["ads", "returning"]));
    assert_eq!(s.attr("intent.alternatives").and_then(|v| v.as_str_array()), Some(vec!["buy", "ask"]));
    assert_eq!(s.events.len(), 1);
}
