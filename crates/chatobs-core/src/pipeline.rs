//! The span pipeline: [`start`] installs the span sink and the export thread
//! that batches finished spans into the exporters; dropping the [`Guard`]
//! flushes (bounded by `exporter.shutdown_timeout_ms`) and runs the shutdown
//! hooks the facade added.

use crate::config::{ExporterConfig, ExporterKind, SamplingConfig};
use crate::export::memory::MemoryExporter;
use crate::export::{SpanEncoder, SpanExporter};
use crate::model::{FinishedSpan, KeyValue};
use crate::span::{self, Sink};
use crate::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Counters of the span pipeline (also behind readiness checks and metrics).
#[derive(Debug, Default)]
pub struct PipelineStats {
    /// Spans handed to exporters successfully.
    pub exported: AtomicU64,
    /// Spans in batches an exporter failed on.
    pub export_failed: AtomicU64,
    /// Unix milliseconds of the last successful export (0: none yet).
    pub last_success_ms: AtomicU64,
    /// Unix milliseconds of the first failure since the last success (0: not failing).
    pub failing_since_ms: AtomicU64,
    /// Spans still queued when shutdown's deadline passed.
    pub lost: AtomicU64,
    /// Spans converted and handed to the exporters' thread, not yet
    /// exported or failed.
    in_flight: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl PipelineStats {
    /// The last export error, if the exporters are failing now.
    pub fn last_error(&self) -> Option<String> {
        if self.failing_since_ms.load(Ordering::Relaxed) == 0 {
            return None;
        }
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A point-in-time view of the pipeline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineSnapshot {
    /// Spans waiting to be exported (every thread's lane together, and
    /// the batches handed to the exporters' thread not yet exported).
    pub queued: usize,
    /// About how many bytes they hold (bounded by `exporter.max_queue_bytes`).
    pub queued_bytes: usize,
    /// Queue capacity: what each thread's lane holds at most
    /// (`exporter.queue_size`; the byte budget bounds them together).
    pub capacity: usize,
    /// Spans dropped because the queue was full (or the pipeline closed).
    pub dropped: u64,
    /// Spans exported.
    pub exported: u64,
    /// Spans whose export failed.
    pub export_failed: u64,
    /// How long exports have been failing (None when they are not).
    pub failing_for: Option<Duration>,
    /// Spans still queued when shutdown's deadline passed (never exported).
    pub lost: u64,
}

enum Ctl {
    Flush(mpsc::SyncSender<()>),
    Shutdown(mpsc::SyncSender<()>),
}

struct Shared {
    sink: &'static Sink,
    stats: Arc<PipelineStats>,
    ctl: mpsc::Sender<Ctl>,
    worker: std::thread::Thread,
}

static CURRENT: Mutex<Option<Arc<Shared>>> = Mutex::new(None);

/// A function that sees every batch of finished spans on the export thread,
/// off the request path (chatobs' metrics use it for span durations and errors).
pub type SpanObserver = fn(&[FinishedSpan]);
static SPAN_OBSERVER: std::sync::OnceLock<SpanObserver> = std::sync::OnceLock::new();

/// Sets the span observer (once per process; returns false if one was set).
pub fn set_span_observer(observer: SpanObserver) -> bool {
    SPAN_OBSERVER.set(observer).is_ok()
}

/// Keeps the pipeline installed; dropping it flushes (bounded by
/// `exporter.shutdown_timeout_ms`) and uninstalls it.
#[must_use = "dropping the guard shuts chatobs down"]
pub struct Guard {
    shared: Arc<Shared>,
    memory: Option<MemoryExporter>,
    shutdown_timeout: Duration,
    on_shutdown: Vec<Box<dyn FnOnce(Instant) + Send>>,
    before_shutdown: Vec<Box<dyn FnOnce() + Send>>,
    done: bool,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("snapshot", &self.snapshot())
            .finish()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Builds one exporter on the export thread (an exporter that needs a
/// runtime or a connection is created where it runs).
pub type ExporterFactory = Box<dyn FnOnce() -> Result<Box<dyn SpanExporter>, Error> + Send>;

/// Wraps a ready exporter as a factory.
pub fn ready(e: Box<dyn SpanExporter>) -> ExporterFactory {
    Box::new(move || Ok(e))
}

/// Builds the file, console and memory exporters `kinds` names (the kinds
/// that need another crate, `otlp`, and `auto`/`none` are skipped: the
/// caller resolves them). Returns the factories and the memory exporter, if any.
pub fn local_exporters(
    kinds: &[ExporterKind],
    exporter: &ExporterConfig,
    service_name: &str,
) -> Result<(Vec<ExporterFactory>, Option<MemoryExporter>), Error> {
    let mut factories: Vec<ExporterFactory> = Vec::new();
    let mut memory = None;
    for kind in kinds {
        match kind {
            ExporterKind::File => {
                let f = crate::export::file::FileExporter::open(&exporter.file_path, service_name)?;
                factories.push(ready(Box::new(f)));
            }
            ExporterKind::Console => {
                factories.push(ready(Box::new(crate::export::console::ConsoleExporter)))
            }
            ExporterKind::Memory => {
                let m = MemoryExporter::new();
                memory = Some(m.clone());
                factories.push(ready(Box::new(m)));
            }
            ExporterKind::Otlp | ExporterKind::None | ExporterKind::Auto => {}
        }
    }
    Ok((factories, memory))
}

/// Starts the span pipeline: installs the span sink with `sampling`'s
/// sampler and the export thread that drains it into `exporters`, batched
/// as `exporter` says. Dropping the returned guard flushes and uninstalls it.
///
/// This is the core's part of start-up; `chatobs_runtime::init` calls it
/// after configuring the other parts, and most users call that instead.
///
/// ```
/// use chatobs_core::config::{ExporterConfig, ExporterKind, SamplingConfig};
/// let exporter = ExporterConfig::default();
/// let (factories, memory) =
///     chatobs_core::pipeline::local_exporters(&[ExporterKind::Memory], &exporter, "doc").unwrap();
/// let guard = chatobs_core::pipeline::start(&exporter, &SamplingConfig::default(), factories, memory).unwrap();
/// drop(chatobs_core::SpanBuilder::new("hello").start()); // ends it
/// assert_eq!(guard.memory_spans().len(), 1);
/// ```
pub fn start(
    exporter: &ExporterConfig,
    sampling: &SamplingConfig,
    factories: Vec<ExporterFactory>,
    memory: Option<MemoryExporter>,
) -> Result<Guard, Error> {
    let mut current = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    if current.is_some() {
        return Err(Error::AlreadyInitialized);
    }
    let sampler = sampling
        .sampler()
        .map_err(|r| Error::config(None, "sampling.sampler", r))?;
    let sink: &'static Sink = Box::leak(Box::new(Sink::new(
        exporter.queue_size,
        usize::try_from(exporter.max_queue_bytes).unwrap_or(usize::MAX),
        sampler,
        exporter.batch_size,
    )));
    let stats = Arc::new(PipelineStats::default());
    let (ctl_tx, ctl_rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), Error>>(1);
    let worker_stats = stats.clone();
    let batch = exporter.batch_size;
    let delay = Duration::from_millis(exporter.scheduled_delay_ms);
    let handle = std::thread::Builder::new()
        .name("chatobs-export".into())
        .spawn(move || {
            let mut exporters = Vec::new();
            for f in factories {
                match f() {
                    Ok(e) => exporters.push(e),
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                }
            }
            // Every exporter encodes on this thread, or none does (see
            // `SpanExporter::encoder`).
            let encoders = exporters
                .iter()
                .map(|e| e.encoder())
                .collect::<Option<Vec<_>>>()
                .unwrap_or_default();
            // The exporters run on a thread of their own (writing, sending,
            // and encoding for those that do not encode here), fed one batch
            // at a time: this thread drains and converts the next batch
            // meanwhile (see `Sender`). With no
            // exporter (`exporter = none`: metrics and hooks only) there is
            // nothing to hand over, and no thread to wait for.
            let (to_sender, back_rx) = if exporters.is_empty() {
                let (_, back_rx) = mpsc::channel::<Vec<FinishedSpan>>();
                (None, back_rx)
            } else {
                let (to_sender, from_worker) = mpsc::sync_channel::<ToSender>(1);
                let (back_tx, back_rx) = mpsc::channel::<Vec<FinishedSpan>>();
                let sender_stats = worker_stats.clone();
                let sender = std::thread::Builder::new()
                    .name("chatobs-exporter".into())
                    .spawn(move || {
                        Sender {
                            exporters,
                            stats: sender_stats,
                            rx: from_worker,
                            back: back_tx,
                            last_logged: None,
                            sink,
                        }
                        .run()
                    });
                if let Err(e) = sender {
                    let _ = ready_tx.send(Err(Error::Exporter {
                        exporter: "pipeline",
                        reason: format!("cannot start the exporter thread: {e}"),
                    }));
                    return;
                }
                (Some(to_sender), back_rx)
            };
            let _ = ready_tx.send(Ok(()));
            Worker {
                sink,
                stats: worker_stats,
                batch,
                delay,
                ctl: ctl_rx,
                to_sender,
                back: back_rx,
                vecs: Vec::new(),
                pool: Vec::new(),
                spare: Vec::new(),
                buf_sizes: vec![0; encoders.len()],
                encoders,
            }
            .run();
        })
        .map_err(|e| Error::Exporter {
            exporter: "pipeline",
            reason: format!("cannot start the export thread: {e}"),
        })?;
    match ready_rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(Error::Exporter {
                exporter: "pipeline",
                reason: "the export thread stopped while starting".into(),
            })
        }
    }
    let _ = sink.worker.set(handle.thread().clone());
    let shared = Arc::new(Shared {
        sink,
        stats,
        ctl: ctl_tx,
        worker: handle.thread().clone(),
    });
    crate::clock::resync();
    span::install_sink(sink);
    span::install_panic_hook();
    *current = Some(shared.clone());
    Ok(Guard {
        shared,
        memory,
        shutdown_timeout: Duration::from_millis(exporter.shutdown_timeout_ms),
        on_shutdown: Vec::new(),
        before_shutdown: Vec::new(),
        done: false,
    })
}

