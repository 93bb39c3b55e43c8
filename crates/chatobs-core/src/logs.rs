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
//! `chatobs_runtime::init` installs this (with the `tracing` bridge,
//! [`crate::bridge`]) as the global subscriber when none is set. If your
//! application has its own subscriber, add [`layer`] to it.

use crate::config::LogsConfig;
use crate::context::current_frame;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

type FilterCx<'a, S> = Context<'a, S>;

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
    /// Written lines' buffers, cleared and handed back to the logging
    /// threads to write the next line into: the writer never frees a
    /// bot's memory (with glibc's malloc that takes the bot's arena lock).
    spare: crossbeam_queue::ArrayQueue<String>,
    dropped: AtomicU64,
    writer: OnceLock<std::thread::Thread>,
    /// Flush requests and completions (generation counters).
    flush: Mutex<(u64, u64)>,
    flushed: std::sync::Condvar,
    /// Set when the layer could not be installed: the writer thread ends.
    stopped: std::sync::atomic::AtomicBool,
}

const WAKE_AT: usize = 256;
/// Spare line buffers kept, and the largest one kept.
const SPARE_MAX: usize = 256;
const SPARE_BYTES: usize = 4096;

static BACKGROUND: OnceLock<Arc<Background>> = OnceLock::new();

impl Background {
    fn start(out: LogOutput, capacity: usize) -> Result<Arc<Background>, crate::Error> {
        let bg = Arc::new(Background {
            queue: crossbeam_queue::ArrayQueue::new(capacity.max(1)),
            spare: crossbeam_queue::ArrayQueue::new(SPARE_MAX),
            dropped: AtomicU64::new(0),
            writer: OnceLock::new(),
            flush: Mutex::new((0, 0)),
            flushed: std::sync::Condvar::new(),
            stopped: std::sync::atomic::AtomicBool::new(false),
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
                    let tap = line_sink();
                    while let Some(mut line) = me.queue.pop() {
                        let _ = w.write_all(line.as_bytes());
                        if let Some(t) = &tap {
                            t.line(&line);
                        }
                        wrote = true;
                        if line.capacity() <= SPARE_BYTES {
                            line.clear();
                            let _ = me.spare.push(line);
                        }
                    }
                    if wrote {
                        let _ = w.flush();
                        if let Some(t) = &tap {
                            t.flush();
                        }
                    }
                    {
                        let mut f = me.flush.lock().unwrap_or_else(|e| e.into_inner());
                        if f.1 < wanted {
                            f.1 = wanted;
                            me.flushed.notify_all();
                        }
                    }
                    if me.stopped.load(Ordering::Acquire) {
                        return;
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

/// Receives every line the log writer thread writes, right after writing
/// it, on that thread (the OTLP log sink of `chatobs-otlp`): the same
/// bounded queue feeds both, so a bot never waits for either, and both get
/// the same redacted text. `flush` runs after each batch of lines.
pub trait LineSink: Send + Sync + 'static {
    /// One JSON line (with its newline).
    fn line(&self, line: &str);
    /// The end of a batch: send what is waiting.
    fn flush(&self);
}

static LINE_SINK: std::sync::RwLock<Option<Arc<dyn LineSink>>> = std::sync::RwLock::new(None);

/// Sets (or with `None` removes) the [`LineSink`] of the writer thread
/// `init` starts. Lines written before it was set are not replayed.
pub fn set_line_sink(sink: Option<Arc<dyn LineSink>>) {
    *LINE_SINK.write().unwrap_or_else(|e| e.into_inner()) = sink;
}

fn line_sink() -> Option<Arc<dyn LineSink>> {
    LINE_SINK.read().unwrap_or_else(|e| e.into_inner()).clone()
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

/// The JSON log layer with its per-layer filter ([`EventsOnly`]): what
/// [`layer`] and [`layer_to`] return.
pub type JsonLogs<S, F = EventsOnly> = Filtered<JsonLogLayer, F, S>;

/// A layer writing to standard error, for your own registry
/// (`tracing_subscriber::registry().with(chatobs_runtime::logs::layer())`).
/// It sees events only, through a per-layer filter: it never hides spans
/// from the other layers of your subscriber (the `tracing` bridge, a fmt
/// layer), nor makes the registry build spans for its own sake.
pub fn layer<S>() -> JsonLogs<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    layer_to(LogOutput::Stderr)
}

/// A layer writing to `out` (see [`layer`]).
pub fn layer_to<S>(out: LogOutput) -> JsonLogs<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    JsonLogLayer {
        out: Sink::Direct(Mutex::new(out)),
    }
    .with_filter(EventsOnly(None))
}

/// The JSON log layer's per-layer filter: events only (spans are chatobs'
/// business, exported by the span path and the `tracing` bridge, never
/// logged), at the levels of an optional `EnvFilter`.
#[derive(Debug)]
pub struct EventsOnly(Option<tracing_subscriber::EnvFilter>);

impl<S> Filter<S> for EventsOnly {
    fn enabled(&self, meta: &tracing::Metadata<'_>, cx: &FilterCx<'_, S>) -> bool {
        meta.is_event()
            && self
                .0
                .as_ref()
                .is_none_or(|f| Filter::<S>::enabled(f, meta, cx))
    }

    fn callsite_enabled(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if meta.is_span() {
            return tracing::subscriber::Interest::never();
        }
        match &self.0 {
            Some(f) => Filter::<S>::callsite_enabled(f, meta),
            None => tracing::subscriber::Interest::always(),
        }
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        self.0.as_ref().and_then(|f| Filter::<S>::max_level_hint(f))
    }
}

/// The level filter: `RUST_LOG` when it is set, else `logs.level`. A bad
/// directive in either is an error naming it (never a silent fallback).
fn filter(cfg: &LogsConfig) -> Result<tracing_subscriber::EnvFilter, crate::Error> {
    let help = "use EnvFilter syntax such as `info` or `info,my_bot=debug`";
    match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => tracing_subscriber::EnvFilter::try_new(&v)
            .map_err(|e| crate::Error::config(None, "RUST_LOG", format!("{e}: {help}"))),
        _ => tracing_subscriber::EnvFilter::try_new(&cfg.level)
            .map_err(|e| crate::Error::config(None, "logs.level", format!("{e}: {help}"))),
    }
}

/// The level directives in force: `RUST_LOG` when it is set, else `logs.level`.
fn directives(cfg: &LogsConfig) -> String {
    match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => v,
        _ => cfg.level.clone(),
    }
}

/// Checks `[logs]` without installing or creating anything: the level (or
/// `RUST_LOG`) parses, and the output is `stderr`, `stdout` or a file that
/// can be appended to (or created: its nearest existing ancestor is a
/// directory). Every problem is reported.
pub fn check(cfg: &LogsConfig) -> Result<(), crate::Error> {
    let mut errs = crate::config::Errors::new(None);
    if cfg.format == crate::config::LogFormat::Off {
        return Ok(());
    }
    errs.check(filter(cfg).map(|_| ()));
    if let Err(reason) = check_output(&cfg.output) {
        errs.push(
            "logs.output",
            format!("{reason}: use stderr, stdout or a writable file path (CHATOBS_LOG_OUTPUT)"),
        );
    }
    errs.into_result()
}

fn check_output(output: &str) -> Result<(), String> {
    match output {
        "stderr" | "stdout" => Ok(()),
        "" => Err("empty".into()),
        path => crate::config::writable_file(std::path::Path::new(path)),
    }
}

/// Installs chatobs' global subscriber: a `tracing_subscriber` registry with
/// the JSON log layer (when `logs.format = "json"`; level from `RUST_LOG` or
/// `logs.level`) and the `tracing` bridge (unless `[tracing] spans = "off"`),
/// in one layer deciding per callsite (see `InitLayer`; two per-layer
/// filtered layers when the level has span directives). `Ok(false)` when the application
/// already installed its own subscriber (kept: add [`layer`] and
/// [`crate::bridge::layer`] to it) or when both are off; an `Err` when
/// `[logs]` is wrong (see [`check`]) or the output cannot be opened.
pub fn install_global(
    cfg: &LogsConfig,
    tracing_cfg: &crate::config::TracingConfig,
) -> Result<bool, crate::Error> {
    use tracing_subscriber::layer::SubscriberExt;
    let json = cfg.format == crate::config::LogFormat::Json;
    let bridge = !crate::bridge::is_off(tracing_cfg);
    if !json && !bridge {
        return Ok(false);
    }
    let json_parts = if json {
        let filter = filter(cfg)?;
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
        Some((filter, out))
    } else {
        None
    };
    // (Not `tracing::dispatcher::has_been_set()`: it is also true after a
    // scoped `with_default`, which leaves the global default free.)
    let registry = tracing_subscriber::registry();
    let set = match json_parts {
        Some((filter, out)) => {
            let bg = Background::start(out, 16 * 1024)?;
            let json = JsonLogLayer {
                out: Sink::Background(bg.clone()),
            };
            let set = if !has_span_directives(&directives(cfg)) {
                tracing::subscriber::set_global_default(registry.with(InitLayer {
                    logs: Some((json, filter)),
                    bridge: bridge.then(|| {
                        (
                            crate::bridge::TracingBridge::default(),
                            crate::bridge::SpanFilter::configured(),
                        )
                    }),
                }))
            } else if bridge {
                let layer = json.with_filter(EventsOnly(Some(filter)));
                tracing::subscriber::set_global_default(
                    registry.with(layer).with(crate::bridge::layer()),
                )
            } else {
                let layer = json.with_filter(EventsOnly(Some(filter)));
                tracing::subscriber::set_global_default(registry.with(layer))
            };
            if set.is_ok() {
                let _ = BACKGROUND.set(bg);
            } else {
                // The application's own subscriber stays: no writer thread is left behind.
                bg.stopped.store(true, Ordering::Release);
                if let Some(t) = bg.writer.get() {
                    t.unpark();
                }
            }
            set
        }
        None => tracing::subscriber::set_global_default(registry.with(InitLayer {
            logs: None,
            bridge: Some((
                crate::bridge::TracingBridge::default(),
                crate::bridge::SpanFilter::configured(),
            )),
        })),
    };
    // Err: the application (or another thread) installed a global subscriber; theirs stays.
    Ok(set.is_ok())
}

/// Collects an event's fields as JSON text: the message apart, the other
/// fields as `,"name":value` pairs (redacted by name and by content).
#[derive(Default)]
struct LineVisitor {
    message: String,
    rest: String,
    /// Where `Debug` and `Display` values are formatted before redaction
    /// (one buffer for all the event's fields).
    scratch: String,
}

/// Keys the line itself writes; an event field of the same name is dropped.
const RESERVED: [&str; 7] = [
    "timestamp",
    "level",
    "target",
    "message",
    "trace_id",
    "span_id",
    "chat.session_id",
];

impl LineVisitor {
    /// Starts a field; returns false when the field is skipped.
    fn key(&mut self, field: &Field) -> bool {
        let name = field.name();
        if RESERVED.contains(&name) {
            return false;
        }
        self.rest.push(',');
        escape_into(&mut self.rest, name);
        self.rest.push(':');
        if crate::redact::is_redacted_field(name) {
            escape_into(&mut self.rest, crate::redact::REDACTED);
            return false;
        }
        true
    }
    fn text(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(&crate::redact::text(value));
        } else if self.key(field) {
            escape_into(&mut self.rest, &crate::redact::text(value));
        }
    }
    fn raw(&mut self, field: &Field, value: std::fmt::Arguments<'_>) {
        if self.key(field) {
            let _ = self.rest.write_fmt(value);
        }
    }
}

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut s = std::mem::take(&mut self.scratch);
        s.clear();
        let _ = write!(s, "{value:?}");
        self.text(field, &s);
        self.scratch = s;
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.raw(field, format_args!("{value}"));
        } else {
            self.raw(field, format_args!("null"));
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.raw(field, format_args!("{value}"));
    }
}

