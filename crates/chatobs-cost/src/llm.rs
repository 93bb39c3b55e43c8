//! LLM pricing: the price table and the arithmetic of one call.
//!
//! Prices are read from TOML (`data/llm_prices.toml` of this crate is compiled in; your
//! files extend or override it, see [`PriceTable::merge_toml`]). Every number
//! is a decimal string so it is exact, and carries its `source` and `date`.

use crate::money;
use crate::Error;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// The shipped LLM price table.
pub const SHIPPED_LLM_PRICES: &str = include_str!("../data/llm_prices.toml");

/// The imported part of the shipped table (`data/llm_prices_litellm.toml`:
/// LiteLLM's table as tokencost 0.1.26 ships it, written by `chatobs prices
/// import`); [`SHIPPED_LLM_PRICES`] is laid over it.
pub const SHIPPED_LLM_PRICES_IMPORTED: &str = include_str!("../data/llm_prices_litellm.toml");

/// Largest token or character count accepted for one call (one billion):
/// larger inputs are rejected as absurd rather than priced.
pub const MAX_UNITS_PER_CALL: u64 = 1_000_000_000;

/// Ceiling of a price per unit (one token or one character) read from a
/// price file: 1 000 000 USD. The most expensive models cost well under
/// 0.001 USD per token; a larger figure is a typo (a price per 1M written
/// with `per = 1`, a misplaced exponent) and the file is refused with its
/// key. With [`MAX_UNITS_PER_CALL`], a call priced from files stays below
/// 10^15 USD per component, far inside the decimal range.
pub const MAX_PRICE_PER_UNIT_USD: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// Largest `per` of a price file (prices per 1, 1K, 1M or 1B units).
pub const MAX_PER: u64 = 1_000_000_000;

/// What a model bills by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BillingUnit {
    /// Tokens (every current API).
    Token,
    /// Characters (Vertex AI Gemini 1.0 / 1.5).
    Character,
}

impl BillingUnit {
    /// `token` or `character`.
    pub fn as_str(self) -> &'static str {
        match self {
            BillingUnit::Token => "token",
            BillingUnit::Character => "character",
        }
    }
}

/// Prices per unit (one token or one character), in USD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rates {
    /// Uncached input.
    pub input: Decimal,
    /// Output (reasoning tokens included unless [`Rates::reasoning`] is set).
    pub output: Decimal,
    /// Cached input read, if the provider bills it.
    pub cached_input: Option<Decimal>,
    /// Input written to the cache, if the provider bills it apart.
    pub cache_write: Option<Decimal>,
    /// Reasoning output, if billed apart from output.
    pub reasoning: Option<Decimal>,
}

/// Rates that apply to the whole request when the prompt is larger than
/// `above_prompt_tokens`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tier {
    /// The tier applies when prompt (input) tokens are strictly above this.
    pub above_prompt_tokens: u64,
    /// The rates of the whole request in this tier.
    pub rates: Rates,
}

/// One model's prices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelPrice {
    /// Canonical name (`gemini-1.5-flash`).
    pub name: String,
    /// GenAI provider name (`gcp.gemini`, `gcp.vertex_ai`, `openai`, `anthropic`).
    pub provider: String,
    /// Other names that resolve to this entry.
    pub aliases: Vec<String>,
    /// What it bills by.
    pub unit: BillingUnit,
    /// Rates for prompts up to the first tier.
    pub base: Rates,
    /// Higher tiers, ascending.
    pub tiers: Vec<Tier>,
    /// Where the prices come from.
    pub source: String,
    /// When they were read (YYYY-MM-DD).
    pub date: String,
    /// The first day (UTC) these prices apply, when the provider changed
    /// them (`None`: they apply to every date no dated entry covers). A call
    /// is priced with the entry in force on its date.
    pub effective: Option<time::Date>,
}

