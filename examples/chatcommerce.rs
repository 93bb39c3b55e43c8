//! ChatCommerce: a WhatsApp commerce bot as two services, observed end to end.
//!
//! ```text
//! cargo run --release --example chatcommerce
//! ```
//!
//! The example starts, on 127.0.0.1 (ephemeral ports, stopped at the end):
//! - the **gateway** service: `POST /webhook/whatsapp` (signature checked,
//!   acknowledged at once, processed in the background), `classifier.predict`,
//!   `orchestrator.decision`, `whatsapp.send` through the Graph API, status
//!   callbacks reconciled with Meta's `pricing`;
//! - the **agents** service: `agent.sales.flow` and `agent.pqr.flow` behind the
//!   chatobs axum layer, each calling Gemini over HTTP;
//! - a simulated **Gemini** API answering `:generateContent` in Gemini's JSON
//!   shape with `usageMetadata`, and a simulated **WhatsApp Graph API** that
//!   returns wamids and then posts signed `sent` / `delivered` status callbacks
//!   with `pricing` back to the gateway.
//!
//! Then it plays three scripted conversations as Meta would deliver them
//! (signed webhook POSTs): a sales flow with a marketing template, an
//! interactive button reply and a 👍 reaction; a complaint answered with a
//! utility template; and a wholesale buyer whose questions are answered from
//! a 600 000-token cached catalog on Gemini 1.5 Pro, which exceeds the
//! conversation budget. For each conversation it prints the waterfall across
//! both services (the `service` column), the LLM and WhatsApp cost, the
//! alerts and the evaluation results.
//!
//! **Why one process:** `chatobs_runtime::init` installs one pipeline per
//! process, so the two services run in this process as two distinct axum
//! servers on distinct ports that talk HTTP to each other (the `traceparent`
//! and `baggage` headers really cross a socket). Each service's SERVER and
//! CLIENT spans carry `chat.service.name` (`gateway` or `agents`); in
//! production each would be its own process with its own `OTEL_SERVICE_NAME`.
//!
//! Spans go to `target/chatobs/spans.jsonl` (the embedded default), or to
//! OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; a copy is kept in memory to
//! draw the waterfalls. JSON logs go to `target/chatobs/chatcommerce.log.jsonl`.
//!
//! Each user message is one trace (`whatsapp.turn`, from the message's
//! arrival to the last reply sent). Content capture is on here (off by
//! default in the library): the turn shows the user's message and the last
//! reply, the LLM spans their prompt and completion, all redacted. Every
//! reply is judged by readability and, through a simulated OpenAI-compatible
//! judge, QA correctness, hallucination and toxicity.
//!
//! To see it in Arize Phoenix (`pip install arize-phoenix`, `phoenix serve`):
//!
//! ```text
//! CHATOBS_OTLP_PRESET=phoenix OTEL_RESOURCE_ATTRIBUTES=openinference.project.name=chatcommerce \
//!     cargo run --release --example chatcommerce
//! ```
//!
//! Phoenix then shows the project `chatcommerce`, one session per
//! conversation with its first input and last output, chatobs' cost on every
//! LLM span, trace and session (chatobs registers its prices in Phoenix; the
//! 600k-token catalog calls are above Gemini 1.5 Pro's 128k tier, which
//! Phoenix prices at the base rate, and WhatsApp fees are only in chatobs'
//! totals), and the evaluations and the 👍 as span annotations.

#[path = "support/chatcommerce_bot.rs"]
mod bot;

use chatobs_runtime::config::ExporterKind;
use chatobs_runtime::{cost, ChatSession, Config};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

struct Conversation {
    title: &'static str,
    wa_id: &'static str,
    messages: Vec<serde_json::Value>,
    react_thumbs_up: bool,
}

fn text(wa_id: &str, n: usize, body: &str) -> serde_json::Value {
    json!({"from": wa_id, "id": format!("wamid.IN{wa_id}{n}"), "timestamp": now_s(), "type": "text", "text": {"body": body}})
}

fn now_s() -> String {
    cost::OffsetDateTime::now_utc().unix_timestamp().to_string()
}

