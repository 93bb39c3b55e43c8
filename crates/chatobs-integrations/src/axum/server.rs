//! SERVER spans for any router ([`instrument`]): request attributes,
//! recorded and redacted request headers, status, HTTP server metrics.

use crate::context::Context;
use crate::http_metrics;
use crate::model::{OtelKind, Value};
use crate::span::{ChatSpan, SpanBuilder};
use crate::vocab;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use std::borrow::Cow;
use std::sync::RwLock;
use std::time::Instant;

/// Routes of the WhatsApp webhooks, which start their own SERVER spans:
/// the layer of [`instrument`] leaves them alone.
pub(super) static WEBHOOK_ROUTES: RwLock<Vec<String>> = RwLock::new(Vec::new());

fn is_webhook_route(route: &str) -> bool {
    WEBHOOK_ROUTES
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|r| r == route)
}

// ---- request attributes ------------------------------------------------------------

/// A request's SERVER spans: its caller's context, taken at once, and its
/// attributes, built only for the first span that records (a request whose
/// spans the sampler drops builds none: no header copies, no redaction).
pub(super) struct ReqInfo<'a> {
    method: &'static str,
    route: &'a str,
    uri: &'a axum::http::Uri,
    version: axum::http::Version,
    headers: &'a HeaderMap,
    /// Built by the first recording span and kept for the next ones.
    attrs: Option<Vec<(Cow<'static, str>, Value)>>,
    parent: Context,
}

/// A recorded header's value as exported: wamids hashed, free text
/// redacted, at most 256 bytes; one copy when there is nothing to change.
fn header_text(v: &str) -> String {
    let red = crate::whatsapp::redacted_cow(v, crate::redact::redact_free_text);
    if red.len() <= 256 {
        red.into_owned()
    } else {
        crate::redact::truncate(&red, 256)
    }
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

/// Free text as it may be exported: phone numbers and e-mail addresses
/// redacted, wamids replaced by their keyed hash.
fn text(s: &str) -> Cow<'_, str> {
    crate::whatsapp::redacted_cow(s, crate::redact::text)
}

pub(super) fn req_info<'a>(
    method: &str,
    uri: &'a axum::http::Uri,
    version: axum::http::Version,
    headers: &'a HeaderMap,
    route: &'a str,
) -> ReqInfo<'a> {
    let method = http_metrics::method_label(method);
    let parent = crate::propagation::without_personal_session(Context::extract(|k| {
        headers.get(k).and_then(|v| v.to_str().ok())
    }));
    ReqInfo {
        method,
        route,
        uri,
        version,
        headers,
        attrs: None,
        parent,
    }
}

/// The request's span attributes (method, route, URL, host, protocol, user
/// agent, the recorded headers redacted).
fn request_attrs(
    method: &'static str,
    uri: &axum::http::Uri,
    version: axum::http::Version,
    headers: &HeaderMap,
    route: &str,
) -> Vec<(Cow<'static, str>, Value)> {
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
    // Paths, queries and header values may name a wamid (`/messages/wamid.HBgM...`):
    // only its keyed hash is exported (see `whatsapp::redacted`).
    attrs.push((
        vocab::URL_PATH.into(),
        Value::from(text(uri.path()).into_owned()),
    ));
    if let Some(q) = uri.query() {
        let red = crate::whatsapp::redacted(&format!("/?{q}"), crate::redact::url);
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
            Value::from(crate::redact::truncate(&text(ua), 256)),
        ));
    }
    for (name, value) in headers {
        let n = name.as_str();
        // `baggage` may carry anything a caller put there: the session it carries is
        // taken through the context (bounded, validated), the rest is not exported.
        if n == "host" || n == "user-agent" || n == "baggage" {
            continue;
        }
        let v = match crate::redact::request_header(n) {
            crate::redact::RequestHeader::NotRecorded => continue,
            crate::redact::RequestHeader::Redacted => Cow::Borrowed(crate::redact::REDACTED),
            crate::redact::RequestHeader::Recorded => {
                let v = value.to_str().unwrap_or("[binary]");
                Cow::Owned(header_text(v))
            }
        };
        attrs.push((header_key(n), Value::StrArray(vec![v])));
    }
    if let Some(s) = crate::current_service() {
        attrs.push((vocab::CHAT_SERVICE_NAME.into(), s.into()));
    }
    attrs
}

impl ReqInfo<'_> {
    /// A SERVER span with the request's attributes and `extra`; `last` moves
    /// the request's attributes into it instead of copying them (the last
    /// message of a batch, or the only span of a request).
    pub(super) fn span(
        &mut self,
        last: bool,
        session: Option<crate::ChatSession>,
        extra: Vec<(Cow<'static, str>, Value)>,
    ) -> ChatSpan {
        let b = self.builder(session, extra);
        self.start(b, last)
    }

    /// Starts `b` (from [`builder`](Self::builder)) and, when the sampler
    /// kept it, adds the request's attributes (built now if no span of this
    /// request recorded before; `last` as in [`span`](Self::span)).
    pub(super) fn start(&mut self, b: SpanBuilder, last: bool) -> ChatSpan {
        let mut span = b.start();
        if span.is_recording() {
            let attrs = self.attrs.take().unwrap_or_else(|| {
                request_attrs(
                    self.method,
                    self.uri,
                    self.version,
                    self.headers,
                    self.route,
                )
            });
            if last {
                span.extend_attributes(attrs);
            } else {
                span.extend_attributes(attrs.iter().cloned());
                self.attrs = Some(attrs);
            }
        }
        span
    }

    /// The request's remote parent (a `traceparent` the caller sent), if any.
    pub(super) fn remote_parent(&self) -> Option<&Context> {
        (self.parent.has_span() || self.parent.session.is_some()).then_some(&self.parent)
    }

    /// [`span`](Self::span) without the request's attributes, not started
    /// yet (the webhook adds a parent or links); start it with
    /// [`start`](Self::start).
    pub(super) fn builder(
        &self,
        session: Option<crate::ChatSession>,
        extra: Vec<(Cow<'static, str>, Value)>,
    ) -> SpanBuilder {
        let mut b = SpanBuilder::new(span_name(self.method, self.route)).kind(OtelKind::Server);
        if self.parent.has_span() || self.parent.session.is_some() {
            b = b.parent(self.parent.clone());
        }
        if let Some(s) = session {
            b = b.session(s);
        }
        b.attributes(extra)
    }
}

pub(super) fn set_status(span: &mut ChatSpan, status: u16, error_type: Option<&'static str>) {
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
    crate::with_service(opts.service, async move {
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
