//! WhatsApp Cloud API webhooks: signature check and payload parsing (no HTTP
//! framework needed; the axum layer in [`super::axum`] uses these).
//!
//! * [`verify_signature`]: `X-Hub-Signature-256` is `sha256=<hex>` of the
//!   HMAC-SHA256 of the **raw** body with the app secret; compared in
//!   constant time (`hmac`'s `verify_slice`) before anything is parsed.
//! * [`parse_payload`]: every entry and change of one POST, read as Meta
//!   documents it (checked against a corpus of Meta's examples and SDK
//!   fixtures, `tests/corpus/real/whatsapp`, see its `SOURCES.md`); text,
//!   interactive button and list replies, template quick-reply buttons,
//!   reactions, images / audio / video / documents / stickers / location /
//!   contacts (metadata only), status callbacks (`sent`, `delivered`, `read`,
//!   `failed`) with their `pricing` object and errors, and Meta's errors
//!   at every level ([`MetaError`]: `value.errors`, a message's and a
//!   status's `errors[]`). A message of a type chatobs does not know, or
//!   one missing a field, becomes [`Content::Unsupported`]; the rest of the
//!   batch is kept.
//!
//! # Users without a phone number, groups
//!
//! A user of WhatsApp usernames may reach the business with no number in
//! the payload (`from: ""` or absent) and only a business-scoped user id
//! (`from_user_id`, `recipient_user_id` in statuses). Such messages are
//! read by their type like any other; the conversation is keyed by the
//! number when there is one, else by that id (both only as keyed hashes),
//! so two such users never share a conversation; the bot answers through
//! [`InboundMessage::reply_address`] (`recipient` in the send API instead
//! of `to`); the customer service window opens under the id, and the
//! id's country (`CO.…`) picks the market of what is sent to it. A group's
//! messages (`group_id`) and statuses (`recipient_type: "group"`) are one
//! conversation, the group's; the group and the participant are exported
//! only as keyed hashes (`messaging.whatsapp.group.id`,
//! `messaging.whatsapp.group.participant`).
//!
//! ```
//! use chatobs_runtime::integrations::whatsapp::{parse_payload, sign, verify_signature, Content};
//!
//! let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages",
//!   "value":{"metadata":{"phone_number_id":"1234567890"},
//!   "messages":[{"from":"573001234567","id":"wamid.A","timestamp":"1751536800","type":"text","text":{"body":"hola"}},
//!               {"from":"573001234567","id":"wamid.B","timestamp":"1751536801","type":"hologram"}]}}]}]}"#;
//! let header = sign(b"app-secret", body);
//! assert!(verify_signature(b"app-secret", body, Some(&header)).is_ok());
//! assert!(verify_signature(b"other-secret", body, Some(&header)).is_err());
//!
//! let batch = parse_payload(body).unwrap();
//! assert_eq!(batch.messages.len(), 2);
//! assert!(matches!(batch.messages[0].content, Content::Text { .. }));
//! assert_eq!(batch.messages[1].content.type_name(), "unsupported");
//! // Both messages belong to the same conversation (keyed hash of number id + wa_id).
//! assert_eq!(batch.messages[0].session().id(), batch.messages[1].session().id());
//! ```
//!
//! # Personal data: identifiers leave the process only as keyed hashes
//!
//! A WhatsApp message id is not opaque: a real wamid is `wamid.` + base64
//! of a small protobuf that holds the customer's phone number
//! (`wamid.HBgMNTczMDAxMjM0NTY3FQIA...` decodes to `...573001234567...`).
//! So every identifier of a payload that can carry a phone number is
//! personal data:
//!
//! | identifier | where Meta puts it | what chatobs exports |
//! |---|---|---|
//! | wamids | `messages[].id`, `statuses[].id`, `messages[].context.id`, `reaction.message_id` | [`hashed_message_id`]: `messaging.message.id`, `messaging.whatsapp.context.message.id`, `feedback.wamid` |
//! | the user's number | `from`, `wa_id`, `recipient_id`, `contacts[].wa_id` | nothing (it only feeds the session's keyed hash, [`ChatSession::for_whatsapp`]) |
//! | business-scoped user ids | `from_user_id`, `recipient_user_id`, `contacts[].user_id` | nothing (the session's keyed hash when the number is absent) |
//! | profile names, usernames, texts, captions, coordinates, contact cards | `contacts[].profile`, message bodies | nothing (texts: their length only) |
//!
//! The hash is [`chatobs_core::context::keyed_hash`]`(&["wamid", id])`, the
//! HMAC-SHA256 with `CHATOBS_SESSION_KEY` that session ids use: every service
//! sharing the key hashes a wamid the same way, so a status callback's
//! `messaging.message.id` joins the message it refers to, and a reaction's
//! `messaging.whatsapp.context.message.id` joins the reply it rates.
//! Raw ids stay in memory, for the bot's handlers and for the lookups that
//! need them ([`OutboundRegistry`], feedback), and never reach a span, an
//! event, a log field, a metric label or an error message: `Debug` prints
//! the hash, free text taken from a payload (error titles) has any `wamid.`
//! token replaced by its hash ([`scrub_message_ids`]), and the type, status
//! and pricing names exported are Meta's words (letters, `_` and `-`, at
//! most 32) or `unknown`.

use crate::context::ChatSession;
use crate::cost::MetaPricing;
use hmac::{Hmac, Mac};
use serde_json::Value as Json;
use sha2::Sha256;
use std::borrow::Cow;

