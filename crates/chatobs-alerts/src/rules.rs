//! Prometheus alerting and recording rules derived from the configuration
//! (what `chatobs rules` prints).
//!
//! * every `[alerts.rules.*]`: a per-call cost rule on the per-call cost
//!   histogram's bucket at its threshold (calls above = `_count - _bucket{le=threshold}`),
//!   a per-conversation rule on `chatobs_conversations_over_budget_total`,
//!   any other on `chatobs_alerts_fired_total`;
//! * operational rules (`[alerts.prometheus]`): error rate by role, p95 span
//!   duration by role and step, the exporter dropping spans, an alert sink failing;
//! * `[slo]`: recording rules for the error ratio of turns over the burn-rate
//!   windows and the error budget remaining, the same for slow turns, and
//!   multi-window burn-rate alerts (SRE workbook: 1h/5m at 14.4x, 6h/30m at
//!   6x, 1d/2h at 3x, 3d/6h at 1x).

use crate::config::{AlertsConfig, SloConfig};
use crate::{alertname, Quantity};
use chatobs_core::vocab::{self as v, format_float};
use rust_decimal::prelude::ToPrimitive;
use std::fmt::Write as _;
use std::path::Path;

/// Name of the budget rule group.
pub const GROUP_BUDGETS: &str = "chatobs-budgets";
/// Name of the operational rule group.
pub const GROUP_OPERATIONS: &str = "chatobs-operations";
/// Name of the SLO rule group.
pub const GROUP_SLO: &str = "chatobs-slo";

/// One rule of the output.
#[derive(Clone, Debug, PartialEq)]
pub struct PromRule {
    /// `alert` name, or `record` name for a recording rule.
    pub name: String,
    /// Whether it is a recording rule.
    pub record: bool,
    /// PromQL.
    pub expr: String,
    /// `for`.
    pub for_: Option<String>,
    /// Labels (alerts only).
    pub labels: Vec<(String, String)>,
    /// Annotations (alerts only).
    pub annotations: Vec<(String, String)>,
}

/// A rule group.
#[derive(Clone, Debug, PartialEq)]
pub struct PromGroup {
    /// Group name.
    pub name: String,
    /// Its rules.
    pub rules: Vec<PromRule>,
}

fn alert(
    cfg: &RulesSource<'_>,
    name: &str,
    rule: &str,
    severity: &str,
    expr: String,
    for_: Option<&str>,
    summary: String,
) -> PromRule {
    PromRule {
        name: name.to_owned(),
        record: false,
        expr,
        for_: for_.map(str::to_owned),
        labels: vec![
            (v::AM_SEVERITY.into(), severity.into()),
            (v::AM_SERVICE.into(), cfg.service.to_owned()),
            (v::AM_RULE.into(), rule.into()),
        ],
        annotations: vec![("summary".into(), summary)],
    }
}

fn record(name: &str, expr: String) -> PromRule {
    PromRule {
        name: name.to_owned(),
        record: true,
        expr,
        for_: None,
        labels: Vec::new(),
        annotations: Vec::new(),
    }
}

/// The SLO burn-rate windows: (long, short, factor, severity).
pub const BURN_WINDOWS: [(&str, &str, f64, &str); 4] = [
    ("1h", "5m", 14.4, "critical"),
    ("6h", "30m", 6.0, "critical"),
    ("1d", "2h", 3.0, "warning"),
    ("3d", "6h", 1.0, "warning"),
];

fn num(x: f64) -> String {
    // Round away float noise (14.4 * 0.05 = 0.7200000000000001).
    format_float((x * 1e9).round() / 1e9)
}

