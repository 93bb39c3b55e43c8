//! `[otlp]`: the collector endpoint, protocol, headers, TLS files, the
//! metrics destination and the hosted-backend preset.
//!
//! Environment (later wins over the file):
//!
//! | key | variable |
//! |---|---|
//! | `preset` | `CHATOBS_OTLP_PRESET` (then the vendor's own variables, see [`crate::presets`]) |
//! | `endpoint` | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` |
//! | `protocol` | `OTEL_EXPORTER_OTLP_PROTOCOL` |
//! | `headers` | `OTEL_EXPORTER_OTLP_HEADERS` |
//! | `certificate`, `client_certificate`, `client_key` | `OTEL_EXPORTER_OTLP_CERTIFICATE`, `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`, `OTEL_EXPORTER_OTLP_CLIENT_KEY` |
//! | `traces_certificate`, `traces_client_certificate`, `traces_client_key` | `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`, `..._TRACES_CLIENT_CERTIFICATE`, `..._TRACES_CLIENT_KEY` |
//! | `metrics_certificate`, `metrics_client_certificate`, `metrics_client_key` | the `_METRICS_` variants |
//! | `logs_certificate`, `logs_client_certificate`, `logs_client_key` | the `_LOGS_` variants |
//! | `logs_endpoint` | `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` |
//! | `logs_exporter` | `OTEL_LOGS_EXPORTER` (`otlp` or `none`; `console` means none over OTLP) |
//! | `metrics_endpoint` | `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` |
//! | `metrics_exporter` | `OTEL_METRICS_EXPORTER` (`otlp` or `none`; `prometheus` means none over OTLP) |
//!
//! Authentication headers come only from the environment: a secret-looking
//! header in a file is an error. Certificate and key *paths* may be in the
//! file (a path is not a secret; the key file's content is). The files are
//! read, and every value checked, by [`crate::check`], which `init` and
//! `chatobs check-config` run.

use crate::presets::Preset;
use chatobs_core::config::{
    env_value, is_secret_header, percent_decode, Env, Errors, Section, ServiceConfig,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// OTLP protocol.
#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// gRPC (port 4317).
    #[serde(rename = "grpc")]
    Grpc,
    /// HTTP with protobuf bodies (port 4318, path /v1/traces).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

impl OtlpProtocol {
    /// The name `OTEL_EXPORTER_OTLP_PROTOCOL` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http/protobuf",
        }
    }
}

/// Where the OTLP metrics mirror pushes (`metrics_exporter`, `OTEL_METRICS_EXPORTER`).
#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MetricsExporter {
    /// Over OTLP, to `metrics_endpoint` (else the traces endpoint).
    Otlp,
    /// Not over OTLP (chatobs' Prometheus endpoint is governed by `[metrics]`).
    None,
}

/// Whether the JSON log lines also go out over OTLP (`logs_exporter`,
/// `OTEL_LOGS_EXPORTER`).
#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogsExporter {
    /// Over OTLP, to `logs_endpoint` (else the traces endpoint).
    Otlp,
    /// Not over OTLP (the lines still go where `[logs] output` says).
    None,
}

/// One of the three signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Spans.
    Traces,
    /// The metrics mirror.
    Metrics,
    /// Logs (the JSON log lines, over OTLP).
    Logs,
}

impl Signal {
    /// `traces`, `metrics`, `logs`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }
}

