//! What a preset adds to the standard export so the hosted backend shows it
//! in its own fields (docs/backends.md has the whole table, attribute by
//! attribute, with what each backend cannot show).
//!
//! Everything chatobs writes on every span for every backend (`session.id`,
//! `user.id`, `gen_ai.*`, `llm.*`, `operation.cost`, `logfire.tags`, ...) is
//! set when the span is recorded; this module only adds, at export time and
//! only under the preset of the backend that reads it, what that backend
//! names differently. An attribute the span already carries (set by the
//! application) is never overwritten.
//!
//! Langfuse (`preset = "langfuse"` / `"langfuse-us"`), from
//! <https://langfuse.com/integrations/native/opentelemetry> ("Attribute
//! Mapping", read 2026-12-01):
//! - `langfuse.release` on every span, from `service.version`: the trace's
//!   `release` is read from `langfuse.release` only, and trace-level
//!   attributes must be on every span to filter by them ("Propagating Trace
//!   Attributes to All Spans");
//! - `langfuse.observation.cost_details` on a span that carries a priced LLM
//!   call: a JSON object string `{"input":..,"output":..,"total":..}` in USD,
//!   written from the `Decimal`s of `llm.cost.prompt`, `llm.cost.completion`
//!   and `llm.cost.total` (their normalized decimal text: no float rounding).
//!   Langfuse takes ingested cost over its own model prices
//!   (<https://langfuse.com/docs/observability/features/token-and-cost-tracking>);
//! - chatobs' own `gen_ai.usage.*` attributes that are not token counts
//!   (`price_usd`, `price_unknown`, `price_incomplete_reason`, `missing`,
//!   `priced_by_child`) are renamed `langfuse.observation.metadata.<name>`:
//!   Langfuse makes every `gen_ai.usage.*` attribute a usage type ("units
//!   consumed"), so a price would show as a count of tokens; as metadata it
//!   stays readable and filterable.
//!
//! Logfire (`preset = "logfire"`), from
//! <https://logfire.pydantic.dev/docs/how-to-guides/environments/> and
//! <https://logfire.pydantic.dev/docs/reference/sql/> (`deployment_environment`,
//! read 2026-12-01): the environment is the resource attribute
//! `deployment.environment.name`, with the older `deployment.environment`
//! (the one chatobs' resource carries for every backend) as Logfire's
//! fallback; the preset adds the current name so Logfire reads its first
//! choice.

use crate::config::OtlpTarget;
use crate::presets::Preset;
use chatobs_core::config::ServiceConfig;
use chatobs_core::model::{FinishedSpan, KeyValue, Value};
use chatobs_core::vocab;
use opentelemetry::{KeyValue as OKeyValue, Value as OValue};

/// Resource attributes a preset adds (before the service's own attributes,
/// which win).
pub(crate) fn resource_attributes(
    preset: Option<Preset>,
    service: &ServiceConfig,
) -> Vec<OKeyValue> {
    match preset {
        Some(Preset::Logfire) if !service.environment.is_empty() => vec![OKeyValue::new(
            vocab::DEPLOYMENT_ENVIRONMENT_NAME,
            service.environment.clone(),
        )],
        _ => Vec::new(),
    }
}

/// The span attributes a preset adds, resolved once per exporter.
#[derive(Clone, Debug, Default)]
pub(crate) struct SpanExtras {
    /// `langfuse.release` (Langfuse presets, a non-empty `service.version`).
    release: Option<String>,
    /// Whether to write `langfuse.observation.cost_details` (Langfuse presets).
    cost_details: bool,
}

impl SpanExtras {
    /// What `target`'s preset adds to each span.
    pub(crate) fn for_target(target: &OtlpTarget) -> SpanExtras {
        match target.otlp.preset {
            Some(Preset::Langfuse | Preset::LangfuseUs) => SpanExtras {
                release: Some(target.service.version.trim().to_owned()).filter(|v| !v.is_empty()),
                cost_details: true,
            },
            _ => SpanExtras::default(),
        }
    }

    /// Whether the preset adds or renames nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.release.is_none() && !self.cost_details
    }

    /// The name `key` is exported under, when the preset renames it.
    pub(crate) fn renamed(&self, key: &str) -> Option<String> {
        if !self.cost_details {
            return None;
        }
        NOT_USAGE
            .iter()
            .find(|k| **k == key)
            .and_then(|k| k.strip_prefix("gen_ai.usage."))
            .map(|name| format!("langfuse.observation.metadata.{name}"))
    }

    /// The attributes the preset adds to `span` (never one it already has).
    pub(crate) fn added(&self, span: &FinishedSpan) -> Vec<(&'static str, OValue)> {
        let has = |key: &str| span.attributes.iter().any(|(k, _)| k == key);
        let mut out = Vec::new();
        if let Some(r) = &self.release {
            if !has(vocab::LANGFUSE_RELEASE) {
                out.push((vocab::LANGFUSE_RELEASE, OValue::from(r.clone())));
            }
        }
        if self.cost_details && !has(vocab::LANGFUSE_OBSERVATION_COST_DETAILS) {
            if let Some(json) = langfuse_cost_details(&span.attributes) {
                out.push((vocab::LANGFUSE_OBSERVATION_COST_DETAILS, OValue::from(json)));
            }
        }
        out
    }

    /// Renames in `out` (the span's export form) and appends to `add`.
    pub(crate) fn apply(
        &self,
        span: &FinishedSpan,
        out: &mut [OKeyValue],
        add: &mut Vec<OKeyValue>,
    ) {
        if self.is_empty() {
            return;
        }
        for kv in out.iter_mut() {
            if let Some(name) = self.renamed(kv.key.as_str()) {
                kv.key = name.into();
            }
        }
        add.extend(
            self.added(span)
                .into_iter()
                .map(|(k, v)| OKeyValue::new(k, v)),
        );
    }
}

