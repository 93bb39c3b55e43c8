//! GenAI over HTTP: recognizing LLM calls and reading their usage.
//!
//! The instrumented HTTP client ([`super::reqwest`]) asks [`recognize`]
//! whether a request is an LLM call, and which API and provider it is:
//!
//! | API | request | provider |
//! |---|---|---|
//! | Gemini native | `POST .../models/{model}:generateContent` or `:streamGenerateContent` | `gcp.gemini`; `gcp.vertex_ai` on `*aiplatform.googleapis.com` |
//! | Chat Completions | `POST .../chat/completions` (model and `stream` from the body) | by host: `api.openai.com` `openai`, `api.x.ai` `x_ai`, `api.deepseek.com` `deepseek`, `api.mistral.ai` `mistral_ai`, `api.groq.com` `groq`, Gemini's OpenAI-compatible endpoint `gcp.gemini`; any other host `openai` |
//! | Anthropic Messages | `POST .../v1/messages` (model and `stream` from the body) | `anthropic` |
//! | OpenAI Responses | `POST .../responses` (model and `stream` from the body) | by host, else `openai` |
//!
//! A host chatobs does not know (a gateway, a proxy, a test server) can be
//! named with [`set_provider_for_host`], which wins over the table.
//!
//! The span then becomes a GenAI span (`chat {model}`, CLIENT), and the
//! usage read from the answer is priced by the cost engine
//! ([`crate::cost::record_llm_call`]). Each provider's usage is read by its
//! own documented rule and written in the OpenTelemetry GenAI convention
//! (input counts every prompt token, cached and cache-written included;
//! output counts every billed output token, reasoning included):
//!
//! | provider | input | cached / cache write | output | reasoning |
//! |---|---|---|---|---|
//! | OpenAI, DeepSeek (Chat Completions) | `prompt_tokens` | `prompt_tokens_details.cached_tokens` (DeepSeek: `prompt_cache_hit_tokens`) | `completion_tokens` (reasoning inside) | `completion_tokens_details.reasoning_tokens` |
//! | xAI | `prompt_tokens` | `cached_tokens` | `completion_tokens` + `reasoning_tokens` (reported outside) | `reasoning_tokens` |
//! | Gemini through its OpenAI-compatible endpoint | `prompt_tokens` | | `completion_tokens` + the thinking tokens found only in `total_tokens` | the hidden part |
//! | Gemini native | `promptTokenCount` + `toolUsePromptTokenCount` | `cachedContentTokenCount` (inside the prompt) | `candidatesTokenCount` + `thoughtsTokenCount` | `thoughtsTokenCount` |
//! | Anthropic | `input_tokens` + `cache_read_input_tokens` + `cache_creation_input_tokens` | the two cache fields | `output_tokens` | |
//! | OpenAI Responses | `input_tokens` | `input_tokens_details.cached_tokens` | `output_tokens` | `output_tokens_details.reasoning_tokens` |
//!
//! For any Chat Completions answer, a `total_tokens` larger than input plus
//! output is output the provider did not itemise (Gemini's thinking), and
//! is counted as output and reasoning.
//!
//! Streamed answers (server-sent events, or Gemini's JSON array) are read
//! chunk by chunk with [`StreamUsage`]: the last usage wins (Gemini repeats
//! the running usage; OpenAI sends it in the final chunk with
//! `stream_options.include_usage`; Anthropic's `message_delta` carries the
//! final output count; the Responses API's `response.completed` the whole
//! usage). An answer without usage (a stream cut before its usage chunk) is
//! marked `gen_ai.usage.missing` and counted, never priced as free; a
//! blocked prompt carries `gen_ai.response.block_reason`; an error answer
//! carries the provider's error type, code and retry delay
//! (`gen_ai.error.type`, `gen_ai.error.code`, `gen_ai.error.retry_after_seconds`).
//!
//! ```
//! use chatobs_runtime::integrations::genai::{parse_response, recognize};
//! let req = recognize("POST",
//!     "https://generativelanguage.googleapis.com/v1beta/models/gemini-1.5-flash:generateContent?key=SECRET",
//!     None).unwrap();
//! assert_eq!((req.provider, req.model.as_str(), req.stream), ("gcp.gemini", "gemini-1.5-flash", false));
//! let r = parse_response(br#"{"candidates":[{"finishReason":"STOP"}],"modelVersion":"gemini-1.5-flash-002",
//!   "usageMetadata":{"promptTokenCount":1200,"candidatesTokenCount":300,"cachedContentTokenCount":200}}"#);
//! let u = r.usage.unwrap();
//! assert_eq!((u.input, u.output, u.cached), (1200, 300, 200));
//!
//! // xAI reports reasoning outside completion_tokens: both are output.
//! let x = recognize("POST", "https://api.x.ai/v1/chat/completions",
//!     Some(br#"{"model":"grok-3-mini","messages":[]}"#)).unwrap();
//! assert_eq!(x.provider, "x_ai");
//! let r = chatobs_runtime::integrations::genai::parse_response_for(&x, br#"{"id":"a","model":"grok-3-mini","choices":[],
//!   "usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":332,
//!            "completion_tokens_details":{"reasoning_tokens":320}}}"#);
//! assert_eq!((r.usage.unwrap().output, r.usage.unwrap().reasoning), (322, 320));
//! ```

