//! The WhatsApp Cloud API webhook: GET handshake, POST batches, inbound
//! messages and status callbacks (see the [module docs](super)).
//!
//! Wamids, numbers and business-scoped user ids are personal data: spans,
//! events and logs written here carry wamids only as their keyed hashes
//! ([`whatsapp::hashed_message_id`]) and the others not at all (see
//! [`crate::whatsapp`]).

use super::server::{req_info, set_status, WEBHOOK_ROUTES};
use crate::context::Context;
#[cfg(feature = "evals")]
use crate::evals::{Feedback, FeedbackRecorder, Thumb};
use crate::http_metrics;
use crate::model::Value;
use crate::span::SpanBuilder;
use crate::vocab;
use crate::whatsapp::{
    self, InboundMessage, OutboundRegistry, StatusUpdate, APP_SECRET_ENV, SIGNATURE_HEADER,
    VERIFY_TOKEN_ENV,
};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// The route of the webhook.
pub const WEBHOOK_PATH: &str = "/webhook/whatsapp";
/// Default body limit (Meta's payloads are a few KiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

type BoxFut = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Webhook settings. Secrets come from the environment only.
#[derive(Clone)]
pub struct WebhookConfig {
    /// The route (default `/webhook/whatsapp`).
    pub path: String,
    /// Verify token of the GET handshake (`WHATSAPP_VERIFY_TOKEN`).
    pub verify_token: Option<String>,
    /// App secret that signs the POST bodies (`WHATSAPP_APP_SECRET`).
    pub app_secret: Option<Vec<u8>>,
    /// Largest body accepted (413 above).
    pub max_body_bytes: usize,
    /// `chat.service.name` of the spans (several services in one process).
    pub service: Option<&'static str>,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("path", &self.path)
            .field(
                "verify_token",
                &self.verify_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field(
                "app_secret",
                &self.app_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            path: WEBHOOK_PATH.into(),
            verify_token: None,
            app_secret: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            service: None,
        }
    }
}

impl WebhookConfig {
    /// The defaults with the secrets read from `WHATSAPP_APP_SECRET` and
    /// `WHATSAPP_VERIFY_TOKEN`. Without an app secret every POST gets 401.
    pub fn from_env() -> WebhookConfig {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        WebhookConfig {
            verify_token: get(VERIFY_TOKEN_ENV),
            app_secret: get(APP_SECRET_ENV).map(String::into_bytes),
            ..WebhookConfig::default()
        }
    }
    /// With an app secret (tests; production reads the environment).
    pub fn app_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.app_secret = Some(secret.into());
        self
    }
    /// With a verify token.
    pub fn verify_token(mut self, token: impl Into<String>) -> Self {
        self.verify_token = Some(token.into());
        self
    }
    /// With a body limit.
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }
    /// With a service name.
    pub fn service(mut self, name: &'static str) -> Self {
        self.service = Some(name);
        self
    }
}

type MsgHandler = Arc<dyn Fn(InboundMessage) -> BoxFut + Send + Sync>;
type StatusHandler = Arc<dyn Fn(StatusUpdate) -> BoxFut + Send + Sync>;

struct Inner {
    cfg: WebhookConfig,
    on_message: Option<MsgHandler>,
    on_status: Option<StatusHandler>,
    #[cfg(feature = "evals")]
    feedback: Option<Arc<FeedbackRecorder>>,
    outbound: Arc<OutboundRegistry>,
}

/// The WhatsApp Cloud API webhook (see the module docs).
pub struct WhatsAppWebhook {
    inner: Inner,
}

impl std::fmt::Debug for WhatsAppWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsAppWebhook")
            .field("cfg", &self.inner.cfg)
            .finish_non_exhaustive()
    }
}

impl WhatsAppWebhook {
    /// A webhook with `cfg`.
    pub fn new(cfg: WebhookConfig) -> WhatsAppWebhook {
        WhatsAppWebhook {
            inner: Inner {
                cfg,
                on_message: None,
                on_status: None,
                #[cfg(feature = "evals")]
                feedback: None,
                outbound: Arc::new(OutboundRegistry::default()),
            },
        }
    }

