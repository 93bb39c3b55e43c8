//! The scenario of `pii_every_exporter.rs` with content capture on
//! (`[redaction] capture_content = true`): message text, prompts and
//! completions are exported, and still no number (digits, with `+`, its
//! national part, its base64), wamid, business-scoped id, username or
//! e-mail address appears in any byte written by any exporter; the
//! customers' words are there, in the turns' `input.value`, with
//! `[REDACTED]` where the number and the address were.

mod support;
mod support_pii;
mod support_web;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_content_is_redacted_in_every_byte_written() {
    support_pii::scenario(true).await;
}