/// The exported form of a WhatsApp message id (wamid): its keyed hash
/// (`cs_` + 32 hex digits, [`chatobs_core::context::keyed_hash`] of
/// `["wamid", id]`), the same in every service sharing `CHATOBS_SESSION_KEY`.
/// `None` for an empty id. See the [module docs](self#personal-data-identifiers-leave-the-process-only-as-keyed-hashes).
///
/// ```
/// use chatobs_runtime::integrations::whatsapp::hashed_message_id;
/// let wamid = "wamid.HBgMNTczMDAxMjM0NTY3FQIAEhgUM0VCMEI4QjU5RjM3RkQ1QjYzOTMA";
/// let h = hashed_message_id(wamid).unwrap();
/// assert!(h.starts_with("cs_") && h.len() == 35);
/// assert_eq!(hashed_message_id(wamid), Some(h)); // stable: joins status callbacks to sends
/// assert_eq!(hashed_message_id(""), None);
/// ```
pub fn hashed_message_id(wamid: &str) -> Option<String> {
    (!wamid.is_empty()).then(|| crate::context::keyed_hash(&["wamid", wamid]))
}

/// `text` with every `wamid.` token (the prefix and the base64 that follows)
/// replaced by its [`hashed_message_id`]: for free text taken from a payload
/// or a URL before it is exported.
///
/// ```
/// use chatobs_runtime::integrations::whatsapp::{hashed_message_id, scrub_message_ids};
/// let w = "wamid.HBgMNTczMDAxMjM0NTY3FQIAEhgUM0VCMEI4QjU5RjM3RkQ1QjYzOTMA";
/// let text = format!("message {w} failed");
/// let out = scrub_message_ids(&text);
/// assert_eq!(out, format!("message {} failed", hashed_message_id(w).unwrap()));
/// assert_eq!(scrub_message_ids("nothing to see"), "nothing to see");
/// ```
pub fn scrub_message_ids(text: &str) -> Cow<'_, str> {
    let ids = message_id_spans(text);
    if ids.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (a, b) in ids {
        out.push_str(&text[last..a]);
        out.push_str(&crate::context::keyed_hash(&["wamid", &text[a..b]]));
        last = b;
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

/// [`redacted`], borrowing `text` when it names no wamid and `redact`
/// changes nothing (the usual case: no copy). Only the axum server spans
/// use it (a build with `reqwest` alone warned it was dead code).
#[cfg(feature = "axum")]
pub(crate) fn redacted_cow<F>(text: &str, redact: F) -> Cow<'_, str>
where
    F: for<'b> Fn(&'b str) -> Cow<'b, str>,
{
    if message_id_spans(text).is_empty() {
        return redact(text);
    }
    Cow::Owned(redacted(text, |t| redact(t).into_owned()))
}

/// `redact(text)` with the wamids of `text` hashed: each is set aside before
/// `redact` runs (so a digit run inside a wamid's base64 cannot be cut out of
/// it, leaving the rest behind) and its hash put in its place after (so the
/// redaction does not take the hash for a number). A wamid the redaction
/// removed whole stays removed.
pub(crate) fn redacted(text: &str, redact: impl FnOnce(&str) -> String) -> String {
    let ids = message_id_spans(text);
    if ids.is_empty() {
        return redact(text);
    }
    // Placeholders: private-use characters around letters (no digit, no
    // separator a redaction looks at).
    let mark = |k: usize| {
        let mut m = String::from('\u{E000}');
        let mut k = k;
        loop {
            m.push(char::from(b'a' + (k % 26) as u8));
            k /= 26;
            if k == 0 {
                break;
            }
        }
        m.push('\u{E001}');
        m
    };
    let mut masked = String::with_capacity(text.len());
    let mut last = 0;
    for (k, (a, b)) in ids.iter().enumerate() {
        masked.push_str(&text[last..*a]);
        masked.push_str(&mark(k));
        last = *b;
    }
    masked.push_str(&text[last..]);
    let mut out = redact(&masked);
    for (k, (a, b)) in ids.iter().enumerate() {
        out = out.replace(
            &mark(k),
            &crate::context::keyed_hash(&["wamid", &text[*a..*b]]),
        );
    }
    out
}

/// Byte ranges of the `wamid.` tokens of `text` (case-insensitive prefix,
/// then base64, URL-safe base64 and percent escapes).
fn message_id_spans(text: &str) -> Vec<(usize, usize)> {
    const PREFIX: &[u8] = b"wamid.";
    let b = text.as_bytes();
    let is_id_byte =
        |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'_' | b'-' | b'%');
    let mut out = Vec::new();
    let mut i = 0;
    while i + PREFIX.len() <= b.len() {
        if b[i..i + PREFIX.len()].eq_ignore_ascii_case(PREFIX) {
            let mut end = i + PREFIX.len();
            while end < b.len() && is_id_byte(b[end]) {
                end += 1;
            }
            if end > i + PREFIX.len() {
                out.push((i, end));
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// The signature header Meta sends.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// Environment variable holding the app secret (signature key).
pub const APP_SECRET_ENV: &str = "WHATSAPP_APP_SECRET";
/// Environment variable holding the verify token of the GET handshake.
pub const VERIFY_TOKEN_ENV: &str = "WHATSAPP_VERIFY_TOKEN";

/// Why a signature was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header.
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    /// Not `sha256=<64 hex digits>`.
    #[error("malformed X-Hub-Signature-256 header (expected sha256=<hex>)")]
    Malformed,
    /// The HMAC does not match.
    #[error("X-Hub-Signature-256 does not match the body")]
    Mismatch,
    /// No app secret configured.
    #[error("no app secret configured (set WHATSAPP_APP_SECRET)")]
    NoSecret,
}

impl SignatureError {
    /// A short code for `error.type`.
    pub fn code(self) -> &'static str {
        match self {
            SignatureError::Missing => "signature_missing",
            SignatureError::Malformed => "signature_malformed",
            SignatureError::Mismatch => "signature_invalid",
            SignatureError::NoSecret => "signature_unconfigured",
        }
    }
}

/// Checks `X-Hub-Signature-256` against the raw body, in constant time.
pub fn verify_signature(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hexsig = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    if hexsig.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let sig = hex::decode(hexsig).map_err(|_| SignatureError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::NoSecret)?;
    mac.update(body);
    mac.verify_slice(&sig).map_err(|_| SignatureError::Mismatch)
}

/// The `X-Hub-Signature-256` value for `body` (what Meta sends; for tests and simulators).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a payload was refused (400).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Not JSON. The reason names the position, never the content.
    #[error("malformed JSON: {0}")]
    Json(String),
    /// JSON, but not a WhatsApp webhook.
    #[error("not a WhatsApp webhook payload: {0}")]
    Shape(&'static str),
}

/// Kinds of media messages (metadata only: id and MIME type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    /// `image`.
    Image,
    /// `audio` (voice notes too).
    Audio,
    /// `video`.
    Video,
    /// `document`.
    Document,
    /// `sticker`.
    Sticker,
}

