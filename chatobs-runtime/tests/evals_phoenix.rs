//! Phoenix span annotations, captured by a receiver on 127.0.0.1: judges
//! (LLM), readability (CODE) and feedback (HUMAN) in the documented shape;
//! each evaluation also as a trace annotation of the judged turn.

mod support_evals;

use chatobs_runtime::evals::judge::{self, JudgeClient};
use chatobs_runtime::evals::{
    EvalInput, EvalPipeline, EvalsConfig, Feedback, FeedbackConfig, FeedbackRecorder, JudgeConfig,
    PhoenixAnnotations, PhoenixConfig, Readability, Thumb,
};
use chatobs_runtime::{testing, ChatSession, SpanBuilder};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

const SESSION: &str = "cs_phoenix_session";
const KEY_ENV: &str = "CHATOBS_TEST_PHOENIX_KEY_EVALS_PHOENIX";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotations_have_the_documented_shape() {
    let (judge_srv, _jlog) = support_evals::judge_server().await;
    let (phx_srv, plog) = support_evals::phoenix_receiver().await;
    // Only this test reads this variable.
    std::env::set_var(KEY_ENV, "px-test-key");
    let phoenix = PhoenixAnnotations::start(&PhoenixConfig {
        enabled: true,
        endpoint: phx_srv.base_url(),
        api_key_env: KEY_ENV.into(),
        flush_interval_ms: 50,
        ..PhoenixConfig::default()
    })
    .unwrap();
    let client = Arc::new(
        JudgeClient::with_api_key(
            JudgeConfig {
                base_url: format!("{}/v1", judge_srv.base_url()),
                model: "gpt-4o-mini".into(),
                ..JudgeConfig::default()
            },
            None,
        )
        .unwrap(),
    );
    let pipeline = EvalPipeline::builder(EvalsConfig::default())
        .evaluator(Arc::new(judge::toxicity(client)))
        .evaluator(Arc::new(Readability::default()))
        .phoenix(phoenix.clone())
        .start()
        .unwrap();
    let feedback = FeedbackRecorder::new(&FeedbackConfig::default()).with_phoenix(phoenix.clone());

    let session = ChatSession::from_exported_id(SESSION).unwrap();
    let ((), spans) = testing::capture_async(async {
        session
            .scope(async {
                let mut reply = SpanBuilder::new("agent.sales.flow").start();
                reply.in_scope(|| {
                    let out = pipeline.submit_all(EvalInput::new(
                        "¿Tienen envío gratis?",
                        "Sí, el envío es gratis en compras superiores a cincuenta mil pesos. [[script:label:non-toxic]]",
                    ));
                    assert_eq!(out.len(), 2);
                    feedback.register_sent_current("wamid.PHX");
                });
                let ctx = reply.context();
                drop(reply);
                assert!(pipeline.idle(Duration::from_secs(10)).await);
                feedback
                    .record(&ctx, &Feedback::operator(Thumb::Up, "op-7").note("bien"))
                    .unwrap();
                feedback.record_webhook(&serde_json::json!({"entry": [{"changes": [{"value": {"messages": [
                    {"type": "reaction", "id": "wamid.R", "reaction": {"message_id": "wamid.PHX", "emoji": "👎"}}
                ]}}]}]}));
            })
            .await
    })
    .await;
    let p2 = phoenix.clone();
    assert!(
        tokio::task::spawn_blocking(move || p2.wait_idle(Duration::from_secs(10)))
            .await
            .unwrap()
    );
    let reply = spans.one("agent.sales.flow");
    let span_hex = reply.span_id.to_hex();
    let trace_hex = reply.trace_id.to_hex();

    let reqs = plog.requests.lock().unwrap().clone();
    assert!(!reqs.is_empty());
    for (path, auth, body) in &reqs {
        assert!(
            path.starts_with("/v1/span_annotations?sync=false")
                || path.starts_with("/v1/trace_annotations?sync=false"),
            "{path}"
        );
        assert_eq!(auth.as_deref(), Some("Bearer px-test-key"));
        assert!(body["data"].is_array(), "{body}");
    }
    let anns = plog.annotations();
    println!("{}", serde_json::to_string_pretty(&anns).unwrap());
    assert_eq!(anns.len(), 4, "{anns:?}");
    let by_name = |n: &str| {
        anns.iter()
            .find(|a| a["name"] == n)
            .unwrap_or_else(|| panic!("no annotation {n}: {anns:?}"))
            .clone()
    };
    for a in &anns {
        assert_eq!(a["span_id"], span_hex.as_str(), "the evaluated span's id");
        assert_eq!(a["span_id"].as_str().unwrap().len(), 16);
        assert_eq!(a["metadata"]["session_id"], SESSION);
        assert_eq!(a["metadata"]["trace_id"], trace_hex.as_str());
        assert!(a["identifier"].is_string());
        let keys: Vec<&String> = a.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            vec![
                "span_id",
                "name",
                "annotator_kind",
                "result",
                "identifier",
                "metadata"
            ]
        );
    }
    let tox = by_name("toxicity");
    assert_eq!(tox["annotator_kind"], "LLM");
    assert_eq!(tox["result"]["label"], "non-toxic");
    assert_eq!(tox["result"]["score"], 0.0);
    assert_eq!(tox["result"]["explanation"], "scripted non-toxic");
    assert_eq!(tox["identifier"], "");

    let read = by_name("readability");
    assert_eq!(read["annotator_kind"], "CODE");
    assert!(read["result"]["score"].is_f64());
    assert!(read["result"]["label"].is_string());

    let op = by_name("operator feedback");
    assert_eq!(op["annotator_kind"], "HUMAN");
    assert_eq!(op["result"]["label"], "thumbs-up");
    assert_eq!(op["result"]["score"], 1.0);
    assert_eq!(op["result"]["explanation"], "bien");
    assert_eq!(op["identifier"], "op-7");

    let user = by_name("user feedback");
    assert_eq!(user["annotator_kind"], "HUMAN");
    assert_eq!(user["result"]["label"], "thumbs-down");
    assert_eq!(user["result"]["score"], 0.0);
    assert_eq!(user["identifier"], "");

    // The evaluations (not the feedback) on the judged turn too.
    let turns = plog.trace_annotations();
    assert_eq!(turns.len(), 2, "{turns:?}");
    for t in &turns {
        assert_eq!(t["trace_id"], trace_hex.as_str());
        assert_eq!(t["metadata"]["span_id"], span_hex.as_str());
        assert_eq!(t["metadata"]["session_id"], SESSION);
        assert!(t["metadata"].get("trace_id").is_none());
        let keys: Vec<&String> = t.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            vec![
                "trace_id",
                "name",
                "annotator_kind",
                "result",
                "identifier",
                "metadata"
            ]
        );
    }
    let turn_tox = turns.iter().find(|t| t["name"] == "toxicity").unwrap();
    assert_eq!(turn_tox["annotator_kind"], "LLM");
    assert_eq!(turn_tox["result"], tox["result"]);
    assert!(turns
        .iter()
        .any(|t| t["name"] == "readability" && t["annotator_kind"] == "CODE"));

    assert_eq!(phoenix.stats().sent.load(Ordering::Relaxed), 6);
    assert_eq!(phoenix.stats().failed.load(Ordering::Relaxed), 0);
    pipeline.shutdown(Duration::from_secs(2));
    drop(phoenix);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phoenix_that_is_down_costs_nothing_but_a_count() {
    // A port nothing listens on (bound, then released).
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let phoenix = PhoenixAnnotations::start(&PhoenixConfig {
        enabled: true,
        endpoint: format!("http://{addr}"),
        flush_interval_ms: 20,
        timeout_ms: 500,
        ..PhoenixConfig::default()
    })
    .unwrap();
    let pipeline = EvalPipeline::builder(EvalsConfig::default())
        .evaluator(Arc::new(Readability::default()))
        .phoenix(phoenix.clone())
        .start()
        .unwrap();
    let ((), _spans) = testing::capture_async(async {
        let mut reply = SpanBuilder::new("agent.sales.flow").start();
        reply.in_scope(|| pipeline.submit("readability", EvalInput::new("q", "A short answer.")));
        drop(reply);
        assert!(pipeline.idle(Duration::from_secs(5)).await);
    })
    .await;
    let p2 = phoenix.clone();
    assert!(
        tokio::task::spawn_blocking(move || p2.wait_idle(Duration::from_secs(5)))
            .await
            .unwrap()
    );
    // The span annotation and the turn's: each counted.
    assert_eq!(phoenix.stats().failed.load(Ordering::Relaxed), 2);
    pipeline.shutdown(Duration::from_secs(1));
}
