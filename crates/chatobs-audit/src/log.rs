//! The file sink: [`AuditLog`] appends records, continues the chain of an
//! existing file, and prunes old records behind a retention checkpoint.

use crate::config::{AuditConfig, MIN_KEY_BYTES};
use crate::record::{encode, keyed, parse_line, Action, BodyRef, Entry, HmacSha256, LineError};
use crate::verify::{checkpoint_of, verify_with, LineRead, Lines};
use crate::AuditError;
use chatobs_core::config::Env;
use serde_json::json;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// An append-only audit trail in a JSONL file, one record a line, each
/// chained to the one before by HMAC-SHA256.
///
/// One `AuditLog` per file and process: it is `Send + Sync` and serializes
/// its writers (share it in an `Arc`); two processes (or two `AuditLog`s)
/// appending to the same file would fork the chain.
pub struct AuditLog {
    path: PathBuf,
    key: HmacSha256,
    retention_days: u32,
    state: Mutex<State>,
}

struct State {
    file: File,
    last_seq: u64,
    last_mac: [u8; 32],
    /// Set when a write failed part way: nothing more is appended.
    stopped: Option<String>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .field("retention_days", &self.retention_days)
            .field("last_seq", &self.last_seq())
            .finish_non_exhaustive()
    }
}

/// What [`AuditLog::prune`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Records removed (0: nothing was old enough, or retention is off).
    pub pruned: u64,
    /// Records kept after the new checkpoint.
    pub kept: u64,
    /// The seq of the last record removed.
    pub last_pruned_seq: Option<u64>,
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> AuditError + 'a {
    move |source| AuditError::Io {
        path: path.to_path_buf(),
        what,
        source,
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

impl AuditLog {
    /// Opens (or creates) the trail `cfg.path`, with the key from the variable
    /// `cfg.key_env` (else `CHATOBS_SESSION_KEY`). Does not look at `cfg.enabled`:
    /// the caller decides whether to open it.
    pub fn open(cfg: &AuditConfig) -> Result<AuditLog, AuditError> {
        AuditLog::open_with_env(cfg, &|k| std::env::var(k).ok())
    }

    /// [`AuditLog::open`] with the environment read through `env`.
    pub fn open_with_env(cfg: &AuditConfig, env: Env<'_>) -> Result<AuditLog, AuditError> {
        let key = cfg.key(env)?;
        AuditLog::open_with_key(&cfg.path, &key, cfg.retention_days)
    }

    /// Opens (or creates, with its parent directories) the trail at `path`
    /// with `key` (at least 16 bytes), keeping records `retention_days` days
    /// (0: forever) when [`AuditLog::prune`] runs.
    ///
    /// An existing file is continued: its last record is checked with `key`
    /// (a changed or cut-short last record, or another key, is an error and
    /// nothing is written). Run [`crate::verify_file`] to check all of it.
    pub fn open_with_key(
        path: impl AsRef<Path>,
        key: &[u8],
        retention_days: u32,
    ) -> Result<AuditLog, AuditError> {
        let path = path.as_ref().to_path_buf();
        if key.len() < MIN_KEY_BYTES {
            return Err(AuditError::Key(format!(
                "the key has {} bytes; use at least {MIN_KEY_BYTES} random bytes (for example `openssl rand -hex 32`)",
                key.len()
            )));
        }
        if path.as_os_str().is_empty() {
            return Err(AuditError::InvalidInput(
                "the audit trail's path is empty (audit.path)".into(),
            ));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io(dir, "create the directory"))?;
        }
        let key = keyed(key);
        let mut file = open_append(&path).map_err(io(&path, "open the trail for appending"))?;
        let (last_seq, last_mac) = read_tail(&path, &key, &mut file)?;
        Ok(AuditLog {
            path,
            key,
            retention_days,
            state: Mutex::new(State {
                file,
                last_seq,
                last_mac,
                stopped: None,
            }),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configured retention in days (0: forever).
    pub fn retention_days(&self) -> u32 {
        self.retention_days
    }

    /// The seq of the last record written (0 for a new trail).
    pub fn last_seq(&self) -> u64 {
        self.lock().last_seq
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is updated only after a write succeeded: a panic elsewhere
        // while holding the lock leaves it consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `entry`, timestamped now, and returns its seq. The line is
    /// written with one call and synced to disk before this returns.
    pub fn record(&self, entry: Entry) -> Result<u64, AuditError> {
        self.record_at(entry, OffsetDateTime::now_utc())
    }

    /// Appends `entry` with the time `at` (an import, a test); otherwise as
    /// [`AuditLog::record`].
    pub fn record_at(&self, entry: Entry, at: OffsetDateTime) -> Result<u64, AuditError> {
        let e = entry.checked()?;
        let ts = rfc3339(at)?;
        let mut st = self.lock();
        if let Some(reason) = &st.stopped {
            return Err(AuditError::Stopped {
                path: self.path.clone(),
                reason: reason.clone(),
            });
        }
        let seq = st.last_seq.checked_add(1).ok_or_else(|| {
            AuditError::InvalidInput("the trail's seq is at its largest value".into())
        })?;
        let prev = hex::encode(st.last_mac);
        let body = BodyRef {
            seq,
            ts: &ts,
            actor: &e.actor,
            action: e.action,
            target: &e.target,
            before: &e.before,
            after: &e.after,
            prev: &prev,
        };
        let (line, mac) = encode(&self.key, &body)?;
        if let Err(source) = st.file.write_all(&line).and_then(|()| st.file.sync_data()) {
            st.stopped = Some(source.to_string());
            return Err(AuditError::Io {
                path: self.path.clone(),
                what: "append a record",
                source,
            });
        }
        st.last_seq = seq;
        st.last_mac = mac;
        Ok(seq)
    }

    /// Removes the records older than the retention (their `ts` before
    /// `now - retention_days`), from the start of the trail up to the first
    /// newer one, and puts a `retention_checkpoint` record first in their
    /// place: its `before` holds `{"pruned", "last_pruned_seq",
    /// "last_pruned_mac"}`, its seq and `prev` are those of the last pruned
    /// record, so the rest of the chain still verifies from it.
    ///
    /// The whole trail is verified first: a trail that does not verify is left
    /// as it is ([`AuditError::Tampered`]). The new file is written beside the
    /// old one, synced, then renamed over it. Writers wait meanwhile.
    pub fn prune(&self, now: OffsetDateTime) -> Result<PruneReport, AuditError> {
        if self.retention_days == 0 {
            return Ok(PruneReport::default());
        }
        let cutoff = now
            .checked_sub(time::Duration::days(i64::from(self.retention_days)))
            .ok_or_else(|| {
                AuditError::InvalidInput("the retention cutoff is out of range".into())
            })?;
        let mut st = self.lock();
        if let Some(reason) = &st.stopped {
            return Err(AuditError::Stopped {
                path: self.path.clone(),
                reason: reason.clone(),
            });
        }
        let path = &self.path;
        let f = File::open(path).map_err(io(path, "read the trail"))?;
        verify_with(&self.key, f).map_err(|error| AuditError::Tampered {
            path: path.clone(),
            error,
        })?;

        // The records to prune: the longest run of old ones from the start.
        let f = File::open(path).map_err(io(path, "read the trail"))?;
        let mut lines = Lines::new(std::io::BufReader::with_capacity(1 << 16, f));
        let mut pruned = 0u64;
        let mut last_pruned: Option<(u64, [u8; 32])> = None;
        let first_kept = loop {
            let Some(read) = lines.next_line().map_err(io(path, "read the trail"))? else {
                break None;
            };
            let p = match (read, parse_line(&self.key, &lines.buf)) {
                (LineRead::Line, Ok(p)) => p,
                // Verified a moment ago: the file changed under us.
                _ => {
                    return Err(AuditError::Corrupt {
                        path: path.clone(),
                        reason: format!("line {} changed while pruning", lines.line),
                    })
                }
            };
            if p.body.action == Action::RetentionCheckpoint {
                continue; // replaced by the new checkpoint
            }
            let old = OffsetDateTime::parse(&p.body.ts, &Rfc3339).is_ok_and(|ts| ts < cutoff);
            if !old {
                break Some(std::mem::take(&mut lines.buf));
            }
            pruned += 1;
            last_pruned = Some((p.body.seq, p.mac));
        };
        let Some((last_pruned_seq, last_pruned_mac)) = last_pruned else {
            return Ok(PruneReport::default());
        };

        let ts = rfc3339(now)?;
        let prev = hex::encode(last_pruned_mac);
        let before = Some(json!({
            "pruned": pruned,
            "last_pruned_seq": last_pruned_seq,
            "last_pruned_mac": prev,
        }));
        let after = Some(json!({
            "retention_days": self.retention_days,
            "cutoff": rfc3339(cutoff)?,
        }));
        let (checkpoint, _) = encode(
            &self.key,
            &BodyRef {
                seq: last_pruned_seq,
                ts: &ts,
                actor: "system",
                action: Action::RetentionCheckpoint,
                target: "audit.retention_days",
                before: &before,
                after: &after,
                prev: &prev,
            },
        )?;

        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "audit".into());
        let tmp = path.with_file_name(format!(".{name}.prune-{}.tmp", std::process::id()));
        let mut write = || -> Result<u64, AuditError> {
            let mut out = open_new(&tmp).map_err(io(&tmp, "create the pruned copy"))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 16, &mut out);
            w.write_all(&checkpoint)
                .map_err(io(&tmp, "write the pruned copy"))?;
            let mut kept = 0u64;
            if let Some(first) = &first_kept {
                w.write_all(first)
                    .and_then(|()| w.write_all(b"\n"))
                    .map_err(io(&tmp, "write the pruned copy"))?;
                kept += 1;
                while let Some(read) = lines.next_line().map_err(io(path, "read the trail"))? {
                    if !matches!(read, LineRead::Line) {
                        return Err(AuditError::Corrupt {
                            path: path.clone(),
                            reason: format!("line {} changed while pruning", lines.line),
                        });
                    }
                    w.write_all(&lines.buf)
                        .and_then(|()| w.write_all(b"\n"))
                        .map_err(io(&tmp, "write the pruned copy"))?;
                    kept += 1;
                }
            }
            w.flush().map_err(io(&tmp, "write the pruned copy"))?;
            drop(w);
            out.sync_all().map_err(io(&tmp, "sync the pruned copy"))?;
            Ok(kept)
        };
        let kept = match write() {
            Ok(k) => k,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if let Err(e) = std::fs::rename(&tmp, path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(path, "replace the trail with its pruned copy")(e));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Best effort: makes the rename itself durable where supported.
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        // The old handle points at the replaced file.
        match open_append(path) {
            Ok(f) => st.file = f,
            Err(source) => {
                st.stopped = Some(format!("reopening after pruning: {source}"));
                return Err(AuditError::Io {
                    path: path.clone(),
                    what: "reopen the trail after pruning",
                    source,
                });
            }
        }
        // The chain continues from the last record as before (the last pruned
        // one when none was kept), so the state does not change.
        Ok(PruneReport {
            pruned,
            kept,
            last_pruned_seq: Some(last_pruned_seq),
        })
    }
}

fn open_new(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

fn rfc3339(t: OffsetDateTime) -> Result<String, AuditError> {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .map_err(|e| {
            AuditError::InvalidInput(format!("the time {t} cannot be written as RFC 3339: {e}"))
        })
}

/// The seq and MAC the next record continues from: those of the last record
/// of `file` (for a checkpoint, of the last pruned record), after checking it.
fn read_tail(
    path: &Path,
    key: &HmacSha256,
    file: &mut File,
) -> Result<(u64, [u8; 32]), AuditError> {
    let len = file.metadata().map_err(io(path, "read the trail"))?.len();
    if len == 0 {
        return Ok((0, [0u8; 32]));
    }
    let window = (2 * crate::record::MAX_LINE_BYTES) as u64;
    let start = len.saturating_sub(window);
    file.seek(SeekFrom::Start(start))
        .map_err(io(path, "read the trail"))?;
    let mut buf = Vec::with_capacity((len - start) as usize);
    Read::by_ref(file)
        .take(window)
        .read_to_end(&mut buf)
        .map_err(io(path, "read the trail"))?;
    let corrupt = |reason: String| AuditError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let complete = buf.last() == Some(&b'\n');
    let body = if complete {
        &buf[..buf.len() - 1]
    } else {
        &buf[..]
    };
    let line = match body.iter().rposition(|&c| c == b'\n') {
        Some(i) => &body[i + 1..],
        None if start == 0 => body,
        None => {
            return Err(corrupt(
                "the last line is longer than any audit record".into(),
            ))
        }
    };
    let p = match parse_line(key, line) {
        Ok(p) => p,
        Err(LineError::Changed) => {
            return Err(corrupt(
                "the last record does not match its MAC: it was changed, or the trail was written with another key".into(),
            ))
        }
        Err(LineError::Malformed(why)) => {
            let cut = if complete {
                String::new()
            } else {
                " (it has no newline: a write was interrupted or the file was cut)".into()
            };
            return Err(corrupt(format!("the last line is not an audit record{cut}: {why}")));
        }
    };
    if !complete {
        // A good record whose newline was not written: finish the line.
        file.write_all(b"\n")
            .and_then(|()| file.sync_data())
            .map_err(io(path, "finish the last line"))?;
    }
    if p.body.action == Action::RetentionCheckpoint {
        let cp = checkpoint_of(&p).map_err(|why| corrupt(format!("the last record: {why}")))?;
        return Ok((cp.last_pruned_seq, p.prev));
    }
    Ok((p.body.seq, p.mac))
}