/// Appends `s` as a JSON string literal.
fn escape_into(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Runs of characters that need no escape are copied whole.
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// The JSON line for one event, newline included (what [`JsonLogLayer`]
/// writes): written directly, with no intermediate map.
pub fn event_line(event: &Event<'_>) -> String {
    let mut out = String::new();
    write_event_line(event, &mut out);
    out
}

/// Appends the JSON line for one event to `out`.
fn write_event_line(event: &Event<'_>, out: &mut String) {
    let meta = event.metadata();
    let mut v = LineVisitor::default();
    event.record(&mut v);
    out.reserve(160 + v.message.len() + v.rest.len());
    out.push_str("{\"timestamp\":");
    out.push('"');
    rfc3339_utc(std::time::SystemTime::now(), out);
    out.push('"');
    out.push_str(",\"level\":\"");
    out.push_str(meta.level().as_str());
    out.push_str("\",\"target\":");
    escape_into(out, meta.target());
    out.push_str(",\"message\":");
    escape_into(out, &v.message);
    let f = current_frame();
    if f.trace_id != 0 {
        out.push_str(",\"trace_id\":\"");
        crate::ids::push_hex(out, f.trace_id, 32);
        out.push_str("\",\"span_id\":\"");
        crate::ids::push_hex(out, u128::from(f.span_id), 16);
        out.push('"');
    }
    // SAFETY: the frame's session pointer is alive while the frame is entered.
    if let Some(s) = unsafe { crate::context::session_from_ptr(f.session) } {
        out.push_str(",\"");
        out.push_str(crate::vocab::CHAT_SESSION_ID);
        out.push_str("\":");
        escape_into(out, s.id());
        if let Some(u) = s.user_id() {
            out.push_str(",\"");
            out.push_str(crate::vocab::USER_ID);
            out.push_str("\":");
            escape_into(out, u);
        }
    }
    out.push_str(&v.rest);
    out.push_str("}\n");
}

/// The JSON object for one event (the parsed form of [`event_line`]).
pub fn event_json(event: &Event<'_>) -> serde_json::Value {
    serde_json::from_str(&event_line(event)).unwrap_or(serde_json::Value::Null)
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
        let out = match &self.out {
            Sink::Background(b) => {
                let mut line = b.spare.pop().unwrap_or_default();
                write_event_line(event, &mut line);
                b.push(line);
                return;
            }
            Sink::Direct(out) => out,
        };
        let line = event_line(event);
        let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = match &mut *out {
            LogOutput::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
            LogOutput::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
            LogOutput::Writer(w) => w.write_all(line.as_bytes()).and_then(|_| w.flush()),
        };
    }
}

