//! The evaluation pipeline: off the request path, bounded, sampled.
//!
//! * [`EvalPipeline::submit`] takes the current span as the evaluated one
//!   ([`Context::current`]), draws the evaluator's sampling rate, and puts
//!   the job in a bounded queue with `try_send`: it never waits, never
//!   fails the conversation; a full queue drops the job and counts it.
//! * `evals.concurrency` workers (default 4) take jobs from the queue on
//!   one background thread (`chatobs-evals`, its own Tokio runtime, so a bot
//!   without Tokio can submit too); each job is its own task, so a
//!   panicking evaluator costs one result, not a worker.
//! * [`EvalPipeline::shutdown`] (also run when the last handle is dropped)
//!   stops taking jobs, lets the workers drain the queue for at most the
//!   time limit, then drops what is left and counts it.

use super::config::EvalsConfig;
use super::{AnnotatorKind, EvalError, EvalInput, EvalResult, Evaluator};
use crate::context::Context;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// What [`EvalPipeline::submit`] did with a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// Queued for a worker.
    Queued,
    /// Not drawn by the evaluator's sampling rate.
    SampledOut,
    /// The queue was full: dropped and counted.
    Dropped,
    /// The pipeline is shut down.
    Closed,
    /// No evaluator has that name.
    UnknownEvaluator,
}

/// Counters of the pipeline (read them, or export them once metrics exist).
#[derive(Debug, Default)]
pub struct EvalStats {
    /// Jobs accepted into the queue.
    pub submitted: AtomicU64,
    /// Jobs not drawn by sampling.
    pub sampled_out: AtomicU64,
    /// Jobs dropped because the queue was full.
    pub dropped_full: AtomicU64,
    /// Jobs dropped because the pipeline was closed or the drain ran out of time.
    pub dropped_shutdown: AtomicU64,
    /// Submissions naming no evaluator.
    pub unknown_evaluator: AtomicU64,
    /// Evaluations that produced a result (unparseable ones included).
    pub completed: AtomicU64,
    /// Evaluations that failed (timeouts, HTTP errors, missing input, panics).
    pub failed: AtomicU64,
    /// Results labelled `unparseable`.
    pub unparseable: AtomicU64,
    /// Evaluations running now.
    pub in_flight: AtomicU64,
    /// The most evaluations that ran at once.
    pub max_in_flight: AtomicU64,
    /// Jobs accepted and not finished yet (queued or running).
    pub pending: AtomicU64,
}

/// One finished evaluation, as hooks see it.
#[derive(Clone, Debug)]
pub struct EvalRecord {
    /// The evaluator's name.
    pub evaluator: String,
    /// Who produced it.
    pub annotator_kind: AnnotatorKind,
    /// The evaluated span (and its session).
    pub target: Context,
    /// The verdict, or why there is none.
    pub result: Result<EvalResult, EvalError>,
    /// How long the evaluation took.
    pub duration: Duration,
}

/// A function run for every finished evaluation, on the evaluation thread
/// (keep it short: record a metric, queue an annotation).
pub type ResultHook = Arc<dyn Fn(&EvalRecord) + Send + Sync>;

static EVERY_PIPELINE: std::sync::RwLock<Vec<ResultHook>> = std::sync::RwLock::new(Vec::new());

/// Registers a hook that every pipeline started afterwards calls for each
/// result (modules built on evaluations, such as metrics and alerts, use it
/// so that bots need not wire them).
pub fn on_every_result(hook: ResultHook) {
    EVERY_PIPELINE
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .push(hook);
}

struct Job {
    evaluator: Arc<dyn Evaluator>,
    input: EvalInput,
    target: Context,
}

struct Registered {
    evaluator: Arc<dyn Evaluator>,
    sample_rate: f64,
}

struct Inner {
    tx: RwLock<Option<tokio::sync::mpsc::Sender<Job>>>,
    evaluators: HashMap<String, Registered>,
    stats: Arc<EvalStats>,
    abort: Arc<AtomicBool>,
    done: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    shutdown_timeout: Duration,
}