impl MediaKind {
    /// The WhatsApp type name.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }
}

/// What a message carries. The text-bearing variants are for the bot: chatobs
/// never exports them (see [`InboundMessage`]'s `Debug`, which prints none).
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum Content {
    /// A text message.
    Text {
        /// The user's words.
        body: String,
    },
    /// A tap on an interactive reply button.
    ButtonReply {
        /// The id the bot gave the button.
        id: String,
        /// The button's title.
        title: String,
    },
    /// A choice from an interactive list.
    ListReply {
        /// The id the bot gave the row.
        id: String,
        /// The row's title.
        title: String,
    },
    /// A tap on a template's quick-reply button.
    TemplateButton {
        /// The payload the template defined.
        payload: String,
        /// The button's text.
        text: String,
    },
    /// Another interactive reply (a Flow's `nfm_reply`, a type chatobs does
    /// not read yet), or one Meta sent without its object.
    InteractiveOther {
        /// Meta's `interactive.type` when it is a word, else `None`.
        interactive_type: Option<String>,
    },
    /// A reaction to a message (👍 / 👎 become user feedback).
    Reaction {
        /// The message reacted to.
        message_id: String,
        /// The emoji (`None`: the reaction was removed).
        emoji: Option<String>,
    },
    /// An image, audio, video, document or sticker: metadata only.
    Media {
        /// Which.
        kind: MediaKind,
        /// Media id (download it with the Graph API if you need it).
        media_id: String,
        /// MIME type.
        mime_type: Option<String>,
    },
    /// A shared location: only whether it had a name (coordinates are not kept).
    Location {
        /// The location had a place name.
        named: bool,
    },
    /// Shared contact cards: only how many.
    Contacts {
        /// Number of cards.
        count: usize,
    },
    /// A type chatobs does not know, or a message missing its fields.
    Unsupported {
        /// The type Meta sent when it is a word (ASCII letters, `_` and `-`, at
        /// most 32), else `unknown`; `invalid` for a message without sender or id.
        original_type: String,
    },
}

impl Content {
    /// The WhatsApp type name (`unsupported` for unknown ones).
    pub fn type_name(&self) -> &'static str {
        match self {
            Content::Text { .. } => "text",
            Content::ButtonReply { .. }
            | Content::ListReply { .. }
            | Content::InteractiveOther { .. } => "interactive",
            Content::TemplateButton { .. } => "button",
            Content::Reaction { .. } => "reaction",
            Content::Media { kind, .. } => kind.as_str(),
            Content::Location { .. } => "location",
            Content::Contacts { .. } => "contacts",
            Content::Unsupported { .. } => "unsupported",
        }
    }
    /// What the user typed or chose, if anything (text, button or row title).
    pub fn text(&self) -> Option<&str> {
        match self {
            Content::Text { body } => Some(body),
            Content::ButtonReply { title, .. } | Content::ListReply { title, .. } => Some(title),
            Content::TemplateButton { text, .. } => Some(text),
            _ => None,
        }
    }
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the user's words or numbers: a Debug print may end up in a log.
        write!(f, "Content::{}", self.type_name())
    }
}

/// One inbound user message.
#[derive(Clone)]
pub struct InboundMessage {
    /// The business phone number id that received it (`metadata.phone_number_id`).
    pub phone_number_id: String,
    /// The user's WhatsApp id (their phone number, `from`): personal data, never exported.
    /// Empty when Meta sent only the business-scoped user id.
    pub wa_id: String,
    /// The user's business-scoped user id (`from_user_id`, sent to users of
    /// WhatsApp usernames): personal data, never exported.
    pub user_id: Option<String>,
    /// The message id (wamid): personal data (it encodes the number), exported
    /// only as [`InboundMessage::exported_id`].
    pub id: String,
    /// Unix seconds Meta stamped.
    pub timestamp: Option<i64>,
    /// The message this one replies to (`context.id`, a wamid: exported only hashed).
    pub reply_to: Option<String>,
    /// The user came from a click-to-WhatsApp ad or a Page button (`referral`).
    pub entry_point: bool,
    /// What it carries.
    pub content: Content,
    /// Errors Meta attached to the message (`errors[]`, such as 131051 for
    /// an unsupported type).
    pub errors: Vec<MetaError>,
    /// The group the message was sent in (`group_id`), when it was: personal
    /// data, exported only as a keyed hash.
    pub group_id: Option<String>,
    session: ChatSession,
}

