//! The span-file report on hostile input: deep chains, self-parents and
//! cycles without recursion, bad lines skipped and counted without quoting
//! them, no panic on odd values (issue 11).

use chatobs_core::export::file::span_to_json;
use chatobs_core::ids::SpanId;
use chatobs_core::model::{FinishedSpan, Status, Value};
use chatobs_core::report::{
    parse_span_line, read_jsonl, read_jsonl_from, read_jsonl_lossy, waterfall, write_waterfall,
    MAX_LINE_BYTES,
};
use chatobs_core::vocab;
use rust_decimal::Decimal;
use std::borrow::Cow;

mod support;
use support::spans::{self, Rng};

/// Rows of a report: one line per span, each ending in its timeline bar.
fn rows(report: &str) -> Vec<&str> {
    report.lines().filter(|l| l.ends_with('|')).collect()
}

/// Runs `f` on a thread with a small stack: a walk that recursed per level
/// of a 100 000-deep tree would overflow it.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn a_100k_deep_chain_a_self_parent_and_cycles_are_drawn_once_each() {
    let mut rng = Rng::new(7);
    let mut all = Vec::new();
    spans::chain(&mut rng, "cs_chain", 100_000, &mut all);
    spans::self_parent(&mut rng, "cs_loops", &mut all);
    spans::cycle(&mut rng, "cs_loops", 2, &mut all);
    spans::cycle(&mut rng, "cs_loops", 3, &mut all);
    // The same span twice, the copy naming itself as parent.
    let mut dup = all[all.len() - 1].clone();
    dup.parent_span_id = dup.span_id;
    dup.name = "loop.duplicate".into();
    all.push(dup);
    let total = all.len();
    assert_eq!(total, 100_000 + 2 + 4 + 6 + 1);

    // In memory: serializing and parsing 100 000 lines in a debug build
    // takes seconds and is linear anyway (the file path is checked below
    // and in chatobs-cli's tests/report_robust.rs).
    let out = on_small_stack(move || waterfall(&all, None));

    let rows = rows(&out);
    assert_eq!(rows.len(), total, "every span exactly once");
    // The name is the first word of a row, after the depth (`↳12`) if any.
    let mut names: std::collections::HashMap<&str, usize> = Default::default();
    for r in &rows {
        let mut words = r.split_whitespace();
        let mut w = words.next().unwrap_or("");
        if w.starts_with('↳') {
            w = words.next().unwrap_or("");
        }
        *names.entry(w).or_default() += 1;
    }
    let count = |name: &str| names.get(name).copied().unwrap_or(0);
    assert_eq!(count("recursion.step"), 100_000);
    assert_eq!(count("loop.self"), 1);
    assert_eq!(count("loop.self.child"), 1);
    assert_eq!(count("loop.member"), 5);
    assert_eq!(count("loop.member.child"), 5);
    assert_eq!(count("loop.duplicate"), 1);
    // Self-parent + 2-cycle + 3-cycle: 6 spans drawn as roots, marked.
    assert_eq!(out.matches(" ↻").count(), 6, "{}", &out[out.len() - 3000..]);
    assert!(
        out.contains("parent-cycles=6"),
        "{}",
        &out[out.len() - 3000..]
    );
    // The chain: one root, its depth shown past 10 levels.
    assert!(out.contains("↳99999 recursion.step"));
    assert!(out.contains("conversation cs_chain  spans=100000"));
}

#[test]
fn a_deep_chain_and_cycles_read_from_a_file_are_all_drawn() {
    let mut rng = Rng::new(8);
    let mut all = Vec::new();
    spans::chain(&mut rng, "cs_chain", 10_000, &mut all);
    spans::self_parent(&mut rng, "cs_chain", &mut all);
    spans::cycle(&mut rng, "cs_chain", 2, &mut all);
    let bytes = spans::jsonl(&all);
    let (read, out) = on_small_stack(move || {
        let read = read_jsonl_lossy(&bytes);
        let out = waterfall(&read.spans, None);
        (read, out)
    });
    assert_eq!((read.lines, read.skipped), (all.len(), 0));
    assert_eq!(read.spans, all);
    assert_eq!(rows(&out).len(), all.len());
    assert_eq!(out.matches(" ↻").count(), 3);
}

#[test]
fn children_are_indented_under_their_parent_in_start_order() {
    let mut rng = Rng::new(1);
    let mut all = Vec::new();
    spans::turn(&mut rng, "cs_one", 1_000_000_000, &mut all);
    // Files list spans as they end: children before parents.
    all.reverse();
    let out = waterfall(&all, None);
    let rows = rows(&out);
    assert_eq!(rows.len(), all.len());
    assert!(rows[0].starts_with("  whatsapp.webhook "), "{out}");
    assert!(rows[1].starts_with("    orchestrator.decision "), "{out}");
    assert!(rows[2].starts_with("      classifier.predict "), "{out}");
    assert!(rows[2..].iter().all(|r| r.starts_with("      ")), "{out}");
    assert!(
        rows.iter().all(|r| r.contains(" bot ")),
        "service inherited: {out}"
    );
}

