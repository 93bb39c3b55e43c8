//! Property-based fuzzing of the core's parsers of outside input (issue 11):
//! the span-file line parser and reader (`report`), W3C `traceparent` and
//! `baggage` (`context::w3c`), `config::percent_decode`, and the config
//! loader (`parse_table`, `section_from`, each section's `apply_env` and
//! `validate`).
//!
//! Coverage-guided fuzzing (cargo-fuzz) needs a nightly toolchain; these are
//! proptest properties instead, each over arbitrary input and over
//! generators near the valid grammar (valid values with mutations, seeds
//! from `tests/corpus/`). Properties: never panic; accepted input follows
//! the spec (checked against an independent reference implementation where
//! one is short enough) or round-trips.
//!
//! Cases per property: `PROPTEST_CASES` when set, else a default that keeps
//! the whole file at a few seconds in a debug build. A long run:
//!
//! ```text
//! PROPTEST_CASES=100000 cargo test -p chatobs-core --test fuzz_parsers --release
//! ```
//!
//! A failing case is saved to `tests/corpus/fuzz_parsers.proptest-regressions`
//! and replayed first on every run; keep it there, and add it to the seed
//! corpus or to the regression vectors below once fixed.

use chatobs_core::config::{
    parse_table, percent_decode, section_from, Env, Errors, ExporterConfig, LogsConfig,
    RedactionConfig, SamplingConfig, Section, ServiceConfig, SessionConfig,
};
use chatobs_core::context::{baggage_get, parse_traceparent, Context, BAGGAGE_MAX_BYTES};
use chatobs_core::export::file::span_to_json;
use chatobs_core::ids::{SpanId, TraceId};
use chatobs_core::model::{Event, FinishedSpan, OtelKind, Status, Value};
use chatobs_core::report::{parse_span_line, read_jsonl_from, read_jsonl_lossy, write_waterfall};
use chatobs_core::vocab;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

const TRACEPARENT_CORPUS: &str = include_str!("corpus/traceparent.txt");
const BAGGAGE_CORPUS: &str = include_str!("corpus/baggage.txt");
const SPANS_CORPUS: &str = include_str!("corpus/spans.jsonl");
const CONFIG_CORPUS: &[&str] = &[
    include_str!("corpus/config/broken_types.toml"),
    include_str!("corpus/config/broken_syntax.toml"),
    include_str!("corpus/config/dotted.toml"),
    include_str!("../../../config/observability.toml"),
];

/// A phone number planted in input: no error message may repeat it.
const PHONE: &str = "573001234567";

/// `PROPTEST_CASES` when set, else `default`.
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/corpus/fuzz_parsers.proptest-regressions"
        )))),
        ..ProptestConfig::default()
    }
}

fn corpus_lines(text: &'static str) -> Vec<&'static str> {
    text.lines().filter(|l| !l.starts_with('#')).collect()
}

// ---- mutations ---------------------------------------------------------------------------------

/// Characters that matter to these grammars, and a few that break UTF-8
/// assumptions (multi-byte, NUL, controls).
const INTERESTING: &[char] = &[
    '-', '0', '1', 'f', 'F', 'a', 'A', 'g', '+', ' ', '\t', '\n', '\r', '%', ',', ';', '=', '"',
    '\'', '\\', '{', '}', '[', ']', ':', '.', '#', 'é', '€', '😀', '\0', '\u{7f}', '\u{feff}',
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Insert(usize, char),
    Replace(usize, char),
    /// Repeat a slice (`at`, `len`) in place.
    Repeat(usize, usize),
    Truncate(usize),
    Upper(usize),
}

fn a_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(INTERESTING),
        1 => any::<char>(),
    ]
}

fn a_mutation() -> impl Strategy<Value = Mutation> {
    let pos = any::<usize>();
    prop_oneof![
        pos.prop_map(Mutation::Delete),
        (pos, a_char()).prop_map(|(p, c)| Mutation::Insert(p, c)),
        (pos, a_char()).prop_map(|(p, c)| Mutation::Replace(p, c)),
        (pos, 1usize..40).prop_map(|(p, n)| Mutation::Repeat(p, n)),
        pos.prop_map(Mutation::Truncate),
        pos.prop_map(Mutation::Upper),
    ]
}

fn mutate(s: &str, muts: &[Mutation]) -> String {
    let mut c: Vec<char> = s.chars().collect();
    for m in muts {
        let at = |p: usize, n: usize| if n == 0 { 0 } else { p % n };
        match *m {
            Mutation::Delete(p) if !c.is_empty() => {
                let i = at(p, c.len());
                c.remove(i);
            }
            Mutation::Insert(p, ch) => {
                let i = at(p, c.len() + 1);
                c.insert(i, ch);
            }
            Mutation::Replace(p, ch) if !c.is_empty() => {
                let i = at(p, c.len());
                c[i] = ch;
            }
            Mutation::Repeat(p, n) if !c.is_empty() => {
                let i = at(p, c.len());
                let end = (i + n).min(c.len());
                let piece: Vec<char> = c[i..end].to_vec();
                c.splice(end..end, piece);
            }
            Mutation::Truncate(p) => {
                let i = at(p, c.len() + 1);
                c.truncate(i);
            }
            Mutation::Upper(p) if !c.is_empty() => {
                let i = at(p, c.len());
                c[i] = c[i].to_ascii_uppercase();
            }
            _ => {}
        }
    }
    c.into_iter().collect()
}

