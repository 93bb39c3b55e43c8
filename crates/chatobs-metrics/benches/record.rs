//! Recording one counter increment with three labels, side by side:
//! chatobs' registry (borrowed label lookup) against `prometheus-client`'s
//! `Family` (owned label set per lookup, the way its docs use it). This is
//! why chatobs records in its own registry and uses `prometheus-client` only
//! to write the exposition (see `src/exposition.rs`). Run:
//! `cargo bench -p chatobs-metrics --bench record`; it prints the ratio.

use chatobs_metrics::registry::{Family, Kind};
use criterion::{criterion_group, Criterion};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family as PcFamily;
use std::hint::black_box;
use std::time::Duration;

const MODELS: [&str; 4] = [
    "gpt-4o",
    "gpt-4o-mini",
    "gemini-2.5-flash",
    "claude-sonnet-4-5",
];

fn record(c: &mut Criterion) {
    let ours = Family::new(
        "bench_calls_total",
        "Calls.",
        Kind::Counter,
        &["provider", "model", "outcome"],
        1,
        &[],
    );
    let theirs: PcFamily<Vec<(&'static str, String)>, Counter> = PcFamily::default();
    let mut g = c.benchmark_group("record_counter_3_labels");
    g.measurement_time(Duration::from_secs(3));
    let mut i = 0usize;
    g.bench_function("chatobs_registry", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let m = MODELS[i & 3];
            ours.add(&[black_box("openai"), black_box(m), "ok"], 1);
        })
    });
    let mut j = 0usize;
    g.bench_function("prometheus_client_family", |b| {
        b.iter(|| {
            j = j.wrapping_add(1);
            let m = MODELS[j & 3];
            theirs
                .get_or_create(&vec![
                    ("provider", black_box("openai").to_owned()),
                    ("model", black_box(m).to_owned()),
                    ("outcome", "ok".to_owned()),
                ])
                .inc();
        })
    });
    g.finish();
}

criterion_group!(benches, record);

fn main() {
    benches();
    let c = Criterion::default().configure_from_args();
    c.final_summary();
    // Ratio of the medians criterion just wrote (target/criterion/.../new/estimates.json).
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            exe.ancestors()
                .find(|p| p.file_name().is_some_and(|n| n == "target"))
                .map(|p| p.to_path_buf())
        })
        .unwrap_or_else(|| std::path::PathBuf::from("target"));
    let dir = target.join("criterion/record_counter_3_labels");
    let median = |name: &str| -> Option<f64> {
        let s = std::fs::read_to_string(dir.join(name).join("new/estimates.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&s).ok()?;
        v["median"]["point_estimate"].as_f64()
    };
    match (median("chatobs_registry"), median("prometheus_client_family")) {
        (Some(a), Some(b)) => println!(
            "record_counter_3_labels: chatobs {a:.1} ns, prometheus-client {b:.1} ns, ratio chatobs/prometheus-client = {:.2}x",
            a / b
        ),
        _ => println!("record_counter_3_labels: no estimates found under {}", dir.display()),
    }
}
