//! The record of a span: what a live span fills while it runs, what
//! [`finish`] hands to the sink (or to the test kit's [`CAPTURED`] map), and
//! its conversion to a [`FinishedSpan`] on the export thread.

use super::sink::Sink;
use crate::context::ChatSession;
use crate::ids::{SpanId, TraceId};
use crate::model::{Event, FinishedSpan, KeyValue, Link, OtelKind, Status, Value};
use crate::vocab::{self, Role, SpanKind, TemplateCategory};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

/// A span while it runs and until the export thread has copied it.
pub(crate) struct Record {
    pub name: Cow<'static, str>,
    pub otel_kind: OtelKind,
    pub trace_id: u128,
    pub span_id: u64,
    pub parent_span_id: u64,
    pub parent_remote: bool,
    pub start: SystemTime,
    pub end: SystemTime,
    pub role: Option<Role>,
    pub chat_kind: Option<SpanKind>,
    pub category: Option<TemplateCategory>,
    pub tags: &'static [&'static str],
    pub extra_tags: Vec<Cow<'static, str>>,
    pub model: Option<&'static str>,
    pub provider: Option<&'static str>,
    pub step: Option<Cow<'static, str>>,
    pub session: Option<ChatSession>,
    pub status: Status,
    pub attrs: Vec<KeyValue>,
    pub events: Vec<Event>,
    pub links: Vec<Link>,
    pub capture: u64,
    /// What [`Record::approx_bytes`] counted when the record was queued:
    /// the export thread gives back exactly that to the byte budget,
    /// without walking the record again.
    pub queued_bytes: usize,
    pub sink: &'static Sink,
}

/// Heap bytes a string of a record holds (0 for a `&'static str`). It takes
/// the `Cow` itself: whether the string is owned is the point.
#[allow(clippy::ptr_arg)]
fn cow_bytes(c: &Cow<'static, str>) -> usize {
    match c {
        Cow::Borrowed(_) => 0,
        Cow::Owned(s) => s.capacity(),
    }
}

fn kv_bytes(kvs: &[KeyValue]) -> usize {
    kvs.iter()
        .map(|(k, v)| {
            cow_bytes(k)
                + match v {
                    Value::Str(s) => cow_bytes(s),
                    Value::StrArray(a) => {
                        a.capacity() * std::mem::size_of::<Cow<'static, str>>()
                            + a.iter().map(cow_bytes).sum::<usize>()
                    }
                    Value::I64Array(a) => a.capacity() * std::mem::size_of::<i64>(),
                    Value::F64Array(a) => a.capacity() * std::mem::size_of::<f64>(),
                    Value::BoolArray(a) => a.capacity(),
                    _ => 0,
                }
        })
        .sum()
}

impl Record {
    /// An empty record of `sink`, its lists unallocated (every field is
    /// set again for its span; the bridge fills one in with struct update).
    pub(crate) fn empty(sink: &'static Sink) -> Record {
        Record {
            name: Cow::Borrowed(""),
            otel_kind: OtelKind::Internal,
            trace_id: 0,
            span_id: 0,
            parent_span_id: 0,
            parent_remote: false,
            start: SystemTime::UNIX_EPOCH,
            end: SystemTime::UNIX_EPOCH,
            role: None,
            chat_kind: None,
            category: None,
            tags: &[],
            extra_tags: Vec::new(),
            model: None,
            provider: None,
            step: None,
            session: None,
            status: Status::Unset,
            attrs: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
            capture: 0,
            queued_bytes: 0,
            sink,
        }
    }

    /// An empty record of `sink` with room for a chat span's attributes.
    pub(crate) fn blank(sink: &'static Sink) -> Record {
        Record {
            attrs: Vec::with_capacity(8),
            ..Record::empty(sink)
        }
    }

    /// Empties the attribute, event, link and extra-tag lists for a new
    /// span, keeping their room (not an unusually large one), and takes
    /// `attrs` as the attributes when it has any.
    pub(crate) fn reset_lists(&mut self, attrs: Vec<KeyValue>) {
        if attrs.capacity() > 0 {
            self.attrs = attrs;
        } else if self.attrs.capacity() > 64 {
            self.attrs = Vec::with_capacity(8);
        } else {
            self.attrs.clear();
        }
        if self.events.capacity() > 16 {
            self.events = Vec::new();
        } else {
            self.events.clear();
        }
        self.links = Vec::new();
        self.extra_tags = Vec::new();
    }

