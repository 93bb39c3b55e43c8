//! The span path, side by side in one run (GUIDE section 4).
//!
//! `cargo bench -p chatobs-runtime --bench span_path` prints criterion's
//! figures and then one table: the median ns/call of each case and its ratio
//! to the raw opentelemetry_sdk span with the same 5 attributes.
//!
//! Order matters (global state): the "nothing installed" cases run first,
//! then tracing-opentelemetry (scoped with `with_default`), the raw SDK, and
//! last chatobs with its full pipeline installed (bounded queue, export
//! thread converting every span, a discarding exporter, the JSON log
//! subscriber and the `tracing` bridge, which the same `#[tracing::instrument]`
//! functions then go through, side by side with tracing-opentelemetry).
//! fastrace (`#[trace]` under roots of 1024 calls, a reporter that keeps
//! nothing) runs last, after chatobs' pipeline has shut down: each side's
//! background thread is idle while the other is timed.

use criterion::Criterion;
use opentelemetry::trace::{
    FutureExt as _, Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
};
use std::future::Future;
use std::hint::black_box;
use std::path::PathBuf;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt as _;

#[derive(Debug)]
struct Discard;
impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

fn sdk_provider() -> SdkTracerProvider {
    let bsp = BatchSpanProcessor::builder(Discard)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(8192)
                .build(),
        )
        .build();
    SdkTracerProvider::builder()
        .with_span_processor(bsp)
        .build()
}

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[inline(never)]
fn bare(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[inline(never)]
#[tracing::instrument(skip_all)]
fn tracing_plain(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[inline(never)]
#[tracing::instrument(name = "agent.sales.flow", skip_all, fields(agent.role = "sales", conversation.step = "qualify",
    template_category = "marketing", openinference.span.kind = "AGENT", tag.tags = ?["checkout", "vip"]))]
