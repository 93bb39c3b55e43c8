//! The JSON log lines over OTLP (the logs signal).
//!
//! chatobs' log layer writes one JSON line per event, already redacted
//! (`redaction.fields`, phone numbers, e-mail addresses, secrets), from a
//! bounded queue on its writer thread: a bot never waits for it and a full
//! queue drops (and counts) lines. [`OtlpLogSink`] rides on that same path:
//! the writer thread hands it each line after writing it, and at the end of
//! each drain it sends the batch (at most [`MAX_BATCH`] records per
//! request). So what a backend receives is exactly what the JSON lines say,
//! redacted the same way, and a slow or failing collector only delays the
//! writer thread (each export is cut at `exporter.export_timeout_ms`) and
//! never a bot.
//!
//! Each line becomes one log record: `timestamp`, severity (`level`), body
//! (`message`), the trace and span ids (`trace_id`, `span_id`) as the
//! record's trace context, `chat.session_id` (and `session.id`, the
//! OpenTelemetry name) and every other field as typed attributes (numbers
//! stay numbers), `target` as `code.namespace`. A line that is not a JSON
//! object is sent as its text (counted as malformed, never dropped).

use crate::config::{OtlpProtocol, OtlpTarget, Signal};
use crate::rt::ExportRuntime;
use crate::transport::{self, Probe};
use chatobs_core::vocab;
use chatobs_core::Error;
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{SpanId, TraceFlags, TraceId};
use opentelemetry::{InstrumentationScope, Key};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::logs::{
    LogBatch, LogExporter as _, SdkLogRecord, SdkLogger, SdkLoggerProvider,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Most records sent in one request.
pub const MAX_BATCH: usize = 512;

static FAILED_ALL: AtomicU64 = AtomicU64::new(0);
static EXPORTED_ALL: AtomicU64 = AtomicU64::new(0);

/// Records every sink of this process sent, and records in batches that
/// failed (for `chatobs_telemetry_dropped_total{what="otlp_log_records"}`).
pub fn totals() -> (u64, u64) {
    (
        EXPORTED_ALL.load(Ordering::Relaxed),
        FAILED_ALL.load(Ordering::Relaxed),
    )
}

/// Sends log lines to an OTLP collector or backend (see the module docs).
pub struct OtlpLogSink {
    // Dropped before the runtime it was built on.
    inner: opentelemetry_otlp::LogExporter,
    rt: ExportRuntime,
    scope: InstrumentationScope,
    // Makes records only (no processor: nothing is emitted through it).
    records: SdkLogger,
    _provider: SdkLoggerProvider,
    pending: Mutex<Vec<SdkLogRecord>>,
    timeout: Duration,
    url: String,
    protocol: OtlpProtocol,
    probe: Arc<Probe>,
    exported: AtomicU64,
    failed: AtomicU64,
    malformed: AtomicU64,
    warned: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for OtlpLogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpLogSink")
            .field("url", &self.url)
            .field("protocol", &self.protocol)
            .finish()
    }
}

