//! Running QA correctness and hallucination evaluations online (the seed's
//! `arize_evals_qa_correctness`), against a local OpenAI-compatible judge.
//!
//! ```text
//! cargo run --example evals_qa_correctness
//! ```
//!
//! The judge here is a stub on 127.0.0.1 that answers like an LLM would
//! (`correct`, `factual`); point `[evals.judge] base_url` at OpenAI, Gemini's
//! OpenAI endpoint, vLLM or Ollama for real verdicts.

use chatobs_runtime::evals::{judge, EvalInput, EvalPipeline, EvalsConfig, JudgeClient};
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    let judge_stub = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|axum::Json(v): axum::Json<serde_json::Value>| async move {
            let prompt = v.to_string();
            let label = if prompt.contains("hallucinat") { "factual" } else { "correct" };
            axum::Json(serde_json::json!({"model": "judge", "choices": [{"message": {"role": "assistant",
                "content": format!("EXPLANATION: the answer matches the reference.\nLABEL: {label}")}}],
                "usage": {"prompt_tokens": 300, "completion_tokens": 20}}))
        }),
    );
    let server = tokio::spawn(async move { axum::serve(l, judge_stub).await });

    let mut cfg = EvalsConfig::default();
    cfg.judge.base_url = format!("http://{addr}/v1");
    cfg.judge.model = "gpt-4o-mini".into();
    let client = Arc::new(JudgeClient::new(cfg.judge.clone())?);
    let pipeline = EvalPipeline::builder(cfg)
        .evaluator(Arc::new(judge::qa_correctness(client.clone())))
        .evaluator(Arc::new(judge::hallucination(client)))
        .on_result(|r| match &r.result {
            Ok(res) => println!(
                "{:<16} {:<12} score {:?}",
                r.evaluator, res.label, res.score
            ),
            Err(e) => println!("{:<16} failed: {e}", r.evaluator),
        })
        .start()?;
    let input = EvalInput::new(
        "¿Cuánto cuesta el envío a Bogotá?",
        "El envío a Bogotá cuesta 8.000 pesos.",
    )
    .reference("8.000 pesos")
    .context("Tarifa de envío Bogotá: 8.000 COP");
    let (_, spans) = chatobs_runtime::testing::capture_async(async {
        let mut reply = chatobs_runtime::SpanBuilder::new("agent.sales.flow").start();
        reply.in_scope(|| pipeline.submit_all(input));
        drop(reply);
        tokio::task::spawn_blocking(move || pipeline.wait_idle(Duration::from_secs(10))).await
    })
    .await;
    for s in spans.spans.iter().filter(|s| s.name.starts_with("eval.")) {
        println!(
            "span {} -> {:?}",
            s.name,
            s.attributes
                .iter()
                .map(|(k, _)| k.as_ref())
                .collect::<Vec<_>>()
        );
    }
    server.abort();
    Ok(())
}