// ---- traceparent -------------------------------------------------------------------------------

/// The W3C Trace Context rules, written independently of `parse_traceparent`:
/// fixed positions, lower-case hex (`HEXDIGLC`), version `ff` invalid,
/// version 00 exactly 55 characters, a later version's fields followed by
/// the end or `-`, trace id and parent id not all zero.
fn spec_traceparent(v: &str) -> Option<(u128, u64, bool)> {
    let b = v.trim().as_bytes();
    let lc = |s: &[u8]| s.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    if b.len() < 55 || !lc(&b[0..2]) || &b[0..2] == b"ff" {
        return None;
    }
    if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    if !lc(&b[3..35]) || !lc(&b[36..52]) || !lc(&b[53..55]) {
        return None;
    }
    if &b[0..2] == b"00" && b.len() != 55 {
        return None;
    }
    if b.len() > 55 && b[55] != b'-' {
        return None;
    }
    let hex = |s: &[u8]| {
        s.iter().fold(0u128, |acc, c| {
            acc * 16 + (*c as char).to_digit(16).unwrap_or(0) as u128
        })
    };
    let (trace, span, flags) = (hex(&b[3..35]), hex(&b[36..52]) as u64, hex(&b[53..55]));
    if trace == 0 || span == 0 {
        return None;
    }
    Some((trace, span, flags & 1 == 1))
}

fn check_traceparent(v: &str) -> Result<(), TestCaseError> {
    let got = parse_traceparent(v).map(|(t, s, f)| (t.0, s.0, f));
    prop_assert_eq!(got, spec_traceparent(v), "traceparent {:?}", v);
    if let Some((t, s, sampled)) = got {
        // What we propagate onwards is the canonical version-00 form.
        let ctx = Context::extract(|k| (k == "traceparent").then_some(v));
        let again = ctx.traceparent().expect("a span");
        prop_assert_eq!(again, format!("00-{t:032x}-{s:016x}-{:02x}", sampled as u8));
    }
    Ok(())
}

fn a_valid_traceparent() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(0u8), 0u8..=0xfe],
        any::<u128>(),
        any::<u64>(),
        any::<u8>(),
        prop_oneof![Just(String::new()), "-[a-z0-9-]{0,20}"],
    )
        .prop_map(|(ver, t, s, f, tail)| {
            let tail = if ver == 0 { String::new() } else { tail };
            format!("{ver:02x}-{t:032x}-{s:016x}-{f:02x}{tail}")
        })
}

#[test]
fn traceparent_corpus_vectors() {
    for l in corpus_lines(TRACEPARENT_CORPUS) {
        let (want, v) = l.split_once(' ').unwrap_or((l, ""));
        let got = parse_traceparent(v);
        match want {
            "accept" => assert!(got.is_some(), "should accept {v:?}"),
            "reject" => assert!(got.is_none(), "should reject {v:?}"),
            other => panic!("corpus line {l:?}: {other}"),
        }
        check_traceparent(v).unwrap();
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Arbitrary text: never panics, and agrees with the spec.
    #[test]
    fn traceparent_arbitrary(v in any::<String>()) {
        check_traceparent(&v)?;
    }

    /// Valid headers with one mutation (and corpus seeds with a few).
    #[test]
    fn traceparent_mutated(
        valid in a_valid_traceparent(),
        seed in prop::sample::select(corpus_lines(TRACEPARENT_CORPUS)),
        one in a_mutation(),
        more in prop::collection::vec(a_mutation(), 1..4),
    ) {
        check_traceparent(&valid)?;
        check_traceparent(&mutate(&valid, &[one]))?;
        let seed = seed.split_once(' ').map_or(seed, |(_, v)| v);
        check_traceparent(&mutate(seed, &more))?;
    }

    /// Any id pair goes out and comes back.
    #[test]
    fn traceparent_round_trip(t in 1u128.., s in 1u64.., sampled in any::<bool>()) {
        let mut ctx = Context::default();
        ctx.trace_id = TraceId(t);
        ctx.span_id = SpanId(s);
        ctx.sampled = sampled;
        let mut map = HashMap::new();
        ctx.inject_map(&mut map);
        let back = Context::extract_map(&map);
        prop_assert_eq!((back.trace_id, back.span_id, back.sampled, back.remote), (TraceId(t), SpanId(s), sampled, true));
    }
}

// ---- baggage and percent-decoding --------------------------------------------------------------

/// W3C `baggage-octet`: what a value may hold unescaped.
fn baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// Percent-encodes `s`: every byte that must be (and `%`), plus those `also` picks.
fn encode(s: &str, also: &[bool], upper: bool) -> String {
    let mut out = String::new();
    for (i, b) in s.bytes().enumerate() {
        let pick = also.get(i % also.len().max(1)).copied().unwrap_or(false);
        if !baggage_octet(b) || b == b'%' || pick {
            if upper {
                out.push_str(&format!("%{b:02X}"));
            } else {
                out.push_str(&format!("%{b:02x}"));
            }
        } else {
            out.push(b as char);
        }
    }
    out
}

fn a_token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9!#$&'*+.^_`|~-]{1,16}"
}

