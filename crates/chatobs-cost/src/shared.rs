//! Conversation totals shared across processes: the seam a state store
//! plugs into (`chatobs-state` implements it on Redis).
//!
//! Without a shared ledger (the default), a conversation's running total
//! lives in this process. With one ([`set_shared`]), every priced event also
//! adds its amounts to the conversation's shared totals, in one atomic step
//! of the store, and the cost listeners (the alert engine among them) get
//! the shared totals before and after that step. So the replica or service
//! whose addition crosses a per-conversation budget is the one that fires,
//! exactly once across all of them (an atomic addition crosses a line once).
//!
//! Money crosses the seam as integer picodollars (`i64`, up to about
//! $9.2 million per conversation): exact, never a float. An amount that is
//! not a whole number of picodollars, or does not fit, is refused (the
//! conversation's totals are marked incomplete with
//! [`crate::ledger::reason::SHARED_TOTAL_PRECISION`]), never rounded.
//!
//! When the store fails or is slow, the event is counted ([`stats`]), the
//! listeners get this process's own totals for it, and the store is
//! expected to converge later (see `chatobs-state`): a priced event never
//! waits longer than the store's own timeout.

use crate::ledger::Totals;
use rust_decimal::Decimal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Picodollars per dollar.
pub const PICO: i64 = 1_000_000_000_000;

/// What one priced event adds to a conversation (picodollars, counts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    /// LLM part.
    pub llm_pico: i64,
    /// WhatsApp part (signed: a reconciliation may lower it).
    pub whatsapp_pico: i64,
    /// Evaluation part.
    pub evaluation_pico: i64,
    /// LLM calls.
    pub llm_calls: i64,
    /// Inbound messages.
    pub messages_in: i64,
    /// Outbound messages.
    pub messages_out: i64,
    /// Turns (the store counts them: an outbound message after an inbound one).
    pub turns: i64,
}

/// A conversation's shared totals after an addition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Parts {
    /// LLM part.
    pub llm_pico: i64,
    /// WhatsApp part.
    pub whatsapp_pico: i64,
    /// Evaluation part.
    pub evaluation_pico: i64,
    /// LLM calls.
    pub llm_calls: i64,
    /// Inbound messages.
    pub messages_in: i64,
    /// Outbound messages.
    pub messages_out: i64,
    /// Turns (the store counts them: an outbound message after an inbound one).
    pub turns: i64,
}

impl Parts {
    /// USD of a picodollar count.
    pub fn usd(pico: i64) -> Decimal {
        Decimal::from_i128_with_scale(i128::from(pico), 12).normalize()
    }
}

