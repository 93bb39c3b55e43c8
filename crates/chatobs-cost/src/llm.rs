//! LLM pricing: the price table and the arithmetic of one call.
//!
//! Prices are read from TOML (`data/llm_prices.toml` of this crate is compiled in; your
//! files extend or override it, see [`PriceTable::merge_toml`]). Every number
//! is a decimal string so it is exact, and carries its `source` and `date`.

use crate::Error;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;

/// The shipped LLM price table.
pub const SHIPPED_LLM_PRICES: &str = include_str!("../data/llm_prices.toml");

/// Largest token or character count accepted for one call (one billion):
/// larger inputs are rejected as absurd rather than priced.
pub const MAX_UNITS_PER_CALL: u64 = 1_000_000_000;

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
];

/// The GenAI provider name for a provider spelling or model-name prefix
/// (`vertex_ai` → `gcp.vertex_ai`); unknown spellings are returned lower-cased.
pub fn normalize_provider(p: &str) -> String {
    let p = p.trim().to_ascii_lowercase();
    PROVIDER_ALIASES
        .iter()
        .find(|(a, _)| *a == p)
        .map_or(p, |(_, n)| (*n).to_owned())
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

/// Parses a price written as a TOML string (`"0.075"`) or integer. Floats
/// are refused: they are not exact.
pub(crate) fn parse_money(v: &toml::Value, what: &str) -> Result<Decimal, String> {
    let d = match v {
        toml::Value::String(s) => s
            .trim()
            .parse::<Decimal>()
            .or_else(|_| Decimal::from_scientific(s.trim()))
            .map_err(|_| format!("{what}: {s:?} is not a decimal number"))?,
        toml::Value::Integer(i) => Decimal::from(*i),
        toml::Value::Float(f) => {
            return Err(format!(
                "{what}: write prices as strings (\"{f}\") so they stay exact, not as TOML floats"
            ))
        }
        other => return Err(format!("{what}: expected a decimal string, got {other}")),
    };
    if d.is_sign_negative() {
        return Err(format!("{what}: a price cannot be negative ({d})"));
    }
    Ok(d)
}

fn per_unit(v: &toml::Value, per: Decimal, what: &str) -> Result<Decimal, String> {
    let d = parse_money(v, what)?;
    d.checked_div(per)
        .map(|d| d.normalize())
        .ok_or_else(|| format!("{what}: {d} / {per} cannot be represented"))
}

fn opt_per_unit(
    v: &Option<toml::Value>,
    per: Decimal,
    what: &str,
) -> Result<Option<Decimal>, String> {
    v.as_ref().map(|v| per_unit(v, per, what)).transpose()
}

fn valid_date(s: &str) -> bool {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt).is_ok()
}

