//! What a Langfuse or a Logfire user sees (issue 13). Neither backend runs
//! here, so each preset exports to a local OTLP/HTTP receiver on 127.0.0.1
//! that records the method, path, headers and body of every request and
//! decodes the protobuf; each assertion checks one attribute against what
//! the backend's published ingestion docs say it reads (cited next to it,
//! read 2026-12-01). docs/backends.md has the same table for readers.
//!
//! The configuration is loaded as a bot loads it (`Config::from_toml_str`,
//! then `Config::apply_env`) with an injected environment: no
//! `std::env::set_var`. One test: the two backends run one after the other
//! in this process (`init` installs process-wide hooks).

mod support;

use chatobs_runtime::cost::{self, conversation, LlmCall, Outbound};
use chatobs_runtime::{vocab, Config, Role, SpanBuilder, SpanKind, TemplateCategory};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{attr, attr_str, attr_strings};

const BUSINESS: &str = "106540352242922";
const WA_ID: &str = "573001234567";
/// The user's number in the forms a leak would take.
const PHONE_FORMS: [&str; 4] = [
    "573001234567",
    "+57 300 123 4567",
    "300 123 4567",
    "3001234567",
];
/// A model priced by the test's own price file (USD per 1M tokens: 0.15 in, 0.60 out).
const MODEL: &str = "chatobs-preset-test";
const PRICES: &str = r#"
[[model]]
name = "chatobs-preset-test"
provider = "openai"
unit = "token"
per = 1000000
input = "0.15"
output = "0.60"
source = "backend_presets test"
date = "2026-12-01"
"#;
/// 1234 x 0.15/1M = 0.0001851 and 567 x 0.60/1M = 0.0003402: their sum,
/// 0.0005253, has no exact f64 (the JSON text must be the decimal's).
const COST_DETAILS: &str = r#"{"input":0.0001851,"output":0.0003402,"total":0.0005253}"#;

// ---- a recording OTLP/HTTP receiver ------------------------------------------------------------

