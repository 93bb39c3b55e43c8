//! ChatCommerce: a scripted WhatsApp commerce bot, observed end to end on the
//! embedded default (no server needed).
//!
//! ```text
//! cargo run --release --example chatcommerce
//! ```
//!
//! Three customers write to the bot. Each inbound message becomes a
//! conversation turn: `classifier.predict` routes it, `orchestrator.decision`
//! picks an agent, `agent.sales.flow` or `agent.pqr.flow` answers with a
//! (simulated) Gemini call and a WhatsApp reply. Every span carries the
//! conversation's `chat.session_id` (a keyed hash of the phone number, which
//! itself is never written anywhere). Spans go to `target/chatobs/spans.jsonl`
//! (or to OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set), JSON logs to
//! `target/chatobs/chatcommerce.log.jsonl`, and each conversation is printed
//! as a waterfall. `chatobs report target/chatobs/spans.jsonl` draws the same
//! from the file later.

use chatobs_runtime::cost::{self, Inbound as WaInbound, LlmCall, OffsetDateTime, Outbound};
use chatobs_runtime::{chat_span, record, ChatSession, Config, TemplateCategory};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Intent {
    Sales,
    Complaint,
}

#[derive(Debug)]
struct Inbound {
    from: &'static str,
    text: &'static str,
}

#[derive(Debug)]
struct BotError(&'static str);
impl std::fmt::Display for BotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for BotError {}

struct SalesState {
    turns: u32,
}
impl SalesState {
    fn step(&self) -> &'static str {
        match self.turns {
            0 => "qualify",
            1 => "offer",
            _ => "checkout",
        }
    }
}

