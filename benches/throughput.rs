//! Does the export keep up? (issue 18). Not a criterion benchmark: a sweep.
//!
//! ```text
//! cargo bench -p chatobs-runtime --bench throughput
//! ```
//!
//! Two threads offer 5-attribute spans (`#[chat_span]` with role, step,
//! template category, kind and tags; the SDK's span with the same 5
//! attributes) at rising rates, one second per rate; after each second the
//! pipeline is flushed and the spans that reached the exporter are counted.
//! Printed per exporter: the highest offered rate with 0 spans lost, and the
//! export thread's spans per second at saturation (the two threads offering
//! as fast as they can for one second). Side by side in the same run,
//! `opentelemetry_sdk`'s `BatchSpanProcessor` with the same queue (8192), the
//! same batch (512) and the same exporter.
//!
//! Exporters: discard (chatobs `exporter = none`: every span still goes
//! through the export thread's conversion and observers; the SDK: an exporter
//! that counts and drops), the JSONL file (chatobs only: the SDK has none),
//! and OTLP/HTTP protobuf to a receiver on 127.0.0.1 that reads each body
//! and answers 200 (chatobs' exporter; the SDK's `opentelemetry-otlp`).
//!
//! Each configuration runs in a process of its own (`chatobs_runtime::init`
//! installs one pipeline per process): the benchmark starts itself again
//! with `--child <system> <exporter>`. Producers, export thread and receiver
//! share this machine's cores, as they would in a bot.

use std::hint::black_box;
use std::io::{Read as _, Write as _};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Offered rates, spans per second over both threads.
const RATES: [u64; 17] = [
    50_000, 100_000, 200_000, 300_000, 400_000, 500_000, 600_000, 800_000, 1_000_000, 1_200_000,
    1_500_000, 2_000_000, 2_500_000, 3_000_000, 3_500_000, 4_000_000, 5_000_000,
];
const STEP: Duration = Duration::from_secs(1);
const THREADS: usize = 2;

#[inline(never)]
#[chatobs_runtime::chat_span(name = "agent.sales.flow", role = "sales", step = "qualify", template_category = marketing, kind = agent, tags("checkout", "vip"))]
fn chat_5(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

/// One system under test.
trait System: Send + Sync {
    fn span(&self, x: u64);
    /// Everything offered so far has reached the exporter (or was lost).
    fn flush(&self);
    /// Spans the exporter took so far.
    fn exported(&self) -> u64;
}

// ---- chatobs ------------------------------------------------------------------------------

struct Chatobs {
    guard: std::sync::Mutex<chatobs_runtime::Guard>,
}

impl System for Chatobs {
    fn span(&self, x: u64) {
        chat_5(x);
    }
    fn flush(&self) {
        if let Ok(g) = self.guard.lock() {
            g.flush(Duration::from_secs(30));
        }
    }
    fn exported(&self) -> u64 {
        self.guard.lock().map_or(0, |g| g.snapshot().exported)
    }
}

// ---- opentelemetry_sdk ---------------------------------------------------------------------

use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider, SpanData, SpanExporter,
};

/// Counts what its inner exporter took (or, without one, drops it). The
/// inner exporter (hyper) runs on `rt`: the batch processor exports from a
/// thread of its own, outside any tokio runtime.
#[derive(Debug)]
struct Counting<E> {
    inner: Option<(E, tokio::runtime::Runtime)>,
    n: Arc<AtomicU64>,
}

impl<E: SpanExporter> SpanExporter for Counting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len() as u64;
        match &self.inner {
            Some((e, rt)) => rt.block_on(e.export(batch))?,
            None => drop(black_box(batch)),
        }
        self.n.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }
}

struct Sdk {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    n: Arc<AtomicU64>,
}

impl Sdk {
    fn new<E: SpanExporter + 'static>(inner: Option<(E, tokio::runtime::Runtime)>) -> Sdk {
        let n = Arc::new(AtomicU64::new(0));
        let bsp = BatchSpanProcessor::builder(Counting {
            inner,
            n: n.clone(),
        })
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(8192)
                .with_max_export_batch_size(512)
                .with_scheduled_delay(Duration::from_millis(500))
                .build(),
        )
        .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(bsp)
            .build();
        let tracer = provider.tracer("bench");
        Sdk {
            provider,
            tracer,
            n,
        }
    }
}

