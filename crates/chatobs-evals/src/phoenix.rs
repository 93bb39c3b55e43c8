//! Evaluation results and feedback as Phoenix span annotations.
//!
//! Each annotation is sent to `POST {endpoint}/v1/span_annotations` as
//!
//! ```json
//! {"data": [{"span_id": "<16 hex digits of the evaluated span>",
//!            "name": "qa_correctness",
//!            "annotator_kind": "LLM",
//!            "result": {"label": "correct", "score": 1.0, "explanation": "..."},
//!            "identifier": "",
//!            "metadata": {"session_id": "cs_...", "trace_id": "<32 hex>", "source": "chatobs"}}]}
//! ```
//!
//! `annotator_kind` is `LLM` for judges, `CODE` for readability and `HUMAN`
//! for feedback (names `user feedback` and `operator feedback`, labels
//! `thumbs-up` / `thumbs-down`, scores 1 / 0). Phoenix keeps one annotation
//! per (span, name, identifier): chatobs leaves `identifier` empty for
//! evaluations and user feedback (the latest wins: a user who changes the
//! reaction replaces it) and sets it to the operator id for operator
//! feedback (one per operator).
//!
//! Each evaluation result also goes to the judged turn as a trace
//! annotation (`POST {endpoint}/v1/trace_annotations`, same name, kind and
//! result, keyed by the trace id): Phoenix's trace list then shows every
//! turn's results next to its input and output (a later result of the same
//! evaluator in the same turn replaces the earlier one there; the span
//! annotations keep each).
//!
//! Sending is off the request path: [`PhoenixAnnotations::send`] puts the
//! annotation in a bounded queue (full: dropped and counted); a background
//! thread (`chatobs-phoenix`) posts batches of `batch_size` at least every
//! `flush_interval_ms`, each request limited to `timeout_ms`, with
//! `Authorization: Bearer <key>` when the variable named by `api_key_env` is
//! set. A failed request is counted (and logged once per minute), not retried:
//! annotations are advisory, the spans are the record.

use super::config::PhoenixConfig;
use super::pipeline::EvalRecord;
use crate::context::Context;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One span annotation, in Phoenix's shape.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Annotation {
    /// The annotated span, 16 hex digits.
    pub span_id: String,
    /// The annotation name (the evaluator's name, `user feedback`, `operator feedback`).
    pub name: String,
    /// `LLM`, `CODE` or `HUMAN`.
    pub annotator_kind: &'static str,
    /// Label, score, explanation.
    pub result: AnnotationResult,
    /// Distinguishes several annotations of one name on one span.
    pub identifier: String,
    /// Session and trace ids.
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// One trace annotation (a user turn's result), in Phoenix's shape.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceAnnotation {
    /// The annotated trace (the turn), 32 hex digits.
    pub trace_id: String,
    /// The annotation name (the evaluator's name).
    pub name: String,
    /// `LLM`, `CODE` or `HUMAN`.
    pub annotator_kind: &'static str,
    /// Label, score, explanation.
    pub result: AnnotationResult,
    /// Distinguishes several annotations of one name on one trace.
    pub identifier: String,
    /// Session and span ids.
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// What the exporter thread sends.
#[derive(Debug)]
enum Item {
    Span(Annotation),
    Trace(TraceAnnotation),
}

/// The `result` of an [`Annotation`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnnotationResult {
    /// Label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

pub(crate) fn metadata(target: &Context) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    if let Some(s) = &target.session {
        m.insert("session_id".into(), s.id().into());
    }
    m.insert("trace_id".into(), target.trace_id.to_hex().into());
    m.insert("source".into(), "chatobs".into());
    m
}

impl Annotation {
    /// The annotation of a finished evaluation (none when it failed or judged no span).
    pub fn from_record(r: &EvalRecord) -> Option<Annotation> {
        let res = r.result.as_ref().ok()?;
        if !r.target.has_span() {
            return None;
        }
        Some(Annotation {
            span_id: r.target.span_id.to_hex(),
            name: r.evaluator.clone(),
            annotator_kind: r.annotator_kind.as_str(),
            result: AnnotationResult {
                label: Some(res.label.clone()),
                score: res.score,
                explanation: res.explanation.clone(),
            },
            identifier: String::new(),
            metadata: metadata(&r.target),
        })
    }

