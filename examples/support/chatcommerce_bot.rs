//! The ChatCommerce bot as two services plus two simulators, all on 127.0.0.1.
//! Shared by `examples/chatcommerce.rs`, the end-to-end tests and the webhook
//! benchmark (included with `#[path]`).
//!
//! - **gateway**: `/webhook/whatsapp` (signed POSTs from "Meta"), `classifier.predict`,
//!   `orchestrator.decision`, calls the agents service and sends replies through
//!   the Graph API (`whatsapp.send`), prices them, reconciles status callbacks.
//! - **agents**: `POST /agents/sales`, `POST /agents/pqr` behind the chatobs axum
//!   layer (`agent.sales.flow`, `agent.pqr.flow`), each calling Gemini.
//! - **gemini**: answers `:generateContent` in Gemini's JSON shape with `usageMetadata`.
//! - **graph**: the WhatsApp Graph API: returns wamids and, shortly after, posts
//!   signed `sent` / `delivered` status callbacks with `pricing` to the gateway.
#![allow(dead_code)]

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use chatobs_runtime::cost::{self, OffsetDateTime, Outbound};
use chatobs_runtime::evals::{
    judge, EvalInput, EvalPipeline, EvalsConfig, FeedbackRecorder, JudgeClient, Readability,
};
use chatobs_runtime::integrations::axum::{
    health_router, instrument, ServerOptions, WebhookConfig, WhatsAppWebhook,
};
use chatobs_runtime::integrations::reqwest::SendTraced;
use chatobs_runtime::integrations::whatsapp::{self, InboundMessage, OutboundRegistry};
use chatobs_runtime::{chat_span, record, Context, TemplateCategory};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The business phone number id ("metadata.phone_number_id").
pub const PHONE_NUMBER_ID: &str = "106540352242922";
/// The app secret that signs webhook bodies (a demo value; production reads WHATSAPP_APP_SECRET).
pub const APP_SECRET: &str = "chatcommerce-demo-app-secret";
/// The Graph API access token (sent as a bearer token; redacted in spans).
pub const GRAPH_TOKEN: &str = "EAAGdemoGraphToken0123456789";
/// The Gemini API key (sent as `?key=`; redacted in `url.full`).
pub const GEMINI_KEY: &str = "AIzaDemoGeminiKey0123456789";

#[derive(Debug)]
pub struct BotError(pub String);
impl std::fmt::Display for BotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BotError {}
fn err(e: impl std::fmt::Display) -> BotError {
    BotError(e.to_string())
}

