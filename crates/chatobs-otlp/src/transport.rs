//! What one signal's exporter will use, checked without connecting
//! ([`plan`]), the HTTP client with TLS, and the description of a failure.

use crate::config::{OtlpConfig, OtlpProtocol, Signal};
use crate::endpoint;
use crate::tls::{self, Tls};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A signal's exporter settings, every one checked.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The URL the exporter sends to.
    pub url: String,
    /// The protocol.
    pub protocol: OtlpProtocol,
    /// Headers valid for the protocol (names lowercase).
    pub headers: Vec<(String, String)>,
    /// TLS material, for https:// endpoints.
    pub tls: Option<Tls>,
}

impl Plan {
    /// gRPC metadata of the headers (every one was checked by [`plan`]).
    pub fn metadata(&self) -> tonic::metadata::MetadataMap {
        let mut md = tonic::metadata::MetadataMap::new();
        for (k, v) in &self.headers {
            if let (Ok(key), Ok(val)) = (
                tonic::metadata::MetadataKey::from_bytes(k.as_bytes()),
                tonic::metadata::MetadataValue::try_from(v.as_str()),
            ) {
                md.insert(key, val);
            }
        }
        md
    }
}

/// Checks the headers for `protocol`; problems name the header, never its value.
fn headers(
    cfg: &OtlpConfig,
    protocol: OtlpProtocol,
    errs: &mut Vec<(String, String)>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, value) in &cfg.headers {
        let name = name.trim().to_ascii_lowercase();
        let at = cfg.origin(&format!("headers.{name}"));
        let (name_ok, value_ok, kind) = match protocol {
            OtlpProtocol::HttpProtobuf => (
                http::HeaderName::from_bytes(name.as_bytes()).is_ok(),
                http::HeaderValue::from_str(value).is_ok(),
                "HTTP header",
            ),
            OtlpProtocol::Grpc => (
                tonic::metadata::MetadataKey::<tonic::metadata::Ascii>::from_bytes(name.as_bytes())
                    .is_ok(),
                // gRPC ASCII metadata: printable ASCII only (tonic itself
                // lets obs-text through, which gRPC servers may refuse).
                value.bytes().all(|b| (0x20..=0x7e).contains(&b))
                    && tonic::metadata::MetadataValue::<tonic::metadata::Ascii>::try_from(
                        value.as_str(),
                    )
                    .is_ok(),
                "gRPC metadata",
            ),
        };
        if !name_ok {
            let hint = if protocol == OtlpProtocol::Grpc && name.ends_with("-bin") {
                " (names ending in -bin are binary metadata, which chatobs does not send)"
            } else {
                ""
            };
            errs.push((
                at,
                format!("header name {name:?} is not a valid {kind} name{hint}: use letters, digits and `-` (the value is not shown)"),
            ));
        } else if !value_ok {
            errs.push((
                at,
                format!("the value of header {name:?} is not a valid {kind} value (control characters or non-ASCII; the value is not shown): percent-encode such characters in OTEL_EXPORTER_OTLP_HEADERS only where the OTLP format requires it, and remove the others"),
            ));
        } else {
            out.push((name, value.clone()));
        }
    }
    out
}

/// Everything `signal`'s exporter needs from `cfg`, checked without
/// connecting; `None` when no endpoint is configured for it or something is
/// wrong (then `errs` says what).
pub(crate) fn plan(
    cfg: &OtlpConfig,
    signal: Signal,
    errs: &mut Vec<(String, String)>,
) -> Option<Plan> {
    let (raw, origin) = match signal {
        Signal::Metrics => cfg.metrics_target(),
        Signal::Logs => cfg.logs_target(),
        _ => (cfg.endpoint.trim().to_owned(), cfg.origin("endpoint")),
    };
    let ep = match endpoint::parse(&raw) {
        Ok(Some(ep)) => ep,
        Ok(None) => return None,
        Err(reason) => {
            errs.push((origin, reason));
            return None;
        }
    };
    let protocol = cfg.protocol;
    let before = errs.len();
    if protocol == OtlpProtocol::Grpc {
        if let Some(p) = ["/v1/traces", "/v1/metrics", "/v1/logs"]
            .iter()
            .find(|p| ep.path.ends_with(**p))
        {
            errs.push((
                origin.clone(),
                format!(
                    "the endpoint ends in {p}, an OTLP/HTTP path, but the protocol is grpc ({}): set it to http/protobuf, or remove the path for gRPC",
                    cfg.origin("protocol")
                ),
            ));
        }
    }
    let headers = headers(cfg, protocol, errs);
    let tls = if ep.https {
        tls::load(&cfg.tls_files(signal), errs)
    } else {
        None
    };
    if errs.len() > before {
        return None;
    }
    Some(Plan {
        url: ep.for_signal(signal, protocol),
        protocol,
        headers,
        tls,
    })
}

