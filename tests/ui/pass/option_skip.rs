#![deny(warnings)]
//! `skip` on a method of an annotated impl block: no span, attribute removed.
use chatobs_runtime::chat_span;

struct Pqr;

#[chat_span(role = "pqr")]
impl Pqr {
    fn open(&self) -> u32 {
        1
    }

    #[chat_span(skip)]
    fn hot_path(&self) -> u32 {
        2
    }
}

fn main() {
    assert_eq!(Pqr.open() + Pqr.hot_path(), 3);
}