/// Provider names accepted for each GenAI provider name.
const PROVIDER_ALIASES: &[(&str, &str)] = &[
    ("gemini", "gcp.gemini"),
    ("google", "gcp.gemini"),
    ("google_ai_studio", "gcp.gemini"),
    ("models", "gcp.gemini"),
    ("vertex_ai", "gcp.vertex_ai"),
    ("vertex", "gcp.vertex_ai"),
    ("vertexai", "gcp.vertex_ai"),
    ("openai", "openai"),
    ("anthropic", "anthropic"),
    ("xai", "x_ai"),
    ("x-ai", "x_ai"),
    ("x_ai", "x_ai"),
    ("grok", "x_ai"),
    ("deepseek", "deepseek"),
    ("mistral", "mistral_ai"),
    ("mistralai", "mistral_ai"),
    ("mistral_ai", "mistral_ai"),
    ("groq", "groq"),
];

/// The GenAI provider name for a provider spelling or model-name prefix
/// (`vertex_ai` → `gcp.vertex_ai`); unknown spellings are returned lower-cased.
pub fn normalize_provider(p: &str) -> String {
    provider_name(p).into_owned()
}

/// [`normalize_provider`] without a copy when the spelling is already
/// trimmed and lower-case (an alias maps to its static name).
pub(crate) fn provider_name(p: &str) -> Cow<'_, str> {
    let p = lower(p);
    match PROVIDER_ALIASES.iter().find(|(a, _)| *a == p) {
        Some((_, n)) => Cow::Borrowed(n),
        None => p,
    }
}

/// `s` trimmed and ASCII lower-cased, borrowed when it already is.
fn lower(s: &str) -> Cow<'_, str> {
    let t = s.trim();
    if t.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(t.to_ascii_lowercase())
    } else {
        Cow::Borrowed(t)
    }
}

/// The price table.
#[derive(Clone, Debug, Default)]
pub struct PriceTable {
    models: Vec<ModelPrice>,
    /// lower-case name or alias → indexes into `models`, in file order.
    index: HashMap<String, Vec<usize>>,
}

// ---- file format ----------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    model: Vec<FileModel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileModel {
    name: String,
    provider: String,
    #[serde(default)]
    aliases: Vec<String>,
    unit: BillingUnit,
    /// Prices are per this many units (1000000 for "per 1M tokens").
    per: u64,
    input: toml::Value,
    output: toml::Value,
    cached_input: Option<toml::Value>,
    cache_write: Option<toml::Value>,
    reasoning: Option<toml::Value>,
    #[serde(default)]
    tier: Vec<FileTier>,
    source: String,
    date: String,
    /// First day (YYYY-MM-DD, UTC) the prices apply.
    effective: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTier {
    above_prompt_tokens: u64,
    input: toml::Value,
    output: toml::Value,
    cached_input: Option<toml::Value>,
    cache_write: Option<toml::Value>,
    reasoning: Option<toml::Value>,
}

/// A bad value in a price or rate file: where (`model[3] (gpt-4o).input`)
/// and why. The caller adds the file ([`FieldError::into_error`]).
#[derive(Debug)]
pub(crate) struct FieldError {
    pub(crate) key: String,
    pub(crate) reason: String,
}

impl FieldError {
    pub(crate) fn new(key: impl Into<String>, reason: impl Into<String>) -> FieldError {
        FieldError {
            key: key.into(),
            reason: reason.into(),
        }
    }
    pub(crate) fn into_error(self, file: Option<&std::path::Path>) -> Error {
        Error::config(file, self.key, self.reason)
    }
}

/// The error of a TOML document that does not parse: the file, the line, the reason.
pub(crate) fn toml_error(text: &str, file: Option<&std::path::Path>, e: &toml::de::Error) -> Error {
    let line = e.span().map(|s| {
        // The prefix up to the error, cut at a character boundary whatever the span says.
        let mut end = s.start.min(text.len());
        while !text.is_char_boundary(end) {
            end = end.saturating_sub(1);
        }
        text.get(..end)
            .map_or(0, |t| t.matches('\n').count())
            .saturating_add(1)
    });
    Error::config(
        file,
        line.map_or("(file)".to_owned(), |l| format!("line {l}")),
        e.message().to_owned(),
    )
}