#[test]
fn baggage_corpus_vectors() {
    for l in corpus_lines(BAGGAGE_CORPUS) {
        let mut f = l.split('\t');
        let (key, header, want) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        let got = baggage_get(header, key);
        let want = (want != "NONE").then_some(want);
        assert_eq!(got.as_deref(), want, "{key:?} in {header:?}");
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Arbitrary headers and keys: never panics; oversized headers are refused.
    #[test]
    fn baggage_arbitrary(header in any::<String>(), key in prop_oneof![a_token(), any::<String>()]) {
        let got = baggage_get(&header, &key);
        if header.len() > BAGGAGE_MAX_BYTES {
            prop_assert!(got.is_none());
        }
        if let Some(v) = got {
            prop_assert!(!v.is_empty());
        }
        let _ = Context::extract(|k| (k == "baggage").then_some(header.as_str()));
    }

    /// Corpus headers with a few mutations: never panics.
    #[test]
    fn baggage_mutated(
        seed in prop::sample::select(corpus_lines(BAGGAGE_CORPUS)),
        muts in prop::collection::vec(a_mutation(), 1..5),
    ) {
        let mut f = seed.split('\t');
        let (key, header) = (f.next().unwrap_or(""), f.next().unwrap_or(""));
        let _ = baggage_get(&mutate(header, &muts), key);
        let _ = baggage_get(header, &mutate(key, &muts));
    }

    /// A percent-encoded value among other members comes back decoded.
    #[test]
    fn baggage_values_are_percent_decoded(
        value in any::<String>(),
        also in prop::collection::vec(any::<bool>(), 0..8),
        upper in any::<bool>(),
        key in a_token(),
        others in prop::collection::vec((a_token(), "[a-z0-9%]{0,10}"), 0..6),
        at in any::<usize>(),
        prop in prop_oneof![Just(String::new()), Just(";p=1".to_owned()), Just(" ; flag".to_owned())],
        ows in prop_oneof![Just(""), Just(" "), Just("\t ")],
    ) {
        let mut members: Vec<String> = others
            .iter()
            .filter(|(k, _)| *k != key)
            .map(|(k, v)| format!("{k}={}", v.replace('%', "%25")))
            .collect();
        let mine = format!("{key}{ows}={ows}{}{ows}{prop}", encode(&value, &also, upper));
        let i = at % (members.len() + 1);
        members.insert(i, mine);
        let header = members.join(&format!("{ows},{ows}"));
        let got = baggage_get(&header, &key);
        let want = (!value.is_empty() && header.len() <= BAGGAGE_MAX_BYTES).then(|| value.clone());
        prop_assert_eq!(got, want, "header {:?}", header);
    }

    /// `config::percent_decode` inverts percent-encoding of any UTF-8 string.
    #[test]
    fn config_percent_decode_inverts_encoding(
        value in any::<String>(),
        also in prop::collection::vec(any::<bool>(), 0..8),
        upper in any::<bool>(),
    ) {
        prop_assert_eq!(percent_decode(&encode(&value, &also, upper)), Some(value.clone()));
        // Escaping every byte works too.
        prop_assert_eq!(percent_decode(&encode(&value, &[true], !upper)), Some(value));
    }

    /// Arbitrary text: never panics, and agrees with RFC 3986 decoding (an
    /// escape is `%` and two hex digits; the bytes must be UTF-8).
    #[test]
    fn config_percent_decode_arbitrary(s in prop_oneof![any::<String>(), "[%0-9a-fA-F+gé-]{0,12}"]) {
        prop_assert_eq!(percent_decode(&s), rfc3986_decode(&s), "{:?}", s);
        let bag = format!("k={s}");
        let got = baggage_get(&bag, "k");
        let want = rfc3986_decode(s.trim()).filter(|v| !v.is_empty() && !s.contains([',', ';']));
        if !s.contains([',', ';']) && !s.trim().is_empty() {
            prop_assert_eq!(got, want, "{:?}", bag);
        }
    }
}

/// Percent-decoding written from RFC 3986 (2.1), independently of the code under test.
fn rfc3986_decode(s: &str) -> Option<String> {
    let mut out = Vec::new();
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hi = it.next().filter(u8::is_ascii_hexdigit)?;
            let lo = it.next().filter(u8::is_ascii_hexdigit)?;
            let v = |c: u8| match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => c - b'A' + 10,
            };
            out.push(v(hi) << 4 | v(lo));
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

// ---- span file lines ---------------------------------------------------------------------------

fn check_line_reason(line: &str) -> Result<Option<FinishedSpan>, TestCaseError> {
    match parse_span_line(line) {
        Ok(s) => Ok(Some(s)),
        Err(reason) => {
            prop_assert!(
                !reason.contains(PHONE),
                "reason quotes the line: {}",
                reason
            );
            prop_assert!(reason.len() <= 160, "reason too long: {}", reason);
            Ok(None)
        }
    }
}

fn check_file(bytes: &[u8]) -> Result<(), TestCaseError> {
    let read = read_jsonl_lossy(bytes);
    prop_assert_eq!(read.lines, read.spans.len() + read.skipped);
    prop_assert_eq!(read.skipped > 0, read.first_bad.is_some());
    if let Some(b) = &read.first_bad {
        prop_assert!(!b.reason.contains(PHONE), "{}", b.reason);
    }
    let chunked = read_jsonl_from(std::io::BufReader::with_capacity(5, bytes)).unwrap();
    prop_assert_eq!(&chunked, &read);
    let mut sink = Vec::new();
    write_waterfall(&mut sink, &read.spans, None).unwrap();
    Ok(())
}

/// Any JSON value, nested a little.
fn a_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value as J;
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        any::<i64>().prop_map(J::from),
        any::<u64>().prop_map(J::from),
        any::<f64>().prop_map(J::from),
        any::<String>().prop_map(J::String),
        Just(J::String(PHONE.into())),
        "[0-9a-f]{16}".prop_map(J::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(J::Array),
            prop::collection::vec(("[a-z_.]{1,12}", inner), 0..6)
                .prop_map(|kv| J::Object(kv.into_iter().collect())),
        ]
    })
}

