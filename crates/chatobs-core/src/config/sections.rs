//! The core's sections: `[service]`, `[exporter]`, `[sampling]`, `[logs]`,
//! `[tracing]`, `[redaction]`, `[session]`, and the secret-header rule they share.

use super::{env_value, Env, Errors, Section};
use crate::span::{RootSampler, Sampler};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Decodes `%XX` escapes (OTLP header and resource attribute values are
/// percent-encoded). `None` when an escape is malformed or the result is not
/// UTF-8; never panics, whatever the input.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let hi = b.get(i + 1).copied().and_then(hex)?;
            let lo = b.get(i + 2).copied().and_then(hex)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Header names that carry credentials (refused in files, redacted everywhere):
/// `authorization`, `proxy-authorization`, `cookie`, `set-cookie`, and any name
/// containing `api-key`, `api_key`, `apikey`, `token`, `secret`, `password`,
/// `passwd`, `credential`, `auth`, `signature` or `session`, or ending in
/// `key` (`x-insert-key`, `x-license-key`), plus vendor headers whose names
/// say none of that (`x-honeycomb-team`).
pub fn is_secret_header(name: &str) -> bool {
    let has = |needle: &str| {
        name.as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    };
    let n = name.trim();
    ["cookie", "set-cookie", "x-honeycomb-team"]
        .iter()
        .any(|h| n.eq_ignore_ascii_case(h))
        || [
            "api-key",
            "api_key",
            "apikey",
            "token",
            "secret",
            "password",
            "passwd",
            "credential",
            "auth",
            "signature",
            "session",
        ]
        .iter()
        .any(|needle| has(needle))
        // Bytes, not a `str` slice: a name may end in a multi-byte character.
        || (n.len() >= 3 && n.as_bytes()[n.len() - 3..].eq_ignore_ascii_case(b"key"))
}

/// Why `url` must not be written in a file: it carries a password in its
/// user info (`https://user:pass@host`) or a credential in its query
/// (`?token=...`, `?api_key=...`, `?sig=...`). `None` when it carries none.
/// Credentials belong in the environment (a header variable), never in a
/// file that ends up in a repository.
pub fn url_credentials(url: &str) -> Option<&'static str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Some("it carries user info (user:password@): pass credentials in a header from the environment instead");
    }
    let query = url
        .split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or(q));
    let secret_param = |k: &str| {
        let k = k.to_ascii_lowercase();
        ["key", "sig", "code", "auth", "pass"].contains(&k.as_str())
            || is_secret_header(&k)
            || k.ends_with("_key")
    };
    if query.is_some_and(|q| {
        q.split('&')
            .any(|kv| secret_param(kv.split_once('=').map_or(kv, |(k, _)| k)))
    }) {
        return Some("its query carries a credential (token, key, signature, ...): pass it in a header from the environment instead");
    }
    None
}

// ---- [service] -------------------------------------------------------------------------------

/// `[service]`: resource attributes.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// `service.name`.
    pub name: String,
    /// `service.version`.
    pub version: String,
    /// `deployment.environment`.
    pub environment: String,
    /// Every other resource attribute (`openinference.project.name` chooses a
    /// Phoenix project, `service.namespace`, `host.name`, ...): from the file
    /// and from every pair of `OTEL_RESOURCE_ATTRIBUTES`.
    pub attributes: BTreeMap<String, String>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            name: "chatobs-app".into(),
            version: "0.0.0".into(),
            environment: "development".into(),
            attributes: BTreeMap::new(),
        }
    }
}

impl Section for ServiceConfig {
    const KEY: &'static str = "service";

