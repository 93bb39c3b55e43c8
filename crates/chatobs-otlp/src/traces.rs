//! OTLP export (gRPC or HTTP/protobuf) through `opentelemetry-otlp`.
//!
//! The exporter runs on the pipeline's export thread with its own
//! single-threaded tokio runtime, so it works whether or not the bot uses
//! tokio, and a collector that refuses or hangs only ever delays that thread:
//! each export call is cut at `exporter.export_timeout_ms`, and while it
//! waits the bounded queue drops (and counts) what does not fit.

use crate::config::{OtlpProtocol, OtlpTarget};
use chatobs_core::config::ServiceConfig;
use chatobs_core::export::SpanExporter;
use chatobs_core::model::{FinishedSpan, KeyValue, OtelKind, Status, Value};
use chatobs_core::vocab;
use chatobs_core::Error;
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, TraceFlags, TraceId, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue as OKeyValue, StringValue, Value as OValue};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use opentelemetry_sdk::Resource;
use rust_decimal::prelude::ToPrimitive;
use std::time::Duration;

/// Sends spans to an OTLP collector or backend.
pub struct OtlpExporter {
    rt: tokio::runtime::Runtime,
    inner: opentelemetry_otlp::SpanExporter,
    scope: InstrumentationScope,
    timeout: Duration,
    endpoint: String,
}

impl std::fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// The resource every exported span carries.
pub fn resource(service: &ServiceConfig) -> Resource {
    Resource::builder_empty()
        .with_attributes([
            OKeyValue::new(vocab::SERVICE_NAME, service.name.clone()),
            OKeyValue::new(vocab::SERVICE_VERSION, service.version.clone()),
            OKeyValue::new(vocab::DEPLOYMENT_ENVIRONMENT, service.environment.clone()),
            OKeyValue::new("telemetry.sdk.name", "chatobs"),
            OKeyValue::new("telemetry.sdk.language", "rust"),
            OKeyValue::new("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
        ])
        .build()
}

impl OtlpExporter {
    /// Builds the exporter `cfg` describes (call on the thread that will use it).
    pub fn new(cfg: &OtlpTarget) -> Result<OtlpExporter, Error> {
        let err = |reason: String| Error::Exporter {
            exporter: "otlp",
            reason,
        };
        if cfg.otlp.endpoint.is_empty() {
            return Err(err(
                "no endpoint: set OTEL_EXPORTER_OTLP_ENDPOINT or otlp.endpoint".into(),
            ));
        }
        let timeout = cfg.export_timeout;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| err(format!("cannot start the export runtime: {e}")))?;
        let endpoint = cfg.otlp.endpoint.trim_end_matches('/').to_owned();
        let built = {
            let _g = rt.enter();
            match cfg.otlp.protocol {
                OtlpProtocol::Grpc => {
                    let mut md = tonic::metadata::MetadataMap::new();
                    for (k, v) in &cfg.otlp.headers {
                        let key = tonic::metadata::MetadataKey::from_bytes(k.as_bytes()).map_err(
                            |_| {
                                err(format!(
                                    "header name {k:?} is not a valid gRPC metadata key"
                                ))
                            },
                        )?;
                        let val = v.parse().map_err(|_| {
                            err(format!("the value of header {k:?} is not valid ASCII"))
                        })?;
                        md.insert(key, val);
                    }
                    opentelemetry_otlp::SpanExporter::builder()
                        .with_tonic()
                        .with_endpoint(endpoint.clone())
                        .with_timeout(timeout)
                        .with_metadata(md)
                        .build()
                }
                OtlpProtocol::HttpProtobuf => {
                    let url = if endpoint.ends_with("/v1/traces") {
                        endpoint.clone()
                    } else {
                        format!("{endpoint}/v1/traces")
                    };
                    opentelemetry_otlp::SpanExporter::builder()
                        .with_http()
                        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                        .with_endpoint(url)
                        .with_timeout(timeout)
                        .with_headers(
                            cfg.otlp
                                .headers
                                .iter()
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect(),
                        )
                        .build()
                }
            }
        };
        let mut inner = built.map_err(|e| err(e.to_string()))?;
        inner.set_resource(&resource(&cfg.service));
        let scope = InstrumentationScope::builder(vocab::SCOPE_NAME)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        Ok(OtlpExporter {
            rt,
            inner,
            scope,
            timeout,
            endpoint,
        })
    }
}

