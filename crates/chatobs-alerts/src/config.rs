//! `[alerts]`: budget rules, sinks, and the operational thresholds `chatobs rules` uses.

use chatobs_core::config::{Env, Errors, Section};
use chatobs_core::Error;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Environment variable: the webhook URL.
pub const WEBHOOK_URL_ENV: &str = "CHATOBS_ALERT_WEBHOOK_URL";
/// Environment variable: webhook headers, `name=value` pairs separated by commas
/// (the only place for secret ones such as `authorization`).
pub const WEBHOOK_HEADERS_ENV: &str = "CHATOBS_ALERT_WEBHOOK_HEADERS";
/// Environment variable: Alertmanager's base URL (`http://127.0.0.1:9093`).
pub const ALERTMANAGER_URL_ENV: &str = "CHATOBS_ALERTMANAGER_URL";

/// What a rule watches.
#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// One LLM call's price (`gen_ai.usage.price_usd`); fires per breaching call.
    LlmCallCostUsd,
    /// One LLM call's tokens (input + output); fires per breaching call.
    LlmCallTokens,
    /// A conversation's total, LLM + WhatsApp; fires once per conversation.
    ConversationCostUsd,
    /// A conversation's LLM spend; fires once per conversation.
    ConversationLlmCostUsd,
    /// A conversation's WhatsApp spend; fires once per conversation.
    ConversationWhatsappCostUsd,
    /// An evaluation's score (set `evaluator` and `below`); fires per result.
    EvalScore,
}

impl Quantity {
    /// The configured spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Quantity::LlmCallCostUsd => "llm_call_cost_usd",
            Quantity::LlmCallTokens => "llm_call_tokens",
            Quantity::ConversationCostUsd => "conversation_cost_usd",
            Quantity::ConversationLlmCostUsd => "conversation_llm_cost_usd",
            Quantity::ConversationWhatsappCostUsd => "conversation_whatsapp_cost_usd",
            Quantity::EvalScore => "eval_score",
        }
    }
    /// Whether the rule fires once per conversation.
    pub fn per_conversation(self) -> bool {
        matches!(
            self,
            Quantity::ConversationCostUsd
                | Quantity::ConversationLlmCostUsd
                | Quantity::ConversationWhatsappCostUsd
        )
    }
}

/// One rule (`[alerts.rules.<name>]`).
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Set to false to turn a shipped rule off.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The quantity.
    pub quantity: Quantity,
    /// Fires when the quantity is strictly above this.
    #[serde(default, deserialize_with = "de_decimal")]
    pub above: Option<Decimal>,
    /// Fires when the quantity is strictly below this (evaluation scores).
    #[serde(default, deserialize_with = "de_decimal")]
    pub below: Option<Decimal>,
    /// The evaluator whose score is watched (`eval_score` only).
    #[serde(default)]
    pub evaluator: Option<String>,
    /// `warning` (default), `critical`, `info`, ...
    #[serde(default)]
    pub severity: Option<String>,
    /// One line for humans (Alertmanager's `summary`).
    #[serde(default)]
    pub summary: Option<String>,
}

fn yes() -> bool {
    true
}

/// A threshold written as a TOML number (`0.05`, `1`) or string (`"0.05"`), kept exact:
/// a float is read through its shortest decimal spelling, so `0.05` is exactly 0.05.
fn de_decimal<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        I(i64),
        F(f64),
        S(String),
    }
    let text = match Num::deserialize(d)? {
        Num::I(i) => i.to_string(),
        Num::F(f) if f.is_finite() => format!("{f}"),
        Num::F(f) => return Err(serde::de::Error::custom(format!("not a number: {f}"))),
        Num::S(s) => s,
    };
    text.trim()
        .parse::<Decimal>()
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a decimal number: {e}")))
}

/// `[alerts.webhook]`.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Where alerts are POSTed as JSON (empty: no webhook). `CHATOBS_ALERT_WEBHOOK_URL`.
    pub url: String,
    /// Non-secret headers; secret ones only from `CHATOBS_ALERT_WEBHOOK_HEADERS`.
    pub headers: BTreeMap<String, String>,
}

