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
//!
//! The module is split by concern: `categories` (the closed sets Meta
//! names: category, pricing model and type, what made a message free),
//! `rate_card` (the dated rate files and market lookup), `windows` (the
//! bounded per (business, user) window state) and `pricer` (pricing,
//! charges and reconciliation with Meta's `pricing` object).

use time::OffsetDateTime;

mod categories;
mod pricer;
mod rate_card;
mod windows;

pub use categories::{Category, FreeBy, PricingModel, PricingType};
pub use pricer::{
    shared_window_failures, Inbound, MetaPricing, Outbound, Reconciliation, WhatsAppCharge,
    WhatsAppPricer,
};
pub use rate_card::{
    CardInfo, Market, RateCard, RateRow, Rules, VolumeTier, MAX_RATE_PER_MESSAGE_USD,
    SHIPPED_WHATSAPP_RATES,
};
pub use windows::{PairState, StateBounds, StateSnapshot};

// Shared time glue: the submodules keep times as milliseconds since the Unix
// epoch (UTC).

const HOUR_MS: i64 = 3_600_000;

/// Milliseconds since the Unix epoch (UTC).
pub(crate) fn millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub(crate) fn from_millis(ms: i64) -> OffsetDateTime {
    // i64 milliseconds times 10^6 fits i128 (below 2^84): exact.
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms).saturating_mul(1_000_000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn month_of(ms: i64) -> (i32, u8) {
    let t = from_millis(ms);
    (t.year(), t.month() as u8)
}
