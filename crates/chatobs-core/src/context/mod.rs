//! Conversation identity and context propagation.
//!
//! A [`ChatSession`] is the conversation: every span started while it is
//! current carries its id under the three names backends read (see
//! [`crate::vocab`]), and every log line written inside it carries it too.
//! The current session and span travel with the code that runs them:
//! across `.await` (the scope is re-entered on every poll), into tasks
//! started with [`spawn`] / [`spawn_blocking`] or wrapped with
//! [`Context::wrap`], and to other services through W3C `traceparent` and
//! `baggage` headers ([`Context::inject`], [`Context::extract`]).

mod frame;
mod scope;
mod session;
mod w3c;

pub(crate) use frame::{
    current_frame, replace_frame, session_from_ptr, Frame, FrameGuard, FLAG_REMOTE, FLAG_SAMPLED,
};
#[cfg(feature = "tokio")]
pub use scope::{spawn, spawn_blocking};
pub use scope::{spawn_thread, Context, WithContext};
pub use session::{keyed_hash, set_session_key, ChatSession, SESSION_KEY_ENV};
pub use w3c::{
    baggage_get, parse_traceparent, BAGGAGE, BAGGAGE_MAX_BYTES, BAGGAGE_MAX_ENTRIES,
    BAGGAGE_SESSION_KEY, TRACEPARENT,
};
