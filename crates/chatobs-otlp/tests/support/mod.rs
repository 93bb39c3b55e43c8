//! Test peers on 127.0.0.1 with certificates made here (rcgen): an OTLP/gRPC
//! receiver (tonic, plain, TLS or mTLS) and an OTLP/HTTP receiver (plain,
//! TLS or mTLS, with chosen answers per path). Every server stops when its
//! handle is dropped, and by itself after two minutes.
#![allow(dead_code)]

use chatobs_core::config::ServiceConfig;
use chatobs_core::model::{FinishedSpan, OtelKind, Status, Value};
use chatobs_core::{SpanId, TraceId};
use chatobs_otlp::{OtlpConfig, OtlpProtocol, OtlpTarget};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

// ---- certificates ----------------------------------------------------------------------------

/// A CA, a server certificate for 127.0.0.1/localhost, a client certificate,
/// and an unrelated CA, as PEM files in a temporary directory.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub other_ca: PathBuf,
    pub other_client_cert: PathBuf,
    pub other_client_key: PathBuf,
}

fn ca(name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(rcgen::DnType::CommonName, name.to_owned());
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    rcgen::CertifiedIssuer::self_signed(p, rcgen::KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    issuer: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    names: &[&str],
    usage: rcgen::ExtendedKeyUsagePurpose,
) -> (String, String) {
    let mut p =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, names[0].to_owned());
    p.extended_key_usages = vec![usage];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

pub fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let root = ca("chatobs test CA");
    let (server_cert_pem, server_key_pem) = leaf(
        &root,
        &["127.0.0.1", "localhost"],
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert_pem, client_key_pem) = leaf(
        &root,
        &["bot.example"],
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    );
    let other = ca("someone else's CA");
    let (other_cert_pem, other_key_pem) = leaf(
        &other,
        &["intruder.example"],
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    );
    let ca_pem = root.pem();
    Pki {
        ca: write("ca.pem", &ca_pem),
        client_cert: write("client.pem", &client_cert_pem),
        client_key: write("client.key", &client_key_pem),
        other_ca: write("other-ca.pem", &other.pem()),
        other_client_cert: write("other-client.pem", &other_cert_pem),
        other_client_key: write("other-client.key", &other_key_pem),
        ca_pem,
        server_cert_pem,
        server_key_pem,
        dir,
    }
}

pub fn path(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

// ---- what receivers got ----------------------------------------------------------------------

#[derive(Clone, Default)]
pub struct Received {
    pub traces: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    pub metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
    pub logs: Arc<Mutex<Vec<ExportLogsServiceRequest>>>,
    /// Requests answered with an error status (HTTP receiver).
    pub refused: Arc<AtomicUsize>,
}

impl Received {
    /// Every span with its resource attributes.
    pub fn spans(&self) -> Vec<(Vec<KeyValue>, Span)> {
        let mut out = Vec::new();
        for r in self.traces.lock().unwrap().iter() {
            for rs in &r.resource_spans {
                let res = rs
                    .resource
                    .as_ref()
                    .map(|r| r.attributes.clone())
                    .unwrap_or_default();
                for ss in &rs.scope_spans {
                    for s in &ss.spans {
                        out.push((res.clone(), s.clone()));
                    }
                }
            }
        }
        out
    }
    pub fn wait_spans(&self, n: usize, limit: Duration) -> Vec<(Vec<KeyValue>, Span)> {
        let t = std::time::Instant::now();
        loop {
            let s = self.spans();
            if s.len() >= n || t.elapsed() > limit {
                return s;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub fn attr_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|k| k.key == key)
        .and_then(|k| k.value.as_ref())
        .and_then(|v| match &v.value {
            Some(AnyValue::StringValue(s)) => Some(s.as_str()),
            _ => None,
        })
}

// ---- servers ---------------------------------------------------------------------------------

pub struct Server {
    pub addr: SocketAddr,
    pub received: Received,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn spawn_server<F, Fut>(f: F) -> Server
where
    F: FnOnce(tokio::net::TcpListener, Received, tokio::sync::oneshot::Receiver<()>) -> Fut
        + Send
        + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let received = Received::default();
    let r2 = received.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(l.local_addr().unwrap()).unwrap();
            tokio::select! {
                _ = f(l, r2, stop_rx) => {}
                _ = tokio::time::sleep(Duration::from_secs(120)) => {}
            }
        });
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    Server {
        addr,
        received,
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

struct Traces(Received);
struct Metrics(Received);
struct Logs(Received);

#[tonic::async_trait]
impl LogsService for Logs {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.0.logs.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl TraceService for Traces {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.traces.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Metrics {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0.metrics.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

/// How a server authenticates.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    Plain,
    /// Server certificate signed by the test CA.
    Server,
    /// And a client certificate signed by the test CA is required.
    Mutual,
}

/// An OTLP/gRPC receiver (traces only unless `metrics`).
pub fn grpc_receiver(pki: &Pki, tls: Tls, metrics: bool) -> Server {
    let identity = tonic::transport::Identity::from_pem(&pki.server_cert_pem, &pki.server_key_pem);
    let ca = tonic::transport::Certificate::from_pem(&pki.ca_pem);
    spawn_server(move |l, received, stop| async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(l);
        let mut builder = tonic::transport::Server::builder();
        if tls != Tls::Plain {
            let mut cfg = tonic::transport::ServerTlsConfig::new().identity(identity);
            if tls == Tls::Mutual {
                cfg = cfg.client_ca_root(ca);
            }
            builder = builder.tls_config(cfg).unwrap();
        }
        let router = builder
            .add_service(TraceServiceServer::new(Traces(received.clone())))
            .add_service(LogsServiceServer::new(Logs(received.clone())));
        let router = if metrics {
            router.add_service(MetricsServiceServer::new(Metrics(received)))
        } else {
            router
        };
        tokio::select! {
            _ = router.serve_with_incoming(incoming) => {}
            _ = stop => {}
        }
    })
}

fn server_tls_config(pki: &Pki, tls: Tls) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes())
            .map(|c| c.unwrap())
            .collect();
    let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).unwrap();
    let b = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let b = if tls == Tls::Mutual {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let v =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        b.with_client_cert_verifier(v)
    } else {
        b.with_no_client_auth()
    };
    let mut cfg = b.with_single_cert(chain, key).unwrap();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

/// An OTLP/HTTP receiver: POST /v1/traces, /v1/metrics and /v1/logs with protobuf
/// bodies, answered with `traces_status` / `metrics_status`.
pub fn http_receiver(pki: &Pki, tls: Tls, traces_status: u16, metrics_status: u16) -> Server {
    let acceptor =
        (tls != Tls::Plain).then(|| tokio_rustls::TlsAcceptor::from(server_tls_config(pki, tls)));
    spawn_server(move |l, received, mut stop| async move {
        loop {
            tokio::select! {
                _ = &mut stop => return,
                acc = l.accept() => {
                    let Ok((sock, _)) = acc else { continue };
                    let received = received.clone();
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        match acceptor {
                            Some(a) => {
                                if let Ok(s) = a.accept(sock).await {
                                    serve_http(s, received, traces_status, metrics_status).await;
                                }
                            }
                            None => serve_http(sock, received, traces_status, metrics_status).await,
                        }
                    });
                }
            }
        }
    })
}