    /// The same result on the judged turn (its trace), when known.
    pub fn on_turn(&self) -> Option<TraceAnnotation> {
        let trace_id = self.metadata.get("trace_id")?.as_str()?.to_owned();
        let mut metadata = self.metadata.clone();
        metadata.remove("trace_id");
        metadata.insert("span_id".into(), self.span_id.clone().into());
        Some(TraceAnnotation {
            trace_id,
            name: self.name.clone(),
            annotator_kind: self.annotator_kind,
            result: self.result.clone(),
            identifier: self.identifier.clone(),
            metadata,
        })
    }
}

static INSTALLED: Mutex<Option<PhoenixAnnotations>> = Mutex::new(None);

/// Makes `p` the process's Phoenix annotation exporter: evaluation
/// pipelines and feedback recorders built afterwards send to it unless told
/// otherwise. `chatobs_runtime::init` installs one whenever Phoenix is
/// configured (`[evals.phoenix] enabled`, `CHATOBS_PHOENIX_ENDPOINT`, or
/// `[otlp] preset = "phoenix"`), and removes it when its guard drops.
/// Returns the one it replaces.
pub fn install(p: Option<PhoenixAnnotations>) -> Option<PhoenixAnnotations> {
    std::mem::replace(&mut *INSTALLED.lock().unwrap_or_else(|e| e.into_inner()), p)
}

/// The installed Phoenix annotation exporter, if any (see [`install`]).
pub fn installed() -> Option<PhoenixAnnotations> {
    INSTALLED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Counters of the Phoenix export.
#[derive(Debug, Default)]
pub struct PhoenixStats {
    /// Annotations Phoenix accepted.
    pub sent: AtomicU64,
    /// Annotations in requests that failed.
    pub failed: AtomicU64,
    /// Annotations dropped because the queue was full or the exporter closed.
    pub dropped: AtomicU64,
    /// Annotations queued and not yet sent or failed.
    pub pending: AtomicU64,
}

struct PInner {
    tx: Mutex<Option<SyncSender<Item>>>,
    stats: Arc<PhoenixStats>,
    done: Mutex<Option<Receiver<()>>>,
    timeout: Duration,
}

/// The Phoenix annotation exporter. Cheap to clone; the last clone dropped
/// sends what is queued (bounded by the request timeout) and stops.
#[derive(Clone)]
pub struct PhoenixAnnotations {
    inner: Arc<PInner>,
}

impl std::fmt::Debug for PhoenixAnnotations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoenixAnnotations")
            .field("stats", &self.inner.stats)
            .finish()
    }
}

