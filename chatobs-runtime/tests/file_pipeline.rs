//! The embedded default: spans land in the JSONL file through the real
//! pipeline (queue, export thread, flush on drop), and the report draws them.

use chatobs_runtime::config::{ExporterKind, LogFormat};
use chatobs_runtime::{chat_span, vocab, ChatSession, Config};

#[chat_span(name = "classifier.predict", role = "classifier", kind = chain)]
fn predict(text: &str) -> &'static str {
    if text.contains("comprar") {
        "sales"
    } else {
        "pqr"
    }
}

#[chat_span(name = "orchestrator.decision", role = "orchestrator", step = "route")]
async fn decide(text: &str) -> &'static str {
    let intent = predict(text);
    tokio::task::yield_now().await;
    if intent == "sales" {
        sales().await
    } else {
        "pqr"
    }
}

#[chat_span(
    name = "agent.sales.flow",
    role = "sales",
    step = "qualify",
    tags("checkout")
)]
async fn sales() -> &'static str {
    "sales"
}

#[test]
fn spans_reach_the_file_and_the_waterfall() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/spans.jsonl");
    let mut c = Config::default();
    c.exporter.kinds = vec![ExporterKind::File, ExporterKind::Memory];
    c.exporter.file_path = path.clone();
    c.service.name = "file-test".into();
    c.logs.format = LogFormat::Off;
    let guard = chatobs_runtime::init(c.clone()).unwrap();
    assert!(matches!(
        chatobs_runtime::init(c),
        Err(chatobs_runtime::Error::AlreadyInitialized)
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s1 = ChatSession::new("wa:573001234567");
    let s2 = ChatSession::new("wa:573007654321");
    rt.block_on(async {
        for _ in 0..3 {
            s1.scope(decide("quiero comprar")).await;
        }
        s2.scope(decide("tengo un reclamo")).await;
    });
    let mem = guard.memory_spans();
    assert_eq!(mem.len(), 3 * 3 + 2);
    let snap = guard.snapshot();
    drop(guard);
    assert_eq!(snap.dropped, 0);
    assert_eq!(snap.exported, 11);

    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 11);
    assert!(!text.contains("573001234567") && !text.contains("573007654321"));
    let spans = chatobs_runtime::report::read_jsonl(&text).unwrap();
    assert_eq!(
        spans,
        mem.iter()
            .map(|s| {
                // The file keeps microsecond-free nanosecond times and every attribute.
                let mut s = s.clone();
                s.links.clear();
                s
            })
            .collect::<Vec<_>>()
    );
    let first = text.lines().next().unwrap();
    let v: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(v["service"], "file-test");
    assert_eq!(v["name"], "classifier.predict");
    assert_eq!(v["attributes"][vocab::CHAT_SESSION_ID], s1.id());

    let w = chatobs_runtime::report::waterfall(&spans, None);
    assert_eq!(w.matches("conversation cs_").count(), 2, "{w}");
    let only = chatobs_runtime::report::waterfall(&spans, Some(s2.id()));
    assert!(only.contains(s2.id()) && !only.contains(s1.id()));
    assert!(
        only.contains("orchestrator.decision") && only.contains("  classifier.predict"),
        "{only}"
    );
    println!("{w}");
}
