//! chatobs' LLM prices registered in Arize Phoenix, so Phoenix's span, trace
//! and session cost equal chatobs' own.
//!
//! Phoenix (20.x) does not read a span's `llm.cost.*`: it prices each span
//! with `openinference.span.kind = "LLM"` itself, when the span arrives, from
//! its model table, matched by regular expression on `llm.model_name`
//! (models users define win over its built-in ones; its table reloads every
//! 5 seconds; a span is never priced again later). So before a span of a
//! model it has not registered yet is exported, [`WithPhoenixPrices`]
//! registers chatobs' price for that model through Phoenix's GraphQL API
//! (`createModel`, or `updateModel` when a model of that name exists: a
//! restarted bot), named `chatobs/<provider>/<model>` with the pattern
//! `^<model>$`, and holds that batch until Phoenix has loaded it
//! ([`RELOAD_WAIT`]; once per model and process).
//!
//! What Phoenix cannot show (chatobs has it, on the span and in
//! `conversation.closed`): the higher rates of a tier (Gemini 1.5 / 2.5 Pro
//! above 128k or 200k prompt tokens, Claude's long context: Phoenix prices
//! the whole call at the base rates registered here), per-character billing
//! (Vertex AI Gemini 1.0 / 1.5: not registered, Phoenix shows no cost), a
//! price change by date (the price in force when the model was first seen
//! is registered), and WhatsApp fees (no LLM span: see the conversation's
//! `messaging.whatsapp.cost.total` and `chatobs_whatsapp_cost_usd_total`).
//!
//! A registration that fails is counted ([`PricesStats`]), logged once per
//! model and not retried for that model; the spans are exported anyway.

use crate::config::PhoenixConfig;
use crate::cost;
use crate::model::FinishedSpan;
use crate::vocab;
use chatobs_core::export::SpanExporter;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::{json, Value as Json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long after registering a model Phoenix is known to price with it (its
/// model store reloads every 5 s).
pub const RELOAD_WAIT: Duration = Duration::from_millis(6000);

/// Counters of the registrations.
#[derive(Debug, Default)]
pub struct PricesStats {
    /// Models registered (created or updated).
    pub registered: AtomicU64,
    /// Registrations Phoenix refused or that failed.
    pub failed: AtomicU64,
    /// LLM models seen that chatobs has no token price for (not registered).
    pub unpriced: AtomicU64,
}

enum Seen {
    /// Registered; Phoenix prices with it from this instant.
    Ready(Instant),
    /// Not registered (failed, unpriced): never tried again.
    Skipped,
}

/// Registers chatobs' prices in Phoenix (see the [module docs](self)).
pub struct PhoenixPrices {
    graphql: String,
    key: Option<String>,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
    seen: HashMap<(String, String), Seen>,
    stats: Arc<PricesStats>,
    wait: Duration,
}

impl std::fmt::Debug for PhoenixPrices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoenixPrices")
            .field("graphql", &self.graphql)
            .field("stats", &self.stats)
            .finish()
    }
}

/// The price one model is registered with, per million tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// `chatobs/<provider>/<model>`.
    pub name: String,
    /// chatobs' provider name (Phoenix prefers a model whose provider equals the span's `llm.provider`).
    pub provider: String,
    /// `^<model>$`, the model name escaped.
    pub name_pattern: String,
    /// `(token type, PROMPT | COMPLETION, USD per million tokens)`.
    pub costs: Vec<(&'static str, &'static str, f64)>,
}

fn per_million(d: Decimal) -> Option<f64> {
    d.checked_mul(Decimal::from(1_000_000u32))?.to_f64()
}

