//! The conversation lifecycle: a user's conversation opens with their first
//! message, closes after a configured inactivity (by default when the
//! WhatsApp customer service window, 24 hours after their last message, has
//! expired) or when the code closes it, and the next message opens a new one
//! with a new id.
//!
//! Two ids travel on every span: the **conversation id** (`chat.session_id`,
//! `session.id`, `gen_ai.conversation.id`), new for each conversation, and
//! the **user's stable key** (`user.id`), the keyed hash of the number that
//! never changes, so a backend groups spans by conversation or by user.
//!
//! Closing emits `conversation.closed` once per conversation, across every
//! process sharing a state store: a span of that name with the totals (LLM,
//! WhatsApp and evaluation cost, messages in and out, turns, LLM calls,
//! duration, the close reason and the outcome set with [`set_outcome`]), a
//! log line, and the conversation metrics (`chatobs_conversations_closed_total`,
//! `chatobs_resolution_seconds`). The alert engine forgets the conversation's
//! once-flags.
//!
//! ```
//! use chatobs_runtime::cost::conversation;
//! use chatobs_runtime::{testing, vocab};
//!
//! let user = conversation::whatsapp_user("106540352242922", "573001234567");
//! let (first, spans) = testing::capture(|| {
//!     let first = conversation::on_inbound(&user);
//!     // Later messages before the deadline stay in the same conversation.
//!     assert_eq!(conversation::on_inbound(&user).id(), first.id());
//!     conversation::set_outcome(&first, "sale");
//!     conversation::close(&first).expect("open");
//!     // Closed once: a second close finds nothing.
//!     assert!(conversation::close(&first).is_none());
//!     first
//! });
//! let closed = spans.one(vocab::CONVERSATION_CLOSED);
//! assert_eq!(closed.session_id(), Some(first.id()));
//! assert_eq!(closed.attr_str(vocab::USER_ID), Some(user.as_str()));
//! assert_eq!(closed.attr_str(vocab::CHAT_SESSION_OUTCOME), Some("sale"));
//! assert_eq!(closed.attr_str(vocab::CHAT_SESSION_CLOSE_REASON), Some("closed_by_code"));
//! // The next message opens a new conversation of the same user.
//! let next = conversation::on_inbound(&user);
//! assert_ne!(next.id(), first.id());
//! assert_eq!(next.user_id(), Some(user.as_str()));
//! ```
//!
//! ## Where the state lives
//!
//! In this process by default (no server). With a shared store
//! ([`crate::shared::set_shared`], Redis when `CHATOBS_STATE_URL` is set) the
//! open conversation of each user, its deadline and outcome live in the
//! store, so every replica and service agrees on the conversation id, and a
//! conversation whose process restarted is closed by whichever process's
//! sweeper finds it due. When the store fails, this process falls back to
//! its own state for that message (counted in [`stats`], logged once).
//!
//! In process, conversations still open when the process stops are closed
//! by `init`'s guard with reason `shutdown` (their totals would be lost
//! with the process): closing across restarts needs a shared store.

use crate::context::{keyed_hash, ChatSession};
use crate::ledger::{self, Totals};
use crate::model::{KeyValue, Value};
use crate::shared::{self, ClosedRecord, OpenRequest, Parts};
use crate::vocab;
use crate::{events, CostEvent, CostEventKind};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a conversation closed (`chat.session.close_reason`).
pub mod reason {
    /// No inbound message for the configured inactivity.
    pub const INACTIVITY: &str = "inactivity";
    /// The code closed it ([`super::close`]).
    pub const CLOSED_BY_CODE: &str = "closed_by_code";
    /// The process stopped with the conversation open (state in process only).
    pub const SHUTDOWN: &str = "shutdown";
    /// More conversations were open in this process than it keeps.
    pub const EVICTED: &str = "evicted";
}

/// How conversations open and close (`[session]` of the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifecycle {
    /// A conversation closes this long after its last inbound message
    /// (default 24 hours: the WhatsApp customer service window).
    pub close_after: Duration,
    /// How often due conversations are looked for.
    pub sweep_every: Duration,
    /// Most conversations open at once in this process (in-process state);
    /// beyond it the least recently active is closed (`evicted`).
    pub max_open: usize,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            close_after: Duration::from_secs(24 * 3600),
            sweep_every: Duration::from_secs(30),
            max_open: 100_000,
        }
    }
}

