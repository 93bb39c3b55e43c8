//! The per-conversation ledger: running totals written on every span of the session.

use crate::context::ChatSession;
use crate::model::{KeyValue, Value};
use crate::money::{self, MoneyError};
use crate::vocab;
use chatobs_core::span::SessionEndHook;
use rust_decimal::Decimal;
use std::any::Any;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

/// Why a conversation's totals are incomplete ([`Totals::incomplete_reasons`],
/// `chat.session.cost_incomplete_reason`).
pub mod reason {
    /// An LLM call had no price (unknown model, or a component without a rate).
    pub const LLM_PRICE_UNKNOWN: &str = "llm_price_unknown";
    /// An LLM call's answer carried no usage (a stream cut before its usage
    /// chunk, an OpenAI stream without `include_usage`).
    pub const LLM_USAGE_MISSING: &str = "llm_usage_missing";
    /// An LLM call's exact cost did not fit a decimal ([`crate::LlmCost::overflow`]).
    pub const LLM_COST_OVERFLOW: &str = "llm_cost_overflow";
    /// A WhatsApp message had no rate, or Meta's category was unknown to the card.
    pub const WHATSAPP_PRICE_UNKNOWN: &str = "whatsapp_price_unknown";
    /// A reconciliation's difference did not fit a decimal.
    pub const WHATSAPP_COST_OVERFLOW: &str = "whatsapp_cost_overflow";
    /// The LLM part could not take an addition exactly (it kept its value).
    pub const LLM_TOTAL_OVERFLOW: &str = "llm_total_overflow";
    /// The WhatsApp part could not take an addition exactly (it kept its value).
    pub const WHATSAPP_TOTAL_OVERFLOW: &str = "whatsapp_total_overflow";
    /// The evaluation part could not take an addition exactly (it kept its value).
    pub const EVALUATION_TOTAL_OVERFLOW: &str = "evaluation_total_overflow";
    /// LLM + WhatsApp would not fit a decimal exactly (the addition was refused).
    pub const TOTAL_OVERFLOW: &str = "total_overflow";
    /// An amount was not a whole number of picodollars (or too large) to add
    /// to the conversation's shared totals ([`crate::shared`]).
    pub const SHARED_TOTAL_PRECISION: &str = "shared_total_precision";
}

/// A conversation's running totals.
///
/// The parts are kept so that [`Totals::total_usd`] is always exact: an
/// addition that would overflow a part or the total (or need more digits
/// than a decimal holds) is refused, the part keeps its value and the totals
/// are marked incomplete with the reason, never wrapped, saturated or rounded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// LLM part, USD.
    pub llm_usd: Decimal,
    /// WhatsApp part, USD.
    pub whatsapp_usd: Decimal,
    /// What evaluating this conversation cost (LLM judges, role `evaluator`),
    /// kept apart: it is not part of [`Totals::total_usd`].
    pub evaluation_usd: Decimal,
    /// Whether some call or message could not be priced, or some figure could
    /// not be added exactly (the totals are then a lower bound).
    pub incomplete: bool,
    /// Why the totals are incomplete, each reason once ([`reason`]).
    pub incomplete_reasons: Vec<&'static str>,
    /// LLM calls recorded.
    pub llm_calls: u64,
    /// Inbound messages recorded.
    pub messages_inbound: u64,
    /// Outbound messages priced.
    pub messages_outbound: u64,
    /// Turns: inbound messages followed by at least one outbound message
    /// (a user message the bot answered).
    pub turns: u64,
    /// Whether the last message counted was inbound (the next outbound
    /// completes a turn).
    pub awaiting_reply: bool,
    /// First activity recorded.
    pub first_activity: Option<SystemTime>,
}

impl Totals {
    /// LLM + WhatsApp. Exact for totals kept by this crate (see [`Totals`]);
    /// for parts set by hand that cannot be added exactly, the larger part (a
    /// lower bound): [`Totals::checked_total_usd`] says so.
    pub fn total_usd(&self) -> Decimal {
        self.checked_total_usd()
            .unwrap_or_else(|_| self.llm_usd.max(self.whatsapp_usd))
    }

