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
//! ## One crate, parts behind features
//!
//! This crate is the facade: it re-exports the macro and each part of
//! chatobs, and holds the one place where they are wired together
//! ([`init`]). See `docs/architecture.md` for the crates behind it.
//!
//! | feature | default | gives |
//! |---|---|---|
//! | (always) | | `#[chat_span]`, sessions and context, the span path, file/console/memory exporters, JSON logs, redaction, reports |
//! | `tokio` | yes | [`spawn`], [`spawn_blocking`] |
//! | `testing` | yes | [`testing::capture`] |
//! | `cost` | yes | [`cost`]: LLM and WhatsApp pricing, the conversation ledger |
//! | `alerts` | yes | [`alerts`]: budget and score alerts, sinks, Prometheus rules |
//! | `evals` | yes | [`evals`]: evaluation pipeline, judge, readability, feedback, Phoenix annotations |
//! | `metrics` | yes | [`metrics`]: Prometheus metrics |
//! | `otlp` | yes | [`otlp`]: OTLP export of spans (and metrics) |
//! | `axum`, `reqwest` | yes | [`integrations`]: WhatsApp webhook, health, propagation, GenAI HTTP |
//! | `evals-tls` | no | HTTPS for the judge, Phoenix annotations and alert sinks |
//! | `off` | no | `#[chat_span]` checks its arguments and compiles to nothing |
//!
//! With `default-features = false` nothing speaks HTTP or gRPC and no
//! OpenTelemetry SDK is compiled.
//!
//! ## Your own tracing spans
//!
//! Every `tracing` span of the application and its libraries
//! (`#[tracing::instrument]`, `info_span!`, tower-http, sqlx, LLM SDKs) is
//! exported by chatobs too, through the same bounded queue and exporters as
//! the chat spans, and in the same traces: a `tracing` span inside a chat
//! span is its child, a `#[chat_span]` function inside a `tracing` span is
//! the `tracing` span's child, and both carry the conversation's
//! `chat.session_id`. Fields become typed attributes, `Span::record` updates
//! them, events become span events, `error!` events and `error` fields set
//! the Error status, `otel.name` / `otel.kind` / `otel.status_code` are
//! honoured, and every value is redacted. It is on after [`init`];
//! `[tracing] spans` turns it down by level and target:
//!
//! ```toml
//! [tracing]
//! spans = "info,sqlx=warn,hyper=off"   # EnvFilter-like `target=level` directives; "off": none
//! ```
//!
//! **With your own subscriber**: [`init`] installs a global subscriber only
//! when the application has none. If you install yours, add
//! [`tracing_layer()`] (and [`logs::layer()`] for JSON logs with chat context)
//! to your `tracing_subscriber::registry()`; both carry per-layer filters, so
//! they never hide spans or events from your other layers.
//!
//! **With tracing-opentelemetry**: both layers can run in one registry; each
//! then exports every `tracing` span on its own, with its own ids (two copies
//! in two unrelated traces; chat spans only in chatobs'). Use one: chatobs'
//! bridge keeps chat and `tracing` spans in one trace and costs a fraction of
//! tracing-opentelemetry's per span. If an OpenTelemetry SDK pipeline must
//! stay, set `[tracing] spans = "off"` so spans are exported once. Details
//! in [`bridge`].
//!
//! See the README for the option reference of `#[chat_span]`, the
//! configuration keys, and the design notes on the span path.

#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod attrs;
mod check;
pub mod config;
mod events;
mod init;
#[cfg(feature = "metrics")]
pub mod metrics;

pub use chatobs_core::{bridge, context, current, export, ids, logs, model, redact, report};
pub use chatobs_vocab as vocab;

#[cfg(feature = "alerts")]
pub use chatobs_alerts as alerts;
#[cfg(feature = "testing")]
pub use chatobs_core::testing;
#[cfg(feature = "cost")]
pub use chatobs_cost as cost;
#[cfg(feature = "evals")]
pub use chatobs_evals as evals;
#[cfg(feature = "audit")]
pub mod audit;
#[cfg(feature = "state")]
pub mod state;
#[cfg(any(feature = "axum", feature = "reqwest"))]
pub use chatobs_integrations as integrations;
#[cfg(feature = "otlp")]
pub use chatobs_otlp as otlp;

