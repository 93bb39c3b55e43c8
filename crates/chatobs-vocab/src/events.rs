//! The closed vocabulary of checked chat events (`chat_event!`).
//!
//! A helpdesk bot reports what happened to a conversation, a message, an
//! integration, an AI tool call or a login as one of the events below, each
//! with a fixed list of typed fields. `chat_event!` (re-exported by
//! `chatobs-runtime`) checks the event name and every field against [`ALL`]
//! at compile time, and the runtime writes the same names, so the two cannot
//! drift.
//!
//! | event | fields |
//! |---|---|
//! | `conversation.created` | `conversation_id`, `channel`, `queue` |
//! | `conversation.assigned` | `conversation_id`, `agent`, `queue` |
//! | `conversation.transferred` | `conversation_id`, `agent`, `queue`, `reason` |
//! | `conversation.closed` | `conversation_id`, `agent`, `reason`, `resolved` (bool) |
//! | `conversation.reopened` | `conversation_id`, `reason` |
//! | `message.received`, `message.sent`, `message.delivered` | `channel`, `message_type`, `content` (length only) |
//! | `message.failed` | `channel`, `message_type`, `content` (length only), `error_code` (i64) |
//! | `integration.request` | `system`, `operation` |
//! | `integration.success` | `system`, `operation`, `duration_ms` (f64), `status_code` (i64) |
//! | `integration.failure` | `system`, `operation`, `duration_ms` (f64), `status_code` (i64), `error` |
//! | `integration.timeout` | `system`, `operation`, `duration_ms` (f64) |
//! | `ai.tool_called` | `tool` |
//! | `ai.tool_success` | `tool`, `duration_ms` (f64) |
//! | `ai.tool_denied`, `ai.confirmation_required` | `tool`, `reason` |
//! | `auth.login` | `user_id`, `method` |
//! | `auth.logout` | `user_id` |
//! | `auth.permission_denied` | `user_id`, `permission` |
//!
//! Fields not marked otherwise are text ([`FieldKind::Str`]). Every field is
//! optional. Text fields are meant for identifiers and short codes:
//! `user_id` and `conversation_id` must be opaque ids of your system (never a
//! phone number, an e-mail address or a name), and the runtime still scans
//! every text value for phone numbers and e-mail addresses before writing it.
//! A message's text is never recorded: a `content` field
//! ([`FieldKind::Content`]) is written as its length in characters,
//! `content.length`. There is no message id field: WhatsApp message ids
//! encode the user's number.
//!
//! ```
//! use chatobs_vocab::events::{self, FieldKind};
//!
//! let ev = events::find("message.failed").unwrap();
//! assert_eq!(ev.name, events::MESSAGE_FAILED.name);
//! let content = ev.field("content").unwrap();
//! assert_eq!((content.kind, content.key), (FieldKind::Content, "content.length"));
//! assert_eq!(ev.field("error_code").unwrap().kind, FieldKind::I64);
//! assert!(events::find("message.deliverd").is_none());
//! assert_eq!(events::ALL.len(), 20);
//! ```

/// Span event attribute: the chat event's name (`message.delivered`).
pub const CHAT_EVENT_NAME: &str = "chat.event.name";
/// Chat events recorded, by event (`chat_event!`).
pub const PROM_CHAT_EVENTS: &str = "chatobs_chat_events_total";
/// Prometheus label: the chat event's name.
pub const PL_EVENT: &str = "event";

/// The type of a chat event field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// Text: an identifier or a short code (`&str`, `String`).
    Str,
    /// An integer (`i64`, or a smaller integer type).
    I64,
    /// A number (`f64`, `f32`, or a small integer type).
    F64,
    /// A boolean.
    Bool,
    /// Message text: only its length in characters is recorded, as
    /// `<field>.length` (an integer).
    Content,
}

impl FieldKind {
    /// How the documentation and the compile errors name it.
    pub const fn as_str(self) -> &'static str {
        match self {
            FieldKind::Str => "str",
            FieldKind::I64 => "i64",
            FieldKind::F64 => "f64",
            FieldKind::Bool => "bool",
            FieldKind::Content => "content",
        }
    }
}

/// A field a chat event allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EventField {
    /// The name written in `chat_event!` (`channel`).
    pub name: &'static str,
    /// Its type.
    pub kind: FieldKind,
    /// The attribute key it is exported as: the name, or `<name>.length`
    /// for a [`FieldKind::Content`] field.
    pub key: &'static str,
}

