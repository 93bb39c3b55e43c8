//! Errors of writing and pruning a trail. None of them contains the key.

use crate::VerifyError;
use std::path::PathBuf;

/// What went wrong opening, writing or pruning a trail: what, where, and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// No usable key: which variable to set (the value is never shown).
    #[error("audit key: {0}")]
    Key(String),
    /// The file could not be created, read or written.
    #[error("{}: cannot {what}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done (`append a record`).
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The end of an existing trail is not a good record, so the chain cannot
    /// be continued; nothing was written.
    #[error("{}: {reason}; run `chatobs audit verify {}` to see what changed, then move the file aside to start a new trail", path.display(), path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with its end.
        reason: String,
    },
    /// `prune` found a trail that does not verify and left it as it was
    /// (pruning would erase the evidence).
    #[error("{}: not pruned, the trail does not verify: {error}; keep the file as evidence and start a new trail", path.display())]
    Tampered {
        /// The file.
        path: PathBuf,
        /// The first problem found.
        error: VerifyError,
    },
    /// An entry out of bounds (too long, empty, an action callers may not write).
    #[error("{0}")]
    InvalidInput(String),
    /// An earlier write failed part way, so the end of the file may hold half
    /// a record; nothing more is appended to it.
    #[error("{}: an earlier write failed ({reason}), so the end of the file may be incomplete; nothing more is appended: open the trail again (it checks the last record) after fixing the cause", path.display())]
    Stopped {
        /// The file.
        path: PathBuf,
        /// The earlier failure.
        reason: String,
    },
}

impl From<AuditError> for chatobs_core::Error {
    fn from(e: AuditError) -> chatobs_core::Error {
        match e {
            AuditError::Key(reason) => chatobs_core::Error::config(None, "audit.key_env", reason),
            AuditError::Io { path, source, .. } => chatobs_core::Error::Io { path, source },
            other => chatobs_core::Error::InvalidInput(other.to_string()),
        }
    }
}