/// Where conversations' totals are shared. Implementations bound every call
/// by their own timeout and return an error rather than wait longer.
pub trait SharedLedger: Send + Sync + 'static {
    /// Adds `delta` to `conversation`'s totals in one atomic step and
    /// returns the totals after it. `op` identifies this addition: adding
    /// the same `op` twice (a retry) must count once.
    fn add(&self, conversation: &str, op: u128, delta: Delta) -> Result<Parts, String>;
    /// The totals of `conversation` as the store has them.
    fn get(&self, conversation: &str) -> Result<Parts, String>;
    /// [`SharedLedger::add`] off the caller's path: `then` runs with the
    /// outcome when the store has answered (on the store's own thread, maybe
    /// much later after an outage). What priced events use. The default
    /// runs `add` on the caller's thread.
    fn add_then(&self, conversation: &str, op: u128, delta: Delta, then: Then) {
        then(self.add(conversation, op, delta))
    }

    /// Runs `job` off the caller's path, in order with the other work queued
    /// here (window updates of inbound messages use it). The job may call
    /// this store's waiting methods. The default runs it on the caller's thread.
    fn run_off_path(&self, job: Job) {
        job()
    }

    // ---- once per conversation -------------------------------------------------------------

    /// Sets `flag` of `conversation` if no process set it before (atomically),
    /// then runs `then` with whether this call was the one that set it. What
    /// the alert engine uses so a per-conversation alert fires once across
    /// processes, even when an addition is replayed. Off the caller's path
    /// like [`SharedLedger::add_then`]. The default says "not supported"
    /// (the caller then decides in its own process).
    fn claim_once_then(&self, conversation: &str, flag: &str, then: OnceThen) {
        let _ = (conversation, flag);
        then(Err(UNSUPPORTED.into()))
    }

    // ---- conversation lifecycle (see crate::conversation) ------------------------------------

    /// The open conversation of `req.user`, or `req.candidate` opened now.
    /// One atomic step: two processes opening at once get the same id. An
    /// open conversation whose deadline has passed is claimed for closing
    /// and returned in [`Opened::expired`] (the caller emits its close);
    /// `req.extend` (an inbound message) moves the deadline to
    /// `req.deadline_ms`.
    fn conversation_open(&self, req: &OpenRequest<'_>) -> Result<Opened, String> {
        let _ = req;
        Err(UNSUPPORTED.into())
    }

    /// [`SharedLedger::conversation_open`] off the caller's path: `then`
    /// runs with the answer (on the store's thread). What a message uses
    /// when this process already knows the user's open conversation (only
    /// the deadline has to move). The default runs it on the caller's thread.
    fn conversation_open_then(&self, req: &OpenRequest<'_>, then: OpenThen) {
        then(self.conversation_open(req))
    }

    /// The id of `user`'s open conversation, without opening one.
    fn conversation_find(&self, user: &str) -> Result<Option<String>, String> {
        let _ = user;
        Err(UNSUPPORTED.into())
    }

    /// Claims conversation `id` for closing: `Some` for exactly one caller
    /// across processes (with its record), `None` if it is closed already
    /// or unknown.
    fn conversation_close(&self, id: &str) -> Result<Option<ClosedRecord>, String> {
        let _ = id;
        Err(UNSUPPORTED.into())
    }

    /// Claims up to `max` conversations whose deadline is at or before
    /// `now_ms` (each is returned to one caller only).
    fn conversations_due(&self, now_ms: i64, max: usize) -> Result<Vec<ClosedRecord>, String> {
        let _ = (now_ms, max);
        Err(UNSUPPORTED.into())
    }

    /// Sets the outcome reported when conversation `id` closes.
    fn conversation_outcome(&self, id: &str, outcome: &str) -> Result<(), String> {
        let _ = (id, outcome);
        Err(UNSUPPORTED.into())
    }

    // ---- WhatsApp windows and monthly counters (see crate::whatsapp) ------------------------

    /// The window state of `pair` (JSON, written by the pricer) and its
    /// version (0 when there is none).
    fn window_load(&self, pair: &str) -> Result<(u64, Option<String>), String> {
        let _ = pair;
        Err(UNSUPPORTED.into())
    }

    /// Stores `state` for `pair` if its version is still `version`
    /// (compare-and-set), and in the same atomic step adds one to the
    /// monthly counter `count` (returning its new value). On a conflict
    /// nothing is written and the current state comes back.
    fn window_store(
        &self,
        pair: &str,
        version: u64,
        state: &str,
        count: Option<&str>,
    ) -> Result<WindowStored, String> {
        let _ = (pair, version, state, count);
        Err(UNSUPPORTED.into())
    }
}

/// What a store answers for an operation it does not implement.
pub const UNSUPPORTED: &str = "not supported by this state store";

/// Work run off the caller's path ([`SharedLedger::run_off_path`]).
pub type Job = Box<dyn FnOnce() + Send>;

/// What runs when an off-path open has its answer.
pub type OpenThen = Box<dyn FnOnce(Result<Opened, String>) + Send>;

/// What runs when a once-claim has its answer.
pub type OnceThen = Box<dyn FnOnce(Result<bool, String>) + Send>;

/// [`SharedLedger::conversation_open`]'s question.
#[derive(Clone, Copy, Debug)]
pub struct OpenRequest<'a> {
    /// The user's stable key (an exported id).
    pub user: &'a str,
    /// The id to use if a conversation is opened now.
    pub candidate: &'a str,
    /// Now (ms since the epoch).
    pub now_ms: i64,
    /// When the conversation closes without further inbound messages.
    pub deadline_ms: i64,
    /// Whether this message moves the deadline (an inbound message does,
    /// an outbound one does not).
    pub extend: bool,
}