/// `[otlp]`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// A hosted backend whose endpoint, protocol and authentication header to
    /// use (`logfire`, `langfuse`, `langfuse-us`, `arize`, `honeycomb`,
    /// `grafana`, `phoenix`); its secrets come from its own environment
    /// variables, never from the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    /// Collector endpoint (empty: not configured).
    pub endpoint: String,
    /// Protocol.
    pub protocol: OtlpProtocol,
    /// Headers (non-secret from the file; secret ones from `OTEL_EXPORTER_OTLP_HEADERS`).
    pub headers: BTreeMap<String, String>,
    /// PEM file of the CA certificate(s) that sign the server's certificate
    /// (empty: the system's root certificates).
    pub certificate: String,
    /// PEM file of the client certificate (mTLS; with `client_key`).
    pub client_certificate: String,
    /// PEM file of the client's private key (mTLS; the path is not a secret, the file is).
    pub client_key: String,
    /// `certificate` for spans only.
    pub traces_certificate: String,
    /// `client_certificate` for spans only.
    pub traces_client_certificate: String,
    /// `client_key` for spans only.
    pub traces_client_key: String,
    /// Where metrics go (empty: the traces endpoint).
    pub metrics_endpoint: String,
    /// `otlp` or `none`: whether the metrics mirror pushes over OTLP at all.
    pub metrics_exporter: MetricsExporter,
    /// `certificate` for metrics only.
    pub metrics_certificate: String,
    /// `client_certificate` for metrics only.
    pub metrics_client_certificate: String,
    /// `client_key` for metrics only.
    pub metrics_client_key: String,
    /// Where logs go (empty: the traces endpoint).
    pub logs_endpoint: String,
    /// `otlp` or `none`: whether log lines are also sent over OTLP.
    pub logs_exporter: LogsExporter,
    /// `certificate` for logs only.
    pub logs_certificate: String,
    /// `client_certificate` for logs only.
    pub logs_client_certificate: String,
    /// `client_key` for logs only.
    pub logs_client_key: String,
    /// Which variable (or preset) set a field, for error messages.
    #[serde(skip)]
    origins: BTreeMap<String, String>,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            preset: None,
            endpoint: String::new(),
            protocol: OtlpProtocol::Grpc,
            headers: BTreeMap::new(),
            certificate: String::new(),
            client_certificate: String::new(),
            client_key: String::new(),
            traces_certificate: String::new(),
            traces_client_certificate: String::new(),
            traces_client_key: String::new(),
            metrics_endpoint: String::new(),
            metrics_exporter: MetricsExporter::Otlp,
            metrics_certificate: String::new(),
            metrics_client_certificate: String::new(),
            metrics_client_key: String::new(),
            logs_endpoint: String::new(),
            logs_exporter: LogsExporter::Otlp,
            logs_certificate: String::new(),
            logs_client_certificate: String::new(),
            logs_client_key: String::new(),
            origins: BTreeMap::new(),
        }
    }
}

/// The TLS files of one signal, each with where it was set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA bundle: (path, key or variable).
    pub ca: Option<(String, String)>,
    /// Client certificate: (path, key or variable).
    pub cert: Option<(String, String)>,
    /// Client key: (path, key or variable).
    pub key: Option<(String, String)>,
}

/// The variable of a `[otlp]` field that has one (for messages).
fn env_var_of(field: &str) -> Option<String> {
    Some(match field {
        "endpoint" => "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
        "protocol" => "OTEL_EXPORTER_OTLP_PROTOCOL".into(),
        "headers" => "OTEL_EXPORTER_OTLP_HEADERS".into(),
        "metrics_endpoint" => "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT".into(),
        "metrics_exporter" => "OTEL_METRICS_EXPORTER".into(),
        "logs_endpoint" => "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT".into(),
        "logs_exporter" => "OTEL_LOGS_EXPORTER".into(),
        "preset" => "CHATOBS_OTLP_PRESET".into(),
        f => {
            let (sig, rest) = match f.split_once('_') {
                Some((s @ ("traces" | "metrics" | "logs"), rest)) => {
                    (format!("{}_", s.to_ascii_uppercase()), rest)
                }
                _ => (String::new(), f),
            };
            match rest {
                "certificate" | "client_certificate" | "client_key" => {
                    format!("OTEL_EXPORTER_OTLP_{sig}{}", rest.to_ascii_uppercase())
                }
                _ => return None,
            }
        }
    })
}