static CONFIG: RwLock<Lifecycle> = RwLock::new(Lifecycle {
    close_after: Duration::from_secs(24 * 3600),
    sweep_every: Duration::from_secs(30),
    max_open: 100_000,
});

/// Sets how conversations open and close (`init` calls it with `[session]`).
pub fn configure(l: Lifecycle) {
    *CONFIG.write().unwrap_or_else(|e| e.into_inner()) = l;
}

/// The lifecycle settings in force.
pub fn lifecycle() -> Lifecycle {
    *CONFIG.read().unwrap_or_else(|e| e.into_inner())
}

/// The stable key of a WhatsApp user of a business number: the keyed hash
/// of both (the id [`ChatSession::for_whatsapp`] has), exported as `user.id`.
pub fn whatsapp_user(business_phone_number_id: &str, wa_id: &str) -> String {
    keyed_hash(&["whatsapp", business_phone_number_id, wa_id])
}

/// How the lifecycle has fared in this process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LifecycleStats {
    /// Conversations this process opened.
    pub opened: u64,
    /// Conversations this process closed (emitted `conversation.closed`).
    pub closed: u64,
    /// Messages whose conversation was decided in this process because the
    /// shared store failed.
    pub local_fallbacks: u64,
}

static OPENED: AtomicU64 = AtomicU64::new(0);
static CLOSED: AtomicU64 = AtomicU64::new(0);
static FALLBACKS: AtomicU64 = AtomicU64::new(0);

/// The counters.
pub fn stats() -> LifecycleStats {
    LifecycleStats {
        opened: OPENED.load(Ordering::Relaxed),
        closed: CLOSED.load(Ordering::Relaxed),
        local_fallbacks: FALLBACKS.load(Ordering::Relaxed),
    }
}

// ---- in-process state -----------------------------------------------------------------------

struct Open {
    id: String,
    opened_ms: i64,
    last_ms: i64,
    deadline_ms: i64,
    outcome: Option<String>,
}

#[derive(Default)]
struct Local {
    by_user: HashMap<String, Open>,
    user_of: HashMap<String, String>,
}

impl Local {
    fn take(&mut self, id: &str) -> Option<ClosedRecord> {
        let user = self.user_of.remove(id)?;
        let o = self.by_user.remove(&user)?;
        Some(ClosedRecord {
            id: o.id,
            user,
            opened_ms: o.opened_ms,
            last_ms: o.last_ms,
            outcome: o.outcome,
            parts: Parts::default(),
        })
    }
}

fn local() -> std::sync::MutexGuard<'static, Local> {
    static L: OnceLock<Mutex<Local>> = OnceLock::new();
    L.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A new conversation id for `user` opened at `at_ms`: the keyed hash of
/// both plus a random part, so two conversations never share an id.
fn new_id(user: &str, at_ms: i64) -> String {
    let nonce = format!("{:016x}", chatobs_core::ids::new_span_id().0);
    keyed_hash(&["conversation", user, &at_ms.to_string(), &nonce])
}

fn session(id: &str, user: &str) -> ChatSession {
    ChatSession::from_exported_ids(id, user)
        .or_else(|_| ChatSession::from_exported_id(id))
        .unwrap_or_else(|_| ChatSession::new(id))
}

fn fell_back(what: &str, err: &str) {
    FALLBACKS.fetch_add(1, Ordering::Relaxed);
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            target: "chatobs::state",
            what,
            error = err,
            "the shared state store did not answer for a conversation: this process decides it on its own (other replicas may open another conversation for the same user until the store answers); counted in conversation::stats().local_fallbacks"
        );
    }
}

/// The conversation of `user` for an inbound message now: the open one
/// (its deadline moves to now + `close_after`), or a new one. `user` is
/// the user's stable key, an exported id ([`whatsapp_user`], or any
/// [`keyed_hash`]).
pub fn on_inbound(user: &str) -> ChatSession {
    open(user, true)
}

/// The conversation of `user` for an outbound message now: the open one,
/// or a new one when there is none (a template to a user with no open
/// conversation). The deadline does not move.
pub fn on_outbound(user: &str) -> ChatSession {
    open(user, false)
}