    /// About how many bytes this record holds (the box, its vectors and their
    /// owned strings): what the queue's byte budget counts. The same record
    /// gives the same figure while it waits in the queue.
    pub(crate) fn approx_bytes(&self) -> usize {
        use std::mem::size_of;
        size_of::<Record>()
            + cow_bytes(&self.name)
            + self.step.as_ref().map_or(0, cow_bytes)
            + self.extra_tags.capacity() * size_of::<Cow<'static, str>>()
            + self.extra_tags.iter().map(cow_bytes).sum::<usize>()
            + self.attrs.capacity() * size_of::<KeyValue>()
            + kv_bytes(&self.attrs)
            + self.events.capacity() * size_of::<Event>()
            + self
                .events
                .iter()
                .map(|e| {
                    cow_bytes(&e.name)
                        + e.attributes.capacity() * size_of::<KeyValue>()
                        + kv_bytes(&e.attributes)
                })
                .sum::<usize>()
            + self.links.capacity() * size_of::<Link>()
    }

    /// Spells out every attribute (runs on the export thread). Copies
    /// rather than moves: the record goes back to a bot thread to be freed
    /// (see [`Sink::returned`]), and the copy is the export thread's own memory.
    pub(crate) fn to_finished(&self) -> FinishedSpan {
        let mut out = FinishedSpan {
            name: Cow::Borrowed(""),
            kind: self.otel_kind,
            trace_id: TraceId(0),
            span_id: SpanId(0),
            parent_span_id: SpanId(0),
            parent_remote: false,
            start: self.start,
            end: self.end,
            status: Status::Unset,
            attributes: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
        };
        self.finish_into(&mut out);
        out
    }

    /// [`Record::to_finished`] into `out`, reusing its vectors' room (the
    /// export thread keeps a batch's spans for the next batch): the
    /// attribute list, and the tag lists of the span it held before.
    pub(crate) fn finish_into(&self, out: &mut FinishedSpan) {
        let mut attributes = std::mem::take(&mut out.attributes);
        // The last span's tag lists (`tag.tags`, `logfire.tags`), emptied,
        // are this one's: two allocations and two frees fewer per span.
        let mut lists: [Vec<Cow<'static, str>>; 2] = Default::default();
        let mut taken = 0;
        for (_, v) in attributes.iter_mut() {
            if let (Value::StrArray(t), Some(slot)) = (v, lists.get_mut(taken)) {
                t.clear();
                *slot = std::mem::take(t);
                taken += 1;
            }
        }
        attributes.clear();
        attributes.reserve(DERIVED_MAX + self.attrs.len());
        let mut fill = Fill {
            slots: attributes.spare_capacity_mut(),
            n: 0,
        };
        if let Some(r) = self.role {
            fill.put(vocab::AGENT_ROLE, || Value::Str(Cow::Borrowed(r.as_str())));
        }
        if let Some(s) = &self.step {
            fill.put(vocab::CONVERSATION_STEP, || Value::Str(s.clone()));
        }
        if let Some(c) = self.category {
            fill.put(vocab::TEMPLATE_CATEGORY, || {
                Value::Str(Cow::Borrowed(c.as_str()))
            });
        }
        // Every span carries an OpenInference kind (Phoenix shows UNKNOWN
        // otherwise): the declared one, else one implied by the span.
        let declared = self
            .attrs
            .iter()
            .any(|(k, _)| k == vocab::OPENINFERENCE_SPAN_KIND);
        if !declared {
            let k = self.chat_kind.unwrap_or_else(|| {
                let genai = self
                    .attrs
                    .iter()
                    .any(|(k, _)| k == vocab::GEN_AI_OPERATION_NAME);
                vocab::SpanKind::default_for(self.role, genai)
            });
            fill.put(vocab::OPENINFERENCE_SPAN_KIND, || {
                Value::Str(Cow::Borrowed(k.as_str()))
            });
        }
        if !self.tags.is_empty() || !self.extra_tags.is_empty() {
            let [mut tags, mut copy] = lists;
            tags.extend(self.tags.iter().map(|t| Cow::Borrowed(*t)));
            tags.extend(self.extra_tags.iter().cloned());
            copy.extend_from_slice(&tags);
            fill.put(vocab::TAG_TAGS, || Value::StrArray(tags));
            fill.put(vocab::LOGFIRE_TAGS, || Value::StrArray(copy));
        }
        if let Some(s) = &self.session {
            let id: Cow<'static, str> = Cow::Owned(s.id().to_owned());
            // A root marked as no user turn (a status callback, a reaction, a
            // conversation closing) keeps `chat.session_id` and `user.id` but
            // not the aliases session views group by (Phoenix, Langfuse): a
            // backend's session lists the user's turns, and Phoenix's first
            // input and last output are those of its first and last trace.
            let side = self
                .attrs
                .iter()
                .any(|(k, v)| k == vocab::CHAT_TURN && matches!(v, Value::Bool(false)));
            fill.put(vocab::CHAT_SESSION_ID, || Value::Str(id.clone()));
            if !side {
                fill.put(vocab::SESSION_ID, || Value::Str(id.clone()));
                fill.put(vocab::GEN_AI_CONVERSATION_ID, || Value::Str(id));
            }
            if let Some(u) = s.user_id() {
                fill.put(vocab::USER_ID, || Value::Str(Cow::Owned(u.to_owned())));
            }
        }
        if let Some(m) = self.model {
            fill.put(vocab::GEN_AI_OPERATION_NAME, || {
                Value::Str(Cow::Borrowed("chat"))
            });
            fill.put(vocab::GEN_AI_REQUEST_MODEL, || Value::Str(Cow::Borrowed(m)));
            fill.put(vocab::LLM_MODEL_NAME, || Value::Str(Cow::Borrowed(m)));
        }
        if let Some(p) = self.provider {
            fill.put(vocab::GEN_AI_PROVIDER_NAME, || Value::Str(Cow::Borrowed(p)));
            fill.put(vocab::LLM_PROVIDER, || Value::Str(Cow::Borrowed(p)));
        }
        let n = fill.n;
        // SAFETY: `attributes` was empty, and `Fill::put` initialized its
        // first `n` spare slots (at most `DERIVED_MAX`, all reserved above).
        unsafe { attributes.set_len(n) };
        attributes.extend(self.attrs.iter().cloned());
        out.name = self.name.clone();
        out.kind = self.otel_kind;
        out.trace_id = TraceId(self.trace_id);
        out.span_id = SpanId(self.span_id);
        out.parent_span_id = SpanId(self.parent_span_id);
        out.parent_remote = self.parent_remote;
        out.start = self.start;
        out.end = self.end;
        out.status = self.status.clone();
        out.attributes = attributes;
        out.events.clear();
        out.events.extend(self.events.iter().cloned());
        out.links.clear();
        out.links.extend(self.links.iter().cloned());
    }

    pub(crate) fn set_attr(&mut self, key: Cow<'static, str>, value: Value) {
        if let Some(slot) = self.attrs.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            self.attrs.push((key, value));
        }
    }
}

