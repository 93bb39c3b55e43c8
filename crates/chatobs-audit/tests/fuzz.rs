//! Property tests: no input makes the verifier (or `open`) panic, and no
//! single-byte change to a good trail goes unnoticed.

use chatobs_audit::{verify, Action, AuditLog, Entry};
use proptest::prelude::*;
use serde_json::json;
use std::sync::OnceLock;

const KEY: &[u8] = b"fuzzing key, long enough to use!";

/// A good trail of 12 records (a retention checkpoint first), as bytes.
fn good_trail() -> &'static [u8] {
    static TRAIL: OnceLock<Vec<u8>> = OnceLock::new();
    TRAIL.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open_with_key(&path, KEY, 30).unwrap();
        let now = time::OffsetDateTime::now_utc();
        for i in 0..14u64 {
            let at = now - time::Duration::days(if i < 3 { 60 } else { 1 });
            log.record_at(
                Entry::new(
                    "operator:ana",
                    Action::BudgetOverride,
                    format!("cs_{i:032x}"),
                )
                .before(json!({ "budget_usd": "1.00" }))
                .after(json!({ "budget_usd": "2.50", "i": i })),
                at,
            )
            .unwrap();
        }
        log.prune(now).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(verify(&bytes[..], KEY).unwrap().records, 12);
        bytes
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = verify(&bytes[..], KEY);
    }

    #[test]
    fn arbitrary_lines_never_panic(lines in proptest::collection::vec(
        prop_oneof![
            Just(r#"{"seq":1}"#.to_string()),
            Just(String::new()),
            "[ -~]{0,200}",
            "\\{\"seq\":[0-9]{1,25},[ -~]{0,120}",
        ],
        0..20,
    )) {
        let text = lines.join("\n");
        let _ = verify(text.as_bytes(), KEY);
    }

    #[test]
    fn any_single_byte_change_to_a_good_trail_is_detected(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let good = good_trail();
        let i = pos.index(good.len());
        prop_assume!(good[i] != byte);
        let mut bad = good.to_vec();
        bad[i] = byte;
        prop_assert!(verify(&bad[..], KEY).is_err());
    }

    #[test]
    fn splicing_good_lines_never_panics_and_only_the_original_order_verifies(
        order in proptest::collection::vec(0usize..12, 0..16)
    ) {
        let good = good_trail();
        let lines: Vec<&[u8]> = good[..good.len() - 1].split(|&c| c == b'\n').collect();
        let mut bytes = Vec::new();
        for &k in &order {
            bytes.extend_from_slice(lines[k]);
            bytes.push(b'\n');
        }
        let ok = verify(&bytes[..], KEY).is_ok();
        // A prefix of the trail from its first line verifies; nothing else does.
        let is_prefix = order.iter().enumerate().all(|(i, &k)| i == k);
        prop_assert_eq!(ok, is_prefix, "order {:?}", order);
    }

    #[test]
    fn open_never_panics_on_any_file(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(log) = AuditLog::open_with_key(&path, KEY, 30) {
            // Only an empty file (or a good last record) opens.
            let _ = log.record(Entry::new("system", Action::ConfigReloaded, "audit"));
        }
    }
}