/// Whether `s` is an id of `len` hex digits, not zero (as `TraceId::from_hex`
/// reads them: `from_str_radix`, so upper case and a leading `+` pass).
fn id_ok(s: &str, len: usize) -> bool {
    s.len() == len && u128::from_str_radix(s, 16).is_ok_and(|v| v != 0)
}

/// A field's value and whether the parser must take it: (value or absent, valid).
type Field = (Option<serde_json::Value>, bool);

fn an_id(hex_len: usize) -> impl Strategy<Value = Field> {
    use serde_json::Value as J;
    let valid = format!("[0-9a-f]{{{hex_len}}}");
    let upper = format!("[0-9A-F]{{{hex_len}}}");
    let zeros = "0".repeat(hex_len);
    prop_oneof![
        4 => proptest::string::string_regex(&valid).unwrap().prop_map(|s| {
            let ok = s.bytes().any(|b| b != b'0');
            (Some(J::String(s)), ok)
        }),
        1 => proptest::string::string_regex(&upper).unwrap().prop_map(|s| {
            let ok = s.bytes().any(|b| b != b'0');
            (Some(J::String(s)), ok)
        }),
        1 => Just((Some(J::String(zeros)), false)),
        1 => Just((Some(J::String(PHONE.into())), false)),
        1 => "[0-9a-g+]{0,40}".prop_map(move |s| {
            let ok = id_ok(&s, hex_len);
            (Some(J::String(s)), ok)
        }),
        1 => a_json().prop_map(|v| {
            let ok = false;
            match v {
                J::String(_) => (Some(J::Null), ok),
                v => (Some(v), ok),
            }
        }),
        1 => Just((None, false)),
    ]
}

fn a_time() -> impl Strategy<Value = Field> {
    use serde_json::Value as J;
    prop_oneof![
        4 => any::<u64>().prop_map(|v| (Some(J::from(v)), true)),
        1 => (i64::MIN..0).prop_map(|v| (Some(J::from(v)), false)),
        1 => Just((Some(serde_json::json!(1e30)), false)),
        1 => Just((Some(serde_json::json!(1.5)), false)),
        1 => Just((Some(J::String("1732230000000000000".into())), false)),
        1 => Just((None, false)),
    ]
}

fn a_span_object() -> impl Strategy<Value = (String, bool)> {
    use serde_json::Value as J;
    let name = prop_oneof![
        4 => any::<String>().prop_map(|s| (Some(J::String(s)), true)),
        1 => Just((Some(J::String(PHONE.into())), true)),
        1 => a_json().prop_map(|v| {
            let ok = v.is_string();
            (Some(v), ok)
        }),
        1 => Just((None, false)),
    ];
    let parent = prop_oneof![
        2 => Just((None, true)),
        2 => Just((Some(J::String(String::new())), true)),
        // Not a string: read as no parent.
        1 => a_json().prop_map(|v| {
            let ok = v.as_str().is_none_or(|s| s.is_empty() || id_ok(s, 16));
            (Some(v), ok)
        }),
        4 => an_id(16).prop_map(|(v, ok)| {
            // Absent or not a string: no parent (valid).
            match &v {
                None => (v, true),
                // An empty string is no parent, as absent.
                Some(J::String(s)) => {
                    let ok = ok || s.is_empty();
                    (v, ok)
                }
                Some(_) => (v, true),
            }
        }),
    ];
    let extra = prop::collection::vec(
        (
            prop::sample::select(vec![
                "kind",
                "status",
                "attributes",
                "events",
                "links",
                "parent_remote",
                "service",
                "other",
            ]),
            a_json(),
        ),
        0..6,
    );
    (
        name,
        an_id(32),
        an_id(16),
        parent,
        a_time(),
        a_time(),
        extra,
        any::<bool>(),
    )
        .prop_map(|(name, trace, span, parent, start, end, extra, pretty)| {
            let mut o = serde_json::Map::new();
            let mut ok = true;
            for (k, (v, valid)) in [
                ("name", name),
                ("trace_id", trace),
                ("span_id", span),
                ("parent_span_id", parent),
                ("start_unix_nano", start),
                ("end_unix_nano", end),
            ] {
                ok &= valid;
                if let Some(v) = v {
                    o.insert(k.into(), v);
                }
            }
            for (k, v) in extra {
                o.insert(k.into(), v);
            }
            let v = J::Object(o);
            let text = if pretty {
                serde_json::to_string_pretty(&v).unwrap().replace('\n', " ")
            } else {
                v.to_string()
            };
            (text, ok)
        })
}

