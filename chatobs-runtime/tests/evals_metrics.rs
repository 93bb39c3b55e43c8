//! Evaluation results reach the metrics with no wiring in the bot: `init`
//! installs the metrics, every evaluation pipeline reports to them.

use chatobs_runtime::config::{ExporterKind, LogFormat};
use chatobs_runtime::evals::{EvalInput, EvalPipeline, Submitted};
use chatobs_runtime::{Config, SpanBuilder};
use std::time::Duration;

#[test]
fn scores_feed_the_eval_histogram() {
    let mut c = Config::default();
    c.exporter.kinds = vec![ExporterKind::Memory];
    c.logs.format = LogFormat::Off;
    let guard = chatobs_runtime::init(c.clone()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let p = EvalPipeline::from_config(&c.evals).unwrap();
        for _ in 0..3 {
            let mut reply = SpanBuilder::new("agent.sales.flow").start();
            let s = reply.in_scope(|| {
                p.submit(
                    "readability",
                    EvalInput::new(
                        "¿Precio?",
                        "The jacket costs fifty dollars. It ships today.",
                    ),
                )
            });
            assert_eq!(s, Submitted::Queued);
        }
        assert!(p.idle(Duration::from_secs(20)).await);
    });
    let text = chatobs_runtime::metrics::render();
    let count = text
        .lines()
        .find(|l| {
            l.starts_with("chatobs_eval_score_count{") && l.contains("evaluator=\"readability\"")
        })
        .unwrap_or_else(|| panic!("no readability score series in:\n{text}"));
    assert!(count.ends_with(" 3"), "{count}");
    drop(guard);
}
