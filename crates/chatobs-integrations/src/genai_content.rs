//! Prompts and completions of recognized LLM calls as span attributes, when
//! content capture is on (`[redaction] capture_content = true`): OpenInference
//! `input.value` / `output.value` and `llm.input_messages` /
//! `llm.output_messages`, and the GenAI `gen_ai.input.messages` /
//! `gen_ai.output.messages` (JSON strings). Every text goes through
//! [`crate::redact::content`] (redacted, cut); at most [`MAX_MESSAGES`] of a
//! prompt's messages are kept (the latest), and
//! `llm.input_messages.dropped` says how many were left out.

use crate::genai::Api;
use crate::model::{KeyValue, Value};
use crate::vocab;
use serde_json::{json, Value as Json};
use std::borrow::Cow;

/// Most messages of a prompt exported (the latest ones).
pub const MAX_MESSAGES: usize = 32;

/// One message: its role and its text parts joined.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Msg {
    pub role: String,
    pub text: String,
}

fn text_of(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        // An array of parts: {"text": ...} (Gemini, Anthropic, OpenAI), {"type":"text","text":...}.
        Json::Array(parts) => {
            let t: Vec<&str> = parts
                .iter()
                .filter_map(|p| match p {
                    Json::String(s) => Some(s.as_str()),
                    _ => p.get("text").and_then(Json::as_str),
                })
                .collect();
            (!t.is_empty()).then(|| t.join("\n"))
        }
        _ => None,
    }
}

fn push(out: &mut Vec<Msg>, role: &str, text: Option<String>) {
    if let Some(text) = text {
        out.push(Msg {
            role: role.to_owned(),
            text,
        });
    }
}