#[chat_span(name = "classifier.predict", role = "classifier", kind = chain)]
fn predict(text: &str) -> Intent {
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

/// The business phone number the bot answers from.
const BUSINESS: &str = "+5716000000";

/// A simulated Gemini 1.5 Flash call: token counts follow the text length,
/// and the call is priced from the shipped price table.
#[chat_span(name = "chat gemini-1.5-flash", kind = llm, model = "gemini-1.5-flash", provider = "gcp.gemini")]
async fn gemini(prompt: &str, role_hint: &str) -> Result<String, BotError> {
    tokio::time::sleep(Duration::from_millis(12 + prompt.len() as u64 % 7)).await;
    if prompt.is_empty() {
        return Err(BotError("empty prompt"));
    }
    // A system prompt of ~900 tokens, part of it cached, plus the user's words.
    let input = 900 + prompt.len() as u64 / 3;
    let output = 120 + prompt.len() as u64 % 40;
    let c = cost::record_llm_call(
        &LlmCall::declared()
            .input_tokens(input)
            .cached_tokens(512)
            .output_tokens(output),
    )
    .map_err(|_| BotError("bad usage"))?;
    tracing::info!(input_tokens = input, output_tokens = output, price_usd = %c.total, "llm answered");
    Ok(format!("[{role_hint}] Con gusto te ayudo."))
}

/// Sends a reply (free-form, or a template of `template` category) and prices
/// it at delivery with the WhatsApp rules of that date.
#[chat_span(name = "whatsapp.send", role = "gateway", kind = tool)]
async fn send_whatsapp(
    to: &str,
    body: &str,
    template: Option<TemplateCategory>,
) -> Result<String, BotError> {
    tokio::time::sleep(Duration::from_millis(3)).await;
    let charge = cost::price_outbound(&Outbound {
        business: BUSINESS,
        user: to,
        at: OffsetDateTime::now_utc(),
        template,
        entry_point: false,
    })
    .map_err(|_| BotError("cannot price the reply"))?;
    tracing::info!(price_usd = %charge.price, "reply delivered");
    Ok(format!("wamid.{:x}", body.len() * 7919))
}

#[chat_span(name = "agent.sales.flow", role = "sales", step = state.step(), tags("checkout", "whatsapp"), template_category = marketing, kind = agent)]
async fn sales_flow(state: &mut SalesState, msg: &Inbound) -> Result<String, BotError> {
    let answer = gemini(msg.text, "ventas").await?;
    state.turns += 1;
    let wamid = send_whatsapp(msg.from, &answer, None).await?;
    if state.turns == 1 {
        // A marketing template with this week's offer: billed per message.
        send_whatsapp(msg.from, "promo_semana", Some(TemplateCategory::Marketing)).await?;
    }
    Ok(wamid)
}

#[chat_span(name = "agent.pqr.flow", role = "pqr", step = "intake", tags("complaint"), template_category = utility, kind = agent)]
async fn pqr_flow(msg: &Inbound) -> Result<String, BotError> {
    let answer = gemini(msg.text, "pqr").await?;
    record!(step = "ticket_opened");
    tracing::warn!(ticket = 1042, "complaint ticket opened");
    let wamid = send_whatsapp(msg.from, &answer, None).await?;
    // The ticket confirmation is a utility template: free inside the customer service window.
    send_whatsapp(msg.from, "ticket_abierto", Some(TemplateCategory::Utility)).await?;
    Ok(wamid)
}

#[chat_span(name = "orchestrator.decision", role = "orchestrator", step = "route")]
async fn handle(state: &mut SalesState, msg: &Inbound) -> Result<String, BotError> {
    // The user's message opens (or extends) the 24 h customer service window.
    cost::record_inbound(&WaInbound {
        business: BUSINESS,
        user: msg.from,
        at: OffsetDateTime::now_utc(),
        entry_point: false,
    });
    match predict(msg.text) {
        Intent::Sales => {
            record!(tag = "sales");
            sales_flow(state, msg).await
        }
        Intent::Complaint => {
            record!(tag = "pqr");
            pqr_flow(msg).await
        }
    }
}

const SCRIPT: &[(&str, &[&str])] = &[
    (
        "+573001234567",
        &[
            "Hola, quiero comprar unos tenis talla 42",
            "¿Tienen en color negro?",
            "Listo, los compro",
        ],
    ),
    (
        "+573009876543",
        &["Mi pedido llegó roto, quiero un reembolso"],
    ),
    (
        "+5215512345678",
        &[
            "Buenas, ¿precio de la chaqueta impermeable?",
            "Perfecto, envíenla a CDMX",
        ],
    ),
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = Config::load()?;
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() && cfg.service.name == "chatobs-app" {
        cfg.service.name = "chatcommerce".into();
    }
    if std::env::var_os("CHATOBS_LOG_OUTPUT").is_none() {
        cfg.logs.output = "target/chatobs/chatcommerce.log.jsonl".into();
    }
    let spans_file = cfg.exporter.file_path.clone();
    let exporters = cfg.resolved_exporters();
    let guard = chatobs_runtime::init(cfg)?;

    let mut sessions = Vec::new();
    let mut handles = Vec::new();
    for (phone, messages) in SCRIPT {
        // The phone number is hashed with CHATOBS_SESSION_KEY; only the hash is exported.
        let session = ChatSession::new(phone);
        sessions.push(session.id().to_owned());
        handles.push(chatobs_runtime::spawn(session.scope(async move {
            let mut state = SalesState { turns: 0 };
            let mut replies = 0;
            for text in messages.iter() {
                let msg = Inbound { from: phone, text };
                match handle(&mut state, &msg).await {
                    Ok(_wamid) => replies += 1,
                    Err(e) => tracing::error!(error = %e, "turn failed"),
                }
            }
            let totals = cost::close_conversation();
            (replies, totals)
        })));
    }
    let mut replies = 0;
    let mut grand = chatobs_runtime::Decimal::ZERO;
    for h in handles {
        let (r, totals) = h.await?;
        replies += r;
        if let Some(t) = totals {
            grand += t.total_usd();
        }
    }
    let snap = guard.snapshot();
    drop(guard); // flushes

    println!(
        "chatcommerce: {} conversations, {replies} replies sent, exporters {exporters:?}",
        sessions.len()
    );
    if exporters.contains(&chatobs_runtime::config::ExporterKind::File) {
        let text = std::fs::read_to_string(&spans_file)?;
        let spans: Vec<_> = chatobs_runtime::report::read_jsonl(&text)?
            .into_iter()
            .filter(|s| {
                s.session_id()
                    .is_some_and(|id| sessions.iter().any(|x| x == id))
            })
            .collect();
        println!(
            "spans written to {} ({} from this run, {} dropped)\n",
            spans_file.display(),
            spans.len(),
            snap.dropped
        );
        print!("{}", chatobs_runtime::report::waterfall(&spans, None));
        println!(
            "Replay later with: cargo run -p chatobs-cli -- report {}",
            spans_file.display()
        );
    }
    Ok(())
}
