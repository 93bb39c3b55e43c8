//! Property-based fuzzing of the GenAI readers: `genai::parse_response`
//! (a whole answer), `genai::StreamUsage` (server-sent events or Gemini's
//! streamed JSON array, chunk by chunk) and `genai::recognize` (is this
//! request an LLM call). Inputs: arbitrary bytes, the checked-in corpus
//! (`tests/corpus/genai/`: Gemini and OpenAI answers, streams, errors,
//! requests) and the corpus mutated (huge and negative counts, wrong types,
//! deep nesting, cuts). They never panic, the chunking of a stream does not
//! change what is read, and a recognized model name is bounded.
//!
//! `PROPTEST_CASES=100000 cargo test -p chatobs-integrations --test fuzz_genai`

mod fuzz_common;

use chatobs_integrations::genai::{
    parse_response, recognize, GenAiResponse, StreamUsage, TokenUsage,
};
use fuzz_common::*;
use proptest::prelude::*;

fn streamed(body: &[u8], cuts: &[prop::sample::Index]) -> GenAiResponse {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(body.len() + 1)).collect();
    at.sort_unstable();
    let mut s = StreamUsage::default();
    let mut last = 0;
    for a in at {
        s.push(&body[last..a]);
        let _ = s.response();
        last = a;
    }
    s.push(&body[last..]);
    s.finish()
}

fn check_response(r: &GenAiResponse) {
    let bounded = |m: &str| {
        !m.is_empty()
            && m.len() <= 128
            && m.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:/@".contains(&b))
    };
    if let Some(m) = &r.response_model {
        assert!(bounded(m), "{m:?}");
    }
    for f in &r.finish_reasons {
        assert!(bounded(f), "{f:?}");
    }
    if let Some(id) = &r.response_id {
        assert!(id.len() <= 128 + '…'.len_utf8());
    }
    // Usage is what the provider said (OpenAI's details may exceed the totals:
    // `genai::record` clamps them), so there is nothing to bound here.
}

fn text_corpus() -> Vec<(String, Vec<u8>)> {
    let mut c = corpus("genai", "json").to_vec();
    c.extend_from_slice(corpus("genai", "txt"));
    c
}

#[test]
fn the_corpus_reads_as_documented() {
    let get = |n: &str| {
        let (_, b) = text_corpus().into_iter().find(|(f, _)| f == n).unwrap();
        b
    };
    let r = parse_response(&get("gemini_generate_content.json"));
    assert_eq!(
        r.usage,
        Some(TokenUsage {
            input: 1200,
            output: 300,
            cached: 200,
            cache_write: 0,
            reasoning: 0
        })
    );
    assert_eq!(r.response_model.as_deref(), Some("gemini-1.5-flash-002"));
    let r = parse_response(&get("gemini_thinking.json"));
    assert_eq!(r.usage.map(|u| (u.output, u.reasoning)), Some((1106, 1104)));
    let r = parse_response(&get("openai_chat_completion.json"));
    assert_eq!(
        r.usage,
        Some(TokenUsage {
            input: 1117,
            output: 46,
            cached: 1024,
            cache_write: 0,
            reasoning: 0
        })
    );
    assert_eq!(r.finish_reasons, ["stop"]);
    for (n, expect) in [
        ("openai_stream.txt", (50, 7, 10)),
        ("gemini_sse.txt", (8, 32, 0)),
        ("gemini_stream_array.json", (10, 9, 0)),
    ] {
        let body = get(n);
        let whole = parse_response(&body);
        let u = whole.usage.unwrap_or_else(|| panic!("{n}: no usage"));
        assert_eq!((u.input, u.output, u.cached), expect, "{n}");
        let mut s = StreamUsage::default();
        for c in body.chunks(7) {
            s.push(c);
        }
        assert_eq!(s.finish(), whole, "{n}");
    }
    for n in ["openai_error.json", "gemini_error.json"] {
        assert_eq!(parse_response(&get(n)).usage, None, "{n}");
    }
    for (n, b) in text_corpus() {
        check_response(&parse_response(&b));
        let _ = n;
    }
}

#[test]
fn recognizes_the_corpus_requests() {
    let lines = String::from_utf8(std::fs::read(corpus_dir("genai").join("requests.txt")).unwrap())
        .unwrap();
    let mut got = Vec::new();
    for l in lines
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let mut p = l.split(' ');
        let (m, u) = (p.next().unwrap(), p.next().unwrap());
        let body = p
            .next()
            .map(|f| std::fs::read(corpus_dir("genai").join(f)).unwrap());
        got.push(recognize(m, u, body.as_deref()).map(|r| (r.provider, r.model, r.stream)));
    }
    let s = |x: &str| x.to_owned();
    assert_eq!(
        got,
        vec![
            Some(("gcp.gemini", s("gemini-1.5-flash"), false)),
            Some(("gcp.gemini", s("gemini-2.5-flash"), true)),
            Some(("gcp.vertex_ai", s("gemini-2.0-flash-001"), false)),
            Some(("gcp.vertex_ai", s("gemini-1.5-pro"), true)),
            Some(("openai", s("gpt-4o-mini"), true)),
            Some(("gcp.gemini", s("gemini-2.0-flash"), false)),
            None,
            None,
            Some(("openai", s("gpt-4o-mini"), true)),
        ]
    );
}

