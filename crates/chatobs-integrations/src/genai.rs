//! GenAI over HTTP: recognizing LLM calls and reading their usage.
//!
//! The instrumented HTTP client ([`super::reqwest`]) asks [`recognize`]
//! whether a request is an LLM call:
//! - Gemini `.../models/{model}:generateContent` and
//!   `:streamGenerateContent` (Gemini API, provider `gcp.gemini`; Vertex AI
//!   hosts `*aiplatform.googleapis.com`, provider `gcp.vertex_ai`);
//! - OpenAI-compatible `POST .../chat/completions` (the model and `stream`
//!   from the JSON body; provider `openai`, or `gcp.gemini` on Gemini's
//!   OpenAI endpoint).
//!
//! The span then becomes a GenAI span (`chat {model}`, CLIENT), and the
//! usage read from the answer (`usageMetadata` / `usage`, cached and
//! reasoning tokens included) is priced by the cost engine
//! ([`crate::cost::record_llm_call`]). Streamed answers (server-sent events,
//! or Gemini's JSON array) are read chunk by chunk with [`StreamUsage`]: the
//! usage of the last chunk that carries one wins (Gemini repeats the running
//! usage; OpenAI sends it in the final chunk with `stream_options.include_usage`).
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
//! ```

use serde_json::Value as Json;

/// A recognized LLM call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenAiRequest {
    /// `gcp.gemini`, `gcp.vertex_ai`, `openai`.
    pub provider: &'static str,
    /// The model asked for.
    pub model: String,
    /// `chat`.
    pub operation: &'static str,
    /// A streamed answer was asked for.
    pub stream: bool,
}

impl GenAiRequest {
    /// The GenAI span name: `{operation} {model}`.
    pub fn span_name(&self) -> String {
        format!("{} {}", self.operation, self.model)
    }
}

/// Token usage read from an answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Prompt tokens, cached included.
    pub input: u64,
    /// Output tokens, reasoning included.
    pub output: u64,
    /// Cached prompt tokens.
    pub cached: u64,
    /// Reasoning ("thoughts") tokens.
    pub reasoning: u64,
}

/// What an answer said about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenAiResponse {
    /// The model that answered.
    pub response_model: Option<String>,
    /// The provider's response id.
    pub response_id: Option<String>,
    /// Finish reasons, one per candidate / choice.
    pub finish_reasons: Vec<String>,
    /// Usage, when the answer carried it.
    pub usage: Option<TokenUsage>,
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let auth = rest.split(['/', '?']).next().unwrap_or("");
    let host = auth.rsplit('@').next().unwrap_or(auth);
    host.split(':').next().unwrap_or(host)
}

fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split('?').next().unwrap_or(rest);
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

/// Whether a request is an LLM call chatobs knows; `body` is the JSON
/// request body when available (OpenAI-compatible calls name the model there).
pub fn recognize(method: &str, url: &str, body: Option<&[u8]>) -> Option<GenAiRequest> {
    if !method.eq_ignore_ascii_case("POST") {
        return None;
    }
    let host = host_of(url);
    let path = path_of(url);
    if let Some(i) = path.rfind("/models/") {
        let tail = &path[i + "/models/".len()..];
        if let Some((model, verb)) = tail.split_once(':') {
            let stream = match verb {
                "generateContent" => false,
                "streamGenerateContent" => true,
                _ => return None,
            };
            let provider = if host.ends_with("aiplatform.googleapis.com") {
                "gcp.vertex_ai"
            } else {
                "gcp.gemini"
            };
            return Some(GenAiRequest {
                provider,
                model: bounded_model(model)?,
                operation: "chat",
                stream,
            });
        }
    }
    if path.ends_with("/chat/completions") {
        let v: Json = serde_json::from_slice(body?).ok()?;
        let model = bounded_model(v.get("model")?.as_str()?)?;
        let provider = if host.contains("generativelanguage.googleapis.com") {
            "gcp.gemini"
        } else {
            "openai"
        };
        return Some(GenAiRequest {
            provider,
            model: model
                .strip_prefix("models/")
                .map(str::to_owned)
                .unwrap_or(model),
            operation: "chat",
            stream: v.get("stream").and_then(Json::as_bool).unwrap_or(false),
        });
    }
    None
}

fn u(v: &Json, k: &str) -> u64 {
    v.get(k).and_then(Json::as_u64).unwrap_or(0)
}

