//! PII: conversations with generated phone numbers, e-mail addresses and
//! message texts go through the two-service bot while every exporter is on
//! (the JSONL file, OTLP/gRPC to a real receiver on 127.0.0.1, the in-memory
//! exporter, JSON logs, the metrics text). None of those strings appears in
//! any byte written.

mod support;
mod support_web;

use chatobs_runtime::config::ExporterKind;
use prost::Message;
use std::time::Duration;
use support_web::bot;

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_data_in_any_byte_written() {
    let receiver = support::grpc_receiver();
    let endpoint = format!("http://{}", receiver.addr);
    let (guard, log, dir) = support_web::init(&[ExporterKind::File, ExporterKind::Otlp], |cfg| {
        cfg.otlp.endpoint = endpoint;
        cfg.otlp.protocol = chatobs_runtime::config::OtlpProtocol::Grpc;
    });
    let b = bot::Bot::start().await;
    let http = reqwest::Client::new();

    // Generated identities and texts (deterministic pseudo-random).
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut secrets: Vec<String> = Vec::new();
    let mut n = 0;
    for i in 0..4 {
        let cc = ["57", "52", "55", "91"][i];
        let phone = format!("{cc}{:010}", next() % 10_000_000_000);
        let email = format!("cliente.{:x}@correo-{i}.example", next() % 0xffff_ffff);
        let words = format!("pedido-privado-{:x}", next());
        for (j, text) in [
            format!("Hola, quiero comprar {words}; escríbeme a {email}"),
            format!("Mi otro número es +{phone} y mi pedido llegó roto {words}"),
        ]
        .into_iter()
        .enumerate()
        {
            let st = b
                .post_signed(
                    &http,
                    bot::text_payload(&phone, &format!("wamid.P{i}{j}"), &text),
                )
                .await;
            assert_eq!(st, 200);
            n += 1;
            assert!(b.wait(n, 0, Duration::from_secs(15)).await);
        }
        secrets.extend([phone, email, words]);
    }
    let sent = b.sent.lock().unwrap().len();
    assert!(b.wait(n, sent * 2, Duration::from_secs(20)).await);
    let metrics_text = format!(
        "{}{}",
        chatobs_runtime::metrics::render(),
        chatobs_runtime::integrations::http_metrics::render_prometheus()
    );
    b.stop().await;
    let memory = guard.memory_spans();
    assert!(memory.len() > 40);
    drop(guard); // flushes the file and OTLP
    let otlp = receiver
        .received
        .wait_spans(memory.len(), Duration::from_secs(10));
    assert!(
        otlp.len() >= memory.len(),
        "OTLP got {} of {}",
        otlp.len(),
        memory.len()
    );

    assert!(chatobs_runtime::logs::flush(
        std::time::Duration::from_secs(10)
    ));
    let mut written: Vec<(&str, Vec<u8>)> = vec![
        (
            "span file",
            std::fs::read(dir.path().join("spans.jsonl")).unwrap(),
        ),
        ("logs", std::fs::read(&log).unwrap()),
        ("metrics", metrics_text.into_bytes()),
        ("memory", format!("{memory:?}").into_bytes()),
    ];
    let mut otlp_bytes = Vec::new();
    for r in receiver.received.requests() {
        otlp_bytes.extend(r.encode_to_vec());
    }
    written.push(("otlp", otlp_bytes));
    // The receiver stops at once when dropped (its connections are dropped with it).
    drop(receiver);
    for (what, bytes) in &written {
        assert!(!bytes.is_empty(), "{what} is empty");
        for s in &secrets {
            assert!(!contains(bytes, s), "{s:?} found in {what}");
            // The number without its country code, too.
            if s.bytes().all(|c| c.is_ascii_digit()) {
                assert!(
                    !contains(bytes, &s[2..]),
                    "{s:?} (national part) found in {what}"
                );
            }
        }
    }
}