#[cfg(test)]
mod rfc3339_tests {
    use super::rfc3339_utc;
    use std::time::{Duration, SystemTime};

    fn at(secs: u64, micros: u64) -> String {
        let mut s = String::new();
        rfc3339_utc(
            SystemTime::UNIX_EPOCH + Duration::from_micros(secs * 1_000_000 + micros),
            &mut s,
        );
        s
    }

    #[test]
    fn civil_dates() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(951_782_400, 1), "2000-02-29T00:00:00.000001Z");
        assert_eq!(at(1_796_052_198, 123_456), "2026-11-30T15:23:18.123456Z");
        assert_eq!(at(4_107_542_399, 999_999), "2100-02-28T23:59:59.999999Z");
        // Past year 9999 the formatter writes the fifth digit.
        assert_eq!(at(253_402_300_800, 0), "10000-01-01T00:00:00.000000Z");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escaped_strings_parse_back_to_themselves() {
        let cases = [
            "",
            "plain text",
            "quote \" backslash \\ slash /",
            "lines\nand\r\ttabs",
            "\u{0}\u{1}\u{1f} controls",
            "ñandú 👍 \u{7f} after",
            "\"",
            "end\\",
        ];
        for c in cases {
            let mut out = String::from("x");
            super::escape_into(&mut out, c);
            let back: String = serde_json::from_str(&out[1..]).unwrap();
            assert_eq!(back, c, "{out}");
            assert!(!out[1..].contains('\n'), "one line: {out}");
        }
    }
}

