//! A webhook batch under a ratio sampler: the SERVER spans build the
//! request's attributes only when a span records, and the turn and its
//! acknowledgement share the message's exported id. Every kept turn and
//! acknowledgement must still carry all of them (the first recording span of
//! the batch builds the request's attributes, the next ones copy them, the
//! last takes them), and a dropped turn must not stop the handler.

mod support_web;

use chatobs_runtime::integrations::axum::{WebhookConfig, WhatsAppWebhook};
use chatobs_runtime::integrations::whatsapp;
use chatobs_runtime::model::Value;
use chatobs_runtime::vocab;
use std::collections::BTreeMap;
use std::time::Duration;

const SECRET: &str = "sampled-secret";
const MESSAGES: usize = 24;

fn batch() -> Vec<u8> {
    let messages: Vec<serde_json::Value> = (0..MESSAGES)
        .map(|i| {
            serde_json::json!({"from": format!("5730012345{i:02}"), "id": format!("wamid.HBgMNTczMDAxMjM0NT{i:02}"),
                "timestamp": "1751536800", "type": "text", "text": {"body": format!("hola {i}")}})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "106540352242922"},
          "messages": messages}}]}]}))
    .unwrap()
}

fn str_attr<'a>(s: &'a chatobs_runtime::FinishedSpan, key: &str) -> Option<&'a str> {
    match s.attr(key)? {
        Value::Str(v) => Some(v),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ratio_sampled_batch_keeps_whole_spans_and_runs_every_handler() {
    let (guard, _log, _dir) = support_web::init(&[], |c| {
        c.sampling.sampler = "traceidratio".into();
        c.sampling.ratio = 0.5;
    });
    let (tx, mut handled) = tokio::sync::mpsc::unbounded_channel();
    let hook =
        WhatsAppWebhook::new(WebhookConfig::default().app_secret(SECRET)).on_message(move |m| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(m.content.text().map(str::to_owned));
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, hook.router::<()>()).await.unwrap();
    });
    let body = batch();
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/webhook/whatsapp"))
        .header("content-type", "application/json")
        .header(
            whatsapp::SIGNATURE_HEADER,
            whatsapp::sign(SECRET.as_bytes(), &body),
        )
        .header("user-agent", "facebookexternalua")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Every message reached the handler, kept by the sampler or not.
    let mut texts = Vec::new();
    for _ in 0..MESSAGES {
        let t = tokio::time::timeout(Duration::from_secs(10), handled.recv())
            .await
            .expect("a handler did not run")
            .unwrap();
        texts.push(t.unwrap());
    }
    texts.sort();
    assert_eq!(texts.len(), MESSAGES);
    assert!(guard.flush(Duration::from_secs(10)));
    let spans = guard.memory_spans();
    server.abort();
    drop(guard);

    let turns: Vec<_> = spans
        .iter()
        .filter(|s| s.name == vocab::WHATSAPP_TURN_SPAN)
        .collect();
    let acks: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "POST /webhook/whatsapp")
        .collect();
    // traceidratio 0.5 over 24 random trace ids: some kept, some dropped
    // (all or none: 2 in 16 million).
    assert!(
        !turns.is_empty() && turns.len() < MESSAGES,
        "{} of {MESSAGES} turns kept",
        turns.len()
    );
    // A turn and its acknowledgement share the trace: kept together.
    assert_eq!(acks.len(), turns.len());
    let mut ids_by_trace = BTreeMap::new();
    for t in &turns {
        assert_eq!(t.attr(vocab::CHAT_TURN), Some(&Value::Bool(true)));
        assert_eq!(str_attr(t, vocab::MESSAGING_SYSTEM), Some("whatsapp"));
        let id = str_attr(t, vocab::MESSAGING_MESSAGE_ID).expect("the turn's message id");
        assert!(id.starts_with("cs_"), "{id}: not a keyed hash");
        assert!(ids_by_trace.insert(t.trace_id, id).is_none());
    }
    for a in &acks {
        // The request's attributes, on every kept acknowledgement: built by
        // the first, copied by the next ones, taken by the last.
        assert_eq!(str_attr(a, vocab::HTTP_REQUEST_METHOD), Some("POST"));
        assert_eq!(str_attr(a, vocab::HTTP_ROUTE), Some("/webhook/whatsapp"));
        assert_eq!(str_attr(a, vocab::URL_PATH), Some("/webhook/whatsapp"));
        assert_eq!(
            str_attr(a, vocab::USER_AGENT_ORIGINAL),
            Some("facebookexternalua")
        );
        assert_eq!(
            a.attr(vocab::HTTP_RESPONSE_STATUS_CODE),
            Some(&Value::I64(200))
        );
        // The message's attributes, and the same exported id as its turn.
        assert_eq!(
            str_attr(a, vocab::MESSAGING_OPERATION_TYPE),
            Some("receive")
        );
        assert_eq!(
            a.attr(vocab::MESSAGING_BATCH_MESSAGE_COUNT),
            Some(&Value::I64(MESSAGES as i64))
        );
        assert_eq!(
            str_attr(a, vocab::MESSAGING_MESSAGE_ID),
            ids_by_trace.get(&a.trace_id).copied(),
            "an acknowledgement's message id differs from its turn's"
        );
        // No attribute twice (the request's are added after the start).
        let mut keys: Vec<&str> = a.attributes.iter().map(|(k, _)| k.as_ref()).collect();
        keys.sort();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "a key repeated on {:?}", a.attributes);
    }
    // Every kept turn has a distinct message id (24 different wamids).
    let distinct: std::collections::BTreeSet<_> = ids_by_trace.values().collect();
    assert_eq!(distinct.len(), turns.len());
}