/// Counters of the installed pipeline, if any.
pub fn snapshot() -> Option<PipelineSnapshot> {
    CURRENT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|s| snap(s))
}

fn snap(s: &Shared) -> PipelineSnapshot {
    let since = s.stats.failing_since_ms.load(Ordering::Relaxed);
    PipelineSnapshot {
        queued: s.sink.queued()
            + usize::try_from(s.stats.in_flight.load(Ordering::Relaxed)).unwrap_or(usize::MAX),
        queued_bytes: s.sink.bytes.load(Ordering::Relaxed),
        capacity: s.sink.capacity(),
        dropped: s.sink.dropped.load(Ordering::Relaxed),
        exported: s.stats.exported.load(Ordering::Relaxed),
        export_failed: s.stats.export_failed.load(Ordering::Relaxed),
        failing_for: (since != 0).then(|| Duration::from_millis(now_ms().saturating_sub(since))),
        lost: s.stats.lost.load(Ordering::Relaxed),
    }
}

impl Guard {
    /// Exports everything queued so far and waits (at most `timeout`).
    /// Returns false on timeout.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (tx, rx) = mpsc::sync_channel(1);
        if self.shared.ctl.send(Ctl::Flush(tx)).is_err() {
            return false;
        }
        self.shared.worker.unpark();
        rx.recv_timeout(timeout).is_ok()
    }

    /// Counters: queued, dropped, exported, failing.
    pub fn snapshot(&self) -> PipelineSnapshot {
        snap(&self.shared)
    }

    /// Pipeline statistics (shared with readiness checks).
    pub fn stats(&self) -> Arc<PipelineStats> {
        self.shared.stats.clone()
    }

    /// Flushes and returns the spans of the `memory` exporter (empty when it is not configured).
    pub fn memory_spans(&self) -> Vec<FinishedSpan> {
        self.flush(Duration::from_secs(10));
        self.memory.as_ref().map(|m| m.spans()).unwrap_or_default()
    }

    /// Runs `hook` when the guard shuts down, after the spans were flushed
    /// (in the order the hooks were added), with the shutdown's deadline: the
    /// spans, and every hook, share one `exporter.shutdown_timeout_ms`.
    /// `chatobs_runtime::init` uses it to stop alerts, flush logs and push
    /// the last metrics.
    pub fn on_shutdown(&mut self, hook: impl FnOnce(Instant) + Send + 'static) {
        self.on_shutdown.push(Box::new(hook));
    }

    /// Runs `hook` at shutdown before spans stop being exported (what
    /// emits last spans, such as conversations closed at shutdown).
    pub fn before_shutdown(&mut self, hook: impl FnOnce() + Send + 'static) {
        self.before_shutdown.push(Box::new(hook));
    }

    /// Shuts down now (what dropping does), returning false if the export
    /// thread did not finish within the shutdown timeout.
    pub fn shutdown(mut self) -> bool {
        self.shutdown_inner()
    }

    fn shutdown_inner(&mut self) -> bool {
        if self.done {
            return true;
        }
        self.done = true;
        // What still makes spans (closing conversations) runs while they export.
        for hook in self.before_shutdown.drain(..) {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(hook));
        }
        let deadline = Instant::now() + self.shutdown_timeout;
        span::uninstall_sink(self.shared.sink);
        let (tx, rx) = mpsc::sync_channel(1);
        let ok = self.shared.ctl.send(Ctl::Shutdown(tx)).is_ok() && {
            self.shared.worker.unpark();
            rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .is_ok()
        };
        self.shared.sink.closed.store(true, Ordering::Release);
        if !ok {
            // The export thread is still busy (a hanging collector): what is
            // still queued will not be exported. Count it (never drop it
            // silently) and free it (the sink itself stays: late spans may
            // still hold it).
            let mut freed = 0;
            let left = self.shared.sink.drain(usize::MAX, &mut freed, |r| {
                r.attrs.clear();
                r.events.clear();
            });
            self.shared.sink.release(freed);
            // (Batches already in the exporters' hands are theirs: counted
            // as exported or failed when the exporter returns.)
            self.shared
                .stats
                .lost
                .fetch_add(left as u64, Ordering::Relaxed);
        }
        for hook in self.on_shutdown.drain(..) {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(deadline)));
        }
        let s = snap(&self.shared);
        if s.dropped > 0 || s.export_failed > 0 || s.lost > 0 {
            eprintln!(
                "{}",
                shutdown_summary(&s, self.shared.stats.last_error().as_deref())
            );
        }
        let mut cur = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
        if cur.as_ref().is_some_and(|c| Arc::ptr_eq(c, &self.shared)) {
            *cur = None;
        }
        ok
    }
}