    /// LLM + WhatsApp, or why it does not fit a decimal exactly.
    pub fn checked_total_usd(&self) -> Result<Decimal, MoneyError> {
        money::add(self.llm_usd, self.whatsapp_usd)
    }

    /// Counts an inbound message.
    pub(crate) fn count_inbound(&mut self) {
        // Saturating is honest for a count: u64::MAX messages cannot happen.
        self.messages_inbound = self.messages_inbound.saturating_add(1);
        self.awaiting_reply = true;
    }

    /// Counts an outbound message (completing a turn after an inbound one).
    pub(crate) fn count_outbound(&mut self) {
        self.messages_outbound = self.messages_outbound.saturating_add(1);
        if std::mem::take(&mut self.awaiting_reply) {
            self.turns = self.turns.saturating_add(1);
        }
    }

    /// Marks the totals incomplete for `reason` (kept once).
    pub(crate) fn mark_incomplete(&mut self, reason: &'static str) {
        self.incomplete = true;
        if !self.incomplete_reasons.contains(&reason) {
            self.incomplete_reasons.push(reason);
        }
    }

    /// Adds `d` to the LLM part; `Some(reason)` when refused.
    pub(crate) fn add_llm(&mut self, d: Decimal) -> Option<&'static str> {
        let r = match money::add(self.llm_usd, d) {
            Err(_) => Err(reason::LLM_TOTAL_OVERFLOW),
            Ok(v) => match money::add(v, self.whatsapp_usd) {
                Err(_) => Err(reason::TOTAL_OVERFLOW),
                Ok(_) => Ok(v),
            },
        };
        self.apply(r, |t, v| t.llm_usd = v)
    }

    /// Adds `d` (a charge, or a signed reconciliation difference) to the
    /// WhatsApp part; `Some(reason)` when refused.
    pub(crate) fn add_whatsapp(&mut self, d: Decimal) -> Option<&'static str> {
        let r = match money::add(self.whatsapp_usd, d) {
            Err(_) => Err(reason::WHATSAPP_TOTAL_OVERFLOW),
            Ok(v) => match money::add(self.llm_usd, v) {
                Err(_) => Err(reason::TOTAL_OVERFLOW),
                Ok(_) => Ok(v),
            },
        };
        self.apply(r, |t, v| t.whatsapp_usd = v)
    }

    /// Adds `d` to the evaluation part; `Some(reason)` when refused.
    pub(crate) fn add_evaluation(&mut self, d: Decimal) -> Option<&'static str> {
        let r = money::add(self.evaluation_usd, d).map_err(|_| reason::EVALUATION_TOTAL_OVERFLOW);
        self.apply(r, |t, v| t.evaluation_usd = v)
    }

    fn apply(
        &mut self,
        r: Result<Decimal, &'static str>,
        set: impl FnOnce(&mut Totals, Decimal),
    ) -> Option<&'static str> {
        match r {
            Ok(v) => {
                set(self, v);
                None
            }
            Err(reason) => {
                self.mark_incomplete(reason);
                Some(reason)
            }
        }
    }

    pub(crate) fn attributes(&self) -> Vec<KeyValue> {
        let mut v = Vec::with_capacity(6);
        self.write_attributes(&mut v);
        v
    }

    /// Sets the conversation's totals in `attrs` (replacing any already
    /// there): what every span of the conversation carries when it ends.
    pub(crate) fn write_attributes(&self, attrs: &mut Vec<KeyValue>) {
        // Every key below starts so: one pass tells whether any is already
        // set (then each is replaced in place), and usually none is.
        const PREFIX: &str = "chat.session.cost";
        let present = attrs.iter().any(|(k, _)| k.starts_with(PREFIX));
        attrs.reserve(6);
        // The value is made in its slot: a pair built first and then pushed
        // is copied with loads wider than the stores that just made it, and
        // those store-forwarding stalls were two thirds of this function
        // (perf annotate, `webhook`). A pushed `Bool` placeholder is
        // overwritten in place.
        #[inline(always)]
        fn put_in(
            attrs: &mut Vec<KeyValue>,
            present: bool,
            k: &'static str,
            v: impl FnOnce() -> Value,
        ) {
            debug_assert!(k.starts_with(PREFIX));
            if present {
                if let Some(slot) = attrs.iter_mut().find(|(x, _)| *x == k) {
                    slot.1 = v();
                    return;
                }
            }
            attrs.push((Cow::Borrowed(k), Value::Bool(false)));
            if let Some(slot) = attrs.last_mut() {
                slot.1 = v();
            }
        }
        put_in(
            attrs,
            present,
            vocab::CHAT_SESSION_COST_EVALUATION_USD,
            || Value::Decimal(self.evaluation_usd),
        );
        put_in(attrs, present, vocab::CHAT_SESSION_COST_USD, || {
            Value::Decimal(self.total_usd())
        });
        put_in(attrs, present, vocab::CHAT_SESSION_COST_LLM_USD, || {
            Value::Decimal(self.llm_usd)
        });
        put_in(
            attrs,
            present,
            vocab::CHAT_SESSION_COST_WHATSAPP_USD,
            || Value::Decimal(self.whatsapp_usd),
        );
        put_in(attrs, present, vocab::CHAT_SESSION_COST_INCOMPLETE, || {
            Value::Bool(self.incomplete)
        });
        if !self.incomplete_reasons.is_empty() {
            put_in(
                attrs,
                present,
                vocab::CHAT_SESSION_COST_INCOMPLETE_REASON,
                || Value::from(self.incomplete_reasons.join(",")),
            );
        }
    }
}

