//! Operator and user feedback: thumbs-up / thumbs-down on a bot's answer.
//!
//! * An operator (a person reviewing conversations) rates a span, or a
//!   WhatsApp message by its id (wamid), with an operator id and an
//!   optional note: [`FeedbackRecorder::record`],
//!   [`FeedbackRecorder::record_for_wamid`].
//! * A user reacts to a bot reply with 👍 or 👎 (any skin tone): the
//!   webhook's reaction message names the replied message's wamid;
//!   [`FeedbackRecorder::record_webhook`] turns it into user feedback.
//! * wamid → span: when the bot sends a message it registers the id
//!   WhatsApp returned with the context of the span that sent it
//!   ([`FeedbackRecorder::register_sent`]). The map is bounded
//!   (`evals.feedback.wamid_capacity`, oldest dropped first) and forgets
//!   ids after `evals.feedback.wamid_ttl_hours`.
//!
//! Each feedback becomes a span `feedback` (kind EVALUATOR), child of the
//! rated span, with its session id, `feedback.role|label|score|source`
//! (`feedback.operator_id`, `feedback.note` redacted, `feedback.wamid`,
//! `feedback.emoji` when known), the evaluation attributes
//! `eval.user_feedback.*` or `eval.operator_feedback.*` and the event
//! `gen_ai.evaluation.result` (name `user feedback` / `operator feedback`);
//! a counter by label and role ([`FeedbackRecorder::counts`]); and, with a
//! Phoenix exporter, a HUMAN span annotation.
//!
//! ```
//! use chatobs_runtime::evals::{Feedback, FeedbackConfig, FeedbackRecorder, Thumb};
//! use chatobs_runtime::{testing, SpanBuilder};
//!
//! let feedback = FeedbackRecorder::new(&FeedbackConfig::default());
//! let ((), spans) = testing::capture(|| {
//!     let send = SpanBuilder::new("whatsapp.send").start();
//!     feedback.register_sent("wamid.HBgL123", send.context());
//!     drop(send);
//!     // Later, the user reacts with a thumbs-up to that message:
//!     let webhook = serde_json::json!({"entry": [{"changes": [{"value": {"messages": [
//!         {"type": "reaction", "id": "wamid.R1", "reaction": {"message_id": "wamid.HBgL123", "emoji": "👍"}}
//!     ]}}]}]});
//!     assert_eq!(feedback.record_webhook(&webhook).len(), 1);
//! });
//! let fb = spans.one("feedback");
//! assert_eq!(fb.parent_span_id, spans.one("whatsapp.send").span_id);
//! assert_eq!(fb.attr_str("feedback.label"), Some("thumbs-up"));
//! assert_eq!(feedback.counts(), vec![("thumbs-up".to_string(), "user".to_string(), 1)]);
//! ```

use super::config::FeedbackConfig;
use super::phoenix::{Annotation, AnnotationResult, PhoenixAnnotations};
use crate::context::Context;
use crate::model::{KeyValue, Value};
use crate::span::SpanBuilder;
use crate::vocab::{self, Role, SpanKind};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Thumbs-up or thumbs-down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Thumb {
    /// Good answer (score 1).
    Up,
    /// Bad answer (score 0).
    Down,
}

impl Thumb {
    /// `thumbs-up` or `thumbs-down`.
    pub fn label(self) -> &'static str {
        match self {
            Thumb::Up => "thumbs-up",
            Thumb::Down => "thumbs-down",
        }
    }
    /// 1 or 0.
    pub fn score(self) -> f64 {
        match self {
            Thumb::Up => 1.0,
            Thumb::Down => 0.0,
        }
    }
    /// 👍 / 👎 (any skin tone), else `None`.
    pub fn from_emoji(emoji: &str) -> Option<Thumb> {
        let base: String = emoji
            .chars()
            .filter(|c| !('\u{1F3FB}'..='\u{1F3FF}').contains(c) && *c != '\u{FE0F}')
            .collect();
        match base.as_str() {
            "\u{1F44D}" => Some(Thumb::Up),
            "\u{1F44E}" => Some(Thumb::Down),
            _ => None,
        }
    }
}

/// Who gave the feedback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeedbackSource {
    /// The user of the conversation (a WhatsApp reaction).
    User,
    /// An operator.
    Operator,
}

