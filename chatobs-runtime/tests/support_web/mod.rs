//! Helpers of the web integration tests: the ChatCommerce bot (the example's
//! services, on 127.0.0.1) and a chatobs installation writing to memory and to
//! a JSON log file.
#![allow(dead_code)]

#[path = "../../../examples/support/chatcommerce_bot.rs"]
pub mod bot;

use chatobs_runtime::config::ExporterKind;
use chatobs_runtime::{Config, Guard};
use std::path::PathBuf;

/// Installs chatobs: the memory exporter (plus `extra` kinds), JSON logs to a file.
pub fn init(
    extra: &[ExporterKind],
    tweak: impl FnOnce(&mut Config),
) -> (Guard, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs.jsonl");
    let mut cfg = Config::default();
    cfg.exporter.kinds = vec![ExporterKind::Memory];
    cfg.exporter.kinds.extend_from_slice(extra);
    cfg.exporter.file_path = dir.path().join("spans.jsonl");
    cfg.exporter.scheduled_delay_ms = 20;
    cfg.logs.output = log.to_string_lossy().into_owned();
    cfg.logs.level = "info".into();
    tweak(&mut cfg);
    let guard = chatobs_runtime::init(cfg).unwrap();
    (guard, log, dir)
}

/// The log lines written so far, parsed.
pub fn log_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    // The log layer writes from its own thread: wait for it.
    assert!(chatobs_runtime::logs::flush(
        std::time::Duration::from_secs(10)
    ));
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
