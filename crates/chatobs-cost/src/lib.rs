//! # Cost: exact LLM and WhatsApp pricing on every span and per conversation
//!
//! Two questions per conversation: what did it cost in LLM tokens and in
//! WhatsApp fees, and which step spent it. This module prices both, in
//! [`rust_decimal::Decimal`] from the price table to the total (never `f64`),
//! writes the figures on the current span, and keeps a running total per
//! conversation that every span of the session carries
//! (`chat.session.cost_usd`, split into `chat.session.cost.llm_usd` and
//! `chat.session.cost.whatsapp_usd`, with `chat.session.cost_incomplete`).
//!
//! ```
//! use chatobs_runtime::cost::{self, LlmCall, Outbound, Inbound};
//! use chatobs_runtime::{testing, vocab, ChatSession, SpanBuilder};
//! use rust_decimal::Decimal;
//! use time::macros::datetime;
//!
//! let session = ChatSession::from_exported_id("doc-example-conversation").unwrap();
//! let (_, spans) = testing::capture(|| session.in_scope(|| {
//!     let mut span = SpanBuilder::new("agent.sales.flow").start();
//!     span.in_scope(|| {
//!         // One Gemini call: 1 200 prompt tokens (200 of them cached), 300 output tokens.
//!         let c = cost::record_llm_call(
//!             &LlmCall::new("gemini-1.5-flash").provider("gcp.gemini")
//!                 .input_tokens(1200).cached_tokens(200).output_tokens(300),
//!         ).unwrap();
//!         // 1000 × 0.075/1M + 200 × 0.01875/1M + 300 × 0.30/1M
//!         assert_eq!(c.total, Decimal::new(16875, 8));
//!
//!         // The user wrote at 10:00; a utility template at 10:05 is free (per-message pricing).
//!         cost::record_inbound(&Inbound { business: "+5716000000", user: "+573001234567",
//!             at: datetime!(2025-07-03 10:00 UTC), entry_point: false });
//!         let w = cost::price_outbound(&Outbound { business: "+5716000000", user: "+573001234567",
//!             at: datetime!(2025-07-03 10:05 UTC),
//!             template: Some(vocab::TemplateCategory::Utility), entry_point: false }).unwrap();
//!         assert_eq!(w.price, Decimal::ZERO);
//!     });
//! }));
//! let span = spans.one("agent.sales.flow");
//! assert_eq!(span.attr(vocab::GEN_AI_USAGE_PRICE_USD).and_then(|v| v.as_decimal()),
//!            Some(Decimal::new(16875, 8)));
//! assert_eq!(span.attr_str(vocab::MESSAGING_WHATSAPP_PRICING_TYPE), Some("free_customer_service"));
//! assert_eq!(span.attr(vocab::CHAT_SESSION_COST_USD).and_then(|v| v.as_decimal()),
//!            Some(Decimal::new(16875, 8)));
//! ```
//!
//! ## LLM calls
//!
//! [`record_llm_call`] prices one call with the table ([`PriceTable`]:
//! `data/llm_prices.toml` of this crate over `data/llm_prices_litellm.toml`
//! (the chat models of eight providers imported from LiteLLM's table with
//! [`import::import_litellm`], what `chatobs prices import` runs), compiled
//! in, your `[cost] llm_price_files` on top; a row with an `effective` day
//! applies from that day, so a call is priced with the prices of its date,
//! [`LlmCall::at`]), sets the GenAI attributes (`gen_ai.provider.name`,
//! `gen_ai.request.model`, `gen_ai.usage.*`), the OpenInference mirrors
//! (`llm.model_name`, `llm.provider`, `llm.token_count.*`), the cost
//! (`gen_ai.usage.price_usd`, `llm.cost.prompt|completion|total`,
//! `operation.cost`), adds it to the conversation and returns the breakdown
//! ([`LlmCost`]). A model declared with `#[chat_span(kind = llm, model = ...)]`
//! is used when the call names none.
//!
//! An unknown model, or a component with no price (cached tokens of a model
//! without a cached rate), is not an error: the call is recorded with
//! `gen_ai.usage.price_unknown = true`, a warning is logged once per model,
//! and the conversation total is marked incomplete (it is then a lower
//! bound). Impossible usage (more cached tokens than input tokens, more than
//! [`llm::MAX_UNITS_PER_CALL`]) is rejected with [`crate::Error::InvalidInput`];
//! negative counts cannot be written (`u64`).
//!
//! ### Where chatobs and tokencost differ
//!
//! For token-billed models without tiers, each component equals tokencost's
//! `calculate_cost_by_tokens` exactly (the test `cost_tokencost` runs
//! tokencost and compares decimals): prompt = `input` of the uncached tokens
//! + `cached` of the cached ones; completion = `output`. chatobs differs on purpose:
//! - **Tiers.** tokencost ignores `*_above_128k_tokens` / `*_above_200k_tokens`
//!   prices. chatobs applies the tier's rates to the whole request when the
//!   prompt has more than 128 000 tokens (gemini-1.5-flash, gemini-1.5-pro)
//!   or 200 000 (gemini-2.5-pro): 128 001 prompt tokens of gemini-1.5-flash cost
//!   0.15/1M each, not 0.075/1M.
//! - **Per-character billing.** Vertex AI billed Gemini 1.5 per character;
//!   tokencost's `calculate_cost_by_tokens` has no character mode (and its
//!   table's `input_cost_per_character_above_128k_tokens` for gemini-1.5-flash,
//!   2.5e-07, is not twice the base 1.875e-08). Use provider `gcp.vertex_ai`
//!   and pass characters.
//! - **Cached tokens of gemini-1.5-flash.** tokencost's table has no cached
//!   rate for it (`calculate_cost_by_tokens(.., "cached")` raises); chatobs
//!   uses the Gemini API's 0.01875/1M (0.0375/1M above 128k).
//!
//! ## WhatsApp messages
//!
//! [`record_inbound`] opens the customer service window; [`price_outbound`]
//! prices a message at its delivery time with the rules of that date
//! (conversation-based until 2025-06-30, per-message from 2025-07-01, and
//! the billed-service rule reported for 2026-10-01 when
//! `[cost] billed_service_messages = true`), sets `messaging.whatsapp.*` on
//! the current span and adds the fee to the conversation; [`reconcile`]
//! applies a status webhook's `pricing` object (Meta's answer wins, the
//! difference is an event). See [`whatsapp`] for the rules table. The window
//! state is bounded (`[cost] state_max_entries`, `state_ttl_hours`) and can be
//! saved with [`export_state`] and loaded with [`restore_state`].
//!
//! ## Money never panics, never wraps, never rounds
//!
//! Every sum and product of money goes through [`money`], which returns the
//! exact figure or says why a decimal cannot hold it. A figure that cannot
//! be represented is not an error of the call: [`record_llm_call`] still
//! returns `Ok`, with an incomplete [`LlmCost`] ([`LlmCost::overflow`] names
//! the figure, left out so the others are a lower bound); the span gets
//! `gen_ai.usage.price_unknown = true` and
//! `gen_ai.usage.price_incomplete_reason` (`overflow:output`,
//! `no_price:model`, ...), a warning is logged once per model and reason
//! (the model name and the reason only), and the conversation is marked
//! incomplete. A running total that an addition would overflow keeps its
//! previous value and is marked incomplete with
//! `chat.session.cost_incomplete_reason` ([`Totals::incomplete_reasons`]);
//! it never wraps or saturates. Price and rate files are checked when they
//! are loaded: an unparseable, negative, inexact or absurd figure (above
//! [`llm::MAX_PRICE_PER_UNIT_USD`] per token or character,
//! [`whatsapp::MAX_RATE_PER_MESSAGE_USD`] per message) is an error naming the
//! file, the key and the reason, so a call priced from files cannot
//! overflow in magnitude (only a price written with more significant digits
//! than a product keeps can reach the precision case); a table built in code
//! ([`PriceTable::insert`], a [`RateCard`]'s public fields) can reach both,
//! and gets the incomplete path above.
//!
//! ## Closing a conversation
//!
//! [`close_conversation`] emits `conversation.closed` with the totals, the
//! message and call counts and the duration, and returns the totals.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
// Every `+`, `-`, `*`, `/` must be checked (money goes through `money`,
// counts saturate or are checked): a plain operator is a compile error here.
#![deny(clippy::arithmetic_side_effects)]

