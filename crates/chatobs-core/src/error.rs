//! Errors returned by chatobs.

use std::path::PathBuf;

/// Everything that can go wrong in chatobs' own calls. Instrumented code
/// never sees these: a failing exporter or sink is counted, not propagated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration file or variable is wrong.
    #[error("{}{key}: {reason}", file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default())]
    Config {
        /// The file, when the value came from one.
        file: Option<PathBuf>,
        /// The key (`exporter.queue_size`) or environment variable.
        key: String,
        /// What was wrong and what to do.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A pipeline is already installed.
    #[error("chatobs is already initialized in this process: drop the first Guard before calling init again")]
    AlreadyInitialized,
    /// An exporter could not be built.
    #[error("exporter {exporter}: {reason}")]
    Exporter {
        /// Which exporter.
        exporter: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// An argument was rejected.
    #[error("{0}")]
    InvalidInput(String),
    /// Several configuration errors, every one of a file and of the
    /// environment (one per line when displayed).
    #[error("{} configuration errors:\n{}", .0.len(), .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Error>),
}

impl Error {
    /// A configuration error: the file (if any), the key or variable, the reason.
    pub fn config(
        file: Option<&std::path::Path>,
        key: impl Into<String>,
        reason: impl Into<String>,
    ) -> Error {
        Error::Config {
            file: file.map(|p| p.to_path_buf()),
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// The single errors this error holds (itself, or each of [`Error::Invalid`]).
    pub fn errors(&self) -> Vec<&Error> {
        match self {
            Error::Invalid(list) => list.iter().flat_map(Error::errors).collect(),
            e => vec![e],
        }
    }
}