use serde_json::Value as Json;
use std::sync::RwLock;

/// Which API a recognized call speaks (it decides how the answer is read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Api {
    /// Gemini `generateContent` / `streamGenerateContent` (Gemini API and Vertex AI).
    GeminiNative,
    /// OpenAI-compatible `/chat/completions`.
    ChatCompletions,
    /// Anthropic `/v1/messages`.
    AnthropicMessages,
    /// OpenAI `/v1/responses`.
    OpenAiResponses,
}

/// A recognized LLM call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenAiRequest {
    /// The OpenTelemetry provider name: `gcp.gemini`, `gcp.vertex_ai`,
    /// `openai`, `anthropic`, `x_ai`, `deepseek`, `mistral_ai`, `groq`, or
    /// what [`set_provider_for_host`] named.
    pub provider: &'static str,
    /// The model asked for.
    pub model: String,
    /// `chat`.
    pub operation: &'static str,
    /// A streamed answer was asked for.
    pub stream: bool,
    /// The API.
    pub api: Api,
}

impl GenAiRequest {
    /// The GenAI span name: `{operation} {model}`.
    pub fn span_name(&self) -> String {
        format!("{} {}", self.operation, self.model)
    }
}

/// Token usage read from an answer, in the OpenTelemetry GenAI convention.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Prompt tokens, cached and cache-written ones included.
    pub input: u64,
    /// Output tokens, reasoning included.
    pub output: u64,
    /// Prompt tokens read from the cache.
    pub cached: u64,
    /// Prompt tokens written to the cache (Anthropic).
    pub cache_write: u64,
    /// Reasoning ("thoughts") tokens.
    pub reasoning: u64,
}

/// An error the provider reported (HTTP 4xx/5xx, or an `error` event in a stream).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProviderError {
    /// Gemini's `error.status` (`RESOURCE_EXHAUSTED`), OpenAI's and
    /// Anthropic's `error.type` (`rate_limit_error`, `overloaded_error`).
    pub error_type: Option<String>,
    /// The provider's code (`rate_limit_exceeded`, `429`).
    pub code: Option<String>,
    /// Seconds to wait before retrying (Gemini `RetryInfo.retryDelay`, or a
    /// `retry-after` header, see [`retry_after_header`]).
    pub retry_after_seconds: Option<f64>,
}

/// What an answer said about itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GenAiResponse {
    /// The model that answered.
    pub response_model: Option<String>,
    /// The provider's response id.
    pub response_id: Option<String>,
    /// Finish reasons, one per candidate / choice (Anthropic's
    /// `stop_reason`, the Responses API's `status` or incomplete reason).
    pub finish_reasons: Vec<String>,
    /// Usage, when the answer carried it.
    pub usage: Option<TokenUsage>,
    /// The provider blocked the prompt (Gemini `promptFeedback.blockReason`).
    pub block_reason: Option<String>,
    /// The error the provider reported.
    pub error: Option<ProviderError>,
}

