//! axum: the WhatsApp webhook, SERVER spans, HTTP server metrics, health routes.
//!
//! ```no_run
//! use axum::{routing::post, Router};
//! use chatobs_runtime::integrations::axum::{health_router, instrument, ServerOptions, WebhookConfig, WhatsAppWebhook};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let _guard = chatobs_runtime::init(chatobs_runtime::Config::load()?)?;
//! // WHATSAPP_APP_SECRET and WHATSAPP_VERIFY_TOKEN come from the environment.
//! let webhook = WhatsAppWebhook::new(WebhookConfig::from_env())
//!     .on_message(|msg| async move {
//!         // Runs after Meta got its 200, inside the message's SERVER span
//!         // context and conversation: #[chat_span] functions and logs here carry both.
//!         tracing::info!(kind = msg.content.type_name(), "message received");
//!     });
//! let app = instrument(Router::new().route("/orders", post(|| async { "ok" })), ServerOptions::default())
//!     .merge(webhook.router())
//!     .merge(health_router(chatobs_runtime::integrations::health::HealthConfig::default()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! # The webhook
//!
//! `GET /webhook/whatsapp` answers Meta's verification handshake
//! (`hub.mode=subscribe`, `hub.verify_token` compared in constant time with
//! `WHATSAPP_VERIFY_TOKEN`, `hub.challenge` echoed) or 403.
//!
//! `POST /webhook/whatsapp`, in this order: a declared or actual body above
//! `max_body_bytes` is refused with 413 before it is read whole; the
//! `X-Hub-Signature-256` of the raw body is checked against
//! `WHATSAPP_APP_SECRET` in constant time (401 when missing or wrong); the
//! body is parsed (400 with the reason, for example `malformed JSON: syntax
//! error at line 1 column 12`, which never quotes the body). Then Meta gets
//! its 200 at once and the batch is processed in a background task. A
//! refused request leaves one SERVER span and one log line with the status
//! and `error.type`, and nothing of the body.
//!
//! For each inbound message: a SERVER span `POST /webhook/whatsapp` with the
//! HTTP server attributes (`http.request.method`, `http.route`, `url.path`,
//! `server.address`, `http.response.status_code`, request headers under
//! `http.request.header.*` with `Authorization`, `Cookie`,
//! `X-Hub-Signature-256` and the configured `redaction.headers` written as
//! `[REDACTED]`), the messaging attributes (`messaging.system`,
//! `messaging.message.id`, `messaging.whatsapp.message.type`, ...; never
//! the text, caption, coordinates or numbers), the conversation
//! ([`crate::ChatSession::for_whatsapp`]), a `traceparent` sent by the
//! caller continued, the message recorded for the customer service window
//! ([`crate::cost::record_inbound`]) and a 👍 / 👎 reaction turned into
//! user feedback when a [`FeedbackRecorder`] is attached. Your `on_message`
//! handler then runs in that span's context and conversation.
//!
//! For each status callback: a SERVER span, then a `whatsapp.status` span
//! in which Meta's `pricing` is reconciled with the estimate registered in
//! [`WhatsAppWebhook::outbound`] when the message was sent
//! ([`crate::cost::reconcile`]); a `failed` status records Meta's error code
//! and title and marks that span as an error; your `on_status` handler runs inside it.

use super::health::{self, HealthConfig};
use super::http_metrics;
use super::whatsapp::{
    self, InboundMessage, OutboundRegistry, StatusUpdate, APP_SECRET_ENV, SIGNATURE_HEADER,
    VERIFY_TOKEN_ENV,
};
use crate::context::Context;
#[cfg(feature = "evals")]
use crate::evals::{Feedback, FeedbackRecorder, Thumb};
use crate::model::{OtelKind, Value};
use crate::span::{ChatSpan, SpanBuilder};
use crate::vocab;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// The route of the webhook.
pub const WEBHOOK_PATH: &str = "/webhook/whatsapp";
/// Default body limit (Meta's payloads are a few KiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;

