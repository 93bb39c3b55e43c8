#![deny(warnings)]
//! Return values of every kind: `Result` with a `Display` error, with a
//! `Debug`-only error, a non-`Result` value, and `!Debug` values.
use chatobs_runtime::chat_span;

#[derive(Debug)]
struct DebugOnly;

struct Opaque;

#[chat_span]
fn display_err(fail: bool) -> Result<u32, String> {
    if fail {
        Err("boom".into())
    } else {
        Ok(1)
    }
}

#[chat_span]
fn debug_err() -> Result<(), DebugOnly> {
    Err(DebugOnly)
}

#[chat_span]
fn opaque() -> Opaque {
    Opaque
}

#[chat_span]
fn opaque_result() -> Result<Opaque, Opaque> {
    Ok(Opaque)
}

#[chat_span]
fn boxed_err() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Err("bad".into())
}

fn main() {
    assert!(display_err(true).is_err());
    assert_eq!(display_err(false).unwrap(), 1);
    assert!(debug_err().is_err());
    let _ = opaque();
    assert!(opaque_result().is_ok());
    assert!(boxed_err().is_err());
}