    /// What to do with each inbound message (after the 200, in its context).
    pub fn on_message<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(InboundMessage) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.inner.on_message = Some(Arc::new(move |m| Box::pin(f(m))));
        self
    }

    /// What to do with each status callback (after reconciliation, in its context).
    pub fn on_status<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(StatusUpdate) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.inner.on_status = Some(Arc::new(move |m| Box::pin(f(m))));
        self
    }

    /// Turns 👍 / 👎 reactions to bot replies into user feedback (feature `evals`).
    #[cfg(feature = "evals")]
    pub fn feedback(mut self, recorder: Arc<FeedbackRecorder>) -> Self {
        self.inner.feedback = Some(recorder);
        self
    }

    /// Shares a registry of sent messages (for example with the code that sends).
    pub fn with_outbound(mut self, registry: Arc<OutboundRegistry>) -> Self {
        self.inner.outbound = registry;
        self
    }

    /// Sent messages: register each wamid with its estimate when you send it,
    /// so status callbacks are reconciled.
    pub fn outbound(&self) -> Arc<OutboundRegistry> {
        self.inner.outbound.clone()
    }

    /// The routes (GET and POST on the configured path), with metrics.
    pub fn router<S: Clone + Send + Sync + 'static>(self) -> Router<S> {
        let path = self.inner.cfg.path.clone();
        {
            let mut r = WEBHOOK_ROUTES.write().unwrap_or_else(|e| e.into_inner());
            if !r.contains(&path) {
                r.push(path.clone());
            }
        }
        let state = Arc::new(self.inner);
        Router::new()
            .route(&path, axum::routing::get(verify).post(receive))
            .with_state(state)
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn verify(State(st): State<Arc<Inner>>, req: Request) -> Response {
    let t0 = Instant::now();
    let route = st.cfg.path.clone();
    crate::with_service(st.cfg.service, async move {
        let q = req.uri().query().unwrap_or("");
        let mut mode = None;
        let mut token = None;
        let mut challenge = None;
        // Decoded like any query (`%XX` escapes, `+` for a space): a token
        // with reserved characters arrives percent-encoded.
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            match &*k {
                "hub.mode" => mode = Some(v),
                "hub.verify_token" => token = Some(v),
                "hub.challenge" => challenge = Some(v),
                _ => {}
            }
        }
        let ok = matches!((mode.as_deref(), token.as_deref(), &st.cfg.verify_token), (Some("subscribe"), Some(t), Some(exp)) if ct_eq(t.as_bytes(), exp.as_bytes()));
        let challenge = challenge
            .filter(|c| !c.is_empty() && c.len() <= 256 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let (status, body, err) = match (ok, challenge) {
            (true, Some(c)) => (StatusCode::OK, c.into_owned(), None),
            (true, None) => (StatusCode::BAD_REQUEST, "missing or invalid hub.challenge".to_owned(), Some("challenge_invalid")),
            _ => (StatusCode::FORBIDDEN, "verification failed".to_owned(), Some("verify_token_invalid")),
        };
        if chatobs_core::is_installed() {
            let mut info = req_info(req.method().as_str(), req.uri(), req.version(), req.headers(), &route);
            let mut span = info.span(true, None, Vec::new());
            set_status(&mut span, status.as_u16(), err);
        }
        http_metrics::record_server_request("GET", &route, status.as_u16(), t0.elapsed());
        (status, body).into_response()
    })
    .await
}

fn reject(status: StatusCode, reason: String) -> Response {
    (status, axum::Json(serde_json::json!({ "error": reason }))).into_response()
}

async fn read_limited(body: Body, limit: usize) -> Result<axum::body::Bytes, StatusCode> {
    use http_body_util::BodyExt;
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(StatusCode::PAYLOAD_TOO_LARGE)
        }
        Err(_) => Err(StatusCode::BAD_REQUEST),
    }
}

async fn receive(State(st): State<Arc<Inner>>, req: Request) -> Response {
    let svc = st.cfg.service;
    crate::with_service(svc, receive_inner(st, req)).await
}