    fn apply_env(&mut self, env: Env<'_>, errs: &mut Errors) {
        let service_name = env_value(env, "OTEL_SERVICE_NAME");
        if let Some(v) = &service_name {
            self.name = v.clone();
        }
        if let Some(v) = env_value(env, "OTEL_RESOURCE_ATTRIBUTES") {
            for (i, pair) in v.split(',').enumerate() {
                let pair = pair.trim();
                if pair.is_empty() {
                    continue;
                }
                let Some((k, val)) = pair.split_once('=') else {
                    errs.push_env(
                        "OTEL_RESOURCE_ATTRIBUTES",
                        format!("pair {} has no `=`: expected key=value pairs separated by commas (values are not shown here)", i + 1),
                    );
                    continue;
                };
                let Some(val) = percent_decode(val.trim()) else {
                    errs.push_env(
                        "OTEL_RESOURCE_ATTRIBUTES",
                        format!("the value of {:?} is not valid percent-encoded UTF-8 (write `%2C` for a comma, `%25` for `%`)", k.trim()),
                    );
                    continue;
                };
                match k.trim() {
                    "" => errs.push_env(
                        "OTEL_RESOURCE_ATTRIBUTES",
                        format!("pair {} has an empty key", i + 1),
                    ),
                    "service.name" if service_name.is_none() => self.name = val,
                    "service.name" => {}
                    "service.version" => self.version = val,
                    "deployment.environment" | "deployment.environment.name" => {
                        self.environment = val
                    }
                    key => {
                        self.attributes.insert(key.to_owned(), val);
                    }
                }
            }
        }
    }

    fn validate(&self, errs: &mut Errors) {
        if self.name.trim().is_empty() {
            errs.push("service.name", "must not be empty");
        }
    }
}

// ---- [exporter] ------------------------------------------------------------------------------

/// Exporter kinds.
#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExporterKind {
    /// OTLP when an endpoint is configured, else the file.
    Auto,
    /// The embedded JSONL span file.
    File,
    /// One line per span on standard error.
    Console,
    /// OTLP (gRPC or HTTP/protobuf; needs the `otlp` feature).
    Otlp,
    /// In memory, read back with `Guard::memory_spans`.
    Memory,
    /// Nothing (spans are still counted).
    None,
}

impl ExporterKind {
    /// Parses a `CHATOBS_EXPORTER` item.
    pub fn parse(s: &str) -> Option<ExporterKind> {
        Some(match s.trim() {
            "auto" => ExporterKind::Auto,
            "file" => ExporterKind::File,
            "console" => ExporterKind::Console,
            "otlp" => ExporterKind::Otlp,
            "memory" => ExporterKind::Memory,
            "none" => ExporterKind::None,
            _ => return None,
        })
    }
}

/// `[exporter]`: which exporters, the bounded queue and batching.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExporterConfig {
    /// Which exporters.
    pub kinds: Vec<ExporterKind>,
    /// JSONL span file.
    pub file_path: PathBuf,
    /// Bounded queue size (spans).
    pub queue_size: usize,
    /// The most bytes the queued spans may hold: beyond it new spans are
    /// dropped and counted (a dead or hanging collector cannot grow the
    /// process past it, however fast spans come and however large they are).
    pub max_queue_bytes: u64,
    /// Spans per export call.
    pub batch_size: usize,
    /// Export at least this often.
    pub scheduled_delay_ms: u64,
    /// One export call's time limit.
    pub export_timeout_ms: u64,
    /// How long dropping the guard waits to flush.
    pub shutdown_timeout_ms: u64,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        ExporterConfig {
            kinds: vec![ExporterKind::Auto],
            file_path: PathBuf::from("target/chatobs/spans.jsonl"),
            queue_size: 8192,
            max_queue_bytes: 16 << 20,
            batch_size: 512,
            scheduled_delay_ms: 500,
            export_timeout_ms: 5000,
            shutdown_timeout_ms: 5000,
        }
    }
}

impl Section for ExporterConfig {
    const KEY: &'static str = "exporter";

