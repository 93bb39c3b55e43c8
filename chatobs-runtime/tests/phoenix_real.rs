//! What a Phoenix user sees, against a real Arize Phoenix 20.26.1.
//!
//! The ChatCommerce bot (webhook, agents service, simulated Gemini, Graph
//! API and LLM judge on 127.0.0.1) runs a conversation of two user turns and
//! a 👍, with chatobs configured the way a user would: `CHATOBS_OTLP_PRESET=phoenix`,
//! `PHOENIX_COLLECTOR_ENDPOINT`, `OTEL_RESOURCE_ATTRIBUTES` naming the
//! project and `CHATOBS_CAPTURE_CONTENT=true`. Then everything is read back
//! through Phoenix's own GraphQL API: the project, each turn as one trace
//! with its latency, the session with its first input and last output,
//! chatobs' cost on every LLM span, trace and session, and the annotations
//! of each kind (CODE readability, LLM judges, HUMAN feedback).
//!
//! `scripts/test` (the README's test command) installs Phoenix in a virtual
//! environment and sets `PHOENIX_BIN`; the test starts `phoenix serve` on
//! free 127.0.0.1 ports with a temporary working directory (telemetry and
//! external resources off), waits for `/healthz`, and kills it when it ends.

#[path = "support_web/mod.rs"]
mod support_web;

use chatobs_runtime::config::ExporterKind;
use chatobs_runtime::evals::{Feedback, Thumb};
use chatobs_runtime::model::FinishedSpan;
use chatobs_runtime::{vocab, ChatSession};
use rust_decimal::prelude::ToPrimitive;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support_web::bot;

struct Phoenix {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Phoenix {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Phoenix {
    async fn start() -> Phoenix {
        let dir = tempfile::tempdir().unwrap();
        let (port, grpc) = (free_port(), free_port());
        // PHOENIX_BIN (scripts/test sets it), else where scripts/test installs
        // Phoenix, else `phoenix` on the PATH.
        let bin = std::env::var("PHOENIX_BIN").unwrap_or_else(|_| {
            let peers = std::env::var("CHATOBS_PEERS_DIR").unwrap_or_else(|_| {
                format!(
                    "{}/.cache/chatobs-peers",
                    std::env::var("HOME").unwrap_or_default()
                )
            });
            let venv = format!("{peers}/phoenix-20.26.1/bin/phoenix");
            if std::path::Path::new(&venv).exists() {
                venv
            } else {
                "phoenix".into()
            }
        });
        let log = std::fs::File::create(dir.path().join("phoenix.log")).unwrap();
        let child = Command::new(&bin)
            .arg("serve")
            .current_dir(dir.path())
            .env("PHOENIX_HOST", "127.0.0.1")
            .env("PHOENIX_PORT", port.to_string())
            .env("PHOENIX_GRPC_PORT", grpc.to_string())
            .env("PHOENIX_WORKING_DIR", dir.path())
            .env("PHOENIX_TELEMETRY_ENABLED", "false")
            .env("PHOENIX_ALLOW_EXTERNAL_RESOURCES", "false")
            .env("PHOENIX_DISABLE_AGENT_ASSISTANT", "true")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start `{bin} serve` ({e}): run scripts/test, which installs arize-phoenix 20.26.1 and sets PHOENIX_BIN")
            });
        let p = Phoenix {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let health = format!("{}/healthz", p.base);
        wait_for("Phoenix to start", Duration::from_secs(120), async || {
            reqwest::get(&health)
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        p
    }

    async fn graphql(&self, query: &str, variables: Value) -> Value {
        let v: Value = reqwest::Client::new()
            .post(format!("{}/graphql", self.base))
            .json(&json!({"query": query, "variables": variables}))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v.get("errors").is_none(), "GraphQL errors: {v}");
        v["data"].clone()
    }
}

async fn wait_for(what: &str, limit: Duration, mut f: impl AsyncFnMut() -> bool) {
    let t = Instant::now();
    while !f().await {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn price(s: &FinishedSpan) -> Option<f64> {
    s.attr(vocab::GEN_AI_USAGE_PRICE_USD)
        .and_then(|v| v.as_decimal())
        .and_then(|d| d.to_f64())
}

/// Phoenix keeps costs as floats: equal to chatobs' exact decimal to 1e-9 of it.
fn same_cost(phoenix: f64, chatobs: f64) -> bool {
    (phoenix - chatobs).abs() <= 1e-12 + chatobs * 1e-9
}

fn assert_cost(what: &str, phoenix: f64, chatobs: f64) {
    assert!(
        same_cost(phoenix, chatobs),
        "{what}: Phoenix says {phoenix}, chatobs {chatobs}"
    );
}

const SPAN: &str = "query($id: String!) { getSpanByOtelId(spanId: $id) {
    name spanKind latencyMs project { name }
    input { value } output { value }
    costSummary { total { cost } }
    spanAnnotations { name annotatorKind label score } } }";
const TRACE: &str = "query($id: String!) { getTraceByOtelId(traceId: $id) {
    latencyMs costSummary { total { cost } } rootSpan { name latencyMs } session { sessionId } } }";
