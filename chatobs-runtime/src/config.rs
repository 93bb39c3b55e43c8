//! Configuration: `config/observability.toml` defaults, your file, then the environment.
//!
//! [`Config::load`] reads, in order (later wins):
//! 1. the defaults shipped in `config/observability.toml` (compiled in);
//! 2. the file named by `CHATOBS_CONFIG`, else `config/observability.toml`
//!    in the working directory if it exists (keys you leave out keep their defaults);
//! 3. environment variables: `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//!    `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`,
//!    `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_TRACES_SAMPLER`,
//!    `OTEL_TRACES_SAMPLER_ARG`, `CHATOBS_EXPORTER`, `CHATOBS_SPANS_FILE`,
//!    `CHATOBS_LOG_FORMAT`, `CHATOBS_LOG_OUTPUT`.
//!
//! Secrets are read only from the environment: the session key
//! (`CHATOBS_SESSION_KEY`) and OTLP authentication headers
//! (`OTEL_EXPORTER_OTLP_HEADERS`). A secret-looking header in a file is an error.
//!
//! A bad file or value fails with the file, the key and the reason:
//! ```text
//! config/observability.toml: exporter.queue_size: must be between 1 and 1048576, got 0
//! ```

use crate::span::{RootSampler, Sampler};
use crate::Error;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The shipped defaults.
pub const DEFAULTS_TOML: &str = include_str!("../../config/observability.toml");

/// Everything `init` needs.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Resource attributes.
    #[serde(default)]
    pub service: ServiceConfig,
    /// Span exporters and batching.
    #[serde(default)]
    pub exporter: ExporterConfig,
    /// OTLP exporter.
    #[serde(default)]
    pub otlp: OtlpConfig,
    /// Head sampling.
    #[serde(default)]
    pub sampling: SamplingConfig,
    /// JSON logs.
    #[serde(default)]
    pub logs: LogsConfig,
    /// What never leaves the process.
    #[serde(default)]
    pub redaction: RedactionConfig,
    /// Session ids.
    #[serde(default)]
    pub session: SessionConfig,
    /// Cost telemetry (see [`crate::cost`]).
    #[serde(default)]
    pub cost: CostConfig,
    /// Online evaluations, the LLM judge, Phoenix annotations, feedback (see [`crate::evals`]).
    #[serde(default)]
    pub evals: crate::evals::EvalsConfig,
    /// Budget rules, alert sinks, generated Prometheus rules (see [`crate::alerts`]).
    #[serde(default)]
    pub alerts: crate::alerts::AlertsConfig,
    /// Metrics (see [`crate::metrics`]).
    #[serde(default)]
    pub metrics: crate::metrics::MetricsConfig,
    /// Service level objectives of conversation turns (see [`crate::metrics::rules`]).
    #[serde(default)]
    pub slo: crate::metrics::SloConfig,
    /// Readiness thresholds of `/health/ready` (see [`crate::integrations::health`]).
    #[serde(default)]
    pub health: crate::integrations::health::HealthConfig,
    /// Where this configuration came from (not a key).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// `[service]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// `service.name`.
    pub name: String,
    /// `service.version`.
    pub version: String,
    /// `deployment.environment`.
    pub environment: String,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            name: "chatobs-app".into(),
            version: "0.0.0".into(),
            environment: "development".into(),
        }
    }
}

/// Exporter kinds.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExporterKind {
    /// OTLP when an endpoint is configured, else the file.
    Auto,
    /// The embedded JSONL span file.
    File,
    /// One line per span on standard error.
    Console,
    /// OTLP (gRPC or HTTP/protobuf).
    Otlp,
    /// In memory, read back with [`crate::Guard::memory_spans`].
    Memory,
    /// Nothing (spans are still counted).
    None,
}

impl ExporterKind {
    fn parse(s: &str) -> Option<ExporterKind> {
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

/// `[exporter]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExporterConfig {
    /// Which exporters.
    pub kinds: Vec<ExporterKind>,
    /// JSONL span file.
    pub file_path: PathBuf,
    /// Bounded queue size.
    pub queue_size: usize,
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
            batch_size: 512,
            scheduled_delay_ms: 500,
            export_timeout_ms: 5000,
            shutdown_timeout_ms: 5000,
        }
    }
}

/// OTLP protocol.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// gRPC (port 4317).
    #[serde(rename = "grpc")]
    Grpc,
    /// HTTP with protobuf bodies (port 4318, path /v1/traces).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

