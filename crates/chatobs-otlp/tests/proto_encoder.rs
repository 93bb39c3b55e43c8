//! chatobs' own OTLP/HTTP protobuf encoder (`proto::TraceEncoder`) against
//! the SDK's path: the bytes it writes decode (with prost, as a collector
//! does) to exactly the `ExportTraceServiceRequest` that `opentelemetry-proto`
//! builds from the same spans' `SpanData`, for hostile spans (any Unicode,
//! every value type, events, links, remote parents, error statuses) and for
//! each preset that adds or renames attributes (Langfuse, Logfire).

use chatobs_core::config::ServiceConfig;
use chatobs_core::ids::{SpanId, TraceId};
use chatobs_core::model::{Event, FinishedSpan, KeyValue, Link, OtelKind, Status, Value};
use chatobs_otlp::config::{OtlpConfig, OtlpTarget};
use chatobs_otlp::proto::TraceEncoder;
use chatobs_otlp::traces::{resource_for, sdk_export_form};
use chatobs_otlp::Preset;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use proptest::prelude::*;
use prost::Message;
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::time::{Duration, SystemTime};

fn value() -> impl Strategy<Value = Value> {
    // Finite floats and infinities (NaN is never equal to itself).
    let float = prop_oneof![-1e300f64..1e300, Just(f64::INFINITY), Just(-0.0)];
    prop_oneof![
        any::<String>().prop_map(|s| Value::Str(Cow::Owned(s))),
        any::<i64>().prop_map(Value::I64),
        float.clone().prop_map(Value::F64),
        any::<bool>().prop_map(Value::Bool),
        (-1_000_000_000i64..1_000_000_000, 0u32..12)
            .prop_map(|(m, s)| Value::Decimal(Decimal::new(m, s))),
        proptest::collection::vec(any::<String>(), 0..4)
            .prop_map(|v| Value::StrArray(v.into_iter().map(Cow::Owned).collect())),
        proptest::collection::vec(any::<i64>(), 0..4).prop_map(Value::I64Array),
        proptest::collection::vec(float, 0..4).prop_map(Value::F64Array),
        proptest::collection::vec(any::<bool>(), 0..4).prop_map(Value::BoolArray),
    ]
}

fn attrs() -> impl Strategy<Value = Vec<KeyValue>> {
    proptest::collection::vec(
        (
            prop_oneof![
                Just("llm.cost.total".to_owned()),
                Just("llm.cost.prompt".to_owned()),
                Just("gen_ai.usage.price_usd".to_owned()),
                Just("langfuse.release".to_owned()),
                Just(String::new()),
                "[a-z._]{1,12}",
                any::<String>()
            ],
            value(),
        ),
        0..10,
    )
    .prop_map(|v| v.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect())
}

