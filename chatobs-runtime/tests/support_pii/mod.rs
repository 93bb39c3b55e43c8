//! The PII scenario of `pii_every_exporter.rs` and `pii_content_capture.rs`.
#![allow(dead_code)]

use super::support;
use super::support_web::{self, bot};
use chatobs_runtime::config::ExporterKind;
use chatobs_runtime::integrations::whatsapp::hashed_message_id;
use chatobs_runtime::vocab;
use prost::Message;
use serde_json::json;
use std::time::Duration;

fn contains(hay: &[u8], needle: &str) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Standard base64 with padding (what Meta's wamids use).
fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(T[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A wamid as Meta makes them: `wamid.` + base64 of a small protobuf with the
/// user's number and a random tail (`inbound`: from the user; else to them).
fn wamid(phone: &str, inbound: bool, tail: &str) -> String {
    let mut blob = vec![0x1c, 0x18, phone.len() as u8];
    blob.extend_from_slice(phone.as_bytes());
    blob.extend_from_slice(&[0x15, 0x02, 0x00, if inbound { 0x12 } else { 0x11 }, 0x18]);
    blob.push(tail.len() as u8);
    blob.extend_from_slice(tail.as_bytes());
    blob.push(0);
    format!("wamid.{}", base64(&blob))
}

/// A webhook body in Meta's shape: `messages` from one customer.
fn messages_payload(
    phone: &str,
    bsuid: &str,
    name: &str,
    username: &str,
    messages: Vec<serde_json::Value>,
) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": bot::PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": name, "username": username}, "wa_id": phone, "user_id": bsuid}],
            "messages": messages
        }}]}]
    }))
    .unwrap()
}

struct Customer {
    phone: String,
    bsuid: String,
    name: String,
    username: String,
    email: String,
    words: String,
    /// Wamids of the customer's messages, and of the failed status.
    wamids: Vec<String>,
    /// The bot's reply the customer answered and reacted to.
    replied: Option<String>,
}

impl Customer {
    /// What must never be written; with content capture on, the customer's
    /// name and words inside message text are the content opted into (only
    /// numbers, e-mail addresses, secrets and ids are redacted from it).
    fn secrets(&self, capture: bool) -> Vec<String> {
        let b64 = base64(self.phone.as_bytes());
        let mut v = vec![
            self.phone.clone(),
            format!("+{}", self.phone),
            self.phone[2..].to_owned(),
            // The number as it sits inside a wamid (aligned to whole base64 groups).
            b64[..self.phone.len() / 3 * 4].to_owned(),
            self.bsuid.clone(),
            self.username.clone(),
            self.email.clone(),
        ];
        if !capture {
            v.push(self.name.clone());
            v.push(self.words.clone());
        }
        for w in &self.wamids {
            v.push(w.clone());
            v.push(w["wamid.".len()..].to_owned());
        }
        v
    }
}

