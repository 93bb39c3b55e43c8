//! Verification: every record's MAC, and the chain (`seq` continuous, each
//! `prev` the MAC of the record before), naming the first line that breaks it.

use crate::record::{
    claimed_mac, claimed_seq, keyed, parse_line, Action, HmacSha256, LineError, Parsed,
    MAX_LINE_BYTES,
};
use serde_json::Value;
use std::io::{BufRead, Read};
use std::path::Path;

/// What a good trail holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Lines (records), a leading retention checkpoint included.
    pub records: u64,
    /// The first line's seq (a checkpoint's seq is the last pruned record's).
    pub first_seq: Option<u64>,
    /// The last record's seq.
    pub last_seq: Option<u64>,
    /// The last record's MAC (hex): keep it elsewhere (a ticket, another
    /// system) to detect later that records were cut from the end.
    pub last_mac: Option<String>,
    /// The retention checkpoint the trail starts with, if any.
    pub checkpoint: Option<Checkpoint>,
}

/// A retention checkpoint: records up to `last_pruned_seq` were pruned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// How many records that prune removed.
    pub pruned: u64,
    /// The seq of the last pruned record (the chain continues after it).
    pub last_pruned_seq: u64,
    /// The MAC (hex) of the last pruned record, the next record's `prev`.
    pub last_pruned_mac: String,
}

/// How a trail is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VerifyErrorKind {
    /// The record's MAC does not match its bytes: it was edited (a byte
    /// flipped), or the trail was written with another key.
    Changed,
    /// Records are missing before this line (a gap in `seq`, or a `prev` that
    /// links to no record in the file).
    Removed,
    /// The record is out of place: its seq goes backwards, or a record that
    /// belongs here comes later in the file.
    Reordered,
    /// The line is not an audit record (not JSON, cut short, empty, too long).
    Malformed,
    /// The input could not be read.
    Unreadable,
}

impl VerifyErrorKind {
    /// `changed`, `removed`, `reordered`, `malformed` or `unreadable`.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyErrorKind::Changed => "changed",
            VerifyErrorKind::Removed => "removed",
            VerifyErrorKind::Reordered => "reordered",
            VerifyErrorKind::Malformed => "malformed",
            VerifyErrorKind::Unreadable => "unreadable",
        }
    }
}

impl std::fmt::Display for VerifyErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first place a trail is broken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", self.headline())]
pub struct VerifyError {
    /// The line (1-based).
    pub line: u64,
    /// The record's seq: the one on that line (for [`VerifyErrorKind::Removed`],
    /// the first missing one); `None` when the line has none.
    pub seq: Option<u64>,
    /// How it is broken.
    pub kind: VerifyErrorKind,
    /// What was found and what was expected (never the key, never record content).
    pub detail: String,
}

impl VerifyError {
    /// `line 7 (seq 7): record changed`.
    pub fn headline(&self) -> String {
        let seq = self
            .seq
            .map(|s| s.to_string())
            .unwrap_or_else(|| "unknown".into());
        format!("line {} (seq {seq}): record {}", self.line, self.kind)
    }
}

fn err(
    line: u64,
    seq: Option<u64>,
    kind: VerifyErrorKind,
    detail: impl Into<String>,
) -> VerifyError {
    VerifyError {
        line,
        seq,
        kind,
        detail: detail.into(),
    }
}

/// What one read of a line found.
pub(crate) enum LineRead {
    /// A line is in `buf` (without its newline).
    Line,
    /// A line longer than any record (skipped).
    TooLong,
}

/// Lines of a reader, each at most [`MAX_LINE_BYTES`] kept in memory.
pub(crate) struct Lines<R> {
    r: R,
    pub buf: Vec<u8>,
    pub line: u64,
}

impl<R: BufRead> Lines<R> {
    pub fn new(r: R) -> Lines<R> {
        Lines {
            r,
            buf: Vec::new(),
            line: 0,
        }
    }

    /// The next line, `None` at the end.
    pub fn next_line(&mut self) -> std::io::Result<Option<LineRead>> {
        self.buf.clear();
        let limit = MAX_LINE_BYTES as u64 + 1;
        let n = (&mut self.r).take(limit).read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            return Ok(Some(LineRead::Line));
        }
        if self.buf.len() > MAX_LINE_BYTES {
            self.buf.clear();
            self.r.skip_until(b'\n')?;
            return Ok(Some(LineRead::TooLong));
        }
        // The last line, without a newline.
        Ok(Some(LineRead::Line))
    }
}

