//! Redaction: personal data never reaches an exporter or a log unless a user opted in.
//!
//! Applied before anything is exported: error messages, captured arguments,
//! log messages and fields, HTTP headers and URLs.

use std::borrow::Cow;
use std::sync::atomic::{AtomicPtr, Ordering};

/// What replaces a redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A short, redacted excerpt of user input for an error message.
pub fn truncate_for_error(s: &str) -> String {
    truncate(&redact_free_text(s), 64)
}

/// Replaces phone numbers (7 or more digits, optionally with `+`, spaces,
/// dots, dashes or parentheses between them), e-mail addresses and
/// bearer-token-like secrets in free text.
pub fn redact_free_text(s: &str) -> Cow<'_, str> {
    if !needs_scan(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        // Identifiers chatobs writes itself (keyed hashes `cs_` + 32 hex
        // digits, trace and span ids) are kept whole: a digit run inside
        // one is not a phone number.
        if (i == 0 || !is_word_byte(b[i - 1])) && b[i].is_ascii_alphanumeric() {
            let end = scan_fwd(b, i, is_word_byte);
            if is_own_identifier(&b[i..end]) {
                i = end;
                continue;
            }
        }
        // e-mail: local@domain.tld
        if b[i] == b'@' {
            let start = scan_back(b, i, |c| c.is_ascii_alphanumeric() || b"._%+-".contains(&c));
            let end = scan_fwd(b, i + 1, |c| {
                c.is_ascii_alphanumeric() || b".-".contains(&c)
            });
            if start < i && end > i + 1 && s[i + 1..end].contains('.') && start >= last {
                out.push_str(&s[last..start]);
                out.push_str(REDACTED);
                last = end;
                i = end;
                continue;
            }
        }
        if b[i] == b'+' || b[i].is_ascii_digit() || b[i] == b'(' {
            let (end, digits) = scan_phone(b, i);
            if digits >= 7 && i >= last && !is_decimal(&b[i..end]) {
                out.push_str(&s[last..i]);
                out.push_str(REDACTED);
                last = end;
                i = end;
                continue;
            }
            if digits > 0 {
                // A short run or a decimal number (money such as `0.3772325`):
                // kept whole, its tail is not scanned again as a number of its own.
                i = end.max(i + 1);
                continue;
            }
        }
        i += 1;
    }
    if last == 0 {
        return Cow::Borrowed(s);
    }
    out.push_str(&s[last..]);
    Cow::Owned(out)
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// `cs_` + 32 lower-case hex digits (a session id or keyed hash), or 16 or
/// 32 lower-case hex digits with both a letter and a digit (a span or trace
/// id as chatobs prints them).
fn is_own_identifier(w: &[u8]) -> bool {
    let hex = |x: &[u8]| {
        x.iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    };
    if let Some(rest) = w.strip_prefix(b"cs_") {
        return rest.len() == 32 && hex(rest);
    }
    (w.len() == 16 || w.len() == 32)
        && hex(w)
        && w.iter().any(u8::is_ascii_digit)
        && w.iter().any(u8::is_ascii_alphabetic)
}

#[inline]
fn needs_scan(s: &str) -> bool {
    let mut run = 0;
    for c in s.bytes() {
        if c == b'@' {
            return true;
        }
        if c.is_ascii_digit() {
            run += 1;
            if run >= 7 {
                return true;
            }
        } else if !matches!(c, b' ' | b'-' | b'.' | b'(' | b')' | b'+') {
            run = 0;
        }
    }
    false
}

fn scan_back(b: &[u8], i: usize, ok: impl Fn(u8) -> bool) -> usize {
    let mut j = i;
    while j > 0 && ok(b[j - 1]) {
        j -= 1;
    }
    j
}

fn scan_fwd(b: &[u8], i: usize, ok: impl Fn(u8) -> bool) -> usize {
    let mut j = i;
    while j < b.len() && ok(b[j]) {
        j += 1;
    }
    // do not swallow a trailing dot
    while j > i && b[j - 1] == b'.' {
        j -= 1;
    }
    j
}

/// A decimal number (`0.3772325`, `1234567.89`): digits, one dot, digits, and
/// no other separator. Phone numbers written with dots have two or more.
fn is_decimal(run: &[u8]) -> bool {
    let mut dots = 0;
    for (k, c) in run.iter().enumerate() {
        match c {
            b'0'..=b'9' => {}
            b'.' if k > 0 && k + 1 < run.len() => dots += 1,
            _ => return false,
        }
    }
    dots == 1
}

fn scan_phone(b: &[u8], start: usize) -> (usize, usize) {
    let mut j = start;
    let mut digits = 0;
    let mut end = start;
    while j < b.len() {
        let c = b[j];
        if c.is_ascii_digit() {
            digits += 1;
            end = j + 1;
        } else if !(matches!(c, b' ' | b'-' | b'.' | b'(' | b')') || (c == b'+' && j == start)) {
            break;
        }
        j += 1;
    }
    (end, digits)
}

// ---- configured lists ----------------------------------------------------------------

