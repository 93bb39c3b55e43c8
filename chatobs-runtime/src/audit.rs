//! The tamper-evident audit trail (feature `audit`): who did what to which
//! conversation, each record chained to the one before by a keyed hash.
//! Everything of [`chatobs_audit`] is re-exported here; [`trail`] is the
//! trail `init` opened when `[audit] enabled = true` (the key from
//! `CHATOBS_AUDIT_KEY`, else `CHATOBS_SESSION_KEY`), pruned to
//! `retention_days` at start. Check a trail with `chatobs audit verify FILE`.
//!
//! ```no_run
//! use chatobs_runtime::audit::{self, Action, Entry};
//! let _guard = chatobs_runtime::init(chatobs_runtime::Config::load()?)?;
//! if let Some(trail) = audit::trail() {
//!     trail.record(
//!         Entry::new("operator:ana", Action::OperatorAssigned, "cs_1ccb5d65a0b14f0e9d2e1b7c3a4f5e6d")
//!             .before(serde_json::json!({"operator": null}))
//!             .after(serde_json::json!({"operator": "ana"})),
//!     )?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use chatobs_audit::*;
use std::sync::{Arc, OnceLock};

static TRAIL: OnceLock<Arc<AuditLog>> = OnceLock::new();

/// The trail `init` opened (`None` when `[audit] enabled` is false or
/// chatobs is not installed).
pub fn trail() -> Option<Arc<AuditLog>> {
    TRAIL.get().cloned()
}

/// Opens the configured trail and prunes it (what `init` does).
pub(crate) fn open(cfg: &AuditConfig) -> Result<(), crate::Error> {
    if !cfg.enabled {
        return Ok(());
    }
    if TRAIL.get().is_some() {
        return Ok(());
    }
    let log = AuditLog::open(cfg).map_err(crate::Error::from)?;
    log.prune(time::OffsetDateTime::now_utc())
        .map_err(crate::Error::from)?;
    let _ = TRAIL.set(Arc::new(log));
    Ok(())
}
