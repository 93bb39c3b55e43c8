//! Conversation metrics: conversations opened, active and closed, messages
//! by direction, channel and type, the first-response time (from a user's
//! message to the bot's next message in that conversation), the resolution
//! time (from the first message to the conversation's close) and handoffs.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `chatobs_conversations_opened_total` | counter (first message of a conversation this process sees) | `channel` |
//! | `chatobs_conversations_active` | gauge (a message in the last 30 minutes) | none |
//! | `chatobs_conversations_closed_total` | counter (`cost::close_session`) | none |
//! | `chatobs_messages_total` | counter | `direction` (`inbound`/`outbound`), `channel`, `message_type` |
//! | `chatobs_first_response_seconds` | histogram | `channel` |
//! | `chatobs_resolution_seconds` | histogram | none |
//! | `chatobs_handoffs_total` | counter (spans with `chat.handoff.from`/`to`) | `from`, `to` |
//!
//! The webhook records inbound messages ([`inbound`]); priced WhatsApp sends
//! record outbound ones; the close of a conversation records its resolution.
//! The state (when each conversation started, whether a user waits for an
//! answer) is kept per process, for at most [`MAX_TRACKED`] conversations
//! (the least recently active are forgotten first). Conversations are
//! identified by their session id, which never becomes a label.

use crate::registry::{Family, Kind};
use chatobs_core::vocab as v;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Conversations whose state is kept.
pub const MAX_TRACKED: usize = 100_000;
/// A conversation with a message this recent is active.
pub const ACTIVE_WINDOW: Duration = Duration::from_secs(30 * 60);

/// First-response buckets, seconds.
pub const RESPONSE_BUCKETS: [f64; 12] = [
    0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 86400.0,
];
/// Resolution buckets, seconds.
pub const RESOLUTION_BUCKETS: [f64; 10] = [
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0, 259200.0,
];

pub(crate) struct Families {
    pub opened: Family,
    pub active: Family,
    pub closed: Family,
    pub messages: Family,
    pub first_response: Family,
    pub resolution: Family,
    pub handoffs: Family,
}

pub(crate) fn families() -> &'static Families {
    static F: OnceLock<Families> = OnceLock::new();
    F.get_or_init(|| Families {
        opened: Family::new(
            v::PROM_CONVERSATIONS_OPENED,
            "Conversations opened (the first message this process saw of each), by channel.",
            Kind::Counter,
            &[v::PL_CHANNEL],
            1,
            &[],
        ),
        active: Family::new(
            v::PROM_CONVERSATIONS_ACTIVE,
            "Conversations with a message in the last 30 minutes.",
            Kind::Gauge,
            &[],
            1,
            &[],
        ),
        closed: Family::new(
            v::PROM_CONVERSATIONS_CLOSED,
            "Conversations closed.",
            Kind::Counter,
            &[],
            1,
            &[],
        ),
        messages: Family::new(
            v::PROM_MESSAGES,
            "Messages, by direction, channel and type.",
            Kind::Counter,
            &[v::PL_DIRECTION, v::PL_CHANNEL, v::PL_MESSAGE_TYPE],
            1,
            &[],
        ),
        first_response: Family::new(
            v::PROM_FIRST_RESPONSE,
            "Seconds from a user's message to the bot's next message in the conversation.",
            Kind::Histogram,
            &[v::PL_CHANNEL],
            1,
            &RESPONSE_BUCKETS,
        ),
        resolution: Family::new(
            v::PROM_RESOLUTION,
            "Seconds from a conversation's first message to its close.",
            Kind::Histogram,
            &[],
            1,
            &RESOLUTION_BUCKETS,
        ),
        handoffs: Family::new(
            v::PROM_HANDOFFS,
            "Handoffs between bot roles (or to an operator), by from and to.",
            Kind::Counter,
            &[v::PL_HANDOFF_FROM, v::PL_HANDOFF_TO],
            1,
            &[],
        ),
    })
}

impl Families {
    pub(crate) fn all(&self) -> [&Family; 7] {
        [
            &self.opened,
            &self.active,
            &self.closed,
            &self.messages,
            &self.first_response,
            &self.resolution,
            &self.handoffs,
        ]
    }
}

struct State {
    opened: Instant,
    last: Instant,
    waiting_since: Option<(Instant, &'static str)>,
}

fn states() -> &'static Mutex<HashMap<String, State>> {
    static S: OnceLock<Mutex<HashMap<String, State>>> = OnceLock::new();
    S.get_or_init(Default::default)
}