type BoxFut = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

static WEBHOOK_ROUTES: RwLock<Vec<String>> = RwLock::new(Vec::new());

fn is_webhook_route(route: &str) -> bool {
    WEBHOOK_ROUTES
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|r| r == route)
}

// ---- request attributes ------------------------------------------------------------

struct ReqInfo {
    method: &'static str,
    route: String,
    attrs: Vec<(Cow<'static, str>, Value)>,
    parent: Context,
}

/// `http.request.header.<name>`, interned: header names repeat, so each
/// key is allocated once (at most 256 names are kept; others are built per use).
fn header_key(name: &str) -> Cow<'static, str> {
    static KEYS: std::sync::OnceLock<
        std::sync::RwLock<std::collections::HashMap<String, &'static str>>,
    > = std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(Default::default);
    if let Some(k) = keys.read().unwrap_or_else(|e| e.into_inner()).get(name) {
        return Cow::Borrowed(k);
    }
    let key = format!("{}{name}", vocab::HTTP_REQUEST_HEADER_PREFIX);
    let mut w = keys.write().unwrap_or_else(|e| e.into_inner());
    if w.len() >= 256 {
        return Cow::Owned(key);
    }
    let leaked: &'static str = Box::leak(key.into_boxed_str());
    w.insert(name.to_owned(), leaked);
    Cow::Borrowed(leaked)
}

