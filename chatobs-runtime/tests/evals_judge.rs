//! The LLM judge and the evaluation pipeline against a scripted
//! OpenAI-compatible server on 127.0.0.1 (tests/support_evals).

mod support_evals;

use chatobs_runtime::evals::judge::{self, JudgeClient};
use chatobs_runtime::evals::{
    EvalInput, EvalPipeline, EvalsConfig, Evaluator, JudgeConfig, Submitted, UNPARSEABLE,
};
use chatobs_runtime::model::{FinishedSpan, Status, Value};
use chatobs_runtime::testing::{self, Captured};
use chatobs_runtime::{vocab, ChatSession, SpanBuilder};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SESSION: &str = "cs_eval_test_session";

fn judge_cfg(base: &str) -> JudgeConfig {
    JudgeConfig {
        base_url: format!("{base}/v1"),
        model: "gpt-4o-mini".into(),
        provider: "openai".into(),
        api_key_env: "CHATOBS_TEST_JUDGE_KEY_NEVER_SET".into(),
        timeout_ms: 2000,
        max_retries: 2,
        backoff_ms: 10,
        backoff_max_ms: 40,
        ..JudgeConfig::default()
    }
}

fn client(jc: JudgeConfig) -> Arc<JudgeClient> {
    Arc::new(JudgeClient::with_api_key(jc, Some("sk-test-judge".into())).unwrap())
}

fn pipeline(cfg: EvalsConfig, client: Arc<JudgeClient>) -> EvalPipeline {
    EvalPipeline::builder(cfg)
        .evaluator(Arc::new(judge::qa_correctness(client.clone())))
        .evaluator(Arc::new(judge::hallucination(client.clone())))
        .evaluator(Arc::new(judge::toxicity(client)))
        .start()
        .unwrap()
}

fn input(script: &str) -> EvalInput {
    EvalInput::new(
        "¿Cuánto cuesta el envío?",
        format!("El envío cuesta 5 dólares. [[script:{script}]]"),
    )
    .reference("El envío cuesta 5 dólares a todo el país.")
    .context("Tarifa plana de envío: 5 USD.")
}

/// A bot reply span in session SESSION; `evaluator` judges it through the pipeline.
async fn judged(p: &EvalPipeline, evaluator: &str, inp: EvalInput) -> Captured {
    let session = ChatSession::from_exported_id(SESSION).unwrap();
    let ((), spans) = testing::capture_async(async {
        session
            .scope(async {
                let mut reply = SpanBuilder::new("agent.sales.flow").start();
                reply.in_scope(|| assert_eq!(p.submit(evaluator, inp), Submitted::Queued));
                drop(reply);
                assert!(
                    p.idle(Duration::from_secs(20)).await,
                    "evaluations did not finish"
                );
            })
            .await
    })
    .await;
    spans
}

fn f64_attr(s: &FinishedSpan, k: &str) -> Option<f64> {
    s.attr(k).and_then(Value::as_f64)
}