impl System for Sdk {
    fn span(&self, x: u64) {
        let mut s = self.tracer.start("agent.sales.flow");
        s.set_attribute(opentelemetry::KeyValue::new("agent.role", "sales"));
        s.set_attribute(opentelemetry::KeyValue::new("conversation.step", "qualify"));
        s.set_attribute(opentelemetry::KeyValue::new(
            "template_category",
            "marketing",
        ));
        s.set_attribute(opentelemetry::KeyValue::new(
            "openinference.span.kind",
            "AGENT",
        ));
        s.set_attribute(opentelemetry::KeyValue::new(
            "tag.tags",
            opentelemetry::Value::Array(opentelemetry::Array::String(vec![
                "checkout".into(),
                "vip".into(),
            ])),
        ));
        black_box(x);
        s.end();
    }
    fn flush(&self) {
        let _ = self.provider.force_flush();
    }
    fn exported(&self) -> u64 {
        self.n.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
struct Nothing;
impl SpanExporter for Nothing {
    async fn export(&self, _: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

// ---- the OTLP/HTTP receiver ----------------------------------------------------------------

/// A minimal HTTP/1.1 server on 127.0.0.1: reads each request's body whole
/// and answers 200 with an empty protobuf body (an empty
/// `ExportTraceServiceResponse`). One thread per connection.
fn receiver() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            std::thread::spawn(move || serve(conn));
        }
    });
    format!("http://{addr}")
}