/// The prompt's messages, in order (system first).
pub(crate) fn prompt(api: Api, body: &[u8]) -> Vec<Msg> {
    let Ok(v) = serde_json::from_slice::<Json>(body) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match api {
        Api::GeminiNative => {
            if let Some(si) = v
                .get("systemInstruction")
                .or_else(|| v.get("system_instruction"))
            {
                push(&mut out, "system", si.get("parts").and_then(text_of));
            }
            for c in v
                .get("contents")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                let role = match c.get("role").and_then(Json::as_str) {
                    Some("model") => "assistant",
                    Some(r) => r,
                    None => "user",
                };
                push(&mut out, role, c.get("parts").and_then(text_of));
            }
        }
        Api::ChatCompletions | Api::AnthropicMessages => {
            if let Some(sys) = v.get("system") {
                push(&mut out, "system", text_of(sys));
            }
            for m in v
                .get("messages")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                let role = m.get("role").and_then(Json::as_str).unwrap_or("user");
                push(&mut out, role, m.get("content").and_then(text_of));
            }
        }
        Api::OpenAiResponses => {
            if let Some(i) = v.get("instructions") {
                push(&mut out, "system", text_of(i));
            }
            match v.get("input") {
                Some(Json::String(s)) => push(&mut out, "user", Some(s.clone())),
                Some(Json::Array(items)) => {
                    for m in items {
                        let role = m.get("role").and_then(Json::as_str).unwrap_or("user");
                        push(&mut out, role, m.get("content").and_then(text_of));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// The completion's messages (a non-streamed answer).
pub(crate) fn completion(api: Api, body: &[u8]) -> Vec<Msg> {
    let Ok(v) = serde_json::from_slice::<Json>(body) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // The text of the first candidate / choice.
    let first = |list: &str, at: &str| {
        v.get(list)
            .and_then(Json::as_array)
            .and_then(|c| c.first())
            .and_then(|c| c.pointer(at))
            .and_then(text_of)
    };
    match api {
        Api::GeminiNative => push(&mut out, "assistant", first("candidates", "/content/parts")),
        Api::ChatCompletions => push(&mut out, "assistant", first("choices", "/message/content")),
        Api::AnthropicMessages => {
            push(&mut out, "assistant", v.get("content").and_then(text_of));
        }
        Api::OpenAiResponses => {
            let mut texts = Vec::new();
            for item in v
                .get("output")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                for c in item
                    .get("content")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(t) = c.get("text").and_then(Json::as_str) {
                        texts.push(t);
                    }
                }
            }
            push(
                &mut out,
                "assistant",
                (!texts.is_empty()).then(|| texts.join("\n")),
            );
        }
    }
    out
}

fn key(prefix: &str, i: usize, field: &str) -> Cow<'static, str> {
    Cow::Owned(format!("{prefix}.{i}.message.{field}"))
}

/// Redacted, cut messages (content capture on), the latest [`MAX_MESSAGES`].
fn captured(msgs: &[Msg]) -> (Vec<(String, String)>, usize) {
    let skip = msgs.len().saturating_sub(MAX_MESSAGES);
    let kept = msgs[skip..]
        .iter()
        .filter_map(|m| {
            let text = crate::redact::content(&crate::whatsapp::redacted(&m.text, str::to_owned))?;
            Some((crate::redact::truncate(&m.role, 32), text))
        })
        .collect();
    (kept, skip)
}

fn genai_json(msgs: &[(String, String)], finish: Option<&str>) -> String {
    let v: Vec<Json> = msgs
        .iter()
        .map(|(role, text)| {
            let mut m = json!({"role": role, "parts": [{"type": "text", "content": text}]});
            if let Some(f) = finish {
                m["finish_reason"] = json!(f.to_ascii_lowercase());
            }
            m
        })
        .collect();
    Json::Array(v).to_string()
}

/// The prompt's attributes (empty when content capture is off or the body has no text).
pub(crate) fn prompt_attributes(api: Api, body: &[u8]) -> Vec<KeyValue> {
    if !crate::redact::capturing_content() {
        return Vec::new();
    }
    let (msgs, dropped) = captured(&prompt(api, body));
    let mut out: Vec<KeyValue> = Vec::with_capacity(2 * msgs.len() + 5);
    for (i, (role, text)) in msgs.iter().enumerate() {
        out.push((
            key(vocab::LLM_INPUT_MESSAGES, i, "role"),
            Value::from(role.clone()),
        ));
        out.push((
            key(vocab::LLM_INPUT_MESSAGES, i, "content"),
            Value::from(text.clone()),
        ));
    }
    if dropped > 0 {
        out.push((
            Cow::Owned(format!("{}.dropped", vocab::LLM_INPUT_MESSAGES)),
            Value::from(dropped as i64),
        ));
    }
    // input.value: the latest user message (what an evaluator judges).
    if let Some((_, text)) = msgs.iter().rev().find(|(r, _)| r == "user") {
        out.push((Cow::Borrowed(vocab::INPUT_VALUE), Value::from(text.clone())));
        out.push((
            Cow::Borrowed(vocab::INPUT_MIME_TYPE),
            Value::from("text/plain"),
        ));
    }
    if !msgs.is_empty() {
        out.push((
            Cow::Borrowed(vocab::GEN_AI_INPUT_MESSAGES),
            Value::from(genai_json(&msgs, None)),
        ));
    }
    out
}

/// The completion's attributes (empty when content capture is off or the answer has no text).
pub(crate) fn completion_attributes(api: Api, body: &[u8], finish: Option<&str>) -> Vec<KeyValue> {
    if !crate::redact::capturing_content() {
        return Vec::new();
    }
    let (msgs, _) = captured(&completion(api, body));
    let Some((role, text)) = msgs.first() else {
        return Vec::new();
    };
    vec![
        (
            key(vocab::LLM_OUTPUT_MESSAGES, 0, "role"),
            Value::from(role.clone()),
        ),
        (
            key(vocab::LLM_OUTPUT_MESSAGES, 0, "content"),
            Value::from(text.clone()),
        ),
        (
            Cow::Borrowed(vocab::OUTPUT_VALUE),
            Value::from(text.clone()),
        ),
        (
            Cow::Borrowed(vocab::OUTPUT_MIME_TYPE),
            Value::from("text/plain"),
        ),
        (
            Cow::Borrowed(vocab::GEN_AI_OUTPUT_MESSAGES),
            Value::from(genai_json(&msgs, Some(finish.unwrap_or("stop")))),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(role: &str, text: &str) -> Msg {
        Msg {
            role: role.into(),
            text: text.into(),
        }
    }

    #[test]
    fn prompts_and_completions_of_each_api_are_read() {
        let gem = br#"{"systemInstruction":{"parts":[{"text":"Eres un vendedor"}]},
            "contents":[{"role":"user","parts":[{"text":"Hola"}]},{"role":"model","parts":[{"text":"Hola, que buscas?"}]},
                        {"role":"user","parts":[{"text":"tenis 42"},{"text":"negros"}]}]}"#;
        assert_eq!(
            prompt(Api::GeminiNative, gem),
            vec![
                m("system", "Eres un vendedor"),
                m("user", "Hola"),
                m("assistant", "Hola, que buscas?"),
                m("user", "tenis 42\nnegros")
            ]
        );
        let oai = br#"{"model":"gpt-4.1-nano","messages":[{"role":"system","content":"Be brief"},
            {"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"x"}}]}]}"#;
        assert_eq!(
            prompt(Api::ChatCompletions, oai),
            vec![m("system", "Be brief"), m("user", "hi")]
        );
        let ant = br#"{"model":"claude-sonnet-4-5","system":[{"type":"text","text":"S"}],"messages":[{"role":"user","content":"Q"}]}"#;
        assert_eq!(
            prompt(Api::AnthropicMessages, ant),
            vec![m("system", "S"), m("user", "Q")]
        );
        let resp = br#"{"model":"o4-mini","instructions":"I","input":[{"role":"user","content":[{"type":"input_text","text":"Q2"}]}]}"#;
        assert_eq!(
            prompt(Api::OpenAiResponses, resp),
            vec![m("system", "I"), m("user", "Q2")]
        );
        assert_eq!(
            prompt(Api::OpenAiResponses, br#"{"input":"plain"}"#),
            vec![m("user", "plain")]
        );

        let gem_a = br#"{"candidates":[{"content":{"parts":[{"text":"Claro"}],"role":"model"}}]}"#;
        assert_eq!(
            completion(Api::GeminiNative, gem_a),
            vec![m("assistant", "Claro")]
        );
        let oai_a = br#"{"choices":[{"message":{"role":"assistant","content":"Sure"}}]}"#;
        assert_eq!(
            completion(Api::ChatCompletions, oai_a),
            vec![m("assistant", "Sure")]
        );
        let ant_a =
            br#"{"content":[{"type":"thinking","thinking":"..."},{"type":"text","text":"A"}]}"#;
        assert_eq!(
            completion(Api::AnthropicMessages, ant_a),
            vec![m("assistant", "A")]
        );
        let resp_a = br#"{"output":[{"type":"reasoning"},{"type":"message","content":[{"type":"output_text","text":"R"}]}]}"#;
        assert_eq!(
            completion(Api::OpenAiResponses, resp_a),
            vec![m("assistant", "R")]
        );
        // Hostile bodies: nothing, never a panic.
        for body in [
            &b""[..],
            b"null",
            b"[]",
            b"{\"contents\":7}",
            b"{\"messages\":[1,{}]}",
        ] {
            for api in [
                Api::GeminiNative,
                Api::ChatCompletions,
                Api::AnthropicMessages,
                Api::OpenAiResponses,
            ] {
                let _ = prompt(api, body);
                assert!(completion(api, body).is_empty());
            }
        }
    }
}
