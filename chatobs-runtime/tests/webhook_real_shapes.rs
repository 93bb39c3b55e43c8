//! Shapes real users meet at the webhook and the send API:
//! - the GET handshake with a verify token that Meta percent-encodes;
//! - a 👍 reaction, then its removal: the feedback is withdrawn;
//! - a Graph API error answer to a send: Meta's code, subcode and type on
//!   the span, a `whatsapp.error` event and the error counter.

mod support_web;

use chatobs_runtime::evals::{FeedbackConfig, FeedbackRecorder};
use chatobs_runtime::integrations::axum::{WebhookConfig, WhatsAppWebhook};
use chatobs_runtime::integrations::reqwest::SendTraced;
use chatobs_runtime::integrations::whatsapp;
use chatobs_runtime::{vocab, SpanBuilder};
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "shapes-secret";
const TOKEN: &str = "tok en/+&=ñ%";

fn reaction(wamid: &str, emoji: Option<&str>) -> Vec<u8> {
    let mut r = serde_json::json!({"message_id": wamid});
    if let Some(e) = emoji {
        r["emoji"] = e.into();
    }
    serde_json::to_vec(&serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "106540352242922"},
          "messages": [{"from": "573001234567", "id": format!("wamid.R{}", emoji.unwrap_or("-").len()), "timestamp": "1751536800",
                        "type": "reaction", "reaction": r}]}}]}]}))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_reaction_removal_and_graph_errors() {
    let (guard, _log, _dir) = support_web::init(&[], |_| {});
    let feedback = Arc::new(FeedbackRecorder::new(&FeedbackConfig::default()));
    let hook = WhatsAppWebhook::new(
        WebhookConfig::default()
            .app_secret(SECRET)
            .verify_token(TOKEN),
    )
    .feedback(feedback.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // A Graph API stand-in: every send is refused as Meta refuses it.
    let graph = axum::Router::new().route("/v21.0/106540352242922/messages", axum::routing::post(|| async {
        (
            axum::http::StatusCode::BAD_REQUEST,
            [("content-type", "application/json")],
            r#"{"error":{"message":"(#131030) Recipient phone number not in allowed list: +57 300 123 4567","type":"OAuthException","code":131030,"error_subcode":2494010,"error_data":{"messaging_product":"whatsapp","details":"Recipient phone number not in allowed list: 573001234567"},"fbtrace_id":"AbC1"}}"#,
        )
    }));
    let server = tokio::spawn(async move {
        axum::serve(listener, hook.router::<()>().merge(graph))
            .await
            .unwrap();
    });
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/webhook/whatsapp");

    // The handshake: Meta sends the token percent-encoded.
    let enc: String = form_encode(TOKEN);
    assert_ne!(enc, TOKEN);
    let ok = http
        .get(format!(
            "{url}?hub.mode=subscribe&hub.verify_token={enc}&hub.challenge=1158201444"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let raw = http
        .get(format!(
            "{url}?hub.mode=subscribe&hub.verify_token=tok%20en&hub.challenge=1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 403);

    // The bot's reply, then the user's 👍, then its removal.
    let send = SpanBuilder::new("whatsapp.send").start();
    feedback.register_sent("wamid.HBgMNTczMDAxMjM0NTY3FQIAERgSQUJD", send.context());
    drop(send);
    for emoji in [Some("👍"), None] {
        let body = reaction("wamid.HBgMNTczMDAxMjM0NTY3FQIAERgSQUJD", emoji);
        let r = http
            .post(&url)
            .header(
                "x-hub-signature-256",
                whatsapp::sign(SECRET.as_bytes(), &body),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // The webhook processes after the 200: wait for it.
        for _ in 0..200 {
            let c = feedback.counts();
            if (emoji.is_some() && !c.is_empty()) || (emoji.is_none() && c.is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    assert_eq!(feedback.counts(), vec![]);

    // A send Meta refuses.
    let session = chatobs_runtime::ChatSession::for_whatsapp("106540352242922", "573001234567");
    let r = session
        .scope(
            http.post(format!("http://{addr}/v21.0/106540352242922/messages"))
                .json(&serde_json::json!({"messaging_product": "whatsapp", "to": "573001234567", "type": "text", "text": {"body": "hola"}}))
                .send_traced(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The body is handed back for the bot's own error handling.
    assert!(r.text().await.unwrap().contains("131030"));

    tokio::time::sleep(Duration::from_millis(50)).await;
    let spans = guard.memory_spans();
    let metrics = chatobs_runtime::metrics::render();
    server.abort();
    drop(guard);

    // In the order they were recorded (spans of different threads reach
    // the exporter in no fixed order).
    let mut fb: Vec<_> = spans
        .iter()
        .filter(|s| s.name == vocab::FEEDBACK_SPAN)
        .collect();
    fb.sort_by_key(|s| s.start);
    let labels: Vec<_> = fb
        .iter()
        .map(|s| s.attr_str(vocab::FEEDBACK_LABEL).unwrap())
        .collect();
    assert_eq!(labels, ["thumbs-up", "withdrawn"]);
    assert_eq!(
        fb[1]
            .attr(vocab::FEEDBACK_WITHDRAWN)
            .and_then(|v| v.as_bool()),
        Some(true)
    );
    assert_eq!(fb[0].parent_span_id, fb[1].parent_span_id);

    let send = spans
        .iter()
        .find(|s| {
            s.attr(vocab::MESSAGING_WHATSAPP_ERROR_CODE).is_some()
                && s.kind == chatobs_runtime::model::OtelKind::Client
        })
        .unwrap_or_else(|| {
            panic!(
                "the send span: {:#?}",
                spans
                    .iter()
                    .filter(|s| s.name.starts_with("POST"))
                    .map(|s| (&s.name, &s.attributes))
                    .collect::<Vec<_>>()
            )
        });
    assert_eq!(
        send.attr(vocab::MESSAGING_WHATSAPP_ERROR_CODE)
            .and_then(|v| v.as_i64()),
        Some(131030)
    );
    assert_eq!(
        send.attr(vocab::MESSAGING_WHATSAPP_ERROR_SUBCODE)
            .and_then(|v| v.as_i64()),
        Some(2494010)
    );
    assert_eq!(
        send.attr_str(vocab::MESSAGING_WHATSAPP_ERROR_TYPE),
        Some("OAuthException")
    );
    let title = send
        .attr_str(vocab::MESSAGING_WHATSAPP_ERROR_TITLE)
        .unwrap();
    assert!(
        title.starts_with("(#131030) Recipient phone number not in allowed list"),
        "{title}"
    );
    // The number Meta quoted is not exported.
    let dump = format!("{:?} {:?}", send.attributes, send.events);
    assert!(
        !dump.contains("300 123 4567") && !dump.contains("573001234567"),
        "{dump}"
    );
    assert!(send
        .events
        .iter()
        .any(|e| e.name == vocab::WHATSAPP_ERROR_EVENT));
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("chatobs_whatsapp_errors_total{")
                && l.contains("code=\"131030\"")
                && l.contains("scope=\"send\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