static HOST_OVERRIDES: RwLock<Vec<(String, &'static str)>> = RwLock::new(Vec::new());

/// Names the provider of the LLM calls sent to `host` (`llm-gateway.internal`,
/// or `host:port`), over chatobs' table of known hosts: for gateways,
/// proxies and self-hosted OpenAI-compatible servers. The provider name is
/// the OpenTelemetry one the price table knows (`x_ai`, `deepseek`, ...).
///
/// ```
/// use chatobs_runtime::integrations::genai::{recognize, set_provider_for_host};
/// set_provider_for_host("llm-gateway.internal", "deepseek");
/// let r = recognize("POST", "http://llm-gateway.internal:8080/v1/chat/completions",
///     Some(br#"{"model":"deepseek-chat"}"#)).unwrap();
/// assert_eq!(r.provider, "deepseek");
/// ```
pub fn set_provider_for_host(host: &str, provider: &'static str) {
    let host = host.trim().to_ascii_lowercase();
    let mut g = HOST_OVERRIDES.write().unwrap_or_else(|e| e.into_inner());
    g.retain(|(h, _)| *h != host);
    g.push((host, provider));
}

/// Removes a [`set_provider_for_host`] entry.
pub fn clear_provider_for_host(host: &str) {
    let host = host.trim().to_ascii_lowercase();
    HOST_OVERRIDES
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|(h, _)| *h != host);
}

fn overridden(authority: &str, host: &str) -> Option<&'static str> {
    let g = HOST_OVERRIDES.read().unwrap_or_else(|e| e.into_inner());
    if g.is_empty() {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    g.iter()
        .find(|(h, _)| *h == authority)
        .or_else(|| g.iter().find(|(h, _)| *h == host))
        .map(|(_, p)| *p)
}

/// The provider of a known host.
fn known_host(host: &str) -> Option<&'static str> {
    let h = host.to_ascii_lowercase();
    let is = |d: &str| h == d || h.ends_with(&format!(".{d}"));
    // Vertex AI's regional hosts: `us-central1-aiplatform.googleapis.com`.
    Some(if h.ends_with("aiplatform.googleapis.com") {
        "gcp.vertex_ai"
    } else if is("generativelanguage.googleapis.com") {
        "gcp.gemini"
    } else if is("api.openai.com") {
        "openai"
    } else if is("api.x.ai") {
        "x_ai"
    } else if is("api.deepseek.com") {
        "deepseek"
    } else if is("api.anthropic.com") {
        "anthropic"
    } else if is("api.mistral.ai") {
        "mistral_ai"
    } else if is("api.groq.com") {
        "groq"
    } else {
        return None;
    })
}

fn authority_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let auth = rest.split(['/', '?', '#']).next().unwrap_or("");
    auth.rsplit('@').next().unwrap_or(auth)
}

fn host_of(url: &str) -> &str {
    let a = authority_of(url);
    if let Some(rest) = a.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    a.split(':').next().unwrap_or(a)
}

fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    rest.find('/').map_or("/", |i| &rest[i..])
}

fn bounded_model(m: &str) -> Option<String> {
    let m = m.trim();
    (!m.is_empty()
        && m.len() <= 128
        && m.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/@".contains(&b)))
    .then(|| m.to_owned())
}

/// A provider's word (error type, code, block reason) as it may be
/// exported: letters, digits, `_`, `-`, `.`, at most 64; else `None`.
fn bounded_word(w: &str) -> Option<String> {
    let w = w.trim();
    (!w.is_empty()
        && w.len() <= 64
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)))
    .then(|| w.to_owned())
}

/// Whether a request is an LLM call chatobs knows; `body` is the JSON
/// request body when available (all but Gemini's native API name the model there).
pub fn recognize(method: &str, url: &str, body: Option<&[u8]>) -> Option<GenAiRequest> {
    if !method.eq_ignore_ascii_case("POST") {
        return None;
    }
    let host = host_of(url);
    let path = path_of(url);
    let provider = |default: &'static str| {
        overridden(authority_of(url), host)
            .or_else(|| known_host(host))
            .unwrap_or(default)
    };
    if let Some(i) = path.rfind("/models/") {
        let tail = &path[i + "/models/".len()..];
        if let Some((model, verb)) = tail.split_once(':') {
            let stream = match verb {
                "generateContent" => false,
                "streamGenerateContent" => true,
                _ => return None,
            };
            return Some(GenAiRequest {
                provider: provider("gcp.gemini"),
                model: bounded_model(model)?,
                operation: "chat",
                stream,
                api: Api::GeminiNative,
            });
        }
    }
    let api = if path.ends_with("/chat/completions") {
        Api::ChatCompletions
    } else if path.ends_with("/v1/messages") {
        Api::AnthropicMessages
    } else if path.ends_with("/v1/responses") || path.ends_with("/openai/responses") {
        Api::OpenAiResponses
    } else {
        return None;
    };
    let v: Json = serde_json::from_slice(body?).ok()?;
    let model = bounded_model(v.get("model")?.as_str()?)?;
    let default = match api {
        Api::AnthropicMessages => "anthropic",
        // Gemini's OpenAI-compatible endpoint, behind any host (a proxy).
        _ if path.starts_with("/v1beta/openai/") => "gcp.gemini",
        _ => "openai",
    };
    Some(GenAiRequest {
        provider: provider(default),
        model: model
            .strip_prefix("models/")
            .map(str::to_owned)
            .unwrap_or(model),
        operation: "chat",
        stream: v.get("stream").and_then(Json::as_bool).unwrap_or(false),
        api,
    })
}

