//! `chatobs dashboard`: Grafana JSON whose queries name chatobs' metrics.

use std::process::Command;

#[test]
fn the_dashboard_is_grafana_json_over_the_chatobs_metrics() {
    let out = Command::new(env!("CARGO_BIN_EXE_chatobs"))
        .args(["dashboard", "--config", "/dev/null"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["title"], "chatobs: chatobs-app");
    let panels = d["panels"].as_array().unwrap();
    let rows: Vec<&str> = panels
        .iter()
        .filter(|p| p["type"] == "row")
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        rows,
        [
            "Cost",
            "Tokens",
            "Latency and errors",
            "HTTP",
            "LLM errors",
            "Conversations",
            "SLO (conversation turns)",
            "Alerts and pipeline"
        ]
    );
    let exprs: Vec<String> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    for metric in [
        "http_server_request_duration_seconds_count",
        "http_client_request_duration_seconds_bucket",
        "chatobs_llm_errors_total",
        "chatobs_conversations_opened_total",
        "chatobs_conversations_active",
        "chatobs_messages_total",
        "chatobs_first_response_seconds_bucket",
        "chatobs_resolution_seconds_bucket",
        "chatobs_handoffs_total",
        "chatobs_llm_cost_usd_total",
        "chatobs_whatsapp_cost_usd_total",
        "gen_ai_client_token_usage_sum",
        "chatobs_span_duration_seconds_bucket",
        "chatobs_span_errors_total",
        "chatobs_conversations_over_budget_total",
        "chatobs_alerts_fired_total",
        "chatobs_spans_dropped_total",
    ] {
        assert!(
            exprs.iter().any(|e| e.contains(metric)),
            "no panel on {metric}"
        );
    }
    // Panels never overlap: distinct grid positions.
    let mut pos: Vec<(u64, u64)> = panels
        .iter()
        .map(|p| {
            (
                p["gridPos"]["x"].as_u64().unwrap(),
                p["gridPos"]["y"].as_u64().unwrap(),
            )
        })
        .collect();
    let n = pos.len();
    pos.sort();
    pos.dedup();
    assert_eq!(pos.len(), n);
}
