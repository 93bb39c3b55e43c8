//! The WhatsApp pricer: prices inbound and outbound messages with the rate
//! card and the window state, and reconciles estimates with Meta's `pricing`
//! object.

use crate::money;
use crate::vocab::TemplateCategory;
use crate::Error;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

use super::categories::{Category, FreeBy, PricingModel, PricingType};
use super::rate_card::{Market, MarketIndex, RateCard};
use super::windows::{PairState, StateBounds, StateSnapshot, Store};
use super::{millis, month_of};

/// An inbound message from the user.
#[derive(Clone, Debug)]
pub struct Inbound<'a> {
    /// The business phone number (or phone number id).
    pub business: &'a str,
    /// The user's number (`wa_id`).
    pub user: &'a str,
    /// When it was received.
    pub at: OffsetDateTime,
    /// Whether the user came from a free entry point (click-to-WhatsApp ad, Page button).
    pub entry_point: bool,
}

/// An outbound message, priced at its delivery time.
#[derive(Clone, Debug)]
pub struct Outbound<'a> {
    /// The business phone number.
    pub business: &'a str,
    /// The recipient's number (its calling code picks the market).
    pub user: &'a str,
    /// Delivery time.
    pub at: OffsetDateTime,
    /// The template's category, or `None` for a free-form message.
    pub template: Option<TemplateCategory>,
    /// Whether this reply answers a user who came from a free entry point.
    pub entry_point: bool,
}

/// The price of one outbound message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WhatsAppCharge {
    /// USD.
    pub price: Decimal,
    /// The pricing model of the delivery time.
    pub pricing_model: PricingModel,
    /// Meta's pricing type.
    pub pricing_type: PricingType,
    /// The pricing category.
    pub category: Category,
    /// The market (`None`: no market of the card matches the number).
    pub market: Option<String>,
    /// Whether Meta bills the message.
    pub billable: bool,
    /// What made it free.
    pub free_by: Option<FreeBy>,
    /// The volume tier applied (its `from_message`).
    pub volume_tier_from: Option<u64>,
    /// Whether the price is known (false: no market or no rate for the date).
    pub price_known: bool,
    /// Something the bot should know (a free-form message outside the window).
    pub warning: Option<String>,
    /// Source of the rate.
    pub source: Option<String>,
    /// Delivery time (ms since epoch).
    pub at_ms: i64,
    /// The rate card in force at delivery (its name), when the card lists its cards.
    pub rate_card: Option<String>,
    /// The first day of the rate row used (`YYYY-MM-DD`), when a rate was used.
    pub rate_effective: Option<String>,
    /// The delivery lies past the quarter after the newest card chatobs
    /// knows: Meta may have published a newer card (see [`RateCard::stale_from`]).
    pub card_may_be_stale: bool,
}

/// A status webhook's `pricing` object.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct MetaPricing {
    /// Whether Meta bills the message.
    pub billable: bool,
    /// `CBP` or `PMP`.
    #[serde(default)]
    pub pricing_model: Option<String>,
    /// `regular`, `free_customer_service`, `free_entry_point`.
    #[serde(default, rename = "type")]
    pub pricing_type: Option<String>,
    /// Meta's category.
    pub category: String,
}

/// The outcome of [`WhatsAppPricer::reconcile`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconciliation {
    /// chatobs' estimate.
    pub estimate: Decimal,
    /// The figure implied by Meta's answer (`None`: its category is unknown to the card).
    pub meta: Option<Decimal>,
    /// `meta - estimate` (zero when unknown, or when it does not fit a
    /// decimal: then [`Reconciliation::incomplete_reason`] says so).
    pub difference: Decimal,
    /// Whether Meta's answer differs from the estimate (price, billable, category or type).
    pub differs: bool,
    /// Meta's category.
    pub meta_category: String,
    /// Meta's type.
    pub meta_type: Option<String>,
    /// `Some("overflow:difference")` when `meta - estimate` does not fit a
    /// decimal exactly ([`crate::money`]): the difference is then left out
    /// (0) and the conversation total is marked incomplete.
    pub incomplete_reason: Option<&'static str>,
}

/// What is left to price after the window decision.
enum Next {
    /// The charge is final (free, or rejected by Meta).
    Done,
    /// Priced with the card's rate for `category`, after counting the
    /// monthly counter `count` when there is one.
    Rate {
        category: Category,
        count: Option<(String, (i32, u8))>,
        /// Service under the billed-service rule: free within the monthly allowance.
        service_allowance: bool,
    },
}

