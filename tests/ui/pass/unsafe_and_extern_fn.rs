#![deny(warnings)]
//! `unsafe fn` and `extern "C" fn` keep their qualifiers.
use chatobs_runtime::chat_span;

#[chat_span]
unsafe fn read(ptr: *const u32) -> u32 {
    *ptr
}

#[chat_span]
extern "C" fn c_callback(x: i32) -> i32 {
    x + 1
}

/// Doubles the pointee.
///
/// # Safety
/// `ptr` must be valid for reads.
#[chat_span]
pub unsafe extern "C" fn both(ptr: *const i32) -> i32 {
    *ptr * 2
}

fn main() {
    let x = 5u32;
    assert_eq!(unsafe { read(&x) }, 5);
    let f: extern "C" fn(i32) -> i32 = c_callback;
    assert_eq!(f(1), 2);
    let y = 4;
    assert_eq!(unsafe { both(&y) }, 8);
}
