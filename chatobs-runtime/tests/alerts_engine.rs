//! The in-process budget engine: rules fire where the cost is recorded,
//! exactly as often as they should, and a dead sink never slows the bot.

use chatobs_runtime::alerts::{self, AlertEngine};
use chatobs_runtime::cost::{self, LlmCall};
use chatobs_runtime::{testing, vocab, ChatSession, Config, Decimal, SpanBuilder};
use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// One engine is installed per process: the tests take turns.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn engine(extra: &str) -> &'static AlertEngine {
    let cfg = Config::from_toml_str(extra, None).unwrap();
    alerts::install(AlertEngine::from_config(&cfg.alerts, &cfg.service.name).unwrap())
}

/// gpt-4o output tokens cost $10 per million: `cents` cents is `cents * 1000` tokens.
fn call_costing_cents(cents: u64) -> LlmCall {
    LlmCall::new("gpt-4o")
        .provider("openai")
        .output_tokens(cents * 1000)
}

fn fired_for(e: &AlertEngine, session: &str, rule: &str) -> Vec<alerts::Alert> {
    e.recent()
        .into_iter()
        .filter(|a| a.session_id.as_deref() == Some(session) && a.rule == rule)
        .collect()
}

#[test]
fn a_conversation_crossing_one_dollar_fires_exactly_once_and_says_by_how_much() {
    let _s = serial();
    let e = engine("");
    let s = ChatSession::from_exported_id("conv-crossing-1").unwrap();
    s.in_scope(|| {
        // 30 calls of $0.04 (each under the $0.05 per-call limit): $1.20 in all,
        // crossing $1.00 at the 26th call ($1.04).
        for _ in 0..30 {
            cost::record_llm_call(&call_costing_cents(4)).unwrap();
        }
    });
    assert_eq!(cost::session_totals(&s).total_usd(), Decimal::new(120, 2));
    let f = fired_for(e, "conv-crossing-1", "conversation_budget");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].value, Decimal::new(104, 2));
    assert_eq!(f[0].threshold, Decimal::ONE);
    assert_eq!(f[0].exceeded_by, Decimal::new(4, 2));
    assert_eq!(f[0].severity, "critical");
    assert_eq!(f[0].alertname, "ConversationBudget");
    assert!(f[0].summary.contains("0.04 USD over"), "{}", f[0].summary);
    assert!(fired_for(e, "conv-crossing-1", "llm_call_cost").is_empty());
    // WhatsApp counts toward the same total: a conversation crossing with a template fires too.
    let stats = e.rule_stats();
    assert_eq!(
        stats
            .iter()
            .find(|r| r.rule == "conversation_budget")
            .unwrap()
            .fired,
        1
    );
}

#[test]
fn a_six_cent_call_fires_once_a_five_cent_call_does_not() {
    let _s = serial();
    let e = engine("");
    let s6 = ChatSession::from_exported_id("conv-six-cents").unwrap();
    let (_, spans) = testing::capture(|| {
        s6.in_scope(|| {
            let mut span = SpanBuilder::new("agent.sales.flow").start();
            span.in_scope(|| cost::record_llm_call(&call_costing_cents(6)).unwrap());
        })
    });
    let s5 = ChatSession::from_exported_id("conv-five-cents").unwrap();
    s5.in_scope(|| cost::record_llm_call(&call_costing_cents(5)).unwrap());

    let f = fired_for(e, "conv-six-cents", "llm_call_cost");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].value, Decimal::new(6, 2));
    assert_eq!(f[0].exceeded_by, Decimal::new(1, 2));
    assert!(fired_for(e, "conv-five-cents", "llm_call_cost").is_empty());

    // The breaching span carries the event, with the same ids as the alert.
    let span = spans.one("agent.sales.flow");
    let ev = span
        .event(vocab::ALERT_FIRED)
        .expect("alert.fired span event");
    assert_eq!(
        ev.attr(vocab::ALERT_RULE).and_then(|v| v.as_str()),
        Some("llm_call_cost")
    );
    assert_eq!(
        ev.attr(vocab::ALERT_VALUE).and_then(|v| v.as_decimal()),
        Some(Decimal::new(6, 2))
    );
    assert_eq!(
        f[0].span_id.as_deref(),
        Some(span.span_id.to_string().as_str())
    );
    assert_eq!(
        f[0].trace_id.as_deref(),
        Some(span.trace_id.to_string().as_str())
    );
    // Named, not only numbered (the log line and the sinks' JSON carry it).
    assert_eq!(f[0].span_name.as_deref(), Some("agent.sales.flow"));
    assert_eq!(f[0].to_json()["span_name"], "agent.sales.flow");
}