async fn receive_inner(st: Arc<Inner>, req: Request) -> Response {
    let t0 = Instant::now();
    let received = chatobs_core::clock::now();
    let route = st.cfg.path.as_str();
    let (parts, body) = req.into_parts();
    let installed = chatobs_core::is_installed();
    let mut info = installed.then(|| {
        req_info(
            parts.method.as_str(),
            &parts.uri,
            parts.version,
            &parts.headers,
            route,
        )
    });
    let mut refuse = |status: StatusCode, err: &'static str, reason: String| {
        if let Some(info) = &mut info {
            let mut span = info.span(true, None, Vec::new());
            set_status(&mut span, status.as_u16(), Some(err));
            span.in_scope(|| tracing::warn!(target: "chatobs::webhook", status = status.as_u16(), error_type = err, "webhook request refused"));
        }
        http_metrics::record_server_request("POST", route, status.as_u16(), t0.elapsed());
        reject(status, reason)
    };
    let limit = st.cfg.max_body_bytes;
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("body larger than {limit} bytes"),
        );
    }
    let bytes = match read_limited(body, limit).await {
        Ok(b) => b,
        Err(StatusCode::PAYLOAD_TOO_LARGE) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("body larger than {limit} bytes"),
            )
        }
        Err(s) => return refuse(s, "body_unreadable", "the body could not be read".into()),
    };
    let sig = parts
        .headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    if let Err(e) = whatsapp::verify_signature(
        st.cfg.app_secret.as_deref().unwrap_or_default(),
        &bytes,
        sig,
    ) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            e.code(),
            format!("invalid signature: {e}"),
        );
    }
    let batch = match whatsapp::parse_payload(&bytes) {
        Ok(b) => b,
        Err(e) => {
            let code = match e {
                whatsapp::PayloadError::Json(_) => "malformed_json",
                whatsapp::PayloadError::Shape(_) => "invalid_payload",
            };
            return refuse(StatusCode::BAD_REQUEST, code, e.to_string());
        }
    };
    drop(bytes);
    let n_msg = batch.messages.len();
    let n_st = batch.statuses.len();
    let mut jobs: Vec<(Context, Job)> = Vec::with_capacity(n_msg + n_st);
    let count = (n_msg + n_st) as i64;
    if !batch.errors.is_empty() {
        // Errors Meta reported for the whole change (130429 rate limit hit,
        // ...): a span of their own, even when the POST carried nothing else.
        let report = || {
            for e in &batch.errors {
                whatsapp::report_error(e, "webhook");
            }
        };
        match &mut info {
            Some(info) => {
                let extra: Vec<(Cow<'static, str>, Value)> = vec![
                    (vocab::MESSAGING_SYSTEM.into(), "whatsapp".into()),
                    (vocab::MESSAGING_OPERATION_TYPE.into(), "receive".into()),
                ];
                let mut span = info.span(n_msg + n_st == 0, None, extra);
                set_status(&mut span, 200, None);
                span.in_scope(report);
            }
            None => report(),
        }
    }
    for (i, mut msg) in batch.messages.into_iter().enumerate() {
        msg.open_conversation();
        let (ctx, turn) = if let Some(info) = &mut info {
            let last = i + 1 == n_msg && n_st == 0;
            // The wamid's keyed hash, for the turn and the acknowledgement:
            // computed once, and only when one of them records.
            let id = std::cell::OnceCell::new();
            let turn = is_turn(&msg).then(|| turn_span(info, received, &msg, &id));
            let mut b = info.builder(Some(msg.session().clone()), Vec::new());
            match &turn {
                // The acknowledgement is a child of the turn.
                Some(t) => b = b.parent(t.context()),
                // A reaction is not a turn: linked to the message it reacts to.
                None => {
                    b = b.attribute(vocab::CHAT_TURN, false);
                    if let Some(c) = reacted_to(&st, &msg) {
                        b = b.link(c.trace_id, c.span_id, Vec::new());
                    }
                }
            }
            let mut span = info.start(b, last);
            if span.is_recording() {
                let mut extra = message_attrs(&msg, &id);
                extra.push((vocab::MESSAGING_BATCH_MESSAGE_COUNT.into(), count.into()));
                span.extend_attributes(extra);
            }
            set_status(&mut span, 200, None);
            span.in_scope(|| accept_message(&st, &msg));
            let ctx = match &turn {
                Some(t) => t.context(),
                None => span.context(),
            };
            (ctx, turn)
        } else {
            msg.session().in_scope(|| accept_message(&st, &msg));
            (Context::for_session(msg.session().clone()), None)
        };
        jobs.push((ctx, Job::Message(msg, turn)));
    }
    for (i, mut status) in batch.statuses.into_iter().enumerate() {
        status.join_conversation();
        let ctx = if let Some(info) = &mut info {
            let mut extra: Vec<(Cow<'static, str>, Value)> = vec![
                (vocab::MESSAGING_SYSTEM.into(), "whatsapp".into()),
                (vocab::MESSAGING_OPERATION_TYPE.into(), "receive".into()),
                // A root in the conversation, but not a user turn.
                (vocab::CHAT_TURN.into(), Value::Bool(false)),
                (
                    vocab::MESSAGING_WHATSAPP_STATUS.into(),
                    Value::from(status.status.clone()),
                ),
                (vocab::MESSAGING_BATCH_MESSAGE_COUNT.into(), count.into()),
            ];
            // The wamid encodes the recipient's number: only its keyed hash leaves.
            if let Some(id) = status.exported_id() {
                extra.push((vocab::MESSAGING_MESSAGE_ID.into(), Value::from(id)));
            }
            if let Some(g) = &status.group_id {
                extra.push((
                    vocab::MESSAGING_WHATSAPP_GROUP_ID.into(),
                    Value::from(crate::context::keyed_hash(&["wa_group", g])),
                ));
            }
            if let Some(p) = &status.participant {
                extra.push((
                    vocab::MESSAGING_WHATSAPP_GROUP_PARTICIPANT.into(),
                    Value::from(crate::context::keyed_hash(&["wa_user", p])),
                ));
            }
            let mut span = info.span(i + 1 == n_st, Some(status.session().clone()), extra);
            set_status(&mut span, 200, None);
            span.context()
        } else {
            Context::for_session(status.session().clone())
        };
        jobs.push((ctx, Job::Status(status)));
    }
    http_metrics::record_server_request("POST", route, 200, t0.elapsed());
    if !jobs.is_empty() {
        let svc = crate::current_service();
        tokio::spawn(crate::with_service(svc, process(st.clone(), jobs)));
    }
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"status": "accepted", "messages": n_msg, "statuses": n_st})),
    )
        .into_response()
}