/// What chatobs registers for `model` (as the span names it) priced by
/// `price`; `None` for a per-character price (Phoenix prices tokens only).
pub fn registration(model: &str, price: &cost::ModelPrice) -> Option<Registration> {
    if price.unit != cost::BillingUnit::Token {
        return None;
    }
    let r = &price.base;
    let mut costs = vec![
        ("input", "PROMPT", per_million(r.input)?),
        ("output", "COMPLETION", per_million(r.output)?),
    ];
    if let Some(c) = r.cached_input {
        costs.push(("cache_read", "PROMPT", per_million(c)?));
    }
    if let Some(c) = r.cache_write {
        costs.push(("cache_write", "PROMPT", per_million(c)?));
    }
    if let Some(c) = r.reasoning {
        costs.push(("reasoning", "COMPLETION", per_million(c)?));
    }
    Some(Registration {
        name: format!("chatobs/{}/{}", price.provider, model),
        provider: price.provider.clone(),
        name_pattern: format!("^{}$", regex_escape(model)),
        costs,
    })
}

/// Escapes the characters a (Python) regular expression gives a meaning to.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if "\\.^$|?*+()[]{}-/#&~ ".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

const CREATE: &str = "mutation($input: CreateModelMutationInput!) { createModel(input: $input) { model { id name } } }";
const UPDATE: &str = "mutation($input: UpdateModelMutationInput!) { updateModel(input: $input) { model { id name } } }";
const LIST: &str = "query { generativeModels(first: 100000) { edges { node { id name } } } }";

