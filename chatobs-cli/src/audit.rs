//! `chatobs audit verify FILE [--key-env VAR]`: checks a tamper-evident audit
//! trail (see the `chatobs-audit` crate).
//!
//! Exit status: 0 when the trail is intact (`ok: N records, chain intact
//! (first seq A, last seq B)` on standard output); 1 when it is not, with
//! `chatobs: FILE line L (seq S): record changed|removed|reordered|malformed`
//! and a line of detail on standard error; 2 when it could not be checked (no
//! key, unreadable file). The key is read from the environment and never printed.

use chatobs_audit::{resolve_key, VerifyErrorKind};
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// `chatobs audit ...`
#[derive(Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    cmd: AuditCmd,
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Verify every record's keyed hash and the chain; name the first changed, removed,
    /// reordered or malformed record.
    Verify {
        /// The audit trail (JSONL), e.g. target/chatobs/audit.jsonl.
        file: PathBuf,
        /// The environment variable holding the key (default CHATOBS_AUDIT_KEY; when it is
        /// unset, CHATOBS_SESSION_KEY).
        #[arg(long, value_name = "VAR", default_value = chatobs_audit::config::AUDIT_KEY_ENV)]
        key_env: String,
    },
}

fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    // A closed standard error must not turn an error into a panic.
    let _ = writeln!(std::io::stderr(), "chatobs: {msg}");
    ExitCode::from(code)
}

/// Runs `chatobs audit ...` and returns the exit status.
pub fn run(args: AuditArgs) -> ExitCode {
    match args.cmd {
        AuditCmd::Verify { file, key_env } => verify(&file, &key_env),
    }
}

fn verify(file: &std::path::Path, key_env: &str) -> ExitCode {
    let name = file.display();
    let key = match resolve_key(key_env, &|k| std::env::var(k).ok()) {
        Ok(k) => k,
        Err(e) => return fail(2, e),
    };
    let f = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) => return fail(2, format_args!("{name}: {e}")),
    };
    match chatobs_audit::verify(f, &key) {
        Ok(s) => {
            let mut text = match (s.first_seq, s.last_seq) {
                (Some(a), Some(b)) => format!(
                    "ok: {} records, chain intact (first seq {a}, last seq {b})\n",
                    s.records
                ),
                _ => "ok: 0 records, chain intact (empty trail)\n".to_owned(),
            };
            if let Some(cp) = &s.checkpoint {
                text.push_str(&format!(
                    "starts at a retention checkpoint: {} records pruned, up to seq {}\n",
                    cp.pruned, cp.last_pruned_seq
                ));
            }
            if let Some(mac) = &s.last_mac {
                text.push_str(&format!("last mac {mac}\n"));
            }
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => fail(2, format_args!("cannot write to standard output: {e}")),
            }
        }
        Err(e) if e.kind == VerifyErrorKind::Unreadable => {
            fail(2, format_args!("{name}: {}", e.detail))
        }
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "chatobs: {name} {}\n  {}",
                e.headline(),
                e.detail
            );
            ExitCode::from(1)
        }
    }
}