static SHARED_FAILED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Window decisions this process made on its own state because the shared
/// store failed.
pub fn shared_window_failures() -> u64 {
    SHARED_FAILED.load(std::sync::atomic::Ordering::Relaxed)
}

fn shared_failed(err: &str) {
    if SHARED_FAILED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
        tracing::warn!(target: "chatobs::state", error = err, "the shared state store did not answer for a WhatsApp window: this process decides on its own window state (counted in shared_window_failures)");
    }
}

/// Prices WhatsApp messages and keeps the window state. Thread-safe.
pub struct WhatsAppPricer {
    card: RateCard,
    /// The card's markets by calling code (`card` never changes here).
    markets: MarketIndex,
    bounds: StateBounds,
    store: Arc<Mutex<Store>>,
    /// With a shared store: what this process knows of the pairs' shared state.
    shared: Arc<SharedWindows>,
}

/// With a shared store: the version and state this process last saw per
/// pair, and the inbound messages of this process whose window update is
/// still on its way to the store (an outbound message of the same pair
/// waits for them, at most [`INBOUND_WAIT`]).
#[derive(Default)]
struct SharedWindows {
    cache: Mutex<std::collections::HashMap<String, (u64, Option<String>)>>,
    pending: Mutex<std::collections::HashMap<String, u32>>,
    settled: std::sync::Condvar,
    ttl_ms: i64,
    max_pairs: usize,
}

impl SharedWindows {
    fn begin(&self, pair: &str) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let n = p.entry(pair.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
    }

    fn end(&self, pair: &str) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = p.get_mut(pair) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                p.remove(pair);
            }
        }
        self.settled.notify_all();
    }

    /// Waits (at most [`INBOUND_WAIT`]) until this process's inbound updates
    /// of `pair` are in the store; false when they are not.
    fn settle(&self, pair: &str) -> bool {
        let start = std::time::Instant::now();
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        while p.contains_key(pair) {
            let left = INBOUND_WAIT.saturating_sub(start.elapsed());
            if left.is_zero() {
                return false;
            }
            p = self
                .settled
                .wait_timeout(p, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Runs `step` on the pair's state held by a shared store, with
    /// compare-and-set so every process decides on the state the previous
    /// message left (the same decisions as one process replaying the
    /// timeline). Returns what `step` returned and the counter's value.
    fn with_pair<R>(
        &self,
        store: &dyn crate::shared::SharedLedger,
        pair: &str,
        t: i64,
        mut step: impl FnMut(&mut PairState) -> (R, Option<String>),
    ) -> Result<(R, Option<u64>), String> {
        // The state this process wrote last for the pair: usually still
        // current (one round trip); a conflict answers with the current one.
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(pair)
            .cloned();
        let (mut version, mut text) = match cached {
            Some(c) => c,
            None => store.window_load(pair)?,
        };
        // Bounded: each conflict means another process wrote in between.
        for _ in 0..16 {
            let mut s: PairState = text
                .as_deref()
                .and_then(|x| serde_json::from_str(x).ok())
                .unwrap_or_default();
            if s.last_activity.saturating_add(self.ttl_ms) < t {
                s = PairState::default();
            }
            if t > s.last_activity {
                s.last_activity = t;
            }
            let (r, count) = step(&mut s);
            let json = serde_json::to_string(&s).map_err(|e| e.to_string())?;
            let stored = store.window_store(pair, version, &json, count.as_deref());
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= self.max_pairs.max(1) {
                cache.clear();
            }
            match stored {
                Ok(crate::shared::WindowStored::Stored { count, version }) => {
                    cache.insert(pair.to_owned(), (version, Some(json)));
                    return Ok((r, count));
                }
                Ok(crate::shared::WindowStored::Conflict { version: v, state }) => {
                    cache.insert(pair.to_owned(), (v, state.clone()));
                    version = v;
                    text = state;
                }
                Err(e) => {
                    cache.remove(pair);
                    return Err(e);
                }
            }
        }
        Err("the window state kept changing under this process (16 conflicts)".into())
    }
}

/// The longest an outbound message waits for this process's own inbound
/// window updates of the same pair to reach the shared store.
pub const INBOUND_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

impl std::fmt::Debug for WhatsAppPricer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsAppPricer")
            .field("markets", &self.card.markets.len())
            .field("bounds", &self.bounds)
            .finish()
    }
}

