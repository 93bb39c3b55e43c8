//! Conversation identity and context propagation.
//!
//! A [`ChatSession`] is the conversation: every span started while it is
//! current carries its id under the three names backends read (see
//! [`crate::vocab`]), and every log line written inside it carries it too.
//! The current session and span travel with the code that runs them:
//! across `.await` (the scope is re-entered on every poll), into tasks
//! started with [`spawn`] / [`spawn_blocking`] or wrapped with
//! [`Context::wrap`], and to other services through W3C `traceparent` and
//! `baggage` headers ([`Context::inject`], [`Context::extract`]).

use crate::ids::{SpanId, TraceId};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::any::{Any, TypeId};
use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::task::{Context as TaskCx, Poll};
use std::time::SystemTime;

/// Name of the environment variable holding the key that turns phone numbers
/// and other user identities into session ids (HMAC-SHA256). All services of
/// one bot must share it so they derive the same session id.
pub const SESSION_KEY_ENV: &str = "CHATOBS_SESSION_KEY";

/// A conversation. Cheap to clone (one reference count).
#[derive(Clone)]
pub struct ChatSession(pub(crate) Arc<SessionInner>);

pub(crate) struct SessionInner {
    id: Box<str>,
    started: SystemTime,
    extensions: Mutex<Vec<(TypeId, Arc<dyn Any + Send + Sync>)>>,
    /// Run when each span of this session ends, with its state.
    pub(crate) end_hook: OnceLock<(crate::span::SessionEndHook, Arc<dyn Any + Send + Sync>)>,
}

impl std::fmt::Debug for ChatSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ChatSession").field(&self.id()).finish()
    }
}

impl PartialEq for ChatSession {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}
impl Eq for ChatSession {}

/// The session key, as an HMAC state with the key already absorbed (each
/// hash then clones it instead of hashing the key again).
static SESSION_KEY: RwLock<Option<Arc<Hmac<Sha256>>>> = RwLock::new(None);
static EPHEMERAL_WARNED: OnceLock<()> = OnceLock::new();

/// Sets the key used to hash user identities into session ids. `chatobs_runtime::init`
/// calls this with the value of [`SESSION_KEY_ENV`]; call it yourself only if
/// you keep the key elsewhere (a secret manager). Keys shorter than 16 bytes
/// are rejected.
pub fn set_session_key(key: &[u8]) -> Result<(), crate::Error> {
    if key.len() < 16 {
        return Err(crate::Error::Config {
            file: None,
            key: SESSION_KEY_ENV.into(),
            reason: format!(
                "the session key has {} bytes; use at least 16 random bytes (for example `openssl rand -hex 32`)",
                key.len()
            ),
        });
    }
    *SESSION_KEY.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(keyed_mac(key)));
    Ok(())
}

fn keyed_mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; new_from_slice cannot fail for Hmac<Sha256>.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable_hmac(),
    }
}

fn session_key() -> Arc<Hmac<Sha256>> {
    if let Some(k) = SESSION_KEY
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
    {
        return k.clone();
    }
    let mut slot = SESSION_KEY.write().unwrap_or_else(|e| e.into_inner());
    if let Some(k) = slot.as_ref() {
        return k.clone();
    }
    let key: Arc<Hmac<Sha256>> = match std::env::var(SESSION_KEY_ENV) {
        Ok(v) if v.len() >= 16 => Arc::new(keyed_mac(v.as_bytes())),
        _ => {
            EPHEMERAL_WARNED.get_or_init(|| {
                tracing::warn!(
                    target: "chatobs",
                    "{SESSION_KEY_ENV} is not set (or shorter than 16 bytes): session ids are hashed with a random per-process key, so other services will not derive the same ids; set {SESSION_KEY_ENV} to the same secret in every service"
                );
            });
            let mut k = [0u8; 32];
            for chunk in k.chunks_mut(8) {
                chunk.copy_from_slice(&crate::ids::new_span_id().0.to_le_bytes());
            }
            Arc::new(keyed_mac(&k))
        }
    };
    *slot = Some(key.clone());
    key
}

/// `cs_` + 32 hex characters of HMAC-SHA256 over `parts` with the session
/// key: the one way an identifier derived from personal data (a phone
/// number, a message id) may leave the process. Every service configured with
/// the same `CHATOBS_SESSION_KEY` derives the same value.
pub fn keyed_hash(parts: &[&str]) -> String {
    let mut mac = Hmac::clone(&session_key());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            mac.update(&[0x1f]);
        }
        mac.update(p.as_bytes());
    }
    let out = mac.finalize().into_bytes();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(35);
    id.push_str("cs_");
    for b in &out[..16] {
        id.push(HEX[(b >> 4) as usize] as char);
        id.push(HEX[(b & 15) as usize] as char);
    }
    id
}

