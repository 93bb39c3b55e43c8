//! Property-based fuzzing of the WhatsApp Cloud API payload parser
//! (`whatsapp::parse_payload`): arbitrary bytes, the checked-in corpus
//! (`tests/corpus/whatsapp/`, Meta's documented shapes), and the corpus
//! mutated (wrong types, missing and extra fields, huge numbers, nesting up
//! to and past the parser's limit, long strings, invalid UTF-8). It never
//! panics, a refusal never quotes the body, and nothing it prints (`Debug`,
//! the exported ids) carries a number, a wamid, a user id or a name.
//!
//! `PROPTEST_CASES=100000 cargo test -p chatobs-integrations --test fuzz_whatsapp_payload`
//! runs a long campaign; the default is a few seconds.

mod fuzz_common;

use chatobs_integrations::whatsapp::{hashed_message_id, parse_payload, Content, PayloadError};
use fuzz_common::*;
use proptest::prelude::*;
use serde_json::Value as Json;

/// What a refusal may say: a category and a position, never input.
fn reason_is_clean(e: &PayloadError) {
    match e {
        PayloadError::Json(r) => {
            let (cat, pos) = r.split_once(" at line ").expect(r);
            assert!(
                [
                    "unexpected end of input",
                    "syntax error",
                    "unexpected data",
                    "read error"
                ]
                .contains(&cat),
                "{r}"
            );
            let (l, c) = pos.split_once(" column ").expect(r);
            assert!(
                l.parse::<usize>().is_ok() && c.parse::<usize>().is_ok(),
                "{r}"
            );
        }
        PayloadError::Shape(_) => {}
    }
}

/// Parses `body` and checks the invariants that hold for every input.
fn check(body: &[u8]) -> Option<chatobs_integrations::whatsapp::WebhookBatch> {
    match parse_payload(body) {
        Err(e) => {
            reason_is_clean(&e);
            None
        }
        Ok(b) => {
            for m in &b.messages {
                // Types are Meta's words or `unknown`/`invalid`: no digits, no dots.
                if let Content::Unsupported { original_type } = &m.content {
                    assert!(
                        !original_type.is_empty()
                            && original_type.len() <= 32
                            && original_type
                                .bytes()
                                .all(|c| c.is_ascii_lowercase() || c == b'_' || c == b'-'),
                        "{original_type:?}"
                    );
                }
                assert_eq!(m.exported_id(), hashed_message_id(&m.id));
                assert!(m.session().id().starts_with("cs_"));
            }
            for s in &b.statuses {
                assert!(
                    s.status.len() <= 32
                        && s.status
                            .bytes()
                            .all(|c| c.is_ascii_lowercase() || c == b'_' || c == b'-'),
                    "{:?}",
                    s.status
                );
                for e in &s.errors {
                    assert!(e.title.len() <= 200 + '…'.len_utf8());
                }
                if let Some(p) = &s.pricing {
                    for w in [
                        Some(&p.category),
                        p.pricing_type.as_ref(),
                        p.pricing_model.as_ref(),
                    ]
                    .into_iter()
                    .flatten()
                    {
                        assert!(
                            w.len() <= 32
                                && w.bytes()
                                    .all(|c| c.is_ascii_alphabetic() || c == b'_' || c == b'-'),
                            "{w:?}"
                        );
                    }
                }
            }
            // Debug is what may end up in a log: it is built from the exportable parts.
            let _ = format!("{b:?}");
            Some(b)
        }
    }
}

/// How many message and status objects a payload holds where the parser looks.
fn expected_counts(v: &Json) -> Option<(usize, usize)> {
    let entries = v.get("entry")?.as_array()?;
    let (mut m, mut s) = (0, 0);
    for e in entries {
        for c in e
            .get("changes")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let field = c.get("field").and_then(Json::as_str).unwrap_or("messages");
            let Some(val) = c.get("value").filter(|_| field == "messages") else {
                continue;
            };
            m += val
                .get("messages")
                .and_then(Json::as_array)
                .map_or(0, Vec::len);
            s += val
                .get("statuses")
                .and_then(Json::as_array)
                .map_or(0, Vec::len);
        }
    }
    Some((m, s))
}

#[test]
fn the_corpus_parses_as_documented() {
    let corpus = json_corpus("whatsapp");
    assert!(corpus.len() >= 20);
    for (name, v) in corpus {
        let bytes = to_bytes(v);
        let b = check(&bytes).unwrap_or_else(|| panic!("{name} refused"));
        assert_eq!(
            Some((b.messages.len(), b.statuses.len())),
            expected_counts(v),
            "{name}"
        );
        // Every id and number of the file, whatever its place, stays out of Debug.
        let dump = format!("{b:?}");
        let text = String::from_utf8_lossy(&bytes);
        for w in text
            .split(|c: char| !(c.is_ascii_alphanumeric() || "+/=.".contains(c)))
            .filter(|w| {
                w.starts_with("wamid.") || (w.len() >= 10 && w.bytes().all(|c| c.is_ascii_digit()))
            })
        {
            assert!(!dump.contains(w), "{name}: {w} in {dump}");
        }
    }
    // A few shapes, precisely.
    let get = |n: &str| {
        let v = &corpus.iter().find(|(f, _)| f == n).unwrap().1;
        parse_payload(&to_bytes(v)).unwrap()
    };
    let b = get("status_failed_errors.json");
    assert_eq!(b.statuses[0].errors[0].code, 131047);
    let t = &b.statuses[1].errors[0].title;
    assert!(
        t.starts_with("Message undeliverable to [REDACTED] (cs_"),
        "{t}"
    );
    let b = get("username_bsuid.json");
    assert!(matches!(b.messages[0].content, Content::Text { .. }));
    assert_eq!(b.messages[0].wa_id, "");
    assert_eq!(
        b.messages[0].user_id.as_deref(),
        Some("US.13491208655302741918")
    );
    let b = get("status_bsuid.json");
    assert_eq!(
        b.statuses[0].session(),
        get("username_bsuid.json").messages[0].session()
    );
    let b = get("reaction.json");
    assert_eq!(
        b.messages[0].exported_context_id(),
        hashed_message_id("wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI0NkE4QjVFMkMxRDBGOUU4QTcA")
    );
    let b = get("system_user_changed_number.json");
    assert_eq!(b.messages[0].content.type_name(), "unsupported");
    let b = get("status_sent_pricing.json");
    let p = b.statuses[0].pricing.as_ref().unwrap();
    assert_eq!(
        (
            p.category.as_str(),
            p.pricing_model.as_deref(),
            p.pricing_type.as_deref()
        ),
        ("service", Some("PMP"), Some("free_customer_service"))
    );
}

