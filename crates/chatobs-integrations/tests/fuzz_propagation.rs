//! Property-based fuzzing of propagation's string-map extraction
//! (`propagation::extract_map`, `propagation::consume`) and of
//! `EventMetadata` read back from a bus: arbitrary maps, the checked-in
//! corpus (`tests/corpus/propagation/`) and headers near real ones
//! (`traceparent` versions, case, whitespace, cut ids; `baggage` with many
//! members, properties, percent escapes, oversized). Never a panic; what is
//! taken is valid (a span id pair that prints back to the same
//! `traceparent`, an exported session id that is not a phone number or a
//! wamid); what was injected is extracted unchanged.
//!
//! `PROPTEST_CASES=100000 cargo test -p chatobs-integrations --test fuzz_propagation`

mod fuzz_common;

use chatobs_core::context::Context;
use chatobs_core::testing;
use chatobs_core::ChatSession;
use chatobs_integrations::propagation::{self, EventMetadata};
use fuzz_common::*;
use proptest::prelude::*;
use std::collections::HashMap;

fn valid_exported(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b))
}

/// The rule of what may come out of a carrier.
fn check(ctx: &Context, headers: &HashMap<String, String>) {
    if ctx.has_span() {
        let tp = ctx.traceparent().unwrap();
        let again = chatobs_core::context::parse_traceparent(&tp).unwrap();
        assert_eq!((again.0, again.1), (ctx.trace_id, ctx.span_id));
        assert!(ctx.remote);
    }
    if let Some(s) = &ctx.session {
        let id = s.id();
        assert!(valid_exported(id), "{id:?}");
        // Digits that name a person never come out as they came in.
        let digits = id.bytes().filter(u8::is_ascii_digit).count();
        if id.bytes().all(|b| b.is_ascii_digit()) && digits >= 7 {
            panic!("phone-like session {id:?} from {headers:?}");
        }
        assert!(!id.to_ascii_lowercase().starts_with("wamid."), "{id:?}");
    }
}

fn corpus_maps() -> Vec<HashMap<String, String>> {
    json_corpus("propagation")
        .iter()
        .map(|(_, v)| serde_json::from_value(v.clone()).unwrap())
        .collect()
}

#[test]
fn the_corpus_extracts_as_documented() {
    let maps = corpus_maps();
    assert!(maps.len() >= 6);
    for h in &maps {
        check(&propagation::extract_map(h), h);
    }
    let get = |tp: &str| {
        maps.iter()
            .find(|m| m.get("traceparent").is_some_and(|t| t.starts_with(tp)))
            .map(propagation::extract_map)
            .unwrap()
    };
    let v = get("00-4bf92f3577b34da6a3ce929d0e0e4736");
    assert!(v.has_span() && v.sampled);
    assert_eq!(
        v.session.unwrap().id(),
        "cs_0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    );
    let many = get("00-0af7651916cd43dd8448eb211c80319c");
    assert!(many.has_span() && !many.sampled);
    assert_eq!(
        many.session.unwrap().id(),
        "cs_feedface00112233445566778899aabb"
    );
    // A number in baggage is taken as its keyed hash.
    let phone = maps
        .iter()
        .find(|m| m["baggage"].contains("573001234567"))
        .unwrap();
    assert_eq!(
        propagation::extract_map(phone).session.unwrap().id(),
        ChatSession::new("573001234567").id()
    );
}

/// `traceparent` values near valid ones.
fn traceparent() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,64}",
        (
            "[0-9a-fA-F]{2}",
            "[0-9a-f]{30,34}",
            "[0-9a-f]{14,18}",
            "[0-9a-fA-F+-]{1,3}",
            "(-[a-z0-9]{0,8}){0,2}"
        )
            .prop_map(|(v, t, s, f, rest)| format!("{v}-{t}-{s}-{f}{rest}")),
        ("[0-9a-f]{32}", "[0-9a-f]{16}", any::<bool>(), "[ \t]{0,2}")
            .prop_map(|(t, s, smp, ws)| format!("{ws}00-{t}-{s}-0{}{ws}", u8::from(smp))),
    ]
}

