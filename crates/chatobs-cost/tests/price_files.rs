//! Price and rate files are checked when loaded: every bad value is refused
//! with the file, the key (or line) and the reason, and no content (empty,
//! binary, huge numbers, deep tables, wrong types) panics. A refused file
//! changes nothing.

use chatobs_cost::{CostConfig, CostEngine, PriceTable, RateCard};

/// One model with `input = {input}` and `per = {per}`.
fn model(input: &str, per: &str) -> String {
    format!(
        "[[model]]\nname = \"m\"\nprovider = \"openai\"\nunit = \"token\"\nper = {per}\ninput = {input}\noutput = \"1\"\nsource = \"s\"\ndate = \"2026-01-01\"\n"
    )
}

/// One market with `marketing = {rate}`.
fn market(rate: &str) -> String {
    format!(
        "[[market]]\nname = \"Colombia\"\ncalling_codes = [\"57\"]\n  [[market.rate]]\n  effective = \"2024-10-01\"\n  marketing = {rate}\n  source = \"s\"\n  date = \"2025-11-21\"\n"
    )
}

#[test]
fn bad_prices_name_the_key_and_the_reason() {
    let cases: Vec<(String, &str, &str)> = vec![
        (model("\"-0.5\"", "1000000"), "model[0] (m).input", "cannot be negative"),
        (model("-1", "1"), "model[0] (m).input", "cannot be negative"),
        (model("\"NaN\"", "1"), "model[0] (m).input", "is not a decimal number"),
        (model("\"inf\"", "1"), "model[0] (m).input", "is not a decimal number"),
        (model("nan", "1"), "model[0] (m).input", "is not a price"),
        (model("inf", "1"), "model[0] (m).input", "is not a price"),
        (model("0.5", "1"), "model[0] (m).input", "write prices as strings"),
        (model("\"\"", "1"), "model[0] (m).input", "is not a decimal number"),
        (model("\"0x10\"", "1"), "model[0] (m).input", "is not a decimal number"),
        (model("\"1.2.3\"", "1"), "model[0] (m).input", "is not a decimal number"),
        (model("\"1e\"", "1"), "model[0] (m).input", "is not a decimal number"),
        (model("true", "1"), "model[0] (m).input", "expected a decimal string, got boolean"),
        (model("[[[1]]]", "1"), "model[0] (m).input", "expected a decimal string, got array"),
        (model("{ a = 1 }", "1"), "model[0] (m).input", "expected a decimal string, got table"),
        (
            model("\"79228162514264337593543950336\"", "1"),
            "model[0] (m).input",
            "too large for a decimal",
        ),
        (
            model("\"1e99999999999999999999\"", "1"),
            "model[0] (m).input",
            "too large for a decimal",
        ),
        (
            model("\"1e-99999999999999999999\"", "1"),
            "model[0] (m).input",
            "more digits than a decimal holds",
        ),
        (
            model("\"0.00000000000000000000000000001\"", "1"),
            "model[0] (m).input",
            "more digits than a decimal holds",
        ),
        (
            model("\"10.0000000000000000000000000001\"", "1"),
            "model[0] (m).input",
            "more digits than a decimal holds",
        ),
        // Exact per 1M tokens, but 28 decimal places / 1M is not exact per token.
        (
            model("\"0.1234567890123456789012345678\"", "1000000"),
            "model[0] (m).input",
            "not an exact price per unit",
        ),
        (model("\"1\"", "3"), "model[0] (m).input", "not an exact price per unit"),
        (
            model("\"1000000.000001\"", "1"),
            "model[0] (m).input",
            "above the ceiling of 1000000 USD per unit",
        ),
        (model("\"1\"", "0"), "model[0] (m).per", "must be 1 to 1000000000"),
        (model("\"1\"", "1000000001"), "model[0] (m).per", "must be 1 to 1000000000"),
        (model("\"1\"", "-1"), "line 5", ""),
        (model("\"1\"", "99999999999999999999"), "line 5", ""),
        (model("\"1\"", "\"1\""), "line 5", ""),
        (
            "[[model]]\nname = \"\"\nprovider = \"openai\"\nunit = \"token\"\nper = 1\ninput = \"1\"\noutput = \"1\"\nsource = \"s\"\ndate = \"2026-01-01\"\n".into(),
            "model[0].name",
            "must not be empty",
        ),
        (
            "[[model]]\nname = \"m\"\nprovider = \"openai\"\nunit = \"token\"\nper = 1\ninput = \"1\"\noutput = \"1\"\nsource = \"s\"\ndate = \"2026-13-01\"\n".into(),
            "model[0] (m).date",
            "expected YYYY-MM-DD",
        ),
        (
            format!("{}  [[model.tier]]\n  above_prompt_tokens = 10\n  input = \"2e6\"\n  output = \"1\"\n", model("\"1\"", "1")),
            "model[0] (m).tier[0].input",
            "above the ceiling",
        ),
        ("not toml at all [[[".into(), "line 1", ""),
        ("model = 5".into(), "line 1", ""),
        ("[[model]]\nname = 5\n".into(), "line 2", ""),
        ("\u{0}\u{1}\u{2}binary\u{7f}".into(), "line 1", ""),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (doc, key, reason)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("prices-{i}.toml"));
        std::fs::write(&path, doc).unwrap();
        let mut table = PriceTable::shipped();
        let before = table.models().len();
        let e = match table.merge_file(&path) {
            Ok(()) => panic!("case {i} was accepted: {doc}"),
            Err(e) => e.to_string(),
        };
        assert!(e.starts_with(&format!("{}: ", path.display())), "{i}: {e}");
        assert!(
            e.contains(&format!("{key}: ")),
            "{i}: want key {key:?}: {e}"
        );
        assert!(e.contains(reason), "{i}: want {reason:?}: {e}");
        assert_eq!(
            table.models().len(),
            before,
            "{i}: a refused file changes nothing"
        );
        // `init` (the engine) refuses it with the same message.
        let cfg = CostConfig {
            llm_price_files: vec![path],
            ..CostConfig::default()
        };
        assert_eq!(CostEngine::from_config(&cfg).unwrap_err().to_string(), e);
    }
}