/// `{method} {route template}`, interned (both are bounded sets: at most
/// 256 names are kept, others are built per use).
fn span_name(method: &'static str, route: &str) -> Cow<'static, str> {
    type Names =
        std::collections::HashMap<&'static str, std::collections::HashMap<String, &'static str>>;
    static NAMES: std::sync::OnceLock<std::sync::RwLock<(usize, Names)>> =
        std::sync::OnceLock::new();
    let names = NAMES.get_or_init(Default::default);
    if let Some(k) = names
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .1
        .get(method)
        .and_then(|m| m.get(route))
    {
        return Cow::Borrowed(k);
    }
    let name = format!("{method} {route}");
    let mut w = names.write().unwrap_or_else(|e| e.into_inner());
    if w.0 >= 256 {
        return Cow::Owned(name);
    }
    let leaked: &'static str = Box::leak(name.into_boxed_str());
    w.0 += 1;
    w.1.entry(method)
        .or_default()
        .insert(route.to_owned(), leaked);
    Cow::Borrowed(leaked)
}

fn req_info(
    method: &str,
    uri: &axum::http::Uri,
    version: axum::http::Version,
    headers: &HeaderMap,
    route: &str,
) -> ReqInfo {
    let method = http_metrics::method_label(method);
    let mut attrs: Vec<(Cow<'static, str>, Value)> = Vec::with_capacity(12 + headers.len());
    attrs.push((vocab::HTTP_REQUEST_METHOD.into(), method.into()));
    attrs.push((vocab::HTTP_ROUTE.into(), Value::from(route.to_owned())));
    attrs.push((
        vocab::URL_SCHEME.into(),
        match uri.scheme_str() {
            None | Some("http") => Value::from("http"),
            Some("https") => Value::from("https"),
            Some(other) => Value::from(other.to_owned()),
        },
    ));
    attrs.push((
        vocab::URL_PATH.into(),
        Value::from(crate::redact::text(uri.path()).into_owned()),
    ));
    if let Some(q) = uri.query() {
        let red = crate::redact::url(&format!("/?{q}"));
        let q = red.split_once('?').map_or("", |(_, q)| q).to_owned();
        attrs.push((vocab::URL_QUERY.into(), q.into()));
    }
    if let Some(host) = headers.get("host").and_then(|h| h.to_str().ok()) {
        let (h, p) = match host.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (h, p.parse::<i64>().ok()),
            _ => (host, None),
        };
        attrs.push((vocab::SERVER_ADDRESS.into(), h.to_owned().into()));
        if let Some(p) = p {
            attrs.push((vocab::SERVER_PORT.into(), p.into()));
        }
    }
    let v = match version {
        axum::http::Version::HTTP_10 => "1.0",
        axum::http::Version::HTTP_11 => "1.1",
        axum::http::Version::HTTP_2 => "2",
        axum::http::Version::HTTP_3 => "3",
        _ => "",
    };
    if !v.is_empty() {
        attrs.push((vocab::NETWORK_PROTOCOL_VERSION.into(), v.into()));
    }
    if let Some(ua) = headers.get("user-agent").and_then(|h| h.to_str().ok()) {
        attrs.push((
            vocab::USER_AGENT_ORIGINAL.into(),
            Value::from(crate::redact::truncate(&crate::redact::text(ua), 256)),
        ));
    }
    for (name, value) in headers {
        let n = name.as_str();
        // `baggage` may carry anything a caller put there: the session it carries is
        // taken through the context (bounded, validated), the rest is not exported.
        if n == "host"
            || n == "user-agent"
            || n == "baggage"
            || !crate::redact::is_recorded_request_header(n)
        {
            continue;
        }
        let v = if crate::redact::is_redacted_header(n) {
            Cow::Borrowed(crate::redact::REDACTED)
        } else {
            let v = value.to_str().unwrap_or("[binary]");
            Cow::Owned(crate::redact::truncate(
                &crate::redact::redact_free_text(v),
                256,
            ))
        };
        attrs.push((header_key(n), Value::StrArray(vec![v])));
    }
    if let Some(s) = super::current_service() {
        attrs.push((vocab::CHAT_SERVICE_NAME.into(), s.into()));
    }
    let parent = Context::extract(|k| headers.get(k).and_then(|v| v.to_str().ok()));
    ReqInfo {
        method,
        route: route.to_owned(),
        attrs,
        parent,
    }
}

impl ReqInfo {
    /// A SERVER span with the request's attributes and `extra`; `last` moves
    /// the request's attributes into it instead of copying them (the last
    /// message of a batch, or the only span of a request).
    fn span(
        &mut self,
        last: bool,
        session: Option<crate::ChatSession>,
        extra: Vec<(Cow<'static, str>, Value)>,
    ) -> ChatSpan {
        let mut b = SpanBuilder::new(span_name(self.method, &self.route)).kind(OtelKind::Server);
        if self.parent.has_span() || self.parent.session.is_some() {
            b = b.parent(self.parent.clone());
        }
        if let Some(s) = session {
            b = b.session(s);
        }
        if last {
            b = b.attributes(std::mem::take(&mut self.attrs));
        } else {
            b = b.attributes(self.attrs.iter().cloned());
        }
        b.attributes(extra).start()
    }
}

fn set_status(span: &mut ChatSpan, status: u16, error_type: Option<&'static str>) {
    span.set_attribute(vocab::HTTP_RESPONSE_STATUS_CODE, i64::from(status));
    if let Some(e) = error_type {
        span.set_attribute(vocab::ERROR_TYPE, e);
    } else if status >= 500 {
        span.set_attribute(vocab::ERROR_TYPE, Value::from(status.to_string()));
    }
    if status >= 500 {
        span.set_error(&format_args!("HTTP {status}"));
    }
}

// ---- generic server layer ------------------------------------------------------------

/// Options of [`instrument`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerOptions {
    /// Written as `chat.service.name` on the SERVER spans and on CLIENT
    /// spans made while handling (when several services share a process).
    pub service: Option<&'static str>,
}

/// Instruments every route of `router` (call it after adding them): a
/// SERVER span `{method} {route template}` per request that continues the
/// caller's `traceparent` and conversation (`baggage`), redacted request
/// headers, `http.response.status_code`, and the HTTP server metrics.
pub fn instrument<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    opts: ServerOptions,
) -> Router<S> {
    if !router.has_routes() {
        return router;
    }
    router.route_layer(axum::middleware::from_fn_with_state(opts, server_layer))
}