/// `[alerts.alertmanager]`.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlertmanagerConfig {
    /// Alertmanager's base URL (empty: not used). `CHATOBS_ALERTMANAGER_URL`.
    pub url: String,
}

/// `[alerts.delivery]`: how sinks are fed, off the request path.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Alerts waiting per sink; when full, new ones are dropped and counted.
    pub queue_size: usize,
    /// Alerts per request.
    pub batch_size: usize,
    /// Retries after a failed request.
    pub max_retries: u32,
    /// First backoff, doubled per retry (with jitter).
    pub backoff_ms: u64,
    /// Backoff cap.
    pub backoff_max_ms: u64,
    /// One request's time limit.
    pub timeout_ms: u64,
    /// How long shutdown waits for queued alerts.
    pub shutdown_timeout_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            queue_size: 1024,
            batch_size: 64,
            max_retries: 3,
            backoff_ms: 200,
            backoff_max_ms: 5000,
            timeout_ms: 2000,
            shutdown_timeout_ms: 3000,
        }
    }
}

/// `[alerts.prometheus]`: the operational rules `chatobs rules` generates.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusRulesConfig {
    /// Range of the `increase()` windows of the budget rules.
    pub window: String,
    /// Error rate by role above this fraction ...
    pub error_rate_above: f64,
    /// ... for this long.
    pub error_rate_for: String,
    /// p95 span duration (by role and step) above this many seconds ...
    pub p95_span_duration_above_seconds: f64,
    /// ... for this long.
    pub p95_span_duration_for: String,
    /// Exporter dropping spans for this long.
    pub spans_dropped_for: String,
    /// An alert sink failing within this window.
    pub sink_failure_window: String,
    /// Share of HTTP server requests answered 5xx, by route, above this fraction ...
    pub http_5xx_ratio_above: f64,
    /// ... for this long.
    pub http_5xx_for: String,
    /// p95 HTTP server request duration by route above this many seconds ...
    pub http_p95_above_seconds: f64,
    /// ... for this long.
    pub http_p95_for: String,
    /// Share of LLM calls that failed, by provider and error type, above this fraction ...
    pub llm_error_ratio_above: f64,
    /// ... for this long.
    pub llm_error_for: String,
    /// Spend (LLM + WhatsApp, USD) in the last hour above this.
    pub spend_per_hour_above_usd: f64,
    /// Spend in the last hour above this many times the same hour a week before.
    pub spend_spike_factor: f64,
    /// An exporter failed to deliver spans within this window.
    pub export_failure_window: String,
    /// The Prometheus `job` scraping the bot (for "stopped reporting").
    pub job: String,
    /// No metrics from the job for this long: it stopped reporting.
    pub not_reporting_for: String,
    /// Where the runbook is (each alert links `<runbook_url>#<anchor>`).
    pub runbook_url: String,
}

impl Default for PrometheusRulesConfig {
    fn default() -> Self {
        PrometheusRulesConfig {
            window: "5m".into(),
            error_rate_above: 0.05,
            error_rate_for: "5m".into(),
            p95_span_duration_above_seconds: 10.0,
            p95_span_duration_for: "10m".into(),
            spans_dropped_for: "5m".into(),
            sink_failure_window: "10m".into(),
            http_5xx_ratio_above: 0.05,
            http_5xx_for: "5m".into(),
            http_p95_above_seconds: 2.5,
            http_p95_for: "10m".into(),
            llm_error_ratio_above: 0.1,
            llm_error_for: "5m".into(),
            spend_per_hour_above_usd: 10.0,
            spend_spike_factor: 3.0,
            export_failure_window: "10m".into(),
            job: "chatobs".into(),
            not_reporting_for: "10m".into(),
            runbook_url: "docs/runbook.md".into(),
        }
    }
}