#[test]
fn concurrent_conversations_do_not_double_fire() {
    let _s = serial();
    let e = engine("");
    // 12 conversations, each hit by 4 threads at once with 10 calls of $0.04 ($1.60 each).
    let sessions: Vec<ChatSession> = (0..12)
        .map(|i| ChatSession::from_exported_id(&format!("conv-concurrent-{i}")).unwrap())
        .collect();
    let mut handles = Vec::new();
    for s in &sessions {
        for _ in 0..4 {
            let s = s.clone();
            handles.push(std::thread::spawn(move || {
                s.in_scope(|| {
                    for _ in 0..10 {
                        cost::record_llm_call(&call_costing_cents(4)).unwrap();
                    }
                })
            }));
        }
    }
    for h in handles {
        h.join().unwrap();
    }
    for (i, s) in sessions.iter().enumerate() {
        assert_eq!(cost::session_totals(s).total_usd(), Decimal::new(160, 2));
        let f = fired_for(e, &format!("conv-concurrent-{i}"), "conversation_budget");
        assert_eq!(f.len(), 1, "conversation {i}: {f:?}");
        assert!(f[0].value > Decimal::ONE && f[0].value <= Decimal::new(104, 2));
    }
}

#[test]
fn a_later_conversation_with_the_same_id_starts_over_after_close() {
    let _s = serial();
    let e = engine("");
    let s = ChatSession::from_exported_id("conv-reopened").unwrap();
    s.in_scope(|| {
        cost::record_llm_call(&call_costing_cents(4).output_tokens(110_000)).unwrap(); // $1.10
        cost::record_llm_call(&call_costing_cents(1)).unwrap();
    });
    assert_eq!(
        fired_for(e, "conv-reopened", "conversation_budget").len(),
        1
    );
    cost::close_session(&s);
    let s = ChatSession::from_exported_id("conv-reopened").unwrap();
    s.in_scope(|| {
        cost::record_llm_call(&call_costing_cents(4).output_tokens(105_000)).unwrap();
        // $1.05
    });
    assert_eq!(
        fired_for(e, "conv-reopened", "conversation_budget").len(),
        2
    );
}

#[test]
fn user_rules_on_whatsapp_llm_tokens_and_eval_scores() {
    let _s = serial();
    let e = engine(
        r#"
[alerts.rules.llm_spend]
quantity = "conversation_llm_cost_usd"
above = 0.10
[alerts.rules.big_prompt]
quantity = "llm_call_tokens"
above = 100000
severity = "info"
[alerts.rules.wrong_answers]
quantity = "eval_score"
evaluator = "qa_correctness"
below = 0.5
[alerts.rules.llm_call_cost]
quantity = "llm_call_cost_usd"
above = 0.05
enabled = false
"#,
    );
    let s = ChatSession::from_exported_id("conv-user-rules").unwrap();
    s.in_scope(|| {
        cost::record_llm_call(&call_costing_cents(8)).unwrap(); // 8000 tokens, $0.08
        cost::record_llm_call(&call_costing_cents(8)).unwrap(); // $0.16: crosses llm_spend
        cost::record_llm_call(
            &LlmCall::new("gpt-4o-mini")
                .provider("openai")
                .input_tokens(150_000),
        )
        .unwrap();
    });
    assert_eq!(fired_for(e, "conv-user-rules", "llm_spend").len(), 1);
    assert_eq!(
        fired_for(e, "conv-user-rules", "llm_call_cost").len(),
        0,
        "disabled"
    );
    let big = fired_for(e, "conv-user-rules", "big_prompt");
    assert_eq!(big.len(), 1);
    assert_eq!(big[0].value, Decimal::from(150_000));
    assert_eq!(big[0].severity, "info");

    let ctx = s.in_scope(chatobs_runtime::Context::current);
    e.observe_score("qa_correctness", 0.2, &ctx);
    e.observe_score("qa_correctness", 0.9, &ctx);
    e.observe_score("toxicity", 0.1, &ctx);
    let w = fired_for(e, "conv-user-rules", "wrong_answers");
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].evaluator.as_deref(), Some("qa_correctness"));
}

