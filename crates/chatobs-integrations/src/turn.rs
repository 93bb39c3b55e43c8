//! User turns: one trace from a message's arrival to the last reply sent.
//!
//! The WhatsApp webhook starts a `whatsapp.turn` root span for every user
//! message (the HTTP acknowledgement is its child) and ends it when the
//! message handler returns, so the trace's latency, Phoenix's latency, the
//! turn metrics (`chatobs_turns_total`, `chatobs_turn_duration_seconds`) and
//! the latency SLO all measure the turn, not the acknowledgement.
//!
//! With content capture on (`[redaction] capture_content = true`), the turn
//! carries the user's message as `input.value` and the last reply sent as
//! `output.value` (what Phoenix shows as a session's first input and last
//! output). Replies sent with [`crate::reqwest::SendTraced`] to the Graph
//! API's `/{version}/{phone_number_id}/messages` are noted by themselves; a
//! bot that sends another way calls [`reply`] inside the turn.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use chatobs_runtime::integrations::turn;
//! // Inside a message handler (the turn's context is current there):
//! turn::reply("Your order ships today.");
//! # }
//! ```
//!
//! Replies are kept per open turn only (at most [`MAX_OPEN`] turns; beyond
//! that a turn is exported without its output and counted in [`dropped`]).

use crate::context::Context;
use crate::ids::TraceId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Most turns whose last reply is kept at once.
pub const MAX_OPEN: usize = 16_384;

#[derive(Default)]
struct Reply {
    text: Option<String>,
    /// The reply is a template's name, replaced by any later text reply.
    template: bool,
}

static OPEN: Mutex<Option<HashMap<TraceId, Reply>>> = Mutex::new(None);
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Turns exported without their output because [`MAX_OPEN`] turns were open.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

#[cfg(feature = "axum")]
/// Starts keeping the last reply of the turn `trace` (only with content
/// capture on; the webhook calls it). Returns whether it does.
pub(crate) fn begin(trace: TraceId) -> bool {
    if !crate::redact::capturing_content() {
        return false;
    }
    let mut g = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    let map = g.get_or_insert_with(HashMap::new);
    if map.len() >= MAX_OPEN {
        DROPPED.fetch_add(1, Ordering::Relaxed);
        return false;
    }
    map.insert(trace, Reply::default());
    true
}

#[cfg(feature = "axum")]
/// The last reply of the turn `trace`, redacted and cut; stops keeping it.
pub(crate) fn finish(trace: TraceId) -> Option<String> {
    let mut g = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    g.as_mut()?.remove(&trace)?.text
}

fn note(trace: TraceId, text: &str, template: bool) {
    let mut g = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(r) = g.as_mut().and_then(|m| m.get_mut(&trace)) else {
        return;
    };
    // A template sent after a text reply does not hide the text.
    if template && r.text.is_some() && !r.template {
        return;
    }
    if let Some(t) = crate::redact::content(text) {
        r.text = Some(t);
        r.template = template;
    }
}

/// Notes `text` as the current turn's latest reply (its `output.value`).
/// Does nothing outside a turn or with content capture off; the text is
/// redacted and cut like every captured value.
pub fn reply(text: &str) {
    let ctx = Context::current();
    if ctx.has_span() {
        note(ctx.trace_id, text, false);
    }
}

#[cfg(feature = "reqwest")]
/// Notes the reply a Graph API `messages` request body sends, if it is a
/// message with text (text, interactive body, media caption) or a template
/// (noted as `[template <name>]`); returns that text for the send span.
pub(crate) fn note_graph_send(body: &[u8]) -> Option<String> {
    if !crate::redact::capturing_content() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let kind = v.get("type").and_then(|t| t.as_str()).unwrap_or("text");
    let s = |p: &str| v.pointer(p).and_then(|x| x.as_str());
    let (text, template) = match kind {
        "text" => (s("/text/body")?.to_owned(), false),
        "interactive" => (s("/interactive/body/text")?.to_owned(), false),
        "template" => (format!("[template {}]", s("/template/name")?), true),
        other => (s(&format!("/{other}/caption"))?.to_owned(), false),
    };
    let ctx = Context::current();
    if ctx.has_span() {
        note(ctx.trace_id, &text, template);
    }
    crate::redact::content(&text)
}
