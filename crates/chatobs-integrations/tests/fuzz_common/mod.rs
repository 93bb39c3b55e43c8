//! Shared by the `fuzz_*` property tests: the case count (`PROPTEST_CASES`
//! wins over each target's default), the checked-in corpus, realistic
//! identities (phone numbers, wamids that are base64 of them, business-scoped
//! user ids) and structured mutations of JSON payloads.
#![allow(dead_code)]

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value as Json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// A config running `default_cases` cases unless `PROPTEST_CASES` says
/// otherwise. The seed of a failure is kept in
/// `tests/proptest-regressions/{target}.txt` (check it in: it runs first
/// from then on).
pub fn config(default_cases: u32, target: &str) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    let file: &'static str = Box::leak(
        format!(
            "{}/tests/proptest-regressions/{target}.txt",
            env!("CARGO_MANIFEST_DIR")
        )
        .into_boxed_str(),
    );
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(file),
        )),
        // Shrinking a mutated payload can take long; a bounded budget is enough.
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    }
}

/// `tests/corpus/{dir}`.
pub fn corpus_dir(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("corpus")
        .join(dir)
}

/// Every file of `tests/corpus/{dir}` with extension `ext`, sorted by name
/// (read once per process: the properties pick from it on every case).
pub fn corpus(dir: &str, ext: &str) -> &'static [(String, Vec<u8>)] {
    type Cache = Mutex<HashMap<(String, String), &'static [(String, Vec<u8>)]>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let mut c = CACHE.get_or_init(Default::default).lock().unwrap();
    c.entry((dir.to_owned(), ext.to_owned()))
        .or_insert_with(|| {
            let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(corpus_dir(dir))
                .unwrap_or_else(|e| panic!("corpus {dir}: {e}"))
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == ext))
                .map(|p| {
                    (
                        p.file_name().unwrap().to_string_lossy().into_owned(),
                        std::fs::read(&p).unwrap(),
                    )
                })
                .collect();
            out.sort();
            assert!(!out.is_empty(), "empty corpus {dir}/*.{ext}");
            Vec::leak(out)
        })
}

/// The JSON files of `tests/corpus/{dir}`, parsed (once per process).
pub fn json_corpus(dir: &str) -> &'static [(String, Json)] {
    type Cache = Mutex<HashMap<String, &'static [(String, Json)]>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let parsed = || {
        Vec::leak(
            corpus(dir, "json")
                .iter()
                .map(|(n, b)| {
                    let v: Json = serde_json::from_slice(b).unwrap_or_else(|e| panic!("{n}: {e}"));
                    (n.clone(), v)
                })
                .collect::<Vec<_>>(),
        ) as &'static [(String, Json)]
    };
    let mut c = CACHE.get_or_init(Default::default).lock().unwrap();
    c.entry(dir.to_owned()).or_insert_with(parsed)
}

// ---- realistic identities ---------------------------------------------------------------

/// Standard base64 with padding (what Meta's wamids use).
pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
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

/// A wamid as Meta makes them: `wamid.` + base64 of a small protobuf holding
/// the user's number (`inbound`: a message from the user; else one sent to them).
pub fn wamid(phone: &str, inbound: bool, tail: &str) -> String {
    let mut blob = vec![0x1c, 0x18, phone.len() as u8];
    blob.extend_from_slice(phone.as_bytes());
    blob.extend_from_slice(&[0x15, 0x02, 0x00, if inbound { 0x12 } else { 0x11 }, 0x18]);
    blob.push(tail.len() as u8);
    blob.extend_from_slice(tail.as_bytes());
    blob.push(0);
    format!("wamid.{}", base64(&blob))
}

/// A phone number: country code and national number, 10 to 13 digits.
pub fn phone() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["57", "52", "55", "1", "91", "34", "234"]),
        prop::collection::vec(0u8..10, 9..=10),
    )
        .prop_map(|(cc, d)| {
            let mut s = cc.to_owned();
            // National numbers do not start with 0.
            s.push(char::from(b'1' + d[0] % 9));
            s.extend(d[1..].iter().map(|x| char::from(b'0' + x)));
            s
        })
}

/// A user of a payload: number, business-scoped user id, profile name and
/// the wamids of a message from them and of one sent to them.
#[derive(Clone, Debug)]
pub struct User {
    pub phone: String,
    pub bsuid: String,
    pub name: String,
    pub inbound_wamid: String,
    pub outbound_wamid: String,
}

impl User {
    /// The strings that must never be exported: the number (digits, `+`, its
    /// national part, its base64), the wamids, the business-scoped id, the name.
    pub fn secrets(&self) -> Vec<String> {
        vec![
            self.phone.clone(),
            format!("+{}", self.phone),
            self.phone[self.phone.len() - 8..].to_owned(),
            base64(self.phone.as_bytes())[..12].to_owned(),
            self.inbound_wamid.clone(),
            self.outbound_wamid.clone(),
            self.inbound_wamid["wamid.".len()..].to_owned(),
            self.bsuid.clone(),
            self.name.clone(),
        ]
    }
}

