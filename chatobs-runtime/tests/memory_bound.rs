//! Memory is bounded in bytes, not in span count: with a queue of 1 048 576
//! spans (the largest allowed) and a dead or hanging collector, a bot that
//! produces spans at full speed for 10 s stays within 64 MB, and everything
//! that did not fit is counted as dropped. (A first version reached 822 MB.)

mod support;

use chatobs_runtime::config::{ExporterKind, LogFormat, OtlpProtocol};
use chatobs_runtime::{chat_span, Config};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[chat_span(name = "agent.sales.flow", role = "sales", step = "qualify", tags("checkout", "vip"), template_category = marketing)]
fn turn(i: u64, note: &str) -> u64 {
    // A realistic owned attribute (an LLM answer excerpt of 400 bytes).
    chatobs_runtime::current::set_attr("bot.answer_excerpt", note.to_owned());
    i.wrapping_mul(31)
}

/// Peak resident set of this process, in bytes (Linux `VmHWM`).
fn peak_rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

fn flood(
    endpoint: String,
    protocol: OtlpProtocol,
) -> (u64, chatobs_runtime::pipeline::PipelineSnapshot) {
    let mut c = Config::default();
    c.exporter.kinds = vec![ExporterKind::Otlp];
    c.otlp.endpoint = endpoint;
    c.otlp.protocol = protocol;
    c.exporter.queue_size = 1 << 20;
    c.exporter.export_timeout_ms = 2_000;
    c.exporter.shutdown_timeout_ms = 500;
    c.logs.format = LogFormat::Off;
    assert_eq!(c.exporter.max_queue_bytes, 32 << 20, "the default budget");
    let guard = chatobs_runtime::init(c).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(AtomicU64::new(0));
    let note = "x".repeat(400);
    let bots: Vec<_> = (0..2)
        .map(|_| {
            let (stop, made, note) = (stop.clone(), made.clone(), note.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    std::hint::black_box(turn(i, &note));
                    i += 1;
                }
                made.fetch_add(i, Ordering::Relaxed);
            })
        })
        .collect();
    let t = Instant::now();
    let mut max_queued_bytes = 0;
    while t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        max_queued_bytes = max_queued_bytes.max(guard.snapshot().queued_bytes);
    }
    stop.store(true, Ordering::Relaxed);
    for b in bots {
        b.join().unwrap();
    }
    let snap = guard.snapshot();
    assert!(
        max_queued_bytes <= 32 << 20,
        "queued {max_queued_bytes} bytes"
    );
    drop(guard);
    (made.load(Ordering::Relaxed), snap)
}

#[test]
fn a_dead_or_hanging_collector_cannot_grow_the_bot_past_64_mb() {
    let refusing = support::refusing_addr();
    let (made, snap) = flood(format!("http://{refusing}"), OtlpProtocol::Grpc);
    let rss = peak_rss();
    println!(
        "refusing collector: {made} spans made, {snap:?}, peak RSS {} MB",
        rss >> 20
    );
    assert!(snap.dropped > 0, "{snap:?}");
    assert_eq!(snap.exported, 0);
    assert!(
        snap.dropped + snap.export_failed + snap.queued as u64 + snap.lost >= made - 1024,
        "every span is exported, queued or counted: {made} made, {snap:?}"
    );
    assert!(rss < 64 << 20, "peak RSS {} MB", rss >> 20);

    let hang = support::hanging_endpoint();
    let (made, snap) = flood(format!("http://{}", hang.addr), OtlpProtocol::HttpProtobuf);
    let rss = peak_rss();
    println!(
        "hanging collector: {made} spans made, {snap:?}, peak RSS {} MB",
        rss >> 20
    );
    assert!(snap.dropped > 0, "{snap:?}");
    assert_eq!(snap.exported, 0);
    assert!(rss < 64 << 20, "peak RSS {} MB", rss >> 20);
}