#[test]
fn regression_usage_overflow() {
    // Found by `mutated_answers`: candidatesTokenCount + thoughtsTokenCount
    // overflowed u64 (a panic in debug builds, a wrap in release).
    let b = std::fs::read(corpus_dir("genai").join("regression_usage_overflow.json")).unwrap();
    let r = parse_response(&b);
    assert_eq!(r.usage.unwrap().output, u64::MAX);
    let mut s = StreamUsage::default();
    s.push(b"data: ");
    s.push(&b);
    s.push(b"\n\n");
    assert_eq!(s.finish().usage.unwrap().output, u64::MAX);
}

proptest! {
    #![proptest_config(config(300, "fuzz_genai"))]

    /// Arbitrary bytes, whole or in arbitrary chunks: never a panic, and the
    /// chunking does not change what is read.
    #[test]
    fn arbitrary_bytes(
        body in prop::collection::vec(any::<u8>(), 0..1024),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let r = parse_response(&body);
        check_response(&r);
        let mut whole = StreamUsage::default();
        whole.push(&body);
        let whole = whole.finish();
        check_response(&whole);
        prop_assert_eq!(streamed(&body, &cuts), whole);
    }

    /// Event streams of realistic chunks with arbitrary lines in between.
    #[test]
    fn event_streams(
        lines in prop::collection::vec(prop_oneof![
            Just("data: [DONE]".to_owned()),
            Just("".to_owned()),
            Just(": keep-alive".to_owned()),
            Just("event: message".to_owned()),
            "data: .{0,60}",
            "[a-z]{0,8}: .{0,40}",
            (any::<prop::sample::Index>(), prop::collection::vec(edit(), 0..3)).prop_map(|(i, e)| {
                let c = json_corpus("genai");
                let v = apply(c[i.index(c.len())].1.clone(), &e);
                format!("data: {}", serde_json::to_string(&v).unwrap())
            }),
        ], 0..12),
        crlf in any::<bool>(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let body = lines.join(nl).into_bytes();
        let whole = parse_response(&body);
        check_response(&whole);
        let s = streamed(&body, &cuts);
        check_response(&s);
        let mut one = StreamUsage::default();
        one.push(&body);
        prop_assert_eq!(s, one.finish());
    }

    /// The corpus answers mutated (huge, negative and fractional counts,
    /// wrong types, nesting to and past the parser's limit) and damaged.
    #[test]
    fn mutated_answers(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..6),
        dmg in damage(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        // The answers and the real recordings (tests/corpus/real).
        let c: Vec<_> = json_corpus("genai").iter().chain(json_corpus("real/llm")).collect();
        let v = apply(c[pick.index(c.len())].1.clone(), &edits);
        let body = damaged(to_bytes(&v), &dmg);
        check_response(&parse_response(&body));
        check_response(&streamed(&body, &cuts));
    }

    /// Usage numbers anywhere in u64 (and beyond, as floats or negatives).
    #[test]
    fn any_usage_numbers(
        counts in prop::collection::vec(prop_oneof![
            any::<u64>().prop_map(|n| serde_json::json!(n)),
            Just(serde_json::json!(u64::MAX)),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            Just(serde_json::json!(1e300)),
            Just(serde_json::json!("12")),
        ], 6),
    ) {
        let g = serde_json::json!({"usageMetadata": {
            "promptTokenCount": counts[0], "candidatesTokenCount": counts[1],
            "cachedContentTokenCount": counts[2], "thoughtsTokenCount": counts[3]}});
        let r = parse_response(&to_bytes(&g));
        check_response(&r);
        // Gemini's output counts the thoughts: never less than them.
        if let Some(u) = r.usage {
            prop_assert!(u.output >= u.reasoning, "{:?}", u);
        }
        let o = serde_json::json!({"choices": [], "usage": {
            "prompt_tokens": counts[4], "completion_tokens": counts[5],
            "prompt_tokens_details": {"cached_tokens": counts[0]},
            "completion_tokens_details": {"reasoning_tokens": counts[1]}}});
        check_response(&parse_response(&to_bytes(&o)));
    }

    /// Requests: arbitrary method, URL and body, and URLs near real ones.
    #[test]
    fn recognize_never_panics_and_bounds_the_model(
        method in prop_oneof![Just("POST".to_owned()), Just("post".to_owned()), ".{0,8}"],
        url in prop_oneof![
            ".{0,200}",
            (prop::sample::select(vec![
                "https://generativelanguage.googleapis.com/v1beta/models/",
                "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/l/publishers/google/models/",
                "http://127.0.0.1:9/v1/chat/completions",
                "https://u:p@api.openai.com:443/v1/chat/completions?x=/models/a:generateContent",
                "//models/",
                "https://é.example/models/",
            ]), ".{0,40}", prop::sample::select(vec![
                ":generateContent", ":streamGenerateContent", ":countTokens", "", "?alt=sse",
                ":generateContent?key=AIza", "/chat/completions",
            ])).prop_map(|(a, m, v)| format!("{a}{m}{v}")),
        ],
        body in prop::option::of(prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            (".{0,200}", any::<bool>()).prop_map(|(m, s)| serde_json::to_vec(&serde_json::json!({"model": m, "stream": s})).unwrap()),
            wild_value().prop_map(|m| serde_json::to_vec(&serde_json::json!({"model": m, "stream": m})).unwrap()),
        ]),
    ) {
        if let Some(r) = recognize(&method, &url, body.as_deref()) {
            prop_assert!(method.eq_ignore_ascii_case("POST"));
            prop_assert!(["gcp.gemini", "gcp.vertex_ai", "openai"].contains(&r.provider));
            prop_assert!(!r.model.is_empty() && r.model.len() <= 128);
            prop_assert!(r.model.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:/@".contains(&b)), "{:?}", r.model);
            prop_assert_eq!(r.span_name(), format!("chat {}", r.model));
        }
    }
}