/// [`SharedLedger::conversation_open`]'s answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The open conversation's id.
    pub id: String,
    /// When it opened (ms).
    pub opened_ms: i64,
    /// Whether this call opened it.
    pub new: bool,
    /// An expired conversation of the same user this call claimed: close it.
    pub expired: Option<ClosedRecord>,
}

/// A conversation claimed for closing, as the store has it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClosedRecord {
    /// Conversation id.
    pub id: String,
    /// The user's stable key.
    pub user: String,
    /// Opened (ms).
    pub opened_ms: i64,
    /// Last message (ms).
    pub last_ms: i64,
    /// The outcome set by the bot.
    pub outcome: Option<String>,
    /// The shared totals.
    pub parts: Parts,
}

/// [`SharedLedger::window_store`]'s answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WindowStored {
    /// Written; the counter's new value when one was asked for.
    Stored {
        /// The new version.
        version: u64,
        /// The monthly counter after the addition.
        count: Option<u64>,
    },
    /// Another process wrote first: its version and state.
    Conflict {
        /// The current version.
        version: u64,
        /// The current state.
        state: Option<String>,
    },
}

/// What runs when a shared addition has its answer.
pub type Then = Box<dyn FnOnce(Result<Parts, String>) + Send>;

static SHARED: RwLock<Option<Arc<dyn SharedLedger>>> = RwLock::new(None);
static SHARED_OK: AtomicU64 = AtomicU64::new(0);
static SHARED_FAILED: AtomicU64 = AtomicU64::new(0);
static SHARED_REFUSED: AtomicU64 = AtomicU64::new(0);

/// Shares conversations' totals through `ledger` (or, with `None`, keeps
/// them in this process).
pub fn set_shared(ledger: Option<Arc<dyn SharedLedger>>) {
    *SHARED.write().unwrap_or_else(|e| e.into_inner()) = ledger;
}

/// The shared store, if one is set.
pub fn shared() -> Option<Arc<dyn SharedLedger>> {
    SHARED.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The shared totals of the conversation `id` (`None` without a shared ledger).
pub fn shared_totals(id: &str) -> Option<Result<Parts, String>> {
    shared().map(|s| s.get(id))
}

/// How the shared ledger has fared in this process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SharedStats {
    /// Additions the store took.
    pub added: u64,
    /// Additions that failed or timed out (the listeners got local totals).
    pub failed: u64,
    /// Amounts refused: not a whole number of picodollars, or too large.
    pub refused: u64,
}

/// Counters of the shared ledger.
pub fn stats() -> SharedStats {
    SharedStats {
        added: SHARED_OK.load(Ordering::Relaxed),
        failed: SHARED_FAILED.load(Ordering::Relaxed),
        refused: SHARED_REFUSED.load(Ordering::Relaxed),
    }
}

/// `d` as whole picodollars, if it is one.
pub fn to_pico(d: Decimal) -> Option<i64> {
    let p = d.checked_mul(Decimal::from(PICO))?;
    if !p.fract().is_zero() {
        return None;
    }
    use rust_decimal::prelude::ToPrimitive;
    p.to_i64()
}

/// What `after` added to `before`, in picodollars; `None` when an amount is
/// not representable.
pub(crate) fn delta(before: &Totals, after: &Totals) -> Option<Delta> {
    let d = |a: Decimal, b: Decimal| to_pico(a.checked_sub(b)?);
    Some(Delta {
        llm_pico: d(after.llm_usd, before.llm_usd)?,
        whatsapp_pico: d(after.whatsapp_usd, before.whatsapp_usd)?,
        evaluation_pico: d(after.evaluation_usd, before.evaluation_usd)?,
        llm_calls: i64::try_from(after.llm_calls.saturating_sub(before.llm_calls)).ok()?,
        messages_in: i64::try_from(
            after
                .messages_inbound
                .saturating_sub(before.messages_inbound),
        )
        .ok()?,
        messages_out: i64::try_from(
            after
                .messages_outbound
                .saturating_sub(before.messages_outbound),
        )
        .ok()?,
        turns: i64::try_from(after.turns.saturating_sub(before.turns)).ok()?,
    })
}

