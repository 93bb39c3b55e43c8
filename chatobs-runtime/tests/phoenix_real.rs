//! Against a real Arize Phoenix: spans exported over OTLP, then a readability
//! result (CODE), a judge-free operator feedback and a user reaction (HUMAN)
//! sent as span annotations, read back through Phoenix's REST API.
//!
//! Ignored by default (Phoenix is about 850 MB). To run it:
//!
//! ```text
//! pip install arize-phoenix
//! cargo test -p chatobs-runtime --test evals_phoenix_real -- --ignored --nocapture
//! ```
//!
//! The test starts `phoenix serve` itself on free 127.0.0.1 ports with a
//! temporary working directory (GUIDE section 6: telemetry and external
//! resources off), waits for `/healthz` (about 10 s), and kills that process
//! when it ends. `PHOENIX_BIN` names another executable than `phoenix`.

use chatobs_runtime::config::{ExporterKind, OtlpProtocol};
use chatobs_runtime::evals::{
    EvalInput, EvalPipeline, EvalsConfig, Feedback, FeedbackConfig, FeedbackRecorder,
    PhoenixAnnotations, PhoenixConfig, Readability, Thumb,
};
use chatobs_runtime::{ChatSession, Config, SpanBuilder};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Phoenix(Child);
impl Drop for Phoenix {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn get(url: &str) -> Option<(u16, String)> {
    let r = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    let s = r.status().as_u16();
    Some((s, r.text().await.ok()?))
}

async fn wait_for(what: &str, limit: Duration, mut f: impl AsyncFnMut() -> bool) {
    let t = Instant::now();
    while !f().await {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs `pip install arize-phoenix`; run with --ignored"]
async fn annotations_are_read_back_from_a_real_phoenix() {
    let dir = tempfile::tempdir().unwrap();
    let (port, grpc) = (free_port(), free_port());
    let bin = std::env::var("PHOENIX_BIN").unwrap_or_else(|_| "phoenix".into());
    let child = Command::new(&bin)
        .arg("serve")
        .env("PHOENIX_HOST", "127.0.0.1")
        .env("PHOENIX_PORT", port.to_string())
        .env("PHOENIX_GRPC_PORT", grpc.to_string())
        .env("PHOENIX_WORKING_DIR", dir.path())
        .env("PHOENIX_TELEMETRY_ENABLED", "false")
        .env("PHOENIX_ALLOW_EXTERNAL_RESOURCES", "false")
        .env("PHOENIX_DISABLE_AGENT_ASSISTANT", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{bin} serve` ({e}): pip install arize-phoenix"));
    let _phoenix = Phoenix(child);
    let base = format!("http://127.0.0.1:{port}");
    wait_for("Phoenix to start", Duration::from_secs(90), async || {
        matches!(get(&format!("{base}/healthz")).await, Some((200, _)))
    })
    .await;

    // Spans to Phoenix over OTLP/HTTP protobuf (Phoenix does not take OTLP JSON).
    let mut cfg = Config::default();
    cfg.exporter.kinds = vec![ExporterKind::Otlp];
    cfg.otlp.endpoint = base.clone();
    cfg.otlp.protocol = OtlpProtocol::HttpProtobuf;
    cfg.exporter.scheduled_delay_ms = 50;
    let guard = chatobs_runtime::init(cfg).unwrap();

    let session = ChatSession::from_exported_id("cs_phoenix_real").unwrap();
    let reply = session.in_scope(|| SpanBuilder::new("agent.sales.flow").start());
    let target = reply.context();
    drop(reply);
    assert!(guard.flush(Duration::from_secs(10)));
    let span_hex = target.span_id.to_hex();
    wait_for("the span in Phoenix", Duration::from_secs(30), async || {
        get(&format!("{base}/v1/projects/default/spans?limit=100"))
            .await
            .is_some_and(|(s, body)| s == 200 && body.contains(&span_hex))
    })
    .await;

    let phoenix = PhoenixAnnotations::start(&PhoenixConfig {
        enabled: true,
        endpoint: base.clone(),
        flush_interval_ms: 50,
        ..PhoenixConfig::default()
    })
    .unwrap();
    let pipeline = EvalPipeline::builder(EvalsConfig::default())
        .evaluator(Arc::new(Readability::default()))
        .phoenix(phoenix.clone())
        .start()
        .unwrap();
    pipeline.submit_for(
        target.clone(),
        "readability",
        EvalInput::new(
            "¿precio?",
            "El precio es de diez dólares con envío incluido.",
        ),
    );
    assert!(pipeline.idle(Duration::from_secs(10)).await);
    let feedback = FeedbackRecorder::new(&FeedbackConfig::default()).with_phoenix(phoenix.clone());
    feedback.register_sent("wamid.REAL", target.clone());
    feedback
        .record(&target, &Feedback::operator(Thumb::Up, "op-1").note("ok"))
        .unwrap();
    feedback
        .record_for_wamid("wamid.REAL", &Feedback::user(Thumb::Down))
        .unwrap();
    let p2 = phoenix.clone();
    assert!(
        tokio::task::spawn_blocking(move || p2.wait_idle(Duration::from_secs(10)))
            .await
            .unwrap()
    );
    assert_eq!(
        phoenix
            .stats()
            .failed
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );

    // Read back (the POST used sync=false: Phoenix inserts in the background).
    let url = format!("{base}/v1/projects/default/span_annotations?span_ids={span_hex}");
    let mut body = serde_json::Value::Null;
    wait_for(
        "the annotations in Phoenix",
        Duration::from_secs(30),
        async || {
            if let Some((200, text)) = get(&url).await {
                body = serde_json::from_str(&text).unwrap_or_default();
                body["data"].as_array().is_some_and(|d| d.len() >= 3)
            } else {
                false
            }
        },
    )
    .await;
    println!("{}", serde_json::to_string_pretty(&body).unwrap());
    let data = body["data"].as_array().unwrap();
    let find = |name: &str| {
        data.iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("no {name} annotation in {body}"))
    };
    let r = find("readability");
    assert_eq!(r["annotator_kind"], "CODE");
    assert_eq!(r["span_id"], span_hex.as_str());
    let op = find("operator feedback");
    assert_eq!(op["annotator_kind"], "HUMAN");
    assert_eq!(op["result"]["label"], "thumbs-up");
    let user = find("user feedback");
    assert_eq!(user["result"]["label"], "thumbs-down");
    assert_eq!(user["result"]["score"], 0.0);

    pipeline.shutdown(Duration::from_secs(2));
    drop(guard);
}