#[cold]
fn unreachable_hmac() -> ! {
    // Hmac::new_from_slice only fails for fixed-size-key MACs, never for HMAC.
    std::process::abort()
}

impl ChatSession {
    /// A session for a user identity (a phone number, `wa:573001234567`, an
    /// e-mail, a CRM id). The identity is never stored or exported: the
    /// session id is `cs_` + the first 16 bytes of HMAC-SHA256(key, identity)
    /// in hex, with the key from [`SESSION_KEY_ENV`].
    pub fn new(identity: &str) -> ChatSession {
        ChatSession::from_id_unchecked(keyed_hash(&[identity]))
    }

    /// The session of a WhatsApp conversation: the business phone number id
    /// and the user's `wa_id`, hashed together with the session key.
    pub fn for_whatsapp(business_phone_number_id: &str, wa_id: &str) -> ChatSession {
        ChatSession::from_id_unchecked(keyed_hash(&["whatsapp", business_phone_number_id, wa_id]))
    }

    /// A session whose id is already safe to export (received from another
    /// service in `baggage`, or an opaque id you generated). The id must be 1
    /// to 128 characters of `A-Z a-z 0-9 _ - . :`.
    pub fn from_exported_id(id: &str) -> Result<ChatSession, crate::Error> {
        if valid_exported_id(id) {
            Ok(ChatSession::from_id_unchecked(id.to_owned()))
        } else {
            Err(crate::Error::InvalidInput(format!(
                "session id {:?} is not an exported session id: use 1 to 128 characters of A-Z a-z 0-9 _ - . : (hash personal identities with ChatSession::new)",
                crate::redact::truncate_for_error(id)
            )))
        }
    }

    pub(crate) fn from_id_unchecked(id: String) -> ChatSession {
        ChatSession(Arc::new(SessionInner {
            id: id.into_boxed_str(),
            started: SystemTime::now(),
            extensions: Mutex::new(Vec::new()),
            end_hook: OnceLock::new(),
        }))
    }

    /// The exported session id.
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// When this session object was created.
    pub fn started(&self) -> SystemTime {
        self.0.started
    }

    /// The session current on this thread or task, if any.
    pub fn current() -> Option<ChatSession> {
        let f = CURRENT.with(|c| c.get());
        // SAFETY: a non-null frame session pointer is kept alive by the scope that entered the frame.
        unsafe { session_from_ptr(f.session) }
    }

    /// Runs `fut` with this session current: every span and log line inside
    /// carries its id, across `.await` points.
    ///
    /// Only the session is set: the span and everything else current where
    /// the future is polled stay current.
    pub fn scope<F: Future>(&self, fut: F) -> WithContext<F> {
        WithContext {
            fut,
            ctx: Overlay::Session(self.clone()),
        }
    }

    /// Runs `f` with this session current.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let mut frame = current_frame();
        frame.session = Arc::as_ptr(&self.0);
        let _g = FrameGuard::enter(frame);
        f()
    }

    /// A value of type `T` attached to this session, created on first use.
    /// Modules built on the session (cost ledger, alert state) keep their
    /// per-conversation state here.
    pub fn extension<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut ext = self.0.extensions.lock().unwrap_or_else(|e| e.into_inner());
        let id = TypeId::of::<T>();
        if let Some((_, v)) = ext.iter().find(|(t, _)| *t == id) {
            if let Ok(v) = v.clone().downcast::<T>() {
                return v;
            }
        }
        let v = Arc::new(T::default());
        ext.push((id, v.clone()));
        v
    }

    /// Sets the hook run when each span of this session ends, with `state`
    /// (made once, on the first call; later calls are ignored). The hook may
    /// add attributes to the span: `chatobs-cost` writes the conversation's
    /// running total on every span with it.
    pub fn set_end_hook(
        &self,
        hook: crate::span::SessionEndHook,
        state: impl FnOnce() -> Arc<dyn Any + Send + Sync>,
    ) {
        if self.0.end_hook.get().is_none() {
            let _ = self.0.end_hook.set((hook, state()));
        }
    }

    /// The value of type `T` attached to this session, if one was created.
    pub fn get_extension<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let ext = self.0.extensions.lock().unwrap_or_else(|e| e.into_inner());
        let id = TypeId::of::<T>();
        ext.iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| v.clone().downcast::<T>().ok())
    }
}

pub(crate) fn valid_exported_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// # Safety
/// `p` is null or points into a live `Arc<SessionInner>`.
pub(crate) unsafe fn session_from_ptr(p: *const SessionInner) -> Option<ChatSession> {
    if p.is_null() {
        None
    } else {
        Arc::increment_strong_count(p);
        Some(ChatSession(Arc::from_raw(p)))
    }
}

// ---- the per-thread frame -------------------------------------------------------