/// The line printed on standard error at shutdown when spans were dropped,
/// failed to export or were lost (nothing is printed when all went out).
pub fn shutdown_summary(s: &PipelineSnapshot, last_error: Option<&str>) -> String {
    let mut line = format!(
        "chatobs: {} spans exported, {} dropped (queue full), {} failed to export, {} lost at shutdown",
        s.exported, s.dropped, s.export_failed, s.lost
    );
    if let Some(e) = last_error {
        line.push_str(&format!(
            " (last export error: {})",
            crate::redact::truncate(e, 200)
        ));
    }
    line
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shutdown_inner();
    }
}

/// What the export thread hands the sender thread, in order.
enum ToSender {
    Batch(Vec<FinishedSpan>),
    /// A batch each exporter's encoder wrote (in the exporters' order):
    /// its bytes and the part of them to send, for `spans` spans.
    Encoded {
        parts: Vec<(Vec<u8>, std::ops::Range<usize>)>,
        spans: usize,
    },
    /// Flush the exporters (everything sent before is exported), then ack.
    Flush(mpsc::SyncSender<()>),
    /// Flush and shut the exporters down, ack, and stop.
    Shutdown(Option<mpsc::SyncSender<()>>),
}

/// The export thread: drains the lanes, converts records to finished spans
/// (into spans kept from earlier batches), runs the span observer (metrics),
/// and hands each batch to the [`Sender`]: as spans, or as the bytes the
/// exporters' encoders wrote here (`drain_encoded`).
struct Worker {
    sink: &'static Sink,
    stats: Arc<PipelineStats>,
    batch: usize,
    delay: Duration,
    ctl: mpsc::Receiver<Ctl>,
    /// The exporters' thread (`None`: no exporter, batches are done here).
    to_sender: Option<mpsc::SyncSender<ToSender>>,
    /// Batches the sender has exported, back for reuse.
    back: mpsc::Receiver<Vec<FinishedSpan>>,
    /// Batch vectors, each with the spans of its last batch (converted into
    /// again by the next one).
    vecs: Vec<Vec<FinishedSpan>>,
    /// Spans of earlier batches, overwritten by the next ones.
    pool: Vec<FinishedSpan>,
    /// Where a converted span's old values wait for the record that takes
    /// them back to their thread (`Record::move_into`); empty between spans.
    spare: Vec<KeyValue>,
    /// The exporters' encoders, when every exporter has one: batches are
    /// then encoded here, a chunk at a time, and only their bytes go to the
    /// sender (see `SpanExporter::encoder`).
    encoders: Vec<Box<dyn SpanEncoder>>,
    /// The size of each encoder's last batch, the room of its next buffer.
    buf_sizes: Vec<usize>,
}

