//! The record of a span: what a live span fills while it runs, what
//! [`finish`] hands to the sink (or to the test kit's [`CAPTURED`] map), and
//! its conversion to a [`FinishedSpan`] on the export thread.

use super::sink::Sink;
use crate::context::ChatSession;
use crate::ids::{SpanId, TraceId};
use crate::model::{Event, FinishedSpan, KeyValue, Link, OtelKind, Status, Value};
use crate::vocab::{self, Role, SpanKind, TemplateCategory};
use std::any::Any;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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
    /// What the session's end hook took when the span ended, and how to
    /// write it into the span's attributes ([`SessionEndHook`]): written by
    /// the conversion, on the export thread.
    pub at_end: Option<(SessionEndWrite, Arc<dyn Any + Send + Sync>)>,
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
            at_end: None,
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

    /// Spells out every attribute into a new span: a copy, the record left
    /// as it was (the test kit's captures). The export thread moves instead
    /// ([`Record::move_into`]).
    pub(crate) fn to_finished(&self) -> FinishedSpan {
        let mut out = FinishedSpan::empty();
        // `out` is new: it has no old values to keep.
        let mut attributes = self.derived_into(&mut out, &mut Vec::new());
        attributes.extend(self.attrs.iter().cloned());
        if let Some((write, taken)) = &self.at_end {
            write(&**taken, &mut attributes);
        }
        out.attributes = attributes;
        out.name = self.name.clone();
        out.status = self.status.clone();
        out.events = self.events.clone();
        out.links = self.links.clone();
        self.fields_into(&mut out);
        out
    }

    /// The span of this record, written into `out` (a span of a batch the
    /// exporters are done with: its vectors' room, and the tag lists and id
    /// strings it held, are reused). The record's own attributes, events,
    /// links, name and status move instead of being copied: the record goes
    /// back to its bot thread anyway, so a copy was one allocation, one copy
    /// and one free more per owned string. The record's lists keep their
    /// room.
    ///
    /// What `out` held before, the values a bot thread allocated (owned
    /// strings and arrays, events, links, an error's message), rides back to
    /// that side in the record instead of being freed here, and is freed
    /// when the record is reused for a new span: `spare` (the export
    /// thread's, empty between calls) holds the old attributes meanwhile.
    /// With glibc's allocator each free of another thread's memory took that
    /// thread's arena lock: in the webhook benchmark these frees were 30% of
    /// the export thread's time, and the request thread, finding its arena
    /// locked, paid 2.7% of its own in futex wake-ups (perf, 2026-12-02).
    pub(crate) fn move_into(&mut self, out: &mut FinishedSpan, spare: &mut Vec<KeyValue>) {
        let mut attributes = self.derived_into(out, spare);
        attributes.append(&mut self.attrs);
        if let Some((write, taken)) = &self.at_end {
            write(&**taken, &mut attributes);
        }
        out.attributes = attributes;
        // The old values go back in the record's emptied lists, up to
        // `RETURN_BYTES_MAX` and the attribute list's room; the rest (a
        // large output, a long error) are freed here.
        let mut budget = RETURN_BYTES_MAX;
        let mut fits = |bytes: usize| {
            let ok = bytes <= budget;
            if ok {
                budget -= bytes;
            }
            ok
        };
        for kv in spare.drain(..) {
            if self.attrs.len() < self.attrs.capacity() && fits(kv_bytes(std::slice::from_ref(&kv)))
            {
                self.attrs.push(kv);
            }
        }
        if fits(events_bytes(&out.events)) {
            std::mem::swap(&mut out.events, &mut self.events);
        } else {
            out.events.clear();
            out.events.append(&mut self.events);
        }
        if fits(links_bytes(&out.links)) {
            std::mem::swap(&mut out.links, &mut self.links);
        } else {
            out.links.clear();
            out.links.append(&mut self.links);
        }
        if fits(cow_bytes(&out.name)) {
            std::mem::swap(&mut out.name, &mut self.name);
        } else {
            out.name = std::mem::replace(&mut self.name, Cow::Borrowed(""));
        }
        let status = match &out.status {
            Status::Error(m) => cow_bytes(m),
            Status::Unset | Status::Ok => 0,
        };
        if fits(status) {
            std::mem::swap(&mut out.status, &mut self.status);
        } else {
            out.status = std::mem::replace(&mut self.status, Status::Unset);
        }
        self.fields_into(out);
    }

    /// The plain fields of `out` from this record.
    #[inline(always)]
    fn fields_into(&self, out: &mut FinishedSpan) {
        out.kind = self.otel_kind;
        out.trace_id = TraceId(self.trace_id);
        out.span_id = SpanId(self.span_id);
        out.parent_span_id = SpanId(self.parent_span_id);
        out.parent_remote = self.parent_remote;
        out.start = self.start;
        out.end = self.end;
    }

    /// `out`'s attribute list, emptied (its room kept), with the attributes
    /// derived from this record's fields written first, and room for the
    /// record's own. Its old values that own memory, other than the reused
    /// ones, are moved to `old`; the rest are dropped (nothing to free).
    #[inline(always)]
    fn derived_into(&self, out: &mut FinishedSpan, old: &mut Vec<KeyValue>) -> Vec<KeyValue> {
        let mut attributes = std::mem::take(&mut out.attributes);
        // The last span's tag lists (`tag.tags`, `logfire.tags`), emptied,
        // are this one's: two allocations and two frees fewer per span. So
        // are the owned strings of its session and user ids: a
        // conversation's spans carry the same ids, and the same room holds
        // the next span's (three or four allocations and frees fewer per
        // span of a conversation).
        let mut lists: [Vec<Cow<'static, str>>; 2] = Default::default();
        let mut taken = 0;
        let mut strings: [String; ID_KEYS.len()] = Default::default();
        let mut kept = 0;
        for (k, v) in attributes.iter_mut() {
            match v {
                Value::StrArray(t) => {
                    if let Some(slot) = lists.get_mut(taken) {
                        t.clear();
                        *slot = std::mem::take(t);
                        taken += 1;
                    }
                }
                Value::Str(Cow::Owned(s)) if ID_KEYS.contains(&k.as_ref()) => {
                    if let Some(slot) = strings.get_mut(kept) {
                        *slot = std::mem::take(s);
                        kept += 1;
                    }
                }
                _ => {}
            }
        }
        let mut strings = strings.into_iter().take(kept);
        let mut owned = |text: &str| -> Value {
            let mut s = strings.next().unwrap_or_default();
            s.clear();
            s.push_str(text);
            Value::Str(Cow::Owned(s))
        };
        old.extend(
            attributes
                .drain(..)
                .filter(|kv| kv_bytes(std::slice::from_ref(kv)) > 0),
        );
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
        // What the record's own attributes say, read in one pass (three
        // passes of string comparisons were a tenth of the conversion of a
        // webhook's spans, which carry twenty attributes and more).
        let (mut declared, mut genai, mut side) = (false, false, false);
        for (k, v) in &self.attrs {
            match k.as_ref() {
                vocab::OPENINFERENCE_SPAN_KIND => declared = true,
                vocab::GEN_AI_OPERATION_NAME => genai = true,
                vocab::CHAT_TURN => side |= matches!(v, Value::Bool(false)),
                _ => {}
            }
        }
        // Every span carries an OpenInference kind (Phoenix shows UNKNOWN
        // otherwise): the declared one, else one implied by the span.
        if !declared {
            let k = self
                .chat_kind
                .unwrap_or_else(|| vocab::SpanKind::default_for(self.role, genai));
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
            let id = s.id();
            // A root marked as no user turn (a status callback, a reaction, a
            // conversation closing) keeps `chat.session_id` and `user.id` but
            // not the aliases session views group by (Phoenix, Langfuse): a
            // backend's session lists the user's turns, and Phoenix's first
            // input and last output are those of its first and last trace
            // (`side`: the record says `chat.turn = false`).
            fill.put(vocab::CHAT_SESSION_ID, || owned(id));
            if !side {
                fill.put(vocab::SESSION_ID, || owned(id));
                fill.put(vocab::GEN_AI_CONVERSATION_ID, || owned(id));
            }
            if let Some(u) = s.user_id() {
                fill.put(vocab::USER_ID, || owned(u));
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
        attributes
    }

    pub(crate) fn set_attr(&mut self, key: Cow<'static, str>, value: Value) {
        if let Some(slot) = self.attrs.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            self.attrs.push((key, value));
        }
    }
}

/// Prefetch hints for the room [`Record::move_into`] will reuse in `f`
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

/// The most attributes [`Record::move_into`] derives from a record's own
/// fields (role, step, category, kind, two tag lists, three session ids and
/// the user, three model and two provider attributes).
const DERIVED_MAX: usize = 15;

/// The derived attributes whose owned strings [`Record::move_into`] keeps
/// the room of for the next span (a conversation's ids).
const ID_KEYS: [&str; 4] = [
    vocab::CHAT_SESSION_ID,
    vocab::SESSION_ID,
    vocab::GEN_AI_CONVERSATION_ID,
    vocab::USER_ID,
];

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
            "derived_into derives at most DERIVED_MAX attributes"
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

/// At most this many bytes of a converted span's old values (owned
/// strings and arrays, events, links, its name and error message) ride back
/// to a bot thread in each record ([`Record::move_into`]); the rest are
/// freed on the export thread. A lane hands back at most `RETURNED_MAX`
/// (1024) records, so a bot thread holds at most 1 MiB of them until its
/// next spans reuse the records.
const RETURN_BYTES_MAX: usize = 1024;

/// The memory the contents of `events` hold (not the list's own room).
fn events_bytes(events: &[Event]) -> usize {
    events
        .iter()
        .map(|e| {
            cow_bytes(&e.name)
                + e.attributes.capacity() * std::mem::size_of::<KeyValue>()
                + kv_bytes(&e.attributes)
        })
        .sum()
}

/// The memory the contents of `links` hold (not the list's own room).
fn links_bytes(links: &[Link]) -> usize {
    links
        .iter()
        .map(|l| {
            l.attributes.capacity() * std::mem::size_of::<KeyValue>() + kv_bytes(&l.attributes)
        })
        .sum()
}

/// Spans captured by the test kit, by capture token.
pub(crate) static CAPTURED: Mutex<Option<HashMap<u64, Vec<FinishedSpan>>>> = Mutex::new(None);

/// Writes what a [`SessionEndHook`] took into a span's attributes.
pub type SessionEndWrite = fn(&(dyn Any + Send + Sync), &mut Vec<KeyValue>);

/// A hook of a session ([`ChatSession::set_end_hook`]) that adds attributes
/// to each of its spans, as they were when the span ended (the cost ledger
/// writes the conversation's running total with it). Set once per session.
///
/// It runs in two parts, so the span's own thread does as little as it can:
/// - `take` runs on the span's thread when the span ends, with the state the
///   hook was set with, and takes what the span should show (a snapshot that
///   later changes do not alter; the ledger hands out a shared one, an
///   `Arc` clone, until its totals change);
/// - `write` runs when the span is converted for export, on the export
///   thread (or at once for a test capture), and writes what `take` took
///   into the span's attributes.
#[derive(Clone, Copy, Debug)]
pub struct SessionEndHook {
    /// Takes what the ending span shows (`None`: nothing to write).
    pub take: fn(&(dyn Any + Send + Sync)) -> Option<Arc<dyn Any + Send + Sync>>,
    /// Writes it into the span's attributes.
    pub write: SessionEndWrite,
}

pub(crate) fn finish(mut rec: Box<Record>, session: Option<ChatSession>) {
    rec.end = crate::clock::now();
    if let Some(s) = &session {
        if let Some((hook, state)) = s.0.end_hook.get() {
            rec.at_end = (hook.take)(&**state).map(|taken| (hook.write, taken));
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

    /// A fresh conversion derives the tag lists, the session and user ids,
    /// and leaves out the session aliases on a root marked `chat.turn = false`.
    #[test]
    fn fresh_conversion_derives_tags_and_ids() {
        check_fresh(&some_records(sink()));
    }

    /// What the export thread does: each record's values moved into the
    /// span the last one left (its ids' strings and tag lists reused) equal
    /// a fresh copy; the record keeps its room and takes the last span's
    /// values that own memory back to its thread, to be freed there.
    #[test]
    fn moved_conversion_equals_a_fresh_copy_and_sends_the_old_values_back() {
        let sink = sink();
        let n = some_records(sink).len();
        let mut out = FinishedSpan::empty();
        let mut spare = Vec::new();
        for a in 0..n {
            for b in 0..n {
                for i in [a, b] {
                    let mut r = some_records(sink).swap_remove(i);
                    let want = r.to_finished();
                    let room = r.attrs.capacity();
                    let had_at_end = r.at_end.is_some();
                    let prev = out.clone();
                    r.move_into(&mut out, &mut spare);
                    assert_eq!(out, want, "record {i} after record {a}");
                    assert!(spare.is_empty(), "nothing waits between spans");
                    assert_eq!(r.attrs.capacity(), room, "the record keeps its room");
                    // The last span's name, status, events and links ride back.
                    assert_eq!(r.name, prev.name);
                    assert_eq!(r.status, prev.status);
                    assert_eq!(r.events, prev.events);
                    assert_eq!(r.links, prev.links);
                    // So do its values that own memory (not the reused id
                    // strings and tag lists), as many as the room holds.
                    for kv in &r.attrs {
                        assert!(
                            kv_bytes(std::slice::from_ref(kv)) > 0,
                            "{kv:?} frees nothing: not sent back"
                        );
                        assert!(
                            prev.attributes.contains(kv),
                            "{kv:?} was not the last span's"
                        );
                    }
                    let users: Vec<&KeyValue> = prev
                        .attributes
                        .iter()
                        .filter(|(k, _)| k == "k" || k == "owned")
                        .collect();
                    if room >= users.len() {
                        for kv in users {
                            assert!(
                                r.attrs.contains(kv),
                                "{kv:?} was freed on the export thread"
                            );
                        }
                    }
                    assert!(
                        !r.attrs.iter().any(|(k, _)| k == vocab::CHAT_SESSION_ID),
                        "a reused id string is the export thread's"
                    );
                    // What the hook took is dropped when the record is reused.
                    assert_eq!(r.at_end.is_some(), had_at_end);
                }
            }
        }
    }

    /// A large old value (an LLM's output, a long error message) is freed
    /// on the export thread, not held in a record until its thread's next
    /// span: a record takes at most `RETURN_BYTES_MAX` back.
    #[test]
    fn large_old_values_are_freed_on_the_export_thread() {
        let sink = sink();
        let (mut out, mut spare) = (FinishedSpan::empty(), Vec::new());
        let mut big = Record::blank(sink);
        big.attrs
            .push((Cow::Borrowed("output"), Value::from("y".repeat(5000))));
        big.attrs
            .push((Cow::Borrowed("small"), Value::from("z".repeat(10))));
        big.status = Status::Error(Cow::Owned("e".repeat(2000)));
        big.move_into(&mut out, &mut spare);
        let mut next = Record::blank(sink);
        let want = next.to_finished();
        next.move_into(&mut out, &mut spare);
        assert_eq!(out, want);
        assert_eq!(
            next.attrs,
            [(Cow::Borrowed("small"), Value::from("z".repeat(10)))],
            "the small value rides back, the 5000-byte one does not"
        );
        assert_eq!(
            next.status,
            Status::Unset,
            "the 2000-byte message was freed"
        );
        assert!(kv_bytes(&next.attrs) <= RETURN_BYTES_MAX);
    }

    fn some_records(sink: &'static Sink) -> Vec<Record> {
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
        // Another conversation, with longer ids than the first's (the room
        // of the first's strings is too small for them), an event and a link.
        let mut r = Record::blank(sink);
        r.session = Some(
            ChatSession::from_exported_ids("conversation-0123456789-abcdefghij", "u")
                .expect("session"),
        );
        r.status = Status::Error("boom".into());
        r.attrs
            .push((Cow::Borrowed("owned"), Value::from("x".repeat(40))));
        r.events.push(Event {
            name: Cow::Borrowed("exception"),
            time: SystemTime::UNIX_EPOCH,
            attributes: vec![(Cow::Borrowed("exception.message"), Value::from("boom"))],
        });
        r.links.push(Link {
            trace_id: TraceId(7),
            span_id: SpanId(9),
            attributes: Vec::new(),
        });
        // What a session's end hook took when the span ended (the cost
        // ledger's totals), written by the conversion after the record's own.
        r.at_end = Some((write_taken, Arc::new(41_i64)));
        records.push(r);
        records
    }

    fn write_taken(taken: &(dyn Any + Send + Sync), attrs: &mut Vec<KeyValue>) {
        if let Some(n) = taken.downcast_ref::<i64>() {
            attrs.push((Cow::Borrowed("taken.at_end"), Value::I64(n + 1)));
        }
    }

    fn check_fresh(records: &[Record]) {
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
        let ended = records[5].to_finished();
        assert_eq!(
            ended.attributes.last(),
            Some(&(Cow::Borrowed("taken.at_end"), Value::I64(42)))
        );
        assert_eq!(records[0].to_finished().attr("taken.at_end"), None);
        let side = records[2].to_finished();
        assert_eq!(side.attr(vocab::SESSION_ID), None);
        assert_eq!(
            side.attr(vocab::CHAT_SESSION_ID).and_then(Value::as_str),
            Some("conv-7")
        );
    }
}