enum Job {
    /// A user message, with its turn (ended when the handler returns).
    Message(InboundMessage, Option<crate::span::ChatSpan>),
    Status(StatusUpdate),
}

/// Every user message is a turn but a reaction (feedback on an earlier reply).
fn is_turn(msg: &InboundMessage) -> bool {
    !matches!(msg.content, whatsapp::Content::Reaction { .. })
}

/// The span that sent the message a reaction reacts to, when known.
fn reacted_to(st: &Inner, msg: &InboundMessage) -> Option<Context> {
    let whatsapp::Content::Reaction { message_id, .. } = &msg.content else {
        return None;
    };
    // The outbound registry forgets a message once Meta priced it (its
    // first status callback); the feedback recorder keeps it for a week.
    let ctx = st.outbound.context_of(message_id);
    #[cfg(feature = "evals")]
    let ctx = ctx.or_else(|| st.feedback.as_ref()?.span_of(message_id));
    ctx.filter(Context::has_span)
}

/// The root of a user turn: from the request's arrival (`received`) until
/// the message handler returns (see [`crate::turn`]). Its attributes are
/// built only when the sampler keeps it; `id` is the message's exported id,
/// shared with the acknowledgement.
fn turn_span(
    info: &super::server::ReqInfo<'_>,
    received: SystemTime,
    msg: &InboundMessage,
    id: &std::cell::OnceCell<Option<String>>,
) -> crate::span::ChatSpan {
    let mut b = SpanBuilder::new(vocab::WHATSAPP_TURN_SPAN)
        .kind(crate::model::OtelKind::Consumer)
        .span_kind(vocab::SpanKind::Chain)
        .role(crate::Role::GATEWAY)
        .session(msg.session().clone())
        .start_time(received);
    if let Some(p) = info.remote_parent() {
        b = b.parent(p.clone());
    }
    let mut span = b.start();
    if !span.is_recording() {
        return span;
    }
    let mut attrs = messaging_attrs(msg, "process", id);
    attrs.push((vocab::CHAT_TURN.into(), Value::Bool(true)));
    if let Some(svc) = crate::current_service() {
        attrs.push((vocab::CHAT_SERVICE_NAME.into(), svc.into()));
    }
    // Content capture (off by default): the user's words, redacted and cut.
    if let Some(text) = msg
        .content
        .text()
        .and_then(|t| crate::redact::content(&whatsapp::redacted(t, str::to_owned)))
    {
        attrs.push((vocab::INPUT_VALUE.into(), Value::from(text)));
        attrs.push((vocab::INPUT_MIME_TYPE.into(), "text/plain".into()));
    }
    span.extend_attributes(attrs);
    crate::turn::begin(span.context().trace_id);
    span
}