pub mod config;
pub mod conversation;
pub mod events;
pub mod import;
pub mod ledger;
pub mod llm;
pub mod money;
pub mod priced;
pub mod shared;
pub mod timeline;
pub mod whatsapp;

pub use events::{
    on_cost, remove_cost_listener, CostEvent, CostEventKind, CostListener, ListenerId,
};
pub use ledger::Totals;
pub use llm::{BillingUnit, LlmCost, ModelPrice, PriceTable, Usage};
pub use time::OffsetDateTime;
pub use whatsapp::{
    Category, FreeBy, Inbound, MetaPricing, Outbound, PricingModel, PricingType, RateCard,
    Reconciliation, StateBounds, StateSnapshot, WhatsAppCharge, WhatsAppPricer,
};

pub use config::CostConfig;

// The core modules this crate builds on.
use chatobs_core::{context, current, ids, model, vocab, Error};
use context::ChatSession;
use model::{KeyValue, OtelKind, Value};
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

/// Prices and state used by the functions of this module.
#[derive(Debug)]
pub struct CostEngine {
    llm: PriceTable,
    whatsapp: WhatsAppPricer,
}

impl CostEngine {
    /// An engine from configuration: the shipped table and card, your files
    /// on top, the billed-service switch and the state bounds.
    pub fn from_config(cfg: &CostConfig) -> Result<CostEngine, Error> {
        cfg.validate()?;
        let mut llm = PriceTable::shipped();
        for f in &cfg.llm_price_files {
            llm.merge_file(f)?;
        }
        let mut card = RateCard::shipped();
        for f in &cfg.whatsapp_rate_files {
            card.merge_file(f)?;
        }
        card.rules.billed_service_enabled = cfg.billed_service_messages;
        Ok(CostEngine {
            llm,
            whatsapp: WhatsAppPricer::new(card, cfg.state_bounds()),
        })
    }

