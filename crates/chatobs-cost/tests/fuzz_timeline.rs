//! Property tests (the fuzzing the stable toolchain allows here) of the
//! WhatsApp timeline parser behind `chatobs cost whatsapp --timeline`: any
//! line, any file, never a panic; an error names the line and the field and
//! never shows a phone number.

use chatobs_cost::timeline::{parse, parse_line, replay};
use chatobs_cost::WhatsAppPricer;
use proptest::prelude::*;

const PHONE: &str = "573159876543";

/// Lines near the real format, with one field replaced by something odd.
fn timeline_line() -> impl Strategy<Value = String> {
    let odd = prop_oneof![
        Just(serde_json::json!(null)),
        Just(serde_json::json!(573159876543_u64)),
        Just(serde_json::json!(["x"])),
        Just(serde_json::json!({"a": 1})),
        Just(serde_json::json!("")),
        Just(serde_json::json!("2026-13-45T99:99:99Z")),
        Just(serde_json::json!(true)),
        "\\PC{0,40}".prop_map(serde_json::Value::String),
    ];
    let field = prop_oneof![
        Just("at"),
        Just("business"),
        Just("user"),
        Just("dir"),
        Just("template"),
        Just("entry_point"),
        Just("extra"),
    ];
    (field, odd, any::<bool>()).prop_map(|(f, v, inbound)| {
        let mut o = serde_json::json!({
            "at": "2026-03-02T10:00:00Z",
            "business": "15550001111",
            "user": PHONE,
            "dir": if inbound { "in" } else { "out" },
            "template": "utility",
        });
        o[f] = v;
        o.to_string()
    })
}

proptest! {
    #[test]
    fn any_line_parses_or_is_an_error_without_personal_data(line in prop_oneof![timeline_line(), "\\PC{0,200}"]) {
        if let Err(e) = parse_line(&line, 7) {
            let msg = e.to_string();
            prop_assert!(msg.contains('7'), "{msg}");
            prop_assert!(!msg.contains(PHONE), "{msg}");
        }
    }

    #[test]
    fn any_file_replays_or_is_an_error(lines in prop::collection::vec(prop_oneof![timeline_line(), "\\PC{0,80}"], 0..20)) {
        let text = lines.join("\n");
        let _ = parse(&text);
        let pricer = WhatsAppPricer::shipped();
        if let Err(e) = replay(&pricer, &text) {
            prop_assert!(!e.to_string().contains(PHONE), "{e}");
        }
    }
}
