use chatobs_runtime::chat_event;

fn main() {
    let code: u64 = 131026;
    // An i64 field given text, and a u64 (which does not fit i64).
    chat_event!(message.failed, channel = "whatsapp", error_code = "131026");
    chat_event!(message.failed, error_code = code);
    // A text field given a number, a content field given a number.
    chat_event!(conversation.assigned, conversation_id = 1042, agent = "bot");
    chat_event!(message.sent, content = 42);
    // An f64 field given text, a bool field given text.
    chat_event!(integration.success, duration_ms = "812ms");
    chat_event!(conversation.closed, resolved = "yes");
}