/// The open conversation of `user`, without opening one (a status callback
/// or a reaction refers to a message already sent).
pub fn open_of(user: &str) -> Option<ChatSession> {
    if let Some(s) = shared::shared() {
        match s.conversation_find(user) {
            Ok(found) => return found.map(|id| session(&id, user)),
            Err(e) if e == shared::UNSUPPORTED => {}
            Err(e) => fell_back("find", &e),
        }
    }
    let l = local();
    l.by_user.get(user).map(|o| session(&o.id, user))
}

/// With a shared store: the open conversation this process last saw per
/// user, and its deadline as it knew it (a lower bound: another process may
/// have moved it later).
fn known() -> std::sync::MutexGuard<'static, HashMap<String, (String, i64)>> {
    static K: OnceLock<Mutex<HashMap<String, (String, i64)>>> = OnceLock::new();
    K.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn remember(user: &str, o: &shared::Opened, deadline: i64) {
    let mut k = known();
    if k.len() >= lifecycle().max_open.max(1) {
        k.clear();
    }
    k.insert(user.to_owned(), (o.id.clone(), deadline));
}

fn after_open(user: &str, o: &shared::Opened, deadline: i64) {
    if let Some(old) = &o.expired {
        emit_closed(old, reason::INACTIVITY);
    }
    if o.new {
        OPENED.fetch_add(1, Ordering::Relaxed);
    }
    remember(user, o, deadline);
}

fn open(user: &str, inbound: bool) -> ChatSession {
    let cfg = lifecycle();
    let now = now_ms();
    let deadline = now.saturating_add(ms(cfg.close_after));
    if let Some(s) = shared::shared() {
        let candidate = new_id(user, now);
        let req = OpenRequest {
            user,
            candidate: &candidate,
            now_ms: now,
            deadline_ms: deadline,
            extend: inbound,
        };
        // Known here, and far from its deadline: the message is in it; the
        // store moves the deadline off this path (one conversation closed
        // by code on another replica at this very moment may still get this
        // message: the answer corrects what this process knows).
        let margin = (ms(cfg.close_after) / 10).clamp(1, 60_000);
        let cached = known()
            .get(user)
            .filter(|(_, d)| d.saturating_sub(margin) > now)
            .cloned();
        if let Some((id, known_deadline)) = cached {
            let u = user.to_owned();
            s.conversation_open_then(
                &req,
                Box::new(move |r| match r {
                    Ok(o) => after_open(&u, &o, if inbound { deadline } else { known_deadline }),
                    Err(e) => {
                        known().remove(&u);
                        fell_back("open", &e);
                    }
                }),
            );
            return session(&id, user);
        }
        match s.conversation_open(&req) {
            Ok(o) => {
                // The deadline this process knows: ours when the message
                // moved it; else unknown (ask again next time).
                after_open(user, &o, if inbound || o.new { deadline } else { 0 });
                return session(&o.id, user);
            }
            Err(e) if e == shared::UNSUPPORTED => {}
            Err(e) => fell_back("open", &e),
        }
    }
    let (id, expired, evicted) = {
        let mut l = local();
        let mut expired = None;
        if let Some(o) = l.by_user.get_mut(user) {
            if o.deadline_ms > now {
                o.last_ms = o.last_ms.max(now);
                if inbound {
                    o.deadline_ms = o.deadline_ms.max(deadline);
                }
                let id = o.id.clone();
                drop(l);
                return session(&id, user);
            }
            let id = o.id.clone();
            expired = l.take(&id);
        }
        let mut evicted = None;
        if l.by_user.len() >= cfg.max_open.max(1) {
            if let Some(id) = l
                .by_user
                .values()
                .min_by_key(|o| o.last_ms)
                .map(|o| o.id.clone())
            {
                evicted = l.take(&id);
            }
        }
        let id = new_id(user, now);
        l.user_of.insert(id.clone(), user.to_owned());
        l.by_user.insert(
            user.to_owned(),
            Open {
                id: id.clone(),
                opened_ms: now,
                last_ms: now,
                deadline_ms: deadline,
                outcome: None,
            },
        );
        (id, expired, evicted)
    };
    OPENED.fetch_add(1, Ordering::Relaxed);
    if let Some(old) = expired {
        emit_closed(&old, reason::INACTIVITY);
    }
    if let Some(old) = evicted {
        static WARNED: AtomicBool = AtomicBool::new(false);
        if !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(target: "chatobs", max_open = cfg.max_open, "more conversations are open than this process keeps: the least recently active was closed early (reason `evicted`); use a shared state store or raise the bound");
        }
        emit_closed(&old, reason::EVICTED);
    }
    session(&id, user)
}

