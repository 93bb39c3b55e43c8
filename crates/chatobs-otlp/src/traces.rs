//! OTLP export (gRPC or HTTP/protobuf, plain or TLS): gRPC through
//! `opentelemetry-otlp`, HTTP/protobuf encoded by chatobs itself from its
//! finished spans ([`crate::proto`]) and sent with the same hyper client.
//!
//! The exporter runs on the pipeline's export thread with its own
//! single-threaded tokio runtime, so it works whether or not the bot uses
//! tokio, and a collector that refuses or hangs only ever delays that thread:
//! each export call is cut at `exporter.export_timeout_ms`, and while it
//! waits the bounded queue drops (and counts) what does not fit. The runtime
//! is shut down without blocking, so building, using or dropping the
//! exporter inside a bot's own tokio runtime never panics.

use crate::backends::SpanExtras;
use crate::config::{OtlpProtocol, OtlpTarget, Signal};
use crate::rt::ExportRuntime;
use crate::transport::{self, Probe};
use chatobs_core::config::ServiceConfig;
use chatobs_core::export::SpanExporter;
use chatobs_core::model::{FinishedSpan, KeyValue, OtelKind, Status, Value};
use chatobs_core::vocab;
use chatobs_core::Error;
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, TraceFlags, TraceId, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue as OKeyValue, StringValue, Value as OValue};
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use opentelemetry_sdk::Resource;
use std::sync::Arc;
use std::time::Duration;

/// How the batches leave.
enum Inner {
    /// gRPC: opentelemetry-otlp's exporter (from `SpanData`).
    Sdk(opentelemetry_otlp::SpanExporter),
    /// HTTP/protobuf: chatobs' encoder and the HTTP client.
    Http {
        encoder: crate::proto::TraceEncoder,
        client: transport::ProbingClient,
        headers: http::HeaderMap,
        body: Vec<u8>,
    },
}

/// Sends spans to an OTLP collector or backend.
pub struct OtlpExporter {
    // Dropped before the runtime it was built on.
    inner: Inner,
    rt: ExportRuntime,
    scope: InstrumentationScope,
    timeout: Duration,
    url: String,
    protocol: OtlpProtocol,
    probe: Arc<Probe>,
    extras: SpanExtras,
}

impl std::fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("url", &self.url)
            .field("protocol", &self.protocol)
            .finish()
    }
}

/// The resource every exported span carries.
pub fn resource(service: &ServiceConfig) -> Resource {
    resource_with(service, None)
}

/// The resource of `target`: [`resource`] plus what its preset adds
/// ([`crate::backends`]: `deployment.environment.name` for Logfire).
pub fn resource_for(target: &OtlpTarget) -> Resource {
    resource_with(&target.service, target.otlp.preset)
}