/// `[alerts]`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Evaluate rules in process.
    pub enabled: bool,
    /// Severity of rules that name none.
    pub default_severity: String,
    /// Conversations remembered per-conversation rule (so a rule fires once per conversation).
    pub max_conversations: usize,
    /// The rules, by name (`[alerts.rules.<name>]`); yours are added to the shipped ones.
    pub rules: BTreeMap<String, RuleConfig>,
    /// JSON webhook sink.
    pub webhook: WebhookConfig,
    /// Alertmanager sink.
    pub alertmanager: AlertmanagerConfig,
    /// Delivery to the sinks.
    pub delivery: DeliveryConfig,
    /// Generated Prometheus rules.
    pub prometheus: PrometheusRulesConfig,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        let mut rules = BTreeMap::new();
        rules.insert(
            "llm_call_cost".to_owned(),
            RuleConfig {
                enabled: true,
                quantity: Quantity::LlmCallCostUsd,
                above: Some(Decimal::new(5, 2)),
                below: None,
                evaluator: None,
                severity: Some("warning".into()),
                summary: None,
            },
        );
        rules.insert(
            "conversation_budget".to_owned(),
            RuleConfig {
                enabled: true,
                quantity: Quantity::ConversationCostUsd,
                above: Some(Decimal::ONE),
                below: None,
                evaluator: None,
                severity: Some("critical".into()),
                summary: None,
            },
        );
        AlertsConfig {
            enabled: true,
            default_severity: "warning".into(),
            max_conversations: 100_000,
            rules,
            webhook: WebhookConfig::default(),
            alertmanager: AlertmanagerConfig::default(),
            delivery: DeliveryConfig::default(),
            prometheus: PrometheusRulesConfig::default(),
        }
    }
}

/// Whether `s` is a Prometheus duration (`30s`, `5m`, `1h`, `1d`, `1h30m`).
pub fn valid_duration(s: &str) -> bool {
    let mut digits = false;
    let mut any = false;
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            digits = true;
            i += 1;
            continue;
        }
        if !digits {
            return false;
        }
        let unit_len = if b[i..].starts_with(b"ms") { 2 } else { 1 };
        if !matches!(b[i], b'm' | b's' | b'h' | b'd' | b'w' | b'y') {
            return false;
        }
        i += unit_len;
        digits = false;
        any = true;
    }
    any && !digits
}

/// Whether `name` is a valid rule name: 1 to 64 of `a-z`, `0-9`, `_`.
pub fn valid_rule_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

impl AlertsConfig {
    /// Applies `CHATOBS_ALERT_WEBHOOK_URL`, `CHATOBS_ALERT_WEBHOOK_HEADERS` and `CHATOBS_ALERTMANAGER_URL`.
    pub fn apply_env(&mut self, get: &impl Fn(&str) -> Option<String>) -> Result<(), Error> {
        let set = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        if let Some(v) = set(get(WEBHOOK_URL_ENV)) {
            self.webhook.url = v.trim().to_owned();
        }
        if let Some(v) = set(get(ALERTMANAGER_URL_ENV)) {
            self.alertmanager.url = v.trim().to_owned();
        }
        if let Some(v) = set(get(WEBHOOK_HEADERS_ENV)) {
            for pair in v.split(',') {
                let Some((k, val)) = pair.split_once('=') else {
                    return Err(Error::config(
                        None,
                        WEBHOOK_HEADERS_ENV,
                        "expected name=value pairs separated by commas (values are not shown here)",
                    ));
                };
                self.webhook
                    .headers
                    .insert(k.trim().to_ascii_lowercase(), val.trim().to_owned());
            }
        }
        Ok(())
    }

