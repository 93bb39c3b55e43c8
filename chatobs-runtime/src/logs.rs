//! JSON logs with chat context.
//!
//! Every line is one JSON object: `timestamp`, `level`, `target`,
//! `message`, the event's fields, and, inside a chat span or session,
//! `trace_id`, `span_id` and `chat.session_id`. Fields named in
//! `redaction.fields` (message text, phone numbers, secrets) are replaced by
//! `[REDACTED]`, and free text is scanned for phone numbers and e-mail
//! addresses, so `info!(text = %msg.text, "got message")` never writes the
//! user's words.
//!
//! [`crate::init`] installs this as the global subscriber when none is set.
//! If your application has its own subscriber, add [`layer`] to it.

use crate::config::LogsConfig;
use crate::context::current_frame;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// Where log lines go.
pub enum LogOutput {
    /// Standard error.
    Stderr,
    /// Standard output.
    Stdout,
    /// Any writer (a file, a buffer in tests).
    Writer(Box<dyn Write + Send>),
}

/// The JSON log layer.
pub struct JsonLogLayer {
    out: Sink,
}

enum Sink {
    /// Written on the logging thread (tests, small tools).
    Direct(Mutex<LogOutput>),
    /// Handed to a writer thread (what `init` installs).
    Background(Arc<Background>),
}

/// A writer thread fed by a bounded lock-free queue: a bot never waits for a
/// disk or a pipe, and is not woken for either. The writer wakes every
/// 100 ms, or at once when 256 lines wait or on [`flush`]. When the queue is
/// full the line is dropped and counted ([`dropped`]).
struct Background {
    queue: crossbeam_queue::ArrayQueue<String>,
    dropped: AtomicU64,
    writer: OnceLock<std::thread::Thread>,
    /// Flush requests and completions (generation counters).
    flush: Mutex<(u64, u64)>,
    flushed: std::sync::Condvar,
}

const WAKE_AT: usize = 256;

static BACKGROUND: OnceLock<Arc<Background>> = OnceLock::new();

impl Background {
    fn start(out: LogOutput, capacity: usize) -> Result<Arc<Background>, crate::Error> {
        let bg = Arc::new(Background {
            queue: crossbeam_queue::ArrayQueue::new(capacity.max(1)),
            dropped: AtomicU64::new(0),
            writer: OnceLock::new(),
            flush: Mutex::new((0, 0)),
            flushed: std::sync::Condvar::new(),
        });
        let me = bg.clone();
        let handle = std::thread::Builder::new()
            .name("chatobs-logs".into())
            .spawn(move || {
                let mut w: Box<dyn Write> = match out {
                    LogOutput::Stderr => Box::new(std::io::BufWriter::new(std::io::stderr())),
                    LogOutput::Stdout => Box::new(std::io::BufWriter::new(std::io::stdout())),
                    LogOutput::Writer(w) => Box::new(std::io::BufWriter::new(w)),
                };
                loop {
                    let wanted = me.flush.lock().unwrap_or_else(|e| e.into_inner()).0;
                    let mut wrote = false;
                    while let Some(line) = me.queue.pop() {
                        let _ = w.write_all(line.as_bytes());
                        wrote = true;
                    }
                    if wrote {
                        let _ = w.flush();
                    }
                    {
                        let mut f = me.flush.lock().unwrap_or_else(|e| e.into_inner());
                        if f.1 < wanted {
                            f.1 = wanted;
                            me.flushed.notify_all();
                        }
                    }
                    if me.queue.is_empty() {
                        std::thread::park_timeout(std::time::Duration::from_millis(100));
                    }
                }
            })
            .map_err(|e| {
                crate::Error::InvalidInput(format!("cannot start the log writer thread: {e}"))
            })?;
        let _ = bg.writer.set(handle.thread().clone());
        Ok(bg)
    }