/// Sets the outcome reported when `conversation` closes
/// (`chat.session.outcome`: `sale`, `resolved`, `handoff`, ...). Only the
/// conversation id is stored, never personal data: pass a label, not text.
pub fn set_outcome(conversation: &ChatSession, outcome: &str) {
    let outcome: String = outcome.chars().take(64).collect();
    if let Some(s) = shared::shared() {
        match s.conversation_outcome(conversation.id(), &outcome) {
            Ok(()) => return,
            Err(e) if e == shared::UNSUPPORTED => {}
            Err(e) => fell_back("outcome", &e),
        }
    }
    let mut l = local();
    if let Some(user) = l.user_of.get(conversation.id()).cloned() {
        if let Some(o) = l.by_user.get_mut(&user) {
            o.outcome = Some(outcome);
        }
    }
}

/// Closes `conversation` now (reason `closed_by_code`) and returns its
/// totals; `None` when it was closed already (by this process or another)
/// or was not opened by the lifecycle. A session made without the
/// lifecycle ([`ChatSession::new`]) is closed with [`crate::close_session`].
pub fn close(conversation: &ChatSession) -> Option<Totals> {
    let record = claim(conversation.id())?;
    Some(emit_closed(&record, reason::CLOSED_BY_CODE))
}

fn claim(id: &str) -> Option<ClosedRecord> {
    if let Some(s) = shared::shared() {
        // What this process added is in the store before the claim reads it:
        // the store's requests run in order.
        match s.conversation_close(id) {
            Ok(r) => return r,
            Err(e) if e == shared::UNSUPPORTED => {}
            Err(e) => fell_back("close", &e),
        }
    }
    local().take(id)
}

/// Closes every conversation whose deadline has passed (reason
/// `inactivity`) and returns how many this call closed. The sweeper started
/// by `init` calls it every `sweep_every`; call it yourself without `init`.
pub fn sweep() -> usize {
    let now = now_ms();
    let mut n: usize = 0;
    if let Some(s) = shared::shared() {
        loop {
            match s.conversations_due(now, 256) {
                Ok(due) => {
                    let more = due.len() == 256;
                    for r in due {
                        emit_closed(&r, reason::INACTIVITY);
                        n = n.saturating_add(1);
                    }
                    if !more {
                        break;
                    }
                }
                Err(e) if e == shared::UNSUPPORTED => break,
                Err(e) => {
                    fell_back("sweep", &e);
                    break;
                }
            }
        }
    }
    let due: Vec<ClosedRecord> = {
        let mut l = local();
        let ids: Vec<String> = l
            .by_user
            .values()
            .filter(|o| o.deadline_ms <= now)
            .map(|o| o.id.clone())
            .collect();
        ids.iter().filter_map(|id| l.take(id)).collect()
    };
    for r in due {
        emit_closed(&r, reason::INACTIVITY);
        n = n.saturating_add(1);
    }
    n
}

/// Closes every conversation open in this process's own state with
/// `reason` (what `init`'s guard does at shutdown with reason `shutdown`
/// when there is no shared store). Returns how many.
pub fn close_all_local(reason: &'static str) -> usize {
    let all: Vec<ClosedRecord> = {
        let mut l = local();
        let ids: Vec<String> = l.user_of.keys().cloned().collect();
        ids.iter().filter_map(|id| l.take(id)).collect()
    };
    let n = all.len();
    for r in all {
        emit_closed(&r, reason);
    }
    n
}