/// Parses a price written as a TOML string (`"0.075"`, `"7.5e-8"`) or
/// integer, exactly ([`money::parse_decimal`]). Floats are refused: they are
/// not exact. Negative prices are refused.
pub(crate) fn parse_money(v: &toml::Value, key: &str) -> Result<Decimal, FieldError> {
    let err = |r: String| FieldError::new(key, r);
    let d = match v {
        toml::Value::String(s) => money::parse_decimal(s).map_err(err)?,
        toml::Value::Integer(i) => Decimal::from(*i),
        toml::Value::Float(f) if f.is_finite() => {
            return Err(err(format!(
                "write prices as strings (\"{f}\") so they stay exact, not as TOML floats"
            )))
        }
        toml::Value::Float(f) => return Err(err(format!("{f} is not a price"))),
        other => {
            return Err(err(format!(
                "expected a decimal string, got {}",
                other.type_str()
            )))
        }
    };
    if d.is_sign_negative() && !d.is_zero() {
        return Err(err(format!("a price cannot be negative ({d})")));
    }
    Ok(d)
}

fn per_unit(v: &toml::Value, per: u64, key: &str) -> Result<Decimal, FieldError> {
    let d = parse_money(v, key)?;
    let u = money::div_exact(d, per)
        .map_err(|e| {
            FieldError::new(
                key,
                format!("{d} per {per} units is not an exact price per unit ({e}): write fewer digits, or a `per` that divides the price"),
            )
        })?
        .normalize();
    if u > MAX_PRICE_PER_UNIT_USD {
        return Err(FieldError::new(
            key,
            format!(
                "{d} USD per {per} units is {u} USD per unit, above the ceiling of {MAX_PRICE_PER_UNIT_USD} USD per unit: check the number and `per`"
            ),
        ));
    }
    Ok(u)
}

fn opt_per_unit(
    v: &Option<toml::Value>,
    per: u64,
    key: &str,
) -> Result<Option<Decimal>, FieldError> {
    v.as_ref().map(|v| per_unit(v, per, key)).transpose()
}

fn valid_date(s: &str) -> bool {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt).is_ok()
}

/// A name as it appears in an error key: at most 40 characters, no control characters.
pub(crate) fn key_name(s: &str) -> String {
    let t: String = s
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(40)
        .collect();
    if s.trim()
        .chars()
        .filter(|c| !c.is_control())
        .nth(40)
        .is_some()
    {
        format!("{t}...")
    } else {
        t
    }
}

