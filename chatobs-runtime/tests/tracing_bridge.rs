//! The `tracing` bridge: the application's own `tracing` spans exported by
//! chatobs in the same traces as the chat spans, with typed and redacted
//! attributes, span events, error status and tracing-opentelemetry's
//! `otel.*` conventions. Each test installs the bridge layer in a scoped
//! subscriber (as an application with its own subscriber does) and reads
//! what the test kit captured.

use chatobs_runtime::bridge::{layer_with, SpanFilter};
use chatobs_runtime::model::{OtelKind, Status};
use chatobs_runtime::{chat_span, testing, vocab, ChatSession, FinishedSpan, Value};
use tracing_subscriber::layer::SubscriberExt;

fn key() {
    chatobs_runtime::context::set_session_key(b"tracing-bridge-test-key-0123456789").unwrap();
}

/// Runs `f` with a subscriber holding only the bridge (the filter `init` would configure).
fn with_bridge<R>(f: impl FnOnce() -> R) -> R {
    key();
    let sub = tracing_subscriber::registry().with(chatobs_runtime::tracing_layer());
    tracing::subscriber::with_default(sub, f)
}

#[tracing::instrument(skip_all, fields(order.id = order_id, order.total_usd = total, order.paid = paid, order.status = status))]
fn lookup_order(order_id: i64, total: f64, paid: bool, status: &str) -> i64 {
    tracing::info!(rows = 1_u64, cache.hit = false, "order loaded");
    order_id
}

#[chat_span(name = "agent.sales.flow", role = "sales", step = "qualify")]
fn sales_flow() -> i64 {
    lookup_order(48_213, 129.9, true, "awaiting_shipment")
}

#[test]
fn an_instrumented_fn_inside_a_chat_span_is_its_child_in_the_conversation() {
    let session = ChatSession::new("wa:573001234567");
    let (id, spans) = with_bridge(|| testing::capture(|| session.in_scope(sales_flow)));
    assert_eq!(id, 48_213);
    let chat = spans.one("agent.sales.flow");
    let lookup = spans.one("lookup_order");
    assert_eq!(lookup.parent_span_id, chat.span_id);
    assert_eq!(lookup.trace_id, chat.trace_id);
    assert_eq!(lookup.session_id(), Some(session.id()));
    assert_eq!(lookup.attr_str(vocab::SESSION_ID), Some(session.id()));
    assert_eq!(lookup.kind, OtelKind::Internal);
    // Typed attributes: numbers stay numbers.
    assert_eq!(lookup.attr("order.id"), Some(&Value::I64(48_213)));
    assert_eq!(lookup.attr("order.total_usd"), Some(&Value::F64(129.9)));
    assert_eq!(lookup.attr("order.paid"), Some(&Value::Bool(true)));
    assert_eq!(lookup.attr_str("order.status"), Some("awaiting_shipment"));
    // The info! event is a span event of the tracing span, not of the chat span.
    let ev = lookup.event("order loaded").expect("span event");
    assert_eq!(ev.attr("rows"), Some(&Value::I64(1)));
    assert_eq!(ev.attr("cache.hit"), Some(&Value::Bool(false)));
    assert_eq!(ev.attr("level").and_then(Value::as_str), Some("INFO"));
    assert!(chat.event("order loaded").is_none());
    assert_eq!(lookup.status, Status::Unset);
}

