//! Real LLM answers, read by each provider's documented usage rules.
//!
//! `crates/chatobs-integrations/tests/corpus/real/llm/` holds responses and
//! event streams recorded from the providers (SDK cassettes and fixtures of
//! pydantic-ai and vercel/ai), each with its source and licence, and
//! `expected.toml` the reading written from the providers' documentation:
//! the provider, the usage in the OpenTelemetry convention (input with the
//! cache, output with the reasoning), the block reason, the error, and the
//! cost from the price table's row (or `price_unknown`). Each answer is
//! served from 127.0.0.1 and fetched through the traced client, as a whole
//! (`send_traced`), through a `reqwest_middleware` client with
//! `ChatobsMiddleware`, and, for streams, chunk by chunk (`send_streaming`);
//! the `chat {model}` span is checked attribute by attribute each time.

use chatobs_runtime::integrations::genai::{self, recognize, set_provider_for_host};
use chatobs_runtime::integrations::reqwest::{
    reqwest_middleware, send_streaming, ChatobsMiddleware, SendTraced,
};
use chatobs_runtime::model::FinishedSpan;
use chatobs_runtime::{cost, testing, vocab, ChatSession};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

#[derive(Debug, Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Case {
    file: String,
    source: String,
    licence: String,
    notes: String,
    request_url: String,
    request_model: String,
    stream: bool,
    http_status: u16,
    provider: String,
    response_model: Option<String>,
    #[serde(default)]
    finish_reasons: Vec<String>,
    input: u64,
    cached: u64,
    cache_write: u64,
    output: u64,
    reasoning: u64,
    #[serde(default)]
    usage_missing: bool,
    block_reason: Option<String>,
    error_type: Option<String>,
    error_code: Option<String>,
    retry_delay_seconds: Option<f64>,
    cost_usd: Option<String>,
    #[serde(default)]
    price_unknown: bool,
    derivation: String,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/chatobs-integrations/tests/corpus/real/llm")
}

fn provider_name(p: &str) -> &'static str {
    match p {
        "openai" => "openai",
        "anthropic" => "anthropic",
        "gcp.gemini" => "gcp.gemini",
        "gcp.vertex_ai" => "gcp.vertex_ai",
        "x_ai" => "x_ai",
        "deepseek" => "deepseek",
        "mistral_ai" => "mistral_ai",
        "groq" => "groq",
        other => panic!("unknown provider {other}"),
    }
}

type Served = Arc<Mutex<(u16, &'static str, Vec<u8>)>>;

async fn server(served: Served) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    let app = axum::Router::new().fallback(move || {
        let served = served.clone();
        async move {
            let (status, ct, body) = served.lock().unwrap().clone();
            axum::response::Response::builder()
                .status(status)
                .header("content-type", ct)
                .body(axum::body::Body::from(body))
                .unwrap()
        }
    });
    tokio::spawn(async move {
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(120), axum::serve(l, app)).await;
    });
    a
}

fn path_and_query(url: &str) -> &str {
    let rest = url.split_once("://").unwrap().1;
    &rest[rest.find('/').unwrap()..]
}

fn attr_u64(s: &FinishedSpan, k: &str) -> u64 {
    s.attr(k).and_then(|v| v.as_i64()).unwrap_or(0) as u64
}

