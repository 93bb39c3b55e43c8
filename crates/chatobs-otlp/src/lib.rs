//! # chatobs-otlp: spans and metrics over OTLP
//!
//! Exports chatobs' finished spans ([`traces::OtlpExporter`], a
//! `chatobs_core::export::SpanExporter`) and mirrors its metrics
//! ([`metrics`], feature `metrics`) to any OTLP backend: Arize Phoenix and
//! Arize AX, Langfuse, Logfire, Honeycomb, Grafana Cloud, or Jaeger/Tempo
//! behind a collector, over gRPC or HTTP/protobuf, in plain text or TLS.
//! Over HTTP/protobuf, spans are encoded by chatobs straight from its
//! finished spans (`proto.rs`); over gRPC they are converted into the SDK's
//! `SpanData` and handed to `opentelemetry-otlp`'s exporter. Either runs on
//! the pipeline's exporter thread: no tracer, no `tracing-opentelemetry`
//! bridge on the request path.
//!
//! The OpenTelemetry crates (0.33) are the plumbing: the OTLP protobuf
//! encoding, the tonic and hyper transports and the periodic metric reader
//! are theirs; what to send, where, and when is chatobs'.
//!
//! ## Before anything is sent: [`check`]
//!
//! [`check`] runs every validation the exporters do, without connecting:
//! the endpoint URL (parsed by `url` and `http::Uri`: scheme, host, port
//! range, no credentials in it), the headers (valid HTTP header or gRPC
//! metadata for the protocol in use; a bad one is named, its value never
//! shown), the certificate and key files (read and parsed), the
//! protocol/endpoint combination and the preset's secrets. Each error names
//! where the value came from (`otlp.endpoint` or `OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `otlp.preset = "logfire"`, ...) and what to do. [`OtlpExporter::new`] and
//! [`metrics::configure`] call it first; the facade calls it from `init`
//! and `chatobs check-config`, so both reject the same inputs with the same
//! messages.
//!
//! ## TLS: rustls with the ring provider, one stack for both transports
//!
//! An `https://` endpoint is verified against the system's root certificates
//! (read once with `rustls-native-certs`: `/etc/ssl/certs` and friends,
//! `SSL_CERT_FILE`), or only against the CA in `OTEL_EXPORTER_OTLP_CERTIFICATE`
//! (`[otlp] certificate`, per signal `..._TRACES_CERTIFICATE`,
//! `..._METRICS_CERTIFICATE`) when one is set, as the OpenTelemetry SDKs do.
//! `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and `..._CLIENT_KEY` add a client
//! identity (mTLS). The files are read and checked at `init`.
//!
//! Why this stack:
//! - **rustls** (pure Rust, memory-safe) rather than OpenSSL/native-tls: no
//!   system library to match at build or run time, the same behaviour on
//!   every platform, static binaries for `FROM scratch` images.
//! - **ring** as its crypto provider rather than aws-lc-rs: ring builds with
//!   a plain C compiler; aws-lc-rs needs a larger C build (and CMake on some
//!   targets). The provider is passed explicitly, never installed
//!   process-wide, so it cannot clash with an application's own choice.
//! - **One stack for both protocols**: gRPC goes through tonic's rustls
//!   support (`opentelemetry-otlp`'s `tls-ring` → `tonic/tls-ring`), fed the
//!   same root certificates and identity; HTTP/protobuf goes through hyper
//!   with hyper-rustls and the same `rustls::ClientConfig`.
//! - **Not reqwest's TLS features** for HTTP/protobuf: Cargo unifies features
//!   across a build, and reqwest 0.13 offers either `rustls` (which brings
//!   aws-lc-rs, a second crypto provider) or `rustls-no-provider` (with which
//!   *every* `reqwest::Client` in the process, the alert sinks' and the judge's
//!   included, panics when built unless a provider was installed first). The
//!   OTLP exporter therefore uses `opentelemetry-http`'s hyper client with a
//!   hyper-rustls connector, leaving reqwest's features to the crates that use it.
//!
//! ## Presets
//!
//! `[otlp] preset` (or `CHATOBS_OTLP_PRESET`) picks a hosted backend's
//! endpoint, protocol and authentication header from its own environment
//! variables: see [`presets`]. Under the Langfuse and Logfire presets the
//! export also carries the few attributes those backends name their own way
//! (`langfuse.release`, `langfuse.observation.cost_details`,
//! `deployment.environment.name`): see [`backends`].
//!
//! ## Where metrics go
//!
//! To `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (`[otlp] metrics_endpoint`) when
//! set, else to the traces endpoint; nowhere over OTLP with
//! `OTEL_METRICS_EXPORTER=none` (`metrics_exporter = "none"`, the default of
//! the traces-only presets). An endpoint that answers 404/405 (gRPC
//! Unimplemented) is reported once, naming the signal and the fix; later
//! failures are counted ([`metrics::export_stats`]), not logged again.
//!
//! ## Runtimes
//!
//! Each exporter drives its transport on a small tokio runtime of its own
//! that is shut down without blocking, so `init`, export and shutdown never
//! panic inside a bot's own runtime (`#[tokio::main]`, current-thread or
//! multi-thread).

