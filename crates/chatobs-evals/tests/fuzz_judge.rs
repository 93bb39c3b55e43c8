//! Property tests (the fuzzing this machine's stable toolchain allows) of the
//! evaluation parsers that read outside input: the judge's HTTP answer
//! (`parse_completion`), its verdict text (`parse_verdict`) and the
//! readability scorer on arbitrary text. Properties: no panic on any input,
//! a verdict's label is always one of the evaluator's labels or
//! `unparseable`, its explanation is bounded, and scores stay finite.
//! `PROPTEST_CASES` sets the number of cases (default 256 per property).

use chatobs_evals::judge::{parse_completion, parse_verdict};
use chatobs_evals::readability::{readability, Lang};
use chatobs_evals::UNPARSEABLE;
use proptest::prelude::*;

const LABELS: &[(&str, f64)] = &[("correct", 1.0), ("incorrect", 0.0)];

/// Answers near the shapes judges really give, then mutated.
fn verdictish() -> impl Strategy<Value = String> {
    let label = prop_oneof![
        Just("correct".to_owned()),
        Just("incorrect".to_owned()),
        Just("CORRECT".to_owned()),
        "[a-z]{0,12}",
    ];
    let expl = "\\PC{0,300}";
    (label, expl, 0..5u8).prop_map(|(l, e, shape)| match shape {
        0 => format!("LABEL: {l}\nEXPLANATION: {e}"),
        1 => format!("```json\n{{\"label\": \"{l}\", \"explanation\": {e:?}}}\n```"),
        2 => format!("{{\"label\": {l:?}, \"explanation\": {e:?}"),
        3 => format!("**{l}** because {e}"),
        _ => format!("{e}{{{l}}}{e}"),
    })
}

fn completion_body() -> impl Strategy<Value = String> {
    let content = prop_oneof![
        "\\PC{0,200}".prop_map(serde_json::Value::String),
        Just(serde_json::json!([{"type": "text", "text": "LABEL: correct"}, {"text": 3}])),
        Just(serde_json::Value::Null),
        any::<i64>().prop_map(serde_json::Value::from),
    ];
    let tokens = prop_oneof![
        any::<u64>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        Just(serde_json::json!("12")),
        Just(serde_json::Value::Null),
    ];
    (content, tokens.clone(), tokens).prop_map(|(c, i, o)| {
        serde_json::json!({
            "choices": [{"message": {"content": c}}],
            "usage": {"prompt_tokens": i, "completion_tokens": o,
                      "prompt_tokens_details": {"cached_tokens": i}},
            "model": "judge-model"
        })
        .to_string()
    })
}

proptest! {
    #[test]
    fn a_verdict_is_always_a_label_or_unparseable(text in prop_oneof![verdictish(), "\\PC{0,400}"], max in 0usize..2000) {
        let r = parse_verdict(&text, LABELS, max);
        prop_assert!(r.label == UNPARSEABLE || LABELS.iter().any(|(l, _)| *l == r.label), "{}", r.label);
        if r.label == UNPARSEABLE {
            prop_assert_eq!(r.score, None);
        } else {
            prop_assert!(LABELS.iter().any(|(l, s)| *l == r.label && Some(*s) == r.score));
        }
        if let Some(e) = &r.explanation {
            // Cut to max(max, 16) bytes, plus the "…" mark.
            prop_assert!(e.len() <= max.max(16) + '…'.len_utf8(), "{} > {}", e.len(), max);
        }
    }

    #[test]
    fn any_judge_body_parses_without_panicking(body in prop_oneof![completion_body(), "\\PC{0,300}", any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned())]) {
        let c = parse_completion(&body);
        match serde_json::from_str::<serde_json::Value>(&body) {
            // Not JSON: the body itself is the text (then unparseable as a verdict).
            Err(_) => prop_assert_eq!(&c.text, &body),
            Ok(v) => {
                if let Some(content) = v["choices"][0]["message"]["content"].as_str() {
                    prop_assert_eq!(c.text.as_str(), content);
                }
                // A count that is not a u64 (negative, float, string) is never read as one.
                if !v["usage"]["prompt_tokens"].is_u64() {
                    prop_assert_eq!(c.input_tokens, 0);
                }
            }
        }
    }

    #[test]
    fn readability_is_finite_on_any_text(text in "\\PC{0,500}", lang in prop_oneof![Just(None), Just(Some(Lang::En)), Just(Some(Lang::Es))]) {
        let r = readability(&text, lang);
        prop_assert!(r.flesch_reading_ease.is_finite(), "{r:?}");
        prop_assert!(r.score().is_finite(), "{r:?}");
        for v in [r.flesch_kincaid_grade, r.fernandez_huerta, r.szigriszt_pazos].into_iter().flatten() {
            prop_assert!(v.is_finite(), "{r:?}");
        }
    }
}

/// Answers seen from real judges (Ollama, vLLM, OpenAI) kept as regression inputs.
#[test]
fn seed_corpus() {
    for (text, label) in [
        (
            "LABEL: correct\nEXPLANATION: The answer matches the reference.",
            "correct",
        ),
        ("label: Incorrect\nexplanation: wrong price", "incorrect"),
        (
            "```json\n{\"label\": \"correct\", \"explanation\": \"ok\"}\n```",
            "correct",
        ),
        ("I cannot evaluate this.", UNPARSEABLE),
        ("", UNPARSEABLE),
        ("{\"label\": 3}", UNPARSEABLE),
    ] {
        assert_eq!(parse_verdict(text, LABELS, 1000).label, label, "{text:?}");
    }
    let c = parse_completion(
        r#"{"choices":[{"message":{"content":"LABEL: correct"}}],"usage":{"prompt_tokens":120,"completion_tokens":9}}"#,
    );
    assert_eq!(
        (c.text.as_str(), c.input_tokens, c.output_tokens),
        ("LABEL: correct", 120, 9)
    );
}