impl FeedbackSource {
    /// `user` or `operator`.
    pub fn role(self) -> &'static str {
        match self {
            FeedbackSource::User => "user",
            FeedbackSource::Operator => "operator",
        }
    }
    /// `user feedback` or `operator feedback`.
    pub fn name(self) -> &'static str {
        match self {
            FeedbackSource::User => vocab::USER_FEEDBACK_NAME,
            FeedbackSource::Operator => vocab::OPERATOR_FEEDBACK_NAME,
        }
    }
    fn key(self) -> &'static str {
        match self {
            FeedbackSource::User => vocab::USER_FEEDBACK_KEY,
            FeedbackSource::Operator => vocab::OPERATOR_FEEDBACK_KEY,
        }
    }
}

/// One feedback.
#[derive(Clone, Debug, PartialEq)]
pub struct Feedback {
    /// Up or down.
    pub thumb: Thumb,
    /// User or operator.
    pub source: FeedbackSource,
    /// The operator's id (operator feedback).
    pub operator_id: Option<String>,
    /// A note (redacted like any free text before export).
    pub note: Option<String>,
}

impl Feedback {
    /// Feedback from operator `operator_id`.
    pub fn operator(thumb: Thumb, operator_id: impl Into<String>) -> Feedback {
        Feedback {
            thumb,
            source: FeedbackSource::Operator,
            operator_id: Some(operator_id.into()),
            note: None,
        }
    }
    /// Feedback from the conversation's user.
    pub fn user(thumb: Thumb) -> Feedback {
        Feedback {
            thumb,
            source: FeedbackSource::User,
            operator_id: None,
            note: None,
        }
    }
    /// With a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// Why feedback could not be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedbackError {
    /// The wamid is not (or no longer) known.
    #[error("no span is known for WhatsApp message {0:?} (never registered, evicted or expired)")]
    UnknownMessage(String),
    /// The target context names no span.
    #[error("the feedback's target names no span")]
    NoSpan,
}

struct WamidMap {
    map: HashMap<String, (Context, Instant)>,
    order: VecDeque<(String, Instant)>,
    capacity: usize,
    ttl: Duration,
}

impl WamidMap {
    fn insert(&mut self, wamid: String, ctx: Context) {
        let now = Instant::now();
        self.expire(now);
        while self.map.len() >= self.capacity {
            match self.order.pop_front() {
                Some((old, at)) => {
                    if self.map.get(&old).is_some_and(|(_, t)| *t == at) {
                        self.map.remove(&old);
                    }
                }
                None => break,
            }
        }
        self.order.push_back((wamid.clone(), now));
        self.map.insert(wamid, (ctx, now));
        // Re-registrations leave stale order entries; keep the queue bounded too.
        if self.order.len() > self.capacity.saturating_mul(2) {
            let map = &self.map;
            self.order
                .retain(|(w, at)| map.get(w).is_some_and(|(_, t)| t == at));
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some((w, at)) = self.order.front() {
            if now.duration_since(*at) <= self.ttl {
                break;
            }
            if self.map.get(w).is_some_and(|(_, t)| t == at) {
                self.map.remove(w);
            }
            self.order.pop_front();
        }
    }

    fn get(&mut self, wamid: &str) -> Option<Context> {
        self.expire(Instant::now());
        self.map.get(wamid).map(|(c, _)| c.clone())
    }
}

/// Records feedback (see the module docs).
pub struct FeedbackRecorder {
    wamids: Mutex<WamidMap>,
    counts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// The user's standing 👍 / 👎 per rated message (by the id given to
    /// the recorder), so a changed or removed reaction replaces it.
    user_thumbs: Mutex<(HashMap<String, Thumb>, VecDeque<String>)>,
    phoenix: Option<PhoenixAnnotations>,
}

impl std::fmt::Debug for FeedbackRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedbackRecorder")
            .field("counts", &self.counts())
            .finish()
    }
}

impl FeedbackRecorder {
    /// A recorder with the wamid map bounds of `cfg`; it sends each
    /// feedback to the installed Phoenix exporter, if any
    /// ([`crate::phoenix::installed`]).
    pub fn new(cfg: &FeedbackConfig) -> FeedbackRecorder {
        FeedbackRecorder {
            wamids: Mutex::new(WamidMap {
                map: HashMap::new(),
                order: VecDeque::new(),
                capacity: cfg.wamid_capacity.max(1),
                ttl: Duration::from_secs(cfg.wamid_ttl_hours.saturating_mul(3600)),
            }),
            counts: Mutex::new(BTreeMap::new()),
            user_thumbs: Mutex::new((HashMap::new(), VecDeque::new())),
            // The installed Phoenix exporter (`chatobs_runtime::init` installs
            // one whenever Phoenix is configured).
            phoenix: super::phoenix::installed(),
        }
    }

