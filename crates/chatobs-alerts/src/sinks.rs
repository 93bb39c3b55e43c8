//! Alert sinks: one delivery thread per sink, a bounded queue, batches,
//! retries with backoff, drops counted.

use super::config::DeliveryConfig;
use super::Alert;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Counters of one sink.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Alerts delivered.
    pub delivered: AtomicU64,
    /// Alerts given up on after every retry.
    pub failed: AtomicU64,
    /// Alerts dropped because the queue was full or the sink was shut down.
    pub dropped: AtomicU64,
    /// Requests retried.
    pub retries: AtomicU64,
    /// Alerts queued or being delivered.
    pub pending: AtomicU64,
}

pub(crate) enum Target {
    Webhook {
        url: String,
        headers: BTreeMap<String, String>,
        service: String,
    },
    Alertmanager {
        url: String,
    },
}

pub(crate) struct Sink {
    pub name: &'static str,
    pub stats: Arc<SinkStats>,
    tx: RwLock<Option<tokio::sync::mpsc::Sender<Arc<Alert>>>>,
    abort: Arc<AtomicBool>,
    done: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    shutdown_timeout: Duration,
}

impl Sink {
    pub(crate) fn start(
        name: &'static str,
        target: Target,
        d: &DeliveryConfig,
    ) -> Result<Sink, chatobs_core::Error> {
        let err = |e: String| chatobs_core::Error::InvalidInput(format!("alert sink {name}: {e}"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| err(e.to_string()))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(d.timeout_ms))
            .connect_timeout(Duration::from_millis(d.timeout_ms))
            .build()
            .map_err(|e| err(e.to_string()))?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Arc<Alert>>(d.queue_size);
        let stats = Arc::new(SinkStats::default());
        let abort = Arc::new(AtomicBool::new(false));
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let w = Worker {
            name,
            target,
            client,
            stats: stats.clone(),
            abort: abort.clone(),
            batch: d.batch_size,
            max_retries: d.max_retries,
            backoff: Duration::from_millis(d.backoff_ms),
            backoff_max: Duration::from_millis(d.backoff_max_ms),
            last_log: None,
        };
        std::thread::Builder::new()
            .name(format!("chatobs-alerts-{name}"))
            .spawn(move || {
                rt.block_on(w.run(rx));
                let _ = done_tx.send(());
            })
            .map_err(|e| err(e.to_string()))?;
        Ok(Sink {
            name,
            stats,
            tx: RwLock::new(Some(tx)),
            abort,
            done: Mutex::new(Some(done_rx)),
            shutdown_timeout: Duration::from_millis(d.shutdown_timeout_ms),
        })
    }