/// Sends `req` (traceparent and baggage injected, CLIENT span), fails on a
/// non-2xx status, and reads the JSON answer.
async fn call<T: serde::de::DeserializeOwned>(req: reqwest::RequestBuilder) -> Result<T, BotError> {
    req.send_traced()
        .await
        .map_err(err)?
        .error_for_status()
        .map_err(err)?
        .json()
        .await
        .map_err(err)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Intent {
    Sales,
    Complaint,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct AgentRequest {
    pub text: String,
    pub turn: u64,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct AgentReply {
    pub reply: String,
    /// A template to send after the reply: (name, category).
    pub template: Option<(String, TemplateCategory)>,
}

/// One evaluation result, for the example's summary.
#[derive(Clone, Debug)]
pub struct EvalSeen {
    pub session: String,
    /// The trace of the turn it judged (see [`Bot::turns`]).
    pub trace: chatobs_runtime::TraceId,
    pub evaluator: String,
    pub label: String,
    pub score: Option<f64>,
}

/// What the simulated Graph API accepted.
#[derive(Clone, Debug)]
pub struct SentMessage {
    pub wamid: String,
    pub to: String,
    pub kind: String,
}

struct Gateway {
    turns: Arc<Mutex<Vec<(String, chatobs_runtime::TraceId)>>>,
    http: reqwest::Client,
    agents: SocketAddr,
    graph: SocketAddr,
    outbound: Arc<OutboundRegistry>,
    feedback: Arc<FeedbackRecorder>,
    evals: Arc<EvalPipeline>,
    processed: Arc<AtomicUsize>,
}

struct Agents {
    http: reqwest::Client,
    gemini: SocketAddr,
}

/// The running bot.
pub struct Bot {
    pub gateway: SocketAddr,
    pub agents: SocketAddr,
    pub gemini: SocketAddr,
    pub graph: SocketAddr,
    /// The simulated LLM judge (OpenAI-compatible) the evaluations call.
    pub judge: SocketAddr,
    /// Each turn handled: (conversation id, its trace), in order.
    pub turns: Arc<Mutex<Vec<(String, chatobs_runtime::TraceId)>>>,
    /// Inbound messages fully processed by the gateway.
    pub processed: Arc<AtomicUsize>,
    /// Status callbacks the gateway handled.
    pub statuses: Arc<AtomicUsize>,
    pub sent: Arc<Mutex<Vec<SentMessage>>>,
    pub evals: Arc<Mutex<Vec<EvalSeen>>>,
    pub eval_pipeline: Arc<EvalPipeline>,
    pub feedback: Arc<FeedbackRecorder>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

async fn serve(
    router: Router,
    stop: tokio::sync::watch::Receiver<bool>,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = l.local_addr().expect("local addr");
    let h = tokio::spawn(async move {
        let mut stop = stop;
        let _ = axum::serve(l, router)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
    });
    (addr, h)
}

impl Bot {
    /// Starts the servers on 127.0.0.1 (ephemeral ports), with the default
    /// evaluation settings.
    pub async fn start() -> Bot {
        Bot::start_with(EvalsConfig::default()).await
    }

    /// Starts the servers on 127.0.0.1 (ephemeral ports). The evaluations
    /// follow `evals` (the application's `[evals]`); the LLM judge is the
    /// simulated one unless `[evals.judge] base_url` names a real one.
    pub async fn start_with(mut evals: EvalsConfig) -> Bot {
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client");

        // Gemini simulator.
        let (gemini, h) = serve(
            Router::new().route("/v1beta/models/{call}", post(gemini_sim)),
            stop_rx.clone(),
        )
        .await;
        tasks.push(h);

        // Agents service.
        let agents_state = Arc::new(Agents {
            http: http.clone(),
            gemini,
        });
        let agents_router = instrument(
            Router::new()
                .route("/agents/{agent}", post(agent_handler))
                .with_state(agents_state),
            ServerOptions {
                service: Some("agents"),
            },
        )
        .merge(health_router(Default::default()));
        let (agents, h) = serve(agents_router, stop_rx.clone()).await;
        tasks.push(h);

        // Gateway listener first (the Graph simulator posts status callbacks to it).
        let gw_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let gateway = gw_listener.local_addr().expect("addr");

        let sent = Arc::new(Mutex::new(Vec::new()));
        let graph_state = Arc::new(GraphSim {
            http: reqwest::Client::new(),
            gateway,
            sent: sent.clone(),
            n: AtomicUsize::new(0),
        });
        let (graph, h) = serve(
            Router::new()
                .route("/v21.0/{phone}/messages", post(graph_sim))
                .with_state(graph_state),
            stop_rx.clone(),
        )
        .await;
        tasks.push(h);

        // The LLM judge: QA correctness, hallucination and toxicity, next to readability.
        let (judge, h) = serve(
            Router::new().route("/v1/chat/completions", post(judge_sim)),
            stop_rx.clone(),
        )
        .await;
        tasks.push(h);
        if evals.judge.base_url.is_empty() {
            evals.judge.base_url = format!("http://{judge}/v1");
            evals.judge.model = "gpt-4o-mini".into();
        }
        let client = Arc::new(JudgeClient::new(evals.judge.clone()).expect("judge client"));
        let evals_seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = evals_seen.clone();
        // Results go to Phoenix as span annotations by themselves when
        // Phoenix is configured (`chatobs_runtime::init` installs it).
        let eval_pipeline = Arc::new(
            EvalPipeline::builder(evals.clone())
                .evaluator(Arc::new(Readability {
                    language: evals.readability.lang(),
                }))
                .evaluator(Arc::new(judge::qa_correctness(client.clone())))
                .evaluator(Arc::new(judge::hallucination(client.clone())))
                .evaluator(Arc::new(judge::toxicity(client)))
                .on_result(move |r| {
                    if let Ok(res) = &r.result {
                        seen2.lock().unwrap().push(EvalSeen {
                            session: r
                                .target
                                .session
                                .as_ref()
                                .map(|s| s.id().to_owned())
                                .unwrap_or_default(),
                            trace: r.target.trace_id,
                            evaluator: r.evaluator.clone(),
                            label: res.label.clone(),
                            score: res.score,
                        });
                    }
                })
                .start()
                .expect("evaluation pipeline"),
        );
        let feedback = Arc::new(FeedbackRecorder::new(&evals.feedback));
        let turns = Arc::new(Mutex::new(Vec::new()));
        let processed = Arc::new(AtomicUsize::new(0));
        let statuses = Arc::new(AtomicUsize::new(0));
        let outbound = Arc::new(OutboundRegistry::default());
        let gw = Arc::new(Gateway {
            turns: turns.clone(),
            http,
            agents,
            graph,
            outbound: outbound.clone(),
            feedback: feedback.clone(),
            evals: eval_pipeline.clone(),
            processed: processed.clone(),
        });
        let st2 = statuses.clone();
        let webhook = WhatsAppWebhook::new(
            WebhookConfig::default()
                .app_secret(APP_SECRET)
                .verify_token("demo-verify-token")
                .service("gateway"),
        )
        .with_outbound(outbound)
        .feedback(feedback.clone())
        .on_message(move |msg| {
            let gw = gw.clone();
            async move {
                if let Err(e) = handle_message(&gw, &msg).await {
                    tracing::error!(error = %e, "turn failed");
                }
                gw.processed.fetch_add(1, Ordering::SeqCst);
            }
        })
        .on_status(move |s| {
            let st2 = st2.clone();
            async move {
                tracing::info!(status = %s.status, "status callback");
                st2.fetch_add(1, Ordering::SeqCst);
            }
        });
        let gw_router = webhook.router().merge(health_router(Default::default()));
        let mut stop_gw = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(gw_listener, gw_router)
                .with_graceful_shutdown(async move {
                    let _ = stop_gw.wait_for(|s| *s).await;
                })
                .await;
        }));
        Bot {
            gateway,
            agents,
            gemini,
            graph,
            judge,
            turns,
            processed,
            statuses,
            sent,
            evals: evals_seen,
            eval_pipeline,
            feedback,
            stop,
            tasks,
        }
    }

    /// The webhook URL.
    pub fn webhook_url(&self) -> String {
        format!("http://{}/webhook/whatsapp", self.gateway)
    }

    /// Posts a signed webhook body like Meta does; returns the status code.
    pub async fn post_signed(&self, http: &reqwest::Client, body: Vec<u8>) -> u16 {
        let sig = whatsapp::sign(APP_SECRET.as_bytes(), &body);
        http.post(self.webhook_url())
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sig)
            .body(body)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    /// Waits until `messages` inbound messages were processed and `statuses` callbacks handled.
    pub async fn wait(&self, messages: usize, statuses: usize, limit: Duration) -> bool {
        let t = std::time::Instant::now();
        while t.elapsed() < limit {
            if self.processed.load(Ordering::SeqCst) >= messages
                && self.statuses.load(Ordering::SeqCst) >= statuses
            {
                return self.eval_pipeline.wait_idle(Duration::from_secs(5));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// Stops every server.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        self.eval_pipeline.shutdown(Duration::from_secs(2));
    }
}

/// A Meta webhook body with one text message.
pub fn text_payload(wa_id: &str, wamid: &str, text: &str) -> Vec<u8> {
    message_payload(
        wa_id,
        json!({"from": wa_id, "id": wamid, "timestamp": now_s(), "type": "text", "text": {"body": text}}),
    )
}

/// A Meta webhook body with one message object.
pub fn message_payload(wa_id: &str, message: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA-1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Cliente"}, "wa_id": wa_id}],
            "messages": [message]
        }}]}]
    }))
    .unwrap_or_default()
}