/// The evaluation pipeline. Cheap to clone; the last clone dropped shuts it
/// down (draining for at most `evals.shutdown_timeout_ms`).
#[derive(Clone)]
pub struct EvalPipeline {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EvalPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalPipeline")
            .field(
                "evaluators",
                &self.inner.evaluators.keys().collect::<Vec<_>>(),
            )
            .field("stats", &self.inner.stats)
            .finish()
    }
}

/// Builds an [`EvalPipeline`].
pub struct EvalPipelineBuilder {
    cfg: EvalsConfig,
    evaluators: Vec<Arc<dyn Evaluator>>,
    hooks: Vec<ResultHook>,
    /// Phoenix chosen by the caller (`Some(None)`: none).
    phoenix: Option<Option<super::PhoenixAnnotations>>,
}

impl EvalPipelineBuilder {
    /// Adds an evaluator (its sampling rate comes from `evals.sample_rates`).
    pub fn evaluator(mut self, e: Arc<dyn Evaluator>) -> Self {
        self.evaluators.push(e);
        self
    }
    /// Runs `hook` for every finished evaluation (metrics, alert rules).
    pub fn on_result(mut self, hook: impl Fn(&EvalRecord) + Send + Sync + 'static) -> Self {
        self.hooks.push(Arc::new(hook));
        self
    }
    /// Sends every result to Phoenix as a span annotation (by default the
    /// installed exporter, [`crate::phoenix::installed`], when there is one).
    pub fn phoenix(mut self, p: super::PhoenixAnnotations) -> Self {
        self.phoenix = Some(Some(p));
        self
    }

    /// Sends no result to Phoenix, even when one is installed.
    pub fn without_phoenix(mut self) -> Self {
        self.phoenix = Some(None);
        self
    }

