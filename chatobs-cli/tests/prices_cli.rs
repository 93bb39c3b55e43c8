//! `chatobs prices import` and `chatobs prices list`, run as the built binary.

mod common;

use common::chatobs;
use std::process::Command;

const SOURCE: &str = "LiteLLM price table as shipped by tokencost 0.1.26 (model_prices.json)";

/// tokencost's copy of LiteLLM's table (scripts/test installs tokencost 0.1.26).
fn tokencost_table() -> std::path::PathBuf {
    let out = Command::new("python3")
        .args([
            "-c",
            "import os, tokencost, importlib.metadata as m; assert m.version('tokencost') == '0.1.26'; print(os.path.join(os.path.dirname(tokencost.__file__), 'model_prices.json'))",
        ])
        .output()
        .expect("python3 must be installed");
    assert!(
        out.status.success(),
        "tokencost 0.1.26 is needed (scripts/test installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().into()
}

/// The shipped imported table is exactly what the command writes from
/// tokencost 0.1.26's file: anyone can regenerate and audit it.
#[test]
fn the_shipped_import_is_reproducible() {
    let file = tokencost_table();
    let (code, out, err) = chatobs(&[
        "prices",
        "import",
        file.to_str().unwrap(),
        "--source",
        SOURCE,
        "--date",
        "2026-11-30",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("282 models imported"), "{err}");
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../crates/chatobs-cost/data/llm_prices_litellm.toml"),
    )
    .unwrap();
    assert!(out == shipped, "regenerate with: chatobs prices import <tokencost>/model_prices.json --source {SOURCE:?} --date 2026-11-30 --out crates/chatobs-cost/data/llm_prices_litellm.toml");
}

#[test]
fn import_selects_providers_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("prices.json");
    std::fs::write(
        &f,
        r#"{"xai/grok-3": {"litellm_provider": "xai", "mode": "chat", "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05},
            "gpt-4.1-nano": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-07, "output_cost_per_token": 4e-07, "cache_read_input_token_cost": 2.5e-08},
            "dall-e-3": {"litellm_provider": "openai", "mode": "image_generation", "input_cost_per_pixel": 4e-08},
            "gpt-weird": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": "cheap", "output_cost_per_token": 1e-06}}"#,
    )
    .unwrap();
    let out_file = dir.path().join("out.toml");
    let (code, _, err) = chatobs(&[
        "prices",
        "import",
        f.to_str().unwrap(),
        "--providers",
        "openai",
        "--date",
        "2026-11-30",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 models imported"), "{err}");
    assert!(err.contains("gpt-weird (expected a number"), "{err}");
    let toml = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        toml.contains("name = \"gpt-4.1-nano\"")
            && toml.contains("input = \"0.1\"")
            && toml.contains("cached_input = \"0.025\""),
        "{toml}"
    );
    assert!(!toml.contains("grok"), "{toml}");
    // The written file prices a call.
    let (code, out, err) = chatobs(&[
        "cost",
        "llm",
        "--model",
        "gpt-4.1-nano",
        "--provider",
        "openai",
        "--input",
        "1000000",
        "--output",
        "1000000",
        "--prices",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"total\":\"0.5\""), "{out}");
    // Hostile input: not JSON, not an object, an unknown provider, a bad date.
    std::fs::write(&f, "{\"a\": [1, 2").unwrap();
    let (code, _, err) = chatobs(&["prices", "import", f.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("not a LiteLLM price table") && err.contains("line 1"),
        "{err}"
    );
    std::fs::write(&f, "[1]").unwrap();
    let (code, _, err) = chatobs(&["prices", "import", f.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = chatobs(&[
        "prices",
        "import",
        f.to_str().unwrap(),
        "--providers",
        "acme",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("\"acme\" is not a LiteLLM provider"), "{err}");
    let (code, _, err) = chatobs(&[
        "prices",
        "import",
        f.to_str().unwrap(),
        "--date",
        "yesterday",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--date"), "{err}");
}

#[test]
fn list_shows_prices_sources_age_and_cards() {
    let (code, out, err) = chatobs(&["prices", "list", "--model", "o3"]);
    assert_eq!(code, 0, "{err}");
    // o3 before and after OpenAI's 2025-06-10 cut.
    let o3: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("openai") && l.contains(" o3 "))
        .collect();
    assert!(
        o3.iter()
            .any(|l| l.contains("2025-04-16") && l.contains(" 10 ") && l.contains(" 40 ")),
        "{out}"
    );
    assert!(
        o3.iter()
            .any(|l| l.contains("2025-06-10") && l.contains(" 2 ") && l.contains(" 8 ")),
        "{out}"
    );
    assert!(out.contains("WhatsApp rate cards"), "{out}");
    assert!(
        out.contains("markets; prices of messages delivered from"),
        "{out}"
    );
    let (code, out, _) = chatobs(&["prices", "list", "--provider", "x_ai"]);
    assert_eq!(code, 0);
    assert!(
        out.lines().filter(|l| l.starts_with("x_ai")).count() >= 10,
        "{out}"
    );
    assert!(out.lines().all(|l| !l.starts_with("openai")), "{out}");
}