    /// Queues `alert` without waiting; a full queue drops it and counts it.
    pub(crate) fn offer(&self, alert: Arc<Alert>) {
        let tx = self.tx.read().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = tx.as_ref() else {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        self.stats.pending.fetch_add(1, Ordering::AcqRel);
        if tx.try_send(alert).is_err() {
            self.stats.pending.fetch_sub(1, Ordering::AcqRel);
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Closes the queue and waits (bounded) for the thread to deliver what is queued.
    pub(crate) fn shutdown(&self) -> bool {
        drop(self.tx.write().unwrap_or_else(|e| e.into_inner()).take());
        let Some(done) = self.done.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return true;
        };
        let ok = done.recv_timeout(self.shutdown_timeout).is_ok();
        if !ok {
            // Give up: no more retries; whatever is left is dropped and counted.
            self.abort.store(true, Ordering::Release);
        }
        ok
    }
}

struct Worker {
    name: &'static str,
    target: Target,
    client: reqwest::Client,
    stats: Arc<SinkStats>,
    abort: Arc<AtomicBool>,
    batch: usize,
    max_retries: u32,
    backoff: Duration,
    backoff_max: Duration,
    last_log: Option<Instant>,
}

impl Worker {
    async fn run(mut self, mut rx: tokio::sync::mpsc::Receiver<Arc<Alert>>) {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < self.batch {
                match rx.try_recv() {
                    Ok(a) => batch.push(a),
                    Err(_) => break,
                }
            }
            let n = batch.len() as u64;
            if self.abort.load(Ordering::Acquire) {
                self.stats.dropped.fetch_add(n, Ordering::Relaxed);
            } else {
                self.deliver(&batch).await;
            }
            self.stats.pending.fetch_sub(n, Ordering::AcqRel);
        }
    }

    fn body(&self, batch: &[Arc<Alert>]) -> serde_json::Value {
        match &self.target {
            Target::Webhook { service, .. } => serde_json::json!({
                "version": "1",
                "service": service,
                "alerts": batch.iter().map(|a| a.to_json()).collect::<Vec<_>>(),
            }),
            Target::Alertmanager { .. } => {
                serde_json::Value::Array(batch.iter().map(|a| alertmanager_json(a)).collect())
            }
        }
    }

    async fn deliver(&mut self, batch: &[Arc<Alert>]) {
        let n = batch.len() as u64;
        let body = self.body(batch).to_string();
        let mut delay = self.backoff;
        let mut last_err = String::new();
        for attempt in 0..=self.max_retries {
            if attempt > 0 {
                if self.abort.load(Ordering::Acquire) {
                    break;
                }
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(jitter(delay)).await;
                delay = (delay * 2).min(self.backoff_max);
            }
            let req = match &self.target {
                Target::Webhook { url, headers, .. } => {
                    let mut r = self.client.post(url);
                    for (k, v) in headers {
                        r = r.header(k.as_str(), v.as_str());
                    }
                    r
                }
                Target::Alertmanager { url } => self.client.post(url),
            };
            match req
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
            {
                Ok(resp) if resp.status().is_success() => {
                    self.stats.delivered.fetch_add(n, Ordering::Relaxed);
                    return;
                }
                Ok(resp) => {
                    let status = resp.status();
                    last_err = format!("HTTP {status}");
                    // A 4xx other than 408/429 will not get better by retrying.
                    if status.is_client_error() && status.as_u16() != 408 && status.as_u16() != 429
                    {
                        break;
                    }
                }
                Err(e) => {
                    last_err = if e.is_timeout() {
                        "timeout".into()
                    } else if e.is_connect() {
                        "connection failed".into()
                    } else {
                        "request failed".into()
                    }
                }
            }
        }
        self.stats.failed.fetch_add(n, Ordering::Relaxed);
        // One log line per minute at most: a dead sink must not flood the logs.
        if self
            .last_log
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
        {
            self.last_log = Some(Instant::now());
            tracing::warn!(target: "chatobs::alerts", sink = self.name, alerts = n, failed_so_far = self.stats.failed.load(Ordering::Relaxed), "alert delivery failed: {last_err}");
        }
    }
}

fn jitter(d: Duration) -> Duration {
    // 50% to 100% of the delay.
    let r = (chatobs_core::ids::new_span_id().0 >> 11) as f64 / (1u64 << 53) as f64;
    d.mul_f64(0.5 + 0.5 * r)
}

/// One alert as Alertmanager's API v2 takes it: bounded labels, the rest in annotations.
pub(crate) fn alertmanager_json(a: &Alert) -> serde_json::Value {
    let mut ann = serde_json::Map::new();
    ann.insert("summary".into(), a.summary.clone().into());
    ann.insert(
        "threshold".into(),
        a.threshold.normalize().to_string().into(),
    );
    ann.insert("value".into(), a.value.normalize().to_string().into());
    ann.insert(
        "exceeded_by".into(),
        a.exceeded_by.normalize().to_string().into(),
    );
    ann.insert("quantity".into(), a.quantity.as_str().into());
    for (k, v) in [
        (chatobs_core::vocab::AM_SESSION_ID, &a.session_id),
        ("trace_id", &a.trace_id),
        ("span_id", &a.span_id),
        ("agent_role", &a.role),
        ("evaluator", &a.evaluator),
    ] {
        if let Some(v) = v {
            ann.insert(k.into(), v.clone().into());
        }
    }
    serde_json::json!({
        "labels": {
            chatobs_core::vocab::AM_ALERTNAME: a.alertname,
            chatobs_core::vocab::AM_SEVERITY: a.severity,
            chatobs_core::vocab::AM_SERVICE: a.service,
            chatobs_core::vocab::AM_RULE: a.rule,
        },
        "annotations": ann,
        "startsAt": super::rfc3339(a.at),
    })
}