    /// The LLM price table.
    pub fn llm(&self) -> &PriceTable {
        &self.llm
    }
    /// The WhatsApp pricer.
    pub fn whatsapp(&self) -> &WhatsAppPricer {
        &self.whatsapp
    }
}

static ENGINE: RwLock<Option<Arc<CostEngine>>> = RwLock::new(None);

/// The engine in use (built from the default configuration on first use).
pub fn engine() -> Arc<CostEngine> {
    if let Some(e) = ENGINE.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return e.clone();
    }
    let mut slot = ENGINE.write().unwrap_or_else(|e| e.into_inner());
    slot.get_or_insert_with(|| {
        Arc::new(CostEngine {
            llm: PriceTable::shipped(),
            whatsapp: WhatsAppPricer::shipped(),
        })
    })
    .clone()
}

/// Loads the `[cost]` configuration: price and rate files, the billed-service
/// switch, the state bounds. `chatobs_runtime::init` calls this; the window
/// state of the previous engine is carried over.
pub fn configure(cfg: &CostConfig) -> Result<(), Error> {
    let new = CostEngine::from_config(cfg)?;
    ledger::set_bounds(ledger::LedgerBounds {
        max: cfg.state_max_entries,
        ttl: std::time::Duration::from_secs(cfg.state_ttl_hours.saturating_mul(3600)),
    });
    let mut slot = ENGINE.write().unwrap_or_else(|e| e.into_inner());
    if let Some(old) = slot.as_ref() {
        new.whatsapp.restore(&old.whatsapp.export());
    }
    *slot = Some(Arc::new(new));
    Ok(())
}

/// Logs once per (model, reason) that a call's cost is incomplete. Only the
/// model name and the reason are logged (no user, no content).
fn warn_once(model: &str, cost: &LlmCost) {
    static WARNED: OnceLock<Mutex<HashSet<(String, String)>>> = OnceLock::new();
    let Some(reason) = cost.incomplete_reason() else {
        return;
    };
    let first = {
        let mut w = WARNED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        w.len() < 10_000 && w.insert((model.to_owned(), reason.clone()))
    };
    if !first {
        return;
    }
    if cost.overflow.is_empty() {
        tracing::warn!(target: "chatobs", model, reason = reason.as_str(), "no price for this LLM model: calls are recorded with gen_ai.usage.price_unknown = true and the conversation total is incomplete; add it to a [cost] llm_price_files table");
    } else {
        tracing::warn!(target: "chatobs", model, reason = reason.as_str(), "the exact cost of this LLM call does not fit a decimal: the figure is left out, the call is recorded with gen_ai.usage.price_unknown = true and gen_ai.usage.price_incomplete_reason, and the conversation total is incomplete; check this model's prices");
    }
}

/// Logs once per reason that a conversation total refused an addition.
fn warn_total_once(reason: &'static str) {
    static WARNED: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let first = WARNED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(reason);
    if first {
        tracing::warn!(target: "chatobs", reason, "a conversation's running cost total cannot hold this addition exactly: the total keeps its previous value and is marked incomplete (chat.session.cost_incomplete_reason)");
    }
}

fn add_to_session(f: impl FnOnce(&mut Totals)) {
    if let Some(s) = ChatSession::current() {
        ledger::ledger_of(&s).update(f);
    }
}

