//! `chatobs cost llm` and `chatobs cost whatsapp --timeline FILE`, run as the built binary.

mod common;

use common::chatobs;
use serde_json::Value;

fn json(s: &str) -> Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[test]
fn cost_llm_prints_the_breakdown() {
    let (code, out, err) = chatobs(&[
        "cost",
        "llm",
        "--model",
        "models/gemini-1.5-flash",
        "--input",
        "128001",
        "--output",
        "1000",
        "--cached",
        "1000",
    ]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["model"], "gemini-1.5-flash");
    assert_eq!(v["provider"], "gcp.gemini");
    assert_eq!(v["tier"]["above_prompt_tokens"], 128000);
    // 127001 × 0.15/1M, 1000 × 0.0375/1M, 1000 × 0.60/1M
    assert_eq!(v["components"]["input"], "0.01905015");
    assert_eq!(v["components"]["cached_input"], "0.0000375");
    assert_eq!(v["components"]["output"], "0.0006");
    assert_eq!(v["total"], "0.01968765");
    assert!(v["source"].as_str().unwrap().contains("genai-prices"));
    assert_eq!(v["date"], "2025-07-04");

    let (code, out, _) = chatobs(&[
        "cost",
        "llm",
        "--model",
        "gemini-1.5-flash",
        "--input",
        "128000",
        "--output",
        "1000",
    ]);
    assert_eq!(code, 0);
    let v = json(&out);
    assert_eq!(v["tier"], Value::Null);
    assert_eq!(v["total"], "0.0099");

    let (code, out, err) = chatobs(&[
        "cost",
        "llm",
        "--model",
        "vertex_ai/gemini-1.5-flash",
        "--input-chars",
        "4000",
        "--output-chars",
        "1000",
    ]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["unit"], "character");
    assert_eq!(v["total"], "0.00015");
}

#[test]
fn cost_llm_unknown_model_and_bad_input() {
    let (code, out, err) = chatobs(&[
        "cost",
        "llm",
        "--model",
        "no-such-model",
        "--input",
        "1",
        "--output",
        "1",
    ]);
    assert_eq!(code, 2);
    assert_eq!(json(&out)["complete"], false);
    assert!(err.contains("no complete price"), "{err}");
    let (code, _, err) = chatobs(&[
        "cost", "llm", "--model", "gpt-4o", "--input", "1", "--cached", "5",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("cached_tokens (5)"), "{err}");
    let (code, _, err) = chatobs(&["cost", "llm", "--model", "gpt-4o", "--input=-3"]);
    assert_ne!(code, 0);
    assert!(err.contains("--input"), "{err}");
}

#[test]
fn cost_whatsapp_replays_a_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("timeline.jsonl");
    std::fs::write(
        &path,
        r#"{"at": "2025-07-03T10:00:00Z", "business": "+5716000000", "user": "+573001234567", "dir": "in"}
{"at": "2025-07-03T10:05:00Z", "business": "+5716000000", "user": "+573001234567", "dir": "out", "template": null, "entry_point": false}
{"at": "2025-07-03T11:00:00Z", "business": "+5716000000", "user": "+573001234567", "dir": "out", "template": "utility", "entry_point": false}
{"at": "2025-07-03T12:00:00Z", "business": "+5716000000", "user": "+573001234567", "dir": "out", "template": "marketing", "entry_point": false}
{"at": "2025-07-05T12:00:00Z", "business": "+5716000000", "user": "+573001234567", "dir": "out", "template": "utility", "entry_point": false}
"#,
    )
    .unwrap();
    let (code, out, err) = chatobs(&["cost", "whatsapp", "--timeline", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<Value> = out.lines().map(json).collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["price_usd"], "0");
    assert_eq!(lines[0]["pricing_type"], "free_customer_service");
    assert_eq!(lines[0]["free_by"], "customer_service_window");
    assert_eq!(lines[0]["category"], "service");
    assert_eq!(lines[1]["price_usd"], "0");
    assert_eq!(lines[1]["category"], "utility");
    assert_eq!(lines[2]["price_usd"], "0.0125");
    assert_eq!(lines[2]["pricing_model"], "PMP");
    assert_eq!(lines[2]["market"], "Colombia");
    // The row used, to audit the figure: its first day and source.
    assert!(
        lines[2]["rate_effective"]
            .as_str()
            .is_some_and(|d| d.len() == 10),
        "{}",
        lines[2]
    );
    assert!(
        lines[2]["rate_source"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{}",
        lines[2]
    );
    assert_eq!(lines[2]["rate_card_stale"], false);
    assert_eq!(lines[2]["pricing_type"], "regular");
    assert_eq!(lines[3]["price_usd"], "0.0002");
    assert_eq!(lines[3]["line"], 5);
    assert_eq!(lines[4]["total_usd"], "0.0127");
    assert_eq!(lines[4]["messages_outbound"], 4);
}

#[test]
fn cost_whatsapp_errors_name_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    std::fs::write(
        &path,
        "{\"at\": \"2025-07-03T10:00:00Z\", \"business\": \"+5716000000\", \"user\": \"+573001234567\", \"dir\": \"in\"}\n{\"at\": \"2025-07-03T10:05:00Z\", \"business\": \"+5716000000\", \"user\": \"+573001234567\", \"dir\": \"out\", \"template\": \"promo\"}\n",
    )
    .unwrap();
    let (code, out, err) = chatobs(&["cost", "whatsapp", "--timeline", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("line 2: template: \"promo\""), "{err}");
}
