//! A bot producing spans at full speed for 10 s against a collector that is
//! down, with the largest queue allowed (1 048 576 spans): shared by the
//! memory-bound tests, one collector per test binary (a process's peak RSS
//! is the figure asserted).

#![allow(dead_code)]

#[path = "../support/mod.rs"]
mod support;
#[allow(unused_imports)]
pub use support::{hanging_endpoint, refusing_addr};

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
pub fn peak_rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

pub fn flood(
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
    assert_eq!(c.exporter.max_queue_bytes, 16 << 20, "the default budget");
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
