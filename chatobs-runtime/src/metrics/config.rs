//! `[metrics]` and `[slo]`.

use crate::Error;
use serde::Deserialize;

/// Whether metrics also go out over OTLP.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
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
#[derive(Clone, Debug, Deserialize, PartialEq)]
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

/// `[slo]`: service level objectives for conversation turns (a turn is a
/// local root span of a conversation: the webhook's SERVER span, or your
/// top-level handler). `chatobs rules` turns them into recording rules for the
/// error budget and multi-window burn-rate alerts.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SloConfig {
    /// Generate the SLO rules.
    pub enabled: bool,
    /// The SLO window in days (the burn-rate factors are the SRE workbook's, for 30 days).
    pub window_days: u32,
    /// Fraction of turns that must succeed (0.95: 95%).
    pub turn_success_objective: f64,
    /// Latency bound of a turn, seconds (a bucket of `chatobs_turn_duration_seconds`).
    pub turn_latency_seconds: f64,
    /// Fraction of turns that must finish under the bound (0.95: p95 under the bound).
    pub turn_latency_objective: f64,
}

impl Default for SloConfig {
    fn default() -> Self {
        SloConfig {
            enabled: true,
            window_days: 30,
            turn_success_objective: 0.95,
            turn_latency_seconds: 5.0,
            turn_latency_objective: 0.95,
        }
    }
}

impl SloConfig {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), Error> {
        let frac = |k: &str, v: f64| {
            if v > 0.0 && v < 1.0 {
                Ok(())
            } else {
                Err(Error::config(
                    None,
                    k,
                    format!("must be between 0 and 1 (exclusive), got {v}"),
                ))
            }
        };
        frac("slo.turn_success_objective", self.turn_success_objective)?;
        frac("slo.turn_latency_objective", self.turn_latency_objective)?;
        if !(self.turn_latency_seconds.is_finite() && self.turn_latency_seconds > 0.0) {
            return Err(Error::config(
                None,
                "slo.turn_latency_seconds",
                format!("must be positive, got {}", self.turn_latency_seconds),
            ));
        }
        if !(1..=400).contains(&self.window_days) {
            return Err(Error::config(
                None,
                "slo.window_days",
                format!("must be between 1 and 400, got {}", self.window_days),
            ));
        }
        Ok(())
    }
}
