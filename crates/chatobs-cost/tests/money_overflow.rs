//! Money never panics, never wraps, never rounds: huge prices give an
//! incomplete cost with a reason, a running total that would overflow is
//! marked incomplete and keeps its value, and price and rate files are
//! refused with the file, the key and the reason. The exact figures of normal
//! calls are unchanged.

use chatobs_cost::llm::{BillingUnit, ModelPrice, Rates, MAX_PRICE_PER_UNIT_USD};
use chatobs_cost::whatsapp::{Market, RateRow};
use chatobs_cost::{
    self as cost, ledger, timeline, Category, CostConfig, CostEngine, LlmCall, MetaPricing,
    Outbound, PriceTable, RateCard, StateBounds, StateSnapshot, Usage, WhatsAppPricer,
};
use chatobs_runtime::{testing, vocab, ChatSession, SpanBuilder};
use rust_decimal::Decimal;
use std::str::FromStr;
use time::OffsetDateTime;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn t(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
}

/// A model built in code (file bounds are not applied to it).
fn model(name: &str, input: Decimal, output: Decimal) -> ModelPrice {
    ModelPrice {
        name: name.into(),
        provider: "openai".into(),
        aliases: vec![],
        unit: BillingUnit::Token,
        base: Rates {
            input,
            output,
            cached_input: None,
            cache_write: None,
            reasoning: None,
        },
        tiers: vec![],
        source: "test".into(),
        date: "2026-01-01".into(),
        effective: None,
    }
}

fn table_with(models: &[ModelPrice]) -> PriceTable {
    let mut t = PriceTable::shipped();
    for m in models {
        t.insert(m.clone());
    }
    t
}

// ---- the figures of normal calls are unchanged -----------------------------------------

#[test]
fn normal_calls_keep_their_exact_figures() {
    let table = PriceTable::shipped();
    // 1000 × 0.075/1M + 200 × 0.30/1M
    let c = table
        .cost(None, "gemini-1.5-flash", &Usage::tokens(1000, 200))
        .unwrap();
    assert!(c.complete);
    assert!(c.overflow.is_empty() && c.missing.is_empty());
    assert_eq!(c.incomplete_reason(), None);
    assert_eq!(c.input, d("0.000075"));
    assert_eq!(c.output, d("0.00006"));
    assert_eq!(c.prompt, d("0.000075"));
    assert_eq!(c.completion, d("0.00006"));
    assert_eq!(c.total, d("0.000135"));

    // 1000 × 0.075/1M + 200 × 0.01875/1M + 300 × 0.30/1M
    let c = cost::record_llm_call_with(
        &table,
        &LlmCall::new("gemini-1.5-flash")
            .provider("gcp.gemini")
            .input_tokens(1200)
            .cached_tokens(200)
            .output_tokens(300),
    )
    .unwrap();
    assert_eq!(c.total, Decimal::new(16875, 8));
    assert!(c.complete);

    // Tier: 127001 × 0.15/1M, 1000 × 0.0375/1M, 1000 × 0.60/1M
    let usage = Usage {
        input_tokens: 128_001,
        output_tokens: 1000,
        cached_tokens: 1000,
        ..Usage::default()
    };
    let c = table.cost(None, "models/gemini-1.5-flash", &usage).unwrap();
    assert_eq!(c.tier_above_prompt_tokens, Some(128_000));
    assert_eq!(c.input, d("0.01905015"));
    assert_eq!(c.cached_input, d("0.0000375"));
    assert_eq!(c.output, d("0.0006"));
    assert_eq!(c.total, d("0.01968765"));

    // Per character: 4000 × 0.01875/1M + 1000 × 0.075/1M
    let c = table
        .cost(
            Some("vertex_ai"),
            "gemini-1.5-flash",
            &Usage {
                input_chars: Some(4000),
                output_chars: Some(1000),
                ..Usage::default()
            },
        )
        .unwrap();
    assert_eq!(c.unit, Some(BillingUnit::Character));
    assert_eq!(c.total, d("0.00015"));
}

#[test]
fn the_shipped_files_pass_the_new_bounds() {
    let mut t = PriceTable::default();
    t.merge_toml(cost::llm::SHIPPED_LLM_PRICES, None).unwrap();
    assert_eq!(
        t.models().len(),
        cost::llm::SHIPPED_LLM_PRICES.matches("\n[[model]]").count()
    );
    let mut c = RateCard::empty();
    c.merge_toml(cost::whatsapp::SHIPPED_WHATSAPP_RATES, None)
        .unwrap();
    assert_eq!(
        c.markets.len(),
        cost::whatsapp::SHIPPED_WHATSAPP_RATES
            .matches("\n[[market]]")
            .count()
    );
}

