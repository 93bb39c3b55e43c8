//! Runs the built `chatobs` binary.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};

/// Exit code, standard output and standard error of `chatobs ARGS`.
pub fn chatobs(args: &[&str]) -> (i32, String, String) {
    chatobs_with_stdin(args, "")
}

/// The same, with `stdin` written to the command's standard input.
pub fn chatobs_with_stdin(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatobs"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The CLI may exit before reading (a rejected argument): ignore a broken pipe.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
