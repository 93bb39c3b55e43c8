//! The per-conversation ledger: running totals written on every span of the session.

use crate::context::ChatSession;
use crate::model::{KeyValue, Value};
use crate::vocab;
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

/// A conversation's running totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// LLM part, USD.
    pub llm_usd: Decimal,
    /// WhatsApp part, USD.
    pub whatsapp_usd: Decimal,
    /// What evaluating this conversation cost (LLM judges, role `evaluator`),
    /// kept apart: it is not part of [`Totals::total_usd`].
    pub evaluation_usd: Decimal,
    /// Whether some call or message could not be priced (the totals are then a lower bound).
    pub incomplete: bool,
    /// LLM calls recorded.
    pub llm_calls: u64,
    /// Inbound messages recorded.
    pub messages_inbound: u64,
    /// Outbound messages priced.
    pub messages_outbound: u64,
    /// First activity recorded.
    pub first_activity: Option<SystemTime>,
}

impl Totals {
    /// LLM + WhatsApp.
    pub fn total_usd(&self) -> Decimal {
        self.llm_usd + self.whatsapp_usd
    }

    pub(crate) fn attributes(&self) -> [KeyValue; 5] {
        [
            (
                Cow::Borrowed(vocab::CHAT_SESSION_COST_EVALUATION_USD),
                Value::Decimal(self.evaluation_usd),
            ),
            (
                Cow::Borrowed(vocab::CHAT_SESSION_COST_USD),
                Value::Decimal(self.total_usd()),
            ),
            (
                Cow::Borrowed(vocab::CHAT_SESSION_COST_LLM_USD),
                Value::Decimal(self.llm_usd),
            ),
            (
                Cow::Borrowed(vocab::CHAT_SESSION_COST_WHATSAPP_USD),
                Value::Decimal(self.whatsapp_usd),
            ),
            (
                Cow::Borrowed(vocab::CHAT_SESSION_COST_INCOMPLETE),
                Value::Bool(self.incomplete),
            ),
        ]
    }
}

/// One conversation's ledger.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    totals: Mutex<Totals>,
    last_touch: Mutex<Option<SystemTime>>,
}

impl Ledger {
    pub(crate) fn update(&self, f: impl FnOnce(&mut Totals)) {
        let now = SystemTime::now();
        {
            let mut t = self.totals.lock().unwrap_or_else(|e| e.into_inner());
            t.first_activity.get_or_insert(now);
            f(&mut t);
        }
        *self.last_touch.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
    }
    pub(crate) fn totals(&self) -> Totals {
        self.totals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    fn last_touch(&self) -> SystemTime {
        self.last_touch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
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
            ages.select_nth_unstable_by_key(n - 1, |(t, _)| *t);
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
    session.set_end_hook(end_hook, || l.clone());
    l
}

/// Forgets the ledger of a closed conversation (a later one with the same id starts at zero).
pub(crate) fn forget(session: &ChatSession) {
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(session.id());
}

fn end_hook(state: &(dyn std::any::Any + Send + Sync), attrs: &mut Vec<KeyValue>) {
    let Some(l) = state.downcast_ref::<Ledger>() else {
        return;
    };
    let t = l
        .totals
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .attributes();
    attrs.reserve(5);
    for (k, v) in t {
        match attrs.iter_mut().find(|(x, _)| *x == k) {
            Some(slot) => slot.1 = v,
            None => attrs.push((k, v)),
        }
    }
}