/// Emits `conversation.closed` for a claimed conversation: a span with the
/// totals, a log line, the cost listeners' `Closed` event (metrics, alert
/// state); forgets the local ledger. Returns the totals.
fn emit_closed(r: &ClosedRecord, why: &'static str) -> Totals {
    CLOSED.fetch_add(1, Ordering::Relaxed);
    {
        let mut k = known();
        if k.get(&r.user).is_some_and(|(id, _)| *id == r.id) {
            k.remove(&r.user);
        }
    }
    let session = session(&r.id, &r.user);
    let local_totals = crate::session_totals(&session);
    let t = if shared::shared().is_some() && r.parts != Parts::default() {
        let t = shared::with_parts(&local_totals, r.parts);
        // The span's end writes the ledger's running totals: the store's.
        let shared_totals = t.clone();
        ledger::ledger_of(&session).update(move |l| *l = shared_totals);
        t
    } else {
        local_totals
    };
    let duration_ms = u64::try_from(r.last_ms.saturating_sub(r.opened_ms)).unwrap_or(0);
    let outcome = r.outcome.clone().unwrap_or_else(|| "none".into());
    let attrs = closed_attributes(&t, duration_ms, why, &outcome);
    {
        let mut span = chatobs_core::SpanBuilder::new(vocab::CONVERSATION_CLOSED)
            .session(session.clone())
            .start();
        for (k, v) in &attrs {
            span.set_attribute(k.clone(), v.clone());
        }
        span.add_event(vocab::CONVERSATION_CLOSED, attrs);
    }
    session.in_scope(|| {
        tracing::info!(
            target: "chatobs",
            cost_usd = %t.total_usd(),
            llm_usd = %t.llm_usd,
            whatsapp_usd = %t.whatsapp_usd,
            evaluation_usd = %t.evaluation_usd,
            messages_inbound = t.messages_inbound,
            messages_outbound = t.messages_outbound,
            turns = t.turns,
            duration_ms,
            reason = why,
            outcome = outcome.as_str(),
            "conversation.closed"
        );
    });
    ledger::forget(&session);
    if events::has_listeners() {
        events::emit(&CostEvent {
            kind: CostEventKind::Closed { totals: &t },
            session: Some(&session),
            totals: None,
            role: None,
            trace_id: crate::ids::TraceId(0),
            span_id: crate::ids::SpanId(0),
        });
    }
    t
}

/// The attributes of `conversation.closed`: the totals, the message and
/// turn counts, the duration, the reason and the outcome.
pub(crate) fn closed_attributes(
    t: &Totals,
    duration_ms: u64,
    why: &'static str,
    outcome: &str,
) -> Vec<KeyValue> {
    let mut attrs: Vec<KeyValue> = t.attributes();
    attrs.extend([
        // A root, but not a user turn (the turn metrics skip it).
        (Cow::Borrowed(vocab::CHAT_TURN), Value::Bool(false)),
        (
            Cow::Borrowed(vocab::CHAT_SESSION_MESSAGES_INBOUND),
            Value::from(t.messages_inbound),
        ),
        (
            Cow::Borrowed(vocab::CHAT_SESSION_MESSAGES_OUTBOUND),
            Value::from(t.messages_outbound),
        ),
        (
            Cow::Borrowed(vocab::CHAT_SESSION_TURNS),
            Value::from(t.turns),
        ),
        (
            Cow::Borrowed(vocab::CHAT_SESSION_LLM_CALLS),
            Value::from(t.llm_calls),
        ),
        (
            Cow::Borrowed(vocab::CHAT_SESSION_DURATION_MS),
            Value::from(duration_ms),
        ),
        (
            Cow::Borrowed(vocab::CHAT_SESSION_CLOSE_REASON),
            Value::from(why),
        ),
        (
            Cow::Borrowed(vocab::CHAT_SESSION_OUTCOME),
            Value::from(outcome.to_owned()),
        ),
    ]);
    attrs
}

/// Runs [`sweep`] every `sweep_every` on a thread of its own until dropped.
pub struct Sweeper {
    stop: std::sync::mpsc::SyncSender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Sweeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sweeper").finish()
    }
}

impl Sweeper {
    /// Starts the sweeper thread.
    pub fn start() -> std::io::Result<Sweeper> {
        let (stop, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("chatobs-conversations".into())
            .spawn(move || loop {
                match rx.recv_timeout(lifecycle().sweep_every) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        let _ = std::panic::catch_unwind(sweep);
                    }
                    _ => return,
                }
            })?;
        Ok(Sweeper {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        let _ = self.stop.try_send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
