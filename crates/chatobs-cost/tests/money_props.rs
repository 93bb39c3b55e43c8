//! Property tests: the money arithmetic, the decimal parser of price and
//! rate files, the file parsers and the pricing functions never panic, and
//! every figure they give is the exact mathematical value (checked against
//! arbitrary-precision integers), or an error / an incomplete cost when a
//! decimal cannot hold that value.
//!
//! The case count is proptest's default (256, a few seconds) unless
//! `PROPTEST_CASES` says otherwise, e.g. `PROPTEST_CASES=10000` for a long
//! local run.

use chatobs_cost::llm::{BillingUnit, ModelPrice, Rates, Tier, MAX_PER, MAX_PRICE_PER_UNIT_USD};
use chatobs_cost::money::{self, MoneyError};
use chatobs_cost::whatsapp::{Market, RateRow, MAX_RATE_PER_MESSAGE_USD};
use chatobs_cost::{timeline, Category, PriceTable, RateCard, StateBounds, Usage, WhatsAppPricer};
use num_bigint::BigInt;
use proptest::prelude::*;
use rust_decimal::Decimal;

// ---- the exact reference ----------------------------------------------------------------

/// An exact decimal: `m × 10^-s`.
#[derive(Clone, Debug)]
struct Big {
    m: BigInt,
    s: u32,
}

fn big(d: Decimal) -> Big {
    Big {
        m: BigInt::from(d.mantissa()),
        s: d.scale(),
    }
}

fn p10(k: u32) -> BigInt {
    BigInt::from(10u8).pow(k)
}

fn at_scale(b: &Big, s: u32) -> BigInt {
    &b.m * p10(s - b.s)
}

fn big_add(a: &Big, b: &Big) -> Big {
    let s = a.s.max(b.s);
    Big {
        m: at_scale(a, s) + at_scale(b, s),
        s,
    }
}

fn big_mul(a: &Big, b: &Big) -> Big {
    Big {
        m: &a.m * &b.m,
        s: a.s + b.s,
    }
}

fn big_le(a: &Big, b: &Big) -> bool {
    let s = a.s.max(b.s);
    at_scale(a, s) <= at_scale(b, s)
}

fn big_eq(a: &Big, b: &Big) -> bool {
    let s = a.s.max(b.s);
    at_scale(a, s) == at_scale(b, s)
}

/// Whether some decimal holds `b` exactly, and if not, which error says so.
fn representable(b: &Big) -> Result<(), MoneyError> {
    let (mut m, mut s) = (b.m.clone(), b.s);
    let ten = BigInt::from(10u8);
    let zero = BigInt::from(0u8);
    while s > 0 && (&m % &ten) == zero {
        m /= &ten;
        s -= 1;
    }
    let limit = BigInt::from(1u8) << 96u32;
    let mag = if m < zero { -m.clone() } else { m.clone() };
    if mag < limit && s <= 28 {
        return Ok(());
    }
    // Overflow when the integer part alone does not fit.
    let int = &mag / p10(s);
    Err(if int < limit {
        MoneyError::Precision
    } else {
        MoneyError::Overflow
    })
}

/// `result` is the exact value `want`, or the error says why no decimal holds it.
fn check(result: Result<Decimal, MoneyError>, want: &Big) -> Result<(), TestCaseError> {
    match (result, representable(want)) {
        (Ok(r), Ok(())) => prop_assert!(big_eq(&big(r), want), "{r} != {want:?}"),
        (Err(e), Err(w)) => prop_assert_eq!(e, w),
        (r, w) => prop_assert!(false, "got {r:?}, representable: {w:?}, exact {want:?}"),
    }
    Ok(())
}

// ---- generators ---------------------------------------------------------------------------

/// Any decimal: every mantissa and scale, with the extremes often.
fn any_decimal() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<bool>(),
            0u32..=28
        )
            .prop_map(|(lo, mid, hi, neg, s)| Decimal::from_parts(lo, mid, hi, neg, s)),
        (any::<i64>(), 0u32..=28).prop_map(|(m, s)| Decimal::new(m, s)),
        (0i64..1_000_000, 0u32..=12).prop_map(|(m, s)| Decimal::new(m, s)),
        Just(Decimal::MAX),
        Just(Decimal::MIN),
        Just(Decimal::ZERO),
        Just(Decimal::ONE),
        Just(Decimal::new(1, 28)),
        Just(Decimal::from_parts(u32::MAX, u32::MAX, u32::MAX, false, 28)),
    ]
}

