//! One conversation turn of a real-looking bot, and everything it does in one
//! trace: chatobs' own `#[chat_span]` functions, the application's
//! `#[tracing::instrument]` functions, an LLM library that emits its own
//! OpenTelemetry GenAI spans (rig-core, calling an OpenAI-compatible server
//! simulated on 127.0.0.1) and a database call (sqlx on an in-memory SQLite,
//! behind a thin `#[tracing::instrument]` layer because sqlx emits events,
//! not spans). Then it prints the conversation's waterfall.
//!
//! ```text
//! cargo run --example whole_app
//! ```
//!
//! Nothing to configure: `init` exports to the embedded default (a JSONL
//! file under `target/chatobs/`) and the `tracing` bridge is on. What the
//! waterfall shows: the turn (`whatsapp.turn`, `#[chat_span]`), the
//! classifier, the order lookup (`#[tracing::instrument]`) with its SQL
//! query span (sqlx's query event inside it as a span event), the sales
//! agent, and rig's `chat` span, priced from its GenAI usage fields like
//! chatobs' own LLM spans (cost on the span and in the conversation's total).

use chatobs_runtime::config::ExporterKind;
use chatobs_runtime::{chat_span, cost, ChatSession, Config};
use rig_core::completion::CompletionRequest;
use rig_core::providers::openai::OpenAIConfig;
use sqlx::sqlite::SqlitePool;

/// What the simulated OpenAI server answers (the shape OpenAI returns).
const ANSWER: &str = r#"{"id":"chatcmpl-demo","object":"chat.completion","created":1764534000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Tu pedido 1042 sale hoy; llega a Medellín en 2 días."},"finish_reason":"stop"}],"usage":{"prompt_tokens":812,"completion_tokens":64,"total_tokens":876,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#;

/// An OpenAI-compatible server on 127.0.0.1 (stops with the program).
async fn simulated_openai() -> std::io::Result<String> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|| async {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                ANSWER,
            )
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    Ok(format!("http://{addr}/v1"))
}

/// The database call: sqlx emits an event per query, not a span, so a thin
/// instrumented function gives it one (with the OpenTelemetry database
/// attributes); sqlx's own event lands inside it as a span event.
#[tracing::instrument(
    name = "SELECT orders",
    skip_all,
    fields(db.system.name = "sqlite", db.operation.name = "SELECT", db.collection.name = "orders", otel.kind = "client")
)]
async fn order_status(db: &SqlitePool, order_id: i64) -> Result<String, sqlx::Error> {
    let (status,): (String,) = sqlx::query_as("SELECT status FROM orders WHERE id = ?")
        .bind(order_id)
        .fetch_one(db)
        .await?;
    Ok(status)
}

/// The application's own code, instrumented with `tracing` as it already was.
#[tracing::instrument(skip(db), fields(order.found))]
async fn lookup_order(db: &SqlitePool, order_id: i64) -> Option<String> {
    let status = order_status(db, order_id).await.ok();
    tracing::Span::current().record("order.found", status.is_some());
    status
}

#[chat_span(name = "classifier.predict", role = "classifier", fields(intent.confidence = 0.93))]
fn classify(text: &str) -> &'static str {
    if text.contains("pedido") {
        "order_status"
    } else {
        "other"
    }
}

#[chat_span(name = "agent.sales.answer", role = "sales", kind = agent)]
async fn answer(llm_base: &str, question: &str, status: &str) -> Result<String, String> {
    // rig emits its own `chat` span with the GenAI fields (model, usage).
    let openai = OpenAIConfig::new("sk-demo-not-a-key")
        .with_base_url(llm_base)
        .connect(rig_reqwest::shared());
    let prompt = format!("Pedido en estado {status}. Pregunta del cliente: {question}");
    let reply = openai
        .chat("gpt-4o-mini")
        .call(CompletionRequest::new(prompt))
        .await
        .map_err(|e| e.to_string())?;
    Ok(reply.text())
}

#[chat_span(name = "whatsapp.turn", role = "gateway", kind = chain)]
async fn turn(db: &SqlitePool, llm_base: &str, text: &str) -> Result<String, String> {
    if classify(text) != "order_status" {
        return Ok("¿En qué te ayudo?".into());
    }
    let status = lookup_order(db, 1042)
        .await
        .unwrap_or_else(|| "unknown".into());
    answer(llm_base, text, &status).await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = Config::load()?;
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() && cfg.service.name == "chatobs-app" {
        cfg.service.name = "whole-app".into();
    }
    if std::env::var_os("CHATOBS_LOG_OUTPUT").is_none() {
        cfg.logs.output = "target/chatobs/whole_app.log.jsonl".into();
    }
    // A copy in memory to draw the waterfall (whatever else is configured).
    cfg.exporter.kinds = cfg.resolved_exporters();
    cfg.exporter.kinds.push(ExporterKind::Memory);
    let guard = chatobs_runtime::init(cfg)?;

    let db = SqlitePool::connect("sqlite::memory:").await?;
    sqlx::query("CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT NOT NULL)")
        .execute(&db)
        .await?;
    sqlx::query("INSERT INTO orders (id, status) VALUES (1042, 'shipped')")
        .execute(&db)
        .await?;
    let llm = simulated_openai().await?;

    let session = ChatSession::for_whatsapp("106540352242922", "573001234567");
    let reply = session
        .scope(turn(&db, &llm, "Hola, ¿dónde va mi pedido 1042?"))
        .await?;
    println!("bot: {reply}\n");

    let spans = guard.memory_spans();
    print!(
        "{}",
        chatobs_runtime::report::waterfall(&spans, Some(session.id()))
    );
    let t = cost::session_totals(&session);
    println!(
        "\nconversation {}: LLM ${} ({} call), {} spans in one trace",
        session.id(),
        t.llm_usd.normalize(),
        t.llm_calls,
        spans
            .iter()
            .filter(|s| s.attr_str(chatobs_runtime::vocab::CHAT_SESSION_ID) == Some(session.id()))
            .count()
    );
    drop(guard);
    Ok(())
}