/// One HTTP request as it arrived.
#[derive(Clone, Debug)]
struct Request {
    method: String,
    path: String,
    /// Header names in lower case.
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// Accepts every POST with 200 and an empty protobuf answer, and keeps it.
struct Receiver {
    addr: std::net::SocketAddr,
    got: Arc<Mutex<Vec<Request>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let g = g.clone();
                std::thread::spawn(move || serve(conn, g));
            }
        });
        Receiver { addr, got }
    }

    fn requests(&self) -> Vec<Request> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (bounded) until a request to `path_suffix` arrived.
    fn wait_for(&self, path_suffix: &str) -> bool {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if !self.on(path_suffix).is_empty() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn on(&self, path_suffix: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.ends_with(path_suffix))
            .collect()
    }

    /// Every span that arrived (with its resource attributes), waiting until
    /// one named `until` is there (bounded).
    fn spans(&self, until: &str) -> Vec<(Vec<KeyValue>, Span)> {
        let t = Instant::now();
        loop {
            let mut out = Vec::new();
            for r in self.on("/v1/traces") {
                let req = ExportTraceServiceRequest::decode(r.body.as_slice()).unwrap();
                for rs in req.resource_spans {
                    let res = rs.resource.map(|r| r.attributes).unwrap_or_default();
                    for ss in rs.scope_spans {
                        for s in ss.spans {
                            out.push((res.clone(), s));
                        }
                    }
                }
            }
            if out.iter().any(|(_, s)| s.name == until) || t.elapsed() > Duration::from_secs(10) {
                return out;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// No form of the user's phone number in any request line, header or body.
    fn assert_no_phone_number(&self) {
        for r in self.requests() {
            let mut bytes = format!("{} {}\n", r.method, r.path).into_bytes();
            for (k, v) in &r.headers {
                bytes.extend_from_slice(format!("{k}: {v}\n").as_bytes());
            }
            bytes.extend_from_slice(&r.body);
            for phone in PHONE_FORMS {
                assert!(
                    !bytes.windows(phone.len()).any(|w| w == phone.as_bytes()),
                    "{phone:?} reached {} {}",
                    r.method,
                    r.path
                );
            }
        }
    }
}

fn serve(conn: std::net::TcpStream, got: Arc<Mutex<Vec<Request>>>) {
    let mut out = conn.try_clone().unwrap();
    let mut rd = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if rd.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let mut body = Vec::new();
        if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
            loop {
                let mut size = String::new();
                rd.read_line(&mut size).unwrap();
                let n = usize::from_str_radix(size.trim(), 16).unwrap();
                let mut chunk = vec![0; n + 2];
                rd.read_exact(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else {
            let n: usize = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            body.resize(n, 0);
            rd.read_exact(&mut body).unwrap();
        }
        got.lock().unwrap().push(Request {
            method,
            path,
            headers,
            body,
        });
        // An empty Export*ServiceResponse encodes to zero bytes.
        let answer =
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if out.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

// ---- the bot ---------------------------------------------------------------------------------

/// The configuration file of the bot plus the injected environment, loaded
/// as `Config::load` does (file, then environment).
fn load(toml: &str, env: &[(&str, String)]) -> Config {
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let mut cfg = Config::from_toml_str(toml, None).unwrap();
    cfg.apply_env(|k| env.get(k).cloned()).unwrap();
    cfg
}

fn bot_toml(preset: &str, prices: &std::path::Path, log: &std::path::Path) -> String {
    format!(
        r#"
[service]
name = "bot-ventas"
version = "2.4.1"
environment = "production"
[exporter]
kinds = ["otlp"]
scheduled_delay_ms = 50
[otlp]
preset = "{preset}"
[logs]
format = "json"
output = {log:?}
level = "info"
[cost]
llm_price_files = [{prices:?}]
[metrics]
otlp_interval_ms = 100
"#,
        log = log.display().to_string(),
        prices = prices.display().to_string(),
    )
}

/// What one turn of the bot did.
struct Turn {
    conversation: String,
    user: String,
    llm: cost::LlmCost,
}

/// One turn: the user writes on WhatsApp, a sales agent span (tags
/// `checkout`, `vip`) sends a marketing template and asks an LLM, whose call
/// is priced on a span of its own (kind LLM).
fn turn() -> Turn {
    let user = conversation::whatsapp_user(BUSINESS, WA_ID);
    let session = conversation::on_inbound(&user);
    let mut agent = SpanBuilder::new("agent.sales.flow")
        .role(Role::SALES)
        .tags(&["checkout", "vip"])
        .session(session.clone())
        .start();
    let llm = agent.in_scope(|| {
        cost::record_inbound(&cost::Inbound {
            business: BUSINESS,
            user: WA_ID,
            at: cost::OffsetDateTime::now_utc(),
            entry_point: false,
        });
        cost::price_outbound(&Outbound {
            business: BUSINESS,
            user: WA_ID,
            at: cost::OffsetDateTime::now_utc(),
            template: Some(TemplateCategory::Marketing),
            entry_point: false,
        })
        .unwrap();
        let mut call = SpanBuilder::new("chat chatobs-preset-test")
            .span_kind(SpanKind::Llm)
            .start();
        call.in_scope(|| {
            // A log line with the number in it: redacted before any exporter.
            tracing::info!(customer_phone = "+57 300 123 4567", "cotizando");
            cost::record_llm_call(
                &LlmCall::new(MODEL)
                    .provider("openai")
                    .input_tokens(1234)
                    .output_tokens(567),
            )
            .unwrap()
        })
    });
    drop(agent);
    Turn {
        conversation: session.id().to_owned(),
        user,
        llm,
    }
}

fn one<'a>(spans: &'a [(Vec<KeyValue>, Span)], name: &str) -> &'a (Vec<KeyValue>, Span) {
    let found: Vec<_> = spans.iter().filter(|(_, s)| s.name == name).collect();
    assert_eq!(found.len(), 1, "one {name} span in {spans:#?}");
    found[0]
}

fn attr_i64(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attrs, key) {
        Some(Av::IntValue(i)) => Some(*i),
        _ => None,
    }
}

fn attr_f64(attrs: &[KeyValue], key: &str) -> Option<f64> {
    match attr(attrs, key) {
        Some(Av::DoubleValue(f)) => Some(*f),
        _ => None,
    }
}

/// `OTEL_RESOURCE_ATTRIBUTES`, the standard way to pick the environment and
/// version without touching the file (both backends read the resource).
const RESOURCE_ENV: &str =
    "deployment.environment=staging,service.version=1.2.3,service.namespace=ventas";

#[test]
fn langfuse_and_logfire_presets_deliver_what_each_backend_reads() {
    chatobs_runtime::context::set_session_key(b"backend-presets-test-key-0000001").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let prices = dir.path().join("prices.toml");
    std::fs::write(&prices, PRICES).unwrap();
    // Logfire first: it is the backend that takes logs, and the process-wide
    // log writer is installed by the first `init`.
    logfire(dir.path(), &prices);
    langfuse(dir.path(), &prices);
}

// ---- Logfire ---------------------------------------------------------------------------------

fn logfire(dir: &std::path::Path, prices: &std::path::Path) {
    let rx = Receiver::start();
    let token = "pylf_v1_us_0123456789abcdefTOKEN";
    let cfg = load(
        &bot_toml("logfire", prices, &dir.join("logfire.log")),
        &[
            ("LOGFIRE_TOKEN", token.to_owned()),
            ("LOGFIRE_BASE_URL", format!("http://{}", rx.addr)),
            // Logfire's own spelling of the environment:
            // https://logfire.pydantic.dev/docs/how-to-guides/environments/
            // ("OTEL_RESOURCE_ATTRIBUTES=\"deployment.environment.name=prod\"").
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=staging,service.version=1.2.3,service.namespace=ventas"
                    .to_owned(),
            ),
        ],
    );
    // Traces, metrics and logs all go to Logfire ("OTEL_EXPORTER_OTLP_ENDPOINT
    // ... for both traces and metrics", ".../v1/logs for just logs":
    // https://logfire.pydantic.dev/docs/how-to-guides/alternative-clients/).
    assert_eq!(
        cfg.otlp.metrics_exporter,
        chatobs_runtime::otlp::MetricsExporter::Otlp
    );
    assert_eq!(
        cfg.otlp.logs_exporter,
        chatobs_runtime::otlp::LogsExporter::Otlp
    );
    let guard = chatobs_runtime::init(cfg).unwrap();
    let t = turn();
    assert!(guard.flush(Duration::from_secs(10)));
    drop(guard); // the last metrics and log lines go now

    for signal in ["/v1/traces", "/v1/metrics", "/v1/logs"] {
        assert!(
            rx.wait_for(signal),
            "nothing on {signal}: {:?}",
            rx.requests()
        );
    }
    for r in rx.requests() {
        // "OTEL_EXPORTER_OTLP_HEADERS='Authorization=your-write-token'": the
        // bare token, no scheme (alternative-clients page above).
        assert_eq!(
            r.headers.get("authorization").map(String::as_str),
            Some(token)
        );
        // "supports both Protobuf and JSON, but only over HTTP".
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.headers.get("content-type").map(String::as_str),
            Some("application/x-protobuf")
        );
        assert!(
            ["/v1/traces", "/v1/metrics", "/v1/logs"].contains(&r.path.as_str()),
            "unexpected path {}",
            r.path
        );
    }

    let spans = rx.spans("agent.sales.flow");
    let (res, llm) = one(&spans, "chat chatobs-preset-test");
    // Resource: service name, version and environment; the environment under
    // `deployment.environment.name` (environments page above), which the
    // `deployment_environment` column reads first, `deployment.environment`
    // being its fallback (https://logfire.pydantic.dev/docs/reference/sql/);
    // OTEL_RESOURCE_ATTRIBUTES won over the file.
    assert_eq!(attr_str(res, vocab::SERVICE_NAME), Some("bot-ventas"));
    assert_eq!(attr_str(res, vocab::SERVICE_VERSION), Some("1.2.3"));
    assert_eq!(
        attr_str(res, vocab::DEPLOYMENT_ENVIRONMENT_NAME),
        Some("staging")
    );
    assert_eq!(
        attr_str(res, vocab::DEPLOYMENT_ENVIRONMENT),
        Some("staging")
    );
    assert_eq!(attr_str(res, "service.namespace"), Some("ventas"));

    // The LLMs view: a row per `gen_ai.system` (or `gen_ai.provider.name`) +
    // `gen_ai.request.model`; Input/Output from `gen_ai.usage.input_tokens` /
    // `output_tokens`; Cost from `operation.cost` "if set, else computed from
    // tokens" (https://logfire.pydantic.dev/docs/guides/web-ui/llms/,
    // "What drives each column"; https://logfire.pydantic.dev/docs/cookbook/track-llm-cost/:
    // `attributes->'operation.cost'` summed in SQL).
    let a = &llm.attributes;
    assert_eq!(attr_str(a, "gen_ai.provider.name"), Some("openai"));
    assert_eq!(attr_str(a, "gen_ai.request.model"), Some(MODEL));
    assert_eq!(attr_i64(a, "gen_ai.usage.input_tokens"), Some(1234));
    assert_eq!(attr_i64(a, "gen_ai.usage.output_tokens"), Some(567));
    // OTLP has no decimal type: the exact decimal goes out as the nearest double.
    let cost = attr_f64(a, vocab::OPERATION_COST).expect("operation.cost");
    assert_eq!(cost, "0.0005253".parse::<f64>().unwrap());
    assert_eq!(t.llm.total, "0.0005253".parse().unwrap());
    // No Langfuse-only attribute under the Logfire preset.
    for (_, s) in &spans {
        assert_eq!(attr(&s.attributes, vocab::LANGFUSE_RELEASE), None);
        assert_eq!(
            attr(&s.attributes, vocab::LANGFUSE_OBSERVATION_COST_DETAILS),
            None
        );
    }

    // Tags: "To set a value for the `tags` column when using other
    // OpenTelemetry SDKs, set the attribute `logfire.tags`"
    // (https://logfire.pydantic.dev/docs/reference/sql/, `tags`).
    let (_, agent) = one(&spans, "agent.sales.flow");
    assert_eq!(
        attr_strings(&agent.attributes, vocab::LOGFIRE_TAGS),
        Some(vec!["checkout".to_owned(), "vip".to_owned()])
    );
    // The WhatsApp fee is on the agent span, not in `operation.cost`: the LLMs
    // view does not count it (SQL on `messaging.whatsapp.price_usd` and the
    // `chatobs.whatsapp.cost` metric do).
    assert!(attr_f64(&agent.attributes, vocab::MESSAGING_WHATSAPP_PRICE_USD).is_some());
    assert_eq!(attr(&agent.attributes, vocab::OPERATION_COST), None);
    let metrics: Vec<String> = rx
        .on("/v1/metrics")
        .iter()
        .flat_map(|r| {
            ExportMetricsServiceRequest::decode(r.body.as_slice())
                .unwrap()
                .resource_metrics
        })
        .flat_map(|rm| rm.scope_metrics)
        .flat_map(|sm| sm.metrics)
        .map(|m| m.name)
        .collect();
    for want in [vocab::METRIC_WHATSAPP_COST, vocab::METRIC_LLM_COST] {
        assert!(
            metrics.iter().any(|n| n == want),
            "{want} not in {metrics:?}"
        );
    }
    let logs: usize = rx
        .on("/v1/logs")
        .iter()
        .map(|r| {
            ExportLogsServiceRequest::decode(r.body.as_slice())
                .unwrap()
                .resource_logs
                .len()
        })
        .sum();
    assert!(logs > 0);

    // The conversation and user keys, never the number.
    for (_, s) in spans
        .iter()
        .filter(|(_, s)| s.name != vocab::CONVERSATION_CLOSED)
    {
        assert_eq!(
            attr_str(&s.attributes, vocab::SESSION_ID),
            Some(t.conversation.as_str())
        );
        assert_eq!(
            attr_str(&s.attributes, vocab::USER_ID),
            Some(t.user.as_str())
        );
    }
    rx.assert_no_phone_number();
}