#[test]
fn a_refused_file_changes_nothing_even_after_good_entries() {
    let mut table = PriceTable::shipped();
    let gpt = table.resolve(None, "gpt-4o").cloned().unwrap();
    let doc = "[[model]]\nname = \"gpt-4o\"\nprovider = \"openai\"\nunit = \"token\"\nper = 1\ninput = \"9\"\noutput = \"9\"\nsource = \"s\"\ndate = \"2026-01-01\"\n"
        .to_owned()
        + &model("\"-1\"", "1");
    assert!(table.merge_toml(&doc, None).is_err());
    assert_eq!(table.resolve(None, "gpt-4o"), Some(&gpt));

    let mut card = RateCard::shipped();
    let before = card.clone();
    let doc = "[rules]\nconversation_hours = 48\n".to_owned() + &market("\"-1\"");
    assert!(card.merge_toml(&doc, None).is_err());
    assert_eq!(card.rules, before.rules);
    assert_eq!(card.markets, before.markets);
}

#[test]
fn bad_rates_name_the_key_and_the_reason() {
    let cases: Vec<(String, &str, &str)> = vec![
        (market("\"-0.01\""), "market[0] (Colombia).rate[0].marketing", "cannot be negative"),
        (
            market("\"1000.0001\""),
            "market[0] (Colombia).rate[0].marketing",
            "above the ceiling of 1000 USD per message",
        ),
        (
            market("\"79228162514264337593543950335\""),
            "market[0] (Colombia).rate[0].marketing",
            "above the ceiling of 1000 USD per message",
        ),
        (
            market("\"1e400\""),
            "market[0] (Colombia).rate[0].marketing",
            "too large for a decimal",
        ),
        (
            market("\"0.12345678901234567890123456789\""),
            "market[0] (Colombia).rate[0].marketing",
            "more digits than a decimal holds",
        ),
        (market("\"NaN\""), "market[0] (Colombia).rate[0].marketing", "is not a decimal number"),
        (market("0.1"), "market[0] (Colombia).rate[0].marketing", "write prices as strings"),
        (market("[]"), "market[0] (Colombia).rate[0].marketing", "got array"),
        (
            format!(
                "{}  [[market.volume_tier]]\n  category = \"utility\"\n  effective = \"2025-07-01\"\n  from_message = 3\n  rate = \"5000\"\n",
                market("\"0.01\"")
            ),
            "market[0] (Colombia).volume_tier[0].rate",
            "above the ceiling",
        ),
        (
            format!(
                "{}  [[market.volume_tier]]\n  category = \"utility\"\n  effective = \"2025-07-01\"\n  from_message = 0\n  rate = \"0.1\"\n",
                market("\"0.01\"")
            ),
            "market[0] (Colombia).volume_tier[0].from_message",
            "counts start at 1",
        ),
        (
            "[rules]\nconversation_hours = 0\n".into(),
            "rules.conversation_hours",
            "must be 1 to 744 hours",
        ),
        ("[rules]\nconversation_hours = 99999999999\n".into(), "line 2", ""),
        ("[rules]\nper_message_from = \"tomorrow\"\n".into(), "rules.per_message_from", "YYYY-MM-DD"),
        (
            "[[market]]\nname = \"X\"\ncalling_codes = [\"+\"]\n".into(),
            "market[0] (X).calling_codes",
            "is not a calling code",
        ),
        ("[[market]]\nname = \"X\"\ncalling_codes = []\n".into(), "market[0] (X).calling_codes", "at least one"),
        ("\u{feff}\u{0}[[[[".into(), "line 1", ""),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (doc, key, reason)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("rates-{i}.toml"));
        std::fs::write(&path, doc).unwrap();
        let mut card = RateCard::shipped();
        let e = match card.merge_file(&path) {
            Ok(()) => panic!("case {i} was accepted: {doc}"),
            Err(e) => e.to_string(),
        };
        assert!(e.starts_with(&format!("{}: ", path.display())), "{i}: {e}");
        assert!(
            e.contains(&format!("{key}: ")),
            "{i}: want key {key:?}: {e}"
        );
        assert!(e.contains(reason), "{i}: want {reason:?}: {e}");
        let cfg = CostConfig {
            whatsapp_rate_files: vec![path],
            ..CostConfig::default()
        };
        assert_eq!(CostEngine::from_config(&cfg).unwrap_err().to_string(), e);
    }
}