// ---- huge prices: incomplete with a reason, never a panic -------------------------------

#[test]
fn a_price_file_with_huge_values_is_refused_with_the_file_the_key_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (price, per) in [
        ("79228162514264337593543950335", 1),
        ("7.9e28", 1),
        ("79228162514264337593543950335", 1000000),
        ("1000001", 1),
    ] {
        let path = dir.path().join("huge.toml");
        std::fs::write(
            &path,
            format!("[[model]]\nname = \"huge\"\nprovider = \"openai\"\nunit = \"token\"\nper = {per}\ninput = \"{price}\"\noutput = \"1\"\nsource = \"s\"\ndate = \"2026-01-01\"\n"),
        )
        .unwrap();
        let e = PriceTable::shipped()
            .merge_file(&path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("huge.toml"), "{e}");
        assert!(e.contains("model[0] (huge).input"), "{e}");
        assert!(
            e.contains("above the ceiling of 1000000 USD per unit"),
            "{e}"
        );
        // The engine (what `init` builds) refuses it the same way.
        let cfg = CostConfig {
            llm_price_files: vec![path.clone()],
            ..CostConfig::default()
        };
        let e2 = CostEngine::from_config(&cfg).unwrap_err().to_string();
        assert_eq!(e, e2);
    }
    assert_eq!(MAX_PRICE_PER_UNIT_USD, d("1000000"));
}

#[test]
fn a_table_with_huge_prices_gives_an_incomplete_cost_with_the_reason() {
    let table = table_with(&[
        model(
            "huge",
            d("79228162514264337593543950335"),
            Decimal::from_scientific("7.9e28").unwrap(),
        ),
        model("max-plus-one", Decimal::MAX, Decimal::ONE),
    ]);
    let session = ChatSession::from_exported_id("money-overflow-huge-1").unwrap();
    let ((huge, edge, normal), spans) = testing::capture(|| {
        session.in_scope(|| {
            let mut a = SpanBuilder::new("llm.huge").start();
            let huge = a.in_scope(|| {
                cost::record_llm_call_with(
                    &table,
                    &LlmCall::new("huge").input_tokens(1000).output_tokens(200),
                )
            });
            drop(a);
            let edge = cost::record_llm_call_with(
                &table,
                &LlmCall::new("max-plus-one")
                    .input_tokens(1)
                    .output_tokens(1),
            );
            let mut b = SpanBuilder::new("llm.normal").start();
            let normal = b.in_scope(|| {
                cost::record_llm_call_with(
                    &table,
                    &LlmCall::new("gemini-1.5-flash")
                        .input_tokens(1000)
                        .output_tokens(200),
                )
            });
            drop(b);
            (huge, edge, normal)
        })
    });
    // Returned normally, incomplete, the figure that overflowed left out.
    let huge = huge.unwrap();
    assert!(!huge.complete);
    assert_eq!(huge.overflow, vec!["input", "output"]);
    assert!(huge.missing.is_empty());
    assert_eq!(huge.total, Decimal::ZERO);
    assert_eq!(
        huge.incomplete_reason().as_deref(),
        Some("overflow:input,overflow:output")
    );
    // MAX + 1 does not fit: the total keeps the prompt (a lower bound).
    let edge = edge.unwrap();
    assert_eq!(edge.prompt, Decimal::MAX);
    assert_eq!(edge.completion, Decimal::ONE);
    assert_eq!(edge.total, Decimal::MAX);
    assert_eq!(edge.overflow, vec!["total"]);
    assert!(!edge.complete);
    // A normal call afterwards is exact.
    let normal = normal.unwrap();
    assert!(normal.complete);
    assert_eq!(normal.total, d("0.000135"));

    let a = spans.one("llm.huge");
    assert_eq!(
        a.attr(vocab::GEN_AI_USAGE_PRICE_UNKNOWN)
            .and_then(|v| v.as_bool()),
        Some(true)
    );
    assert_eq!(
        a.attr_str(vocab::GEN_AI_USAGE_PRICE_INCOMPLETE_REASON),
        Some("overflow:input,overflow:output")
    );
    assert_eq!(
        a.attr(vocab::CHAT_SESSION_COST_INCOMPLETE)
            .and_then(|v| v.as_bool()),
        Some(true)
    );
    assert_eq!(
        a.attr_str(vocab::CHAT_SESSION_COST_INCOMPLETE_REASON),
        Some("llm_cost_overflow")
    );
    let b = spans.one("llm.normal");
    assert_eq!(b.attr(vocab::GEN_AI_USAGE_PRICE_INCOMPLETE_REASON), None);
    assert_eq!(
        b.attr(vocab::GEN_AI_USAGE_PRICE_USD)
            .and_then(|v| v.as_decimal()),
        Some(d("0.000135"))
    );
    // MAX (the edge call's lower bound) + 0.000135 does not fit exactly:
    // refused, the total keeps MAX and says why.
    let totals = cost::session_totals(&session);
    assert_eq!(totals.llm_usd, Decimal::MAX);
    assert!(totals.incomplete);
    assert_eq!(
        totals.incomplete_reasons,
        vec![
            ledger::reason::LLM_COST_OVERFLOW,
            ledger::reason::LLM_TOTAL_OVERFLOW
        ]
    );
    assert_eq!(totals.llm_calls, 3);
}

