//! Spans go through one lane per thread (a ring of the thread's own, drained
//! by the export thread). What must hold: every span of every thread reaches
//! the exporter once, threads that exit leave nothing behind, a span ended
//! while its thread's locals are torn down still arrives (the shared
//! fallback queue), and what a full lane refuses is counted, never lost
//! silently: exported + dropped = made.

use chatobs_runtime::config::{ExporterKind, LogFormat};
use chatobs_runtime::{chat_span, Config, SpanBuilder};
use std::collections::HashSet;
use std::time::Duration;

#[chat_span(name = "agent.sales.flow", role = "sales", step = "qualify")]
fn sales() {}

/// Ends its span in a thread-local destructor (after the thread's lane is gone).
struct EndsLate(Option<chatobs_runtime::ChatSpan>);
impl Drop for EndsLate {
    fn drop(&mut self) {
        drop(self.0.take());
    }
}
thread_local! {
    static LATE: std::cell::RefCell<Option<EndsLate>> = const { std::cell::RefCell::new(None) };
}

fn config(queue: usize) -> Config {
    let mut c = Config::default();
    c.exporter.kinds = vec![ExporterKind::Memory];
    c.exporter.queue_size = queue;
    c.exporter.batch_size = 64;
    c.exporter.scheduled_delay_ms = 5;
    c.logs.format = LogFormat::Off;
    c
}

#[test]
fn lanes_of_many_threads_lose_nothing_and_full_lanes_count_what_they_drop() {
    // Part 1: 8 short-lived threads, 1000 spans each, and one span ended in
    // a thread-local destructor: all exported, each once, none dropped.
    let guard = chatobs_runtime::init(config(8192)).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    sales();
                }
                let span = SpanBuilder::new(format!("late.{t}")).start();
                LATE.with(|l| *l.borrow_mut() = Some(EndsLate(Some(span))));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(guard.flush(Duration::from_secs(10)));
    let spans = guard.memory_spans();
    let snap = guard.snapshot();
    assert_eq!(snap.dropped, 0);
    let sales_spans = spans
        .iter()
        .filter(|s| s.name == "agent.sales.flow")
        .count();
    assert_eq!(sales_spans, 8000);
    let late: HashSet<&str> = spans
        .iter()
        .filter(|s| s.name.starts_with("late."))
        .map(|s| s.name.as_ref())
        .collect();
    assert_eq!(
        late.len(),
        8,
        "spans ended in thread-local destructors: {late:?}"
    );
    let ids: HashSet<_> = spans.iter().map(|s| s.span_id).collect();
    assert_eq!(ids.len(), spans.len(), "each span exported once");
    assert_eq!(snap.queued, 0, "exited threads leave nothing queued");
    drop(guard);

    // Part 2: lanes of 16 spans, a slow exporter cycle: a burst of 5000
    // spans on each of 2 threads overflows; exported + dropped = made.
    let mut c = config(16);
    c.exporter.scheduled_delay_ms = 200;
    c.exporter.batch_size = 16;
    let guard = chatobs_runtime::init(c).unwrap();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(|| {
                for _ in 0..5000 {
                    sales();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(guard.flush(Duration::from_secs(10)));
    let exported = guard.memory_spans().len() as u64;
    let snap = guard.snapshot();
    assert!(snap.dropped > 0, "a lane of 16 cannot take a burst of 5000");
    assert!(exported >= 16, "what fit was exported: {exported}");
    assert_eq!(exported + snap.dropped, 10_000, "{snap:?}");
}
