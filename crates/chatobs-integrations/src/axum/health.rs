//! The `/health` and `/health/ready` routes (the checks are in [`crate::health`]),
//! with the app's own readiness checks ([`ReadyChecks`]).

use crate::health::{self, Check, HealthConfig};
use axum::http::StatusCode;
use axum::Router;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

type CheckFut = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'static>>;
type CheckFn = Arc<dyn Fn() -> CheckFut + Send + Sync>;

/// The app's own readiness checks (its database, Redis, LLM provider),
/// each with a timeout. `/health/ready` runs them concurrently with
/// chatobs' own on every request and answers 503 when one fails, times
/// out or panics; the `details` say which and why (the reason is redacted
/// like any free text and cut to 200 bytes).
///
/// ```no_run
/// use chatobs_runtime::integrations::axum::{health_router_with, ReadyChecks};
/// use chatobs_runtime::integrations::health::HealthConfig;
/// use std::time::Duration;
/// let checks = ReadyChecks::new()
///     .check("database", Duration::from_millis(500), || async {
///         // e.g. sqlx::query("SELECT 1").execute(&pool).await.map(|_| ()).map_err(|e| e.to_string())
///         Ok(())
///     })
///     .check("llm_provider", Duration::from_secs(2), || async { Err("quota exhausted".to_string()) });
/// let app: axum::Router = health_router_with(HealthConfig::default(), checks);
/// ```
#[derive(Clone, Default)]
pub struct ReadyChecks {
    checks: Vec<(String, Duration, CheckFn)>,
}

impl std::fmt::Debug for ReadyChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.checks.iter().map(|(n, t, _)| (n, t)))
            .finish()
    }
}

impl ReadyChecks {
    /// No app check.
    pub fn new() -> ReadyChecks {
        ReadyChecks::default()
    }

    /// Adds the check `name` ([`health::check_name`] bounds it): `f` must
    /// answer `Ok(())` within `timeout`, else the service is not ready.
    pub fn check<F, Fut>(mut self, name: &str, timeout: Duration, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let f: CheckFn = Arc::new(move || Box::pin(f()));
        self.checks.push((health::check_name(name), timeout, f));
        self
    }

    /// Runs every check concurrently, each bounded by its timeout.
    pub async fn run(&self) -> Vec<Check> {
        let t0 = Instant::now();
        // Every check starts now, in a task of its own: a panicking check
        // fails, it does not take the route down.
        let started: Vec<_> = self
            .checks
            .iter()
            .map(|(name, timeout, f)| (name.clone(), *timeout, tokio::spawn(f())))
            .collect();
        let mut out = Vec::with_capacity(started.len());
        for (name, timeout, handle) in started {
            let left = timeout.saturating_sub(t0.elapsed());
            let abort = handle.abort_handle();
            let (healthy, detail) = match tokio::time::timeout(left, handle).await {
                Ok(Ok(Ok(()))) => (true, format!("ok in {} ms", t0.elapsed().as_millis())),
                Ok(Ok(Err(why))) => (
                    false,
                    crate::redact::truncate(&crate::redact::redact_free_text(&why), 200),
                ),
                Ok(Err(_)) => (false, "the check panicked".to_owned()),
                Err(_) => {
                    abort.abort();
                    (false, format!("timed out after {} ms", timeout.as_millis()))
                }
            };
            out.push(Check {
                name: name.into(),
                healthy,
                degraded: false,
                detail,
            });
        }
        out
    }
}

/// `/health` (liveness) and `/health/ready` (readiness), see [`crate::health`].
pub fn health_router<S: Clone + Send + Sync + 'static>(cfg: HealthConfig) -> Router<S> {
    health_router_with(cfg, ReadyChecks::new())
}

/// [`health_router`] with the app's own readiness checks.
pub fn health_router_with<S: Clone + Send + Sync + 'static>(
    cfg: HealthConfig,
    checks: ReadyChecks,
) -> Router<S> {
    let cfg = Arc::new(cfg);
    let checks = Arc::new(checks);
    Router::new()
        .route(
            "/health",
            axum::routing::get(|| async { axum::Json(health::liveness_json()) }),
        )
        .route(
            "/health/ready",
            axum::routing::get(move || {
                let (cfg, checks) = (cfg.clone(), checks.clone());
                async move {
                    let mut r = health::readiness(&cfg);
                    for c in checks.run().await {
                        r.push(c);
                    }
                    let code = StatusCode::from_u16(r.status_code())
                        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                    (code, axum::Json(r.to_json()))
                }
            }),
        )
}