#[test]
fn unknown_prices_keep_their_path_and_get_a_reason() {
    let session = ChatSession::from_exported_id("money-overflow-unknown-1").unwrap();
    let (c, spans) = testing::capture(|| {
        session.in_scope(|| {
            let mut a = SpanBuilder::new("llm.unknown").start();
            let c = a
                .in_scope(|| cost::record_llm_call(&LlmCall::new("no-such-model").input_tokens(1)));
            drop(a);
            c
        })
    });
    let c = c.unwrap();
    assert_eq!(c.missing, vec!["model"]);
    assert_eq!(c.incomplete_reason().as_deref(), Some("no_price:model"));
    let a = spans.one("llm.unknown");
    assert_eq!(
        a.attr_str(vocab::GEN_AI_USAGE_PRICE_INCOMPLETE_REASON),
        Some("no_price:model")
    );
    assert_eq!(
        cost::session_totals(&session).incomplete_reasons,
        vec![ledger::reason::LLM_PRICE_UNKNOWN]
    );
}

// ---- running totals ---------------------------------------------------------------------

#[test]
fn a_conversation_whose_total_would_overflow_is_marked_incomplete_not_wrapped() {
    let half = d("50000000000000000000000000000"); // 5e28: twice does not fit
    let table = table_with(&[
        model("half-max", half, Decimal::ZERO),
        model("ten", Decimal::TEN, Decimal::ZERO),
        model("tiny", d("0.0000000000000000000000000001"), Decimal::ZERO),
    ]);
    let call =
        |m: &str| cost::record_llm_call_with(&table, &LlmCall::new(m).input_tokens(1)).unwrap();
    let session = ChatSession::from_exported_id("money-overflow-total-1").unwrap();
    let (costs, spans) = testing::capture(|| {
        session.in_scope(|| {
            let mut s = SpanBuilder::new("turn").start();
            let c = s.in_scope(|| (call("half-max"), call("half-max")));
            drop(s);
            c
        })
    });
    // Each call is complete on its own...
    assert!(costs.0.complete && costs.1.complete);
    assert_eq!(costs.1.total, half);
    // ...but the second does not fit the running total: refused, not wrapped or saturated.
    let t1 = cost::session_totals(&session);
    assert_eq!(t1.llm_usd, half);
    assert_eq!(t1.total_usd(), half);
    assert!(t1.incomplete);
    assert_eq!(
        t1.incomplete_reasons,
        vec![ledger::reason::LLM_TOTAL_OVERFLOW]
    );
    assert_eq!(t1.llm_calls, 2);
    let s = spans.one("turn");
    assert_eq!(
        s.attr(vocab::CHAT_SESSION_COST_LLM_USD)
            .and_then(|v| v.as_decimal()),
        Some(half)
    );
    assert_eq!(
        s.attr(vocab::CHAT_SESSION_COST_INCOMPLETE)
            .and_then(|v| v.as_bool()),
        Some(true)
    );
    assert_eq!(
        s.attr_str(vocab::CHAT_SESSION_COST_INCOMPLETE_REASON),
        Some("llm_total_overflow")
    );

    // Precision: 10 + 1e-28 needs 30 significant digits; the total stays 10, exact.
    let session = ChatSession::from_exported_id("money-overflow-total-2").unwrap();
    session.in_scope(|| {
        call("ten");
        call("tiny");
    });
    let t2 = cost::session_totals(&session);
    assert_eq!(t2.llm_usd, Decimal::TEN);
    assert_eq!(
        t2.incomplete_reasons,
        vec![ledger::reason::LLM_TOTAL_OVERFLOW]
    );

    // LLM + WhatsApp: each part fits, their sum would not: the WhatsApp
    // charge is refused with `total_overflow`.
    let mut card = RateCard::empty();
    card.markets.push(Market {
        name: "Colombia".into(),
        calling_codes: vec!["57".into()],
        countries: Vec::new(),
        rates: vec![RateRow {
            effective: 0,
            rates: vec![(Category::Marketing, half)],
            source: "test".into(),
            date: "2025-01-01".into(),
            note: None,
        }],
        volume_tiers: vec![],
    });
    let pricer = WhatsAppPricer::new(card, StateBounds::default());
    let session = ChatSession::from_exported_id("money-overflow-total-3").unwrap();
    let charge = session.in_scope(|| {
        call("half-max");
        cost::price_outbound_with(
            &pricer,
            &Outbound {
                business: "+5716000000",
                user: "+573001234567",
                at: t("2025-07-03T10:00:00Z"),
                template: Some(vocab::TemplateCategory::Marketing),
                entry_point: false,
            },
        )
        .unwrap()
    });
    assert_eq!(charge.price, half);
    let t3 = cost::session_totals(&session);
    assert_eq!((t3.llm_usd, t3.whatsapp_usd), (half, Decimal::ZERO));
    assert_eq!(t3.checked_total_usd(), Ok(half));
    assert_eq!(t3.incomplete_reasons, vec![ledger::reason::TOTAL_OVERFLOW]);
    assert_eq!(t3.messages_outbound, 1);
}

