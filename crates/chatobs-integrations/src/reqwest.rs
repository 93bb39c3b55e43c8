//! Outbound HTTP with reqwest: propagation, CLIENT spans and GenAI calls.
//!
//! [`SendTraced::send_traced`] replaces `RequestBuilder::send`, and
//! [`ChatobsMiddleware`] does the same for every request of a
//! `reqwest_middleware` client (so LLM SDKs and other crates you hand that
//! client are seen too):
//! - a CLIENT span named `{method} {host}` (`POST /{version}/{phone_number_id}/messages`
//!   for a WhatsApp send) with the HTTP client conventions
//!   (`http.request.method`, `url.full` with user info and credential-like
//!   query values such as `key=` redacted, `server.address`, `server.port`,
//!   `http.response.status_code`, `error.type` for 4xx/5xx and transport errors;
//!   a wamid in the URL, which encodes a phone number, is written as its keyed
//!   hash, see [`crate::whatsapp::scrub_message_ids`]; error messages never
//!   carry the URL);
//! - `traceparent` and `baggage` (the session id) injected, so a service
//!   behind [`super::axum::instrument`] continues the trace and the conversation;
//! - a Gemini `generateContent` / `streamGenerateContent` or
//!   OpenAI-compatible `/chat/completions` call becomes a GenAI span
//!   `chat {model}`: the usage in the answer is read and priced (see
//!   [`super::genai`]). The answer is read into memory to do so and handed
//!   back as an ordinary `reqwest::Response`; a streamed answer read this way
//!   records the time to the first chunk too. To consume a stream as it
//!   arrives, use [`send_streaming`], which records the same while you read.
//!
//! ```no_run
//! use chatobs_runtime::integrations::reqwest::SendTraced;
//! # async fn run() -> Result<(), reqwest::Error> {
//! let http = reqwest::Client::new();
//! let answer = http
//!     .post("http://127.0.0.1:8081/v1beta/models/gemini-1.5-flash:generateContent")
//!     .json(&serde_json::json!({"contents": [{"parts": [{"text": "hola"}]}]}))
//!     .send_traced()  // span `chat gemini-1.5-flash`, usage priced, traceparent sent
//!     .await?;
//! # let _ = answer; Ok(()) }
//! ```

use super::genai::{self, GenAiRequest, StreamUsage};
use crate::model::{OtelKind, Value};
use crate::span::{ChatSpan, SpanBuilder};
use crate::vocab;
use std::future::Future;
use std::time::Instant;

/// `send_traced()` for `reqwest::RequestBuilder`.
pub trait SendTraced {
    /// Sends the request inside a CLIENT span with the context propagated.
    fn send_traced(self) -> impl Future<Output = Result<reqwest::Response, reqwest::Error>> + Send;
}

impl SendTraced for reqwest::RequestBuilder {
    fn send_traced(self) -> impl Future<Output = Result<reqwest::Response, reqwest::Error>> + Send {
        let (client, req) = self.build_split();
        async move { execute(&client, req?).await }
    }
}

/// Sends `req` with `client` (what [`SendTraced::send_traced`] does).
pub async fn execute(
    client: &reqwest::Client,
    req: reqwest::Request,
) -> Result<reqwest::Response, reqwest::Error> {
    execute_via(req, |req| client.execute(req)).await
}

/// What a send can fail with: reqwest's error, or (through the middleware)
/// `reqwest_middleware`'s, which wraps it.
pub(crate) trait SendError: From<reqwest::Error> + std::fmt::Display {
    /// `error.type`: `timeout`, `connect`, `request` or `middleware`.
    fn kind(&self) -> &'static str;
    /// The error without the request URL (it may carry a key).
    fn without_url(self) -> Self;
}

impl SendError for reqwest::Error {
    fn kind(&self) -> &'static str {
        if self.is_timeout() {
            "timeout"
        } else if self.is_connect() {
            "connect"
        } else {
            "request"
        }
    }
    fn without_url(self) -> Self {
        reqwest::Error::without_url(self)
    }
}