/// `[otlp]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// Collector endpoint (empty: not configured).
    pub endpoint: String,
    /// Protocol.
    pub protocol: OtlpProtocol,
    /// Headers (non-secret from the file; secret ones from `OTEL_EXPORTER_OTLP_HEADERS`).
    pub headers: BTreeMap<String, String>,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: String::new(),
            protocol: OtlpProtocol::Grpc,
            headers: BTreeMap::new(),
        }
    }
}

/// `[sampling]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
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

/// Log format.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// No log subscriber is installed.
    Off,
}

/// `[logs]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
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

/// `[redaction]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
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
}

impl Default for RedactionConfig {
    fn default() -> Self {
        RedactionConfig {
            headers: Vec::new(),
            fields: Vec::new(),
            scan_free_text: true,
            record_request_headers: Vec::new(),
        }
    }
}

/// `[session]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Environment variable holding the session HMAC key.
    pub key_env: String,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            key_env: crate::context::SESSION_KEY_ENV.into(),
        }
    }
}

/// `[cost]`: price tables, the billed-service rule, window state bounds.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CostConfig {
    /// Your LLM price files (format of `config/llm_prices.toml`), applied in
    /// order over the shipped table: same model and provider replaces, others extend.
    pub llm_price_files: Vec<PathBuf>,
    /// Your WhatsApp rate files (format of `config/whatsapp_rates.toml`).
    pub whatsapp_rate_files: Vec<PathBuf>,
    /// Bill service (free-form) messages per message from the card's
    /// `billed_service_from` day (reported for 2026-10-01), after the monthly
    /// free allowance per business number.
    pub billed_service_messages: bool,
    /// Most (business, user) window states and conversation ledgers kept in memory.
    pub state_max_entries: usize,
    /// A window state or ledger with no activity for this many hours is dropped
    /// (at least 72: a free entry point window lasts 72 hours).
    pub state_ttl_hours: u64,
}

impl Default for CostConfig {
    fn default() -> Self {
        CostConfig {
            llm_price_files: Vec::new(),
            whatsapp_rate_files: Vec::new(),
            billed_service_messages: false,
            state_max_entries: 100_000,
            state_ttl_hours: 96,
        }
    }
}

impl CostConfig {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), Error> {
        if !(1..=100_000_000).contains(&self.state_max_entries) {
            return Err(Error::config(
                None,
                "cost.state_max_entries",
                format!(
                    "must be between 1 and 100000000, got {}",
                    self.state_max_entries
                ),
            ));
        }
        if !(72..=24 * 400).contains(&self.state_ttl_hours) {
            return Err(Error::config(
                None,
                "cost.state_ttl_hours",
                format!(
                    "must be between 72 (a free entry point window lasts 72 h) and 9600, got {}",
                    self.state_ttl_hours
                ),
            ));
        }
        Ok(())
    }

    /// The window state bounds.
    pub fn state_bounds(&self) -> crate::cost::StateBounds {
        crate::cost::StateBounds {
            max_pairs: self.state_max_entries,
            ttl_ms: i64::try_from(self.state_ttl_hours)
                .unwrap_or(i64::MAX / 3_600_000)
                .saturating_mul(3_600_000),
        }
    }
}

impl Default for Config {
    /// The shipped defaults (without reading the environment).
    fn default() -> Self {
        match Config::from_toml_str(DEFAULTS_TOML, None) {
            Ok(c) => c,
            // The shipped file is tested; fall back to the serde defaults if it were broken.
            Err(_) => Config {
                service: ServiceConfig::default(),
                exporter: ExporterConfig::default(),
                otlp: OtlpConfig::default(),
                sampling: SamplingConfig::default(),
                logs: LogsConfig::default(),
                redaction: RedactionConfig::default(),
                session: SessionConfig::default(),
                cost: CostConfig::default(),
                evals: crate::evals::EvalsConfig::default(),
                alerts: crate::alerts::AlertsConfig::default(),
                metrics: crate::metrics::MetricsConfig::default(),
                slo: crate::metrics::SloConfig::default(),
                health: crate::integrations::health::HealthConfig::default(),
                source: None,
            },
        }
    }
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

impl Config {
    /// Loads defaults, the file (`CHATOBS_CONFIG` or `./config/observability.toml`) and the environment.
    pub fn load() -> Result<Config, Error> {
        let path = match std::env::var_os("CHATOBS_CONFIG") {
            Some(p) => Some(PathBuf::from(p)),
            None => {
                let p = PathBuf::from("config/observability.toml");
                p.is_file().then_some(p)
            }
        };
        let mut cfg = match path {
            Some(p) => Config::from_file(&p)?,
            None => Config::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        Ok(cfg)
    }

    /// Loads the defaults overlaid with `path` (no environment).
    pub fn from_file(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Config::from_toml_str(&text, Some(path))
    }

    /// Parses TOML text overlaid on the shipped defaults (no environment).
    pub fn from_toml_str(text: &str, file: Option<&Path>) -> Result<Config, Error> {
        let mut base: toml::Table = DEFAULTS_TOML.parse().map_err(|e: toml::de::Error| {
            Error::config(None, "(shipped defaults)", e.to_string())
        })?;
        let over: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| toml_error(file, &e, text))?;
        merge(&mut base, over);
        let merged =
            toml::to_string(&base).map_err(|e| Error::config(file, "(file)", e.to_string()))?;
        let mut cfg: Config = toml::from_str(&merged).map_err(|e: toml::de::Error| {
            // Re-parse the user's own text to point at its line when possible.
            let err = toml::from_str::<Config>(text).err().unwrap_or(e);
            toml_error(file, &err, text)
        })?;
        cfg.source = file.map(Path::to_path_buf);
        cfg.validate(file)?;
        Ok(cfg)
    }

