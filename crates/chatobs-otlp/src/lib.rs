//! # chatobs-otlp: spans and metrics over OTLP
//!
//! Exports chatobs' finished spans ([`traces::OtlpExporter`], a
//! `chatobs_core::export::SpanExporter`) and mirrors its metrics
//! ([`metrics`], feature `metrics`) to any OTLP backend: Arize Phoenix,
//! Langfuse, Logfire, or Jaeger/Tempo behind a collector, over gRPC or
//! HTTP/protobuf. Spans are converted straight into the SDK's `SpanData` and
//! handed to `opentelemetry-otlp`'s exporter on the pipeline's export thread:
//! no tracer, no `tracing-opentelemetry` bridge on the request path.
//!
//! The OpenTelemetry crates (0.33) are the plumbing: the OTLP protobuf
//! encoding, tonic and reqwest transports and the periodic metric reader are
//! theirs; what to send and when is chatobs'.

#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod config;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod traces;

pub use config::{OtlpConfig, OtlpProtocol, OtlpTarget};
pub use traces::OtlpExporter;
