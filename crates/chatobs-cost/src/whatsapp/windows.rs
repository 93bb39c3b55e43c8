//! Customer service and free entry point window state per (business, user)
//! pair, with its bounds, monthly counters and exportable snapshot.

use crate::Error;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::categories::Category;
use super::HOUR_MS;

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

/// Exported window state, to restore after a restart
/// ([`WhatsAppPricer::export`](super::WhatsAppPricer::export)).
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
pub(super) struct Store {
    pub(super) pairs: HashMap<(String, String), PairState>,
    pub(super) monthly: HashMap<String, u64>,
    pub(super) newest_month: (i32, u8),
    evicted_live: bool,
}

impl Store {
    pub(super) fn pair(
        &mut self,
        b: &str,
        u: &str,
        now: i64,
        bounds: StateBounds,
    ) -> &mut PairState {
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
            .max(self.pairs.len().saturating_add(1).saturating_sub(max));
        let mut ages: Vec<(i64, (String, String))> = self
            .pairs
            .iter()
            .map(|(k, s)| (s.last_activity, k.clone()))
            .collect();
        ages.select_nth_unstable_by_key(n.saturating_sub(1), |(t, _)| *t);
        for (_, k) in ages.into_iter().take(n) {
            self.pairs.remove(&k);
        }
        if !self.evicted_live {
            self.evicted_live = true;
            tracing::warn!(target: "chatobs", max_pairs = max, "WhatsApp window state is full: the least recently active conversations were dropped, so their next messages may be priced as if no window were open; raise cost.state_max_entries");
        }
    }

    pub(super) fn count(&mut self, key: String, month: (i32, u8)) -> u64 {
        if month > self.newest_month {
            self.newest_month = month;
            // Keep the current and the previous month only.
            let keep = |k: &str| -> bool {
                let Some(m) = k.split('|').nth(1) else {
                    return false;
                };
                let (y, mo) = m.split_once('-').unwrap_or(("0", "0"));
                // In i64: a restored key may hold any i32 year, and
                // i32::MAX * 12 fits i64 with room to spare.
                let (y, mo): (i64, i64) = (
                    y.parse::<i32>().map_or(0, i64::from),
                    mo.parse::<i32>().map_or(0, i64::from),
                );
                let index = |y: i64, m: i64| y.saturating_mul(12).saturating_add(m);
                index(y, mo).saturating_add(1) >= index(i64::from(month.0), i64::from(month.1))
            };
            self.monthly.retain(|k, _| keep(k));
        }
        let c = self.monthly.entry(key).or_insert(0);
        // Saturating is honest for a count (a restored snapshot may start it
        // at u64::MAX): the tier for "at least this many" still applies.
        *c = c.saturating_add(1);
        *c
    }
}