/// What the turn and the acknowledgement of a message both carry: the
/// messaging system, `operation` (`process`, `receive`), the message type
/// and its exported id (`id`, computed once for both).
fn messaging_attrs(
    msg: &InboundMessage,
    operation: &'static str,
    id: &std::cell::OnceCell<Option<String>>,
) -> Vec<(Cow<'static, str>, Value)> {
    let mut v: Vec<(Cow<'static, str>, Value)> = vec![
        (vocab::MESSAGING_SYSTEM.into(), "whatsapp".into()),
        (vocab::MESSAGING_OPERATION_TYPE.into(), operation.into()),
        (
            vocab::MESSAGING_WHATSAPP_MESSAGE_TYPE.into(),
            msg.content.type_name().into(),
        ),
    ];
    // Wamids encode the user's number: only their keyed hashes leave the process.
    if let Some(id) = id.get_or_init(|| msg.exported_id()) {
        v.push((vocab::MESSAGING_MESSAGE_ID.into(), Value::from(id.clone())));
    }
    v
}

fn message_attrs(
    msg: &InboundMessage,
    id: &std::cell::OnceCell<Option<String>>,
) -> Vec<(Cow<'static, str>, Value)> {
    use whatsapp::Content;
    let mut v = messaging_attrs(msg, "receive", id);
    if let Some(id) = msg.exported_context_id() {
        v.push((
            vocab::MESSAGING_WHATSAPP_CONTEXT_MESSAGE_ID.into(),
            Value::from(id),
        ));
    }
    if msg.entry_point {
        v.push((vocab::MESSAGING_WHATSAPP_ENTRY_POINT.into(), true.into()));
    }
    if !msg.user().is_empty() {
        v.push((
            vocab::MESSAGING_WHATSAPP_USER_ID_KIND.into(),
            msg.user_id_kind().into(),
        ));
    }
    if let Some(g) = &msg.group_id {
        v.push((
            vocab::MESSAGING_WHATSAPP_GROUP_ID.into(),
            Value::from(crate::context::keyed_hash(&["wa_group", g])),
        ));
        if !msg.user().is_empty() {
            v.push((
                vocab::MESSAGING_WHATSAPP_GROUP_PARTICIPANT.into(),
                Value::from(crate::context::keyed_hash(&["wa_user", msg.user()])),
            ));
        }
    }
    match &msg.content {
        Content::Text { body } => v.push((
            vocab::MESSAGING_WHATSAPP_TEXT_LENGTH.into(),
            (body.chars().count() as i64).into(),
        )),
        Content::ButtonReply { id, .. } => {
            v.push((
                vocab::MESSAGING_WHATSAPP_INTERACTIVE_TYPE.into(),
                "button_reply".into(),
            ));
            v.push((
                vocab::MESSAGING_WHATSAPP_INTERACTIVE_REPLY_ID.into(),
                Value::from(crate::redact::truncate(&crate::redact::text(id), 64)),
            ));
        }
        Content::ListReply { id, .. } => {
            v.push((
                vocab::MESSAGING_WHATSAPP_INTERACTIVE_TYPE.into(),
                "list_reply".into(),
            ));
            v.push((
                vocab::MESSAGING_WHATSAPP_INTERACTIVE_REPLY_ID.into(),
                Value::from(crate::redact::truncate(&crate::redact::text(id), 64)),
            ));
        }
        Content::Media {
            mime_type: Some(m), ..
        } => {
            v.push((
                vocab::MESSAGING_WHATSAPP_MEDIA_MIME_TYPE.into(),
                Value::from(crate::redact::truncate(
                    &whatsapp::redacted(m, |t| crate::redact::text(t).into_owned()),
                    64,
                )),
            ));
        }
        Content::InteractiveOther {
            interactive_type: Some(t),
        } => {
            v.push((
                vocab::MESSAGING_WHATSAPP_INTERACTIVE_TYPE.into(),
                Value::from(t.clone()),
            ));
        }
        Content::Unsupported { original_type } => {
            v.push((
                vocab::MESSAGING_WHATSAPP_MESSAGE_ORIGINAL_TYPE.into(),
                Value::from(original_type.clone()),
            ));
        }
        _ => {}
    }
    v
}

