//! Metrics: bounded labels, the GenAI buckets, a bucket at each per-call
//! threshold, and OpenMetrics text that `promtool check metrics` accepts,
//! served by the axum route helper.

mod support_prom;

use chatobs_runtime::config::{ExporterKind, LogFormat};
use chatobs_runtime::cost::{self, Inbound, LlmCall, Outbound};
use chatobs_runtime::{chat_span, metrics, vocab, ChatSession, Config};
use std::time::Duration;
use time::macros::datetime;

#[chat_span(name = "classifier.predict", role = "classifier", step = "route")]
fn classify(fail: bool) -> Result<&'static str, std::io::Error> {
    if fail {
        return Err(std::io::Error::other("model down"));
    }
    Ok("sales")
}

#[chat_span(name = "agent.sales.flow", role = "sales", step = "offer", kind = llm, model = "gpt-4o", provider = "openai")]
fn sales(cents: u64) {
    cost::record_llm_call(
        &LlmCall::declared()
            .output_tokens(cents * 1000)
            .input_tokens(500),
    )
    .unwrap();
}

fn setup() -> (chatobs_runtime::Guard, String) {
    let mut cfg = Config::from_toml_str(
        "[alerts.rules.cheap_call]\nquantity = \"llm_call_cost_usd\"\nabove = 0.003\n",
        None,
    )
    .unwrap();
    cfg.exporter.kinds = vec![ExporterKind::Memory];
    cfg.logs.format = LogFormat::Off;
    let guard = chatobs_runtime::init(cfg).unwrap();
    // A phone number as identity: it must never show up in the metrics.
    let s = ChatSession::new("wa:573001234567");
    let sid = s.id().to_owned();
    s.in_scope(|| {
        let _ = classify(false);
        let _ = classify(true);
        sales(2);
        sales(6); // over $0.05
                  // What the webhook does for each user message.
        metrics::conversation::inbound(s.id(), "whatsapp", "text");
        // A handoff, as the orchestrator records it.
        chatobs_runtime::SpanBuilder::new("orchestrator.decision")
            .attribute(vocab::HANDOFF_FROM, "classifier")
            .attribute(vocab::HANDOFF_TO, "sales")
            .start();
        cost::record_inbound(&Inbound {
            business: "+5716000000",
            user: "+573001234567",
            at: datetime!(2025-07-03 10:00 UTC),
            entry_point: false,
        });
        cost::price_outbound(&Outbound {
            business: "+5716000000",
            user: "+573001234567",
            at: datetime!(2025-07-04 12:00 UTC),
            template: Some(vocab::TemplateCategory::Marketing),
            entry_point: false,
        })
        .unwrap();
    });
    // Calls that cannot be priced: counted as such, never observed as free calls.
    ChatSession::new("wa:unpriced").in_scope(|| {
        cost::record_llm_call(
            &LlmCall::new("no-such-model")
                .provider("openai")
                .input_tokens(10)
                .output_tokens(5),
        )
        .unwrap();
        cost::record_llm_usage_missing(Some("openai"), "gpt-4o", "chat");
    });
    // The conversation ends (its resolution time is recorded).
    let _ = cost::close_session(&s);
    // An outbound request through the instrumented client, to a local server.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use chatobs_runtime::integrations::reqwest::SendTraced;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let app = axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
            let _ = tokio::time::timeout(Duration::from_secs(30), axum::serve(l, app)).await;
        });
        let r = s
            .scope(
                reqwest::Client::new()
                    .get(format!("http://{addr}/ping"))
                    .send_traced(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    });
    assert!(guard.flush(Duration::from_secs(10)));
    (guard, sid)
}

