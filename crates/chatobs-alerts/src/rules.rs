//! Prometheus alerting and recording rules derived from the configuration
//! (what `chatobs rules` prints).
//!
//! * every `[alerts.rules.*]`: a per-call cost rule on the per-call cost
//!   histogram's bucket at its threshold (calls above = `_count - _bucket{le=threshold}`;
//!   an integer bound matches both `le="5"` and OpenMetrics' `le="5.0"`),
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

/// `summary`, a `description` naming the value that fired (`$value`,
/// formatted by `fmt`, a Prometheus template function such as
/// `humanizePercentage`) and a `runbook_url` into the runbook.
fn described(mut r: PromRule, cfg: &RulesSource<'_>, description: &str) -> PromRule {
    let anchor = r.name.to_ascii_lowercase();
    r.annotations
        .push(("description".into(), description.to_owned()));
    r.annotations.push((
        "runbook_url".into(),
        format!("{}#{anchor}", cfg.alerts.prometheus.runbook_url),
    ));
    r
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

/// The matcher for the bucket whose bound is `x`: an integer bound is
/// written `le="5"` by the Prometheus text format and `le="5.0"` by
/// OpenMetrics (what chatobs' `/metrics` serves); Prometheus 2 stores either
/// as scraped, so the matcher takes both.
fn le_matcher(x: f64) -> String {
    let s = format_float(x);
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        format!("le=~\"{s}|{s}\\\\.0\"")
    } else {
        format!("le=\"{s}\"")
    }
}

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
                    .map(le_matcher)
                    .unwrap_or_default();
                (
                    format!(
                        "sum by ({pr}, {md}) (increase({h}_count[{w}]) - ignoring(le) increase({h}_bucket{{{le}}}[{w}])) > 0",
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
    let mut ops = ops;
    ops.extend(service_rules(cfg));
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

/// The recording rule of the spend (LLM + WhatsApp, USD) in the last hour.
pub const SPEND_1H: &str = "chatobs:spend_usd:increase1h";

/// What the seeds' operators watch besides spans and budgets: HTTP errors
/// and latency by route, LLM errors by provider and type, spend in the last
/// hour (absolute and against the same hour a week before), exporter
/// failures, a service that stopped reporting. Each alert's description
/// says the value that fired; each links its runbook section.
fn service_rules(cfg: &RulesSource<'_>) -> Vec<PromRule> {
    let p = &cfg.alerts.prometheus;
    let w = &p.window;
    let h = v::PROM_HTTP_SERVER_DURATION;
    let route = v::PL_HTTP_ROUTE;
    let job = &p.job;
    vec![
        described(
            alert(
                cfg,
                "ChatobsHttp5xxRatioHigh",
                "http_5xx_ratio",
                "critical",
                format!(
                    "sum by ({route}) (rate({h}_count{{{st}=~\"5..\"}}[{w}])) / sum by ({route}) (rate({h}_count[{w}])) > {x}",
                    st = v::PL_HTTP_STATUS,
                    x = num(p.http_5xx_ratio_above)
                ),
                Some(&p.http_5xx_for),
                format!("{{{{ $labels.{route} }}}} answers more than {}% of requests with 5xx", num(p.http_5xx_ratio_above * 100.0)),
            ),
            cfg,
            &format!("{{{{ $value | humanizePercentage }}}} of the requests to {{{{ $labels.{route} }}}} were answered with a 5xx status over the last {w}."),
        ),
        described(
            alert(
                cfg,
                "ChatobsHttpLatencyP95High",
                "http_latency_p95",
                "warning",
                format!(
                    "histogram_quantile(0.95, sum by (le, {route}) (rate({h}_bucket[{w}]))) > {x}",
                    x = num(p.http_p95_above_seconds)
                ),
                Some(&p.http_p95_for),
                format!("p95 duration of {{{{ $labels.{route} }}}} above {} s", num(p.http_p95_above_seconds)),
            ),
            cfg,
            &format!("The p95 duration of requests to {{{{ $labels.{route} }}}} is {{{{ $value | humanizeDuration }}}} over the last {w}."),
        ),
        described(
            alert(
                cfg,
                "ChatobsLlmErrorRatioHigh",
                "llm_error_ratio",
                "warning",
                format!(
                    "sum by ({pr}, {et}) (rate({e}[{w}])) / ignoring({et}) group_left sum by ({pr}) (rate({d}_count[{w}])) > {x}",
                    pr = v::PL_PROVIDER,
                    et = v::PL_ERROR_TYPE,
                    e = v::PROM_LLM_ERRORS,
                    d = v::PROM_GEN_AI_OPERATION_DURATION,
                    x = num(p.llm_error_ratio_above)
                ),
                Some(&p.llm_error_for),
                format!("LLM calls to {{{{ $labels.{} }}}} fail with {{{{ $labels.{} }}}}", v::PL_PROVIDER, v::PL_ERROR_TYPE),
            ),
            cfg,
            &format!("{{{{ $value | humanizePercentage }}}} of the LLM calls to {{{{ $labels.{} }}}} failed with {{{{ $labels.{} }}}} over the last {w}.", v::PL_PROVIDER, v::PL_ERROR_TYPE),
        ),
        record(
            SPEND_1H,
            format!(
                "(sum(increase({l}[1h])) or vector(0)) + (sum(increase({wa}[1h])) or vector(0))",
                l = v::PROM_LLM_COST,
                wa = v::PROM_WHATSAPP_COST
            ),
        ),
        described(
            alert(
                cfg,
                "ChatobsSpendHourHigh",
                "spend_hour",
                "critical",
                format!("{SPEND_1H} > {}", num(p.spend_per_hour_above_usd)),
                None,
                format!("LLM and WhatsApp spend above {} USD in the last hour", num(p.spend_per_hour_above_usd)),
            ),
            cfg,
            "The bot spent {{ $value | printf \"%.2f\" }} USD (LLM and WhatsApp) in the last hour.",
        ),
        described(
            alert(
                cfg,
                "ChatobsSpendSpike",
                "spend_spike",
                "warning",
                format!(
                    "{SPEND_1H} > {f} * ({SPEND_1H} offset 1w) and ({SPEND_1H} offset 1w) > 0",
                    f = num(p.spend_spike_factor)
                ),
                None,
                format!("spend in the last hour is more than {}x the same hour a week before", num(p.spend_spike_factor)),
            ),
            cfg,
            "The bot spent {{ $value | printf \"%.2f\" }} USD in the last hour, more than the same hour a week before allows.",
        ),
        described(
            alert(
                cfg,
                "ChatobsExportFailing",
                "export_failing",
                "warning",
                format!(
                    "sum(increase({f}[{win}])) > 0",
                    f = v::PROM_SPAN_EXPORT_FAILURES,
                    win = p.export_failure_window
                ),
                None,
                "an exporter failed to deliver spans".into(),
            ),
            cfg,
            &format!("{{{{ $value }}}} spans were in batches an exporter failed to deliver in the last {}.", p.export_failure_window),
        ),
        described(
            alert(
                cfg,
                "ChatobsNotReporting",
                "not_reporting",
                "critical",
                format!(
                    "absent_over_time({q}{{job=\"{job}\"}}[{nr}]) or (max by (instance) (up{{job=\"{job}\"}}) == 0)",
                    q = v::PROM_SPAN_QUEUE,
                    nr = p.not_reporting_for
                ),
                None,
                format!("job {job} sent no chatobs metrics"),
            ),
            cfg,
            &format!("Prometheus got no chatobs metrics from job {job} (value {{{{ $value }}}}) for {}.", p.not_reporting_for),
        ),
    ]
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
    let le = le_matcher(s.turn_latency_seconds);
    let slow = format_float(s.turn_latency_seconds);
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
                "1 - (sum(rate({h}_bucket{{{le}}}[{r}])) / sum(rate({h}_count[{r}])))",
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
                    "turns slower than {slow} s burn the {}% latency objective {factor}x too fast ({long}/{short} windows)",
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

#[derive(serde::Serialize)]
struct YamlFile<'a> {
    groups: Vec<YamlGroup<'a>>,
}

#[derive(serde::Serialize)]
struct YamlGroup<'a> {
    name: &'a str,
    rules: Vec<YamlRule<'a>>,
}

#[derive(serde::Serialize)]
struct YamlRule<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alert: Option<&'a str>,
    expr: &'a str,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    for_: Option<&'a str>,
    #[serde(skip_serializing_if = "is_empty", serialize_with = "as_map")]
    labels: &'a [(String, String)],
    #[serde(skip_serializing_if = "is_empty", serialize_with = "as_map")]
    annotations: &'a [(String, String)],
}

