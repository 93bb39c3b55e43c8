//! Your own attribute keys: what `#[chat_span(fields(...))]`, `record!` with
//! a dotted key and `chatobs_runtime::attrs::set` accept.
//!
//! A key is lowercase ASCII letters, digits and `_` in dot-separated
//! segments (`lead.temperature`, `intent.confidence`, `user.id`), at most
//! [`MAX_KEY_LEN`] bytes. The namespaces chatobs writes itself are
//! reserved, so your value can never replace or mistype one of them: each
//! has its own checked option (`step = ...`, `role = ...`, `model = ...`).

/// Longest key, in bytes.
pub const MAX_KEY_LEN: usize = 128;

/// First segments chatobs writes (`chat.*`, `gen_ai.*`, ...): reserved.
pub const RESERVED_NAMESPACES: &[&str] = &[
    "chat",
    "chatobs",
    "gen_ai",
    "agent",
    "conversation",
    "session",
    "openinference",
    "llm",
    "messaging",
    "tag",
    "logfire",
    "eval",
    "feedback",
    "input",
    "output",
];

/// Whole keys chatobs writes outside those namespaces: reserved.
pub const RESERVED_KEYS: &[&str] = &["template_category", "session_id"];

/// Why `key` cannot be one of your own attribute keys (`None`: it can).
/// The text says what to write instead.
pub fn check_key(key: &str) -> Option<String> {
    if key.is_empty() {
        return Some("an attribute key cannot be empty".into());
    }
    if key.len() > MAX_KEY_LEN {
        return Some(format!(
            "an attribute key is at most {MAX_KEY_LEN} bytes (this one has {})",
            key.len()
        ));
    }
    let segments_ok = key.split('.').all(|s| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    });
    if !segments_ok {
        return Some(format!(
            "`{key}` is not an attribute key: use lowercase letters, digits and `_` in dot-separated segments, like `lead.temperature`"
        ));
    }
    let own = match key {
        "conversation.step" => Some("set it with `step = ...` (or `record!(step = ...)`)"),
        "agent.role" => Some("set it with `role = ...` (or `record!(role = ...)`)"),
        "gen_ai.request.model" => Some("set it with `model = \"...\"` (or `record!(model = ...)`)"),
        "gen_ai.provider.name" => {
            Some("set it with `provider = \"...\"` (or `record!(provider = ...)`)")
        }
        "tag.tags" | "logfire.tags" => Some("set it with `tags(...)` (or `record!(tag = ...)`)"),
        "template_category" => {
            Some("set it with `template_category = ...` (or `record!(template_category = ...)`)")
        }
        "chat.session_id" | "session.id" | "session_id" => {
            Some("it comes from the conversation: set one with `session = ...`")
        }
        _ => None,
    };
    if let Some(how) = own {
        return Some(format!("`{key}` is one of chatobs' own keys: {how}"));
    }
    let first = key.split('.').next().unwrap_or(key);
    if RESERVED_NAMESPACES.contains(&first) || RESERVED_KEYS.contains(&key) {
        return Some(format!(
            "`{key}` is in the `{first}` namespace, which chatobs writes itself; choose a key of your own namespace (for example `app.{}`)",
            key.split('.').next_back().unwrap_or(key)
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::check_key;

    #[test]
    fn keys() {
        for ok in [
            "lead.temperature",
            "intent.confidence",
            "user.id",
            "app_1.x_2",
        ] {
            assert_eq!(check_key(ok), None, "{ok}");
        }
        for bad in [
            "",
            "Lead.temp",
            "lead..temp",
            ".lead",
            "lead.",
            "lead temp",
            "conversation.step",
            "gen_ai.usage.input_tokens",
            "chat.session_id",
            "template_category",
        ] {
            assert!(check_key(bad).is_some(), "{bad}");
        }
        assert!(check_key(&"a".repeat(129)).is_some());
        assert!(check_key("conversation.step").unwrap().contains("step = "));
    }
}

#[cfg(test)]
mod kind_tests {
    use crate::{Role, SpanKind};

    #[test]
    fn every_span_gets_a_kind() {
        assert_eq!(SpanKind::default_for(None, true), SpanKind::Llm);
        assert_eq!(
            SpanKind::default_for(Some(Role::SALES), false),
            SpanKind::Agent
        );
        assert_eq!(
            SpanKind::default_for(Some(Role::TOOL), false),
            SpanKind::Tool
        );
        assert_eq!(
            SpanKind::default_for(Some(Role::ORCHESTRATOR), false),
            SpanKind::Chain
        );
        assert_eq!(SpanKind::default_for(None, false), SpanKind::Chain);
    }
}
