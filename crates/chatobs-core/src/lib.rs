//! # chatobs-core: sessions, chat spans, the export pipeline
//!
//! The bottom of chatobs (above only `chatobs-vocab`): conversation
//! sessions and the context that carries them across tasks and services,
//! the chat span path behind `#[chat_span]`, the export pipeline with the
//! embedded JSONL file, console and in-memory exporters, JSON logs with chat
//! context, the [`bridge`] that exports the application's own `tracing`
//! spans in the same traces, redaction, span-file reports, and (feature `testing`) the test
//! kit. It knows none of the crates built on it: cost, alerts, evaluations,
//! metrics and OTLP connect through the hooks documented here
//! ([`pipeline::set_span_observer`], [`ChatSession::set_end_hook`],
//! [`current`], [`pipeline::Guard::on_shutdown`]).
//!
//! Users depend on `chatobs-runtime`, which re-exports this crate's API.

#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod bridge;
pub mod clock;
pub mod config;
pub mod context;
pub mod current;
mod error;
pub mod export;
pub mod ids;
pub mod logs;
pub mod model;
pub mod pipeline;
pub mod redact;
pub mod report;
pub mod span;
#[cfg(feature = "testing")]
pub mod testing;

pub use chatobs_vocab as vocab;
pub use context::spawn_thread;
#[cfg(feature = "tokio")]
pub use context::{spawn, spawn_blocking};
pub use context::{ChatSession, Context};
pub use error::Error;
pub use ids::{SpanId, TraceId};
pub use model::{FinishedSpan, Value};
pub use pipeline::Guard;
/// Exact decimal money (re-exported from `rust_decimal`).
pub use rust_decimal::Decimal;
pub use span::{is_installed, ChatSpan, SpanBuilder};
pub use vocab::{Role, SpanKind, TemplateCategory};
