use chatobs_runtime::chat_event;

fn main() {
    let text = String::from("Hola");
    // A typo in a field: the nearest field of that event is suggested.
    chat_event!(message.delivered, chanel = "whatsapp", content = &text);
    // A field of another event, a duplicate, and a field near none.
    chat_event!(integration.timeout, error = "slow", system = "crm", system = "erp", colour = 3);
}