/// One conversation's ledger.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    state: Mutex<LedgerState>,
}

#[derive(Debug, Default)]
struct LedgerState {
    totals: Totals,
    /// The totals as spans show them, shared by every span that ends until
    /// they change (`None`: changed since, made again by the next span's end).
    shown: Option<Arc<Totals>>,
    last_touch: Option<SystemTime>,
}

impl Ledger {
    pub(crate) fn update(&self, f: impl FnOnce(&mut Totals)) {
        let now = SystemTime::now();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.totals.first_activity.get_or_insert(now);
        f(&mut s.totals);
        s.shown = None;
        s.last_touch = Some(now);
    }
    pub(crate) fn totals(&self) -> Totals {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .totals
            .clone()
    }
    /// The totals as they are now, for a span that ends: one shared copy
    /// until they change (a span's end takes a reference, not a copy).
    fn shown(&self) -> Arc<Totals> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let s = &mut *s;
        s.shown
            .get_or_insert_with(|| Arc::new(s.totals.clone()))
            .clone()
    }
    fn last_touch(&self) -> SystemTime {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last_touch
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// Links a session object to its ledger (sessions with the same id share one).
#[derive(Default)]
struct LedgerLink(OnceLock<Arc<Ledger>>);

/// Bounds of the ledger registry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LedgerBounds {
    pub max: usize,
    pub ttl: Duration,
}

static BOUNDS: RwLock<LedgerBounds> = RwLock::new(LedgerBounds {
    max: 100_000,
    ttl: Duration::from_secs(96 * 3600),
});

pub(crate) fn set_bounds(b: LedgerBounds) {
    *BOUNDS.write().unwrap_or_else(|e| e.into_inner()) = b;
}

fn registry() -> &'static Mutex<HashMap<String, Arc<Ledger>>> {
    static R: OnceLock<Mutex<HashMap<String, Arc<Ledger>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

fn registry_get(id: &str) -> Arc<Ledger> {
    let bounds = *BOUNDS.read().unwrap_or_else(|e| e.into_inner());
    let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(l) = reg.get(id) {
        return l.clone();
    }
    if reg.len() >= bounds.max.max(1) {
        let now = SystemTime::now();
        reg.retain(|_, l| {
            now.duration_since(l.last_touch())
                .map_or(true, |age| age <= bounds.ttl)
        });
        if reg.len() >= bounds.max.max(1) {
            let n = (reg.len() / 16).max(1);
            let mut ages: Vec<(SystemTime, String)> = reg
                .iter()
                .map(|(k, l)| (l.last_touch(), k.clone()))
                .collect();
            ages.select_nth_unstable_by_key(n.saturating_sub(1), |(t, _)| *t);
            for (_, k) in ages.into_iter().take(n) {
                reg.remove(&k);
            }
        }
    }
    let l = Arc::new(Ledger::default());
    reg.insert(id.to_owned(), l.clone());
    l
}

