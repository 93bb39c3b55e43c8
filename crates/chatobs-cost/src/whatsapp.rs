//! WhatsApp Business Platform pricing: the rate card, the two pricing
//! models, and the per (business, user) window state.
//!
//! The rules, as implemented (each message is priced at its delivery time):
//!
//! | | conversation-based (before `per_message_from`) | per-message (from `per_message_from`) |
//! |---|---|---|
//! | marketing / utility / authentication template | opens a 24 h conversation of its category and is charged, unless one of that category is open (then free) | charged per delivered message; utility free inside the customer service window; volume tiers for utility and authentication |
//! | free-form message | free inside an open conversation; otherwise opens a service conversation, free from `service_free_from` | free inside the customer service window (or, with the billed-service rule on and after its date, charged after the monthly free allowance) |
//! | free entry point | the business's reply within the customer service window to a user who came from an ad or Page button opens a 72 h window in which everything is free | same |
//!
//! The customer service window is 24 h from the user's last inbound message.
//! A free-form message outside it is rejected by Meta: it is priced 0 with a warning.
//! Authentication templates to a market that has an `authentication_international`
//! rate, from a business number of another market, are priced at that rate.

use crate::vocab::TemplateCategory;
use crate::Error;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use time::OffsetDateTime;

use super::llm::parse_money;

/// The shipped rate card.
pub const SHIPPED_WHATSAPP_RATES: &str = include_str!("../data/whatsapp_rates.toml");

const HOUR_MS: i64 = 3_600_000;

/// Milliseconds since the Unix epoch (UTC).
pub(crate) fn millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn month_of(ms: i64) -> (i32, u8) {
    let t = from_millis(ms);
    (t.year(), t.month() as u8)
}

fn parse_day(s: &str, what: &str) -> Result<i64, String> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s.trim(), &fmt)
        .map_err(|_| format!("{what}: expected a day as YYYY-MM-DD, got {s:?}"))?;
    Ok(millis(d.midnight().assume_utc()))
}

/// A pricing category, as Meta's `pricing.category` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Marketing template.
    Marketing,
    /// Utility template.
    Utility,
    /// Authentication template.
    Authentication,
    /// Authentication template to a market with international authentication rates.
    AuthenticationInternational,
    /// Free-form (non-template) message.
    Service,
}

impl Category {
    /// Meta's spelling (`authentication-international`).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Marketing => "marketing",
            Category::Utility => "utility",
            Category::Authentication => "authentication",
            Category::AuthenticationInternational => "authentication-international",
            Category::Service => "service",
        }
    }
    /// Parses Meta's spelling (also `authentication_international`).
    pub fn parse(s: &str) -> Option<Category> {
        Some(match s.trim() {
            "marketing" => Category::Marketing,
            "utility" => Category::Utility,
            "authentication" => Category::Authentication,
            "authentication-international" | "authentication_international" => {
                Category::AuthenticationInternational
            }
            "service" => Category::Service,
            _ => return None,
        })
    }
}

/// Which pricing model applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PricingModel {
    /// Conversation-based pricing (until 2025-06-30).
    #[serde(rename = "CBP")]
    ConversationBased,
    /// Per-message pricing (from 2025-07-01).
    #[serde(rename = "PMP")]
    PerMessage,
}

impl PricingModel {
    /// `CBP` or `PMP` (Meta's spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            PricingModel::ConversationBased => "CBP",
            PricingModel::PerMessage => "PMP",
        }
    }
}

/// Meta's `pricing.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PricingType {
    /// Charged (or covered by an open conversation).
    Regular,
    /// Free inside the customer service window.
    FreeCustomerService,
    /// Free inside a free entry point window.
    FreeEntryPoint,
}

impl PricingType {
    /// `regular`, `free_customer_service`, `free_entry_point`.
    pub fn as_str(self) -> &'static str {
        match self {
            PricingType::Regular => "regular",
            PricingType::FreeCustomerService => "free_customer_service",
            PricingType::FreeEntryPoint => "free_entry_point",
        }
    }
}

/// What made a message free.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FreeBy {
    /// The customer service window (24 h from the user's last message).
    CustomerServiceWindow,
    /// A free entry point window (72 h).
    FreeEntryPointWindow,
    /// An open conversation of the same category (conversation-based pricing).
    OpenConversation,
    /// Service conversations are free (conversation-based pricing, from 2024-11-01).
    FreeServiceConversation,
    /// The monthly free allowance of billed service messages.
    MonthlyFreeAllowance,
}