/// [`add_to_session`], then the cost listeners (see [`events`]) with the
/// totals before and after, taken under the ledger's lock.
fn add_and_emit(kind: CostEventKind<'_>, f: impl FnOnce(&mut Totals)) {
    let shared = shared::shared().is_some();
    if !events::has_listeners() && !shared {
        return add_to_session(f);
    }
    let session = ChatSession::current();
    let mut around = None;
    if let Some(s) = &session {
        let ledger = ledger::ledger_of(s);
        ledger.update(|t| {
            let before = t.clone();
            f(t);
            around = Some((before, t.clone()));
        });
        // Shared across processes: the per-conversation totals the listeners
        // check come with the store's answer (a SharedTotals event), off
        // this path; this event carries none, so no process checks its own.
        if shared {
            if let Some((b, a)) = &around {
                if shared::delta(b, a).is_none() {
                    ledger.update(|t| t.mark_incomplete(ledger::reason::SHARED_TOTAL_PRECISION));
                }
                shared::share(s, b, a, events::current_ids());
            }
            around = None;
        }
    }
    if !events::has_listeners() {
        return;
    }
    let (role, trace_id, span_id) = events::current_ids();
    events::emit(&CostEvent {
        kind,
        session: session.as_ref(),
        totals: around.as_ref().map(|(b, a)| (b, a)),
        role,
        trace_id,
        span_id,
    });
}

// ---- LLM ------------------------------------------------------------------------------

/// One LLM call to record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LlmCall {
    /// The model asked for (`None`: the model declared on the span).
    pub model: Option<String>,
    /// The provider (`None`: the span's, or implied by the model name).
    pub provider: Option<String>,
    /// The model that answered, if the response names it.
    pub response_model: Option<String>,
    /// `chat` (default), `text_completion`, `embeddings`, ...
    pub operation: Option<String>,
    /// What the call used.
    pub usage: Usage,
    /// Rename the span to `{operation} {model}` and make it a CLIENT span
    /// (OpenTelemetry GenAI span naming). Off by default: the span keeps
    /// the name you gave it.
    pub rename_span: bool,
    /// When the call was made (`None`: now): a price change applies by the call's date.
    pub at: Option<time::OffsetDateTime>,
}

impl LlmCall {
    /// Made at `at` (priced with the prices in force that day).
    pub fn at(mut self, at: time::OffsetDateTime) -> Self {
        self.at = Some(at);
        self
    }
    /// A call to `model`.
    pub fn new(model: impl Into<String>) -> LlmCall {
        LlmCall {
            model: Some(model.into()),
            ..LlmCall::default()
        }
    }
    /// A call to the model declared on the current span (`#[chat_span(model = ...)]`).
    pub fn declared() -> LlmCall {
        LlmCall::default()
    }
    /// Provider (`gcp.gemini`, `gcp.vertex_ai`, `openai`, `anthropic`).
    pub fn provider(mut self, p: impl Into<String>) -> Self {
        self.provider = Some(p.into());
        self
    }
    /// The model that answered.
    pub fn response_model(mut self, m: impl Into<String>) -> Self {
        self.response_model = Some(m.into());
        self
    }
    /// Operation name.
    pub fn operation(mut self, op: impl Into<String>) -> Self {
        self.operation = Some(op.into());
        self
    }
    /// Prompt tokens, cached ones included.
    pub fn input_tokens(mut self, n: u64) -> Self {
        self.usage.input_tokens = n;
        self
    }
    /// Output tokens, reasoning ones included.
    pub fn output_tokens(mut self, n: u64) -> Self {
        self.usage.output_tokens = n;
        self
    }
    /// Prompt tokens read from the cache (part of `input_tokens`).
    pub fn cached_tokens(mut self, n: u64) -> Self {
        self.usage.cached_tokens = n;
        self
    }
    /// Prompt tokens written to the cache (part of `input_tokens`).
    pub fn cache_write_tokens(mut self, n: u64) -> Self {
        self.usage.cache_write_tokens = n;
        self
    }
    /// Reasoning tokens (part of `output_tokens`).
    pub fn reasoning_tokens(mut self, n: u64) -> Self {
        self.usage.reasoning_tokens = n;
        self
    }
    /// Characters, for per-character billing (Vertex AI Gemini 1.5).
    pub fn characters(mut self, input: u64, output: u64) -> Self {
        self.usage.input_chars = Some(input);
        self.usage.output_chars = Some(output);
        self
    }
    /// Rename the span after the GenAI convention (see [`LlmCall::rename_span`]).
    pub fn genai_span_name(mut self) -> Self {
        self.rename_span = true;
        self
    }
}

/// Prices one LLM call, records it on the current span and in the
/// conversation's total, and returns the breakdown.
pub fn record_llm_call(call: &LlmCall) -> Result<LlmCost, Error> {
    record_llm_call_with(&engine().llm, call)
}

