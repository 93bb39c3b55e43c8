//! The outcome of an instrumented call: how the macro tells a `Result`
//! (by its error's `Display`, else its `Debug`) from any other return value
//! through autoref specialization ([`ResultDisplay`], [`ResultDebug`],
//! [`NotResult`]), and how an [`Outcome`] is written onto a span's record.

use super::record::Record;
use crate::model::{Event, Status, Value};
use crate::vocab;
use std::borrow::Cow;
use std::fmt::{Debug, Display};

/// The outcome of an instrumented call (made by the facade's `__private::outcome!`).
#[doc(hidden)]
pub enum Outcome<'a> {
    Ok,
    Err(&'a dyn Display, &'static str),
    ErrDebug(&'a dyn Debug, &'static str),
    NotResult,
}

#[doc(hidden)]
pub trait ResultDisplay {
    fn __chatobs_outcome(&self) -> Outcome<'_>;
}
impl<T, E: Display> ResultDisplay for Result<T, E> {
    #[inline]
    fn __chatobs_outcome(&self) -> Outcome<'_> {
        match self {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Err(e, std::any::type_name::<E>()),
        }
    }
}
#[doc(hidden)]
pub trait ResultDebug<'a> {
    fn __chatobs_outcome(&self) -> Outcome<'a>;
}
impl<'a, T, E: Debug> ResultDebug<'a> for &'a Result<T, E> {
    #[inline]
    fn __chatobs_outcome(&self) -> Outcome<'a> {
        match *self {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::ErrDebug(e, std::any::type_name::<E>()),
        }
    }
}
#[doc(hidden)]
pub trait NotResult {
    fn __chatobs_outcome(&mut self) -> Outcome<'static>;
}
impl<T: ?Sized> NotResult for &T {
    #[inline]
    fn __chatobs_outcome(&mut self) -> Outcome<'static> {
        Outcome::NotResult
    }
}

pub(super) fn apply_outcome(rec: &mut Record, outcome: Outcome<'_>) {
    let (msg, ty) = match outcome {
        Outcome::Ok => {
            rec.status = Status::Ok;
            return;
        }
        Outcome::NotResult => return,
        Outcome::Err(e, ty) => (e.to_string(), ty),
        Outcome::ErrDebug(e, ty) => (format!("{e:?}"), ty),
    };
    let msg = crate::redact::truncate(&crate::redact::redact_free_text(&msg), 1024);
    rec.events.push(Event {
        name: Cow::Borrowed(vocab::EXCEPTION_EVENT),
        time: crate::clock::now(),
        attributes: vec![
            (
                Cow::Borrowed(vocab::EXCEPTION_TYPE),
                Value::Str(Cow::Borrowed(ty)),
            ),
            (
                Cow::Borrowed(vocab::EXCEPTION_MESSAGE),
                Value::Str(Cow::Owned(msg.clone())),
            ),
        ],
    });
    rec.status = Status::Error(Cow::Owned(msg));
}
