//! Metrics go over OTLP too: the real OTLP metric exporter against a real
//! gRPC receiver on 127.0.0.1; the final export happens when the guard drops.

mod support;

use chatobs_runtime::config::{ExporterKind, LogFormat, OtlpProtocol};
use chatobs_runtime::cost::{self, LlmCall};
use chatobs_runtime::{chat_span, vocab, ChatSession, Config};

#[chat_span(name = "chat gemini-1.5-flash", role = "sales", kind = llm, model = "gemini-1.5-flash", provider = "gcp.gemini")]
fn gemini() -> Result<(), chatobs_runtime::Error> {
    cost::record_llm_call(&LlmCall::declared().input_tokens(1200).output_tokens(300)).map(|_| ())
}

#[test]
fn genai_and_cost_metrics_reach_an_otlp_receiver() {
    let receiver = support::grpc_receiver();
    let mut c = Config::default();
    c.exporter.kinds = vec![ExporterKind::Otlp];
    c.otlp.protocol = OtlpProtocol::Grpc;
    c.otlp.endpoint = format!("http://{}", receiver.addr);
    c.exporter.scheduled_delay_ms = 50;
    c.logs.format = LogFormat::Off;
    let guard = chatobs_runtime::init(c).unwrap();
    let s = ChatSession::new("wa:573001234567");
    for _ in 0..3 {
        s.in_scope(gemini).unwrap();
    }
    // The app's own metrics go the same way.
    let orders =
        chatobs_runtime::metrics::app::counter("shop_orders_total", "Orders placed.", &["channel"])
            .unwrap();
    orders.add(&["whatsapp"], 2);
    let basket = chatobs_runtime::metrics::app::histogram(
        "shop_basket_usd",
        "Basket value.",
        &["channel"],
        &[10.0, 100.0],
    )
    .unwrap();
    basket.observe(&["whatsapp"], 42.0);
    drop(guard); // shuts the meter provider down: the last export happens now
    let names = support::metric_names(&receiver.metrics);
    for want in [
        vocab::METRIC_GEN_AI_TOKEN_USAGE,
        vocab::METRIC_GEN_AI_OPERATION_DURATION,
        vocab::METRIC_LLM_COST,
        vocab::METRIC_LLM_CALL_COST,
        vocab::METRIC_SPAN_DURATION,
        "shop_orders_total",
        "shop_basket_usd",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    // Bounded labels only: no session id or phone number in any metric.
    for r in receiver.metrics.lock().unwrap().iter() {
        let bytes = prost::Message::encode_to_vec(r);
        assert!(!bytes.windows(s.id().len()).any(|w| w == s.id().as_bytes()));
        assert!(!bytes.windows(12).any(|w| w == b"573001234567"));
    }
}