/// Prefetch hints for the room [`Record::finish_into`] will reuse in `f`
/// (a span of a batch the exporters are done with). `far`: its attribute
/// list; otherwise the tag lists that list holds (read from the list, which
/// an earlier `far` hint for the same span brought in). The export thread
/// converts a batch's records into the last batch's spans; their lists were
/// last touched a batch ago (about a megabyte back, more than this core's
/// L2), and the first reads of them (looking for the tag lists, dropping the
/// old tags) were a third of the conversion's time (perf annotate,
/// `throughput` discarding at saturation). Hinted a few spans ahead, the
/// misses overlap instead of following one another.
#[inline]
pub(crate) fn prefetch_room(f: &FinishedSpan, far: bool) {
    use super::sink::prefetch_for_write;
    if far {
        prefetch_for_write(
            f.attributes.as_ptr().cast(),
            f.attributes.len() * std::mem::size_of::<KeyValue>(),
        );
        return;
    }
    for (_, v) in &f.attributes {
        if let Value::StrArray(t) = v {
            prefetch_for_write(
                t.as_ptr().cast(),
                t.len() * std::mem::size_of::<Cow<'static, str>>(),
            );
        }
    }
}

/// The most attributes [`Record::finish_into`] derives from a record's own
/// fields (role, step, category, kind, two tag lists, three session ids and
/// the user, three model and two provider attributes).
const DERIVED_MAX: usize = 15;

/// Writes attribute pairs straight into a vector's reserved room. A `push`
/// builds each pair on the stack and copies it in; the copy's 16-byte loads
/// of the 8- and 1-byte stores just made miss store forwarding, and those
/// stalls were the hottest instructions of the export thread (perf
/// annotate, `throughput` at saturation).
struct Fill<'a> {
    slots: &'a mut [std::mem::MaybeUninit<KeyValue>],
    n: usize,
}

impl Fill<'_> {
    /// The value is made once the room is checked, in the slot itself (a
    /// value passed in is built on the stack first, for the path that would
    /// drop it).
    #[inline(always)]
    fn put(&mut self, key: &'static str, value: impl FnOnce() -> Value) {
        debug_assert!(
            self.n < DERIVED_MAX,
            "finish_into derives at most DERIVED_MAX attributes"
        );
        if let Some(slot) = self.slots.get_mut(self.n) {
            // Key and value written each in its place: writing the pair
            // as one built it on the stack and copied it with loads that
            // straddle the narrower stores just made (a tag list's copy
            // was a tenth of the conversion's time).
            let p = slot.as_mut_ptr();
            // SAFETY: `p` is this slot's room (uninitialized, aligned and
            // valid for writes); each field is written once, and the slot
            // is counted as initialized (`n`) only after both are.
            unsafe {
                std::ptr::addr_of_mut!((*p).0).write(Cow::Borrowed(key));
                std::ptr::addr_of_mut!((*p).1).write(value());
            }
            self.n += 1;
        }
    }
}