impl FileModel {
    fn into_price(self, n: usize) -> Result<ModelPrice, FieldError> {
        let at = format!("model[{n}] ({})", key_name(&self.name));
        if self.name.trim().is_empty() {
            return Err(FieldError::new(
                format!("model[{n}].name"),
                "must not be empty",
            ));
        }
        if !(1..=MAX_PER).contains(&self.per) {
            return Err(FieldError::new(
                format!("{at}.per"),
                format!(
                    "must be 1 to {MAX_PER} (prices are per this many units), got {}",
                    self.per
                ),
            ));
        }
        if !valid_date(&self.date) {
            return Err(FieldError::new(
                format!("{at}.date"),
                format!("expected YYYY-MM-DD, got {:?}", key_name(&self.date)),
            ));
        }
        if self.source.trim().is_empty() {
            return Err(FieldError::new(
                format!("{at}.source"),
                "say where the prices come from",
            ));
        }
        let effective = match &self.effective {
            None => None,
            Some(e) => {
                let fmt = time::macros::format_description!("[year]-[month]-[day]");
                Some(time::Date::parse(e.trim(), &fmt).map_err(|_| {
                    FieldError::new(
                        format!("{at}.effective"),
                        format!(
                            "expected the first day the prices apply as YYYY-MM-DD, got {:?}",
                            key_name(e)
                        ),
                    )
                })?)
            }
        };
        let per = self.per;
        let base = Rates {
            input: per_unit(&self.input, per, &format!("{at}.input"))?,
            output: per_unit(&self.output, per, &format!("{at}.output"))?,
            cached_input: opt_per_unit(&self.cached_input, per, &format!("{at}.cached_input"))?,
            cache_write: opt_per_unit(&self.cache_write, per, &format!("{at}.cache_write"))?,
            reasoning: opt_per_unit(&self.reasoning, per, &format!("{at}.reasoning"))?,
        };
        let mut tiers = Vec::new();
        let mut last = 0u64;
        for (i, t) in self.tier.into_iter().enumerate() {
            let tat = format!("{at}.tier[{i}]");
            if t.above_prompt_tokens <= last {
                return Err(FieldError::new(
                    format!("{tat}.above_prompt_tokens"),
                    format!(
                        "tiers must be listed in ascending order above 0, got {}",
                        t.above_prompt_tokens
                    ),
                ));
            }
            last = t.above_prompt_tokens;
            let rates = Rates {
                input: per_unit(&t.input, per, &format!("{tat}.input"))?,
                output: per_unit(&t.output, per, &format!("{tat}.output"))?,
                cached_input: opt_per_unit(&t.cached_input, per, &format!("{tat}.cached_input"))?,
                cache_write: opt_per_unit(&t.cache_write, per, &format!("{tat}.cache_write"))?,
                reasoning: opt_per_unit(&t.reasoning, per, &format!("{tat}.reasoning"))?,
            };
            // A tier must price every component the base prices, or a large
            // prompt would silently fall back to a cheaper rate.
            for (name, b, r) in [
                ("cached_input", &base.cached_input, &rates.cached_input),
                ("cache_write", &base.cache_write, &rates.cache_write),
                ("reasoning", &base.reasoning, &rates.reasoning),
            ] {
                if b.is_some() && r.is_none() {
                    return Err(FieldError::new(
                        format!("{tat}.{name}"),
                        format!("the base rates price {name}, so every tier must too"),
                    ));
                }
            }
            tiers.push(Tier {
                above_prompt_tokens: t.above_prompt_tokens,
                rates,
            });
        }
        Ok(ModelPrice {
            name: self.name.trim().to_owned(),
            provider: normalize_provider(&self.provider),
            aliases: self.aliases,
            unit: self.unit,
            base,
            tiers,
            source: self.source,
            date: self.date,
            effective,
        })
    }
}

impl PriceTable {
    /// The shipped table (`data/llm_prices.toml` of this crate).
    pub fn shipped() -> PriceTable {
        static SHIPPED: std::sync::OnceLock<PriceTable> = std::sync::OnceLock::new();
        SHIPPED
            .get_or_init(|| {
                let mut t = PriceTable::default();
                // The shipped file is checked by tests; a broken one leaves the table empty
                // (every call is then recorded as price_unknown) rather than panicking.
                // The curated rows first (they win a lookup without a
                // provider), then the imported rows they do not replace.
                if let Err(e) = t.merge_toml(SHIPPED_LLM_PRICES, None) {
                    tracing::error!(target: "chatobs", "shipped LLM price table data/llm_prices.toml is invalid: {e}");
                }
                let mut imported = PriceTable::default();
                match imported.merge_toml(SHIPPED_LLM_PRICES_IMPORTED, None) {
                    Ok(()) => {
                        for m in imported.models {
                            let replaced = t.models.iter().any(|x| {
                                x.name == m.name && x.provider == m.provider && x.effective == m.effective
                            });
                            if !replaced {
                                t.models.push(m);
                            }
                        }
                        t.reindex();
                    }
                    Err(e) => tracing::error!(target: "chatobs", "shipped LLM price table data/llm_prices_litellm.toml is invalid: {e}"),
                }
                t
            })
            .clone()
    }

    /// Adds the models of a TOML document in the format of
    /// `data/llm_prices.toml` of this crate. An entry with the same name and provider as
    /// an existing one replaces it; others are added.
    pub fn merge_toml(&mut self, text: &str, file: Option<&std::path::Path>) -> Result<(), Error> {
        let doc: FileDoc = toml::from_str(text).map_err(|e| toml_error(text, file, &e))?;
        // Every model is checked before any is applied: a bad file changes nothing.
        let prices = doc
            .model
            .into_iter()
            .enumerate()
            .map(|(n, m)| m.into_price(n).map_err(|e| e.into_error(file)))
            .collect::<Result<Vec<_>, Error>>()?;
        for price in prices {
            self.put(price);
        }
        self.reindex();
        Ok(())
    }