impl InboundMessage {
    /// Whom to answer ([`ReplyAddress::send_field`]): the number, else the
    /// business-scoped user id; `None` when the message had neither.
    pub fn reply_address(&self) -> Option<ReplyAddress> {
        if !self.wa_id.is_empty() {
            Some(ReplyAddress::Phone(self.wa_id.clone()))
        } else {
            self.user_id.clone().map(ReplyAddress::BusinessScopedUserId)
        }
    }
    /// `phone` or `business_scoped`: which identifier keys the conversation.
    pub fn user_id_kind(&self) -> &'static str {
        if self.wa_id.is_empty() {
            "business_scoped"
        } else {
            "phone"
        }
    }
    /// The conversation: keyed hash of (phone number id, wa_id), or of (phone
    /// number id, business-scoped user id) when Meta sent no number.
    pub fn session(&self) -> &ChatSession {
        &self.session
    }
    /// Puts the message in its conversation of the lifecycle: the user's
    /// open conversation, or a new one ([`chatobs_cost::conversation`]).
    /// The parsed session's id is the user's stable key, which becomes
    /// `user.id`. What the webhook does before the handler runs.
    pub fn open_conversation(&mut self) {
        if self.session.user_id().is_none() {
            self.session = chatobs_cost::conversation::on_inbound(self.session.id());
        }
    }
    /// The user as the cost windows know them: the `wa_id`, else the
    /// business-scoped user id (empty when the message had neither).
    pub fn user(&self) -> &str {
        if self.wa_id.is_empty() {
            self.user_id.as_deref().unwrap_or("")
        } else {
            &self.wa_id
        }
    }
    /// The message id as it may be exported ([`hashed_message_id`]).
    pub fn exported_id(&self) -> Option<String> {
        hashed_message_id(&self.id)
    }
    /// The message this one refers to (the reply's `context.id`, or the
    /// message a reaction is about), as it may be exported.
    pub fn exported_context_id(&self) -> Option<String> {
        match &self.content {
            Content::Reaction { message_id, .. } => hashed_message_id(message_id),
            _ => self.reply_to.as_deref().and_then(hashed_message_id),
        }
    }
    /// Message time (Meta's timestamp, else now).
    pub fn at(&self) -> time::OffsetDateTime {
        self.timestamp
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
            .unwrap_or_else(time::OffsetDateTime::now_utc)
    }
}

impl std::fmt::Debug for InboundMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundMessage")
            .field("id", &self.exported_id())
            .field("session", &self.session.id())
            .field("content", &self.content)
            .finish_non_exhaustive()
    }
}

/// An error Meta reported: in a webhook's `value.errors`, a message's
/// `errors[]` (131051: unsupported message type), a status callback's
/// `errors[]` (131047: re-engagement window closed, 131026: undeliverable)
/// or a Graph API answer ([`graph_error`]).
///
/// Only the code, subcode, type and title are kept: Meta's `message` and
/// `error_data.details` can quote the user's number, so they are not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaError {
    /// Meta's code.
    pub code: i64,
    /// Meta's title (redacted: phone numbers and wamids replaced, at most 200 bytes).
    pub title: String,
    /// The Graph API's `error_subcode`.
    pub subcode: Option<i64>,
    /// The Graph API's `type` (`OAuthException`), when a word.
    pub error_type: Option<String>,
}

/// The errors of a status callback (the name this type had before
/// [`MetaError`] covered every place Meta reports one).
pub type StatusError = MetaError;

fn meta_error(e: &Json) -> Option<MetaError> {
    if !e.is_object() {
        return None;
    }
    let num = |k: &str| match e.get(k)? {
        Json::Number(n) => n.as_i64(),
        Json::String(t) => t.trim().parse().ok(),
        _ => None,
    };
    let title = s(e, "title")
        .or_else(|| s(e, "message"))
        .unwrap_or_default();
    Some(MetaError {
        code: num("code").unwrap_or(0),
        title: crate::redact::truncate(
            &redacted(&title, |t| crate::redact::text(t).into_owned()),
            200,
        ),
        subcode: num("error_subcode"),
        error_type: e
            .get("type")
            .and_then(Json::as_str)
            .and_then(|t| bounded_word(t, true)),
    })
}

fn meta_errors(v: &Json) -> Vec<MetaError> {
    v.get("errors")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(meta_error)
        .collect()
}

/// Reads a Graph API error answer (`{"error": {"message", "type", "code",
/// "error_subcode", "fbtrace_id"}}`, what the send endpoint answers with a
/// 4xx). Its `message` is kept as the title, redacted like one.
///
/// ```
/// use chatobs_runtime::integrations::whatsapp::graph_error;
/// let e = graph_error(br#"{"error":{"message":"(#131030) Recipient phone number not in allowed list",
///   "type":"OAuthException","code":131030,"error_subcode":2494010,"fbtrace_id":"A1"}}"#).unwrap();
/// assert_eq!((e.code, e.subcode, e.error_type.as_deref()), (131030, Some(2494010), Some("OAuthException")));
/// ```
pub fn graph_error(body: &[u8]) -> Option<MetaError> {
    let v: Json = serde_json::from_slice(body).ok()?;
    meta_error(v.get("error")?)
}

/// Records an error Meta reported on the current span: a `whatsapp.error`
/// event (code, subcode, title, scope), a WARN log line with the code and
/// title, and the `chatobs_whatsapp_errors_total{code, scope}` counter.
pub fn report_error(e: &MetaError, scope: &'static str) {
    use crate::model::Value;
    let mut attrs: Vec<(Cow<'static, str>, Value)> = vec![
        (
            crate::vocab::MESSAGING_WHATSAPP_ERROR_CODE.into(),
            e.code.into(),
        ),
        (
            crate::vocab::MESSAGING_WHATSAPP_ERROR_TITLE.into(),
            Value::from(e.title.clone()),
        ),
        (
            crate::vocab::MESSAGING_WHATSAPP_ERROR_SCOPE.into(),
            scope.into(),
        ),
    ];
    if let Some(sc) = e.subcode {
        attrs.push((
            crate::vocab::MESSAGING_WHATSAPP_ERROR_SUBCODE.into(),
            sc.into(),
        ));
    }
    chatobs_core::current::add_event(crate::vocab::WHATSAPP_ERROR_EVENT, attrs);
    tracing::warn!(
        target: "chatobs::webhook",
        code = e.code,
        subcode = e.subcode,
        title = e.title.as_str(),
        scope,
        "WhatsApp reported an error"
    );
    chatobs_metrics::observe_whatsapp_error(e.code, scope);
}