/// Whether some later line satisfies `hit` (lines that cannot be read end the search).
fn later<R: BufRead>(lines: &mut Lines<R>, mut hit: impl FnMut(&[u8]) -> bool) -> bool {
    loop {
        match lines.next_line() {
            Ok(Some(LineRead::Line)) => {
                if hit(&lines.buf) {
                    return true;
                }
            }
            Ok(Some(LineRead::TooLong)) => {}
            Ok(None) | Err(_) => return false,
        }
    }
}

/// The checkpoint a `retention_checkpoint` record holds, checked against its own fields.
pub(crate) fn checkpoint_of(p: &Parsed) -> Result<Checkpoint, String> {
    let shape = "a retention checkpoint holds {\"pruned\", \"last_pruned_seq\", \"last_pruned_mac\"} in \"before\"";
    let b = p
        .body
        .before
        .as_ref()
        .and_then(Value::as_object)
        .ok_or(shape)?;
    let pruned = b.get("pruned").and_then(Value::as_u64).ok_or(shape)?;
    let last_pruned_seq = b
        .get("last_pruned_seq")
        .and_then(Value::as_u64)
        .ok_or(shape)?;
    let last_pruned_mac = b
        .get("last_pruned_mac")
        .and_then(Value::as_str)
        .ok_or(shape)?;
    if last_pruned_seq != p.body.seq || last_pruned_mac != p.body.prev || pruned == 0 {
        return Err(
            "the retention checkpoint's seq and prev do not match the last pruned record it names"
                .into(),
        );
    }
    Ok(Checkpoint {
        pruned,
        last_pruned_seq,
        last_pruned_mac: last_pruned_mac.to_owned(),
    })
}

/// Verifies a whole trail read from `reader` with `key`: every record's MAC,
/// then the chain. A trail may start with a `retention_checkpoint` (written by
/// pruning); an empty input is an empty, intact trail.
///
/// Returns the first problem, with its line: [`VerifyErrorKind::Changed`] (a
/// byte of the record was changed), [`VerifyErrorKind::Removed`] (records
/// missing before this line), [`VerifyErrorKind::Reordered`] (this record
/// belongs elsewhere), [`VerifyErrorKind::Malformed`] (not a record), or
/// [`VerifyErrorKind::Unreadable`]. Records cut from the *end* leave a shorter
/// trail that still verifies: compare [`Summary::last_seq`] and
/// [`Summary::last_mac`] with a copy kept elsewhere to detect that.
///
/// Memory is bounded (one line at a time, at most 64 KiB); never panics.
pub fn verify<R: Read>(reader: R, key: &[u8]) -> Result<Summary, VerifyError> {
    verify_with(&keyed(key), reader)
}

/// [`verify`] on the file at `path`.
pub fn verify_file(path: impl AsRef<Path>, key: &[u8]) -> Result<Summary, VerifyError> {
    let path = path.as_ref();
    let f = std::fs::File::open(path).map_err(|e| {
        err(
            0,
            None,
            VerifyErrorKind::Unreadable,
            format!("cannot open {}: {e}", path.display()),
        )
    })?;
    verify(f, key)
}

