//! Bad input at the webhook: no signature, wrong signature, oversize body
//! (declared and chunked), malformed JSON, unknown message type, malformed
//! `traceparent`, oversized `baggage`, the GET handshake. Each gets the right
//! status, nothing panics, and nothing of any body reaches a span or a log.

mod support_web;

use chatobs_runtime::vocab;
use serde_json::json;
use std::time::Duration;
use support_web::bot;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MARKER: &str = "BODYMARKER-quiero-pagar-con-tarjeta";

fn payload_with_marker(wamid: &str) -> Vec<u8> {
    bot::text_payload("573009998877", wamid, &format!("{MARKER} hola"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_right_status_and_leaks_nothing() {
    let (guard, log, dir) =
        support_web::init(&[chatobs_runtime::config::ExporterKind::File], |_| {});
    let b = bot::Bot::start().await;
    let http = reqwest::Client::new();
    let url = b.webhook_url();

    // No signature.
    let r = http
        .post(&url)
        .body(payload_with_marker("wamid.A"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("missing X-Hub-Signature-256"));
    // Wrong signature (signed with another secret).
    let body = payload_with_marker("wamid.B");
    let bad = chatobs_runtime::integrations::whatsapp::sign(b"not-the-secret", &body);
    let r = http
        .post(&url)
        .header("x-hub-signature-256", bad)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Malformed signature header.
    let r = http
        .post(&url)
        .header("x-hub-signature-256", "sha256=zz")
        .body(payload_with_marker("wamid.C"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Oversize, declared.
    let big = format!(
        "{{\"entry\":[],\"pad\":\"{}{}\"}}",
        MARKER,
        "x".repeat(300 * 1024)
    );
    let r = http
        .post(&url)
        .header("x-hub-signature-256", "sha256=00")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // Oversize, chunked (no content-length): the limit cuts the read.
    assert_eq!(chunked_post(b.gateway, big.as_bytes()).await, 413);
    // Malformed JSON, correctly signed.
    let body = format!("{{\"entry\": [{MARKER}").into_bytes();
    let sig = chatobs_runtime::integrations::whatsapp::sign(bot::APP_SECRET.as_bytes(), &body);
    let r = http
        .post(&url)
        .header("x-hub-signature-256", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let reason = r.text().await.unwrap();
    assert!(
        reason.contains("malformed JSON") && reason.contains("line 1"),
        "{reason}"
    );
    assert!(!reason.contains(MARKER));
    // JSON but not a webhook.
    assert_eq!(b.post_signed(&http, b"[1,2,3]".to_vec()).await, 400);

    // Unknown message type next to a text: 200, the text is still processed.
    let body = serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "metadata": {"phone_number_id": bot::PHONE_NUMBER_ID},
        "messages": [
            {"from": "573009998877", "id": "wamid.U1", "type": "hologram", "hologram": {"secret": MARKER}},
            {"from": "573009998877", "id": "wamid.U2", "type": "text", "text": {"body": format!("{MARKER} quiero comprar")}}
        ]}}]}]}))
    .unwrap();
    assert_eq!(b.post_signed(&http, body).await, 200);

    // Malformed traceparent and oversized baggage: ignored, the payload's session wins.
    let body = payload_with_marker("wamid.T1");
    let sig = chatobs_runtime::integrations::whatsapp::sign(bot::APP_SECRET.as_bytes(), &body);
    let r = http
        .post(&url)
        .header("x-hub-signature-256", sig)
        .header("traceparent", "00-not-a-trace-01")
        .header(
            "baggage",
            format!("chat.session_id=cs_attacker,{}", "k=v,".repeat(2500)),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The GET handshake.
    let ok = http
        .get(format!(
            "{url}?hub.mode=subscribe&hub.verify_token=demo-verify-token&hub.challenge=1158201444"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let no = http
        .get(format!(
            "{url}?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(no.status(), 403);

    // 3 texts processed (U1 is unsupported and answered with nothing), no panic.
    assert!(b.wait(3, 0, Duration::from_secs(15)).await);
    b.stop().await;
    let spans = guard.memory_spans();
    drop(guard);

    let refused: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "POST /webhook/whatsapp" && s.attr(vocab::ERROR_TYPE).is_some())
        .collect();
    let codes: Vec<(i64, &str)> = refused
        .iter()
        .map(|s| {
            (
                s.attr(vocab::HTTP_RESPONSE_STATUS_CODE)
                    .and_then(|v| v.as_i64())
                    .unwrap(),
                s.attr_str(vocab::ERROR_TYPE).unwrap(),
            )
        })
        .collect();
    for expected in [
        (401, "signature_missing"),
        (401, "signature_invalid"),
        (401, "signature_malformed"),
        (413, "body_too_large"),
        (400, "malformed_json"),
        (400, "invalid_payload"),
    ] {
        assert!(codes.contains(&expected), "{expected:?} not in {codes:?}");
    }
    assert!(refused.iter().all(|s| s.session_id().is_none()));
    // Message ids are exported as their keyed hash, never as sent.
    let hashed = |w: &str| chatobs_runtime::integrations::whatsapp::hashed_message_id(w).unwrap();
    // The message's SERVER span (its turn carries the id too; spans of
    // different threads reach the exporter in no fixed order).
    let unsupported = spans
        .iter()
        .find(|s| {
            s.name == "POST /webhook/whatsapp"
                && s.attr_str(vocab::MESSAGING_MESSAGE_ID) == Some(hashed("wamid.U1").as_str())
        })
        .unwrap();
    assert_eq!(
        unsupported.attr_str(vocab::MESSAGING_WHATSAPP_MESSAGE_TYPE),
        Some("unsupported")
    );
    assert_eq!(
        unsupported.attr_str(vocab::MESSAGING_WHATSAPP_MESSAGE_ORIGINAL_TYPE),
        Some("hologram")
    );
    // The message's turn (its root; the acknowledgement is its child).
    let t1 = spans
        .iter()
        .find(|s| {
            s.name == vocab::WHATSAPP_TURN_SPAN
                && s.attr_str(vocab::MESSAGING_MESSAGE_ID) == Some(hashed("wamid.T1").as_str())
        })
        .unwrap();
    assert!(
        !t1.parent_remote && t1.parent_span_id.0 == 0,
        "malformed traceparent must start a new trace"
    );
    let ack = spans
        .iter()
        .find(|s| {
            s.name == "POST /webhook/whatsapp"
                && s.attr_str(vocab::MESSAGING_MESSAGE_ID) == Some(hashed("wamid.T1").as_str())
        })
        .unwrap();
    assert_eq!(
        (ack.trace_id, ack.parent_span_id),
        (t1.trace_id, t1.span_id)
    );
    let expected = chatobs_runtime::ChatSession::for_whatsapp(bot::PHONE_NUMBER_ID, "573009998877");
    assert_eq!(t1.attr_str(vocab::USER_ID), Some(expected.id()));

    // Nothing of any body in any span or log.
    let dump = format!("{spans:?}");
    assert!(!dump.contains(MARKER));
    assert!(!dump.contains("cs_attacker"));
    let file = std::fs::read(dir.path().join("spans.jsonl")).unwrap();
    assert!(!contains(&file, MARKER.as_bytes()));
    for w in ["wamid.U1", "wamid.U2", "wamid.T1", "573009998877"] {
        assert!(!dump.contains(w), "{w} in a span");
        assert!(!contains(&file, w.as_bytes()), "{w} in the span file");
    }
    assert!(chatobs_runtime::logs::flush(
        std::time::Duration::from_secs(10)
    ));
    let logs = std::fs::read(&log).unwrap();
    assert!(!contains(&logs, MARKER.as_bytes()));
    assert!(!contains(&logs, b"573009998877"));
    assert!(!contains(&logs, b"wamid.U"));
    assert!(!contains(&logs, b"wamid.T1"));
    assert!(contains(&logs, b"webhook request refused"));
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

async fn chunked_post(addr: std::net::SocketAddr, body: &[u8]) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("POST /webhook/whatsapp HTTP/1.1\r\nhost: {addr}\r\ntransfer-encoding: chunked\r\ncontent-type: application/json\r\nx-hub-signature-256: sha256=00\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    for c in body.chunks(16 * 1024) {
        if s.write_all(format!("{:x}\r\n", c.len()).as_bytes())
            .await
            .is_err()
            || s.write_all(c).await.is_err()
            || s.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}