impl WhatsAppPricer {
    /// A pricer over `card` with state bounded by `bounds`.
    pub fn new(card: RateCard, bounds: StateBounds) -> WhatsAppPricer {
        WhatsAppPricer {
            markets: MarketIndex::new(&card),
            card,
            bounds,
            store: Arc::new(Mutex::new(Store::default())),
            shared: Arc::new(SharedWindows {
                ttl_ms: bounds.ttl_ms,
                max_pairs: bounds.max_pairs,
                ..SharedWindows::default()
            }),
        }
    }

    /// The shipped card, default bounds, billed-service rule off.
    pub fn shipped() -> WhatsAppPricer {
        WhatsAppPricer::new(RateCard::shipped(), StateBounds::default())
    }

    /// The rate card.
    pub fn card(&self) -> &RateCard {
        &self.card
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an inbound message: opens or extends the customer service window.
    pub fn inbound(&self, m: &Inbound<'_>) {
        let t = millis(m.at);
        let entry_point = m.entry_point;
        let apply = move |s: &mut PairState| {
            s.last_inbound = Some(s.last_inbound.map_or(t, |x| x.max(t)));
            if entry_point {
                s.entry_point_inbound = Some(t);
            }
        };
        if let Some(store) = crate::shared::shared() {
            // Off the request path: the next outbound message of the pair in
            // this process waits for it (a reply comes later anyway).
            let pair = Self::shared_pair(m.business, m.user);
            let (windows, local, bounds) = (self.shared.clone(), self.store.clone(), self.bounds);
            let (business, user) = (m.business.to_owned(), m.user.to_owned());
            windows.begin(&pair);
            let s2 = store.clone();
            store.run_off_path(Box::new(move || {
                if let Err(e) = windows.with_pair(&*s2, &pair, t, |s| (apply(s), None)) {
                    if e != crate::shared::UNSUPPORTED {
                        shared_failed(&e);
                    }
                    let mut st = local.lock().unwrap_or_else(|e| e.into_inner());
                    apply(st.pair(&business, &user, t, bounds));
                }
                windows.end(&pair);
            }));
            return;
        }
        let mut st = self.lock();
        apply(st.pair(m.business, m.user, t, self.bounds));
    }

    /// Prices an outbound message at its delivery time and updates the state.
    pub fn outbound(&self, m: &Outbound<'_>) -> Result<WhatsAppCharge, Error> {
        if m.template == Some(TemplateCategory::Service) {
            return Err(Error::InvalidInput(
                "`service` is not a template category: pass no template for a free-form message"
                    .into(),
            ));
        }
        let t = millis(m.at);
        let model = self.card.model_at(m.at);
        let market = self.markets.market_for(&self.card, m.user);
        let business_market = self.markets.market_for(&self.card, m.business);
        let category = match m.template {
            None | Some(TemplateCategory::Service) => Category::Service,
            Some(TemplateCategory::Marketing) => Category::Marketing,
            Some(TemplateCategory::Utility) => Category::Utility,
            Some(TemplateCategory::Authentication) => {
                let intl = market.is_some_and(|mk| {
                    mk.rate(Category::AuthenticationInternational, t).is_some()
                        && business_market.is_some_and(|b| b.name != mk.name)
                });
                if intl {
                    Category::AuthenticationInternational
                } else {
                    Category::Authentication
                }
            }
        };
        let mut charge = WhatsAppCharge {
            price: Decimal::ZERO,
            pricing_model: model,
            pricing_type: PricingType::Regular,
            category,
            market: market.map(|mk| mk.name.clone()),
            billable: false,
            free_by: None,
            volume_tier_from: None,
            price_known: true,
            warning: None,
            source: None,
            at_ms: t,
            rate_card: self.card.card_at(t).map(|c| c.name.clone()),
            rate_effective: None,
            card_may_be_stale: self.card.stale_from().is_some_and(|from| t >= from),
        };
        if charge.card_may_be_stale {
            static STALE: std::sync::Once = std::sync::Once::new();
            let newest = self.card.cards.last().map(|c| c.effective_day.clone());
            STALE.call_once(|| {
                tracing::warn!(
                    target: "chatobs::cost",
                    newest_card = newest.as_deref().unwrap_or("none"),
                    "a WhatsApp message is priced past the newest rate card chatobs knows plus a quarter: Meta may have published a newer card; prices carry messaging.whatsapp.rate_card_stale = true. Add the new card in a [cost] whatsapp_rate_files file"
                );
            });
        }

        if let Some(store) = crate::shared::shared() {
            match self.outbound_shared(&*store, m, t, model, category, &mut charge) {
                Ok(()) => return Ok(charge),
                Err(e) if e == crate::shared::UNSUPPORTED => {}
                Err(e) => shared_failed(&e),
            }
        }
        let mut st = self.lock();
        let s = st.pair(m.business, m.user, t, self.bounds);
        let next = self.decide(s, m, t, model, category, &mut charge);
        let n = match &next {
            Next::Rate {
                count: Some((key, month)),
                ..
            } => Some(st.count(key.clone(), *month)),
            _ => None,
        };
        drop(st);
        self.finish(&mut charge, market, next, n);
        Ok(charge)
    }

    /// The window decision for one outbound message on the pair's state
    /// (updated in place): the charge is final ([`Next::Done`]) or needs a
    /// rate, maybe after a monthly counter is counted.
    fn decide(
        &self,
        s: &mut PairState,
        m: &Outbound<'_>,
        t: i64,
        model: PricingModel,
        category: Category,
        charge: &mut WhatsAppCharge,
    ) -> Next {
        let rules = &self.card.rules;
        // Times are ms since the epoch; a restored snapshot may hold any i64.
        // Saturating is honest here: a window "ending" at i64::MAX is open
        // until the end of time, which is what the overflowing sum meant,
        // where wrapping would close it in the past.
        let csw_open = s
            .last_inbound
            .is_some_and(|li| li <= t && t < li.saturating_add(rules.customer_service_window_ms));
        let mut fep_open = s.free_entry_point_until.is_some_and(|u| t < u);
        let entry_point = m.entry_point
            || s.entry_point_inbound
                .is_some_and(|e| e <= t && t < e.saturating_add(rules.customer_service_window_ms));
        if !fep_open && csw_open && entry_point {
            s.free_entry_point_until = Some(t.saturating_add(rules.free_entry_point_ms));
            s.entry_point_inbound = None;
            fep_open = true;
        }
        if category == Category::Service && !csw_open {
            charge.warning = Some(
                "free-form message outside the customer service window: Meta rejects it (send a template)"
                    .into(),
            );
        }
        if fep_open {
            charge.pricing_type = PricingType::FreeEntryPoint;
            charge.free_by = Some(FreeBy::FreeEntryPointWindow);
            return Next::Done;
        }
        if category == Category::Service && !csw_open {
            return Next::Done;
        }
        let rate = |category, count| Next::Rate {
            category,
            count,
            service_allowance: false,
        };
        match model {
            PricingModel::ConversationBased => {
                s.conversations.retain(|(_, end)| *end > t);
                if category == Category::Service {
                    if !s.conversations.is_empty() {
                        charge.free_by = Some(FreeBy::OpenConversation);
                        return Next::Done;
                    }
                    s.conversations
                        .push((Category::Service, t.saturating_add(rules.conversation_ms)));
                    if t >= rules.service_free_from {
                        charge.pricing_type = PricingType::FreeCustomerService;
                        charge.free_by = Some(FreeBy::FreeServiceConversation);
                        return Next::Done;
                    }
                } else {
                    if s.conversations.iter().any(|(c, _)| *c == category) {
                        charge.free_by = Some(FreeBy::OpenConversation);
                        return Next::Done;
                    }
                    s.conversations
                        .push((category, t.saturating_add(rules.conversation_ms)));
                }
                rate(category, None)
            }
            PricingModel::PerMessage => match category {
                Category::Service => {
                    let billed = rules.billed_service_enabled && t >= rules.billed_service_from;
                    if !billed && t >= rules.billed_service_from {
                        static BILLED_OFF: std::sync::Once = std::sync::Once::new();
                        BILLED_OFF.call_once(|| {
                            tracing::warn!(
                                target: "chatobs::cost",
                                "WhatsApp service messages are priced free after the day the billed-service rule was reported for ([rules] billed_service_from): check your Meta invoices, and set [cost] billed_service_messages = true if Meta bills them"
                            );
                        });
                    }
                    if !billed {
                        charge.pricing_type = PricingType::FreeCustomerService;
                        charge.free_by = Some(FreeBy::CustomerServiceWindow);
                        return Next::Done;
                    }
                    let month = month_of(t);
                    Next::Rate {
                        category: Category::Service,
                        count: Some((
                            format!("{}|{:04}-{:02}|*|service", m.business, month.0, month.1),
                            month,
                        )),
                        service_allowance: true,
                    }
                }
                // Utility inside the window is free, until the billed-service
                // rule (reported for 2026-10-01, off unless configured)
                // charges it too.
                Category::Utility
                    if csw_open
                        && !(rules.billed_service_enabled && t >= rules.billed_service_from) =>
                {
                    charge.pricing_type = PricingType::FreeCustomerService;
                    charge.free_by = Some(FreeBy::CustomerServiceWindow);
                    Next::Done
                }
                _ => {
                    let count = match (&charge.market, category) {
                        (
                            Some(mk),
                            Category::Utility
                            | Category::Authentication
                            | Category::AuthenticationInternational,
                        ) => {
                            let month = month_of(t);
                            Some((
                                format!(
                                    "{}|{:04}-{:02}|{}|{}",
                                    m.business,
                                    month.0,
                                    month.1,
                                    mk,
                                    category.as_str()
                                ),
                                month,
                            ))
                        }
                        _ => None,
                    };
                    rate(category, count)
                }
            },
        }
    }

    /// Prices what [`WhatsAppPricer::decide`] left to price, with the
    /// monthly count `n` when it asked for one.
    fn finish(
        &self,
        charge: &mut WhatsAppCharge,
        market: Option<&Market>,
        next: Next,
        n: Option<u64>,
    ) {
        let Next::Rate {
            category,
            service_allowance,
            ..
        } = next
        else {
            return;
        };
        if service_allowance {
            if n.is_some_and(|n| n <= self.card.rules.billed_service_free_per_month) {
                charge.pricing_type = PricingType::FreeCustomerService;
                charge.free_by = Some(FreeBy::MonthlyFreeAllowance);
                return;
            }
            self.charge_rate(charge, market, Category::Service, charge.at_ms, None);
            if !charge.price_known || charge.source.is_none() {
                // The reported rule bills service at about the utility rate.
                charge.price_known = true;
                self.charge_rate(charge, market, Category::Utility, charge.at_ms, None);
            }
            return;
        }
        self.charge_rate(charge, market, category, charge.at_ms, n);
    }

    /// The pair's key in a shared store: the business number and the keyed
    /// hash of the user's number (never the number itself).
    fn shared_pair(business: &str, user: &str) -> String {
        format!(
            "{}|{}",
            business,
            crate::context::keyed_hash(&["whatsapp-window", user])
        )
    }

    fn outbound_shared(
        &self,
        store: &dyn crate::shared::SharedLedger,
        m: &Outbound<'_>,
        t: i64,
        model: PricingModel,
        category: Category,
        charge: &mut WhatsAppCharge,
    ) -> Result<(), String> {
        let pair = Self::shared_pair(m.business, m.user);
        if !self.shared.settle(&pair) {
            shared_failed("an inbound window update of this pair is still on its way to the store");
        }
        let start = charge.clone();
        let ((next, decided), n) = self.shared.with_pair(store, &pair, t, |s| {
            // Each attempt decides afresh from the state it read.
            let mut c = start.clone();
            let next = self.decide(s, m, t, model, category, &mut c);
            let count = match &next {
                Next::Rate {
                    count: Some((key, _)),
                    ..
                } => Some(key.clone()),
                _ => None,
            };
            ((next, c), count)
        })?;
        *charge = decided;
        let market = self.markets.market_for(&self.card, m.user);
        self.finish(charge, market, next, n);
        Ok(())
    }

    fn charge_rate(
        &self,
        charge: &mut WhatsAppCharge,
        market: Option<&Market>,
        category: Category,
        t: i64,
        nth: Option<u64>,
    ) {
        charge.billable = true;
        charge.pricing_type = PricingType::Regular;
        let Some(mk) = market else {
            charge.price_known = false;
            return;
        };
        if let Some((rate, from)) = nth.and_then(|n| mk.tier_rate(category, t, n)) {
            charge.price = rate;
            charge.volume_tier_from = Some(from);
            charge.rate_effective = mk.tier_effective_day(category, t);
            charge.source = Some(format!("{} volume tier from message {from}", mk.name));
            return;
        }
        match mk.rate(category, t) {
            Some((rate, row)) => {
                charge.price = rate;
                charge.price_known = true;
                // Built by hand: once per priced message.
                let mut src = String::with_capacity(
                    row.source
                        .len()
                        .saturating_add(row.date.len())
                        .saturating_add(3),
                );
                src.push_str(&row.source);
                src.push_str(" (");
                src.push_str(&row.date);
                src.push(')');
                charge.source = Some(src);
                charge.rate_effective = Some(row.effective_day());
            }
            None => {
                charge.price = Decimal::ZERO;
                charge.price_known = false;
                charge.source = None;
            }
        }
    }

    /// Compares an estimate with a status webhook's `pricing` object. Meta's
    /// answer is the truth: the figure it implies (0 when not billable, else
    /// the card's rate for Meta's category, market and date) replaces the estimate.
    pub fn reconcile(&self, estimate: &WhatsAppCharge, meta: &MetaPricing) -> Reconciliation {
        let meta_cat = Category::parse(&meta.category.replace('_', "-"));
        let figure = if !meta.billable {
            Some(Decimal::ZERO)
        } else {
            match meta_cat {
                Some(c) if c == estimate.category && estimate.billable && estimate.price_known => {
                    Some(estimate.price)
                }
                Some(c) => estimate
                    .market
                    .as_deref()
                    .and_then(|name| self.card.markets.iter().find(|m| m.name == name))
                    .and_then(|mk| {
                        let tier = estimate
                            .volume_tier_from
                            .and_then(|n| mk.tier_rate(c, estimate.at_ms, n).map(|(r, _)| r));
                        tier.or_else(|| mk.rate(c, estimate.at_ms).map(|(r, _)| r))
                    }),
                None => None,
            }
        };
        let type_differs = meta
            .pricing_type
            .as_deref()
            .is_some_and(|t| t != estimate.pricing_type.as_str());
        let cat_differs = meta_cat.is_some_and(|c| c != estimate.category)
            && estimate.category != Category::Service;
        let (difference, incomplete_reason) = match figure.map(|f| money::sub(f, estimate.price)) {
            None => (Decimal::ZERO, None),
            Some(Ok(d)) => (d, None),
            Some(Err(_)) => (Decimal::ZERO, Some("overflow:difference")),
        };
        Reconciliation {
            estimate: estimate.price,
            meta: figure,
            difference,
            differs: !difference.is_zero()
                || incomplete_reason.is_some()
                || figure.is_none()
                || meta.billable != estimate.billable
                || type_differs
                || cat_differs,
            meta_category: meta.category.clone(),
            meta_type: meta.pricing_type.clone(),
            incomplete_reason,
        }
    }

    /// The window state, to persist across restarts.
    pub fn export(&self) -> StateSnapshot {
        let st = self.lock();
        let mut pairs: Vec<_> = st
            .pairs
            .iter()
            .map(|((b, u), s)| (b.clone(), u.clone(), s.clone()))
            .collect();
        pairs.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let mut monthly: Vec<_> = st.monthly.iter().map(|(k, v)| (k.clone(), *v)).collect();
        monthly.sort();
        StateSnapshot {
            version: 1,
            pairs,
            monthly,
        }
    }

    /// Restores exported state (merged into the current state; the snapshot wins per pair).
    pub fn restore(&self, snap: &StateSnapshot) {
        let mut st = self.lock();
        for (b, u, s) in &snap.pairs {
            st.pairs.insert((b.clone(), u.clone()), s.clone());
        }
        for (k, v) in &snap.monthly {
            st.monthly.insert(k.clone(), *v);
            if let Some(m) = k.split('|').nth(1).and_then(|m| m.split_once('-')) {
                let month = (m.0.parse().unwrap_or(0), m.1.parse().unwrap_or(0));
                if month > st.newest_month {
                    st.newest_month = month;
                }
            }
        }
    }

    /// Number of (business, user) pairs held.
    pub fn pairs_len(&self) -> usize {
        self.lock().pairs.len()
    }
}
