//! `chatobs dashboard [--config FILE]`: a Grafana dashboard (JSON) over the
//! chatobs metrics: cost by model and by WhatsApp category, tokens, latency p95
//! by role and step, error rate, HTTP requests, 5xx and p95 by route, outbound
//! HTTP, LLM errors and unpriced calls, conversations, messages, first-response
//! and resolution time, handoffs, conversations over budget, alerts, dropped spans.

use chatobs_runtime::vocab as v;
use serde_json::{json, Value};
use std::path::PathBuf;

const DS: &str = "${DS_PROMETHEUS}";

struct Panels {
    out: Vec<Value>,
    id: u64,
    y: u64,
    x: u64,
}

impl Panels {
    fn row(&mut self, title: &str) {
        if self.x != 0 {
            self.y += 8;
            self.x = 0;
        }
        self.id += 1;
        self.out.push(json!({
            "type": "row", "id": self.id, "title": title, "collapsed": false,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []
        }));
        self.y += 1;
    }

    fn panel(&mut self, title: &str, unit: &str, targets: &[(&str, &str)]) {
        self.id += 1;
        let targets: Vec<Value> = targets
            .iter()
            .enumerate()
            .map(|(i, (expr, legend))| {
                json!({
                    "refId": char::from(b'A' + i as u8).to_string(),
                    "datasource": {"type": "prometheus", "uid": DS},
                    "expr": expr, "legendFormat": legend
                })
            })
            .collect();
        self.out.push(json!({
            "type": "timeseries", "id": self.id, "title": title,
            "datasource": {"type": "prometheus", "uid": DS},
            "gridPos": {"h": 8, "w": 12, "x": self.x, "y": self.y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"legend": {"displayMode": "table", "placement": "bottom"}},
            "targets": targets
        }));
        if self.x == 0 {
            self.x = 12;
        } else {
            self.x = 0;
            self.y += 8;
        }
    }
}