/// Whom to answer: the number when Meta sent one, else the business-scoped
/// user id (users of WhatsApp usernames). Personal data: use it to send,
/// never export it.
#[derive(Clone, PartialEq, Eq)]
pub enum ReplyAddress {
    /// The user's phone number (`to` in the send API).
    Phone(String),
    /// The business-scoped user id (`recipient` in the send API).
    BusinessScopedUserId(String),
}

impl ReplyAddress {
    /// The send API's field and value: `("to", number)` or `("recipient", bsuid)`.
    ///
    /// ```
    /// use chatobs_runtime::integrations::whatsapp::ReplyAddress;
    /// let a = ReplyAddress::BusinessScopedUserId("US.13491208655302741918".into());
    /// let (field, value) = a.send_field();
    /// let body = serde_json::json!({"messaging_product": "whatsapp", field: value, "type": "text", "text": {"body": "Hola"}});
    /// assert_eq!(body["recipient"], "US.13491208655302741918");
    /// ```
    pub fn send_field(&self) -> (&'static str, &str) {
        match self {
            ReplyAddress::Phone(n) => ("to", n),
            ReplyAddress::BusinessScopedUserId(u) => ("recipient", u),
        }
    }
}

impl std::fmt::Debug for ReplyAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the identifier itself.
        f.write_str(match self {
            ReplyAddress::Phone(_) => "ReplyAddress::Phone(..)",
            ReplyAddress::BusinessScopedUserId(_) => "ReplyAddress::BusinessScopedUserId(..)",
        })
    }
}

/// A status callback for a message the business sent.
#[derive(Clone)]
pub struct StatusUpdate {
    /// The business phone number id that sent it.
    pub phone_number_id: String,
    /// The recipient's WhatsApp id: personal data, never exported. Empty when
    /// Meta sent only the business-scoped user id.
    pub recipient_id: String,
    /// The recipient's business-scoped user id (`recipient_user_id`):
    /// personal data, never exported.
    pub recipient_user_id: Option<String>,
    /// The wamid of the message: personal data, exported only as
    /// [`StatusUpdate::exported_id`] (the same hash as the sent message's).
    pub id: String,
    /// `sent`, `delivered`, `read`, `failed` (or what Meta sent when it is a
    /// word of letters, `_` and `-`, else `unknown`).
    pub status: String,
    /// Unix seconds.
    pub timestamp: Option<i64>,
    /// Meta's `pricing` object (the ground truth for WhatsApp fees).
    pub pricing: Option<MetaPricing>,
    /// Errors (failed messages).
    pub errors: Vec<MetaError>,
    /// A status of a message sent to a group (`recipient_type: "group"`):
    /// the group id. Personal data, exported only as a keyed hash.
    pub group_id: Option<String>,
    /// The group participant the status is about, when Meta names one.
    /// Personal data, exported only as a keyed hash.
    pub participant: Option<String>,
    session: ChatSession,
}

impl StatusUpdate {
    /// The conversation: keyed hash of (phone number id, recipient id), or of
    /// (phone number id, business-scoped user id) when Meta sent no number.
    pub fn session(&self) -> &ChatSession {
        &self.session
    }
    /// Puts the status in the recipient's open conversation, if there is
    /// one (a status never opens a conversation); otherwise it stays in a
    /// session keyed by the user's stable key.
    pub fn join_conversation(&mut self) {
        if self.session.user_id().is_none() {
            let user = self.session.id();
            self.session = chatobs_cost::conversation::open_of(user).unwrap_or_else(|| {
                ChatSession::from_exported_ids(user, user).unwrap_or_else(|_| self.session.clone())
            });
        }
    }
    /// The message id as it may be exported ([`hashed_message_id`]).
    pub fn exported_id(&self) -> Option<String> {
        hashed_message_id(&self.id)
    }
}

impl std::fmt::Debug for StatusUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusUpdate")
            .field("id", &self.exported_id())
            .field("status", &self.status)
            .field("session", &self.session.id())
            .field("pricing", &self.pricing)
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

/// Everything one POST carried.
#[derive(Clone, Debug, Default)]
pub struct WebhookBatch {
    /// User messages, in payload order.
    pub messages: Vec<InboundMessage>,
    /// Status callbacks, in payload order.
    pub statuses: Vec<StatusUpdate>,
    /// Changes of other fields (account updates, template status, ...), skipped.
    pub other_changes: usize,
    /// Errors Meta reported for a whole change (`value.errors`, such as
    /// 130429 rate limit hit).
    pub errors: Vec<MetaError>,
}

fn s(v: &Json, k: &str) -> Option<String> {
    v.get(k).and_then(Json::as_str).map(str::to_owned)
}