impl OtlpConfig {
    /// Where `field` was set, for messages: the variable that set it, the
    /// preset that chose it, or the key (`otlp.endpoint`).
    pub fn origin(&self, field: &str) -> String {
        match self.origins.get(field) {
            Some(o) => o.clone(),
            None => format!("otlp.{field}"),
        }
    }

    /// Records that `field` was set by `origin` (a variable name, or a
    /// preset); used by [`crate::presets`] and `apply_env`.
    pub fn set_origin(&mut self, field: &str, origin: impl Into<String>) {
        self.origins.insert(field.to_owned(), origin.into());
    }

    /// Whether `field` was set by the environment variable `var`.
    pub(crate) fn set_by(&self, field: &str, var: &str) -> bool {
        self.origins.get(field).is_some_and(|o| o == var)
    }

    /// The TLS files that apply to `signal` (a per-signal setting wins over
    /// the general one, file by file).
    pub fn tls_files(&self, signal: Signal) -> TlsFiles {
        let (ca, cert, key, prefix) = match signal {
            Signal::Traces => (
                &self.traces_certificate,
                &self.traces_client_certificate,
                &self.traces_client_key,
                "traces_",
            ),
            Signal::Metrics => (
                &self.metrics_certificate,
                &self.metrics_client_certificate,
                &self.metrics_client_key,
                "metrics_",
            ),
            Signal::Logs => (
                &self.logs_certificate,
                &self.logs_client_certificate,
                &self.logs_client_key,
                "logs_",
            ),
        };
        let pick = |specific: &String, general: &String, field: &str| {
            if !specific.trim().is_empty() {
                Some((
                    specific.trim().to_owned(),
                    self.origin(&format!("{prefix}{field}")),
                ))
            } else if !general.trim().is_empty() {
                Some((general.trim().to_owned(), self.origin(field)))
            } else {
                None
            }
        };
        TlsFiles {
            ca: pick(ca, &self.certificate, "certificate"),
            cert: pick(cert, &self.client_certificate, "client_certificate"),
            key: pick(key, &self.client_key, "client_key"),
        }
    }

    /// The endpoint metrics go to (empty: none), and where it was set.
    pub fn metrics_target(&self) -> (String, String) {
        if !self.metrics_endpoint.trim().is_empty() {
            (
                self.metrics_endpoint.trim().to_owned(),
                self.origin("metrics_endpoint"),
            )
        } else {
            (self.endpoint.trim().to_owned(), self.origin("endpoint"))
        }
    }

    /// The endpoint logs go to (empty: none), and where it was set.
    pub fn logs_target(&self) -> (String, String) {
        if !self.logs_endpoint.trim().is_empty() {
            (
                self.logs_endpoint.trim().to_owned(),
                self.origin("logs_endpoint"),
            )
        } else {
            (self.endpoint.trim().to_owned(), self.origin("endpoint"))
        }
    }

    /// Applies `preset` (when set) from the environment `env`: endpoint,
    /// protocol, authentication headers. `apply_env` calls it; call it
    /// yourself after setting `preset` in code.
    pub fn apply_preset(&mut self, env: Env<'_>) -> Result<(), chatobs_core::Error> {
        let mut errs = Errors::new(None);
        if let Some(p) = self.preset {
            p.apply(self, env, &mut errs);
        }
        errs.into_result()
    }

    fn path_from_env(&mut self, env: Env<'_>, field: &'static str) {
        if let Some(var) = env_var_of(field) {
            if let Some(v) = env_value(env, &var) {
                let slot = match field {
                    "certificate" => &mut self.certificate,
                    "client_certificate" => &mut self.client_certificate,
                    "client_key" => &mut self.client_key,
                    "traces_certificate" => &mut self.traces_certificate,
                    "traces_client_certificate" => &mut self.traces_client_certificate,
                    "traces_client_key" => &mut self.traces_client_key,
                    "metrics_certificate" => &mut self.metrics_certificate,
                    "metrics_client_certificate" => &mut self.metrics_client_certificate,
                    "metrics_client_key" => &mut self.metrics_client_key,
                    "logs_certificate" => &mut self.logs_certificate,
                    "logs_client_certificate" => &mut self.logs_client_certificate,
                    "logs_client_key" => &mut self.logs_client_key,
                    _ => return,
                };
                *slot = v;
                self.set_origin(field, var);
            }
        }
    }
}