/// A price: non-negative decimals, extremes included.
fn any_price() -> impl Strategy<Value = Decimal> {
    any_decimal().prop_map(|d| d.abs())
}

/// Counts: small, the accepted maximum, beyond it, and any u64.
fn any_count() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..10_000,
        0u64..=1_000_000_000,
        Just(1_000_000_000u64),
        Just(1_000_000_001u64),
        any::<u64>(),
    ]
}

// ---- money --------------------------------------------------------------------------------

proptest! {
    #[test]
    fn add_sub_mul_are_exact_or_say_why(a in any_decimal(), b in any_decimal()) {
        check(money::add(a, b), &big_add(&big(a), &big(b)))?;
        check(money::sub(a, b), &big_add(&big(a), &big(-b)))?;
        check(money::mul(a, b), &big_mul(&big(a), &big(b)))?;
    }

    #[test]
    fn mul_units_is_exact_or_says_why(n in any::<u64>(), rate in any_decimal()) {
        let want = big_mul(&Big { m: BigInt::from(n), s: 0 }, &big(rate));
        check(money::mul_units(n, rate), &want)?;
    }

    #[test]
    fn div_exact_is_exact_or_refused(a in any_decimal(), n in prop_oneof![1u64..=1000, Just(1_000_000u64), any::<u64>()]) {
        match money::div_exact(a, n) {
            Ok(q) => {
                let back = big_mul(&big(q), &Big { m: BigInt::from(n), s: 0 });
                prop_assert!(big_eq(&back, &big(a)), "{q} × {n} != {a}");
            }
            Err(_) => {
                // No decimal q (scale 0..=28, 96-bit mantissa) with q × n = a exactly.
                let a = big(a);
                let den = BigInt::from(n) * p10(a.s);
                let exists = (0u32..=28).any(|s| {
                    let num = &a.m * p10(s);
                    (&num % &den) == BigInt::from(0u8)
                        && representable(&Big { m: &num / &den, s }).is_ok()
                });
                prop_assert!(!exists, "{a:?} / {n} has an exact decimal quotient");
            }
        }
    }

    #[test]
    fn sum_is_exact_or_says_why(items in proptest::collection::vec(any_decimal(), 0..8)) {
        let got = money::sum(items.iter().copied());
        // The reference: exact partial sums, stopping at the first that no decimal holds.
        let mut acc = Big { m: BigInt::from(0u8), s: 0 };
        let mut want: Result<(), MoneyError> = Ok(());
        for d in &items {
            acc = big_add(&acc, &big(*d));
            if let Err(e) = representable(&acc) {
                want = Err(e);
                break;
            }
        }
        match (got, want) {
            (Ok(r), Ok(())) => prop_assert!(big_eq(&big(r), &acc)),
            (Err(e), Err(w)) => prop_assert_eq!(e, w),
            (g, w) => prop_assert!(false, "{g:?} vs {w:?}"),
        }
    }
}

// ---- the decimal parser -------------------------------------------------------------------

/// A number as a file may write it: sign, digits, point, exponent, underscores.
fn number_text() -> impl Strategy<Value = (String, Big)> {
    (
        prop_oneof![Just(""), Just("+"), Just("-")],
        "[0-9]{0,35}",
        proptest::option::of("[0-9]{0,35}"),
        proptest::option::of(-60i32..60),
        any::<bool>(),
    )
        .prop_filter("needs a digit", |(_, i, f, _, _)| {
            !i.is_empty() || f.as_deref().is_some_and(|f| !f.is_empty())
        })
        .prop_map(|(sign, int, frac, exp, upper)| {
            let mut text = format!("{sign}{int}");
            if let Some(f) = &frac {
                text.push('.');
                text.push_str(f);
            }
            if let Some(e) = exp {
                text.push(if upper { 'E' } else { 'e' });
                text.push_str(&e.to_string());
            }
            let digits = format!("{int}{}", frac.as_deref().unwrap_or(""));
            let mut m: BigInt = digits.parse().unwrap_or_default();
            if sign == "-" {
                m = -m;
            }
            let scale = frac.as_deref().map_or(0, str::len) as i64 - i64::from(exp.unwrap_or(0));
            let value = if scale >= 0 {
                Big { m, s: scale as u32 }
            } else {
                Big {
                    m: m * p10((-scale) as u32),
                    s: 0,
                }
            };
            (text, value)
        })
}