    /// Applies environment overrides from `get` (normally `std::env::var`).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), Error> {
        let set = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        if let Some(v) = set(get("OTEL_SERVICE_NAME")) {
            self.service.name = v;
        }
        if let Some(v) = set(get("OTEL_RESOURCE_ATTRIBUTES")) {
            for pair in v.split(',') {
                let Some((k, val)) = pair.split_once('=') else {
                    return Err(Error::config(
                        None,
                        "OTEL_RESOURCE_ATTRIBUTES",
                        format!("expected key=value pairs separated by commas, got {pair:?}"),
                    ));
                };
                match k.trim() {
                    "service.name" if get("OTEL_SERVICE_NAME").is_none() => {
                        self.service.name = val.trim().into()
                    }
                    "service.version" => self.service.version = val.trim().into(),
                    "deployment.environment" | "deployment.environment.name" => {
                        self.service.environment = val.trim().into()
                    }
                    _ => {}
                }
            }
        }
        if let Some(v) = set(get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
            .or_else(|| set(get("OTEL_EXPORTER_OTLP_ENDPOINT")))
        {
            self.otlp.endpoint = v;
        }
        if let Some(v) = set(get("OTEL_EXPORTER_OTLP_PROTOCOL")) {
            self.otlp.protocol = match v.trim() {
                "grpc" => OtlpProtocol::Grpc,
                "http/protobuf" => OtlpProtocol::HttpProtobuf,
                other => {
                    return Err(Error::config(
                        None,
                        "OTEL_EXPORTER_OTLP_PROTOCOL",
                        format!("{other:?} is not supported: use grpc or http/protobuf"),
                    ))
                }
            };
        }
        if let Some(v) = set(get("OTEL_EXPORTER_OTLP_HEADERS")) {
            for pair in v.split(',') {
                let Some((k, val)) = pair.split_once('=') else {
                    return Err(Error::config(
                        None,
                        "OTEL_EXPORTER_OTLP_HEADERS",
                        "expected name=value pairs separated by commas (values are not shown here)",
                    ));
                };
                let val = percent_decode_lossy(val.trim());
                self.otlp.headers.insert(k.trim().to_ascii_lowercase(), val);
            }
        }
        if let Some(v) = set(get("OTEL_TRACES_SAMPLER")) {
            self.sampling.sampler = v.trim().to_owned();
        }
        if let Some(v) = set(get("OTEL_TRACES_SAMPLER_ARG")) {
            self.sampling.ratio = v.trim().parse().map_err(|_| {
                Error::config(
                    None,
                    "OTEL_TRACES_SAMPLER_ARG",
                    format!("expected a number between 0 and 1, got {v:?}"),
                )
            })?;
        }
        if let Some(v) = set(get("CHATOBS_EXPORTER")) {
            let mut kinds = Vec::new();
            for k in v.split(',') {
                kinds.push(ExporterKind::parse(k).ok_or_else(|| {
                    Error::config(None, "CHATOBS_EXPORTER", format!("unknown exporter {k:?}: expected auto, file, console, otlp, memory or none"))
                })?);
            }
            self.exporter.kinds = kinds;
        }
        if let Some(v) = set(get("CHATOBS_SPANS_FILE")) {
            self.exporter.file_path = PathBuf::from(v);
        }
        if let Some(v) = set(get("CHATOBS_LOG_FORMAT")) {
            self.logs.format = match v.trim() {
                "json" => LogFormat::Json,
                "off" => LogFormat::Off,
                other => {
                    return Err(Error::config(
                        None,
                        "CHATOBS_LOG_FORMAT",
                        format!("{other:?}: expected json or off"),
                    ))
                }
            };
        }
        if let Some(v) = set(get("CHATOBS_LOG_OUTPUT")) {
            self.logs.output = v;
        }
        self.evals.apply_env(&get)?;
        self.alerts.apply_env(&get)?;
        self.validate(None)
    }

