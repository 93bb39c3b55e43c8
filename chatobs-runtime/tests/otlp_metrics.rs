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

/// A PQR triage step that fails when asked to (its span then has an error status).
#[chat_span(role = "pqr", step = "triage")]
fn triage(fail: bool) -> Result<(), std::io::Error> {
    if fail {
        Err(std::io::Error::other("no order with that number"))
    } else {
        Ok(())
    }
}

/// What the receiver holds for a histogram or a sum of `name` whose data
/// points carry every (key, value) of `labels`: the histogram's count or the
/// sum's value, cumulative (the last export) or delta (every export added).
fn series(receiver: &support::Server, name: &str, labels: &[(&str, &str)]) -> u64 {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as AV;
    use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value as NV};
    let matches = |attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue]| {
        labels.iter().all(|(k, v)| {
            attrs.iter().any(|a| {
                a.key == *k
                    && matches!(a.value.as_ref().and_then(|x| x.value.as_ref()), Some(AV::StringValue(s)) if s == v)
            })
        })
    };
    let (mut delta, mut last) = (0u64, 0u64);
    for r in receiver.metrics.lock().unwrap().iter() {
        for m in r
            .resource_metrics
            .iter()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .filter(|m| m.name == name)
        {
            let (temporality, values): (i32, Vec<u64>) = match &m.data {
                Some(Data::Histogram(h)) => (
                    h.aggregation_temporality,
                    h.data_points
                        .iter()
                        .filter(|p| matches(&p.attributes))
                        .map(|p| p.count)
                        .collect(),
                ),
                Some(Data::Sum(x)) => (
                    x.aggregation_temporality,
                    x.data_points
                        .iter()
                        .filter(|p| matches(&p.attributes))
                        .map(|p| match p.value {
                            Some(NV::AsInt(i)) => i as u64,
                            Some(NV::AsDouble(d)) => d as u64,
                            None => 0,
                        })
                        .collect(),
                ),
                _ => continue,
            };
            let n: u64 = values.iter().sum();
            // 1: delta, 2: cumulative (`AggregationTemporality`).
            if temporality == 1 {
                delta += n;
            } else if !values.is_empty() {
                last = n;
            }
        }
    }
    delta + last
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
    // A run of spans of one role and step (the span observer hands the
    // OpenTelemetry histogram each run at once): every duration counted,
    // and the one failure.
    for i in 0..5 {
        let _ = s.in_scope(|| triage(i == 2));
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
    let role_step = |r, st| [(vocab::AGENT_ROLE, r), (vocab::CONVERSATION_STEP, st)];
    assert_eq!(
        series(
            &receiver,
            vocab::METRIC_SPAN_DURATION,
            &role_step("pqr", "triage")
        ),
        5,
        "every triage span's duration"
    );
    assert_eq!(
        series(
            &receiver,
            vocab::METRIC_SPAN_DURATION,
            &[(vocab::AGENT_ROLE, "sales")]
        ),
        3,
        "every gemini span's duration"
    );
    assert_eq!(
        series(
            &receiver,
            vocab::METRIC_SPAN_ERRORS,
            &[(vocab::AGENT_ROLE, "pqr")]
        ),
        1,
        "the failed triage"
    );
    assert_eq!(
        series(
            &receiver,
            vocab::METRIC_SPAN_ERRORS,
            &[(vocab::AGENT_ROLE, "sales")]
        ),
        0
    );
    // Bounded labels only: no session id or phone number in any metric.
    for r in receiver.metrics.lock().unwrap().iter() {
        let bytes = prost::Message::encode_to_vec(r);
        assert!(!bytes.windows(s.id().len()).any(|w| w == s.id().as_bytes()));
        assert!(!bytes.windows(12).any(|w| w == b"573001234567"));
    }
}
