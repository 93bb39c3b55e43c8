//! Samples of the curated rows of `data/llm_prices.toml` added on 2026-12-01,
//! checked against the figures as published in their sources (USD per 1M
//! tokens, the decimals as written there):
//!
//! pydantic/genai-prices, `prices/providers/*.yml` at commit
//! 47df840a5ab10bbcffb8e5ac01b9899032245d1b (`input_mtok`, `cache_read_mtok`,
//! `cache_write_mtok`, `output_mtok`; a `tiers` `start` is the prompt size above
//! which the tier's rates apply to the whole request; a `start_date` constraint is
//! the row's `effective` day).
//!
//! They also check that a curated row replaces the imported row of the same
//! name and provider (the imported Grok rows had no cache rate; their input and
//! output rates are unchanged, so chatobs-runtime's tokencost oracle still holds).

use chatobs_cost::llm::Rates;
use chatobs_cost::{ModelPrice, PriceTable, Usage};
use rust_decimal::Decimal;
use std::str::FromStr;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn day(y: i32, m: u8, dd: u8) -> time::Date {
    time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), dd).unwrap()
}

/// Per-1M-token figures: input, cached input, cache write, output.
type Mtok<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a str);

fn per_mtok(r: &Rates) -> (Decimal, Option<Decimal>, Option<Decimal>, Decimal) {
    let m = Decimal::from(1_000_000u32);
    (
        r.input * m,
        r.cached_input.map(|x| x * m),
        r.cache_write.map(|x| x * m),
        r.output * m,
    )
}

fn expect(r: &Rates, (input, cached, write, output): Mtok<'_>, what: &str) {
    let got = per_mtok(r);
    assert_eq!(got.0, d(input), "{what}: input");
    assert_eq!(got.1, cached.map(d), "{what}: cached_input");
    assert_eq!(got.2, write.map(d), "{what}: cache_write");
    assert_eq!(got.3, d(output), "{what}: output");
}

fn resolve<'a>(t: &'a PriceTable, provider: &str, model: &str, on: time::Date) -> &'a ModelPrice {
    t.resolve_at(Some(provider), model, on)
        .unwrap_or_else(|| panic!("{provider}/{model} not found on {on}"))
}

const ON: (i32, u8, u8) = (2026, 12, 1);

fn on() -> time::Date {
    day(ON.0, ON.1, ON.2)
}