fn ts(v: &Json) -> Option<i64> {
    match v.get("timestamp")? {
        Json::String(t) => t.parse().ok(),
        Json::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// A type or status name as it may be exported: Meta's are words of
/// letters, `_` and `-` (`text`, `request_welcome`, `delivered`,
/// `authentication-international`); anything else (digits, dots, a number,
/// an id) becomes `unknown`.
fn bounded_type(t: &str) -> String {
    bounded_word(t, false).unwrap_or_else(|| "unknown".into())
}

/// `t` when it is 1 to 32 ASCII letters, `_` or `-` (lower-cased unless `keep_case`).
fn bounded_word(t: &str, keep_case: bool) -> Option<String> {
    let ok = (1..=32).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-');
    ok.then(|| {
        if keep_case {
            t.to_owned()
        } else {
            t.to_ascii_lowercase()
        }
    })
}

/// A string field of the payload, or `None` when it is missing or not a string.
fn non_empty(v: &Json, k: &str) -> Option<String> {
    s(v, k).filter(|x| !x.is_empty())
}

/// Meta's pricing object, its names bounded like the types (they are
/// exported as span attributes and compared with the rate card).
fn pricing_of(st: &Json) -> Option<MetaPricing> {
    let mut p = serde_json::from_value::<MetaPricing>(st.get("pricing")?.clone()).ok()?;
    p.category = bounded_word(&p.category, false).unwrap_or_else(|| "unknown".into());
    p.pricing_type = p
        .pricing_type
        .as_deref()
        .and_then(|t| bounded_word(t, false));
    p.pricing_model = p
        .pricing_model
        .as_deref()
        .and_then(|t| bounded_word(t, true));
    Some(p)
}

fn content_of(m: &Json) -> Content {
    let ty = m.get("type").and_then(Json::as_str).unwrap_or("");
    let unsupported = || Content::Unsupported {
        original_type: bounded_type(ty),
    };
    let media = |kind: MediaKind| {
        let o = m.get(ty);
        match o.and_then(|o| s(o, "id")) {
            Some(media_id) => Content::Media {
                kind,
                media_id,
                mime_type: o.and_then(|o| s(o, "mime_type")),
            },
            None => unsupported(),
        }
    };
    match ty {
        "text" => match m.get("text").and_then(|t| s(t, "body")) {
            Some(body) => Content::Text { body },
            None => unsupported(),
        },
        "interactive" => {
            let i = m.get("interactive");
            let it = i.and_then(|i| i.get("type")).and_then(Json::as_str);
            let reply = |k: &str| i.and_then(|i| i.get(k));
            match it {
                Some("button_reply") => match reply("button_reply") {
                    Some(r) => Content::ButtonReply {
                        id: s(r, "id").unwrap_or_default(),
                        title: s(r, "title").unwrap_or_default(),
                    },
                    None => unsupported(),
                },
                Some("list_reply") => match reply("list_reply") {
                    Some(r) => Content::ListReply {
                        id: s(r, "id").unwrap_or_default(),
                        title: s(r, "title").unwrap_or_default(),
                    },
                    None => unsupported(),
                },
                other => Content::InteractiveOther {
                    interactive_type: other.and_then(|t| bounded_word(t, false)),
                },
            }
        }
        "button" => match m.get("button") {
            Some(b) => Content::TemplateButton {
                payload: s(b, "payload").unwrap_or_default(),
                text: s(b, "text").unwrap_or_default(),
            },
            None => unsupported(),
        },
        "reaction" => match m.get("reaction").and_then(|r| s(r, "message_id")) {
            Some(message_id) => Content::Reaction {
                message_id,
                emoji: m
                    .get("reaction")
                    .and_then(|r| s(r, "emoji"))
                    .filter(|e| !e.is_empty()),
            },
            None => unsupported(),
        },
        "image" => media(MediaKind::Image),
        "audio" | "voice" => media(MediaKind::Audio),
        "video" => media(MediaKind::Video),
        "document" => media(MediaKind::Document),
        "sticker" => media(MediaKind::Sticker),
        "location" => match m.get("location") {
            Some(l) => Content::Location {
                named: l.get("name").and_then(Json::as_str).is_some(),
            },
            None => unsupported(),
        },
        "contacts" => match m.get("contacts").and_then(Json::as_array) {
            Some(c) => Content::Contacts { count: c.len() },
            None => unsupported(),
        },
        _ => unsupported(),
    }
}

/// Parses one webhook body (after its signature was checked).
pub fn parse_payload(body: &[u8]) -> Result<WebhookBatch, PayloadError> {
    let v: Json = serde_json::from_slice(body).map_err(|e| {
        // serde_json syntax errors name a category and a position, never the input.
        PayloadError::Json(format!(
            "{} at line {} column {}",
            match e.classify() {
                serde_json::error::Category::Eof => "unexpected end of input",
                serde_json::error::Category::Syntax => "syntax error",
                serde_json::error::Category::Data => "unexpected data",
                serde_json::error::Category::Io => "read error",
            },
            e.line(),
            e.column()
        ))
    })?;
    parse_value(&v)
}

/// Parses an already decoded webhook body.
pub fn parse_value(v: &Json) -> Result<WebhookBatch, PayloadError> {
    let entries = v
        .get("entry")
        .and_then(Json::as_array)
        .ok_or(PayloadError::Shape(
            "expected an object with an `entry` array",
        ))?;
    let mut batch = WebhookBatch::default();
    for entry in entries {
        let Some(changes) = entry.get("changes").and_then(Json::as_array) else {
            continue;
        };
        for change in changes {
            let field = change
                .get("field")
                .and_then(Json::as_str)
                .unwrap_or("messages");
            let Some(value) = change.get("value").filter(|_| field == "messages") else {
                batch.other_changes += 1;
                continue;
            };
            let phone_number_id = value
                .get("metadata")
                .and_then(|m| s(m, "phone_number_id"))
                .unwrap_or_default();
            batch.errors.extend(meta_errors(value));
            for m in value
                .get("messages")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                let wa_id = s(m, "from").unwrap_or_default();
                let user_id = non_empty(m, "from_user_id");
                let id = s(m, "id").unwrap_or_default();
                let group_id = non_empty(m, "group_id");
                let identity = if wa_id.is_empty() {
                    user_id.as_deref().unwrap_or("")
                } else {
                    &wa_id
                };
                // A group's messages and statuses are one conversation: the group's.
                let conversation = group_id.as_deref().unwrap_or(identity);
                let content = if identity.is_empty() || id.is_empty() {
                    Content::Unsupported {
                        original_type: "invalid".into(),
                    }
                } else {
                    content_of(m)
                };
                batch.messages.push(InboundMessage {
                    session: ChatSession::for_whatsapp(&phone_number_id, conversation),
                    errors: meta_errors(m),
                    group_id,
                    phone_number_id: phone_number_id.clone(),
                    wa_id,
                    user_id,
                    id,
                    timestamp: ts(m),
                    reply_to: m.get("context").and_then(|c| s(c, "id")),
                    entry_point: m.get("referral").is_some(),
                    content,
                });
            }
            for st in value
                .get("statuses")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                let recipient_id = s(st, "recipient_id").unwrap_or_default();
                let recipient_user_id = non_empty(st, "recipient_user_id");
                let identity = if recipient_id.is_empty() {
                    recipient_user_id.as_deref().unwrap_or("")
                } else {
                    &recipient_id
                };
                let is_group = st.get("recipient_type").and_then(Json::as_str) == Some("group");
                let group_id = is_group
                    .then(|| identity.to_owned())
                    .filter(|g| !g.is_empty());
                let participant = is_group
                    .then(|| {
                        // Meta's pages spell it both ways.
                        non_empty(st, "recipient_participant_id")
                            .or_else(|| non_empty(st, "participant_recipient_id"))
                            .or_else(|| non_empty(st, "recipient_participant_user_id"))
                    })
                    .flatten();
                let pricing = pricing_of(st);
                let errors = meta_errors(st);
                batch.statuses.push(StatusUpdate {
                    session: ChatSession::for_whatsapp(&phone_number_id, identity),
                    phone_number_id: phone_number_id.clone(),
                    recipient_id,
                    recipient_user_id,
                    id: s(st, "id").unwrap_or_default(),
                    status: bounded_type(st.get("status").and_then(Json::as_str).unwrap_or("")),
                    timestamp: ts(st),
                    pricing,
                    errors,
                    group_id,
                    participant,
                });
            }
        }
    }
    Ok(batch)
}