impl Worker {
    fn run(mut self) {
        loop {
            // The span clock follows the system clock (NTP, TSC drift).
            crate::clock::resync();
            self.drain();
            loop {
                match self.ctl.try_recv() {
                    Ok(Ctl::Flush(ack)) => {
                        self.drain();
                        match &self.to_sender {
                            Some(tx) => {
                                let _ = tx.send(ToSender::Flush(ack));
                            }
                            None => {
                                let _ = ack.send(());
                            }
                        }
                    }
                    Ok(Ctl::Shutdown(ack)) => {
                        // Spans that were running when the sink was uninstalled still land here.
                        self.drain();
                        match &self.to_sender {
                            Some(tx) => {
                                let _ = tx.send(ToSender::Shutdown(Some(ack)));
                            }
                            None => {
                                let _ = ack.send(());
                            }
                        }
                        return;
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        self.drain();
                        if let Some(tx) = &self.to_sender {
                            let _ = tx.send(ToSender::Shutdown(None));
                        }
                        return;
                    }
                }
            }
            if self.sink.queued() < self.batch {
                // Asleep from now: the next bot to push a batch wakes us
                // (checked again after the flag, so no wake-up is lost; an
                // unpark before the park makes it return at once).
                self.sink.woken.store(false, Ordering::SeqCst);
                if self.sink.queued() < self.batch {
                    std::thread::park_timeout(self.delay);
                }
            }
        }
    }

