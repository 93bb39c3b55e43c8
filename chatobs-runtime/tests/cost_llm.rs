//! LLM pricing: exact equality with tokencost, tiers, per-character billing,
//! aliases, rejected inputs, and the attributes on captured spans.

use chatobs_runtime::cost::{self, LlmCall, PriceTable, Usage};
use chatobs_runtime::{testing, vocab, ChatSession, SpanBuilder, SpanKind};
use rust_decimal::Decimal;
use std::process::Command;
use std::str::FromStr;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// Runs tokencost's `calculate_cost_by_tokens` for each (model, n, type) and
/// returns its decimals, so the expected figures cannot drift from tokencost.
fn tokencost(cases: &[(&str, u64, &str)]) -> Vec<Decimal> {
    let script = "import sys, json\nfrom tokencost import calculate_cost_by_tokens\nfor m, n, t in json.loads(sys.argv[1]):\n    print(str(calculate_cost_by_tokens(n, m, t)))\n";
    let arg = serde_json::to_string(
        &cases
            .iter()
            .map(|(m, n, t)| serde_json::json!([m, n, t]))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let out = Command::new("python3")
        .args(["-c", script, &arg])
        .output()
        .expect("python3 must be installed to compare with tokencost");
    assert!(
        out.status.success(),
        "tokencost failed (install it with `pip install tokencost`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let v: Vec<Decimal> = text
        .lines()
        .map(|l| {
            Decimal::from_scientific(l)
                .or_else(|_| Decimal::from_str(l))
                .unwrap()
        })
        .collect();
    assert_eq!(v.len(), cases.len());
    v
}

#[test]
fn equals_tokencost_for_untiered_cases_including_cached() {
    // (our model, tokencost's key, input, cached, output). Inputs stay under 128k for
    // gemini-1.5-flash: above it tokencost is wrong (it ignores tiers, see below).
    let cases: &[(&str, &str, u64, u64, u64)] = &[
        ("gemini-1.5-flash", "gemini-1.5-flash", 1, 0, 1),
        ("gemini-1.5-flash", "gemini-1.5-flash", 1000, 0, 250),
        ("gemini-1.5-flash", "gemini-1.5-flash", 128_000, 0, 8192),
        (
            "models/gemini-1.5-flash",
            "gemini/gemini-1.5-flash",
            54_321,
            0,
            777,
        ),
        ("gpt-4o", "gpt-4o", 1, 0, 1),
        ("gpt-4o", "gpt-4o", 1234, 0, 567),
        ("gpt-4o", "gpt-4o", 100_000, 60_000, 4096),
        ("gpt-4o", "gpt-4o", 2048, 1024, 10),
        ("gpt-4o-mini", "gpt-4o-mini", 1, 0, 1),
        ("gpt-4o-mini", "gpt-4o-mini", 15_000, 0, 800),
        ("gpt-4o-mini", "gpt-4o-mini", 200_000, 150_000, 16_000),
        ("claude-3-5-sonnet", "claude-3-5-sonnet-20241022", 1, 0, 1),
        (
            "claude-3-5-sonnet-20241022",
            "claude-3-5-sonnet-20241022",
            9_999,
            0,
            1_001,
        ),
        (
            "claude-3-5-sonnet",
            "claude-3-5-sonnet-20241022",
            180_000,
            120_000,
            4_000,
        ),
    ];
    let mut q = Vec::new();
    for (_, tc, input, cached, output) in cases {
        q.push((*tc, input - cached, "input"));
        q.push((*tc, *cached, "cached"));
        q.push((*tc, *output, "output"));
    }
    // tokencost has no cached rate for gemini-1.5-flash: ask only where it has one.
    let q_filtered: Vec<_> = q
        .iter()
        .filter(|(m, n, t)| !(m.contains("gemini-1.5-flash") && *t == "cached" && *n == 0))
        .cloned()
        .collect();
    let figures = tokencost(&q_filtered);
    let mut it = q_filtered.iter().zip(figures);
    let mut next = |m: &str, t: &str| -> Decimal {
        let ((qm, _, qt), v) = it.next().unwrap();
        assert_eq!((*qm, *qt), (m, t));
        v
    };
    let table = PriceTable::shipped();
    for (model, tc, input, cached, output) in cases {
        let u = Usage {
            input_tokens: *input,
            cached_tokens: *cached,
            output_tokens: *output,
            ..Usage::default()
        };
        let c = table.cost(None, model, &u).unwrap();
        let tc_in = next(tc, "input");
        let tc_cached = if tc.contains("gemini-1.5-flash") {
            Decimal::ZERO
        } else {
            next(tc, "cached")
        };
        let tc_out = next(tc, "output");
        assert!(c.complete, "{model}");
        assert_eq!(c.input, tc_in, "{model} input {input} cached {cached}");
        assert_eq!(c.cached_input, tc_cached, "{model} cached {cached}");
        assert_eq!(c.output, tc_out, "{model} output {output}");
        assert_eq!(c.total, tc_in + tc_cached + tc_out, "{model} total");
        println!(
            "{model:>28} in={input:>7} cached={cached:>7} out={output:>6}: chatobs {} = tokencost {}",
            c.total.normalize(),
            (tc_in + tc_cached + tc_out).normalize()
        );
    }
}

#[test]
fn tokencost_differs_on_tiers_and_chatobs_applies_the_tier_to_the_whole_request() {
    // tokencost: 128001 × 7.5e-08 (it ignores the 128k tier).
    let tc = tokencost(&[
        ("gemini-1.5-flash", 128_001, "input"),
        ("gemini-1.5-flash", 1000, "output"),
    ]);
    assert_eq!(tc[0], d("0.009600075"));
    let table = PriceTable::shipped();
    let at = |input: u64| {
        table
            .cost(None, "gemini-1.5-flash", &Usage::tokens(input, 1000))
            .unwrap()
    };
    let below = at(128_000);
    assert_eq!(below.tier_above_prompt_tokens, None);
    assert_eq!(below.input, d("0.0096")); // 128000 × 0.075/1M
    assert_eq!(below.output, d("0.0003")); // 1000 × 0.30/1M
    assert_eq!(below.total, tc[0] - d("0.000000075") + tc[1]);
    let above = at(128_001);
    assert_eq!(above.tier_above_prompt_tokens, Some(128_000));
    assert_eq!(above.input, d("0.01920015")); // 128001 × 0.15/1M
    assert_eq!(above.output, d("0.0006")); // the output rate doubles too
    assert_eq!(above.total, d("0.01980015"));
    assert_ne!(above.total, tc[0] + tc[1]);
    // Cached tokens above the tier: 0.0375/1M.
    let c = table
        .cost(
            None,
            "gemini-1.5-flash",
            &Usage {
                input_tokens: 200_000,
                cached_tokens: 100_000,
                output_tokens: 0,
                ..Usage::default()
            },
        )
        .unwrap();
    assert_eq!(c.cached_input, d("0.00375"));
    assert_eq!(c.input, d("0.015"));
    // gemini-2.5-pro's tier is at 200k.
    let p = table
        .cost(None, "gemini-2.5-pro", &Usage::tokens(200_001, 10))
        .unwrap();
    assert_eq!(p.tier_above_prompt_tokens, Some(200_000));
    assert_eq!(p.input, d("0.5000025"));
}

#[test]
fn per_character_billing_on_vertex() {
    let table = PriceTable::shipped();
    let u = Usage {
        input_tokens: 1000,
        output_tokens: 250,
        input_chars: Some(4000),
        output_chars: Some(1000),
        ..Usage::default()
    };
    let v = table
        .cost(Some("gcp.vertex_ai"), "gemini-1.5-flash", &u)
        .unwrap();
    assert_eq!(v.unit, Some(cost::BillingUnit::Character));
    assert_eq!(v.input, d("0.000075")); // 4 × 0.00001875
    assert_eq!(v.output, d("0.000075")); // 1 × 0.000075
                                         // The same tokens on the Gemini API bill per token.
    let g = table
        .cost(Some("gcp.gemini"), "gemini-1.5-flash", &u)
        .unwrap();
    assert_eq!(g.input, d("0.000075"));
    assert_eq!(g.output, d("0.000075"));
    let big = Usage {
        input_tokens: 130_000,
        output_tokens: 100,
        input_chars: Some(520_000),
        output_chars: Some(400),
        ..Usage::default()
    };
    let v = table
        .cost(None, "vertex_ai/gemini-1.5-flash-002", &big)
        .unwrap();
    assert_eq!(v.model.as_deref(), Some("gemini-1.5-flash"));
    assert_eq!(v.provider.as_deref(), Some("gcp.vertex_ai"));
    assert_eq!(v.tier_above_prompt_tokens, Some(128_000));
    assert_eq!(v.input, d("0.0195")); // 520 × 0.0000375
    assert_eq!(v.output, d("0.00006")); // 0.4 × 0.00015
                                        // Without a token count, the tier is estimated from characters / 4.
    let est = table
        .cost(
            Some("vertex_ai"),
            "gemini-1.5-pro",
            &Usage {
                input_chars: Some(512_004),
                output_chars: Some(0),
                ..Usage::default()
            },
        )
        .unwrap();
    assert!(est.tier_estimated);
    assert_eq!(est.tier_above_prompt_tokens, Some(128_000));
    assert_eq!(est.input, d("0.3200025")); // 512.004 × 0.000625
                                           // Tokens only, for a per-character model: incomplete, not an error.
    let t = table
        .cost(
            Some("gcp.vertex_ai"),
            "gemini-1.5-flash",
            &Usage::tokens(10, 10),
        )
        .unwrap();
    assert!(!t.complete);
    assert_eq!(t.missing, vec!["characters"]);
}

#[test]
fn aliases_resolve() {
    let table = PriceTable::shipped();
    for name in [
        "gemini-1.5-flash",
        "models/gemini-1.5-flash",
        "gemini/gemini-1.5-flash",
    ] {
        let m = table.resolve(None, name).unwrap();
        assert_eq!(m.name, "gemini-1.5-flash", "{name}");
        assert_eq!(m.provider, "gcp.gemini", "{name}");
    }
    // Dated snapshots have rows of their own (an exact name wins over an
    // alias), priced like the model they snapshot.
    let base = &table.resolve(None, "gemini-1.5-flash").unwrap().base;
    for name in ["gemini-1.5-flash-002", "Gemini-1.5-Flash-001"] {
        let m = table.resolve(None, name).unwrap();
        assert_eq!(m.name, name.to_ascii_lowercase(), "{name}");
        assert_eq!(m.provider, "gcp.gemini", "{name}");
        assert_eq!(
            (&m.base.input, &m.base.output),
            (&base.input, &base.output),
            "{name}"
        );
    }
    assert_eq!(
        table
            .resolve(None, "vertex_ai/gemini-1.5-flash")
            .unwrap()
            .provider,
        "gcp.vertex_ai"
    );
    // A provider-prefixed snapshot finds the snapshot's own row.
    let snap = table
        .resolve(None, "anthropic/claude-3-5-sonnet-20241022")
        .unwrap();
    assert_eq!(
        (snap.name.as_str(), snap.provider.as_str()),
        ("claude-3-5-sonnet-20241022", "anthropic")
    );
    assert_eq!(
        table.resolve(None, "claude-3-5-sonnet").unwrap().name,
        "claude-3-5-sonnet"
    );
    assert!(table.resolve(Some("openai"), "gemini-1.5-flash").is_none());
    for m in [
        "gemini-1.5-pro",
        "gemini-2.0-flash",
        "gemini-2.5-flash",
        "gemini-2.5-pro",
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-5",
        "claude-sonnet-4-20250514",
    ] {
        assert!(table.resolve(None, m).is_some(), "{m} is shipped");
    }
    // Every shipped entry has a source and a date.
    for m in table.models() {
        assert!(!m.source.is_empty() && m.date.len() == 10, "{}", m.name);
    }
}

#[test]
fn impossible_usage_is_rejected_with_a_clear_error() {
    let table = PriceTable::shipped();
    let e = table
        .cost(
            None,
            "gpt-4o",
            &Usage {
                input_tokens: 10,
                cached_tokens: 11,
                ..Usage::default()
            },
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cached_tokens (11)") && e.contains("input_tokens (10)"),
        "{e}"
    );
    let e = table
        .cost(None, "gpt-4o", &Usage::tokens(2_000_000_000, 0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("input_tokens = 2000000000"), "{e}");
    let e = table
        .cost(
            None,
            "gpt-4o",
            &Usage {
                output_tokens: 1,
                reasoning_tokens: 2,
                ..Usage::default()
            },
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("reasoning_tokens"), "{e}");
    assert!(table.cost(None, " ", &Usage::tokens(1, 1)).is_err());
}

#[test]
fn user_files_override_and_extend_and_bad_files_name_the_key() {
    let mut t = PriceTable::shipped();
    t.merge_toml(
        r#"
[[model]]
name = "gpt-4o"
provider = "openai"
unit = "token"
per = 1000000
input = "5"
output = "15"
source = "negotiated contract"
date = "2026-01-01"

[[model]]
name = "my-finetune"
provider = "openai"
aliases = ["ft:gpt-4o-mini:acme"]
unit = "token"
per = 1000
input = "0.0003"
output = "0.0012"
source = "contract"
date = "2026-01-01"
"#,
        None,
    )
    .unwrap();
    assert_eq!(
        t.cost(None, "gpt-4o", &Usage::tokens(1_000_000, 0))
            .unwrap()
            .total,
        d("5")
    );
    assert_eq!(
        t.cost(None, "ft:gpt-4o-mini:acme", &Usage::tokens(1000, 1000))
            .unwrap()
            .total,
        d("0.0015")
    );
    let e = PriceTable::default()
        .merge_toml(
            "[[model]]\nname = \"x\"\nprovider = \"openai\"\nunit = \"token\"\nper = 1000000\ninput = 0.5\noutput = \"1\"\nsource = \"s\"\ndate = \"2025-01-01\"\n",
            None,
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model[0] (x).input") && e.contains("strings"),
        "{e}"
    );
    let e = PriceTable::default()
        .merge_toml(
            "[[model]]\nname = \"x\"\nprovider = \"openai\"\nunit = \"token\"\nper = 1000000\ninput = \"-1\"\noutput = \"1\"\nsource = \"s\"\ndate = \"2025-01-01\"\n",
            None,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("negative"), "{e}");
}

#[test]
fn record_llm_call_sets_attributes_and_the_conversation_total() {
    let session = ChatSession::from_exported_id("cost-llm-attrs-1").unwrap();
    let (costs, spans) = testing::capture(|| {
        session.in_scope(|| {
            let mut a = SpanBuilder::new("classifier.predict")
                .span_kind(SpanKind::Llm)
                .start();
            let c1 = a.in_scope(|| {
                cost::record_llm_call(
                    &LlmCall::new("gpt-4o-mini")
                        .provider("openai")
                        .input_tokens(15_000)
                        .cached_tokens(5_000)
                        .output_tokens(800)
                        .response_model("gpt-4o-mini-2024-07-18"),
                )
                .unwrap()
            });
            drop(a);
            let mut b = SpanBuilder::new("agent.sales.flow").start();
            let c2 = b.in_scope(|| {
                cost::record_llm_call(
                    &LlmCall::new("unknown-model-xyz")
                        .input_tokens(10)
                        .output_tokens(10),
                )
                .unwrap()
            });
            drop(b);
            let mut c = SpanBuilder::new("agent.pqr.flow").start();
            let c3 = c.in_scope(|| {
                cost::record_llm_call(
                    &LlmCall::new("gemini-1.5-flash")
                        .input_tokens(1000)
                        .output_tokens(100)
                        .genai_span_name(),
                )
                .unwrap()
            });
            drop(c);
            (c1, c2, c3)
        })
    });
    let (c1, c2, c3) = costs;
    // 10000 × 0.15/1M + 5000 × 0.075/1M + 800 × 0.60/1M
    assert_eq!(c1.prompt, d("0.001875"));
    assert_eq!(c1.completion, d("0.00048"));
    assert_eq!(c1.total, d("0.002355"));
    assert!(!c2.complete);
    assert_eq!(c3.total, d("0.000105"));

    let a = spans.one("classifier.predict");
    let dec = |s: &chatobs_runtime::FinishedSpan, k: &str| s.attr(k).and_then(|v| v.as_decimal());
    assert_eq!(a.kind, chatobs_runtime::model::OtelKind::Client);
    assert_eq!(a.attr_str(vocab::GEN_AI_REQUEST_MODEL), Some("gpt-4o-mini"));
    assert_eq!(
        a.attr_str(vocab::GEN_AI_RESPONSE_MODEL),
        Some("gpt-4o-mini-2024-07-18")
    );
    assert_eq!(a.attr_str(vocab::GEN_AI_PROVIDER_NAME), Some("openai"));
    assert_eq!(a.attr_str(vocab::LLM_PROVIDER), Some("openai"));
    assert_eq!(a.attr_str(vocab::LLM_MODEL_NAME), Some("gpt-4o-mini"));
    assert_eq!(a.attr_str(vocab::GEN_AI_OPERATION_NAME), Some("chat"));
    let int = |k: &str| a.attr(k).and_then(|v| v.as_i64());
    assert_eq!(int(vocab::GEN_AI_USAGE_INPUT_TOKENS), Some(15_000));
    assert_eq!(int(vocab::GEN_AI_USAGE_OUTPUT_TOKENS), Some(800));
    assert_eq!(
        int(vocab::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
        Some(5_000)
    );
    assert_eq!(int(vocab::LLM_TOKEN_COUNT_PROMPT), Some(15_000));
    assert_eq!(int(vocab::LLM_TOKEN_COUNT_COMPLETION), Some(800));
    assert_eq!(int(vocab::LLM_TOKEN_COUNT_TOTAL), Some(15_800));
    assert_eq!(int(vocab::LLM_TOKEN_COUNT_PROMPT_CACHE_READ), Some(5_000));
    assert_eq!(dec(a, vocab::GEN_AI_USAGE_PRICE_USD), Some(d("0.002355")));
    assert_eq!(dec(a, vocab::LLM_COST_PROMPT), Some(d("0.001875")));
    assert_eq!(dec(a, vocab::LLM_COST_COMPLETION), Some(d("0.00048")));
    assert_eq!(dec(a, vocab::LLM_COST_TOTAL), Some(d("0.002355")));
    assert_eq!(dec(a, vocab::OPERATION_COST), Some(d("0.002355")));
    assert_eq!(a.attr(vocab::GEN_AI_USAGE_PRICE_UNKNOWN), None);
    assert_eq!(dec(a, vocab::CHAT_SESSION_COST_USD), Some(d("0.002355")));
    assert_eq!(
        dec(a, vocab::CHAT_SESSION_COST_LLM_USD),
        Some(d("0.002355"))
    );
    assert_eq!(
        dec(a, vocab::CHAT_SESSION_COST_WHATSAPP_USD),
        Some(Decimal::ZERO)
    );
    assert_eq!(
        a.attr(vocab::CHAT_SESSION_COST_INCOMPLETE)
            .and_then(|v| v.as_bool()),
        Some(false)
    );

    let b = spans.one("agent.sales.flow");
    assert_eq!(
        b.attr(vocab::GEN_AI_USAGE_PRICE_UNKNOWN)
            .and_then(|v| v.as_bool()),
        Some(true)
    );
    // No price is not a price of 0: the cost attributes are absent.
    for k in [
        vocab::GEN_AI_USAGE_PRICE_USD,
        vocab::LLM_COST_TOTAL,
        vocab::LLM_COST_PROMPT,
        vocab::OPERATION_COST,
    ] {
        assert_eq!(b.attr(k), None, "{k}");
    }
    assert_eq!(dec(b, vocab::CHAT_SESSION_COST_USD), Some(d("0.002355")));
    assert_eq!(
        b.attr(vocab::CHAT_SESSION_COST_INCOMPLETE)
            .and_then(|v| v.as_bool()),
        Some(true)
    );
    // The third span was renamed after the GenAI convention.
    let c = spans.one("chat gemini-1.5-flash");
    assert_eq!(c.kind, chatobs_runtime::model::OtelKind::Client);
    assert_eq!(dec(c, vocab::CHAT_SESSION_COST_USD), Some(d("0.00246")));

    let totals = cost::session_totals(&session);
    assert_eq!(totals.llm_usd, d("0.00246"));
    assert_eq!(totals.llm_calls, 3);
    assert!(totals.incomplete);
}

#[test]
fn no_span_no_session_still_prices_and_missing_model_is_an_error() {
    let c =
        cost::record_llm_call(&LlmCall::new("gpt-4o").input_tokens(1).output_tokens(1)).unwrap();
    assert_eq!(c.total, d("0.0000125"));
    let e = cost::record_llm_call(&LlmCall::declared().input_tokens(1)).unwrap_err();
    assert!(e.to_string().contains("no model"), "{e}");
}

#[test]
fn closing_a_conversation_emits_totals() {
    let session = ChatSession::from_exported_id("cost-llm-close-1").unwrap();
    let (totals, spans) = testing::capture(|| {
        session.in_scope(|| {
            let mut s = SpanBuilder::new("agent.sales.flow").start();
            s.in_scope(|| {
                cost::record_llm_call(
                    &LlmCall::new("gpt-4o").input_tokens(1000).output_tokens(100),
                )
                .unwrap();
                cost::close_conversation().unwrap()
            })
        })
    });
    assert_eq!(totals.llm_usd, d("0.0035"));
    let span = spans.one("agent.sales.flow");
    let ev = span
        .event(vocab::CONVERSATION_CLOSED)
        .expect("conversation.closed event");
    assert_eq!(
        ev.attr(vocab::CHAT_SESSION_COST_USD)
            .and_then(|v| v.as_decimal()),
        Some(d("0.0035"))
    );
    assert_eq!(
        ev.attr(vocab::CHAT_SESSION_LLM_CALLS)
            .and_then(|v| v.as_i64()),
        Some(1)
    );
    assert_eq!(
        ev.attr(vocab::CHAT_SESSION_MESSAGES_INBOUND)
            .and_then(|v| v.as_i64()),
        Some(0)
    );
    assert!(ev
        .attr(vocab::CHAT_SESSION_DURATION_MS)
        .and_then(|v| v.as_i64())
        .is_some());
    // Closed: a new session object with the same id starts from zero.
    let again = ChatSession::from_exported_id("cost-llm-close-1").unwrap();
    assert_eq!(cost::session_totals(&again).total_usd(), Decimal::ZERO);

    // Without a current span, the event gets a span of its own.
    let other = ChatSession::from_exported_id("cost-llm-close-2").unwrap();
    let (_, spans) = testing::capture(|| cost::close_session(&other));
    let s = spans.one(vocab::CONVERSATION_CLOSED);
    assert_eq!(s.session_id(), Some("cost-llm-close-2"));
    assert!(s.event(vocab::CONVERSATION_CLOSED).is_some());
}

#[test]
fn cost_config_is_validated_and_configure_loads_user_files() {
    let e = chatobs_runtime::Config::from_toml_str("[cost]\nstate_ttl_hours = 10\n", None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cost.state_ttl_hours"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prices.toml");
    std::fs::write(
        &path,
        "[[model]]\nname = \"acme-llm\"\nprovider = \"openai\"\nunit = \"token\"\nper = 1000000\ninput = \"1\"\noutput = \"2\"\nsource = \"contract\"\ndate = \"2026-01-01\"\n",
    )
    .unwrap();
    let cfg = chatobs_runtime::Config::from_toml_str(
        &format!(
            "[cost]\nllm_price_files = [{:?}]\n",
            path.display().to_string()
        ),
        None,
    )
    .unwrap();
    cost::configure(&cfg.cost).unwrap();
    let c = cost::record_llm_call(
        &LlmCall::new("acme-llm")
            .input_tokens(1_000_000)
            .output_tokens(1_000_000),
    )
    .unwrap();
    assert_eq!(c.total, d("3"));
    // The shipped table is still there.
    assert!(cost::engine().llm().resolve(None, "gpt-4o").is_some());
}

/// Every chat model of OpenAI, Anthropic, Gemini, Vertex AI, Mistral,
/// DeepSeek, xAI and Groq in tokencost 0.1.26's table is priced by chatobs
/// exactly as tokencost prices it (untiered calls, cached tokens included
/// where tokencost has a cached rate). The deliberate differences are
/// listed, each with its reason and its own test.
#[test]
fn every_chat_model_of_the_main_providers_equals_tokencost() {
    let script = r#"
import json
from tokencost.constants import TOKEN_COSTS
from tokencost import calculate_cost_by_tokens
P = {"openai": "openai", "anthropic": "anthropic", "gemini": "gcp.gemini",
     "vertex_ai-language-models": "gcp.vertex_ai", "mistral": "mistral_ai",
     "deepseek": "deepseek", "xai": "x_ai", "groq": "groq"}
for k, v in sorted(TOKEN_COSTS.items()):
    p = v.get("litellm_provider")
    if p not in P or v.get("mode") not in ("chat", "responses"):
        continue
    if v.get("input_cost_per_token") is None or v.get("output_cost_per_token") is None:
        continue
    row = {"key": k, "provider": P[p],
           "input": str(calculate_cost_by_tokens(1234, k, "input")),
           "output": str(calculate_cost_by_tokens(567, k, "output"))}
    if v.get("cache_read_input_token_cost") is not None:
        row["cached"] = str(calculate_cost_by_tokens(100, k, "cached"))
    print(json.dumps(row))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .output()
        .expect("python3 must be installed to compare with tokencost");
    assert!(
        out.status.success(),
        "tokencost failed (scripts/test installs tokencost 0.1.26): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = PriceTable::shipped();
    // Deliberate differences: chatobs' own rows replace LiteLLM's.
    let deliberate: &[(&str, &str)] = &[
        // Google cut Gemini 1.5 Pro's prices on 2024-10-01; LiteLLM's entry
        // in tokencost 0.1.26 still lists higher rates. chatobs' row
        // (data/llm_prices.toml) has Google's.
        (
            "gemini/gemini-1.5-pro",
            "Google's 2024-10-01 price cut, missing from LiteLLM's entry",
        ),
        // Vertex AI bills Gemini 1.0/1.5 per character (tested in
        // vertex_gemini_15_bills_per_character).
        ("gemini-1.5-flash", "per-character billing on Vertex AI"),
        ("gemini-1.5-flash-001", "per-character billing on Vertex AI"),
        ("gemini-1.5-flash-002", "per-character billing on Vertex AI"),
        ("gemini-1.5-pro", "per-character billing on Vertex AI"),
        ("gemini-1.5-pro-001", "per-character billing on Vertex AI"),
        ("gemini-1.5-pro-002", "per-character billing on Vertex AI"),
    ];
    let d = |s: &str| {
        Decimal::from_scientific(s)
            .or_else(|_| Decimal::from_str(s))
            .unwrap()
    };
    let (mut checked, mut skipped, mut mismatches) = (0, Vec::new(), Vec::<String>::new());
    let mut by_provider: std::collections::BTreeMap<String, usize> = Default::default();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = v["key"].as_str().unwrap();
        let provider = v["provider"].as_str().unwrap();
        let listed = deliberate.iter().find(|(m, _)| *m == key);
        if let Some((_, why)) =
            listed.filter(|_| provider != "gcp.gemini" || key.starts_with("gemini/"))
        {
            skipped.push(format!("{provider} {key}: {why}"));
            continue;
        }
        let cached = v.get("cached").map(|c| d(c.as_str().unwrap()));
        let usage = Usage {
            input_tokens: 1234 + if cached.is_some() { 100 } else { 0 },
            cached_tokens: if cached.is_some() { 100 } else { 0 },
            output_tokens: 567,
            ..Usage::default()
        };
        let c = table
            .cost(Some(provider), key, &usage)
            .unwrap_or_else(|e| panic!("{provider} {key}: {e}"));
        assert!(
            c.complete,
            "{provider} {key}: no complete price ({:?})",
            c.missing
        );
        let expected = d(v["input"].as_str().unwrap())
            + d(v["output"].as_str().unwrap())
            + cached.unwrap_or(Decimal::ZERO);
        if c.total.normalize() != expected.normalize() {
            mismatches.push(format!(
                "{provider} {key}: chatobs {} ({:?} from {:?}), tokencost {expected}",
                c.total, c.model, c.source
            ));
            continue;
        }
        checked += 1;
        *by_provider.entry(provider.to_owned()).or_default() += 1;
    }
    assert!(
        mismatches.is_empty(),
        "{} differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    eprintln!("tokencost oracle: {checked} models equal, {} deliberate differences: {skipped:?}; by provider {by_provider:?}", skipped.len());
    for p in [
        "openai",
        "anthropic",
        "gcp.gemini",
        "gcp.vertex_ai",
        "mistral_ai",
        "deepseek",
        "x_ai",
        "groq",
    ] {
        assert!(
            by_provider.get(p).copied().unwrap_or(0) > 0,
            "no {p} model checked"
        );
    }
    assert!(checked >= 250, "{checked}");
}

/// A price change applies by the call's date: o3 before and after OpenAI's
/// 2025-06-10 cut, from the same table.
#[test]
fn a_price_change_applies_by_the_calls_date() {
    let t = PriceTable::shipped();
    let at = |s: &str| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
    };
    let u = Usage {
        input_tokens: 1_000_000,
        cached_tokens: 500_000,
        output_tokens: 1_000_000,
        ..Usage::default()
    };
    // 0.5M x $10 + 0.5M x $2.50 + 1M x $40, per 1M.
    let before = t
        .cost_at(Some("openai"), "o3", &u, at("2025-06-09T23:59:59Z"))
        .unwrap();
    assert_eq!(before.total, d("46.25"));
    assert_eq!(before.model.as_deref(), Some("o3"));
    // 0.5M x $2 + 0.5M x $0.50 + 1M x $8.
    let after = t
        .cost_at(
            Some("openai"),
            "o3-2025-04-16",
            &u,
            at("2025-06-10T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(after.total, d("9.25"));
    // record_llm_call prices by LlmCall::at.
    let ((), spans) = testing::capture(|| {
        let mut s = SpanBuilder::new("llm.o3").start();
        s.in_scope(|| {
            cost::record_llm_call(
                &LlmCall::new("o3")
                    .provider("openai")
                    .input_tokens(1_000_000)
                    .output_tokens(0)
                    .at(at("2025-05-01T12:00:00Z")),
            )
            .unwrap();
        });
    });
    assert_eq!(
        spans
            .one("llm.o3")
            .attr(vocab::GEN_AI_USAGE_PRICE_USD)
            .and_then(|v| v.as_decimal()),
        Some(d("10"))
    );
}

/// Claude's long-context tier, hand-derived from Anthropic's pricing page:
/// above 200k prompt tokens the whole request is billed at $6 / $22.50
/// (cache read $0.60, write $7.50) per 1M tokens.
#[test]
fn claude_long_context_tier_by_hand() {
    let t = PriceTable::shipped();
    let u = Usage {
        input_tokens: 250_000,
        cached_tokens: 50_000,
        cache_write_tokens: 10_000,
        output_tokens: 1_000,
        ..Usage::default()
    };
    let c = t
        .cost(Some("anthropic"), "claude-sonnet-4-5-20250929", &u)
        .unwrap();
    // 190k x 6 + 50k x 0.60 + 10k x 7.50 + 1k x 22.50, per 1M
    // = 1.14 + 0.03 + 0.075 + 0.0225.
    assert_eq!(c.total, d("1.2675"));
    assert_eq!(c.tier_above_prompt_tokens, Some(200_000));
    // At 200k exactly the base rates apply: 140k x 3 + 50k x 0.30 + 10k x 3.75 + 1k x 15.
    let at = Usage {
        input_tokens: 200_000,
        ..u
    };
    assert_eq!(
        t.cost(Some("anthropic"), "claude-sonnet-4-5", &at)
            .unwrap()
            .total,
        d("0.4875")
    );
}