fn serve(mut c: std::net::TcpStream) {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut chunk = [0u8; 1 << 16];
    loop {
        // Headers.
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match c.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < end + len {
            match c.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        black_box(&buf[end..end + len]);
        buf.drain(..end + len);
        let resp =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if c.write_all(resp).is_err() {
            return;
        }
    }
}

// ---- the sweep -----------------------------------------------------------------------------

/// Offers `rate` spans/s (0: as fast as possible) from [`THREADS`] threads
/// for [`STEP`]; returns (offered, seconds, exported during the step).
fn offer(sys: &Arc<dyn System>, rate: u64) -> (u64, f64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let offered = Arc::new(AtomicU64::new(0));
    let before = sys.exported();
    let t0 = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|k| {
            let (sys, stop, offered) = (sys.clone(), stop.clone(), offered.clone());
            std::thread::spawn(move || {
                let per_thread = rate as f64 / THREADS as f64;
                let mut n: u64 = 0;
                let start = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    let due = if rate == 0 {
                        n + 64
                    } else {
                        (start.elapsed().as_secs_f64() * per_thread) as u64
                    };
                    if n >= due {
                        std::thread::sleep(Duration::from_micros(200));
                        continue;
                    }
                    let batch = (due - n).min(256);
                    for i in 0..batch {
                        sys.span(n + i + k as u64);
                    }
                    n += batch;
                }
                offered.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    std::thread::sleep(STEP);
    let during = sys.exported() - before;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    let secs = t0.elapsed().as_secs_f64();
    (offered.load(Ordering::Relaxed), secs, during)
}

fn child(system: &str, exporter: &str) {
    let dir = std::env::temp_dir().join(format!("chatobs-throughput-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let sys: Arc<dyn System> = match (system, exporter) {
        ("chatobs", e) => {
            use chatobs_runtime::config::{ExporterKind, OtlpProtocol};
            let mut cfg = chatobs_runtime::Config::default();
            cfg.exporter.kinds = vec![match e {
                "discard" => ExporterKind::None,
                "file" => ExporterKind::File,
                _ => ExporterKind::Otlp,
            }];
            cfg.exporter.file_path = dir.join("spans.jsonl");
            if e == "otlp" {
                // Spans (and, as a user with an OTLP endpoint gets, metrics) to the receiver.
                cfg.otlp.endpoint = receiver();
                cfg.otlp.protocol = OtlpProtocol::HttpProtobuf;
            }
            cfg.logs.output = dir.join("log.jsonl").to_string_lossy().into_owned();
            let guard = chatobs_runtime::init(cfg).expect("init");
            Arc::new(Chatobs {
                guard: std::sync::Mutex::new(guard),
            })
        }
        ("sdk", "discard") => Arc::new(Sdk::new::<Nothing>(None)),
        ("sdk", _) => {
            use opentelemetry_otlp::WithExportConfig as _;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let exp = {
                let _in = rt.enter();
                opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_endpoint(format!("{}/v1/traces", receiver()))
                    .with_timeout(Duration::from_secs(10))
                    .build()
                    .expect("otlp exporter")
            };
            Arc::new(Sdk::new(Some((exp, rt))))
        }
        _ => panic!("unknown configuration {system} {exporter}"),
    };
    // Warm up (connections, the first allocations).
    offer(&sys, 20_000);
    sys.flush();
    // `THROUGHPUT_RATE=<spans/s>`: five steps at that one rate instead of
    // the ladder (for a profiler: `perf record -- <bench> --child chatobs otlp`).
    if let Some(r) = std::env::var("THROUGHPUT_RATE")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        for _ in 0..5 {
            let before = sys.exported();
            let (offered, secs, _) = offer(&sys, r);
            sys.flush();
            let lost = offered.saturating_sub(sys.exported() - before);
            eprintln!("{system:>7} {exporter:>7} offered {r:>9}/s: {offered:>9} spans in {secs:.2} s, {lost} lost");
        }
        drop(sys);
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let mut best = 0u64;
    let mut misses = 0;
    for rate in RATES {
        let before = sys.exported();
        let (offered, secs, _) = offer(&sys, rate);
        sys.flush();
        let got = sys.exported() - before;
        let lost = offered.saturating_sub(got);
        // The producers must have offered the rate (within 5 %).
        let reached = offered as f64 / secs >= rate as f64 * 0.95 * STEP.as_secs_f64() / secs;
        eprintln!(
            "{system:>7} {exporter:>7} offered {rate:>9}/s: {offered:>9} spans in {secs:.2} s, {lost} lost{}",
            if reached { "" } else { " (producers fell short)" }
        );
        if lost == 0 && reached {
            best = rate;
            misses = 0;
        } else {
            misses += 1;
            if misses == 2 {
                break;
            }
        }
    }
    let before = sys.exported();
    let (offered, secs, during) = offer(&sys, 0);
    sys.flush();
    let lost = offered.saturating_sub(sys.exported() - before);
    println!(
        "RESULT {system} {exporter} {best} {} {} {}",
        (during as f64 / STEP.as_secs_f64()) as u64,
        (offered as f64 / secs) as u64,
        lost
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1], &args[i + 2]);
        return;
    }
    // `cargo bench` passes `--bench`; a filter is not supported.
    let me = std::env::current_exe().expect("current exe");
    let mut rows: Vec<(String, String, u64, u64, u64, u64)> = Vec::new();
    // The file last: the gigabytes it writes are still being written back
    // to the disk for seconds after its process ends, which took CPU and
    // I/O from the configuration after it (chatobs OTLP lost spans at 1.0M
    // right after the file, none at 1.5M alone).
    for (system, exporter) in [
        ("chatobs", "discard"),
        ("sdk", "discard"),
        ("chatobs", "otlp"),
        ("sdk", "otlp"),
        ("chatobs", "file"),
    ] {
        let out = std::process::Command::new(&me)
            .args(["--child", system, exporter])
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("child");
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(line) = text.lines().find(|l| l.starts_with("RESULT ")) else {
            eprintln!("{system} {exporter}: no result ({})", out.status);
            continue;
        };
        let f: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse().ok()).unwrap_or(0u64);
        rows.push((f[1].into(), f[2].into(), num(3), num(4), num(5), num(6)));
    }
    println!();
    println!(
        "{:<8} {:<8} {:>16} {:>22} {:>18} {:>14}",
        "system",
        "exporter",
        "0-drop rate /s",
        "exported/s saturated",
        "offered/s sat.",
        "lost at sat."
    );
    for (s, e, best, sat, offered, lost) in &rows {
        println!("{s:<8} {e:<8} {best:>16} {sat:>22} {offered:>18} {lost:>14}");
    }
    let get = |s: &str, e: &str| rows.iter().find(|r| r.0 == s && r.1 == e).map(|r| r.2);
    for e in ["discard", "otlp"] {
        if let (Some(c), Some(k)) = (get("chatobs", e), get("sdk", e)) {
            println!(
                "{e}: chatobs' zero-drop rate / the SDK batch processor's = {:.2}",
                c as f64 / k.max(1) as f64
            );
        }
    }
}
