//! Evaluation-score alerts do not depend on metrics: `init` connects each
//! evaluation result to the metrics and to the alert engine separately.

use chatobs_runtime::config::{ExporterKind, LogFormat};
use chatobs_runtime::evals::{EvalInput, EvalPipeline, Submitted};
use chatobs_runtime::{Config, SpanBuilder};
use std::time::Duration;

/// An evaluator that always scores 0.2 (a bad answer).
struct Low;

impl chatobs_runtime::evals::Evaluator for Low {
    fn name(&self) -> &str {
        "politeness"
    }
    fn annotator_kind(&self) -> chatobs_runtime::evals::AnnotatorKind {
        chatobs_runtime::evals::AnnotatorKind::Code
    }
    fn evaluate<'a>(
        &'a self,
        _input: &'a EvalInput,
    ) -> chatobs_runtime::evals::BoxFuture<
        'a,
        Result<chatobs_runtime::evals::EvalResult, chatobs_runtime::evals::EvalError>,
    > {
        Box::pin(async { Ok(chatobs_runtime::evals::EvalResult::new("rude", Some(0.2))) })
    }
}

/// The `eval_score` rules are checked whether or not metrics are on: `init`
/// connects evaluation results to the alert engine directly, not through the
/// metrics (before the split into crates, turning metrics off silenced them).
#[test]
fn score_alerts_fire_with_metrics_off() {
    let mut c = Config::from_toml_str(
        "[metrics]\nenabled = false\n[alerts.rules.impolite]\nquantity = \"eval_score\"\nevaluator = \"politeness\"\nbelow = 0.5\n",
        None,
    )
    .unwrap();
    c.exporter.kinds = vec![ExporterKind::Memory];
    c.logs.format = LogFormat::Off;
    assert!(!c.metrics.enabled);
    let guard = chatobs_runtime::init(c.clone()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let p = EvalPipeline::builder(c.evals.clone())
            .evaluator(std::sync::Arc::new(Low))
            .start()
            .unwrap();
        let session = chatobs_runtime::ChatSession::from_exported_id("eval-alerts-off").unwrap();
        let mut reply = SpanBuilder::new("agent.sales.flow")
            .session(session)
            .start();
        let s = reply.in_scope(|| p.submit("politeness", EvalInput::new("hola", "no")));
        assert_eq!(s, Submitted::Queued);
        drop(reply);
        assert!(p.idle(Duration::from_secs(20)).await);
    });
    let fired: Vec<_> = chatobs_runtime::alerts::current()
        .expect("the alert engine is installed")
        .recent()
        .into_iter()
        .filter(|a| a.rule == "impolite")
        .collect();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].session_id.as_deref(), Some("eval-alerts-off"));
    // And metrics stayed off: no score series was recorded.
    assert!(!chatobs_runtime::metrics::render()
        .lines()
        .any(|l| l.starts_with("chatobs_eval_score_count{") && l.contains("politeness")));
    drop(guard);
}
