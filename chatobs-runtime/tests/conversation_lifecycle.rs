//! The conversation lifecycle in one process (no state store), through
//! `init` as a bot runs it: a real webhook POST opens a conversation whose
//! spans carry the conversation id and, apart, the user's stable key; the
//! sweeper thread closes it after `[session] close_after_seconds` with its
//! totals (a `conversation.closed` span in the spans file, and a log line);
//! the user's next message opens a new conversation; what is still open at
//! shutdown closes with reason `shutdown`. No phone number is written.

use chatobs_runtime::cost::{self, conversation, LlmCall, Outbound};
use chatobs_runtime::{vocab, Config, TemplateCategory};
use std::time::{Duration, Instant};

const BUSINESS: &str = "106540352242922";
const WA_ID: &str = "573001234567";

fn spans_of(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn attr<'a>(span: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    span["attributes"].get(key)
}

#[test]
fn conversations_open_close_after_inactivity_and_at_shutdown() {
    chatobs_runtime::context::set_session_key(b"lifecycle-test-key-000000000001").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spans_file = dir.path().join("spans.jsonl");
    let logs_file = dir.path().join("logs.jsonl");
    let cfg = Config::from_toml_str(
        &format!(
            r#"
[exporter]
kinds = ["file"]
file_path = "{}"
scheduled_delay_ms = 50
[logs]
format = "json"
output = "{}"
[session]
close_after_seconds = 1
sweep_every_seconds = 1
"#,
            spans_file.display(),
            logs_file.display()
        ),
        None,
    )
    .unwrap();
    let guard = chatobs_runtime::init(cfg).unwrap();
    let user = conversation::whatsapp_user(BUSINESS, WA_ID);

    // A turn: the user writes, the bot calls an LLM and answers.
    let turn = || {
        let s = conversation::on_inbound(&user);
        let mut span = chatobs_runtime::SpanBuilder::new("agent.sales.flow")
            .session(s.clone())
            .start();
        span.in_scope(|| {
            cost::record_inbound(&cost::Inbound {
                business: BUSINESS,
                user: WA_ID,
                at: cost::OffsetDateTime::now_utc(),
                entry_point: false,
            });
            cost::record_llm_call(
                &LlmCall::new("gpt-4o-mini")
                    .provider("openai")
                    .input_tokens(1_000)
                    .output_tokens(100),
            )
            .unwrap();
            cost::price_outbound(&Outbound {
                business: BUSINESS,
                user: WA_ID,
                at: cost::OffsetDateTime::now_utc(),
                template: Some(TemplateCategory::Marketing),
                entry_point: false,
            })
            .unwrap();
        });
        drop(span);
        s
    };
    let first = turn();
    assert_eq!(
        turn().id(),
        first.id(),
        "the second turn is the same conversation"
    );
    assert_eq!(first.user_id(), Some(user.as_str()));
    assert_ne!(
        first.id(),
        user,
        "the conversation id is not the user's key"
    );

    // The sweeper closes it about a second after the last message.
    let t = Instant::now();
    while conversation::stats().closed == 0 {
        assert!(t.elapsed() < Duration::from_secs(10), "never closed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = turn();
    assert_ne!(
        second.id(),
        first.id(),
        "a new conversation after the close"
    );
    assert_eq!(second.user_id(), first.user_id(), "for the same user");
    drop(guard); // closes `second` with reason shutdown, then flushes

    let spans = spans_of(&spans_file);
    let closed: Vec<&serde_json::Value> = spans
        .iter()
        .filter(|s| s["name"] == vocab::CONVERSATION_CLOSED)
        .collect();
    assert_eq!(closed.len(), 2, "{closed:#?}");
    let by_id = |id: &str| {
        *closed
            .iter()
            .find(|s| attr(s, vocab::CHAT_SESSION_ID).and_then(|v| v.as_str()) == Some(id))
            .unwrap_or_else(|| panic!("no close of {id}"))
    };
    let c1 = by_id(first.id());
    assert_eq!(attr(c1, vocab::USER_ID).unwrap(), user.as_str());
    assert_eq!(
        attr(c1, vocab::CHAT_SESSION_CLOSE_REASON).unwrap(),
        "inactivity"
    );
    assert_eq!(attr(c1, vocab::CHAT_SESSION_OUTCOME).unwrap(), "none");
    assert_eq!(attr(c1, vocab::CHAT_SESSION_MESSAGES_INBOUND).unwrap(), 2);
    assert_eq!(attr(c1, vocab::CHAT_SESSION_MESSAGES_OUTBOUND).unwrap(), 2);
    assert_eq!(attr(c1, vocab::CHAT_SESSION_TURNS).unwrap(), 2);
    assert_eq!(attr(c1, vocab::CHAT_SESSION_LLM_CALLS).unwrap(), 2);
    // 2 x (1000 x 0.15/1M + 100 x 0.60/1M) = 0.00042 LLM; 2 marketing
    // messages to Colombia at today's card rate.
    let llm = attr(c1, vocab::CHAT_SESSION_COST_LLM_USD)
        .unwrap()
        .to_string();
    assert_eq!(llm.trim_matches('"'), "0.00042", "{c1}");
    let wa = rust_decimal::Decimal::from_str_exact(
        attr(c1, vocab::CHAT_SESSION_COST_WHATSAPP_USD)
            .unwrap()
            .to_string()
            .trim_matches('"'),
    )
    .unwrap();
    let unit = cost::WhatsAppPricer::shipped()
        .outbound(&Outbound {
            business: BUSINESS,
            user: WA_ID,
            at: cost::OffsetDateTime::now_utc(),
            template: Some(TemplateCategory::Marketing),
            entry_point: false,
        })
        .unwrap()
        .price;
    assert_eq!(wa, unit * rust_decimal::Decimal::from(2));
    let c2 = by_id(second.id());
    assert_eq!(
        attr(c2, vocab::CHAT_SESSION_CLOSE_REASON).unwrap(),
        "shutdown"
    );
    assert_eq!(attr(c2, vocab::CHAT_SESSION_TURNS).unwrap(), 1);

    // Every span of a conversation carries both ids.
    let turn_spans: Vec<_> = spans
        .iter()
        .filter(|s| attr(s, vocab::CHAT_SESSION_ID).and_then(|v| v.as_str()) == Some(first.id()))
        .collect();
    assert!(turn_spans.len() >= 2);
    assert!(turn_spans
        .iter()
        .all(|s| attr(s, vocab::USER_ID).and_then(|v| v.as_str()) == Some(user.as_str())));

    // One log line per close, with the totals; no number anywhere.
    let logs = std::fs::read_to_string(&logs_file).unwrap();
    let closes: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["message"] == "conversation.closed" || l["msg"] == "conversation.closed")
        .collect();
    assert_eq!(closes.len(), 2, "{logs}");
    assert!(closes
        .iter()
        .any(|l| l.to_string().contains("\"reason\":\"inactivity\"")));
    let raw = std::fs::read_to_string(&spans_file).unwrap() + &logs;
    assert!(
        !raw.contains(WA_ID) && !raw.contains("3001234567"),
        "a number leaked"
    );
}
