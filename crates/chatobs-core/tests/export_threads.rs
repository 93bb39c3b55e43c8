//! The export thread converts batches and hands them to the exporters'
//! thread. What must hold when an exporter hangs past shutdown's deadline:
//! shutdown returns on time (false), and every span is counted exactly once
//! in the end: exported (the batches already in the exporter's hands, once
//! it returns), lost (still queued at the deadline) or dropped (the queue
//! was full). And a flush waits for the exporters' thread: what ended
//! before `flush` is exported when it returns.

use chatobs_core::config::{ExporterConfig, SamplingConfig};
use chatobs_core::export::SpanExporter;
use chatobs_core::model::FinishedSpan;
use chatobs_core::pipeline::{ready, start, Guard};
use chatobs_core::SpanBuilder;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Takes `delay` per batch, counting what it was given.
struct Slow {
    delay: Duration,
    got: Arc<AtomicU64>,
}

impl SpanExporter for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }
    fn export(&mut self, batch: &[FinishedSpan]) -> Result<(), String> {
        std::thread::sleep(self.delay);
        self.got.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// A pipeline configured by `cfg` whose one exporter is [`Slow`] with
/// `delay`, and the count of spans that exporter was given.
fn with_slow_exporter(delay: Duration, cfg: ExporterConfig) -> (Guard, Arc<AtomicU64>) {
    let got = Arc::new(AtomicU64::new(0));
    let slow = Slow {
        delay,
        got: got.clone(),
    };
    let guard = start(
        &cfg,
        &SamplingConfig::default(),
        vec![ready(Box::new(slow))],
        None,
    )
    .unwrap();
    (guard, got)
}

#[test]
fn a_hanging_exporter_counts_every_span_once_and_flush_waits_for_the_exporters() {
    // Flush: a 20 ms exporter, 1000 spans; all exported when flush returns.
    let (guard, got) = with_slow_exporter(
        Duration::from_millis(20),
        ExporterConfig {
            batch_size: 100,
            ..ExporterConfig::default()
        },
    );
    for i in 0..1000 {
        drop(SpanBuilder::new(format!("flushed.{}", i % 7)).start());
    }
    assert!(guard.flush(Duration::from_secs(10)));
    assert_eq!(got.load(Ordering::Relaxed), 1000);
    assert_eq!(guard.snapshot().exported, 1000);
    assert_eq!(guard.snapshot().queued, 0);
    assert!(guard.shutdown());

    // Hang: 1.5 s per batch, shutdown's deadline 200 ms.
    let (guard, got) = with_slow_exporter(
        Duration::from_millis(1500),
        ExporterConfig {
            batch_size: 64,
            queue_size: 1024,
            shutdown_timeout_ms: 200,
            ..ExporterConfig::default()
        },
    );
    let made = 3000u64;
    for _ in 0..made {
        drop(SpanBuilder::new("hung").start());
    }
    // Let the export thread hand the first batches over.
    std::thread::sleep(Duration::from_millis(100));
    let stats = guard.stats();
    let dropped = guard.snapshot().dropped;
    let t0 = Instant::now();
    assert!(!guard.shutdown(), "the exporter hangs past the deadline");
    assert!(
        t0.elapsed() < Duration::from_millis(1200),
        "{:?}",
        t0.elapsed()
    );
    // The batches in the exporter's hands finish later, and are counted then.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let exported = stats.exported.load(Ordering::Relaxed);
        let lost = stats.lost.load(Ordering::Relaxed);
        let failed = stats.export_failed.load(Ordering::Relaxed);
        if exported + lost + failed + dropped == made {
            assert_eq!(exported, got.load(Ordering::Relaxed));
            assert!(lost > 0 && exported > 0, "exported {exported}, lost {lost}");
            break;
        }
        assert!(
            exported + lost + failed + dropped < made,
            "counted twice: exported {exported} lost {lost} failed {failed} dropped {dropped} of {made}"
        );
        assert!(
            Instant::now() < deadline,
            "exported {exported} lost {lost} dropped {dropped} of {made}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