fn check_span(c: &Case, s: &FinishedSpan, how: &str) {
    let ctx = format!("{} ({how})", c.file);
    assert_eq!(s.name, format!("chat {}", c.request_model), "{ctx}");
    assert_eq!(
        s.attr_str(vocab::GEN_AI_PROVIDER_NAME),
        Some(c.provider.as_str()),
        "{ctx}: provider"
    );
    let has_usage = !c.usage_missing;
    if has_usage {
        assert_eq!(
            attr_u64(s, vocab::GEN_AI_USAGE_INPUT_TOKENS),
            c.input,
            "{ctx}: input"
        );
        assert_eq!(
            attr_u64(s, vocab::GEN_AI_USAGE_OUTPUT_TOKENS),
            c.output,
            "{ctx}: output"
        );
        assert_eq!(
            attr_u64(s, vocab::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
            c.cached,
            "{ctx}: cached"
        );
        assert_eq!(
            attr_u64(s, vocab::GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS),
            c.cache_write,
            "{ctx}: cache write"
        );
        assert_eq!(
            attr_u64(s, vocab::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
            c.reasoning,
            "{ctx}: reasoning"
        );
    } else {
        assert_eq!(s.attr(vocab::GEN_AI_USAGE_INPUT_TOKENS), None, "{ctx}");
    }
    let failed = c.http_status >= 400 || c.error_type.is_some();
    // Missing usage on an answer that succeeded is said, never priced as free.
    assert_eq!(
        s.attr(vocab::GEN_AI_USAGE_MISSING)
            .and_then(|v| v.as_bool()),
        (c.usage_missing && !failed).then_some(true),
        "{ctx}: usage missing"
    );
    match (&c.cost_usd, c.price_unknown) {
        (Some(cost), false) => {
            assert_eq!(
                s.attr(vocab::GEN_AI_USAGE_PRICE_USD)
                    .and_then(|v| v.as_decimal()),
                Some(Decimal::from_str(cost).unwrap()),
                "{ctx}: cost"
            );
            assert_eq!(s.attr(vocab::GEN_AI_USAGE_PRICE_UNKNOWN), None, "{ctx}");
        }
        (None, true) => {
            assert_eq!(
                s.attr(vocab::GEN_AI_USAGE_PRICE_UNKNOWN)
                    .and_then(|v| v.as_bool()),
                Some(true),
                "{ctx}: price unknown"
            );
            for k in [
                vocab::GEN_AI_USAGE_PRICE_USD,
                vocab::LLM_COST_TOTAL,
                vocab::OPERATION_COST,
            ] {
                assert_eq!(s.attr(k), None, "{ctx}: {k} must be absent, not 0");
            }
        }
        (None, false) => {
            assert!(failed, "{ctx}: a successful case names its cost");
            assert_eq!(s.attr(vocab::GEN_AI_USAGE_PRICE_USD), None, "{ctx}");
        }
        (Some(_), true) => panic!("{ctx}: both cost_usd and price_unknown"),
    }
    if let Some(m) = &c.response_model {
        if !failed {
            assert_eq!(
                s.attr_str(vocab::GEN_AI_RESPONSE_MODEL),
                Some(m.as_str()),
                "{ctx}: response model"
            );
        }
    }
    let reasons = s
        .attr(vocab::GEN_AI_RESPONSE_FINISH_REASONS)
        .and_then(|v| v.as_str_array())
        .unwrap_or_default();
    assert_eq!(reasons, c.finish_reasons, "{ctx}: finish reasons");
    assert_eq!(
        s.attr_str(vocab::GEN_AI_RESPONSE_BLOCK_REASON),
        c.block_reason.as_deref(),
        "{ctx}: block reason"
    );
    assert_eq!(
        s.attr_str(vocab::GEN_AI_ERROR_TYPE),
        c.error_type.as_deref(),
        "{ctx}: error type"
    );
    assert_eq!(
        s.attr_str(vocab::GEN_AI_ERROR_CODE),
        c.error_code.as_deref(),
        "{ctx}: error code"
    );
    assert_eq!(
        s.attr(vocab::GEN_AI_ERROR_RETRY_AFTER)
            .and_then(|v| v.as_f64()),
        c.retry_delay_seconds,
        "{ctx}: retry delay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recorded_answer_is_read_by_its_providers_rules() {
    let corpus: Corpus =
        toml::from_str(&std::fs::read_to_string(dir().join("expected.toml")).unwrap()).unwrap();
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json") || n.ends_with(".sse"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = corpus.case.iter().map(|c| c.file.clone()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
    let mut providers: Vec<&str> = corpus.case.iter().map(|c| c.provider.as_str()).collect();
    providers.sort();
    providers.dedup();
    assert_eq!(
        providers,
        [
            "anthropic",
            "deepseek",
            "gcp.gemini",
            "gcp.vertex_ai",
            "groq",
            "mistral_ai",
            "openai",
            "x_ai"
        ]
    );

    let served: Served = Arc::new(Mutex::new((200, "application/json", Vec::new())));
    let addr = server(served.clone()).await;
    let http = reqwest::Client::new();
    let mw = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ChatobsMiddleware)
        .build();
    for (n, c) in corpus.case.iter().enumerate() {
        let body = std::fs::read(dir().join(&c.file)).unwrap();
        let ct = if c.file.ends_with(".sse") {
            "text/event-stream"
        } else {
            "application/json"
        };
        *served.lock().unwrap() = (c.http_status, ct, body.clone());
        // The provider is what the real host would give.
        let real = recognize(
            "POST",
            &c.request_url,
            Some(
                serde_json::to_vec(&serde_json::json!({"model": c.request_model}))
                    .unwrap()
                    .as_slice(),
            ),
        )
        .unwrap_or_else(|| panic!("{}: {} not recognized", c.file, c.request_url));
        assert_eq!(
            real.provider, c.provider,
            "{}: provider of {}",
            c.file, c.request_url
        );
        // The local server stands in for that host.
        set_provider_for_host(&addr.to_string(), provider_name(&c.provider));
        let url = format!("http://{addr}{}", path_and_query(&c.request_url));
        let req_body = serde_json::json!({"model": c.request_model, "stream": c.stream, "messages": [], "max_tokens": 64});

        // The pure reader agrees with the expectation.
        let parsed = genai::parse_response_for(&real, &body);
        if c.usage_missing {
            assert_eq!(parsed.usage, None, "{}", c.file);
        } else {
            let u = parsed
                .usage
                .unwrap_or_else(|| panic!("{}: no usage read", c.file));
            assert_eq!(
                (u.input, u.cached, u.cache_write, u.output, u.reasoning),
                (c.input, c.cached, c.cache_write, c.output, c.reasoning),
                "{}: usage",
                c.file
            );
        }

        let session = ChatSession::from_exported_id(&format!("corpus-llm-{n}")).unwrap();
        let ((), spans) = testing::capture_async(session.scope(async {
            let r = http.post(&url).json(&req_body).send_traced().await.unwrap();
            assert_eq!(r.status().as_u16(), c.http_status, "{}", c.file);
            // The answer is handed back intact.
            assert_eq!(
                r.bytes().await.unwrap().as_ref(),
                body.as_slice(),
                "{}",
                c.file
            );
        }))
        .await;
        check_span(c, spans.one(&format!("chat {}", c.request_model)), "whole");

        // Every request of a middleware client: the same span, the answer intact.
        let ((), spans) = testing::capture_async(async {
            let r = mw
                .post(&url)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&req_body).unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), c.http_status, "{}", c.file);
            assert_eq!(
                r.bytes().await.unwrap().as_ref(),
                body.as_slice(),
                "{}",
                c.file
            );
        })
        .await;
        check_span(
            c,
            spans.one(&format!("chat {}", c.request_model)),
            "middleware",
        );
        // The conversation's total says when a figure is missing.
        let totals = cost::session_totals(&session);
        let ok = c.http_status < 400 && c.error_type.is_none();
        assert_eq!(
            totals.incomplete,
            ok && c.price_unknown,
            "{}: total incomplete",
            c.file
        );
        if let Some(cst) = &c.cost_usd {
            assert_eq!(
                totals.llm_usd,
                Decimal::from_str(cst).unwrap(),
                "{}: total",
                c.file
            );
        }

        if c.stream {
            let ((), spans) = testing::capture_async(async {
                let mut s = send_streaming(http.post(&url).json(&req_body))
                    .await
                    .unwrap();
                let mut got = Vec::new();
                while let Some(chunk) = s.chunk().await.unwrap() {
                    got.extend_from_slice(&chunk);
                }
                assert_eq!(got, body, "{}", c.file);
            })
            .await;
            check_span(
                c,
                spans.one(&format!("chat {}", c.request_model)),
                "streamed",
            );
        }
    }
}