/// [`record_llm_call`] with a given price table.
pub fn record_llm_call_with(table: &PriceTable, call: &LlmCall) -> Result<LlmCost, Error> {
    let (span_model, span_provider) =
        current::with(|r| (r.model(), r.provider())).unwrap_or((None, None));
    let model: &str =
        match call.model.as_deref().filter(|m| !m.trim().is_empty()) {
            Some(m) => m,
            None => match span_model {
                Some(m) => m,
                None => return Err(Error::InvalidInput(
                    "no model: name it with LlmCall::new(model) or #[chat_span(model = \"...\")]"
                        .into(),
                )),
            },
        };
    let provider: Option<&str> = call.provider.as_deref().or(span_provider);
    let cost = table.cost_at(
        provider,
        model,
        &call.usage,
        call.at.unwrap_or_else(time::OffsetDateTime::now_utc),
    )?;
    let incomplete_reason = cost.incomplete_reason();
    if incomplete_reason.is_some() {
        warn_once(model, &cost);
    }
    let op: &str = call.operation.as_deref().unwrap_or("chat");
    // The usual operation as a static string: no copy on the span.
    let op_value = || match op {
        "chat" => Value::from("chat"),
        other => Value::from(other.to_owned()),
    };
    let u = call.usage;
    current::with(|r| {
        let mut set = |k: &'static str, v: Value| r.set_attr(k, v);
        let declared_same = span_model == Some(model);
        if !declared_same {
            set(vocab::GEN_AI_OPERATION_NAME, op_value());
            set(vocab::GEN_AI_REQUEST_MODEL, Value::from(model.to_owned()));
            set(vocab::LLM_MODEL_NAME, Value::from(model.to_owned()));
        }
        let prov = provider
            .map(llm::normalize_provider)
            .or_else(|| cost.provider.clone());
        if let Some(p) = prov {
            if span_provider != Some(p.as_str()) {
                set(vocab::GEN_AI_PROVIDER_NAME, Value::from(p.clone()));
                set(vocab::LLM_PROVIDER, Value::from(p));
            }
        }
        if let Some(m) = &call.response_model {
            set(vocab::GEN_AI_RESPONSE_MODEL, Value::from(m.clone()));
        }
        set(
            vocab::GEN_AI_USAGE_INPUT_TOKENS,
            Value::from(u.input_tokens),
        );
        set(
            vocab::GEN_AI_USAGE_OUTPUT_TOKENS,
            Value::from(u.output_tokens),
        );
        set(vocab::LLM_TOKEN_COUNT_PROMPT, Value::from(u.input_tokens));
        set(
            vocab::LLM_TOKEN_COUNT_COMPLETION,
            Value::from(u.output_tokens),
        );
        // Saturating, and honest: table.cost() accepted at most
        // MAX_UNITS_PER_CALL of each, so the sum is exact; were that bound
        // raised, a saturated u64::MAX would still read as "at least".
        set(
            vocab::LLM_TOKEN_COUNT_TOTAL,
            Value::from(u.input_tokens.saturating_add(u.output_tokens)),
        );
        if u.cached_tokens > 0 {
            set(
                vocab::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
                Value::from(u.cached_tokens),
            );
            set(
                vocab::LLM_TOKEN_COUNT_PROMPT_CACHE_READ,
                Value::from(u.cached_tokens),
            );
        }
        if u.cache_write_tokens > 0 {
            set(
                vocab::GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
                Value::from(u.cache_write_tokens),
            );
        }
        if u.reasoning_tokens > 0 {
            set(
                vocab::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
                Value::from(u.reasoning_tokens),
            );
        }
        if let (Some(i), Some(o)) = (u.input_chars, u.output_chars) {
            set(vocab::GEN_AI_USAGE_INPUT_CHARACTERS, Value::from(i));
            set(vocab::GEN_AI_USAGE_OUTPUT_CHARACTERS, Value::from(o));
        }
        // An incomplete figure is only a lower bound (0 for an unknown
        // model): written as the call's price, a backend that sums prices
        // would count it as exact, or the call as free. So the cost
        // attributes are absent and `price_unknown` says why.
        if incomplete_reason.is_none() {
            set(vocab::GEN_AI_USAGE_PRICE_USD, Value::Decimal(cost.total));
            set(vocab::LLM_COST_PROMPT, Value::Decimal(cost.prompt));
            set(vocab::LLM_COST_COMPLETION, Value::Decimal(cost.completion));
            set(vocab::LLM_COST_TOTAL, Value::Decimal(cost.total));
            set(vocab::OPERATION_COST, Value::Decimal(cost.total));
        }
        if let Some(reason) = &incomplete_reason {
            set(vocab::GEN_AI_USAGE_PRICE_UNKNOWN, Value::Bool(true));
            set(
                vocab::GEN_AI_USAGE_PRICE_INCOMPLETE_REASON,
                Value::from(reason.clone()),
            );
        }
        if call.rename_span {
            r.set_name(format!("{op} {model}"));
            r.set_otel_kind(OtelKind::Client);
        } else if r.chat_kind() == Some(vocab::SpanKind::Llm) {
            r.set_otel_kind(OtelKind::Client);
        }
    });
    // A judge's own calls (role `evaluator`) are evaluation cost, kept apart
    // from what the bot spent.
    let is_evaluation =
        current::with(|r| r.role() == Some(vocab::Role::EVALUATOR)).unwrap_or(false);
    let kind = CostEventKind::LlmCall {
        operation: op,
        provider,
        model,
        usage: &call.usage,
        cost: &cost,
    };
    let mut refused = None;
    add_and_emit(kind, |t| {
        if is_evaluation {
            refused = t.add_evaluation(cost.total);
        } else {
            refused = t.add_llm(cost.total);
            // Saturating is honest for a count: u64::MAX calls cannot happen.
            t.llm_calls = t.llm_calls.saturating_add(1);
            if !cost.overflow.is_empty() {
                t.mark_incomplete(ledger::reason::LLM_COST_OVERFLOW);
            }
            if !cost.missing.is_empty() {
                t.mark_incomplete(ledger::reason::LLM_PRICE_UNKNOWN);
            }
        }
    });
    if let Some(r) = refused {
        warn_total_once(r);
    }
    Ok(cost)
}