/// Inside the message's SERVER span: Meta's errors, service window and reaction feedback.
fn accept_message(#[allow(unused_variables)] st: &Inner, msg: &InboundMessage) {
    chatobs_metrics::conversation::inbound(msg.session().id(), "whatsapp", msg.content.type_name());
    for e in &msg.errors {
        whatsapp::report_error(e, "message");
    }
    if msg.user().is_empty() {
        return;
    }
    crate::cost::record_inbound(&crate::cost::Inbound {
        business: &msg.phone_number_id,
        user: msg.user(),
        at: msg.at(),
        entry_point: msg.entry_point,
    });
    #[cfg(feature = "evals")]
    if let (Some(fb), whatsapp::Content::Reaction { message_id, emoji }) =
        (&st.feedback, &msg.content)
    {
        match emoji.as_deref().map(Thumb::from_emoji) {
            Some(Some(thumb)) => reaction_feedback(fb, message_id, thumb),
            // Another emoji replaces the reaction, a removal takes it back:
            // either way the feedback it had given no longer holds.
            Some(None) | None => withdraw_feedback(fb, message_id),
        }
    }
}

/// Withdraws the feedback an earlier 👍 / 👎 to `wamid` gave (the user
/// removed their reaction or replaced it with another emoji).
#[cfg(feature = "evals")]
fn withdraw_feedback(fb: &FeedbackRecorder, wamid: &str) {
    let Some(hashed) = whatsapp::hashed_message_id(wamid) else {
        return;
    };
    if let Some(sent_by) = fb.span_of(wamid) {
        fb.register_sent(&hashed, sent_by);
    }
    if fb.withdraw_reaction(&hashed).is_none() {
        tracing::debug!(target: "chatobs::webhook", reason = "no_earlier_feedback", "reaction removal withdrew nothing");
    }
}

/// Records a 👍 / 👎 reaction to `wamid` against the span that sent it.
///
/// The recorder writes the id it is given into `feedback.wamid` (and into
/// its error): it is given the keyed hash, registered for the sending span
/// found with the raw id, so the raw wamid (which encodes the user's
/// number) stays in memory and `feedback.wamid` joins `messaging.message.id`.
#[cfg(feature = "evals")]
fn reaction_feedback(fb: &FeedbackRecorder, wamid: &str, thumb: Thumb) {
    let Some(hashed) = whatsapp::hashed_message_id(wamid) else {
        return;
    };
    let Some(sent_by) = fb.span_of(wamid) else {
        tracing::debug!(target: "chatobs::webhook", reason = "unknown_message", "reaction not recorded as feedback");
        return;
    };
    fb.register_sent(&hashed, sent_by);
    if let Err(err) = fb.record_for_wamid(&hashed, &Feedback::user(thumb)) {
        let reason = match err {
            crate::evals::feedback::FeedbackError::NoSpan => "no_span",
            _ => "unknown_message",
        };
        tracing::debug!(target: "chatobs::webhook", reason, "reaction not recorded as feedback");
    }
}

