//! The JSONL file's direct encoder (`write_span_line`, the export thread's:
//! no JSON tree per span) writes exactly the bytes the JSON tree
//! (`span_to_json`, serde_json) gives, on hostile spans: control
//! characters, quotes, backslashes, any Unicode, every value type, floats
//! that are not finite, keys set twice, events and links.

use chatobs_core::export::file::{span_to_json, write_span_line};
use chatobs_core::ids::{SpanId, TraceId};
use chatobs_core::model::{Event, FinishedSpan, KeyValue, Link, OtelKind, Status, Value};
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::time::{Duration, SystemTime};

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(|s| Value::Str(Cow::Owned(s))),
        any::<i64>().prop_map(Value::I64),
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0),
            Just(1e-300)
        ]
        .prop_map(Value::F64),
        any::<bool>().prop_map(Value::Bool),
        (any::<i64>(), 0u32..28).prop_map(|(m, s)| Value::Decimal(Decimal::new(m, s))),
        proptest::collection::vec(any::<String>(), 0..4)
            .prop_map(|v| Value::StrArray(v.into_iter().map(Cow::Owned).collect())),
        proptest::collection::vec(any::<i64>(), 0..4).prop_map(Value::I64Array),
        proptest::collection::vec(any::<f64>(), 0..4).prop_map(Value::F64Array),
        proptest::collection::vec(any::<bool>(), 0..4).prop_map(Value::BoolArray),
    ]
}

fn attrs() -> impl Strategy<Value = Vec<KeyValue>> {
    // Few distinct keys, so some are set twice.
    proptest::collection::vec(
        (
            prop_oneof![
                Just("agent.role".to_owned()),
                Just("chat.session_id".to_owned()),
                Just("k\"\\\n\u{1}é".to_owned()),
                "[a-z.]{1,8}",
                any::<String>()
            ],
            value(),
        ),
        0..12,
    )
    .prop_map(|v| v.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect())
}

fn span() -> impl Strategy<Value = FinishedSpan> {
    (
        (
            any::<String>(),
            any::<u128>(),
            any::<u64>(),
            any::<u64>(),
            any::<bool>(),
        ),
        (0u64..4_000_000_000_000_000_000, 0u64..1_000_000_000),
        prop_oneof![
            Just(Status::Unset),
            Just(Status::Ok),
            any::<String>().prop_map(|m| Status::Error(Cow::Owned(m)))
        ],
        attrs(),
        proptest::collection::vec((any::<String>(), attrs()), 0..3),
        proptest::collection::vec((any::<u128>(), any::<u64>(), attrs()), 0..3),
    )
        .prop_map(
            |((name, t, s, p, remote), (start, dur), status, attributes, events, links)| {
                let start = SystemTime::UNIX_EPOCH + Duration::from_nanos(start);
                FinishedSpan {
                    name: Cow::Owned(name),
                    kind: OtelKind::Server,
                    trace_id: TraceId(t),
                    span_id: SpanId(s),
                    parent_span_id: SpanId(if p % 3 == 0 { 0 } else { p }),
                    parent_remote: remote,
                    start,
                    end: start + Duration::from_nanos(dur),
                    status,
                    attributes,
                    events: events
                        .into_iter()
                        .map(|(n, a)| Event {
                            name: Cow::Owned(n),
                            time: start,
                            attributes: a,
                        })
                        .collect(),
                    links: links
                        .into_iter()
                        .map(|(t, s, a)| Link {
                            trace_id: TraceId(t),
                            span_id: SpanId(s),
                            attributes: a,
                        })
                        .collect(),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn the_direct_encoder_writes_the_json_trees_bytes(s in span(), service in any::<String>()) {
        let mut direct = Vec::new();
        write_span_line(&mut direct, &s, &service);
        let tree = serde_json::to_vec(&span_to_json(&s, &service)).unwrap();
        prop_assert_eq!(String::from_utf8_lossy(&direct), String::from_utf8_lossy(&tree));
    }
}