impl FreeBy {
    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FreeBy::CustomerServiceWindow => "customer_service_window",
            FreeBy::FreeEntryPointWindow => "free_entry_point_window",
            FreeBy::OpenConversation => "open_conversation",
            FreeBy::FreeServiceConversation => "free_service_conversation",
            FreeBy::MonthlyFreeAllowance => "monthly_free_allowance",
        }
    }
}

// ---- rate card ------------------------------------------------------------------------------

/// Dated pricing rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    /// First day of per-message pricing (ms since epoch, UTC midnight).
    pub per_message_from: i64,
    /// First day of free service conversations (CBP).
    pub service_free_from: i64,
    /// Customer service window length.
    pub customer_service_window_ms: i64,
    /// CBP conversation length.
    pub conversation_ms: i64,
    /// Free entry point window length.
    pub free_entry_point_ms: i64,
    /// First day of the billed-service rule.
    pub billed_service_from: i64,
    /// Free billed-service messages per business number and month.
    pub billed_service_free_per_month: u64,
    /// Whether the billed-service rule is on (from config).
    pub billed_service_enabled: bool,
    /// Source of the rules.
    pub source: String,
}

/// One dated row of a market's rates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateRow {
    /// First day the row applies (ms).
    pub effective: i64,
    /// Rates by category.
    pub rates: Vec<(Category, Decimal)>,
    /// Source.
    pub source: String,
    /// When read.
    pub date: String,
}

/// One volume tier row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeTier {
    /// Category (utility or authentication).
    pub category: Category,
    /// First day it applies (ms).
    pub effective: i64,
    /// From this billable message of the month on (1-based).
    pub from_message: u64,
    /// Rate.
    pub rate: Decimal,
}

/// A market.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Market {
    /// Name (`Colombia`).
    pub name: String,
    /// Calling codes without `+`.
    pub calling_codes: Vec<String>,
    /// Dated rates.
    pub rates: Vec<RateRow>,
    /// Volume tiers.
    pub volume_tiers: Vec<VolumeTier>,
}

impl Market {
    /// The rate of `category` at `at` (the latest row at or before `at` naming it).
    pub fn rate(&self, category: Category, at: i64) -> Option<(Decimal, &RateRow)> {
        self.rates
            .iter()
            .filter(|r| r.effective <= at)
            .filter_map(|r| {
                r.rates
                    .iter()
                    .find(|(c, _)| *c == category)
                    .map(|(_, d)| (*d, r))
            })
            .max_by_key(|(_, r)| r.effective)
    }

    /// The volume-tier rate for the `n`-th billable message of the month.
    fn tier_rate(&self, category: Category, at: i64, n: u64) -> Option<(Decimal, u64)> {
        let latest = self
            .volume_tiers
            .iter()
            .filter(|t| t.category == category && t.effective <= at)
            .map(|t| t.effective)
            .max()?;
        self.volume_tiers
            .iter()
            .filter(|t| t.category == category && t.effective == latest && t.from_message <= n)
            .max_by_key(|t| t.from_message)
            .map(|t| (t.rate, t.from_message))
    }
}