    /// Also sends each feedback to Phoenix as a HUMAN annotation.
    pub fn with_phoenix(mut self, p: PhoenixAnnotations) -> Self {
        self.phoenix = Some(p);
        self
    }

    /// Remembers that the message `wamid` was sent by the span `ctx` (call it
    /// with the id WhatsApp's send API returned, inside or with the context
    /// of the span that sent it).
    pub fn register_sent(&self, wamid: &str, ctx: Context) {
        if wamid.is_empty() || wamid.len() > 256 || !ctx.has_span() {
            return;
        }
        self.wamids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(wamid.to_owned(), ctx);
    }

    /// [`FeedbackRecorder::register_sent`] with the current span.
    pub fn register_sent_current(&self, wamid: &str) {
        self.register_sent(wamid, Context::current());
    }

    /// The span that sent `wamid`, if known.
    pub fn span_of(&self, wamid: &str) -> Option<Context> {
        self.wamids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(wamid)
    }

    /// Records `fb` against the span `target`.
    pub fn record(&self, target: &Context, fb: &Feedback) -> Result<(), FeedbackError> {
        self.record_inner(target, fb, "api", None, None)
    }

    /// Records `fb` against the span that sent WhatsApp message `wamid`.
    pub fn record_for_wamid(&self, wamid: &str, fb: &Feedback) -> Result<(), FeedbackError> {
        let target = self
            .span_of(wamid)
            .ok_or_else(|| FeedbackError::UnknownMessage(exported_wamid(wamid)))?;
        self.record_inner(&target, fb, "wamid", Some(wamid), None)
    }

