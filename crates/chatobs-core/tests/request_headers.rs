//! `redact::request_header` remembers its answer per header name and
//! thread. What must hold: the remembered answer is always the one the lists
//! give (for any name, past the 64 names it keeps), and a change of the
//! lists is seen at once (a header the configuration now redacts is never
//! recorded with its value from a stale answer).

use chatobs_core::config::RedactionConfig;
use chatobs_core::redact::{
    configure, is_recorded_request_header, is_redacted_header, request_header, RequestHeader,
};
use proptest::prelude::*;

fn from_lists(name: &str) -> RequestHeader {
    if is_redacted_header(name) {
        RequestHeader::Redacted
    } else if is_recorded_request_header(name) {
        RequestHeader::Recorded
    } else {
        RequestHeader::NotRecorded
    }
}

#[test]
fn answers_follow_the_lists_and_their_changes() {
    configure(&RedactionConfig::default());
    assert_eq!(request_header("content-type"), RequestHeader::Recorded);
    assert_eq!(
        request_header("x-hub-signature-256"),
        RequestHeader::Redacted
    );
    assert_eq!(request_header("authorization"), RequestHeader::Redacted);
    assert_eq!(request_header("cookie"), RequestHeader::Redacted);
    assert_eq!(request_header("x-shop-region"), RequestHeader::NotRecorded);
    // A name ending in a multi-byte character (the credential check cut
    // such a name inside a character and panicked; proptest found it).
    assert_eq!(request_header("ໆ®"), RequestHeader::NotRecorded);
    assert_eq!(request_header("x-clé-api-key"), RequestHeader::Redacted);
    // Asked again: the remembered answers.
    assert_eq!(request_header("content-type"), RequestHeader::Recorded);
    assert_eq!(request_header("x-shop-region"), RequestHeader::NotRecorded);

    // The configuration changes: both remembered answers are stale now.
    configure(&RedactionConfig {
        headers: vec!["content-type".into()],
        record_request_headers: vec!["x-shop-region".into()],
        ..RedactionConfig::default()
    });
    assert_eq!(request_header("content-type"), RequestHeader::Redacted);
    assert_eq!(request_header("x-shop-region"), RequestHeader::Recorded);

    // More distinct names than are remembered (a caller inventing headers):
    // every answer still the lists' own, the first ones too.
    for i in 0..300 {
        let n = format!("x-invented-{i}");
        assert_eq!(request_header(&n), from_lists(&n), "{n}");
    }
    assert_eq!(request_header("content-type"), RequestHeader::Redacted);
    assert_eq!(request_header("x-api-key"), RequestHeader::Redacted);
    configure(&RedactionConfig::default());
    assert_eq!(request_header("content-type"), RequestHeader::Recorded);
}

proptest! {
    #[test]
    fn any_name_gets_the_lists_answer_first_and_later(name in "\\PC{0,40}") {
        let first = request_header(&name);
        prop_assert_eq!(first, from_lists(&name));
        prop_assert_eq!(request_header(&name), first);
    }
}
