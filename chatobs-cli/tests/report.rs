//! `chatobs report` on a span file written by the file exporter.

use chatobs_runtime::export::file::FileExporter;
use chatobs_runtime::export::SpanExporter;
use chatobs_runtime::{testing, ChatSession, Role, SpanBuilder};
mod common;

use common::chatobs;

#[test]
fn report_draws_one_waterfall_per_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spans.jsonl");
    let a = ChatSession::new("wa:573001234567");
    let b = ChatSession::new("wa:573007654321");
    let (_, spans) = testing::capture(|| {
        for s in [&a, &b] {
            s.in_scope(|| {
                let mut root = SpanBuilder::new("orchestrator.decision")
                    .role(Role::ORCHESTRATOR)
                    .step("route")
                    .start();
                root.in_scope(|| {
                    let _c = SpanBuilder::new("classifier.predict")
                        .role(Role::CLASSIFIER)
                        .start();
                });
            });
        }
    });
    let mut f = FileExporter::open(&path, "report-test").unwrap();
    f.export(&spans.spans).unwrap();
    drop(f);
    let p = path.to_str().unwrap();

    let (code, out, err) = chatobs(&["report", p]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches("conversation cs_").count(), 2, "{out}");
    assert!(out.contains(&format!("conversation {}", a.id())));
    let tree_line = out
        .lines()
        .find(|l| l.trim_start().starts_with("classifier.predict"))
        .unwrap();
    assert!(
        tree_line.starts_with("    classifier.predict"),
        "child indented under its parent: {out}"
    );
    assert!(out.contains("orchestrator") && out.contains("route"));

    let (code, out, _) = chatobs(&["report", p, "--session", b.id()]);
    assert_eq!(code, 0);
    assert!(out.contains(b.id()) && !out.contains(a.id()));

    let (code, _, err) = chatobs(&["report", p, "--session", "cs_nope"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no conversation with session id \"cs_nope\""),
        "{err}"
    );

    std::fs::write(
        &path,
        format!(
            "{}\n{{not json\n",
            std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .next()
                .unwrap()
        ),
    )
    .unwrap();
    let (code, _, err) = chatobs(&["report", p]);
    assert_eq!(code, 2);
    assert!(err.contains("line 2: not JSON"), "{err}");

    let (code, _, err) = chatobs(&["report", "/nonexistent/spans.jsonl"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("chatobs: /nonexistent/spans.jsonl:"),
        "{err}"
    );
}

#[test]
fn check_config_reports_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("obs.toml");
    std::fs::write(&path, "[exporter]\nqueue_size = 0\n").unwrap();
    let (code, _, err) = chatobs(&["check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("obs.toml: exporter.queue_size: must be between 1 and 1048576, got 0"),
        "{err}"
    );
    std::fs::write(&path, "[service]\nname = \"bot\"\n").unwrap();
    let (code, out, _) = chatobs(&["check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("service.name = bot"));
}