impl OtlpLogSink {
    /// Builds the sink `cfg` describes (`logs_endpoint`, else the traces
    /// endpoint). Runs [`crate::check`] first, like the span exporter.
    pub fn new(cfg: &OtlpTarget) -> Result<OtlpLogSink, Error> {
        crate::check(cfg)?;
        let err = |reason: String| Error::Exporter {
            exporter: "otlp-logs",
            reason,
        };
        let mut problems = Vec::new();
        let plan = transport::plan(&cfg.otlp, Signal::Logs, &mut problems).ok_or_else(|| {
            if problems.is_empty() {
                err("no endpoint: set OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT or otlp.endpoint".into())
            } else {
                crate::to_error(problems)
            }
        })?;
        let timeout = cfg.export_timeout;
        let rt = ExportRuntime::new().map_err(err)?;
        let probe = Arc::new(Probe::default());
        let built = rt.enter(|| match plan.protocol {
            OtlpProtocol::Grpc => {
                let b = opentelemetry_otlp::LogExporter::builder()
                    .with_tonic()
                    .with_endpoint(plan.url.clone())
                    .with_timeout(timeout)
                    .with_metadata(plan.metadata());
                match &plan.tls {
                    Some(tls) => b.with_tls_config(tls.tonic()).build(),
                    None => b.build(),
                }
            }
            OtlpProtocol::HttpProtobuf => opentelemetry_otlp::LogExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(plan.url.clone())
                .with_timeout(timeout)
                .with_headers(plan.headers.iter().cloned().collect())
                .with_http_client(transport::http_client(&plan, timeout, probe.clone()))
                .build(),
        });
        let mut inner = built.map_err(|e| err(format!("{}: {e}", plan.url)))?;
        inner.set_resource(&crate::traces::resource_for(cfg));
        let scope = InstrumentationScope::builder(vocab::SCOPE_NAME)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        let provider = SdkLoggerProvider::builder().build();
        let records = provider.logger(vocab::SCOPE_NAME);
        Ok(OtlpLogSink {
            inner,
            rt,
            scope,
            records,
            _provider: provider,
            pending: Mutex::new(Vec::new()),
            timeout,
            url: plan.url,
            protocol: plan.protocol,
            probe,
            exported: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            warned: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Takes one JSON log line (sent at the next [`OtlpLogSink::flush`], or
    /// at once when [`MAX_BATCH`] are waiting).
    pub fn push_line(&self, line: &str) {
        let rec = self.record(line);
        let full = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            p.push(rec);
            p.len() >= MAX_BATCH
        };
        if full {
            self.flush();
        }
    }

    /// Sends what is waiting. Blocks the calling thread (the log writer) for
    /// at most the export timeout; a failure is counted ([`Self::failed`])
    /// and logged to stderr once, never retried into a growing backlog.
    pub fn flush(&self) {
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        let pairs: Vec<(&SdkLogRecord, &InstrumentationScope)> =
            batch.iter().map(|r| (r, &self.scope)).collect();
        let timeout = self.timeout;
        let inner = &self.inner;
        self.probe.reset();
        let res = self.rt.block_on(async move {
            tokio::time::timeout(timeout, inner.export(LogBatch::new(&pairs)))
                .await
                .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))
                .and_then(|r| r.map_err(|e| e.to_string()))
        });
        match res.and_then(|r| r) {
            Ok(()) => {
                self.exported.fetch_add(n, Ordering::Relaxed);
                EXPORTED_ALL.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                self.failed.fetch_add(n, Ordering::Relaxed);
                FAILED_ALL.fetch_add(n, Ordering::Relaxed);
                if !self.warned.swap(true, Ordering::Relaxed) {
                    let why = transport::describe(
                        Signal::Logs,
                        self.protocol,
                        &self.url,
                        &e,
                        &self.probe,
                    )
                    .message;
                    // Not through `tracing`: this runs on the log writer
                    // thread, and a log line about failing logs would feed itself.
                    eprintln!("chatobs: sending {n} log records over OTLP failed: {why} (reported once; every failed record is counted)");
                }
            }
        }
    }

    /// Records sent.
    pub fn exported(&self) -> u64 {
        self.exported.load(Ordering::Relaxed)
    }
    /// Records in batches that failed to send.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
    /// Lines that were not a JSON object (sent as text).
    pub fn malformed(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }

    fn record(&self, line: &str) -> SdkLogRecord {
        let mut r = self.records.create_log_record();
        let now = SystemTime::now();
        r.set_observed_timestamp(now);
        let obj = match serde_json::from_str::<serde_json::Value>(line.trim_end()) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => {
                self.malformed.fetch_add(1, Ordering::Relaxed);
                r.set_timestamp(now);
                r.set_body(AnyValue::String(line.trim_end().to_owned().into()));
                return r;
            }
        };
        let mut trace: Option<TraceId> = None;
        let mut span: Option<SpanId> = None;
        let mut ts = None;
        for (k, v) in obj {
            match (k.as_str(), v) {
                ("timestamp", serde_json::Value::String(s)) => ts = parse_rfc3339(&s),
                ("level", serde_json::Value::String(s)) => {
                    let (num, text) = severity(&s);
                    r.set_severity_number(num);
                    r.set_severity_text(text);
                }
                ("message", serde_json::Value::String(s)) => r.set_body(AnyValue::String(s.into())),
                ("target", serde_json::Value::String(s)) => r.add_attribute(
                    Key::from_static_str("code.namespace"),
                    AnyValue::String(s.into()),
                ),
                ("trace_id", serde_json::Value::String(s)) => {
                    trace = TraceId::from_hex(&s).ok();
                }
                ("span_id", serde_json::Value::String(s)) => {
                    span = SpanId::from_hex(&s).ok();
                }
                (k, v) => {
                    if k == vocab::CHAT_SESSION_ID {
                        if let serde_json::Value::String(s) = &v {
                            r.add_attribute(
                                Key::from_static_str(vocab::SESSION_ID),
                                AnyValue::String(s.clone().into()),
                            );
                        }
                    }
                    if let Some(a) = any(v) {
                        r.add_attribute(Key::from(k.to_owned()), a);
                    }
                }
            }
        }
        r.set_timestamp(ts.unwrap_or(now));
        if let (Some(t), Some(s)) = (trace, span) {
            r.set_trace_context(t, s, Some(TraceFlags::SAMPLED));
        }
        r
    }
}