/// What the last HTTP exchange of an exporter saw (the OTLP library keeps
/// only "network error" and the status number in its own errors).
#[derive(Debug, Default)]
pub(crate) struct Probe {
    status: AtomicU16,
    transport: Mutex<Option<String>>,
}

impl Probe {
    pub fn reset(&self) {
        self.status.store(0, Ordering::Relaxed);
        *self.transport.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
    fn status(&self) -> u16 {
        self.status.load(Ordering::Relaxed)
    }
    fn transport(&self) -> Option<String> {
        self.transport
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// An HTTP client (hyper, with hyper-rustls for https) that records what it saw.
#[derive(Debug)]
pub(crate) struct ProbingClient {
    inner: Arc<dyn HttpClient>,
    probe: Arc<Probe>,
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[async_trait::async_trait]
impl HttpClient for ProbingClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        match self.inner.send_bytes(request).await {
            Ok(resp) => {
                self.probe
                    .status
                    .store(resp.status().as_u16(), Ordering::Relaxed);
                Ok(resp)
            }
            Err(e) => {
                *self
                    .probe
                    .transport
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(chain(e.as_ref()));
                Err(e)
            }
        }
    }
}

/// The HTTP client for `plan` (TLS from its material when https).
pub(crate) fn http_client(plan: &Plan, timeout: Duration, probe: Arc<Probe>) -> ProbingClient {
    let inner: Arc<dyn HttpClient> = match &plan.tls {
        Some(tls) => {
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config((*tls.client_config).clone())
                .https_or_http()
                .enable_http1()
                .build();
            Arc::new(opentelemetry_http::hyper::HyperClient::new(
                connector, timeout, None,
            ))
        }
        None => {
            Arc::new(opentelemetry_http::hyper::HyperClient::with_default_connector(timeout, None))
        }
    };
    ProbingClient { inner, probe }
}

/// A failed export, described for a person: which signal, what happened,
/// what to do. `not_accepted`: the endpoint answered 404/405 (or gRPC
/// Unimplemented), i.e. it does not take this signal.
pub(crate) struct Failure {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub not_accepted: bool,
    pub message: String,
}

pub(crate) fn describe(
    signal: Signal,
    protocol: OtlpProtocol,
    url: &str,
    raw: &str,
    probe: &Probe,
) -> Failure {
    let status = probe.status();
    let not_accepted = match protocol {
        OtlpProtocol::HttpProtobuf => status == 404 || status == 405,
        OtlpProtocol::Grpc => raw.contains("Unimplemented"),
    };
    if not_accepted {
        let seen = match protocol {
            OtlpProtocol::HttpProtobuf => format!("HTTP {status}"),
            OtlpProtocol::Grpc => "gRPC Unimplemented".into(),
        };
        let fix = match signal {
            Signal::Metrics => "set OTEL_METRICS_EXPORTER=none (or [otlp] metrics_exporter = \"none\") to stop pushing metrics there, or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT to a backend that accepts them".to_string(),
            Signal::Logs => "set OTEL_LOGS_EXPORTER=none (or [otlp] logs_exporter = \"none\") to stop sending logs there, or OTEL_EXPORTER_OTLP_LOGS_ENDPOINT to a backend that accepts them".to_string(),
            _ => format!(
                "check the endpoint (for http/protobuf the base URL: chatobs adds /v1/{}) and the protocol (OTEL_EXPORTER_OTLP_PROTOCOL: grpc or http/protobuf)",
                signal.name()
            ),
        };
        return Failure {
            not_accepted: true,
            message: format!(
                "{url}: the endpoint does not accept {} ({seen}): {fix}",
                signal.name()
            ),
        };
    }
    let mut message = format!("{url}: {raw}");
    let transport = probe.transport();
    if let Some(t) = &transport {
        message.push_str(": ");
        message.push_str(t);
    }
    let all = format!("{raw} {}", transport.unwrap_or_default());
    if all.contains("UnknownIssuer")
        || all.contains("unknown issuer")
        || all.contains("BadSignature")
        || all.contains("NotValidForName")
    {
        message.push_str(" (the collector's certificate is not trusted for this name: set OTEL_EXPORTER_OTLP_CERTIFICATE to the CA that signed it, and check the host name)");
    } else if all.contains("CertificateRequired") || all.contains("certificate required") {
        message.push_str(" (the collector requires a client certificate: set OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY)");
    }
    Failure {
        not_accepted: false,
        message,
    }
}
