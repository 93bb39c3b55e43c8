//! Writing, verifying, tampering with and pruning a trail.

use chatobs_audit::{
    verify, verify_file, Action, AuditError, AuditLog, Entry, VerifyError, VerifyErrorKind,
    GENESIS_PREV, MAX_TARGET_BYTES, MAX_VALUE_BYTES,
};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;

const KEY: &[u8] = b"test key, 32 bytes or so, random";

const ACTIONS: [Action; 5] = [
    Action::OperatorAssigned,
    Action::FeedbackRecorded,
    Action::ConfigReloaded,
    Action::BudgetOverride,
    Action::DataExport,
];

fn entry(i: u64) -> Entry {
    Entry::new(
        format!("operator:ana{i}"),
        ACTIONS[(i % 5) as usize],
        format!("cs_{i:032x}"),
    )
    .before(json!({ "operator": null, "n": i }))
    .after(json!({ "operator": "ana", "n": i + 1 }))
}

/// A trail of `n` records in a fresh directory.
fn trail(n: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/audit.jsonl");
    let log = AuditLog::open_with_key(&path, KEY, 365).unwrap();
    for i in 1..=n {
        assert_eq!(log.record(entry(i)).unwrap(), i);
    }
    (dir, path)
}

fn lines(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(bytes.last(), Some(&b'\n'));
    bytes[..bytes.len() - 1]
        .split(|&c| c == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out
}

fn check(bytes: &[u8]) -> Result<chatobs_audit::Summary, VerifyError> {
    verify(bytes, KEY)
}

fn at(e: &VerifyError) -> (u64, Option<u64>, VerifyErrorKind) {
    (e.line, e.seq, e.kind)
}

#[test]
fn twenty_records_verify() {
    let (_d, path) = trail(20);
    let s = verify_file(&path, KEY).unwrap();
    assert_eq!(s.records, 20);
    assert_eq!((s.first_seq, s.last_seq), (Some(1), Some(20)));
    assert!(s.checkpoint.is_none());
    let last: Value = serde_json::from_slice(lines(&path).last().unwrap()).unwrap();
    assert_eq!(s.last_mac.as_deref(), last["mac"].as_str());
}

#[test]
fn the_record_format_is_fixed() {
    let (_d, path) = trail(2);
    let ls = lines(&path);
    let text = String::from_utf8(ls[0].clone()).unwrap();
    assert!(text.starts_with(r#"{"seq":1,"ts":""#), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["seq", "ts", "actor", "action", "target", "before", "after", "prev", "mac"]
    );
    assert_eq!(v["prev"], GENESIS_PREV);
    assert_eq!(v["action"], "feedback_recorded");
    assert!(v["ts"].as_str().unwrap().ends_with('Z'));
    time::OffsetDateTime::parse(
        v["ts"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let second: Value = serde_json::from_slice(&ls[1]).unwrap();
    assert_eq!(second["prev"], v["mac"]);
    // A record without before/after writes nulls.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.jsonl");
    let log = AuditLog::open_with_key(&p, KEY, 0).unwrap();
    log.record(Entry::new("system", Action::ConfigReloaded, "alerts"))
        .unwrap();
    let v: Value = serde_json::from_slice(&lines(&p)[0]).unwrap();
    assert_eq!((&v["before"], &v["after"]), (&Value::Null, &Value::Null));
    for a in Action::ALL {
        assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
    }
}

#[test]
fn a_flipped_byte_in_record_7_is_changed_at_line_7() {
    let (_d, path) = trail(20);
    let mut ls = lines(&path);
    let pos = ls[6].windows(8).position(|w| w == b"operator").unwrap();
    ls[6][pos + 2] ^= 0x01; // "operator" -> "oqerator"
    let e = check(&join(&ls)).unwrap_err();
    assert_eq!(at(&e), (7, Some(7), VerifyErrorKind::Changed), "{e}");
    assert_eq!(e.headline(), "line 7 (seq 7): record changed");
}

#[test]
fn every_single_byte_flip_in_record_7_is_reported_at_line_7() {
    let (_d, path) = trail(20);
    let ls = lines(&path);
    let original = join(&ls);
    let start: usize = ls[..6].iter().map(|l| l.len() + 1).sum();
    // Every byte of line 7, its newline included.
    for i in start..start + ls[6].len() + 1 {
        for bit in [0x01u8, 0x20, 0x80] {
            let mut bytes = original.clone();
            bytes[i] ^= bit;
            let e = check(&bytes).unwrap_err();
            assert_eq!(e.line, 7, "byte {i} ^ {bit:#x}: {e}");
            assert!(
                matches!(
                    e.kind,
                    VerifyErrorKind::Changed | VerifyErrorKind::Malformed
                ),
                "byte {i} ^ {bit:#x}: {e}"
            );
        }
    }
}

#[test]
fn deleting_line_7_is_removed_at_line_7() {
    let (_d, path) = trail(20);
    let mut ls = lines(&path);
    ls.remove(6);
    let e = check(&join(&ls)).unwrap_err();
    assert_eq!(at(&e), (7, Some(7), VerifyErrorKind::Removed), "{e}");
    assert!(e.detail.contains("seq 7 is missing"), "{e}");
}

#[test]
fn deleting_any_line_but_the_last_is_removed_at_that_line() {
    let (_d, path) = trail(20);
    let ls = lines(&path);
    for k in 0..19 {
        let mut cut = ls.clone();
        cut.remove(k);
        let e = check(&join(&cut)).unwrap_err();
        let line = k as u64 + 1;
        assert_eq!(at(&e), (line, Some(line), VerifyErrorKind::Removed), "{e}");
    }
    // Two lines in a row: the first missing seq is named.
    let mut cut = ls.clone();
    cut.drain(6..8);
    let e = check(&join(&cut)).unwrap_err();
    assert_eq!(at(&e), (7, Some(7), VerifyErrorKind::Removed), "{e}");
    assert!(e.detail.contains("seqs 7 to 8 are missing"), "{e}");
}

#[test]
fn cutting_the_end_leaves_a_shorter_trail_that_the_summary_shows() {
    let (_d, path) = trail(20);
    let mut ls = lines(&path);
    ls.pop();
    let s = check(&join(&ls)).unwrap();
    assert_eq!((s.records, s.last_seq), (19, Some(19)));
}

#[test]
fn swapping_lines_7_and_8_is_reordered_at_line_7() {
    let (_d, path) = trail(20);
    let mut ls = lines(&path);
    ls.swap(6, 7);
    let e = check(&join(&ls)).unwrap_err();
    assert_eq!(at(&e), (7, Some(8), VerifyErrorKind::Reordered), "{e}");
    assert_eq!(e.headline(), "line 7 (seq 8): record reordered");
}

#[test]
fn swapping_any_two_adjacent_lines_is_reordered_at_the_first() {
    let (_d, path) = trail(20);
    let ls = lines(&path);
    for k in 0..19 {
        let mut sw = ls.clone();
        sw.swap(k, k + 1);
        let e = check(&join(&sw)).unwrap_err();
        assert_eq!(
            (e.line, e.kind),
            (k as u64 + 1, VerifyErrorKind::Reordered),
            "swap {k}: {e}"
        );
    }
}

#[test]
fn moving_a_record_is_reordered_where_it_left_or_where_it_lands() {
    let (_d, path) = trail(20);
    let ls = lines(&path);
    // Line 3 moved to the end: line 3 now holds seq 4, and seq 3 comes later.
    let mut mv = ls.clone();
    let r = mv.remove(2);
    mv.push(r);
    let e = check(&join(&mv)).unwrap_err();
    assert_eq!(at(&e), (3, Some(4), VerifyErrorKind::Reordered), "{e}");
    // Line 15 moved up to line 3: it is out of place right there.
    let mut mv = ls.clone();
    let r = mv.remove(14);
    mv.insert(2, r);
    let e = check(&join(&mv)).unwrap_err();
    assert_eq!(at(&e), (3, Some(15), VerifyErrorKind::Reordered), "{e}");
    // A duplicated line: seq goes backwards.
    let mut dup = ls.clone();
    dup.insert(7, ls[6].clone());
    let e = check(&join(&dup)).unwrap_err();
    assert_eq!(at(&e), (8, Some(7), VerifyErrorKind::Reordered), "{e}");
}

#[test]
fn a_truncated_last_line_is_malformed() {
    let (_d, path) = trail(20);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 40);
    let e = check(&bytes).unwrap_err();
    assert_eq!(at(&e), (20, Some(20), VerifyErrorKind::Malformed), "{e}");
    // Garbage lines are malformed too, with no seq.
    let mut ls = lines(&path);
    ls[4] = b"not json at all".to_vec();
    let e = check(&join(&ls)).unwrap_err();
    assert_eq!(at(&e), (5, None, VerifyErrorKind::Malformed), "{e}");
    assert_eq!(e.headline(), "line 5 (seq unknown): record malformed");
    ls[4] = Vec::new();
    assert_eq!(
        check(&join(&ls)).unwrap_err().kind,
        VerifyErrorKind::Malformed
    );
    // A line longer than any record.
    ls[4] = vec![b'x'; chatobs_audit::MAX_LINE_BYTES * 3];
    let e = check(&join(&ls)).unwrap_err();
    assert_eq!(at(&e), (5, None, VerifyErrorKind::Malformed), "{e}");
}

#[test]
fn deleting_the_first_line_is_removed_at_line_1() {
    let (_d, path) = trail(5);
    let mut ls = lines(&path);
    ls.remove(0);
    let e = check(&join(&ls)).unwrap_err();
    assert_eq!(at(&e), (1, Some(1), VerifyErrorKind::Removed), "{e}");
}

#[test]
fn another_key_is_changed_at_line_1() {
    let (_d, path) = trail(5);
    let e = verify_file(&path, b"another key of enough bytes!").unwrap_err();
    assert_eq!(at(&e), (1, Some(1), VerifyErrorKind::Changed), "{e}");
    assert!(e.detail.contains("another key"), "{e}");
    assert!(!e.to_string().contains("another key of enough"), "{e}");
}

#[test]
fn an_empty_trail_verifies_and_a_missing_file_is_unreadable() {
    let s = check(b"").unwrap();
    assert_eq!((s.records, s.first_seq, s.last_seq), (0, None, None));
    let e = verify_file("/nonexistent/audit.jsonl", KEY).unwrap_err();
    assert_eq!(e.kind, VerifyErrorKind::Unreadable);
}

#[test]
fn reopening_continues_the_chain() {
    let (_d, path) = trail(5);
    let log = AuditLog::open_with_key(&path, KEY, 365).unwrap();
    assert_eq!(log.last_seq(), 5);
    assert_eq!(log.record(entry(6)).unwrap(), 6);
    drop(log);
    let log = AuditLog::open_with_key(&path, KEY, 365).unwrap();
    assert_eq!(log.record(entry(7)).unwrap(), 7);
    let s = verify_file(&path, KEY).unwrap();
    assert_eq!((s.records, s.last_seq), (7, Some(7)));
}

#[test]
fn open_refuses_a_changed_or_cut_last_record_or_another_key() {
    let (_d, path) = trail(5);
    let good = std::fs::read(&path).unwrap();

    let mut cut = good.clone();
    cut.truncate(cut.len() - 30);
    std::fs::write(&path, &cut).unwrap();
    let e = AuditLog::open_with_key(&path, KEY, 365).unwrap_err();
    assert!(matches!(e, AuditError::Corrupt { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("no newline") && msg.contains("chatobs audit verify"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), cut, "nothing written");

    let mut changed = String::from_utf8(good.clone()).unwrap();
    let at = changed.rfind("operator:ana").unwrap();
    changed.replace_range(at..at + 12, "operator:bob");
    std::fs::write(&path, &changed).unwrap();
    let e = AuditLog::open_with_key(&path, KEY, 365).unwrap_err();
    assert!(e.to_string().contains("does not match its MAC"), "{e}");

    std::fs::write(&path, &good).unwrap();
    let e = AuditLog::open_with_key(&path, b"another key of enough bytes!", 365).unwrap_err();
    assert!(e.to_string().contains("another key"), "{e}");
    assert!(!e.to_string().contains("enough bytes"), "{e}");
}

#[test]
fn open_finishes_a_good_last_record_whose_newline_is_missing() {
    let (_d, path) = trail(3);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.pop();
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(check(&bytes).unwrap().records, 3);
    let log = AuditLog::open_with_key(&path, KEY, 365).unwrap();
    assert_eq!(log.record(entry(4)).unwrap(), 4);
    assert_eq!(verify_file(&path, KEY).unwrap().records, 4);
}

#[test]
fn concurrent_writers_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = Arc::new(AuditLog::open_with_key(&path, KEY, 365).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| log.record(entry(t * 100 + i)).unwrap())
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    let s = verify_file(&path, KEY).unwrap();
    assert_eq!((s.records, s.last_seq), (200, Some(200)));
}

#[test]
fn out_of_bounds_entries_are_refused_and_nothing_is_written() {
    let (_d, path) = trail(2);
    let log = AuditLog::open_with_key(&path, KEY, 365).unwrap();
    let big = "x".repeat(MAX_VALUE_BYTES);
    let cases = [
        Entry::new("system", Action::DataExport, "cs_1").before(json!({ "blob": big })),
        Entry::new("system", Action::DataExport, "cs_1").after(json!([big])),
        Entry::new(
            "system",
            Action::DataExport,
            "t".repeat(MAX_TARGET_BYTES + 1),
        ),
        Entry::new("system", Action::DataExport, ""),
        Entry::new("", Action::DataExport, "cs_1"),
        Entry::new("a".repeat(300), Action::DataExport, "cs_1"),
        Entry::new("system", Action::RetentionCheckpoint, "cs_1"),
    ];
    for c in cases {
        let e = log.record(c).unwrap_err();
        assert!(matches!(e, AuditError::InvalidInput(_)), "{e}");
    }
    assert_eq!(log.last_seq(), 2);
    assert_eq!(verify_file(&path, KEY).unwrap().records, 2);
    // Just under the bound is fine.
    let fits = "y".repeat(MAX_VALUE_BYTES - 2);
    log.record(Entry::new("system", Action::DataExport, "cs_1").before(json!(fits)))
        .unwrap();
    log.record(Entry::new(
        "system",
        Action::DataExport,
        "t".repeat(MAX_TARGET_BYTES),
    ))
    .unwrap();
    assert_eq!(verify_file(&path, KEY).unwrap().records, 4);
}

#[test]
fn personal_data_in_before_after_and_target_is_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open_with_key(&path, KEY, 365).unwrap();
    log.record(
        Entry::new("operator:ana", Action::FeedbackRecorded, "wa:573001234567")
            .before(json!({ "note": "call me at +57 300 123 4567", "nested": ["ana@example.com"] }))
            .after(json!({ "ana@example.com": true, "score": 5 })),
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    for secret in ["300 123 4567", "573001234567", "ana@example.com"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains("[REDACTED]"));
    assert!(text.contains("\"score\":5"));
    assert_eq!(verify_file(&path, KEY).unwrap().records, 1);
}

#[test]
fn short_keys_are_refused_without_showing_them() {
    let dir = tempfile::tempdir().unwrap();
    let e = AuditLog::open_with_key(dir.path().join("a.jsonl"), b"short-secret", 365).unwrap_err();
    assert!(matches!(e, AuditError::Key(_)));
    assert!(!e.to_string().contains("short-secret"), "{e}");
    assert!(!format!("{e:?}").contains("short-secret"), "{e:?}");
    let log = AuditLog::open_with_key(dir.path().join("b.jsonl"), KEY, 365).unwrap();
    assert!(!format!("{log:?}").contains("test key"));
}

// ---- retention --------------------------------------------------------------------------------

fn days_ago(now: OffsetDateTime, d: i64) -> OffsetDateTime {
    now - time::Duration::days(d)
}

/// 20 records: 1-10 written 400 days ago, 11-20 one day ago.
fn aged_trail(retention_days: u32) -> (tempfile::TempDir, PathBuf, AuditLog, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open_with_key(&path, KEY, retention_days).unwrap();
    for i in 1..=20 {
        let when = if i <= 10 {
            days_ago(now, 400)
        } else {
            days_ago(now, 1)
        };
        log.record_at(entry(i), when).unwrap();
    }
    (dir, path, log, now)
}

#[test]
fn prune_keeps_new_records_behind_a_checkpoint_and_verifies() {
    let (_d, path, log, now) = aged_trail(365);
    let before = lines(&path);
    let r = log.prune(now).unwrap();
    assert_eq!((r.pruned, r.kept, r.last_pruned_seq), (10, 10, Some(10)));

    let after = lines(&path);
    assert_eq!(after.len(), 11);
    assert_eq!(
        &after[1..],
        &before[10..],
        "kept records are byte for byte the same"
    );
    let cp: Value = serde_json::from_slice(&after[0]).unwrap();
    assert_eq!(cp["action"], "retention_checkpoint");
    assert_eq!(cp["seq"], 10);
    let pruned_last: Value = serde_json::from_slice(&before[9]).unwrap();
    assert_eq!(cp["prev"], pruned_last["mac"]);
    assert_eq!(
        cp["before"],
        json!({ "pruned": 10, "last_pruned_seq": 10, "last_pruned_mac": pruned_last["mac"] })
    );

    let s = verify_file(&path, KEY).unwrap();
    assert_eq!(
        (s.records, s.first_seq, s.last_seq),
        (11, Some(10), Some(20))
    );
    let c = s.checkpoint.unwrap();
    assert_eq!((c.pruned, c.last_pruned_seq), (10, 10));

    // Appending continues the chain, also after reopening.
    assert_eq!(log.record(entry(21)).unwrap(), 21);
    drop(log);
    let log = AuditLog::open_with_key(&path, KEY, 365).unwrap();
    assert_eq!(log.record(entry(22)).unwrap(), 22);
    assert_eq!(verify_file(&path, KEY).unwrap().last_seq, Some(22));

    // Nothing old left: a second prune does nothing.
    assert_eq!(log.prune(now).unwrap().pruned, 0);
    assert_eq!(lines(&path).len(), 13);
    // No temporary file is left beside it.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn prune_everything_then_append_and_prune_again() {
    let (_d, path, log, now) = aged_trail(365);
    log.prune(now).unwrap();
    // Two years later everything is old: only a checkpoint remains.
    let later = now + time::Duration::days(730);
    let r = log.prune(later).unwrap();
    assert_eq!((r.pruned, r.kept, r.last_pruned_seq), (10, 0, Some(20)));
    assert_eq!(lines(&path).len(), 1);
    let s = verify_file(&path, KEY).unwrap();
    assert_eq!(
        (s.records, s.first_seq, s.last_seq),
        (1, Some(20), Some(20))
    );

    // Reopened on a checkpoint alone, the chain continues from seq 20.
    drop(log);
    let log = AuditLog::open_with_key(&path, KEY, 365).unwrap();
    assert_eq!(log.last_seq(), 20);
    assert_eq!(log.record(entry(21)).unwrap(), 21);
    let s = verify_file(&path, KEY).unwrap();
    assert_eq!(
        (s.records, s.first_seq, s.last_seq),
        (2, Some(20), Some(21))
    );
}

#[test]
fn tampering_after_a_prune_is_detected() {
    let (_d, path, log, now) = aged_trail(365);
    log.prune(now).unwrap();
    let ls = lines(&path);

    let mut no_cp = ls.clone();
    no_cp.remove(0);
    let e = check(&join(&no_cp)).unwrap_err();
    assert_eq!(at(&e), (1, Some(1), VerifyErrorKind::Removed), "{e}");

    let mut flipped = ls.clone();
    let i = flipped[0].windows(6).position(|w| w == b"system").unwrap();
    flipped[0][i] ^= 0x01;
    assert_eq!(
        at(&check(&join(&flipped)).unwrap_err()),
        (1, Some(10), VerifyErrorKind::Changed)
    );

    let mut first_kept_gone = ls.clone();
    first_kept_gone.remove(1);
    assert_eq!(
        at(&check(&join(&first_kept_gone)).unwrap_err()),
        (2, Some(11), VerifyErrorKind::Removed)
    );

    // The checkpoint moved down: the record that belongs first comes later.
    let mut moved = ls.clone();
    let cp = moved.remove(0);
    moved.insert(3, cp);
    let e = check(&join(&moved)).unwrap_err();
    assert_eq!(at(&e), (1, Some(11), VerifyErrorKind::Reordered), "{e}");
    // A checkpoint after the first line is out of place.
    let mut twice = ls.clone();
    twice.insert(1, ls[0].clone());
    let e = check(&join(&twice)).unwrap_err();
    assert_eq!(at(&e), (2, Some(10), VerifyErrorKind::Reordered), "{e}");
}

#[test]
fn prune_refuses_a_trail_that_does_not_verify() {
    let (_d, path, log, now) = aged_trail(365);
    let mut ls = lines(&path);
    ls.remove(3); // an old record, which pruning would otherwise erase
    let tampered = join(&ls);
    std::fs::write(&path, &tampered).unwrap();
    let e = log.prune(now).unwrap_err();
    match &e {
        AuditError::Tampered { error, .. } => {
            assert_eq!(at(error), (4, Some(4), VerifyErrorKind::Removed))
        }
        other => panic!("{other}"),
    }
    assert!(
        e.to_string().contains("line 4 (seq 4): record removed"),
        "{e}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), tampered, "left as it was");
}

#[test]
fn retention_zero_keeps_everything() {
    let (_d, path, log, now) = aged_trail(0);
    let r = log.prune(now + time::Duration::days(10_000)).unwrap();
    assert_eq!(r.pruned, 0);
    assert_eq!(verify_file(&path, KEY).unwrap().records, 20);
}