fn u(v: &Json, k: &str) -> u64 {
    v.get(k).and_then(Json::as_u64).unwrap_or(0)
}

fn opt_u(v: &Json, k: &str) -> Option<u64> {
    v.get(k).and_then(Json::as_u64)
}

/// Anthropic's running usage: `message_start` carries the input side,
/// `message_delta` the final (cumulative) output and, in newer versions,
/// the input side again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct AnthropicUsage {
    input: u64,
    cache_read: u64,
    cache_creation: u64,
    output: u64,
}

/// The reader: what is known of the request (the API and the provider
/// decide what is inside what) and what was read so far.
#[derive(Clone, Debug, Default)]
struct Reader {
    api: Option<Api>,
    provider: Option<&'static str>,
    anthropic: Option<AnthropicUsage>,
    resp: GenAiResponse,
}

impl Reader {
    fn for_request(req: Option<&GenAiRequest>) -> Reader {
        Reader {
            api: req.map(|r| r.api),
            provider: req.map(|r| r.provider),
            ..Reader::default()
        }
    }

    fn merge(&mut self, v: &Json) {
        if let Some(a) = v.as_array() {
            for x in a {
                self.merge(x);
            }
            return;
        }
        if !v.is_object() {
            return;
        }
        self.error(v);
        let ty = v.get("type").and_then(Json::as_str).unwrap_or("");
        // OpenAI Responses: the stream's events carry the response object.
        if ty.starts_with("response.") {
            if let Some(r) = v.get("response").filter(|r| r.is_object()) {
                self.responses(r);
            }
            return;
        }
        if v.get("object").and_then(Json::as_str) == Some("response")
            || (self.api == Some(Api::OpenAiResponses) && v.get("output").is_some())
        {
            self.responses(v);
            return;
        }
        // Anthropic Messages (and its stream events).
        match ty {
            "message_start" => {
                if let Some(m) = v.get("message") {
                    self.anthropic(m);
                }
                return;
            }
            "message_delta" => {
                if let Some(r) = v
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Json::as_str)
                    .and_then(bounded_word)
                {
                    self.resp.finish_reasons = vec![r];
                }
                if let Some(us) = v.get("usage") {
                    self.anthropic_usage(us);
                }
                return;
            }
            "message" => {
                self.anthropic(v);
                return;
            }
            _ => {}
        }
        self.gemini(v);
        self.chat_completions(v);
    }

    fn error(&mut self, v: &Json) {
        let Some(e) = v.get("error").filter(|e| e.is_object()) else {
            return;
        };
        let word = |x: &Json| match x {
            Json::String(s) => bounded_word(s),
            Json::Number(n) => bounded_word(&n.to_string()),
            _ => None,
        };
        let mut pe = ProviderError {
            // Gemini: `status`; OpenAI and Anthropic: `type`.
            error_type: e
                .get("status")
                .and_then(word)
                .or_else(|| e.get("type").and_then(word)),
            code: e.get("code").and_then(word),
            retry_after_seconds: None,
        };
        for d in e
            .get("details")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let is_retry = d
                .get("@type")
                .and_then(Json::as_str)
                .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"));
            if is_retry {
                pe.retry_after_seconds = d
                    .get("retryDelay")
                    .and_then(Json::as_str)
                    .and_then(parse_duration_seconds);
            }
        }
        // A stream may report one error twice (an `error` event, then the
        // failed response): what the second leaves out, the first said.
        if let Some(prev) = self.resp.error.take() {
            pe.error_type = pe.error_type.or(prev.error_type);
            pe.code = pe.code.or(prev.code);
            pe.retry_after_seconds = pe.retry_after_seconds.or(prev.retry_after_seconds);
        }
        self.resp.error = Some(pe);
    }

    fn gemini(&mut self, v: &Json) {
        if let Some(m) = v.get("usageMetadata").filter(|m| m.is_object()) {
            let thoughts = u(m, "thoughtsTokenCount");
            // Saturating: the counts come from outside (a huge count must not panic).
            self.resp.usage = Some(TokenUsage {
                // Tool-use prompt tokens are billed as input and are not in promptTokenCount.
                input: u(m, "promptTokenCount").saturating_add(u(m, "toolUsePromptTokenCount")),
                // Thoughts are billed as output and are not in candidatesTokenCount.
                output: u(m, "candidatesTokenCount").saturating_add(thoughts),
                cached: u(m, "cachedContentTokenCount"),
                cache_write: 0,
                reasoning: thoughts,
            });
        }
        if let Some(m) = v.get("modelVersion").and_then(Json::as_str) {
            self.resp.response_model = bounded_model(m);
        }
        if let Some(id) = v.get("responseId").and_then(Json::as_str) {
            self.resp.response_id = Some(crate::redact::truncate(id, 128));
        }
        if let Some(b) = v
            .get("promptFeedback")
            .and_then(|p| p.get("blockReason"))
            .and_then(Json::as_str)
        {
            self.resp.block_reason = Some(bounded_word(b).unwrap_or_else(|| "unknown".into()));
        }
        if let Some(c) = v.get("candidates").and_then(Json::as_array) {
            let reasons: Vec<String> = c
                .iter()
                .filter_map(|c| c.get("finishReason").and_then(Json::as_str))
                .filter_map(bounded_model)
                .collect();
            if !reasons.is_empty() {
                self.resp.finish_reasons = reasons;
            }
        }
    }

    fn chat_completions(&mut self, v: &Json) {
        // Groq's streams put the usage under `x_groq`.
        let usage = v
            .get("usage")
            .or_else(|| v.get("x_groq").and_then(|x| x.get("usage")));
        if let Some(m) = usage.filter(|m| m.is_object() && m.get("prompt_tokens").is_some()) {
            let input = u(m, "prompt_tokens");
            let completion = u(m, "completion_tokens");
            let details = m.get("completion_tokens_details");
            let mut reasoning = details.map_or(0, |d| u(d, "reasoning_tokens"));
            let cached = m
                .get("prompt_tokens_details")
                .and_then(|d| opt_u(d, "cached_tokens"))
                // DeepSeek's context cache.
                .or_else(|| opt_u(m, "prompt_cache_hit_tokens"))
                .unwrap_or(0);
            let mut output = if self.provider == Some("x_ai") {
                // xAI counts reasoning outside completion_tokens.
                completion.saturating_add(reasoning)
            } else {
                completion
            };
            // Output the provider did not itemise: Gemini's OpenAI-compatible
            // endpoint reports its thinking tokens only in the total.
            if let Some(total) = opt_u(m, "total_tokens") {
                let hidden = total.saturating_sub(input.saturating_add(output));
                if hidden > 0 {
                    output = output.saturating_add(hidden);
                    reasoning = reasoning.saturating_add(hidden);
                }
            }
            self.resp.usage = Some(TokenUsage {
                input,
                output,
                cached,
                cache_write: 0,
                reasoning,
            });
        }
        if v.get("choices").is_some() {
            if let Some(m) = v.get("model").and_then(Json::as_str) {
                self.resp.response_model = bounded_model(m);
            }
            if let Some(id) = v.get("id").and_then(Json::as_str) {
                self.resp.response_id = Some(crate::redact::truncate(id, 128));
            }
            if let Some(c) = v.get("choices").and_then(Json::as_array) {
                let reasons: Vec<String> = c
                    .iter()
                    .filter_map(|c| c.get("finish_reason").and_then(Json::as_str))
                    .filter_map(bounded_model)
                    .collect();
                if !reasons.is_empty() {
                    self.resp.finish_reasons = reasons;
                }
            }
        }
    }

    fn anthropic(&mut self, m: &Json) {
        if let Some(x) = m.get("model").and_then(Json::as_str) {
            self.resp.response_model = bounded_model(x);
        }
        if let Some(id) = m.get("id").and_then(Json::as_str) {
            self.resp.response_id = Some(crate::redact::truncate(id, 128));
        }
        if let Some(r) = m
            .get("stop_reason")
            .and_then(Json::as_str)
            .and_then(bounded_word)
        {
            self.resp.finish_reasons = vec![r];
        }
        if let Some(us) = m.get("usage") {
            self.anthropic_usage(us);
        }
    }

    fn anthropic_usage(&mut self, us: &Json) {
        if !us.is_object() {
            return;
        }
        let mut a = self.anthropic.unwrap_or_default();
        if let Some(n) = opt_u(us, "input_tokens") {
            a.input = n;
        }
        if let Some(n) = opt_u(us, "cache_read_input_tokens") {
            a.cache_read = n;
        }
        if let Some(n) = opt_u(us, "cache_creation_input_tokens") {
            a.cache_creation = n;
        }
        if let Some(n) = opt_u(us, "output_tokens") {
            a.output = n;
        }
        self.anthropic = Some(a);
        self.resp.usage = Some(TokenUsage {
            // Anthropic's input_tokens leaves the cache out.
            input: a
                .input
                .saturating_add(a.cache_read)
                .saturating_add(a.cache_creation),
            output: a.output,
            cached: a.cache_read,
            cache_write: a.cache_creation,
            reasoning: 0,
        });
    }

    fn responses(&mut self, r: &Json) {
        if let Some(x) = r.get("model").and_then(Json::as_str) {
            self.resp.response_model = bounded_model(x);
        }
        if let Some(id) = r.get("id").and_then(Json::as_str) {
            self.resp.response_id = Some(crate::redact::truncate(id, 128));
        }
        let incomplete = r
            .get("incomplete_details")
            .and_then(|d| d.get("reason"))
            .and_then(Json::as_str)
            .and_then(bounded_word);
        if let Some(s) = incomplete.or_else(|| {
            r.get("status")
                .and_then(Json::as_str)
                .and_then(bounded_word)
        }) {
            self.resp.finish_reasons = vec![s];
        }
        if let Some(e) = r.get("error").filter(|e| e.is_object()) {
            let mut holder = serde_json::Map::new();
            holder.insert("error".into(), e.clone());
            self.error(&Json::Object(holder));
        }
        if let Some(m) = r.get("usage").filter(|m| m.is_object()) {
            self.resp.usage = Some(TokenUsage {
                input: u(m, "input_tokens"),
                output: u(m, "output_tokens"),
                cached: m
                    .get("input_tokens_details")
                    .map_or(0, |d| u(d, "cached_tokens")),
                cache_write: 0,
                reasoning: m
                    .get("output_tokens_details")
                    .map_or(0, |d| u(d, "reasoning_tokens")),
            });
        }
    }
}

