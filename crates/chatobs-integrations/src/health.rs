//! Liveness and readiness.
//!
//! * `/health` (liveness): the process answers: `200 {"status":"healthy","timestamp":...}`.
//! * `/health/ready` (readiness): `200 {"status":"ready","checks":{...}}` or
//!   `503 {"status":"not_ready","checks":{...}}`, each check `healthy` or
//!   `unhealthy`, with a `details` object saying why:
//!   - `config`: a configuration was loaded and chatobs is installed;
//!   - `exporter_queue`: the span queue is below `health.queue_saturation`
//!     (a fraction of `exporter.queue_size`);
//!   - `export`: exports have not been failing for longer than
//!     `health.export_failing_max_secs`.
//!
//! The axum routes are in [`super::axum::health_router`]; [`readiness`]
//! computes the same answer for any framework.
//!
//! ```
//! use chatobs_runtime::integrations::health::{readiness, HealthConfig};
//! let r = readiness(&HealthConfig::default());
//! // Without chatobs installed, the `config` check fails.
//! assert!(!r.ready);
//! assert_eq!(r.to_json()["checks"]["config"], "unhealthy");
//! ```

use crate::pipeline::PipelineSnapshot;
use serde::Deserialize;
use std::time::Duration;

/// `[health]` in `config/observability.toml`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Not ready when exports have been failing for longer than this (seconds).
    pub export_failing_max_secs: u64,
    /// Not ready when the span queue is fuller than this fraction of its capacity.
    pub queue_saturation: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            export_failing_max_secs: 60,
            queue_saturation: 0.9,
        }
    }
}

impl HealthConfig {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), crate::Error> {
        if !(self.queue_saturation > 0.0 && self.queue_saturation <= 1.0) {
            return Err(crate::Error::config(
                None,
                "health.queue_saturation",
                format!(
                    "must be a fraction above 0 and at most 1, got {}",
                    self.queue_saturation
                ),
            ));
        }
        Ok(())
    }
}

impl chatobs_core::config::Section for HealthConfig {
    const KEY: &'static str = "health";

    fn validate(&self, errs: &mut chatobs_core::config::Errors) {
        errs.check(HealthConfig::validate(self));
    }
}

/// One check's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// `config`, `exporter_queue`, `export`, or an app check's name.
    pub name: std::borrow::Cow<'static, str>,
    /// Passed.
    pub healthy: bool,
    /// Working, with less than it should (shown as `degraded`; readiness
    /// still passes: a replica that can answer should keep answering).
    pub degraded: bool,
    /// Why (no personal data: counts and durations).
    pub detail: String,
}

/// The readiness answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// Every check passed.
    pub ready: bool,
    /// The checks, in a fixed order.
    pub checks: Vec<Check>,
}

impl Readiness {
    /// HTTP status: 200 or 503.
    pub fn status_code(&self) -> u16 {
        if self.ready {
            200
        } else {
            503
        }
    }
    /// The JSON body.
    pub fn to_json(&self) -> serde_json::Value {
        let mut checks = serde_json::Map::new();
        let mut details = serde_json::Map::new();
        for c in &self.checks {
            checks.insert(
                c.name.to_string(),
                if !c.healthy {
                    "unhealthy"
                } else if c.degraded {
                    "degraded"
                } else {
                    "healthy"
                }
                .into(),
            );
            details.insert(c.name.to_string(), c.detail.clone().into());
        }
        serde_json::json!({
            "status": if self.ready { "ready" } else { "not_ready" },
            "checks": checks,
            "details": details,
        })
    }
}

impl Readiness {
    /// Adds a check (an app's own: database, Redis, LLM provider) and
    /// updates [`Readiness::ready`].
    pub fn push(&mut self, check: Check) {
        self.ready &= check.healthy;
        self.checks.push(check);
    }
}

/// A check name as it may be exported: ASCII letters, digits, `_`, `-`, `.`,
/// at most 64; anything else becomes `_`.
pub fn check_name(name: &str) -> String {
    let n: String = name
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if n.is_empty() {
        "_".into()
    } else {
        n
    }
}

/// A part of chatobs that reports how it fares on `/health/ready` (the
/// shared state store, for one): `None` when it has nothing to say.
pub type StatusSource = fn() -> Option<Check>;