#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod backends;
pub mod config;
mod endpoint;
pub mod logs;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod presets;
pub mod proto;
mod rt;
mod tls;
pub mod traces;
mod transport;

pub use config::{
    LogsExporter, MetricsExporter, OtlpConfig, OtlpProtocol, OtlpTarget, Signal, TlsFiles,
};
pub use presets::{Preset, PresetSummary};
pub use traces::OtlpExporter;

use chatobs_core::Error;

/// Checks everything [`OtlpExporter::new`] and [`metrics::configure`] would
/// use, without connecting: endpoint URLs, protocol/endpoint combinations,
/// header names and values for the protocol, certificate and key files,
/// and the preset's secrets. Every problem is reported at once, each naming
/// the key or variable it came from (never a secret value). An empty
/// endpoint is not an error here (OTLP is simply not configured).
///
/// The facade calls it from `init` and `chatobs check-config`.
///
/// ```
/// let mut target = chatobs_otlp::OtlpTarget {
///     otlp: chatobs_otlp::OtlpConfig::default(),
///     service: Default::default(),
///     export_timeout: std::time::Duration::from_secs(5),
/// };
/// target.otlp.endpoint = "http://exa mple.com".into();
/// let e = chatobs_otlp::check(&target).unwrap_err().to_string();
/// assert!(e.starts_with("otlp.endpoint: "), "{e}");
/// ```
pub fn check(target: &OtlpTarget) -> Result<(), Error> {
    let cfg = &target.otlp;
    let mut problems: Vec<(String, String)> = Vec::new();
    let _ = transport::plan(cfg, Signal::Traces, &mut problems);
    #[cfg(feature = "metrics")]
    if cfg.metrics_exporter == MetricsExporter::Otlp {
        let _ = transport::plan(cfg, Signal::Metrics, &mut problems);
    }
    if cfg.logs_exporter == LogsExporter::Otlp {
        let _ = transport::plan(cfg, Signal::Logs, &mut problems);
    }
    if let Some(p) = cfg.preset {
        if !cfg.endpoint.trim().is_empty() {
            let needs: &[&str] = match p {
                Preset::Logfire | Preset::Langfuse | Preset::LangfuseUs | Preset::Grafana => {
                    &["authorization"]
                }
                Preset::Arize => &["authorization", "arize-space-id"],
                Preset::Honeycomb => &["x-honeycomb-team"],
                Preset::Phoenix => &[],
            };
            for h in needs {
                if !cfg.headers.contains_key(*h) {
                    problems.push((
                        "otlp.preset".into(),
                        format!("{:?} needs the header {h:?}, which is not set: load the configuration with its environment (Config::load) or call OtlpConfig::apply_preset; see the preset's variables in chatobs_otlp::presets", p.name()),
                    ));
                }
            }
        }
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(to_error(problems)),
    }
}

/// One error per distinct `(where, reason)`, in order.
pub(crate) fn to_error(problems: Vec<(String, String)>) -> Error {
    let mut errs = chatobs_core::config::Errors::new(None);
    let mut seen = std::collections::BTreeSet::new();
    for (at, reason) in problems {
        if seen.insert((at.clone(), reason.clone())) {
            errs.push(at, reason);
        }
    }
    match errs.into_result() {
        Err(e) => e,
        Ok(()) => Error::InvalidInput("otlp: invalid configuration".into()),
    }
}