fn a_value(money: bool) -> BoxedStrategy<Value> {
    if money {
        (any::<i64>(), 0u32..=28)
            .prop_map(|(m, s)| Value::Decimal(Decimal::new(m, s)))
            .boxed()
    } else {
        prop_oneof![
            any::<String>().prop_map(|s| Value::Str(s.into())),
            any::<i64>().prop_map(Value::I64),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::F64),
            any::<bool>().prop_map(Value::Bool),
            prop::collection::vec(any::<String>(), 0..4)
                .prop_map(|v| Value::StrArray(v.into_iter().map(Cow::Owned).collect())),
        ]
        .boxed()
    }
}

fn attributes() -> impl Strategy<Value = Vec<(Cow<'static, str>, Value)>> {
    prop::collection::btree_set("[a-z_.]{1,20}", 0..8).prop_flat_map(|keys| {
        keys.into_iter()
            .map(|k| {
                let money = k.contains("price") || k.contains("cost");
                a_value(money).prop_map(move |v| (Cow::Owned(k.clone()), v))
            })
            .collect::<Vec<_>>()
    })
}

fn a_span() -> impl Strategy<Value = FinishedSpan> {
    let kind = prop::sample::select(vec![
        OtelKind::Internal,
        OtelKind::Server,
        OtelKind::Client,
        OtelKind::Producer,
        OtelKind::Consumer,
    ]);
    let status = prop_oneof![
        Just(Status::Unset),
        Just(Status::Ok),
        any::<String>().prop_map(|m| Status::Error(m.into())),
    ];
    let event =
        (any::<String>(), any::<u64>(), attributes()).prop_map(|(name, t, attributes)| Event {
            name: name.into(),
            time: SystemTime::UNIX_EPOCH + Duration::from_nanos(t),
            attributes,
        });
    (
        (
            any::<String>(),
            kind,
            1u128..,
            1u64..,
            any::<u64>(),
            any::<bool>(),
        ),
        (any::<u64>(), any::<u64>(), status, attributes()),
        prop::collection::vec(event, 0..3),
    )
        .prop_map(
            |((name, kind, t, s, p, remote), (start, end, status, attributes), events)| {
                FinishedSpan {
                    name: name.into(),
                    kind,
                    trace_id: TraceId(t),
                    span_id: SpanId(s),
                    parent_span_id: SpanId(p),
                    parent_remote: remote,
                    start: SystemTime::UNIX_EPOCH + Duration::from_nanos(start),
                    end: SystemTime::UNIX_EPOCH + Duration::from_nanos(end),
                    status,
                    attributes,
                    events,
                    links: Vec::new(),
                }
            },
        )
}

/// serde_json (without its `float_roundtrip` feature, which this workspace
/// does not enable) may read a float back a few units in the last place off
/// (found by `span_line_round_trip`: 4.3047787432099653e254 came back as
/// 4.304778743209966e254, -1.8884357684431846e-199 as -1.888435768443185e-199).
/// Takes `want`'s value where `back`'s is within 1e-14 of it, relatively.
fn absorb_float_ulp(back: &mut FinishedSpan, want: &FinishedSpan) {
    fn fix(back: &mut [(Cow<'static, str>, Value)], want: &[(Cow<'static, str>, Value)]) {
        for ((_, b), (_, w)) in back.iter_mut().zip(want) {
            if let (Value::F64(x), Value::F64(y)) = (&*b, w) {
                if (x - y).abs() <= 1e-14 * x.abs().max(y.abs()) {
                    *b = Value::F64(*y);
                }
            }
        }
    }
    fix(&mut back.attributes, &want.attributes);
    for (b, w) in back.events.iter_mut().zip(&want.events) {
        fix(&mut b.attributes, &w.attributes);
    }
}

#[test]
fn span_corpus_lines() {
    let read = read_jsonl_lossy(SPANS_CORPUS.as_bytes());
    assert_eq!(read.lines, 14);
    assert_eq!(read.spans.len(), 6, "{:?}", read.first_bad);
    assert_eq!(read.first_bad.as_ref().map(|b| b.line), Some(6));
    for l in SPANS_CORPUS.lines() {
        check_line_reason(l).unwrap();
    }
    check_file(SPANS_CORPUS.as_bytes()).unwrap();
    let out = chatobs_core::report::waterfall(&read.spans, None);
    // The self-parent and the 2-cycle are drawn, marked, as roots.
    assert_eq!(out.matches(" ↻").count(), 3, "{out}");
}