/// Messages the bot sent, by wamid: the price estimate made at send time and
/// the context of the span that sent it, so a later status callback can be
/// reconciled with Meta's `pricing` (once: [`OutboundRegistry::take`]) and
/// every status callback and reaction linked to the send. Bounded: the
/// oldest entries are dropped first.
pub struct OutboundRegistry {
    inner: std::sync::Mutex<OutboundInner>,
}

struct OutboundInner {
    /// The estimate until it is reconciled, and the sending context.
    map: std::collections::HashMap<String, (Option<crate::cost::WhatsAppCharge>, crate::Context)>,
    order: std::collections::VecDeque<String>,
    capacity: usize,
}

impl std::fmt::Debug for OutboundRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundRegistry")
            .field("len", &self.len())
            .finish()
    }
}

impl Default for OutboundRegistry {
    fn default() -> Self {
        OutboundRegistry::new(100_000)
    }
}

impl OutboundRegistry {
    /// A registry keeping at most `capacity` messages.
    pub fn new(capacity: usize) -> OutboundRegistry {
        OutboundRegistry {
            inner: std::sync::Mutex::new(OutboundInner {
                map: Default::default(),
                order: Default::default(),
                capacity: capacity.max(1),
            }),
        }
    }

    /// Remembers a sent message's estimate and the context that sent it.
    pub fn register(
        &self,
        wamid: &str,
        estimate: crate::cost::WhatsAppCharge,
        ctx: crate::Context,
    ) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        while g.map.len() >= g.capacity {
            match g.order.pop_front() {
                Some(old) => {
                    g.map.remove(&old);
                }
                None => break,
            }
        }
        if g.map
            .insert(wamid.to_owned(), (Some(estimate), ctx))
            .is_none()
        {
            g.order.push_back(wamid.to_owned());
        }
    }

    /// The context of the span that sent `wamid`.
    pub fn context_of(&self, wamid: &str) -> Option<crate::Context> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.map.get(wamid).map(|(_, c)| c.clone())
    }

    /// Takes the estimate of `wamid` (reconcile once); its context stays
    /// for the later status callbacks and reactions.
    pub fn take(&self, wamid: &str) -> Option<(crate::cost::WhatsAppCharge, crate::Context)> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (estimate, ctx) = g.map.get_mut(wamid)?;
        Some((estimate.take()?, ctx.clone()))
    }

    /// Messages remembered.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_estimate_is_reconciled_once_and_the_send_stays_linkable() {
        let charge = crate::cost::price_outbound(&crate::cost::Outbound {
            business: "106540352242922",
            user: "573001234567",
            at: crate::cost::OffsetDateTime::now_utc(),
            template: Some(crate::vocab::TemplateCategory::Marketing),
            entry_point: false,
        })
        .unwrap();
        let r = OutboundRegistry::new(2);
        let ctx = crate::Context::current();
        r.register("wamid.A", charge.clone(), ctx.clone());
        assert_eq!(r.take("wamid.A").map(|(c, _)| c), Some(charge.clone()));
        assert!(r.take("wamid.A").is_none(), "reconciled once");
        assert!(
            r.context_of("wamid.A").is_some(),
            "later callbacks still link"
        );
        r.register("wamid.B", charge.clone(), ctx.clone());
        r.register("wamid.C", charge, ctx);
        assert!(r.context_of("wamid.A").is_none(), "oldest dropped first");
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn parses_every_kind_and_keeps_going() {
        let body = serde_json::json!({"object":"whatsapp_business_account","entry":[
          {"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"111"},
            "messages":[
              {"from":"573001","id":"w1","timestamp":"1","type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"buy","title":"Comprar"}}},
              {"from":"573001","id":"w2","type":"interactive","interactive":{"type":"list_reply","list_reply":{"id":"r1","title":"Talla 42"}}},
              {"from":"573001","id":"w3","type":"reaction","reaction":{"message_id":"wb","emoji":"👍"}},
              {"from":"573001","id":"w4","type":"image","image":{"id":"m1","mime_type":"image/jpeg","caption":"secret caption"}},
              {"from":"573001","id":"w5","type":"location","location":{"latitude":4.6,"longitude":-74.1,"name":"Casa"}},
              {"from":"573001","id":"w6","type":"text"},
              {"id":"w7","type":"text","text":{"body":"no sender"}}
            ],
            "statuses":[{"id":"wb","status":"failed","recipient_id":"573001","errors":[{"code":131047,"title":"Re-engagement message"}],
                         "pricing":{"billable":false,"pricing_model":"PMP","type":"free_customer_service","category":"service"}}]}},
           {"field":"account_update","value":{}}]},
          {"id":"2","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"222"},
            "messages":[{"from":"5215512","id":"w8","type":"audio","audio":{"id":"a1","mime_type":"audio/ogg"}}]}}]}
        ]});
        let b = parse_value(&body).unwrap();
        let types: Vec<_> = b.messages.iter().map(|m| m.content.type_name()).collect();
        assert_eq!(
            types,
            [
                "interactive",
                "interactive",
                "reaction",
                "image",
                "location",
                "unsupported",
                "unsupported",
                "audio"
            ]
        );
        assert_eq!(b.statuses.len(), 1);
        assert_eq!(b.statuses[0].errors[0].code, 131047);
        assert_eq!(b.statuses[0].pricing.as_ref().unwrap().category, "service");
        assert_eq!(b.other_changes, 1);
        assert_ne!(b.messages[0].session(), b.messages[7].session());
        assert!(!format!("{:?}", b.messages).contains("Comprar"));
    }

    #[test]
    fn bad_json_reason_has_no_content() {
        let e = parse_payload(b"{\"entry\": [secret-words").unwrap_err();
        assert!(e.to_string().starts_with("malformed JSON"));
        assert!(!e.to_string().contains("secret"));
        assert!(matches!(
            parse_payload(b"[1,2]"),
            Err(PayloadError::Shape(_))
        ));
    }

    #[test]
    fn identifiers_leave_only_hashed() {
        // A wamid whose base64 holds a run of 7 digits: redaction first would cut
        // the run out and leave the rest of the id behind; hashing after it would
        // let the redaction eat digits of the hash.
        let w = "wamid.HBgM1234567QIAEhgU";
        let t = redacted(&format!("to +57 300 123 4567 ({w})"), |t| {
            crate::redact::text(t).into_owned()
        });
        assert_eq!(
            t,
            format!("to [REDACTED] ({})", hashed_message_id(w).unwrap())
        );
        assert_eq!(redacted("no id", |t| t.to_uppercase()), "NO ID");
        // Names that are not Meta's words are not exported as they came.
        let body = serde_json::json!({"entry": [{"changes": [{"value": {
            "metadata": {"phone_number_id": "1"},
            "messages": [{"from": "573001234567", "id": "wamid.A", "type": "573001234567"}],
            "statuses": [{"id": "wamid.B", "recipient_id": "573001234567", "status": "failed573001234567",
                          "pricing": {"billable": true, "category": "wamid.HBgM", "type": "x1", "pricing_model": "PMP"}}]}}]}]});
        let b = parse_value(&body).unwrap();
        assert_eq!(b.messages[0].content.type_name(), "unsupported");
        assert!(
            matches!(&b.messages[0].content, Content::Unsupported { original_type } if original_type == "unknown")
        );
        assert_eq!(b.statuses[0].status, "unknown");
        let p = b.statuses[0].pricing.as_ref().unwrap();
        assert_eq!(
            (
                p.category.as_str(),
                p.pricing_type.as_deref(),
                p.pricing_model.as_deref()
            ),
            ("unknown", None, Some("PMP"))
        );
        let dump = format!("{b:?}");
        assert!(
            !dump.contains("wamid.") && !dump.contains("573001234567"),
            "{dump}"
        );
        assert!(dump.contains(&hashed_message_id("wamid.A").unwrap()));
        // A user known only by a business-scoped id has a conversation of their own.
        let body = serde_json::json!({"entry": [{"changes": [{"value": {
            "metadata": {"phone_number_id": "1"},
            "messages": [{"from_user_id": "US.13491208655302741918", "id": "wamid.C", "type": "text", "text": {"body": "hi"}}]}}]}]});
        let m = &parse_value(&body).unwrap().messages[0];
        assert_eq!(m.content.type_name(), "text");
        assert_eq!(m.user(), "US.13491208655302741918");
        assert_eq!(
            m.session(),
            &ChatSession::for_whatsapp("1", "US.13491208655302741918")
        );
    }

    #[test]
    fn signature() {
        let h = sign(b"k", b"body");
        assert_eq!(verify_signature(b"k", b"body", Some(&h)), Ok(()));
        assert_eq!(
            verify_signature(b"k", b"body!", Some(&h)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"k", b"body", None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(b"k", b"body", Some("sha1=00")),
            Err(SignatureError::Malformed)
        );
    }
}
