//! `chatobs audit verify FILE`: exit 0 on an intact trail, 1 naming the first
//! changed, removed, reordered or malformed record, 2 when it cannot check.

use chatobs_audit::{Action, AuditLog, Entry};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

const KEY: &str = "cli test key: 32 bytes of secret!";

/// `chatobs ARGS` with only the given key variables set.
fn chatobs(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatobs"));
    cmd.args(args)
        .env_remove("CHATOBS_AUDIT_KEY")
        .env_remove("CHATOBS_SESSION_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn verify(path: &Path) -> (i32, String, String) {
    chatobs(
        &["audit", "verify", path.to_str().unwrap()],
        &[("CHATOBS_AUDIT_KEY", KEY)],
    )
}

/// 20 records; with `aged`, records 1-10 are 400 days old.
fn trail(aged: bool) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open_with_key(&path, KEY.as_bytes(), 365).unwrap();
    let now = time::OffsetDateTime::now_utc();
    for i in 1..=20u64 {
        let e = Entry::new(
            format!("operator:op{i}"),
            Action::OperatorAssigned,
            format!("cs_{i:032x}"),
        )
        .before(json!({ "operator": null }))
        .after(json!({ "operator": format!("op{i}") }));
        let at = if aged && i <= 10 {
            now - time::Duration::days(400)
        } else {
            now
        };
        log.record_at(e, at).unwrap();
    }
    (dir, path)
}

fn edit_lines(path: &Path, f: impl FnOnce(&mut Vec<String>)) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    f(&mut lines);
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn an_intact_trail_exits_0() {
    let (_d, path) = trail(false);
    let (code, out, err) = verify(&path);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("ok: 20 records, chain intact (first seq 1, last seq 20)\n"),
        "{out}"
    );
    assert!(err.is_empty(), "{err}");
}

#[test]
fn a_flipped_byte_in_record_7_is_named() {
    let (_d, path) = trail(false);
    edit_lines(&path, |l| {
        l[6] = l[6].replacen("operator:op7", "operator:op8", 1)
    });
    let (code, out, err) = verify(&path);
    assert_eq!(code, 1, "{out}{err}");
    let want = format!("chatobs: {} line 7 (seq 7): record changed", path.display());
    assert!(err.starts_with(&want), "{err}");
    assert!(out.is_empty());
}

#[test]
fn a_deleted_line_7_is_named() {
    let (_d, path) = trail(false);
    edit_lines(&path, |l| {
        l.remove(6);
    });
    let (code, _, err) = verify(&path);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("line 7 (seq 7): record removed"), "{err}");
}

#[test]
fn swapped_lines_7_and_8_are_named() {
    let (_d, path) = trail(false);
    edit_lines(&path, |l| l.swap(6, 7));
    let (code, _, err) = verify(&path);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("line 7 (seq 8): record reordered"), "{err}");
}

#[test]
fn a_truncated_last_line_is_malformed() {
    let (_d, path) = trail(false);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 50]).unwrap();
    let (code, _, err) = verify(&path);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("line 20 (seq 20): record malformed"), "{err}");
}

#[test]
fn a_pruned_trail_verifies() {
    let (_d, path) = trail(true);
    let log = AuditLog::open_with_key(&path, KEY.as_bytes(), 365).unwrap();
    let r = log.prune(time::OffsetDateTime::now_utc()).unwrap();
    assert_eq!(r.pruned, 10);
    let (code, out, err) = verify(&path);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("ok: 11 records, chain intact (first seq 10, last seq 20)\n"),
        "{out}"
    );
    assert!(
        out.contains("retention checkpoint: 10 records pruned, up to seq 10"),
        "{out}"
    );
}

#[test]
fn the_key_comes_from_key_env_or_the_session_key_and_is_never_printed() {
    let (_d, path) = trail(false);
    let file = path.to_str().unwrap();

    let (code, _, err) = chatobs(&["audit", "verify", file], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("CHATOBS_AUDIT_KEY") && err.contains("CHATOBS_SESSION_KEY"),
        "{err}"
    );

    let (code, _, err) = chatobs(&["audit", "verify", file], &[("CHATOBS_SESSION_KEY", KEY)]);
    assert_eq!(code, 0, "{err}");

    let (code, _, err) = chatobs(
        &["audit", "verify", file, "--key-env", "MY_AUDIT_SECRET"],
        &[("MY_AUDIT_SECRET", KEY)],
    );
    assert_eq!(code, 0, "{err}");

    let wrong = "a wrong key, long enough to be used";
    let (code, out, err) = chatobs(&["audit", "verify", file], &[("CHATOBS_AUDIT_KEY", wrong)]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("line 1 (seq 1): record changed"), "{err}");
    assert!(err.contains("another key"), "{err}");
    for secret in [wrong, KEY] {
        assert!(!err.contains(secret) && !out.contains(secret), "{out}{err}");
    }

    let (code, _, err) = chatobs(
        &["audit", "verify", file],
        &[("CHATOBS_AUDIT_KEY", "short")],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("CHATOBS_AUDIT_KEY has 5 bytes"), "{err}");
    assert!(!err.contains("short\""), "{err}");
}

#[test]
fn a_missing_file_or_an_empty_trail() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.jsonl");
    let (code, _, err) = verify(&missing);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nope.jsonl"), "{err}");

    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let (code, out, err) = verify(&empty);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ok: 0 records"), "{out}");

    let (code, _, err) = verify(dir.path());
    assert_ne!(code, 0, "a directory is not a trail: {err}");
    assert!(!err.contains("panicked"), "{err}");
}
