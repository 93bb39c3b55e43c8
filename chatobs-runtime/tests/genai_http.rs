//! GenAI over HTTP: an OpenAI-compatible `/chat/completions` call (plain and
//! streamed) made with `send_traced` becomes a `chat {model}` span with the
//! usage read from the answer (cached tokens included), priced, and the time
//! to the first chunk of the stream.

use axum::routing::post;
use chatobs_runtime::integrations::reqwest::{send_streaming, SendTraced};
use chatobs_runtime::{testing, vocab, ChatSession};

async fn stub() -> std::net::SocketAddr {
    async fn completions(axum::Json(v): axum::Json<serde_json::Value>) -> axum::response::Response {
        use axum::response::IntoResponse;
        if v["stream"] == true {
            let sse = "data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"delta\":{\"content\":\"Hola\"}}]}\n\n\
                       data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"finish_reason\":\"stop\"}]}\n\n\
                       data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":2000,\"completion_tokens\":100,\"prompt_tokens_details\":{\"cached_tokens\":1000}}}\n\n\
                       data: [DONE]\n\n";
            ([("content-type", "text/event-stream")], sse).into_response()
        } else {
            axum::Json(serde_json::json!({"id": "c2", "model": "gpt-4o-mini-2024-07-18",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hola"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 2000, "completion_tokens": 100, "total_tokens": 2100,
                          "prompt_tokens_details": {"cached_tokens": 1000}}})).into_response()
        }
    }
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    let app = axum::Router::new().route("/v1/chat/completions", post(completions));
    tokio::spawn(async move {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(60), axum::serve(l, app)).await;
    });
    a
}

#[tokio::test]
async fn openai_compatible_calls_are_genai_spans_with_priced_usage() {
    let addr = stub().await;
    let http = reqwest::Client::new();
    let session = ChatSession::from_exported_id("cs_genai_test").unwrap();
    let url = format!("http://{addr}/v1/chat/completions?api_key=sk-secret");
    let ((), spans) = testing::capture_async(session.scope(async {
        let r = http
            .post(&url)
            .json(&serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hola"}]}))
            .send_traced()
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "Hola"); // the body is handed back intact
        let mut s = send_streaming(http.post(&url).json(
            &serde_json::json!({"model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true}, "messages": []}),
        ))
        .await
        .unwrap();
        let mut n = 0;
        while let Some(c) = s.chunk().await.unwrap() {
            n += c.len();
        }
        assert!(n > 0);
    }))
    .await;
    let calls = spans.named("chat gpt-4o-mini");
    assert_eq!(
        calls.len(),
        2,
        "{:?}",
        spans.spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    // 1000 x 1.5e-07 + 1000 x 7.5e-08 + 100 x 6e-07 = 0.000285
    for c in &calls {
        assert_eq!(c.kind, chatobs_runtime::model::OtelKind::Client);
        assert_eq!(c.session_id(), Some("cs_genai_test"));
        assert_eq!(c.attr_str(vocab::GEN_AI_PROVIDER_NAME), Some("openai"));
        assert_eq!(
            c.attr(vocab::GEN_AI_USAGE_INPUT_TOKENS)
                .and_then(|v| v.as_i64()),
            Some(2000)
        );
        assert_eq!(
            c.attr(vocab::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)
                .and_then(|v| v.as_i64()),
            Some(1000)
        );
        assert_eq!(
            c.attr(vocab::GEN_AI_USAGE_PRICE_USD)
                .and_then(|v| v.as_decimal()),
            Some("0.000285".parse().unwrap())
        );
        assert_eq!(
            c.attr_str(vocab::GEN_AI_RESPONSE_MODEL),
            Some("gpt-4o-mini-2024-07-18")
        );
        assert!(!c.attr_str(vocab::URL_FULL).unwrap().contains("sk-secret"));
    }
    let streamed = calls
        .iter()
        .find(|c| c.attr(vocab::GEN_AI_REQUEST_STREAM).is_some())
        .unwrap();
    assert!(
        streamed
            .attr(vocab::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
            .and_then(|v| v.as_f64())
            .unwrap()
            > 0.0
    );
}