#[derive(PartialEq)]
struct Lists {
    record_headers: Vec<String>,
    headers: Vec<String>,
    fields: Vec<String>,
    scan: bool,
    /// Content capture: the longest value, when on.
    capture: Option<usize>,
}

/// The configured lists. Each [`configure`] call that changes them publishes
/// a new, leaked `Lists` (configuration happens a handful of times per
/// process, and an unchanged configuration publishes nothing), so readers
/// take no lock and no reference count: one atomic load. The pointer is also
/// the lists' version ([`lists_version`]): callers that cache per-field
/// decisions (the `tracing` bridge) drop their cache when it changes.
static LISTS: AtomicPtr<Lists> = AtomicPtr::new(std::ptr::null_mut());

/// Runs `f` on the configured lists (the defaults until [`configure`] runs).
fn with_lists<R>(f: impl FnOnce(&Lists) -> R) -> R {
    f(lists())
}

fn lists() -> &'static Lists {
    let mut p = LISTS.load(Ordering::Acquire);
    if p.is_null() {
        configure(&crate::config::RedactionConfig::default());
        p = LISTS.load(Ordering::Acquire);
    }
    // SAFETY: only pointers from `Box::leak` are stored, and never freed.
    match unsafe { p.as_ref() } {
        Some(l) => l,
        None => &NO_LISTS,
    }
}

static NO_LISTS: Lists = Lists {
    record_headers: Vec::new(),
    headers: Vec::new(),
    fields: Vec::new(),
    scan: true,
    capture: None,
};

/// Changes whenever [`configure`] changes the lists.
pub(crate) fn lists_version() -> usize {
    LISTS.load(Ordering::Acquire) as usize
}

/// Sets the header and field lists (called by `chatobs_runtime::init`).
pub fn configure(cfg: &crate::config::RedactionConfig) {
    let l = Lists {
        record_headers: cfg
            .record_request_headers
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        headers: cfg.headers.iter().map(|h| h.to_ascii_lowercase()).collect(),
        fields: cfg.fields.iter().map(|h| h.to_ascii_lowercase()).collect(),
        scan: cfg.scan_free_text,
        capture: cfg.capture_content.then_some(cfg.capture_max_bytes.max(16)),
    };
    // SAFETY: only pointers from `Box::leak` are stored, and never freed.
    if unsafe { LISTS.load(Ordering::Acquire).as_ref() } == Some(&l) {
        return;
    }
    let leaked: &'static mut Lists = Box::leak(Box::new(l));
    LISTS.store(leaked, Ordering::Release);
}

/// Whether a header's value must never be exported (configured names, plus
/// anything that looks like a credential).
pub fn is_redacted_header(name: &str) -> bool {
    with_lists(|l| l.headers.iter().any(|h| h.eq_ignore_ascii_case(name)))
        || crate::config::is_secret_header(name)
}

/// Whether a request header is recorded on SERVER spans: it is in
/// `redaction.record_request_headers`, or it is redacted (recorded as `[REDACTED]`,
/// so its presence shows).
pub fn is_recorded_request_header(name: &str) -> bool {
    with_lists(|l| {
        l.record_headers
            .iter()
            .chain(&l.headers)
            .any(|h| h.eq_ignore_ascii_case(name))
    })
}

/// What a SERVER span does with one request header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestHeader {
    /// Not recorded (not in `redaction.record_request_headers`, not redacted).
    NotRecorded,
    /// Recorded as `[REDACTED]` ([`is_redacted_header`]).
    Redacted,
    /// Recorded with its value (free text redacted).
    Recorded,
}

/// [`is_recorded_request_header`] and [`is_redacted_header`] in one answer,
/// remembered per thread for the names seen (at most 64, for as long as the
/// lists do not change): the same few headers arrive on every request, and
/// deciding one reads two lists and looks for a dozen credential words.
pub fn request_header(name: &str) -> RequestHeader {
    fn decide(name: &str) -> RequestHeader {
        if is_redacted_header(name) {
            RequestHeader::Redacted
        } else if is_recorded_request_header(name) {
            RequestHeader::Recorded
        } else {
            RequestHeader::NotRecorded
        }
    }
    type Seen = (usize, Vec<(Box<str>, RequestHeader)>);
    thread_local! {
        static SEEN: std::cell::RefCell<Seen> = const { std::cell::RefCell::new((0, Vec::new())) };
    }
    // The lists first: the version read below is then the one decided with.
    let _ = lists();
    let version = lists_version();
    SEEN.try_with(|c| {
        let Ok(mut c) = c.try_borrow_mut() else {
            return decide(name);
        };
        if c.0 != version {
            c.0 = version;
            c.1.clear();
        }
        if let Some((_, d)) = c.1.iter().find(|(n, _)| **n == *name) {
            return *d;
        }
        let d = decide(name);
        if c.1.len() < 64 {
            c.1.push((name.into(), d));
        }
        d
    })
    .unwrap_or_else(|_| decide(name))
}

/// The exportable form of a header value.
pub fn header_value<'a>(name: &str, value: &'a str) -> Cow<'a, str> {
    if is_redacted_header(name) {
        Cow::Borrowed(REDACTED)
    } else {
        redact_free_text(value)
    }
}

