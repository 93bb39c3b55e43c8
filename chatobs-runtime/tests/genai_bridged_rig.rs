//! GenAI spans from another crate are priced: rig (rig-core 0.44, a real
//! Rust LLM library that emits OpenTelemetry GenAI `tracing` spans) calls a
//! simulated OpenAI Chat Completions server on 127.0.0.1 from inside a chat
//! span. Its `chat` span reaches chatobs through the `tracing` bridge and
//! gets what chatobs' own LLM spans get: the cost attributes (exact
//! decimal), the conversation's running total, the cost metrics and the
//! per-conversation budget alert (once); a failed call in such a span
//! feeds the LLM error counter. (One test: `init` runs once.)

use chatobs_runtime::{chat_span, cost, vocab, ChatSession, Config, Decimal};
use rig_core::completion::CompletionRequest;
use rig_core::providers::openai::OpenAIConfig;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// A Chat Completions answer as OpenAI returns it (usage in `usage`).
const ANSWER: &str = r#"{"id":"chatcmpl-CgX9","object":"chat.completion","created":1764534000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Claro, el envío a Medellín tarda 2 días.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1000,"completion_tokens":200,"total_tokens":1200,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_8bda4d3a2c"}"#;

async fn openai_sim(seen: Arc<Mutex<Vec<serde_json::Value>>>) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                if let Ok(v) = serde_json::from_slice(&body) {
                    seen.lock().unwrap().push(v);
                }
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    ANSWER,
                )
            }
        }),
    );
    tokio::spawn(async move {
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(120), axum::serve(l, app)).await;
    });
    addr
}