/// Runs the conversations with every exporter on; `capture`: with content
/// capture on (message text, prompts and completions exported, redacted).
pub async fn scenario(capture: bool) {
    let receiver = support::grpc_receiver();
    let endpoint = format!("http://{}", receiver.addr);
    let (guard, log, dir) = support_web::init(&[ExporterKind::File, ExporterKind::Otlp], |cfg| {
        cfg.otlp.endpoint = endpoint;
        cfg.otlp.protocol = chatobs_runtime::config::OtlpProtocol::Grpc;
        cfg.redaction.capture_content = capture;
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
    let mut hex = |n: usize| {
        let mut s = String::new();
        while s.len() < n {
            s.push_str(&format!("{:016X}", next()));
        }
        s.truncate(n);
        s
    };
    let mut customers: Vec<Customer> = Vec::new();
    let (mut n, mut extra_statuses) = (0, 0);
    for i in 0..4 {
        let cc = ["57", "52", "55", "91"][i];
        let digits = u64::from_str_radix(&hex(15), 16).unwrap();
        let mut c = Customer {
            phone: format!("{cc}{:010}", digits % 10_000_000_000),
            bsuid: format!(
                "{}.{:019}",
                ["CO", "MX", "BR", "IN"][i],
                digits % 10u64.pow(19)
            ),
            name: format!(
                "{} {}",
                [
                    "Camila Rodríguez",
                    "Juan Pérez",
                    "Ana Souza",
                    "Rahul Sharma"
                ][i],
                hex(6)
            ),
            username: format!("cliente.{}", hex(8).to_lowercase()),
            email: format!("cliente.{}@correo-{i}.example", hex(8).to_lowercase()),
            words: format!("pedido-privado-{}", hex(16).to_lowercase()),
            wamids: Vec::new(),
            replied: None,
        };
        // 1. A text (with the e-mail in it).
        let w = wamid(&c.phone, true, &hex(20));
        let msg = json!({"from": c.phone, "from_user_id": c.bsuid, "id": w, "timestamp": "1751536800", "type": "text",
                         "text": {"body": format!("Hola, soy {}; quiero comprar {}; escríbeme a {}", c.name, c.words, c.email)}});
        c.wamids.push(w);
        let body = messages_payload(&c.phone, &c.bsuid, &c.name, &c.username, vec![msg]);
        assert_eq!(b.post_signed(&http, body).await, 200);
        n += 1;
        assert!(b.wait(n, 0, Duration::from_secs(15)).await);
        let replied = b
            .sent
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|s| s.to == c.phone)
            .map(|s| s.wamid.clone())
            .expect("the bot replied");
        // 2. A reply to the bot's answer (`context`), with the number in it, and
        // 3. a 👍 reaction to that answer (user feedback), in one POST.
        let w2 = wamid(&c.phone, true, &hex(20));
        let w3 = wamid(&c.phone, true, &hex(20));
        let msgs = vec![
            json!({"context": {"from": "15550001111", "id": replied}, "from": c.phone, "from_user_id": c.bsuid,
                   "id": w2, "timestamp": "1751536860", "type": "text",
                   "text": {"body": format!("Mi otro número es +{} y mi pedido llegó roto {}", c.phone, c.words)}}),
            json!({"from": c.phone, "from_user_id": c.bsuid, "id": w3, "timestamp": "1751536870", "type": "reaction",
                   "reaction": {"message_id": replied, "emoji": "👍"}}),
        ];
        c.wamids.extend([w2, w3]);
        let body = messages_payload(&c.phone, &c.bsuid, &c.name, &c.username, msgs);
        assert_eq!(b.post_signed(&http, body).await, 200);
        n += 2;
        assert!(b.wait(n, 0, Duration::from_secs(15)).await);
        // 4. A failed status for a message sent from elsewhere: Meta's error
        // title names the number and the wamid.
        let wf = wamid(&c.phone, false, &hex(18));
        let status = serde_json::to_vec(&json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001111", "phone_number_id": bot::PHONE_NUMBER_ID},
                "contacts": [{"profile": {"username": c.username}, "user_id": c.bsuid}],
                "statuses": [{"id": wf, "status": "failed", "timestamp": "1751536900",
                              "recipient_id": c.phone, "recipient_user_id": c.bsuid,
                              "errors": [{"code": 131026,
                                          "title": format!("Message {wf} undeliverable to +{}", c.phone),
                                          "message": "Message undeliverable",
                                          "error_data": {"details": format!("{} {}", c.name, c.email)}}]}]
            }}]}]
        }))
        .unwrap();
        c.wamids.push(wf);
        assert_eq!(b.post_signed(&http, status).await, 200);
        extra_statuses += 1;
        c.replied = Some(replied);
        customers.push(c);
    }
    let sent = b.sent.lock().unwrap().len();
    assert!(
        b.wait(n, sent * 2 + extra_statuses, Duration::from_secs(20))
            .await
    );
    // `/metrics` as served: the HTTP server histogram included.
    let metrics_text = chatobs_runtime::metrics::render();
    assert!(
        metrics_text.contains("http_server_request_duration_seconds_count{"),
        "the HTTP server histogram is on /metrics"
    );
    b.stop().await;
    let memory = guard.memory_spans();
    assert!(memory.len() > 60, "{} spans", memory.len());
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
    let console: String = memory
        .iter()
        .map(|s| chatobs_runtime::export::console::span_line(s) + "\n")
        .collect();
    let mut written: Vec<(&str, Vec<u8>)> = vec![
        (
            "span file",
            std::fs::read(dir.path().join("spans.jsonl")).unwrap(),
        ),
        ("logs", std::fs::read(&log).unwrap()),
        ("metrics", metrics_text.into_bytes()),
        ("memory", format!("{memory:?}").into_bytes()),
        ("console", console.into_bytes()),
    ];
    let mut otlp_bytes = Vec::new();
    for r in receiver.received.requests() {
        otlp_bytes.extend(r.encode_to_vec());
    }
    written.push(("otlp", otlp_bytes));
    let mut otlp_metrics = Vec::new();
    for r in receiver.metrics.lock().unwrap().iter() {
        otlp_metrics.extend(r.encode_to_vec());
    }
    if !otlp_metrics.is_empty() {
        written.push(("otlp metrics", otlp_metrics));
    }
    // The receiver stops at once when dropped (its connections are dropped with it).
    drop(receiver);
    for (what, bytes) in &written {
        assert!(!bytes.is_empty(), "{what} is empty");
        for c in &customers {
            for s in c.secrets(capture) {
                assert!(!contains(bytes, &s), "{s:?} found in {what}");
            }
        }
    }

    // The hashed ids are where the message ids belong, in every span exporter.
    let attr = |s: &chatobs_runtime::FinishedSpan, k: &str| s.attr_str(k).map(str::to_owned);
    for c in &customers {
        let hashed: Vec<String> = c
            .wamids
            .iter()
            .map(|w| hashed_message_id(w).unwrap())
            .collect();
        for (what, bytes) in &written {
            if ["span file", "memory", "otlp"].contains(what) {
                for h in &hashed {
                    assert!(
                        contains(bytes, h),
                        "{h} (a hashed wamid) missing from {what}"
                    );
                }
            }
        }
        // Each inbound message's SERVER span, the status callback's two spans.
        for h in &hashed[..3] {
            let server = memory
                .iter()
                .find(|s| {
                    s.name == "POST /webhook/whatsapp"
                        && attr(s, vocab::MESSAGING_MESSAGE_ID).as_ref() == Some(h)
                })
                .unwrap_or_else(|| panic!("no SERVER span with messaging.message.id = {h}"));
            assert_eq!(
                server.attr_str(vocab::USER_ID),
                Some(
                    chatobs_runtime::ChatSession::for_whatsapp(bot::PHONE_NUMBER_ID, &c.phone).id()
                )
            );
        }
        let failed = memory
            .iter()
            .find(|s| {
                s.name == vocab::WHATSAPP_STATUS_SPAN
                    && attr(s, vocab::MESSAGING_MESSAGE_ID).as_ref() == Some(&hashed[3])
            })
            .expect("the failed status span");
        assert_eq!(
            failed
                .attr(vocab::MESSAGING_WHATSAPP_ERROR_CODE)
                .and_then(|v| v.as_i64()),
            Some(131026)
        );
        // The reply and the reaction name the bot's answer by its hash, and the
        // feedback joins it by the same hash; the answer's status callbacks too.
        let replied = hashed_message_id(c.replied.as_deref().unwrap()).unwrap();
        for h in &hashed[1..3] {
            // The message's SERVER span (its turn carries the id too, without
            // the context; spans of different threads reach the exporter in
            // no fixed order).
            let s = memory
                .iter()
                .find(|s| {
                    attr(s, vocab::MESSAGING_MESSAGE_ID).as_ref() == Some(h)
                        && s.kind == chatobs_runtime::model::OtelKind::Server
                })
                .unwrap();
            assert_eq!(
                attr(s, vocab::MESSAGING_WHATSAPP_CONTEXT_MESSAGE_ID).as_ref(),
                Some(&replied)
            );
        }
        let fb = memory
            .iter()
            .find(|s| {
                s.name == vocab::FEEDBACK_SPAN
                    && attr(s, vocab::FEEDBACK_WAMID).as_ref() == Some(&replied)
            })
            .expect("the 👍 became feedback on the reply, with its hashed wamid");
        let send = memory
            .iter()
            .find(|s| s.span_id == fb.parent_span_id)
            .expect("feedback is a child of the span that sent the reply");
        assert_eq!(send.name, "whatsapp.send");
        assert!(memory.iter().any(|s| s.name == vocab::WHATSAPP_STATUS_SPAN
            && attr(s, vocab::MESSAGING_MESSAGE_ID).as_ref() == Some(&replied)
            && s.links.iter().any(|l| l.span_id == send.span_id)));
    }
    // Content capture: off, no message text at all; on, the text is there
    // (the customer's words), redacted (the e-mail and the number replaced).
    let turns: Vec<&chatobs_runtime::FinishedSpan> = memory
        .iter()
        .filter(|s| s.name == vocab::WHATSAPP_TURN_SPAN)
        .collect();
    assert_eq!(
        turns.len(),
        8,
        "two user messages per customer, two turns each"
    );
    for c in &customers {
        let inputs: Vec<&str> = turns
            .iter()
            .filter_map(|s| s.attr_str(vocab::INPUT_VALUE))
            .filter(|v| v.contains(&c.words))
            .collect();
        if capture {
            assert_eq!(inputs.len(), 2, "{inputs:?}");
            assert!(
                inputs.iter().all(|v| v.contains("[REDACTED]")),
                "{inputs:?}"
            );
        } else {
            assert!(inputs.is_empty());
        }
    }
    let llm_inputs = memory
        .iter()
        .filter(|s| s.attr(vocab::GEN_AI_INPUT_MESSAGES).is_some())
        .count();
    assert_eq!(llm_inputs > 0, capture);
    assert_eq!(
        turns
            .iter()
            .filter(|s| s.attr(vocab::OUTPUT_VALUE).is_some())
            .count(),
        if capture { 8 } else { 0 }
    );
}