/// The span path: manual spans, samplers (what `#[chat_span]` builds on).
pub mod span {
    pub use chatobs_core::span::{is_installed, ChatSpan, RootSampler, Sampler, SpanBuilder};
}

/// The span pipeline: [`init`](crate::init), the guard, counters, span observers.
pub mod pipeline {
    pub use crate::init::{init, init_with_exporters};
    pub use chatobs_core::pipeline::{
        set_span_observer, snapshot, Guard, PipelineSnapshot, PipelineStats, SpanObserver,
    };
}

pub use chatobs_core::Error;
pub use chatobs_macros::chat_event;
pub use chatobs_macros::chat_span;
pub use chatobs_vocab::roles;
pub use check::check;
pub use config::Config;
#[cfg(feature = "tokio")]
pub use context::{spawn, spawn_blocking};
pub use context::{spawn_thread, ChatSession, Context};
pub use ids::{SpanId, TraceId};
pub use init::{init, init_with_exporters};
pub use model::{FinishedSpan, Value};
pub use pipeline::Guard;
/// Exact decimal money (re-exported from `rust_decimal`).
pub use rust_decimal::Decimal;
pub use span::{is_installed, ChatSpan, SpanBuilder};
pub use vocab::{Role, SpanKind, TemplateCategory};

/// The `tracing` bridge as a layer for your own subscriber: every
/// `tracing` span (yours and your libraries') exported by chatobs, in the
/// same traces as the chat spans. [`init`] installs it itself when the
/// application has no global subscriber; add this to your
/// `tracing_subscriber::registry()` when you install one. Its filter follows
/// `[tracing] spans`. See [`bridge`] and "Your own tracing spans" above.
pub fn tracing_layer<S>() -> bridge::BridgeLayer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    chatobs_core::bridge::layer()
}

/// What `#[chat_span]` expands to. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::__chatobs_outcome as outcome;
    pub use crate::__chatobs_site as site;
    pub use crate::attrs::field;
    pub use crate::events::chat_event;
    pub use chatobs_core::span::{
        record_category, record_model, record_provider, record_response_model, record_role,
        record_step, record_step_static, record_tag, Builder, ChatSpan, Instrumented, NotResult,
        Outcome, ResultDebug, ResultDisplay, Site, SITE_FIELDS,
    };
    pub use tracing;
    pub use tracing_core;
}

/// Builds a `Site` in a `static` initializer (used by the macro).
#[doc(hidden)]
#[macro_export]
macro_rules! __chatobs_site {
    (name: $name:expr, level: $level:ident, role: $role:expr, kind: $kind:expr, category: $cat:expr,
     tags: $tags:expr, model: $model:expr, provider: $provider:expr $(,)?) => {{
        static __CHATOBS_CALLSITE: $crate::__private::tracing_core::callsite::DefaultCallsite =
            $crate::__private::tracing_core::callsite::DefaultCallsite::new(&__CHATOBS_META);
        static __CHATOBS_META: $crate::__private::tracing_core::Metadata<'static> =
            $crate::__private::tracing_core::Metadata::new(
                $name,
                "chatobs",
                $crate::__private::tracing_core::Level::$level,
                ::core::option::Option::Some(::core::file!()),
                ::core::option::Option::Some(::core::line!()),
                ::core::option::Option::Some(::core::module_path!()),
                $crate::__private::tracing_core::field::FieldSet::new(
                    $crate::__private::SITE_FIELDS,
                    $crate::__private::tracing_core::callsite::Identifier(&__CHATOBS_CALLSITE),
                ),
                $crate::__private::tracing_core::metadata::Kind::SPAN,
            );
        $crate::__private::Site {
            name: $name,
            meta: &__CHATOBS_META,
            callsite: &__CHATOBS_CALLSITE,
            role: $role,
            kind: $kind,
            category: $cat,
            tags: $tags,
            model: $model,
            provider: $provider,
        }
    }};
}

/// Computes the `Outcome` of a return value (autoref specialization: a
/// `Result` with a `Display` error, a `Result` with a `Debug` error, anything else).
#[doc(hidden)]
#[macro_export]
macro_rules! __chatobs_outcome {
    ($ret:expr) => {{
        #[allow(unused_imports)]
        use $crate::__private::{NotResult as _, ResultDebug as _, ResultDisplay as _};
        (&$ret).__chatobs_outcome()
    }};
}