async fn process(st: Arc<Inner>, jobs: Vec<(Context, Job)>) {
    for (ctx, job) in jobs {
        // One task per job so a panicking handler loses only its message; in order.
        let st2 = st.clone();
        let svc = crate::current_service();
        let (job, turn) = match job {
            Job::Message(m, turn) => (Job::Message(m, None), turn),
            j => (j, None),
        };
        let fut = async move {
            match job {
                Job::Message(m, _) => {
                    if let Some(h) = &st2.on_message {
                        h(m).await;
                    }
                }
                Job::Status(s) => status_job(&st2, s).await,
            }
        };
        let trace = ctx.trace_id;
        let h = tokio::spawn(crate::with_service(svc, ctx.wrap(fut)));
        let panicked = match h.await {
            Err(e) if e.is_panic() => {
                tracing::error!(target: "chatobs::webhook", "webhook handler panicked");
                true
            }
            _ => false,
        };
        if let Some(mut t) = turn {
            if let Some(out) = crate::turn::finish(trace) {
                t.set_attribute(vocab::OUTPUT_VALUE, out);
                t.set_attribute(vocab::OUTPUT_MIME_TYPE, "text/plain");
            }
            if panicked {
                t.set_attribute(vocab::ERROR_TYPE, "panic");
                t.set_error(&"the message handler panicked");
            }
            // Ends the turn: the last reply has been sent.
        }
    }
}

async fn status_job(st: &Inner, s: StatusUpdate) {
    let mut b = SpanBuilder::new(vocab::WHATSAPP_STATUS_SPAN)
        .role(crate::Role::GATEWAY)
        // In the conversation (chat.session_id), not a turn of its session view.
        .attribute(vocab::CHAT_TURN, false)
        .attribute(vocab::MESSAGING_WHATSAPP_STATUS, s.status.clone());
    if let Some(id) = s.exported_id() {
        // The same hash as the message's: the callback joins the send.
        b = b.attribute(vocab::MESSAGING_MESSAGE_ID, id);
    }
    // Meta's pricing reconciles the estimate once; every callback links to the send.
    let sent: Option<(Option<crate::cost::WhatsAppCharge>, Context)> = s
        .pricing
        .as_ref()
        .and_then(|_| st.outbound.take(&s.id))
        .map(|(c, x)| (Some(c), x))
        .or_else(|| st.outbound.context_of(&s.id).map(|c| (None, c)));
    if let Some((_, ctx)) = &sent {
        if ctx.has_span() {
            b = b.link(ctx.trace_id, ctx.span_id, Vec::new());
        }
    }
    let mut span = b.start();
    span.in_scope(|| {
        if let Some(p) = &s.pricing {
            chatobs_core::current::set_attr(vocab::MESSAGING_WHATSAPP_BILLABLE, p.billable);
            match &sent {
                Some((Some(estimate), _)) => {
                    // The figure itself stays on the send span (and, when Meta's differs, on the
                    // reconciliation event): repeating it here would count it twice in sums.
                    let r = crate::cost::reconcile(estimate, p);
                    chatobs_core::current::set_attr(
                        vocab::MESSAGING_WHATSAPP_CATEGORY,
                        Value::from(r.meta_category.clone()),
                    );
                }
                _ => {
                    chatobs_core::current::set_attr(
                        vocab::MESSAGING_WHATSAPP_CATEGORY,
                        Value::from(crate::redact::truncate(&p.category, 32)),
                    );
                }
            }
            if let Some(t) = &p.pricing_type {
                chatobs_core::current::set_attr(
                    vocab::MESSAGING_WHATSAPP_PRICING_TYPE,
                    Value::from(crate::redact::truncate(t, 32)),
                );
            }
            if let Some(m) = &p.pricing_model {
                chatobs_core::current::set_attr(
                    vocab::MESSAGING_WHATSAPP_PRICING_MODEL,
                    Value::from(crate::redact::truncate(m, 8)),
                );
            }
        }
    });
    if let Some(e) = s.errors.first() {
        span.set_attribute(vocab::MESSAGING_WHATSAPP_ERROR_CODE, e.code);
        span.set_attribute(vocab::MESSAGING_WHATSAPP_ERROR_TITLE, e.title.clone());
        span.set_error(&format_args!(
            "message {}: {} {}",
            s.status, e.code, e.title
        ));
    }
    span.in_scope(|| {
        for e in &s.errors {
            whatsapp::report_error(e, "status");
        }
    });
    if let Some(h) = &st.on_status {
        span.in_future(h(s)).await;
    }
}