    /// Adds a model built in code (an entry with the same name and provider
    /// is replaced). The name is trimmed and the provider normalized as in a
    /// file, but the bounds of files ([`MAX_PRICE_PER_UNIT_USD`], exact
    /// prices) are not checked: a price that makes a call's figure overflow
    /// gives an incomplete cost with the reason ([`LlmCost::overflow`]), not a panic.
    pub fn insert(&mut self, mut price: ModelPrice) {
        price.name = price.name.trim().to_owned();
        price.provider = normalize_provider(&price.provider);
        self.put(price);
        self.reindex();
    }

    fn put(&mut self, price: ModelPrice) {
        match self.models.iter_mut().find(|x| {
            x.name == price.name && x.provider == price.provider && x.effective == price.effective
        }) {
            Some(slot) => *slot = price,
            None => self.models.push(price),
        }
    }

    /// Reads a file with [`PriceTable::merge_toml`].
    pub fn merge_file(&mut self, path: &std::path::Path) -> Result<(), Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        self.merge_toml(&text, Some(path))
    }

    fn reindex(&mut self) {
        self.index.clear();
        for (i, m) in self.models.iter().enumerate() {
            for n in std::iter::once(&m.name).chain(&m.aliases) {
                let v = self.index.entry(n.trim().to_ascii_lowercase()).or_default();
                if !v.contains(&i) {
                    v.push(i);
                }
            }
        }
    }

    /// Every model, in file order.
    pub fn models(&self) -> &[ModelPrice] {
        &self.models
    }

    /// Finds the entry for `model` (a name, an alias, or either with a
    /// provider prefix: `models/gemini-1.5-flash`, `gemini/gemini-1.5-flash`,
    /// `vertex_ai/gemini-1.5-flash`). The provider, given or implied by the
    /// prefix, picks between entries of the same name; without one, the
    /// first entry listed wins. A provider with no entry for the model
    /// finds nothing (its price is not known).
    pub fn resolve(&self, provider: Option<&str>, model: &str) -> Option<&ModelPrice> {
        self.resolve_at(provider, model, time::OffsetDateTime::now_utc().date())
    }

    /// [`PriceTable::resolve`] for a call made on `day`: among the entries
    /// of the model, the one in force that day (the latest `effective` at or
    /// before it; an entry without `effective` covers the days no dated
    /// entry does). `None` when the model is unknown, or every entry starts
    /// after `day`.
    pub fn resolve_at(
        &self,
        provider: Option<&str>,
        model: &str,
        day: time::Date,
    ) -> Option<&ModelPrice> {
        let m = lower(model);
        let mut provider = provider.filter(|p| !p.trim().is_empty()).map(provider_name);
        let candidates = match self.index.get(m.as_ref()) {
            Some(c) => c,
            None => {
                let (prefix, base) = m.rsplit_once('/')?;
                if provider.is_none() {
                    let first = prefix.split('/').next().unwrap_or(prefix);
                    let p = provider_name(first);
                    if PROVIDER_ALIASES.iter().any(|(_, n)| *n == p) {
                        provider = Some(Cow::Owned(p.into_owned()));
                    }
                }
                self.index.get(base)?
            }
        };
        let entries = candidates.iter().filter_map(|&i| self.models.get(i));
        // The provider picks the entries (without one, the first listed
        // provider's); the date picks among them.
        let provider: &str = match &provider {
            Some(p) => p,
            None => &entries.clone().next()?.provider,
        };
        let same = entries.filter(|x| x.provider == provider);
        // An entry named exactly so wins over entries that list the name as an alias.
        let is_named = |x: &&ModelPrice| {
            x.name.eq_ignore_ascii_case(model.trim()) || x.name.eq_ignore_ascii_case(&m)
        };
        let any_named = same.clone().any(|x| is_named(&x));
        let pick = same.filter(|x| !any_named || is_named(x));
        let dated = pick
            .clone()
            .filter(|x| x.effective.is_some_and(|e| e <= day))
            .max_by_key(|x| x.effective);
        dated.or_else(|| pick.clone().find(|x| x.effective.is_none()))
    }
}