/// Sets a vocabulary attribute on the current span. The key is checked at
/// compile time: only the keys below exist.
///
/// | key | value | exported as |
/// |---|---|---|
/// | `step` | anything `Display` | `conversation.step` |
/// | `tag` | anything `Display` (appends) | `tag.tags`, `logfire.tags` |
/// | `template_category` | `marketing` \| `utility` \| `authentication` \| `service`, or a [`crate::TemplateCategory`] value in parentheses | `template_category` |
/// | `role` | a [`crate::Role`] | `agent.role` |
/// | `model` | anything `Display` | `gen_ai.request.model` |
/// | `response_model` | anything `Display` | `gen_ai.response.model` |
/// | `provider` | anything `Display` | `gen_ai.provider.name` |
/// | `your.own.key` (dotted) | a string, bool, integer, float or an array of them ([`attrs::AttrValue`]) | as written, typed, redacted, bounded ([`attrs`]) |
///
/// A dotted key in one of chatobs' own namespaces (`chat.`, `gen_ai.`,
/// `conversation.`, ...) does not compile. Returns whether a span was recording.
///
/// ```
/// # use chatobs_runtime::{chat_span, record};
/// #[chat_span(role = "orchestrator")]
/// fn decide(intent: &str) -> &'static str {
///     let step = if intent == "buy" { "sales" } else { "pqr" };
///     record!(step = step);
///     record!(tag = "routed");
///     record!(template_category = marketing);
///     let decided = chatobs_runtime::TemplateCategory::Utility;
///     record!(template_category = (decided)); // a value known only at run time
///     step
/// }
/// # decide("buy");
/// ```
#[macro_export]
macro_rules! record {
    (step = $v:literal) => { $crate::__private::record_step_static($v) };
    (step = $v:expr) => { $crate::__private::record_step(&$v) };
    (tag = $v:expr) => { $crate::__private::record_tag(&$v) };
    (template_category = marketing) => { $crate::__private::record_category($crate::vocab::TemplateCategory::Marketing) };
    (template_category = utility) => { $crate::__private::record_category($crate::vocab::TemplateCategory::Utility) };
    (template_category = authentication) => { $crate::__private::record_category($crate::vocab::TemplateCategory::Authentication) };
    (template_category = service) => { $crate::__private::record_category($crate::vocab::TemplateCategory::Service) };
    (template_category = ($v:expr)) => { $crate::__private::record_category($v) };
    (template_category = $other:tt) => {
        ::core::compile_error!(::core::concat!("unknown template_category `", ::core::stringify!($other), "`: expected one of marketing, utility, authentication, service, or a TemplateCategory value in parentheses"))
    };
    (role = $v:expr) => { $crate::__private::record_role($v) };
    (model = $v:expr) => { $crate::__private::record_model(&$v) };
    (response_model = $v:expr) => { $crate::__private::record_response_model(&$v) };
    (provider = $v:expr) => { $crate::__private::record_provider(&$v) };
    (chat $(. $rest:ident)+ = $v:expr) => {
        ::core::compile_error!(::core::concat!("`chat", $(".", ::core::stringify!($rest),)+ "` is in the `chat` namespace, which chatobs writes itself: use one of record!'s own keys (step, tag, template_category, role, model, response_model, provider) or a key of your own namespace"))
    };
    (chatobs $(. $rest:ident)+ = $v:expr) => {
        ::core::compile_error!(::core::concat!("`chatobs", $(".", ::core::stringify!($rest),)+ "` is in the `chatobs` namespace, which chatobs writes itself: use one of record!'s own keys (step, tag, template_category, role, model, response_model, provider) or a key of your own namespace"))
    };
    (gen_ai $(. $rest:ident)+ = $v:expr) => {
        ::core::compile_error!(::core::concat!("`gen_ai", $(".", ::core::stringify!($rest),)+ "` is in the `gen_ai` namespace, which chatobs writes itself: use one of record!'s own keys (step, tag, template_category, role, model, response_model, provider) or a key of your own namespace"))
    };
    (agent $(. $rest:ident)+ = $v:expr) => {
        ::core::compile_error!(::core::concat!("`agent", $(".", ::core::stringify!($rest),)+ "` is in the `agent` namespace, which chatobs writes itself: use one of record!'s own keys (step, tag, template_category, role, model, response_model, provider) or a key of your own namespace"))
    };
    (conversation $(. $rest:ident)+ = $v:expr) => {
        ::core::compile_error!(::core::concat!("`conversation", $(".", ::core::stringify!($rest),)+ "` is in the `conversation` namespace, which chatobs writes itself: use one of record!'s own keys (step, tag, template_category, role, model, response_model, provider) or a key of your own namespace"))
    };
    (session $(. $rest:ident)+ = $v:expr) => {
        ::core::compile_error!(::core::concat!("`session", $(".", ::core::stringify!($rest),)+ "` is in the `session` namespace, which chatobs writes itself: use one of record!'s own keys (step, tag, template_category, role, model, response_model, provider) or a key of your own namespace"))
    };
    (openinference $(. $rest:ident)+ = $v:expr) => {
        ::core::compile_error!(::core::concat!("`openinference", $(".", ::core::stringify!($rest),)+ "` is in the `openinference` namespace, which chatobs writes itself: use one of record!'s own keys (step, tag, template_category, role, model, response_model, provider) or a key of your own namespace"))
    };
    (llm $(. $rest:ident)+ = $v:expr) => {
        ::core::compile_error!(::core::concat!("`llm", $(".", ::core::stringify!($rest),)+ "` is in the `llm` namespace, which chatobs writes itself: use one of record!'s own keys (step, tag, template_category, role, model, response_model, provider) or a key of your own namespace"))
    };
    (messaging $(. $rest:ident)+ = $v:expr) => {
        ::core::compile_error!(::core::concat!("`messaging", $(".", ::core::stringify!($rest),)+ "` is in the `messaging` namespace, which chatobs writes itself: use one of record!'s own keys (step, tag, template_category, role, model, response_model, provider) or a key of your own namespace"))
    };
    (tag $(. $rest:ident)+ = $v:expr) => {
        ::core::compile_error!(::core::concat!("`tag", $(".", ::core::stringify!($rest),)+ "` is in the `tag` namespace, which chatobs writes itself: use one of record!'s own keys (step, tag, template_category, role, model, response_model, provider) or a key of your own namespace"))
    };
    (logfire $(. $rest:ident)+ = $v:expr) => {
        ::core::compile_error!(::core::concat!("`logfire", $(".", ::core::stringify!($rest),)+ "` is in the `logfire` namespace, which chatobs writes itself: use one of record!'s own keys (step, tag, template_category, role, model, response_model, provider) or a key of your own namespace"))
    };
    (eval $(. $rest:ident)+ = $v:expr) => {
        ::core::compile_error!(::core::concat!("`eval", $(".", ::core::stringify!($rest),)+ "` is in the `eval` namespace, which chatobs writes itself: use one of record!'s own keys (step, tag, template_category, role, model, response_model, provider) or a key of your own namespace"))
    };
    (feedback $(. $rest:ident)+ = $v:expr) => {
        ::core::compile_error!(::core::concat!("`feedback", $(".", ::core::stringify!($rest),)+ "` is in the `feedback` namespace, which chatobs writes itself: use one of record!'s own keys (step, tag, template_category, role, model, response_model, provider) or a key of your own namespace"))
    };
    (input $(. $rest:ident)+ = $v:expr) => {
        ::core::compile_error!(::core::concat!("`input", $(".", ::core::stringify!($rest),)+ "` is in the `input` namespace, which chatobs writes itself: use one of record!'s own keys (step, tag, template_category, role, model, response_model, provider) or a key of your own namespace"))
    };
    (output $(. $rest:ident)+ = $v:expr) => {
        ::core::compile_error!(::core::concat!("`output", $(".", ::core::stringify!($rest),)+ "` is in the `output` namespace, which chatobs writes itself: use one of record!'s own keys (step, tag, template_category, role, model, response_model, provider) or a key of your own namespace"))
    };
    ($first:ident $(. $rest:ident)+ = $v:expr) => {
        $crate::attrs::set_checked(
            ::std::borrow::Cow::Borrowed(::core::concat!(::core::stringify!($first), $(".", ::core::stringify!($rest)),+)),
            &$v,
        )
    };
    ($other:ident = $v:expr) => {
        ::core::compile_error!(::core::concat!("unknown key `", ::core::stringify!($other), "` for record!: expected one of step, tag, template_category, role, model, response_model, provider"))
    };
}