async fn server_layer(State(opts): State<ServerOptions>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "_OTHER".to_owned(), |m| m.as_str().to_owned());
    if is_webhook_route(&route) {
        return next.run(req).await;
    }
    super::with_service(opts.service, async move {
        let t0 = Instant::now();
        let method = req.method().as_str().to_owned();
        let mut span = if chatobs_core::is_installed() {
            let mut info = req_info(&method, req.uri(), req.version(), req.headers(), &route);
            info.span(true, None, Vec::new())
        } else {
            ChatSpan::none()
        };
        let resp = span.in_future(next.run(req)).await;
        let status = resp.status().as_u16();
        set_status(&mut span, status, None);
        drop(span);
        http_metrics::record_server_request(&method, &route, status, t0.elapsed());
        resp
    })
    .await
}

// ---- health ------------------------------------------------------------------------------

/// `/health` (liveness) and `/health/ready` (readiness), see [`super::health`].
pub fn health_router<S: Clone + Send + Sync + 'static>(cfg: HealthConfig) -> Router<S> {
    let cfg = Arc::new(cfg);
    Router::new()
        .route(
            "/health",
            axum::routing::get(|| async { axum::Json(health::liveness_json()) }),
        )
        .route(
            "/health/ready",
            axum::routing::get(move || {
                let cfg = cfg.clone();
                async move {
                    let r = health::readiness(&cfg);
                    let code = StatusCode::from_u16(r.status_code())
                        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                    (code, axum::Json(r.to_json()))
                }
            }),
        )
}

// ---- webhook -------------------------------------------------------------------------------

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
    super::with_service(st.cfg.service, async move {
        let q = req.uri().query().unwrap_or("");
        let mut mode = None;
        let mut token = None;
        let mut challenge = None;
        for kv in q.split('&') {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match k {
                "hub.mode" => mode = Some(v),
                "hub.verify_token" => token = Some(v),
                "hub.challenge" => challenge = Some(v),
                _ => {}
            }
        }
        let ok = matches!((mode, token, &st.cfg.verify_token), (Some("subscribe"), Some(t), Some(exp)) if ct_eq(t.as_bytes(), exp.as_bytes()));
        let challenge = challenge
            .filter(|c| !c.is_empty() && c.len() <= 256 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let (status, body, err) = match (ok, challenge) {
            (true, Some(c)) => (StatusCode::OK, c.to_owned(), None),
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
    super::with_service(svc, receive_inner(st, req)).await
}

async fn receive_inner(st: Arc<Inner>, req: Request) -> Response {
    let t0 = Instant::now();
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
    for (i, msg) in batch.messages.into_iter().enumerate() {
        let ctx = if let Some(info) = &mut info {
            let mut extra = message_attrs(&msg);
            extra.push((vocab::MESSAGING_BATCH_MESSAGE_COUNT.into(), count.into()));
            let last = i + 1 == n_msg && n_st == 0;
            let mut span = info.span(last, Some(msg.session().clone()), extra);
            set_status(&mut span, 200, None);
            span.in_scope(|| accept_message(&st, &msg));
            span.context()
        } else {
            msg.session().in_scope(|| accept_message(&st, &msg));
            Context::for_session(msg.session().clone())
        };
        jobs.push((ctx, Job::Message(msg)));
    }
    for (i, status) in batch.statuses.into_iter().enumerate() {
        let ctx = if let Some(info) = &mut info {
            let extra = vec![
                (vocab::MESSAGING_SYSTEM.into(), "whatsapp".into()),
                (vocab::MESSAGING_OPERATION_TYPE.into(), "receive".into()),
                (
                    vocab::MESSAGING_MESSAGE_ID.into(),
                    Value::from(status.id.clone()),
                ),
                (
                    vocab::MESSAGING_WHATSAPP_STATUS.into(),
                    Value::from(status.status.clone()),
                ),
                (vocab::MESSAGING_BATCH_MESSAGE_COUNT.into(), count.into()),
            ];
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
        let svc = super::current_service();
        tokio::spawn(super::with_service(svc, process(st.clone(), jobs)));
    }
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"status": "accepted", "messages": n_msg, "statuses": n_st})),
    )
        .into_response()
}

