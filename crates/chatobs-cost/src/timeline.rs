//! Replays a JSONL timeline of WhatsApp messages through a [`WhatsAppPricer`]
//! (what `chatobs cost whatsapp --timeline FILE` runs).
//!
//! One event per line:
//! ```text
//! {"at": "2025-07-03T10:00:00Z", "business": "+5716000000", "user": "+573001234567", "dir": "in"}
//! {"at": "2025-07-03T10:05:00Z", "business": "+5716000000", "user": "+573001234567", "dir": "out", "template": "utility", "entry_point": false}
//! ```
//! `template` is `marketing`, `utility`, `authentication` or `null` (free-form);
//! `entry_point` is optional (default false) and also accepted on inbound lines.
//! Blank lines and lines starting with `#` are skipped.

use super::whatsapp::{Inbound, Outbound, WhatsAppCharge, WhatsAppPricer};
use crate::money;
use crate::vocab::TemplateCategory;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

/// An error in a timeline: the line and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineError {
    /// 1-based line number.
    pub line: usize,
    /// The field (`at`, `dir`, ...), or `(line)` when the line is not a JSON object.
    pub field: String,
    /// What was wrong.
    pub reason: String,
}

impl std::fmt::Display for TimelineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.reason)
    }
}

impl std::error::Error for TimelineError {}

/// One parsed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimelineEvent {
    /// An inbound user message.
    In {
        /// When.
        at: OffsetDateTime,
        /// Business number.
        business: String,
        /// User number.
        user: String,
        /// From a free entry point.
        entry_point: bool,
    },
    /// An outbound message.
    Out {
        /// Delivery time.
        at: OffsetDateTime,
        /// Business number.
        business: String,
        /// User number.
        user: String,
        /// Template category (`None`: free-form).
        template: Option<TemplateCategory>,
        /// Reply to a free entry point.
        entry_point: bool,
    },
}

const FIELDS: &[&str] = &["at", "business", "user", "dir", "template", "entry_point"];

/// The kind of a JSON value, for error messages: a timeline carries phone
/// numbers (`user`), so a wrong value is described, never shown.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses one line (`line` is its 1-based number, for errors).
pub fn parse_line(text: &str, line: usize) -> Result<TimelineEvent, TimelineError> {
    let err = |field: &str, reason: String| TimelineError {
        line,
        field: field.to_owned(),
        reason,
    };
    let v: Value =
        serde_json::from_str(text).map_err(|e| err("(line)", format!("not JSON: {e}")))?;
    let obj: &Map<String, Value> = v
        .as_object()
        .ok_or_else(|| err("(line)", "expected a JSON object".into()))?;
    for k in obj.keys() {
        if !FIELDS.contains(&k.as_str()) {
            return Err(err(
                k,
                format!("unknown field: expected {}", FIELDS.join(", ")),
            ));
        }
    }
    let string = |k: &str| -> Result<&str, TimelineError> {
        match obj.get(k) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
            Some(Value::String(_)) => Err(err(k, "must not be empty".into())),
            Some(other) => Err(err(
                k,
                format!("expected a string, got {}", json_kind(other)),
            )),
            None => Err(err(k, "missing".into())),
        }
    };
    let at_s = string("at")?;
    let at = OffsetDateTime::parse(at_s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| err("at", format!("{at_s:?} is not an RFC 3339 time ({e})")))?;
    let business = string("business")?.to_owned();
    let user = string("user")?.to_owned();
    for (k, v) in [("business", &business), ("user", &user)] {
        let digits = v.trim_start_matches('+');
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(
                k,
                "expected a phone number like \"+573001234567\"".into(),
            ));
        }
    }
    let entry_point = match obj.get("entry_point") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(err(
                "entry_point",
                format!("expected true or false, got {}", json_kind(other)),
            ))
        }
    };
    match string("dir")? {
        "in" => {
            if obj.get("template").is_some_and(|t| !t.is_null()) {
                return Err(err("template", "an inbound message has no template".into()));
            }
            Ok(TimelineEvent::In {
                at,
                business,
                user,
                entry_point,
            })
        }
        "out" => {
            let template = match obj.get("template") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(
                    TemplateCategory::parse(s)
                        .filter(|c| *c != TemplateCategory::Service)
                        .ok_or_else(|| {
                            err(
                                "template",
                                format!("{s:?}: expected \"marketing\", \"utility\", \"authentication\" or null (free-form)"),
                            )
                        })?,
                ),
                Some(other) => {
                    return Err(err(
                        "template",
                        format!("expected a category string or null, got {}", json_kind(other)),
                    ))
                }
            };
            Ok(TimelineEvent::Out {
                at,
                business,
                user,
                template,
                entry_point,
            })
        }
        other => Err(err("dir", format!("{other:?}: expected \"in\" or \"out\""))),
    }
}