/// `OTEL_METRICS_EXPORTER` / `OTEL_LOGS_EXPORTER`: a comma-separated list
/// per the OpenTelemetry specification. `Some(true)` when it names `otlp`,
/// `Some(false)` for `none` or `also` (an exporter chatobs keeps elsewhere),
/// `None` when unset or wrong (the error says what is allowed).
fn exporter_list(
    env: Env<'_>,
    errs: &mut Errors,
    var: &str,
    also: &str,
    help: &str,
) -> Option<bool> {
    let v = env_value(env, var)?;
    let names: Vec<String> = v
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| !matches!(n.as_str(), "otlp" | "none") && n.as_str() != also)
        .collect();
    if !unknown.is_empty() {
        errs.push_env(var, format!("{unknown:?} is not supported: {help}"));
        return None;
    }
    Some(names.iter().any(|n| n == "otlp"))
}

const TLS_FIELDS: [&str; 12] = [
    "certificate",
    "client_certificate",
    "client_key",
    "traces_certificate",
    "traces_client_certificate",
    "traces_client_key",
    "metrics_certificate",
    "metrics_client_certificate",
    "metrics_client_key",
    "logs_certificate",
    "logs_client_certificate",
    "logs_client_key",
];

impl Section for OtlpConfig {
    const KEY: &'static str = "otlp";

