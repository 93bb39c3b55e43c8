//! `[audit]`: whether the trail is written, where, how long records are kept,
//! and which environment variable holds the key.

use crate::AuditError;
use chatobs_core::config::{env_value, Env, Errors, Section};
use serde::Deserialize;
use std::path::PathBuf;

/// Environment variable holding the audit key (the default of `audit.key_env`).
pub const AUDIT_KEY_ENV: &str = "CHATOBS_AUDIT_KEY";
/// The variable read when the one named by `audit.key_env` is unset: the
/// session key (`CHATOBS_SESSION_KEY`), which every service already has.
pub const FALLBACK_KEY_ENV: &str = chatobs_core::context::SESSION_KEY_ENV;
/// Environment variable: `true` or `false`, overrides `audit.enabled`.
pub const ENABLED_ENV: &str = "CHATOBS_AUDIT_ENABLED";
/// Environment variable: overrides `audit.path`.
pub const PATH_ENV: &str = "CHATOBS_AUDIT_PATH";
/// Environment variable: overrides `audit.retention_days`.
pub const RETENTION_DAYS_ENV: &str = "CHATOBS_AUDIT_RETENTION_DAYS";

/// The fewest bytes a key may have.
pub const MIN_KEY_BYTES: usize = 16;
/// The longest retention (100 years); `0` keeps records forever.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// `[audit]`: the tamper-evident audit trail.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Write the audit trail. `CHATOBS_AUDIT_ENABLED`.
    pub enabled: bool,
    /// The JSONL file the records are appended to. `CHATOBS_AUDIT_PATH`.
    pub path: PathBuf,
    /// Records older than this many days are removed by `AuditLog::prune`,
    /// which leaves a `retention_checkpoint` in their place (0: keep forever).
    /// `CHATOBS_AUDIT_RETENTION_DAYS`.
    pub retention_days: u32,
    /// The environment variable holding the HMAC key (at least 16 bytes); when
    /// it is unset, `CHATOBS_SESSION_KEY` is used. The key is never read from a file.
    pub key_env: String,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: false,
            path: PathBuf::from("target/chatobs/audit.jsonl"),
            retention_days: 365,
            key_env: AUDIT_KEY_ENV.into(),
        }
    }
}

impl Section for AuditConfig {
    const KEY: &'static str = "audit";

    fn apply_env(&mut self, env: Env<'_>, errs: &mut Errors) {
        if let Some(v) = env_value(env, ENABLED_ENV) {
            match v.to_ascii_lowercase().as_str() {
                "true" | "1" => self.enabled = true,
                "false" | "0" => self.enabled = false,
                _ => errs.push_env(
                    ENABLED_ENV,
                    format!(
                        "{:?}: expected true or false",
                        chatobs_core::redact::truncate_for_error(&v)
                    ),
                ),
            }
        }
        if let Some(v) = env_value(env, PATH_ENV) {
            self.path = PathBuf::from(v);
        }
        if let Some(v) = env_value(env, RETENTION_DAYS_ENV) {
            match v.parse::<u32>() {
                Ok(d) => self.retention_days = d,
                Err(_) => errs.push_env(
                    RETENTION_DAYS_ENV,
                    format!(
                        "{:?}: expected a whole number of days between 0 (keep forever) and {MAX_RETENTION_DAYS}",
                        chatobs_core::redact::truncate_for_error(&v)
                    ),
                ),
            }
        }
    }

    fn validate(&self, errs: &mut Errors) {
        if self.path.as_os_str().is_empty() {
            errs.push(
                "audit.path",
                "must name a file (default target/chatobs/audit.jsonl)",
            );
        } else if self.enabled {
            if let Err(why) = chatobs_core::config::writable_file(&self.path) {
                errs.push("audit.path", why);
            }
        }
        if self.retention_days > MAX_RETENTION_DAYS {
            errs.push(
                "audit.retention_days",
                format!(
                    "must be between 0 (keep forever) and {MAX_RETENTION_DAYS}, got {}",
                    self.retention_days
                ),
            );
        }
        if !valid_env_name(&self.key_env) {
            errs.push(
                "audit.key_env",
                format!(
                    "must name an environment variable (letters, digits and _, default {AUDIT_KEY_ENV}), got {:?}; the key itself is never read from a file",
                    chatobs_core::redact::truncate(&self.key_env, 64)
                ),
            );
        }
    }
}

impl AuditConfig {
    /// Checks the values (every problem at once, each under its key).
    pub fn validate(&self) -> Result<(), chatobs_core::Error> {
        let mut errs = Errors::new(None);
        Section::validate(self, &mut errs);
        errs.into_result()
    }

    /// The key, from the variable named by `key_env`, else `CHATOBS_SESSION_KEY`.
    pub fn key(&self, env: Env<'_>) -> Result<Vec<u8>, AuditError> {
        resolve_key(&self.key_env, env)
    }
}

/// Whether `name` can be an environment variable's name (`A-Z`, `a-z`, `0-9`,
/// `_`, not starting with a digit).
fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// The audit key: the value of `key_env`, or when that is unset (or empty) of
/// `CHATOBS_SESSION_KEY`. The value is used as is (its bytes) and must have at
/// least 16 bytes. Errors name the variable to set, never a value.
pub fn resolve_key(key_env: &str, env: Env<'_>) -> Result<Vec<u8>, AuditError> {
    let mut tried = vec![key_env];
    if key_env != FALLBACK_KEY_ENV {
        tried.push(FALLBACK_KEY_ENV);
    }
    for var in tried {
        let Some(v) = env(var).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        if v.len() < MIN_KEY_BYTES {
            return Err(AuditError::Key(format!(
                "{var} has {} bytes; use at least {MIN_KEY_BYTES} random bytes (for example `openssl rand -hex 32`), the same in every process that writes or verifies the trail",
                v.len()
            )));
        }
        return Ok(v.into_bytes());
    }
    Err(AuditError::Key(if key_env == FALLBACK_KEY_ENV {
        format!(
            "{key_env} is not set: set it to at least {MIN_KEY_BYTES} random bytes (for example `openssl rand -hex 32`), the same in every process that writes or verifies the trail"
        )
    } else {
        format!(
            "neither {key_env} nor {FALLBACK_KEY_ENV} is set: set {key_env} (audit.key_env) to at least {MIN_KEY_BYTES} random bytes (for example `openssl rand -hex 32`), the same in every process that writes or verifies the trail"
        )
    }))
}