fn now_s() -> String {
    OffsetDateTime::now_utc().unix_timestamp().to_string()
}

// ---- gateway ----------------------------------------------------------------------------------

#[chat_span(name = "classifier.predict", role = "classifier", kind = chain)]
pub fn predict(text: &str) -> Intent {
    let t = text.to_lowercase();
    if ["roto", "reclamo", "reembolso", "queja", "tarde"]
        .iter()
        .any(|w| t.contains(w))
    {
        Intent::Complaint
    } else {
        Intent::Sales
    }
}

async fn handle_message(gw: &Gateway, msg: &InboundMessage) -> Result<(), BotError> {
    let Some(text) = msg.content.text() else {
        tracing::info!(kind = msg.content.type_name(), "no text to answer");
        return Ok(());
    };
    if let (Some(s), ctx) = (
        chatobs_runtime::ChatSession::current(),
        chatobs_runtime::Context::current(),
    ) {
        gw.turns
            .lock()
            .map_err(|_| err("lock"))?
            .push((s.id().to_owned(), ctx.trace_id));
    }
    let intent = predict(text);
    decide(gw, msg, text, intent).await
}

#[chat_span(name = "orchestrator.decision", role = "orchestrator", step = "route")]
async fn decide(
    gw: &Gateway,
    msg: &InboundMessage,
    text: &str,
    intent: Intent,
) -> Result<(), BotError> {
    let agent = match intent {
        Intent::Sales => "sales",
        Intent::Complaint => "pqr",
    };
    record!(tag = agent);
    tracing::info!(agent, text = %text, "routing");
    let turn = chatobs_runtime::ChatSession::current()
        .map(|s| cost::session_totals(&s).messages_inbound)
        .unwrap_or(1);
    let reply: AgentReply = call(
        gw.http
            .post(format!("http://{}/agents/{agent}", gw.agents))
            .json(&AgentRequest {
                text: text.to_owned(),
                turn,
            }),
    )
    .await?;
    send_whatsapp(gw, &msg.wa_id, &reply.reply, None).await?;
    // Every evaluator on the reply (judging this span, inside the turn).
    gw.evals
        .submit_all(EvalInput::new(text, reply.reply.clone()).context(CATALOG_FACTS));
    if let Some((name, category)) = &reply.template {
        send_whatsapp(gw, &msg.wa_id, name, Some(*category)).await?;
    }
    Ok(())
}