    fn apply_env(&mut self, env: Env<'_>, errs: &mut Errors) {
        // OpenTelemetry's switch for the whole SDK: export nothing (spans are still counted).
        if let Some(v) = env_value(env, "OTEL_SDK_DISABLED") {
            match v.to_ascii_lowercase().as_str() {
                "true" => {
                    self.kinds = vec![ExporterKind::None];
                    return;
                }
                "false" => {}
                other => errs.push_env(
                    "OTEL_SDK_DISABLED",
                    format!("{other:?}: expected true or false"),
                ),
            }
        }
        if let Some(v) = env_value(env, "CHATOBS_EXPORTER") {
            let mut kinds = Vec::new();
            for k in v.split(',') {
                match ExporterKind::parse(k) {
                    Some(kind) => kinds.push(kind),
                    None => errs.push_env(
                        "CHATOBS_EXPORTER",
                        format!("unknown exporter {k:?}: expected auto, file, console, otlp, memory or none"),
                    ),
                }
            }
            self.kinds = kinds;
        }
        if let Some(v) = env_value(env, "CHATOBS_SPANS_FILE") {
            self.file_path = PathBuf::from(v);
        }
    }

    fn validate(&self, errs: &mut Errors) {
        let queue_ok = (1..=1 << 20).contains(&self.queue_size);
        if !queue_ok {
            errs.push(
                "exporter.queue_size",
                format!("must be between 1 and 1048576, got {}", self.queue_size),
            );
        }
        // Checked against a valid queue size only (one mistake, one error).
        if queue_ok && (self.batch_size == 0 || self.batch_size > self.queue_size) {
            errs.push(
                "exporter.batch_size",
                format!(
                    "must be between 1 and exporter.queue_size ({}), got {}",
                    self.queue_size, self.batch_size
                ),
            );
        }
        if !((64 << 10)..=(16 << 30)).contains(&self.max_queue_bytes) {
            errs.push(
                "exporter.max_queue_bytes",
                format!(
                    "must be between 65536 (64 KiB) and 17179869184 (16 GiB), got {}",
                    self.max_queue_bytes
                ),
            );
        }
        if self.scheduled_delay_ms == 0 {
            errs.push("exporter.scheduled_delay_ms", "must be at least 1");
        }
        if self.export_timeout_ms == 0 {
            errs.push("exporter.export_timeout_ms", "must be at least 1");
        }
        if self.kinds.is_empty() {
            errs.push(
                "exporter.kinds",
                "list at least one exporter (use [\"none\"] to export nothing)",
            );
        }
    }
}

// ---- [sampling] ------------------------------------------------------------------------------

/// `[sampling]`: head sampling.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingConfig {
    /// Sampler name (OTEL_TRACES_SAMPLER values).
    pub sampler: String,
    /// Ratio for the ratio samplers.
    pub ratio: f64,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            sampler: "parentbased_always_on".into(),
            ratio: 1.0,
        }
    }
}

impl SamplingConfig {
    /// The head sampler this section names.
    pub fn sampler(&self) -> Result<Sampler, String> {
        let r = self.ratio;
        if !(0.0..=1.0).contains(&r) || r.is_nan() {
            return Err(format!("sampling.ratio must be between 0 and 1, got {r}"));
        }
        Ok(match self.sampler.as_str() {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatio(r),
            "parentbased_always_on" => Sampler::ParentBased(RootSampler::AlwaysOn),
            "parentbased_always_off" => Sampler::ParentBased(RootSampler::AlwaysOff),
            "parentbased_traceidratio" => Sampler::ParentBased(RootSampler::TraceIdRatio(r)),
            other => {
                return Err(format!(
                    "unknown sampler {other:?}: expected always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio"
                ))
            }
        })
    }
}

impl Section for SamplingConfig {
    const KEY: &'static str = "sampling";

    fn apply_env(&mut self, env: Env<'_>, errs: &mut Errors) {
        if let Some(v) = env_value(env, "OTEL_TRACES_SAMPLER") {
            self.sampler = v;
        }
        if let Some(v) = env_value(env, "OTEL_TRACES_SAMPLER_ARG") {
            match v.parse() {
                Ok(r) => self.ratio = r,
                Err(_) => errs.push_env(
                    "OTEL_TRACES_SAMPLER_ARG",
                    format!("expected a number between 0 and 1, got {v:?}"),
                ),
            }
        }
    }