/// Totals `local` with its money parts replaced by the shared ones.
pub(crate) fn with_parts(local: &Totals, p: Parts) -> Totals {
    let mut t = local.clone();
    t.llm_usd = Parts::usd(p.llm_pico);
    t.whatsapp_usd = Parts::usd(p.whatsapp_pico);
    t.evaluation_usd = Parts::usd(p.evaluation_pico);
    t.llm_calls = u64::try_from(p.llm_calls).unwrap_or(0);
    t.messages_inbound = u64::try_from(p.messages_in).unwrap_or(0);
    t.messages_outbound = u64::try_from(p.messages_out).unwrap_or(0);
    t.turns = u64::try_from(p.turns).unwrap_or(0);
    t
}

/// Shares one event's addition off the caller's path: when the store
/// answers, the listeners get a [`crate::CostEventKind::SharedTotals`] event
/// with the shared totals before and after it (the alert engine checks the
/// per-conversation rules on those). Returns false when there is nothing to
/// share (no amount) or the amount was refused.
pub(crate) fn share(
    session: &crate::context::ChatSession,
    before: &Totals,
    after: &Totals,
    ids: (
        Option<crate::vocab::Role>,
        crate::ids::TraceId,
        crate::ids::SpanId,
    ),
) -> bool {
    let Some(s) = shared() else {
        return false;
    };
    let Some(d) = delta(before, after) else {
        SHARED_REFUSED.fetch_add(1, Ordering::Relaxed);
        return false;
    };
    if d == Delta::default() {
        return false;
    }
    let (session, before, after) = (session.clone(), before.clone(), after.clone());
    let id = session.id().to_owned();
    s.add_then(
        &id,
        op_id(),
        d,
        Box::new(move |r| match r {
            Ok(p) => {
                SHARED_OK.fetch_add(1, Ordering::Relaxed);
                let b = Parts {
                    llm_pico: p.llm_pico.saturating_sub(d.llm_pico),
                    whatsapp_pico: p.whatsapp_pico.saturating_sub(d.whatsapp_pico),
                    evaluation_pico: p.evaluation_pico.saturating_sub(d.evaluation_pico),
                    llm_calls: p.llm_calls.saturating_sub(d.llm_calls),
                    messages_in: p.messages_in.saturating_sub(d.messages_in),
                    messages_out: p.messages_out.saturating_sub(d.messages_out),
                    turns: p.turns.saturating_sub(d.turns),
                };
                let (b, a) = (with_parts(&before, b), with_parts(&after, p));
                crate::events::emit(&crate::CostEvent {
                    kind: crate::CostEventKind::SharedTotals,
                    session: Some(&session),
                    totals: Some((&b, &a)),
                    role: ids.0,
                    trace_id: ids.1,
                    span_id: ids.2,
                });
            }
            Err(_) => {
                SHARED_FAILED.fetch_add(1, Ordering::Relaxed);
            }
        }),
    );
    true
}

/// A random 128-bit id for one addition (retries of it count once).
fn op_id() -> u128 {
    let (t, s) = (
        chatobs_core::ids::new_trace_id(),
        chatobs_core::ids::new_span_id(),
    );
    t.0 ^ u128::from(s.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picodollars_are_exact_or_refused() {
        assert_eq!(to_pico(Decimal::new(27, 5)), Some(270_000_000));
        assert_eq!(to_pico(Decimal::new(1, 13)), None, "below a picodollar");
        assert_eq!(
            to_pico(Decimal::from(10_000_000)),
            None,
            "too large for i64"
        );
        assert_eq!(Parts::usd(270_000_000), Decimal::new(27, 5));
        assert_eq!(Parts::usd(-5), Decimal::new(-5, 12));
    }
}