/// Records an LLM call whose answer carried no usage (a stream that ended
/// before its usage chunk, an OpenAI stream without
/// `stream_options.include_usage`): the GenAI attributes of the call,
/// `gen_ai.usage.missing = true` and `gen_ai.usage.price_unknown = true` on
/// the current span (no cost attribute), the conversation total marked
/// incomplete ([`ledger::reason::LLM_USAGE_MISSING`]) and the call counted in
/// the metrics' unknown-price calls.
///
/// ```
/// use chatobs_runtime::{cost, testing, vocab, ChatSession, SpanBuilder};
/// let session = ChatSession::from_exported_id("doc-usage-missing").unwrap();
/// let ((), spans) = testing::capture(|| session.in_scope(|| {
///     let mut s = SpanBuilder::new("llm").start();
///     s.in_scope(|| cost::record_llm_usage_missing(Some("openai"), "gpt-4o-mini", "chat"));
/// }));
/// let s = spans.one("llm");
/// assert_eq!(s.attr(vocab::GEN_AI_USAGE_MISSING).and_then(|v| v.as_bool()), Some(true));
/// assert_eq!(s.attr(vocab::GEN_AI_USAGE_PRICE_USD), None);
/// assert!(cost::session_totals(&session).incomplete);
/// ```
pub fn record_llm_usage_missing(provider: Option<&str>, model: &str, operation: &str) {
    let provider = provider.map(llm::normalize_provider);
    current::with(|r| {
        let mut set = |k: &'static str, v: Value| r.set_attr(k, v);
        set(
            vocab::GEN_AI_OPERATION_NAME,
            Value::from(operation.to_owned()),
        );
        if !model.is_empty() {
            set(vocab::GEN_AI_REQUEST_MODEL, Value::from(model.to_owned()));
            set(vocab::LLM_MODEL_NAME, Value::from(model.to_owned()));
        }
        if let Some(p) = &provider {
            set(vocab::GEN_AI_PROVIDER_NAME, Value::from(p.clone()));
            set(vocab::LLM_PROVIDER, Value::from(p.clone()));
        }
        set(vocab::GEN_AI_USAGE_MISSING, Value::Bool(true));
        set(vocab::GEN_AI_USAGE_PRICE_UNKNOWN, Value::Bool(true));
        set(
            vocab::GEN_AI_USAGE_PRICE_INCOMPLETE_REASON,
            Value::from("usage_missing"),
        );
    });
    let is_evaluation =
        current::with(|r| r.role() == Some(vocab::Role::EVALUATOR)).unwrap_or(false);
    add_and_emit(
        CostEventKind::LlmUsageMissing {
            operation,
            provider: provider.as_deref(),
            model,
        },
        |t| {
            if !is_evaluation {
                t.llm_calls = t.llm_calls.saturating_add(1);
            }
            t.mark_incomplete(ledger::reason::LLM_USAGE_MISSING);
        },
    );
}

// ---- WhatsApp -------------------------------------------------------------------------------