impl EventField {
    const fn new(name: &'static str, kind: FieldKind) -> EventField {
        EventField {
            name,
            kind,
            key: name,
        }
    }
}

/// A chat event: its name and the fields it allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChatEvent {
    /// The name (`message.delivered`): the span event's name, the
    /// `chat.event.name` attribute and the `event` label.
    pub name: &'static str,
    /// The fields it allows, in the order the documentation lists them.
    pub fields: &'static [EventField],
}

impl ChatEvent {
    /// The field called `name`, if the event allows it.
    pub fn field(&self, name: &str) -> Option<&'static EventField> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// The event called `name` (`message.delivered`), if it is in the vocabulary.
pub fn find(name: &str) -> Option<&'static ChatEvent> {
    ALL.iter().find(|e| e.name == name)
}

// ---- fields -------------------------------------------------------------------------
const CONVERSATION_ID: EventField = EventField::new("conversation_id", FieldKind::Str);
const AGENT: EventField = EventField::new("agent", FieldKind::Str);
const QUEUE: EventField = EventField::new("queue", FieldKind::Str);
const REASON: EventField = EventField::new("reason", FieldKind::Str);
const RESOLVED: EventField = EventField::new("resolved", FieldKind::Bool);
const CHANNEL: EventField = EventField::new("channel", FieldKind::Str);
const MESSAGE_TYPE: EventField = EventField::new("message_type", FieldKind::Str);
const CONTENT: EventField = EventField {
    name: "content",
    kind: FieldKind::Content,
    key: "content.length",
};
const ERROR_CODE: EventField = EventField::new("error_code", FieldKind::I64);
const SYSTEM: EventField = EventField::new("system", FieldKind::Str);
const OPERATION: EventField = EventField::new("operation", FieldKind::Str);
const DURATION_MS: EventField = EventField::new("duration_ms", FieldKind::F64);
const STATUS_CODE: EventField = EventField::new("status_code", FieldKind::I64);
const ERROR: EventField = EventField::new("error", FieldKind::Str);
const TOOL: EventField = EventField::new("tool", FieldKind::Str);
const USER_ID: EventField = EventField::new("user_id", FieldKind::Str);
const METHOD: EventField = EventField::new("method", FieldKind::Str);
const PERMISSION: EventField = EventField::new("permission", FieldKind::Str);

