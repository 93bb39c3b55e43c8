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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// The file exporter's lines written on the export thread, a chunk at a
    /// time (`SpanExporter::encoder`, then `export_encoded`), are the file's
    /// bytes `export` writes for the same batches.
    #[test]
    fn encoded_batches_write_the_files_bytes(
        batches in proptest::collection::vec(proptest::collection::vec(span(), 0..5), 1..4),
        cut in 0usize..5,
    ) {
        use chatobs_core::export::file::FileExporter;
        use chatobs_core::export::SpanExporter;
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
        let mut whole = FileExporter::open(&a, "svc").unwrap();
        let mut encoded = FileExporter::open(&b, "svc").unwrap();
        let mut enc = encoded.encoder().expect("the file exporter encodes");
        for batch in &batches {
            whole.export(batch).unwrap();
            let mut buf = Vec::new();
            enc.begin(&mut buf);
            let (x, y) = batch.split_at(cut.min(batch.len()));
            for part in [x, y] {
                if !part.is_empty() {
                    enc.append(part, &mut buf);
                }
            }
            let range = enc.finish(&mut buf, batch.len());
            encoded.export_encoded(buf, range, batch.len()).unwrap();
        }
        whole.shutdown().unwrap();
        encoded.shutdown().unwrap();
        let (a, b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        prop_assert_eq!(a.iter().filter(|c| **c == b'\n').count(), batches.iter().map(Vec::len).sum::<usize>());
        prop_assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
    }
}