proptest! {
    #[test]
    fn parse_decimal_never_panics(s in "\\PC{0,64}") {
        let _ = money::parse_decimal(&s);
    }

    #[test]
    fn parse_decimal_never_panics_on_numberish_text(s in "[-+0-9._eE ]{0,48}") {
        if let Ok(d) = money::parse_decimal(&s) {
            // Whatever was accepted reads back the same.
            prop_assert_eq!(money::parse_decimal(&d.to_string()), Ok(d));
        }
    }

    #[test]
    fn parse_decimal_is_exact_or_refuses((text, value) in number_text()) {
        let got = money::parse_decimal(&text);
        match (got, representable(&value)) {
            (Ok(d), Ok(())) => prop_assert!(big_eq(&big(d), &value), "{text}: {d}"),
            (Err(e), Err(MoneyError::Overflow)) => prop_assert!(e.contains("too large"), "{text}: {e}"),
            (Err(e), Err(MoneyError::Precision)) => prop_assert!(e.contains("more digits"), "{text}: {e}"),
            (g, w) => prop_assert!(false, "{text}: {g:?}, representable: {w:?}"),
        }
    }

    #[test]
    fn parse_decimal_reads_every_decimal_back(d in any_decimal()) {
        prop_assert_eq!(money::parse_decimal(&d.to_string()), Ok(d));
        prop_assert_eq!(money::parse_decimal(&format!("{d:e}")), Ok(d));
    }
}

// ---- the price-file and rate-file parsers ---------------------------------------------------

/// Decimal text, any of: a real decimal, a number-like string, or garbage.
fn price_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any_decimal().prop_map(|d| format!("\"{d}\"")),
        any_decimal().prop_map(|d| format!("\"{d:e}\"")),
        number_text().prop_map(|(t, _)| format!("\"{t}\"")),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        "\\PC{0,12}".prop_map(|s| format!("{s:?}")),
        Just("[1, 2]".to_owned()),
        Just("{ a = 1 }".to_owned()),
        Just("true".to_owned()),
        Just("nan".to_owned()),
    ]
}

/// The price of `text` per unit as the file rules want it, if valid.
fn expected_per_unit(text: &str, per: u64) -> Option<Decimal> {
    let d = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => money::parse_decimal(inner).ok()?,
        None => Decimal::from(text.parse::<i64>().ok()?),
    };
    if (d.is_sign_negative() && !d.is_zero()) || !(1..=MAX_PER).contains(&per) {
        return None;
    }
    let u = money::div_exact(d, per).ok()?;
    (u <= MAX_PRICE_PER_UNIT_USD).then_some(u)
}

proptest! {
    #[test]
    fn price_files_parse_exactly_or_say_which_key(
        input in price_text(),
        output in price_text(),
        per in prop_oneof![Just(1u64), Just(1000u64), Just(1_000_000u64), any::<u64>()],
        usage in (any_count(), any_count()),
    ) {
        let per_toml = if per > i64::MAX as u64 { i64::MAX as u64 } else { per };
        let doc = format!(
            "[[model]]\nname = \"m\"\nprovider = \"openai\"\nunit = \"token\"\nper = {per_toml}\ninput = {input}\noutput = {output}\nsource = \"s\"\ndate = \"2026-01-01\"\n"
        );
        let mut t = PriceTable::default();
        let r = t.merge_toml(&doc, None);
        let want = (expected_per_unit(&input, per_toml), expected_per_unit(&output, per_toml));
        match (r, want) {
            (Ok(()), (Some(i), Some(o))) => {
                let m = t.resolve(None, "m").unwrap();
                prop_assert_eq!(m.base.input, i);
                prop_assert_eq!(m.base.output, o);
                // Priced from a file: exact, or (only) too many digits.
                let usage = Usage::tokens(usage.0, usage.1);
                if let Ok(c) = t.cost(None, "m", &usage) {
                    let in_prod = big_mul(&n(usage.input_tokens), &big(i));
                    let out_prod = big_mul(&n(usage.output_tokens), &big(o));
                    let want = big_add(&in_prod, &out_prod);
                    if c.complete {
                        prop_assert!(big_eq(&big(c.total), &want));
                    } else {
                        prop_assert!(c.missing.is_empty() && !c.overflow.is_empty());
                        let figs = [&in_prod, &out_prod, &want];
                        prop_assert!(figs.iter().any(|f| representable(f).is_err()));
                        prop_assert!(figs.iter().all(|f| representable(f) != Err(MoneyError::Overflow)));
                    }
                }
            }
            (Err(e), (i, o)) if i.is_none() || o.is_none() => {
                let e = e.to_string();
                prop_assert!(
                    e.contains("model[0] (m).") || e.starts_with("line "),
                    "{e}"
                );
            }
            (r, w) => prop_assert!(false, "{doc}: {r:?} vs {w:?}"),
        }
    }

    #[test]
    fn arbitrary_documents_never_panic(doc in "(\\[|\\]|\\{|\\}|=|\"|\n|model|market|rate|name|per|input|tier|1|-|\\.|e|,| |#)*") {
        let _ = PriceTable::default().merge_toml(&doc, None);
        let _ = RateCard::empty().merge_toml(&doc, None);
    }

    #[test]
    fn rate_files_parse_exactly_or_say_which_key(rate in price_text()) {
        let doc = format!(
            "[[market]]\nname = \"X\"\ncalling_codes = [\"57\"]\n  [[market.rate]]\n  effective = \"2024-10-01\"\n  marketing = {rate}\n  source = \"s\"\n  date = \"2025-11-21\"\n"
        );
        let mut card = RateCard::empty();
        let want = expected_per_unit(&rate, 1).filter(|d| *d <= MAX_RATE_PER_MESSAGE_USD);
        match (card.merge_toml(&doc, None), want) {
            (Ok(()), Some(d)) => prop_assert_eq!(card.markets[0].rates[0].rates[0].1, d),
            (Err(e), None) => {
                let e = e.to_string();
                prop_assert!(e.contains("market[0] (X).rate[0].marketing: ") || e.starts_with("line "), "{e}");
            }
            (r, w) => prop_assert!(false, "{rate}: {r:?} vs {w:?}"),
        }
    }
}

