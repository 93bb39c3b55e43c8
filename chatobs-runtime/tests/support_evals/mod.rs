//! Test peers for the evals tests, on 127.0.0.1 only: a scripted
//! OpenAI-compatible judge and a Phoenix annotation receiver. Each runs as a
//! task of the test's Tokio runtime and stops with it (and when its handle
//! is dropped).
#![allow(dead_code)]

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Aborts the server task when dropped.
pub struct Server {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn serve(app: Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { addr, task }
}

/// What the scripted judge saw.
#[derive(Default)]
pub struct JudgeLog {
    /// Requests per script key (`label:correct`, `junk`, `always500#3`, ...).
    pub requests: Mutex<HashMap<String, usize>>,
    /// Requests being answered now.
    pub in_flight: AtomicUsize,
    /// The most answered at once.
    pub max_in_flight: AtomicUsize,
    /// Every `Authorization` header value.
    pub auth: Mutex<Vec<String>>,
}

impl JudgeLog {
    pub fn count(&self, key: &str) -> usize {
        self.requests.lock().unwrap().get(key).copied().unwrap_or(0)
    }
    pub fn total(&self) -> usize {
        self.requests.lock().unwrap().values().sum()
    }
}

/// The script is read from the judged answer: the user message contains
/// `[[script:<mode>]]` where mode is
/// * `label:<text>` — answers `EXPLANATION: scripted <text>\nLABEL: <text>`;
/// * `junk` — answers text naming no label;
/// * `slow:<ms>` — waits, then answers `LABEL: correct`;
/// * `429once#<id>` — 429 (Retry-After: 0) the first time, then `LABEL: correct`;
/// * `always500#<id>` — 500 every time;
/// * `load:<ms>` — waits (counting concurrency), then `LABEL: non-toxic`;
/// * `html` — 200 with a body that is not JSON.
pub async fn judge_server() -> (Server, Arc<JudgeLog>) {
    let log = Arc::new(JudgeLog::default());
    let app = Router::new()
        .route("/v1/chat/completions", post(judge))
        .with_state(log.clone());
    (serve(app).await, log)
}

fn answer(text: &str) -> Response {
    Json(serde_json::json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 15, "total_tokens": 135}
    }))
    .into_response()
}

struct InFlight<'a>(&'a JudgeLog);
impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn judge(
    State(log): State<Arc<JudgeLog>>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    let now = log.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    log.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _g = InFlight(&log);
    if let Some(a) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        log.auth.lock().unwrap().push(a.to_owned());
    }
    let user = body["messages"][1]["content"].as_str().unwrap_or("");
    let mode = user
        .split("[[script:")
        .nth(1)
        .and_then(|r| r.split("]]").next())
        .unwrap_or("label:correct")
        .to_owned();
    let n = {
        let mut r = log.requests.lock().unwrap();
        let e = r.entry(mode.clone()).or_insert(0);
        *e += 1;
        *e
    };
    if let Some(label) = mode.strip_prefix("label:") {
        return answer(&format!("EXPLANATION: scripted {label}\nLABEL: {label}"));
    }
    if mode == "junk" {
        return answer("I would rather talk about the weather. Sunny, mostly.");
    }
    if mode == "html" {
        return (StatusCode::OK, "<html>gateway says hi</html>").into_response();
    }
    if let Some(ms) = mode.strip_prefix("slow:") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
        return answer("LABEL: correct");
    }
    if let Some(ms) = mode.strip_prefix("load:") {
        tokio::time::sleep(Duration::from_millis(
            ms.split('#').next().unwrap().parse().unwrap(),
        ))
        .await;
        return answer("EXPLANATION: fine\nLABEL: non-toxic");
    }
    if mode.starts_with("429once") {
        if n == 1 {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "0")],
                "slow down",
            )
                .into_response();
        }
        return answer("EXPLANATION: ok\nLABEL: correct");
    }
    if mode.starts_with("always500") {
        return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
    }
    answer("LABEL: correct")
}

/// What the Phoenix receiver got.
#[derive(Default)]
pub struct PhoenixLog {
    /// Each request: (path and query, authorization header, JSON body).
    pub requests: Mutex<Vec<(String, Option<String>, serde_json::Value)>>,
}

impl PhoenixLog {
    /// Every annotation received.
    /// The span annotations received.
    pub fn annotations(&self) -> Vec<serde_json::Value> {
        self.posted_to("/v1/span_annotations")
    }

    /// The trace annotations (turns' results) received.
    pub fn trace_annotations(&self) -> Vec<serde_json::Value> {
        self.posted_to("/v1/trace_annotations")
    }

    fn posted_to(&self, path: &str) -> Vec<serde_json::Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p.starts_with(path))
            .flat_map(|(_, _, b)| b["data"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

/// A receiver for `POST /v1/span_annotations` and `/v1/trace_annotations` answering like Phoenix.
pub async fn phoenix_receiver() -> (Server, Arc<PhoenixLog>) {
    let log = Arc::new(PhoenixLog::default());
    let app = Router::new()
        .route("/v1/span_annotations", post(phoenix))
        .route("/v1/trace_annotations", post(phoenix))
        .with_state(log.clone());
    (serve(app).await, log)
}

async fn phoenix(
    State(log): State<Arc<PhoenixLog>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    let n = body["data"].as_array().map_or(0, Vec::len);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    log.requests
        .lock()
        .unwrap()
        .push((uri.to_string(), auth, body));
    let ids: Vec<serde_json::Value> = (0..n)
        .map(|i| serde_json::json!({"id": format!("QW5ub3RhdGlvbjo{i}")}))
        .collect();
    Json(serde_json::json!({ "data": ids })).into_response()
}
