//! A manual span with tags and a log line (the seed's `logfire_manual_span`).
//!
//! ```text
//! cargo run --example manual_span
//! ```

use chatobs_runtime::{ChatSession, Config, Role, SpanBuilder, TemplateCategory};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = Config::load()?;
    cfg.exporter.kinds = vec![chatobs_runtime::config::ExporterKind::Console];
    let _guard = chatobs_runtime::init(cfg)?;
    let session = ChatSession::new("wa:573001234567");
    session.in_scope(|| {
        let mut span = SpanBuilder::new("agent.sales.flow")
            .role(Role::SALES)
            .step("offer")
            .tags(&["checkout", "vip"])
            .template_category(TemplateCategory::Marketing)
            .start();
        span.in_scope(|| {
            // The line carries trace_id, span_id and chat.session_id; `text` is redacted by name.
            tracing::info!(text = "quiero los tenis negros", "offer sent");
        });
        span.set_ok();
    });
    Ok(()) // the guard flushes: the span is printed on standard error
}
