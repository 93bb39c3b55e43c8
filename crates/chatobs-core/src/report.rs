//! Conversation waterfall: spans grouped by session and trace, drawn as a tree
//! with durations, role, step and cost columns.

use crate::model::{FinishedSpan, Status, Value};
use crate::vocab;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::SystemTime;

/// Reads spans written by the file exporter. Bad lines are reported with their number.
pub fn read_jsonl(text: &str) -> Result<Vec<FinishedSpan>, crate::Error> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| crate::Error::InvalidInput(format!("line {}: not JSON: {e}", i + 1)))?;
        out.push(
            span_from_json(&v)
                .map_err(|e| crate::Error::InvalidInput(format!("line {}: {e}", i + 1)))?,
        );
    }
    Ok(out)
}

fn span_from_json(v: &serde_json::Value) -> Result<FinishedSpan, String> {
    use crate::ids::{SpanId, TraceId};
    let s = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .ok_or_else(|| format!("missing field `{k}`"))
    };
    let n = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_u64())
            .ok_or_else(|| format!("missing field `{k}`"))
    };
    let t = |ns: u64| SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(ns);
    let attrs = |o: Option<&serde_json::Value>| -> Vec<crate::model::KeyValue> {
        let mut out = Vec::new();
        if let Some(m) = o.and_then(|x| x.as_object()) {
            for (k, val) in m {
                let value = match val {
                    serde_json::Value::String(s) => match s.parse::<Decimal>() {
                        Ok(d) if is_money_key(k) => Value::Decimal(d),
                        _ => Value::Str(s.clone().into()),
                    },
                    serde_json::Value::Bool(b) => Value::Bool(*b),
                    serde_json::Value::Number(num) => num
                        .as_i64()
                        .map(Value::I64)
                        .unwrap_or(Value::F64(num.as_f64().unwrap_or(0.0))),
                    serde_json::Value::Array(a) => Value::StrArray(
                        a.iter()
                            .map(|x| x.as_str().unwrap_or_default().to_owned().into())
                            .collect(),
                    ),
                    _ => continue,
                };
                out.push((k.clone().into(), value));
            }
        }
        out
    };
    let status = match v
        .get("status")
        .and_then(|s| s.get("code"))
        .and_then(|c| c.as_str())
    {
        Some("ok") => Status::Ok,
        Some("error") => Status::Error(
            v.get("status")
                .and_then(|s| s.get("message"))
                .and_then(|m| m.as_str())
                .unwrap_or("")
                .to_owned()
                .into(),
        ),
        _ => Status::Unset,
    };
    let parent = s("parent_span_id").unwrap_or("");
    Ok(FinishedSpan {
        name: s("name")?.to_owned().into(),
        kind: crate::model::OtelKind::parse(s("kind").unwrap_or("internal")).unwrap_or_default(),
        trace_id: TraceId::from_hex(s("trace_id")?).ok_or("bad `trace_id`")?,
        span_id: SpanId::from_hex(s("span_id")?).ok_or("bad `span_id`")?,
        parent_span_id: if parent.is_empty() {
            SpanId::INVALID
        } else {
            SpanId::from_hex(parent).ok_or("bad `parent_span_id`")?
        },
        parent_remote: v
            .get("parent_remote")
            .and_then(|x| x.as_bool())
            .unwrap_or(false),
        start: t(n("start_unix_nano")?),
        end: t(n("end_unix_nano")?),
        status,
        attributes: attrs(v.get("attributes")),
        events: v
            .get("events")
            .and_then(|e| e.as_array())
            .map(|a| {
                a.iter()
                    .map(|e| crate::model::Event {
                        name: e
                            .get("name")
                            .and_then(|x| x.as_str())
                            .unwrap_or("")
                            .to_owned()
                            .into(),
                        time: t(e
                            .get("time_unix_nano")
                            .and_then(|x| x.as_u64())
                            .unwrap_or(0)),
                        attributes: attrs(e.get("attributes")),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        links: Vec::new(),
    })
}

fn is_money_key(k: &str) -> bool {
    k.contains("price") || k.contains("cost")
}

fn money(s: &FinishedSpan, key: &str) -> Option<Decimal> {
    match s.attr(key)? {
        Value::Decimal(d) => Some(*d),
        Value::F64(f) => Decimal::try_from(*f).ok(),
        Value::Str(v) => v.parse().ok(),
        _ => None,
    }
}

/// Renders one waterfall per session (spans without a session are grouped
/// per trace). `only_session` limits the output to one session id.
///
/// Columns: the span tree, start offset and duration (ms), the service
/// (`chat.service.name` of the span or its nearest ancestor), role, step,
/// the span's own cost (LLM + WhatsApp), and a timeline bar.
pub fn waterfall(spans: &[FinishedSpan], only_session: Option<&str>) -> String {
    // Session of a trace: any span of the trace that has one.
    let mut trace_session: HashMap<u128, String> = HashMap::new();
    for s in spans {
        if let Some(id) = s.session_id() {
            trace_session
                .entry(s.trace_id.0)
                .or_insert_with(|| id.to_owned());
        }
    }
    let mut groups: BTreeMap<String, Vec<&FinishedSpan>> = BTreeMap::new();
    for s in spans {
        let key = trace_session
            .get(&s.trace_id.0)
            .cloned()
            .unwrap_or_else(|| format!("trace {}", s.trace_id));
        if only_session.is_some_and(|o| o != key) {
            continue;
        }
        groups.entry(key).or_default().push(s);
    }
    let mut out = String::new();
    for (session, mut group) in groups {
        group.sort_by_key(|s| s.start);
        let t0 = group
            .first()
            .map(|s| s.start)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let t1 = group.iter().map(|s| s.end).max().unwrap_or(t0);
        let total = t1.duration_since(t0).unwrap_or_default();
        let llm: Decimal = group
            .iter()
            .filter_map(|s| money(s, vocab::GEN_AI_USAGE_PRICE_USD))
            .sum();
        let wa: Decimal = group
            .iter()
            .filter_map(|s| money(s, vocab::MESSAGING_WHATSAPP_PRICE_USD))
            .sum();
        let _ = writeln!(
            out,
            "conversation {session}  spans={}  wall={:.1} ms  llm=${}  whatsapp=${}  total=${}",
            group.len(),
            total.as_secs_f64() * 1e3,
            llm.normalize(),
            wa.normalize(),
            (llm + wa).normalize()
        );
        let _ = writeln!(
            out,
            "  {:<40} {:>9} {:>9}  {:<8} {:<12} {:<14} {:>12}  timeline",
            "span", "start ms", "dur ms", "service", "role", "step", "cost $"
        );
        let by_id: HashMap<(u128, u64), &FinishedSpan> = group
            .iter()
            .map(|s| ((s.trace_id.0, s.span_id.0), *s))
            .collect();
        let tree = Tree {
            all: &group,
            by_id: &by_id,
            t0,
            total,
        };
        for r in group
            .iter()
            .filter(|s| !by_id.contains_key(&(s.trace_id.0, s.parent_span_id.0)))
        {
            tree.draw(&mut out, r, 0);
        }
        out.push('\n');
    }
    out
}

struct Tree<'a> {
    all: &'a [&'a FinishedSpan],
    by_id: &'a HashMap<(u128, u64), &'a FinishedSpan>,
    t0: SystemTime,
    total: std::time::Duration,
}

impl<'a> Tree<'a> {
    fn service(&self, mut s: &'a FinishedSpan) -> String {
        loop {
            if let Some(v) = s.attr_str(vocab::CHAT_SERVICE_NAME) {
                return v.to_owned();
            }
            match self.by_id.get(&(s.trace_id.0, s.parent_span_id.0)) {
                Some(p) => s = p,
                None => return "-".into(),
            }
        }
    }

    fn draw(&self, out: &mut String, s: &'a FinishedSpan, depth: usize) {
        let start = s.start.duration_since(self.t0).unwrap_or_default();
        let dur = s.duration();
        let width = 24usize;
        let scale = |d: std::time::Duration| {
            if self.total.is_zero() {
                0
            } else {
                ((d.as_secs_f64() / self.total.as_secs_f64()) * width as f64).round() as usize
            }
        };
        let off = scale(start).min(width - 1);
        let len = scale(dur).clamp(1, width - off);
        let bar = format!("{}{}", " ".repeat(off), "█".repeat(len));
        let cost = money(s, vocab::GEN_AI_USAGE_PRICE_USD)
            .into_iter()
            .chain(money(s, vocab::MESSAGING_WHATSAPP_PRICE_USD))
            .reduce(|a, b| a + b)
            .map(|d| d.normalize().to_string())
            .unwrap_or_default();
        let mark = match &s.status {
            Status::Error(_) => " ✗",
            _ => "",
        };
        let name = format!("{}{}{}", "  ".repeat(depth), s.name, mark);
        let _ = writeln!(
            out,
            "  {:<40} {:>9.2} {:>9.2}  {:<8} {:<12} {:<14} {:>12}  |{:<width$}|",
            truncate(&name, 40),
            start.as_secs_f64() * 1e3,
            dur.as_secs_f64() * 1e3,
            truncate(&self.service(s), 8),
            truncate(s.attr_str(vocab::AGENT_ROLE).unwrap_or("-"), 12),
            truncate(s.attr_str(vocab::CONVERSATION_STEP).unwrap_or("-"), 14),
            cost,
            bar,
            width = width
        );
        let mut kids: Vec<&&FinishedSpan> = self
            .all
            .iter()
            .filter(|c| c.parent_span_id == s.span_id && c.trace_id == s.trace_id)
            .collect();
        kids.sort_by_key(|c| c.start);
        for k in kids {
            self.draw(out, k, depth + 1);
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}