fn resource_with(service: &ServiceConfig, preset: Option<crate::Preset>) -> Resource {
    Resource::builder_empty()
        .with_attributes([
            OKeyValue::new(vocab::SERVICE_NAME, service.name.clone()),
            OKeyValue::new(vocab::SERVICE_VERSION, service.version.clone()),
            OKeyValue::new(vocab::DEPLOYMENT_ENVIRONMENT, service.environment.clone()),
            OKeyValue::new("telemetry.sdk.name", "chatobs"),
            OKeyValue::new("telemetry.sdk.language", "rust"),
            OKeyValue::new("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
        ])
        .with_attributes(crate::backends::resource_attributes(preset, service))
        .with_attributes(
            service
                .attributes
                .iter()
                .map(|(k, v)| OKeyValue::new(k.clone(), v.clone())),
        )
        .build()
}

impl OtlpExporter {
    /// Builds the exporter `cfg` describes (call on the thread that will use
    /// it). Runs [`crate::check`] first: every setting is validated and every
    /// certificate file read here, so a mistake is an `Error` naming the key
    /// or variable, never a panic or a silent failure later.
    pub fn new(cfg: &OtlpTarget) -> Result<OtlpExporter, Error> {
        crate::check(cfg)?;
        let err = |reason: String| Error::Exporter {
            exporter: "otlp",
            reason,
        };
        if cfg.otlp.endpoint.trim().is_empty() {
            return Err(err(
                "no endpoint: set OTEL_EXPORTER_OTLP_ENDPOINT or otlp.endpoint (or a preset: otlp.preset, CHATOBS_OTLP_PRESET)".into(),
            ));
        }
        let mut problems = Vec::new();
        let plan = transport::plan(&cfg.otlp, Signal::Traces, &mut problems)
            .ok_or_else(|| crate::to_error(problems))?;
        let timeout = cfg.export_timeout;
        let rt = ExportRuntime::new().map_err(err)?;
        let probe = Arc::new(Probe::default());
        let inner = match plan.protocol {
            OtlpProtocol::Grpc => {
                let built = rt.enter(|| {
                    let b = opentelemetry_otlp::SpanExporter::builder()
                        .with_tonic()
                        .with_endpoint(plan.url.clone())
                        .with_timeout(timeout)
                        .with_metadata(plan.metadata());
                    match &plan.tls {
                        Some(tls) => b.with_tls_config(tls.tonic()).build(),
                        None => b.build(),
                    }
                });
                let mut inner = built.map_err(|e| err(format!("{}: {e}", plan.url)))?;
                inner.set_resource(&resource_for(cfg));
                Inner::Sdk(inner)
            }
            OtlpProtocol::HttpProtobuf => {
                let mut headers = http::HeaderMap::new();
                // Exactly this content type (Phoenix refuses any parameter).
                headers.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/x-protobuf"),
                );
                for (k, v) in &plan.headers {
                    // Every header was checked by `plan`.
                    if let (Ok(k), Ok(v)) = (
                        http::HeaderName::from_bytes(k.as_bytes()),
                        http::HeaderValue::from_str(v),
                    ) {
                        headers.insert(k, v);
                    }
                }
                let client = rt.enter(|| transport::http_client(&plan, timeout, probe.clone()));
                Inner::Http {
                    encoder: crate::proto::TraceEncoder::for_target(cfg),
                    client,
                    headers,
                    body: Vec::new(),
                }
            }
        };
        let scope = InstrumentationScope::builder(vocab::SCOPE_NAME)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        Ok(OtlpExporter {
            inner,
            rt,
            scope,
            timeout,
            url: plan.url,
            protocol: plan.protocol,
            probe,
            extras: SpanExtras::for_target(cfg),
        })
    }
}

fn value(v: &Value) -> OValue {
    match v {
        Value::Str(s) => OValue::String(StringValue::from(s.clone())),
        Value::I64(i) => OValue::I64(*i),
        Value::F64(f) => OValue::F64(*f),
        Value::Bool(b) => OValue::Bool(*b),
        Value::Decimal(d) => OValue::F64(chatobs_core::model::decimal_to_f64(*d)),
        Value::StrArray(a) => OValue::Array(opentelemetry::Array::String(
            a.iter().map(|s| StringValue::from(s.clone())).collect(),
        )),
        Value::I64Array(a) => OValue::Array(opentelemetry::Array::I64(a.clone())),
        Value::F64Array(a) => OValue::Array(opentelemetry::Array::F64(a.clone())),
        Value::BoolArray(a) => OValue::Array(opentelemetry::Array::Bool(a.clone())),
    }
}

fn kvs(a: &[KeyValue]) -> Vec<OKeyValue> {
    a.iter()
        .map(|(k, v)| OKeyValue::new(k.clone(), value(v)))
        .collect()
}

/// The SDK's export form of `batch`: [`to_span_data`] plus what the
/// target's preset adds ([`crate::backends`]).
fn export_form(
    batch: &[FinishedSpan],
    scope: &InstrumentationScope,
    extras: &SpanExtras,
) -> Vec<SpanData> {
    batch
        .iter()
        .map(|s| {
            let mut d = to_span_data(s, scope);
            let mut add = Vec::new();
            extras.apply(s, &mut d.attributes, &mut add);
            d.attributes.extend(add);
            d
        })
        .collect()
}

/// The SDK's export form of `batch` for `target` (what gRPC sends, and what
/// the HTTP encoder's bytes decode to): for tests and tools.
pub fn sdk_export_form(target: &OtlpTarget, batch: &[FinishedSpan]) -> Vec<SpanData> {
    let scope = InstrumentationScope::builder(vocab::SCOPE_NAME)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    export_form(batch, &scope, &SpanExtras::for_target(target))
}

