//! The record of the span entered on this thread, for code that does not
//! hold the span: [`with_current`] and the `record_*` functions behind the
//! `record!` macro. The public wrapper is [`crate::current`].

use super::record::Record;
use crate::context::current_frame;
use crate::model::Value;
use crate::vocab::{self, Role, TemplateCategory};
use std::borrow::Cow;
use std::cell::Cell;
use std::fmt::Display;

thread_local! {
    /// Whether a `with_current` call is running on this thread.
    static BORROWED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` on the record of the span entered on this thread, if it is being
/// recorded. A call made from inside `f` (through `crate::current::with`, whose
/// closure is user code) gets `None`: there is never a second `&mut` to a record.
pub(crate) fn with_current<R>(f: impl FnOnce(&mut Record) -> R) -> Option<R> {
    let fr = current_frame();
    if fr.record.is_null() {
        return None;
    }
    BORROWED.with(|b| {
        if b.replace(true) {
            return None;
        }
        struct Release<'a>(&'a Cell<bool>);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        let _release = Release(b);
        // SAFETY: the pointer was taken from the span's `&mut` when it was entered on this
        // thread and stays valid until the frame is restored; nothing else touches the record
        // while the body runs, and `BORROWED` rules out a nested borrow from inside `f`.
        Some(f(unsafe { &mut *fr.record }))
    })
}

/// Sets an attribute on the current span. Returns false when no span is recording.
pub(crate) fn set_current(key: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> bool {
    with_current(|r| r.set_attr(key.into(), value.into())).is_some()
}

// Used by record!.
#[doc(hidden)]
pub fn record_step(step: &dyn Display) -> bool {
    with_current(|r| r.step = Some(Cow::Owned(step.to_string()))).is_some()
}
#[doc(hidden)]
pub fn record_step_static(step: &'static str) -> bool {
    with_current(|r| r.step = Some(Cow::Borrowed(step))).is_some()
}
#[doc(hidden)]
pub fn record_tag(tag: &dyn Display) -> bool {
    with_current(|r| r.extra_tags.push(Cow::Owned(tag.to_string()))).is_some()
}
#[doc(hidden)]
pub fn record_category(c: TemplateCategory) -> bool {
    with_current(|r| r.category = Some(c)).is_some()
}
#[doc(hidden)]
pub fn record_role(role: Role) -> bool {
    with_current(|r| r.role = Some(role)).is_some()
}
#[doc(hidden)]
pub fn record_model(model: &dyn Display) -> bool {
    set_current(
        vocab::GEN_AI_REQUEST_MODEL,
        Value::Str(Cow::Owned(model.to_string())),
    )
}
#[doc(hidden)]
pub fn record_response_model(model: &dyn Display) -> bool {
    set_current(
        vocab::GEN_AI_RESPONSE_MODEL,
        Value::Str(Cow::Owned(model.to_string())),
    )
}
#[doc(hidden)]
pub fn record_provider(p: &dyn Display) -> bool {
    set_current(
        vocab::GEN_AI_PROVIDER_NAME,
        Value::Str(Cow::Owned(p.to_string())),
    )
}