// ---- Langfuse --------------------------------------------------------------------------------

fn langfuse(dir: &std::path::Path, prices: &std::path::Path) {
    let rx = Receiver::start();
    let cfg = load(
        &bot_toml("langfuse", prices, &dir.join("langfuse.log")),
        &[
            ("LANGFUSE_PUBLIC_KEY", "pk-lf-0123456789".to_owned()),
            ("LANGFUSE_SECRET_KEY", "sk-lf-abcdef9876".to_owned()),
            // Self-hosted form: <host>/api/public/otel.
            ("LANGFUSE_HOST", format!("http://{}", rx.addr)),
            ("OTEL_RESOURCE_ATTRIBUTES", RESOURCE_ENV.to_owned()),
        ],
    );
    // "metrics ... accepted so exporters do not fail, but the data is
    // discarded" (https://langfuse.com/faq/all/opentelemetry-logs-metrics-span-links):
    // the preset sends traces only.
    assert_eq!(
        cfg.otlp.metrics_exporter,
        chatobs_runtime::otlp::MetricsExporter::None
    );
    assert_eq!(
        cfg.otlp.logs_exporter,
        chatobs_runtime::otlp::LogsExporter::None
    );
    let guard = chatobs_runtime::init(cfg).unwrap();
    let t = turn();
    assert!(guard.flush(Duration::from_secs(10)));
    drop(guard);

    // https://langfuse.com/integrations/native/opentelemetry ("OpenTelemetry
    // endpoint", "Enable real-time ingestion in Langfuse v4"):
    // the trace endpoint is /api/public/otel/v1/traces, OTLP over HTTP,
    // `Authorization: Basic base64(pk:sk)` and `x-langfuse-ingestion-version: 4`.
    let reqs = rx.requests();
    assert!(!reqs.is_empty());
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/api/public/otel/v1/traces", "traces only");
        assert_eq!(
            r.headers.get("authorization").map(String::as_str),
            // echo -n "pk-lf-0123456789:sk-lf-abcdef9876" | base64
            Some("Basic cGstbGYtMDEyMzQ1Njc4OTpzay1sZi1hYmNkZWY5ODc2")
        );
        assert_eq!(
            r.headers
                .get("x-langfuse-ingestion-version")
                .map(String::as_str),
            Some("4")
        );
        assert_eq!(
            r.headers.get("content-type").map(String::as_str),
            Some("application/x-protobuf")
        );
    }

    let spans = rx.spans("agent.sales.flow");
    // Attribute mapping (same page, "Trace-Level Attributes" and
    // "Observation-Level Attributes"; "Propagating Trace Attributes to All
    // Spans": userId, sessionId and release must be on every span).
    for (res, s) in &spans {
        let a = &s.attributes;
        // environment: `langfuse.environment`, `deployment.environment.name`
        // or `deployment.environment`, on the span or the resource
        // (https://langfuse.com/docs/observability/features/environments,
        // OpenTelemetry tab); lower case, as Langfuse requires.
        assert_eq!(
            attr_str(res, vocab::DEPLOYMENT_ENVIRONMENT),
            Some("staging")
        );
        // version: Langfuse falls back to the resource's `service.version`.
        assert_eq!(attr_str(res, vocab::SERVICE_VERSION), Some("1.2.3"));
        assert_eq!(attr_str(res, "service.namespace"), Some("ventas"));
        // release: `langfuse.release` only (chatobs writes `service.version`).
        assert_eq!(
            attr_str(a, vocab::LANGFUSE_RELEASE),
            Some("1.2.3"),
            "{}",
            s.name
        );
        if s.name == vocab::CONVERSATION_CLOSED {
            continue;
        }
        // sessionId: `session.id`; userId: `user.id` (the keyed user hash).
        assert_eq!(
            attr_str(a, vocab::SESSION_ID),
            Some(t.conversation.as_str())
        );
        assert_eq!(attr_str(a, vocab::USER_ID), Some(t.user.as_str()));
        assert!(t.user.starts_with("cs_") && t.user != t.conversation);
    }

    let (_, llm) = one(&spans, "chat chatobs-preset-test");
    let a = &llm.attributes;
    // type generation: `openinference.span.kind = LLM` (an "other convention"
    // the type is inferred from), else the model attribute ("A model attribute
    // infers generation only as a fallback", "Ingestion transformations").
    assert_eq!(attr_str(a, vocab::OPENINFERENCE_SPAN_KIND), Some("LLM"));
    // model: `gen_ai.request.model`; usage: `gen_ai.usage.*`.
    assert_eq!(attr_str(a, "gen_ai.request.model"), Some(MODEL));
    assert_eq!(attr_i64(a, "gen_ai.usage.input_tokens"), Some(1234));
    assert_eq!(attr_i64(a, "gen_ai.usage.output_tokens"), Some(567));
    // cost: `langfuse.observation.cost_details` (JSON string), in USD: the
    // exact decimals of the priced call, not a float's digits.
    assert_eq!(
        attr_str(a, vocab::LANGFUSE_OBSERVATION_COST_DETAILS),
        Some(COST_DETAILS)
    );
    assert_eq!(
        COST_DETAILS,
        format!(
            r#"{{"input":{},"output":{},"total":{}}}"#,
            t.llm.prompt.normalize(),
            t.llm.completion.normalize(),
            t.llm.total.normalize()
        )
    );
    let parsed: serde_json::Value = serde_json::from_str(COST_DETAILS).unwrap();
    assert!(parsed["total"].is_number());
    // Every `gen_ai.usage.*` attribute becomes a Langfuse usage type ("units
    // consumed"): chatobs' price is metadata there, never a count.
    assert_eq!(attr(a, vocab::GEN_AI_USAGE_PRICE_USD), None);
    let meta = attr_f64(a, "langfuse.observation.metadata.price_usd").unwrap();
    assert!((meta - 0.0005253).abs() < 1e-15, "{meta}");
    for kv in a {
        if let Some(name) = kv.key.strip_prefix("gen_ai.usage.") {
            assert!(
                name.ends_with("tokens"),
                "{} would be a Langfuse usage type",
                kv.key
            );
        }
    }

    // Cost is "Generation only": the WhatsApp fee on the agent span gets no
    // cost details (Langfuse keeps it under metadata.attributes).
    let (_, agent) = one(&spans, "agent.sales.flow");
    assert_eq!(
        attr_str(&agent.attributes, vocab::OPENINFERENCE_SPAN_KIND),
        Some("AGENT")
    );
    assert_eq!(
        attr(&agent.attributes, vocab::LANGFUSE_OBSERVATION_COST_DETAILS),
        None
    );
    // No Logfire-only resource attribute under the Langfuse preset.
    for (res, _) in &spans {
        assert_eq!(attr(res, vocab::DEPLOYMENT_ENVIRONMENT_NAME), None);
    }
    rx.assert_no_phone_number();
}
