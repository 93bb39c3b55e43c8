//! Content capture (`[redaction] capture_content`): off, nothing; on, every
//! value redacted (phone numbers, e-mail addresses, secrets) and cut to
//! `capture_max_bytes` on a character boundary. One binary of its own: the
//! redaction lists are process-wide.

use chatobs_core::config::RedactionConfig;
use chatobs_core::redact;
use proptest::prelude::*;

fn on(max: usize) {
    redact::configure(&RedactionConfig {
        capture_content: true,
        capture_max_bytes: max,
        ..RedactionConfig::default()
    });
}

#[test]
fn off_by_default_then_redacted_and_cut() {
    redact::configure(&RedactionConfig::default());
    assert!(!redact::capturing_content());
    assert_eq!(redact::content("Hola"), None);

    on(4096);
    assert!(redact::capturing_content());
    assert_eq!(
        redact::content("Escríbeme a ana.perez@example.com o al +57 300 123 4567").as_deref(),
        Some("Escríbeme a [REDACTED] o al [REDACTED]")
    );
    // Secrets too, even with `scan_free_text = false` for logs.
    redact::configure(&RedactionConfig {
        capture_content: true,
        scan_free_text: false,
        ..RedactionConfig::default()
    });
    let got =
        redact::content("mi token es Bearer sk-live-0123456789abcdefABCDEF y mi cel 3001234567")
            .unwrap();
    assert!(!got.contains("sk-live-0123456789abcdef"), "{got}");
    assert!(!got.contains("3001234567"), "{got}");

    // Cut on a character boundary (ñ is two bytes), marked with an ellipsis.
    on(16);
    assert_eq!(
        redact::content("ñññññññññññññññññññ").as_deref(),
        Some("ññññññññ…")
    );
    assert_eq!(redact::content("corto").as_deref(), Some("corto"));
    redact::configure(&RedactionConfig::default());
    assert_eq!(redact::content("Hola"), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// Any text: never a panic, never longer than the bound (plus the mark),
    /// never a phone number of 10 digits left whole.
    #[test]
    fn any_text_is_bounded_and_keeps_no_phone_number(
        prefix in "\\PC{0,40}",
        digits in "[0-9]{10}",
        suffix in "\\PC{0,40}",
        max in 16usize..128,
    ) {
        on(max);
        let text = format!("{prefix} {digits} {suffix}");
        let got = redact::content(&text).unwrap();
        prop_assert!(got.len() <= max + '…'.len_utf8(), "{} > {}", got.len(), max);
        prop_assert!(!got.contains(&digits), "{got:?}");
    }
}