/// The dashboard for `cfg`.
pub fn dashboard(cfg: &chatobs_runtime::Config) -> Value {
    let r = "$__rate_interval";
    let mut p = Panels {
        out: Vec::new(),
        id: 0,
        y: 0,
        x: 0,
    };
    p.row("Cost");
    p.panel(
        "LLM cost by model (USD per hour)",
        "currencyUSD",
        &[(
            &format!(
                "sum by ({pr}, {m}) (rate({c}[{r}])) * 3600",
                pr = v::PL_PROVIDER,
                m = v::PL_MODEL,
                c = v::PROM_LLM_COST
            ),
            "{{gen_ai_provider_name}} {{gen_ai_request_model}}",
        )],
    );
    p.panel(
        "WhatsApp cost by category (USD per hour)",
        "currencyUSD",
        &[(
            &format!(
                "sum by ({c}, {m}) (rate({w}[{r}])) * 3600",
                c = v::PL_CATEGORY,
                m = v::PL_MARKET,
                w = v::PROM_WHATSAPP_COST
            ),
            "{{category}} {{market}}",
        )],
    );
    p.panel(
        "LLM calls above each cost bound (per hour)",
        "short",
        &[(
            &format!(
                "sum by (le) (rate({h}_count[{r}])) * 3600 - ignoring(le) group_right sum by (le) (rate({h}_bucket[{r}])) * 3600",
                h = v::PROM_LLM_CALL_COST
            ),
            "above {{le}} USD",
        )],
    );
    p.panel(
        "Conversations over budget (per hour)",
        "short",
        &[(
            &format!(
                "sum by ({rule}) (rate({o}[{r}])) * 3600",
                rule = v::PL_RULE,
                o = v::PROM_CONVERSATIONS_OVER_BUDGET
            ),
            "{{rule}}",
        )],
    );
    p.row("Tokens");
    p.panel(
        "Tokens per second by model and type",
        "short",
        &[(
            &format!(
                "sum by ({m}, {t}) (rate({u}_sum[{r}]))",
                m = v::PL_MODEL,
                t = v::PL_TOKEN_TYPE,
                u = v::PROM_GEN_AI_TOKEN_USAGE
            ),
            "{{gen_ai_request_model}} {{gen_ai_token_type}}",
        )],
    );
    p.panel(
        "LLM call duration p95 by model",
        "s",
        &[(
            &format!(
                "histogram_quantile(0.95, sum by (le, {m}) (rate({d}_bucket[{r}])))",
                m = v::PL_MODEL,
                d = v::PROM_GEN_AI_OPERATION_DURATION
            ),
            "{{gen_ai_request_model}}",
        )],
    );
    p.row("Latency and errors");
    p.panel(
        "Span duration p95 by role and step",
        "s",
        &[(
            &format!(
                "histogram_quantile(0.95, sum by (le, {ro}, {st}) (rate({d}_bucket[{r}])))",
                ro = v::PL_ROLE,
                st = v::PL_STEP,
                d = v::PROM_SPAN_DURATION
            ),
            "{{agent_role}} / {{conversation_step}}",
        )],
    );
    p.panel(
        "Error rate by role",
        "percentunit",
        &[(
            &format!(
                "sum by ({ro}) (rate({e}[{r}])) / sum by ({ro}) (rate({s}[{r}]))",
                ro = v::PL_ROLE,
                e = v::PROM_SPAN_ERRORS,
                s = v::PROM_SPANS
            ),
            "{{agent_role}}",
        )],
    );
    p.row("HTTP");
    p.panel(
        "HTTP requests by route and status (per second)",
        "reqps",
        &[(
            &format!(
                "sum by ({rt}, {st}) (rate({h}_count[{r}]))",
                rt = v::PL_HTTP_ROUTE,
                st = v::PL_HTTP_STATUS,
                h = v::PROM_HTTP_SERVER_DURATION
            ),
            "{{http_route}} {{http_response_status_code}}",
        )],
    );
    p.panel(
        "HTTP 5xx ratio and p95 by route",
        "short",
        &[
            (
                &format!(
                    "sum by ({rt}) (rate({h}_count{{{st}=~\"5..\"}}[{r}])) / sum by ({rt}) (rate({h}_count[{r}]))",
                    rt = v::PL_HTTP_ROUTE,
                    st = v::PL_HTTP_STATUS,
                    h = v::PROM_HTTP_SERVER_DURATION
                ),
                "5xx ratio {{http_route}}",
            ),
            (
                &format!(
                    "histogram_quantile(0.95, sum by (le, {rt}) (rate({h}_bucket[{r}])))",
                    rt = v::PL_HTTP_ROUTE,
                    h = v::PROM_HTTP_SERVER_DURATION
                ),
                "p95 s {{http_route}}",
            ),
        ],
    );
    p.panel(
        "Outbound HTTP p95 by server",
        "s",
        &[(
            &format!(
                "histogram_quantile(0.95, sum by (le, {sa}) (rate({h}_bucket[{r}])))",
                sa = v::PL_SERVER_ADDRESS,
                h = v::PROM_HTTP_CLIENT_DURATION
            ),
            "{{server_address}}",
        )],
    );
    p.row("LLM errors");
    p.panel(
        "LLM error ratio by provider and error type",
        "percentunit",
        &[(
            &format!(
                "sum by ({pr}, {et}) (rate({e}[{r}])) / ignoring({et}) group_left sum by ({pr}) (rate({d}_count[{r}]))",
                pr = v::PL_PROVIDER,
                et = v::PL_ERROR_TYPE,
                e = v::PROM_LLM_ERRORS,
                d = v::PROM_GEN_AI_OPERATION_DURATION
            ),
            "{{gen_ai_provider_name}} {{error_type}}",
        )],
    );
    p.panel(
        "LLM calls without a complete price (per hour)",
        "short",
        &[(
            &format!(
                "sum by ({m}, reason) (rate({u}[{r}])) * 3600",
                m = v::PL_MODEL,
                u = v::PROM_LLM_PRICE_UNKNOWN
            ),
            "{{gen_ai_request_model}} {{reason}}",
        )],
    );
    p.row("Conversations");
    p.panel(
        "Conversations opened, active and closed",
        "short",
        &[
            (
                &format!(
                    "sum(rate({o}[{r}])) * 3600",
                    o = v::PROM_CONVERSATIONS_OPENED
                ),
                "opened per hour",
            ),
            (
                &format!("sum({a})", a = v::PROM_CONVERSATIONS_ACTIVE),
                "active",
            ),
            (
                &format!(
                    "sum(rate({c}[{r}])) * 3600",
                    c = v::PROM_CONVERSATIONS_CLOSED
                ),
                "closed per hour",
            ),
        ],
    );
    p.panel(
        "Messages by direction and type (per minute)",
        "short",
        &[(
            &format!(
                "sum by ({d}, {t}) (rate({m}[{r}])) * 60",
                d = v::PL_DIRECTION,
                t = v::PL_MESSAGE_TYPE,
                m = v::PROM_MESSAGES
            ),
            "{{direction}} {{message_type}}",
        )],
    );
    p.panel(
        "First-response time (p50, p95)",
        "s",
        &[
            (
                &format!(
                    "histogram_quantile(0.5, sum by (le) (rate({f}_bucket[{r}])))",
                    f = v::PROM_FIRST_RESPONSE
                ),
                "p50",
            ),
            (
                &format!(
                    "histogram_quantile(0.95, sum by (le) (rate({f}_bucket[{r}])))",
                    f = v::PROM_FIRST_RESPONSE
                ),
                "p95",
            ),
        ],
    );
    p.panel(
        "Resolution time p50 and handoffs",
        "short",
        &[
            (
                &format!(
                    "histogram_quantile(0.5, sum by (le) (rate({f}_bucket[{r}])))",
                    f = v::PROM_RESOLUTION
                ),
                "resolution p50 (s)",
            ),
            (
                &format!(
                    "sum by ({fr}, {to}) (rate({h}[{r}])) * 3600",
                    fr = v::PL_HANDOFF_FROM,
                    to = v::PL_HANDOFF_TO,
                    h = v::PROM_HANDOFFS
                ),
                "handoffs {{from}} -> {{to}} per hour",
            ),
        ],
    );
    if cfg.slo.enabled {
        p.row("SLO (conversation turns)");
        p.panel(
            "Error budget remaining",
            "percentunit",
            &[
                ("chatobs:turn_error_budget_remaining", "errors"),
                ("chatobs:turn_latency_budget_remaining", "latency"),
            ],
        );
        p.panel(
            "Turn latency p95",
            "s",
            &[(
                &format!(
                    "histogram_quantile(0.95, sum by (le) (rate({t}_bucket[{r}])))",
                    t = v::PROM_TURN_DURATION
                ),
                "p95",
            )],
        );
    }
    p.row("Alerts and pipeline");
    p.panel(
        "Alerts fired by rule (per hour)",
        "short",
        &[(
            &format!(
                "sum by ({rule}) (rate({a}[{r}])) * 3600",
                rule = v::PL_RULE,
                a = v::PROM_ALERTS_FIRED
            ),
            "{{rule}}",
        )],
    );
    p.panel(
        "Dropped spans and alert sink failures (per minute)",
        "short",
        &[
            (
                &format!("sum(rate({}[{r}])) * 60", v::PROM_SPANS_DROPPED),
                "spans dropped",
            ),
            (
                &format!(
                    "sum by ({s}) (rate({f}[{r}])) * 60",
                    s = v::PL_SINK,
                    f = v::PROM_ALERT_SINK_FAILURES
                ),
                "sink {{sink}} failures",
            ),
        ],
    );
    json!({
        "__inputs": [{
            "name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource",
            "pluginId": "prometheus", "pluginName": "Prometheus"
        }],
        "title": format!("chatobs: {}", cfg.service.name),
        "uid": format!("chatobs-{}", cfg.service.name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(30).collect::<String>()),
        "tags": ["chatobs"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": true,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{
            "name": "DS_PROMETHEUS", "type": "datasource", "query": "prometheus",
            "label": "Prometheus", "hide": 0
        }]},
        "panels": p.out
    })
}

/// Prints the dashboard.
pub fn run(config: Option<PathBuf>) -> Result<(), String> {
    let cfg = crate::rules::load(config.as_ref())?;
    let d = dashboard(&cfg);
    println!(
        "{}",
        serde_json::to_string_pretty(&d).map_err(|e| e.to_string())?
    );
    Ok(())
}
