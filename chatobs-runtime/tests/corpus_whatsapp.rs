//! Real WhatsApp Cloud API webhook payloads, read as Meta documents them.
//!
//! `crates/chatobs-integrations/tests/corpus/real/whatsapp/` holds payloads
//! collected from Meta's webhook references and from SDK test fixtures
//! (pywa, whatsapp-api-js), each with its source and licence, and
//! `expected.toml` the reading written from Meta's documentation: the type
//! of each message, whom the conversation is keyed by (the number, else the
//! business-scoped user id; a group's messages by the group), the text the
//! handler sees, the reply, the referral, the reaction, the errors, and for
//! statuses the pricing and the group. Each file is POSTed, signed, to the
//! real webhook on 127.0.0.1; the handlers' view, the spans, the log lines
//! and the metrics are checked against it. Nothing personal (numbers,
//! business-scoped ids, group ids, texts) reaches a span or a log line.

mod support_web;

use chatobs_runtime::integrations::axum::{WebhookConfig, WhatsAppWebhook};
use chatobs_runtime::integrations::whatsapp::{
    self, Content, InboundMessage, ReplyAddress, StatusUpdate,
};
use chatobs_runtime::{vocab, ChatSession};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

const SECRET: &str = "corpus-app-secret";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    file: String,
    source: String,
    licence: String,
    #[allow(dead_code)]
    notes: String,
    other_changes: usize,
    #[serde(default)]
    errors: Vec<i64>,
    #[serde(default)]
    message: Vec<Msg>,
    #[serde(default)]
    status: Vec<Status>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Msg {
    #[serde(rename = "type")]
    ty: String,
    original_type: Option<String>,
    user: String,
    phone_number_id: String,
    group: Option<String>,
    text: Option<String>,
    #[serde(default)]
    reply_to: bool,
    #[serde(default)]
    entry_point: bool,
    emoji: Option<String>,
    #[serde(default)]
    errors: Vec<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Status {
    status: String,
    user: String,
    group: Option<String>,
    participant: Option<String>,
    billable: Option<bool>,
    category: Option<String>,
    pricing_model: Option<String>,
    pricing_type: Option<String>,
    #[serde(default)]
    errors: Vec<i64>,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/chatobs-integrations/tests/corpus/real/whatsapp")
}

fn phone_number_id_of(v: &serde_json::Value) -> String {
    v["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

fn check_message(file: &str, m: &InboundMessage, e: &Msg) {
    let ctx = format!("{file}: message {:?}", m.exported_id());
    let ty = m.content.type_name();
    assert_eq!(ty, e.ty, "{ctx}: type");
    if let Some(o) = &e.original_type {
        match &m.content {
            Content::Unsupported { original_type } => {
                assert_eq!(original_type, o, "{ctx}: original type")
            }
            other => panic!("{ctx}: expected unsupported {o}, got {other:?}"),
        }
    }
    assert_eq!(m.user(), e.user, "{ctx}: user");
    assert_eq!(
        m.phone_number_id, e.phone_number_id,
        "{ctx}: business number"
    );
    let keyed_by = e.group.as_deref().unwrap_or(&e.user);
    // The conversation's user key is the keyed hash; the conversation id is its own.
    let user = ChatSession::for_whatsapp(&e.phone_number_id, keyed_by);
    assert_eq!(m.session().user_id(), Some(user.id()), "{ctx}: user key");
    assert_ne!(m.session().id(), user.id(), "{ctx}: conversation id");
    assert_eq!(m.group_id.as_deref(), e.group.as_deref(), "{ctx}: group");
    // The handler can answer: the number, else the business-scoped id.
    let addr = m.reply_address().expect("a reply address");
    match &addr {
        ReplyAddress::Phone(n) => assert_eq!(n, &e.user, "{ctx}"),
        ReplyAddress::BusinessScopedUserId(u) => {
            assert_eq!(u, &e.user, "{ctx}");
            assert!(m.wa_id.is_empty(), "{ctx}: a number was there");
        }
    }
    assert_eq!(m.content.text(), e.text.as_deref(), "{ctx}: text");
    assert_eq!(m.reply_to.is_some(), e.reply_to, "{ctx}: reply");
    assert_eq!(m.entry_point, e.entry_point, "{ctx}: referral");
    if let Some(emoji) = &e.emoji {
        match &m.content {
            Content::Reaction { emoji: got, .. } => {
                assert_eq!(got.as_deref().unwrap_or(""), emoji.as_str(), "{ctx}: emoji")
            }
            other => panic!("{ctx}: expected a reaction, got {other:?}"),
        }
    }
    let codes: Vec<i64> = m.errors.iter().map(|x| x.code).collect();
    assert_eq!(codes, e.errors, "{ctx}: message errors");
}

fn check_status(file: &str, s: &StatusUpdate, e: &Status, pnid: &str) {
    let ctx = format!("{file}: status {:?}", s.exported_id());
    assert_eq!(s.status, e.status, "{ctx}: status");
    let who = if s.recipient_id.is_empty() {
        s.recipient_user_id.as_deref().unwrap_or("")
    } else {
        &s.recipient_id
    };
    assert_eq!(who, e.user, "{ctx}: user");
    // In the user's open conversation, or (none open) a session keyed by the user.
    assert_eq!(
        s.session().user_id(),
        Some(ChatSession::for_whatsapp(pnid, &e.user).id()),
        "{ctx}: user key"
    );
    assert_eq!(s.group_id.as_deref(), e.group.as_deref(), "{ctx}: group");
    assert_eq!(
        s.participant.as_deref(),
        e.participant.as_deref(),
        "{ctx}: participant"
    );
    let p = s.pricing.as_ref();
    assert_eq!(p.map(|p| p.billable), e.billable, "{ctx}: billable");
    assert_eq!(
        p.map(|p| p.category.as_str()),
        e.category.as_deref(),
        "{ctx}: category"
    );
    assert_eq!(
        p.and_then(|p| p.pricing_model.as_deref()),
        e.pricing_model.as_deref(),
        "{ctx}: pricing model"
    );
    assert_eq!(
        p.and_then(|p| p.pricing_type.as_deref()),
        e.pricing_type.as_deref(),
        "{ctx}: pricing type"
    );
    let codes: Vec<i64> = s.errors.iter().map(|x| x.code).collect();
    assert_eq!(codes, e.errors, "{ctx}: status errors");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_real_payload_is_read_as_meta_documents_it() {
    let corpus: Corpus =
        toml::from_str(&std::fs::read_to_string(dir().join("expected.toml")).unwrap()).unwrap();
    // Every file of the directory has its expectation, and the other way round.
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = corpus.case.iter().map(|c| c.file.clone()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
    assert!(corpus.case.len() >= 50, "{}", corpus.case.len());
    for c in &corpus.case {
        assert!(
            c.source.starts_with("http") && !c.licence.is_empty(),
            "{}",
            c.file
        );
    }

    let (guard, log, _dir) = support_web::init(&[], |cfg| {
        cfg.logs.level = "warn".into();
    });
    let (mtx, mut mrx) = mpsc::unbounded_channel::<InboundMessage>();
    let (stx, mut srx) = mpsc::unbounded_channel::<StatusUpdate>();
    let hook = WhatsAppWebhook::new(WebhookConfig::default().app_secret(SECRET))
        .on_message(move |m| {
            let tx = mtx.clone();
            async move {
                let _ = tx.send(m);
            }
        })
        .on_status(move |s| {
            let tx = stx.clone();
            async move {
                let _ = tx.send(s);
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook/whatsapp", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, hook.router::<()>()).await.unwrap();
    });
    let http = reqwest::Client::new();

    let mut personal: Vec<String> = Vec::new();
    let mut error_codes: Vec<i64> = Vec::new();
    for c in &corpus.case {
        let body = std::fs::read(dir().join(&c.file)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        // The parser on its own.
        let batch = whatsapp::parse_payload(&body).unwrap();
        assert_eq!(batch.other_changes, c.other_changes, "{}", c.file);
        let codes: Vec<i64> = batch.errors.iter().map(|e| e.code).collect();
        assert_eq!(codes, c.errors, "{}: value.errors", c.file);
        error_codes.extend(&c.errors);
        // Through the webhook, signed as Meta signs.
        let r = http
            .post(&url)
            .header(
                "x-hub-signature-256",
                whatsapp::sign(SECRET.as_bytes(), &body),
            )
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", c.file);
        let pnid = phone_number_id_of(&v);
        for e in &c.message {
            let m = tokio::time::timeout(Duration::from_secs(10), mrx.recv())
                .await
                .unwrap_or_else(|_| panic!("{}: the handler got no message", c.file))
                .unwrap();
            check_message(&c.file, &m, e);
            error_codes.extend(&e.errors);
            personal.push(e.user.clone());
            if let Some(t) = &e.text {
                personal.push(t.clone());
            }
            if let Some(g) = &e.group {
                personal.push(g.clone());
            }
        }
        for e in &c.status {
            let s = tokio::time::timeout(Duration::from_secs(10), srx.recv())
                .await
                .unwrap_or_else(|_| panic!("{}: the handler got no status", c.file))
                .unwrap();
            check_status(&c.file, &s, e, &pnid);
            error_codes.extend(&e.errors);
            personal.push(e.user.clone());
            personal.extend(e.participant.clone());
        }
        // Nothing more than expected.
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(mrx.try_recv().is_err(), "{}: an extra message", c.file);
        assert!(srx.try_recv().is_err(), "{}: an extra status", c.file);
    }
    assert!(!error_codes.is_empty());

    let spans = guard.memory_spans();
    let lines = support_web::log_lines(&log);
    let metrics = chatobs_runtime::metrics::render();
    server.abort();
    drop(guard);

    // Every error Meta reported is a `whatsapp.error` event, a WARN line with
    // its code, and counted by code.
    let events: Vec<i64> = spans
        .iter()
        .flat_map(|s| s.events.iter())
        .filter(|e| e.name == vocab::WHATSAPP_ERROR_EVENT)
        .filter_map(|e| {
            e.attributes
                .iter()
                .find(|(k, _)| k == vocab::MESSAGING_WHATSAPP_ERROR_CODE)
                .and_then(|(_, v)| v.as_i64())
        })
        .collect();
    let warned: Vec<i64> = lines
        .iter()
        .filter(|l| {
            l["fields"]["message"] == "WhatsApp reported an error"
                || l["message"] == "WhatsApp reported an error"
        })
        .filter_map(|l| l["fields"]["code"].as_i64().or_else(|| l["code"].as_i64()))
        .collect();
    let mut want = error_codes.clone();
    want.sort();
    for (what, mut got) in [("events", events), ("log lines", warned)] {
        got.sort();
        assert_eq!(got, want, "{what}");
    }
    for code in [130429i64, 131051] {
        let series = metrics
            .lines()
            .find(|l| {
                l.starts_with("chatobs_whatsapp_errors_total{")
                    && l.contains(&format!("code=\"{code}\""))
            })
            .unwrap_or_else(|| panic!("no counter for {code}:\n{metrics}"));
        let n: f64 = series.rsplit(' ').next().unwrap().parse().unwrap();
        let expected = want.iter().filter(|c| **c == code).count() as f64;
        assert!(n >= expected, "{series}");
    }

    // Nothing personal left the process: numbers, business-scoped ids,
    // group ids and texts are in no span and no log line.
    let exported = format!(
        "{}\n{}",
        spans
            .iter()
            .map(|s| format!("{} {:?} {:?}", s.name, s.attributes, s.events))
            .collect::<Vec<_>>()
            .join("\n"),
        lines
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    personal.sort();
    personal.dedup();
    for p in personal.iter().filter(|p| {
        p.len() >= 6 && !p.contains('<') && p.chars().any(|c| c.is_ascii_digit() || c == ' ')
    }) {
        assert!(!exported.contains(p.as_str()), "{p:?} was exported");
    }
    // Users known only by a business-scoped id are marked so.
    assert!(spans
        .iter()
        .any(|s| s.attr_str(vocab::MESSAGING_WHATSAPP_USER_ID_KIND) == Some("business_scoped")));
}
