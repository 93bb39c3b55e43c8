//! The OTLP/HTTP protobuf encoding of one batch, side by side (issue 18):
//! chatobs' own encoder (`proto::TraceEncoder`, straight from the finished
//! spans into one buffer) against the SDK's path that `opentelemetry-otlp`
//! takes for the same spans (the spans as `SpanData`, then
//! `opentelemetry-proto`'s structs, then prost).
//!
//! ```text
//! cargo bench -p chatobs-otlp --bench encode
//! ```
//!
//! The batch: 512 spans like `throughput`'s (`#[chat_span]` with role, step,
//! template category, kind and two tags: 6 attributes once spelled out) and
//! 512 LLM spans with a session (15 attributes: model, provider, tokens,
//! cost, session aliases). Both encoders write the same request
//! (`tests/proto_encoder.rs` decodes and compares them).

use chatobs_core::config::ServiceConfig;
use chatobs_core::ids::{SpanId, TraceId};
use chatobs_core::model::{FinishedSpan, KeyValue, OtelKind, Status, Value};
use chatobs_otlp::config::{OtlpConfig, OtlpTarget};
use chatobs_otlp::proto::TraceEncoder;
use chatobs_otlp::traces::{resource_for, sdk_export_form};
use criterion::{criterion_group, Criterion};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use prost::Message;
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

fn s(v: &'static str) -> Value {
    Value::Str(Cow::Borrowed(v))
}

fn chat_span(i: u64) -> FinishedSpan {
    let start =
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000) + Duration::from_micros(i);
    let tags = || Value::StrArray(vec![Cow::Borrowed("checkout"), Cow::Borrowed("vip")]);
    FinishedSpan {
        name: Cow::Borrowed("agent.sales.flow"),
        kind: OtelKind::Internal,
        trace_id: TraceId(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736 ^ u128::from(i)),
        span_id: SpanId(0x00f0_67aa_0ba9_02b7 ^ i),
        parent_span_id: SpanId(0),
        parent_remote: false,
        start,
        end: start + Duration::from_micros(40),
        status: Status::Unset,
        attributes: vec![
            ("agent.role".into(), s("sales")),
            ("conversation.step".into(), s("qualify")),
            ("template_category".into(), s("marketing")),
            ("openinference.span.kind".into(), s("AGENT")),
            ("tag.tags".into(), tags()),
            ("logfire.tags".into(), tags()),
        ],
        events: Vec::new(),
        links: Vec::new(),
    }
}

fn llm_span(i: u64) -> FinishedSpan {
    let mut sp = chat_span(i);
    sp.name = Cow::Borrowed("chat gemini-1.5-flash");
    sp.kind = OtelKind::Client;
    sp.parent_span_id = SpanId(0x1234 ^ i);
    let session = Value::Str(Cow::Owned(format!("wa-5f1c2b9a{i:08x}")));
    let more: Vec<KeyValue> = vec![
        ("gen_ai.operation.name".into(), s("chat")),
        ("gen_ai.provider.name".into(), s("gcp.gemini")),
        ("gen_ai.request.model".into(), s("gemini-1.5-flash")),
        ("gen_ai.usage.input_tokens".into(), Value::I64(912)),
        ("gen_ai.usage.output_tokens".into(), Value::I64(120)),
        (
            "llm.cost.total".into(),
            Value::Decimal(Decimal::new(237_825, 9)),
        ),
        ("chat.session_id".into(), session.clone()),
        ("session.id".into(), session.clone()),
        ("gen_ai.conversation.id".into(), session),
    ];
    sp.attributes.extend(more);
    sp
}

fn batch() -> Vec<FinishedSpan> {
    (0..512)
        .map(chat_span)
        .chain((0..512).map(llm_span))
        .collect()
}

fn target() -> OtlpTarget {
    OtlpTarget {
        otlp: OtlpConfig::default(),
        service: ServiceConfig::default(),
        export_timeout: Duration::from_secs(1),
    }
}

/// Per-iteration times of each sample criterion takes (warm-up included:
/// the median below is robust to those few).
type Samples = std::cell::RefCell<Vec<f64>>;

fn median(v: &Samples) -> f64 {
    let mut v = v.borrow().clone();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn bench(c: &mut Criterion) {
    let t = target();
    let spans = batch();
    let mut g = c.benchmark_group("encode");
    g.measurement_time(Duration::from_secs(5));
    let (ours, sdk) = (Samples::default(), Samples::default());
    let mut enc = TraceEncoder::for_target(&t);
    let mut out = Vec::new();
    g.bench_function("chatobs_encoder", |b| {
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            for _ in 0..iters {
                // What the exporter does: the request, in its reused buffer.
                let request = enc.encode_request(black_box(&spans), &mut out);
                black_box(request.len());
            }
            let d = t0.elapsed();
            ours.borrow_mut().push(d.as_nanos() as f64 / iters as f64);
            d
        })
    });
    let resource = ResourceAttributesWithSchema::from(&resource_for(&t));
    // The SDK's exporter takes the batch by value: the clone each
    // iteration needs is left out of the figure.
    g.bench_function("sdk_path", |b| {
        b.iter_custom(|iters| {
            let mut d = Duration::ZERO;
            for _ in 0..iters {
                let owned = spans.clone();
                let t0 = Instant::now();
                let req = ExportTraceServiceRequest {
                    resource_spans: group_spans_by_resource_and_scope(
                        sdk_export_form(&t, black_box(&owned)),
                        &resource,
                    ),
                };
                black_box(req.encode_to_vec().len());
                d += t0.elapsed();
            }
            sdk.borrow_mut().push(d.as_nanos() as f64 / iters as f64);
            d
        })
    });
    g.finish();
    let (o, k) = (median(&ours), median(&sdk));
    println!(
        "1024 spans: chatobs' encoder {:.1} us ({:.0} ns a span), the SDK's path {:.1} us: {:.2}x",
        o / 1e3,
        o / 1024.0,
        k / 1e3,
        o / k
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
