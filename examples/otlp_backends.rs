//! Export to Phoenix, Arize, Langfuse or Logfire: endpoint and header presets
//! (the seed's `arize_otel_register`).
//!
//! ```text
//! cargo run --example otlp_backends -- phoenix        # prints the settings, exports one span
//! ```
//!
//! Each backend reads OTLP; only the endpoint, protocol and (secret) headers
//! differ. Secrets are taken from the environment, never from a file.

use chatobs_runtime::config::{ExporterKind, OtlpProtocol};
use chatobs_runtime::{Config, SpanBuilder};

/// Endpoint, protocol, and (header, environment variable) pairs.
type Preset = (
    &'static str,
    OtlpProtocol,
    Vec<(&'static str, &'static str)>,
);

fn preset(name: &str) -> Option<Preset> {
    Some(match name {
        // Phoenix (self-hosted): OTLP/HTTP protobuf at /v1/traces, or gRPC on PHOENIX_GRPC_PORT.
        "phoenix" => (
            "http://127.0.0.1:6006/v1/traces",
            OtlpProtocol::HttpProtobuf,
            vec![("authorization", "PHOENIX_API_KEY")],
        ),
        // Arize AX: gRPC, space id and API key headers.
        "arize" => (
            "https://otlp.arize.com",
            OtlpProtocol::Grpc,
            vec![("space_id", "ARIZE_SPACE_ID"), ("api_key", "ARIZE_API_KEY")],
        ),
        // Langfuse: OTLP/HTTP with Basic auth (public:secret key, base64).
        "langfuse" => (
            "https://cloud.langfuse.com/api/public/otel/v1/traces",
            OtlpProtocol::HttpProtobuf,
            vec![("authorization", "LANGFUSE_BASIC_AUTH")],
        ),
        // Logfire: OTLP/HTTP with the write token.
        "logfire" => (
            "https://logfire-api.pydantic.dev/v1/traces",
            OtlpProtocol::HttpProtobuf,
            vec![("authorization", "LOGFIRE_TOKEN")],
        ),
        _ => return None,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = std::env::args().nth(1).unwrap_or_else(|| "phoenix".into());
    let (endpoint, protocol, headers) =
        preset(&backend).ok_or("expected phoenix, arize, langfuse or logfire")?;
    let mut cfg = Config::load()?;
    cfg.otlp.protocol = protocol;
    let mut have_all = true;
    for (h, env) in &headers {
        match std::env::var(env) {
            Ok(v) => {
                cfg.otlp.headers.insert((*h).into(), v);
            }
            Err(_) => have_all = false,
        }
        println!("header {h}: from ${env}");
    }
    println!("{backend}: {endpoint} ({protocol:?})");
    if !have_all || std::env::var_os("CHATOBS_EXAMPLE_EXPORT").is_none() {
        println!("(dry run: set the variables above and CHATOBS_EXAMPLE_EXPORT=1 to export; writing to the console instead)");
        cfg.exporter.kinds = vec![ExporterKind::Console];
    } else {
        cfg.otlp.endpoint = endpoint.into();
        cfg.exporter.kinds = vec![ExporterKind::Otlp];
    }
    let _guard = chatobs_runtime::init(cfg)?;
    drop(SpanBuilder::new("classifier.predict").start());
    Ok(())
}
