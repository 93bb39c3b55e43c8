//! # chatobs: every chat-bot conversation, observable end to end
//!
//! Put `#[chat_span]` on a classifier, orchestrator or agent function and
//! get a span whose chat attributes were checked at compile time, the
//! conversation's `chat.session_id` on every span and log line, and export
//! to a local JSONL file (the embedded default), the console, or any OTLP
//! backend (Phoenix, Langfuse, Logfire, Jaeger or Tempo behind a collector).
//!
//! ```no_run
//! use chatobs_runtime::{chat_span, ChatSession};
//!
//! #[chat_span(name = "classifier.predict", role = "classifier", kind = chain)]
//! fn predict(text: &str) -> &'static str {
//!     if text.contains("comprar") { "sales" } else { "pqr" }
//! }
//!
//! #[chat_span(name = "agent.sales.flow", role = "sales", step = "qualify", tags("checkout", "vip"),
//!             template_category = marketing)]
//! async fn sales_flow(text: &str) -> Result<String, std::io::Error> {
//!     tracing::info!("answering"); // carries trace_id, span_id and chat.session_id
//!     Ok(format!("Gracias! ({})", text.len()))
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let _guard = chatobs_runtime::init(chatobs_runtime::Config::load()?)?;
//! let session = ChatSession::new("wa:573001234567"); // hashed: the number is never exported
//! session.scope(async {
//!     if predict("quiero comprar") == "sales" {
//!         let _ = sales_flow("quiero comprar").await;
//!     }
//! }).await;
//! # Ok(()) }
//! ```
//!
//! See the README for the option reference of `#[chat_span]`, the
//! configuration keys, and the design notes on the span path.

#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod alerts;
pub mod config;
pub mod context;
pub mod cost;
mod error;
pub mod evals;
pub mod export;
pub mod ids;
pub mod integrations;
pub mod logs;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod redact;
pub mod report;
pub mod span;
pub mod testing;
pub mod vocab;

pub use chatobs_macros::chat_span;
pub use config::Config;
pub use context::{spawn, spawn_blocking, spawn_thread, ChatSession, Context};
pub use error::Error;
pub use ids::{SpanId, TraceId};
pub use model::{FinishedSpan, Value};
pub use pipeline::{init, init_with_exporters, Guard};
/// Exact decimal money (re-exported from `rust_decimal`).
pub use rust_decimal::Decimal;
pub use span::{is_installed, ChatSpan, SpanBuilder};
pub use vocab::{Role, SpanKind, TemplateCategory};

/// What `#[chat_span]` expands to. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::__chatobs_outcome as outcome;
    pub use crate::__chatobs_site as site;
    pub use crate::span::{
        record_category, record_model, record_provider, record_response_model, record_role,
        record_step, record_step_static, record_tag, Builder, ChatSpan, Instrumented, NotResult,
        Outcome, ResultDebug, ResultDisplay, Site, SITE_FIELDS,
    };
    pub use tracing;
    pub use tracing_core;
}