/// Merges what one JSON answer (or one streamed chunk) says into `r`.
fn merge(r: &mut GenAiResponse, v: &Json) {
    if let Some(a) = v.as_array() {
        for x in a {
            merge(r, x);
        }
        return;
    }
    // Gemini
    if let Some(m) = v.get("usageMetadata") {
        let thoughts = u(m, "thoughtsTokenCount");
        r.usage = Some(TokenUsage {
            input: u(m, "promptTokenCount"),
            // Saturating: the counts come from outside (a huge count must not panic).
            output: u(m, "candidatesTokenCount").saturating_add(thoughts),
            cached: u(m, "cachedContentTokenCount"),
            reasoning: thoughts,
        });
    }
    if let Some(m) = v.get("modelVersion").and_then(Json::as_str) {
        r.response_model = bounded_model(m);
    }
    if let Some(id) = v.get("responseId").and_then(Json::as_str) {
        r.response_id = Some(crate::redact::truncate(id, 128));
    }
    if let Some(c) = v.get("candidates").and_then(Json::as_array) {
        let reasons: Vec<String> = c
            .iter()
            .filter_map(|c| c.get("finishReason").and_then(Json::as_str))
            .filter_map(bounded_model)
            .collect();
        if !reasons.is_empty() {
            r.finish_reasons = reasons;
        }
    }
    // OpenAI-compatible
    if let Some(m) = v.get("usage").filter(|m| m.is_object()) {
        r.usage = Some(TokenUsage {
            input: u(m, "prompt_tokens"),
            output: u(m, "completion_tokens"),
            cached: m
                .get("prompt_tokens_details")
                .map_or(0, |d| u(d, "cached_tokens")),
            reasoning: m
                .get("completion_tokens_details")
                .map_or(0, |d| u(d, "reasoning_tokens")),
        });
    }
    if v.get("choices").is_some() {
        if let Some(m) = v.get("model").and_then(Json::as_str) {
            r.response_model = bounded_model(m);
        }
        if let Some(id) = v.get("id").and_then(Json::as_str) {
            r.response_id = Some(crate::redact::truncate(id, 128));
        }
        if let Some(c) = v.get("choices").and_then(Json::as_array) {
            let reasons: Vec<String> = c
                .iter()
                .filter_map(|c| c.get("finish_reason").and_then(Json::as_str))
                .filter_map(bounded_model)
                .collect();
            if !reasons.is_empty() {
                r.finish_reasons = reasons;
            }
        }
    }
}

/// Reads a complete (non-streamed) answer; a body that is not JSON yields
/// an empty result (the call is still recorded, without usage).
pub fn parse_response(body: &[u8]) -> GenAiResponse {
    let mut r = GenAiResponse::default();
    match serde_json::from_slice::<Json>(body) {
        Ok(v) => merge(&mut r, &v),
        Err(_) => {
            // A buffered event stream.
            let mut s = StreamUsage::default();
            s.push(body);
            s.finish_into(&mut r);
        }
    }
    r
}

/// Reads a streamed answer chunk by chunk (server-sent events `data: {...}`
/// lines, or Gemini's streamed JSON array), keeping at most one line buffered.
#[derive(Debug, Default)]
pub struct StreamUsage {
    line: Vec<u8>,
    seen_sse: bool,
    raw: Vec<u8>,
    resp: GenAiResponse,
}

/// Longest SSE line or non-SSE body kept (bytes).
const MAX_BUFFER: usize = 1 << 20;

impl StreamUsage {
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
                merge(&mut self.resp, &v);
            }
        }
    }

    /// What the stream said so far.
    pub fn response(&self) -> &GenAiResponse {
        &self.resp
    }

    /// Ends the stream and returns what it said.
    pub fn finish(mut self) -> GenAiResponse {
        let mut r = std::mem::take(&mut self.resp);
        self.finish_into(&mut r);
        r
    }

    fn finish_into(&mut self, r: &mut GenAiResponse) {
        let line = std::mem::take(&mut self.line);
        self.line_done(&line);
        let merged = std::mem::take(&mut self.resp);
        if merged != GenAiResponse::default() {
            *r = merged;
        }
        if !self.seen_sse && !self.raw.is_empty() {
            if let Ok(v) = serde_json::from_slice::<Json>(&self.raw) {
                merge(r, &v);
            }
        }
    }
}

/// Records a recognized call's answer on the current span: renames it
/// `chat {model}` (CLIENT), writes the GenAI attributes and, when the
/// answer carried usage, prices it with the cost engine.
pub fn record(req: &GenAiRequest, resp: &GenAiResponse) {
    use crate::model::Value;
    use crate::vocab;
    let _ = chatobs_core::current::rename(req.span_name());
    let _ = chatobs_core::current::set_otel_kind(crate::model::OtelKind::Client);
    match resp.usage {
        Some(u) => {
            let mut call = crate::cost::LlmCall::new(req.model.clone())
                .provider(req.provider)
                .operation(req.operation)
                .input_tokens(u.input)
                .output_tokens(u.output)
                .cached_tokens(u.cached.min(u.input))
                .reasoning_tokens(u.reasoning.min(u.output));
            if let Some(m) = &resp.response_model {
                call = call.response_model(m.clone());
            }
            if let Err(e) = crate::cost::record_llm_call(&call) {
                tracing::warn!(target: "chatobs::genai", error = %e, "LLM usage not recorded");
            }
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