/// Markets and rules.
#[derive(Clone, Debug)]
pub struct RateCard {
    /// Markets.
    pub markets: Vec<Market>,
    /// Rules.
    pub rules: Rules,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCard {
    rules: Option<FileRules>,
    #[serde(default)]
    market: Vec<FileMarket>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileRules {
    per_message_from: Option<String>,
    service_free_from: Option<String>,
    customer_service_window_hours: Option<u32>,
    conversation_hours: Option<u32>,
    free_entry_point_hours: Option<u32>,
    billed_service_from: Option<String>,
    billed_service_free_per_month: Option<u64>,
    source: Option<String>,
    date: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMarket {
    name: String,
    calling_codes: Vec<String>,
    #[serde(default)]
    rate: Vec<FileRate>,
    #[serde(default)]
    volume_tier: Vec<FileTier>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRate {
    effective: String,
    marketing: Option<toml::Value>,
    utility: Option<toml::Value>,
    authentication: Option<toml::Value>,
    authentication_international: Option<toml::Value>,
    service: Option<toml::Value>,
    source: String,
    date: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTier {
    category: String,
    effective: String,
    from_message: u64,
    rate: toml::Value,
}

impl Default for RateCard {
    fn default() -> Self {
        RateCard::shipped()
    }
}

impl RateCard {
    /// The shipped card (`config/whatsapp_rates.toml`).
    pub fn shipped() -> RateCard {
        static SHIPPED: std::sync::OnceLock<RateCard> = std::sync::OnceLock::new();
        SHIPPED
            .get_or_init(|| {
                let mut c = RateCard::empty();
                if let Err(e) = c.merge_toml(SHIPPED_WHATSAPP_RATES, None) {
                    tracing::error!(target: "chatobs", "shipped WhatsApp rate card is invalid: {e}");
                }
                c
            })
            .clone()
    }

    /// A card with no markets and the shipped rule dates.
    pub fn empty() -> RateCard {
        let day = |s: &str| parse_day(s, "").unwrap_or(0);
        RateCard {
            markets: Vec::new(),
            rules: Rules {
                per_message_from: day("2025-07-01"),
                service_free_from: day("2024-11-01"),
                customer_service_window_ms: 24 * HOUR_MS,
                conversation_ms: 24 * HOUR_MS,
                free_entry_point_ms: 72 * HOUR_MS,
                billed_service_from: day("2026-10-01"),
                billed_service_free_per_month: 1000,
                billed_service_enabled: false,
                source: String::new(),
            },
        }
    }

    /// Adds markets and rules from a TOML document in the format of
    /// `config/whatsapp_rates.toml`.
    pub fn merge_toml(&mut self, text: &str, file: Option<&std::path::Path>) -> Result<(), Error> {
        let doc: FileCard = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            Error::config(
                file,
                line.map_or("(file)".to_owned(), |l| format!("line {l}")),
                e.message().to_owned(),
            )
        })?;
        let err = |r: String| {
            let (key, reason) = r.split_once(": ").unwrap_or(("(file)", &r));
            Error::config(file, key, reason)
        };
        if let Some(r) = doc.rules {
            let rules = &mut self.rules;
            if let Some(v) = r.per_message_from {
                rules.per_message_from = parse_day(&v, "rules.per_message_from").map_err(err)?;
            }
            if let Some(v) = r.service_free_from {
                rules.service_free_from = parse_day(&v, "rules.service_free_from").map_err(err)?;
            }
            if let Some(v) = r.billed_service_from {
                rules.billed_service_from =
                    parse_day(&v, "rules.billed_service_from").map_err(err)?;
            }
            for (name, v, slot) in [
                (
                    "customer_service_window_hours",
                    r.customer_service_window_hours,
                    &mut rules.customer_service_window_ms,
                ),
                (
                    "conversation_hours",
                    r.conversation_hours,
                    &mut rules.conversation_ms,
                ),
                (
                    "free_entry_point_hours",
                    r.free_entry_point_hours,
                    &mut rules.free_entry_point_ms,
                ),
            ] {
                if let Some(h) = v {
                    if h == 0 || h > 24 * 31 {
                        return Err(err(format!(
                            "rules.{name}: must be 1 to 744 hours, got {h}"
                        )));
                    }
                    *slot = i64::from(h) * HOUR_MS;
                }
            }
            if let Some(v) = r.billed_service_free_per_month {
                rules.billed_service_free_per_month = v;
            }
            if let Some(d) = &r.date {
                parse_day(d, "rules.date").map_err(err)?;
            }
            if let Some(s) = r.source {
                rules.source = s;
            }
        }
        for (n, m) in doc.market.into_iter().enumerate() {
            let at = format!("market[{n}] ({})", m.name);
            if m.name.trim().is_empty() {
                return Err(err(format!("market[{n}].name: must not be empty")));
            }
            if m.calling_codes.is_empty() {
                return Err(err(format!(
                    "{at}.calling_codes: list at least one calling code"
                )));
            }
            let mut codes = Vec::new();
            for c in &m.calling_codes {
                let c = c.trim().trim_start_matches('+');
                if c.is_empty() || c.len() > 7 || !c.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err(format!(
                        "{at}.calling_codes: {c:?} is not a calling code (digits, like \"57\")"
                    )));
                }
                codes.push(c.to_owned());
            }
            let mut rows = Vec::new();
            for (i, r) in m.rate.into_iter().enumerate() {
                let rat = format!("{at}.rate[{i}]");
                let effective =
                    parse_day(&r.effective, &format!("{rat}.effective")).map_err(err)?;
                parse_day(&r.date, &format!("{rat}.date")).map_err(err)?;
                if r.source.trim().is_empty() {
                    return Err(err(format!("{rat}.source: say where the rates come from")));
                }
                let mut rates = Vec::new();
                for (c, v) in [
                    (Category::Marketing, &r.marketing),
                    (Category::Utility, &r.utility),
                    (Category::Authentication, &r.authentication),
                    (
                        Category::AuthenticationInternational,
                        &r.authentication_international,
                    ),
                    (Category::Service, &r.service),
                ] {
                    if let Some(v) = v {
                        let key = c.as_str().replace('-', "_");
                        rates.push((c, parse_money(v, &format!("{rat}.{key}")).map_err(err)?));
                    }
                }
                rows.push(RateRow {
                    effective,
                    rates,
                    source: r.source,
                    date: r.date,
                });
            }
            let mut tiers = Vec::new();
            for (i, t) in m.volume_tier.into_iter().enumerate() {
                let tat = format!("{at}.volume_tier[{i}]");
                let category = Category::parse(&t.category)
                    .filter(|c| {
                        matches!(
                            c,
                            Category::Utility
                                | Category::Authentication
                                | Category::AuthenticationInternational
                        )
                    })
                    .ok_or_else(|| {
                        err(format!(
                            "{tat}.category: volume tiers exist for utility, authentication and authentication_international, got {:?}",
                            t.category
                        ))
                    })?;
                if t.from_message == 0 {
                    return Err(err(format!("{tat}.from_message: counts start at 1")));
                }
                tiers.push(VolumeTier {
                    category,
                    effective: parse_day(&t.effective, &format!("{tat}.effective")).map_err(err)?,
                    from_message: t.from_message,
                    rate: parse_money(&t.rate, &format!("{tat}.rate")).map_err(err)?,
                });
            }
            let market = Market {
                name: m.name.trim().to_owned(),
                calling_codes: codes,
                rates: rows,
                volume_tiers: tiers,
            };
            match self.markets.iter().position(|x| x.name == market.name) {
                Some(i) => self.markets[i] = market,
                None => self.markets.push(market),
            }
        }
        Ok(())
    }

    /// Reads a file with [`RateCard::merge_toml`].
    pub fn merge_file(&mut self, path: &std::path::Path) -> Result<(), Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        self.merge_toml(&text, Some(path))
    }