const SESSION: &str = "query($id: String!) { getProjectSessionById(sessionId: $id) {
    numTraces userId firstInput { value } lastOutput { value }
    costSummary { total { cost } } project { name } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phoenix_user_sees_turns_sessions_content_cost_and_annotations() {
    let phoenix = Phoenix::start().await;
    let env: HashMap<&str, String> = HashMap::from([
        ("CHATOBS_OTLP_PRESET", "phoenix".to_owned()),
        ("PHOENIX_COLLECTOR_ENDPOINT", phoenix.base.clone()),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "openinference.project.name=chatcommerce-e2e,deployment.environment=test".to_owned(),
        ),
        ("CHATOBS_CAPTURE_CONTENT", "true".to_owned()),
    ]);
    let (guard, _log, _dir) = support_web::init(&[ExporterKind::Otlp], |cfg| {
        cfg.apply_env(|k| env.get(k).cloned()).unwrap();
        cfg.exporter.scheduled_delay_ms = 50;
        cfg.evals.phoenix.flush_interval_ms = 50;
    });
    let config = chatobs_runtime::Config::default();
    let b = bot::Bot::start_with(config.evals).await;
    let http = reqwest::Client::new();
    let wa_id = "573001234567";
    let first = "Hola, quiero comprar unos tenis talla 42";
    // The second message carries personal data: Phoenix must see it redacted.
    let second = "¿Tienen en negro? Escríbeme a ana.perez@example.com o al +57 300 123 4567";
    assert_eq!(
        b.post_signed(&http, bot::text_payload(wa_id, "wamid.PHX1", first))
            .await,
        200
    );
    assert!(b.wait(1, 0, Duration::from_secs(20)).await);
    assert_eq!(
        b.post_signed(&http, bot::text_payload(wa_id, "wamid.PHX2", second))
            .await,
        200
    );
    assert!(
        b.wait(2, 6, Duration::from_secs(20)).await,
        "bot did not finish"
    );
    // The user likes the first reply (a reaction), an operator does not.
    let first_reply = b.sent.lock().unwrap()[0].wamid.clone();
    let reaction = json!({"from": wa_id, "id": "wamid.PHXRE", "timestamp": "1767225600", "type": "reaction",
                          "reaction": {"message_id": first_reply, "emoji": "👍"}});
    assert_eq!(
        b.post_signed(&http, bot::message_payload(wa_id, reaction))
            .await,
        200
    );
    let sent_by = b.feedback.span_of(&first_reply).expect("the reply's span");
    b.feedback
        .record(&sent_by, &Feedback::operator(Thumb::Down, "op-7"))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let user = ChatSession::for_whatsapp(bot::PHONE_NUMBER_ID, wa_id);
    let conversation = chatobs_runtime::cost::conversation::open_of(
        &chatobs_runtime::cost::conversation::whatsapp_user(bot::PHONE_NUMBER_ID, wa_id),
    )
    .expect("the open conversation");
    let turns: Vec<chatobs_runtime::TraceId> =
        b.turns.lock().unwrap().iter().map(|t| t.1).collect();
    assert_eq!(turns.len(), 2);
    b.stop().await;
    // The first batch with LLM spans waits (about 6 s) for Phoenix to load chatobs' prices.
    assert!(guard.flush(Duration::from_secs(30)));
    let spans = guard.memory_spans();
    // Spans (the price registration holds the first LLM batch about 6 s) and annotations out.
    drop(guard);

    // ---- each turn: one trace, its root from the message to the last reply ----
    let root_of = |t: chatobs_runtime::TraceId| {
        spans
            .iter()
            .find(|s| s.trace_id == t && s.parent_span_id == chatobs_runtime::SpanId::INVALID)
            .unwrap()
    };
    for (n, t) in turns.iter().enumerate() {
        let root = root_of(*t);
        assert_eq!(root.name, vocab::WHATSAPP_TURN_SPAN);
        let id = t.to_hex();
        // The trace's cost: every LLM call of the turn (Gemini, the judges), as chatobs priced them.
        let llm: f64 = spans
            .iter()
            .filter(|s| s.trace_id == *t)
            .filter_map(price)
            .sum();
        assert!(llm > 0.0);
        let mut trace = Value::Null;
        wait_for(
            "the turn's trace in Phoenix",
            Duration::from_secs(60),
            async || {
                trace = phoenix.graphql(TRACE, json!({"id": id})).await["getTraceByOtelId"].clone();
                // Until the turn is in, Phoenix takes the orphaned
                // acknowledgement for the root; and spans of one trace ended
                // on different threads reach Phoenix in no fixed order, so
                // the root can be in before the judges' calls: wait until
                // the trace's cost covers every call (at most 60 s).
                !trace.is_null()
                    && trace["rootSpan"]["name"] == vocab::WHATSAPP_TURN_SPAN
                    && trace["costSummary"]["total"]["cost"]
                        .as_f64()
                        .is_some_and(|c| same_cost(c, llm))
            },
        )
        .await;
        assert_eq!(trace["rootSpan"]["name"], vocab::WHATSAPP_TURN_SPAN);
        let turn_ms = root.end.duration_since(root.start).unwrap().as_secs_f64() * 1e3;
        let ack = spans
            .iter()
            .find(|s| s.trace_id == *t && s.name == "POST /webhook/whatsapp")
            .unwrap();
        let ack_ms = ack.end.duration_since(ack.start).unwrap().as_secs_f64() * 1e3;
        let root_ms = trace["rootSpan"]["latencyMs"].as_f64().unwrap();
        // Phoenix's latency is the turn's (to the millisecond), not the
        // acknowledgement's: the two differ by more than that tolerance.
        // (The turn was once required to be 5x the acknowledgement; on a
        // loaded 2-core runner with Phoenix beside it an acknowledgement
        // took 8.1 ms against a 29.1 ms turn, which says nothing about
        // which span Phoenix shows.)
        assert!(
            (root_ms - turn_ms).abs() < 1.0 && root_ms > ack_ms + 1.0,
            "turn {n}: Phoenix {root_ms} ms, turn {turn_ms} ms, ack {ack_ms} ms"
        );
        assert!(trace["latencyMs"].as_f64().unwrap() >= root_ms - 1.0);
        assert_eq!(trace["session"]["sessionId"], conversation.id());
        assert_cost(
            "trace cost",
            trace["costSummary"]["total"]["cost"].as_f64().unwrap(),
            llm,
        );
    }

    // ---- the reaction: linked to the reply it reacts to, in the conversation,
    // not a turn of its session view ----
    let send_span = sent_by.span_id;
    let reaction_span = spans
        .iter()
        .find(|s| s.attr_str(vocab::MESSAGING_WHATSAPP_MESSAGE_TYPE) == Some("reaction"))
        .expect("the reaction's span");
    assert!(reaction_span.links.iter().any(|l| l.span_id == send_span));
    assert_eq!(
        reaction_span
            .attr(vocab::CHAT_TURN)
            .and_then(|v| v.as_bool()),
        Some(false)
    );
    assert_eq!(reaction_span.session_id(), Some(conversation.id()));
    assert!(reaction_span.attr(vocab::SESSION_ID).is_none());
    // Each status callback: linked to the send it reports on, same rules.
    let statuses: Vec<&FinishedSpan> = spans
        .iter()
        .filter(|s| s.name == vocab::WHATSAPP_STATUS_SPAN)
        .collect();
    assert_eq!(statuses.len(), 6);
    for st in &statuses {
        assert_eq!(st.links.len(), 1);
        let linked = spans
            .iter()
            .find(|s| s.span_id == st.links[0].span_id)
            .unwrap();
        assert_eq!(linked.name, "whatsapp.send");
        assert_eq!(st.session_id(), Some(conversation.id()));
        assert!(st.attr(vocab::SESSION_ID).is_none());
    }

    // ---- every LLM span: Phoenix's cost equals chatobs' (untiered calls) ----
    let llm_spans: Vec<&FinishedSpan> = spans
        .iter()
        .filter(|s| s.attr_str(vocab::OPENINFERENCE_SPAN_KIND) == Some("LLM"))
        .collect();
    let models: std::collections::BTreeSet<&str> = llm_spans
        .iter()
        .filter_map(|s| s.attr_str(vocab::LLM_MODEL_NAME))
        .collect();
    assert_eq!(
        models.into_iter().collect::<Vec<_>>(),
        ["gemini-1.5-flash", "gpt-4o-mini"]
    );
    for s in &llm_spans {
        let got = phoenix
            .graphql(SPAN, json!({"id": s.span_id.to_hex()}))
            .await["getSpanByOtelId"]
            .clone();
        assert_eq!(got["spanKind"], "llm");
        assert_eq!(got["project"]["name"], "chatcommerce-e2e");
        assert_cost(
            &format!("{} span cost", s.name),
            got["costSummary"]["total"]["cost"].as_f64().unwrap(),
            price(s).unwrap(),
        );
        // Content capture: the bot's prompt and completion (the judges' own
        // calls are made by the evaluation pipeline, without content).
        if s.attr_str(vocab::LLM_MODEL_NAME) == Some("gemini-1.5-flash") {
            assert_eq!(
                got["input"]["value"].as_str(),
                s.attr_str(vocab::INPUT_VALUE)
            );
            assert_eq!(
                got["output"]["value"],
                "Con gusto te ayudo. Tenemos ese modelo disponible hoy."
            );
        }
    }

    // ---- the session: the two turns, first input and last output, cost ----
    let session = phoenix
        .graphql(SESSION, json!({"id": conversation.id()}))
        .await["getProjectSessionById"]
        .clone();
    assert_eq!(session["project"]["name"], "chatcommerce-e2e");
    // Status callbacks, the reaction and the closing stay out of the session view.
    assert_eq!(session["numTraces"], 2, "{session}");
    assert_eq!(session["userId"], user.id());
    assert_eq!(session["firstInput"]["value"], first);
    let last_reply = root_of(turns[1])
        .attr_str(vocab::OUTPUT_VALUE)
        .unwrap()
        .to_owned();
    assert_eq!(session["lastOutput"]["value"], last_reply.as_str());
    assert_eq!(
        last_reply,
        "Con gusto te ayudo. Tenemos ese modelo disponible hoy."
    );
    let all: f64 = llm_spans.iter().filter_map(|s| price(s)).sum();
    assert_cost(
        "session cost",
        session["costSummary"]["total"]["cost"].as_f64().unwrap(),
        all,
    );
    // The second turn's input, redacted.
    let second_root = phoenix
        .graphql(SPAN, json!({"id": root_of(turns[1]).span_id.to_hex()}))
        .await["getSpanByOtelId"]
        .clone();
    assert_eq!(
        second_root["input"]["value"],
        "¿Tienen en negro? Escríbeme a [REDACTED] o al [REDACTED]"
    );

    // ---- annotations of each kind, on the spans they judge ----
    let judged = spans
        .iter()
        .find(|s| s.trace_id == turns[0] && s.name == "orchestrator.decision")
        .unwrap_or_else(|| {
            panic!(
                "{:?}",
                spans
                    .iter()
                    .filter(|s| s.trace_id == turns[0])
                    .map(|s| &s.name)
                    .collect::<Vec<_>>()
            )
        });
    let mut notes = Value::Null;
    wait_for(
        "the evaluations in Phoenix",
        Duration::from_secs(60),
        async || {
            notes = phoenix
                .graphql(SPAN, json!({"id": judged.span_id.to_hex()}))
                .await["getSpanByOtelId"]["spanAnnotations"]
                .clone();
            notes.as_array().is_some_and(|a| a.len() >= 4)
        },
    )
    .await;
    let kind_of = |notes: &Value, name: &str| -> (String, String) {
        let a = notes
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("no {name} annotation in {notes}"));
        (
            a["annotatorKind"].as_str().unwrap().to_owned(),
            a["label"].as_str().unwrap_or_default().to_owned(),
        )
    };
    assert_eq!(kind_of(&notes, "readability").0, "CODE");
    // And on each turn (its trace): Phoenix's trace list shows them beside
    // the turn's input and output.
    const TURN_NOTES: &str = "query($id: String!) { getTraceByOtelId(traceId: $id) {
        traceAnnotations { name annotatorKind label score } } }";
    for t in &turns {
        let mut on_turn = Value::Null;
        wait_for(
            "the turn's evaluations in Phoenix",
            Duration::from_secs(60),
            async || {
                on_turn = phoenix.graphql(TURN_NOTES, json!({"id": t.to_hex()})).await
                    ["getTraceByOtelId"]["traceAnnotations"]
                    .clone();
                on_turn.as_array().is_some_and(|a| a.len() >= 4)
            },
        )
        .await;
        assert_eq!(
            kind_of(&on_turn, "qa_correctness"),
            ("LLM".into(), "correct".into())
        );
        assert_eq!(
            kind_of(&on_turn, "hallucination"),
            ("LLM".into(), "factual".into())
        );
        assert_eq!(
            kind_of(&on_turn, "toxicity"),
            ("LLM".into(), "non-toxic".into())
        );
        assert_eq!(kind_of(&on_turn, "readability").0, "CODE");
    }
    assert_eq!(
        kind_of(&notes, "qa_correctness"),
        ("LLM".into(), "correct".into())
    );
    assert_eq!(
        kind_of(&notes, "hallucination"),
        ("LLM".into(), "factual".into())
    );
    assert_eq!(
        kind_of(&notes, "toxicity"),
        ("LLM".into(), "non-toxic".into())
    );
    let send = spans.iter().find(|s| s.span_id == sent_by.span_id).unwrap();
    assert_eq!(send.name, "whatsapp.send");
    wait_for(
        "the feedback in Phoenix",
        Duration::from_secs(60),
        async || {
            notes = phoenix
                .graphql(SPAN, json!({"id": send.span_id.to_hex()}))
                .await["getSpanByOtelId"]["spanAnnotations"]
                .clone();
            notes.as_array().is_some_and(|a| a.len() >= 2)
        },
    )
    .await;
    assert_eq!(
        kind_of(&notes, "user feedback"),
        ("HUMAN".into(), "thumbs-up".into())
    );
    assert_eq!(
        kind_of(&notes, "operator feedback"),
        ("HUMAN".into(), "thumbs-down".into())
    );

    // ---- no personal data anywhere Phoenix stored it ----
    let all_spans = reqwest::get(format!(
        "{}/v1/projects/chatcommerce-e2e/spans?limit=1000",
        phoenix.base
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(all_spans.contains("whatsapp.turn"));
    for pii in [wa_id, "300 123 4567", "ana.perez@example.com", "wamid.PHX"] {
        assert!(!all_spans.contains(pii), "{pii} reached Phoenix");
    }
}