/// Parses a whole timeline (errors name the first bad line).
pub fn parse(text: &str) -> Result<Vec<(usize, TimelineEvent)>, TimelineError> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let n = i.saturating_add(1);
        out.push((n, parse_line(t, n)?));
    }
    Ok(out)
}

/// The JSON line printed for one priced outbound message.
pub fn charge_json(line: usize, ev: &TimelineEvent, c: &WhatsAppCharge) -> Value {
    let (at, user, template) = match ev {
        TimelineEvent::Out {
            at, user, template, ..
        } => (*at, user.as_str(), template.map(|t| t.as_str())),
        TimelineEvent::In { at, user, .. } => (*at, user.as_str(), None),
    };
    json!({
        "line": line,
        "at": at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "user": user,
        "template": template,
        "price_usd": c.price.normalize().to_string(),
        "billable": c.billable,
        "pricing_model": c.pricing_model.as_str(),
        "pricing_type": c.pricing_type.as_str(),
        "category": c.category.as_str(),
        "market": c.market,
        "free_by": c.free_by.map(|f| f.as_str()),
        "volume_tier_from": c.volume_tier_from,
        "price_known": c.price_known,
        "warning": c.warning,
        "rate_card": c.rate_card,
        "rate_effective": c.rate_effective,
        "rate_source": c.source,
        "rate_card_stale": c.card_may_be_stale,
    })
}

/// Replays `text` and returns the output lines (one per outbound message,
/// then the total line). The total is exact; when a message had no rate
/// (`no_price`) or the total could not take a price exactly
/// (`overflow:total_usd`: that price is left out), `complete` is false and
/// `incomplete_reason` lists why.
pub fn replay(pricer: &WhatsAppPricer, text: &str) -> Result<Vec<Value>, TimelineError> {
    let events = parse(text)?;
    let mut lines = Vec::new();
    let mut total = Decimal::ZERO;
    // Counts saturate (honest: u64::MAX lines cannot be read); money is checked.
    let (mut n_in, mut n_out, mut billable) = (0u64, 0u64, 0u64);
    let mut complete = true;
    let mut reasons: Vec<&'static str> = Vec::new();
    for (line, ev) in &events {
        match ev {
            TimelineEvent::In {
                at,
                business,
                user,
                entry_point,
            } => {
                n_in = n_in.saturating_add(1);
                pricer.inbound(&Inbound {
                    business,
                    user,
                    at: *at,
                    entry_point: *entry_point,
                });
            }
            TimelineEvent::Out {
                at,
                business,
                user,
                template,
                entry_point,
            } => {
                n_out = n_out.saturating_add(1);
                let c = pricer
                    .outbound(&Outbound {
                        business,
                        user,
                        at: *at,
                        template: *template,
                        entry_point: *entry_point,
                    })
                    .map_err(|e| TimelineError {
                        line: *line,
                        field: "template".into(),
                        reason: e.to_string(),
                    })?;
                match money::add(total, c.price) {
                    Ok(t) => total = t,
                    // The total keeps its value (a lower bound) and says why.
                    Err(_) => {
                        complete = false;
                        if !reasons.contains(&"overflow:total_usd") {
                            reasons.push("overflow:total_usd");
                        }
                    }
                }
                billable = billable.saturating_add(u64::from(c.billable));
                if !c.price_known {
                    complete = false;
                    if !reasons.contains(&"no_price") {
                        reasons.push("no_price");
                    }
                }
                lines.push(charge_json(*line, ev, &c));
            }
        }
    }
    lines.push(json!({
        "total_usd": total.normalize().to_string(),
        "messages_inbound": n_in,
        "messages_outbound": n_out,
        "billable": billable,
        "complete": complete,
        "incomplete_reason": (!reasons.is_empty()).then(|| reasons.join(",")),
    }));
    Ok(lines)
}