enum Job {
    Message(InboundMessage),
    Status(StatusUpdate),
}

fn message_attrs(msg: &InboundMessage) -> Vec<(Cow<'static, str>, Value)> {
    use whatsapp::Content;
    let mut v: Vec<(Cow<'static, str>, Value)> = vec![
        (vocab::MESSAGING_SYSTEM.into(), "whatsapp".into()),
        (vocab::MESSAGING_OPERATION_TYPE.into(), "receive".into()),
        (
            vocab::MESSAGING_MESSAGE_ID.into(),
            Value::from(msg.id.clone()),
        ),
        (
            vocab::MESSAGING_WHATSAPP_MESSAGE_TYPE.into(),
            msg.content.type_name().into(),
        ),
    ];
    if msg.entry_point {
        v.push((vocab::MESSAGING_WHATSAPP_ENTRY_POINT.into(), true.into()));
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
                Value::from(crate::redact::truncate(m, 64)),
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

/// Inside the message's SERVER span: service window and reaction feedback.
fn accept_message(#[allow(unused_variables)] st: &Inner, msg: &InboundMessage) {
    if msg.wa_id.is_empty() {
        return;
    }
    crate::cost::record_inbound(&crate::cost::Inbound {
        business: &msg.phone_number_id,
        user: &msg.wa_id,
        at: msg.at(),
        entry_point: msg.entry_point,
    });
    #[cfg(feature = "evals")]
    if let (
        Some(fb),
        whatsapp::Content::Reaction {
            message_id,
            emoji: Some(e),
        },
    ) = (&st.feedback, &msg.content)
    {
        if let Some(thumb) = Thumb::from_emoji(e) {
            if let Err(err) = fb.record_for_wamid(message_id, &Feedback::user(thumb)) {
                tracing::debug!(target: "chatobs::webhook", error = %err, "reaction not recorded as feedback");
            }
        }
    }
}

async fn process(st: Arc<Inner>, jobs: Vec<(Context, Job)>) {
    for (ctx, job) in jobs {
        // One task per job so a panicking handler loses only its message; in order.
        let st2 = st.clone();
        let svc = super::current_service();
        let fut = async move {
            match job {
                Job::Message(m) => {
                    if let Some(h) = &st2.on_message {
                        h(m).await;
                    }
                }
                Job::Status(s) => status_job(&st2, s).await,
            }
        };
        let h = tokio::spawn(super::with_service(svc, ctx.wrap(fut)));
        if let Err(e) = h.await {
            if e.is_panic() {
                tracing::error!(target: "chatobs::webhook", "webhook handler panicked");
            }
        }
    }
}

async fn status_job(st: &Inner, s: StatusUpdate) {
    let mut b = SpanBuilder::new(vocab::WHATSAPP_STATUS_SPAN)
        .role(crate::Role::GATEWAY)
        .attribute(vocab::MESSAGING_MESSAGE_ID, s.id.clone())
        .attribute(vocab::MESSAGING_WHATSAPP_STATUS, s.status.clone());
    let sent: Option<(Option<crate::cost::WhatsAppCharge>, Context)> = if s.pricing.is_some() {
        st.outbound.take(&s.id).map(|(c, x)| (Some(c), x))
    } else {
        st.outbound.context_of(&s.id).map(|c| (None, c))
    };
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
        span.in_scope(
            || tracing::warn!(target: "chatobs::webhook", code = e.code, "WhatsApp message failed"),
        );
    }
    if let Some(h) = &st.on_status {
        span.in_future(h(s)).await;
    }
}