#[test]
fn a_reconciliation_difference_that_does_not_fit_is_left_out_with_a_reason() {
    let mut card = RateCard::empty();
    card.markets.push(Market {
        name: "Colombia".into(),
        calling_codes: vec!["57".into()],
        countries: Vec::new(),
        rates: vec![RateRow {
            effective: 0,
            rates: vec![
                (Category::Marketing, d("1000")),
                (Category::Utility, d("0.0000000000000000000000000001")),
            ],
            source: "test".into(),
            date: "2025-01-01".into(),
            note: None,
        }],
        volume_tiers: vec![],
    });
    let pricer = WhatsAppPricer::new(card, StateBounds::default());
    let session = ChatSession::from_exported_id("money-overflow-reconcile-1").unwrap();
    let (r, spans) = testing::capture(|| {
        session.in_scope(|| {
            let mut s = SpanBuilder::new("send").start();
            let r = s.in_scope(|| {
                let est = cost::price_outbound_with(
                    &pricer,
                    &Outbound {
                        business: "+5716000000",
                        user: "+573001234567",
                        at: t("2025-07-03T10:00:00Z"),
                        template: Some(vocab::TemplateCategory::Utility),
                        entry_point: false,
                    },
                )
                .unwrap();
                assert_eq!(est.price, d("0.0000000000000000000000000001"));
                // Meta says marketing: 1000 - 1e-28 needs 31 digits.
                cost::reconcile_with(
                    &pricer,
                    &est,
                    &MetaPricing {
                        billable: true,
                        pricing_model: Some("PMP".into()),
                        pricing_type: Some("regular".into()),
                        category: "marketing".into(),
                    },
                )
            });
            drop(s);
            r
        })
    });
    assert_eq!(r.meta, Some(d("1000")));
    assert_eq!(r.difference, Decimal::ZERO);
    assert_eq!(r.incomplete_reason, Some("overflow:difference"));
    assert!(r.differs);
    let t = cost::session_totals(&session);
    assert_eq!(t.whatsapp_usd, d("0.0000000000000000000000000001"));
    assert!(t.incomplete);
    assert_eq!(
        t.incomplete_reasons,
        vec![ledger::reason::WHATSAPP_COST_OVERFLOW]
    );
    let ev = spans
        .one("send")
        .event(vocab::WHATSAPP_PRICING_RECONCILED)
        .expect("reconciled event");
    assert_eq!(
        ev.attr(vocab::MESSAGING_WHATSAPP_PRICE_INCOMPLETE_REASON)
            .and_then(|v| v.as_str()),
        Some("overflow:difference")
    );
}

