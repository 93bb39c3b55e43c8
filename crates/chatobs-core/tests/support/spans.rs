//! Span files for the report's tests and benchmark: realistic conversations
//! (sessions of turns of 5-15 spans, as the runtime writes them), a deep
//! parent chain, and parent cycles. Deterministic (a fixed seed).
#![allow(dead_code)]

use chatobs_core::export::file::span_to_json;
use chatobs_core::ids::{SpanId, TraceId};
use chatobs_core::model::{FinishedSpan, KeyValue, OtelKind, Status, Value};
use chatobs_core::vocab;
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::time::{Duration, SystemTime};

/// wyrand: a small deterministic random source.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = (self.0 as u128).wrapping_mul((self.0 ^ 0xe703_7ed1_a0b4_28db) as u128);
        ((t >> 64) as u64) ^ (t as u64)
    }
    /// In `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    pub fn span_id(&mut self) -> SpanId {
        SpanId(self.next() | 1)
    }
    pub fn trace_id(&mut self) -> TraceId {
        TraceId(((self.next() as u128) << 64) | self.next() as u128 | 1)
    }
}

const T0: u64 = 1_732_230_000_000_000_000;

fn at(ns: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(ns)
}

/// A span with the attributes a bot's span carries.
pub fn span(
    name: &'static str,
    trace: TraceId,
    id: SpanId,
    parent: SpanId,
    start_ns: u64,
    dur_ns: u64,
    attributes: Vec<KeyValue>,
) -> FinishedSpan {
    FinishedSpan {
        name: Cow::Borrowed(name),
        kind: OtelKind::Internal,
        trace_id: trace,
        span_id: id,
        parent_span_id: parent,
        parent_remote: false,
        start: at(start_ns),
        end: at(start_ns + dur_ns),
        status: Status::Ok,
        attributes,
        events: Vec::new(),
        links: Vec::new(),
    }
}

fn kv(k: &'static str, v: impl Into<Value>) -> KeyValue {
    (Cow::Borrowed(k), v.into())
}

/// One turn of a conversation: a webhook root, the orchestrator, and 3-13
/// steps under it (classifier, retrieval, LLM calls with a price, tools,
/// the WhatsApp send with a price): 5-15 spans.
pub fn turn(rng: &mut Rng, session: &str, start_ns: u64, out: &mut Vec<FinishedSpan>) {
    let trace = rng.trace_id();
    let n = rng.range(5, 15) as usize;
    let common = |role: &'static str, step: &'static str| {
        vec![
            kv(vocab::CHAT_SESSION_ID, session.to_owned()),
            kv(vocab::CHAT_SERVICE_NAME, "bot"),
            kv(vocab::AGENT_ROLE, role),
            kv(vocab::CONVERSATION_STEP, step),
        ]
    };
    let root = rng.span_id();
    let mut attrs = common("gateway", "receive");
    attrs.push(kv(
        "messaging.message.id",
        format!("wamid.{:x}", rng.next()),
    ));
    let mut root_span = span(
        "whatsapp.webhook",
        trace,
        root,
        SpanId::INVALID,
        start_ns,
        0,
        attrs,
    );
    root_span.kind = OtelKind::Server;
    let orch = rng.span_id();
    let mut t = start_ns + 200_000;
    let mut kids = Vec::with_capacity(n);
    for i in 0..n - 2 {
        let dur = rng.range(1_000_000, 900_000_000);
        let id = rng.span_id();
        let s = match i % 5 {
            0 => span(
                "classifier.predict",
                trace,
                id,
                orch,
                t,
                dur,
                common("classifier", "classify"),
            ),
            1 => span(
                "retrieval.search",
                trace,
                id,
                orch,
                t,
                dur,
                common("retriever", "retrieve"),
            ),
            2 | 3 => {
                let mut a = common("responder", "answer");
                a.push(kv(vocab::GEN_AI_REQUEST_MODEL, "gpt-4o-mini"));
                a.push(kv(
                    vocab::GEN_AI_USAGE_INPUT_TOKENS,
                    rng.range(200, 4000) as i64,
                ));
                a.push(kv(
                    vocab::GEN_AI_USAGE_OUTPUT_TOKENS,
                    rng.range(20, 600) as i64,
                ));
                a.push(kv(
                    vocab::GEN_AI_USAGE_PRICE_USD,
                    Decimal::new(rng.range(1, 99_999) as i64, 7),
                ));
                let mut s = span("llm.call", trace, id, orch, t, dur, a);
                s.kind = OtelKind::Client;
                s
            }
            _ => {
                let mut a = common("sender", "reply");
                a.push(kv(vocab::MESSAGING_WHATSAPP_CATEGORY, "service"));
                a.push(kv(
                    vocab::MESSAGING_WHATSAPP_PRICE_USD,
                    Decimal::new(rng.range(0, 500) as i64, 4),
                ));
                let mut s = span("whatsapp.send", trace, id, orch, t, dur, a);
                s.kind = OtelKind::Client;
                s
            }
        };
        t += dur + rng.range(10_000, 2_000_000);
        kids.push(s);
    }
    let orch_span = span(
        "orchestrator.decision",
        trace,
        orch,
        root,
        start_ns + 100_000,
        t - start_ns,
        common("orchestrator", "route"),
    );
    root_span.end = at(t + 100_000);
    out.push(root_span);
    out.push(orch_span);
    out.extend(kids);
}

