//! Integrations: the WhatsApp webhook for axum, HTTP propagation for
//! reqwest, GenAI HTTP instrumentation, queues, handoffs, health.
//!
//! | module | feature | what |
//! |---|---|---|
//! | [`whatsapp`] | | `X-Hub-Signature-256` check (constant time), Cloud API payload parsing |
//! | [`axum`] | `axum` | `/webhook/whatsapp` (GET handshake, POST), SERVER spans, HTTP server metrics, `/health`, `/health/ready` |
//! | [`reqwest`] | `reqwest` | CLIENT spans, `traceparent` + `baggage` injection, GenAI calls priced |
//! | [`genai`] | | recognizing Gemini / OpenAI-compatible calls, reading usage (also streamed) |
//! | [`propagation`] | | message-queue string maps, bot handoff spans, [`propagation::EventMetadata`] |
//! | [`http_metrics`] | | requests by method, route template and status; duration histogram |
//! | [`health`] | | readiness checks (config, exporter queue, export failures) |
//! | [`turn`] | | a user turn as one trace; its last reply as `output.value` (content capture) |
//!
//! Both features are on by default.
//!
//! # One conversation across services
//!
//! The gateway's webhook derives the session from (business phone number
//! id, user `wa_id`) with a keyed hash; every span it starts carries it. Calls
//! made with [`reqwest::SendTraced::send_traced`] send `traceparent` and
//! `baggage: chat.session_id=...`; a service whose router went through
//! [`axum::instrument`] starts its SERVER span as a child of the caller's span
//! with the same session, so its `#[chat_span]` functions and logs carry
//! both. All services must share `CHATOBS_SESSION_KEY` only if they derive
//! sessions themselves; propagated ids are taken as they come, except one
//! that is a phone number, a wamid or a business-scoped user id, which is
//! replaced by its keyed hash (then every service needs the key).
//!
//! # Personal data never leaves the process
//!
//! Every identifier that can carry a phone number is exported only as a keyed
//! hash (HMAC-SHA256 with `CHATOBS_SESSION_KEY`, like session ids), or not at
//! all: WhatsApp message ids (real wamids are base64 of a blob holding the
//! customer's number) become [`whatsapp::hashed_message_id`] in
//! `messaging.message.id`, `messaging.whatsapp.context.message.id` and
//! `feedback.wamid`; `from` / `wa_id` / `recipient_id`, business-scoped user
//! ids (`from_user_id`, `recipient_user_id`, `user_id`) and contact entries
//! (numbers, profile names) only feed the session's keyed hash. This holds
//! for span attributes, span events, log fields, metric labels and error
//! messages alike; free text from outside (error titles, URLs, paths, header
//! values, handoff reasons) has phone numbers redacted and wamids replaced by
//! their hash ([`whatsapp::scrub_message_ids`]). Raw ids stay in memory for
//! the bot and for lookups ([`whatsapp::OutboundRegistry`], feedback) only.
//! `chatobs-runtime/tests/pii_every_exporter.rs` checks every exporter, the
//! logs and the metrics with realistic wamids.
//!
//! # Several services in one process
//!
//! The resource's `service.name` names a process. When several services run
//! in one process (tests, the ChatCommerce example), [`with_service`] marks
//! the work of each: SERVER and CLIENT spans started under it carry
//! `chat.service.name`. [`axum::instrument`] and the webhook do it for you.

#[cfg(feature = "axum")]
pub mod axum;
pub mod genai;
#[cfg(feature = "reqwest")]
mod genai_content;
pub mod health;
pub mod http_metrics;
pub mod propagation;
#[cfg(feature = "reqwest")]
pub mod reqwest;
pub mod turn;
pub mod whatsapp;

// The crates this one builds on, under the names the modules use.
#[cfg(test)]
use chatobs_core::testing;
use chatobs_core::{context, ids, model, pipeline, redact, span, vocab, Context, Error};
#[cfg(feature = "axum")]
use chatobs_core::{ChatSession, Role};
use chatobs_cost as cost;
#[cfg(feature = "evals")]
use chatobs_evals as evals;
use chatobs_metrics as metrics;

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};

thread_local! {
    static SERVICE: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// The service marked with [`with_service`] for the code running now.
pub fn current_service() -> Option<&'static str> {
    SERVICE.with(Cell::get)
}

pin_project_lite::pin_project! {
    /// A future running as one service (see [`with_service`]).
    pub struct WithService<F> {
        #[pin]
        fut: F,
        name: Option<&'static str>,
    }
}

impl<F: Future> Future for WithService<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<F::Output> {
        let this = self.project();
        let prev = SERVICE.with(|s| s.replace(*this.name));
        let r = this.fut.poll(cx);
        SERVICE.with(|s| s.set(prev));
        r
    }
}

/// Runs `fut` as service `name`: SERVER and CLIENT spans started by the
/// integrations under it carry `chat.service.name = name`.
pub fn with_service<F: Future>(name: Option<&'static str>, fut: F) -> WithService<F> {
    WithService { fut, name }
}