/// POSTs the bytes `range` of `buf` (an `ExportTraceServiceRequest`) to
/// `url`; `Err` holds what went wrong, in the words `transport::describe`
/// reads. The buffer itself becomes the request's body (no copy).
fn send_http(
    rt: &ExportRuntime,
    client: &transport::ProbingClient,
    headers: &http::HeaderMap,
    url: &str,
    timeout: Duration,
    buf: Vec<u8>,
    range: std::ops::Range<usize>,
) -> Result<(), String> {
    let bytes = opentelemetry_http::Bytes::from(buf);
    let (start, end) = (range.start.min(bytes.len()), range.end.min(bytes.len()));
    let mut req = http::Request::new(bytes.slice(start.min(end)..end));
    *req.method_mut() = http::Method::POST;
    *req.headers_mut() = headers.clone();
    match url.parse::<http::Uri>() {
        Ok(u) => *req.uri_mut() = u,
        Err(e) => return Err(format!("{url}: {e}")),
    }
    let fut = async move {
        use opentelemetry_http::HttpClient as _;
        client.send_bytes(req).await
    };
    match rt.block_on(async move { tokio::time::timeout(timeout, fut).await }) {
        Ok(Ok(Ok(resp))) if resp.status().is_success() => Ok(()),
        Ok(Ok(Ok(resp))) => Err(format!("HTTP {}", resp.status().as_u16())),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Err(_)) => Err(format!("no answer within {} ms", timeout.as_millis())),
        Err(e) => Err(e),
    }
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
        let timeout = self.timeout;
        self.probe.reset();
        let raw = match &mut self.inner {
            Inner::Sdk(inner) => {
                let data = export_form(batch, &self.scope, &self.extras);
                let fut = inner.export(data);
                match self
                    .rt
                    .block_on(async move { tokio::time::timeout(timeout, fut).await })
                {
                    Ok(Ok(Ok(()))) => return Ok(()),
                    Ok(Ok(Err(e))) => e.to_string(),
                    Ok(Err(_)) => format!("no answer within {} ms", timeout.as_millis()),
                    Err(e) => e,
                }
            }
            Inner::Http {
                encoder,
                client,
                headers,
                body,
            } => {
                // The request is the end of `body`: the buffer itself goes
                // out as the request's bytes (no copy of a batch's 100 KB;
                // the copy was 7% of this thread), and the next batch is
                // written in a new one of the same size (a huge batch's size
                // is not kept).
                let len = encoder.encode_request(batch, body).len();
                let skip = body.len().saturating_sub(len);
                let next = Vec::with_capacity(body.capacity().min(1 << 24));
                let buf = std::mem::replace(body, next);
                let end = buf.len();
                match send_http(
                    &self.rt,
                    client,
                    headers,
                    &self.url,
                    timeout,
                    buf,
                    skip..end,
                ) {
                    Ok(()) => return Ok(()),
                    Err(raw) => raw,
                }
            }
        };
        // A 404/405 (or gRPC Unimplemented) says which signal and what to do;
        // the pipeline counts every failed batch and rate-limits its log line.
        Err(
            transport::describe(Signal::Traces, self.protocol, &self.url, &raw, &self.probe)
                .message,
        )
    }
    fn encoder(&self) -> Option<Box<dyn chatobs_core::export::SpanEncoder>> {
        match &self.inner {
            // HTTP/protobuf: encoded on the export thread, a chunk of spans
            // at a time, with the exporter's own encoder (the same bytes).
            Inner::Http { encoder, .. } => Some(Box::new(encoder.clone())),
            // gRPC: the SDK's exporter takes `SpanData`, built from the spans.
            Inner::Sdk(_) => None,
        }
    }
    fn export_encoded(
        &mut self,
        buf: Vec<u8>,
        range: std::ops::Range<usize>,
        spans: usize,
    ) -> Result<(), String> {
        self.probe.reset();
        let raw = match &self.inner {
            Inner::Http {
                client, headers, ..
            } => match send_http(
                &self.rt,
                client,
                headers,
                &self.url,
                self.timeout,
                buf,
                range,
            ) {
                Ok(()) => return Ok(()),
                Err(raw) => raw,
            },
            Inner::Sdk(_) => {
                return Err(format!(
                    "{spans} spans were encoded for OTLP/HTTP, but this exporter sends gRPC \
                     (it takes spans, not bytes)"
                ))
            }
        };
        Err(
            transport::describe(Signal::Traces, self.protocol, &self.url, &raw, &self.probe)
                .message,
        )
    }
    fn shutdown(&mut self) -> Result<(), String> {
        let timeout = self.timeout;
        match &mut self.inner {
            Inner::Sdk(inner) => self
                .rt
                .enter(|| inner.shutdown_with_timeout(timeout))
                .map_err(|e| e.to_string()),
            Inner::Http { .. } => Ok(()),
        }
    }
}