fn script() -> Vec<Conversation> {
    let sales = "573001234567";
    let pqr = "5215512345678";
    let wholesale = "5511987654321";
    vec![
        Conversation {
            title: "sales (Colombia): offer, marketing template, button reply, 👍",
            wa_id: sales,
            messages: vec![
                text(sales, 1, "Hola, quiero comprar unos tenis talla 42"),
                text(sales, 2, "¿Tienen en color negro?"),
                json!({"from": sales, "id": "wamid.IN573001234567btn", "timestamp": now_s(), "type": "interactive",
                       "interactive": {"type": "button_reply", "button_reply": {"id": "buy_tenis_42", "title": "Comprar"}}}),
            ],
            react_thumbs_up: true,
        },
        Conversation {
            title: "complaint (Mexico): ticket, utility template",
            wa_id: pqr,
            messages: vec![text(pqr, 1, "Mi pedido llegó roto, quiero un reembolso")],
            react_thumbs_up: false,
        },
        Conversation {
            title: "wholesale (Brazil): cached catalog on Gemini 1.5 Pro, over budget",
            wa_id: wholesale,
            messages: vec![
                text(wholesale, 1, "Necesito el catálogo mayorista completo"),
                text(
                    wholesale,
                    2,
                    "Compara el catálogo de tenis con el de chaquetas",
                ),
                text(
                    wholesale,
                    3,
                    "Y del catálogo, ¿qué tiene descuento por volumen?",
                ),
            ],
            react_thumbs_up: false,
        },
    ]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = Config::load()?;
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() && cfg.service.name == "chatobs-app" {
        cfg.service.name = "chatcommerce".into();
    }
    if std::env::var_os("CHATOBS_LOG_OUTPUT").is_none() {
        cfg.logs.output = "target/chatobs/chatcommerce.log.jsonl".into();
    }
    // Content capture is off in the library and on in the demo (the messages
    // are made up): message text, prompts and completions as input.value /
    // output.value, redacted and cut. CHATOBS_CAPTURE_CONTENT=false turns it off.
    if std::env::var_os("CHATOBS_CAPTURE_CONTENT").is_none() {
        cfg.redaction.capture_content = true;
    }
    let evals_cfg = cfg.evals.clone();
    let exporters = cfg.resolved_exporters();
    // A copy in memory to draw the waterfalls (whatever else is configured).
    cfg.exporter.kinds = exporters.clone();
    cfg.exporter.kinds.push(ExporterKind::Memory);
    let spans_file = cfg.exporter.file_path.clone();
    let guard = chatobs_runtime::init(cfg)?;

    let bot = bot::Bot::start_with(evals_cfg).await;
    let http = reqwest::Client::new();
    println!(
        "chatcommerce: gateway http://{}  agents http://{}  gemini (simulated) http://{}  graph API (simulated) http://{}\n",
        bot.gateway, bot.agents, bot.gemini, bot.graph
    );

    let convs = script();
    let mut expected_messages = 0;
    for c in &convs {
        for m in &c.messages {
            let status = bot
                .post_signed(&http, bot::message_payload(c.wa_id, m.clone()))
                .await;
            expected_messages += 1;
            if status != 200 {
                eprintln!("webhook answered {status}");
            }
            // One turn at a time, as a user waits for the answer.
            bot.wait(expected_messages, 0, Duration::from_secs(10))
                .await;
        }
        if c.react_thumbs_up {
            let first_reply = bot
                .sent
                .lock()
                .map_err(|_| "lock")?
                .iter()
                .find(|s| s.to == c.wa_id && s.kind == "text")
                .map(|s| s.wamid.clone());
            if let Some(w) = first_reply {
                let reaction = json!({"from": c.wa_id, "id": format!("wamid.RE{}", c.wa_id), "timestamp": now_s(),
                                      "type": "reaction", "reaction": {"message_id": w, "emoji": "👍"}});
                bot.post_signed(&http, bot::message_payload(c.wa_id, reaction))
                    .await;
                expected_messages += 1;
            }
        }
    }
    let sent = bot.sent.lock().map_err(|_| "lock")?.len();
    let complete = bot
        .wait(expected_messages, sent * 2, Duration::from_secs(20))
        .await;
    if !complete {
        eprintln!("warning: not every message or status callback was processed in time");
    }

    // Close the conversations (a bot lets `[session] close_after_seconds`
    // do it): totals, and `conversation.closed` on the record. Each user's
    // conversation has an id of its own; `user.id` is the user's stable key.
    let mut totals = HashMap::new();
    let mut conversation_of = HashMap::new();
    for c in &convs {
        let user = cost::conversation::whatsapp_user(bot::PHONE_NUMBER_ID, c.wa_id);
        let Some(s) = cost::conversation::open_of(&user) else {
            continue;
        };
        let outcome = if c.title.starts_with("complaint") {
            "handoff"
        } else {
            "sale"
        };
        cost::conversation::set_outcome(&s, outcome);
        if let Some(t) = cost::conversation::close(&s) {
            totals.insert(s.id().to_owned(), t);
        }
        conversation_of.insert(c.wa_id, s);
    }
    let evals = bot.evals.lock().map_err(|_| "lock")?.clone();
    let turns = bot.turns.lock().map_err(|_| "lock")?.clone();
    let feedback = bot.feedback.counts();
    let audit = write_audit_trail(&convs, &conversation_of, &feedback, &spans_file);
    let http_series = chatobs_runtime::integrations::http_metrics::snapshot();
    let fired = chatobs_runtime::alerts::current()
        .map(|e| {
            e.wait_idle(Duration::from_secs(2));
            e.recent()
        })
        .unwrap_or_default();
    bot.stop().await;
    // Everything exported (with the Phoenix preset, the first LLM spans wait
    // about 6 s for Phoenix to load chatobs' prices).
    if !guard.flush(Duration::from_secs(30)) {
        eprintln!("warning: not every span was exported within 30 s");
    }
    let spans = guard.memory_spans();
    let snap = guard.snapshot();
    let last_export_error = guard.stats().last_error();
    let phoenix = chatobs_runtime::evals::phoenix::installed().map(|p| {
        p.wait_idle(Duration::from_secs(5));
        let s = p.stats();
        use std::sync::atomic::Ordering::Relaxed;
        format!(
            "phoenix: {} annotations sent, on spans and on turns ({} failed, {} dropped)",
            s.sent.load(Relaxed),
            s.failed.load(Relaxed),
            s.dropped.load(Relaxed)
        )
    });
    drop(guard);

    for c in &convs {
        let Some(s) = conversation_of.get(c.wa_id) else {
            continue;
        };
        let id = s.id();
        println!("== {} ==", c.title);
        print!("{}", chatobs_runtime::report::waterfall(&spans, Some(id)));
        let t = totals.get(id).cloned().unwrap_or_default();
        println!(
            "   cost: LLM ${}  WhatsApp ${}  total ${}{}  ({} LLM calls, {} in / {} out messages)",
            t.llm_usd.normalize(),
            t.whatsapp_usd.normalize(),
            t.total_usd().normalize(),
            if t.incomplete { " (incomplete)" } else { "" },
            t.llm_calls,
            t.messages_inbound,
            t.messages_outbound
        );
        let alerts = alerts_for(&fired, id);
        if alerts.is_empty() {
            println!(
                "   alerts: none (seed thresholds: $0.05 per LLM call, $1.00 per conversation)"
            );
        } else {
            for a in alerts {
                println!("   alert: {a}");
            }
        }
        // Each result names the turn it judged (its trace, in Phoenix too).
        let of_session: Vec<chatobs_runtime::TraceId> = turns
            .iter()
            .filter(|(s, _)| s == id)
            .map(|(_, t)| *t)
            .collect();
        for (n, trace) in of_session.iter().enumerate() {
            let mut of_turn: Vec<&bot::EvalSeen> =
                evals.iter().filter(|e| e.trace == *trace).collect();
            of_turn.sort_by(|a, b| a.evaluator.cmp(&b.evaluator));
            let results: Vec<String> = of_turn
                .iter()
                .map(|e| {
                    format!(
                        "{} {} ({})",
                        e.evaluator,
                        e.label,
                        e.score.map_or("-".into(), |s| format!("{s:.1}"))
                    )
                })
                .collect();
            if !results.is_empty() {
                println!(
                    "   eval turn {} (trace {}): {}",
                    n + 1,
                    &trace.to_hex()[..8],
                    results.join(", ")
                );
            }
        }
        println!();
    }
    for (label, role, n) in feedback {
        println!("feedback: {n} x {label} from {role}");
    }
    if let Some(p) = phoenix {
        println!("{p}");
    }
    println!("{audit}");
    println!("HTTP server requests (route template, never the raw path):");
    for s in http_series {
        println!(
            "  {:<6} {:<22} {}  x{:<3} mean {:.2} ms",
            s.method,
            s.route,
            s.status,
            s.count,
            s.sum_seconds * 1e3 / s.count.max(1) as f64
        );
    }
    println!(
        "\n{} spans exported to {:?} ({} dropped, {} failed to export{}){}",
        snap.exported,
        exporters,
        snap.dropped,
        snap.export_failed,
        match &last_export_error {
            Some(e) => format!(": {e}"),
            None => String::new(),
        },
        if exporters.contains(&ExporterKind::File) {
            format!(
                "; replay with: cargo run -p chatobs-cli -- report {}",
                spans_file.display()
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Budget alerts the alert engine fired for the conversation.
fn alerts_for(fired: &[chatobs_runtime::alerts::Alert], session: &str) -> Vec<String> {
    fired
        .iter()
        .filter(|a| a.session_id.as_deref() == Some(session))
        .map(|a| {
            let on = match (&a.role, &a.span_name, &a.span_id) {
                (Some(role), _, _) => format!("role {role}"),
                (None, Some(name), Some(id)) => format!("span {name} ({id})"),
                (None, Some(name), None) => format!("span {name}"),
                (None, None, Some(id)) => format!("span {id}"),
                (None, None, None) => "the conversation".to_owned(),
            };
            format!(
                "{} ({}): ${} > ${} (exceeded by ${}) on {on}",
                a.rule,
                a.severity,
                a.value.normalize(),
                a.threshold.normalize(),
                a.exceeded_by.normalize()
            )
        })
        .collect()
}

/// The audit trail of the run: the complaint handed to an operator, the
/// feedback recorded, the spans exported. The key is `CHATOBS_AUDIT_KEY`
/// when set, else a demo key that is not a secret (said in the output, so
/// the trail can be verified); a production bot sets `[audit] enabled = true`
/// and the key in its environment, and `init` opens the trail.
fn write_audit_trail(
    convs: &[Conversation],
    conversation_of: &HashMap<&str, ChatSession>,
    feedback: &[(String, String, u64)],
    spans_file: &std::path::Path,
) -> String {
    use chatobs_runtime::audit::{verify_file, Action, AuditLog, Entry};
    const DEMO_KEY: &str = "chatobs-demo-audit-key-not-a-secret";
    let path = std::path::Path::new("target/chatobs/audit.jsonl");
    let (key, verify_env) = match std::env::var("CHATOBS_AUDIT_KEY") {
        Ok(k) if !k.is_empty() => (k, "CHATOBS_AUDIT_KEY=<your key>".to_owned()),
        _ => (DEMO_KEY.to_owned(), format!("CHATOBS_AUDIT_KEY={DEMO_KEY}")),
    };
    let log = match AuditLog::open_with_key(path, key.as_bytes(), 365) {
        Ok(l) => l,
        Err(e) => return format!("audit: not written ({e})"),
    };
    let mut n = 0;
    for c in convs {
        let Some(s) = conversation_of.get(c.wa_id) else {
            continue;
        };
        if c.title.starts_with("complaint") {
            n += log
                .record(
                    Entry::new("system:orchestrator", Action::OperatorAssigned, s.id())
                        .before(json!({"operator": null}))
                        .after(json!({"operator": "operator:demo", "queue": "pqr"})),
                )
                .is_ok() as usize;
        }
        if c.react_thumbs_up {
            n += log
                .record(
                    Entry::new("user", Action::FeedbackRecorded, s.id())
                        .after(json!({"label": "thumbs-up", "source": "reaction"})),
                )
                .is_ok() as usize;
        }
    }
    let total: u64 = feedback.iter().map(|(_, _, n)| n).sum();
    n += log
        .record(
            Entry::new(
                "system:chatcommerce",
                Action::DataExport,
                spans_file.display().to_string(),
            )
            .after(json!({"conversations": convs.len(), "feedback": total})),
        )
        .is_ok() as usize;
    match verify_file(path, key.as_bytes()) {
        Ok(sum) => format!(
            "audit: {n} records added to {} ({} in the trail, chain intact); check it with: {verify_env} cargo run -p chatobs-cli -- audit verify {}",
            path.display(),
            sum.records,
            path.display()
        ),
        Err(e) => format!("audit: the trail does not verify: {e}"),
    }
}