impl FileModel {
    fn into_price(self, n: usize) -> Result<ModelPrice, String> {
        let at = format!("model[{n}] ({})", self.name);
        if self.name.trim().is_empty() {
            return Err(format!("model[{n}].name: must not be empty"));
        }
        if self.per == 0 {
            return Err(format!("{at}.per: must be at least 1"));
        }
        if !valid_date(&self.date) {
            return Err(format!(
                "{at}.date: expected YYYY-MM-DD, got {:?}",
                self.date
            ));
        }
        if self.source.trim().is_empty() {
            return Err(format!("{at}.source: say where the prices come from"));
        }
        let per = Decimal::from(self.per);
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
                return Err(format!(
                    "{tat}.above_prompt_tokens: tiers must be listed in ascending order above 0, got {}",
                    t.above_prompt_tokens
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
                    return Err(format!(
                        "{tat}.{name}: the base rates price {name}, so every tier must too"
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
                if let Err(e) = t.merge_toml(SHIPPED_LLM_PRICES, None) {
                    tracing::error!(target: "chatobs", "shipped LLM price table is invalid: {e}");
                }
                t
            })
            .clone()
    }

    /// Adds the models of a TOML document in the format of
    /// `data/llm_prices.toml` of this crate. An entry with the same name and provider as
    /// an existing one replaces it; others are added.
    pub fn merge_toml(&mut self, text: &str, file: Option<&std::path::Path>) -> Result<(), Error> {
        let doc: FileDoc = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            Error::config(
                file,
                line.map_or("(file)".to_owned(), |l| format!("line {l}")),
                e.message().to_owned(),
            )
        })?;
        for (n, m) in doc.model.into_iter().enumerate() {
            let price = m.into_price(n).map_err(|r| {
                let (key, reason) = r.split_once(": ").unwrap_or(("model", &r));
                Error::config(file, key, reason)
            })?;
            match self
                .models
                .iter()
                .position(|x| x.name == price.name && x.provider == price.provider)
            {
                Some(i) => self.models[i] = price,
                None => self.models.push(price),
            }
        }
        self.reindex();
        Ok(())
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
        let m = model.trim().to_ascii_lowercase();
        let mut provider = provider
            .filter(|p| !p.trim().is_empty())
            .map(normalize_provider);
        let candidates = match self.index.get(&m) {
            Some(c) => c,
            None => {
                let (prefix, base) = m.rsplit_once('/')?;
                if provider.is_none() {
                    let first = prefix.split('/').next().unwrap_or(prefix);
                    let p = normalize_provider(first);
                    if PROVIDER_ALIASES.iter().any(|(_, n)| *n == p) {
                        provider = Some(p);
                    }
                }
                self.index.get(base)?
            }
        };
        match provider {
            Some(p) => candidates
                .iter()
                .map(|&i| &self.models[i])
                .find(|x| x.provider == p),
            None => candidates.first().map(|&i| &self.models[i]),
        }
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
        if self.cached_tokens + self.cache_write_tokens > self.input_tokens {
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
    /// Whether every component had a price. When false, the figures above
    /// are a lower bound and [`LlmCost::missing`] says what was not priced.
    pub complete: bool,
    /// The components that had no price (`model`, `cached_input`, ...).
    pub missing: Vec<&'static str>,
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

fn mul(n: u64, rate: Decimal) -> Decimal {
    // n <= 1e9 and rates are small: the product always fits.
    Decimal::from(n).checked_mul(rate).unwrap_or(Decimal::MAX)
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
        usage.validate()?;
        if model.trim().is_empty() {
            return Err(Error::InvalidInput("the model name is empty".into()));
        }
        let mut c = LlmCost {
            requested_model: model.to_owned(),
            model: None,
            provider: provider.map(normalize_provider),
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
            source: None,
            date: None,
        };
        let Some(entry) = self.resolve(provider, model) else {
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

        match entry.unit {
            BillingUnit::Token => {
                let uncached = usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens;
                c.input = mul(uncached, rates.input);
                if usage.cached_tokens > 0 {
                    match rates.cached_input {
                        Some(r) => c.cached_input = mul(usage.cached_tokens, r),
                        None => c.missing.push("cached_input"),
                    }
                }
                if usage.cache_write_tokens > 0 {
                    match rates.cache_write {
                        Some(r) => c.cache_write = mul(usage.cache_write_tokens, r),
                        None => c.missing.push("cache_write"),
                    }
                }
                c.output = match rates.reasoning {
                    Some(r) => {
                        mul(usage.output_tokens - usage.reasoning_tokens, rates.output)
                            + mul(usage.reasoning_tokens, r)
                    }
                    None => mul(usage.output_tokens, rates.output),
                };
            }
            BillingUnit::Character => {
                match (usage.input_chars, usage.output_chars) {
                    (Some(i), Some(o)) => {
                        c.input = mul(i, rates.input);
                        c.output = mul(o, rates.output);
                    }
                    _ => c.missing.push("characters"),
                }
                if usage.cached_tokens > 0 || usage.cache_write_tokens > 0 {
                    c.missing.push("cached_input");
                }
            }
        }
        c.prompt = c.input + c.cached_input + c.cache_write;
        c.completion = c.output;
        c.total = c.prompt + c.completion;
        c.complete = c.missing.is_empty();
        Ok(c)
    }
}