#[test]
fn write_waterfall_streams_the_same_report() {
    let all = spans::realistic(5_000, 20, 50, 2);
    let mut buf = Vec::new();
    let n = write_waterfall(&mut buf, &all, None).unwrap();
    assert_eq!(n, 20 + 1 + 2);
    assert_eq!(String::from_utf8(buf).unwrap(), waterfall(&all, None));
    let mut none = Vec::new();
    assert_eq!(
        write_waterfall(&mut none, &all, Some("cs_nope")).unwrap(),
        0
    );
    assert!(none.is_empty());
    let one = waterfall(&all, Some("cs_loops_1"));
    assert_eq!(one.matches("conversation ").count(), 1);
    assert_eq!(rows(&one).len(), 12);
}

#[test]
fn money_that_overflows_is_shown_not_summed() {
    let mut rng = Rng::new(3);
    let mut all = Vec::new();
    spans::turn(&mut rng, "cs_rich", 1_000, &mut all);
    for s in all.iter_mut() {
        s.attributes.push((
            Cow::Borrowed(vocab::GEN_AI_USAGE_PRICE_USD),
            Value::Decimal(Decimal::MAX),
        ));
        s.attributes.push((
            Cow::Borrowed(vocab::MESSAGING_WHATSAPP_PRICE_USD),
            Value::Str("79228162514264337593543950335".into()),
        ));
    }
    let out = waterfall(&all, None);
    assert!(out.contains("llm=$overflow"), "{out}");
    assert!(out.contains("total=$overflow"), "{out}");
    assert!(rows(&out).iter().all(|r| r.contains(" overflow ")), "{out}");
}

#[test]
fn a_judges_calls_are_the_evaluations_cost_not_the_conversations_llm() {
    let mut rng = Rng::new(5);
    let mut all = Vec::new();
    spans::turn(&mut rng, "cs_judged", 3, &mut all);
    for s in all.iter_mut() {
        s.attributes.retain(|(k, _)| {
            k != vocab::GEN_AI_USAGE_PRICE_USD
                && k != vocab::MESSAGING_WHATSAPP_PRICE_USD
                && k != vocab::AGENT_ROLE
        });
    }
    let price = |s: &mut FinishedSpan, d: &str| {
        s.attributes.push((
            Cow::Borrowed(vocab::GEN_AI_USAGE_PRICE_USD),
            Value::Decimal(d.parse().unwrap()),
        ))
    };
    price(&mut all[1], "0.00007725");
    // The judge's call: an LLM span of the evaluator role.
    all[2].attributes.push((
        Cow::Borrowed(vocab::AGENT_ROLE),
        Value::Str("evaluator".into()),
    ));
    price(&mut all[2], "0.00006585");
    let out = waterfall(&all, None);
    let header = out
        .lines()
        .find(|l| l.starts_with("conversation "))
        .unwrap();
    assert!(
        header.contains("llm=$0.00007725  whatsapp=$0  total=$0.00007725  evaluations=$0.00006585"),
        "{header}"
    );
    // Without a judge, no evaluations figure.
    all[2].attributes.retain(|(k, _)| k != vocab::AGENT_ROLE);
    let out = waterfall(&all, None);
    assert!(!out.contains("evaluations="), "{out}");
    assert!(out.contains("llm=$0.0001431"), "{out}");
}

/// A span line with `f` applied to its JSON object.
fn line(f: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) -> String {
    let mut rng = Rng::new(11);
    let mut v = Vec::new();
    spans::turn(&mut rng, "cs_x", 1_000, &mut v);
    let mut j = span_to_json(&v[0], "svc");
    f(j.as_object_mut().unwrap());
    j.to_string()
}

const PHONE: &str = "573001234567";

