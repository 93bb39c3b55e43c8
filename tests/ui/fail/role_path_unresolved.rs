use chatobs_runtime::chat_span;

pub mod roles {
    chatobs_runtime::roles!(LEAD_BOT = "lead_bot");
}

// A typo in a user-declared role path is resolved (and rejected) by rustc.
#[chat_span(role = roles::LEED_BOT)]
fn qualify() {}

// A path to something that is not a Role.
const NOT_A_ROLE: &str = "sales";

#[chat_span(role = NOT_A_ROLE)]
fn wrong_type() {}

fn main() {}