#[test]
fn a_chat_span_inside_an_info_span_is_its_child() {
    let session = ChatSession::new("wa:5215512345678");
    let (_, spans) = with_bridge(|| {
        testing::capture(|| {
            session.in_scope(|| {
                let webhook = tracing::info_span!(
                    "whatsapp.webhook",
                    otel.kind = "server",
                    http.route = "/webhook"
                );
                webhook.in_scope(sales_flow)
            })
        })
    });
    let webhook = spans.one("whatsapp.webhook");
    let chat = spans.one("agent.sales.flow");
    let lookup = spans.one("lookup_order");
    assert_eq!(webhook.kind, OtelKind::Server);
    assert_eq!(webhook.parent_span_id, chatobs_runtime::SpanId::INVALID);
    assert_eq!(chat.parent_span_id, webhook.span_id);
    assert_eq!(chat.trace_id, webhook.trace_id);
    assert_eq!(lookup.parent_span_id, chat.span_id);
    assert_eq!(lookup.trace_id, webhook.trace_id);
    for s in [webhook, chat, lookup] {
        assert_eq!(s.session_id(), Some(session.id()), "{}", s.name);
    }
    assert!(!webhook
        .attributes
        .iter()
        .any(|(k, _)| k.starts_with("otel.")));
}

#[test]
fn fields_recorded_later_update_the_span_and_unsigned_values_stay_exact() {
    let (_, spans) = with_bridge(|| {
        testing::capture(|| {
            let span = tracing::info_span!(
                "lead.score",
                lead.temperature = tracing::field::Empty,
                intent.confidence = 0.42_f64,
                lead.id = tracing::field::Empty,
                message_count = 3_u64,
                big = u64::MAX,
                region = ?["co", "mx"],
                hot = tracing::field::Empty
            );
            let _e = span.enter();
            span.record("lead.temperature", 5);
            span.record("intent.confidence", 0.91_f64);
            span.record("lead.id", "lead_8f3k2q");
            span.record("hot", true);
        })
    });
    let s = spans.one("lead.score");
    assert_eq!(s.attr("lead.temperature"), Some(&Value::I64(5)));
    assert_eq!(s.attr("intent.confidence"), Some(&Value::F64(0.91)));
    assert_eq!(s.attr_str("lead.id"), Some("lead_8f3k2q"));
    assert_eq!(s.attr("message_count"), Some(&Value::I64(3)));
    assert_eq!(s.attr_str("big"), Some("18446744073709551615"));
    assert_eq!(s.attr_str("region"), Some("[\"co\", \"mx\"]"));
    assert_eq!(s.attr("hot"), Some(&Value::Bool(true)));
    // One value per key: record replaced the first.
    assert_eq!(
        s.attributes
            .iter()
            .filter(|(k, _)| k == "intent.confidence")
            .count(),
        1
    );
}

#[derive(Debug)]
struct GatewayError(&'static str);
impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "payment gateway declined: {}", self.0)
    }
}
impl std::error::Error for GatewayError {}

#[tracing::instrument(err, skip_all, fields(payment.amount_cents = 129_900))]
fn charge_card() -> Result<(), GatewayError> {
    Err(GatewayError("insufficient funds"))
}

#[test]
fn error_events_and_error_fields_set_the_error_status() {
    let (_, spans) = with_bridge(|| {
        testing::capture(|| {
            let _ = charge_card();
            tracing::info_span!("crm.sync").in_scope(|| {
                tracing::warn!(attempt = 2, "crm slow");
                tracing::error!(status_code = 503_i64, "crm sync failed");
            });
            let s = tracing::info_span!("inventory.check", error = tracing::field::Empty);
            s.record("error", "sku 7731 out of stock");
        })
    });
    let charge = spans.one("charge_card");
    assert_eq!(
        charge.status,
        Status::Error("payment gateway declined: insufficient funds".into())
    );
    let exc = charge
        .event(vocab::EXCEPTION_EVENT)
        .expect("exception event");
    assert_eq!(
        exc.attr(vocab::EXCEPTION_MESSAGE).and_then(Value::as_str),
        Some("payment gateway declined: insufficient funds")
    );

    let crm = spans.one("crm.sync");
    assert_eq!(crm.status, Status::Error("crm sync failed".into()));
    assert!(crm.event("crm slow").is_some());
    let exc = crm.event(vocab::EXCEPTION_EVENT).expect("exception event");
    assert_eq!(
        exc.attr(vocab::EXCEPTION_MESSAGE).and_then(Value::as_str),
        Some("crm sync failed")
    );
    assert_eq!(exc.attr("status_code"), Some(&Value::I64(503)));

    let inv = spans.one("inventory.check");
    assert_eq!(inv.status, Status::Error("sku 7731 out of stock".into()));
}