/// `baggage` values near real ones.
fn baggage() -> impl Strategy<Value = String> {
    let member = prop_oneof![
        "[a-z._]{1,16}=[A-Za-z0-9%._:-]{0,20}",
        "[a-z._]{1,16}=[A-Za-z0-9]{0,8};[a-z]{1,6}(=[a-z0-9]{0,4})?",
        ".{0,24}",
        Just("chat.session_id=cs_0a1b2c3d4e5f60718293a4b5c6d7e8f9".to_owned()),
        "chat\\.session_id *= *[A-Za-z0-9%._:+@-]{0,140} *",
        phone().prop_map(|p| format!("chat.session_id={p}")),
        phone().prop_map(|p| format!("chat.session_id=wa:{p}")),
        user().prop_map(|u| format!("chat.session_id={}", u.inbound_wamid)),
        user().prop_map(|u| format!("chat.session_id={}", u.bsuid)),
    ];
    prop_oneof![
        8 => prop::collection::vec(member, 0..12).prop_map(|m| m.join(",")),
        1 => (1usize..400).prop_map(|n| format!("chat.session_id=cs_x,{}", "k=v,".repeat(n * 8))),
        1 => (170usize..190).prop_map(|n| format!("{}chat.session_id=cs_late", "k=v,".repeat(n))),
    ]
}

fn headers() -> impl Strategy<Value = HashMap<String, String>> {
    (
        prop::option::of(traceparent()),
        prop::option::of(baggage()),
        prop::collection::hash_map(".{0,12}", ".{0,40}", 0..4),
        prop::sample::select(vec![
            "traceparent",
            "Traceparent",
            "baggage",
            "BAGGAGE",
            "tracestate",
        ]),
        ".{0,40}",
    )
        .prop_map(|(tp, bg, mut other, k, v)| {
            other.insert(k.to_owned(), v);
            if let Some(tp) = tp {
                other.insert("traceparent".into(), tp);
            }
            if let Some(bg) = bg {
                other.insert("baggage".into(), bg);
            }
            other
        })
}

proptest! {
    #![proptest_config(config(500, "fuzz_propagation"))]

    /// Arbitrary and near-real carriers: never a panic, only valid values taken.
    #[test]
    fn extract_takes_only_valid_values(h in headers()) {
        check(&propagation::extract_map(&h), &h);
    }

    /// What a producer injects, a consumer extracts (trace, span, sampling, session).
    #[test]
    fn inject_then_extract_round_trips(
        t in 1u128..,
        s in 1u64..,
        sampled in any::<bool>(),
        session in prop::option::of("[A-Za-z_][A-Za-z0-9_.:-]{0,100}[A-Za-z_.:-]"),
        noise in prop::collection::hash_map("[a-z-]{1,10}", ".{0,20}", 0..3),
    ) {
        let mut ctx = Context::default();
        ctx.trace_id = chatobs_core::ids::TraceId(t);
        ctx.span_id = chatobs_core::ids::SpanId(s);
        ctx.sampled = sampled;
        ctx.session = session.as_deref().map(|id| ChatSession::from_exported_id(id).unwrap());
        let mut h: HashMap<String, String> = noise
            .into_iter()
            .filter(|(k, _)| k != "traceparent" && k != "baggage")
            .collect();
        ctx.inject_map(&mut h);
        let back = propagation::extract_map(&h);
        prop_assert_eq!((back.trace_id, back.span_id, back.sampled), (ctx.trace_id, ctx.span_id, ctx.sampled));
        prop_assert_eq!(back.session.map(|s| s.id().to_owned()), session);
    }

    /// The CONSUMER span of an arbitrary carrier: never a panic; its session
    /// is valid and its parent is the carrier's span when there is one.
    #[test]
    fn consume_never_panics(h in headers()) {
        let ctx = propagation::extract_map(&h);
        let ((), spans) = testing::capture(|| drop(propagation::consume("orders.process", &h)));
        let span = spans.one("orders.process");
        if ctx.has_span() {
            prop_assert_eq!(span.trace_id, ctx.trace_id);
            prop_assert_eq!(span.parent_span_id, ctx.span_id);
        }
        if let Some(id) = span.session_id() {
            prop_assert!(valid_exported(id));
            prop_assert_eq!(Some(id), ctx.session.as_ref().map(|s| s.id()));
        }
    }

    /// Event metadata read back from a bus (any JSON): never a panic, a
    /// valid context.
    #[test]
    fn event_metadata_from_any_json(
        v in prop_oneof![
            wild_value(),
            (".{0,40}", prop::option::of(".{0,40}"), prop::option::of("[0-9a-f]{14,34}"),
             prop::option::of("[0-9a-f]{14,18}"), prop::option::of(prop_oneof![".{0,40}".boxed(), phone().boxed()]))
                .prop_map(|(e, o, t, s, c)| serde_json::json!({
                    "event_id": e, "occurred_at": o, "trace_id": t, "span_id": s, "correlation_id": c})),
        ],
    ) {
        if let Ok(m) = serde_json::from_value::<EventMetadata>(v) {
            let ctx = m.context();
            check(&ctx, &HashMap::new());
            let again: EventMetadata = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
            prop_assert_eq!(again, m);
        }
    }
}
