//! Real test peers on 127.0.0.1: OTLP receivers (gRPC and HTTP/protobuf),
//! a refusing endpoint and a hanging one. Every server stops when its handle
//! is dropped.
#![allow(dead_code)]

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
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a receiver got.
#[derive(Clone, Default)]
pub struct Received(pub Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

impl Received {
    pub fn requests(&self) -> Vec<ExportTraceServiceRequest> {
        self.0.lock().unwrap().clone()
    }
    /// Every span with its resource attributes.
    pub fn spans(&self) -> Vec<(Vec<KeyValue>, Span)> {
        let mut out = Vec::new();
        for r in self.requests() {
            for rs in r.resource_spans {
                let res = rs.resource.map(|r| r.attributes).unwrap_or_default();
                for ss in rs.scope_spans {
                    for s in ss.spans {
                        out.push((res.clone(), s));
                    }
                }
            }
        }
        out
    }
    /// Waits until at least `n` spans arrived (bounded).
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

pub fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|k| k.key == key)
        .and_then(|k| k.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

pub fn attr_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attrs, key) {
        Some(AnyValue::StringValue(s)) => Some(s),
        _ => None,
    }
}

pub fn attr_strings(attrs: &[KeyValue], key: &str) -> Option<Vec<String>> {
    match attr(attrs, key) {
        Some(AnyValue::ArrayValue(a)) => Some(
            a.values
                .iter()
                .filter_map(|v| match &v.value {
                    Some(AnyValue::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    }
}

/// Metric export requests a receiver got.
pub type MetricRequests = Arc<Mutex<Vec<ExportMetricsServiceRequest>>>;
/// Log export requests a receiver got.
pub type LogRequests = Arc<Mutex<Vec<ExportLogsServiceRequest>>>;

/// A server on its own thread and runtime; dropped = stopped.
pub struct Server {
    pub addr: SocketAddr,
    pub received: Received,
    /// Metric export requests (the gRPC receiver serves the metrics service too).
    pub metrics: MetricRequests,
    /// Log export requests (the gRPC receiver serves the logs service too).
    pub logs: LogRequests,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
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

struct Collector(Received);

struct MetricsCollector(MetricRequests);

struct LogsCollector(LogRequests);

#[tonic::async_trait]
impl LogsService for LogsCollector {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for MetricsCollector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

/// The names of every metric in `requests`.
pub fn metric_names(requests: &MetricRequests) -> Vec<String> {
    let mut out = Vec::new();
    for r in requests.lock().unwrap().iter() {
        for rm in &r.resource_metrics {
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    out.push(m.name.clone());
                }
            }
        }
    }
    out
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0 .0.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn spawn_server<F, Fut>(f: F) -> Server
where
    F: FnOnce(
            tokio::net::TcpListener,
            Received,
            MetricRequests,
            LogRequests,
            tokio::sync::oneshot::Receiver<()>,
        ) -> Fut
        + Send
        + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let received = Received::default();
    let r2 = received.clone();
    let metrics = MetricRequests::default();
    let m2 = metrics.clone();
    let logs = LogRequests::default();
    let l2 = logs.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(l.local_addr().unwrap()).unwrap();
            // Servers stop by themselves after 5 minutes even if a test forgets them.
            tokio::select! {
                _ = f(l, r2, m2, l2, stop_rx) => {}
                _ = tokio::time::sleep(Duration::from_secs(300)) => {}
            }
        });
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    Server {
        addr,
        received,
        metrics,
        logs,
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

/// A real OTLP/gRPC receiver (tonic TraceService, MetricsService and LogsService).
pub fn grpc_receiver() -> Server {
    spawn_server(|l, received, metrics, logs, stop| async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(l);
        let serve = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(received)))
            .add_service(MetricsServiceServer::new(MetricsCollector(metrics)))
            .add_service(LogsServiceServer::new(LogsCollector(logs)))
            .serve_with_incoming(incoming);
        // Stop at once (dropping the server and its connections), not
        // gracefully: an exporter may keep its connection open.
        tokio::select! {
            _ = serve => {}
            _ = stop => {}
        }
    })
}

/// A real OTLP/HTTP receiver: POST /v1/traces with a protobuf body.
pub fn http_receiver() -> Server {
    spawn_server(|l, received, _metrics, _logs, mut stop| async move {
        loop {
            tokio::select! {
                _ = &mut stop => return,
                acc = l.accept() => {
                    let Ok((mut sock, _)) = acc else { continue };
                    let received = received.clone();
                    tokio::spawn(async move {
                        loop {
                            let Some((head, body)) = read_http_request(&mut sock).await else { return };
                            let ok = head.starts_with("POST /v1/traces ")
                                && head.to_ascii_lowercase().contains("content-type: application/x-protobuf");
                            let status = if ok {
                                match ExportTraceServiceRequest::decode(body.as_slice()) {
                                    Ok(req) => { received.0.lock().unwrap().push(req); "200 OK" }
                                    Err(_) => "400 Bad Request",
                                }
                            } else { "415 Unsupported Media Type" };
                            let resp_body = ExportTraceServiceResponse { partial_success: None }.encode_to_vec();
                            let head = format!("HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n", resp_body.len());
                            if sock.write_all(head.as_bytes()).await.is_err() || sock.write_all(&resp_body).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            }
        }
    })
}

async fn read_http_request(sock: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
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

/// Accepts connections and never answers (a hanging collector).
pub fn hanging_endpoint() -> Server {
    spawn_server(|l, _received, _metrics, _logs, mut stop| async move {
        let mut held = Vec::new();
        loop {
            tokio::select! {
                _ = &mut stop => return,
                acc = l.accept() => if let Ok((s, _)) = acc { held.push(s) },
            }
        }
    })
}

/// An address on 127.0.0.1 where nothing listens (connections are refused).
pub fn refusing_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}
