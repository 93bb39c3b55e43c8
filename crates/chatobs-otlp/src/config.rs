//! `[otlp]`: the collector endpoint, protocol and headers.
//!
//! Environment (later wins over the file): `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
//! or `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`,
//! `OTEL_EXPORTER_OTLP_HEADERS`. Authentication headers come only from the
//! environment: a secret-looking header in a file is an error.

use chatobs_core::config::{env_value, is_secret_header, Env, Errors, Section, ServiceConfig};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// OTLP protocol.
#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// gRPC (port 4317).
    #[serde(rename = "grpc")]
    Grpc,
    /// HTTP with protobuf bodies (port 4318, path /v1/traces).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

/// `[otlp]`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// Collector endpoint (empty: not configured).
    pub endpoint: String,
    /// Protocol.
    pub protocol: OtlpProtocol,
    /// Headers (non-secret from the file; secret ones from `OTEL_EXPORTER_OTLP_HEADERS`).
    pub headers: BTreeMap<String, String>,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: String::new(),
            protocol: OtlpProtocol::Grpc,
            headers: BTreeMap::new(),
        }
    }
}

impl Section for OtlpConfig {
    const KEY: &'static str = "otlp";

    fn apply_env(&mut self, env: Env<'_>, errs: &mut Errors) {
        if let Some(v) = env_value(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| env_value(env, "OTEL_EXPORTER_OTLP_ENDPOINT"))
        {
            self.endpoint = v;
        }
        if let Some(v) = env_value(env, "OTEL_EXPORTER_OTLP_PROTOCOL") {
            match v.as_str() {
                "grpc" => self.protocol = OtlpProtocol::Grpc,
                "http/protobuf" => self.protocol = OtlpProtocol::HttpProtobuf,
                other => errs.push_env(
                    "OTEL_EXPORTER_OTLP_PROTOCOL",
                    format!("{other:?} is not supported: use grpc or http/protobuf"),
                ),
            }
        }
        if let Some(v) = env_value(env, "OTEL_EXPORTER_OTLP_HEADERS") {
            for pair in v.split(',') {
                let Some((k, val)) = pair.split_once('=') else {
                    errs.push_env(
                        "OTEL_EXPORTER_OTLP_HEADERS",
                        "expected name=value pairs separated by commas (values are not shown here)",
                    );
                    continue;
                };
                let val = percent_decode_lossy(val.trim());
                self.headers.insert(k.trim().to_ascii_lowercase(), val);
            }
        }
    }

    fn validate(&self, errs: &mut Errors) {
        if errs.in_file() {
            for name in self.headers.keys() {
                if is_secret_header(name) {
                    errs.push(
                        format!("otlp.headers.{name}"),
                        "secrets are read only from the environment: remove it from the file and set OTEL_EXPORTER_OTLP_HEADERS instead",
                    );
                }
            }
        }
        let ep = &self.endpoint;
        if !(ep.is_empty() || ep.starts_with("http://") || ep.starts_with("https://")) {
            errs.push(
                "otlp.endpoint",
                format!("expected an http:// or https:// URL, got {ep:?}"),
            );
        }
    }
}

fn percent_decode_lossy(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Everything the OTLP exporters need: the `[otlp]` section, the service
/// (resource attributes) and the export timeout of one call.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpTarget {
    /// `[otlp]`.
    pub otlp: OtlpConfig,
    /// `[service]`.
    pub service: ServiceConfig,
    /// One export call's time limit (`exporter.export_timeout_ms`).
    pub export_timeout: Duration,
}
