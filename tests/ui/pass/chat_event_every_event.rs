#![deny(warnings)]
//! `chat_event!`: every event of the vocabulary with every field it allows,
//! values of each accepted type, inside and outside a span.
use chatobs_runtime::{chat_event, chat_span};
use std::borrow::Cow;

#[chat_span(name = "agent.support.flow", role = "support")]
fn helpdesk(text: &str, reply: String, started: std::time::Instant) {
    let queue: Cow<'static, str> = Cow::Borrowed("soporte");
    let agent = String::from("support_bot");
    chat_event!(
        conversation.created,
        conversation_id = "tk-1",
        channel = "whatsapp",
        queue = queue
    );
    chat_event!(
        conversation.assigned,
        conversation_id = "tk-1",
        agent = agent,
        queue = &queue,
    );
    chat_event!(
        conversation.transferred,
        conversation_id = "tk-1",
        agent = agent.as_str(),
        queue = "humanos",
        reason = "pidió un humano"
    );
    chat_event!(
        conversation.closed,
        conversation_id = "tk-1",
        agent = &agent,
        reason = "resuelto",
        resolved = true
    );
    chat_event!(
        conversation.reopened,
        conversation_id = "tk-1",
        reason = "volvió a escribir"
    );

    chat_event!(
        message.received,
        channel = "whatsapp",
        message_type = "text",
        content = text
    );
    chat_event!(
        message.sent,
        channel = "whatsapp",
        message_type = "text",
        content = reply
    );
    chat_event!(
        message.delivered,
        content = &reply,
        channel = "whatsapp",
        message_type = "text"
    );
    chat_event!(
        message.failed,
        channel = "whatsapp",
        message_type = "template",
        content = reply.as_str(),
        error_code = 131026
    );

    let ms = started.elapsed().as_secs_f64() * 1000.0;
    chat_event!(
        integration.request,
        system = "crm",
        operation = "create_ticket"
    );
    chat_event!(
        integration.success,
        system = "crm",
        operation = "create_ticket",
        duration_ms = ms,
        status_code = 201_u16
    );
    chat_event!(
        integration.failure,
        system = "crm",
        operation = "create_ticket",
        duration_ms = 812,
        status_code = 503,
        error = "unavailable"
    );
    chat_event!(
        integration.timeout,
        system = "erp",
        operation = "stock",
        duration_ms = 5000.0_f32
    );

    chat_event!(ai.tool_called, tool = "lookup_order");
    chat_event!(ai.tool_success, tool = "lookup_order", duration_ms = ms);
    chat_event!(
        ai.tool_denied,
        tool = "refund_order",
        reason = "over the limit"
    );
    chat_event!(
        ai.confirmation_required,
        tool = "cancel_order",
        reason = "irreversible"
    );

    chat_event!(auth.login, user_id = "op-77", method = "sso");
    chat_event!(auth.logout, user_id = "op-77");
    chat_event!(
        auth.permission_denied,
        user_id = "op-77",
        permission = "refund"
    );
    chat_event!(auth.logout);
}

fn main() {
    helpdesk(
        "Hola, ¿dónde está mi pedido?",
        "Ya va en camino.".to_owned(),
        std::time::Instant::now(),
    );
    // Outside any span: nothing is recorded, and it still compiles to a statement.
    let code: i32 = -1;
    chat_event!(message.failed, error_code = code);
    let _nested = || chat_event!(auth.logout, user_id = "op-1");
}