fn is_empty(v: &&[(String, String)]) -> bool {
    v.is_empty()
}

fn as_map<S: serde::Serializer>(v: &&[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(v.len()))?;
    for (k, val) in v.iter() {
        m.serialize_entry(k, val)?;
    }
    m.end()
}

/// The rules file (YAML) `chatobs rules` prints, written with
/// `serde_yaml_ng` from [`groups`].
pub fn prometheus_rules(cfg: &RulesSource<'_>) -> String {
    let src = cfg
        .source
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the shipped defaults".into());
    let groups = groups(cfg);
    let file = YamlFile {
        groups: groups
            .iter()
            .map(|g| YamlGroup {
                name: &g.name,
                rules: g
                    .rules
                    .iter()
                    .map(|r| YamlRule {
                        record: r.record.then_some(r.name.as_str()),
                        alert: (!r.record).then_some(r.name.as_str()),
                        expr: &r.expr,
                        for_: r.for_.as_deref(),
                        labels: &r.labels,
                        annotations: &r.annotations,
                    })
                    .collect(),
            })
            .collect(),
    };
    // Serializing strings and maps of strings cannot fail; were it to, the
    // file says so rather than being cut short silently.
    let body = serde_yaml_ng::to_string(&file)
        .unwrap_or_else(|e| format!("# chatobs could not write the rules: {e}\n"));
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Prometheus rules generated by `chatobs rules` from {}.\n# Change the configuration and regenerate rather than editing this file.",
        src.replace('\n', " ")
    );
    y.push_str(&body);
    y
}
