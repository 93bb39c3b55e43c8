//! One audit record: what callers pass ([`Entry`]), the closed set of actions
//! ([`Action`]), and the line format (the signed body, then `mac`).

use crate::AuditError;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// The most bytes of `actor`.
pub const MAX_ACTOR_BYTES: usize = 256;
/// The most bytes of `target`.
pub const MAX_TARGET_BYTES: usize = 256;
/// The most bytes of `before` and of `after`, each, as JSON (after redaction).
pub const MAX_VALUE_BYTES: usize = 16 * 1024;
/// The longest line a record can take; a longer line is not a record.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// `prev` of the first record of a trail: 64 zeros.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What was done. A closed set: the verifier and every reader know each one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A conversation was assigned to (or taken from) an operator.
    OperatorAssigned,
    /// Operator or user feedback was recorded on a conversation.
    FeedbackRecorded,
    /// The configuration was reloaded (`target`: the section or key).
    ConfigReloaded,
    /// A conversation's budget was overridden.
    BudgetOverride,
    /// Data was exported (`target`: the conversation or the export's scope).
    DataExport,
    /// Written by retention only: the records before this one were pruned.
    RetentionCheckpoint,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 6] = [
        Action::OperatorAssigned,
        Action::FeedbackRecorded,
        Action::ConfigReloaded,
        Action::BudgetOverride,
        Action::DataExport,
        Action::RetentionCheckpoint,
    ];

    /// The written spelling (`operator_assigned`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::OperatorAssigned => "operator_assigned",
            Action::FeedbackRecorded => "feedback_recorded",
            Action::ConfigReloaded => "config_reloaded",
            Action::BudgetOverride => "budget_override",
            Action::DataExport => "data_export",
            Action::RetentionCheckpoint => "retention_checkpoint",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a caller records: who (`actor`), what (`action`), to what (`target`),
/// and the state before and after.
///
/// Personal data: pass identifiers, never content. `actor` is an operator or
/// service id (`operator:ana`, `system`), not an e-mail address; `target` is a
/// conversation id (`cs_…`, already a keyed hash) or a configuration key;
/// `before` and `after` hold ids, numbers, flags and configuration values,
/// never message text or phone numbers. As a safety net, every string in
/// `before`, `after` and `target` goes through
/// [`chatobs_core::redact::redact_free_text`] (phone numbers, e-mail addresses
/// and bearer tokens become `[REDACTED]`) before it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Who: `operator:ana`, `service:gateway`, `system` (1 to 256 bytes).
    pub actor: String,
    /// What.
    pub action: Action,
    /// To what: a conversation id or a configuration key (1 to 256 bytes).
    pub target: String,
    /// The state before (at most 16 KiB as JSON).
    pub before: Option<Value>,
    /// The state after (at most 16 KiB as JSON).
    pub after: Option<Value>,
}

impl Entry {
    /// An entry with no before or after state.
    pub fn new(actor: impl Into<String>, action: Action, target: impl Into<String>) -> Entry {
        Entry {
            actor: actor.into(),
            action,
            target: target.into(),
            before: None,
            after: None,
        }
    }

    /// Sets the state before.
    pub fn before(mut self, v: Value) -> Entry {
        self.before = Some(v);
        self
    }

    /// Sets the state after.
    pub fn after(mut self, v: Value) -> Entry {
        self.after = Some(v);
        self
    }

    /// Checks the bounds and redacts; what [`crate::AuditLog::record`] writes.
    pub(crate) fn checked(self) -> Result<Entry, AuditError> {
        if self.action == Action::RetentionCheckpoint {
            return Err(AuditError::InvalidInput(
                "retention_checkpoint records are written by AuditLog::prune only".into(),
            ));
        }
        let bounded = |field: &str, v: &str, max: usize| {
            if v.is_empty() || v.len() > max {
                Err(AuditError::InvalidInput(format!(
                    "audit {field} must have 1 to {max} bytes, got {}",
                    v.len()
                )))
            } else {
                Ok(())
            }
        };
        bounded("actor", &self.actor, MAX_ACTOR_BYTES)?;
        bounded("target", &self.target, MAX_TARGET_BYTES)?;
        let target = chatobs_core::redact::redact_free_text(&self.target).into_owned();
        let before = self.before.map(redact_value);
        let after = self.after.map(redact_value);
        for (field, v) in [("before", &before), ("after", &after)] {
            if let Some(v) = v {
                let n = serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX);
                if n > MAX_VALUE_BYTES {
                    return Err(AuditError::InvalidInput(format!(
                        "audit {field} has {n} bytes as JSON, more than {MAX_VALUE_BYTES}: record ids and the fields that changed, not whole documents"
                    )));
                }
            }
        }
        Ok(Entry {
            actor: self.actor,
            action: self.action,
            target,
            before,
            after,
        })
    }
}