/// Conversations, messages, first response, resolution, handoffs and
/// outbound HTTP requests (part of the one test of this process).
fn conversation_and_client_metrics(text: &str) {
    let one = |prefix: &str| {
        let l = line(text, prefix);
        assert!(l.ends_with(" 1"), "{l}");
    };
    one(r#"chatobs_conversations_opened_total{channel="whatsapp"}"#);
    one(r#"chatobs_messages_total{direction="inbound",channel="whatsapp",message_type="text"}"#);
    one(
        r#"chatobs_messages_total{direction="outbound",channel="whatsapp",message_type="marketing"}"#,
    );
    one(r#"chatobs_first_response_seconds_count{channel="whatsapp"}"#);
    one("chatobs_conversations_closed_total");
    one("chatobs_resolution_seconds_count");
    one(r#"chatobs_handoffs_total{from="classifier",to="sales"}"#);
    one(
        r#"http_client_request_duration_seconds_count{http_request_method="GET",server_address="127.0.0.1",http_response_status_code="200"}"#,
    );
    // Closed: no longer active.
    assert!(
        line(text, "chatobs_conversations_active").ends_with(" 0"),
        "{text}"
    );
}

/// The app's own metrics next to chatobs' (part of the one test of this
/// process: init runs once; promtool then checks the whole text).
fn app_metrics_are_served_with_bounded_labels() {
    use chatobs_runtime::metrics::app::{self, AppMetricError};
    let orders = app::counter(
        "shop_orders_total",
        "Orders placed, by channel.",
        &["channel"],
    )
    .unwrap();
    orders.inc(&["whatsapp"]);
    orders.add(&["whatsapp"], 2);
    orders.inc(&["web"]);
    // A wrong number of label values is not recorded (and never panics).
    orders.inc(&[]);
    orders.inc(&["a", "b"]);
    let basket = app::histogram(
        "shop_basket_usd",
        "Basket value, USD.",
        &["channel"],
        &[5.0, 20.0, 100.0],
    )
    .unwrap();
    basket.observe(&["whatsapp"], 42.5);
    let open = app::gauge("shop_open_tickets", "Tickets waiting.", &[]).unwrap();
    open.set(&[], 7.5);
    open.set(&[], -1.0); // ignored
                         // Names are checked; chatobs' prefixes are reserved; kinds do not change.
    assert!(matches!(
        app::counter("shop orders", "x", &[]),
        Err(AppMetricError::Name(..))
    ));
    assert!(matches!(
        app::counter("shop_orders", "x", &[]),
        Err(AppMetricError::Name(..))
    ));
    assert!(matches!(
        app::counter("chatobs_mine_total", "x", &[]),
        Err(AppMetricError::Name(..))
    ));
    assert!(matches!(
        app::counter("shop_x_total", "x", &["le"]),
        Err(AppMetricError::Label(..))
    ));
    assert!(matches!(
        app::gauge("shop_orders_total", "x", &["channel"]),
        Err(AppMetricError::Conflict(..))
    ));
    assert!(matches!(
        app::histogram("shop_h", "x", &[], &[2.0, 1.0]),
        Err(AppMetricError::Buckets(..))
    ));
    let text = metrics::render();
    assert!(text.contains("# TYPE shop_orders counter"), "{text}");
    assert!(
        text.contains(r#"shop_orders_total{channel="whatsapp"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"shop_orders_total{channel="web"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"shop_basket_usd_bucket{le="100.0",channel="whatsapp"} 1"#),
        "{text}"
    );
    assert!(text.contains("shop_open_tickets 7.5"), "{text}");
    assert!(
        text.contains(r#"chatobs_metric_series_overflow_total{metric="shop_orders_total"} 2"#),
        "{text}"
    );
}

/// Calls that cannot be priced (part of the one test of this process: init runs once).
fn calls_without_a_price_are_counted_not_observed_as_free(text: &str) {
    let unknown = line(
        text,
        "chatobs_llm_price_unknown_total{gen_ai_provider_name=\"openai\",gen_ai_request_model=\"no-such-model\",reason=\"no_price\"}",
    );
    assert!(unknown.ends_with(" 1"), "{unknown}");
    let missing = line(
        text,
        "chatobs_llm_price_unknown_total{gen_ai_provider_name=\"openai\",gen_ai_request_model=\"gpt-4o\",reason=\"usage_missing\"}",
    );
    assert!(missing.ends_with(" 1"), "{missing}");
    // The per-call cost histogram saw only priced calls.
    assert!(!text
        .lines()
        .any(|l| l.starts_with("chatobs_llm_call_cost_usd_count") && l.contains("no-such-model")));
}

fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix}\n{text}"))
}

#[test]
fn prometheus_text_passes_promtool_and_is_served_on_metrics() {
    let (guard, sid) = setup();
    app_metrics_are_served_with_bounded_labels();
    let text = metrics::render();
    calls_without_a_price_are_counted_not_observed_as_free(&text);
    conversation_and_client_metrics(&text);

    // Bounded labels: no session id, no phone number.
    assert!(!text.contains(&sid));
    assert!(!text.contains("573001234567"));

    // GenAI conventions: token usage with the 4^n buckets, by token type.
    assert!(text.contains("# TYPE gen_ai_client_token_usage histogram"));
    let out = line(
        &text,
        r#"gen_ai_client_token_usage_bucket{le="67108864.0",gen_ai_token_type="output",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o"}"#,
    );
    assert!(out.ends_with(" 2"), "{out}");
    line(
        &text,
        r#"gen_ai_client_token_usage_bucket{le="1024.0",gen_ai_token_type="input",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o"} 2"#,
    );
    // Operation duration with the 0.01 ... 81.92 buckets, from the LLM spans.
    line(
        &text,
        r#"gen_ai_client_operation_duration_seconds_bucket{le="81.92",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o"} 2"#,
    );

    // Cost by provider and model, exact: 2 calls, 8000 output + 1000 input tokens.
    line(
        &text,
        r#"chatobs_llm_cost_usd_total{gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o"} 0.0825"#,
    );
    // The per-call histogram has a bound at each per-call threshold (0.05 shipped, 0.003 ours).
    line(
        &text,
        r#"chatobs_llm_call_cost_usd_bucket{le="0.003",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o"} 0"#,
    );
    line(
        &text,
        r#"chatobs_llm_call_cost_usd_bucket{le="0.05",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o"} 1"#,
    );
    line(
        &text,
        r#"chatobs_llm_call_cost_usd_count{gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o"} 2"#,
    );
    // WhatsApp by market, category, pricing type (a marketing template outside any window).
    let wa = line(&text, r#"chatobs_whatsapp_cost_usd_total{market="#);
    assert!(
        wa.contains(r#"category="marketing""#) && wa.contains(r#"pricing_type="regular""#),
        "{wa}"
    );

    // Spans by role and step, errors by role.
    line(
        &text,
        r#"chatobs_span_duration_seconds_count{agent_role="classifier",conversation_step="route"} 2"#,
    );
    line(&text, r#"chatobs_spans_total{agent_role="classifier"} 2"#);
    line(
        &text,
        r#"chatobs_span_errors_total{agent_role="classifier"} 1"#,
    );
    line(&text, r#"chatobs_turns_total{outcome="error"} 1"#);
    // Alerts by rule, the pipeline's dropped spans.
    line(
        &text,
        r#"chatobs_alerts_fired_total{rule="llm_call_cost",severity="warning"} 1"#,
    );
    line(
        &text,
        r#"chatobs_alerts_fired_total{rule="cheap_call",severity="warning"} 2"#,
    );
    line(
        &text,
        r#"chatobs_conversations_over_budget_total{rule="conversation_budget"} 0"#,
    );
    line(&text, "chatobs_spans_dropped_total 0");
    line(&text, r#"chatobs_alert_deliveries_total{sink="log"} 3"#);

    // promtool: exit 0, or 3 with only the OpenMetrics _total/_created lint.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("metrics.txt");
    std::fs::write(&f, &text).unwrap();
    let (code, out) = support_prom::promtool(&["check", "metrics"], Some(&f));
    assert!(
        code == 0 || code == 3,
        "promtool exit {code}: {out}\n{text}"
    );
    if code == 3 {
        for l in out.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                l.contains("_total")
                    || l.contains("_created")
                    || l.contains("counter metrics should have"),
                "unexpected lint: {l}"
            );
        }
    }

    // The axum route helper serves the same text.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = rt.spawn(async move { axum::serve(listener, metrics::router::<()>()).await });
    let (status, body) = support_prom::get(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("chatobs_llm_cost_usd_total"));
    server.abort();
    drop(guard);
}

#[test]
fn a_metric_keeps_a_bounded_number_of_series() {
    let f = metrics::registry::Family::new(
        "test_things_total",
        "Things.",
        metrics::registry::Kind::Counter,
        &["model"],
        1,
        &[],
    );
    f.reset(None, 3);
    for i in 0..10 {
        f.scalar(&[&format!("model-{i}")]).unwrap().add(1);
    }
    let mut series = Vec::new();
    f.visit(|values, v| {
        if let metrics::registry::SeriesView::Scalar(n) = v {
            series.push((values[0].clone(), n));
        }
    });
    assert_eq!(series.len(), 4, "{series:?}");
    assert!(series.contains(&("_overflow".to_owned(), 7)), "{series:?}");
    assert_eq!(f.overflowed(), 7);
}