/// chatobs' `gen_ai.usage.*` attributes that are not counts of units.
const NOT_USAGE: [&str; 5] = [
    vocab::GEN_AI_USAGE_PRICE_USD,
    vocab::GEN_AI_USAGE_PRICE_UNKNOWN,
    vocab::GEN_AI_USAGE_PRICE_INCOMPLETE_REASON,
    vocab::GEN_AI_USAGE_MISSING,
    vocab::GEN_AI_USAGE_PRICED_BY_CHILD,
];

/// The value of `langfuse.observation.cost_details` for a span with these
/// attributes: `{"input":<llm.cost.prompt>,"output":<llm.cost.completion>,
/// "total":<llm.cost.total>}` (USD, each key only when its attribute is
/// there), or `None` without `llm.cost.total` (an unpriced call, or no LLM
/// call: Langfuse then prices the generation itself, if it knows the model).
///
/// ```
/// use chatobs_core::model::Value;
/// use rust_decimal::Decimal;
/// use std::str::FromStr;
/// let d = |s| Value::Decimal(Decimal::from_str(s).unwrap());
/// let attrs = vec![
///     ("llm.cost.prompt".into(), d("0.00018510")),
///     ("llm.cost.completion".into(), d("0.0003402")),
///     ("llm.cost.total".into(), d("0.0005253")),
/// ];
/// assert_eq!(
///     chatobs_otlp::backends::langfuse_cost_details(&attrs).as_deref(),
///     Some(r#"{"input":0.0001851,"output":0.0003402,"total":0.0005253}"#)
/// );
/// ```
pub fn langfuse_cost_details(attributes: &[KeyValue]) -> Option<String> {
    let get = |key: &str| {
        attributes
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| json_number(v))
    };
    let total = get(vocab::LLM_COST_TOTAL)?;
    let mut out = String::from("{");
    for (name, value) in [
        ("input", get(vocab::LLM_COST_PROMPT)),
        ("output", get(vocab::LLM_COST_COMPLETION)),
        ("total", Some(total)),
    ] {
        if let Some(v) = value {
            if out.len() > 1 {
                out.push(',');
            }
            out.push('"');
            out.push_str(name);
            out.push_str("\":");
            out.push_str(&v);
        }
    }
    out.push('}');
    Some(out)
}

/// A cost as JSON number text: a `Decimal` exactly (normalized, never in
/// exponent form), an integer, or a finite float (its shortest round-trip
/// digits, in plain notation); anything else is not a cost.
fn json_number(v: &Value) -> Option<String> {
    match v {
        Value::Decimal(d) => Some(d.normalize().to_string()),
        Value::I64(i) => Some(i.to_string()),
        Value::F64(f) if f.is_finite() => Some(f.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use std::borrow::Cow;
    use std::str::FromStr;

    fn d(s: &str) -> Value {
        Value::Decimal(Decimal::from_str(s).unwrap())
    }

    fn kv(k: &'static str, v: Value) -> KeyValue {
        (Cow::Borrowed(k), v)
    }

    #[test]
    fn cost_details_are_the_exact_decimals() {
        // 0.1 + 0.2 is 0.30000000000000004 in f64; the decimals stay exact.
        let attrs = vec![
            kv(vocab::LLM_COST_PROMPT, d("0.1")),
            kv(vocab::LLM_COST_COMPLETION, d("0.2")),
            kv(vocab::LLM_COST_TOTAL, d("0.3")),
        ];
        let json = langfuse_cost_details(&attrs).unwrap();
        assert_eq!(json, r#"{"input":0.1,"output":0.2,"total":0.3}"#);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["total"].as_f64(), Some(0.3));
        // Trailing zeros go, tiny figures stay in plain notation, 0 is 0.
        let attrs = vec![
            kv(vocab::LLM_COST_PROMPT, d("0.0000000100")),
            kv(vocab::LLM_COST_COMPLETION, d("0.000")),
            kv(vocab::LLM_COST_TOTAL, d("0.0000000100")),
        ];
        assert_eq!(
            langfuse_cost_details(&attrs).unwrap(),
            r#"{"input":0.00000001,"output":0,"total":0.00000001}"#
        );
    }

    #[test]
    fn no_total_no_cost_details() {
        assert_eq!(langfuse_cost_details(&[]), None);
        let attrs = vec![kv(vocab::LLM_COST_PROMPT, d("0.1"))];
        assert_eq!(langfuse_cost_details(&attrs), None);
        let attrs = vec![kv(vocab::LLM_COST_TOTAL, Value::F64(f64::NAN))];
        assert_eq!(langfuse_cost_details(&attrs), None);
        // A total alone (a float set by hand) is still a cost.
        let attrs = vec![kv(vocab::LLM_COST_TOTAL, Value::F64(0.25))];
        assert_eq!(
            langfuse_cost_details(&attrs).as_deref(),
            Some(r#"{"total":0.25}"#)
        );
    }
}
