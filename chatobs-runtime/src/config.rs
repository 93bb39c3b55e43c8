//! Configuration: the sections of the parts this build compiled in, from
//! their defaults, your file, then the environment.
//!
//! [`Config::load`] reads, in order (later wins):
//! 1. each section's defaults, owned by the crate that reads it (documented,
//!    with every key, in `config/observability.toml`, which a test keeps equal);
//! 2. the file named by `CHATOBS_CONFIG`, else `config/observability.toml`
//!    in the working directory if it exists (keys you leave out keep their defaults);
//! 3. environment variables, each read by the section that owns it:
//!    `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` (`[service]`);
//!    `OTEL_SDK_DISABLED`, `CHATOBS_EXPORTER`, `CHATOBS_SPANS_FILE` (`[exporter]`);
//!    `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` (`[sampling]`);
//!    `CHATOBS_LOG_FORMAT`, `CHATOBS_LOG_OUTPUT` (`[logs]`);
//!    `CHATOBS_TRACING_SPANS` (`[tracing]`);
//!    `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
//!    `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_EXPORTER_OTLP_HEADERS` (`[otlp]`);
//!    the judge, Phoenix and alert-sink variables (`[evals]`, `[alerts]`).
//!
//! Secrets are read only from the environment: the session key
//! (`CHATOBS_SESSION_KEY`), OTLP and webhook authentication headers. A
//! secret-looking header in a file is an error.
//!
//! Loading reports every error of a file and of the environment at once,
//! each with the file, the key and the reason:
//! ```text
//! config/observability.toml: exporter.queue_size: must be between 1 and 1048576, got 0
//! ```
//!
//! ```
//! use chatobs_runtime::Config;
//! let err = Config::from_toml_str(
//!     "[exporter]\nqueue_size = 0\n[sampling]\nsampler = \"sometimes\"\n",
//!     Some(std::path::Path::new("bot.toml")),
//! ).unwrap_err();
//! let text = err.to_string();
//! assert!(text.contains("bot.toml: exporter.queue_size: must be between 1 and 1048576, got 0"));
//! assert!(text.contains("bot.toml: sampling.sampler: unknown sampler \"sometimes\""));
//! ```

use crate::Error;
use chatobs_core::config::{parse_table, section_from, Errors, Section};
use std::path::{Path, PathBuf};

#[cfg(feature = "alerts")]
pub use chatobs_alerts::{AlertsConfig, SloConfig};
#[cfg(feature = "audit")]
pub use chatobs_audit::AuditConfig;
pub use chatobs_core::config::{
    is_secret_header, ExporterConfig, ExporterKind, LogFormat, LogsConfig, RedactionConfig,
    SamplingConfig, ServiceConfig, SessionConfig, TracingConfig,
};
#[cfg(feature = "cost")]
pub use chatobs_cost::CostConfig;
#[cfg(feature = "evals")]
pub use chatobs_evals::EvalsConfig;
#[cfg(any(feature = "axum", feature = "reqwest"))]
pub use chatobs_integrations::health::HealthConfig;
#[cfg(feature = "metrics")]
pub use chatobs_metrics::MetricsConfig;
#[cfg(feature = "otlp")]
pub use chatobs_otlp::{OtlpConfig, OtlpProtocol};
#[cfg(feature = "state")]
pub use chatobs_state::StateConfig;

/// Calls `$m!(field, Type)` for each section compiled into this build, in
/// the order of `config/observability.toml`. The one list of sections.
macro_rules! for_each_section {
    ($m:ident) => {
        $m!(service, ServiceConfig);
        $m!(exporter, ExporterConfig);
        #[cfg(feature = "otlp")]
        $m!(otlp, OtlpConfig);
        $m!(sampling, SamplingConfig);
        $m!(logs, LogsConfig);
        $m!(tracing, TracingConfig);
        $m!(redaction, RedactionConfig);
        $m!(session, SessionConfig);
        #[cfg(feature = "cost")]
        $m!(cost, CostConfig);
        #[cfg(any(feature = "axum", feature = "reqwest"))]
        $m!(health, HealthConfig);
        #[cfg(feature = "evals")]
        $m!(evals, EvalsConfig);
        #[cfg(feature = "alerts")]
        $m!(alerts, AlertsConfig);
        #[cfg(feature = "metrics")]
        $m!(metrics, MetricsConfig);
        #[cfg(feature = "alerts")]
        $m!(slo, SloConfig);
        #[cfg(feature = "audit")]
        $m!(audit, AuditConfig);
        #[cfg(feature = "state")]
        $m!(state, StateConfig);
    };
}