// ---- usage and cost -----------------------------------------------------------------------

/// What one call used. Counts follow the OpenTelemetry GenAI conventions:
/// `input_tokens` includes cached and cache-write tokens, `output_tokens`
/// includes reasoning tokens. (Anthropic reports `input_tokens` without the
/// cache: add `cache_read_input_tokens` and `cache_creation_input_tokens` to it.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input_tokens: u64,
    /// Completion tokens, reasoning ones included.
    pub output_tokens: u64,
    /// Prompt tokens read from the cache.
    pub cached_tokens: u64,
    /// Prompt tokens written to the cache.
    pub cache_write_tokens: u64,
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
    /// Prompt characters (per-character billing).
    pub input_chars: Option<u64>,
    /// Output characters (per-character billing).
    pub output_chars: Option<u64>,
}

impl Usage {
    /// Input and output tokens.
    pub fn tokens(input: u64, output: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        }
    }

    /// Rejects counts that cannot be true.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::InvalidInput(m));
        for (name, v) in [
            ("input_tokens", self.input_tokens),
            ("output_tokens", self.output_tokens),
            ("cached_tokens", self.cached_tokens),
            ("cache_write_tokens", self.cache_write_tokens),
            ("reasoning_tokens", self.reasoning_tokens),
            ("input_chars", self.input_chars.unwrap_or(0)),
            ("output_chars", self.output_chars.unwrap_or(0)),
        ] {
            if v > MAX_UNITS_PER_CALL {
                return bad(format!(
                    "{name} = {v} is more than one call can use (at most {MAX_UNITS_PER_CALL})"
                ));
            }
        }
        // Checked: both are at most MAX_UNITS_PER_CALL here, but a sum that
        // did not fit would be more than any input count anyway.
        let cached_and_written = self.cached_tokens.checked_add(self.cache_write_tokens);
        if cached_and_written.is_none_or(|n| n > self.input_tokens) {
            return bad(format!(
                "cached_tokens ({}) + cache_write_tokens ({}) exceed input_tokens ({}): input_tokens counts every prompt token, cached ones included",
                self.cached_tokens, self.cache_write_tokens, self.input_tokens
            ));
        }
        if self.reasoning_tokens > self.output_tokens {
            return bad(format!(
                "reasoning_tokens ({}) exceed output_tokens ({}): output_tokens counts reasoning tokens too",
                self.reasoning_tokens, self.output_tokens
            ));
        }
        if self.input_chars.is_some() != self.output_chars.is_some() {
            return bad("give both input_chars and output_chars, or neither".into());
        }
        Ok(())
    }
}