#[chat_span(name = "whatsapp.send", role = "gateway", kind = tool)]
async fn send_whatsapp(
    gw: &Gateway,
    to: &str,
    body: &str,
    template: Option<TemplateCategory>,
) -> Result<String, BotError> {
    let payload = match template {
        None => {
            json!({"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": body}})
        }
        Some(c) => json!({"messaging_product": "whatsapp", "to": to, "type": "template",
                          "template": {"name": body, "language": {"code": "es"}, "category": c.as_str()}}),
    };
    record!(template_category = (template.unwrap_or(TemplateCategory::Service)));
    let v: serde_json::Value = call(
        gw.http
            .post(format!(
                "http://{}/v21.0/{PHONE_NUMBER_ID}/messages",
                gw.graph
            ))
            .bearer_auth(GRAPH_TOKEN)
            .json(&payload),
    )
    .await?;
    let wamid = v["messages"][0]["id"]
        .as_str()
        .ok_or_else(|| err("no wamid"))?
        .to_owned();
    let charge = cost::price_outbound(&Outbound {
        business: PHONE_NUMBER_ID,
        user: to,
        at: OffsetDateTime::now_utc(),
        template,
        entry_point: false,
    })
    .map_err(err)?;
    gw.outbound.register(&wamid, charge, Context::current());
    gw.feedback.register_sent(&wamid, Context::current());
    // A wamid carries the customer's number: log only its keyed hash.
    let message = chatobs_runtime::integrations::whatsapp::hashed_message_id(&wamid);
    tracing::info!(
        message_id = message.as_deref().unwrap_or(""),
        "reply accepted by the Graph API"
    );
    Ok(wamid)
}