#[test]
fn otel_fields_name_kind_and_status() {
    let (_, spans) = with_bridge(|| {
        testing::capture(|| {
            let model = "gemini-1.5-flash";
            tracing::info_span!("llm.request", otel.name = %format!("chat {model}"), otel.kind = "Client")
                .in_scope(|| {});
            let s = tracing::info_span!(
                "send_template",
                otel.status_code = tracing::field::Empty,
                otel.status_description = tracing::field::Empty
            );
            s.in_scope(|| tracing::error!("429 from graph.facebook.com"));
            s.record("otel.status_code", "ERROR");
            s.record("otel.status_description", "rate limited by Meta");
            drop(s);
            let ok = tracing::info_span!("retry", otel.status_code = "ok");
            ok.in_scope(|| tracing::error!("transient"));
        })
    });
    let llm = spans.one("chat gemini-1.5-flash");
    assert_eq!(llm.kind, OtelKind::Client);
    let send = spans.one("send_template");
    assert_eq!(send.status, Status::Error("rate limited by Meta".into()));
    assert_eq!(spans.one("retry").status, Status::Ok);
}

#[test]
fn personal_data_in_fields_and_events_is_redacted() {
    let phone = "+57 300 123 4567";
    let email = "ana.gomez@example.com";
    let (_, spans) = with_bridge(|| {
        testing::capture(|| {
            let s = tracing::info_span!(
                "crm.lookup",
                customer.phone = phone,
                customer.wa_id = 573001234567_u64,
                note = %format!("call {phone} or write to {email}"),
                customer.tier = "gold"
            );
            s.in_scope(|| {
                tracing::info!(contact = email, "customer {email} found");
            });
            s.record("note", format!("new number {phone}").as_str());
        })
    });
    let s = spans.one("crm.lookup");
    let text = format!("{s:?}");
    for secret in [phone, "3001234567", "573001234567", email] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert_eq!(s.attr_str("customer.phone"), Some("[REDACTED]"));
    assert_eq!(s.attr_str("customer.wa_id"), Some("[REDACTED]"));
    assert_eq!(s.attr_str("note"), Some("new number [REDACTED]"));
    assert_eq!(s.attr_str("customer.tier"), Some("gold"));
    let ev = s
        .event("customer [REDACTED] found")
        .expect("event, redacted name");
    assert_eq!(
        ev.attr("contact").and_then(Value::as_str),
        Some("[REDACTED]")
    );
}

#[test]
fn levels_and_targets_turned_down_are_not_exported() {
    key();
    let sub = tracing_subscriber::registry().with(layer_with(
        SpanFilter::parse("info,sqlx=warn,hyper=off").unwrap(),
    ));
    let (_, spans) = tracing::subscriber::with_default(sub, || {
        testing::capture(|| {
            tracing::info_span!("handle_message").in_scope(|| {
                tracing::debug_span!("parse_payload").in_scope(|| {
                    tracing::info_span!(target: "sqlx::query", "SELECT orders").in_scope(|| {});
                    tracing::warn_span!(target: "sqlx::query", "slow SELECT orders")
                        .in_scope(|| {});
                    tracing::error_span!(target: "hyper::client", "connect").in_scope(|| {});
                    tracing::info_span!(target: "my_bot::crm", "crm.fetch").in_scope(|| {});
                });
            });
        })
    });
    let names: Vec<&str> = spans.spans.iter().map(|s| s.name.as_ref()).collect();
    assert!(!names.contains(&"parse_payload"), "{names:?}");
    assert!(!names.contains(&"SELECT orders"), "{names:?}");
    assert!(!names.contains(&"connect"), "{names:?}");
    let root = spans.one("handle_message");
    // Children of a span that was filtered out hang from the nearest exported one.
    for kept in ["slow SELECT orders", "crm.fetch"] {
        let s = spans.one(kept);
        assert_eq!(s.parent_span_id, root.span_id, "{kept}");
        assert_eq!(s.trace_id, root.trace_id, "{kept}");
    }
    assert_eq!(spans.len(), 3, "{names:?}");
}

