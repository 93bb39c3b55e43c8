//! The real OTLP exporter against real receivers on 127.0.0.1 (gRPC and
//! HTTP/protobuf): decode what arrived and check the chat attributes.

mod support;

use chatobs_runtime::config::{ExporterKind, OtlpProtocol};
use chatobs_runtime::{chat_span, vocab, ChatSession, Config};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use std::time::Duration;
use support::{attr_str, attr_strings};

#[derive(Debug)]
struct OutOfStock;
impl std::fmt::Display for OutOfStock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("out of stock")
    }
}

#[chat_span(name = "classifier.predict", role = "classifier", kind = chain)]
fn predict(text: &str) -> &'static str {
    if text.contains("comprar") {
        "sales"
    } else {
        "pqr"
    }
}

#[chat_span(name = "agent.sales.flow", role = "sales", step = "qualify", tags("checkout", "vip"), template_category = marketing, kind = agent)]
async fn sales_flow(sku: &str) -> Result<String, OutOfStock> {
    tokio::task::yield_now().await;
    if sku == "none" {
        Err(OutOfStock)
    } else {
        Ok(format!("reserved {sku}"))
    }
}

fn config(protocol: OtlpProtocol, endpoint: String) -> Config {
    let mut c = Config::default();
    c.service.name = "otlp-test-bot".into();
    c.service.version = "1.2.3".into();
    c.service.environment = "test".into();
    c.exporter.kinds = vec![ExporterKind::Otlp];
    c.otlp.protocol = protocol;
    c.otlp.endpoint = endpoint;
    c.exporter.scheduled_delay_ms = 50;
    c.logs.format = chatobs_runtime::config::LogFormat::Off;
    c
}

async fn conversation() -> String {
    let session = ChatSession::new("wa:573001234567");
    session
        .scope(async {
            assert_eq!(predict("quiero comprar"), "sales");
            assert!(sales_flow("sku-1").await.is_ok());
            assert!(sales_flow("none").await.is_err());
        })
        .await;
    session.id().to_owned()
}

fn check(server: &support::Server, session_id: &str) {
    let spans = server.received.wait_spans(3, Duration::from_secs(10));
    assert_eq!(spans.len(), 3, "three spans exported");
    let (res, _) = &spans[0];
    assert_eq!(attr_str(res, "service.name"), Some("otlp-test-bot"));
    assert_eq!(attr_str(res, "service.version"), Some("1.2.3"));
    assert_eq!(attr_str(res, "deployment.environment"), Some("test"));

    let by = |name: &str| {
        spans
            .iter()
            .filter(|(_, s)| s.name == name)
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
    };
    let c = by("classifier.predict");
    assert_eq!(c.len(), 1);
    let c = c[0];
    assert_eq!(
        attr_str(&c.attributes, vocab::AGENT_ROLE),
        Some("classifier")
    );
    assert_eq!(
        attr_str(&c.attributes, vocab::OPENINFERENCE_SPAN_KIND),
        Some("CHAIN")
    );
    for key in [
        vocab::CHAT_SESSION_ID,
        vocab::SESSION_ID,
        vocab::GEN_AI_CONVERSATION_ID,
    ] {
        assert_eq!(attr_str(&c.attributes, key), Some(session_id), "{key}");
    }
    assert_eq!(c.kind, SpanKind::Internal as i32);

    let s = by("agent.sales.flow");
    assert_eq!(s.len(), 2);
    for span in &s {
        assert_eq!(attr_str(&span.attributes, vocab::AGENT_ROLE), Some("sales"));
        assert_eq!(
            attr_str(&span.attributes, vocab::CONVERSATION_STEP),
            Some("qualify")
        );
        assert_eq!(
            attr_str(&span.attributes, vocab::TEMPLATE_CATEGORY),
            Some("marketing")
        );
        assert_eq!(
            attr_str(&span.attributes, vocab::OPENINFERENCE_SPAN_KIND),
            Some("AGENT")
        );
        assert_eq!(
            attr_strings(&span.attributes, vocab::TAG_TAGS),
            Some(vec!["checkout".to_owned(), "vip".to_owned()])
        );
        assert_eq!(
            attr_strings(&span.attributes, vocab::LOGFIRE_TAGS),
            Some(vec!["checkout".to_owned(), "vip".to_owned()])
        );
        assert_eq!(span.trace_id.len(), 16);
        assert_eq!(span.span_id.len(), 8);
    }
    let failed: Vec<_> = s
        .iter()
        .filter(|sp| sp.status.as_ref().map(|st| st.code) == Some(StatusCode::Error as i32))
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].status.as_ref().unwrap().message, "out of stock");
    let ev = failed[0]
        .events
        .iter()
        .find(|e| e.name == vocab::EXCEPTION_EVENT)
        .expect("exception event");
    assert_eq!(
        attr_str(&ev.attributes, vocab::EXCEPTION_MESSAGE),
        Some("out of stock")
    );
    let ok: Vec<_> = s
        .iter()
        .filter(|sp| sp.status.as_ref().map(|st| st.code) == Some(StatusCode::Ok as i32))
        .collect();
    assert_eq!(ok.len(), 1);
    // No phone number anywhere in what was sent.
    for r in server.received.requests() {
        let bytes = prost::Message::encode_to_vec(&r);
        assert!(!bytes.windows(12).any(|w| w == b"573001234567"));
    }
}

#[test]
fn grpc_and_http_protobuf_receivers_get_the_chat_attributes() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let grpc = support::grpc_receiver();
    let guard =
        chatobs_runtime::init(config(OtlpProtocol::Grpc, format!("http://{}", grpc.addr))).unwrap();
    let sid = rt.block_on(conversation());
    assert!(guard.flush(Duration::from_secs(10)));
    let snap = guard.snapshot();
    drop(guard);
    check(&grpc, &sid);
    assert_eq!(snap.exported, 3);
    assert_eq!(snap.dropped, 0);

    let http = support::http_receiver();
    let guard = chatobs_runtime::init(config(
        OtlpProtocol::HttpProtobuf,
        format!("http://{}", http.addr),
    ))
    .unwrap();
    let sid = rt.block_on(conversation());
    assert!(guard.flush(Duration::from_secs(10)));
    drop(guard);
    check(&http, &sid);
}
