//! `chatobs report` on a 1 000 000-span file: reading the JSONL and drawing
//! every waterfall (issue 11: "a 1M-span file in seconds").
//!
//! The file is generated in memory, as the file exporter writes it: 3 000
//! sessions of turns of 5-15 spans, one 100 000-deep parent chain, and 20
//! each of self-parents, 2-cycles and 3-cycles. One iteration reads the
//! bytes tolerantly and writes the whole report to a sink; criterion's
//! estimate is printed as usual, then the median of every timed run, split
//! into reading and drawing.
//!
//! ```text
//! cargo bench -p chatobs-core --bench report
//! ```

use chatobs_core::report;
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "../tests/support/spans.rs"]
mod spans;

const SPANS: usize = 1_000_000;
const SESSIONS: usize = 3_000;
const CHAIN: usize = 100_000;
const CYCLES: usize = 20;

fn bench(c: &mut Criterion) {
    let t = Instant::now();
    let all = spans::realistic(SPANS, SESSIONS, CHAIN, CYCLES);
    let file = spans::jsonl(&all);
    drop(all);
    println!(
        "generated {SPANS} spans, {:.0} MiB of JSONL, in {:.1} s",
        file.len() as f64 / (1 << 20) as f64,
        t.elapsed().as_secs_f64()
    );
    let runs: RefCell<Vec<(Duration, Duration)>> = RefCell::new(Vec::new());
    let mut g = c.benchmark_group("report");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(30));
    g.bench_function("read_and_waterfall_1M_spans", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let read = report::read_jsonl_lossy(black_box(&file));
                let read_time = t.elapsed();
                assert_eq!(read.spans.len(), SPANS);
                assert_eq!(read.skipped, 0);
                let mut sink = std::io::sink();
                let n = report::write_waterfall(&mut sink, &read.spans, None).expect("sink");
                black_box(n);
                // Dropping a million spans is part of the command's work too.
                drop(read);
                let all = t.elapsed();
                runs.borrow_mut().push((read_time, all - read_time));
                total += all;
            }
            total
        })
    });
    g.finish();
    let mut r = runs.into_inner();
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let mut read: Vec<Duration> = r.iter().map(|x| x.0).collect();
    let mut draw: Vec<Duration> = r.iter().map(|x| x.1).collect();
    let mut both: Vec<Duration> = r.drain(..).map(|x| x.0 + x.1).collect();
    println!(
        "report of {SPANS} spans: median {:.2} s over {} runs (read {:.2} s, waterfall + drop {:.2} s)",
        median(&mut both).as_secs_f64(),
        both.len(),
        median(&mut read).as_secs_f64(),
        median(&mut draw).as_secs_f64(),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
