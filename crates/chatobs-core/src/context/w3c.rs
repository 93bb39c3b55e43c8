//! W3C trace context and baggage: the `traceparent` and `baggage` headers
//! that carry the current span and session to other services
//! ([`Context::inject`], [`Context::extract`]).

use super::scope::Context;
use super::session::ChatSession;
use crate::ids::{SpanId, TraceId};
use std::collections::HashMap;

/// The W3C `traceparent` header name.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C `baggage` header name.
pub const BAGGAGE: &str = "baggage";
/// The baggage key that carries the session id between services.
pub const BAGGAGE_SESSION_KEY: &str = "chat.session_id";
/// The baggage key that carries the user's stable key (`user.id`).
pub const BAGGAGE_USER_KEY: &str = "chat.user_id";
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
            match s.user_id() {
                Some(u) => set(
                    BAGGAGE,
                    format!("{BAGGAGE_SESSION_KEY}={},{BAGGAGE_USER_KEY}={u}", s.id()),
                ),
                None => set(BAGGAGE, format!("{BAGGAGE_SESSION_KEY}={}", s.id())),
            }
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
        let baggage = get(BAGGAGE);
        if let Some(id) = baggage.and_then(|b| baggage_get(b, BAGGAGE_SESSION_KEY)) {
            let user = baggage.and_then(|b| baggage_get(b, BAGGAGE_USER_KEY));
            let s = match user {
                Some(u) => ChatSession::from_exported_ids(&id, &u)
                    .or_else(|_| ChatSession::from_exported_id(&id)),
                None => ChatSession::from_exported_id(&id),
            };
            if let Ok(s) = s {
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
///
/// Every field is lower-case hex of its exact length (`HEXDIGLC` in the
/// spec); version `ff`, an all-zero trace id or span id, and a version 00
/// header with more than four fields are rejected.
pub fn parse_traceparent(v: &str) -> Option<(TraceId, SpanId, bool)> {
    // `vv-<32 hex>-<16 hex>-ff`: 55 bytes, the dashes at fixed places; a
    // later version may go on after a dash. Read by position, in one pass
    // over the bytes (splitting and parsing each field was 0.4 us of a
    // webhook request).
    let b = v.trim().as_bytes();
    if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    let version = lower_hex(&b[..2])?;
    if version == 0xff || (b.len() > 55 && (version == 0 || b[55] != b'-')) {
        return None;
    }
    let trace = lower_hex(&b[3..35])?;
    let span = lower_hex(&b[36..52])?;
    let flags = lower_hex(&b[53..55])?;
    if trace == 0 || span == 0 {
        return None;
    }
    Some((TraceId(trace), SpanId(span as u64), flags & 1 == 1))
}

/// The value of lower-case hex digits (at most 32), or `None` for any other byte.
fn lower_hex(digits: &[u8]) -> Option<u128> {
    digits.iter().try_fold(0u128, |acc, &d| {
        let n = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => return None,
        };
        Some(acc << 4 | u128::from(n))
    })
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

// Baggage values are percent-encoded (W3C Baggage): the same decoder as
// the OpenTelemetry environment variables.
use crate::config::percent_decode;

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    #[test]
    fn traceparent_fields_are_lower_case_hex() {
        // Regression (tests/fuzz_parsers.rs, traceparent_mutated, fails on
        // the old parser): `u8::from_str_radix` takes a sign and upper case,
        // so `+1` and `0A` passed as flags, `0A` as a version.
        assert!(parse_traceparent(&format!("00-{TRACE}-{SPAN}-+1")).is_none());
        assert!(parse_traceparent(&format!("00-{TRACE}-{SPAN}-0A")).is_none());
        assert!(parse_traceparent(&format!("0A-{TRACE}-{SPAN}-01")).is_none());
        assert!(parse_traceparent(&format!("FF-{TRACE}-{SPAN}-01")).is_none());
        assert_eq!(
            parse_traceparent(&format!("00-{TRACE}-{SPAN}-01")).map(|(_, _, s)| s),
            Some(true)
        );
        assert!(parse_traceparent(&format!("0a-{TRACE}-{SPAN}-01-later")).is_some());
    }

    #[test]
    fn baggage_escapes_are_two_hex_digits() {
        // Regression (tests/fuzz_parsers.rs, config_percent_decode_arbitrary,
        // fails on the old decoder with "%+a"): `%+1` decoded as byte 0x01.
        assert_eq!(baggage_get("k=a%+1", "k"), None);
        assert_eq!(baggage_get("k=a%2C%C3%A9", "k").as_deref(), Some("a,é"));
        assert_eq!(baggage_get("k=%e9", "k"), None, "not UTF-8");
        assert_eq!(baggage_get("k=é%", "k"), None);
    }
}