/// Every request of a [`reqwest_middleware::ClientWithMiddleware`] gets
/// what [`SendTraced::send_traced`] gives one request (feature
/// `reqwest-middleware`): the CLIENT span, `traceparent` and `baggage`, the
/// `http.client.request.duration` metric, and for an LLM API (Gemini,
/// Chat Completions, Anthropic Messages, OpenAI Responses) the GenAI span
/// with its usage priced. A streamed answer reaches the caller as it
/// arrives; the span ends with the stream.
///
/// ```no_run
/// use chatobs_runtime::integrations::reqwest::ChatobsMiddleware;
/// # async fn run() -> Result<(), reqwest_middleware::Error> {
/// let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(ChatobsMiddleware)
///     .build();
/// // Any crate handed this client is traced, not only code that calls `send_traced`.
/// let answer = http
///     .post("http://127.0.0.1:8081/v1/messages")
///     .json(&serde_json::json!({"model": "claude-sonnet-4-5", "max_tokens": 64,
///         "messages": [{"role": "user", "content": "hola"}]}))
///     .send()
///     .await?;
/// # let _ = answer; Ok(()) }
/// ```
///
/// Put it last in the chain (after retries) to get one span per attempt,
/// first to get one span around all of them.
#[cfg(feature = "reqwest-middleware")]
#[derive(Clone, Copy, Debug, Default)]
pub struct ChatobsMiddleware;

/// The `reqwest-middleware` this crate was built with (to build a client
/// without adding the dependency yourself).
#[cfg(feature = "reqwest-middleware")]
pub use reqwest_middleware;

#[cfg(feature = "reqwest-middleware")]
impl SendError for reqwest_middleware::Error {
    fn kind(&self) -> &'static str {
        match self {
            reqwest_middleware::Error::Reqwest(e) => SendError::kind(e),
            reqwest_middleware::Error::Middleware(_) => "middleware",
        }
    }
    fn without_url(self) -> Self {
        match self {
            reqwest_middleware::Error::Reqwest(e) => {
                reqwest_middleware::Error::Reqwest(e.without_url())
            }
            m => m,
        }
    }
}

#[cfg(feature = "reqwest-middleware")]
#[async_trait::async_trait]
impl reqwest_middleware::Middleware for ChatobsMiddleware {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        execute_via(req, move |req| next.run(req, extensions)).await
    }
}

