//! `exporter = none` (metrics and hooks only): the export thread still
//! drains, converts and counts every span, but there is no exporters' thread
//! to hand batches to (nothing to wait for, no thread to wake per batch).
//! Flush and shutdown still answer, and every span is counted once.

mod support;

use chatobs_core::SpanBuilder;
use std::time::Duration;

/// The names of this process's threads.
fn thread_names() -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for t in dir.flatten() {
            if let Ok(n) = std::fs::read_to_string(t.path().join("comm")) {
                names.push(n.trim().to_owned());
            }
        }
    }
    names
}

#[test]
fn with_no_exporter_every_span_is_counted_and_no_exporters_thread_runs() {
    let guard = support::pipeline::without_exporter(100);
    // Two bot threads and this one end spans.
    std::thread::scope(|s| {
        for t in 0..2 {
            s.spawn(move || {
                for i in 0..1000 {
                    drop(SpanBuilder::new(format!("bot{t}.{}", i % 5)).start());
                }
            });
        }
    });
    for _ in 0..500 {
        drop(SpanBuilder::new("main").start());
    }
    assert!(guard.flush(Duration::from_secs(10)), "flush answers");
    let snap = guard.snapshot();
    assert_eq!(snap.exported, 2500, "every span counted once: {snap:?}");
    assert_eq!(
        (snap.queued, snap.dropped, snap.lost),
        (0, 0, 0),
        "{snap:?}"
    );

    let names = thread_names();
    if !names.is_empty() {
        assert!(names.iter().any(|n| n == "chatobs-export"), "{names:?}");
        assert!(!names.iter().any(|n| n == "chatobs-exporter"), "{names:?}");
    }

    // A second round after the flush: still counted, and shutdown answers.
    for _ in 0..300 {
        drop(SpanBuilder::new("after").start());
    }
    assert!(guard.flush(Duration::from_secs(10)));
    assert_eq!(guard.snapshot().exported, 2800);
    for _ in 0..10 {
        drop(SpanBuilder::new("at shutdown").start());
    }
    assert!(guard.shutdown(), "shutdown answers with no exporter");
}
