//! `[audit]`: defaults, the file, the environment, checks, and the key.

use chatobs_audit::config::{AUDIT_KEY_ENV, FALLBACK_KEY_ENV};
use chatobs_audit::{resolve_key, AuditConfig, AuditError, AuditLog};
use chatobs_core::config::{section_from, Errors, Section};
use std::collections::HashMap;
use std::path::PathBuf;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

fn errors_of(cfg: &AuditConfig) -> Vec<String> {
    match cfg.validate() {
        Ok(()) => Vec::new(),
        Err(e) => e.errors().iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn the_defaults() {
    let c = AuditConfig::default();
    assert_eq!(AuditConfig::KEY, "audit");
    assert!(!c.enabled);
    assert_eq!(c.path, PathBuf::from("target/chatobs/audit.jsonl"));
    assert_eq!(c.retention_days, 365);
    assert_eq!(c.key_env, "CHATOBS_AUDIT_KEY");
    assert!(errors_of(&c).is_empty());
}

#[test]
fn a_file_table_lays_over_the_defaults_and_unknown_keys_are_refused() {
    let text = "enabled = true\nretention_days = 30\n";
    let mut errs = Errors::new(None);
    let c: AuditConfig = section_from(Some(toml::from_str(text).unwrap()), Some(text), &mut errs);
    assert!(errs.is_empty(), "{:?}", errs.into_result());
    assert!(c.enabled);
    assert_eq!(c.retention_days, 30);
    assert_eq!(c.key_env, AUDIT_KEY_ENV);

    let text = "retention = 30\n";
    let mut errs = Errors::new(None);
    let _: AuditConfig = section_from(Some(toml::from_str(text).unwrap()), Some(text), &mut errs);
    assert!(!errs.is_empty());
}

#[test]
fn the_environment_overrides_and_bad_values_name_their_variable() {
    let mut c = AuditConfig::default();
    let mut errs = Errors::new(None);
    c.apply_env(
        &env(&[
            ("CHATOBS_AUDIT_ENABLED", "true"),
            ("CHATOBS_AUDIT_PATH", "/var/log/bot/audit.jsonl"),
            ("CHATOBS_AUDIT_RETENTION_DAYS", "90"),
        ]),
        &mut errs,
    );
    assert!(errs.is_empty());
    assert!(c.enabled);
    assert_eq!(c.path, PathBuf::from("/var/log/bot/audit.jsonl"));
    assert_eq!(c.retention_days, 90);

    let mut errs = Errors::new(None);
    c.apply_env(
        &env(&[
            ("CHATOBS_AUDIT_ENABLED", "yes please"),
            ("CHATOBS_AUDIT_RETENTION_DAYS", "-1"),
        ]),
        &mut errs,
    );
    let msg = errs.into_result().unwrap_err().to_string();
    assert!(msg.contains("CHATOBS_AUDIT_ENABLED"), "{msg}");
    assert!(msg.contains("CHATOBS_AUDIT_RETENTION_DAYS"), "{msg}");
    assert_eq!(c.retention_days, 90, "a bad value changes nothing");
}

#[test]
fn every_bad_value_is_reported_at_once_under_its_key() {
    let c = AuditConfig {
        enabled: false,
        path: PathBuf::new(),
        retention_days: 40_000,
        key_env: "not a variable".into(),
    };
    let errs = errors_of(&c);
    assert_eq!(errs.len(), 3, "{errs:?}");
    for key in ["audit.path", "audit.retention_days", "audit.key_env"] {
        assert!(errs.iter().any(|e| e.starts_with(key)), "{key}: {errs:?}");
    }
    // Enabled, the path must be writable.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let c = AuditConfig {
        enabled: true,
        path: file.join("audit.jsonl"),
        ..AuditConfig::default()
    };
    let errs = errors_of(&c);
    assert!(errs.iter().any(|e| e.starts_with("audit.path")), "{errs:?}");
}

#[test]
fn the_key_comes_from_key_env_then_the_session_key() {
    let c = AuditConfig::default();
    let k = c
        .key(&env(&[
            (AUDIT_KEY_ENV, "audit-key-0123456789"),
            (FALLBACK_KEY_ENV, "session-key-0123456789"),
        ]))
        .unwrap();
    assert_eq!(k, b"audit-key-0123456789");
    let k = c
        .key(&env(&[(FALLBACK_KEY_ENV, "session-key-0123456789")]))
        .unwrap();
    assert_eq!(k, b"session-key-0123456789");
    let custom = AuditConfig {
        key_env: "MY_AUDIT_SECRET".into(),
        ..AuditConfig::default()
    };
    let k = custom
        .key(&env(&[
            ("MY_AUDIT_SECRET", "custom-key-0123456789"),
            (AUDIT_KEY_ENV, "audit-key-0123456789"),
        ]))
        .unwrap();
    assert_eq!(k, b"custom-key-0123456789");
}

#[test]
fn without_a_key_open_refuses_and_says_which_variable_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let c = AuditConfig {
        path: dir.path().join("audit.jsonl"),
        ..AuditConfig::default()
    };
    let e = AuditLog::open_with_env(&c, &env(&[])).unwrap_err();
    assert!(matches!(e, AuditError::Key(_)));
    let msg = e.to_string();
    assert!(
        msg.contains("CHATOBS_AUDIT_KEY") && msg.contains("CHATOBS_SESSION_KEY"),
        "{msg}"
    );
    assert!(!c.path.exists(), "nothing created");

    let e = AuditLog::open_with_env(&c, &env(&[(AUDIT_KEY_ENV, "tooshort")])).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("CHATOBS_AUDIT_KEY has 8 bytes"), "{msg}");
    assert!(!msg.contains("tooshort"), "{msg}");

    let e = resolve_key(FALLBACK_KEY_ENV, &env(&[])).unwrap_err();
    assert!(
        e.to_string().contains("CHATOBS_SESSION_KEY is not set"),
        "{e}"
    );

    let log =
        AuditLog::open_with_env(&c, &env(&[(AUDIT_KEY_ENV, "a-long-enough-key-here")])).unwrap();
    assert_eq!(log.path(), c.path);
    assert_eq!(log.retention_days(), 365);
    let core: chatobs_core::Error = AuditError::Key("x".into()).into();
    assert!(core.to_string().starts_with("audit.key_env"), "{core}");
}