proptest! {
    #![proptest_config(config(256))]

    /// Arbitrary text as one line: never panics, never quotes the line.
    #[test]
    fn span_line_arbitrary(line in prop_oneof![any::<String>(), "[{}\\[\\]\":,0-9a-z .\\\\-]{0,80}"]) {
        check_line_reason(&line)?;
    }

    /// Arbitrary bytes as a file (invalid UTF-8, CR, NUL, no final newline).
    #[test]
    fn span_file_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check_file(&bytes)?;
    }

    /// JSON objects with each field valid, of another type, or absent: the
    /// parser takes exactly those whose required fields are valid.
    #[test]
    fn span_line_structured((line, valid) in a_span_object()) {
        let got = check_line_reason(&line)?;
        prop_assert_eq!(got.is_some(), valid, "line {}", line);
    }

    /// Corpus lines with mutations, as a file with the mutated line among good ones.
    #[test]
    fn span_line_mutated(
        seed in prop::sample::select(SPANS_CORPUS.lines().collect::<Vec<_>>()),
        muts in prop::collection::vec(a_mutation(), 1..6),
    ) {
        let bad = mutate(seed, &muts);
        check_line_reason(&bad)?;
        let file = format!("{}\n{bad}\n{}", SPANS_CORPUS, SPANS_CORPUS.lines().next().unwrap_or(""));
        check_file(file.as_bytes())?;
    }

    /// What the file exporter writes, the reader reads back unchanged.
    #[test]
    fn span_line_round_trip(span in a_span()) {
        let line = span_to_json(&span, "svc").to_string();
        let mut back = parse_span_line(&line).map_err(TestCaseError::fail)?;
        absorb_float_ulp(&mut back, &span);
        prop_assert_eq!(back, span);
    }
}

// ---- the waterfall over arbitrary parent graphs -----------------------------------------------

/// Spans with ids drawn from a small pool (duplicates), parents from the same
/// pool (self-parents, cycles, missing parents), a few traces and sessions,
/// colliding start times.
fn a_forest() -> impl Strategy<Value = Vec<FinishedSpan>> {
    prop::collection::vec(
        (0u128..3, 1u64..12, 0u64..14, 0u64..6, 0u64..6, 0usize..4),
        1..60,
    )
    .prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (t, s, p, start, dur, session))| {
                let mut attributes = Vec::new();
                if session > 0 {
                    attributes.push((
                        Cow::Borrowed(vocab::CHAT_SESSION_ID),
                        Value::Str(format!("cs_{session}").into()),
                    ));
                }
                FinishedSpan {
                    name: format!("s{i}").into(),
                    kind: OtelKind::Internal,
                    trace_id: TraceId(t + 1),
                    span_id: SpanId(s),
                    parent_span_id: SpanId(p),
                    parent_remote: false,
                    start: SystemTime::UNIX_EPOCH + Duration::from_nanos(start),
                    // Some end before they start.
                    end: SystemTime::UNIX_EPOCH
                        + Duration::from_nanos((start + dur).saturating_sub(2)),
                    status: if dur == 0 {
                        Status::Error("x".into())
                    } else {
                        Status::Ok
                    },
                    attributes,
                    events: Vec::new(),
                    links: Vec::new(),
                }
            })
            .collect()
    })
}

/// How many spans lie on a parent cycle, by brute force: the earliest span
/// of an id (stable order by start) is the parent of its children.
fn spans_on_cycles(spans: &[FinishedSpan]) -> usize {
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by_key(|&i| spans[i].start);
    let mut first: HashMap<(u128, u64), usize> = HashMap::new();
    for &i in &order {
        first
            .entry((spans[i].trace_id.0, spans[i].span_id.0))
            .or_insert(i);
    }
    let parent = |i: usize| -> Option<usize> {
        let s = &spans[i];
        if s.parent_span_id == SpanId::INVALID {
            return None;
        }
        first.get(&(s.trace_id.0, s.parent_span_id.0)).copied()
    };
    (0..spans.len())
        .filter(|&i| {
            let mut u = parent(i);
            for _ in 0..spans.len() {
                match u {
                    Some(v) if v == i => return true,
                    Some(v) => u = parent(v),
                    None => return false,
                }
            }
            false
        })
        .count()
}