/// Declares each event as a constant (named after the event in capitals,
/// `.` as `_`) and lists them all in [`ALL`], from one list.
macro_rules! chat_events {
    ($($(#[$doc:meta])* $konst:ident = $name:literal [$($field:ident),* $(,)?];)*) => {
        $(
            $(#[$doc])*
            pub const $konst: ChatEvent = ChatEvent { name: $name, fields: &[$($field),*] };
        )*
        /// Every chat event, the table `chat_event!` checks against.
        pub const ALL: &[ChatEvent] = &[$($konst),*];
        /// The constants' names, in the order of [`ALL`] (checked by a test).
        #[cfg(test)]
        const CONST_NAMES: &[&str] = &[$(stringify!($konst)),*];
    };
}

chat_events! {
    /// A conversation was opened (a ticket, a chat).
    CONVERSATION_CREATED = "conversation.created" [CONVERSATION_ID, CHANNEL, QUEUE];
    /// A conversation was assigned to an agent (a bot or a person).
    CONVERSATION_ASSIGNED = "conversation.assigned" [CONVERSATION_ID, AGENT, QUEUE];
    /// A conversation was handed to another agent or queue.
    CONVERSATION_TRANSFERRED = "conversation.transferred" [CONVERSATION_ID, AGENT, QUEUE, REASON];
    /// A conversation was closed.
    CONVERSATION_CLOSED = "conversation.closed" [CONVERSATION_ID, AGENT, REASON, RESOLVED];
    /// A closed conversation was opened again.
    CONVERSATION_REOPENED = "conversation.reopened" [CONVERSATION_ID, REASON];
    /// A message from the user arrived.
    MESSAGE_RECEIVED = "message.received" [CHANNEL, MESSAGE_TYPE, CONTENT];
    /// A message to the user was sent.
    MESSAGE_SENT = "message.sent" [CHANNEL, MESSAGE_TYPE, CONTENT];
    /// A message to the user was delivered.
    MESSAGE_DELIVERED = "message.delivered" [CHANNEL, MESSAGE_TYPE, CONTENT];
    /// A message to the user could not be delivered.
    MESSAGE_FAILED = "message.failed" [CHANNEL, MESSAGE_TYPE, CONTENT, ERROR_CODE];
    /// A call to another system (CRM, ERP, ticketing) started.
    INTEGRATION_REQUEST = "integration.request" [SYSTEM, OPERATION];
    /// A call to another system succeeded.
    INTEGRATION_SUCCESS = "integration.success" [SYSTEM, OPERATION, DURATION_MS, STATUS_CODE];
    /// A call to another system failed.
    INTEGRATION_FAILURE = "integration.failure" [SYSTEM, OPERATION, DURATION_MS, STATUS_CODE, ERROR];
    /// A call to another system timed out.
    INTEGRATION_TIMEOUT = "integration.timeout" [SYSTEM, OPERATION, DURATION_MS];
    /// The model asked for a tool.
    AI_TOOL_CALLED = "ai.tool_called" [TOOL];
    /// A tool the model asked for ran.
    AI_TOOL_SUCCESS = "ai.tool_success" [TOOL, DURATION_MS];
    /// A tool the model asked for was refused (policy, guardrail, the user).
    AI_TOOL_DENIED = "ai.tool_denied" [TOOL, REASON];
    /// A tool waits for the user's (or an operator's) confirmation.
    AI_CONFIRMATION_REQUIRED = "ai.confirmation_required" [TOOL, REASON];
    /// A user or operator logged in (`user_id`: an opaque id, never an e-mail or a phone number).
    AUTH_LOGIN = "auth.login" [USER_ID, METHOD];
    /// A user or operator logged out.
    AUTH_LOGOUT = "auth.logout" [USER_ID];
    /// An action was refused for lack of a permission.
    AUTH_PERMISSION_DENIED = "auth.permission_denied" [USER_ID, PERMISSION];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closed_set_of_the_issue() {
        let names: Vec<&str> = ALL.iter().map(|e| e.name).collect();
        assert_eq!(
            names,
            [
                "conversation.created",
                "conversation.assigned",
                "conversation.transferred",
                "conversation.closed",
                "conversation.reopened",
                "message.received",
                "message.sent",
                "message.delivered",
                "message.failed",
                "integration.request",
                "integration.success",
                "integration.failure",
                "integration.timeout",
                "ai.tool_called",
                "ai.tool_success",
                "ai.tool_denied",
                "ai.confirmation_required",
                "auth.login",
                "auth.logout",
                "auth.permission_denied",
            ]
        );
    }

    #[test]
    fn each_constant_is_named_after_its_event() {
        // The macro generates the path to the constant from the event's name.
        assert_eq!(CONST_NAMES.len(), ALL.len());
        for (c, e) in CONST_NAMES.iter().zip(ALL) {
            assert_eq!(*c, e.name.to_uppercase().replace('.', "_"));
        }
    }

    #[test]
    fn names_and_keys_are_well_formed_and_unique() {
        for (i, e) in ALL.iter().enumerate() {
            assert!(ALL[..i].iter().all(|o| o.name != e.name), "{}", e.name);
            let (family, rest) = e.name.split_once('.').unwrap();
            for part in [family, rest] {
                assert!(!part.is_empty());
                assert!(part.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            }
            assert!(!e.fields.is_empty(), "{}", e.name);
            for (j, f) in e.fields.iter().enumerate() {
                assert!(e.fields[..j].iter().all(|o| o.name != f.name));
                assert_eq!(e.field(f.name), Some(f));
                match f.kind {
                    FieldKind::Content => assert_eq!(f.key, format!("{}.length", f.name)),
                    _ => assert_eq!(f.key, f.name),
                }
                assert_ne!(f.key, CHAT_EVENT_NAME);
            }
        }
        assert_eq!(find("ai.tool_denied"), Some(&AI_TOOL_DENIED));
        assert_eq!(find("ai"), None);
    }

    #[test]
    fn message_text_is_only_ever_a_length() {
        for e in ALL {
            for f in e.fields {
                if matches!(f.name, "content" | "text" | "body") {
                    assert_eq!(f.kind, FieldKind::Content, "{}.{}", e.name, f.name);
                }
            }
        }
    }
}
