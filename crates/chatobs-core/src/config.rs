//! Configuration sections of the core, and the [`Section`] contract every
//! chatobs crate follows for its own section.
//!
//! Each crate owns its section: the type, its defaults (the `Default` impl,
//! which `config/observability.toml` documents and a test keeps equal), the
//! environment variables it reads ([`Section::apply_env`]) and its checks
//! ([`Section::validate`]). The facade's `Config` only lists the sections
//! its features compiled in; no crate sees another crate's section.
//!
//! Errors are collected, not returned at the first: [`Errors`] gathers every
//! problem of a file and of the environment, each with the file, the key (or
//! variable) and the reason, and becomes one [`Error`] at the end.
//!
//! The core's sections and variables:
//!
//! | section | variables |
//! |---|---|
//! | `[service]` | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` (`service.name`, `service.version`, `deployment.environment[.name]`) |
//! | `[exporter]` | `CHATOBS_EXPORTER`, `CHATOBS_SPANS_FILE` |
//! | `[sampling]` | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` |
//! | `[logs]` | `CHATOBS_LOG_FORMAT`, `CHATOBS_LOG_OUTPUT` |
//! | `[redaction]` | none |
//! | `[session]` | the variable named by `key_env` (`CHATOBS_SESSION_KEY`), read by `init` |

use crate::span::{RootSampler, Sampler};
use crate::Error;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

// ---- the section contract -------------------------------------------------------------------