/// Spans captured by the test kit, by capture token.
pub(crate) static CAPTURED: Mutex<Option<HashMap<u64, Vec<FinishedSpan>>>> = Mutex::new(None);

/// A hook run when a span of a session ends, with the state it was set
/// with (the cost ledger writes the conversation's running total with it).
/// Set once per session.
pub type SessionEndHook = fn(&(dyn std::any::Any + Send + Sync), &mut Vec<KeyValue>);

pub(crate) fn finish(mut rec: Box<Record>, session: Option<ChatSession>) {
    rec.end = crate::clock::now();
    if let Some(s) = &session {
        if let Some((hook, state)) = s.0.end_hook.get() {
            hook(&**state, &mut rec.attrs);
        }
    }
    rec.session = session;
    if rec.capture != 0 {
        let token = rec.capture;
        let span = rec.to_finished();
        let mut map = CAPTURED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = map.as_mut().and_then(|m| m.get_mut(&token)) {
            v.push(span);
        }
        return;
    }
    let sink = rec.sink;
    sink.push(rec);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::sampler::Sampler;

    fn sink() -> &'static Sink {
        Box::leak(Box::new(Sink::new(16, 1 << 20, Sampler::AlwaysOn, 4)))
    }

    /// The export thread converts each record into the span it held before:
    /// whatever that span had (tags, a session, owned strings), the result
    /// equals a fresh conversion.
    #[test]
    fn reused_conversion_equals_a_fresh_one() {
        let sink = sink();
        let session = ChatSession::from_exported_ids("conv-7", "user-7").expect("session");
        let mut records = Vec::new();
        let mut r = Record::blank(sink);
        r.name = Cow::Borrowed("agent.sales.flow");
        r.role = Some(Role::SALES);
        r.step = Some(Cow::Borrowed("qualify"));
        r.category = Some(TemplateCategory::Marketing);
        r.tags = &["checkout", "vip"];
        r.attrs
            .push((Cow::Borrowed("k"), Value::from("v".to_owned())));
        records.push(r);
        let mut r = Record::blank(sink);
        r.name = Cow::Owned("owned name".into());
        r.extra_tags = vec![Cow::Owned("late".into())];
        r.session = Some(session.clone());
        r.model = Some("gemini-1.5-flash");
        r.provider = Some("gcp.gemini");
        records.push(r);
        let mut r = Record::blank(sink);
        r.session = Some(session);
        r.attrs
            .push((Cow::Borrowed(vocab::CHAT_TURN), Value::Bool(false)));
        r.attrs.push((
            Cow::Borrowed(vocab::OPENINFERENCE_SPAN_KIND),
            Value::from("TOOL"),
        ));
        records.push(r);
        let mut r = Record::blank(sink);
        r.tags = &["only"];
        r.attrs.push((
            Cow::Borrowed("list"),
            Value::StrArray(vec![Cow::Borrowed("x")]),
        ));
        records.push(Record::empty(sink));
        records.push(r);
        let mut out = records[0].to_finished();
        // Every order: each record converted into what any other left.
        for a in &records {
            for b in &records {
                a.finish_into(&mut out);
                assert_eq!(out, a.to_finished());
                b.finish_into(&mut out);
                assert_eq!(out, b.to_finished());
            }
        }
        let fresh = records[0].to_finished();
        assert_eq!(
            fresh.attr(vocab::TAG_TAGS),
            Some(&Value::StrArray(vec![
                Cow::Borrowed("checkout"),
                Cow::Borrowed("vip")
            ]))
        );
        assert_eq!(fresh.attr(vocab::LOGFIRE_TAGS), fresh.attr(vocab::TAG_TAGS));
        let s = records[1].to_finished();
        let keys: Vec<&str> = s.attributes.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(
            keys[..4],
            [
                vocab::OPENINFERENCE_SPAN_KIND,
                vocab::TAG_TAGS,
                vocab::LOGFIRE_TAGS,
                vocab::CHAT_SESSION_ID
            ]
        );
        assert_eq!(
            s.attr(vocab::USER_ID).and_then(Value::as_str),
            Some("user-7")
        );
        let side = records[2].to_finished();
        assert_eq!(side.attr(vocab::SESSION_ID), None);
        assert_eq!(
            side.attr(vocab::CHAT_SESSION_ID).and_then(Value::as_str),
            Some("conv-7")
        );
    }
}