/// A TCP server that accepts connections and never answers.
struct Hanging {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hanging {
    fn start() -> Hanging {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !st.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((c, _)) => held.push(c),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
                for c in &mut held {
                    let _ = c.set_nonblocking(true);
                    let mut buf = [0u8; 4096];
                    let _ = c.read(&mut buf);
                }
            }
        });
        Hanging {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Hanging {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_dead_webhook_sink_does_not_slow_the_bot() {
    let _s = serial();
    let hang = Hanging::start();
    let e = engine(&format!(
        r#"
[alerts.webhook]
url = "http://127.0.0.1:{}/alerts"
[alerts.delivery]
queue_size = 8
batch_size = 1
timeout_ms = 30000
max_retries = 3
shutdown_timeout_ms = 100
"#,
        hang.port
    ));
    // Every call breaches the per-call rule, so every call hands an alert to the dead sink.
    const CALLS: u64 = 2000;
    let mut completed = 0u64;
    for i in 0..CALLS {
        let s = ChatSession::from_exported_id(&format!("conv-dead-sink-{i}")).unwrap();
        s.in_scope(|| cost::record_llm_call(&call_costing_cents(6)).unwrap());
        completed += 1;
    }
    let (_, webhook) = e
        .sink_stats()
        .into_iter()
        .find(|(n, _)| *n == "webhook")
        .unwrap();
    let delivered = webhook.delivered.load(Ordering::Relaxed);
    let failed = webhook.failed.load(Ordering::Relaxed);
    let dropped = webhook.dropped.load(Ordering::Relaxed);
    // Every call completed while the sink had not finished even one attempt
    // (30 s timeout): the bot never waited for it. The queue took 8 (+1 in flight)
    // and the rest were dropped and counted.
    assert_eq!(completed, CALLS);
    assert_eq!((delivered, failed), (0, 0));
    assert!(dropped >= CALLS - 9, "dropped {dropped}");
    let fired = e
        .rule_stats()
        .into_iter()
        .find(|r| r.rule == "llm_call_cost")
        .unwrap()
        .fired;
    assert_eq!(fired, CALLS);
    assert!(
        !alerts::uninstall(),
        "shutdown gives up on the dead sink after its bounded wait"
    );
}

/// Requests a test server got: path, authorization header, JSON body.
type Received = Arc<Mutex<Vec<(String, Option<String>, serde_json::Value)>>>;

#[test]
fn the_webhook_and_alertmanager_sinks_receive_json() {
    let _s = serial();
    let got: Received = Arc::default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let g = got.clone();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route(
        "/{*path}",
        axum::routing::post(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| {
                let g = g.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    g.lock().unwrap().push((
                        uri.path().to_owned(),
                        auth,
                        serde_json::from_str(&body).unwrap(),
                    ));
                    "ok"
                }
            },
        ),
    );
    let server = rt.spawn(async move { axum::serve(listener, app).await });
    let mut cfg = Config::from_toml_str(
        &format!(
            r#"
[service]
name = "shop-bot"
[alerts.webhook]
url = "http://127.0.0.1:{port}/hooks/chatobs"
headers = {{ x-team = "payments" }}
[alerts.alertmanager]
url = "http://127.0.0.1:{port}"
"#
        ),
        None,
    )
    .unwrap();
    cfg.apply_env(|k| {
        (k == "CHATOBS_ALERT_WEBHOOK_HEADERS").then(|| "authorization=Bearer s3cret".to_owned())
    })
    .unwrap();
    let e = alerts::install(AlertEngine::from_config(&cfg.alerts, &cfg.service.name).unwrap());
    let s = ChatSession::from_exported_id("conv-sinks").unwrap();
    s.in_scope(|| cost::record_llm_call(&call_costing_cents(7)).unwrap());
    assert!(e.wait_idle(Duration::from_secs(10)));
    let got = got.lock().unwrap().clone();
    let hook = got
        .iter()
        .find(|(p, _, _)| p == "/hooks/chatobs")
        .expect("webhook");
    assert_eq!(hook.1.as_deref(), Some("Bearer s3cret"));
    assert_eq!(hook.2["service"], "shop-bot");
    assert_eq!(hook.2["alerts"][0]["rule"], "llm_call_cost");
    assert_eq!(hook.2["alerts"][0]["value"], "0.07");
    assert_eq!(hook.2["alerts"][0]["session_id"], "conv-sinks");
    let am = got
        .iter()
        .find(|(p, _, _)| p == "/api/v2/alerts")
        .expect("alertmanager");
    let a = &am.2[0];
    assert_eq!(a["labels"]["alertname"], "LlmCallCost");
    assert_eq!(a["labels"]["severity"], "warning");
    assert_eq!(a["labels"]["service"], "shop-bot");
    assert_eq!(a["labels"]["rule"], "llm_call_cost");
    assert_eq!(
        a["labels"].as_object().unwrap().len(),
        4,
        "bounded labels only"
    );
    assert_eq!(a["annotations"]["session_id"], "conv-sinks");
    assert!(a["startsAt"].as_str().unwrap().ends_with('Z'));
    assert!(alerts::uninstall());
    server.abort();
}

#[test]
fn a_secret_webhook_header_in_a_file_is_refused() {
    let err = Config::from_toml_str(
        "[alerts.webhook]\nurl = \"http://127.0.0.1:1/x\"\nheaders = { authorization = \"Bearer x\" }\n",
        Some(std::path::Path::new("bot.toml")),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("alerts.webhook.headers.authorization"),
        "{err}"
    );
    assert!(err.contains("CHATOBS_ALERT_WEBHOOK_HEADERS"), "{err}");
    let err = Config::from_toml_str(
        "[alerts.rules.x]\nquantity = \"llm_call_cost_usd\"\nbelow = 1\n",
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("alerts.rules.x"), "{err}");
}
