//! The rate card: dated rules and per-market rates read from rate files
//! (the shipped `data/whatsapp_rates.toml` and yours), their validation, and
//! the market of a phone number by calling code.

use crate::llm::{key_name, parse_money, toml_error, FieldError};
use crate::Error;
use rust_decimal::Decimal;
use serde::Deserialize;
use time::OffsetDateTime;

use super::categories::{Category, PricingModel};
use super::{millis, HOUR_MS};

/// The shipped rate card.
pub const SHIPPED_WHATSAPP_RATES: &str = include_str!("../../data/whatsapp_rates.toml");

/// Ceiling of a per-message rate read from a rate file: 1 000 USD. Meta's
/// rates are below 1 USD; a larger figure is a typo, and the file is refused
/// with its key.
pub const MAX_RATE_PER_MESSAGE_USD: Decimal = Decimal::from_parts(1000, 0, 0, false, 0);

fn parse_day(s: &str, key: &str) -> Result<i64, FieldError> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s.trim(), &fmt).map_err(|_| {
        FieldError::new(
            key,
            format!("expected a day as YYYY-MM-DD, got {:?}", key_name(s)),
        )
    })?;
    Ok(millis(d.midnight().assume_utc()))
}

/// A rate: a price ([`parse_money`]) at most [`MAX_RATE_PER_MESSAGE_USD`].
fn parse_rate(v: &toml::Value, key: &str) -> Result<Decimal, FieldError> {
    let d = parse_money(v, key)?;
    if d > MAX_RATE_PER_MESSAGE_USD {
        return Err(FieldError::new(
            key,
            format!("{d} USD per message is above the ceiling of {MAX_RATE_PER_MESSAGE_USD} USD per message: check the number"),
        ));
    }
    Ok(d)
}

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
    /// Meta's rule for when authentication-international rates apply, quoted.
    pub authentication_international_rule: String,
    /// Where that rule was read.
    pub authentication_international_source: String,
}

/// One dated rate card Meta published (`[[card]]` of a rate file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardInfo {
    /// First day it applies (ms, UTC midnight).
    pub effective: i64,
    /// That day, `YYYY-MM-DD`.
    pub effective_day: String,
    /// `CBP` or `PMP`.
    pub pricing_model: Option<String>,
    /// Its name (`Meta rate card effective 2025-07-01`).
    pub name: String,
    /// Where it was read.
    pub source: String,
    /// When it was read.
    pub date: String,
    /// What could not be read from a primary source, if anything.
    pub note: Option<String>,
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
    /// Which figures could not be read from a primary source, and where they came from.
    pub note: Option<String>,
}

impl RateRow {
    /// The first day the row applies, `YYYY-MM-DD`.
    pub fn effective_day(&self) -> String {
        day_string(self.effective)
    }
}