/// Whether a log or capture field must never be exported.
pub fn is_redacted_field(name: &str) -> bool {
    let n = name.rsplit('.').next().unwrap_or(name);
    with_lists(|l| l.fields.iter().any(|f| f.eq_ignore_ascii_case(n)))
}

/// Free text as it may be exported: scanned for phone numbers and e-mail
/// addresses unless `redaction.scan_free_text = false`.
#[inline]
pub fn text(s: &str) -> Cow<'_, str> {
    // Most values (names, ids, short labels) cannot hold a phone number or
    // an e-mail address: decided here, without reading the lists.
    if !needs_scan(s) {
        return Cow::Borrowed(s);
    }
    if with_lists(|l| l.scan) {
        redact_free_text(s)
    } else {
        Cow::Borrowed(s)
    }
}

/// Whether content capture is on (`redaction.capture_content`): message
/// text, prompts and completions may be exported, through [`content`].
#[inline]
pub fn capturing_content() -> bool {
    with_lists(|l| l.capture.is_some())
}

/// Message text, a prompt or a completion as it may be exported: `None`
/// unless `redaction.capture_content = true`; otherwise redacted (phone
/// numbers, e-mail addresses and secrets are replaced whatever
/// `scan_free_text` says, and wamids by their keyed hash where the caller
/// knows them) and cut to `redaction.capture_max_bytes`.
///
/// ```
/// use chatobs_core::{config::RedactionConfig, redact};
/// assert_eq!(redact::content("hola"), None); // off by default
/// redact::configure(&RedactionConfig { capture_content: true, ..Default::default() });
/// assert_eq!(
///     redact::content("Soy Ana, mi número es +57 300 123 4567").as_deref(),
///     Some("Soy Ana, mi número es [REDACTED]")
/// );
/// # redact::configure(&RedactionConfig::default());
/// ```
pub fn content(s: &str) -> Option<String> {
    let max = with_lists(|l| l.capture)?;
    let red = redact_free_text(s);
    Some(truncate(&red, max))
}

/// A URL as it may be exported: user info removed and the values of query
/// parameters that look like credentials (`key`, `token`, `signature`, ...)
/// replaced.
pub fn url(u: &str) -> String {
    let (base, query) = match u.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (u, None),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('/') {
            Some((auth, path)) => {
                let host = auth.rsplit('@').next().unwrap_or(auth);
                format!("{scheme}://{host}/{path}")
            }
            None => format!("{scheme}://{}", rest.rsplit('@').next().unwrap_or(rest)),
        },
        None => base.to_owned(),
    };
    let base = redact_free_text(&base).into_owned();
    match query {
        None => base,
        Some(q) => {
            let parts: Vec<String> = q
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if is_secret_param(k) => format!("{k}={REDACTED}"),
                    Some((k, v)) => format!("{k}={}", redact_free_text(v)),
                    None => kv.to_owned(),
                })
                .collect();
            format!("{base}?{}", parts.join("&"))
        }
    }
}

fn is_secret_param(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    [
        "key",
        "api_key",
        "apikey",
        "token",
        "access_token",
        "secret",
        "signature",
        "sig",
        "password",
        "hub.verify_token",
        "code",
    ]
    .iter()
    .any(|s| k == *s)
        || k.contains("token")
        || k.contains("secret")
}

#[cfg(test)]
mod decimal_tests {
    use super::redact_free_text;

    #[test]
    fn money_is_kept_phone_numbers_are_not() {
        for kept in [
            "cost 0.3772325 usd",
            "total 1234567.89",
            "gen_ai.usage.price_usd=0.000075",
            "12.5 and 0.0000187",
        ] {
            assert_eq!(redact_free_text(kept), kept);
        }
        for (text, out) in [
            ("llamar al +57 300 123 4567 hoy", "llamar al [REDACTED] hoy"),
            ("tel 300.123.4567.", "tel [REDACTED]."),
            ("wa 573001234567", "wa [REDACTED]"),
            ("(601) 555-0123", "[REDACTED]"),
        ] {
            assert_eq!(redact_free_text(text), out);
        }
    }
}

#[cfg(test)]
mod identifier_tests {
    use super::redact_free_text;

    #[test]
    fn own_identifiers_are_never_cut() {
        let sid = crate::context::keyed_hash(&["573001234567"]);
        // A Debug print of a session next to a phone number: the number goes, the id stays whole.
        let text = format!("ChatSession {{ id: \"{sid}\" }} from +57 300 123 4567");
        assert_eq!(
            redact_free_text(&text),
            format!("ChatSession {{ id: \"{sid}\" }} from [REDACTED]")
        );
        // Ids with long digit runs, as chatobs prints them.
        for kept in [
            "cs_1ccb5d65a7777777733312345678ab90",
            "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f0670012345678",
            "session=cs_0000000000000000000000000000000a;",
        ] {
            assert_eq!(redact_free_text(kept), kept);
        }
        // Not ours: a number glued to other text is still a number.
        assert_eq!(redact_free_text("cs_573001234567"), "cs_[REDACTED]");
        assert_eq!(redact_free_text("id 5730012345678901"), "id [REDACTED]");
    }
}
