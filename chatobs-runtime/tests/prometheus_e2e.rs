//! End to end on 127.0.0.1: the app serves /metrics, a real Prometheus
//! scrapes it and evaluates the generated rules, a real Alertmanager receives
//! the alerts from Prometheus and from chatobs' own sink, and the test reads
//! them back from Alertmanager's API. Every server is stopped with bounded waits.

mod support_prom;

use chatobs_runtime::config::{ExporterKind, LogFormat};
use chatobs_runtime::cost::{self, LlmCall};
use chatobs_runtime::{metrics, ChatSession, Config};
use serde_json::Value;
use std::time::Duration;
use support_prom::{free_port, get, wait_for, Server};

fn call(cents: u64) {
    cost::record_llm_call(
        &LlmCall::new("gpt-4o")
            .provider("openai")
            .output_tokens(cents * 1000),
    )
    .unwrap();
}

#[test]
fn prometheus_scrapes_and_alertmanager_receives_from_both() {
    let dir = tempfile::tempdir().unwrap();
    let (app, prom, am) = (free_port(), free_port(), free_port());

    // Alertmanager: one receiver that keeps alerts (no notifications), no clustering.
    let am_cfg = dir.path().join("alertmanager.yml");
    std::fs::write(
        &am_cfg,
        "route:\n  receiver: keep\n  group_wait: 1s\n  group_interval: 1s\nreceivers:\n  - name: keep\n",
    )
    .unwrap();
    let mut alertmanager = Server::start(
        "alertmanager",
        "prometheus-alertmanager",
        &[
            format!("--config.file={}", am_cfg.display()),
            format!("--storage.path={}", dir.path().join("am-data").display()),
            format!("--web.listen-address=127.0.0.1:{am}"),
            "--cluster.listen-address=".into(),
        ],
        dir.path().join("alertmanager.log"),
    );
    let am_url = format!("http://127.0.0.1:{am}");
    wait_for(Duration::from_secs(30), || {
        get(&format!("{am_url}/-/ready")).filter(|(s, _)| *s == 200)
    })
    .unwrap_or_else(|| panic!("alertmanager not ready:\n{}", alertmanager.log()));

    // The app: chatobs with the Alertmanager sink, /metrics on its own port.
    let mut cfg = Config::from_toml_str(
        &format!("[service]\nname = \"e2e-bot\"\n[alerts.alertmanager]\nurl = \"{am_url}\"\n[alerts.delivery]\ntimeout_ms = 2000\n[alerts.prometheus]\nspend_per_hour_above_usd = 0.5\nhttp_5xx_for = \"0s\"\nllm_error_for = \"0s\"\n"),
        None,
    )
    .unwrap();
    cfg.exporter.kinds = vec![ExporterKind::Memory];
    cfg.logs.format = LogFormat::Off;
    let guard = chatobs_runtime::init(cfg.clone()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", app)))
        .unwrap();
    // /metrics, and a route of the app that fails (HTTP server metrics by route).
    let boom = chatobs_runtime::integrations::axum::instrument(
        axum::Router::new().route(
            "/orders/{id}",
            axum::routing::get(|| async { axum::http::StatusCode::INTERNAL_SERVER_ERROR }),
        ),
        chatobs_runtime::integrations::axum::ServerOptions::default(),
    );
    let app_server =
        rt.spawn(async move { axum::serve(listener, metrics::router::<()>().merge(boom)).await });

    // Prometheus: scrapes the app every second, evaluates the generated rules, alerts Alertmanager.
    std::fs::write(
        dir.path().join("chatobs.rules.yml"),
        metrics::rules::prometheus_rules(&cfg),
    )
    .unwrap();
    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n  external_labels:\n    monitor: e2e\n\
             rule_files:\n  - chatobs.rules.yml\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am}']\n\
             scrape_configs:\n  - job_name: chatobs\n    static_configs:\n      - targets: ['127.0.0.1:{app}']\n"
        ),
    )
    .unwrap();
    let mut prometheus = Server::start(
        "prometheus",
        "prometheus",
        &[
            format!("--config.file={}", prom_cfg.display()),
            format!(
                "--storage.tsdb.path={}",
                dir.path().join("prom-data").display()
            ),
            format!("--web.listen-address=127.0.0.1:{prom}"),
        ],
        dir.path().join("prometheus.log"),
    );
    let prom_url = format!("http://127.0.0.1:{prom}");
    wait_for(Duration::from_secs(30), || {
        get(&format!("{prom_url}/-/ready")).filter(|(s, _)| *s == 200)
    })
    .unwrap_or_else(|| panic!("prometheus not ready:\n{}", prometheus.log()));

    // A cheap call first, so Prometheus has seen the series before they move.
    let cheap = ChatSession::from_exported_id("e2e-cheap").unwrap();
    cheap.in_scope(|| call(2));
    let query = |q: &str| -> Option<Value> {
        let (s, body) = get(&format!("{prom_url}/api/v1/query?query={q}"))?;
        let v: Value = serde_json::from_str(&body).ok()?;
        (s == 200 && !v["data"]["result"].as_array()?.is_empty()).then_some(v)
    };
    wait_for(Duration::from_secs(30), || {
        query("chatobs_llm_call_cost_usd_count")
    })
    .unwrap_or_else(|| panic!("prometheus never scraped /metrics:\n{}", prometheus.log()));

    // Now the breaches: one $0.06 call, and a conversation crossing $1.00.
    let pricey = ChatSession::from_exported_id("e2e-pricey-call").unwrap();
    pricey.in_scope(|| call(6));
    let big = ChatSession::from_exported_id("e2e-big-conversation").unwrap();
    big.in_scope(|| {
        for _ in 0..26 {
            call(4);
        }
    });

    // Failing requests and failing LLM calls, all along (rates need counters that move
    // between scrapes).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let failing = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = get(&format!("http://127.0.0.1:{app}/orders/{i}"));
                ChatSession::from_exported_id("e2e-llm-errors")
                    .unwrap()
                    .in_scope(|| {
                        let mut s = chatobs_runtime::SpanBuilder::new("chat gemini-1.5-flash")
                            .attribute(chatobs_runtime::vocab::GEN_AI_OPERATION_NAME, "chat")
                            .attribute(chatobs_runtime::vocab::GEN_AI_PROVIDER_NAME, "gcp.gemini")
                            .attribute(
                                chatobs_runtime::vocab::GEN_AI_REQUEST_MODEL,
                                "gemini-1.5-flash",
                            )
                            .attribute(chatobs_runtime::vocab::ERROR_TYPE, "429")
                            .start();
                        s.set_error(&"RESOURCE_EXHAUSTED");
                    });
                i += 1;
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };

    // Read both sources back from Alertmanager.
    let alerts = || -> Option<Vec<Value>> {
        let (s, body) = get(&format!("{am_url}/api/v2/alerts"))?;
        (s == 200).then(|| serde_json::from_str::<Vec<Value>>(&body).ok())?
    };
    let found = wait_for(Duration::from_secs(90), || {
        let a = alerts()?;
        let from_prom = |name: &str| {
            a.iter().any(|x| {
                x["labels"]["alertname"] == name
                    && x["labels"]["monitor"] == "e2e"
                    && x["labels"]["service"] == "e2e-bot"
            })
        };
        let from_chatobs = |name: &str, session: &str| {
            a.iter().any(|x| {
                x["labels"]["alertname"] == name
                    && x["labels"].get("monitor").is_none()
                    && x["annotations"]["session_id"] == session
            })
        };
        let ok = from_prom("LlmCallCost")
            && from_prom("ConversationBudget")
            && from_prom("ChatobsHttp5xxRatioHigh")
            && from_prom("ChatobsLlmErrorRatioHigh")
            && from_prom("ChatobsSpendHourHigh")
            && from_chatobs("LlmCallCost", "e2e-pricey-call")
            && from_chatobs("ConversationBudget", "e2e-big-conversation");
        ok.then_some(a)
    });
    // `/metrics` is OpenMetrics: Prometheus 2 stores the 5 s turn bucket as
    // le="5.0", and the SLO rule that selects it (generated with both
    // spellings) still finds it, so the slow-turn ratio has a value.
    let stored = query("chatobs_turn_duration_seconds_bucket%7Ble%3D%225.0%22%7D");
    let slow = wait_for(Duration::from_secs(30), || {
        query("chatobs%3Aturn_slow_ratio%3Arate5m")
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = failing.join();
    assert!(
        stored.is_some(),
        "turn bucket le=\"5.0\" not stored:\n{}",
        prometheus.log()
    );
    let slow = slow.unwrap_or_else(|| {
        panic!(
            "chatobs:turn_slow_ratio:rate5m has no value: {:?}",
            get(&format!("{prom_url}/api/v1/rules"))
        )
    });
    assert_eq!(
        slow["data"]["result"][0]["value"][1], "0",
        "no turn was slower than 5 s: {slow}"
    );
    let Some(found) = found else {
        panic!(
            "alerts missing in Alertmanager: {:#?}\nprometheus alerts: {:?}\n{}\n{}",
            alerts(),
            get(&format!("{prom_url}/api/v1/alerts")),
            prometheus.log(),
            alertmanager.log()
        );
    };
    // Prometheus' per-call alert names the model (bucket at 0.05 on the cost histogram);
    // chatobs' own alerts keep the session id out of the labels.
    assert!(found
        .iter()
        .any(|x| x["labels"]["alertname"] == "LlmCallCost"
            && x["labels"]["gen_ai_request_model"] == "gpt-4o"
            && x["labels"]["monitor"] == "e2e"));
    for x in found
        .iter()
        .filter(|x| x["labels"].get("monitor").is_none())
    {
        let labels = x["labels"].to_string();
        for sid in ["e2e-cheap", "e2e-pricey-call", "e2e-big-conversation"] {
            assert!(!labels.contains(sid), "session id in labels: {x}");
        }
        assert_eq!(x["labels"]["service"], "e2e-bot");
    }
    // The service rules name what fired and link the runbook.
    let http = found
        .iter()
        .find(|x| x["labels"]["alertname"] == "ChatobsHttp5xxRatioHigh")
        .unwrap();
    assert_eq!(http["labels"]["http_route"], "/orders/{id}");
    assert_eq!(
        http["annotations"]["runbook_url"],
        "docs/runbook.md#chatobshttp5xxratiohigh"
    );
    assert!(http["annotations"]["description"]
        .as_str()
        .unwrap()
        .starts_with("100% of the requests to /orders/{id}"));
    let llm = found
        .iter()
        .find(|x| x["labels"]["alertname"] == "ChatobsLlmErrorRatioHigh")
        .unwrap();
    assert_eq!(
        (
            llm["labels"]["gen_ai_provider_name"].as_str(),
            llm["labels"]["error_type"].as_str()
        ),
        (Some("gcp.gemini"), Some("429"))
    );
    let spend = found
        .iter()
        .find(|x| x["labels"]["alertname"] == "ChatobsSpendHourHigh")
        .unwrap();
    assert!(spend["annotations"]["description"]
        .as_str()
        .unwrap()
        .starts_with("The bot spent "));
    let conv = found
        .iter()
        .find(|x| x["annotations"]["session_id"] == "e2e-big-conversation")
        .unwrap();
    assert_eq!(conv["annotations"]["value"], "1.04");
    assert_eq!(conv["annotations"]["exceeded_by"], "0.04");

    // Stop everything, with bounded waits.
    assert!(
        prometheus.stop(),
        "prometheus did not stop on SIGTERM within 5 s"
    );
    assert!(
        alertmanager.stop(),
        "alertmanager did not stop on SIGTERM within 5 s"
    );
    app_server.abort();
    rt.shutdown_timeout(Duration::from_secs(5));
    assert!(guard.shutdown());
}