/// Sections that exist but need a feature this build does not have.
const OPTIONAL_SECTIONS: &[(&str, &str)] = &[
    ("otlp", "otlp"),
    ("cost", "cost"),
    ("health", "axum` or `reqwest"),
    ("evals", "evals"),
    ("alerts", "alerts"),
    ("metrics", "metrics"),
    ("slo", "alerts"),
    ("audit", "audit"),
    ("state", "state"),
];

/// Everything `init` needs: one field per section compiled into this build.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// `[service]`: resource attributes.
    pub service: ServiceConfig,
    /// `[exporter]`: span exporters and batching.
    pub exporter: ExporterConfig,
    /// `[otlp]`: the OTLP exporter (feature `otlp`).
    #[cfg(feature = "otlp")]
    pub otlp: OtlpConfig,
    /// `[sampling]`: head sampling.
    pub sampling: SamplingConfig,
    /// `[logs]`: JSON logs.
    pub logs: LogsConfig,
    /// `[tracing]`: the bridge exporting your own `tracing` spans.
    pub tracing: TracingConfig,
    /// `[redaction]`: what never leaves the process.
    pub redaction: RedactionConfig,
    /// `[session]`: session ids.
    pub session: SessionConfig,
    /// `[cost]`: price files and state bounds (feature `cost`).
    #[cfg(feature = "cost")]
    pub cost: CostConfig,
    /// `[health]`: readiness thresholds of `/health/ready` (features `axum`, `reqwest`).
    #[cfg(any(feature = "axum", feature = "reqwest"))]
    pub health: HealthConfig,
    /// `[evals]`: online evaluations, the LLM judge, Phoenix annotations, feedback (feature `evals`).
    #[cfg(feature = "evals")]
    pub evals: EvalsConfig,
    /// `[alerts]`: budget rules, alert sinks, generated Prometheus rules (feature `alerts`).
    #[cfg(feature = "alerts")]
    pub alerts: AlertsConfig,
    /// `[metrics]` (feature `metrics`).
    #[cfg(feature = "metrics")]
    pub metrics: MetricsConfig,
    /// `[slo]`: service level objectives of conversation turns (feature `alerts`).
    #[cfg(feature = "alerts")]
    pub slo: SloConfig,
    /// `[audit]`: the tamper-evident audit trail (feature `audit`).
    #[cfg(feature = "audit")]
    pub audit: AuditConfig,
    /// `[state]`: conversations' totals shared across replicas and services
    /// (feature `state`; Redis when `url` is set).
    #[cfg(feature = "state")]
    pub state: StateConfig,
    /// Where this configuration came from (not a key).
    pub source: Option<PathBuf>,
}

impl Default for Config {
    /// Every section's defaults (without reading the environment).
    fn default() -> Self {
        Config {
            service: Default::default(),
            exporter: Default::default(),
            #[cfg(feature = "otlp")]
            otlp: Default::default(),
            sampling: Default::default(),
            logs: Default::default(),
            tracing: Default::default(),
            redaction: Default::default(),
            session: Default::default(),
            #[cfg(feature = "cost")]
            cost: Default::default(),
            #[cfg(any(feature = "axum", feature = "reqwest"))]
            health: Default::default(),
            #[cfg(feature = "evals")]
            evals: Default::default(),
            #[cfg(feature = "alerts")]
            alerts: Default::default(),
            #[cfg(feature = "metrics")]
            metrics: Default::default(),
            #[cfg(feature = "alerts")]
            slo: Default::default(),
            #[cfg(feature = "audit")]
            audit: Default::default(),
            #[cfg(feature = "state")]
            state: Default::default(),
            source: None,
        }
    }
}