/// Writes `t` as RFC 3339 in UTC with microseconds (`2026-11-30T15:23:18.123456Z`).
/// (Days to a civil date: H. Hinnant's `civil_from_days`; a clock before
/// 1970 is written as the epoch.)
pub(crate) fn rfc3339_utc(t: std::time::SystemTime, out: &mut String) {
    let d = t
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs();
    let (days, sod) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        let _ = write!(
            out,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
            sod / 3600,
            sod / 60 % 60,
            sod % 60,
            d.subsec_micros()
        );
        return;
    }
    // Digits written by hand: this runs for every log line.
    let mut buf = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (at..at + width).rev() {
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year as u64);
    put(5, 2, month as u64);
    put(8, 2, day as u64);
    put(11, 2, sod / 3600);
    put(14, 2, sod / 60 % 60);
    put(17, 2, sod % 60);
    put(20, 6, u64::from(d.subsec_micros()));
    // Only ASCII digits and separators were written.
    out.push_str(std::str::from_utf8(&buf).unwrap_or_default());
}

// ---- init's own subscriber: the log lines and the bridge in one plain layer ----------------

/// What `init` installs when no subscriber is set: the JSON log lines and the
/// `tracing` bridge as **one plain layer** rather than two per-layer-filtered
/// ones. Each per-layer filter costs a registry lookup on every span enter,
/// exit and close (to read the span's filter bits); here both filters decide
/// per callsite instead (the bridge's `[tracing] spans` reads the level and
/// target only; the log level is an `EnvFilter` without span directives), so
/// a bridged span pays only the bridge's own work. A `RUST_LOG` /
/// `logs.level` with span directives (`[span{field}]`) keeps the two
/// filtered layers, whose per-span bookkeeping such directives need.
pub(crate) struct InitLayer {
    logs: Option<(JsonLogLayer, tracing_subscriber::EnvFilter)>,
    bridge: Option<(crate::bridge::TracingBridge, crate::bridge::SpanFilter)>,
}