/// The cost of one call, component by component, in USD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LlmCost {
    /// The model asked for.
    pub requested_model: String,
    /// The table entry used (`None` when the price is unknown).
    pub model: Option<String>,
    /// The provider of the entry (or the one given).
    pub provider: Option<String>,
    /// What the entry bills by.
    pub unit: Option<BillingUnit>,
    /// The tier applied (`None`: base rates).
    pub tier_above_prompt_tokens: Option<u64>,
    /// Whether the tier was chosen from characters / 4 (per-character billing without token counts).
    pub tier_estimated: bool,
    /// Uncached input.
    pub input: Decimal,
    /// Cached input.
    pub cached_input: Decimal,
    /// Cache writes.
    pub cache_write: Decimal,
    /// Output (reasoning included).
    pub output: Decimal,
    /// `input + cached_input + cache_write`.
    pub prompt: Decimal,
    /// `output`.
    pub completion: Decimal,
    /// `prompt + completion`.
    pub total: Decimal,
    /// Whether every component had a price and every figure is exact. When
    /// false, the figures above are a lower bound: [`LlmCost::missing`] says
    /// what had no price and [`LlmCost::overflow`] what could not be represented.
    pub complete: bool,
    /// The components that had no price (`model`, `cached_input`, ...).
    pub missing: Vec<&'static str>,
    /// The figures whose exact value does not fit a decimal
    /// ([`crate::money::MoneyError`]: beyond ±7.9e28, or more digits than 28
    /// decimal places hold): `input`, `cached_input`, `cache_write`,
    /// `output`, `reasoning` (a product of a count and a rate, left out as
    /// 0) or `prompt`, `total` (a sum: the addend that did not fit is left
    /// out). With prices read from files ([`MAX_PRICE_PER_UNIT_USD`]) the
    /// magnitude cannot overflow; only a price written with more significant
    /// digits than a product can keep (about 19, times a large count) can
    /// reach the precision case. A table built in code can reach both.
    pub overflow: Vec<&'static str>,
    /// Source of the prices.
    pub source: Option<String>,
    /// Date of the prices.
    pub date: Option<String>,
}

impl fmt::Display for LlmCost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} USD ({}: prompt {}, completion {})",
            self.total.normalize(),
            self.model.as_deref().unwrap_or(&self.requested_model),
            self.prompt.normalize(),
            self.completion.normalize()
        )
    }
}

impl LlmCost {
    /// Why the cost is incomplete, as written in
    /// `gen_ai.usage.price_incomplete_reason`: comma-separated
    /// `no_price:<component>` ([`LlmCost::missing`]) and
    /// `overflow:<figure>` ([`LlmCost::overflow`]); `None` when complete.
    pub fn incomplete_reason(&self) -> Option<String> {
        if self.missing.is_empty() && self.overflow.is_empty() {
            return None;
        }
        let reasons: Vec<String> = self
            .missing
            .iter()
            .map(|m| format!("no_price:{m}"))
            .chain(self.overflow.iter().map(|o| format!("overflow:{o}")))
            .collect();
        (!reasons.is_empty()).then(|| reasons.join(","))
    }
}

/// `n × rate`, or 0 with `what` noted in `overflow` when the exact product
/// does not fit a decimal.
fn mul(n: u64, rate: Decimal, what: &'static str, overflow: &mut Vec<&'static str>) -> Decimal {
    match money::mul_units(n, rate) {
        Ok(d) => d,
        Err(_) => {
            note(overflow, what);
            Decimal::ZERO
        }
    }
}

/// `acc + d`, or `acc` unchanged with `what` noted in `overflow` when the
/// exact sum does not fit a decimal (the figure stays a lower bound).
fn accumulate(
    acc: Decimal,
    d: Decimal,
    what: &'static str,
    overflow: &mut Vec<&'static str>,
) -> Decimal {
    match money::add(acc, d) {
        Ok(s) => s,
        Err(_) => {
            note(overflow, what);
            acc
        }
    }
}

fn note(list: &mut Vec<&'static str>, what: &'static str) {
    if !list.contains(&what) {
        list.push(what);
    }
}

impl PriceTable {
    /// Prices one call. Unknown models and missing prices give an
    /// incomplete cost (never an error); impossible usage is an error.
    pub fn cost(
        &self,
        provider: Option<&str>,
        model: &str,
        usage: &Usage,
    ) -> Result<LlmCost, Error> {
        self.cost_at(provider, model, usage, time::OffsetDateTime::now_utc())
    }

