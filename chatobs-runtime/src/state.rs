//! Conversations shared across replicas and services (feature `state`).
//! Everything of [`chatobs_state`] is re-exported here; [`ledger`] is the
//! Redis ledger `init` started when `[state] url` (`CHATOBS_STATE_URL`) is
//! set. Without it, a conversation's totals live in each process.
//!
//! ```no_run
//! // Two replicas and an agents service, each with
//! //   CHATOBS_STATE_URL=redis://10.0.0.5:6379/0
//! // add to one total per conversation; the budget alert fires once.
//! let _guard = chatobs_runtime::init(chatobs_runtime::Config::load()?)?;
//! if let Some(l) = chatobs_runtime::state::ledger() {
//!     println!("Redis degraded: {}", l.is_degraded());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use chatobs_state::*;
use std::sync::{Arc, RwLock};

static LEDGER: RwLock<Option<Arc<RedisLedger>>> = RwLock::new(None);

/// The Redis ledger `init` started (`None` when state is in process).
pub fn ledger() -> Option<Arc<RedisLedger>> {
    LEDGER.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The `state` check of `/health/ready`: `degraded` while Redis is
/// unreachable (readiness still passes: the bot keeps answering, totals are
/// per process and queued), `healthy` otherwise.
#[cfg(any(feature = "axum", feature = "reqwest"))]
fn status() -> Option<chatobs_integrations::health::Check> {
    let l = ledger()?;
    let s = l.stats();
    Some(chatobs_integrations::health::Check {
        name: "state".into(),
        healthy: true,
        degraded: s.degraded,
        detail: if s.degraded {
            format!(
                "Redis unreachable: totals counted per process, {} additions queued for replay ({} dropped, {} outages)",
                s.pending, s.dropped, s.outages
            )
        } else {
            format!(
                "Redis answering ({} additions, {} replayed after {} outages, {} dropped)",
                s.added, s.replayed, s.outages, s.dropped
            )
        },
    })
}

/// Starts (or, with an empty url, stops sharing) what `cfg` says.
pub(crate) fn start(cfg: &StateConfig) -> Result<(), crate::Error> {
    #[cfg(any(feature = "axum", feature = "reqwest"))]
    chatobs_integrations::health::add_status_source(status);
    if cfg.url.trim().is_empty() {
        chatobs_cost::shared::set_shared(None);
        *LEDGER.write().unwrap_or_else(|e| e.into_inner()) = None;
        return Ok(());
    }
    let l = Arc::new(RedisLedger::start(cfg)?);
    chatobs_cost::shared::set_shared(Some(l.clone()));
    *LEDGER.write().unwrap_or_else(|e| e.into_inner()) = Some(l);
    Ok(())
}