/// `"17s"`, `"1.5s"`, `"0.250s"` (protobuf Duration JSON) as seconds.
fn parse_duration_seconds(s: &str) -> Option<f64> {
    let n: f64 = s.trim().strip_suffix('s')?.parse().ok()?;
    (n.is_finite() && (0.0..=86_400.0 * 365.0).contains(&n)).then_some(n)
}

/// The seconds of a `retry-after` header (delay-seconds form; an HTTP date
/// is not read).
pub fn retry_after_header(value: &str) -> Option<f64> {
    let n: u64 = value.trim().parse().ok()?;
    (n <= 86_400 * 365).then_some(n as f64)
}

/// Reads a complete (non-streamed) answer, recognizing its shape; a body
/// that is not JSON is read as a buffered event stream. Prefer
/// [`parse_response_for`] when the request is known (some providers' rules
/// depend on it).
pub fn parse_response(body: &[u8]) -> GenAiResponse {
    parse_with(Reader::for_request(None), body)
}

/// [`parse_response`] for an answer to `req` (its API and provider decide
/// what is inside what).
pub fn parse_response_for(req: &GenAiRequest, body: &[u8]) -> GenAiResponse {
    parse_with(Reader::for_request(Some(req)), body)
}

fn parse_with(reader: Reader, body: &[u8]) -> GenAiResponse {
    match serde_json::from_slice::<Json>(body) {
        Ok(v) => {
            let mut r = reader;
            r.merge(&v);
            r.resp
        }
        Err(_) => {
            let mut s = StreamUsage {
                reader,
                ..StreamUsage::default()
            };
            s.push(body);
            s.finish()
        }
    }
}

