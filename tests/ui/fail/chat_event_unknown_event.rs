use chatobs_runtime::chat_event;

fn main() {
    let text = String::from("Hola");
    // A typo: the nearest event is suggested.
    chat_event!(message.deliverd, channel = "whatsapp", content = &text);
    chat_event!(auth.permision_denied, user_id = "op-7");
    // No event is near: every event is listed.
    chat_event!(billing.invoice_paid);
}