pub(crate) const FLAG_SAMPLED: u8 = 1;
pub(crate) const FLAG_REMOTE: u8 = 2;

/// What is current on this thread. Pointers are borrowed from whoever entered
/// the frame and are valid until that scope restores the previous frame.
#[derive(Clone, Copy)]
pub(crate) struct Frame {
    pub trace_id: u128,
    pub span_id: u64,
    pub flags: u8,
    pub session: *const SessionInner,
    pub record: *mut crate::span::Record,
    pub capture: u64,
}

impl Frame {
    pub const EMPTY: Frame = Frame {
        trace_id: 0,
        span_id: 0,
        flags: 0,
        session: std::ptr::null(),
        record: std::ptr::null_mut(),
        capture: 0,
    };
}

thread_local! {
    pub(crate) static CURRENT: Cell<Frame> = const { Cell::new(Frame::EMPTY) };
}

#[inline]
pub(crate) fn current_frame() -> Frame {
    CURRENT.with(|c| c.get())
}

/// Restores the previous frame when dropped (also on panic).
pub(crate) struct FrameGuard(Frame);

impl FrameGuard {
    #[inline]
    pub(crate) fn enter(f: Frame) -> FrameGuard {
        FrameGuard(CURRENT.with(|c| c.replace(f)))
    }
}

impl Drop for FrameGuard {
    #[inline]
    fn drop(&mut self) {
        let prev = self.0;
        CURRENT.with(|c| c.set(prev));
    }
}

// ---- owned context ------------------------------------------------------------------

/// The current span, trace and session, owned, so it can cross a task,
/// thread, queue or service boundary.
#[derive(Clone, Default)]
pub struct Context {
    /// The trace (zero when there is none).
    pub trace_id: TraceId,
    /// The parent span for whatever runs under this context.
    pub span_id: SpanId,
    /// Whether the trace is sampled.
    pub sampled: bool,
    /// Whether the span came from another process.
    pub remote: bool,
    /// The conversation.
    pub session: Option<ChatSession>,
    pub(crate) capture: u64,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("trace_id", &self.trace_id)
            .field("span_id", &self.span_id)
            .field("sampled", &self.sampled)
            .field("remote", &self.remote)
            .field("session", &self.session.as_ref().map(|s| s.id()))
            .finish()
    }
}

impl Context {
    /// A context with no trace, only the conversation `session` (what runs
    /// under it starts a new trace in that conversation).
    pub fn for_session(session: ChatSession) -> Context {
        Context {
            session: Some(session),
            ..Context::default()
        }
    }

    /// The context current on this thread or task.
    pub fn current() -> Context {
        let f = current_frame();
        Context {
            trace_id: TraceId(f.trace_id),
            span_id: SpanId(f.span_id),
            sampled: f.flags & FLAG_SAMPLED != 0,
            remote: f.flags & FLAG_REMOTE != 0,
            // SAFETY: see Frame.
            session: unsafe { session_from_ptr(f.session) },
            capture: f.capture,
        }
    }

    /// Whether this context names a span (a trace is in progress).
    pub fn has_span(&self) -> bool {
        self.trace_id.0 != 0 && self.span_id.0 != 0
    }

    pub(crate) fn frame(&self, record: *mut crate::span::Record) -> Frame {
        Frame {
            trace_id: self.trace_id.0,
            span_id: self.span_id.0,
            flags: (self.sampled as u8 * FLAG_SAMPLED) | (self.remote as u8 * FLAG_REMOTE),
            session: self
                .session
                .as_ref()
                .map_or(std::ptr::null(), |s| Arc::as_ptr(&s.0)),
            record,
            capture: self.capture,
        }
    }

    fn frame_here(&self) -> Frame {
        // Keep the live record pointer only if the same span is entered on this thread.
        let cur = current_frame();
        let rec = if cur.span_id == self.span_id.0 && cur.span_id != 0 {
            cur.record
        } else {
            std::ptr::null_mut()
        };
        self.frame(rec)
    }

    /// Runs `f` with this context current.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _g = FrameGuard::enter(self.frame_here());
        f()
    }

    /// Wraps `fut` so this context is current whenever it is polled.
    pub fn wrap<F: Future>(self, fut: F) -> WithContext<F> {
        WithContext {
            fut,
            ctx: Overlay::Full(self),
        }
    }
}

/// What a [`WithContext`] makes current.
enum Overlay {
    /// A whole context, captured earlier (a task started elsewhere).
    Full(Context),
    /// Only the session, over whatever is current where it is polled.
    Session(ChatSession),
}