/// Reads a streamed answer chunk by chunk (server-sent events `data: {...}`
/// lines, or Gemini's streamed JSON array), keeping at most one line buffered.
#[derive(Debug, Default)]
pub struct StreamUsage {
    line: Vec<u8>,
    seen_sse: bool,
    raw: Vec<u8>,
    reader: Reader,
}

/// Longest SSE line or non-SSE body kept (bytes).
const MAX_BUFFER: usize = 1 << 20;

impl StreamUsage {
    /// A reader for the answer to `req`.
    pub fn for_request(req: &GenAiRequest) -> StreamUsage {
        StreamUsage {
            reader: Reader::for_request(Some(req)),
            ..StreamUsage::default()
        }
    }

    /// Feeds one chunk.
    pub fn push(&mut self, chunk: &[u8]) {
        for &b in chunk {
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.line_done(&line);
            } else if self.line.len() < MAX_BUFFER {
                self.line.push(b);
            }
        }
        if !self.seen_sse && self.raw.len() + chunk.len() <= MAX_BUFFER {
            self.raw.extend_from_slice(chunk);
        }
    }

    fn line_done(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(data) = line.strip_prefix(b"data:") {
            self.seen_sse = true;
            self.raw.clear();
            let data = data.trim_ascii();
            if data == b"[DONE]" {
                return;
            }
            if let Ok(v) = serde_json::from_slice::<Json>(data) {
                self.reader.merge(&v);
            }
        }
    }

    /// What the stream said so far.
    pub fn response(&self) -> &GenAiResponse {
        &self.reader.resp
    }

    /// Ends the stream and returns what it said.
    pub fn finish(mut self) -> GenAiResponse {
        let line = std::mem::take(&mut self.line);
        self.line_done(&line);
        if !self.seen_sse && !self.raw.is_empty() {
            if let Ok(v) = serde_json::from_slice::<Json>(&self.raw) {
                self.reader.merge(&v);
            }
        }
        self.reader.resp
    }
}