    fn apply_env(&mut self, env: Env<'_>, errs: &mut Errors) {
        if let Some(v) = env_value(env, "CHATOBS_OTLP_PRESET") {
            match Preset::from_name(&v) {
                Some(p) => {
                    self.preset = Some(p);
                    self.set_origin("preset", "CHATOBS_OTLP_PRESET");
                }
                None => errs.push_env(
                    "CHATOBS_OTLP_PRESET",
                    format!(
                        "{v:?} is not a preset: use one of {}",
                        Preset::NAMES.join(", ")
                    ),
                ),
            }
        }
        if let Some(v) = env_value(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            self.endpoint = v;
            self.set_origin("endpoint", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        } else if let Some(v) = env_value(env, "OTEL_EXPORTER_OTLP_ENDPOINT") {
            self.endpoint = v;
            self.set_origin("endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT");
        }
        if let Some(v) = env_value(env, "OTEL_EXPORTER_OTLP_PROTOCOL") {
            match v.as_str() {
                "grpc" => self.protocol = OtlpProtocol::Grpc,
                "http/protobuf" => self.protocol = OtlpProtocol::HttpProtobuf,
                other => errs.push_env(
                    "OTEL_EXPORTER_OTLP_PROTOCOL",
                    format!("{other:?} is not supported: use grpc or http/protobuf"),
                ),
            }
            self.set_origin("protocol", "OTEL_EXPORTER_OTLP_PROTOCOL");
        }
        if let Some(v) = env_value(env, "OTEL_EXPORTER_OTLP_HEADERS") {
            for (i, pair) in v.split(',').enumerate() {
                if pair.trim().is_empty() {
                    continue;
                }
                let Some((k, val)) = pair.split_once('=') else {
                    errs.push_env(
                        "OTEL_EXPORTER_OTLP_HEADERS",
                        format!("pair {} has no `=`: expected name=value pairs separated by commas (values are not shown here)", i + 1),
                    );
                    continue;
                };
                let name = k.trim().to_ascii_lowercase();
                match percent_decode(val.trim()) {
                    Some(val) => {
                        self.set_origin(&format!("headers.{name}"), "OTEL_EXPORTER_OTLP_HEADERS");
                        self.headers.insert(name, val);
                    }
                    None => errs.push_env(
                        "OTEL_EXPORTER_OTLP_HEADERS",
                        format!("the value of header {name:?} is not valid percent-encoded UTF-8 (the value is not shown here)"),
                    ),
                }
            }
        }
        for field in TLS_FIELDS {
            self.path_from_env(env, field);
        }
        if let Some(v) = env_value(env, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
            self.metrics_endpoint = v;
            self.set_origin("metrics_endpoint", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
        }
        if let Some(otlp) = exporter_list(
            env,
            errs,
            "OTEL_METRICS_EXPORTER",
            "prometheus",
            "use otlp, or none to push no metrics over OTLP (chatobs' Prometheus endpoint is set in [metrics])",
        ) {
            self.metrics_exporter = if otlp {
                MetricsExporter::Otlp
            } else {
                MetricsExporter::None
            };
            self.set_origin("metrics_exporter", "OTEL_METRICS_EXPORTER");
        }
        if let Some(v) = env_value(env, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT") {
            self.logs_endpoint = v;
            self.set_origin("logs_endpoint", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT");
        }
        if let Some(otlp) = exporter_list(
            env,
            errs,
            "OTEL_LOGS_EXPORTER",
            "console",
            "use otlp, or none to send no logs over OTLP (where the JSON lines are written is [logs] output)",
        ) {
            self.logs_exporter = if otlp {
                LogsExporter::Otlp
            } else {
                LogsExporter::None
            };
            self.set_origin("logs_exporter", "OTEL_LOGS_EXPORTER");
        }
        if let Some(p) = self.preset {
            p.apply(self, env, errs);
        }
    }

    fn validate(&self, errs: &mut Errors) {
        if errs.in_file() {
            for name in self.headers.keys() {
                if is_secret_header(name) {
                    errs.push(
                        format!("otlp.headers.{name}"),
                        "secrets are read only from the environment: remove it from the file and set OTEL_EXPORTER_OTLP_HEADERS instead",
                    );
                }
            }
        }
        for (field, value) in [
            ("endpoint", &self.endpoint),
            ("metrics_endpoint", &self.metrics_endpoint),
        ] {
            if let Err(reason) = crate::endpoint::parse(value) {
                errs.push(self.origin(field), reason);
            }
        }
    }
}

/// Everything the OTLP exporters need: the `[otlp]` section, the service
/// (resource attributes) and the export timeout of one call.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpTarget {
    /// `[otlp]`.
    pub otlp: OtlpConfig,
    /// `[service]`.
    pub service: ServiceConfig,
    /// One export call's time limit (`exporter.export_timeout_ms`).
    pub export_timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_of_fields() {
        assert_eq!(
            env_var_of("traces_client_key").as_deref(),
            Some("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY")
        );
        assert_eq!(
            env_var_of("certificate").as_deref(),
            Some("OTEL_EXPORTER_OTLP_CERTIFICATE")
        );
        assert_eq!(
            env_var_of("metrics_certificate").as_deref(),
            Some("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE")
        );
    }

    #[test]
    fn per_signal_files_win_and_name_their_variable() {
        let mut c = OtlpConfig::default();
        let env: BTreeMap<&str, &str> = [
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/ca.pem"),
            ("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", "/m.pem"),
        ]
        .into_iter()
        .collect();
        let get = |k: &str| env.get(k).map(|v| v.to_string());
        let mut errs = Errors::new(None);
        c.apply_env(&get, &mut errs);
        assert!(errs.is_empty());
        let t = c.tls_files(Signal::Traces);
        assert_eq!(
            t.ca,
            Some(("/ca.pem".into(), "OTEL_EXPORTER_OTLP_CERTIFICATE".into()))
        );
        let m = c.tls_files(Signal::Metrics);
        assert_eq!(
            m.ca,
            Some((
                "/m.pem".into(),
                "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE".into()
            ))
        );
        c.client_key = "/k.pem".into();
        assert_eq!(
            c.tls_files(Signal::Traces).key,
            Some(("/k.pem".into(), "otlp.client_key".into()))
        );
    }
}
