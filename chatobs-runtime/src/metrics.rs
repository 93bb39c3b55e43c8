//! # Metrics (feature `metrics`)
//!
//! Everything of [`chatobs_metrics`] (the registry, [`render`], the families
//! and buckets), plus what needs the whole configuration: [`install`] merges
//! the bucket bounds other sections ask for (per-call cost thresholds of
//! `[alerts]`, the p95 span alert, the `[slo]` latency bound) and starts the
//! OTLP mirror, and [`rules`] generates the Prometheus rules.
//!
//! ```
//! use chatobs_runtime::{cost, metrics, ChatSession, Config};
//! metrics::install(&Config::default()).unwrap();
//! ChatSession::from_exported_id("doc-metrics").unwrap().in_scope(|| {
//!     cost::record_llm_call(&cost::LlmCall::new("gpt-4o-mini").provider("openai")
//!         .input_tokens(1000).output_tokens(200)).unwrap();
//! });
//! let text = metrics::render();
//! assert!(text.contains(r#"chatobs_llm_cost_usd_total{gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini"} 0.00027"#));
//! assert!(!text.contains("doc-metrics")); // never a session id
//! ```

pub use chatobs_metrics::*;

use crate::{Config, Error};

/// The bucket bounds other sections ask for (see the module docs).
pub fn extra_bounds(cfg: &Config) -> ExtraBounds {
    #[allow(unused_mut)]
    let mut extra = ExtraBounds::default();
    #[cfg(feature = "alerts")]
    {
        use rust_decimal::prelude::ToPrimitive;
        extra.call_cost = cfg
            .alerts
            .enabled_rules()
            .filter(|(_, r)| r.quantity == chatobs_alerts::Quantity::LlmCallCostUsd)
            .filter_map(|(_, r)| r.above.and_then(|d| d.to_f64()))
            .collect();
        extra.span_duration = vec![cfg.alerts.prometheus.p95_span_duration_above_seconds];
        extra.turn_duration = vec![cfg.slo.turn_latency_seconds];
    }
    #[cfg(not(feature = "alerts"))]
    let _ = cfg;
    extra
}

/// The bucket bounds `cfg` gives each configurable histogram:
/// (call cost, span duration, turn duration).
pub fn bounds_of(cfg: &Config) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    chatobs_metrics::bounds_of(&cfg.metrics, &extra_bounds(cfg))
}

/// Starts recording with `cfg` (buckets, series limit, OTLP mirror); calling
/// it again resets every series. [`crate::init`] calls it.
pub fn install(cfg: &Config) -> Result<(), Error> {
    crate::init::connect_hooks();
    let extra = extra_bounds(cfg);
    chatobs_metrics::install(&cfg.metrics, &extra)?;
    #[cfg(feature = "otlp")]
    if cfg.metrics.enabled {
        let (call, span, _) = chatobs_metrics::bounds_of(&cfg.metrics, &extra);
        #[cfg(feature = "alerts")]
        let fired: Option<chatobs_otlp::metrics::FiredSource> = Some(crate::init::alerts_fired);
        #[cfg(not(feature = "alerts"))]
        let fired: Option<chatobs_otlp::metrics::FiredSource> = None;
        chatobs_otlp::metrics::configure(
            &crate::init::otlp_target(cfg),
            &cfg.metrics,
            &call,
            &span,
            fired,
        )?;
    }
    Ok(())
}

/// Stops recording (the series stay until the next [`install`]) and pushes OTLP metrics.
pub fn shutdown() {
    chatobs_metrics::shutdown();
    #[cfg(feature = "otlp")]
    chatobs_otlp::metrics::shutdown();
}

/// A hook for `EvalPipelineBuilder::on_result`: records `chatobs_eval_score` /
/// `chatobs_eval_failures_total` and checks the `eval_score` alert rules.
/// (`init` connects it to every pipeline already; use it for a pipeline you
/// start before `init`.)
///
/// ```no_run
/// # let cfg = chatobs_runtime::Config::default();
/// let evals = chatobs_runtime::evals::EvalPipeline::builder(cfg.evals.clone())
///     .on_result(chatobs_runtime::metrics::eval_hook())
///     .start()?;
/// # Ok::<(), chatobs_runtime::Error>(())
/// ```
#[cfg(feature = "evals")]
pub fn eval_hook() -> impl Fn(&chatobs_evals::EvalRecord) + Send + Sync + 'static {
    crate::init::eval_result
}

/// Prometheus alerting and recording rules from the configuration (what
/// `chatobs rules` prints; feature `alerts`).
#[cfg(feature = "alerts")]
pub mod rules {
    pub use chatobs_alerts::rules::{
        PromGroup, PromRule, RulesSource, BURN_WINDOWS, GROUP_BUDGETS, GROUP_OPERATIONS, GROUP_SLO,
    };

    use crate::Config;

    fn source(cfg: &Config) -> RulesSource<'_> {
        RulesSource {
            alerts: &cfg.alerts,
            slo: &cfg.slo,
            service: &cfg.service.name,
            source: cfg.source.as_deref(),
        }
    }

    /// The rule groups `cfg` describes.
    pub fn groups(cfg: &Config) -> Vec<PromGroup> {
        chatobs_alerts::rules::groups(&source(cfg))
    }

    /// The rules file (YAML) `chatobs rules` prints.
    pub fn prometheus_rules(cfg: &Config) -> String {
        chatobs_alerts::rules::prometheus_rules(&source(cfg))
    }
}