pub fn user() -> impl Strategy<Value = User> {
    (
        phone(),
        "[0-9A-F]{20}",
        "[0-9A-F]{18}",
        prop::collection::vec(0u8..10, 19),
        prop::sample::select(vec![
            "Camila Rodríguez Zuluaga",
            "Sheena Nelson-Whitfield",
            "Juan Pérez Hernández",
            "Rahul Venkataraman",
            "Ngozi Okonkwo-Adebayo",
        ]),
        0u32..1000,
    )
        .prop_map(|(phone, tin, tout, bs, name, n)| User {
            inbound_wamid: wamid(&phone, true, &tin),
            outbound_wamid: wamid(&phone, false, &tout),
            bsuid: format!(
                "US.{}",
                bs.iter().map(|d| char::from(b'0' + d)).collect::<String>()
            ),
            name: format!("{name} {n:03}"),
            phone,
        })
}

/// A webhook body in Meta's shape in which every identifier of `u` appears:
/// a text reply with its context, a reaction, a status with pricing and a
/// failed one whose error title names the number and the wamid.
pub fn payload_of(u: &User) -> Json {
    json!({
      "object": "whatsapp_business_account",
      "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": u.name, "username": "cliente"}, "wa_id": u.phone, "user_id": u.bsuid}],
        "messages": [
          {"context": {"from": "15550783881", "id": u.outbound_wamid}, "from": u.phone, "from_user_id": u.bsuid,
           "id": u.inbound_wamid, "timestamp": "1751536800", "type": "text",
           "text": {"body": format!("Soy {} y mi número es +{}", u.name, u.phone)}},
          {"from": u.phone, "id": u.inbound_wamid, "timestamp": "1751536801", "type": "reaction",
           "reaction": {"message_id": u.outbound_wamid, "emoji": "👍"}},
          {"from_user_id": u.bsuid, "id": u.inbound_wamid, "timestamp": "1751536802", "type": u.phone,
           "system": {"body": format!("User changed to {}", u.phone), "wa_id": u.phone}},
          {"from": u.phone, "id": u.inbound_wamid, "type": "image",
           "image": {"id": "1003383421387256", "mime_type": format!("image/jpeg; name={}", u.inbound_wamid), "caption": u.name}}
        ],
        "statuses": [
          {"id": u.outbound_wamid, "status": "delivered", "timestamp": "1751536805", "recipient_id": u.phone,
           "recipient_user_id": u.bsuid,
           "pricing": {"billable": true, "pricing_model": "PMP", "type": u.phone, "category": u.inbound_wamid}},
          {"id": u.outbound_wamid, "status": format!("failed{}", u.phone), "recipient_id": u.phone,
           "errors": [{"code": 131026, "title": format!("Undeliverable to +{} ({}) {}", u.phone, u.outbound_wamid, u.inbound_wamid),
                       "error_data": {"details": u.name}}]}
        ]
      }}]}]
    })
}

// ---- structured mutations -----------------------------------------------------------------

/// A value of any JSON type, leaning to the troublesome: huge and negative
/// numbers, floats where integers belong, long and non-ASCII strings, and
/// empty containers.
pub fn wild_value() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        prop::sample::select(vec![
            json!(u64::MAX),
            json!(i64::MIN),
            json!(i64::MAX),
            json!(-1),
            json!(0),
            json!(1e308),
            json!(-0.0),
            json!(1.5),
            json!(18446744073709551615u64),
        ]),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,24}".prop_map(Json::String),
        (0usize..20_000, any::<char>()).prop_map(|(n, c)| Json::String(c.to_string().repeat(n))),
        prop::sample::select(vec![
            "text",
            "image",
            "interactive",
            "button_reply",
            "list_reply",
            "reaction",
            "failed",
            "sent",
            "",
            "wamid.",
            "👍",
            "\u{0000}",
            "\u{202e}",
            "sha256=",
        ])
        .prop_map(|s| Json::String(s.to_owned())),
        Just(json!([])),
        Just(json!({})),
        Just(json!([{}])),
    ]
}

/// One edit of a JSON tree, applied at the node chosen by `at`.
#[derive(Clone, Debug)]
pub enum Edit {
    /// Replace the node.
    Replace(Index, Json),
    /// Remove the node from its parent.
    Remove(Index),
    /// Add a member (objects) or an element (arrays).
    Insert(Index, String, Json),
    /// Repeat the node `n` times in place (arrays) or wrap it in an array of copies.
    Repeat(Index, usize),
    /// Wrap the node in `depth` arrays or objects.
    Nest(Index, usize, bool),
}

pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<Index>(), wild_value()).prop_map(|(i, v)| Edit::Replace(i, v)),
        3 => any::<Index>().prop_map(Edit::Remove),
        2 => (any::<Index>(), prop::sample::select(vec![
                "id", "from", "type", "text", "body", "status", "pricing", "errors", "entry",
                "changes", "value", "messages", "statuses", "metadata", "context", "reaction",
                "interactive", "timestamp", "from_user_id", "recipient_id", "code", "title",
            ]).prop_map(str::to_owned), wild_value())
            .prop_map(|(i, k, v)| Edit::Insert(i, k, v)),
        1 => (any::<Index>(), 0usize..300).prop_map(|(i, n)| Edit::Repeat(i, n)),
        1 => (any::<Index>(), 1usize..140, any::<bool>()).prop_map(|(i, d, o)| Edit::Nest(i, d, o)),
    ]
}

/// The paths of every node (object keys and array indices), pre-order.
fn paths(v: &Json, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(here.clone());
    match v {
        Json::Object(m) => {
            for (k, c) in m {
                here.push(Step::Key(k.clone()));
                paths(c, here, out);
                here.pop();
            }
        }
        Json::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                here.push(Step::At(i));
                paths(c, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    At(usize),
}

fn node<'a>(v: &'a mut Json, path: &[Step]) -> &'a mut Json {
    path.iter().fold(v, |v, s| match s {
        Step::Key(k) => &mut v[k.as_str()],
        Step::At(i) => &mut v[*i],
    })
}

/// `v` with the edits applied in order.
pub fn apply(mut v: Json, edits: &[Edit]) -> Json {
    for e in edits {
        let mut all = Vec::new();
        paths(&v, &mut Vec::new(), &mut all);
        let pick = |i: &Index| all[i.index(all.len())].clone();
        match e {
            Edit::Replace(i, x) => *node(&mut v, &pick(i)) = x.clone(),
            Edit::Remove(i) => {
                let p = pick(i);
                if let Some((last, parent)) = p.split_last() {
                    match (node(&mut v, parent), last) {
                        (Json::Object(m), Step::Key(k)) => {
                            m.remove(k);
                        }
                        (Json::Array(a), Step::At(i)) => {
                            a.remove(*i);
                        }
                        _ => {}
                    }
                }
            }
            Edit::Insert(i, k, x) => match node(&mut v, &pick(i)) {
                Json::Object(m) => {
                    m.insert(k.clone(), x.clone());
                }
                Json::Array(a) => a.push(x.clone()),
                other => *other = json!({ k.clone(): x.clone() }),
            },
            Edit::Repeat(i, n) => {
                let p = pick(i);
                // Keep the tree within a few MB whatever the edits compound to.
                let n_ = if all.len() > 20_000 { 0 } else { *n };
                match p.split_last() {
                    Some((Step::At(j), parent)) => {
                        if let Json::Array(a) = node(&mut v, parent) {
                            let x = a[*j].clone();
                            for _ in 0..n_ {
                                a.insert(*j, x.clone());
                            }
                        }
                    }
                    _ => {
                        let t = node(&mut v, &p);
                        *t = Json::Array(vec![t.clone(); n_.min(50)]);
                    }
                }
            }
            Edit::Nest(i, depth, object) => {
                let t = node(&mut v, &pick(i));
                let mut x = t.take();
                for _ in 0..*depth {
                    x = if *object {
                        json!({ "v": x })
                    } else {
                        json!([x])
                    };
                }
                *t = x;
            }
        }
    }
    v
}

/// Serializes without the recursion limit of a parse (so that the parser's own
/// limit is what the target meets).
pub fn to_bytes(v: &Json) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// Byte-level damage: invalid UTF-8 inside the text, a cut, a flipped byte.
#[derive(Clone, Debug)]
pub enum Damage {
    None,
    InsertBytes(Index, Vec<u8>),
    Truncate(Index),
    Flip(Index, u8),
}

pub fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        4 => Just(Damage::None),
        2 => (any::<Index>(), prop::sample::select(vec![
                vec![0xff], vec![0xc3], vec![0xe2, 0x82], vec![0xed, 0xa0, 0x80], vec![0xf4, 0x90, 0x80, 0x80],
                vec![0xc0, 0xaf], vec![0x00], b"\\ud800".to_vec(), b"\\u00".to_vec(), b"\"".to_vec(), b"\\".to_vec(),
            ])).prop_map(|(i, b)| Damage::InsertBytes(i, b)),
        1 => any::<Index>().prop_map(Damage::Truncate),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Damage::Flip(i, b)),
    ]
}

pub fn damaged(mut b: Vec<u8>, d: &Damage) -> Vec<u8> {
    if b.is_empty() {
        return b;
    }
    match d {
        Damage::None => {}
        Damage::InsertBytes(i, x) => {
            let at = i.index(b.len() + 1);
            b.splice(at..at, x.iter().copied());
        }
        Damage::Truncate(i) => b.truncate(i.index(b.len())),
        Damage::Flip(i, x) => {
            let at = i.index(b.len());
            b[at] ^= x | 1;
        }
    }
    b
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &str, needle: &str) -> bool {
    !needle.is_empty() && hay.contains(needle)
}