/// Sends `req` with `send` inside a CLIENT span: propagation, the client
/// metric, GenAI parsing. A streamed GenAI answer is handed back as it
/// arrives (its span ends with the stream); any other GenAI answer is read
/// first, then handed back unchanged.
pub(crate) async fn execute_via<E, F, Fut>(
    req: reqwest::Request,
    send: F,
) -> Result<reqwest::Response, E>
where
    E: SendError,
    F: FnOnce(reqwest::Request) -> Fut,
    Fut: Future<Output = Result<reqwest::Response, E>>,
{
    let graph = is_graph_messages(req.method().as_str(), req.url().path());
    let meta = Meta::of(&req);
    let parent = parent_span();
    let (mut span, genai, req) = start(req);
    let t0 = Instant::now();
    let res = send(req).await;
    let resp = match finish_head(&mut span, res, &meta, t0) {
        Ok(r) => r,
        Err(e) => return Err(e),
    };
    let Some(g) = genai else {
        if resp.status().as_u16() >= 400 && graph && span.is_recording() {
            return Ok(read_graph_error(&mut span, resp).await);
        }
        return Ok(resp);
    };
    if g.stream && resp.status().is_success() {
        return Ok(observed(resp, span, g, t0, parent));
    }
    // Read the answer to find its usage, then hand it back unchanged.
    let status = resp.status();
    let version = resp.version();
    let headers = resp.headers().clone();
    let mut resp = resp;
    let mut body = Vec::new();
    let mut stream = StreamUsage::for_request(&g);
    let retry_after = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(genai::retry_after_header);
    let mut first: Option<f64> = None;
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if first.is_none() {
                    first = Some(t0.elapsed().as_secs_f64());
                }
                if g.stream {
                    stream.push(&c);
                }
                body.extend_from_slice(&c);
            }
            Ok(None) => break,
            Err(e) => {
                let e = e.without_url();
                span.set_attribute(vocab::ERROR_TYPE, "body");
                span.set_error(&e);
                return Err(E::from(e));
            }
        }
    }
    let mut parsed = if g.stream && status.is_success() {
        stream.finish()
    } else {
        genai::parse_response_for(&g, &body)
    };
    if status.as_u16() >= 400 || parsed.error.is_some() {
        let e = parsed.error.get_or_insert_with(Default::default);
        if e.retry_after_seconds.is_none() {
            e.retry_after_seconds = retry_after;
        }
        if e.code.is_none() && status.as_u16() >= 400 {
            // Anthropic's error bodies carry no code: the HTTP status is it.
            e.code = Some(status.as_u16().to_string());
        }
    }
    span.set_attribute(vocab::HTTP_RESPONSE_BODY_SIZE, body.len() as u64);
    if status.is_success() && !g.stream {
        let finish = parsed.finish_reasons.first().map(String::as_str);
        for (k, v) in crate::genai_content::completion_attributes(g.api, &body, finish) {
            span.set_attribute(k, v);
        }
    }
    if parsed.usage.is_some() {
        crate::cost::priced::note_priced_under(parent);
    }
    span.in_scope(|| {
        genai::record_with_status(&g, &parsed, Some(status.as_u16()));
        if g.stream {
            if let Some(f) = first {
                chatobs_core::current::set_attr(vocab::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, f);
            }
        }
    });
    drop(span);
    let mut b = http::Response::builder().status(status).version(version);
    if let Some(h) = b.headers_mut() {
        *h = headers;
    }
    match b.body(body) {
        Ok(r) => Ok(reqwest::Response::from(r)),
        // Cannot happen (status and version came from a response); keep the body anyway.
        Err(_) => Ok(reqwest::Response::from(http::Response::new(Vec::new()))),
    }
}

/// Hands `resp` back with a body that feeds the stream reader as the
/// caller reads it; the span ends with the body (its end, an error, or the
/// response dropped), with the usage and the time to the first chunk.
fn observed(
    resp: reqwest::Response,
    span: ChatSpan,
    genai: GenAiRequest,
    t0: Instant,
    parent: chatobs_core::SpanId,
) -> reqwest::Response {
    let status = resp.status().as_u16();
    let usage = StreamUsage::for_request(&genai);
    let http: http::Response<reqwest::Body> = resp.into();
    let (parts, inner) = http.into_parts();
    let body = ObservedBody {
        inner,
        watch: std::sync::Mutex::new(Some(Watch {
            span,
            genai,
            usage,
            t0,
            first: None,
            status,
            bytes: 0,
            parent,
        })),
    };
    reqwest::Response::from(http::Response::from_parts(parts, reqwest::Body::wrap(body)))
}

/// What an [`ObservedBody`] records when its stream ends.
struct Watch {
    span: ChatSpan,
    genai: GenAiRequest,
    usage: StreamUsage,
    t0: Instant,
    first: Option<f64>,
    status: u16,
    bytes: u64,
    parent: chatobs_core::SpanId,
}

impl Watch {
    fn push(&mut self, chunk: &[u8]) {
        if self.first.is_none() {
            self.first = Some(self.t0.elapsed().as_secs_f64());
        }
        self.bytes = self.bytes.saturating_add(chunk.len() as u64);
        self.usage.push(chunk);
    }

    fn end(self, error: Option<&dyn std::fmt::Display>) {
        let Watch {
            mut span,
            genai,
            usage,
            first,
            status,
            bytes,
            parent,
            ..
        } = self;
        if let Some(e) = error {
            span.set_attribute(vocab::ERROR_TYPE, "body");
            span.set_error(e);
        }
        span.set_attribute(vocab::HTTP_RESPONSE_BODY_SIZE, bytes);
        let parsed = usage.finish();
        if parsed.usage.is_some() {
            crate::cost::priced::note_priced_under(parent);
        }
        span.in_scope(|| {
            genai::record_with_status(&genai, &parsed, Some(status));
            if let Some(f) = first {
                chatobs_core::current::set_attr(vocab::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, f);
            }
        });
    }
}

