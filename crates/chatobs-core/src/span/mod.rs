//! The span path: what `#[chat_span]` and [`SpanBuilder`] create.
//!
//! # Design (why not tracing-opentelemetry)
//!
//! Measured on the 2-core reference machine (GUIDE section 4), bridging
//! `tracing` spans to OpenTelemetry through tracing-opentelemetry costs about
//! 3x a raw SDK span, and an unsampled span still costs 78% of a sampled one
//! because the layer builds everything before the sampler runs. chatobs
//! therefore owns its span path:
//!
//! * **Nothing installed**: one relaxed atomic load (is a sink installed?) and
//!   tracing's own callsite check (is any `tracing` subscriber interested?).
//!   The attribute expressions (`step = ...`, `capture(...)`) are not even
//!   evaluated.
//! * **Installed**: [`ChatSpan`] is one pointer to a small heap block
//!   (reused: a thread keeps the blocks of its ended spans for its next
//!   ones): ids from a per-thread wyrand, two clock reads from the CPU's
//!   time-stamp counter ([`crate::clock`], 8 ns where `SystemTime::now()`
//!   costs 26), static data (name, role, kind, category, tags) copied by
//!   reference from a `static` [`Site`] the macro generated. The sampler
//!   decides before anything else is built; a sampled span's record is a box
//!   the export thread handed back (reused with its attribute and event
//!   vectors), so in a steady state a span allocates nothing. Entering is one
//!   thread-local `Cell` swap per call (per poll for async fns).
//! * **End**: the boxed record is pushed onto this thread's lane, a bounded
//!   wait-free single-producer ring the export thread drains (see
//!   `span/sink.rs` for why a lane per thread); when the lane or the byte
//!   budget is full the span is dropped and counted (never blocks), and its
//!   record kept for the thread's next span. A background thread copies
//!   records into [`FinishedSpan`](crate::model::FinishedSpan)s (string keys,
//!   session attributes, tags arrays, into spans kept from its last batch),
//!   hands batches to the exporters and the records back to the lane they
//!   came from: it never frees a bot's memory, which with glibc's malloc
//!   would take the bot's arena lock. The conversion work the SDK does on
//!   the caller's thread happens here, off the request path. Spans of
//!   different threads reach the exporters in no fixed order.
//! * **Visible to `tracing`**: every `#[chat_span]` function also has a
//!   `tracing` callsite. When a `tracing` subscriber of yours is interested
//!   (a fmt layer, tokio-console, ...), a `tracing::Span` with the chat
//!   fields is created and entered too; chatobs' own log layer declines
//!   these callsites, so with only chatobs installed nobody pays the
//!   `tracing` registry (about 85 ns per span here).
//! * Logs written with `tracing` read the current chatobs frame for
//!   trace_id, span_id and the session id.

mod builder;
mod current_record;
mod future;
mod live;
mod outcome;
mod panic;
mod record;
mod sampler;
mod sink;
mod site;

pub use builder::SpanBuilder;
pub(crate) use current_record::with_current;
pub use current_record::{
    record_category, record_model, record_provider, record_response_model, record_role,
    record_step, record_step_static, record_tag,
};
pub use future::{Instrumented, Spanned};
pub use live::{Builder, ChatSpan};
pub use outcome::{NotResult, Outcome, ResultDebug, ResultDisplay};
pub(crate) use panic::install_panic_hook;
#[cfg(feature = "testing")]
pub(crate) use record::CAPTURED;
pub(crate) use record::{finish, prefetch_room, Record};
pub use record::{SessionEndHook, SessionEndWrite};
pub use sampler::{RootSampler, Sampler};
pub(crate) use sink::current_sink;
pub use sink::is_installed;
pub(crate) use sink::{install_sink, uninstall_sink, Sink};
pub use site::{Site, SITE_FIELDS};
