//! `[metrics]`.

use chatobs_core::config::{Errors, Section};
use chatobs_core::Error;
use serde::Deserialize;

/// Whether metrics also go out over OTLP.
#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OtlpMetrics {
    /// When an OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    Auto,
    /// Always (fails at init without an endpoint).
    On,
    /// Never: Prometheus text only.
    Off,
}

/// `[metrics]`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Record metrics at all.
    pub enabled: bool,
    /// Most series per metric; past it new label sets share one `_overflow` series.
    pub max_series_per_metric: usize,
    /// Buckets (seconds) of `chatobs_span_duration_seconds`; the p95 bound of
    /// `[alerts.prometheus]` is added.
    pub span_duration_buckets: Vec<f64>,
    /// Buckets (USD) of `chatobs_llm_call_cost_usd`; every per-call cost threshold is added.
    pub call_cost_buckets: Vec<f64>,
    /// OTLP export of the same instruments.
    pub otlp: OtlpMetrics,
    /// OTLP export interval.
    pub otlp_interval_ms: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            max_series_per_metric: 2000,
            span_duration_buckets: vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ],
            call_cost_buckets: vec![
                0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            ],
            otlp: OtlpMetrics::Auto,
            otlp_interval_ms: 60_000,
        }
    }
}

fn check_buckets(key: &str, b: &[f64]) -> Result<(), Error> {
    if b.is_empty() || b.len() > 64 {
        return Err(Error::config(
            None,
            key,
            format!("list 1 to 64 bucket bounds, got {}", b.len()),
        ));
    }
    if b.iter().any(|v| !v.is_finite() || *v <= 0.0) || b.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Error::config(
            None,
            key,
            "bucket bounds must be positive, finite and increasing",
        ));
    }
    Ok(())
}

impl MetricsConfig {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), Error> {
        if !(1..=1_000_000).contains(&self.max_series_per_metric) {
            return Err(Error::config(
                None,
                "metrics.max_series_per_metric",
                format!(
                    "must be between 1 and 1000000, got {}",
                    self.max_series_per_metric
                ),
            ));
        }
        check_buckets("metrics.span_duration_buckets", &self.span_duration_buckets)?;
        check_buckets("metrics.call_cost_buckets", &self.call_cost_buckets)?;
        if self.otlp_interval_ms < 100 {
            return Err(Error::config(
                None,
                "metrics.otlp_interval_ms",
                format!("must be at least 100, got {}", self.otlp_interval_ms),
            ));
        }
        Ok(())
    }
}

impl Section for MetricsConfig {
    const KEY: &'static str = "metrics";

    fn validate(&self, errs: &mut Errors) {
        errs.check(MetricsConfig::validate(self));
    }
}