    fn push(&self, line: String) {
        match self.queue.push(line) {
            Ok(()) => {
                if self.queue.len() == WAKE_AT {
                    if let Some(t) = self.writer.get() {
                        t.unpark();
                    }
                }
            }
            Err(_) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Waits (at most `timeout`) until every log line written so far by the
/// layer `init` installed has reached its output. [`crate::Guard`] calls it
/// when dropped.
pub fn flush(timeout: std::time::Duration) -> bool {
    let Some(b) = BACKGROUND.get() else {
        return true;
    };
    let mut f = b.flush.lock().unwrap_or_else(|e| e.into_inner());
    f.0 += 1;
    let target = f.0;
    if let Some(t) = b.writer.get() {
        t.unpark();
    }
    let (f, res) = b
        .flushed
        .wait_timeout_while(f, timeout, |f| f.1 < target)
        .unwrap_or_else(|e| e.into_inner());
    drop(f);
    !res.timed_out()
}

/// Log lines dropped because the writer thread fell behind.
pub fn dropped() -> u64 {
    BACKGROUND
        .get()
        .map_or(0, |b| b.dropped.load(Ordering::Relaxed))
}

impl std::fmt::Debug for JsonLogLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JsonLogLayer")
    }
}

/// A layer writing to standard error.
pub fn layer() -> JsonLogLayer {
    layer_to(LogOutput::Stderr)
}

/// A layer writing to `out`.
pub fn layer_to(out: LogOutput) -> JsonLogLayer {
    JsonLogLayer {
        out: Sink::Direct(Mutex::new(out)),
    }
}

/// Installs `registry + EnvFilter + JsonLogLayer` as the global subscriber.
/// Fails (harmlessly) when the application already installed one.
pub fn install_global(cfg: &LogsConfig) -> Result<(), crate::Error> {
    use tracing_subscriber::layer::SubscriberExt;
    let out = match cfg.output.as_str() {
        "stderr" => LogOutput::Stderr,
        "stdout" => LogOutput::Stdout,
        path => {
            let p = std::path::Path::new(path);
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| crate::Error::Io {
                    path: dir.to_path_buf(),
                    source: e,
                })?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| crate::Error::Io {
                    path: p.to_path_buf(),
                    source: e,
                })?;
            LogOutput::Writer(Box::new(f))
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&cfg.level))
        .map_err(|e| {
            crate::Error::config(
                None,
                "logs.level",
                format!("{e}: use EnvFilter syntax such as `info` or `info,my_bot=debug`"),
            )
        })?;
    let bg = Background::start(out, 16 * 1024)?;
    let layer = JsonLogLayer {
        out: Sink::Background(bg.clone()),
    };
    let sub = tracing_subscriber::registry().with(filter).with(layer);
    let installed = tracing::subscriber::set_global_default(sub);
    if installed.is_ok() {
        let _ = BACKGROUND.set(bg);
    }
    installed.map_err(|_| crate::Error::InvalidInput("a global tracing subscriber is already installed; add chatobs_runtime::logs::layer() to it".into()))
}

struct JsonVisitor<'a> {
    message: String,
    fields: &'a mut serde_json::Map<String, serde_json::Value>,
}

impl JsonVisitor<'_> {
    fn put(&mut self, field: &Field, v: serde_json::Value) {
        let name = field.name();
        if crate::redact::is_redacted_field(name) {
            self.fields
                .insert(name.to_owned(), crate::redact::REDACTED.into());
        } else {
            self.fields.insert(name.to_owned(), v);
        }
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(&crate::redact::text(value));
        } else {
            let v = crate::redact::text(value).into_owned();
            self.put(field, v.into());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut s = String::new();
        let _ = write!(s, "{value:?}");
        if field.name() == "message" {
            self.message.push_str(&crate::redact::text(&s));
        } else {
            let v = crate::redact::text(&s).into_owned();
            self.put(field, v.into());
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(
            field,
            serde_json::Number::from_f64(value).map_or(serde_json::Value::Null, Into::into),
        );
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
}

/// The JSON object for one event (what [`JsonLogLayer`] writes).
pub fn event_json(event: &Event<'_>) -> serde_json::Value {
    let meta = event.metadata();
    let mut fields = serde_json::Map::new();
    let mut v = JsonVisitor {
        message: String::new(),
        fields: &mut fields,
    };
    event.record(&mut v);
    let message = std::mem::take(&mut v.message);
    let mut obj = serde_json::Map::new();
    let ts = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    obj.insert("timestamp".into(), ts.into());
    obj.insert("level".into(), meta.level().as_str().into());
    obj.insert("target".into(), meta.target().into());
    obj.insert("message".into(), message.into());
    let f = current_frame();
    if f.trace_id != 0 {
        obj.insert("trace_id".into(), format!("{:032x}", f.trace_id).into());
        obj.insert("span_id".into(), format!("{:016x}", f.span_id).into());
    }
    // SAFETY: the frame's session pointer is alive while the frame is entered.
    if let Some(s) = unsafe { crate::context::session_from_ptr(f.session) } {
        obj.insert(crate::vocab::CHAT_SESSION_ID.into(), s.id().into());
    }
    for (k, val) in fields {
        obj.entry(k).or_insert(val);
    }
    serde_json::Value::Object(obj)
}

impl<S: Subscriber> Layer<S> for JsonLogLayer {
    fn register_callsite(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        // Spans are chatobs' business, not the log's: decline them so the
        // registry never builds them on chatobs' account.
        if meta.is_span() {
            tracing::subscriber::Interest::never()
        } else {
            tracing::subscriber::Interest::always()
        }
    }

    fn enabled(&self, meta: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        meta.is_event()
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut line = event_json(event).to_string();
        line.push('\n');
        let out = match &self.out {
            Sink::Background(b) => {
                b.push(line);
                return;
            }
            Sink::Direct(out) => out,
        };
        let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = match &mut *out {
            LogOutput::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
            LogOutput::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
            LogOutput::Writer(w) => w.write_all(line.as_bytes()).and_then(|_| w.flush()),
        };
    }
}