/// Records a recognized call's answer on the current span: renames it
/// `chat {model}` (CLIENT), writes the GenAI attributes and, when the
/// answer carried usage, prices it with the cost engine. A successful
/// answer without usage is recorded as such
/// ([`crate::cost::record_llm_usage_missing`]), never as a free call; an
/// error answer gets the provider's error type, code and retry delay.
pub fn record(req: &GenAiRequest, resp: &GenAiResponse) {
    record_with_status(req, resp, None)
}

/// [`record`], knowing the HTTP status of the answer (a 4xx/5xx answer
/// without usage is a failed call, not a call with missing usage).
pub fn record_with_status(req: &GenAiRequest, resp: &GenAiResponse, status: Option<u16>) {
    use crate::model::Value;
    use crate::vocab;
    let _ = chatobs_core::current::rename(req.span_name());
    let _ = chatobs_core::current::set_otel_kind(crate::model::OtelKind::Client);
    let failed = resp.error.is_some() || status.is_some_and(|s| s >= 400);
    match resp.usage {
        Some(u) => {
            let input = u.input;
            let cached = u.cached.min(input);
            let write = u.cache_write.min(input - cached);
            let mut call = crate::cost::LlmCall::new(req.model.clone())
                .provider(req.provider)
                .operation(req.operation)
                .input_tokens(input)
                .output_tokens(u.output)
                .cached_tokens(cached)
                .cache_write_tokens(write)
                .reasoning_tokens(u.reasoning.min(u.output));
            if let Some(m) = &resp.response_model {
                call = call.response_model(m.clone());
            }
            if let Err(e) = crate::cost::record_llm_call(&call) {
                tracing::warn!(target: "chatobs::genai", error = %e, "LLM usage not recorded");
            }
        }
        None if !failed => {
            crate::cost::record_llm_usage_missing(Some(req.provider), &req.model, req.operation);
            if let Some(m) = &resp.response_model {
                chatobs_core::current::set_attr(
                    vocab::GEN_AI_RESPONSE_MODEL,
                    Value::from(m.clone()),
                );
            }
            tracing::warn!(
                target: "chatobs::genai",
                provider = req.provider,
                model = req.model.as_str(),
                "the LLM answer carried no usage (a stream cut before its usage chunk, or an OpenAI stream without stream_options.include_usage): the call is recorded with gen_ai.usage.missing and its cost is unknown"
            );
        }
        None => {
            chatobs_core::current::set_attr(vocab::GEN_AI_OPERATION_NAME, req.operation);
            chatobs_core::current::set_attr(vocab::GEN_AI_PROVIDER_NAME, req.provider);
            chatobs_core::current::set_attr(
                vocab::GEN_AI_REQUEST_MODEL,
                Value::from(req.model.clone()),
            );
            if let Some(m) = &resp.response_model {
                chatobs_core::current::set_attr(
                    vocab::GEN_AI_RESPONSE_MODEL,
                    Value::from(m.clone()),
                );
            }
        }
    }
    if let Some(id) = &resp.response_id {
        chatobs_core::current::set_attr(vocab::GEN_AI_RESPONSE_ID, Value::from(id.clone()));
    }
    if let Some(b) = &resp.block_reason {
        chatobs_core::current::set_attr(
            vocab::GEN_AI_RESPONSE_BLOCK_REASON,
            Value::from(b.clone()),
        );
    }
    if let Some(e) = &resp.error {
        if let Some(t) = &e.error_type {
            chatobs_core::current::set_attr(vocab::GEN_AI_ERROR_TYPE, Value::from(t.clone()));
        }
        if let Some(c) = &e.code {
            chatobs_core::current::set_attr(vocab::GEN_AI_ERROR_CODE, Value::from(c.clone()));
        }
        if let Some(r) = e.retry_after_seconds {
            chatobs_core::current::set_attr(vocab::GEN_AI_ERROR_RETRY_AFTER, r);
        }
    }
    if !resp.finish_reasons.is_empty() {
        chatobs_core::current::set_attr(
            vocab::GEN_AI_RESPONSE_FINISH_REASONS,
            Value::StrArray(
                resp.finish_reasons
                    .iter()
                    .map(|s| std::borrow::Cow::Owned(s.clone()))
                    .collect(),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_openai_and_vertex() {
        let body = br#"{"model":"gpt-4o-mini","stream":true,"messages":[]}"#;
        let r = recognize("POST", "http://127.0.0.1:9/v1/chat/completions", Some(body)).unwrap();
        assert_eq!(
            (r.provider, r.model.as_str(), r.stream),
            ("openai", "gpt-4o-mini", true)
        );
        let v = recognize("POST", "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/l/publishers/google/models/gemini-1.5-flash:streamGenerateContent?alt=sse", None).unwrap();
        assert_eq!((v.provider, v.stream), ("gcp.vertex_ai", true));
        assert!(recognize("GET", "http://x/v1/chat/completions", Some(body)).is_none());
        assert!(recognize("POST", "http://x/v1/models/a:countTokens", None).is_none());
    }

    #[test]
    fn openai_stream_usage_in_last_chunk() {
        let mut s = StreamUsage::default();
        s.push(b"data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"delta\":{\"content\":\"Ho\"}}]}\n\n");
        s.push(b"data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"finish_reason\":\"stop\"}]}\n\ndata: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":7,\"prompt_tokens_details\":{\"cached_tokens\":10}}}\n\ndata: [DONE]\n\n");
        let r = s.finish();
        assert_eq!(
            r.usage,
            Some(TokenUsage {
                input: 50,
                output: 7,
                cached: 10,
                cache_write: 0,
                reasoning: 0
            })
        );
        assert_eq!(r.finish_reasons, ["stop"]);
    }

    #[test]
    fn gemini_json_array_stream() {
        let mut s = StreamUsage::default();
        s.push(br#"[{"candidates":[{"content":{}}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":1}}"#);
        s.push(br#",{"candidates":[{"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":9,"thoughtsTokenCount":4}}]"#);
        let r = s.finish();
        assert_eq!(r.usage.unwrap().output, 13);
        assert_eq!(r.usage.unwrap().reasoning, 4);
    }
}
