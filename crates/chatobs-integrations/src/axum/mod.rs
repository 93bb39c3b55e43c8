//! axum: the WhatsApp webhook, SERVER spans, HTTP server metrics, health routes.
//!
//! ```no_run
//! use axum::{routing::post, Router};
//! use chatobs_runtime::integrations::axum::{health_router, instrument, ServerOptions, WebhookConfig, WhatsAppWebhook};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let _guard = chatobs_runtime::init(chatobs_runtime::Config::load()?)?;
//! // WHATSAPP_APP_SECRET and WHATSAPP_VERIFY_TOKEN come from the environment.
//! let webhook = WhatsAppWebhook::new(WebhookConfig::from_env())
//!     .on_message(|msg| async move {
//!         // Runs after Meta got its 200, inside the message's SERVER span
//!         // context and conversation: #[chat_span] functions and logs here carry both.
//!         tracing::info!(kind = msg.content.type_name(), "message received");
//!     });
//! let app = instrument(Router::new().route("/orders", post(|| async { "ok" })), ServerOptions::default())
//!     .merge(webhook.router())
//!     .merge(health_router(chatobs_runtime::integrations::health::HealthConfig::default()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! # The webhook
//!
//! `GET /webhook/whatsapp` answers Meta's verification handshake
//! (`hub.mode=subscribe`, `hub.verify_token` percent-decoded as any query
//! value, then compared in constant time with `WHATSAPP_VERIFY_TOKEN`,
//! `hub.challenge` echoed) or 403.
//!
//! `POST /webhook/whatsapp`, in this order: a declared or actual body above
//! `max_body_bytes` is refused with 413 before it is read whole; the
//! `X-Hub-Signature-256` of the raw body is checked against
//! `WHATSAPP_APP_SECRET` in constant time (401 when missing or wrong); the
//! body is parsed (400 with the reason, for example `malformed JSON: syntax
//! error at line 1 column 12`, which never quotes the body). Then Meta gets
//! its 200 at once and the batch is processed in a background task. A
//! refused request leaves one SERVER span and one log line with the status
//! and `error.type`, and nothing of the body.
//!
//! For each inbound message: a SERVER span `POST /webhook/whatsapp` with the
//! HTTP server attributes (`http.request.method`, `http.route`, `url.path`,
//! `server.address`, `http.response.status_code`, request headers under
//! `http.request.header.*` with `Authorization`, `Cookie`,
//! `X-Hub-Signature-256` and the configured `redaction.headers` written as
//! `[REDACTED]`), the messaging attributes (`messaging.system`,
//! `messaging.message.id` and `messaging.whatsapp.context.message.id` as
//! keyed hashes of the wamids, `messaging.whatsapp.message.type`, ...; never
//! the text, caption, coordinates, numbers, user ids or profile names: see
//! [`crate::whatsapp`]), the conversation
//! ([`crate::ChatSession::for_whatsapp`]), a `traceparent` sent by the
//! caller continued, the message recorded for the customer service window
//! ([`crate::cost::record_inbound`]) and a 👍 / 👎 reaction turned into
//! user feedback when a [`FeedbackRecorder`] is attached (removing the
//! reaction, or replacing it with another emoji, withdraws that feedback:
//! [`FeedbackRecorder::withdraw_reaction`]). Your `on_message`
//! handler then runs in that span's context and conversation; it answers
//! through [`crate::whatsapp::InboundMessage::reply_address`] (the number,
//! or the business-scoped user id of a user of WhatsApp usernames).
//!
//! Errors Meta reports (a change's `value.errors`, such as 130429 rate
//! limit hit, even in a POST that carries nothing else; a message's
//! `errors[]`, such as 131051 unsupported type; a status's `errors[]`; a
//! Graph API error answer to a send through
//! [`crate::reqwest::SendTraced`]) each become a `whatsapp.error` span
//! event with the code and title, a WARN log line `WhatsApp reported an
//! error` with the code and title, and the counter
//! `chatobs_whatsapp_errors_total{code, scope}`. Unknown fields and message
//! types never fail a request.
//!
//! For each status callback: a SERVER span, then a `whatsapp.status` span
//! in which Meta's `pricing` is reconciled with the estimate registered in
//! [`WhatsAppWebhook::outbound`] when the message was sent
//! ([`crate::cost::reconcile`]); a `failed` status records Meta's error code
//! and title (numbers redacted, wamids hashed) and marks that span as an
//! error; your `on_status` handler runs inside it. Both spans carry the
//! keyed hash of the status's wamid in `messaging.message.id`, the same as
//! the inbound or sent message it refers to.

mod health;
mod server;
mod webhook;

// Named in the module docs above.
#[cfg(all(doc, feature = "evals"))]
use crate::evals::FeedbackRecorder;

pub use health::{health_router, health_router_with, ReadyChecks};
pub use server::{instrument, ServerOptions};
pub use webhook::{WebhookConfig, WhatsAppWebhook, DEFAULT_MAX_BODY_BYTES, WEBHOOK_PATH};