    /// A batch the exporters are done with: kept with its spans, which the
    /// next batch's records are converted into where they lie (no
    /// allocation, and no span moved, per span in a steady state).
    fn recycle(&mut self, v: Vec<FinishedSpan>) {
        self.vecs.push(v);
    }

    /// Converts up to `max` queued records into `batch`'s spans (reusing
    /// them, then the pool's); returns how many, the length `batch` is left
    /// with.
    fn convert(&mut self, max: usize, batch: &mut Vec<FinishedSpan>) -> usize {
        let mut freed = 0;
        let mut used = 0;
        let pool = &mut self.pool;
        let spare = &mut self.spare;
        self.sink.drain(max, &mut freed, |r| {
            // The room of the spans a few ahead, asked for now (see
            // `prefetch_room`): their attribute lists eight spans
            // ahead, the tag lists in them four ahead.
            if let Some(f) = batch.get(used + 8) {
                crate::span::prefetch_room(f, true);
            }
            if let Some(f) = batch.get(used + 4) {
                crate::span::prefetch_room(f, false);
            }
            // The record's values move into the span, and the span's old
            // ones go back to the bot threads in the record (its lists'
            // room kept): nothing to copy here, nothing of theirs to free.
            if let Some(f) = batch.get_mut(used) {
                r.move_into(f, spare);
            } else if let Some(mut f) = pool.pop() {
                r.move_into(&mut f, spare);
                batch.push(f);
            } else {
                let mut f = crate::model::FinishedSpan::empty();
                r.move_into(&mut f, spare);
                batch.push(f);
            }
            used += 1;
        });
        self.sink.release(freed);
        // A shorter batch than the one before: the spans it did not
        // reuse wait in the pool (at most four batches' worth).
        if batch.len() > used {
            let keep = (4 * self.batch).saturating_sub(pool.len());
            let tail = batch.drain(used..);
            pool.extend(tail.take(keep));
        }
        batch.len()
    }

