//! `chatobs report` on damaged and hostile span files (issue 11): bad lines
//! skipped with one line on stderr that never quotes them, cycles and deep
//! chains drawn without overflowing the stack.

mod common;

use common::chatobs;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PHONE: &str = "573001234567";

fn span(id: u64, parent: u64, name: &str, start: u64) -> String {
    let parent = if parent == 0 {
        String::new()
    } else {
        format!("{parent:016x}")
    };
    format!(
        r#"{{"trace_id":"{TRACE}","span_id":"{id:016x}","parent_span_id":"{parent}","name":"{name}","kind":"internal","start_unix_nano":{start},"end_unix_nano":{},"status":{{"code":"ok"}},"attributes":{{"chat.session_id":"cs_robust","agent.role":"classifier"}},"events":[],"links":[]}}"#,
        start + 1_000_000
    )
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn bad_lines_are_skipped_with_one_line_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    text.push_str(&span(1, 0, "root", 1_000));
    text.push('\n');
    text.push_str(&format!("{{\"name\":\"{PHONE}\", not json\n"));
    text.push_str(&span(2, 1, "child", 2_000));
    text.push('\n');
    text.push_str(&format!("{{\"wa_id\":\"{PHONE}\"}}\n"));
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(&[0xff, 0xfe, b'\n']);
    let p = write(&dir, "spans.jsonl", &bytes);

    let (code, out, err) = chatobs(&["report", &p]);
    assert_eq!(code, 2, "some lines were skipped: {err}");
    assert!(out.contains("conversation cs_robust  spans=2"), "{out}");
    assert!(out.contains("    child"), "{out}");
    assert!(!err.contains(PHONE), "never the line's content: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(
        lines[0],
        format!("chatobs: 1 of 5 lines of {p} had bytes that are not UTF-8 (read as U+FFFD)")
    );
    assert!(
        lines[1].starts_with(&format!(
            "chatobs: skipped 3 of 5 lines of {p} (first bad line 2: not JSON: "
        )),
        "{err}"
    );

    // Nothing but bad lines: the summary, and no report.
    let p = write(&dir, "bad.jsonl", format!("{PHONE}x\n[]\n").as_bytes());
    let (code, out, err) = chatobs(&["report", &p]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.starts_with(&format!(
            "chatobs: skipped 2 of 2 lines of {p} (first bad line 1: not JSON: "
        )) && err.ends_with("); no spans left\n")
            && err.lines().count() == 1
            && !err.contains(PHONE),
        "{err}"
    );

    // A session that is not there, in a file with a bad line.
    let p = write(
        &dir,
        "one.jsonl",
        format!("{}\n{{\n", span(1, 0, "root", 1)).as_bytes(),
    );
    let (code, _, err) = chatobs(&["report", &p, "--session", "cs_nope"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("chatobs: no conversation with session id \"cs_nope\" in ")
            && err.contains("(skipped 1 of 2 lines of"),
        "{err}"
    );
}

#[test]
fn self_parents_cycles_and_deep_chains_are_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    // A self-parent, a 2-cycle, and a chain 20 000 deep.
    text.push_str(&span(7, 7, "self", 1));
    text.push('\n');
    text.push_str(&span(8, 9, "ping", 2));
    text.push('\n');
    text.push_str(&span(9, 8, "pong", 3));
    text.push('\n');
    let depth = 20_000u64;
    for i in 0..depth {
        let id = 100 + i;
        let parent = if i == 0 { 0 } else { id - 1 };
        text.push_str(&span(id, parent, "deep", 10 + i));
        text.push('\n');
    }
    let p = write(&dir, "loops.jsonl", text.as_bytes());
    let (code, out, err) = chatobs(&["report", &p]);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "{err}");
    let rows = out.lines().filter(|l| l.ends_with('|')).count();
    assert_eq!(rows as u64, depth + 3);
    assert!(out.contains("parent-cycles=3"), "{}", &out[..400]);
    assert_eq!(out.matches(" ↻").count(), 3);
    assert!(out.contains(&format!("↳{} deep", depth - 1)));
}

#[test]
fn an_empty_file_has_no_spans() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "empty.jsonl", b"\n  \n");
    let (code, _, err) = chatobs(&["report", &p]);
    assert_eq!(code, 2);
    assert_eq!(err.trim_end(), format!("chatobs: {p}: no spans"));
}
