//! `[state]`: where conversations' shared state lives.

use chatobs_core::config::{env_value, Env, Errors, Section};
use serde::Deserialize;

/// Environment variable: the store's URL (overrides `state.url`).
pub const URL_ENV: &str = "CHATOBS_STATE_URL";
/// Environment variable: the per-operation timeout in milliseconds.
pub const TIMEOUT_ENV: &str = "CHATOBS_STATE_TIMEOUT_MS";

/// `[state]`: empty `url` keeps state in this process (the default, no
/// server needed); `redis://host:port[/db]` shares it through Redis.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// `redis://[user:password@]host:port[/db]`, or empty. `CHATOBS_STATE_URL`.
    pub url: String,
    /// The longest a priced event waits for the store, in milliseconds; past
    /// it the event counts locally and the store catches up later.
    /// `CHATOBS_STATE_TIMEOUT_MS`.
    pub timeout_ms: u64,
    /// Prefix of every key (one per bot or environment sharing a Redis).
    pub key_prefix: String,
    /// Hours a conversation's keys live after its last change.
    pub ttl_hours: u64,
    /// Additions kept for replay while the store is unreachable (older ones
    /// are dropped and counted).
    pub max_pending: usize,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            url: String::new(),
            timeout_ms: 50,
            key_prefix: "chatobs".into(),
            ttl_hours: 72,
            max_pending: 100_000,
        }
    }
}

impl Section for StateConfig {
    const KEY: &'static str = "state";

    fn apply_env(&mut self, env: Env<'_>, errs: &mut Errors) {
        if let Some(v) = env_value(env, URL_ENV) {
            self.url = v;
        }
        if let Some(v) = env_value(env, TIMEOUT_ENV) {
            match v.trim().parse() {
                Ok(n) => self.timeout_ms = n,
                Err(_) => errs.push_env(
                    TIMEOUT_ENV,
                    "expected a whole number of milliseconds, such as 50",
                ),
            }
        }
    }

    fn validate(&self, errs: &mut Errors) {
        let url = self.url.trim();
        if !url.is_empty() {
            if url.starts_with("rediss://") {
                errs.push(
                    "state.url",
                    "rediss:// (TLS) is not supported by this build: use redis:// on a private network, or a TLS tunnel",
                );
            } else if !url.starts_with("redis://") {
                errs.push(
                    "state.url",
                    "expected redis://host:port[/db] (or empty to keep state in this process)",
                );
            } else if redis::Client::open(url).is_err() {
                // The URL itself is not shown: it may carry a password.
                errs.push(
                    "state.url",
                    "not a valid redis:// URL (the value is not shown: it may hold a password)",
                );
            }
        }
        if self.timeout_ms == 0 || self.timeout_ms > 10_000 {
            errs.push("state.timeout_ms", "must be 1 to 10000");
        }
        if self.key_prefix.is_empty()
            || self.key_prefix.len() > 64
            || !self
                .key_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b':')
        {
            errs.push(
                "state.key_prefix",
                "1 to 64 characters: letters, digits, `_`, `-`, `:`",
            );
        }
        if self.ttl_hours == 0 || self.ttl_hours > 24 * 366 {
            errs.push("state.ttl_hours", "must be 1 to 8784 (a year)");
        }
        if self.max_pending == 0 || self.max_pending > 10_000_000 {
            errs.push("state.max_pending", "must be 1 to 10000000");
        }
    }
}
