//! PII: conversations of generated customers go through the two-service bot
//! while every exporter is on (the JSONL file, OTLP/gRPC to a real receiver
//! on 127.0.0.1, the in-memory exporter, the console lines, JSON logs, the
//! Prometheus text and the OTLP metrics). The payloads are realistic: wamids
//! are `wamid.` + base64 of a blob holding the customer's number (as Meta's
//! are), with `wa_id`, `from`, `recipient_id`, business-scoped user ids,
//! profile names and usernames, replies with a `context`, 👍 reactions to
//! the bot's replies and a failed status whose error title names the number
//! and the wamid. None of those strings appears in any byte written: not the
//! number (digits, with `+`, its national part, its base64), not a wamid
//! (nor its base64 part), not the business-scoped id, the name, the e-mail
//! or the words. And the keyed hash of each wamid is there, where the message
//! id belongs, so the test cannot pass by dropping everything.

mod support;
mod support_pii;
mod support_web;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_data_in_any_byte_written() {
    support_pii::scenario(false).await;
}