#[test]
fn chat_span_callsites_are_never_bridged() {
    let (_, spans) = with_bridge(|| testing::capture(sales_flow));
    // One chat span (chatobs' own), not a second copy from its `tracing` shadow.
    assert_eq!(spans.named("agent.sales.flow").len(), 1);
}

#[tracing::instrument(skip_all, fields(sku = sku))]
async fn reserve_stock(sku: &'static str) -> u32 {
    tokio::task::yield_now().await;
    tracing::info!("reserved");
    tokio::task::yield_now().await;
    confirm_reservation().await
}

#[chat_span(name = "agent.inventory.confirm", role = "orchestrator")]
async fn confirm_reservation() -> u32 {
    tokio::task::yield_now().await;
    2
}

#[chat_span(name = "agent.sales.checkout", role = "sales")]
async fn checkout() -> u32 {
    let a = reserve_stock("SKU-7731").await;
    let b = reserve_stock("SKU-1200").await;
    a + b
}

#[test]
fn async_spans_keep_their_parents_across_awaits() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let session = ChatSession::new("wa:5491155551234");
    let (n, spans) = with_bridge(|| rt.block_on(testing::capture_async(session.scope(checkout()))));
    assert_eq!(n, 4);
    let checkout = spans.one("agent.sales.checkout");
    let reserves = spans.named("reserve_stock");
    assert_eq!(reserves.len(), 2);
    let confirms = spans.named("agent.inventory.confirm");
    assert_eq!(confirms.len(), 2);
    for r in &reserves {
        assert_eq!(r.parent_span_id, checkout.span_id);
        assert_eq!(r.trace_id, checkout.trace_id);
        assert_eq!(r.session_id(), Some(session.id()));
        assert!(r.event("reserved").is_some());
    }
    for c in &confirms {
        let parent: &FinishedSpan = spans.parent_of(c).expect("parent captured");
        assert_eq!(parent.name, "reserve_stock");
        assert_eq!(c.trace_id, checkout.trace_id);
    }
}

#[test]
fn hostile_values_never_panic_and_stay_bounded() {
    let huge = "x".repeat(100_000);
    let (_, spans) = with_bridge(|| {
        testing::capture(|| {
            let s = tracing::info_span!(
                "hostile",
                otel.kind = "sideways",
                otel.status_code = 42,
                otel.name = "",
                nan = f64::NAN,
                big = i128::MAX,
                neg = i64::MIN,
                text = tracing::field::Empty,
                blob = huge.as_str(),
                emoji = "👍🏽 ñandú \u{0}"
            );
            s.in_scope(|| {
                tracing::info!(parent: None, "orphan event");
                tracing::info!("")
            });
            s.record("undeclared_field", 1);
        })
    });
    let s = spans.one("hostile");
    assert_eq!(s.kind, OtelKind::Internal);
    assert_eq!(s.status, Status::Unset);
    assert!(s
        .attr("nan")
        .and_then(Value::as_f64)
        .is_some_and(f64::is_nan));
    assert_eq!(s.attr_str("big"), Some(i128::MAX.to_string().as_str()));
    assert_eq!(s.attr("neg"), Some(&Value::I64(i64::MIN)));
    let blob = s.attr_str("blob").unwrap();
    assert!(
        blob.len() <= chatobs_runtime::bridge::MAX_VALUE_BYTES + 3,
        "{}",
        blob.len()
    );
    assert!(blob.ends_with('…'));
    assert_eq!(s.attr_str("emoji"), Some("👍🏽 ñandú \u{0}"));
    assert_eq!(s.events.len(), 1);
}
