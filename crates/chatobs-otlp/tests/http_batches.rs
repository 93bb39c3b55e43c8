//! OTLP/HTTP protobuf, batch after batch through one exporter: each request
//! body is the encoder's own buffer handed to the HTTP client (no copy), and
//! the next batch is written in a new one. Batches of very different sizes
//! (1 span, 700 spans with 20 KB values, 3 spans) must each arrive whole and
//! intact: the receiver decodes every body with prost.

mod support;

use chatobs_core::export::SpanExporter;
use chatobs_core::model::{FinishedSpan, Value};
use chatobs_otlp::{OtlpExporter, OtlpProtocol};
use std::borrow::Cow;
use std::time::Duration;
use support::{attr_str, pki, Tls};

fn batch(first: u64, n: u64, value_len: usize) -> Vec<FinishedSpan> {
    (first..first + n)
        .map(|i| {
            let mut s = support::span("batch.span", &format!("conv-{i}"), i);
            s.attributes.push((
                Cow::Borrowed("test.payload"),
                Value::Str(Cow::Owned(format!("{i}:{}", "x".repeat(value_len)))),
            ));
            s
        })
        .collect()
}

#[test]
fn batches_of_every_size_arrive_whole_one_after_another() {
    let pki = pki();
    let server = support::http_receiver(&pki, Tls::Plain, 200, 200);
    let target = support::target(OtlpProtocol::HttpProtobuf, server.http_url());
    let mut e = OtlpExporter::new(&target).expect("exporter");
    let batches = [batch(0, 1, 10), batch(1, 700, 20_000), batch(701, 3, 0)];
    for b in &batches {
        e.export(b).expect("export");
    }
    let got = server.received.wait_spans(704, Duration::from_secs(20));
    assert_eq!(got.len(), 704, "every span of the three batches");
    let mut seen = vec![false; 704];
    for (res, s) in &got {
        assert_eq!(attr_str(res, "service.name"), Some("tls-test-bot"));
        let payload = attr_str(&s.attributes, "test.payload").expect("payload");
        let (i, rest) = payload.split_once(':').expect("index");
        let i: usize = i.parse().expect("number");
        let want = match i {
            0 => 10,
            1..=700 => 20_000,
            _ => 0,
        };
        assert_eq!(rest.len(), want, "span {i}'s value arrived whole");
        assert!(rest.bytes().all(|b| b == b'x'), "span {i}'s value intact");
        assert_eq!(
            attr_str(&s.attributes, chatobs_core::vocab::CHAT_SESSION_ID),
            Some(format!("conv-{i}").as_str())
        );
        assert!(!seen[i], "span {i} once");
        seen[i] = true;
    }
    assert!(seen.iter().all(|s| *s));
}