fn tracing_5(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[tracing::instrument(name = "agent.sales.flow", skip_all, fields(agent.role = "sales", conversation.step = "qualify",
    template_category = "marketing", openinference.span.kind = "AGENT", tag.tags = ?["checkout", "vip"]))]
async fn tracing_5_async(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[inline(never)]
#[chatobs_runtime::chat_span(name = "agent.sales.flow")]
fn chat_plain(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[inline(never)]
#[chatobs_runtime::chat_span(name = "agent.sales.flow", role = "sales", step = "qualify", template_category = marketing, kind = agent, tags("checkout", "vip"))]
fn chat_5(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[chatobs_runtime::chat_span(name = "agent.sales.flow", role = "sales", step = "qualify", template_category = marketing, kind = agent, tags("checkout", "vip"))]
async fn chat_5_async(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

/// fastrace's reporter for the benchmark: keeps nothing.
struct FastDiscard;
impl fastrace::collector::Reporter for FastDiscard {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        black_box(spans);
    }
}

#[inline(never)]
#[fastrace::trace(name = "agent.sales.flow")]
fn fastrace_plain(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[inline(never)]
#[fastrace::trace(name = "agent.sales.flow", properties = { "agent.role": "sales", "conversation.step": "qualify", "template_category": "marketing", "openinference.span.kind": "AGENT", "tag.tags": "checkout,vip" })]
fn fastrace_5(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

/// Calls per fastrace root.
const ROOT_BATCH: u64 = 1024;

/// `iters` calls of `f` under fastrace roots of [`ROOT_BATCH`] calls each (a
/// root per call would time two spans; one root for the whole run grows
/// without end).
fn under_fastrace_roots(iters: u64, f: fn(u64) -> u64) -> Duration {
    let start = std::time::Instant::now();
    let mut left = iters;
    while left > 0 {
        let n = left.min(ROOT_BATCH);
        let root = fastrace::Span::root("root", fastrace::collector::SpanContext::random());
        {
            let _parent = root.set_local_parent();
            for _ in 0..n {
                black_box(f(black_box(7)));
            }
        }
        drop(root);
        left -= n;
    }
    start.elapsed()
}

fn sdk_attrs() -> [KeyValue; 5] {
    [
        KeyValue::new("agent.role", "sales"),
        KeyValue::new("conversation.step", "qualify"),
        KeyValue::new("template_category", "marketing"),
        KeyValue::new("openinference.span.kind", "AGENT"),
        KeyValue::new(
            "tag.tags",
            opentelemetry::Value::Array(opentelemetry::Array::String(vec![
                "checkout".into(),
                "vip".into(),
            ])),
        ),
    ]
}

const CASES: &[(&str, &str)] = &[
    ("bare fn", "bare_fn"),
    (
        "#[tracing::instrument], no subscriber",
        "tracing_instrument_no_subscriber",
    ),
    (
        "#[tracing::instrument] 5 attrs, no subscriber",
        "tracing_instrument_5_no_subscriber",
    ),
    (
        "#[chat_span], nothing installed",
        "chat_span_nothing_installed",
    ),
    (
        "#[chat_span] 5 attrs, nothing installed",
        "chat_span_5_nothing_installed",
    ),
    (
        "tracing-opentelemetry 5 attrs, batch, discard",
        "tracing_otel_5",
    ),
    (
        "tracing-opentelemetry 5 attrs async",
        "tracing_otel_5_async",
    ),
    ("raw opentelemetry_sdk span 5 attrs", "raw_sdk_5"),
    (
        "raw opentelemetry_sdk span 5 attrs async",
        "raw_sdk_5_async",
    ),
    (
        "fastrace #[trace] under a root, discarding reporter",
        "fastrace_bare",
    ),
    ("fastrace #[trace] 5 properties under a root", "fastrace_5"),
    ("#[chat_span], full pipeline", "chat_span_bare_pipeline"),
    (
        "#[chat_span] 5 attrs, full pipeline",
        "chat_span_5_pipeline",
    ),
    (
        "#[chat_span] 5 attrs async, full pipeline",
        "chat_span_5_async_pipeline",
    ),
    (
        "#[chat_span] 5 attrs, priced conversation",
        "chat_span_5_conversation_pipeline",
    ),
    (
        "#[tracing::instrument] 5 attrs, chatobs bridge",
        "tracing_bridge_5",
    ),
    (
        "#[tracing::instrument] 5 attrs async, chatobs bridge",
        "tracing_bridge_5_async",
    ),
];

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("span_path");
    g.bench_function("bare_fn", |b| b.iter(|| bare(black_box(7))));
    g.bench_function("tracing_instrument_no_subscriber", |b| {
        b.iter(|| tracing_plain(black_box(7)))
    });
    g.bench_function("tracing_instrument_5_no_subscriber", |b| {
        b.iter(|| tracing_5(black_box(7)))
    });
    g.bench_function("chat_span_nothing_installed", |b| {
        b.iter(|| chat_plain(black_box(7)))
    });
    g.bench_function("chat_span_5_nothing_installed", |b| {
        b.iter(|| chat_5(black_box(7)))
    });

    {
        let provider = sdk_provider();
        let sub = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
        tracing::subscriber::with_default(sub, || {
            g.bench_function("tracing_otel_5", |b| b.iter(|| tracing_5(black_box(7))));
            g.bench_function("tracing_otel_5_async", |b| {
                b.iter(|| block_on(tracing_5_async(black_box(7))))
            });
        });
        let _ = provider.shutdown();
    }
    {
        let provider = sdk_provider();
        let tracer = provider.tracer("bench");
        g.bench_function("raw_sdk_5", |b| {
            b.iter(|| {
                let mut span = tracer
                    .span_builder("agent.sales.flow")
                    .with_attributes(sdk_attrs())
                    .start(&tracer);
                let r = bare(black_box(7));
                span.end();
                r
            })
        });
        g.bench_function("raw_sdk_5_async", |b| {
            b.iter(|| {
                let span = tracer
                    .span_builder("agent.sales.flow")
                    .with_attributes(sdk_attrs())
                    .start(&tracer);
                let cx = opentelemetry::Context::current_with_span(span);
                let r = block_on(async { bare(black_box(7)) }.with_context(cx.clone()));
                cx.span().end();
                r
            })
        });
        let _ = provider.shutdown();
    }
    {
        let mut cfg = chatobs_runtime::Config::default();
        cfg.exporter.kinds = vec![chatobs_runtime::config::ExporterKind::None];
        let guard = chatobs_runtime::init(cfg).expect("init");
        g.bench_function("chat_span_5_pipeline", |b| b.iter(|| chat_5(black_box(7))));
        g.bench_function("chat_span_bare_pipeline", |b| {
            b.iter(|| chat_plain(black_box(7)))
        });
        g.bench_function("chat_span_5_async_pipeline", |b| {
            b.iter(|| block_on(chat_5_async(black_box(7))))
        });
        // A bot's spans sit in a conversation that has a cost: each carries
        // the session ids and the conversation's running total (five
        // attributes, written as they were when the span ended).
        let session = chatobs_runtime::ChatSession::from_exported_id("bench-conversation")
            .expect("session id");
        session.in_scope(|| {
            let _ = chatobs_runtime::cost::record_llm_call(
                &chatobs_runtime::cost::LlmCall::new("gpt-4o-mini")
                    .provider("openai")
                    .input_tokens(1000)
                    .output_tokens(200),
            );
            g.bench_function("chat_span_5_conversation_pipeline", |b| {
                b.iter(|| chat_5(black_box(7)))
            });
        });
        // The same `#[tracing::instrument]` spans as through tracing-otel
        // above, now through the subscriber `init` installed: the `tracing`
        // bridge hands them to the same pipeline as the chat spans.
        g.bench_function("tracing_bridge_5", |b| b.iter(|| tracing_5(black_box(7))));
        g.bench_function("tracing_bridge_5_async", |b| {
            b.iter(|| block_on(tracing_5_async(black_box(7))))
        });
        let snap = guard.snapshot();
        println!(
            "chatobs pipeline after the benchmark: exported {} spans, dropped {} (queue {})",
            snap.exported, snap.dropped, snap.capacity
        );
    }
    // fastrace, the fastest Rust tracer: `#[trace]` under a root, its global
    // collector reporting to a reporter that keeps nothing.
    fastrace::set_reporter(FastDiscard, fastrace::collector::Config::default());
    g.bench_function("fastrace_bare", |b| {
        b.iter_custom(|n| under_fastrace_roots(n, fastrace_plain))
    });
    g.bench_function("fastrace_5", |b| {
        b.iter_custom(|n| under_fastrace_roots(n, fastrace_5))
    });
    // Its collector thread works on after the last case: flushed before
    // anything else is timed (it ran before chatobs' cases at first, and
    // its backlog then took chatobs' core: 105 ns read 167 ns).
    fastrace::flush();
    g.finish();
}

fn criterion_dir() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(d).join("criterion"));
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "target"))
        .map(|t| t.join("criterion"))
}

fn median_ns(dir: &std::path::Path, id: &str) -> Option<f64> {
    let p = dir
        .join("span_path")
        .join(id)
        .join("new")
        .join("estimates.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    benches(&mut c);
    c.final_summary();
    let Some(dir) = criterion_dir() else { return };
    let raw = median_ns(&dir, "raw_sdk_5");
    let raw_async = median_ns(&dir, "raw_sdk_5_async");
    let tr = median_ns(&dir, "tracing_instrument_no_subscriber");
    let tr5 = median_ns(&dir, "tracing_instrument_5_no_subscriber");
    println!(
        "\n{:<50} {:>10} {:>12} {:>26}",
        "case", "median ns", "x raw SDK 5", "x tracing, no subscriber"
    );
    for (label, id) in CASES {
        let Some(ns) = median_ns(&dir, id) else {
            continue;
        };
        let base = if id.contains("async") { raw_async } else { raw };
        let ratio = base.map(|b| format!("{:.2}", ns / b)).unwrap_or_default();
        let tbase = if id.contains('5') { tr5 } else { tr };
        let tratio = if id.contains("nothing_installed") || id.contains("no_subscriber") {
            tbase.map(|b| format!("{:.2}", ns / b)).unwrap_or_default()
        } else {
            String::new()
        };
        println!("{label:<50} {ns:>10.1} {ratio:>12} {tratio:>26}");
    }
    for (ours, theirs, target) in [
        ("chat_span_5_pipeline", "fastrace_5", "<= 1.00"),
        ("chat_span_bare_pipeline", "fastrace_bare", "<= 2.00"),
    ] {
        if let (Some(a), Some(b)) = (median_ns(&dir, ours), median_ns(&dir, theirs)) {
            println!("{ours:<50} {:>10.2} x {theirs} (target {target})", a / b);
        }
    }
    for (bridge, otel) in [
        ("tracing_bridge_5", "tracing_otel_5"),
        ("tracing_bridge_5_async", "tracing_otel_5_async"),
    ] {
        if let (Some(b), Some(o)) = (median_ns(&dir, bridge), median_ns(&dir, otel)) {
            println!("{bridge:<50} {:>10.2} x {otel} (target <= 0.35)", b / o);
        }
    }
    println!(
        "\ntargets: #[chat_span] 5 attrs through the full pipeline <= 0.35 x raw SDK (sync and async) \
         and <= fastrace 5 properties; a bare chat span <= 2.00 x fastrace's bare span; \
         nothing installed <= 10 ns and <= 2.00 x #[tracing::instrument] with no subscriber; \
         #[tracing::instrument] 5 attrs through the chatobs bridge <= 0.35 x tracing-opentelemetry"
    );
}