    /// Checks the rules and bounds. `from_file`: secret headers are refused.
    pub fn validate(&self, from_file: bool) -> Result<(), Error> {
        let e = |k: String, r: String| Err(Error::config(None, k, r));
        for (name, r) in &self.rules {
            let key = format!("alerts.rules.{name}");
            if !valid_rule_name(name) {
                return e(
                    key,
                    "a rule name is 1 to 64 characters of a-z, 0-9 and _, not starting with a digit"
                        .into(),
                );
            }
            match (r.quantity, r.above, r.below) {
                (Quantity::EvalScore, None, Some(_)) | (Quantity::EvalScore, Some(_), None) => {
                    if r.evaluator.as_deref().is_none_or(str::is_empty) {
                        return e(
                            format!("{key}.evaluator"),
                            "an eval_score rule names its evaluator (for example \"qa_correctness\")".into(),
                        );
                    }
                }
                (Quantity::EvalScore, _, _) => {
                    return e(key, "set exactly one of `above` or `below`".into())
                }
                (_, Some(t), None) => {
                    if t.is_sign_negative() {
                        return e(
                            format!("{key}.above"),
                            format!("must not be negative, got {t}"),
                        );
                    }
                    if r.evaluator.is_some() {
                        return e(
                            format!("{key}.evaluator"),
                            "only eval_score rules name an evaluator".into(),
                        );
                    }
                }
                (q, _, _) => {
                    return e(
                        key,
                        format!("a {} rule sets `above` (and not `below`)", q.as_str()),
                    )
                }
            }
            if let Some(s) = &r.severity {
                if !valid_rule_name(s) {
                    return e(
                        format!("{key}.severity"),
                        format!("expected a word such as warning or critical, got {s:?}"),
                    );
                }
            }
        }
        let d = &self.delivery;
        if !(1..=1_000_000).contains(&d.queue_size) {
            return e(
                "alerts.delivery.queue_size".into(),
                format!("must be between 1 and 1000000, got {}", d.queue_size),
            );
        }
        if !(1..=1000).contains(&d.batch_size) {
            return e(
                "alerts.delivery.batch_size".into(),
                format!("must be between 1 and 1000, got {}", d.batch_size),
            );
        }
        if d.max_retries > 20 {
            return e(
                "alerts.delivery.max_retries".into(),
                format!("must be at most 20, got {}", d.max_retries),
            );
        }
        if d.timeout_ms == 0 || d.backoff_ms == 0 || d.backoff_max_ms < d.backoff_ms {
            return e(
                "alerts.delivery".into(),
                "timeout_ms and backoff_ms must be at least 1, backoff_max_ms at least backoff_ms"
                    .into(),
            );
        }
        if self.max_conversations == 0 {
            return e(
                "alerts.max_conversations".into(),
                "must be at least 1".into(),
            );
        }
        for (k, url) in [
            ("alerts.webhook.url", &self.webhook.url),
            ("alerts.alertmanager.url", &self.alertmanager.url),
        ] {
            if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
                return e(
                    k.into(),
                    format!("expected an http:// or https:// URL, got {url:?}"),
                );
            }
        }
        if from_file {
            for name in self.webhook.headers.keys() {
                if chatobs_core::config::is_secret_header(name) {
                    return e(
                        format!("alerts.webhook.headers.{name}"),
                        format!("secrets are read only from the environment: remove it from the file and set {WEBHOOK_HEADERS_ENV} instead"),
                    );
                }
            }
        }
        let p = &self.prometheus;
        for (k, v) in [
            ("alerts.prometheus.window", &p.window),
            ("alerts.prometheus.error_rate_for", &p.error_rate_for),
            (
                "alerts.prometheus.p95_span_duration_for",
                &p.p95_span_duration_for,
            ),
            ("alerts.prometheus.spans_dropped_for", &p.spans_dropped_for),
            (
                "alerts.prometheus.sink_failure_window",
                &p.sink_failure_window,
            ),
            ("alerts.prometheus.http_5xx_for", &p.http_5xx_for),
            ("alerts.prometheus.http_p95_for", &p.http_p95_for),
            ("alerts.prometheus.llm_error_for", &p.llm_error_for),
            (
                "alerts.prometheus.export_failure_window",
                &p.export_failure_window,
            ),
            ("alerts.prometheus.not_reporting_for", &p.not_reporting_for),
        ] {
            if !valid_duration(v) {
                return e(
                    k.into(),
                    format!("expected a Prometheus duration such as 5m or 1h, got {v:?}"),
                );
            }
        }
        if !(p.error_rate_above > 0.0 && p.error_rate_above < 1.0) {
            return e(
                "alerts.prometheus.error_rate_above".into(),
                format!("must be between 0 and 1, got {}", p.error_rate_above),
            );
        }
        for (k, x) in [
            (
                "alerts.prometheus.http_5xx_ratio_above",
                p.http_5xx_ratio_above,
            ),
            (
                "alerts.prometheus.llm_error_ratio_above",
                p.llm_error_ratio_above,
            ),
        ] {
            if !(x > 0.0 && x < 1.0) {
                return e(k.into(), format!("must be between 0 and 1, got {x}"));
            }
        }
        for (k, x) in [
            (
                "alerts.prometheus.http_p95_above_seconds",
                p.http_p95_above_seconds,
            ),
            (
                "alerts.prometheus.spend_per_hour_above_usd",
                p.spend_per_hour_above_usd,
            ),
            ("alerts.prometheus.spend_spike_factor", p.spend_spike_factor),
        ] {
            if !(x.is_finite() && x > 0.0) {
                return e(k.into(), format!("must be a positive number, got {x}"));
            }
        }
        let job_ok = !p.job.is_empty()
            && p.job
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.:/".contains(&b));
        if !job_ok {
            return e(
                "alerts.prometheus.job".into(),
                format!(
                    "expected a Prometheus job name (letters, digits, _ - . : /), got {:?}",
                    p.job
                ),
            );
        }
        if p.runbook_url.contains(['"', '\n', '{', '}']) {
            return e(
                "alerts.prometheus.runbook_url".into(),
                "must be a plain URL or path (no quotes, braces or line breaks)".into(),
            );
        }
        if !(p.p95_span_duration_above_seconds.is_finite()
            && p.p95_span_duration_above_seconds > 0.0)
        {
            return e(
                "alerts.prometheus.p95_span_duration_above_seconds".into(),
                "must be a positive number of seconds".into(),
            );
        }
        Ok(())
    }

    /// The enabled rules, by name.
    pub fn enabled_rules(&self) -> impl Iterator<Item = (&str, &RuleConfig)> {
        self.rules
            .iter()
            .filter(|(_, r)| r.enabled)
            .map(|(n, r)| (n.as_str(), r))
    }

    /// The severity of `rule`.
    pub fn severity_of<'a>(&'a self, rule: &'a RuleConfig) -> &'a str {
        rule.severity
            .as_deref()
            .unwrap_or(self.default_severity.as_str())
    }
}

/// `[slo]`: service level objectives for conversation turns (a turn is a
/// local root span of a conversation: the webhook's SERVER span, or your
/// top-level handler). `chatobs rules` turns them into recording rules for the
/// error budget and multi-window burn-rate alerts.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
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

impl Section for AlertsConfig {
    const KEY: &'static str = "alerts";

    fn apply_env(&mut self, env: Env<'_>, errs: &mut Errors) {
        errs.check(AlertsConfig::apply_env(self, &|k: &str| env(k)));
    }

    fn validate(&self, errs: &mut Errors) {
        let in_file = errs.in_file();
        errs.check(AlertsConfig::validate(self, in_file));
        if in_file {
            for (key, url) in [
                ("alerts.webhook.url", &self.webhook.url),
                ("alerts.alertmanager.url", &self.alertmanager.url),
            ] {
                if let Some(why) = chatobs_core::config::url_credentials(url) {
                    errs.push(key, format!("not in a file: {why}"));
                }
            }
        }
    }
}

impl Section for SloConfig {
    const KEY: &'static str = "slo";

    fn validate(&self, errs: &mut Errors) {
        errs.check(SloConfig::validate(self));
    }
}
