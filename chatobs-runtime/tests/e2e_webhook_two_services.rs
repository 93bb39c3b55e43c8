//! The seed's checklist, end to end on 127.0.0.1: a signed sample payload
//! posted to `/webhook/whatsapp` is followed across the gateway and the
//! agents service (same trace id and session id on every span, parent links
//! intact, JSON logs of both services carrying them), with cost attributes
//! for the LLM call and the WhatsApp reply, an evaluation result for the
//! reply, status callbacks reconciled, HTTP server metrics by route template,
//! and the budget alert fired once with lowered thresholds.

mod support_web;

use chatobs_runtime::model::OtelKind;
use chatobs_runtime::{vocab, ChatSession, FinishedSpan};
use std::collections::HashSet;
use std::time::Duration;
use support_web::bot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_to_reply_across_two_services() {
    // Lowered thresholds: a conversation above $0.0001 breaches its budget.
    let (guard, log, _dir) = support_web::init(&[], |cfg| {
        let lowered = chatobs_runtime::Config::from_toml_str(
            "[alerts.rules.conversation_budget]\nquantity = \"conversation_cost_usd\"\nabove = 0.0001\n",
            None,
        )
        .unwrap();
        cfg.alerts = lowered.alerts;
    });
    let b = bot::Bot::start().await;
    let http = reqwest::Client::new();
    let wa_id = "573001234567";
    let status = b
        .post_signed(
            &http,
            bot::text_payload(
                wa_id,
                "wamid.IN1",
                "Hola, quiero comprar unos tenis talla 42",
            ),
        )
        .await;
    assert_eq!(status, 200);
    // A second turn, to see the alert fire only once.
    assert!(b.wait(1, 0, Duration::from_secs(15)).await);
    assert_eq!(
        b.post_signed(
            &http,
            bot::text_payload(wa_id, "wamid.IN2", "¿Tienen en color negro?")
        )
        .await,
        200
    );
    let sent = 3; // reply + marketing template, then a reply
    assert!(
        b.wait(2, sent * 2, Duration::from_secs(15)).await,
        "bot did not finish"
    );
    let series = chatobs_runtime::integrations::http_metrics::snapshot();
    let metrics_text = chatobs_runtime::metrics::render();
    let fired = chatobs_runtime::alerts::current()
        .map(|e| {
            e.wait_idle(Duration::from_secs(2));
            e.recent()
        })
        .unwrap_or_default();
    b.stop().await;
    let spans = guard.memory_spans();
    // Two user messages, two turns: status callbacks and the agents' SERVER
    // spans (a remote parent) are not turns.
    let after = chatobs_runtime::metrics::render();
    assert!(
        after.contains("chatobs_turns_total{outcome=\"ok\"} 2\n"),
        "{after}"
    );
    // The user's stable key; the conversation has an id of its own.
    let user = ChatSession::for_whatsapp(bot::PHONE_NUMBER_ID, wa_id);

    // The first turn's trace: from the webhook to the agents and back.
    // (The earliest: spans of different threads reach the exporter in no fixed order.)
    let agent = spans
        .iter()
        .filter(|s| {
            s.name == "agent.sales.flow" && s.attr_str(vocab::CONVERSATION_STEP) == Some("qualify")
        })
        .min_by_key(|s| s.start)
        .expect("agent span");
    let trace: Vec<&FinishedSpan> = spans
        .iter()
        .filter(|s| s.trace_id == agent.trace_id)
        .collect();
    let names: HashSet<&str> = trace.iter().map(|s| s.name.as_ref()).collect();
    for n in [
        "POST /webhook/whatsapp",
        "classifier.predict",
        "orchestrator.decision",
        "POST /agents/{agent}",
        "agent.sales.flow",
        "chat gemini-1.5-flash",
        "whatsapp.send",
        "eval.readability",
    ] {
        assert!(names.contains(n), "missing {n} in {names:?}");
    }
    let conversation = trace
        .iter()
        .find(|s| s.name == "POST /webhook/whatsapp")
        .and_then(|s| s.session_id())
        .expect("the webhook span has the conversation")
        .to_owned();
    assert_ne!(
        conversation,
        user.id(),
        "a conversation id, not the user's key"
    );
    let session = ChatSession::from_exported_ids(&conversation, user.id()).unwrap();
    // Same conversation and user on every span of both services.
    for s in &trace {
        assert_eq!(
            s.attr_str(vocab::USER_ID),
            Some(user.id()),
            "span {} has no user.id",
            s.name
        );
        assert_eq!(
            s.session_id(),
            Some(session.id()),
            "span {} has no session",
            s.name
        );
    }
    // Parent links intact: one root (the turn, from the message's arrival to
    // the last reply sent), every other parent present.
    let ids: HashSet<u64> = trace.iter().map(|s| s.span_id.0).collect();
    let roots: Vec<&&FinishedSpan> = trace
        .iter()
        .filter(|s| !ids.contains(&s.parent_span_id.0))
        .collect();
    assert_eq!(
        roots.len(),
        1,
        "roots: {:?}",
        roots.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let turn = roots[0];
    assert_eq!(turn.name, vocab::WHATSAPP_TURN_SPAN);
    assert_eq!(turn.kind, OtelKind::Consumer);
    assert_eq!(
        turn.attr(vocab::CHAT_TURN).and_then(|v| v.as_bool()),
        Some(true)
    );
    assert_eq!(turn.attr_str(vocab::OPENINFERENCE_SPAN_KIND), Some("CHAIN"));
    assert_eq!(turn.attr_str(vocab::CHAT_SERVICE_NAME), Some("gateway"));
    // Content capture is off by default: no message text on any span.
    for s in &trace {
        assert!(
            s.attr(vocab::INPUT_VALUE).is_none(),
            "{} has input.value",
            s.name
        );
        assert!(
            s.attr(vocab::OUTPUT_VALUE).is_none(),
            "{} has output.value",
            s.name
        );
    }
    // The HTTP acknowledgement is a child of the turn, and ends long before it.
    let ack = trace
        .iter()
        .find(|s| s.name == "POST /webhook/whatsapp")
        .unwrap();
    assert_eq!(ack.parent_span_id, turn.span_id);
    assert_eq!(ack.kind, OtelKind::Server);
    assert!(ack.attr(vocab::CHAT_TURN).is_none());
    let last_send = trace
        .iter()
        .filter(|s| s.name == "whatsapp.send")
        .map(|s| s.end)
        .max()
        .unwrap();
    assert!(turn.start <= ack.start && ack.end <= last_send && last_send <= turn.end);
    let roots = [ack];
    assert_eq!(roots[0].attr_str(vocab::CHAT_SERVICE_NAME), Some("gateway"));
    assert_eq!(
        roots[0].attr_str(vocab::HTTP_ROUTE),
        Some("/webhook/whatsapp")
    );
    assert_eq!(
        roots[0]
            .attr(vocab::HTTP_RESPONSE_STATUS_CODE)
            .and_then(|v| v.as_i64()),
        Some(200)
    );
    let sig = roots[0]
        .attr("http.request.header.x-hub-signature-256")
        .and_then(|v| v.as_str_array())
        .unwrap();
    assert_eq!(sig, ["[REDACTED]"]);
    // Only the configured request headers are recorded (opt-in, per the HTTP conventions).
    assert_eq!(
        roots[0]
            .attr("http.request.header.content-type")
            .and_then(|v| v.as_str_array()),
        Some(vec!["application/json"])
    );
    assert!(roots[0].attr("http.request.header.traceparent").is_none());
    // The agents' SERVER span is the child of the gateway's CLIENT span (traceparent crossed a socket).
    let agents_server = trace
        .iter()
        .find(|s| s.name == "POST /agents/{agent}")
        .unwrap();
    assert_eq!(
        agents_server.attr_str(vocab::CHAT_SERVICE_NAME),
        Some("agents")
    );
    let client = trace
        .iter()
        .find(|s| s.span_id == agents_server.parent_span_id)
        .unwrap();
    assert_eq!(client.kind, OtelKind::Client);
    assert_eq!(client.attr_str(vocab::CHAT_SERVICE_NAME), Some("gateway"));
    assert!(agents_server.parent_remote);
    assert_eq!(agent.parent_span_id, agents_server.span_id);

    // Cost attributes: the LLM call (read from Gemini's usageMetadata) and the WhatsApp reply.
    let llm = trace
        .iter()
        .find(|s| s.name == "chat gemini-1.5-flash")
        .unwrap();
    assert_eq!(llm.kind, OtelKind::Client);
    assert_eq!(
        llm.attr_str(vocab::GEN_AI_PROVIDER_NAME),
        Some("gcp.gemini")
    );
    assert_eq!(
        llm.attr_str(vocab::GEN_AI_RESPONSE_MODEL),
        Some("gemini-1.5-flash-002")
    );
    assert_eq!(
        llm.attr(vocab::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)
            .and_then(|v| v.as_i64()),
        Some(512)
    );
    assert!(
        llm.attr(vocab::GEN_AI_USAGE_PRICE_USD)
            .and_then(|v| v.as_decimal())
            .unwrap()
            > 0.into()
    );
    assert!(!llm
        .attr_str(vocab::URL_FULL)
        .unwrap()
        .contains(bot::GEMINI_KEY));
    let sends: Vec<&&FinishedSpan> = trace.iter().filter(|s| s.name == "whatsapp.send").collect();
    assert_eq!(sends.len(), 2);
    let marketing = sends
        .iter()
        .find(|s| s.attr_str(vocab::MESSAGING_WHATSAPP_CATEGORY) == Some("marketing"))
        .expect("marketing template");
    assert_eq!(
        marketing
            .attr(vocab::MESSAGING_WHATSAPP_PRICE_USD)
            .and_then(|v| v.as_decimal()),
        Some("0.0125".parse().unwrap())
    );
    assert_eq!(
        marketing.attr_str(vocab::MESSAGING_WHATSAPP_MARKET),
        Some("Colombia")
    );
    // The evaluation result for the reply.
    let eval = trace.iter().find(|s| s.name == "eval.readability").unwrap();
    assert!(eval.attr("eval.readability.score").is_some());

    // Status callbacks: SERVER spans with the same session, reconciled in whatsapp.status spans.
    let statuses: Vec<&FinishedSpan> = spans
        .iter()
        .filter(|s| s.name == vocab::WHATSAPP_STATUS_SPAN)
        .collect();
    assert_eq!(statuses.len(), sent * 2);
    assert!(statuses
        .iter()
        .all(|s| s.session_id() == Some(session.id())));
    assert!(statuses.iter().any(|s| s
        .attr(vocab::MESSAGING_WHATSAPP_BILLABLE)
        .and_then(|v| v.as_bool())
        == Some(true)));

    // JSON logs of both services carry the trace and session ids.
    let lines = support_web::log_lines(&log);
    let trace_hex = agent.trace_id.to_hex();
    let of_trace: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["trace_id"] == trace_hex.as_str())
        .collect();
    let msgs: HashSet<&str> = of_trace
        .iter()
        .filter_map(|l| l["message"].as_str())
        .collect();
    assert!(msgs.contains("routing"), "gateway log missing: {msgs:?}");
    assert!(
        msgs.contains("sales answer"),
        "agents log missing: {msgs:?}"
    );
    for l in &of_trace {
        assert_eq!(l["chat.session_id"], session.id());
        assert!(l["span_id"].as_str().is_some_and(|s| s.len() == 16));
    }
    assert!(of_trace
        .iter()
        .filter(|l| l.get("text").is_some())
        .all(|l| l["text"] == "[REDACTED]"));

    // HTTP server metrics by route template.
    let routes: HashSet<&str> = series.iter().map(|s| s.route.as_ref()).collect();
    assert!(
        routes.contains("/webhook/whatsapp") && routes.contains("/agents/{agent}"),
        "{routes:?}"
    );
    assert!(
        !routes.iter().any(|r| r.contains("sales")),
        "raw path leaked: {routes:?}"
    );
    // ... served by /metrics with the rest.
    assert!(
        metrics_text.contains("http_server_request_duration_seconds_count{http_request_method=\"POST\",http_route=\"/webhook/whatsapp\",http_response_status_code=\"200\"}"),
        "{metrics_text}"
    );

    // Budget alert with a lowered threshold: once for the conversation.
    let budget: Vec<_> = fired
        .iter()
        .filter(|a| {
            a.rule == "conversation_budget" && a.session_id.as_deref() == Some(session.id())
        })
        .collect();
    assert_eq!(budget.len(), 1, "alerts: {fired:?}");
}
