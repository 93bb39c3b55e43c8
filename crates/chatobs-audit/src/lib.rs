//! # chatobs-audit: a tamper-evident audit trail
//!
//! Who did what to which conversation: operator assignments, feedback,
//! configuration reloads, budget overrides and data exports, each with its
//! actor, action, target, and the state before and after. Records are
//! appended to a JSONL file (the default sink), one a line, and each is
//! chained to the one before it by a keyed hash, so that changing, removing
//! or reordering a record is detected by [`verify`] (and by
//! `chatobs audit verify FILE`), which names the first line that breaks.
//!
//! This crate depends only on `chatobs-core` (for its configuration section
//! and redaction); the facade opens the trail and hands it to the parts that
//! record actions.
//!
//! ## A record
//!
//! ```text
//! {"seq":7,"ts":"2026-05-01T10:00:00.5Z","actor":"operator:ana","action":"operator_assigned",
//!  "target":"cs_…","before":{"operator":null},"after":{"operator":"ana"},"prev":"<hex>","mac":"<hex>"}
//! ```
//!
//! (one line in the file). `seq` starts at 1 and grows by one; `ts` is RFC 3339
//! in UTC; `action` is one of [`Action`]; `before` and `after` are optional JSON
//! (at most 16 KiB each); `prev` is the `mac` of the record before (64 zeros for
//! the first); `mac` is the hex HMAC-SHA256, with the audit key, of the line's
//! bytes without the `mac` field (the JSON of the other fields, in this
//! order). Every byte of a line is covered by its MAC or checked by its shape.
//!
//! ## What verification tells
//!
//! [`verify`] reads a trail line by line and returns the first problem as a
//! [`VerifyError`] with its 1-based line, the record's seq and its
//! [`VerifyErrorKind`]:
//!
//! | kind | meaning |
//! |---|---|
//! | `Changed` | the record's MAC does not match its bytes (a byte flipped), or another key |
//! | `Removed` | records are missing before this line (a gap in `seq`) |
//! | `Reordered` | this record belongs elsewhere (swapped lines: the first of the two) |
//! | `Malformed` | not a record (not JSON, cut short, empty) |
//!
//! What it cannot tell without help: records cut from the *end* leave a
//! shorter trail that still verifies, and whoever holds the key can write a
//! whole new trail. Keep [`Summary::last_seq`] and [`Summary::last_mac`]
//! somewhere else from time to time (a ticket, another system) to anchor the
//! end, and keep the key where the people being audited cannot read it.
//!
//! ## Retention
//!
//! [`AuditLog::prune`] removes the records older than `retention_days` from
//! the start of the trail and puts a `retention_checkpoint` record first. Its
//! `before` holds `{"pruned", "last_pruned_seq", "last_pruned_mac"}` and its
//! seq and `prev` are those of the last pruned record, so the records kept
//! still verify from it. A trail that does not verify is never pruned.
//!
//! ## Personal data
//!
//! The caller passes identifiers: `actor` is an operator or service id, not an
//! e-mail address; `target` a conversation id (`cs_…`, already a keyed hash of
//! the user) or a configuration key; `before` and `after` hold ids, numbers,
//! flags and configuration values. **Never put message text or phone numbers
//! in a record.** As a safety net every string of `before`, `after` and
//! `target` is passed through [`chatobs_core::redact::redact_free_text`]
//! (phone numbers, e-mail addresses and tokens become `[REDACTED]`) before it
//! is written.
//!
//! ## Configuration: `[audit]`
//!
//! | key | default | variable |
//! |---|---|---|
//! | `enabled` | `false` | `CHATOBS_AUDIT_ENABLED` |
//! | `path` | `target/chatobs/audit.jsonl` | `CHATOBS_AUDIT_PATH` |
//! | `retention_days` | `365` (`0`: keep forever) | `CHATOBS_AUDIT_RETENTION_DAYS` |
//! | `key_env` | `CHATOBS_AUDIT_KEY` | names the variable holding the key |
//!
//! The key comes only from the environment: the variable named by `key_env`,
//! else `CHATOBS_SESSION_KEY`; with neither, [`AuditLog::open`] refuses with
//! an error naming the variable to set. It needs at least 16 bytes.
//!
//! ## Example
//!
//! ```
//! use chatobs_audit::{verify_file, Action, AuditLog, Entry, VerifyErrorKind};
//! use serde_json::json;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("audit.jsonl");
//! let key = b"example key: use `openssl rand -hex 32`";
//!
//! let log = AuditLog::open_with_key(&path, key, 365)?;
//! let seq = log.record(
//!     Entry::new("operator:ana", Action::OperatorAssigned, "cs_4f2a9c0e1b7d3a5c8e6f0a2b4c6d8e0f")
//!         .before(json!({ "operator": null }))
//!         .after(json!({ "operator": "ana" })),
//! )?;
//! assert_eq!(seq, 1);
//! log.record(Entry::new("system", Action::ConfigReloaded, "alerts.rules"))?;
//!
//! let summary = verify_file(&path, key)?;
//! assert_eq!((summary.records, summary.last_seq), (2, Some(2)));
//!
//! // Someone edits the first record: verification names it.
//! let text = std::fs::read_to_string(&path)?.replacen("operator:ana", "operator:bob", 1);
//! std::fs::write(&path, text)?;
//! let broken = verify_file(&path, key).unwrap_err();
//! assert_eq!((broken.line, broken.kind), (1, VerifyErrorKind::Changed));
//! assert_eq!(broken.headline(), "line 1 (seq 1): record changed");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod config;
mod error;
mod log;
mod record;
mod verify;

pub use config::{resolve_key, AuditConfig};
pub use error::AuditError;
pub use log::{AuditLog, PruneReport};
pub use record::{
    Action, Entry, GENESIS_PREV, MAX_ACTOR_BYTES, MAX_LINE_BYTES, MAX_TARGET_BYTES, MAX_VALUE_BYTES,
};
pub use verify::{verify, verify_file, Checkpoint, Summary, VerifyError, VerifyErrorKind};