    fn validate(&self, file: Option<&Path>) -> Result<(), Error> {
        let e = |key: &str, reason: String| Err(Error::config(file, key, reason));
        if self.service.name.trim().is_empty() {
            return e("service.name", "must not be empty".into());
        }
        if !(1..=1 << 20).contains(&self.exporter.queue_size) {
            return e(
                "exporter.queue_size",
                format!(
                    "must be between 1 and 1048576, got {}",
                    self.exporter.queue_size
                ),
            );
        }
        if self.exporter.batch_size == 0 || self.exporter.batch_size > self.exporter.queue_size {
            return e(
                "exporter.batch_size",
                format!(
                    "must be between 1 and exporter.queue_size ({}), got {}",
                    self.exporter.queue_size, self.exporter.batch_size
                ),
            );
        }
        if self.exporter.scheduled_delay_ms == 0 {
            return e("exporter.scheduled_delay_ms", "must be at least 1".into());
        }
        if self.exporter.export_timeout_ms == 0 {
            return e("exporter.export_timeout_ms", "must be at least 1".into());
        }
        if self.exporter.kinds.is_empty() {
            return e(
                "exporter.kinds",
                "list at least one exporter (use [\"none\"] to export nothing)".into(),
            );
        }
        if file.is_some() {
            for name in self.otlp.headers.keys() {
                if is_secret_header(name) {
                    return e(
                        &format!("otlp.headers.{name}"),
                        "secrets are read only from the environment: remove it from the file and set OTEL_EXPORTER_OTLP_HEADERS instead".into(),
                    );
                }
            }
        }
        let ep = &self.otlp.endpoint;
        if !(ep.is_empty() || ep.starts_with("http://") || ep.starts_with("https://")) {
            return e(
                "otlp.endpoint",
                format!(
                    "expected an http:// or https:// URL, got {:?}",
                    self.otlp.endpoint
                ),
            );
        }
        self.sampler()
            .map_err(|reason| Error::config(file, "sampling.sampler", reason))?;
        self.cost.validate().map_err(|e| match e {
            Error::Config { key, reason, .. } => Error::config(file, key, reason),
            e => e,
        })?;
        for r in [
            self.alerts.validate(file.is_some()),
            self.metrics.validate(),
            self.slo.validate(),
        ] {
            r.map_err(|e| match e {
                Error::Config { key, reason, .. } => Error::config(file, key, reason),
                e => e,
            })?;
        }
        self.evals.validate().map_err(|e| match e {
            Error::Config { key, reason, .. } => Error::config(file, key, reason),
            e => e,
        })?;
        self.health.validate().map_err(|e| match e {
            Error::Config { key, reason, .. } => Error::config(file, key, reason),
            e => e,
        })?;
        Ok(())
    }

    /// The head sampler this configuration names.
    pub fn sampler(&self) -> Result<Sampler, String> {
        let r = self.sampling.ratio;
        if !(0.0..=1.0).contains(&r) || r.is_nan() {
            return Err(format!("sampling.ratio must be between 0 and 1, got {r}"));
        }
        Ok(match self.sampling.sampler.as_str() {
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

    /// The exporters to install, with `auto` resolved.
    pub fn resolved_exporters(&self) -> Vec<ExporterKind> {
        let mut out = Vec::new();
        for k in &self.exporter.kinds {
            let k = match k {
                ExporterKind::Auto if self.otlp.endpoint.is_empty() => ExporterKind::File,
                ExporterKind::Auto => ExporterKind::Otlp,
                k => *k,
            };
            if !out.contains(&k) {
                out.push(k);
            }
        }
        out
    }
}

/// Header names that carry credentials.
pub fn is_secret_header(name: &str) -> bool {
    let has = |needle: &str| {
        name.as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    };
    name.eq_ignore_ascii_case("authorization")
        || name.eq_ignore_ascii_case("proxy-authorization")
        || name.eq_ignore_ascii_case("cookie")
        || has("api-key")
        || has("api_key")
        || has("token")
        || has("secret")
}

fn percent_decode_lossy(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn toml_error(file: Option<&Path>, e: &toml::de::Error, text: &str) -> Error {
    let mut key = String::from("(file)");
    let mut reason = e.message().to_string();
    if let Some(span) = e.span() {
        let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
        let snippet = text.lines().nth(line - 1).unwrap_or("").trim();
        key = format!("line {line}");
        reason = format!("{reason} (at `{snippet}`)");
    }
    Error::config(file, key, reason)
}
