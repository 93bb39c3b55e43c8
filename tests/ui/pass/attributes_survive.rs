#![deny(warnings)]
//! Other attributes survive: doc comments, `#[must_use]`, `#[inline]`, `#[cfg]`,
//! inner attributes and lint attributes on the function.
use chatobs_runtime::chat_span;

/// Documented function.
#[must_use = "the reply must be sent"]
#[inline]
#[chat_span]
pub fn reply(text: &str) -> String {
    #![allow(clippy::needless_late_init)]
    let out;
    out = text.to_uppercase();
    out
}

#[chat_span]
#[cfg(test)]
fn compiled_out() -> u32 {
    this_does_not_exist()
}

#[cfg(not(test))]
#[chat_span]
#[allow(unused_variables)]
fn compiled_in(unused: u32) -> u32 {
    let x = 1;
    1
}

#[chat_span]
#[deprecated(note = "use reply")]
fn old() {}

fn main() {
    let r = reply("hola");
    assert_eq!(r, "HOLA");
    assert_eq!(compiled_in(0), 1);
    #[allow(deprecated)]
    old();
}