fn assert_linked(spans: &Captured, eval: &FinishedSpan) {
    let reply = spans.one("agent.sales.flow");
    assert_eq!(
        eval.parent_span_id, reply.span_id,
        "child of the evaluated span"
    );
    assert_eq!(eval.trace_id, reply.trace_id);
    assert_eq!(eval.session_id(), Some(SESSION));
    assert_eq!(eval.attr_str(vocab::SESSION_ID), Some(SESSION));
    assert_eq!(
        eval.attr_str(vocab::OPENINFERENCE_SPAN_KIND),
        Some("EVALUATOR")
    );
    assert_eq!(eval.attr_str(vocab::AGENT_ROLE), Some("evaluator"));
    assert_eq!(
        eval.attr_str(vocab::EVAL_TARGET_SPAN_ID),
        Some(reply.span_id.to_hex().as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_label_lands_on_an_evaluator_span_with_parent_and_session() {
    let (server, log) = support_evals::judge_server().await;
    let p = pipeline(
        EvalsConfig::default(),
        client(judge_cfg(&server.base_url())),
    );
    let cases = [
        ("qa_correctness", "correct", 1.0),
        ("qa_correctness", "incorrect", 0.0),
        ("hallucination", "hallucinated", 1.0),
        ("hallucination", "factual", 0.0),
        ("toxicity", "toxic", 1.0),
        ("toxicity", "non-toxic", 0.0),
    ];
    for (name, label, score) in cases {
        let spans = judged(&p, name, input(&format!("label:{label}"))).await;
        let eval = spans.one(&format!("eval.{name}"));
        assert_linked(&spans, eval);
        assert_eq!(eval.status, Status::Ok);
        assert_eq!(
            eval.attr_str(&vocab::eval_key(name, vocab::EVAL_LABEL_SUFFIX)),
            Some(label),
            "{name}"
        );
        assert_eq!(
            f64_attr(eval, &vocab::eval_key(name, vocab::EVAL_SCORE_SUFFIX)),
            Some(score)
        );
        assert_eq!(
            eval.attr_str(&vocab::eval_key(name, vocab::EVAL_EXPLANATION_SUFFIX)),
            Some(format!("scripted {label}").as_str())
        );
        let ev = eval.event(vocab::GEN_AI_EVALUATION_RESULT).expect("event");
        assert_eq!(
            ev.attr(vocab::GEN_AI_EVALUATION_NAME)
                .and_then(Value::as_str),
            Some(name)
        );
        assert_eq!(
            ev.attr(vocab::GEN_AI_EVALUATION_SCORE_LABEL)
                .and_then(Value::as_str),
            Some(label)
        );
        assert_eq!(
            ev.attr(vocab::GEN_AI_EVALUATION_SCORE_VALUE)
                .and_then(Value::as_f64),
            Some(score)
        );

        // The judge's own LLM call: a CLIENT span under the evaluator span, role evaluator, priced.
        let call = spans.one("chat gpt-4o-mini");
        assert_eq!(call.parent_span_id, eval.span_id);
        assert_eq!(call.session_id(), Some(SESSION));
        assert_eq!(call.attr_str(vocab::AGENT_ROLE), Some("evaluator"));
        assert_eq!(call.attr_str(vocab::OPENINFERENCE_SPAN_KIND), Some("LLM"));
        assert_eq!(call.kind, chatobs_runtime::model::OtelKind::Client);
        assert_eq!(
            call.attr(vocab::GEN_AI_USAGE_INPUT_TOKENS)
                .and_then(Value::as_i64),
            Some(120)
        );
        assert_eq!(
            call.attr(vocab::GEN_AI_USAGE_OUTPUT_TOKENS)
                .and_then(Value::as_i64),
            Some(15)
        );
        assert_eq!(
            call.attr_str(vocab::GEN_AI_RESPONSE_MODEL),
            Some("gpt-4o-mini-2024-07-18")
        );
        let price = call
            .attr(vocab::GEN_AI_USAGE_PRICE_USD)
            .and_then(Value::as_decimal)
            .expect("the judge call is priced");
        // 120 * 0.15/1M + 15 * 0.60/1M
        assert_eq!(price.normalize().to_string(), "0.000027");
        // Evaluation cost is kept apart from what the bot spent.
        assert_eq!(
            call.attr(vocab::CHAT_SESSION_COST_LLM_USD)
                .and_then(Value::as_decimal),
            Some(chatobs_runtime::Decimal::ZERO)
        );
        assert!(
            call.attr(vocab::CHAT_SESSION_COST_EVALUATION_USD)
                .and_then(Value::as_decimal)
                .is_some_and(|d| d >= price),
            "{:?}",
            call.attr(vocab::CHAT_SESSION_COST_EVALUATION_USD)
        );
    }
    assert_eq!(log.total(), 6);
    assert!(log
        .auth
        .lock()
        .unwrap()
        .iter()
        .all(|a| a == "Bearer sk-test-judge"));
    let s = p.stats();
    assert_eq!(s.completed.load(Ordering::Relaxed), 6);
    assert_eq!(s.failed.load(Ordering::Relaxed), 0);
    p.shutdown(Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_and_non_json_answers_are_unparseable_with_the_raw_text() {
    let (server, _log) = support_evals::judge_server().await;
    let p = pipeline(
        EvalsConfig::default(),
        client(judge_cfg(&server.base_url())),
    );
    for script in ["junk", "html"] {
        let spans = judged(&p, "toxicity", input(script)).await;
        let eval = spans.one("eval.toxicity");
        assert_linked(&spans, eval);
        assert_eq!(eval.attr_str("eval.toxicity.label"), Some(UNPARSEABLE));
        assert_eq!(eval.attr("eval.toxicity.score"), None);
        let raw = eval.attr_str("eval.toxicity.explanation").unwrap();
        assert!(
            raw.contains("weather") || raw.contains("gateway says hi"),
            "{raw}"
        );
        assert!(raw.len() <= 1000 + 3);
    }
    assert_eq!(p.stats().unparseable.load(Ordering::Relaxed), 2);
    p.shutdown(Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answers_time_out_after_bounded_retries() {
    let (server, log) = support_evals::judge_server().await;
    let jc = JudgeConfig {
        timeout_ms: 300,
        max_retries: 1,
        ..judge_cfg(&server.base_url())
    };
    let p = pipeline(EvalsConfig::default(), client(jc));
    let t = Instant::now();
    let spans = judged(&p, "qa_correctness", input("slow:2000")).await;
    assert!(
        t.elapsed() < Duration::from_millis(1900),
        "the timeout was not applied"
    );
    let eval = spans.one("eval.qa_correctness");
    assert_linked(&spans, eval);
    assert!(matches!(eval.status, Status::Error(_)));
    assert_eq!(eval.attr_str(vocab::ERROR_TYPE), Some("timeout"));
    assert_eq!(eval.attr("eval.qa_correctness.label"), None);
    let call = spans.one("chat gpt-4o-mini");
    assert_eq!(
        call.attr(vocab::HTTP_REQUEST_RESEND_COUNT)
            .and_then(Value::as_i64),
        Some(1)
    );
    assert_eq!(log.count("slow:2000"), 2, "one try and one retry");
    assert_eq!(p.stats().failed.load(Ordering::Relaxed), 1);
    p.shutdown(Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_then_succeeds() {
    let (server, log) = support_evals::judge_server().await;
    let p = pipeline(
        EvalsConfig::default(),
        client(judge_cfg(&server.base_url())),
    );
    let spans = judged(&p, "qa_correctness", input("429once#a")).await;
    let eval = spans.one("eval.qa_correctness");
    assert_eq!(eval.attr_str("eval.qa_correctness.label"), Some("correct"));
    let call = spans.one("chat gpt-4o-mini");
    assert_eq!(
        call.attr(vocab::HTTP_REQUEST_RESEND_COUNT)
            .and_then(Value::as_i64),
        Some(1)
    );
    assert_eq!(log.count("429once#a"), 2);
    p.shutdown(Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_500s_stop_after_max_retries() {
    let (server, log) = support_evals::judge_server().await;
    let p = pipeline(
        EvalsConfig::default(),
        client(judge_cfg(&server.base_url())),
    );
    let spans = judged(&p, "hallucination", input("always500#b")).await;
    let eval = spans.one("eval.hallucination");
    assert_linked(&spans, eval);
    assert!(matches!(eval.status, Status::Error(_)));
    assert_eq!(eval.attr_str(vocab::ERROR_TYPE), Some("http_5xx"));
    let call = spans.one("chat gpt-4o-mini");
    assert_eq!(
        call.attr(vocab::HTTP_RESPONSE_STATUS_CODE)
            .and_then(Value::as_i64),
        Some(500)
    );
    assert_eq!(log.count("always500#b"), 3, "1 try + max_retries (2)");
    p.shutdown(Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_reference_fails_without_calling_the_judge() {
    let (server, log) = support_evals::judge_server().await;
    let p = pipeline(
        EvalsConfig::default(),
        client(judge_cfg(&server.base_url())),
    );
    let spans = judged(
        &p,
        "qa_correctness",
        EvalInput::new("hola", "[[script:label:correct]]"),
    )
    .await;
    let eval = spans.one("eval.qa_correctness");
    assert_eq!(eval.attr_str(vocab::ERROR_TYPE), Some("missing_input"));
    assert_eq!(log.total(), 0);
    p.shutdown(Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_never_exceeds_the_configured_concurrency_and_reaches_it() {
    let (server, log) = support_evals::judge_server().await;
    let cfg = EvalsConfig {
        concurrency: 3,
        ..EvalsConfig::default()
    };
    let p = pipeline(cfg, client(judge_cfg(&server.base_url())));
    let t = Instant::now();
    for i in 0..15 {
        assert_eq!(
            p.submit("toxicity", input(&format!("load:150#{i}"))),
            Submitted::Queued
        );
    }
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "submit must not wait for the judge"
    );
    assert!(p.idle(Duration::from_secs(20)).await);
    assert_eq!(log.total(), 15);
    let max = log.max_in_flight.load(Ordering::SeqCst);
    println!("judge saw at most {max} requests at once (concurrency 3)");
    assert_eq!(
        max, 3,
        "never above the configured concurrency, and reaches it"
    );
    assert_eq!(p.stats().max_in_flight.load(Ordering::Relaxed), 3);
    p.shutdown(Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_and_counts_without_blocking() {
    let (server, _log) = support_evals::judge_server().await;
    let cfg = EvalsConfig {
        concurrency: 1,
        queue_size: 2,
        ..EvalsConfig::default()
    };
    let p = pipeline(cfg, client(judge_cfg(&server.base_url())));
    let t = Instant::now();
    let outcomes: Vec<Submitted> = (0..20)
        .map(|i| p.submit("toxicity", input(&format!("load:200#{i}"))))
        .collect();
    assert!(t.elapsed() < Duration::from_millis(100));
    let dropped = outcomes
        .iter()
        .filter(|o| **o == Submitted::Dropped)
        .count();
    assert!(dropped >= 16, "{outcomes:?}");
    assert_eq!(
        p.stats().dropped_full.load(Ordering::Relaxed),
        dropped as u64
    );
    assert!(p.idle(Duration::from_secs(10)).await);
    p.shutdown(Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_rate_zero_skips_and_unknown_names_are_counted() {
    let (server, log) = support_evals::judge_server().await;
    let mut cfg = EvalsConfig::default();
    cfg.sample_rates.insert("toxicity".into(), 0.0);
    let p = pipeline(cfg, client(judge_cfg(&server.base_url())));
    for _ in 0..10 {
        assert_eq!(
            p.submit("toxicity", input("label:toxic")),
            Submitted::SampledOut
        );
    }
    assert_eq!(
        p.submit("no_such_eval", input("label:toxic")),
        Submitted::UnknownEvaluator
    );
    assert!(p.idle(Duration::from_secs(2)).await);
    assert_eq!(log.total(), 0);
    assert_eq!(p.stats().sampled_out.load(Ordering::Relaxed), 10);
    assert_eq!(p.stats().unknown_evaluator.load(Ordering::Relaxed), 1);
    p.shutdown(Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_within_its_time_limit_and_counts_the_rest() {
    let (server, _log) = support_evals::judge_server().await;
    let cfg = EvalsConfig {
        concurrency: 1,
        ..EvalsConfig::default()
    };
    let p = pipeline(cfg, client(judge_cfg(&server.base_url())));
    for i in 0..10 {
        p.submit("toxicity", input(&format!("load:150#{i}")));
    }
    let t = Instant::now();
    let p2 = p.clone();
    let drained = tokio::task::spawn_blocking(move || p2.shutdown(Duration::from_millis(400)))
        .await
        .unwrap();
    assert!(!drained, "10 x 150 ms cannot drain in 400 ms");
    assert!(t.elapsed() < Duration::from_millis(1000));
    assert!(p.idle(Duration::from_secs(5)).await);
    let s = p.stats();
    let done = s.completed.load(Ordering::Relaxed);
    let dropped = s.dropped_shutdown.load(Ordering::Relaxed);
    println!("drained {done}, dropped {dropped}");
    assert!(done >= 1 && dropped >= 1 && done + dropped == 10);
    assert_eq!(
        p.submit("toxicity", input("label:toxic")),
        Submitted::Closed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_judge_without_a_base_url_is_a_config_error() {
    let err = JudgeClient::new(JudgeConfig::default()).unwrap_err();
    assert!(err.to_string().contains("base_url"), "{err}");
    // The judge evaluator itself never panics on an empty answer.
    let (server, _log) = support_evals::judge_server().await;
    let j = judge::toxicity(client(judge_cfg(&server.base_url())));
    assert_eq!(j.name(), "toxicity");
}