impl PhoenixPrices {
    /// A registrar for the Phoenix at `cfg.endpoint` (its API key from the
    /// variable `cfg.api_key_env`, requests limited to `cfg.timeout_ms`).
    pub fn new(cfg: &PhoenixConfig) -> Result<PhoenixPrices, crate::Error> {
        let key = std::env::var(&cfg.api_key_env)
            .ok()
            .filter(|k| !k.trim().is_empty());
        let err = |e: String| crate::Error::config(None, "evals.phoenix", e);
        Ok(PhoenixPrices {
            graphql: format!("{}/graphql", cfg.endpoint.trim_end_matches('/')),
            key,
            http: reqwest::Client::builder()
                .timeout(Duration::from_millis(cfg.timeout_ms))
                .build()
                .map_err(|e| err(e.to_string()))?,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| err(e.to_string()))?,
            seen: HashMap::new(),
            stats: Arc::new(PricesStats::default()),
            wait: RELOAD_WAIT,
        })
    }

    /// How long to hold a batch after registering (tests of a Phoenix
    /// double set 0; a real Phoenix needs [`RELOAD_WAIT`]).
    pub fn reload_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The counters.
    pub fn stats(&self) -> Arc<PricesStats> {
        self.stats.clone()
    }

    fn post(&self, query: &str, variables: Json) -> Result<Json, String> {
        let body = json!({"query": query, "variables": variables});
        self.rt.block_on(async {
            let mut req = self.http.post(&self.graphql).json(&body);
            if let Some(k) = &self.key {
                req = req.bearer_auth(k);
            }
            let resp = req.send().await.map_err(|e| e.without_url().to_string())?;
            let status = resp.status();
            let v: Json = resp
                .json()
                .await
                .map_err(|e| format!("HTTP {status}, not JSON: {}", e.without_url()))?;
            if let Some(errs) = v.get("errors").and_then(Json::as_array) {
                let msg = errs
                    .iter()
                    .filter_map(|e| e.get("message").and_then(Json::as_str))
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(crate::redact::truncate(&msg, 300));
            }
            if !status.is_success() {
                return Err(format!("HTTP {status}"));
            }
            Ok(v)
        })
    }

    /// Creates the model, or updates the one of that name.
    fn register(&self, r: &Registration) -> Result<(), String> {
        let costs: Vec<Json> = r
            .costs
            .iter()
            .map(|(t, k, c)| json!({"tokenType": t, "kind": k, "costPerMillionTokens": c}))
            .collect();
        let mut input = json!({"name": r.name, "provider": r.provider,
                               "namePattern": r.name_pattern, "costs": costs});
        match self.post(CREATE, json!({ "input": input })) {
            Ok(_) => Ok(()),
            Err(e) if e.contains("already exists") => {
                let list = self.post(LIST, json!({}))?;
                let id = list
                    .pointer("/data/generativeModels/edges")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                    .find(|e| e.pointer("/node/name").and_then(Json::as_str) == Some(&r.name))
                    .and_then(|e| e.pointer("/node/id").and_then(Json::as_str))
                    .ok_or_else(|| format!("{e}, and no model of that name is listed"))?
                    .to_owned();
                input["id"] = json!(id);
                self.post(UPDATE, json!({ "input": input })).map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    /// Registers the price of every LLM model of `batch` not registered yet,
    /// then waits until Phoenix prices with them.
    pub fn prepare(&mut self, batch: &[FinishedSpan]) {
        let mut ready = Instant::now();
        for s in batch {
            if s.attr_str(vocab::OPENINFERENCE_SPAN_KIND) != Some("LLM") {
                continue;
            }
            let Some(model) = s.attr_str(vocab::LLM_MODEL_NAME) else {
                continue;
            };
            let provider = s
                .attr_str(vocab::LLM_PROVIDER)
                .or_else(|| s.attr_str(vocab::GEN_AI_PROVIDER_NAME));
            let key = (provider.unwrap_or("").to_owned(), model.to_owned());
            if let Some(seen) = self.seen.get(&key) {
                if let Seen::Ready(at) = seen {
                    ready = ready.max(*at);
                }
                continue;
            }
            let day = cost::OffsetDateTime::from(s.start).date();
            let engine = cost::engine();
            let reg = engine
                .llm()
                .resolve_at(provider, model, day)
                .and_then(|p| registration(model, p));
            let seen = match reg {
                None => {
                    self.stats.unpriced.fetch_add(1, Ordering::Relaxed);
                    Seen::Skipped
                }
                Some(r) => match self.register(&r) {
                    Ok(()) => {
                        self.stats.registered.fetch_add(1, Ordering::Relaxed);
                        let at = Instant::now() + self.wait;
                        ready = ready.max(at);
                        Seen::Ready(at)
                    }
                    Err(e) => {
                        self.stats.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(target: "chatobs", model = %r.name, error = %e, "Phoenix did not take chatobs' price of this model: Phoenix will show no cost (or its own) for its spans");
                        Seen::Skipped
                    }
                },
            };
            self.seen.insert(key, seen);
        }
        let now = Instant::now();
        if ready > now {
            std::thread::sleep(ready - now);
        }
    }
}

/// A span exporter (the OTLP one sending to Phoenix) that registers chatobs'
/// prices in Phoenix before the spans that need them (see the [module docs](self)).
pub struct WithPhoenixPrices {
    inner: Box<dyn SpanExporter>,
    prices: PhoenixPrices,
}

impl WithPhoenixPrices {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn SpanExporter>, prices: PhoenixPrices) -> WithPhoenixPrices {
        WithPhoenixPrices { inner, prices }
    }
}

impl SpanExporter for WithPhoenixPrices {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn export(&mut self, batch: &[FinishedSpan]) -> Result<(), String> {
        self.prices.prepare(batch);
        self.inner.export(batch)
    }
    fn flush(&mut self) -> Result<(), String> {
        self.inner.flush()
    }
    fn shutdown(&mut self) -> Result<(), String> {
        self.inner.shutdown()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_is_registered_with_its_per_million_prices_and_an_anchored_pattern() {
        let t = cost::engine();
        let p = t
            .llm()
            .resolve(Some("gcp.gemini"), "gemini-1.5-flash")
            .unwrap();
        let r = registration("gemini-1.5-flash", p).unwrap();
        assert_eq!(r.name, "chatobs/gcp.gemini/gemini-1.5-flash");
        assert_eq!(r.name_pattern, "^gemini\\-1\\.5\\-flash$");
        let input = r.costs.iter().find(|c| c.0 == "input").unwrap();
        assert_eq!(input.1, "PROMPT");
        assert_eq!(
            Decimal::try_from(input.2).unwrap(),
            p.base.input * Decimal::from(1_000_000u32)
        );
        assert!(r
            .costs
            .iter()
            .any(|c| c.0 == "output" && c.1 == "COMPLETION"));
        assert_eq!(regex_escape("a.b+c(d)"), "a\\.b\\+c\\(d\\)");
    }
}