/// The ledger of `session`, attaching the end-of-span hook on first use.
pub(crate) fn ledger_of(session: &ChatSession) -> Arc<Ledger> {
    let link = session.extension::<LedgerLink>();
    let l = link.0.get_or_init(|| registry_get(session.id())).clone();
    session.set_end_hook(END_HOOK, || l.clone());
    l
}

/// Forgets the ledger of a closed conversation (a later one with the same id starts at zero).
pub(crate) fn forget(session: &ChatSession) {
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(session.id());
}

/// The conversation's running total on each of its spans, as it was when
/// the span ended: the span's thread takes the shared copy of the totals
/// (`take`), the export thread writes its attributes (`write`).
const END_HOOK: SessionEndHook = SessionEndHook {
    take: |state| {
        let l = state.downcast_ref::<Ledger>()?;
        Some(l.shown() as Arc<dyn Any + Send + Sync>)
    },
    write: |taken, attrs| {
        if let Some(t) = taken.downcast_ref::<Totals>() {
            t.write_attributes(attrs);
        }
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_replace_the_ones_a_span_already_has_and_keep_the_rest() {
        let t = Totals {
            llm_usd: Decimal::new(125, 5),
            whatsapp_usd: Decimal::new(25, 3),
            ..Totals::default()
        };
        let mut attrs: Vec<KeyValue> = vec![
            (Cow::Borrowed("chat.role"), Value::from("sales")),
            (
                Cow::Borrowed(vocab::CHAT_SESSION_COST_USD),
                Value::Decimal(Decimal::ONE),
            ),
        ];
        t.write_attributes(&mut attrs);
        let keys: Vec<&str> = attrs.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(
            keys,
            [
                "chat.role",
                vocab::CHAT_SESSION_COST_USD,
                vocab::CHAT_SESSION_COST_EVALUATION_USD,
                vocab::CHAT_SESSION_COST_LLM_USD,
                vocab::CHAT_SESSION_COST_WHATSAPP_USD,
                vocab::CHAT_SESSION_COST_INCOMPLETE,
            ]
        );
        // Replaced in place by the exact sum, not added twice.
        assert_eq!(attrs[1].1, Value::Decimal(Decimal::new(2625, 5)));
        // A span without any gets them appended, in the same order as attributes().
        let mut fresh = Vec::new();
        t.write_attributes(&mut fresh);
        assert_eq!(fresh, t.attributes());
        assert_eq!(fresh.len(), 5);
    }

    /// A span shows the running total of when it ended, though the export
    /// thread writes it later: what a span's end takes is a copy that later
    /// additions do not alter, shared by the spans that end before a change.
    #[test]
    fn a_span_shows_the_totals_of_when_it_ended() {
        let l = Ledger::default();
        let cost = |taken: &Arc<dyn Any + Send + Sync>| {
            let mut attrs = Vec::new();
            (END_HOOK.write)(&**taken, &mut attrs);
            attrs
                .into_iter()
                .find(|(k, _)| k == vocab::CHAT_SESSION_COST_USD)
                .map(|(_, v)| v)
        };
        l.update(|t| t.llm_usd = Decimal::new(125, 5));
        let first = (END_HOOK.take)(&l).expect("taken");
        let second = (END_HOOK.take)(&l).expect("taken");
        assert!(Arc::ptr_eq(&first, &second), "one copy until a change");
        l.update(|t| t.whatsapp_usd = Decimal::new(25, 3));
        let third = (END_HOOK.take)(&l).expect("taken");
        assert!(!Arc::ptr_eq(&first, &third));
        // Written after the addition, the first span still shows its own.
        assert_eq!(cost(&first), Some(Value::Decimal(Decimal::new(125, 5))));
        assert_eq!(cost(&third), Some(Value::Decimal(Decimal::new(2625, 5))));
        // Not a ledger: nothing taken.
        assert!((END_HOOK.take)(&7_u8).is_none());
    }
}
