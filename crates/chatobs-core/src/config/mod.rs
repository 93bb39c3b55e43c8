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
//! | `[exporter]` | `OTEL_SDK_DISABLED`, `CHATOBS_EXPORTER`, `CHATOBS_SPANS_FILE` |
//! | `[sampling]` | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` |
//! | `[logs]` | `CHATOBS_LOG_FORMAT`, `CHATOBS_LOG_OUTPUT` |
//! | `[tracing]` | `CHATOBS_TRACING_SPANS` |
//! | `[redaction]` | none |
//! | `[session]` | the variable named by `key_env` (`CHATOBS_SESSION_KEY`), read by `init` |

mod load;
mod sections;

pub use load::{find_key_line, merge, parse_table, section_from};
pub use sections::{
    is_secret_header, percent_decode, url_credentials, ExporterConfig, ExporterKind, LogFormat,
    LogsConfig, RedactionConfig, SamplingConfig, ServiceConfig, SessionConfig, TracingConfig,
};

use crate::Error;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};

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
            // An error that names its own file (a price file, a certificate) keeps it.
            Error::Config {
                file: Some(file),
                key,
                reason,
            } => self.list.push(Error::Config {
                file: Some(file),
                key,
                reason,
            }),
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

/// Whether a file can be appended to, or created, without creating anything:
/// it exists and opens for appending, or its nearest existing ancestor is a
/// directory. The reason says which path failed and how (never the content).
pub fn writable_file(p: &Path) -> Result<(), String> {
    if p.as_os_str().is_empty() {
        return Err("the path is empty".into());
    }
    if p.is_dir() {
        return Err(format!("{} is a directory", p.display()));
    }
    if p.exists() {
        return std::fs::OpenOptions::new()
            .append(true)
            .open(p)
            .map(|_| ())
            .map_err(|e| format!("{} cannot be opened for appending: {e}", p.display()));
    }
    let mut dir = p.parent();
    while let Some(d) = dir {
        let d = if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        };
        if d.exists() {
            return if d.is_dir() {
                Ok(())
            } else {
                Err(format!(
                    "{} cannot be created: {} is not a directory",
                    p.display(),
                    d.display()
                ))
            };
        }
        dir = d.parent();
    }
    Ok(())
}