fn bounded(map: &mut HashMap<String, State>) {
    if map.len() < MAX_TRACKED {
        return;
    }
    // Forget the least recently active tenth at once (amortized).
    let mut lasts: Vec<Instant> = map.values().map(|s| s.last).collect();
    let cut = lasts.len() / 10;
    lasts.select_nth_unstable(cut);
    let limit = lasts[cut];
    map.retain(|_, s| s.last > limit);
}

fn channel_label(channel: &str) -> &str {
    crate::registry::label_value(channel)
}

/// Counts one message in `chatobs_messages_total`.
fn count_message(direction: &'static str, channel: &str, message_type: &str) {
    families().messages.add(
        &[
            direction,
            channel_label(channel),
            crate::registry::label_value(message_type),
        ],
        1,
    );
}

/// Starts tracking `session` (bounded first).
fn start(
    map: &mut HashMap<String, State>,
    session: &str,
    now: Instant,
    waiting: Option<(Instant, &'static str)>,
) {
    bounded(map);
    map.insert(
        session.to_owned(),
        State {
            opened: now,
            last: now,
            waiting_since: waiting,
        },
    );
}

/// A user's message arrived in conversation `session` (its session id).
pub fn inbound(session: &str, channel: &'static str, message_type: &str) {
    inbound_at(session, channel, message_type, Instant::now())
}

pub(crate) fn inbound_at(session: &str, channel: &'static str, message_type: &str, now: Instant) {
    if !crate::is_enabled() {
        return;
    }
    let f = families();
    count_message("inbound", channel, message_type);
    let mut map = states().lock().unwrap_or_else(|e| e.into_inner());
    match map.get_mut(session) {
        Some(s) => {
            s.last = now;
            if s.waiting_since.is_none() {
                s.waiting_since = Some((now, channel));
            }
        }
        None => {
            start(&mut map, session, now, Some((now, channel)));
            drop(map);
            if let Some(c) = f.opened.scalar(&[channel_label(channel)]) {
                c.add(1);
            }
        }
    }
}

/// The bot sent a message in conversation `session` (`None`: outside any).
pub fn outbound(session: Option<&str>, channel: &'static str, message_type: &str) {
    outbound_at(session, channel, message_type, Instant::now())
}

pub(crate) fn outbound_at(
    session: Option<&str>,
    channel: &'static str,
    message_type: &str,
    now: Instant,
) {
    if !crate::is_enabled() {
        return;
    }
    let f = families();
    count_message("outbound", channel, message_type);
    let Some(session) = session else { return };
    let waited = {
        let mut map = states().lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(session) {
            Some(s) => {
                s.last = now;
                s.waiting_since.take()
            }
            None => {
                // The bot writes first (a template): the conversation opens now.
                start(&mut map, session, now, None);
                None
            }
        }
    };
    if let Some((since, ch)) = waited {
        if let Some(h) = f.first_response.hist(&[channel_label(ch)]) {
            h.observe(now.saturating_duration_since(since).as_secs_f64());
        }
    }
}

/// Conversation `session` was closed: its resolution time, and it is forgotten.
pub fn closed(session: &str) {
    closed_at(session, Instant::now())
}

pub(crate) fn closed_at(session: &str, now: Instant) {
    if !crate::is_enabled() {
        return;
    }
    let f = families();
    if let Some(c) = f.closed.scalar(&[]) {
        c.add(1);
    }
    let s = states()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(session);
    if let Some(s) = s {
        if let Some(h) = f.resolution.hist(&[]) {
            h.observe(now.saturating_duration_since(s.opened).as_secs_f64());
        }
    }
}

/// A handoff between roles.
pub fn handoff(from: &str, to: &str) {
    if !crate::is_enabled() {
        return;
    }
    if let Some(c) = families().handoffs.scalar(&[
        crate::registry::label_value(from),
        crate::registry::label_value(to),
    ]) {
        c.add(1);
    }
}

/// Sets the active gauge (before each render).
pub(crate) fn refresh() {
    let now = Instant::now();
    let n = states()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .filter(|s| now.saturating_duration_since(s.last) <= ACTIVE_WINDOW)
        .count();
    if let Some(c) = families().active.scalar(&[]) {
        c.set(n as u64);
    }
}