/// The rule groups `cfg` describes.
pub fn groups(cfg: &RulesSource<'_>) -> Vec<PromGroup> {
    let p = &cfg.alerts.prometheus;
    let w = &p.window;
    let mut budgets = Vec::new();
    for (name, r) in cfg.alerts.enabled_rules() {
        let sev = cfg.alerts.severity_of(r);
        let thr = r
            .above
            .or(r.below)
            .map(|d| d.normalize().to_string())
            .unwrap_or_default();
        let an = alertname(name);
        let (expr, summary) = match r.quantity {
            Quantity::LlmCallCostUsd => {
                let le = r
                    .above
                    .and_then(|d| d.to_f64())
                    .map(format_float)
                    .unwrap_or_default();
                (
                    format!(
                        "sum by ({pr}, {md}) (increase({h}_count[{w}]) - ignoring(le) increase({h}_bucket{{le=\"{le}\"}}[{w}])) > 0",
                        pr = v::PL_PROVIDER,
                        md = v::PL_MODEL,
                        h = v::PROM_LLM_CALL_COST
                    ),
                    format!("LLM calls of {{{{ $labels.{} }}}} costing more than {thr} USD in the last {w}", v::PL_MODEL),
                )
            }
            q if q.per_conversation() => (
                format!(
                    "sum(increase({}{{{}=\"{name}\"}}[{w}])) > 0",
                    v::PROM_CONVERSATIONS_OVER_BUDGET,
                    v::PL_RULE
                ),
                format!("conversations over the {thr} USD budget of rule {name} in the last {w}"),
            ),
            _ => (
                format!(
                    "sum(increase({}{{{}=\"{name}\"}}[{w}])) > 0",
                    v::PROM_ALERTS_FIRED,
                    v::PL_RULE
                ),
                format!(
                    "rule {name} ({} past {thr}) fired in the last {w}",
                    r.quantity.as_str()
                ),
            ),
        };
        budgets.push(alert(cfg, &an, name, sev, expr, None, summary));
    }
    let ops = vec![
        alert(
            cfg,
            "ChatobsErrorRateHigh",
            "error_rate",
            "warning",
            format!(
                "sum by ({r}) (rate({e}[{w}])) / sum by ({r}) (rate({s}[{w}])) > {x}",
                r = v::PL_ROLE,
                e = v::PROM_SPAN_ERRORS,
                s = v::PROM_SPANS,
                x = num(p.error_rate_above)
            ),
            Some(&p.error_rate_for),
            format!(
                "more than {}% of {{{{ $labels.{} }}}} spans end in error",
                num(p.error_rate_above * 100.0),
                v::PL_ROLE
            ),
        ),
        alert(
            cfg,
            "ChatobsSpanLatencyP95High",
            "span_latency_p95",
            "warning",
            format!(
                "histogram_quantile(0.95, sum by (le, {r}, {s}) (rate({h}_bucket[{w}]))) > {x}",
                r = v::PL_ROLE,
                s = v::PL_STEP,
                h = v::PROM_SPAN_DURATION,
                x = num(p.p95_span_duration_above_seconds)
            ),
            Some(&p.p95_span_duration_for),
            format!(
                "p95 duration of {{{{ $labels.{} }}}} / {{{{ $labels.{} }}}} above {} s",
                v::PL_ROLE,
                v::PL_STEP,
                num(p.p95_span_duration_above_seconds)
            ),
        ),
        alert(
            cfg,
            "ChatobsSpansDropped",
            "spans_dropped",
            "warning",
            format!("sum(increase({}[{w}])) > 0", v::PROM_SPANS_DROPPED),
            Some(&p.spans_dropped_for),
            "the span exporter is dropping spans (queue full or closed)".into(),
        ),
        alert(
            cfg,
            "ChatobsAlertSinkFailing",
            "alert_sink_failing",
            "warning",
            format!(
                "sum by ({s}) (increase({f}[{win}])) > 0",
                s = v::PL_SINK,
                f = v::PROM_ALERT_SINK_FAILURES,
                win = p.sink_failure_window
            ),
            None,
            format!(
                "alert sink {{{{ $labels.{} }}}} failed to deliver alerts",
                v::PL_SINK
            ),
        ),
    ];
    let mut out = vec![
        PromGroup {
            name: GROUP_BUDGETS.into(),
            rules: budgets,
        },
        PromGroup {
            name: GROUP_OPERATIONS.into(),
            rules: ops,
        },
    ];
    if cfg.slo.enabled {
        out.push(PromGroup {
            name: GROUP_SLO.into(),
            rules: slo_rules(cfg),
        });
    }
    out
}