// ---- agents -------------------------------------------------------------------------------------

async fn agent_handler(
    State(a): State<Arc<Agents>>,
    Path(agent): Path<String>,
    Json(req): Json<AgentRequest>,
) -> Result<Json<AgentReply>, (axum::http::StatusCode, String)> {
    let r = match agent.as_str() {
        "sales" => sales_flow(&a, &req).await,
        "pqr" => pqr_flow(&a, &req).await,
        _ => Err(err("unknown agent")),
    };
    r.map(Json)
        .map_err(|e| (axum::http::StatusCode::BAD_GATEWAY, e.to_string()))
}

fn sales_step(turn: u64) -> &'static str {
    match turn {
        0 | 1 => "qualify",
        2 => "offer",
        _ => "checkout",
    }
}

#[chat_span(name = "agent.sales.flow", role = "sales", step = sales_step(req.turn), tags("checkout", "whatsapp"), template_category = marketing, kind = agent)]
async fn sales_flow(a: &Agents, req: &AgentRequest) -> Result<AgentReply, BotError> {
    // Wholesale questions are answered from the cached full catalog on Gemini 1.5 Pro (expensive).
    let catalog = req.text.to_lowercase().contains("catálogo");
    let (model, cached) = if catalog {
        ("gemini-1.5-pro", Some("cachedContents/catalogo-mayorista"))
    } else {
        ("gemini-1.5-flash", None)
    };
    let answer = gemini(a, model, &req.text, cached).await?;
    tracing::info!(text = %answer, model, "sales answer");
    // First turn: this week's offer as a marketing template.
    let template = (req.turn <= 1 && !catalog)
        .then(|| ("promo_semana".to_owned(), TemplateCategory::Marketing));
    Ok(AgentReply {
        reply: answer,
        template,
    })
}

#[chat_span(name = "agent.pqr.flow", role = "pqr", step = "intake", tags("complaint"), template_category = utility, kind = agent)]
async fn pqr_flow(a: &Agents, req: &AgentRequest) -> Result<AgentReply, BotError> {
    let answer = gemini(a, "gemini-1.5-flash", &req.text, None).await?;
    record!(step = "ticket_opened");
    tracing::warn!(ticket = 1042, "complaint ticket opened");
    Ok(AgentReply {
        reply: answer,
        template: Some(("ticket_abierto".to_owned(), TemplateCategory::Utility)),
    })
}

async fn gemini(
    a: &Agents,
    model: &str,
    prompt: &str,
    cached: Option<&str>,
) -> Result<String, BotError> {
    let mut body = json!({"contents": [{"role": "user", "parts": [{"text": prompt}]}],
                          "generationConfig": {"maxOutputTokens": 256}});
    if let Some(c) = cached {
        body["cachedContent"] = json!(c);
    }
    let v: serde_json::Value = call(
        a.http
            .post(format!(
                "http://{}/v1beta/models/{model}:generateContent?key={GEMINI_KEY}",
                a.gemini
            ))
            .json(&body),
    )
    .await?;
    Ok(v["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_owned())
}

// ---- simulators ---------------------------------------------------------------------------------

/// What the store knows (the context the judge checks answers against).
const CATALOG_FACTS: &str = "Tenis talla 42 en negro y blanco, disponibles hoy. Catálogo mayorista con descuento por volumen. Devoluciones: reembolso completo por productos dañados.";

/// An OpenAI-compatible LLM judge: answers each evaluator's prompt with the
/// first of its allowed labels that holds for these replies (correct,
/// factual, non-toxic), in the `EXPLANATION:` / `LABEL:` format the
/// templates ask for, with usage (the judge's tokens are priced).
async fn judge_sim(Json(req): Json<serde_json::Value>) -> Json<serde_json::Value> {
    let prompt = req.to_string();
    let (label, why) = if prompt.contains("toxic, non-toxic") {
        ("non-toxic", "The reply is polite.")
    } else if prompt.contains("hallucinated, factual") {
        ("factual", "The reply only states what the context says.")
    } else {
        ("correct", "The reply answers the customer's question.")
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    Json(
        json!({"id": "chatcmpl-judge", "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": format!("EXPLANATION: {why}\nLABEL: {label}")}}],
        "usage": {"prompt_tokens": 240 + prompt.len() as u64 / 8, "completion_tokens": 18}}),
    )
}

