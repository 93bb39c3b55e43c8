//! Cost events: how budgets and metrics observe cost without cost knowing them.
//!
//! Every recording function of this crate ([`super::record_llm_call`],
//! [`super::price_outbound`], [`super::reconcile`], [`super::close_session`])
//! calls the registered listeners once, on the caller's thread, after the
//! figures are on the span and in the conversation's ledger. With no
//! listener registered this costs one atomic load.
//!
//! ```
//! use chatobs_runtime::cost::{self, CostEvent, CostEventKind};
//! let id = cost::on_cost(std::sync::Arc::new(|e: &CostEvent<'_>| {
//!     if let CostEventKind::LlmCall { cost, .. } = &e.kind {
//!         let _ = cost.total; // a metric, a budget rule, ...
//!     }
//! }));
//! cost::remove_cost_listener(id);
//! ```

use super::{LlmCost, Reconciliation, Totals, Usage, WhatsAppCharge};
use crate::context::ChatSession;
use crate::ids::{SpanId, TraceId};
use crate::vocab::Role;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What was recorded.
#[derive(Debug)]
#[non_exhaustive]
pub enum CostEventKind<'a> {
    /// One LLM call was priced.
    LlmCall {
        /// `chat`, `text_completion`, ...
        operation: &'a str,
        /// The provider, when known.
        provider: Option<&'a str>,
        /// The model asked for.
        model: &'a str,
        /// What the call used.
        usage: &'a Usage,
        /// What it cost.
        cost: &'a LlmCost,
    },
    /// An LLM call's answer carried no usage: it could not be priced.
    LlmUsageMissing {
        /// `chat`, `text_completion`, ...
        operation: &'a str,
        /// The provider, when known.
        provider: Option<&'a str>,
        /// The model asked for.
        model: &'a str,
    },
    /// One outbound WhatsApp message was priced.
    WhatsApp {
        /// The charge.
        charge: &'a WhatsAppCharge,
    },
    /// A status webhook's pricing was applied to an estimate.
    Reconciled {
        /// The reconciliation.
        reconciliation: &'a Reconciliation,
    },
    /// A conversation's totals shared across processes after one of this
    /// process's additions reached the store ([`crate::shared`]): `totals`
    /// are the shared ones. Emitted on the store's thread, maybe late (after
    /// an outage, when the addition is replayed); the event that priced the
    /// call or message came first, without totals.
    SharedTotals,
    /// The conversation was closed (its ledger is forgotten).
    Closed {
        /// Its final totals.
        totals: &'a Totals,
    },
}

/// One cost event, as listeners see it.
#[derive(Debug)]
pub struct CostEvent<'a> {
    /// What was recorded.
    pub kind: CostEventKind<'a>,
    /// The conversation, when one is current (or being closed).
    pub session: Option<&'a ChatSession>,
    /// The conversation's totals just before and just after this record,
    /// taken under the ledger's own lock (so exactly one record crosses any
    /// threshold, even with concurrent calls of one conversation).
    pub totals: Option<(&'a Totals, &'a Totals)>,
    /// The role of the current span, when it is being recorded.
    pub role: Option<Role>,
    /// The current trace (zero when none).
    pub trace_id: TraceId,
    /// The current span (zero when none).
    pub span_id: SpanId,
}

/// A cost listener.
pub type CostListener = Arc<dyn Fn(&CostEvent<'_>) + Send + Sync>;

/// Identifies a registered listener (for [`remove_cost_listener`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

type List = Vec<(u64, CostListener)>;

// The list is replaced on (rare) registration and read with one atomic load;
// replaced lists are kept alive (leaked) so a reader never sees freed memory.
static LISTENERS: AtomicPtr<List> = AtomicPtr::new(std::ptr::null_mut());
static WRITE: Mutex<()> = Mutex::new(());
static NEXT: AtomicU64 = AtomicU64::new(1);

fn current() -> Option<&'static List> {
    // SAFETY: only leaked, never freed `&'static List`s are stored.
    unsafe { LISTENERS.load(Ordering::Acquire).as_ref() }.filter(|l| !l.is_empty())
}

fn replace(f: impl FnOnce(&mut List)) {
    let _w = WRITE.lock().unwrap_or_else(|e| e.into_inner());
    let mut next: List = current().cloned().unwrap_or_default();
    f(&mut next);
    let leaked: &'static mut List = Box::leak(Box::new(next));
    LISTENERS.store(leaked, Ordering::Release);
}

/// Registers `listener`: it runs after every cost record, on the caller's
/// thread (keep it short and never block: queue slow work).
pub fn on_cost(listener: CostListener) -> ListenerId {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    replace(|l| l.push((id, listener)));
    ListenerId(id)
}

/// Removes a listener registered with [`on_cost`].
pub fn remove_cost_listener(id: ListenerId) {
    replace(|l| l.retain(|(i, _)| *i != id.0));
}

/// Whether any listener is registered (one atomic load).
#[inline]
pub(crate) fn has_listeners() -> bool {
    current().is_some()
}

/// Calls every listener (a panicking listener is contained).
pub(crate) fn emit(ev: &CostEvent<'_>) {
    let Some(list) = current() else { return };
    for (_, l) in list {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l(ev)));
    }
}

/// The role, trace and span of the current span.
pub(crate) fn current_ids() -> (Option<Role>, TraceId, SpanId) {
    let (trace, span) = chatobs_core::current::ids().unwrap_or((TraceId(0), SpanId(0)));
    let role = chatobs_core::current::with(|r| r.role()).flatten();
    (role, trace, span)
}
