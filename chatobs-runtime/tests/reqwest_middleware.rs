//! `ChatobsMiddleware` on a `reqwest_middleware` client, the way an LLM SDK
//! built on that client would use it: the request carries `traceparent` and
//! the conversation's `baggage`; a streamed answer reaches the caller as it
//! arrives (the first event is read while the server still holds the rest);
//! the span ends with the stream, priced from the usage in its last event.
//!
//! The server is a raw HTTP/1.1 socket on 127.0.0.1 that writes a real
//! recorded OpenAI Responses stream (pydantic-ai's cassette, see the corpus'
//! SOURCES.md) in two parts and waits between them until the client says it
//! has the first.

use chatobs_runtime::integrations::genai::set_provider_for_host;
use chatobs_runtime::integrations::reqwest::{reqwest_middleware, ChatobsMiddleware};
use chatobs_runtime::model::OtelKind;
use chatobs_runtime::{testing, vocab, ChatSession};
use rust_decimal::Decimal;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn stream_file() -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
            "../crates/chatobs-integrations/tests/corpus/real/llm/openai_responses_stream_reasoning.sse",
        ),
    )
    .unwrap()
}

/// Serves one request: the head, `first`, then (after `go`) `rest`.
/// Returns the request head it read.
async fn serve_once(
    l: tokio::net::TcpListener,
    first: Vec<u8>,
    rest: Vec<u8>,
    go: tokio::sync::oneshot::Receiver<()>,
) -> String {
    let (mut sock, _) = l.accept().await.unwrap();
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    // Read the head and the (small, Content-Length) body.
    loop {
        let n = sock.read(&mut buf).await.unwrap();
        req.extend_from_slice(&buf[..n]);
        if let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&req[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while req.len() < end + 4 + len {
                let n = sock.read(&mut buf).await.unwrap();
                req.extend_from_slice(&buf[..n]);
            }
            break;
        }
        assert!(n > 0, "client closed");
    }
    let head = String::from_utf8_lossy(&req).to_string();
    let chunk = |b: &[u8]| {
        let mut v = format!("{:x}\r\n", b.len()).into_bytes();
        v.extend_from_slice(b);
        v.extend_from_slice(b"\r\n");
        v
    };
    sock.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
    )
    .await
    .unwrap();
    sock.write_all(&chunk(&first)).await.unwrap();
    sock.flush().await.unwrap();
    // Hold the rest until the client has read the first event.
    let _ = tokio::time::timeout(Duration::from_secs(20), go).await;
    sock.write_all(&chunk(&rest)).await.unwrap();
    sock.write_all(b"0\r\n\r\n").await.unwrap();
    sock.flush().await.unwrap();
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_answer_arrives_as_it_streams_and_its_span_is_priced() {
    let body = stream_file();
    // Split after the first SSE event.
    let cut = body.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    let (first, rest) = (body[..cut].to_vec(), body[cut..].to_vec());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    set_provider_for_host(&addr.to_string(), "openai");
    let (go_tx, go_rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(serve_once(l, first.clone(), rest, go_rx));

    let mw = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ChatobsMiddleware)
        .build();
    let session = ChatSession::from_exported_id("mw-stream-conv").unwrap();
    let url = format!("http://{addr}/v1/responses");
    let req = serde_json::json!({"model": "gpt-5", "stream": true, "input": "hola"});
    let (got, spans) = testing::capture_async(session.scope(async move {
        // The head comes back while the server still holds the rest: the
        // middleware does not read the answer before handing it over.
        let mut r = tokio::time::timeout(
            Duration::from_secs(10),
            mw.post(&url)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&req).unwrap())
                .send(),
        )
        .await
        .expect("the response head came back before the stream ended")
        .unwrap();
        let mut got = Vec::new();
        while got.len() < first.len() {
            let c = tokio::time::timeout(Duration::from_secs(10), r.chunk())
                .await
                .expect("the first event arrived while the server held the rest")
                .unwrap()
                .unwrap();
            got.extend_from_slice(&c);
        }
        assert_eq!(got, first);
        go_tx.send(()).unwrap();
        while let Some(c) = r.chunk().await.unwrap() {
            got.extend_from_slice(&c);
        }
        got
    }))
    .await;
    assert_eq!(got, body, "the answer reached the caller byte for byte");
    let head = server.await.unwrap();

    let s = spans.one("chat gpt-5");
    assert_eq!(s.kind, OtelKind::Client);
    assert_eq!(s.attr_str(vocab::GEN_AI_PROVIDER_NAME), Some("openai"));
    assert_eq!(
        s.attr(vocab::GEN_AI_USAGE_INPUT_TOKENS)
            .and_then(|v| v.as_i64()),
        Some(53)
    );
    assert_eq!(
        s.attr(vocab::GEN_AI_USAGE_OUTPUT_TOKENS)
            .and_then(|v| v.as_i64()),
        Some(469)
    );
    assert_eq!(
        s.attr(vocab::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)
            .and_then(|v| v.as_i64()),
        Some(448)
    );
    // 53 x $1.25 + 469 x $10.00 per million (gpt-5, LiteLLM table).
    assert_eq!(
        s.attr(vocab::GEN_AI_USAGE_PRICE_USD)
            .and_then(|v| v.as_decimal()),
        Some(Decimal::from_str("0.00475625").unwrap())
    );
    assert_eq!(s.attr_str(vocab::CHAT_SESSION_ID), Some("mw-stream-conv"));
    // The first chunk came before the span ended (the server held the rest).
    let ttfc = s
        .attr(vocab::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
        .and_then(|v| v.as_f64())
        .expect("time to first chunk");
    let total = s.end.duration_since(s.start).unwrap().as_secs_f64();
    assert!(ttfc < total, "first chunk {ttfc} s, span {total} s");
    assert_eq!(
        s.attr(vocab::HTTP_RESPONSE_BODY_SIZE)
            .and_then(|v| v.as_i64()),
        Some(body.len() as i64)
    );
    // The conversation's total has the call.
    assert_eq!(
        chatobs_runtime::cost::session_totals(&session).llm_usd,
        Decimal::from_str("0.00475625").unwrap()
    );

    // Propagation: the server saw this span's trace and the conversation.
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let tp = header("traceparent").expect("traceparent sent");
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "{tp}");
    assert_eq!(parts[1], s.trace_id.to_string(), "{tp}");
    assert_eq!(parts[2], s.span_id.to_string(), "{tp}");
    let baggage = header("baggage").expect("baggage sent");
    assert!(baggage.contains("mw-stream-conv"), "{baggage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_connection_is_an_error_span_without_the_url_key() {
    // A port nothing listens on: bind, read the port, close.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mw = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ChatobsMiddleware)
        .build();
    let url = format!(
        "http://127.0.0.1:{port}/v1beta/models/gemini-2.5-flash:generateContent?key=AIzaSyD-not-a-real-key-0123456789abc"
    );
    let (err, spans) = testing::capture_async(async {
        mw.post(&url)
            .header("content-type", "application/json")
            .body(r#"{"contents":[{"parts":[{"text":"hola"}]}]}"#)
            .send()
            .await
            .unwrap_err()
    })
    .await;
    assert!(
        !err.to_string().contains("AIzaSy"),
        "the error the caller gets carries no key: {err}"
    );
    let s = spans.one("chat gemini-2.5-flash");
    assert_eq!(s.attr_str(vocab::ERROR_TYPE), Some("connect"));
    assert!(matches!(s.status, chatobs_runtime::model::Status::Error(_)));
    let url_attr = s.attr_str(vocab::URL_FULL).unwrap();
    assert!(!url_attr.contains("AIzaSy"), "{url_attr}");
    for a in &s.attributes {
        assert!(!format!("{:?}", a.1).contains("AIzaSy"), "{a:?}");
    }
}