#[test]
fn nesting_up_to_the_limit_and_past_it() {
    // serde_json stops at 128 levels; the payload itself is 7 deep at a message's body.
    for depth in [0, 1, 60, 110, 119, 120, 121, 122, 127, 128, 129, 200, 5000] {
        let mut body = "\"x\"".to_owned();
        for _ in 0..depth {
            body = format!("[{body}]");
        }
        let payload = format!(
            r#"{{"entry":[{{"changes":[{{"value":{{"metadata":{{"phone_number_id":"1"}},"messages":[{{"from":"573001234567","id":"wamid.A","type":"text","text":{{"body":{body}}}}}]}}}}]}}]}}"#
        );
        match check(payload.as_bytes()) {
            Some(b) => assert_eq!(b.messages.len(), 1, "depth {depth}"),
            None => assert!(depth > 100, "depth {depth} refused"),
        }
    }
}

#[test]
fn regressions() {
    // Found while writing the targets: a wamid, a number or a base64 id as a
    // message type, status or pricing category was exported (bounded to
    // alphanumerics, it kept the digits).
    let u = fuzz_common::User {
        phone: "573001234567".into(),
        bsuid: "US.13491208655302741918".into(),
        name: "Camila Rodríguez".into(),
        inbound_wamid: wamid("573001234567", true, "3EB0B8B59F37FD5B6393"),
        outbound_wamid: wamid("573001234567", false, "81BEED5AA5C81C9871"),
    };
    assert_eq!(
        u.inbound_wamid,
        "wamid.HBgMNTczMDAxMjM0NTY3FQIAEhgUM0VCMEI4QjU5RjM3RkQ1QjYzOTMA"
    );
    let b = check(&to_bytes(&payload_of(&u))).unwrap();
    assert_eq!(b.messages[2].content.type_name(), "unsupported");
    let dump = format!("{b:?}");
    for s in u.secrets() {
        assert!(!contains(&dump, &s), "{s:?} in {dump}");
    }
    assert_eq!(b.statuses[1].status, "unknown");
    assert_eq!(b.statuses[0].pricing.as_ref().unwrap().category, "unknown");
}

proptest! {
    #![proptest_config(config(400, "fuzz_whatsapp_payload"))]

    /// Arbitrary bytes: never a panic, a refusal never quotes them.
    #[test]
    fn arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        check(&body);
    }

    /// Arbitrary JSON text (valid UTF-8, mostly invalid JSON).
    #[test]
    fn arbitrary_text(body in r#"[\[\]{}":,0-9a-z\\. -]{0,400}"#) {
        check(body.as_bytes());
    }

    /// The corpus, mutated (structure, types, values) and then damaged
    /// (invalid UTF-8, cuts, flips): never a panic; an undamaged mutation
    /// that still has an `entry` array parses, with every message and status.
    #[test]
    fn mutated_corpus(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..6),
        dmg in damage(),
    ) {
        // The documented shapes and the real payloads (tests/corpus/real).
        let corpus: Vec<_> = json_corpus("whatsapp").iter().chain(json_corpus("real/whatsapp")).collect();
        let v = apply(corpus[pick.index(corpus.len())].1.clone(), &edits);
        let bytes = to_bytes(&v);
        let parsed = check(&damaged(bytes.clone(), &dmg));
        if matches!(dmg, Damage::None) {
            let depth_ok = serde_json::from_slice::<Json>(&bytes).is_ok();
            match (expected_counts(&v), depth_ok) {
                (Some(n), true) => {
                    let b = parsed.expect("a payload with an entry array is accepted");
                    prop_assert_eq!((b.messages.len(), b.statuses.len()), n);
                }
                _ => prop_assert!(parsed.is_none()),
            }
        }
    }

    /// Realistic users (numbers, wamids that are base64 of them,
    /// business-scoped ids, names) in every field, the payload mutated: no
    /// trace of them in anything the parser prints.
    #[test]
    fn identities_never_printed(
        u in user(),
        edits in prop::collection::vec(edit(), 0..3),
    ) {
        let v = apply(payload_of(&u), &edits);
        if let Some(b) = check(&to_bytes(&v)) {
            let mut dump = format!("{b:?}");
            for m in &b.messages {
                dump.push_str(&format!("{:?}{:?}{}", m.exported_id(), m.exported_context_id(), m.content.type_name()));
            }
            for s in &b.statuses {
                dump.push_str(&format!("{:?}{}", s.exported_id(), s.status));
            }
            for s in u.secrets() {
                prop_assert!(!contains(&dump, &s), "{:?} in {}", s, dump);
            }
        }
    }
}