proptest! {
    #![proptest_config(config(256))]

    /// Every span drawn exactly once; the spans of parent cycles marked.
    #[test]
    fn waterfall_draws_every_span_once(spans in a_forest()) {
        let out = chatobs_core::report::waterfall(&spans, None);
        let rows: Vec<&str> = out.lines().filter(|l| l.ends_with('|')).collect();
        prop_assert_eq!(rows.len(), spans.len());
        let mut seen = vec![0usize; spans.len()];
        for r in &rows {
            let i = r
                .split_whitespace()
                .find_map(|w| w.strip_prefix('s').and_then(|n| n.parse::<usize>().ok()));
            match i {
                Some(i) => seen[i] += 1,
                None => prop_assert!(false, "row without a name: {}", r),
            }
        }
        prop_assert!(seen.iter().all(|n| *n == 1), "{:?}\n{}", seen, out);
        prop_assert_eq!(out.matches(" ↻").count(), spans_on_cycles(&spans), "{}", out);
        // Per session, the same rows.
        let mut per_session = 0;
        for key in out.lines().filter_map(|l| l.strip_prefix("conversation ")).map(|l| l.split("  spans=").next().unwrap_or("").to_owned()).collect::<Vec<_>>() {
            let one = chatobs_core::report::waterfall(&spans, Some(&key));
            per_session += one.lines().filter(|l| l.ends_with('|')).count();
        }
        prop_assert_eq!(per_session, spans.len());
    }
}

// ---- configuration ----------------------------------------------------------------------------

/// Runs the loader the way `init` does for every core section: the file's
/// table over the defaults, then the environment, then the checks. Returns
/// the error text (which must be printable).
fn load_all(text: &str, env: &BTreeMap<String, String>) -> Result<(), TestCaseError> {
    let table = match parse_table(text, Some(std::path::Path::new("obs.toml"))) {
        Ok(t) => t,
        Err(e) => {
            let _ = e.to_string();
            return Ok(());
        }
    };
    let get = |k: &str| env.get(k).cloned();
    let env: Env<'_> = &get;
    fn one<T: Section>(table: &toml::Table, text: &str, env: Env<'_>) {
        let mut errs = Errors::new(Some(std::path::Path::new("obs.toml")));
        let mut s: T = section_from(table.get(T::KEY).cloned(), Some(text), &mut errs);
        s.apply_env(env, &mut errs);
        s.validate(&mut errs);
        if let Err(e) = errs.into_result() {
            let _ = e.to_string();
        }
    }
    one::<ServiceConfig>(&table, text, env);
    one::<ExporterConfig>(&table, text, env);
    one::<SamplingConfig>(&table, text, env);
    one::<LogsConfig>(&table, text, env);
    one::<RedactionConfig>(&table, text, env);
    one::<SessionConfig>(&table, text, env);
    Ok(())
}

/// A value where a path goes: never anywhere a check could create a file.
fn a_safe_path() -> impl Strategy<Value = String> {
    let tmp = std::env::temp_dir().join("chatobs-fuzz-config");
    prop_oneof![
        Just("stderr".to_owned()),
        Just("stdout".to_owned()),
        Just(String::new()),
        "[a-z]{1,8}".prop_map(move |n| tmp.join(n).join("x.jsonl").display().to_string()),
    ]
}

/// A TOML value, valid or nearly.
fn a_toml_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        Just("99999999999999999999".to_owned()),
        Just("-0".to_owned()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        Just("nan".to_owned()),
        Just("-inf".to_owned()),
        Just("1e400".to_owned()),
        any::<bool>().prop_map(|v| v.to_string()),
        any::<String>().prop_map(|s| format!("{s:?}")),
        any::<String>().prop_map(|s| format!("'{}'", s.replace(['\'', '\n', '\r'], ""))),
        prop::sample::select(vec![
            "\"file\"",
            "\"console\"",
            "\"otlp\"",
            "\"auto\"",
            "\"none\"",
            "\"memory\"",
            "\"json\"",
            "\"off\"",
            "\"always_on\"",
            "\"traceidratio\"",
            "\"parentbased_traceidratio\"",
            "1979-05-27T07:32:00Z",
            "\"\\u00e9\"",
            "\"\\uD800\"",
            "\"unterminated",
            "\"\"\"multi\nline\"\"\"",
            "0x10",
            "1_000",
            "0.5",
            "2.0",
            "1048577",
            "0",
            "-1",
        ])
        .prop_map(str::to_owned),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-z_.\"]{1,10}", inner), 0..3).prop_map(|v| {
                let kv: Vec<String> = v.into_iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", kv.join(", "))
            }),
        ]
    })
}

const SECTIONS: &[&str] = &[
    "service",
    "exporter",
    "sampling",
    "logs",
    "redaction",
    "session",
    "service.attributes",
    "alerts.rules.x",
    "otlp",
    "exporter.kinds",
];
const KEYS: &[&str] = &[
    "name",
    "version",
    "environment",
    "attributes",
    "kinds",
    "file_path",
    "queue_size",
    "batch_size",
    "scheduled_delay_ms",
    "export_timeout_ms",
    "shutdown_timeout_ms",
    "sampler",
    "ratio",
    "format",
    "output",
    "level",
    "headers",
    "fields",
    "scan_free_text",
    "record_request_headers",
    "key_env",
    "\"quoted key\"",
    "dotted.key",
    "unknown",
];
const VARS: &[&str] = &[
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SDK_DISABLED",
    "CHATOBS_EXPORTER",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "CHATOBS_LOG_FORMAT",
];