    /// The market of a phone number (`+573001234567`, `573001234567`):
    /// the longest calling-code prefix.
    pub fn market_for(&self, phone: &str) -> Option<&Market> {
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        self.markets
            .iter()
            .flat_map(|m| m.calling_codes.iter().map(move |c| (m, c)))
            .filter(|(_, c)| digits.starts_with(c.as_str()))
            .max_by_key(|(_, c)| c.len())
            .map(|(m, _)| m)
    }

    /// The pricing model of a delivery time.
    pub fn model_at(&self, at: OffsetDateTime) -> PricingModel {
        if millis(at) < self.rules.per_message_from {
            PricingModel::ConversationBased
        } else {
            PricingModel::PerMessage
        }
    }
}

// ---- state ----------------------------------------------------------------------------------

/// Window state of one (business, user) pair.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairState {
    /// The user's last inbound message (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound: Option<i64>,
    /// The last inbound message that came from a free entry point and has not opened a window yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_point_inbound: Option<i64>,
    /// End of the free entry point window (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_entry_point_until: Option<i64>,
    /// Open conversations (CBP): category and end (ms).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversations: Vec<(Category, i64)>,
    /// Last activity (ms), for expiry.
    pub last_activity: i64,
}

/// Exported window state, to restore after a restart ([`WhatsAppPricer::export`]).
/// Users appear only as keyed hashes of their numbers (HMAC with
/// `CHATOBS_SESSION_KEY`), so restoring needs the same key; the business
/// number is kept as you passed it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateSnapshot {
    /// Format version (1).
    pub version: u32,
    /// `(business, keyed hash of the user, state)`.
    pub pairs: Vec<(String, String, PairState)>,
    /// Monthly counters: `business|YYYY-MM|market|category` → count.
    pub monthly: Vec<(String, u64)>,
}

impl StateSnapshot {
    /// JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
    /// Parses [`StateSnapshot::to_json`] output.
    pub fn from_json(text: &str) -> Result<StateSnapshot, Error> {
        let s: StateSnapshot = serde_json::from_str(text)
            .map_err(|e| Error::InvalidInput(format!("window state snapshot: {e}")))?;
        if s.version != 1 {
            return Err(Error::InvalidInput(format!(
                "window state snapshot version {} is not supported (expected 1)",
                s.version
            )));
        }
        Ok(s)
    }
}