/// `v` with every string (and object key) passed through `redact_free_text`.
pub(crate) fn redact_value(v: Value) -> Value {
    use chatobs_core::redact::redact_free_text;
    match v {
        Value::String(s) => match redact_free_text(&s) {
            std::borrow::Cow::Borrowed(_) => Value::String(s),
            std::borrow::Cow::Owned(r) => Value::String(r),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(redact_value).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (redact_free_text(&k).into_owned(), redact_value(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The signed part of a record, in its fixed field order (`mac` follows it on the line).
#[derive(Serialize)]
pub(crate) struct BodyRef<'a> {
    pub seq: u64,
    pub ts: &'a str,
    pub actor: &'a str,
    pub action: Action,
    pub target: &'a str,
    pub before: &'a Option<Value>,
    pub after: &'a Option<Value>,
    pub prev: &'a str,
}

/// The signed part of a record, as read back.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Body {
    pub seq: u64,
    pub ts: String,
    #[allow(dead_code)]
    pub actor: String,
    pub action: Action,
    #[allow(dead_code)]
    pub target: String,
    pub before: Option<Value>,
    #[allow(dead_code)]
    pub after: Option<Value>,
    pub prev: String,
}

/// The line of `body`: its JSON with `"mac":"<hex HMAC of that JSON>"` as the
/// last field, and a newline. Returns the line and the MAC.
pub(crate) fn encode(
    key: &HmacSha256,
    body: &BodyRef<'_>,
) -> Result<(Vec<u8>, [u8; 32]), AuditError> {
    let mut json = serde_json::to_vec(body).map_err(|e| {
        AuditError::InvalidInput(format!("audit record cannot be written as JSON: {e}"))
    })?;
    let mut m = key.clone();
    m.update(&json);
    let tag: [u8; 32] = m.finalize().into_bytes().into();
    json.pop(); // the closing brace
    json.extend_from_slice(b",\"mac\":\"");
    json.extend_from_slice(hex::encode(tag).as_bytes());
    json.extend_from_slice(b"\"}\n");
    Ok((json, tag))
}

const MAC_FIELD: &[u8] = b",\"mac\":\"";
const SUFFIX_LEN: usize = MAC_FIELD.len() + 64 + 2;

/// The line without its `mac` field, and the MAC: `None` when the line does not
/// end with `,"mac":"<64 lowercase hex digits>"}`.
pub(crate) fn split_mac(line: &[u8]) -> Option<(&[u8], [u8; 32])> {
    if line.len() <= SUFFIX_LEN {
        return None;
    }
    let (head, tail) = line.split_at(line.len() - SUFFIX_LEN);
    let hex_part = tail.strip_prefix(MAC_FIELD)?.strip_suffix(b"\"}")?;
    if !hex_part
        .iter()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    {
        return None;
    }
    let mut mac = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut mac).ok()?;
    Some((head, mac))
}

/// Why a line is not a good record.
pub(crate) enum LineError {
    /// Not a record (the reason).
    Malformed(String),
    /// Shaped like a record, but its MAC does not match its bytes.
    Changed,
}

/// A record whose MAC matched.
pub(crate) struct Parsed {
    pub body: Body,
    pub prev: [u8; 32],
    pub mac: [u8; 32],
}

/// Checks one line (without its newline) against `key` and reads it.
pub(crate) fn parse_line(key: &HmacSha256, line: &[u8]) -> Result<Parsed, LineError> {
    if line.is_empty() {
        return Err(LineError::Malformed("empty line".into()));
    }
    let Some((head, mac)) = split_mac(line) else {
        return Err(LineError::Malformed(
            "it does not end with a \"mac\" field of 64 hex digits (cut short, or not an audit record)".into(),
        ));
    };
    let mut signed = Vec::with_capacity(head.len() + 1);
    signed.extend_from_slice(head);
    signed.push(b'}');
    let mut m = key.clone();
    m.update(&signed);
    if m.verify_slice(&mac).is_err() {
        return Err(LineError::Changed);
    }
    let body: Body = serde_json::from_slice(&signed)
        .map_err(|e| LineError::Malformed(format!("not an audit record: {e}")))?;
    let mut prev = [0u8; 32];
    if body.prev.len() != 64 || hex::decode_to_slice(&body.prev, &mut prev).is_err() {
        return Err(LineError::Malformed("\"prev\" is not 64 hex digits".into()));
    }
    Ok(Parsed { body, prev, mac })
}

/// The seq a line claims, read leniently (no MAC check): for error messages and
/// for looking ahead.
pub(crate) fn claimed_seq(line: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct SeqOnly {
        seq: u64,
    }
    if let Ok(s) = serde_json::from_slice::<SeqOnly>(line) {
        return Some(s.seq);
    }
    // A line cut short still starts with `{"seq":N,`.
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let end = rest.iter().position(|c| !c.is_ascii_digit())?;
    if rest.get(end) != Some(&b',') {
        return None;
    }
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// The MAC a line claims (no check).
pub(crate) fn claimed_mac(line: &[u8]) -> Option<[u8; 32]> {
    split_mac(line).map(|(_, m)| m)
}

/// An HMAC-SHA256 state keyed with `key`.
pub(crate) fn keyed(key: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        // new_from_slice only fails for fixed-size-key MACs, never for HMAC
        // (as in chatobs-core's session key).
        Err(_) => std::process::abort(),
    }
}