/// TOML-ish text: headers, keys of the core's sections and others, values of
/// every type, and lines that are not TOML.
fn a_tomlish() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        2 => prop::sample::select(SECTIONS).prop_map(|s| format!("[{s}]")),
        1 => prop::sample::select(SECTIONS).prop_map(|s| format!("[[{s}]]")),
        6 => (prop::sample::select(KEYS), a_toml_value()).prop_map(|(k, v)| format!("{k} = {v}")),
        2 => (prop::sample::select(vec!["file_path", "output"]), a_safe_path())
            .prop_map(|(k, v)| format!("{k} = {v:?}")),
        1 => Just("# comment".to_owned()),
        1 => Just(String::new()),
        1 => "[^\\n]{0,30}",
    ];
    prop::collection::vec(line, 0..20).prop_map(|l| l.join("\n"))
}

fn an_env() -> impl Strategy<Value = BTreeMap<String, String>> {
    let value = prop_oneof![
        any::<String>(),
        "[a-z0-9.=,% é-]{0,30}",
        prop::sample::select(vec![
            "true",
            "false",
            "file,console",
            "0.5",
            "2",
            "-1",
            "nan",
            "json",
            "off",
            "x-a=%1é",
            "k=%",
            "=v",
            "a=b,,c"
        ])
        .prop_map(str::to_owned),
    ];
    prop::collection::btree_map(
        prop::sample::select(VARS).prop_map(str::to_owned),
        value,
        0..5,
    )
}

#[test]
fn config_corpus_files() {
    for text in CONFIG_CORPUS {
        load_all(text, &BTreeMap::new()).unwrap();
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Arbitrary text: parsing and loading never panic.
    #[test]
    fn config_arbitrary_text(text in any::<String>()) {
        load_all(&text, &BTreeMap::new())?;
    }

    /// TOML-ish text and environment: never panic.
    #[test]
    fn config_tomlish(text in a_tomlish(), env in an_env()) {
        load_all(&text, &env)?;
    }

    /// The shipped file and the corpus with mutations: never panic.
    #[test]
    fn config_mutated(
        seed in prop::sample::select(CONFIG_CORPUS.to_vec()),
        muts in prop::collection::vec(a_mutation(), 1..6),
    ) {
        load_all(&mutate(seed, &muts), &BTreeMap::new())?;
    }

    /// Values a file may hold come back unchanged, with no error.
    #[test]
    fn config_round_trip(
        name in any::<String>().prop_filter("not blank", |s| !s.trim().is_empty()),
        version in any::<String>(),
        attributes in prop::collection::btree_map(any::<String>(), any::<String>(), 0..4),
        queue in 1usize..=1 << 20,
        ratio in 0.0f64..=1.0,
    ) {
        let service = ServiceConfig { name, version, attributes, ..ServiceConfig::default() };
        let exporter = ExporterConfig { queue_size: queue, batch_size: queue, ..ExporterConfig::default() };
        let sampling = SamplingConfig { ratio, ..SamplingConfig::default() };
        let mut doc = toml::Table::new();
        doc.insert("service".into(), toml::Value::try_from(&service).unwrap());
        doc.insert("exporter".into(), toml::Value::try_from(&exporter).unwrap());
        doc.insert("sampling".into(), toml::Value::try_from(&sampling).unwrap());
        let text = toml::to_string(&doc).unwrap();
        let table = parse_table(&text, None).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut errs = Errors::new(None);
        let s: ServiceConfig = section_from(table.get("service").cloned(), Some(&text), &mut errs);
        let e: ExporterConfig = section_from(table.get("exporter").cloned(), Some(&text), &mut errs);
        let r: SamplingConfig = section_from(table.get("sampling").cloned(), Some(&text), &mut errs);
        s.validate(&mut errs);
        e.validate(&mut errs);
        r.validate(&mut errs);
        prop_assert!(errs.is_empty(), "{:?}", errs.into_result());
        prop_assert_eq!(s, service);
        prop_assert_eq!(e, exporter);
        prop_assert_eq!(r, sampling);
    }

    /// `OTEL_RESOURCE_ATTRIBUTES` pairs with percent-encoded values are kept decoded.
    #[test]
    fn resource_attributes_are_percent_decoded(
        pairs in prop::collection::btree_map("[a-z][a-z0-9_.]{0,12}", any::<String>(), 1..5),
        also in prop::collection::vec(any::<bool>(), 0..8),
    ) {
        let special = ["service.name", "service.version", "deployment.environment", "deployment.environment.name"];
        let pairs: BTreeMap<String, String> = pairs
            .into_iter()
            .filter(|(k, _)| !special.contains(&k.as_str()))
            .map(|(k, v)| (k, v.trim().to_owned()))
            .collect();
        let header: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", encode(v, &also, false))).collect();
        let header = header.join(",");
        let get = |k: &str| (k == "OTEL_RESOURCE_ATTRIBUTES").then(|| header.clone());
        let mut errs = Errors::new(None);
        let mut s = ServiceConfig::default();
        s.apply_env(&get, &mut errs);
        prop_assert!(errs.is_empty(), "{:?}", errs.into_result());
        for (k, v) in &pairs {
            prop_assert_eq!(s.attributes.get(k), Some(v));
        }
    }
}
