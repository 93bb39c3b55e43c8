//! Compile-time tests of `#[chat_span]` (trybuild).
//!
//! `ui/pass/*.rs` must compile (with `#![deny(warnings)]`) and run; `ui/fail/*.rs`
//! must fail to compile with exactly the diagnostics in the `.stderr` next to
//! them. Regenerate the snapshots with `TRYBUILD=overwrite cargo test -p
//! chatobs-runtime --test ui`, then read every changed `.stderr`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("../tests/ui/pass/*.rs");
    t.compile_fail("../tests/ui/fail/*.rs");
}