    fn validate(&self, errs: &mut Errors) {
        if let Err(reason) = self.sampler() {
            errs.push("sampling.sampler", reason);
        }
    }
}

// ---- [logs] ----------------------------------------------------------------------------------

/// Log format.
#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// No log subscriber is installed.
    Off,
}

/// `[logs]`: JSON log lines with chat context.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// Format.
    pub format: LogFormat,
    /// `stderr`, `stdout` or a file path.
    pub output: String,
    /// Default filter (RUST_LOG overrides).
    pub level: String,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            format: LogFormat::Json,
            output: "stderr".into(),
            level: "info".into(),
        }
    }
}

impl Section for LogsConfig {
    const KEY: &'static str = "logs";

    fn apply_env(&mut self, env: Env<'_>, errs: &mut Errors) {
        if let Some(v) = env_value(env, "CHATOBS_LOG_FORMAT") {
            match v.as_str() {
                "json" => self.format = LogFormat::Json,
                "off" => self.format = LogFormat::Off,
                other => errs.push_env(
                    "CHATOBS_LOG_FORMAT",
                    format!("{other:?}: expected json or off"),
                ),
            }
        }
        if let Some(v) = env_value(env, "CHATOBS_LOG_OUTPUT") {
            self.output = v;
        }
    }
}

// ---- [tracing] -------------------------------------------------------------------------------

/// `[tracing]`: the bridge that exports the application's own `tracing`
/// spans (`#[tracing::instrument]`, `info_span!`, and every library's) through
/// chatobs' pipeline, in the same traces as the chat spans (see
/// [`crate::bridge`]).
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    /// Which spans are exported: `target=level` directives separated by
    /// commas, and a bare level for every other target (`info`,
    /// `info,sqlx=warn,hyper=off`, `my_bot::db=debug`); `off` exports none
    /// and installs no bridge. Events inside an exported span at or above the
    /// same level become its span events.
    pub spans: String,
    /// Attributes kept per bridged span (and per span event); later ones are
    /// dropped and counted ([`crate::bridge::stats`]).
    pub max_attributes: usize,
    /// Events kept per bridged span; later ones are dropped and counted.
    pub max_events: usize,
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig {
            spans: "info".into(),
            max_attributes: 128,
            max_events: 128,
        }
    }
}

impl Section for TracingConfig {
    const KEY: &'static str = "tracing";

    fn apply_env(&mut self, env: Env<'_>, _errs: &mut Errors) {
        if let Some(v) = env_value(env, "CHATOBS_TRACING_SPANS") {
            self.spans = v;
        }
    }

    fn validate(&self, errs: &mut Errors) {
        if let Err(reason) = crate::bridge::SpanFilter::parse(&self.spans) {
            errs.push("tracing.spans", reason);
        }
        if !(1..=10_000).contains(&self.max_attributes) {
            errs.push(
                "tracing.max_attributes",
                format!("must be between 1 and 10000, got {}", self.max_attributes),
            );
        }
        if self.max_events > 10_000 {
            errs.push(
                "tracing.max_events",
                format!("must be between 0 and 10000, got {}", self.max_events),
            );
        }
    }
}

// ---- [redaction] -----------------------------------------------------------------------------

