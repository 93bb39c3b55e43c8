//! axum + reqwest auto-instrumentation (the seed's FastAPI + HTTPX example).
//!
//! ```text
//! cargo run --example axum_reqwest
//! ```
//!
//! A service behind `instrument` answers `GET /orders/{id}`; a client calls
//! it with `send_traced()`. The client's CLIENT span and the service's
//! SERVER span share one trace and one conversation (`traceparent` and
//! `baggage` crossed a real socket on 127.0.0.1); the SERVER span names the
//! route template `/orders/{id}`, never the raw path.

use axum::routing::get;
use chatobs_runtime::config::ExporterKind;
use chatobs_runtime::integrations::axum::{instrument, ServerOptions};
use chatobs_runtime::integrations::reqwest::SendTraced;
use chatobs_runtime::{ChatSession, Config, SpanBuilder};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = Config::load()?;
    cfg.exporter.kinds = vec![ExporterKind::Memory];
    cfg.logs.format = chatobs_runtime::config::LogFormat::Off;
    let guard = chatobs_runtime::init(cfg)?;

    let app = instrument(
        axum::Router::new().route("/orders/{id}", get(|| async { "shipped" })),
        ServerOptions {
            service: Some("orders"),
        },
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(l, app).await });

    let session = ChatSession::new("wa:573001234567");
    let mut turn = SpanBuilder::new("orchestrator.decision")
        .session(session)
        .start();
    let body = turn
        .in_future(async {
            reqwest::Client::new()
                .get(format!("http://{addr}/orders/8812"))
                .send_traced()
                .await?
                .text()
                .await
        })
        .await?;
    drop(turn);
    server.abort();

    println!("order status: {body}");
    for s in guard.memory_spans() {
        println!(
            "{:<24} {:?}  trace {}  session {}",
            s.name,
            s.kind,
            &s.trace_id.to_hex()[..8],
            s.session_id().unwrap_or("-")
        );
    }
    Ok(())
}
