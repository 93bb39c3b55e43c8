//! Head sampling decides before a span is built; unsampled spans still
//! propagate their ids (flag 00), and children follow their parent.

use chatobs_runtime::config::{ExporterKind, LogFormat};
use chatobs_runtime::{chat_span, Config, Context};
use std::collections::HashSet;
use std::time::Duration;

#[chat_span(name = "orchestrator.decision", role = "orchestrator")]
fn root() -> Option<String> {
    child();
    Context::current().traceparent()
}

#[chat_span(name = "classifier.predict", role = "classifier")]
fn child() {}

#[test]
fn ratio_and_parent_based_sampling() {
    let mut c = Config::default();
    c.exporter.kinds = vec![ExporterKind::Memory];
    c.logs.format = LogFormat::Off;
    c.apply_env(|k| match k {
        "OTEL_TRACES_SAMPLER" => Some("parentbased_traceidratio".into()),
        "OTEL_TRACES_SAMPLER_ARG" => Some("0.25".into()),
        _ => None,
    })
    .unwrap();
    let guard = chatobs_runtime::init(c).unwrap();
    let mut sampled_flags = 0;
    let mut unsampled_flags = 0;
    for _ in 0..2000 {
        let tp = root().expect("ids propagate even when not sampled");
        if tp.ends_with("-01") {
            sampled_flags += 1;
        } else {
            assert!(tp.ends_with("-00"), "{tp}");
            unsampled_flags += 1;
        }
    }
    assert!(guard.flush(Duration::from_secs(10)));
    let spans = guard.memory_spans();
    let roots: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "orchestrator.decision")
        .collect();
    let children: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "classifier.predict")
        .collect();
    assert_eq!(
        roots.len(),
        sampled_flags,
        "exactly the traces flagged sampled were exported"
    );
    assert_eq!(
        children.len(),
        roots.len(),
        "children follow their parent's decision"
    );
    let traces: HashSet<_> = roots.iter().map(|s| s.trace_id).collect();
    assert!(children.iter().all(|c| traces.contains(&c.trace_id)));
    // The OpenTelemetry TraceIdRatioBased rule, so other services agree.
    for r in &roots {
        assert!(((r.trace_id.0 as u64) >> 1) < (0.25 * (1u64 << 63) as f64) as u64);
    }
    // 2000 traces at 25%: far from 0 and from 2000 (binomial sd ~19).
    assert!(
        (350..650).contains(&sampled_flags),
        "{sampled_flags} sampled, {unsampled_flags} not"
    );
    println!("sampled {sampled_flags} of 2000 traces");
}