/// Reads one environment variable (normally `std::env::var`); empty values count as unset.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A value of `env`, trimmed, when it is set and not blank.
pub fn env_value(env: Env<'_>, name: &str) -> Option<String> {
    env(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// One section of `observability.toml`, owned by the crate that reads it.
pub trait Section: Sized + Default + DeserializeOwned + Serialize {
    /// The table's name (`exporter` for `[exporter]`).
    const KEY: &'static str;

    /// Applies the environment variables this section owns; problems go to `errs`
    /// under the variable's name.
    fn apply_env(&mut self, env: Env<'_>, errs: &mut Errors) {
        let _ = (env, errs);
    }

    /// Checks the values; problems go to `errs` under their key
    /// (`exporter.queue_size`). [`Errors::in_file`] tells whether the values
    /// came from a file (where secrets are refused).
    fn validate(&self, errs: &mut Errors) {
        let _ = errs;
    }
}

/// Every configuration error found so far, with the file they came from.
#[derive(Debug, Default)]
pub struct Errors {
    file: Option<PathBuf>,
    list: Vec<Error>,
}

impl Errors {
    /// Errors of `file` (`None`: the environment or code).
    pub fn new(file: Option<&Path>) -> Errors {
        Errors {
            file: file.map(Path::to_path_buf),
            list: Vec::new(),
        }
    }

    /// Whether the values being checked came from a file.
    pub fn in_file(&self) -> bool {
        self.file.is_some()
    }

    /// The file, if the values came from one.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Records that `key` (a dotted key or a variable name) is wrong, and why.
    pub fn push(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        let e = Error::config(self.file.as_deref(), key, reason);
        self.list.push(e);
    }

    /// Records an error of the environment (no file), whatever this collector's file.
    pub fn push_env(&mut self, var: impl Into<String>, reason: impl Into<String>) {
        self.list.push(Error::config(None, var, reason));
    }

    /// Records an error returned by a check written as `Result`, re-homed to this file.
    pub fn push_error(&mut self, e: Error) {
        match e {
            Error::Config { key, reason, .. } => self.push(key, reason),
            Error::Invalid(list) => {
                for e in list {
                    self.push_error(e);
                }
            }
            e => self.list.push(e),
        }
    }

    /// Records the error of `r`, if any.
    pub fn check(&mut self, r: Result<(), Error>) {
        if let Err(e) = r {
            self.push_error(e);
        }
    }

    /// Whether nothing was wrong.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// How many errors were recorded.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Moves the errors of `other` here (keeping their files).
    pub fn append(&mut self, other: Errors) {
        self.list.extend(other.list);
    }

    /// `Ok` when nothing was wrong; the one error; or every error at once.
    pub fn into_result(mut self) -> Result<(), Error> {
        match self.list.len() {
            0 => Ok(()),
            1 => Err(self.list.remove(0)),
            _ => Err(Error::Invalid(self.list)),
        }
    }
}

/// Deserializes section `T` from its table of a file laid over the section's
/// defaults (tables merge key by key, so `[alerts.rules.llm_call_cost]
/// above = 0.10` changes one value of a shipped rule and a new rule adds to
/// them). Each key is tried on its own, so every bad key is reported (with
/// its line in `text` when it can be found) rather than only the first; the
/// good keys still apply.
pub fn section_from<T: Section>(
    value: Option<toml::Value>,
    text: Option<&str>,
    errs: &mut Errors,
) -> T {
    let Some(value) = value else {
        return T::default();
    };
    let toml::Value::Table(user) = value else {
        errs.push(T::KEY, format!("expected a table ([{}])", T::KEY));
        return T::default();
    };
    let base = match toml::Value::try_from(T::default()) {
        Ok(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
    };
    let mut all = base.clone();
    merge(&mut all, user.clone());
    if let Ok(v) = T::deserialize(toml::Value::Table(all)) {
        return v;
    }
    let mut good = base.clone();
    for (k, v) in user {
        let mut one = toml::Table::new();
        one.insert(k.clone(), v);
        let mut trial = base.clone();
        merge(&mut trial, one.clone());
        match T::deserialize(toml::Value::Table(trial)) {
            Ok(_) => merge(&mut good, one),
            Err(e) => push_toml_error(errs, T::KEY, &k, e.message(), text),
        }
    }
    match T::deserialize(toml::Value::Table(good)) {
        Ok(v) => v,
        Err(e) => {
            errs.push(T::KEY, e.message().to_owned());
            T::default()
        }
    }
}

/// Lays `over` on `base`: tables merge key by key, anything else replaces.
pub fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn push_toml_error(errs: &mut Errors, section: &str, key: &str, message: &str, text: Option<&str>) {
    match text.and_then(|t| find_key_line(t, section, key).map(|n| (t, n))) {
        Some((t, line)) => {
            let snippet = t.lines().nth(line - 1).unwrap_or("").trim();
            errs.push(
                format!("line {line}"),
                format!("{message} (at `{snippet}`, key {section}.{key})"),
            );
        }
        None => errs.push(format!("{section}.{key}"), message.to_owned()),
    }
}

/// The 1-based line where `section.key` is set in `text`: `key = ...` under a
/// `[section]` header, a `[section.key]` / `[section.key.x]` header, or a
/// dotted `section.key = ...` at the top level.
pub fn find_key_line(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    let starts_key = |line: &str, k: &str| {
        line.strip_prefix(k)
            .or_else(|| {
                line.strip_prefix('"')
                    .and_then(|l| l.strip_prefix(k))
                    .and_then(|l| l.strip_prefix('"'))
            })
            .is_some_and(|rest| {
                let rest = rest.trim_start();
                rest.starts_with('=') || rest.starts_with('.')
            })
    };
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(h) = line.strip_prefix('[') {
            let h = h.trim_start_matches('[');
            let name: String = h
                .split(']')
                .next()
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            let own = format!("{section}.{key}");
            if name == own || name.starts_with(&format!("{own}.")) {
                return Some(i + 1);
            }
            current = name;
            continue;
        }
        if current == section && starts_key(line, key) {
            return Some(i + 1);
        }
        if current.is_empty() && starts_key(line, &format!("{section}.{key}")) {
            return Some(i + 1);
        }
    }
    None
}

/// Parses TOML text into a table, or an error naming the line.
pub fn parse_table(text: &str, file: Option<&Path>) -> Result<toml::Table, Error> {
    text.parse::<toml::Table>()
        .map_err(|e| toml_syntax_error(file, &e, text))
}

fn toml_syntax_error(file: Option<&Path>, e: &toml::de::Error, text: &str) -> Error {
    let mut key = String::from("(file)");
    let mut reason = e.message().to_string();
    if let Some(span) = e.span() {
        let line = text
            .get(..span.start.min(text.len()))
            .unwrap_or(text)
            .matches('\n')
            .count()
            + 1;
        let snippet = text.lines().nth(line - 1).unwrap_or("").trim();
        key = format!("line {line}");
        reason = format!("{reason} (at `{snippet}`)");
    }
    Error::config(file, key, reason)
}

/// Header names that carry credentials (refused in files, redacted everywhere).
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

impl Section for ServiceConfig {
    const KEY: &'static str = "service";

    fn apply_env(&mut self, env: Env<'_>, errs: &mut Errors) {
        let service_name = env_value(env, "OTEL_SERVICE_NAME");
        if let Some(v) = &service_name {
            self.name = v.clone();
        }
        if let Some(v) = env_value(env, "OTEL_RESOURCE_ATTRIBUTES") {
            for pair in v.split(',') {
                let Some((k, val)) = pair.split_once('=') else {
                    errs.push_env(
                        "OTEL_RESOURCE_ATTRIBUTES",
                        format!("expected key=value pairs separated by commas, got {pair:?}"),
                    );
                    continue;
                };
                match k.trim() {
                    "service.name" if service_name.is_none() => self.name = val.trim().into(),
                    "service.version" => self.version = val.trim().into(),
                    "deployment.environment" | "deployment.environment.name" => {
                        self.environment = val.trim().into()
                    }
                    _ => {}
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

impl Section for ExporterConfig {
    const KEY: &'static str = "exporter";

    fn apply_env(&mut self, env: Env<'_>, errs: &mut Errors) {
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
        }
    }
}

impl Section for RedactionConfig {
    const KEY: &'static str = "redaction";
}

// ---- [session] -------------------------------------------------------------------------------

/// `[session]`: session ids.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
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

impl Section for SessionConfig {
    const KEY: &'static str = "session";

    fn validate(&self, errs: &mut Errors) {
        if self.key_env.trim().is_empty() {
            errs.push(
                "session.key_env",
                "must name an environment variable (default CHATOBS_SESSION_KEY)",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_line_of_a_key() {
        let t = "[service]\nname = \"x\"\n\n[exporter]\n  queue_sise = 1\n[alerts.rules.x]\nabove = 1\n";
        assert_eq!(find_key_line(t, "exporter", "queue_sise"), Some(5));
        assert_eq!(find_key_line(t, "service", "name"), Some(2));
        assert_eq!(find_key_line(t, "alerts", "rules"), Some(6));
        assert_eq!(find_key_line(t, "exporter", "missing"), None);
        assert_eq!(
            find_key_line("exporter.kinds = []\n", "exporter", "kinds"),
            Some(1)
        );
    }

    #[test]
    fn every_bad_key_of_a_section_is_reported() {
        let text = "[exporter]\nqueue_size = \"big\"\nbatch_sise = 1\nfile_path = \"x.jsonl\"\n";
        let table = parse_table(text, None).unwrap();
        let mut errs = Errors::new(Some(Path::new("obs.toml")));
        let cfg: ExporterConfig =
            section_from(table.get("exporter").cloned(), Some(text), &mut errs);
        assert_eq!(
            cfg.file_path,
            PathBuf::from("x.jsonl"),
            "good keys still apply"
        );
        let e = errs.into_result().unwrap_err().to_string();
        assert!(e.contains("obs.toml: line 2:"), "{e}");
        assert!(
            e.contains("obs.toml: line 3: unknown field `batch_sise`"),
            "{e}"
        );
    }
}