    /// [`PriceTable::cost`] of a call made at `at`: priced with the entry
    /// in force that day ([`PriceTable::resolve_at`]).
    pub fn cost_at(
        &self,
        provider: Option<&str>,
        model: &str,
        usage: &Usage,
        at: time::OffsetDateTime,
    ) -> Result<LlmCost, Error> {
        usage.validate()?;
        if model.trim().is_empty() {
            return Err(Error::InvalidInput("the model name is empty".into()));
        }
        let mut c = LlmCost {
            requested_model: model.to_owned(),
            model: None,
            provider: None,
            unit: None,
            tier_above_prompt_tokens: None,
            tier_estimated: false,
            input: Decimal::ZERO,
            cached_input: Decimal::ZERO,
            cache_write: Decimal::ZERO,
            output: Decimal::ZERO,
            prompt: Decimal::ZERO,
            completion: Decimal::ZERO,
            total: Decimal::ZERO,
            complete: false,
            missing: Vec::new(),
            overflow: Vec::new(),
            source: None,
            date: None,
        };
        let Some(entry) =
            self.resolve_at(provider, model, at.to_offset(time::UtcOffset::UTC).date())
        else {
            c.provider = provider.map(normalize_provider);
            c.missing.push("model");
            return Ok(c);
        };
        c.model = Some(entry.name.clone());
        c.provider = Some(entry.provider.clone());
        c.unit = Some(entry.unit);
        c.source = Some(entry.source.clone());
        c.date = Some(entry.date.clone());

        // The tier is chosen by the prompt size and applies to the whole request.
        let prompt_tokens = match (entry.unit, usage.input_chars) {
            (BillingUnit::Character, Some(chars)) if usage.input_tokens == 0 => {
                c.tier_estimated = true;
                chars.div_ceil(4)
            }
            _ => usage.input_tokens,
        };
        let mut rates = &entry.base;
        for t in &entry.tiers {
            if prompt_tokens > t.above_prompt_tokens {
                rates = &t.rates;
                c.tier_above_prompt_tokens = Some(t.above_prompt_tokens);
            }
        }

        let ov = &mut c.overflow;
        match entry.unit {
            BillingUnit::Token => {
                // validate() checked cached + cache_write <= input and
                // reasoning <= output; checked anyway, never wrapped.
                let uncached = usage
                    .input_tokens
                    .checked_sub(usage.cached_tokens)
                    .and_then(|n| n.checked_sub(usage.cache_write_tokens))
                    .ok_or_else(|| {
                        Error::InvalidInput(
                            "cached_tokens + cache_write_tokens exceed input_tokens".into(),
                        )
                    })?;
                let plain_output = usage
                    .output_tokens
                    .checked_sub(usage.reasoning_tokens)
                    .ok_or_else(|| {
                        Error::InvalidInput("reasoning_tokens exceed output_tokens".into())
                    })?;
                c.input = mul(uncached, rates.input, "input", ov);
                if usage.cached_tokens > 0 {
                    match rates.cached_input {
                        Some(r) => c.cached_input = mul(usage.cached_tokens, r, "cached_input", ov),
                        None => c.missing.push("cached_input"),
                    }
                }
                if usage.cache_write_tokens > 0 {
                    match rates.cache_write {
                        Some(r) => {
                            c.cache_write = mul(usage.cache_write_tokens, r, "cache_write", ov)
                        }
                        None => c.missing.push("cache_write"),
                    }
                }
                c.output = match rates.reasoning {
                    Some(r) => {
                        let plain = mul(plain_output, rates.output, "output", ov);
                        let reasoning = mul(usage.reasoning_tokens, r, "reasoning", ov);
                        accumulate(plain, reasoning, "output", ov)
                    }
                    None => mul(usage.output_tokens, rates.output, "output", ov),
                };
            }
            BillingUnit::Character => {
                match (usage.input_chars, usage.output_chars) {
                    (Some(i), Some(o)) => {
                        c.input = mul(i, rates.input, "input", ov);
                        c.output = mul(o, rates.output, "output", ov);
                    }
                    _ => c.missing.push("characters"),
                }
                if usage.cached_tokens > 0 || usage.cache_write_tokens > 0 {
                    c.missing.push("cached_input");
                }
            }
        }
        let ov = &mut c.overflow;
        let prompt = accumulate(c.input, c.cached_input, "prompt", ov);
        c.prompt = accumulate(prompt, c.cache_write, "prompt", ov);
        c.completion = c.output;
        c.total = accumulate(c.prompt, c.completion, "total", ov);
        c.complete = c.missing.is_empty() && c.overflow.is_empty();
        Ok(c)
    }
}