pin_project_lite::pin_project! {
    /// A future that runs with a [`Context`] current. Made by
    /// [`Context::wrap`], [`ChatSession::scope`] and [`spawn`].
    pub struct WithContext<F> {
        #[pin]
        fut: F,
        ctx: Overlay,
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<F::Output> {
        let this = self.project();
        let frame = match this.ctx {
            Overlay::Full(ctx) => ctx.frame_here(),
            Overlay::Session(s) => {
                let mut f = current_frame();
                f.session = Arc::as_ptr(&s.0);
                f
            }
        };
        let _g = FrameGuard::enter(frame);
        this.fut.poll(cx)
    }
}

/// `tokio::spawn` that carries the current span and session into the task.
#[cfg(feature = "tokio")]
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(Context::current().wrap(fut))
}

/// `tokio::task::spawn_blocking` that carries the current span and session.
#[cfg(feature = "tokio")]
pub fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let ctx = Context::current();
    tokio::task::spawn_blocking(move || ctx.in_scope(f))
}

/// `std::thread::spawn` that carries the current span and session.
pub fn spawn_thread<F, R>(f: F) -> std::thread::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let ctx = Context::current();
    std::thread::spawn(move || ctx.in_scope(f))
}

// ---- W3C trace context and baggage ----------------------------------------------------

/// The W3C `traceparent` header name.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C `baggage` header name.
pub const BAGGAGE: &str = "baggage";
/// The baggage key that carries the session id between services.
pub const BAGGAGE_SESSION_KEY: &str = "chat.session_id";
/// W3C baggage limits: total bytes and entries.
pub const BAGGAGE_MAX_BYTES: usize = 8192;
/// W3C baggage limit on the number of entries.
pub const BAGGAGE_MAX_ENTRIES: usize = 180;

impl Context {
    /// The `traceparent` value for this context (`None` when there is no span).
    pub fn traceparent(&self) -> Option<String> {
        if !self.has_span() {
            return None;
        }
        Some(format!(
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id.0, self.span_id.0, self.sampled as u8
        ))
    }

    /// Writes `traceparent` and `baggage` (with the session id) into a
    /// carrier: HTTP headers, a message's string map.
    pub fn inject(&self, mut set: impl FnMut(&str, String)) {
        if let Some(tp) = self.traceparent() {
            set(TRACEPARENT, tp);
        }
        if let Some(s) = &self.session {
            set(BAGGAGE, format!("{BAGGAGE_SESSION_KEY}={}", s.id()));
        }
    }

    /// Writes into a `HashMap<String, String>` (message queues).
    pub fn inject_map(&self, map: &mut HashMap<String, String>) {
        self.inject(|k, v| {
            map.insert(k.to_owned(), v);
        });
    }

    /// Reads `traceparent` and `baggage` from a carrier. Malformed values are
    /// ignored (the result then has no span or no session), never an error:
    /// input from the network must not fail a conversation.
    pub fn extract<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Context {
        let mut ctx = Context::default();
        if let Some((t, s, sampled)) = get(TRACEPARENT).and_then(parse_traceparent) {
            ctx.trace_id = t;
            ctx.span_id = s;
            ctx.sampled = sampled;
            ctx.remote = true;
        }
        if let Some(id) = get(BAGGAGE).and_then(|b| baggage_get(b, BAGGAGE_SESSION_KEY)) {
            if let Ok(s) = ChatSession::from_exported_id(&id) {
                ctx.session = Some(s);
            }
        }
        ctx
    }

    /// Reads from a `HashMap<String, String>` (message queues).
    pub fn extract_map(map: &HashMap<String, String>) -> Context {
        Context::extract(|k| map.get(k).map(String::as_str))
    }
}

/// Parses a W3C `traceparent` (version 00, or a later version's first four fields).
pub fn parse_traceparent(v: &str) -> Option<(TraceId, SpanId, bool)> {
    let v = v.trim();
    let mut parts = v.split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let span = parts.next()?;
    let flags = parts.next()?;
    if version.len() != 2 || version == "ff" || !version.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    if version == "00" && parts.next().is_some() {
        return None;
    }
    if flags.len() != 2
        || !trace
            .bytes()
            .chain(span.bytes())
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some((
        TraceId::from_hex(trace)?,
        SpanId::from_hex(span)?,
        flags & 1 == 1,
    ))
}

/// Looks up `key` in a W3C baggage header, within the W3C limits (8192 bytes,
/// 180 entries). Oversized or malformed baggage yields `None`.
pub fn baggage_get(header: &str, key: &str) -> Option<String> {
    if header.len() > BAGGAGE_MAX_BYTES {
        return None;
    }
    for (n, member) in header.split(',').enumerate() {
        if n >= BAGGAGE_MAX_ENTRIES {
            return None;
        }
        let kv = member.split(';').next()?.trim();
        let (k, v) = kv.split_once('=')?;
        if k.trim() == key {
            let v = v.trim();
            return if v.is_empty() {
                None
            } else {
                Some(percent_decode(v)?)
            };
        }
    }
    None
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