    fn drain(&mut self) {
        if !self.encoders.is_empty() {
            return self.drain_encoded();
        }
        // With no exporter the batch ends here: converted in chunks of
        // `LOCAL_CHUNK`, the spans reused for the next chunk are still in
        // this core's caches (see `LOCAL_CHUNK`).
        let max = match self.to_sender {
            Some(_) => self.batch,
            None => self.batch.min(LOCAL_CHUNK),
        };
        loop {
            // Batches the sender is done with: their spans are overwritten
            // by the next ones (no allocation per span in a steady state).
            while let Ok(v) = self.back.try_recv() {
                self.recycle(v);
            }
            let mut batch = self
                .vecs
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(self.batch));
            let n = self.convert(max, &mut batch);
            if n == 0 {
                self.vecs.push(batch);
                return;
            }
            observe(&batch);
            let Some(to_sender) = &self.to_sender else {
                // No exporter: the batch is done (counted as the sender
                // counts a batch every exporter took) and its spans reused.
                self.stats.exported.fetch_add(n as u64, Ordering::Relaxed);
                self.stats
                    .last_success_ms
                    .store(now_ms(), Ordering::Relaxed);
                self.recycle(batch);
                if n < max {
                    return;
                }
                continue;
            };
            if !self.hand_over(to_sender, ToSender::Batch(batch), n) {
                return;
            }
            if n < self.batch {
                return;
            }
        }
    }

    /// Hands `msg`, a batch of `n` spans, to the sender (waiting while it
    /// still works on the one before: a slow or hanging exporter fills the
    /// lanes meanwhile, and they drop, counted). `false`: the sender is
    /// gone, and the spans are counted lost.
    fn hand_over(&self, to_sender: &mpsc::SyncSender<ToSender>, msg: ToSender, n: usize) -> bool {
        self.stats.in_flight.fetch_add(n as u64, Ordering::Relaxed);
        if to_sender.send(msg).is_ok() {
            return true;
        }
        let _ = self
            .stats
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n as u64))
            });
        self.stats.lost.fetch_add(n as u64, Ordering::Relaxed);
        false
    }

    /// `drain` when every exporter encodes here: records are converted
    /// `LOCAL_CHUNK` at a time into the same spans, observed, and appended
    /// by each encoder to its batch's bytes; a batch of
    /// `exporter.batch_size` spans (or what was queued) goes to the sender
    /// as bytes. The spans never leave this thread, and the ones reused
    /// for the next chunk are still in its caches.
    fn drain_encoded(&mut self) {
        let Some(to_sender) = self.to_sender.clone() else {
            return;
        };
        let mut chunk = self
            .vecs
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(LOCAL_CHUNK));
        loop {
            let mut bufs: Vec<Vec<u8>> = Vec::new();
            let mut spans = 0;
            let mut more = true;
            while spans < self.batch {
                let want = (self.batch - spans).min(LOCAL_CHUNK);
                let n = self.convert(want, &mut chunk);
                if n == 0 {
                    more = false;
                    break;
                }
                observe(&chunk);
                if bufs.is_empty() {
                    // A batch's buffers, sized like the last ones.
                    for (e, size) in self.encoders.iter_mut().zip(&self.buf_sizes) {
                        let mut b = Vec::with_capacity(*size);
                        e.begin(&mut b);
                        bufs.push(b);
                    }
                }
                for (e, b) in self.encoders.iter_mut().zip(bufs.iter_mut()) {
                    e.append(&chunk, b);
                }
                spans += n;
                if n < want {
                    more = false;
                    break;
                }
            }
            if spans == 0 {
                break;
            }
            let mut parts = Vec::with_capacity(bufs.len());
            for ((e, size), mut b) in self
                .encoders
                .iter_mut()
                .zip(self.buf_sizes.iter_mut())
                .zip(bufs)
            {
                let range = e.finish(&mut b, spans);
                // The next buffer's room (a huge batch's is not kept).
                *size = b.len().min(1 << 24);
                parts.push((b, range));
            }
            if !self.hand_over(&to_sender, ToSender::Encoded { parts, spans }, spans) || !more {
                break;
            }
        }
        self.vecs.push(chunk);
    }
}

/// Runs the span observer (the metrics) on converted spans.
fn observe(spans: &[FinishedSpan]) {
    if let Some(observe) = SPAN_OBSERVER.get() {
        let _ = std::panic::catch_unwind(|| observe(spans));
    }
}