impl chatobs_core::logs::LineSink for OtlpLogSink {
    fn line(&self, line: &str) {
        self.push_line(line);
    }
    fn flush(&self) {
        OtlpLogSink::flush(self);
    }
}

impl Drop for OtlpLogSink {
    fn drop(&mut self) {
        self.flush();
    }
}

fn severity(level: &str) -> (Severity, &'static str) {
    match level {
        "TRACE" => (Severity::Trace, "TRACE"),
        "DEBUG" => (Severity::Debug, "DEBUG"),
        "INFO" => (Severity::Info, "INFO"),
        "WARN" => (Severity::Warn, "WARN"),
        "ERROR" => (Severity::Error, "ERROR"),
        _ => (Severity::Info, "INFO"),
    }
}

fn any(v: serde_json::Value) -> Option<AnyValue> {
    Some(match v {
        serde_json::Value::Null => return None,
        serde_json::Value::Bool(b) => AnyValue::Boolean(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => AnyValue::Int(i),
            None => AnyValue::Double(n.as_f64()?),
        },
        serde_json::Value::String(s) => AnyValue::String(s.into()),
        serde_json::Value::Array(a) => {
            AnyValue::ListAny(Box::new(a.into_iter().filter_map(any).collect()))
        }
        serde_json::Value::Object(m) => AnyValue::Map(Box::new(
            m.into_iter()
                .filter_map(|(k, v)| Some((Key::from(k), any(v)?)))
                .collect(),
        )),
    })
}

/// `2026-11-30T20:31:03.123456Z` (what the log layer writes) as a time.
fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || !s.ends_with('Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let frac = s.get(19..s.len() - 1).unwrap_or("");
    let nanos: u64 = match frac.strip_prefix('.') {
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|c| c.is_ascii_digit()) => {
            f.parse::<u64>().ok()? * 10u64.pow(9 - f.len() as u32)
        }
        Some(_) => return None,
        None => 0,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    let secs = u64::try_from(secs).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let t = parse_rfc3339("2026-11-30T20:31:03.123456Z").unwrap();
        let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(d.as_secs(), 1_796_070_663);
        assert_eq!(d.subsec_micros(), 123_456);
        assert_eq!(
            parse_rfc3339("1970-01-01T00:00:00Z"),
            Some(SystemTime::UNIX_EPOCH)
        );
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-11-30 20:31:03Z",
            "2026-11-30T20:31:03.Z",
            "2026-11-30T20:31:03.1234567890Z",
            "1969-12-31T23:59:59Z",
            "2026-11-30T20:31:03",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn values_keep_their_types() {
        assert_eq!(any(serde_json::json!(3)), Some(AnyValue::Int(3)));
        assert_eq!(any(serde_json::json!(0.5)), Some(AnyValue::Double(0.5)));
        assert_eq!(any(serde_json::json!(true)), Some(AnyValue::Boolean(true)));
        assert_eq!(any(serde_json::Value::Null), None);
    }
}