impl Config {
    /// Loads the defaults, the file (`CHATOBS_CONFIG` or `./config/observability.toml`) and the environment.
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

    /// Parses TOML text overlaid on the defaults (no environment). Every bad
    /// key and every failed check is reported, not only the first.
    pub fn from_toml_str(text: &str, file: Option<&Path>) -> Result<Config, Error> {
        let mut table = parse_table(text, file)?;
        let mut errs = Errors::new(file);
        let mut cfg = Config::default();
        macro_rules! read_section {
            ($f:ident, $t:ty) => {
                cfg.$f =
                    section_from::<$t>(table.remove(<$t as Section>::KEY), Some(text), &mut errs);
            };
        }
        for_each_section!(read_section);
        for (key, _) in table {
            match OPTIONAL_SECTIONS.iter().find(|(s, _)| *s == key) {
                Some((_, feature)) => errs.push(
                    key,
                    format!("this section needs chatobs-runtime's `{feature}` feature, which this build does not have"),
                ),
                None => errs.push(
                    key.clone(),
                    format!("unknown section `{key}`, expected one of {}", Config::section_names().join(", ")),
                ),
            }
        }
        cfg.source = file.map(Path::to_path_buf);
        cfg.validate_into(&mut errs);
        errs.into_result()?;
        Ok(cfg)
    }

    /// Applies environment overrides from `get` (normally `std::env::var`),
    /// each section reading its own variables, then checks every section.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), Error> {
        let mut errs = Errors::new(None);
        macro_rules! env_section {
            ($f:ident, $t:ty) => {
                Section::apply_env(&mut self.$f, &get, &mut errs);
            };
        }
        for_each_section!(env_section);
        self.validate_into(&mut errs);
        errs.into_result()
    }

    /// Checks every section, collecting all problems (the file's rules, such
    /// as secrets refused in a file, apply when the values came from one).
    pub fn validate(&self) -> Result<(), Error> {
        let mut errs = Errors::new(self.source.as_deref());
        self.validate_into(&mut errs);
        errs.into_result()
    }

    /// Checks every section's values, as the environment may have changed
    /// them (no file rules: a header from the environment is fine).
    pub(crate) fn validate_values(&self) -> Result<(), Error> {
        let mut errs = Errors::new(None);
        self.validate_into(&mut errs);
        errs.into_result()
    }

    fn validate_into(&self, errs: &mut Errors) {
        macro_rules! validate_section {
            ($f:ident, $t:ty) => {
                Section::validate(&self.$f, errs);
            };
        }
        for_each_section!(validate_section);
    }

    /// The names of the sections this build reads.
    pub fn section_names() -> Vec<&'static str> {
        let mut v = Vec::new();
        macro_rules! name {
            ($f:ident, $t:ty) => {
                v.push(<$t as Section>::KEY);
            };
        }
        for_each_section!(name);
        v
    }

    /// The head sampler this configuration names.
    pub fn sampler(&self) -> Result<chatobs_core::span::Sampler, String> {
        self.sampling.sampler()
    }

    /// The exporters to install, with `auto` resolved (OTLP when an endpoint
    /// is configured and the `otlp` feature is on, else the file).
    pub fn resolved_exporters(&self) -> Vec<ExporterKind> {
        #[cfg(feature = "otlp")]
        let has_endpoint = !self.otlp.endpoint.is_empty();
        #[cfg(not(feature = "otlp"))]
        let has_endpoint = false;
        let mut out = Vec::new();
        for k in &self.exporter.kinds {
            let k = match k {
                ExporterKind::Auto if has_endpoint => ExporterKind::Otlp,
                ExporterKind::Auto => ExporterKind::File,
                k => *k,
            };
            if !out.contains(&k) {
                out.push(k);
            }
        }
        out
    }
}