    /// Reads a WhatsApp Cloud API webhook payload (the whole body) and records
    /// a user feedback for every 👍 / 👎 reaction to a known bot message.
    /// A removed reaction, or one replaced by another emoji, withdraws the
    /// feedback the earlier thumb gave ([`FeedbackRecorder::withdraw_reaction`]).
    /// Other messages are ignored.
    /// Returns, per reaction considered, its outcome.
    pub fn record_webhook(&self, payload: &serde_json::Value) -> Vec<Result<Thumb, FeedbackError>> {
        let mut out = Vec::new();
        let entries = payload["entry"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for entry in entries {
            let changes = entry["changes"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            for change in changes {
                let msgs = change["value"]["messages"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                for m in msgs {
                    if m["type"].as_str() != Some("reaction") {
                        continue;
                    }
                    let Some(wamid) = m["reaction"]["message_id"].as_str() else {
                        continue;
                    };
                    let emoji = m["reaction"]["emoji"].as_str().unwrap_or("");
                    let Some(thumb) = Thumb::from_emoji(emoji) else {
                        // Removed (empty emoji) or replaced by another emoji:
                        // the earlier thumb no longer holds.
                        self.withdraw_reaction(wamid);
                        continue;
                    };
                    out.push(self.record_reaction(wamid, emoji, thumb).map(|()| thumb));
                }
            }
        }
        out
    }

    fn record_reaction(&self, wamid: &str, emoji: &str, thumb: Thumb) -> Result<(), FeedbackError> {
        let target = self
            .span_of(wamid)
            .ok_or_else(|| FeedbackError::UnknownMessage(exported_wamid(wamid)))?;
        self.record_inner(
            &target,
            &Feedback::user(thumb),
            "reaction",
            Some(wamid),
            Some(emoji),
        )
    }

    fn record_inner(
        &self,
        target: &Context,
        fb: &Feedback,
        source: &'static str,
        wamid: Option<&str>,
        emoji: Option<&str>,
    ) -> Result<(), FeedbackError> {
        if !target.has_span() {
            return Err(FeedbackError::NoSpan);
        }
        let label = fb.thumb.label();
        let score = fb.thumb.score();
        let note = fb
            .note
            .as_deref()
            .map(|n| crate::redact::truncate(&crate::redact::redact_free_text(n), 1024));
        let operator = fb
            .operator_id
            .as_deref()
            .map(|o| crate::redact::truncate(&crate::redact::redact_free_text(o), 128));
        let key = fb.source.key();
        let mut b = SpanBuilder::new(vocab::FEEDBACK_SPAN)
            .span_kind(SpanKind::Evaluator)
            .parent(target.clone())
            .attribute(vocab::FEEDBACK_ROLE, fb.source.role())
            .attribute(vocab::FEEDBACK_LABEL, label)
            .attribute(vocab::FEEDBACK_SCORE, score)
            .attribute(vocab::FEEDBACK_SOURCE, source)
            .attribute(vocab::EVAL_NAME, fb.source.name())
            .attribute(vocab::EVAL_ANNOTATOR_KIND, "HUMAN")
            .attribute(vocab::EVAL_TARGET_SPAN_ID, target.span_id.to_hex())
            .attribute(vocab::eval_key(key, vocab::EVAL_LABEL_SUFFIX), label)
            .attribute(vocab::eval_key(key, vocab::EVAL_SCORE_SUFFIX), score);
        if fb.source == FeedbackSource::Operator {
            b = b.role(Role::OPERATOR);
        }
        if let Some(o) = &operator {
            b = b.attribute(vocab::FEEDBACK_OPERATOR_ID, o.clone());
        }
        if let Some(n) = &note {
            b = b.attribute(vocab::FEEDBACK_NOTE, n.clone()).attribute(
                vocab::eval_key(key, vocab::EVAL_EXPLANATION_SUFFIX),
                n.clone(),
            );
        }
        if let Some(w) = wamid {
            b = b.attribute(vocab::FEEDBACK_WAMID, exported_wamid(w));
        }
        if let Some(e) = emoji {
            b = b.attribute(vocab::FEEDBACK_EMOJI, crate::redact::truncate(e, 32));
        }
        let mut span = b.start();
        let mut event: Vec<KeyValue> = vec![
            (
                Cow::Borrowed(vocab::GEN_AI_EVALUATION_NAME),
                Value::from(fb.source.name()),
            ),
            (
                Cow::Borrowed(vocab::GEN_AI_EVALUATION_SCORE_LABEL),
                Value::from(label),
            ),
            (
                Cow::Borrowed(vocab::GEN_AI_EVALUATION_SCORE_VALUE),
                Value::F64(score),
            ),
        ];
        if let Some(n) = &note {
            event.push((
                Cow::Borrowed(vocab::GEN_AI_EVALUATION_EXPLANATION),
                Value::from(n.clone()),
            ));
        }
        span.add_event(vocab::GEN_AI_EVALUATION_RESULT, event);
        span.set_ok();
        drop(span);
        if let (FeedbackSource::User, Some(w)) = (fb.source, wamid) {
            // A user's new reaction to the same message replaces the old one.
            if let Some(prev) = self.set_user_thumb(w, fb.thumb) {
                self.uncount(prev.label(), FeedbackSource::User.role());
            }
        }
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((label, fb.source.role()))
            .or_insert(0) += 1;
        if let Some(p) = &self.phoenix {
            p.send(Annotation {
                span_id: target.span_id.to_hex(),
                name: fb.source.name().to_owned(),
                annotator_kind: "HUMAN",
                result: AnnotationResult {
                    label: Some(label.to_owned()),
                    score: Some(score),
                    explanation: note,
                },
                identifier: operator.unwrap_or_default(),
                metadata: super::phoenix::metadata(target),
            });
        }
        Ok(())
    }

    /// Withdraws the user feedback a reaction to `wamid` gave (the user
    /// removed the reaction, or replaced it with an emoji that is not a
    /// thumb): a `feedback` span under the rated span with
    /// `feedback.withdrawn = true` and `feedback.label = "withdrawn"`, the
    /// earlier feedback taken out of [`FeedbackRecorder::counts`], and, with
    /// Phoenix, the HUMAN annotation overwritten by one labelled `withdrawn`
    /// (Phoenix keeps one annotation per span, name and identifier).
    /// Returns the thumb withdrawn; `None` when no feedback stood for
    /// `wamid` (nothing is recorded then).
    ///
    /// ```
    /// use chatobs_runtime::evals::{Feedback, FeedbackConfig, FeedbackRecorder, Thumb};
    /// use chatobs_runtime::{testing, SpanBuilder};
    /// let fb = FeedbackRecorder::new(&FeedbackConfig::default());
    /// let ((), spans) = testing::capture(|| {
    ///     let send = SpanBuilder::new("whatsapp.send").start();
    ///     fb.register_sent("wamid.A", send.context());
    ///     drop(send);
    ///     fb.record_for_wamid("wamid.A", &Feedback::user(Thumb::Up)).unwrap();
    ///     assert_eq!(fb.withdraw_reaction("wamid.A"), Some(Thumb::Up));
    ///     assert_eq!(fb.withdraw_reaction("wamid.A"), None);
    /// });
    /// assert!(fb.counts().is_empty());
    /// let w = spans.named("feedback").into_iter().find(|s| s.attr_str("feedback.label") == Some("withdrawn")).unwrap();
    /// assert_eq!(w.attr("feedback.withdrawn").and_then(|v| v.as_bool()), Some(true));
    /// ```
    pub fn withdraw_reaction(&self, wamid: &str) -> Option<Thumb> {
        let prev = {
            let mut g = self.user_thumbs.lock().unwrap_or_else(|e| e.into_inner());
            let prev = g.0.remove(wamid)?;
            g.1.retain(|w| w != wamid);
            prev
        };
        self.uncount(prev.label(), FeedbackSource::User.role());
        let target = self.span_of(wamid)?;
        if !target.has_span() {
            return Some(prev);
        }
        let key = FeedbackSource::User.key();
        let mut span = SpanBuilder::new(vocab::FEEDBACK_SPAN)
            .span_kind(SpanKind::Evaluator)
            .parent(target.clone())
            .attribute(vocab::FEEDBACK_ROLE, FeedbackSource::User.role())
            .attribute(vocab::FEEDBACK_LABEL, "withdrawn")
            .attribute(vocab::FEEDBACK_WITHDRAWN, true)
            .attribute(vocab::FEEDBACK_SOURCE, "reaction")
            .attribute(vocab::FEEDBACK_WAMID, exported_wamid(wamid))
            .attribute(vocab::EVAL_NAME, FeedbackSource::User.name())
            .attribute(vocab::EVAL_ANNOTATOR_KIND, "HUMAN")
            .attribute(vocab::EVAL_TARGET_SPAN_ID, target.span_id.to_hex())
            .attribute(vocab::eval_key(key, vocab::EVAL_LABEL_SUFFIX), "withdrawn")
            .start();
        span.add_event(
            vocab::GEN_AI_EVALUATION_RESULT,
            vec![
                (
                    Cow::Borrowed(vocab::GEN_AI_EVALUATION_NAME),
                    Value::from(FeedbackSource::User.name()),
                ),
                (
                    Cow::Borrowed(vocab::GEN_AI_EVALUATION_SCORE_LABEL),
                    Value::from("withdrawn"),
                ),
            ],
        );
        span.set_ok();
        drop(span);
        if let Some(p) = &self.phoenix {
            p.send(Annotation {
                span_id: target.span_id.to_hex(),
                name: FeedbackSource::User.name().to_owned(),
                annotator_kind: "HUMAN",
                result: AnnotationResult {
                    label: Some("withdrawn".to_owned()),
                    score: None,
                    explanation: None,
                },
                identifier: String::new(),
                metadata: super::phoenix::metadata(&target),
            });
        }
        Some(prev)
    }

    /// Remembers the user's thumb for `wamid`; returns the one it replaces.
    fn set_user_thumb(&self, wamid: &str, thumb: Thumb) -> Option<Thumb> {
        let cap = self
            .wamids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .capacity;
        let mut g = self.user_thumbs.lock().unwrap_or_else(|e| e.into_inner());
        let prev = g.0.insert(wamid.to_owned(), thumb);
        if prev.is_none() {
            g.1.push_back(wamid.to_owned());
            while g.0.len() > cap {
                match g.1.pop_front() {
                    Some(old) => {
                        g.0.remove(&old);
                    }
                    None => break,
                }
            }
        }
        prev
    }

    fn uncount(&self, label: &'static str, role: &'static str) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = c.get_mut(&(label, role)) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.remove(&(label, role));
            }
        }
    }

    /// Feedback counted so far, by (label, role), sorted.
    pub fn counts(&self) -> Vec<(String, String, u64)> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|((l, r), n)| ((*l).to_owned(), (*r).to_owned(), *n))
            .collect()
    }
}

/// A WhatsApp message id as it may leave the process: real wamids carry the
/// customer's phone number (base64), so only their keyed hash is exported
/// (`keyed_hash(["wamid", id])`, the same the webhook writes in
/// `messaging.message.id`, so feedback joins the message). An id that already
/// is such a hash (`cs_` and 32 hex digits) is kept as it is.
pub fn exported_wamid(wamid: &str) -> String {
    let is_hash = wamid.len() == 35
        && wamid.starts_with("cs_")
        && wamid[3..].bytes().all(|b| b.is_ascii_hexdigit());
    if is_hash {
        wamid.to_owned()
    } else {
        crate::context::keyed_hash(&["wamid", wamid])
    }
}