#[chat_span(name = "agent.sales.answer", role = "sales", kind = agent)]
async fn answer(base: String, question: &str) -> String {
    let http = rig_reqwest::shared();
    let openai = OpenAIConfig::new("sk-test-not-a-key")
        .with_base_url(base)
        .connect(http);
    let model = openai.chat("gpt-4o-mini");
    let r = model
        .call(CompletionRequest::new(question))
        .await
        .expect("the simulated server answers");
    r.text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rig_chat_span_is_priced_totalled_metered_and_alerted() {
    chatobs_runtime::context::set_session_key(b"genai-bridged-rig-test-key-0042").unwrap();
    let cfg = Config::from_toml_str(
        r#"
[exporter]
kinds = ["memory"]
[logs]
format = "off"
[alerts.rules.conversation_budget]
above = "0.0004"
"#,
        None,
    )
    .unwrap();
    let guard = chatobs_runtime::init(cfg).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let addr = openai_sim(seen.clone()).await;
    let base = format!("http://{addr}/v1");

    let session = ChatSession::from_exported_id("cs-rig-bridge-1").unwrap();
    for q in ["¿Cuánto tarda el envío a Medellín?", "¿Y a Cali?"] {
        let out = session.scope(answer(base.clone(), q)).await;
        assert!(out.contains("Medell"), "{out}");
    }
    // A failed call in another crate's GenAI span (an SDK that logs the
    // error inside its span) feeds the LLM error counter like chatobs' own.
    session.in_scope(|| {
        tracing::info_span!(
            "chat gpt-4o",
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = "openai",
            gen_ai.request.model = "gpt-4o",
            error.type = "429"
        )
        .in_scope(|| tracing::error!("rate limited: retry in 20 s"));
    });
    // A refused attribute (a key in chatobs' namespace) is counted where
    // operators look.
    session.in_scope(|| {
        let mut s = chatobs_runtime::SpanBuilder::new("agent.sales.note").start();
        s.in_scope(|| assert!(!chatobs_runtime::attrs::set("conversation.step", "x")));
    });
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert_eq!(seen.lock().unwrap()[0]["model"], "gpt-4o-mini");
    guard.flush(std::time::Duration::from_secs(10));
    let spans = guard.memory_spans();

    // rig's span, bridged, under the chat span, priced like chatobs' own.
    let chats: Vec<_> = spans.iter().filter(|s| s.name == "chat").collect();
    assert_eq!(
        chats.len(),
        2,
        "{:#?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let agents: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "agent.sales.answer")
        .collect();
    // 1000 x $0.15 + 200 x $0.60 per million (gpt-4o-mini) = $0.00027 per call.
    let per_call = Decimal::from_str("0.00027").unwrap();
    for c in &chats {
        assert!(
            agents
                .iter()
                .any(|a| a.span_id == c.parent_span_id && a.trace_id == c.trace_id),
            "rig's span is a child of the chat span"
        );
        assert_eq!(c.attr_str(vocab::CHAT_SESSION_ID), Some("cs-rig-bridge-1"));
        assert_eq!(c.attr_str(vocab::GEN_AI_PROVIDER_NAME), Some("openai"));
        assert_eq!(c.attr_str(vocab::GEN_AI_REQUEST_MODEL), Some("gpt-4o-mini"));
        assert_eq!(
            c.attr(vocab::GEN_AI_USAGE_INPUT_TOKENS)
                .and_then(|v| v.as_i64()),
            Some(1000)
        );
        assert_eq!(
            c.attr(vocab::GEN_AI_USAGE_PRICE_USD)
                .and_then(|v| v.as_decimal()),
            Some(per_call)
        );
        assert_eq!(
            c.attr(vocab::LLM_COST_TOTAL).and_then(|v| v.as_decimal()),
            Some(per_call)
        );
    }
    // The conversation's total: both calls, exact.
    assert_eq!(
        cost::session_totals(&session).llm_usd,
        Decimal::from_str("0.00054").unwrap()
    );
    // Metrics: the spend by provider and model.
    let text = chatobs_runtime::metrics::render();
    assert!(
        text.lines().any(|l| l
            == r#"chatobs_llm_cost_usd_total{gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini"} 0.00054"#),
        "{text}"
    );
    // The error, by provider and type.
    assert!(
        text.lines().any(|l| l
            == r#"chatobs_llm_errors_total{gen_ai_provider_name="openai",error_type="429"} 1"#),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == r#"chatobs_telemetry_dropped_total{what="custom_attributes"} 1"#),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == r#"chatobs_telemetry_dropped_total{what="log_lines"} 0"#),
        "{text}"
    );
    // The $0.0004 budget: crossed by the second call, alerted once.
    assert!(
        text.lines().any(
            |l| l == r#"chatobs_conversations_over_budget_total{rule="conversation_budget"} 1"#
        ),
        "{text}"
    );

    // An SDK whose own GenAI span wraps a request sent through chatobs'
    // HTTP instrumentation: priced once, on the HTTP span, not again on the
    // SDK's span.
    let mw = chatobs_runtime::integrations::reqwest::reqwest_middleware::ClientBuilder::new(
        reqwest::Client::new(),
    )
    .with(chatobs_runtime::integrations::reqwest::ChatobsMiddleware)
    .build();
    let twice = ChatSession::from_exported_id("cs-rig-priced-once").unwrap();
    let url = format!("{base}/chat/completions");
    twice
        .scope(async {
            let sdk = tracing::info_span!(
                "chat",
                gen_ai.operation.name = "chat",
                gen_ai.provider.name = "openai",
                gen_ai.request.model = "gpt-4o-mini",
                gen_ai.usage.input_tokens = tracing::field::Empty,
                gen_ai.usage.output_tokens = tracing::field::Empty
            );
            let body = serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hola"}]});
            let r = tracing::Instrument::instrument(mw.post(&url).json(&body).send(), sdk.clone())
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            sdk.record("gen_ai.usage.input_tokens", 1000_i64);
            sdk.record("gen_ai.usage.output_tokens", 200_i64);
        })
        .await;
    assert_eq!(
        cost::session_totals(&twice).llm_usd,
        per_call,
        "priced once"
    );
    guard.flush(std::time::Duration::from_secs(10));
    let spans = guard.memory_spans();
    let of_twice: Vec<_> = spans
        .iter()
        .filter(|s| s.attr_str(vocab::CHAT_SESSION_ID) == Some("cs-rig-priced-once"))
        .collect();
    let sdk = of_twice
        .iter()
        .find(|s| s.name == "chat")
        .expect("the SDK span");
    assert_eq!(
        sdk.attr(vocab::GEN_AI_USAGE_PRICED_BY_CHILD)
            .and_then(|v| v.as_bool()),
        Some(true)
    );
    assert_eq!(sdk.attr(vocab::GEN_AI_USAGE_PRICE_USD), None);
    let http = of_twice
        .iter()
        .find(|s| s.name == "chat gpt-4o-mini")
        .expect("the HTTP GenAI span");
    assert_eq!(http.parent_span_id, sdk.span_id);
    assert_eq!(
        http.attr(vocab::GEN_AI_USAGE_PRICE_USD)
            .and_then(|v| v.as_decimal()),
        Some(per_call)
    );
    drop(guard);
}