pin_project_lite::pin_project! {
    /// A response body read through the stream reader.
    struct ObservedBody<B> {
        #[pin]
        inner: B,
        // A span is Send, not Sync; reqwest's body must be both. Only ever
        // reached through `&mut` (`get_mut`), so never locked in contention.
        watch: std::sync::Mutex<Option<Watch>>,
    }

    impl<B> PinnedDrop for ObservedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before its end: what was read so far is recorded.
            let watch = this.project().watch.get_mut().unwrap_or_else(|e| e.into_inner());
            if let Some(w) = watch.take() {
                w.end(None);
            }
        }
    }
}

impl<B> http_body::Body for ObservedBody<B>
where
    B: http_body::Body<Data = bytes::Bytes>,
    B::Error: std::fmt::Display,
{
    type Data = bytes::Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, B::Error>>> {
        let this = self.project();
        let r = std::task::ready!(this.inner.poll_frame(cx));
        let watch = this.watch.get_mut().unwrap_or_else(|e| e.into_inner());
        match &r {
            Some(Ok(frame)) => {
                if let (Some(d), Some(w)) = (frame.data_ref(), watch.as_mut()) {
                    w.push(d);
                }
            }
            Some(Err(e)) => {
                if let Some(w) = watch.take() {
                    w.end(Some(e));
                }
            }
            None => {
                if let Some(w) = watch.take() {
                    w.end(None);
                }
            }
        }
        std::task::Poll::Ready(r)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A streamed LLM answer read chunk by chunk; the GenAI span ends (with the
/// time to the first chunk and the final usage) when the stream ends or is dropped.
#[derive(Debug)]
pub struct GenAiStream {
    resp: reqwest::Response,
    span: ChatSpan,
    genai: Option<GenAiRequest>,
    usage: StreamUsage,
    t0: Instant,
    first: Option<f64>,
    done: bool,
}

impl GenAiStream {
    /// HTTP status.
    pub fn status(&self) -> reqwest::StatusCode {
        self.resp.status()
    }
    /// The next chunk of the answer (`None` at the end).
    pub async fn chunk(&mut self) -> Result<Option<bytes::Bytes>, reqwest::Error> {
        if self.done {
            return Ok(None);
        }
        match self.resp.chunk().await {
            Ok(Some(c)) => {
                if self.first.is_none() {
                    self.first = Some(self.t0.elapsed().as_secs_f64());
                }
                self.usage.push(&c);
                Ok(Some(c))
            }
            Ok(None) => {
                self.end();
                Ok(None)
            }
            Err(e) => {
                let e = e.without_url();
                self.span.set_attribute(vocab::ERROR_TYPE, "body");
                self.span.set_error(&e);
                self.end();
                Err(e)
            }
        }
    }

    fn end(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let usage = std::mem::take(&mut self.usage).finish();
        let first = self.first;
        let status = self.resp.status().as_u16();
        if let Some(g) = &self.genai {
            self.span.in_scope(|| {
                genai::record_with_status(g, &usage, Some(status));
                if let Some(f) = first {
                    chatobs_core::current::set_attr(vocab::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, f);
                }
            });
        }
    }
}

impl Drop for GenAiStream {
    fn drop(&mut self) {
        self.end();
    }
}

/// Sends a request whose answer you want to read as it streams.
pub async fn send_streaming(
    builder: reqwest::RequestBuilder,
) -> Result<GenAiStream, reqwest::Error> {
    let (client, req) = builder.build_split();
    let req = req?;
    let meta = Meta::of(&req);
    let (mut span, genai, req) = start(req);
    let t0 = Instant::now();
    let resp = finish_head(&mut span, client.execute(req).await, &meta, t0)?;
    let usage = genai
        .as_ref()
        .map_or_else(StreamUsage::default, StreamUsage::for_request);
    Ok(GenAiStream {
        resp,
        span,
        genai,
        usage,
        t0,
        first: None,
        done: false,
    })
}

fn start(mut req: reqwest::Request) -> (ChatSpan, Option<GenAiRequest>, reqwest::Request) {
    let method = req.method().as_str().to_owned();
    let url = req.url().clone();
    let installed = chatobs_core::is_installed();
    let body = req.body().and_then(reqwest::Body::as_bytes);
    let genai = if installed {
        genai::recognize(&method, url.as_str(), body)
    } else {
        None
    };
    // Content capture (off by default): the prompt, or the WhatsApp reply sent.
    let content: Vec<crate::model::KeyValue> = match (&genai, body) {
        (Some(g), Some(b)) => crate::genai_content::prompt_attributes(g.api, b),
        (None, Some(b)) if installed && is_graph_messages(&method, url.path()) => {
            crate::turn::note_graph_send(b)
                .map(|t| {
                    vec![
                        (vocab::INPUT_VALUE.into(), t.into()),
                        (vocab::INPUT_MIME_TYPE.into(), "text/plain".into()),
                    ]
                })
                .unwrap_or_default()
        }
        _ => Vec::new(),
    };
    let name = match &genai {
        Some(g) => g.span_name(),
        None => client_span_name(&method, &url),
    };
    let mut b = SpanBuilder::new(name)
        .kind(OtelKind::Client)
        .attribute(
            vocab::HTTP_REQUEST_METHOD,
            super::http_metrics::method_label(&method),
        )
        .attribute(
            vocab::URL_FULL,
            // Graph API URLs may name a wamid: only its keyed hash leaves.
            crate::whatsapp::redacted(url.as_str(), crate::redact::url),
        );
    if let Some(h) = url.host_str() {
        b = b.attribute(vocab::SERVER_ADDRESS, h.to_owned());
    }
    if let Some(p) = url.port_or_known_default() {
        b = b.attribute(vocab::SERVER_PORT, i64::from(p));
    }
    if let Some(g) = &genai {
        b = b
            .attribute(vocab::GEN_AI_OPERATION_NAME, g.operation)
            .attribute(vocab::GEN_AI_PROVIDER_NAME, g.provider)
            .attribute(vocab::GEN_AI_REQUEST_MODEL, g.model.clone())
            .attribute(vocab::OPENINFERENCE_SPAN_KIND, "LLM");
        if g.stream {
            b = b.attribute(vocab::GEN_AI_REQUEST_STREAM, true);
        }
    }
    if let Some(s) = super::current_service() {
        b = b.attribute(vocab::CHAT_SERVICE_NAME, s);
    }
    let span = b.attributes(content).start();
    let ctx = if span.is_recording() {
        span.context()
    } else {
        crate::Context::current()
    };
    let headers = req.headers_mut();
    ctx.inject(|k, v| {
        if let (Ok(name), Ok(val)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(&v),
        ) {
            headers.insert(name, val);
        }
    });
    (span, genai, req)
}

/// The name of a plain CLIENT span, per the HTTP conventions: the method and
/// the route template when chatobs knows it (the WhatsApp send endpoint,
/// whose path names the business number), else the method and the host;
/// never the raw path (it may carry ids) and never a bare `POST`.
pub fn client_span_name(method: &str, url: &reqwest::Url) -> String {
    let m = super::http_metrics::method_label(method);
    if is_graph_messages(method, url.path()) {
        return format!("{m} /{{version}}/{{phone_number_id}}/messages");
    }
    match url.host_str() {
        Some(h) => format!("{m} {h}"),
        None => m.to_owned(),
    }
}

/// The span this request is sent from (its CLIENT span's parent): an SDK's
/// own GenAI span, when the SDK sends through this client.
fn parent_span() -> chatobs_core::SpanId {
    chatobs_core::current::ids().map_or(chatobs_core::SpanId::INVALID, |(_, s)| s)
}

/// What the client metric is labelled with (read before the request is sent).
struct Meta {
    method: &'static str,
    host: String,
}

impl Meta {
    fn of(req: &reqwest::Request) -> Meta {
        Meta {
            method: super::http_metrics::method_label(req.method().as_str()),
            host: req.url().host_str().unwrap_or("").to_owned(),
        }
    }
}

fn finish_head<E: SendError>(
    span: &mut ChatSpan,
    res: Result<reqwest::Response, E>,
    meta: &Meta,
    t0: Instant,
) -> Result<reqwest::Response, E> {
    // `http.client.request.duration`: to the response head (or the failure).
    chatobs_metrics::http_client::observe(
        meta.method,
        &meta.host,
        res.as_ref().ok().map(|r| r.status().as_u16()),
        t0.elapsed().as_secs_f64(),
    );
    match res {
        Ok(r) => {
            let code = r.status().as_u16();
            span.set_attribute(vocab::HTTP_RESPONSE_STATUS_CODE, i64::from(code));
            if code >= 400 {
                span.set_attribute(vocab::ERROR_TYPE, Value::from(code.to_string()));
                span.set_error(&format_args!("HTTP {code}"));
            }
            Ok(r)
        }
        Err(e) => {
            span.set_attribute(vocab::ERROR_TYPE, e.kind());
            // Without the URL: it may carry a key.
            let e = e.without_url();
            span.set_error(&e);
            Err(e)
        }
    }
}

/// Whether a request is a call to the WhatsApp Cloud API's send endpoint
/// (`POST /{version}/{phone-number-id}/messages`, on `graph.facebook.com` or
/// any host serving that path).
fn is_graph_messages(method: &str, path: &str) -> bool {
    let mut parts = path.split('/').skip(1);
    method.eq_ignore_ascii_case("POST")
        && matches!(
            (parts.next(), parts.next(), parts.next(), parts.next()),
            (Some(v), Some(id), Some("messages"), None)
                if v.starts_with('v') && !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
        )
}

/// Reads a Graph API error answer (`{"error": {"message", "type", "code",
/// "error_subcode", "error_data", "fbtrace_id"}}`): Meta's code, subcode and
/// type become span attributes, a `whatsapp.error` event, a WARN line and
/// the `chatobs_whatsapp_errors_total{scope="send"}` counter. The message
/// and details are not recorded (they can quote the recipient). The
/// answer is handed back unchanged.
async fn read_graph_error(span: &mut ChatSpan, resp: reqwest::Response) -> reqwest::Response {
    let status = resp.status();
    let version = resp.version();
    let headers = resp.headers().clone();
    // Error answers are small; read at most 64 KiB of it.
    let mut resp = resp;
    let mut body = Vec::new();
    while let Ok(Some(c)) = resp.chunk().await {
        if body.len() + c.len() > 64 * 1024 {
            break;
        }
        body.extend_from_slice(&c);
    }
    if let Some(e) = crate::whatsapp::graph_error(&body) {
        span.set_attribute(vocab::MESSAGING_WHATSAPP_ERROR_CODE, e.code);
        if let Some(sc) = e.subcode {
            span.set_attribute(vocab::MESSAGING_WHATSAPP_ERROR_SUBCODE, sc);
        }
        if let Some(t) = &e.error_type {
            span.set_attribute(vocab::MESSAGING_WHATSAPP_ERROR_TYPE, Value::from(t.clone()));
        }
        span.set_attribute(
            vocab::MESSAGING_WHATSAPP_ERROR_TITLE,
            Value::from(e.title.clone()),
        );
        span.in_scope(|| crate::whatsapp::report_error(&e, "send"));
    }
    let mut b = http::Response::builder().status(status).version(version);
    if let Some(h) = b.headers_mut() {
        *h = headers;
    }
    match b.body(body) {
        Ok(r) => reqwest::Response::from(r),
        Err(_) => reqwest::Response::from(http::Response::new(Vec::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::client_span_name;

    #[test]
    fn client_span_names_carry_a_template_or_the_host() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        assert_eq!(
            client_span_name(
                "POST",
                &u("https://graph.facebook.com/v21.0/106540352242922/messages")
            ),
            "POST /{version}/{phone_number_id}/messages"
        );
        assert_eq!(
            client_span_name(
                "GET",
                &u("https://crm.example.com/customers/573001234567?x=1")
            ),
            "GET crm.example.com"
        );
        assert_eq!(
            client_span_name("BREW", &u("http://127.0.0.1:8080/")),
            "_OTHER 127.0.0.1"
        );
    }
}