async fn serve_http<S: AsyncRead + AsyncWrite + Unpin>(
    mut sock: S,
    received: Received,
    traces_status: u16,
    metrics_status: u16,
) {
    loop {
        let Some((head, body)) = read_http_request(&mut sock).await else {
            return;
        };
        let (status, resp_body) = if head.starts_with("POST /v1/traces ") {
            if traces_status == 200 {
                match ExportTraceServiceRequest::decode(body.as_slice()) {
                    Ok(req) => {
                        received.traces.lock().unwrap().push(req);
                        (
                            200,
                            ExportTraceServiceResponse {
                                partial_success: None,
                            }
                            .encode_to_vec(),
                        )
                    }
                    Err(_) => (400, Vec::new()),
                }
            } else {
                (traces_status, Vec::new())
            }
        } else if head.starts_with("POST /v1/metrics ") {
            if metrics_status == 200 {
                match ExportMetricsServiceRequest::decode(body.as_slice()) {
                    Ok(req) => {
                        received.metrics.lock().unwrap().push(req);
                        (
                            200,
                            ExportMetricsServiceResponse {
                                partial_success: None,
                            }
                            .encode_to_vec(),
                        )
                    }
                    Err(_) => (400, Vec::new()),
                }
            } else {
                (metrics_status, Vec::new())
            }
        } else if head.starts_with("POST /v1/logs ") {
            match ExportLogsServiceRequest::decode(body.as_slice()) {
                Ok(req) => {
                    received.logs.lock().unwrap().push(req);
                    (
                        200,
                        ExportLogsServiceResponse {
                            partial_success: None,
                        }
                        .encode_to_vec(),
                    )
                }
                Err(_) => (400, Vec::new()),
            }
        } else {
            (404, Vec::new())
        };
        if status != 200 {
            received.refused.fetch_add(1, Ordering::Relaxed);
        }
        let reason = match status {
            200 => "OK",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Error",
        };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
            resp_body.len()
        );
        if sock.write_all(head.as_bytes()).await.is_err()
            || sock.write_all(&resp_body).await.is_err()
            || sock.flush().await.is_err()
        {
            return;
        }
    }
}

async fn read_http_request<S: AsyncRead + Unpin>(sock: &mut S) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Some((head, body))
}

// ---- configuration and spans -----------------------------------------------------------------

pub fn target(protocol: OtlpProtocol, endpoint: String) -> OtlpTarget {
    let mut otlp = OtlpConfig::default();
    otlp.protocol = protocol;
    otlp.endpoint = endpoint;
    let service = ServiceConfig {
        name: "tls-test-bot".into(),
        ..ServiceConfig::default()
    };
    OtlpTarget {
        otlp,
        service,
        export_timeout: Duration::from_secs(5),
    }
}

/// A finished chat span as the pipeline hands it to exporters.
pub fn span(name: &'static str, session: &str, n: u64) -> FinishedSpan {
    let now = SystemTime::now();
    FinishedSpan {
        name: Cow::Borrowed(name),
        kind: OtelKind::Internal,
        trace_id: TraceId(0x0af7651916cd43dd8448eb211c80319c),
        span_id: SpanId(0xb7ad_6b71_6920_3300 + n),
        parent_span_id: SpanId(0),
        parent_remote: false,
        start: now - Duration::from_millis(5),
        end: now,
        status: Status::Ok,
        attributes: vec![(
            Cow::Borrowed(chatobs_core::vocab::CHAT_SESSION_ID),
            Value::Str(Cow::Owned(session.to_owned())),
        )],
        events: Vec::new(),
        links: Vec::new(),
    }
}