/// Bounds of the window state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateBounds {
    /// Most (business, user) pairs kept; the least recently active are dropped beyond it.
    pub max_pairs: usize,
    /// A pair with no activity for this long (message time) is dropped.
    pub ttl_ms: i64,
}

impl Default for StateBounds {
    fn default() -> Self {
        StateBounds {
            max_pairs: 100_000,
            ttl_ms: 96 * HOUR_MS,
        }
    }
}

#[derive(Default)]
struct Store {
    pairs: HashMap<(String, String), PairState>,
    monthly: HashMap<String, u64>,
    newest_month: (i32, u8),
    evicted_live: bool,
}

impl Store {
    fn pair(&mut self, b: &str, u: &str, now: i64, bounds: StateBounds) -> &mut PairState {
        // The user's number is kept only as a keyed hash (CHATOBS_SESSION_KEY),
        // in memory and in exported snapshots.
        let key = (
            b.to_owned(),
            crate::context::keyed_hash(&["whatsapp-window", u]),
        );
        if let Some(s) = self.pairs.get(&key) {
            if s.last_activity.saturating_add(bounds.ttl_ms) < now {
                self.pairs.remove(&key);
            }
        }
        if !self.pairs.contains_key(&key) && self.pairs.len() >= bounds.max_pairs.max(1) {
            self.evict(now, bounds);
        }
        let s = self.pairs.entry(key).or_default();
        if now > s.last_activity {
            s.last_activity = now;
        }
        s
    }

    fn evict(&mut self, now: i64, bounds: StateBounds) {
        self.pairs
            .retain(|_, s| s.last_activity.saturating_add(bounds.ttl_ms) >= now);
        let max = bounds.max_pairs.max(1);
        if self.pairs.len() < max {
            return;
        }
        // Drop the least recently active sixteenth (at least one) in one pass.
        let n = (self.pairs.len() / 16)
            .max(1)
            .max(self.pairs.len() + 1 - max);
        let mut ages: Vec<(i64, (String, String))> = self
            .pairs
            .iter()
            .map(|(k, s)| (s.last_activity, k.clone()))
            .collect();
        ages.select_nth_unstable_by_key(n - 1, |(t, _)| *t);
        for (_, k) in ages.into_iter().take(n) {
            self.pairs.remove(&k);
        }
        if !self.evicted_live {
            self.evicted_live = true;
            tracing::warn!(target: "chatobs", max_pairs = max, "WhatsApp window state is full: the least recently active conversations were dropped, so their next messages may be priced as if no window were open; raise cost.state_max_entries");
        }
    }

    fn count(&mut self, key: String, month: (i32, u8)) -> u64 {
        if month > self.newest_month {
            self.newest_month = month;
            // Keep the current and the previous month only.
            let keep = |k: &str| -> bool {
                let Some(m) = k.split('|').nth(1) else {
                    return false;
                };
                let (y, mo) = m.split_once('-').unwrap_or(("0", "0"));
                let (y, mo): (i32, i32) = (y.parse().unwrap_or(0), mo.parse().unwrap_or(0));
                y * 12 + mo + 1 >= month.0 * 12 + month.1 as i32
            };
            self.monthly.retain(|k, _| keep(k));
        }
        let c = self.monthly.entry(key).or_insert(0);
        *c += 1;
        *c
    }
}

// ---- messages and charges -------------------------------------------------------------------------

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
    /// `meta - estimate` (zero when unknown).
    pub difference: Decimal,
    /// Whether Meta's answer differs from the estimate (price, billable, category or type).
    pub differs: bool,
    /// Meta's category.
    pub meta_category: String,
    /// Meta's type.
    pub meta_type: Option<String>,
}

