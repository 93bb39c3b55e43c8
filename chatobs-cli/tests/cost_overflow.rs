//! `chatobs cost` never panics: overflowing or invalid input is an error
//! message naming the problem and exit code 2.

mod common;

use common::chatobs;
use serde_json::Value;
use std::process::{Command, Stdio};

fn json(s: &str) -> Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn price_file(dir: &std::path::Path, input: &str, per: &str) -> String {
    let path = dir.join("prices.toml");
    std::fs::write(
        &path,
        format!("[[model]]\nname = \"acme\"\nprovider = \"openai\"\nunit = \"token\"\nper = {per}\ninput = {input}\noutput = \"1\"\nsource = \"contract\"\ndate = \"2026-01-01\"\n"),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

fn no_panic(err: &str) {
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.starts_with("chatobs: "), "{err}");
}

#[test]
fn a_price_file_with_huge_values_is_exit_2_naming_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    for (input, per) in [
        ("\"79228162514264337593543950335\"", "1"),
        ("\"7.9e28\"", "1"),
        ("\"79228162514264337593543950336\"", "1"),
        ("\"1e400\"", "1000000"),
        ("9223372036854775807", "1"),
    ] {
        let prices = price_file(dir.path(), input, per);
        let (code, out, err) = chatobs(&[
            "cost",
            "llm",
            "--model",
            "acme",
            "--input",
            "1000000000",
            "--output",
            "1000000000",
            "--prices",
            &prices,
        ]);
        assert_eq!(code, 2, "{input}: {err}");
        assert!(out.is_empty(), "{out}");
        no_panic(&err);
        assert!(
            err.contains("prices.toml: model[0] (acme).input: "),
            "{err}"
        );
        assert!(
            err.contains("above the ceiling of 1000000 USD per unit")
                || err.contains("too large for a decimal"),
            "{err}"
        );
    }
}

#[test]
fn a_cost_that_does_not_fit_a_decimal_is_exit_2_with_overflow() {
    // A valid price with 28 significant digits: 999999999 tokens of it need
    // more digits than a decimal holds.
    let dir = tempfile::tempdir().unwrap();
    let prices = price_file(dir.path(), "\"0.1234567890123456789012345678\"", "1");
    let (code, out, err) = chatobs(&[
        "cost",
        "llm",
        "--model",
        "acme",
        "--input",
        "999999999",
        "--output",
        "1",
        "--prices",
        &prices,
    ]);
    assert_eq!(code, 2, "{err}");
    no_panic(&err);
    assert!(err.contains("overflow"), "{err}");
    assert!(err.contains("acme"), "{err}");
    let v = json(&out);
    assert_eq!(v["complete"], false);
    assert_eq!(v["overflow"][0], "input");
    assert_eq!(v["incomplete_reason"], "overflow:input");
    // The input component is left out: the total is the output alone.
    assert_eq!(v["total"], "1");
}

#[test]
fn absurd_counts_are_exit_2() {
    for args in [
        ["--input", "18446744073709551615"],
        ["--output", "18446744073709551615"],
        ["--input", "18446744073709551616"],
        ["--cached", "1000000000"],
    ] {
        let mut all = vec!["cost", "llm", "--model", "gpt-4o"];
        all.extend(args);
        let (code, _, err) = chatobs(&all);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_whatsapp_total_that_does_not_fit_is_exit_2_with_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let rates = dir.path().join("rates.toml");
    // Two valid rates whose sum needs 31 digits.
    std::fs::write(
        &rates,
        "[[market]]\nname = \"Colombia\"\ncalling_codes = [\"57\"]\n  [[market.rate]]\n  effective = \"2024-10-01\"\n  marketing = \"999\"\n  utility = \"0.0000000000000000000000000001\"\n  source = \"test\"\n  date = \"2025-11-21\"\n",
    )
    .unwrap();
    let timeline = dir.path().join("timeline.jsonl");
    std::fs::write(
        &timeline,
        "{\"at\": \"2025-07-03T10:00:00Z\", \"business\": \"+5716000000\", \"user\": \"+573001234567\", \"dir\": \"out\", \"template\": \"marketing\"}\n{\"at\": \"2025-07-03T11:00:00Z\", \"business\": \"+5716000000\", \"user\": \"+573001234567\", \"dir\": \"out\", \"template\": \"utility\"}\n",
    )
    .unwrap();
    let (code, out, err) = chatobs(&[
        "cost",
        "whatsapp",
        "--timeline",
        timeline.to_str().unwrap(),
        "--rates",
        rates.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    no_panic(&err);
    assert!(err.contains("timeline.jsonl: overflow"), "{err}");
    let lines: Vec<Value> = out.lines().map(json).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["total_usd"], "999");
    assert_eq!(lines[2]["complete"], false);
    assert_eq!(lines[2]["incomplete_reason"], "overflow:total_usd");

    // A rate above the ceiling is refused when the file is read.
    std::fs::write(
        &rates,
        "[[market]]\nname = \"Colombia\"\ncalling_codes = [\"57\"]\n  [[market.rate]]\n  effective = \"2024-10-01\"\n  marketing = \"79228162514264337593543950335\"\n  source = \"test\"\n  date = \"2025-11-21\"\n",
    )
    .unwrap();
    let (code, out, err) = chatobs(&[
        "cost",
        "whatsapp",
        "--timeline",
        timeline.to_str().unwrap(),
        "--rates",
        rates.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    no_panic(&err);
    assert!(
        err.contains("rates.toml: market[0] (Colombia).rate[0].marketing: ")
            && err.contains("above the ceiling of 1000 USD per message"),
        "{err}"
    );
}

#[test]
fn odd_files_are_exit_2_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("odd.toml");
    for content in [
        vec![0xff, 0xfe, 0x00, 0x80],
        format!("input = {}1{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
        b"[[model]]\nname = 5\n".to_vec(),
    ] {
        std::fs::write(&odd, &content).unwrap();
        for args in [
            vec![
                "cost",
                "llm",
                "--model",
                "gpt-4o",
                "--prices",
                odd.to_str().unwrap(),
            ],
            vec!["cost", "whatsapp", "--timeline", odd.to_str().unwrap()],
            vec![
                "cost",
                "whatsapp",
                "--timeline",
                odd.to_str().unwrap(),
                "--rates",
                odd.to_str().unwrap(),
            ],
        ] {
            let (code, _, err) = chatobs(&args);
            assert_eq!(code, 2, "{args:?}: {err}");
            no_panic(&err);
            assert!(err.contains("odd.toml"), "{err}");
        }
    }
}

#[test]
fn a_closed_standard_output_is_an_error_not_a_panic() {
    // stdout closed before the command writes: an error line, exit 2.
    let out = Command::new(env!("CARGO_BIN_EXE_chatobs"))
        .args(["cost", "llm", "--model", "gpt-4o", "--input", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    // /dev/null accepts writes: exit 0.
    assert_eq!(out.status.code(), Some(0));
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatobs"))
        .args(["cost", "llm", "--model", "gpt-4o", "--input", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    // Either the write failed (exit 2, said so) or it raced ahead of the close (exit 0).
    match out.status.code() {
        Some(2) => assert!(err.contains("cannot write to standard output"), "{err}"),
        Some(0) => {}
        other => panic!("exit {other:?}: {err}"),
    }
}