#[test]
fn bad_lines_are_skipped_counted_and_never_quoted() {
    let good = line(|_| {});
    let mut file: Vec<u8> = Vec::new();
    let mut push = |l: &[u8]| {
        file.extend_from_slice(l);
        file.push(b'\n');
    };
    push(good.as_bytes()); // 1
    push(format!("{{\"name\": \"{PHONE}\", oops").as_bytes()); // 2: not JSON
    push(b""); // 3: blank, not counted
    push(
        line(|o| {
            o.remove("trace_id");
        })
        .as_bytes(),
    ); // 4: missing field
    push(
        line(|o| {
            o.insert("start_unix_nano".into(), (-5).into());
        })
        .as_bytes(),
    ); // 5: negative time
    push(
        line(|o| {
            o.insert("start_unix_nano".into(), serde_json::json!(1e300));
        })
        .as_bytes(),
    ); // 6: huge number
    push(
        line(|o| {
            o.insert("span_id".into(), PHONE.into());
        })
        .as_bytes(),
    ); // 7: bad id
    push(format!("[\"{PHONE}\"]").as_bytes()); // 8: not an object
    push(&[b'['; 100_000]); // 9: nested beyond serde_json's limit
    let mut bad_utf8 = line(|o| {
        o.insert("name".into(), "caf\u{e9}".into());
    })
    .into_bytes();
    let at = bad_utf8.windows(2).position(|w| w == [0xc3, 0xa9]).unwrap();
    bad_utf8[at] = 0xff; // 10: invalid UTF-8 in a string: kept, replaced
    push(&bad_utf8);
    push(
        good.replace(',', ",\r")
            .as_bytes()
            .split(|b| *b == b'\r')
            .next()
            .unwrap(),
    ); // 11: torn
    push(format!("{good}\r").as_bytes()); // 12: CRLF
    push(
        line(|o| {
            // End before start: a span of zero duration, kept.
            o.insert("end_unix_nano".into(), 0.into());
        })
        .as_bytes(),
    ); // 13
    push(&[0xc0, 0x80, 0xfe]); // 14: not UTF-8, not JSON
    push(good.as_bytes()); // 15: no newline at the end
    file.pop();

    let read = read_jsonl_lossy(&file);
    assert_eq!(read.lines, 14);
    assert_eq!(read.spans.len(), 5, "lines 1, 10, 12, 13, 15");
    assert_eq!(read.skipped, 9);
    assert_eq!(read.invalid_utf8, 2);
    let first = read.first_bad.as_ref().unwrap();
    assert_eq!(first.line, 2);
    assert!(first.reason.starts_with("not JSON: "), "{}", first.reason);
    assert_eq!(
        read.summary("spans.jsonl").unwrap(),
        format!(
            "skipped 9 of 14 lines of spans.jsonl (first bad line 2: {})",
            first.reason
        )
    );
    assert!(read.spans[1].name.starts_with("caf\u{fffd}"));
    assert_eq!(read.spans[3].duration(), std::time::Duration::ZERO);
    let out = waterfall(&read.spans, None);
    assert_eq!(rows(&out).len(), 5);

    // Every reason, one line at a time: fixed words, never the content.
    for (n, l) in file.split(|b| *b == b'\n').enumerate() {
        let one = read_jsonl_lossy(l);
        if let Some(b) = one.first_bad {
            assert!(!b.reason.contains(PHONE), "line {}: {}", n + 1, b.reason);
            assert!(b.reason.len() < 120, "line {}: {}", n + 1, b.reason);
        }
    }

    // Small reads split lines anywhere: the same result.
    let chunked = read_jsonl_from(std::io::BufReader::with_capacity(7, &file[..])).unwrap();
    assert_eq!(chunked, read);
}

#[test]
fn a_line_longer_than_the_limit_is_skipped_without_being_kept() {
    let good = line(|_| {});
    let mut file = Vec::with_capacity(MAX_LINE_BYTES + 4096);
    file.extend_from_slice(good.as_bytes());
    file.push(b'\n');
    let start = file.len();
    file.extend_from_slice(b"{\"name\":\"");
    file.resize(start + MAX_LINE_BYTES + 10, b'x');
    file.extend_from_slice(b"\"}\n");
    file.extend_from_slice(good.as_bytes());
    let read = read_jsonl_from(std::io::BufReader::with_capacity(4096, &file[..])).unwrap();
    assert_eq!((read.lines, read.skipped, read.spans.len()), (3, 1, 2));
    let b = read.first_bad.unwrap();
    assert_eq!(b.line, 2);
    assert_eq!(b.reason, format!("longer than {MAX_LINE_BYTES} bytes"));
}

#[test]
fn the_strict_reader_still_stops_at_the_first_bad_line() {
    let good = line(|_| {});
    let e = read_jsonl(&format!("{good}\n{{not json\n")).unwrap_err();
    assert!(e.to_string().starts_with("line 2: not JSON"), "{e}");
    let e = read_jsonl(&format!(
        "\n{good}\n{}\n",
        line(|o| {
            o.remove("name");
        })
    ))
    .unwrap_err();
    assert_eq!(e.to_string(), "line 3: missing field `name`");
    assert_eq!(read_jsonl(&format!("{good}\r\n\n{good}")).unwrap().len(), 2);
}

#[test]
fn the_line_parser_keeps_what_the_file_exporter_wrote() {
    let mut rng = Rng::new(5);
    let mut v = Vec::new();
    spans::turn(&mut rng, "cs_rt", 1_000, &mut v);
    for s in &mut v {
        s.status = Status::Error("boom".into());
        let back = parse_span_line(&span_to_json(s, "svc").to_string()).unwrap();
        assert_eq!(&back, s);
    }
    let root: &FinishedSpan = &v[0];
    assert_eq!(root.parent_span_id, SpanId::INVALID);
}