#[test]
fn grok_rows_carry_the_cache_rate_and_replace_the_imported_ones() {
    let t = PriceTable::shipped();
    // x_ai.yml: grok-3 3 / 0.75 / 15; grok-3-fast 5 / 1.25 / 25; grok-3-mini 0.3 / 0.075 / 0.5;
    // grok-3-mini-fast 0.6 / 0.15 / 4; grok-4-0709 3 / 0.75 / 15.
    let cases: &[(&str, Mtok<'_>)] = &[
        ("grok-3", ("3", Some("0.75"), None, "15")),
        ("grok-3-beta", ("3", Some("0.75"), None, "15")),
        ("grok-3-latest", ("3", Some("0.75"), None, "15")),
        ("grok-3-fast", ("5", Some("1.25"), None, "25")),
        ("grok-3-fast-beta", ("5", Some("1.25"), None, "25")),
        ("grok-3-fast-latest", ("5", Some("1.25"), None, "25")),
        ("grok-3-mini", ("0.3", Some("0.075"), None, "0.5")),
        ("grok-3-mini-latest", ("0.3", Some("0.075"), None, "0.5")),
        ("grok-3-mini-fast", ("0.6", Some("0.15"), None, "4")),
        ("grok-3-mini-fast-beta", ("0.6", Some("0.15"), None, "4")),
        ("grok-4", ("3", Some("0.75"), None, "15")),
        ("grok-4-0709", ("3", Some("0.75"), None, "15")),
        ("grok-4-latest", ("3", Some("0.75"), None, "15")),
        // Models newer than the import.
        ("grok-4-fast", ("0.2", Some("0.05"), None, "0.5")),
        (
            "grok-4-fast-non-reasoning",
            ("0.2", Some("0.05"), None, "0.5"),
        ),
        ("grok-4-1-fast", ("0.2", Some("0.05"), None, "0.5")),
        (
            "grok-4-1-fast-non-reasoning-latest",
            ("0.2", Some("0.05"), None, "0.5"),
        ),
        ("grok-code-fast-1", ("0.2", Some("0.02"), None, "1.5")),
        ("grok-4.3", ("1.25", Some("0.2"), None, "2.5")),
        ("grok-4.5", ("2", Some("0.5"), None, "6")),
        ("grok-latest", ("2", Some("0.5"), None, "6")),
        ("grok-4.20", ("1.25", Some("0.2"), None, "2.5")),
        ("grok-build-0.1", ("1", Some("0.2"), None, "2")),
    ];
    for (model, want) in cases {
        let m = resolve(&t, "x_ai", model, on());
        expect(&m.base, *want, model);
        assert!(m.tiers.is_empty(), "{model}");
        assert!(
            m.source.contains("genai-prices") && m.source.contains("47df840a"),
            "{model}: {}",
            m.source
        );
        assert_eq!(m.date, "2026-12-01", "{model}");
    }
    // Also without a provider, and through the provider prefix.
    let m = t.resolve_at(None, "xai/grok-3-mini-beta", on()).unwrap();
    expect(
        &m.base,
        ("0.3", Some("0.075"), None, "0.5"),
        "xai/grok-3-mini-beta",
    );
}

#[test]
fn deepseek_keeps_the_imported_rows_without_a_cache_rate() {
    // DeepSeek's cache-read rates were read only for the list in force until
    // 2025-09-05 (a row has no end date), so they are not applied: a call with
    // cached tokens stays incomplete instead of being priced with a stale rate.
    let t = PriceTable::shipped();
    for model in ["deepseek-chat", "deepseek-reasoner"] {
        let m = resolve(&t, "deepseek", model, on());
        assert!(m.source.contains("LiteLLM"), "{model}: {}", m.source);
        assert_eq!(m.base.cached_input, None, "{model}");
    }
}

#[test]
fn gemini_3_rows_and_their_tiers() {
    let t = PriceTable::shipped();
    // google.yml gemini-3-pro-preview: input 2 (4 above 200000), cache read 0.2 (0.4),
    // output 12 (18); gemini-3.1-pro-preview the same.
    for model in [
        "gemini-3-pro-preview",
        "gemini-3-pro-text-preview",
        "gemini-3.1-pro-preview",
    ] {
        let m = resolve(&t, "gcp.gemini", model, on());
        expect(&m.base, ("2", Some("0.2"), None, "12"), model);
        assert_eq!(m.tiers.len(), 1, "{model}");
        assert_eq!(m.tiers[0].above_prompt_tokens, 200_000, "{model}");
        expect(&m.tiers[0].rates, ("4", Some("0.4"), None, "18"), model);
    }
    let cases: &[(&str, Mtok<'_>)] = &[
        ("gemini-3-flash-preview", ("0.5", Some("0.05"), None, "3")),
        (
            "gemini-3.1-flash-lite",
            ("0.25", Some("0.025"), None, "1.5"),
        ),
        (
            "gemini-3.1-flash-lite-preview",
            ("0.25", Some("0.025"), None, "1.5"),
        ),
        ("gemini-3.5-flash", ("1.5", Some("0.15"), None, "9")),
        ("gemini-3.5-flash-lite", ("0.3", Some("0.03"), None, "2.5")),
    ];
    for (model, want) in cases {
        expect(&resolve(&t, "gcp.gemini", model, on()).base, *want, model);
    }
    // gemini-3.6-flash / 3.7-flash: introductory 0.75 / 0.075 / 3.75 through 2026-12-31,
    // 1.5 / 0.15 / 7.5 from the start_date 2027-01-01.
    for model in ["gemini-3.6-flash", "gemini-3.7-flash"] {
        let m = resolve(&t, "gcp.gemini", model, day(2026, 12, 31));
        expect(&m.base, ("0.75", Some("0.075"), None, "3.75"), model);
        let m = resolve(&t, "gcp.gemini", model, day(2027, 1, 1));
        expect(&m.base, ("1.5", Some("0.15"), None, "7.5"), model);
        assert_eq!(m.effective, Some(day(2027, 1, 1)));
    }
    // The call's prompt picks the tier: 200 001 prompt tokens of gemini-3-pro-preview.
    let c = t
        .cost_at(
            Some("gcp.gemini"),
            "gemini-3-pro-preview",
            &Usage::tokens(200_001, 1_000),
            time::OffsetDateTime::new_utc(on(), time::Time::MIDNIGHT),
        )
        .unwrap();
    assert_eq!(c.tier_above_prompt_tokens, Some(200_000));
    // 200 001 × 4/1M + 1 000 × 18/1M
    assert_eq!(c.total, d("0.800004") + d("0.018"));
}

#[test]
fn openai_rows_newer_than_the_import() {
    let t = PriceTable::shipped();
    let cases: &[(&str, Mtok<'_>)] = &[
        ("gpt-5-pro", ("15", None, None, "120")),
        ("gpt-5.1", ("1.25", Some("0.125"), None, "10")),
        ("gpt-5.1-2025-11-13", ("1.25", Some("0.125"), None, "10")),
        ("gpt-5.1-codex-mini", ("0.25", Some("0.025"), None, "2")),
        ("gpt-5.2", ("1.75", Some("0.175"), None, "14")),
        ("gpt-5.2-pro", ("21", None, None, "168")),
        ("gpt-5.3-codex", ("1.75", Some("0.175"), None, "14")),
        ("gpt-5.4-mini", ("0.75", Some("0.075"), None, "4.5")),
        (
            "gpt-5.4-nano-2026-03-17",
            ("0.2", Some("0.02"), None, "1.25"),
        ),
        ("gpt-5.5", ("5", Some("0.5"), None, "30")),
        ("gpt-5.5-pro", ("30", None, None, "180")),
        ("gpt-5.6", ("5", Some("0.5"), Some("6.25"), "30")),
    ];
    for (model, want) in cases {
        let m = resolve(&t, "openai", model, on());
        expect(&m.base, *want, model);
    }
    // gpt-5.4: 2.5 / 0.25 / 15, above 272000 prompt tokens 5 / 0.5 / 22.5.
    let m = resolve(&t, "openai", "gpt-5.4", on());
    expect(&m.base, ("2.5", Some("0.25"), None, "15"), "gpt-5.4");
    assert_eq!(m.tiers[0].above_prompt_tokens, 272_000);
    expect(
        &m.tiers[0].rates,
        ("5", Some("0.5"), None, "22.5"),
        "gpt-5.4 tier",
    );
    // gpt-5.4-pro: no cache rate; 30 / 180, above 272000 60 / 270.
    let m = resolve(&t, "openai", "gpt-5.4-pro", on());
    expect(
        &m.tiers[0].rates,
        ("60", None, None, "270"),
        "gpt-5.4-pro tier",
    );
    // gpt-5.6-terra: 2.5 / 0.25 / 3.125 / 15, 20 % lower from 2026-07-30: 2 / 0.2 / 2.5 / 12.
    let m = resolve(&t, "openai", "gpt-5.6-terra", day(2026, 7, 29));
    expect(
        &m.base,
        ("2.5", Some("0.25"), Some("3.125"), "15"),
        "gpt-5.6-terra",
    );
    let m = resolve(&t, "openai", "gpt-5.6-terra", day(2026, 7, 30));
    expect(
        &m.base,
        ("2", Some("0.2"), Some("2.5"), "12"),
        "gpt-5.6-terra 2026-07-30",
    );
    expect(
        &m.tiers[0].rates,
        ("4", Some("0.4"), Some("5"), "18"),
        "gpt-5.6-terra tier",
    );
    // gpt-5.6-luna: 1 / 0.1 / 1.25 / 6, 80 % lower from 2026-07-30: 0.2 / 0.02 / 0.25 / 1.2.
    let m = resolve(&t, "openai", "gpt-5.6-luna", day(2026, 7, 29));
    expect(
        &m.base,
        ("1", Some("0.1"), Some("1.25"), "6"),
        "gpt-5.6-luna",
    );
    let m = resolve(&t, "openai", "gpt-5.6-luna", on());
    expect(
        &m.base,
        ("0.2", Some("0.02"), Some("0.25"), "1.2"),
        "gpt-5.6-luna now",
    );
}

#[test]
fn anthropic_rows_newer_than_the_import() {
    let t = PriceTable::shipped();
    let cases: &[(&str, Mtok<'_>)] = &[
        ("claude-haiku-4-5", ("1", Some("0.1"), Some("1.25"), "5")),
        (
            "claude-haiku-4-5-20251001",
            ("1", Some("0.1"), Some("1.25"), "5"),
        ),
        ("claude-opus-4-5", ("5", Some("0.5"), Some("6.25"), "25")),
        ("claude-opus-4-7", ("5", Some("0.5"), Some("6.25"), "25")),
        ("claude-opus-5", ("5", Some("0.5"), Some("6.25"), "25")),
        ("claude-fable-5", ("10", Some("1.0"), Some("12.5"), "50")),
    ];
    for (model, want) in cases {
        let m = resolve(&t, "anthropic", model, on());
        expect(&m.base, *want, model);
        assert!(m.tiers.is_empty(), "{model}");
    }
    // claude-opus-4-6: above 200000 prompt tokens 10 / 1 / 12.5 / 37.5 until the
    // start_date 2026-03-13, flat 5 / 0.5 / 6.25 / 25 from it.
    let m = resolve(&t, "anthropic", "claude-opus-4-6", day(2026, 3, 12));
    expect(
        &m.base,
        ("5", Some("0.5"), Some("6.25"), "25"),
        "claude-opus-4-6",
    );
    assert_eq!(m.tiers[0].above_prompt_tokens, 200_000);
    expect(
        &m.tiers[0].rates,
        ("10", Some("1"), Some("12.5"), "37.5"),
        "claude-opus-4-6 tier",
    );
    let m = resolve(&t, "anthropic", "claude-opus-4-6", day(2026, 3, 13));
    assert!(m.tiers.is_empty());
    // claude-sonnet-4-6: same shape at 3 / 0.3 / 3.75 / 15 and 6 / 0.6 / 7.5 / 22.5.
    let m = resolve(&t, "anthropic", "claude-sonnet-4-6", day(2026, 3, 1));
    expect(
        &m.tiers[0].rates,
        ("6", Some("0.6"), Some("7.5"), "22.5"),
        "claude-sonnet-4-6 tier",
    );
    // claude-sonnet-5: introductory 2 / 0.2 / 2.5 / 10, standard 3 / 0.3 / 3.75 / 15 from 2026-09-01.
    let m = resolve(&t, "anthropic", "claude-sonnet-5", day(2026, 8, 31));
    expect(
        &m.base,
        ("2", Some("0.2"), Some("2.5"), "10"),
        "claude-sonnet-5",
    );
    let m = resolve(&t, "anthropic", "claude-sonnet-5", day(2026, 9, 1));
    expect(
        &m.base,
        ("3", Some("0.3"), Some("3.75"), "15"),
        "claude-sonnet-5 standard",
    );
}

#[test]
fn mistral_and_groq_rows() {
    let t = PriceTable::shipped();
    let cases: &[(&str, &str, Mtok<'_>)] = &[
        (
            "mistral_ai",
            "mistral-large-2512",
            ("0.5", Some("0.05"), None, "1.5"),
        ),
        (
            "mistral_ai",
            "mistral-small-2603",
            ("0.15", Some("0.015"), None, "0.6"),
        ),
        (
            "mistral_ai",
            "codestral-2508",
            ("0.3", Some("0.03"), None, "0.9"),
        ),
        (
            "mistral_ai",
            "mistral-saba-latest",
            ("0.2", None, None, "0.6"),
        ),
        (
            "groq",
            "meta-llama/llama-guard-4-12b",
            ("0.2", None, None, "0.2"),
        ),
    ];
    for (provider, model, want) in cases {
        expect(&resolve(&t, provider, model, on()).base, *want, model);
    }
}

#[test]
fn every_curated_row_names_its_source_and_read_date() {
    let text = include_str!("../data/llm_prices.toml");
    let mut t = PriceTable::default();
    t.merge_toml(text, None).unwrap();
    for m in t.models() {
        assert!(!m.source.trim().is_empty(), "{} has no source", m.name);
        assert_eq!(m.date.len(), 10, "{}: date {}", m.name, m.date);
        if m.date == "2026-12-01" {
            assert!(
                m.source
                    .contains("47df840a5ab10bbcffb8e5ac01b9899032245d1b"),
                "{}: {}",
                m.name,
                m.source
            );
        }
    }
}