#[test]
fn a_timeline_total_that_does_not_fit_is_incomplete_with_a_reason() {
    let mut card = RateCard::empty();
    card.markets.push(Market {
        name: "Colombia".into(),
        calling_codes: vec!["57".into()],
        countries: Vec::new(),
        rates: vec![RateRow {
            effective: 0,
            rates: vec![(Category::Marketing, Decimal::MAX)],
            source: "test".into(),
            date: "2025-01-01".into(),
            note: None,
        }],
        volume_tiers: vec![],
    });
    let pricer = WhatsAppPricer::new(card, StateBounds::default());
    let line = |at: &str| {
        format!("{{\"at\": \"{at}\", \"business\": \"+5716000000\", \"user\": \"+573001234567\", \"dir\": \"out\", \"template\": \"marketing\"}}\n")
    };
    let text = line("2025-07-03T10:00:00Z") + &line("2025-07-03T11:00:00Z");
    let out = timeline::replay(&pricer, &text).unwrap();
    let total = out.last().unwrap();
    assert_eq!(total["total_usd"], "79228162514264337593543950335");
    assert_eq!(total["complete"], false);
    assert_eq!(total["incomplete_reason"], "overflow:total_usd");
    assert_eq!(total["messages_outbound"], 2);
}

// ---- integer counts and restored state --------------------------------------------------

#[test]
fn absurd_counts_are_rejected_not_wrapped() {
    let table = PriceTable::shipped();
    for usage in [
        Usage::tokens(u64::MAX, u64::MAX),
        Usage {
            input_tokens: 10,
            cached_tokens: u64::MAX,
            cache_write_tokens: u64::MAX,
            ..Usage::default()
        },
        Usage {
            input_tokens: 10,
            cached_tokens: 1_000_000_000,
            cache_write_tokens: 1_000_000_000,
            ..Usage::default()
        },
        Usage {
            output_tokens: 1,
            reasoning_tokens: 2,
            ..Usage::default()
        },
        Usage {
            input_chars: Some(u64::MAX),
            output_chars: Some(1),
            ..Usage::default()
        },
    ] {
        assert!(table.cost(None, "gpt-4o", &usage).is_err(), "{usage:?}");
        assert!(cost::record_llm_call_with(
            &table,
            &LlmCall {
                model: Some("gpt-4o".into()),
                usage,
                ..LlmCall::default()
            }
        )
        .is_err());
    }
    // The largest accepted counts price exactly.
    let max = cost::llm::MAX_UNITS_PER_CALL;
    let c = table
        .cost(None, "gpt-4o", &Usage::tokens(max, max))
        .unwrap();
    assert!(c.complete);
    // 1e9 × 2.5/1M + 1e9 × 10/1M
    assert_eq!(c.total, d("12500"));
}

#[test]
fn restored_window_state_with_extreme_times_and_counts_does_not_panic() {
    let pricer = WhatsAppPricer::shipped();
    let business = "+5716000000";
    // Learn the keyed hash of the user the way the pricer stores it.
    pricer.inbound(&cost::Inbound {
        business,
        user: "+573001234567",
        at: t("2025-07-03T10:00:00Z"),
        entry_point: false,
    });
    let mut snap = pricer.export();
    for (_, _, s) in &mut snap.pairs {
        s.last_inbound = Some(i64::MAX);
        s.entry_point_inbound = Some(i64::MAX - 1);
        s.free_entry_point_until = Some(i64::MIN);
        s.conversations = vec![(Category::Marketing, i64::MAX)];
        s.last_activity = i64::MAX;
    }
    snap.monthly = vec![
        (format!("{business}|2025-07|Colombia|utility"), u64::MAX),
        (
            format!("{business}|2147483647-12|Colombia|utility"),
            u64::MAX,
        ),
        (
            format!("{business}|-2147483648-01|Colombia|utility"),
            u64::MAX,
        ),
        ("no-month".into(), 1),
    ];
    let snap = StateSnapshot::from_json(&snap.to_json()).unwrap();
    pricer.restore(&snap);
    for (at, template) in [
        ("2025-07-03T10:05:00Z", None),
        (
            "2025-07-03T10:05:00Z",
            Some(vocab::TemplateCategory::Utility),
        ),
        (
            "2025-06-03T10:05:00Z",
            Some(vocab::TemplateCategory::Marketing),
        ),
        (
            "2025-07-03T10:05:00Z",
            Some(vocab::TemplateCategory::Authentication),
        ),
    ] {
        let _ = pricer
            .outbound(&Outbound {
                business,
                user: "+573001234567",
                at: t(at),
                template,
                entry_point: true,
            })
            .unwrap();
    }
}
