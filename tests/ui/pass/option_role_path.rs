#![deny(warnings)]
//! `role = path`: a role declared with `chatobs_runtime::roles!` (or a built-in
//! constant), resolved by rustc.
use chatobs_runtime::chat_span;

pub mod roles {
    chatobs_runtime::roles!(
        /// Qualifies leads.
        LEAD_BOT = "lead_bot",
        BUYER_BOT = "buyer_bot"
    );
}

use roles::BUYER_BOT;

#[chat_span(role = roles::LEAD_BOT)]
fn qualify() {}

#[chat_span(role = BUYER_BOT)]
fn buy() {}

#[chat_span(role = chatobs_runtime::Role::SALES)]
fn builtin_const() {}

#[chat_span(role = crate::roles::LEAD_BOT)]
fn crate_path() {}

fn main() {
    qualify();
    buy();
    builtin_const();
    crate_path();
}