#[test]
fn empty_binary_deep_and_huge_files_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.toml");
    // Empty: no models, no markets, nothing changes.
    std::fs::write(&path, "").unwrap();
    PriceTable::shipped().merge_file(&path).unwrap();
    RateCard::shipped().merge_file(&path).unwrap();
    // Not UTF-8: an I/O error naming the file.
    std::fs::write(&path, [0xff, 0xfe, 0x00, 0x80, 0x9f]).unwrap();
    let e = PriceTable::shipped()
        .merge_file(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("odd.toml"), "{e}");
    let e = RateCard::shipped()
        .merge_file(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("odd.toml"), "{e}");
    // Missing.
    let e = PriceTable::shipped()
        .merge_file(&dir.path().join("missing.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.toml"), "{e}");
    // Deep arrays, inline tables, dotted keys and table headers.
    let deep = [
        format!("input = {}1{}", "[".repeat(100_000), "]".repeat(100_000)),
        format!("a = {}1{}", "{ b = ".repeat(50_000), "}".repeat(50_000)),
        format!("{} = 1", vec!["a"; 50_000].join(".")),
        format!("[{}]", vec!["a"; 50_000].join(".")),
        format!("[[model]]\n{}", "[".repeat(1_000_000)),
        "\"".repeat(1_000_000),
    ];
    for doc in &deep {
        std::fs::write(&path, doc).unwrap();
        let e = PriceTable::shipped()
            .merge_file(&path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("odd.toml: "), "{e}");
        assert!(e.len() < 2000, "errors stay short: {} bytes", e.len());
        let e = RateCard::shipped()
            .merge_file(&path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("odd.toml: "), "{e}");
    }
    // A huge number and a huge name stay short in the message.
    let huge = format!("\"{}\"", "9".repeat(100_000));
    std::fs::write(&path, model(&huge, "1")).unwrap();
    let e = PriceTable::shipped()
        .merge_file(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("too large for a decimal"), "{e}");
    assert!(e.len() < 300, "{e}");
    let doc = model("\"-1\"", "1").replace(
        "name = \"m\"",
        &format!("name = \"{}\"", "x".repeat(100_000)),
    );
    std::fs::write(&path, doc).unwrap();
    let e = PriceTable::shipped()
        .merge_file(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot be negative") && e.len() < 300, "{e}");
}