pub(crate) fn verify_with<R: Read>(key: &HmacSha256, reader: R) -> Result<Summary, VerifyError> {
    use VerifyErrorKind::*;
    let mut lines = Lines::new(std::io::BufReader::with_capacity(1 << 16, reader));
    let mut sum = Summary::default();
    // The seq and prev the next record must have.
    let mut expect: Option<(u64, [u8; 32])> = None;
    loop {
        let read = lines
            .next_line()
            .map_err(|e| err(lines.line + 1, None, Unreadable, format!("read error: {e}")))?;
        let n = lines.line;
        let p = match read {
            None => break,
            Some(LineRead::TooLong) => {
                return Err(err(
                    n,
                    None,
                    Malformed,
                    format!("the line is longer than any record ({MAX_LINE_BYTES} bytes)"),
                ))
            }
            Some(LineRead::Line) => match parse_line(key, &lines.buf) {
                Ok(p) => p,
                Err(LineError::Malformed(why)) => {
                    return Err(err(n, claimed_seq(&lines.buf), Malformed, why))
                }
                Err(LineError::Changed) => {
                    let why = if expect.is_none() {
                        "its MAC does not match its content: it was changed after it was written, or the trail was written with another key"
                    } else {
                        "its MAC does not match its content: it was changed after it was written"
                    };
                    return Err(err(n, claimed_seq(&lines.buf), Changed, why));
                }
            },
        };
        let seq = p.body.seq;
        let next_expect = |p: &Parsed| {
            seq.checked_add(1)
                .map(|s| (s, p.mac))
                .ok_or_else(|| err(n, Some(seq), Malformed, "seq is at its largest value"))
        };
        match expect {
            None if p.body.action == Action::RetentionCheckpoint => {
                let cp = checkpoint_of(&p).map_err(|why| err(n, Some(seq), Malformed, why))?;
                // The chain continues from the last pruned record, not from the checkpoint.
                let s = cp
                    .last_pruned_seq
                    .checked_add(1)
                    .ok_or_else(|| err(n, Some(seq), Malformed, "seq is at its largest value"))?;
                expect = Some((s, p.prev));
                sum.checkpoint = Some(cp);
            }
            None if seq == 1 && p.prev == [0u8; 32] => expect = Some(next_expect(&p)?),
            None if seq == 1 => {
                return Err(err(
                    n,
                    Some(seq),
                    Removed,
                    "seq 1 links to an earlier record (its prev is not 64 zeros): the records before it are missing",
                ))
            }
            None => return Err(gap(&mut lines, n, 1, seq, None)),
            Some((es, ep)) => {
                if p.body.action == Action::RetentionCheckpoint {
                    return Err(err(
                        n,
                        Some(seq),
                        Reordered,
                        "a retention checkpoint belongs on the first line only",
                    ));
                }
                if seq == es && p.prev == ep {
                    expect = Some(next_expect(&p)?);
                } else if seq > es {
                    return Err(gap(&mut lines, n, es, seq, Some(es - 1)));
                } else if seq < es {
                    return Err(err(
                        n,
                        Some(seq),
                        Reordered,
                        format!("seq {seq} comes after seq {}", es - 1),
                    ));
                } else {
                    let prev = p.prev;
                    return Err(if later(&mut lines, |l| claimed_mac(l) == Some(prev)) {
                        err(
                            n,
                            Some(seq),
                            Reordered,
                            "its prev is the MAC of a record later in the file",
                        )
                    } else {
                        err(
                            n,
                            Some(seq),
                            Removed,
                            format!("its prev is not the MAC of the record before it (seq {}): the record it links to is missing", es - 1),
                        )
                    });
                }
            }
        }
        sum.records += 1;
        sum.first_seq.get_or_insert(seq);
        sum.last_seq = Some(seq);
        sum.last_mac = Some(hex::encode(p.mac));
    }
    Ok(sum)
}

/// Line `n` holds seq `found` where seq `expected` belongs (`found > expected`):
/// reordered when one of the skipped seqs comes later in the file, else removed.
fn gap<R: BufRead>(
    lines: &mut Lines<R>,
    n: u64,
    expected: u64,
    found: u64,
    after: Option<u64>,
) -> VerifyError {
    let place = match after {
        Some(a) => format!("after seq {a}"),
        None => "at the start of the trail".into(),
    };
    let mut moved = None;
    if later(lines, |l| match claimed_seq(l) {
        Some(s) if (expected..found).contains(&s) => {
            moved = Some(s);
            true
        }
        _ => false,
    }) {
        let s = moved.unwrap_or(expected);
        return err(
            n,
            Some(found),
            VerifyErrorKind::Reordered,
            format!("found seq {found} {place}, where seq {expected} belongs; seq {s} comes later in the file"),
        );
    }
    let missing = if found - expected == 1 {
        format!("seq {expected} is missing")
    } else {
        format!("seqs {expected} to {} are missing", found - 1)
    };
    err(
        n,
        Some(expected),
        VerifyErrorKind::Removed,
        format!("found seq {found} {place}: {missing}"),
    )
}