/// Records an inbound user message (opens the customer service window) and
/// counts it in the current conversation.
pub fn record_inbound(m: &Inbound<'_>) {
    engine().whatsapp.inbound(m);
    let Some(s) = ChatSession::current() else {
        return;
    };
    let ledger = ledger::ledger_of(&s);
    let mut around = None;
    ledger.update(|t| {
        let before = t.clone();
        t.count_inbound();
        around = Some((before, t.clone()));
    });
    // The count joins the conversation's shared totals (messages, turns).
    if let Some((b, a)) = around {
        shared::share(&s, &b, &a, events::current_ids());
    }
}

/// Prices an outbound message at its delivery time with the engine's pricer,
/// sets `messaging.whatsapp.*` on the current span and adds the fee to the
/// conversation.
pub fn price_outbound(m: &Outbound<'_>) -> Result<WhatsAppCharge, Error> {
    price_outbound_with(&engine().whatsapp, m)
}

/// [`price_outbound`] with a given pricer.
pub fn price_outbound_with(
    pricer: &WhatsAppPricer,
    m: &Outbound<'_>,
) -> Result<WhatsAppCharge, Error> {
    let c = pricer.outbound(m)?;
    current::with(|r| {
        let mut set = |k: &'static str, v: Value| r.set_attr(k, v);
        // No rate is not a rate of 0: the price is then absent (price_unknown says why).
        if c.price_known {
            set(vocab::MESSAGING_WHATSAPP_PRICE_USD, Value::Decimal(c.price));
        }
        if let Some(card) = &c.rate_card {
            set(
                vocab::MESSAGING_WHATSAPP_RATE_CARD,
                Value::from(card.clone()),
            );
        }
        if let Some(day) = &c.rate_effective {
            set(
                vocab::MESSAGING_WHATSAPP_RATE_EFFECTIVE,
                Value::from(day.clone()),
            );
        }
        if c.card_may_be_stale {
            set(vocab::MESSAGING_WHATSAPP_RATE_CARD_STALE, Value::Bool(true));
        }
        set(
            vocab::MESSAGING_WHATSAPP_CATEGORY,
            Value::from(c.category.as_str()),
        );
        if let Some(mk) = &c.market {
            set(vocab::MESSAGING_WHATSAPP_MARKET, Value::from(mk.clone()));
        }
        set(
            vocab::MESSAGING_WHATSAPP_PRICING_TYPE,
            Value::from(c.pricing_type.as_str()),
        );
        set(
            vocab::MESSAGING_WHATSAPP_PRICING_MODEL,
            Value::from(c.pricing_model.as_str()),
        );
        set(vocab::MESSAGING_WHATSAPP_BILLABLE, Value::Bool(c.billable));
        if let Some(f) = c.free_by {
            set(vocab::MESSAGING_WHATSAPP_FREE_BY, Value::from(f.as_str()));
        }
        if !c.price_known {
            set(vocab::MESSAGING_WHATSAPP_PRICE_UNKNOWN, Value::Bool(true));
        }
    });
    if !c.price_known {
        tracing::warn!(target: "chatobs", market = c.market.as_deref().unwrap_or("(none)"), category = c.category.as_str(), "no WhatsApp rate for this message: the conversation total is incomplete");
    }
    let mut refused = None;
    add_and_emit(CostEventKind::WhatsApp { charge: &c }, |t| {
        refused = t.add_whatsapp(c.price);
        t.count_outbound();
        if !c.price_known {
            t.mark_incomplete(ledger::reason::WHATSAPP_PRICE_UNKNOWN);
        }
    });
    if let Some(r) = refused {
        warn_total_once(r);
    }
    Ok(c)
}

/// Applies a status webhook's `pricing` object to an estimate: when Meta's
/// answer differs, its figure replaces the estimate in the conversation's
/// total and a `messaging.whatsapp.pricing.reconciled` event with both
/// figures and the difference is added to the current span.
pub fn reconcile(estimate: &WhatsAppCharge, meta: &MetaPricing) -> Reconciliation {
    let r = engine().whatsapp.reconcile(estimate, meta);
    apply_reconciliation(&r);
    r
}

/// [`reconcile`] with a given pricer.
pub fn reconcile_with(
    pricer: &WhatsAppPricer,
    estimate: &WhatsAppCharge,
    meta: &MetaPricing,
) -> Reconciliation {
    let r = pricer.reconcile(estimate, meta);
    apply_reconciliation(&r);
    r
}