fn slo_rules(cfg: &RulesSource<'_>) -> Vec<PromRule> {
    let s = &cfg.slo;
    let window = format!("{}d", s.window_days);
    let mut ranges: Vec<&str> = Vec::new();
    for (l, sh, _, _) in BURN_WINDOWS {
        for r in [l, sh] {
            if !ranges.contains(&r) {
                ranges.push(r);
            }
        }
    }
    let le = format_float(s.turn_latency_seconds);
    let mut rules = Vec::new();
    for r in ranges.iter().copied().chain([window.as_str()]) {
        rules.push(record(
            &format!("chatobs:turn_error_ratio:rate{r}"),
            format!(
                "sum(rate({t}{{{o}=\"error\"}}[{r}])) / sum(rate({t}[{r}]))",
                t = v::PROM_TURNS,
                o = v::PL_OUTCOME
            ),
        ));
        rules.push(record(
            &format!("chatobs:turn_slow_ratio:rate{r}"),
            format!(
                "1 - (sum(rate({h}_bucket{{le=\"{le}\"}}[{r}])) / sum(rate({h}_count[{r}])))",
                h = v::PROM_TURN_DURATION
            ),
        ));
    }
    let err_budget = 1.0 - s.turn_success_objective;
    let lat_budget = 1.0 - s.turn_latency_objective;
    rules.push(record(
        "chatobs:turn_error_budget_remaining",
        format!(
            "1 - (chatobs:turn_error_ratio:rate{window} / {})",
            num(err_budget)
        ),
    ));
    rules.push(record(
        "chatobs:turn_latency_budget_remaining",
        format!(
            "1 - (chatobs:turn_slow_ratio:rate{window} / {})",
            num(lat_budget)
        ),
    ));
    for (what, series, budget, objective, title) in [
        (
            "error",
            "turn_error_ratio",
            err_budget,
            s.turn_success_objective,
            "Errors",
        ),
        (
            "latency",
            "turn_slow_ratio",
            lat_budget,
            s.turn_latency_objective,
            "Latency",
        ),
    ] {
        for (long, short, factor, sev) in BURN_WINDOWS {
            let x = num(factor * budget);
            let name = format!("ChatobsTurn{title}BudgetBurn{}", long.to_ascii_uppercase());
            let expr =
                format!("chatobs:{series}:rate{long} > {x} and chatobs:{series}:rate{short} > {x}");
            let summary = match what {
                "error" => format!(
                    "turns fail {factor}x faster than a {}% success objective over {window} allows ({long}/{short} windows)",
                    num(objective * 100.0)
                ),
                _ => format!(
                    "turns slower than {le} s burn the {}% latency objective {factor}x too fast ({long}/{short} windows)",
                    num(objective * 100.0)
                ),
            };
            rules.push(alert(
                cfg,
                &name,
                &format!("slo_turn_{what}"),
                sev,
                expr,
                None,
                summary,
            ));
        }
    }
    rules
}

fn q(s: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar.
    serde_json::Value::String(s.to_owned()).to_string()
}

/// What the rules are generated from: the `[alerts]` and `[slo]` sections,
/// the service name, and the file they came from (named in the output).
#[derive(Clone, Copy, Debug)]
pub struct RulesSource<'a> {
    /// `[alerts]`.
    pub alerts: &'a AlertsConfig,
    /// `[slo]`.
    pub slo: &'a SloConfig,
    /// `service.name`.
    pub service: &'a str,
    /// The configuration file, if any.
    pub source: Option<&'a Path>,
}

/// The rules file (YAML) `chatobs rules` prints.
pub fn prometheus_rules(cfg: &RulesSource<'_>) -> String {
    let mut y = String::new();
    let src = cfg
        .source
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the shipped defaults".into());
    let _ = writeln!(
        y,
        "# Prometheus rules generated by `chatobs rules` from {src}.\n# Change the configuration and regenerate rather than editing this file."
    );
    y.push_str("groups:\n");
    for g in groups(cfg) {
        let _ = writeln!(y, "  - name: {}\n    rules:", q(&g.name));
        for r in &g.rules {
            if r.record {
                let _ = writeln!(y, "      - record: {}", q(&r.name));
            } else {
                let _ = writeln!(y, "      - alert: {}", q(&r.name));
            }
            let _ = writeln!(y, "        expr: {}", q(&r.expr));
            if let Some(f) = &r.for_ {
                let _ = writeln!(y, "        for: {f}");
            }
            if !r.labels.is_empty() {
                y.push_str("        labels:\n");
                for (k, val) in &r.labels {
                    let _ = writeln!(y, "          {k}: {}", q(val));
                }
            }
            if !r.annotations.is_empty() {
                y.push_str("        annotations:\n");
                for (k, val) in &r.annotations {
                    let _ = writeln!(y, "          {k}: {}", q(val));
                }
            }
        }
    }
    y
}