static SOURCES: std::sync::RwLock<Vec<StatusSource>> = std::sync::RwLock::new(Vec::new());

/// Adds a [`StatusSource`] to every readiness answer (once per function).
pub fn add_status_source(source: StatusSource) {
    let mut v = SOURCES.write().unwrap_or_else(|e| e.into_inner());
    if !v.iter().any(|f| std::ptr::fn_addr_eq(*f, source)) {
        v.push(source);
    }
}

/// Readiness from the installed pipeline (and the status sources).
pub fn readiness(cfg: &HealthConfig) -> Readiness {
    let mut r = readiness_of(crate::pipeline::snapshot().as_ref(), cfg);
    let sources: Vec<StatusSource> = SOURCES.read().unwrap_or_else(|e| e.into_inner()).clone();
    for source in sources {
        if let Some(c) = source() {
            r.push(c);
        }
    }
    r
}

/// Readiness from a pipeline snapshot (`None`: chatobs is not installed).
pub fn readiness_of(snap: Option<&PipelineSnapshot>, cfg: &HealthConfig) -> Readiness {
    let mut checks = Vec::with_capacity(3);
    checks.push(Check {
        name: "config".into(),
        healthy: snap.is_some(),
        degraded: false,
        detail: if snap.is_some() {
            "configuration loaded, pipeline installed".into()
        } else {
            "chatobs is not installed (init was not called or failed)".into()
        },
    });
    match snap {
        Some(s) => {
            let limit = (s.capacity as f64 * cfg.queue_saturation).ceil() as usize;
            checks.push(Check {
                name: "exporter_queue".into(),
                healthy: s.queued < limit.max(1),
                degraded: false,
                detail: format!(
                    "{} of {} queued (limit {limit}), {} dropped",
                    s.queued, s.capacity, s.dropped
                ),
            });
            let max = Duration::from_secs(cfg.export_failing_max_secs);
            let counts = format!(
                "{} spans exported, {} failed to export",
                s.exported, s.export_failed
            );
            let (ok, detail) = match s.failing_for {
                None => (true, format!("exports succeeding ({counts})")),
                Some(d) => (
                    d <= max,
                    format!(
                        "exports failing for {} s (limit {} s; {counts})",
                        d.as_secs(),
                        max.as_secs()
                    ),
                ),
            };
            checks.push(Check {
                name: "export".into(),
                healthy: ok,
                degraded: false,
                detail,
            });
        }
        None => {
            for name in ["exporter_queue", "export"] {
                checks.push(Check {
                    name: name.into(),
                    healthy: false,
                    degraded: false,
                    detail: "no pipeline".into(),
                });
            }
        }
    }
    Readiness {
        ready: checks.iter().all(|c| c.healthy),
        checks,
    }
}

/// The liveness JSON body.
pub fn liveness_json() -> serde_json::Value {
    serde_json::json!({
        "status": "healthy",
        "timestamp": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(queued: usize, failing: Option<u64>) -> PipelineSnapshot {
        PipelineSnapshot {
            queued,
            queued_bytes: 0,
            capacity: 100,
            dropped: 0,
            exported: 5,
            export_failed: 0,
            failing_for: failing.map(Duration::from_secs),
            lost: 0,
        }
    }

    #[test]
    fn each_check_decides() {
        let cfg = HealthConfig::default();
        assert!(readiness_of(Some(&snap(10, None)), &cfg).ready);
        let full = readiness_of(Some(&snap(95, None)), &cfg);
        assert!(!full.ready);
        assert_eq!(full.to_json()["checks"]["exporter_queue"], "unhealthy");
        assert_eq!(full.to_json()["checks"]["export"], "healthy");
        assert_eq!(
            full.to_json()["details"]["export"],
            "exports succeeding (5 spans exported, 0 failed to export)"
        );
        assert!(readiness_of(Some(&snap(0, Some(30))), &cfg).ready);
        let failing = readiness_of(Some(&snap(0, Some(61))), &cfg);
        assert_eq!(failing.status_code(), 503);
        assert_eq!(failing.to_json()["status"], "not_ready");
    }
}