impl PhoenixAnnotations {
    /// Starts the exporter thread for `cfg` (the API key from the variable `cfg.api_key_env`).
    pub fn start(cfg: &PhoenixConfig) -> Result<PhoenixAnnotations, crate::Error> {
        let key = std::env::var(&cfg.api_key_env)
            .ok()
            .filter(|k| !k.trim().is_empty());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .build()
            .map_err(|e| crate::Error::config(None, "evals.phoenix", e.to_string()))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| crate::Error::config(None, "evals.phoenix", e.to_string()))?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Item>(cfg.queue_size.max(1));
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let stats = Arc::new(PhoenixStats::default());
        let base = cfg.endpoint.trim_end_matches('/').to_owned();
        let spans_url = format!("{base}/v1/span_annotations?sync=false");
        let traces_url = format!("{base}/v1/trace_annotations?sync=false");
        let batch = cfg.batch_size.max(1);
        let every = Duration::from_millis(cfg.flush_interval_ms.max(1));
        let s = stats.clone();
        std::thread::Builder::new()
            .name("chatobs-phoenix".into())
            .spawn(move || {
                let mut buf: Vec<Item> = Vec::with_capacity(batch);
                let mut last = Instant::now();
                let mut warned: Option<Instant> = None;
                loop {
                    let wait = every.saturating_sub(last.elapsed());
                    let closed = match rx.recv_timeout(wait) {
                        Ok(a) => {
                            buf.push(a);
                            while buf.len() < batch {
                                match rx.try_recv() {
                                    Ok(a) => buf.push(a),
                                    Err(_) => break,
                                }
                            }
                            false
                        }
                        Err(RecvTimeoutError::Timeout) => false,
                        Err(RecvTimeoutError::Disconnected) => true,
                    };
                    if !buf.is_empty() && (buf.len() >= batch || last.elapsed() >= every || closed)
                    {
                        let n = buf.len() as u64;
                        let (mut spans, mut traces) = (Vec::new(), Vec::new());
                        for item in buf.drain(..) {
                            match item {
                                Item::Span(a) => spans.push(a),
                                Item::Trace(a) => traces.push(a),
                            }
                        }
                        let post = |url: &str, body: serde_json::Value| {
                            rt.block_on(async {
                                let mut req = http.post(url).json(&body);
                                if let Some(k) = &key {
                                    req = req.bearer_auth(k);
                                }
                                match req.send().await {
                                    Ok(r) if r.status().is_success() => Ok(()),
                                    Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
                                    Err(e) => Err(e.without_url().to_string()),
                                }
                            })
                        };
                        // Each request counted on its own: what Phoenix took, what failed.
                        let mut error: Option<String> = None;
                        for (url, body, count) in [
                            (&spans_url, serde_json::json!({ "data": spans }), spans.len()),
                            (&traces_url, serde_json::json!({ "data": traces }), traces.len()),
                        ] {
                            if count == 0 {
                                continue;
                            }
                            match post(url, body) {
                                Ok(()) => s.sent.fetch_add(count as u64, Ordering::Relaxed),
                                Err(e) => {
                                    error.get_or_insert(e);
                                    s.failed.fetch_add(count as u64, Ordering::Relaxed)
                                }
                            };
                        }
                        if let Some(e) = error {
                            if warned.is_none_or(|w| w.elapsed() > Duration::from_secs(60)) {
                                warned = Some(Instant::now());
                                tracing::warn!(target: "chatobs", error = %e, annotations = n, "Phoenix did not take some annotations; they are dropped and counted");
                            }
                        }
                        s.pending.fetch_sub(n, Ordering::AcqRel);
                        buf.clear();
                        last = Instant::now();
                    } else if buf.is_empty() {
                        last = Instant::now();
                    }
                    if closed {
                        break;
                    }
                }
                let _ = done_tx.send(());
            })
            .map_err(|e| crate::Error::config(None, "evals.phoenix", e.to_string()))?;
        Ok(PhoenixAnnotations {
            inner: Arc::new(PInner {
                tx: Mutex::new(Some(tx)),
                stats,
                done: Mutex::new(Some(done_rx)),
                timeout: Duration::from_millis(cfg.timeout_ms.saturating_mul(2)),
            }),
        })
    }

    /// Queues an annotation. Never blocks: a full queue drops it and counts it.
    pub fn send(&self, a: Annotation) {
        self.queue(Item::Span(a));
    }

    /// Queues a trace annotation (a turn's result), like [`send`](Self::send).
    pub fn send_trace(&self, a: TraceAnnotation) {
        self.queue(Item::Trace(a));
    }

    fn queue(&self, a: Item) {
        let s = &self.inner.stats;
        let guard = self.inner.tx.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = guard.as_ref() else {
            s.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        s.pending.fetch_add(1, Ordering::AcqRel);
        match tx.try_send(a) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                s.pending.fetch_sub(1, Ordering::AcqRel);
                s.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The counters.
    pub fn stats(&self) -> &PhoenixStats {
        &self.inner.stats
    }

    /// Waits (blocking) until everything queued was sent or failed, at most `timeout`.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let t = Instant::now();
        while self.inner.stats.pending.load(Ordering::Acquire) > 0 {
            if t.elapsed() >= timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// Sends what is queued (at most `timeout`) and stops. Later calls return at once.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        self.inner.shutdown(timeout)
    }
}

impl PInner {
    fn shutdown(&self, timeout: Duration) -> bool {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(done) = self.done.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return true;
        };
        done.recv_timeout(timeout).is_ok()
    }
}

impl Drop for PInner {
    fn drop(&mut self) {
        let t = self.timeout;
        self.shutdown(t);
    }
}