fn span() -> impl Strategy<Value = FinishedSpan> {
    (
        (
            any::<String>(),
            1u128..,
            1u64..,
            any::<u64>(),
            any::<bool>(),
            0usize..5,
        ),
        (1u64..4_000_000_000_000_000_000, 0u64..1_000_000_000),
        prop_oneof![
            Just(Status::Unset),
            Just(Status::Ok),
            any::<String>().prop_map(|m| Status::Error(Cow::Owned(m)))
        ],
        attrs(),
        proptest::collection::vec((any::<String>(), attrs()), 0..3),
        proptest::collection::vec((1u128.., 1u64.., attrs()), 0..3),
    )
        .prop_map(
            |((name, t, s, p, remote, k), (start, dur), status, attributes, events, links)| {
                let start = SystemTime::UNIX_EPOCH + Duration::from_nanos(start);
                FinishedSpan {
                    name: Cow::Owned(name),
                    kind: [
                        OtelKind::Internal,
                        OtelKind::Server,
                        OtelKind::Client,
                        OtelKind::Producer,
                        OtelKind::Consumer,
                    ][k],
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
                            time: start + Duration::from_nanos(1),
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

fn target(preset: Option<Preset>) -> OtlpTarget {
    let mut otlp = OtlpConfig::default();
    otlp.preset = preset;
    let mut service = ServiceConfig {
        version: "1.2.3".into(),
        ..ServiceConfig::default()
    };
    service
        .attributes
        .insert("openinference.project.name".into(), "chatcommerce".into());
    OtlpTarget {
        otlp,
        service,
        export_timeout: Duration::from_secs(1),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]
    #[test]
    fn the_encoder_writes_what_the_sdk_path_sends(
        batch in proptest::collection::vec(span(), 1..6),
        preset in prop_oneof![Just(None), Just(Some(Preset::Langfuse)), Just(Some(Preset::Logfire))],
    ) {
        let t = target(preset);
        let mut bytes = Vec::new();
        TraceEncoder::for_target(&t).encode(&batch, &mut bytes);
        let mut ours = ExportTraceServiceRequest::decode(bytes.as_slice()).expect("valid protobuf");
        let resource = ResourceAttributesWithSchema::from(&resource_for(&t));
        let mut sdk = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(sdk_export_form(&t, &batch), &resource),
        };
        // A resource is a set (the SDK keeps it in a hash map): compare it sorted.
        for r in ours.resource_spans.iter_mut().chain(sdk.resource_spans.iter_mut()) {
            if let Some(res) = &mut r.resource {
                res.attributes.sort_by(|a, b| a.key.cmp(&b.key));
            }
        }
        prop_assert_eq!(ours, sdk);
    }

    /// The export thread encodes a batch a chunk at a time (`SpanEncoder`):
    /// the bytes are those of the whole batch at once, wherever it is cut.
    #[test]
    fn a_batch_encoded_in_chunks_is_the_same_bytes(
        batch in proptest::collection::vec(span(), 0..9),
        cuts in proptest::collection::vec(0usize..9, 0..4),
        preset in prop_oneof![Just(None), Just(Some(Preset::Langfuse)), Just(Some(Preset::Logfire))],
    ) {
        use chatobs_core::export::SpanEncoder;
        let t = target(preset);
        // One encoder, cloned: a resource's attributes are a set, in the
        // order each `Resource` happens to hold them.
        let base = TraceEncoder::for_target(&t);
        let mut whole = Vec::new();
        let expected = base.clone().encode_request(&batch, &mut whole).to_vec();
        let mut enc: Box<dyn SpanEncoder> = Box::new(base);
        let mut buf = Vec::new();
        enc.begin(&mut buf);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(batch.len())).collect();
        cuts.push(0);
        cuts.push(batch.len());
        cuts.sort_unstable();
        for w in cuts.windows(2) {
            if w[0] < w[1] {
                enc.append(&batch[w[0]..w[1]], &mut buf);
            }
        }
        let range = enc.finish(&mut buf, batch.len());
        prop_assert_eq!(&buf[range], expected.as_slice());
    }
}

/// What the SDK's path sends for `batch`, decoded, its resource sorted.
fn sdk_request(t: &OtlpTarget, batch: &[FinishedSpan]) -> ExportTraceServiceRequest {
    let resource = ResourceAttributesWithSchema::from(&resource_for(t));
    let mut sdk = ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(sdk_export_form(t, batch), &resource),
    };
    sorted(&mut sdk);
    sdk
}

fn sorted(r: &mut ExportTraceServiceRequest) {
    for r in &mut r.resource_spans {
        if let Some(res) = &mut r.resource {
            res.attributes.sort_by(|a, b| a.key.cmp(&b.key));
        }
    }
}

/// The encoder writes a span in one pass and patches its length, kept in
/// two bytes: spans whose length needs one byte (under 128), two, three
/// (from 16 KiB) and four (from 2 MiB) decode as the SDK's path sends them,
/// batch after batch from one encoder, and `encode` appends after what
/// `out` already holds.
#[test]
fn spans_of_every_length_class_round_trip() {
    let t = target(None);
    let mut enc = TraceEncoder::for_target(&t);
    let span = |i: u64, text_len: usize| FinishedSpan {
        name: Cow::Borrowed(if text_len == 0 {
            ""
        } else {
            "agent.sales.flow"
        }),
        kind: OtelKind::Internal,
        trace_id: TraceId(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        span_id: SpanId(i + 1),
        parent_span_id: SpanId(0),
        parent_remote: false,
        start: SystemTime::UNIX_EPOCH + Duration::from_secs(1_751_536_800),
        end: SystemTime::UNIX_EPOCH + Duration::from_secs(1_751_536_801),
        status: Status::Unset,
        attributes: if text_len == 0 {
            Vec::new()
        } else {
            vec![(
                Cow::Borrowed("k"),
                Value::Str(Cow::Owned("é".repeat(text_len / 2))),
            )]
        },
        events: Vec::new(),
        links: Vec::new(),
    };
    let lengths = [
        0usize, 40, 90, 126, 200, 16_300, 16_384, 16_500, 100_000, 2_200_000,
    ];
    // Each length alone, then all of them in one batch, twice.
    let mut batches: Vec<Vec<FinishedSpan>> = lengths
        .iter()
        .enumerate()
        .map(|(i, n)| vec![span(i as u64, *n)])
        .collect();
    let all: Vec<FinishedSpan> = lengths
        .iter()
        .enumerate()
        .map(|(i, n)| span(i as u64, *n))
        .collect();
    batches.push(all.clone());
    batches.push(all);
    for batch in &batches {
        let mut out = b"kept".to_vec();
        enc.encode(batch, &mut out);
        assert_eq!(&out[..4], b"kept");
        let mut ours = ExportTraceServiceRequest::decode(&out[4..]).expect("valid protobuf");
        sorted(&mut ours);
        assert_eq!(
            ours,
            sdk_request(&t, batch),
            "a batch of {} spans",
            batch.len()
        );
        // The exporter's form: the request is the slice returned.
        let mut buf = vec![0xff; 3];
        let request = enc.encode_request(batch, &mut buf).to_vec();
        assert_eq!(request, out[4..]);
    }
}