async fn gemini_sim(
    Path(call): Path<String>,
    Json(req): Json<serde_json::Value>,
) -> Json<serde_json::Value> {
    let model = call
        .split(':')
        .next()
        .unwrap_or("gemini-1.5-flash")
        .to_owned();
    let text = req["contents"][0]["parts"][0]["text"]
        .as_str()
        .unwrap_or("");
    tokio::time::sleep(Duration::from_millis(8 + (text.len() % 7) as u64)).await;
    let catalog = req.get("cachedContent").is_some();
    let cached: u64 = if catalog { 600_000 } else { 512 };
    let prompt = cached + 400 + text.len() as u64 / 3;
    let output = 120 + (text.len() % 40) as u64;
    let reply = if catalog {
        "Te comparto la lista mayorista completa con precios por volumen."
    } else if text.to_lowercase().contains("roto") {
        "Lamentamos lo ocurrido. Abrimos un caso y te devolvemos el dinero."
    } else {
        "Con gusto te ayudo. Tenemos ese modelo disponible hoy."
    };
    Json(json!({
        "candidates": [{"content": {"parts": [{"text": reply}], "role": "model"}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": output,
                          "totalTokenCount": prompt + output, "cachedContentTokenCount": cached},
        "modelVersion": format!("{model}-002"),
        "responseId": format!("resp-{}", text.len())
    }))
}

struct GraphSim {
    http: reqwest::Client,
    gateway: SocketAddr,
    sent: Arc<Mutex<Vec<SentMessage>>>,
    n: AtomicUsize,
}

async fn graph_sim(
    State(g): State<Arc<GraphSim>>,
    Path(phone): Path<String>,
    Json(req): Json<serde_json::Value>,
) -> Json<serde_json::Value> {
    let n = g.n.fetch_add(1, Ordering::SeqCst);
    let wamid = format!("wamid.HBgM{n:08}");
    let to = req["to"].as_str().unwrap_or("").to_owned();
    let kind = req["type"].as_str().unwrap_or("text").to_owned();
    g.sent.lock().unwrap().push(SentMessage {
        wamid: wamid.clone(),
        to: to.clone(),
        kind: kind.clone(),
    });
    // Meta's answer for the simulation: free-form replies and utility templates inside the
    // customer service window are free; marketing templates are billed.
    let category = req["template"]["category"]
        .as_str()
        .unwrap_or("service")
        .to_owned();
    let (billable, ptype) = if category == "marketing" {
        (true, "regular")
    } else {
        (false, "free_customer_service")
    };
    let pricing =
        json!({"billable": billable, "pricing_model": "PMP", "type": ptype, "category": category});
    let gw = g.gateway;
    let http = g.http.clone();
    let w2 = wamid.clone();
    tokio::spawn(async move {
        for status in ["sent", "delivered"] {
            tokio::time::sleep(Duration::from_millis(15)).await;
            let body = serde_json::to_vec(&json!({
                "object": "whatsapp_business_account",
                "entry": [{"id": "WABA-1", "changes": [{"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone},
                    "statuses": [{"id": w2, "status": status, "timestamp": now_s(), "recipient_id": to,
                                  "pricing": pricing}]
                }}]}]
            }))
            .unwrap_or_default();
            let sig = whatsapp::sign(APP_SECRET.as_bytes(), &body);
            let _ = http
                .post(format!("http://{gw}/webhook/whatsapp"))
                .header("content-type", "application/json")
                .header("x-hub-signature-256", sig)
                .body(body)
                .send()
                .await;
        }
    });
    Json(
        json!({"messaging_product": "whatsapp", "contacts": [{"input": req["to"], "wa_id": req["to"]}],
                "messages": [{"id": wamid}]}),
    )
}