impl InitLayer {
    fn log_enabled<S>(&self, meta: &tracing::Metadata<'_>, cx: &Context<'_, S>) -> bool
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        meta.is_event()
            && self
                .logs
                .as_ref()
                .is_some_and(|(_, f)| Filter::<S>::enabled(f, meta, cx))
    }

    fn bridge_enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        self.bridge
            .as_ref()
            .is_some_and(|(_, f)| f.would_enable(meta))
    }
}

/// Whether an `EnvFilter` directive string has span directives.
fn has_span_directives(directives: &str) -> bool {
    directives.contains(['[', '{'])
}

impl<S> Layer<S> for InitLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        use tracing::subscriber::Interest;
        let bridge = match &self.bridge {
            Some((_, f)) => Filter::<S>::callsite_enabled(f, meta),
            None => Interest::never(),
        };
        if meta.is_span() {
            // Nothing else in this subscriber wants spans.
            return bridge;
        }
        let log = match &self.logs {
            Some((_, f)) => Filter::<S>::callsite_enabled(f, meta),
            None => Interest::never(),
        };
        if log.is_always() || bridge.is_always() {
            Interest::always()
        } else if log.is_never() && bridge.is_never() {
            Interest::never()
        } else {
            Interest::sometimes()
        }
    }

    fn enabled(&self, meta: &tracing::Metadata<'_>, cx: Context<'_, S>) -> bool {
        self.bridge_enabled(meta) || self.log_enabled(meta, &cx)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        let b = self
            .bridge
            .as_ref()
            .and_then(|(_, f)| Filter::<S>::max_level_hint(f));
        let l = self
            .logs
            .as_ref()
            .and_then(|(_, f)| Filter::<S>::max_level_hint(f));
        match (b, l) {
            (Some(b), Some(l)) => Some(b.max(l)),
            // No hint from one: it may want anything.
            (None, _) | (_, None) => None,
        }
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        if let Some((b, _)) = &self.bridge {
            b.on_new_span(attrs, id, ctx);
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        if let Some((b, _)) = &self.bridge {
            b.on_record(id, values, ctx);
        }
    }

    fn on_follows_from(
        &self,
        id: &tracing::span::Id,
        follows: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        if let Some((b, _)) = &self.bridge {
            b.on_follows_from(id, follows, ctx);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        if let Some((l, _)) = &self.logs {
            if self.log_enabled(meta, &ctx) {
                l.on_event(event, ctx.clone());
            }
        }
        if let Some((b, _)) = &self.bridge {
            if self.bridge_enabled(meta) {
                b.on_event(event, ctx);
            }
        }
    }

    fn on_enter(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        if let Some((b, _)) = &self.bridge {
            b.on_enter(id, ctx);
        }
    }

    fn on_exit(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        if let Some((b, _)) = &self.bridge {
            b.on_exit(id, ctx);
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
        if let Some((b, _)) = &self.bridge {
            b.on_close(id, ctx);
        }
    }
}