// ---- pricing with arbitrary prices (a table built in code) -----------------------------------

fn rates() -> impl Strategy<Value = Rates> {
    (
        any_price(),
        any_price(),
        proptest::option::of(any_price()),
        proptest::option::of(any_price()),
        proptest::option::of(any_price()),
    )
        .prop_map(
            |(input, output, cached_input, cache_write, reasoning)| Rates {
                input,
                output,
                cached_input,
                cache_write,
                reasoning,
            },
        )
}

fn usage() -> impl Strategy<Value = Usage> {
    (
        any_count(),
        any_count(),
        any_count(),
        any_count(),
        any_count(),
        proptest::option::of((any_count(), any_count())),
    )
        .prop_map(|(input, output, cached, write, reasoning, chars)| Usage {
            input_tokens: input,
            output_tokens: output,
            // Often valid: parts of the totals.
            cached_tokens: if cached % 3 == 0 {
                cached
            } else {
                cached.min(input / 2)
            },
            cache_write_tokens: if write % 3 == 0 {
                write
            } else {
                write.min(input / 2)
            },
            reasoning_tokens: if reasoning % 3 == 0 {
                reasoning
            } else {
                reasoning.min(output)
            },
            input_chars: chars.map(|c| c.0),
            output_chars: chars.map(|c| c.1),
        })
}

fn n(x: u64) -> Big {
    Big {
        m: BigInt::from(x),
        s: 0,
    }
}