/// `[redaction]`: what never leaves the process.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RedactionConfig {
    /// Header names never exported.
    pub headers: Vec<String>,
    /// Field names never exported.
    pub fields: Vec<String>,
    /// Scan free text for phone numbers and e-mail addresses.
    pub scan_free_text: bool,
    /// Request headers recorded on SERVER spans (`http.request.header.*`;
    /// opt-in, as the HTTP semantic conventions say). Headers of `headers`
    /// that are present are always recorded, as `[REDACTED]`.
    pub record_request_headers: Vec<String>,
    /// Opt-in content capture (off by default): inbound and outbound message
    /// text, LLM prompts and completions exported as `input.value` /
    /// `output.value`, `llm.input_messages` / `llm.output_messages` and
    /// `gen_ai.input.messages` / `gen_ai.output.messages`. Always redacted
    /// (phone numbers, e-mail addresses, secrets, whatever `scan_free_text`
    /// says) and cut to `capture_max_bytes`. `CHATOBS_CAPTURE_CONTENT`.
    pub capture_content: bool,
    /// Longest captured value, in bytes (cut on a character boundary, marked `…`).
    pub capture_max_bytes: usize,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        let list = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        RedactionConfig {
            headers: list(&[
                "authorization",
                "proxy-authorization",
                "cookie",
                "set-cookie",
                "x-hub-signature-256",
                "x-hub-signature",
                "x-api-key",
                "x-goog-api-key",
                "api-key",
            ]),
            fields: list(&[
                "text",
                "body",
                "message",
                "message_text",
                "caption",
                "phone",
                "phone_number",
                "wa_id",
                "wamid",
                "message_id",
                "recipient_id",
                "user_id",
                "from_user_id",
                "recipient_user_id",
                "from",
                "to",
                "recipient",
                "email",
                "password",
                "token",
                "access_token",
                "api_key",
                "secret",
                "authorization",
            ]),
            scan_free_text: true,
            record_request_headers: list(&[
                "content-type",
                "content-length",
                "accept",
                "x-request-id",
                "x-forwarded-proto",
            ]),
            capture_content: false,
            capture_max_bytes: 4096,
        }
    }
}

impl Section for RedactionConfig {
    const KEY: &'static str = "redaction";

    fn apply_env(&mut self, env: Env<'_>, errs: &mut Errors) {
        if let Some(v) = env_value(env, "CHATOBS_CAPTURE_CONTENT") {
            match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "on" => self.capture_content = true,
                "false" | "0" | "off" => self.capture_content = false,
                other => errs.push_env(
                    "CHATOBS_CAPTURE_CONTENT",
                    format!(
                        "{:?}: expected true or false",
                        crate::redact::truncate_for_error(other)
                    ),
                ),
            }
        }
    }

    fn validate(&self, errs: &mut Errors) {
        if !(16..=1 << 20).contains(&self.capture_max_bytes) {
            errs.push(
                "redaction.capture_max_bytes",
                format!(
                    "{} is out of range: a captured value is cut to 16..=1048576 bytes",
                    self.capture_max_bytes
                ),
            );
        }
    }
}

// ---- [session] -------------------------------------------------------------------------------

/// `[session]`: session ids.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Environment variable holding the session HMAC key.
    pub key_env: String,
    /// A conversation closes this many seconds after its user's last
    /// message (default 86400: the WhatsApp customer service window has
    /// expired), and the next message opens a new one.
    pub close_after_seconds: u64,
    /// How often due conversations are looked for and closed.
    pub sweep_every_seconds: u64,
    /// Most conversations open at once in this process when the state is in
    /// process (beyond it the least recently active closes early).
    pub max_open: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            key_env: crate::context::SESSION_KEY_ENV.into(),
            close_after_seconds: 86_400,
            sweep_every_seconds: 30,
            max_open: 100_000,
        }
    }
}

impl Section for SessionConfig {
    const KEY: &'static str = "session";

    fn validate(&self, errs: &mut Errors) {
        if self.key_env.trim().is_empty() {
            errs.push(
                "session.key_env",
                "must name an environment variable (default CHATOBS_SESSION_KEY)",
            );
        }
        if !(1..=31_536_000).contains(&self.close_after_seconds) {
            errs.push(
                "session.close_after_seconds",
                format!(
                    "must be between 1 and 31536000 (a year), got {}",
                    self.close_after_seconds
                ),
            );
        }
        if !(1..=3_600).contains(&self.sweep_every_seconds) {
            errs.push(
                "session.sweep_every_seconds",
                format!(
                    "must be between 1 and 3600, got {}",
                    self.sweep_every_seconds
                ),
            );
        }
        if !(1..=100_000_000).contains(&self.max_open) {
            errs.push(
                "session.max_open",
                format!("must be between 1 and 100000000, got {}", self.max_open),
            );
        }
    }
}