fn day_string(ms: i64) -> String {
    let t = super::from_millis(ms);
    let (year, month, day) = (t.year(), t.month() as u8, t.day());
    match u32::try_from(year) {
        // Written by hand: once per priced message (`format!` was a tenth
        // of `price_outbound`'s time).
        Ok(y) if y <= 9999 => {
            let digit = |d: u32| char::from_digit(d % 10, 10).unwrap_or('0');
            let mut s = String::with_capacity(10);
            s.extend([y / 1000, y / 100, y / 10, y].map(digit));
            s.push('-');
            s.extend([u32::from(month) / 10, u32::from(month)].map(digit));
            s.push('-');
            s.extend([u32::from(day) / 10, u32::from(day)].map(digit));
            s
        }
        _ => format!("{year:04}-{month:02}-{day:02}"),
    }
}
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
    /// ISO 3166-1 alpha-2 codes of the market's countries (upper case): a
    /// business-scoped user id (`US.13491208655302741918`) names its
    /// user's country this way, not by a calling code.
    pub countries: Vec<String>,
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
    /// The first day of the volume tiers of `category` in force at `at`.
    pub(super) fn tier_effective_day(&self, category: Category, at: i64) -> Option<String> {
        self.volume_tiers
            .iter()
            .filter(|t| t.category == category && t.effective <= at)
            .map(|t| t.effective)
            .max()
            .map(day_string)
    }

    pub(super) fn tier_rate(&self, category: Category, at: i64, n: u64) -> Option<(Decimal, u64)> {
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
    /// The dated cards the rates come from, oldest first.
    pub cards: Vec<CardInfo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCard {
    rules: Option<FileRules>,
    #[serde(default)]
    card: Vec<FileCardInfo>,
    #[serde(default)]
    market: Vec<FileMarket>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCardInfo {
    effective: String,
    pricing_model: Option<String>,
    name: String,
    source: String,
    date: String,
    note: Option<String>,
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
    authentication_international_rule: Option<String>,
    authentication_international_source: Option<String>,
    source: Option<String>,
    date: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMarket {
    name: String,
    calling_codes: Vec<String>,
    #[serde(default)]
    countries: Vec<String>,
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
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTier {
    category: String,
    effective: String,
    from_message: u64,
    rate: toml::Value,
}

/// The longest calling code a rate file may list (digits).
const MAX_CALLING_CODE: usize = 7;

/// What [`RateCard::market_for`] reads of a recipient.
enum Recipient {
    /// A business-scoped user id's country (`CO` of `CO.1349…`), upper case.
    Country([u8; 2]),
    /// The first digits of a phone number (a calling code has at most
    /// [`MAX_CALLING_CODE`]), without `+`, spaces or dashes.
    Digits(DigitPrefix),
    Nothing,
}

/// Up to [`MAX_CALLING_CODE`] leading digits, on the stack.
struct DigitPrefix {
    buf: [u8; MAX_CALLING_CODE],
    len: usize,
}

impl DigitPrefix {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    fn starts_with(&self, code: &[u8]) -> bool {
        self.as_bytes().starts_with(code)
    }
}

impl Recipient {
    fn of(phone: &str) -> Recipient {
        let b = phone.trim().as_bytes();
        if b.len() > 3 && b[..2].iter().all(u8::is_ascii_alphabetic) && b[2] == b'.' {
            return Recipient::Country([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]);
        }
        let mut d = DigitPrefix {
            buf: [0; MAX_CALLING_CODE],
            len: 0,
        };
        for (slot, c) in d
            .buf
            .iter_mut()
            .zip(phone.bytes().filter(u8::is_ascii_digit))
        {
            *slot = c;
            d.len = d.len.saturating_add(1);
        }
        if d.len == 0 {
            Recipient::Nothing
        } else {
            Recipient::Digits(d)
        }
    }
}

/// [`RateCard::market_for`] by lookup instead of a scan of every calling
/// code (about 150 in the shipped card): built once for a card that no
/// longer changes (the pricer's), same answers (a property test compares
/// them).
#[derive(Clone, Debug, Default)]
pub(crate) struct MarketIndex {
    /// Calling code -> market (the later market when two list the same
    /// code, as the scan's `max_by_key` picks).
    by_code: std::collections::HashMap<Box<[u8]>, usize, foldhash::fast::RandomState>,
    /// The longest calling code listed (no lookup tries a longer prefix).
    longest: usize,
    /// Country -> the first market listing it.
    by_country: std::collections::HashMap<[u8; 2], usize, foldhash::fast::RandomState>,
    /// The first market with calling code `*`.
    other: Option<usize>,
}

impl MarketIndex {
    pub(crate) fn new(card: &RateCard) -> MarketIndex {
        let mut ix = MarketIndex::default();
        for (i, m) in card.markets.iter().enumerate() {
            for c in &m.calling_codes {
                if c == "*" {
                    ix.other.get_or_insert(i);
                } else if c.len() <= MAX_CALLING_CODE {
                    ix.by_code.insert(c.as_bytes().into(), i);
                    ix.longest = ix.longest.max(c.len());
                }
            }
            for c in &m.countries {
                if let [a, b] = c.as_bytes() {
                    ix.by_country.entry([*a, *b]).or_insert(i);
                }
            }
        }
        ix
    }

    /// What `card.market_for(phone)` answers; `card` is the card this index was built from.
    pub(crate) fn market_for<'c>(&self, card: &'c RateCard, phone: &str) -> Option<&'c Market> {
        let i = match Recipient::of(phone) {
            Recipient::Country(c) => self.by_country.get(&c).copied().or(self.other),
            Recipient::Digits(d) => (1..=d.len.min(self.longest))
                .rev()
                .find_map(|n| self.by_code.get(&d.buf[..n]).copied())
                .or(self.other),
            Recipient::Nothing => None,
        };
        card.markets.get(i?)
    }
}

impl Default for RateCard {
    fn default() -> Self {
        RateCard::shipped()
    }
}

impl RateCard {
    /// The shipped card (`data/whatsapp_rates.toml` of this crate).
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
                authentication_international_rule: String::new(),
                authentication_international_source: String::new(),
            },
            cards: Vec::new(),
        }
    }

    /// Adds markets and rules from a TOML document in the format of
    /// `data/whatsapp_rates.toml` of this crate.
    pub fn merge_toml(&mut self, text: &str, file: Option<&std::path::Path>) -> Result<(), Error> {
        let doc: FileCard = toml::from_str(text).map_err(|e| toml_error(text, file, &e))?;
        // Everything is checked before anything is applied: a bad file changes nothing.
        let cards = checked_cards(&doc.card).map_err(|e| e.into_error(file))?;
        let (rules, markets) = self.checked(doc).map_err(|e| e.into_error(file))?;
        self.rules = rules;
        for c in cards {
            match self.cards.iter_mut().find(|x| x.effective == c.effective) {
                Some(slot) => *slot = c,
                None => self.cards.push(c),
            }
        }
        self.cards.sort_by_key(|c| c.effective);
        for market in markets {
            match self.markets.iter_mut().find(|x| x.name == market.name) {
                Some(slot) => *slot = market,
                None => self.markets.push(market),
            }
        }
        Ok(())
    }

    /// The rules of `doc` laid over this card's, and its markets, checked.
    fn checked(&self, doc: FileCard) -> Result<(Rules, Vec<Market>), FieldError> {
        let mut rules = self.rules.clone();
        if let Some(r) = doc.rules {
            if let Some(v) = r.per_message_from {
                rules.per_message_from = parse_day(&v, "rules.per_message_from")?;
            }
            if let Some(v) = r.service_free_from {
                rules.service_free_from = parse_day(&v, "rules.service_free_from")?;
            }
            if let Some(v) = r.billed_service_from {
                rules.billed_service_from = parse_day(&v, "rules.billed_service_from")?;
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
                        return Err(FieldError::new(
                            format!("rules.{name}"),
                            format!("must be 1 to 744 hours, got {h}"),
                        ));
                    }
                    // h <= 744: at most 2.7e9 ms, no overflow.
                    *slot = i64::from(h).saturating_mul(HOUR_MS);
                }
            }
            if let Some(v) = r.billed_service_free_per_month {
                rules.billed_service_free_per_month = v;
            }
            if let Some(d) = &r.date {
                parse_day(d, "rules.date")?;
            }
            if let Some(s) = r.source {
                rules.source = s;
            }
            if let Some(s) = r.authentication_international_rule {
                rules.authentication_international_rule = s;
            }
            if let Some(s) = r.authentication_international_source {
                rules.authentication_international_source = s;
            }
        }
        let mut markets = Vec::new();
        for (n, m) in doc.market.into_iter().enumerate() {
            let at = format!("market[{n}] ({})", key_name(&m.name));
            if m.name.trim().is_empty() {
                return Err(FieldError::new(
                    format!("market[{n}].name"),
                    "must not be empty",
                ));
            }
            if m.calling_codes.is_empty() {
                return Err(FieldError::new(
                    format!("{at}.calling_codes"),
                    "list at least one calling code",
                ));
            }
            let mut codes = Vec::new();
            for c in &m.calling_codes {
                let c = c.trim().trim_start_matches('+');
                // `*`: the market of every number no other market takes ("Other").
                if c != "*"
                    && (c.is_empty() || c.len() > 7 || !c.bytes().all(|b| b.is_ascii_digit()))
                {
                    return Err(FieldError::new(
                        format!("{at}.calling_codes"),
                        format!(
                            "{:?} is not a calling code (digits, like \"57\")",
                            key_name(c)
                        ),
                    ));
                }
                codes.push(c.to_owned());
            }
            let mut rows = Vec::new();
            for (i, r) in m.rate.into_iter().enumerate() {
                let rat = format!("{at}.rate[{i}]");
                let effective = parse_day(&r.effective, &format!("{rat}.effective"))?;
                parse_day(&r.date, &format!("{rat}.date"))?;
                if r.source.trim().is_empty() {
                    return Err(FieldError::new(
                        format!("{rat}.source"),
                        "say where the rates come from",
                    ));
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
                        rates.push((c, parse_rate(v, &format!("{rat}.{key}"))?));
                    }
                }
                rows.push(RateRow {
                    effective,
                    rates,
                    source: r.source,
                    date: r.date,
                    note: r.note.filter(|n| !n.trim().is_empty()),
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
                        FieldError::new(
                            format!("{tat}.category"),
                            format!(
                                "volume tiers exist for utility, authentication and authentication_international, got {:?}",
                                key_name(&t.category)
                            ),
                        )
                    })?;
                if t.from_message == 0 {
                    return Err(FieldError::new(
                        format!("{tat}.from_message"),
                        "counts start at 1",
                    ));
                }
                tiers.push(VolumeTier {
                    category,
                    effective: parse_day(&t.effective, &format!("{tat}.effective"))?,
                    from_message: t.from_message,
                    rate: parse_rate(&t.rate, &format!("{tat}.rate"))?,
                });
            }
            let mut countries = Vec::with_capacity(m.countries.len());
            for c in &m.countries {
                let c = c.trim();
                if c != "*" && (c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic())) {
                    return Err(FieldError::new(
                        format!("{at}.countries"),
                        format!(
                            "{:?} is not an ISO 3166-1 alpha-2 country code (two letters, like \"CO\")",
                            key_name(c)
                        ),
                    ));
                }
                countries.push(c.to_ascii_uppercase());
            }
            let market = Market {
                name: m.name.trim().to_owned(),
                calling_codes: codes,
                countries,
                rates: rows,
                volume_tiers: tiers,
            };
            // A market named twice in one file: the later entry wins, as across files.
            match markets
                .iter_mut()
                .find(|x: &&mut Market| x.name == market.name)
            {
                Some(slot) => *slot = market,
                None => markets.push(market),
            }
        }
        Ok((rules, markets))
    }

    /// Reads a file with [`RateCard::merge_toml`].
    pub fn merge_file(&mut self, path: &std::path::Path) -> Result<(), Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        self.merge_toml(&text, Some(path))
    }

    /// The market of a recipient: for a phone number (`+573001234567`,
    /// `573001234567`) the longest calling-code prefix; for a
    /// business-scoped user id (`CO.13491208655302741918`, a parent id
    /// `CO.ENT.…`) the market listing its country.
    pub fn market_for(&self, phone: &str) -> Option<&Market> {
        match Recipient::of(phone) {
            Recipient::Country(c) => self
                .markets
                .iter()
                .find(|m| m.countries.iter().any(|x| x.as_bytes() == c))
                .or_else(|| self.other_market()),
            Recipient::Digits(d) => self
                .markets
                .iter()
                .flat_map(|m| m.calling_codes.iter().map(move |c| (m, c)))
                .filter(|(_, c)| c.as_str() != "*" && d.starts_with(c.as_bytes()))
                .max_by_key(|(_, c)| c.len())
                .map(|(m, _)| m)
                .or_else(|| self.other_market()),
            Recipient::Nothing => None,
        }
    }

    /// The market of numbers no other market takes (calling code `*`, Meta's "Other").
    fn other_market(&self) -> Option<&Market> {
        self.markets
            .iter()
            .find(|m| m.calling_codes.iter().any(|c| c == "*"))
    }

    /// The card in force at `at_ms` (the latest `[[card]]` at or before it).
    pub fn card_at(&self, at_ms: i64) -> Option<&CardInfo> {
        self.cards.iter().rev().find(|c| c.effective <= at_ms)
    }

    /// The first day a card newer than every card known could apply: Meta
    /// changes its rate cards on the first day of a quarter (January,
    /// April, July, October), so the quarter after the last known card's
    /// effective day. From then on a price may be stale. `None` without cards.
    pub fn stale_from(&self) -> Option<i64> {
        let last = self.cards.last()?;
        let t = super::from_millis(last.effective);
        // The first month of the next quarter, and its year.
        let (y, next) = match t.month() as u8 {
            1..=3 => (t.year(), 4u8),
            4..=6 => (t.year(), 7),
            7..=9 => (t.year(), 10),
            _ => (t.year().checked_add(1)?, 1),
        };
        let month = time::Month::try_from(next).ok()?;
        let d = time::Date::from_calendar_date(y, month, 1).ok()?;
        Some(super::millis(d.midnight().assume_utc()))
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

fn checked_cards(cards: &[FileCardInfo]) -> Result<Vec<CardInfo>, FieldError> {
    let mut out = Vec::with_capacity(cards.len());
    for (i, c) in cards.iter().enumerate() {
        let at = format!("card[{i}]");
        let effective = parse_day(&c.effective, &format!("{at}.effective"))?;
        parse_day(&c.date, &format!("{at}.date"))?;
        if c.source.trim().is_empty() {
            return Err(FieldError::new(
                format!("{at}.source"),
                "say where the card was read",
            ));
        }
        if let Some(m) = &c.pricing_model {
            if m != "CBP" && m != "PMP" {
                return Err(FieldError::new(
                    format!("{at}.pricing_model"),
                    format!("expected \"CBP\" or \"PMP\", got {:?}", key_name(m)),
                ));
            }
        }
        out.push(CardInfo {
            effective,
            effective_day: day_string(effective),
            pricing_model: c.pricing_model.clone(),
            name: c.name.trim().to_owned(),
            source: c.source.clone(),
            date: c.date.clone(),
            note: c.note.clone().filter(|n| !n.trim().is_empty()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    /// The hand-written day equals `format!`'s: every day of a leap year,
    /// the first and last days of years 0 and 9999, and the clamped ends.
    #[test]
    fn day_string_equals_format() {
        let day_ms = 86_400_000i64;
        let mut days: Vec<i64> = (0..366).map(|d| (19_723 + d) * day_ms).collect();
        days.extend([
            i64::MIN,
            -62_167_219_200_000,
            -62_167_219_200_001,
            -62_135_596_800_001,
            0,
            253_402_214_400_000,
            253_402_300_799_999,
            253_402_300_800_000,
            i64::MAX,
        ]);
        for ms in days {
            let t = super::super::from_millis(ms);
            let want = format!("{:04}-{:02}-{:02}", t.year(), t.month() as u8, t.day());
            assert_eq!(super::day_string(ms), want, "{ms}");
        }
    }

    use super::*;
    use proptest::prelude::*;

    /// The shipped card, and one where two markets share codes and a
    /// country (the scan's tie rules).
    fn cards() -> Vec<RateCard> {
        let shipped = RateCard::shipped();
        let mut twice = shipped.clone();
        if let Some(first) = twice.markets.first().cloned() {
            twice.markets.push(Market {
                name: "Copy".into(),
                ..first
            });
        }
        vec![shipped, twice]
    }

    fn phone() -> impl Strategy<Value = String> {
        let codes: Vec<String> = RateCard::shipped()
            .markets
            .iter()
            .flat_map(|m| m.calling_codes.clone())
            .filter(|c| c != "*")
            .collect();
        prop_oneof![
            (prop::sample::select(codes), "[0-9 +-]{0,12}")
                .prop_map(|(c, rest)| format!("+{c}{rest}")),
            "[A-Za-z]{2}\\.[0-9A-Z.]{1,20}",
            "[ +0-9a-zA-Z.-]{0,16}",
            any::<String>(),
        ]
    }

    proptest! {
        #[test]
        fn the_index_answers_as_the_scan(p in phone()) {
            for card in cards() {
                let ix = MarketIndex::new(&card);
                let scan = card.market_for(&p).map(|m| m as *const Market);
                let look = ix.market_for(&card, &p).map(|m| m as *const Market);
                prop_assert_eq!(scan, look, "{:?}", p);
            }
        }
    }

    /// Every calling code and country of both cards, as a number or a
    /// business-scoped id (the ties the random cases rarely reach).
    #[test]
    fn every_code_and_country_answers_as_the_scan() {
        for card in cards() {
            let ix = MarketIndex::new(&card);
            let mut n = 0;
            for m in &card.markets {
                let codes = m.calling_codes.iter().map(|c| format!("+{c} 300 1234"));
                let countries = m
                    .countries
                    .iter()
                    .map(|c| format!("{c}.13491208655302741918"));
                for p in codes.chain(countries) {
                    let scan = card.market_for(&p).map(|m| m as *const Market);
                    let look = ix.market_for(&card, &p).map(|m| m as *const Market);
                    assert_eq!(scan, look, "{p}");
                    n += 1;
                }
            }
            assert!(n > 100, "{n} recipients checked");
        }
    }

    #[test]
    fn known_numbers_find_their_market() {
        let card = RateCard::shipped();
        let ix = MarketIndex::new(&card);
        for (p, want) in [
            ("+57 300 123 4567", "Colombia"),
            ("573001234567", "Colombia"),
        ] {
            assert_eq!(card.market_for(p).map(|m| m.name.as_str()), Some(want));
            assert_eq!(ix.market_for(&card, p).map(|m| m.name.as_str()), Some(want));
        }
        assert!(ix.market_for(&card, "no digits").is_none());
    }
}
