//! Importing LLM prices from a maintained table: LiteLLM's
//! `model_prices_and_context_window.json` (the file tokencost ships as
//! `model_prices.json`). `chatobs prices import FILE` writes the chat models
//! of the providers chatobs prices as a price file in the format of
//! `data/llm_prices.toml`, so a user is not stuck with the shipped table.
//!
//! What is read, per entry whose `mode` is `chat` or `responses`:
//! `input_cost_per_token`, `output_cost_per_token`,
//! `cache_read_input_token_cost`, `cache_creation_input_token_cost`,
//! `output_cost_per_reasoning_token`, and the long-context tiers
//! (`*_above_128k_tokens`, `*_above_200k_tokens`: the whole request at the
//! tier's rates when the prompt is above it). Entries priced per
//! character, per image or per second only are skipped and listed, as are
//! entries whose figures are not prices.
//!
//! LiteLLM's figures are JSON numbers (USD per token). Each is read as the
//! shortest decimal that round-trips the number (what LiteLLM and tokencost
//! mean by it: `1.1e-06` is `0.0000011`), then written per million tokens,
//! exactly.
//!
//! ```
//! use chatobs_runtime::cost::import::{import_litellm, ImportOptions};
//! use chatobs_runtime::cost::{PriceTable, Usage};
//! let json = r#"{"xai/grok-3-mini": {"litellm_provider": "xai", "mode": "chat",
//!     "input_cost_per_token": 3e-07, "output_cost_per_token": 5e-07}}"#;
//! let out = import_litellm(json, &ImportOptions::new("LiteLLM table (test)", "2026-11-30")).unwrap();
//! assert_eq!(out.models, 1);
//! let mut table = PriceTable::default();
//! table.merge_toml(&out.toml, None).unwrap();
//! let c = table.cost(Some("x_ai"), "grok-3-mini", &Usage::tokens(1_000_000, 1_000_000)).unwrap();
//! assert_eq!(c.total.normalize().to_string(), "0.8");
//! ```

use crate::Error;
use rust_decimal::Decimal;
use serde_json::Value as Json;
use std::fmt::Write as _;
use std::str::FromStr;

/// LiteLLM's provider names and the OpenTelemetry names chatobs uses.
pub const LITELLM_PROVIDERS: &[(&str, &str)] = &[
    ("openai", "openai"),
    ("anthropic", "anthropic"),
    ("gemini", "gcp.gemini"),
    ("vertex_ai-language-models", "gcp.vertex_ai"),
    ("mistral", "mistral_ai"),
    ("deepseek", "deepseek"),
    ("xai", "x_ai"),
    ("groq", "groq"),
];

/// What to import.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// The `source` written on every row, to which `, entry <key>` is added.
    pub source: String,
    /// The `date` written on every row (`YYYY-MM-DD`: when the file was read).
    pub date: String,
    /// LiteLLM provider names to import (default: every one of [`LITELLM_PROVIDERS`]).
    pub providers: Vec<String>,
}

impl ImportOptions {
    /// Every provider of [`LITELLM_PROVIDERS`].
    pub fn new(source: impl Into<String>, date: impl Into<String>) -> ImportOptions {
        ImportOptions {
            source: source.into(),
            date: date.into(),
            providers: LITELLM_PROVIDERS
                .iter()
                .map(|(l, _)| (*l).to_owned())
                .collect(),
        }
    }
}

/// The result of [`import_litellm`].
#[derive(Clone, Debug)]
pub struct Imported {
    /// A price file (the format of `data/llm_prices.toml`).
    pub toml: String,
    /// Models written.
    pub models: usize,
    /// Entries of the selected providers left out, with why.
    pub skipped: Vec<(String, String)>,
}

/// The shortest decimal that round-trips `f` (Rust prints `f64` that way).
fn decimal_of(f: f64) -> Option<Decimal> {
    if !f.is_finite() || f < 0.0 {
        return None;
    }
    Decimal::from_str(&format!("{f}")).ok()
}

fn per_million(v: &Json) -> Result<Option<Decimal>, String> {
    match v {
        Json::Null => Ok(None),
        Json::Number(n) => {
            let d = n
                .as_f64()
                .and_then(decimal_of)
                .ok_or_else(|| format!("{n} is not a price"))?;
            d.checked_mul(Decimal::from(1_000_000u32))
                .map(|x| Some(x.normalize()))
                .ok_or_else(|| format!("{n} is too large"))
        }
        other => Err(format!("expected a number, got {other}")),
    }
}

fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Row {
    key: String,
    name: String,
    provider: &'static str,
    aliases: Vec<String>,
    rates: Vec<(&'static str, Decimal)>,
    tiers: Vec<(u64, Vec<(&'static str, Decimal)>)>,
}

/// Reads LiteLLM's table and writes the chat models of `opts.providers`
/// as a chatobs price file. An entry whose name (the key without its
/// provider prefix) repeats with the same prices becomes an alias of the
/// first; with other prices it keeps its full key as its name.
pub fn import_litellm(json: &str, opts: &ImportOptions) -> Result<Imported, Error> {
    let v: Json = serde_json::from_str(json).map_err(|e| {
        Error::InvalidInput(format!(
            "not a LiteLLM price table: {} at line {} column {}",
            match e.classify() {
                serde_json::error::Category::Eof => "unexpected end of input",
                serde_json::error::Category::Syntax => "syntax error",
                _ => "unexpected data",
            },
            e.line(),
            e.column()
        ))
    })?;
    let obj = v.as_object().ok_or_else(|| {
        Error::InvalidInput("not a LiteLLM price table: expected an object of models".into())
    })?;
    let mut rows: Vec<Row> = Vec::new();
    let mut skipped = Vec::new();
    let mut keys: Vec<&String> = obj.keys().collect();
    keys.sort();
    for key in keys {
        let e = &obj[key];
        let Some(lp) = e.get("litellm_provider").and_then(Json::as_str) else {
            continue;
        };
        if !opts.providers.iter().any(|p| p == lp) {
            continue;
        }
        let Some(&(_, provider)) = LITELLM_PROVIDERS.iter().find(|(l, _)| *l == lp) else {
            skipped.push((
                key.clone(),
                format!("provider {lp} has no OpenTelemetry name in chatobs"),
            ));
            continue;
        };
        let mode = e.get("mode").and_then(Json::as_str).unwrap_or("");
        if mode != "chat" && mode != "responses" {
            continue;
        }
        let get = |k: &str| per_million(e.get(k).unwrap_or(&Json::Null));
        let read = || -> Result<Option<Row>, String> {
            let (Some(input), Some(output)) =
                (get("input_cost_per_token")?, get("output_cost_per_token")?)
            else {
                return Ok(None);
            };
            let mut rates = vec![("input", input), ("output", output)];
            for (k, name) in [
                ("cache_read_input_token_cost", "cached_input"),
                ("cache_creation_input_token_cost", "cache_write"),
                ("output_cost_per_reasoning_token", "reasoning"),
            ] {
                if let Some(d) = get(k)? {
                    rates.push((name, d));
                }
            }
            let mut tiers = Vec::new();
            for (suffix, above) in [
                ("above_128k_tokens", 128_000u64),
                ("above_200k_tokens", 200_000),
            ] {
                let ti = get(&format!("input_cost_per_token_{suffix}"))?;
                let to = get(&format!("output_cost_per_token_{suffix}"))?;
                if ti.is_none() && to.is_none() {
                    continue;
                }
                let mut t = vec![
                    ("input", ti.unwrap_or(input)),
                    ("output", to.unwrap_or(output)),
                ];
                for (k, name, base) in [
                    (
                        "cache_read_input_token_cost",
                        "cached_input",
                        "cached_input",
                    ),
                    (
                        "cache_creation_input_token_cost",
                        "cache_write",
                        "cache_write",
                    ),
                    ("output_cost_per_reasoning_token", "reasoning", "reasoning"),
                ] {
                    let tiered = get(&format!("{k}_{suffix}"))?;
                    let b = rates.iter().find(|(n, _)| *n == base).map(|(_, d)| *d);
                    if let Some(d) = tiered.or(b) {
                        t.push((name, d));
                    }
                }
                tiers.push((above, t));
            }
            let name = key
                .strip_prefix(&format!("{lp}/"))
                .or_else(|| key.strip_prefix("vertex_ai/"))
                .unwrap_or(key)
                .to_owned();
            Ok(Some(Row {
                key: key.clone(),
                aliases: if name != *key {
                    vec![key.clone()]
                } else {
                    Vec::new()
                },
                name,
                provider,
                rates,
                tiers,
            }))
        };
        match read() {
            Ok(Some(r)) => {
                match rows
                    .iter_mut()
                    .find(|x| x.name == r.name && x.provider == r.provider)
                {
                    Some(x) if x.rates == r.rates && x.tiers == r.tiers => {
                        x.aliases.extend(r.aliases);
                        if r.key != x.name && !x.aliases.contains(&r.key) {
                            x.aliases.push(r.key);
                        }
                    }
                    Some(_) => rows.push(Row {
                        name: r.key.clone(),
                        aliases: Vec::new(),
                        ..r
                    }),
                    None => rows.push(r),
                }
            }
            Ok(None) => skipped.push((
                key.clone(),
                "no per-token input and output prices (priced per character, image or second)"
                    .into(),
            )),
            Err(why) => skipped.push((key.clone(), why)),
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# LLM prices imported from a LiteLLM price table by `chatobs prices import`.\n# Source: {}; read {}.\n# {} models; entries left out are listed by the command.\n",
        opts.source,
        opts.date,
        rows.len()
    );
    for r in &rows {
        let _ = writeln!(out, "[[model]]");
        let _ = writeln!(out, "name = {}", toml_str(&r.name));
        let _ = writeln!(out, "provider = {}", toml_str(r.provider));
        if !r.aliases.is_empty() {
            let a: Vec<String> = r.aliases.iter().map(|x| toml_str(x)).collect();
            let _ = writeln!(out, "aliases = [{}]", a.join(", "));
        }
        let _ = writeln!(out, "unit = \"token\"\nper = 1000000");
        for (k, d) in &r.rates {
            let _ = writeln!(out, "{k} = \"{d}\"");
        }
        let _ = writeln!(
            out,
            "source = {}",
            toml_str(&format!("{}, entry {}", opts.source, r.key))
        );
        let _ = writeln!(out, "date = {}", toml_str(&opts.date));
        for (above, t) in &r.tiers {
            let _ = writeln!(out, "  [[model.tier]]\n  above_prompt_tokens = {above}");
            for (k, d) in t {
                let _ = writeln!(out, "  {k} = \"{d}\"");
            }
        }
        out.push('\n');
    }
    Ok(Imported {
        toml: out,
        models: rows.len(),
        skipped,
    })
}