fn value(v: &Value) -> OValue {
    match v {
        Value::Str(s) => OValue::String(StringValue::from(s.clone())),
        Value::I64(i) => OValue::I64(*i),
        Value::F64(f) => OValue::F64(*f),
        Value::Bool(b) => OValue::Bool(*b),
        Value::Decimal(d) => OValue::F64(d.to_f64().unwrap_or(f64::NAN)),
        Value::StrArray(a) => OValue::Array(opentelemetry::Array::String(
            a.iter().map(|s| StringValue::from(s.clone())).collect(),
        )),
    }
}

fn kvs(a: &[KeyValue]) -> Vec<OKeyValue> {
    a.iter()
        .map(|(k, v)| OKeyValue::new(k.clone(), value(v)))
        .collect()
}

/// Converts a finished span to the SDK's export form.
pub fn to_span_data(s: &FinishedSpan, scope: &InstrumentationScope) -> SpanData {
    let ctx = SpanContext::new(
        TraceId::from_bytes(s.trace_id.0.to_be_bytes()),
        SpanId::from_bytes(s.span_id.0.to_be_bytes()),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    );
    let mut events = SpanEvents::default();
    for e in &s.events {
        events.events.push(opentelemetry::trace::Event::new(
            e.name.clone(),
            e.time,
            kvs(&e.attributes),
            0,
        ));
    }
    let mut links = SpanLinks::default();
    for l in &s.links {
        let lc = SpanContext::new(
            TraceId::from_bytes(l.trace_id.0.to_be_bytes()),
            SpanId::from_bytes(l.span_id.0.to_be_bytes()),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        links
            .links
            .push(opentelemetry::trace::Link::new(lc, kvs(&l.attributes), 0));
    }
    SpanData {
        span_context: ctx,
        parent_span_id: SpanId::from_bytes(s.parent_span_id.0.to_be_bytes()),
        parent_span_is_remote: s.parent_remote,
        span_kind: match s.kind {
            OtelKind::Internal => SpanKind::Internal,
            OtelKind::Server => SpanKind::Server,
            OtelKind::Client => SpanKind::Client,
            OtelKind::Producer => SpanKind::Producer,
            OtelKind::Consumer => SpanKind::Consumer,
        },
        name: s.name.clone(),
        start_time: s.start,
        end_time: s.end,
        attributes: kvs(&s.attributes),
        dropped_attributes_count: 0,
        events,
        links,
        status: match &s.status {
            Status::Unset => opentelemetry::trace::Status::Unset,
            Status::Ok => opentelemetry::trace::Status::Ok,
            Status::Error(m) => opentelemetry::trace::Status::error(m.clone()),
        },
        instrumentation_scope: scope.clone(),
    }
}

impl SpanExporter for OtlpExporter {
    fn name(&self) -> &'static str {
        "otlp"
    }
    fn export(&mut self, batch: &[FinishedSpan]) -> Result<(), String> {
        let data: Vec<SpanData> = batch.iter().map(|s| to_span_data(s, &self.scope)).collect();
        let timeout = self.timeout;
        let fut = self.inner.export(data);
        match self
            .rt
            .block_on(async move { tokio::time::timeout(timeout, fut).await })
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("{}: {e}", self.endpoint)),
            Err(_) => Err(format!(
                "{}: no answer within {} ms",
                self.endpoint,
                timeout.as_millis()
            )),
        }
    }
    fn shutdown(&mut self) -> Result<(), String> {
        let _g = self.rt.enter();
        self.inner
            .shutdown_with_timeout(self.timeout)
            .map_err(|e| e.to_string())
    }
}