proptest! {
    #[test]
    fn pricing_never_panics_and_complete_means_exact(
        base in rates(),
        tier in proptest::option::of((any::<u64>(), rates())),
        unit in prop_oneof![Just(BillingUnit::Token), Just(BillingUnit::Character)],
        usage in usage(),
    ) {
        let mut table = PriceTable::default();
        let tiers: Vec<Tier> = tier
            .map(|(above, rates)| Tier { above_prompt_tokens: above, rates })
            .into_iter()
            .collect();
        table.insert(ModelPrice {
            name: "m".into(),
            provider: "openai".into(),
            aliases: vec![],
            unit,
            base: base.clone(),
            tiers: tiers.clone(),
            source: "s".into(),
            date: "2026-01-01".into(),
            effective: None,
        });
        let Ok(c) = table.cost(None, "m", &usage) else {
            prop_assert!(usage.validate().is_err());
            return Ok(());
        };
        prop_assert!(usage.validate().is_ok());
        prop_assert_eq!(c.complete, c.missing.is_empty() && c.overflow.is_empty());
        // The rates used: the tier's when chosen.
        let r = match c.tier_above_prompt_tokens {
            Some(_) => &tiers[0].rates,
            None => &base,
        };
        let zero = Big { m: BigInt::from(0u8), s: 0 };
        let (input, cached, write, output) = match unit {
            BillingUnit::Token => {
                let uncached = usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens;
                let output = match r.reasoning {
                    Some(rr) => big_add(
                        &big_mul(&n(usage.output_tokens - usage.reasoning_tokens), &big(r.output)),
                        &big_mul(&n(usage.reasoning_tokens), &big(rr)),
                    ),
                    None => big_mul(&n(usage.output_tokens), &big(r.output)),
                };
                (
                    big_mul(&n(uncached), &big(r.input)),
                    r.cached_input.filter(|_| usage.cached_tokens > 0).map_or(zero.clone(), |x| big_mul(&n(usage.cached_tokens), &big(x))),
                    r.cache_write.filter(|_| usage.cache_write_tokens > 0).map_or(zero.clone(), |x| big_mul(&n(usage.cache_write_tokens), &big(x))),
                    output,
                )
            }
            BillingUnit::Character => match (usage.input_chars, usage.output_chars) {
                (Some(i), Some(o)) => (
                    big_mul(&n(i), &big(r.input)),
                    zero.clone(),
                    zero.clone(),
                    big_mul(&n(o), &big(r.output)),
                ),
                _ => (zero.clone(), zero.clone(), zero.clone(), zero.clone()),
            },
        };
        let prompt = big_add(&big_add(&input, &cached), &write);
        let total = big_add(&prompt, &output);
        if c.complete {
            prop_assert!(big_eq(&big(c.input), &input));
            prop_assert!(big_eq(&big(c.cached_input), &cached));
            prop_assert!(big_eq(&big(c.cache_write), &write));
            prop_assert!(big_eq(&big(c.output), &output));
            prop_assert!(big_eq(&big(c.prompt), &prompt));
            prop_assert!(big_eq(&big(c.total), &total));
        } else {
            // Only a figure no decimal holds is reported as overflowing.
            for (name, value) in [
                ("input", &input),
                ("cached_input", &cached),
                ("cache_write", &write),
            ] {
                if c.overflow.contains(&name) {
                    prop_assert!(representable(value).is_err(), "{name}: {value:?}");
                }
            }
            if c.overflow.is_empty() {
                // Incomplete for a missing price only: what was priced is exact.
                prop_assert!(!c.missing.is_empty());
                prop_assert!(big_eq(&big(c.total), &total));
            }
        }
        // The figures are lower bounds of the exact ones (prices are non-negative).
        prop_assert!(big_le(&big(c.total), &total), "{} > {total:?}", c.total);
    }

    #[test]
    fn a_timeline_total_is_exact_or_incomplete(
        prices in proptest::collection::vec(any_price(), 1..4),
        picks in proptest::collection::vec(0usize..4, 0..12),
    ) {
        // One market, the three template categories at arbitrary rates.
        let cats = [Category::Marketing, Category::Utility, Category::Authentication];
        let mut card = RateCard::empty();
        card.markets.push(Market {
            name: "X".into(),
            calling_codes: vec!["57".into()],
            countries: Vec::new(),
            rates: vec![RateRow {
                effective: 0,
                rates: cats.iter().zip(prices.iter().cycle()).map(|(c, p)| (*c, *p)).collect(),
                source: "s".into(),
                date: "2025-01-01".into(),
                note: None,
            }],
            volume_tiers: vec![],
        });
        let pricer = WhatsAppPricer::new(card, StateBounds::default());
        let names = ["marketing", "utility", "authentication", "marketing"];
        let text: String = picks
            .iter()
            .enumerate()
            .map(|(i, p)| format!(
                "{{\"at\": \"2025-07-{:02}T10:00:00Z\", \"business\": \"+5716000000\", \"user\": \"+573001234567\", \"dir\": \"out\", \"template\": \"{}\"}}\n",
                i + 1, names[*p]
            ))
            .collect();
        let out = timeline::replay(&pricer, &text).unwrap();
        let (lines, total) = out.split_at(out.len() - 1);
        let mut want = Big { m: BigInt::from(0u8), s: 0 };
        for l in lines {
            let p: Decimal = money::parse_decimal(l["price_usd"].as_str().unwrap()).unwrap();
            want = big_add(&want, &big(p));
        }
        let got = money::parse_decimal(total[0]["total_usd"].as_str().unwrap()).unwrap();
        if total[0]["complete"] == true {
            prop_assert!(big_eq(&big(got), &want));
        } else {
            prop_assert_eq!(total[0]["incomplete_reason"].as_str(), Some("overflow:total_usd"));
        }
    }
}