    /// Starts the worker thread.
    pub fn start(mut self) -> Result<EvalPipeline, crate::Error> {
        self.cfg.validate()?;
        if let Some(p) = self
            .phoenix
            .take()
            .unwrap_or_else(super::phoenix::installed)
        {
            self.hooks.push(Arc::new(move |r: &EvalRecord| {
                if let Some(a) = super::Annotation::from_record(r) {
                    // The result on the judged span, and on its turn (the trace).
                    if let Some(t) = a.on_turn() {
                        p.send_trace(t);
                    }
                    p.send(a);
                }
            }));
        }
        let mut evaluators = HashMap::new();
        for e in self.evaluators {
            let name = e.name().to_owned();
            if !super::valid_name(&name) {
                return Err(crate::Error::InvalidInput(format!(
                    "evaluator name {name:?}: use 1 to 64 characters of a-z, 0-9 and _"
                )));
            }
            let sample_rate = self.cfg.sample_rate_of(&name);
            if evaluators
                .insert(
                    name.clone(),
                    Registered {
                        evaluator: e,
                        sample_rate,
                    },
                )
                .is_some()
            {
                return Err(crate::Error::InvalidInput(format!(
                    "two evaluators are named {name:?}"
                )));
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| crate::Error::InvalidInput(format!("evaluation runtime: {e}")))?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Job>(self.cfg.queue_size);
        let stats = Arc::new(EvalStats::default());
        let abort = Arc::new(AtomicBool::new(false));
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let workers = self.cfg.concurrency;
        let mut hooks = self.hooks;
        hooks.extend(
            EVERY_PIPELINE
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned(),
        );
        let hooks: Arc<[ResultHook]> = hooks.into();
        let (w_stats, w_abort) = (stats.clone(), abort.clone());
        std::thread::Builder::new()
            .name("chatobs-evals".into())
            .spawn(move || {
                rt.block_on(async move {
                    let rx = Arc::new(tokio::sync::Mutex::new(rx));
                    let mut handles = Vec::with_capacity(workers);
                    for _ in 0..workers {
                        handles.push(tokio::spawn(worker(
                            rx.clone(),
                            w_stats.clone(),
                            w_abort.clone(),
                            hooks.clone(),
                        )));
                    }
                    for h in handles {
                        let _ = h.await;
                    }
                });
                let _ = done_tx.send(());
            })
            .map_err(|e| crate::Error::InvalidInput(format!("evaluation thread: {e}")))?;
        Ok(EvalPipeline {
            inner: Arc::new(Inner {
                tx: RwLock::new(Some(tx)),
                evaluators,
                stats,
                abort,
                done: Mutex::new(Some(done_rx)),
                shutdown_timeout: Duration::from_millis(self.cfg.shutdown_timeout_ms),
            }),
        })
    }
}

async fn worker(
    rx: Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Job>>>,
    stats: Arc<EvalStats>,
    abort: Arc<AtomicBool>,
    hooks: Arc<[ResultHook]>,
) {
    loop {
        let job = { rx.lock().await.recv().await };
        let Some(job) = job else { break };
        if abort.load(Ordering::Relaxed) {
            stats.dropped_shutdown.fetch_add(1, Ordering::Relaxed);
            stats.pending.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        let now = stats.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        stats.max_in_flight.fetch_max(now, Ordering::AcqRel);
        let started = Instant::now();
        let name = job.evaluator.name().to_owned();
        let kind = job.evaluator.annotator_kind();
        let target = job.target.clone();
        // Its own task: a panicking evaluator costs this result, not the worker.
        let res =
            tokio::spawn(async move { super::run(&*job.evaluator, &job.input, &job.target).await })
                .await
                .unwrap_or_else(|e| Err(EvalError::Other(format!("the evaluator panicked: {e}"))));
        stats.in_flight.fetch_sub(1, Ordering::AcqRel);
        match &res {
            Ok(r) => {
                stats.completed.fetch_add(1, Ordering::Relaxed);
                if r.is_unparseable() {
                    stats.unparseable.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(_) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        if !hooks.is_empty() {
            let record = EvalRecord {
                evaluator: name,
                annotator_kind: kind,
                target,
                result: res,
                duration: started.elapsed(),
            };
            for h in hooks.iter() {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h(&record)));
            }
        }
        stats.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

fn sampled(rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    if rate <= 0.0 {
        return false;
    }
    let r = (crate::ids::new_span_id().0 >> 11) as f64 / (1u64 << 53) as f64;
    r < rate
}

impl EvalPipeline {
    /// A builder with `cfg` (add evaluators and hooks, then `start`).
    pub fn builder(cfg: EvalsConfig) -> EvalPipelineBuilder {
        EvalPipelineBuilder {
            cfg,
            evaluators: Vec::new(),
            hooks: Vec::new(),
            phoenix: None,
        }
    }

    /// The pipeline `cfg` describes: readability always; QA correctness,
    /// hallucination and toxicity when `evals.judge.base_url` and `model` are
    /// set; results to Phoenix when `evals.phoenix.enabled` (the installed
    /// exporter when there is one) or when one is installed.
    pub fn from_config(cfg: &EvalsConfig) -> Result<EvalPipeline, crate::Error> {
        let mut b = EvalPipeline::builder(cfg.clone()).evaluator(Arc::new(super::Readability {
            language: cfg.readability.lang(),
        }));
        if !cfg.judge.base_url.is_empty() && !cfg.judge.model.is_empty() {
            let client = Arc::new(
                super::JudgeClient::new(cfg.judge.clone())
                    .map_err(|e| crate::Error::config(None, "evals.judge", e.to_string()))?,
            );
            b = b
                .evaluator(Arc::new(super::judge::qa_correctness(client.clone())))
                .evaluator(Arc::new(super::judge::hallucination(client.clone())))
                .evaluator(Arc::new(super::judge::toxicity(client)));
        }
        if cfg.phoenix.enabled && super::phoenix::installed().is_none() {
            b = b.phoenix(super::PhoenixAnnotations::start(&cfg.phoenix)?);
        }
        b.start()
    }

    /// Queues `evaluator` on `input`, judging the current span. Never blocks.
    pub fn submit(&self, evaluator: &str, input: EvalInput) -> Submitted {
        self.submit_for(Context::current(), evaluator, input)
    }

    /// Queues `evaluator` on `input`, judging the span `target` (take it with
    /// [`Context::current`] or `ChatSpan::context` when the answer is sent).
    pub fn submit_for(&self, target: Context, evaluator: &str, input: EvalInput) -> Submitted {
        let stats = &self.inner.stats;
        let Some(reg) = self.inner.evaluators.get(evaluator) else {
            stats.unknown_evaluator.fetch_add(1, Ordering::Relaxed);
            return Submitted::UnknownEvaluator;
        };
        if !sampled(reg.sample_rate) {
            stats.sampled_out.fetch_add(1, Ordering::Relaxed);
            return Submitted::SampledOut;
        }
        let guard = self.inner.tx.read().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = guard.as_ref() else {
            stats.dropped_shutdown.fetch_add(1, Ordering::Relaxed);
            return Submitted::Closed;
        };
        stats.pending.fetch_add(1, Ordering::AcqRel);
        match tx.try_send(Job {
            evaluator: reg.evaluator.clone(),
            input,
            target,
        }) {
            Ok(()) => {
                stats.submitted.fetch_add(1, Ordering::Relaxed);
                Submitted::Queued
            }
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                stats.pending.fetch_sub(1, Ordering::AcqRel);
                stats.dropped_full.fetch_add(1, Ordering::Relaxed);
                Submitted::Dropped
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
                stats.pending.fetch_sub(1, Ordering::AcqRel);
                stats.dropped_shutdown.fetch_add(1, Ordering::Relaxed);
                Submitted::Closed
            }
        }
    }

    /// Queues every evaluator on `input` (each with its own sampling rate).
    pub fn submit_all(&self, input: EvalInput) -> Vec<(String, Submitted)> {
        let target = Context::current();
        let mut names: Vec<&String> = self.inner.evaluators.keys().collect();
        names.sort();
        names
            .into_iter()
            .map(|n| (n.clone(), self.submit_for(target.clone(), n, input.clone())))
            .collect()
    }

    /// The names of the evaluators, sorted.
    pub fn evaluators(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.evaluators.keys().cloned().collect();
        v.sort();
        v
    }

    /// The counters.
    pub fn stats(&self) -> &EvalStats {
        &self.inner.stats
    }

    /// Waits (blocking this thread) until no job is queued or running, at
    /// most `timeout`. Returns whether it got there.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let t = Instant::now();
        loop {
            if self.inner.stats.pending.load(Ordering::Acquire) == 0 {
                return true;
            }
            if t.elapsed() >= timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// [`EvalPipeline::wait_idle`] for async code.
    pub async fn idle(&self, timeout: Duration) -> bool {
        let t = Instant::now();
        loop {
            if self.inner.stats.pending.load(Ordering::Acquire) == 0 {
                return true;
            }
            if t.elapsed() >= timeout {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Stops taking jobs and drains the queue for at most `timeout`; what is
    /// left is dropped and counted (`dropped_shutdown`). Returns whether
    /// everything queued was evaluated. Later calls return at once.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        self.inner.shutdown(timeout)
    }
}

impl Inner {
    fn shutdown(&self, timeout: Duration) -> bool {
        // Dropping the sender closes the queue: workers finish what is queued, then stop.
        self.tx.write().unwrap_or_else(|e| e.into_inner()).take();
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(done) = done else {
            return self.stats.pending.load(Ordering::Acquire) == 0;
        };
        match done.recv_timeout(timeout) {
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => true,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                // Out of time: the rest of the queue is dropped and counted by the workers.
                self.abort.store(true, Ordering::Relaxed);
                false
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let t = self.shutdown_timeout;
        self.shutdown(t);
    }
}