/// Prices WhatsApp messages and keeps the window state. Thread-safe.
pub struct WhatsAppPricer {
    card: RateCard,
    bounds: StateBounds,
    store: Mutex<Store>,
}

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
            card,
            bounds,
            store: Mutex::new(Store::default()),
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
        let mut st = self.lock();
        let s = st.pair(m.business, m.user, t, self.bounds);
        s.last_inbound = Some(s.last_inbound.map_or(t, |x| x.max(t)));
        if m.entry_point {
            s.entry_point_inbound = Some(t);
        }
    }

    /// Prices an outbound message at its delivery time and updates the state.
    pub fn outbound(&self, m: &Outbound<'_>) -> Result<WhatsAppCharge, Error> {
        if m.template == Some(TemplateCategory::Service) {
            return Err(Error::InvalidInput(
                "`service` is not a template category: pass no template for a free-form message"
                    .into(),
            ));
        }
        let rules = &self.card.rules;
        let t = millis(m.at);
        let model = self.card.model_at(m.at);
        let market = self.card.market_for(m.user);
        let business_market = self.card.market_for(m.business);
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
        };

        let mut st = self.lock();
        let s = st.pair(m.business, m.user, t, self.bounds);
        let csw_open = s
            .last_inbound
            .is_some_and(|li| li <= t && t < li + rules.customer_service_window_ms);
        let mut fep_open = s.free_entry_point_until.is_some_and(|u| t < u);
        let entry_point = m.entry_point
            || s.entry_point_inbound
                .is_some_and(|e| e <= t && t < e + rules.customer_service_window_ms);
        if !fep_open && csw_open && entry_point {
            s.free_entry_point_until = Some(t + rules.free_entry_point_ms);
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
            return Ok(charge);
        }
        if category == Category::Service && !csw_open {
            return Ok(charge);
        }

        match model {
            PricingModel::ConversationBased => {
                s.conversations.retain(|(_, end)| *end > t);
                if category == Category::Service {
                    if !s.conversations.is_empty() {
                        charge.free_by = Some(FreeBy::OpenConversation);
                        return Ok(charge);
                    }
                    s.conversations
                        .push((Category::Service, t + rules.conversation_ms));
                    if t >= rules.service_free_from {
                        charge.pricing_type = PricingType::FreeCustomerService;
                        charge.free_by = Some(FreeBy::FreeServiceConversation);
                        return Ok(charge);
                    }
                } else {
                    if s.conversations.iter().any(|(c, _)| *c == category) {
                        charge.free_by = Some(FreeBy::OpenConversation);
                        return Ok(charge);
                    }
                    s.conversations.push((category, t + rules.conversation_ms));
                }
                drop(st);
                self.charge_rate(&mut charge, market, category, t, None);
            }
            PricingModel::PerMessage => match category {
                Category::Service => {
                    let billed = rules.billed_service_enabled && t >= rules.billed_service_from;
                    if !billed {
                        charge.pricing_type = PricingType::FreeCustomerService;
                        charge.free_by = Some(FreeBy::CustomerServiceWindow);
                        return Ok(charge);
                    }
                    let month = month_of(t);
                    let n = st.count(
                        format!("{}|{:04}-{:02}|*|service", m.business, month.0, month.1),
                        month,
                    );
                    if n <= rules.billed_service_free_per_month {
                        charge.pricing_type = PricingType::FreeCustomerService;
                        charge.free_by = Some(FreeBy::MonthlyFreeAllowance);
                        return Ok(charge);
                    }
                    drop(st);
                    self.charge_rate(&mut charge, market, Category::Service, t, None);
                    if !charge.price_known || charge.source.is_none() {
                        // The reported rule bills service at about the utility rate.
                        charge.price_known = true;
                        self.charge_rate(&mut charge, market, Category::Utility, t, None);
                    }
                }
                Category::Utility if csw_open => {
                    charge.pricing_type = PricingType::FreeCustomerService;
                    charge.free_by = Some(FreeBy::CustomerServiceWindow);
                }
                _ => {
                    let n = match (&charge.market, category) {
                        (
                            Some(mk),
                            Category::Utility
                            | Category::Authentication
                            | Category::AuthenticationInternational,
                        ) => {
                            let month = month_of(t);
                            Some(st.count(
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
                    drop(st);
                    self.charge_rate(&mut charge, market, category, t, n);
                }
            },
        }
        Ok(charge)
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
            charge.source = Some(format!("{} volume tier from message {from}", mk.name));
            return;
        }
        match mk.rate(category, t) {
            Some((rate, row)) => {
                charge.price = rate;
                charge.price_known = true;
                charge.source = Some(format!("{} ({})", row.source, row.date));
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
        let difference = figure.map_or(Decimal::ZERO, |f| f - estimate.price);
        Reconciliation {
            estimate: estimate.price,
            meta: figure,
            difference,
            differs: !difference.is_zero()
                || figure.is_none()
                || meta.billable != estimate.billable
                || type_differs
                || cat_differs,
            meta_category: meta.category.clone(),
            meta_type: meta.pricing_type.clone(),
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
