//! The panic hook: remembers the message of a panic raised inside a
//! recording span, so the span that unwinds can record it.

use crate::context::current_frame;
use std::sync::OnceLock;

thread_local! {
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

pub(super) fn take_panic_message() -> Option<String> {
    LAST_PANIC.with(|p| p.borrow_mut().take())
}

/// Installs a panic hook (chained to the previous one) that remembers the
/// panic message so the span that unwinds can record it.
pub(crate) fn install_panic_hook() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if current_frame().record.is_null() {
                prev(info);
                return;
            }
            let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
                (*s).to_owned()
            } else if let Some(s) = info.payload().downcast_ref::<String>() {
                s.clone()
            } else {
                "panicked".to_owned()
            };
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(msg));
            prev(info);
        }));
    });
}