/// How many records the export thread converts at a time when no exporter
/// takes batches of spans (`exporter = none`, where the spans are converted
/// for the span observer, the metrics; or exporters that encode on this
/// thread): the spans are reused at once. A batch's spans with their
/// attribute lists are about 1 MB for 512 spans, this core's whole L2: the
/// next batch found the spans it reuses evicted, and reading their old
/// lists was a third of the conversion (perf annotate, `throughput`
/// discarding). 64 spans stay in the caches from one chunk to the next.
/// With exporters that take spans, a batch is what they take
/// (`exporter.batch_size`).
const LOCAL_CHUNK: usize = 64;

/// The sender thread: calls the exporters with each batch (or its encoded
/// bytes), counts what they exported or failed on, and hands a batch of
/// spans back for reuse.
struct Sender {
    exporters: Vec<Box<dyn SpanExporter>>,
    stats: Arc<PipelineStats>,
    rx: mpsc::Receiver<ToSender>,
    back: mpsc::Sender<Vec<FinishedSpan>>,
    last_logged: Option<String>,
    sink: &'static Sink,
}

impl Sender {
    fn run(mut self) {
        while let Ok(msg) = self.rx.recv() {
            match msg {
                ToSender::Batch(batch) => {
                    self.export(&batch);
                    let n = batch.len() as u64;
                    let _ = self.stats.in_flight.fetch_update(
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                        |v| Some(v.saturating_sub(n)),
                    );
                    let _ = self.back.send(batch);
                }
                ToSender::Encoded { parts, spans } => {
                    let mut failed: Option<String> = None;
                    for (e, (buf, range)) in self.exporters.iter_mut().zip(parts) {
                        if let Err(err) = e.export_encoded(buf, range, spans) {
                            failed = Some(format!("{}: {err}", e.name()));
                        }
                    }
                    self.count(spans, failed);
                    let _ = self.stats.in_flight.fetch_update(
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                        |v| Some(v.saturating_sub(spans as u64)),
                    );
                }
                ToSender::Flush(ack) => {
                    for e in &mut self.exporters {
                        let _ = e.flush();
                    }
                    let _ = ack.send(());
                }
                ToSender::Shutdown(ack) => {
                    for e in &mut self.exporters {
                        let _ = e.flush();
                        let _ = e.shutdown();
                    }
                    if let Some(ack) = ack {
                        let _ = ack.send(());
                    }
                    return;
                }
            }
        }
        for e in &mut self.exporters {
            let _ = e.shutdown();
        }
    }

    fn export(&mut self, batch: &[FinishedSpan]) {
        let mut failed: Option<String> = None;
        for e in &mut self.exporters {
            if let Err(err) = e.export(batch) {
                failed = Some(format!("{}: {err}", e.name()));
            }
        }
        self.count(batch.len(), failed);
    }

    /// Counts a batch of `n` spans every exporter took (`failed`: the last
    /// exporter's error, when one failed).
    fn count(&mut self, n: usize, failed: Option<String>) {
        let n = n as u64;
        match failed {
            None => {
                self.stats.exported.fetch_add(n, Ordering::Relaxed);
                self.stats
                    .last_success_ms
                    .store(now_ms(), Ordering::Relaxed);
                self.stats.failing_since_ms.store(0, Ordering::Relaxed);
            }
            Some(err) => {
                self.stats.export_failed.fetch_add(n, Ordering::Relaxed);
                let first_since_success = self
                    .stats
                    .failing_since_ms
                    .compare_exchange(0, now_ms(), Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok();
                // Each distinct failure is logged once (and again only after a
                // success): a dead collector must not flood the logs, and the
                // counters (`export_failed`, the metric, /health/ready) carry the rest.
                let repeated =
                    !first_since_success && self.last_logged.as_deref() == Some(err.as_str());
                if !repeated {
                    self.last_logged = Some(err.clone());
                    tracing::warn!(target: "chatobs::export", spans = n, dropped_so_far = self.sink.dropped.load(Ordering::Relaxed), "span export failed: {err} (logged once; failures are counted in export_failed)");
                }
                *self
                    .stats
                    .last_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(err);
            }
        }
    }
}