fn apply_reconciliation(r: &Reconciliation) {
    if !r.differs {
        return;
    }
    let mut attrs: Vec<KeyValue> = vec![
        (
            Cow::Borrowed(vocab::MESSAGING_WHATSAPP_PRICE_ESTIMATE_USD),
            Value::Decimal(r.estimate),
        ),
        (
            Cow::Borrowed(vocab::MESSAGING_WHATSAPP_PRICE_DIFFERENCE_USD),
            Value::Decimal(r.difference),
        ),
        (
            Cow::Borrowed(vocab::MESSAGING_WHATSAPP_CATEGORY),
            Value::from(r.meta_category.clone()),
        ),
    ];
    if let Some(m) = r.meta {
        attrs.push((
            Cow::Borrowed(vocab::MESSAGING_WHATSAPP_PRICE_USD),
            Value::Decimal(m),
        ));
    } else {
        attrs.push((
            Cow::Borrowed(vocab::MESSAGING_WHATSAPP_PRICE_UNKNOWN),
            Value::Bool(true),
        ));
    }
    if let Some(t) = &r.meta_type {
        attrs.push((
            Cow::Borrowed(vocab::MESSAGING_WHATSAPP_PRICING_TYPE),
            Value::from(t.clone()),
        ));
    }
    if let Some(reason) = r.incomplete_reason {
        attrs.push((
            Cow::Borrowed(vocab::MESSAGING_WHATSAPP_PRICE_INCOMPLETE_REASON),
            Value::from(reason),
        ));
    }
    current::add_event(vocab::WHATSAPP_PRICING_RECONCILED, attrs);
    let diff = r.difference;
    let unknown = r.meta.is_none();
    let overflow = r.incomplete_reason.is_some();
    let mut refused = None;
    add_and_emit(CostEventKind::Reconciled { reconciliation: r }, |t| {
        refused = t.add_whatsapp(diff);
        if unknown {
            t.mark_incomplete(ledger::reason::WHATSAPP_PRICE_UNKNOWN);
        }
        if overflow {
            t.mark_incomplete(ledger::reason::WHATSAPP_COST_OVERFLOW);
        }
    });
    if overflow {
        warn_total_once(ledger::reason::WHATSAPP_COST_OVERFLOW);
    }
    if let Some(r) = refused {
        warn_total_once(r);
    }
}

/// The window state of the engine's pricer.
pub fn export_state() -> StateSnapshot {
    engine().whatsapp.export()
}

/// Restores window state into the engine's pricer.
pub fn restore_state(s: &StateSnapshot) {
    engine().whatsapp.restore(s)
}

// ---- conversation -----------------------------------------------------------------------------

/// The running totals of `session` (zero if nothing was recorded).
pub fn session_totals(session: &ChatSession) -> Totals {
    ledger::ledger_of(session).totals()
}

/// Attaches the ledger to `session` so every span of it carries the running
/// total, even before it records a cost (sessions with the same id share one ledger).
pub fn attach(session: &ChatSession) {
    let _ = ledger::ledger_of(session);
}

/// Closes the current conversation (see [`close_session`]); `None` without one.
pub fn close_conversation() -> Option<Totals> {
    ChatSession::current().map(|s| close_session(&s))
}

/// Closes `session`: emits `conversation.closed` with the totals, message
/// counts, LLM call count and duration on the current span (or on a span of
/// its own when none is current), forgets the ledger so a later conversation
/// with the same id starts from zero, and returns the totals.
pub fn close_session(session: &ChatSession) -> Totals {
    // A conversation of the lifecycle closes once, with the store's totals.
    if let Some(t) = conversation::close(session) {
        return t;
    }
    let t = ledger::ledger_of(session).totals();
    let start = t
        .first_activity
        .map_or(session.started(), |f| f.min(session.started()));
    let duration = std::time::SystemTime::now()
        .duration_since(start)
        .unwrap_or_default();
    let attrs = conversation::closed_attributes(
        &t,
        u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        conversation::reason::CLOSED_BY_CODE,
        "none",
    );
    let current_is_session = ChatSession::current().is_some_and(|c| c == *session);
    if !(current_is_session && current::add_event(vocab::CONVERSATION_CLOSED, attrs.clone())) {
        let mut span = chatobs_core::SpanBuilder::new(vocab::CONVERSATION_CLOSED)
            .session(session.clone())
            .start();
        span.add_event(vocab::CONVERSATION_CLOSED, attrs);
        drop(span);
    }
    ledger::forget(session);
    if events::has_listeners() {
        let (role, trace_id, span_id) = events::current_ids();
        events::emit(&CostEvent {
            kind: CostEventKind::Closed { totals: &t },
            session: Some(session),
            totals: None,
            role,
            trace_id,
            span_id,
        });
    }
    t
}
