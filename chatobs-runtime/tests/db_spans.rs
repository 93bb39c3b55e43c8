//! Database calls join the conversation's trace: sqlx emits a `tracing`
//! event per query (not a span), so the application wraps the call in a
//! `#[tracing::instrument]` function (the thin layer) with the
//! OpenTelemetry database attributes (`db.query.text` included); through the
//! `tracing` bridge that span is a child of the chat span, in the
//! conversation, with the query text redacted. (sqlx-sqlite runs each query
//! on its connection's worker thread, so sqlx's own query event is outside
//! the span: the thin layer records the text itself.)

use chatobs_runtime::bridge::{layer_with, SpanFilter};
use chatobs_runtime::model::OtelKind;
use chatobs_runtime::{chat_span, testing, vocab, ChatSession};
use sqlx::sqlite::SqlitePool;
use tracing_subscriber::layer::SubscriberExt;

#[tracing::instrument(
    name = "SELECT customers",
    skip_all,
    fields(db.system.name = "sqlite", db.operation.name = "SELECT", db.collection.name = "customers", db.query.text, otel.kind = "client")
)]
async fn customer_by_phone(db: &SqlitePool, phone: &str) -> Result<Option<i64>, sqlx::Error> {
    // A literal in the SQL text, as careless code writes it: the recorded
    // query text carries the phone number, and redaction must catch it.
    let sql = format!("SELECT id FROM customers WHERE phone = '{phone}'");
    tracing::Span::current().record("db.query.text", sql.as_str());
    let row: Option<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_optional(db)
        .await?;
    Ok(row.map(|r| r.0))
}

#[chat_span(name = "agent.pqr.flow", role = "pqr")]
async fn pqr(db: &SqlitePool) -> Option<i64> {
    customer_by_phone(db, "+57 300 123 4567")
        .await
        .ok()
        .flatten()
}

#[test]
fn a_sqlx_query_is_a_client_span_of_the_conversation() {
    chatobs_runtime::context::set_session_key(b"db-spans-test-key-0000000000042").unwrap();
    // The filter `[tracing] spans = "info,sqlx=warn"` gives (sqlx's own
    // chatter turned down; the application's spans stay).
    let filter = SpanFilter::parse("info,sqlx=warn").unwrap();
    let sub = tracing_subscriber::registry().with(layer_with(filter));
    let _default = tracing::subscriber::set_default(sub);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let session = ChatSession::new("wa:573001234567");
    let (found, spans) = testing::capture(|| {
        rt.block_on(async {
            let db = SqlitePool::connect("sqlite::memory:").await.unwrap();
            sqlx::query("CREATE TABLE customers (id INTEGER PRIMARY KEY, phone TEXT)")
                .execute(&db)
                .await
                .unwrap();
            sqlx::query("INSERT INTO customers (id, phone) VALUES (77, '+57 300 123 4567')")
                .execute(&db)
                .await
                .unwrap();
            let found = session.scope(pqr(&db)).await;
            // sqlx-sqlite's worker thread may hold the last clone of the
            // query span: closing the pool waits for it, so the span ends
            // here, inside the capture, and not later on that thread.
            db.close().await;
            found
        })
    });
    assert_eq!(found, Some(77));
    let agent = spans.one("agent.pqr.flow");
    let q = spans.one("SELECT customers");
    assert_eq!(
        q.parent_span_id, agent.span_id,
        "the query span is the chat span's child"
    );
    assert_eq!(q.trace_id, agent.trace_id);
    assert_eq!(q.kind, OtelKind::Client);
    assert_eq!(q.attr_str(vocab::CHAT_SESSION_ID), Some(session.id()));
    assert_eq!(q.attr_str("db.system.name"), Some("sqlite"));
    assert_eq!(q.attr_str("db.collection.name"), Some("customers"));
    // `text` fields are in `redaction.fields` (message text): the query text
    // is there, and withheld.
    assert_eq!(q.attr_str("db.query.text"), Some("[REDACTED]"));
    let all = format!("{:?}", spans.named("SELECT customers"));
    for secret in ["300 123 4567", "3001234567", "573001234567"] {
        assert!(!all.contains(secret), "{secret} in {all}");
    }
}