/// A chain of `depth` spans in one trace, each the parent of the next.
pub fn chain(rng: &mut Rng, session: &str, depth: usize, out: &mut Vec<FinishedSpan>) {
    let trace = rng.trace_id();
    let mut parent = SpanId::INVALID;
    for i in 0..depth as u64 {
        let id = rng.span_id();
        out.push(span(
            "recursion.step",
            trace,
            id,
            parent,
            T0 + i * 1_000,
            (depth as u64 - i) * 1_000,
            vec![kv(vocab::CHAT_SESSION_ID, session.to_owned())],
        ));
        parent = id;
    }
}

/// A span that is its own parent, with one child.
pub fn self_parent(rng: &mut Rng, session: &str, out: &mut Vec<FinishedSpan>) {
    let trace = rng.trace_id();
    let id = rng.span_id();
    let a = vec![kv(vocab::CHAT_SESSION_ID, session.to_owned())];
    out.push(span("loop.self", trace, id, id, T0, 1_000, a.clone()));
    out.push(span(
        "loop.self.child",
        trace,
        rng.span_id(),
        id,
        T0 + 10,
        10,
        a,
    ));
}

/// `len` spans whose parents form a cycle (a → b → … → a), each with a child.
pub fn cycle(rng: &mut Rng, session: &str, len: usize, out: &mut Vec<FinishedSpan>) {
    let trace = rng.trace_id();
    let ids: Vec<SpanId> = (0..len).map(|_| rng.span_id()).collect();
    let a = vec![kv(vocab::CHAT_SESSION_ID, session.to_owned())];
    for (i, id) in ids.iter().enumerate() {
        let parent = ids[(i + 1) % len];
        out.push(span(
            "loop.member",
            trace,
            *id,
            parent,
            T0 + i as u64,
            100,
            a.clone(),
        ));
        out.push(span(
            "loop.member.child",
            trace,
            rng.span_id(),
            *id,
            T0 + i as u64 + 1,
            10,
            a.clone(),
        ));
    }
}

/// `total` spans: conversations of `sessions` sessions (turns of 5-15
/// spans, a few seconds apart), one chain `chain_depth` deep, and `cycles`
/// self-parents, 2-cycles and 3-cycles each; shuffled by session the way
/// concurrent conversations interleave in a file.
pub fn realistic(
    total: usize,
    sessions: usize,
    chain_depth: usize,
    cycles: usize,
) -> Vec<FinishedSpan> {
    let mut rng = Rng::new(0x5eed);
    let mut out = Vec::with_capacity(total + 16);
    chain(&mut rng, "cs_deep_chain", chain_depth, &mut out);
    for i in 0..cycles {
        let s = format!("cs_loops_{i}");
        self_parent(&mut rng, &s, &mut out);
        cycle(&mut rng, &s, 2, &mut out);
        cycle(&mut rng, &s, 3, &mut out);
    }
    let ids: Vec<String> = (0..sessions)
        .map(|_| format!("cs_{:016x}{:016x}", rng.next(), rng.next()))
        .collect();
    let mut clock = vec![T0; sessions];
    let mut turn_spans = Vec::with_capacity(16);
    while out.len() < total {
        let k = (rng.next() % sessions as u64) as usize;
        turn_spans.clear();
        turn(&mut rng, &ids[k], clock[k], &mut turn_spans);
        clock[k] += rng.range(2, 120) * 1_000_000_000;
        let room = total - out.len();
        out.extend(turn_spans.drain(..).take(room));
    }
    out
}

/// The file exporter's lines for `spans`.
pub fn jsonl(spans: &[FinishedSpan]) -> Vec<u8> {
    let mut out = Vec::with_capacity(spans.len() * 512);
    for s in spans {
        serde_json::to_writer(&mut out, &span_to_json(s, "bench")).expect("JSON");
        out.push(b'\n');
    }
    out
}
