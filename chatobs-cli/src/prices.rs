//! `chatobs prices`: what the price tables know, and refreshing them.
//!
//! ```text
//! chatobs prices list [--provider P] [--model TEXT] [--prices FILE]... [--rates FILE]...
//! chatobs prices import FILE [--providers openai,anthropic,...] [--source TEXT] [--date YYYY-MM-DD] [--out FILE]
//! ```
//!
//! `list` prints every LLM price (provider, model, the day it applies from,
//! USD per 1M tokens or per 1k characters, tiers, source and the day it was
//! read, and how many days ago that was) and every WhatsApp rate card (its
//! first day, the day it was read, the markets, and from when prices may be
//! stale). `import` reads a LiteLLM price table
//! (`model_prices_and_context_window.json`, or tokencost's
//! `model_prices.json`) and writes a chatobs price file: list it in
//! `[cost] llm_price_files` to use it.

use chatobs_runtime::cost::import::{import_litellm, ImportOptions, LITELLM_PROVIDERS};
use chatobs_runtime::cost::{PriceTable, RateCard};
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;

/// `chatobs prices ...`
#[derive(Args)]
pub struct PricesArgs {
    #[command(subcommand)]
    cmd: PricesCmd,
}

#[derive(Subcommand)]
enum PricesCmd {
    /// Print the LLM prices and WhatsApp rate cards known, with their sources and age.
    List {
        /// Only this provider (openai, anthropic, gcp.gemini, gcp.vertex_ai, mistral_ai, deepseek, x_ai, groq).
        #[arg(long)]
        provider: Option<String>,
        /// Only models whose name contains this text.
        #[arg(long)]
        model: Option<String>,
        /// Extra price files applied over the shipped table.
        #[arg(long)]
        prices: Vec<PathBuf>,
        /// Extra rate files applied over the shipped WhatsApp card.
        #[arg(long)]
        rates: Vec<PathBuf>,
    },
    /// Write a chatobs price file from a LiteLLM price table (JSON).
    Import {
        /// The LiteLLM table (model_prices_and_context_window.json, or tokencost's model_prices.json).
        file: PathBuf,
        /// LiteLLM provider names to import, comma-separated (default: all chatobs prices).
        #[arg(long, value_delimiter = ',')]
        providers: Vec<String>,
        /// The source written on each row (default: the file's name).
        #[arg(long)]
        source: Option<String>,
        /// The day the file was read, YYYY-MM-DD (default: today, UTC).
        #[arg(long)]
        date: Option<String>,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

fn day(s: &str) -> Option<time::Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt).ok()
}

fn write_out(text: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(format!("cannot write to standard output: {e}")),
    }
}

/// Runs `chatobs prices ...`.
pub fn run(args: PricesArgs) -> Result<(), String> {
    match args.cmd {
        PricesCmd::List {
            provider,
            model,
            prices,
            rates,
        } => {
            let mut table = PriceTable::shipped();
            for p in &prices {
                table.merge_file(p).map_err(|e| e.to_string())?;
            }
            let mut card = RateCard::shipped();
            for r in &rates {
                card.merge_file(r).map_err(|e| e.to_string())?;
            }
            let now = today();
            let mut s = String::new();
            use std::fmt::Write as _;
            let _ = writeln!(
                s,
                "LLM prices (USD per 1M tokens, or per 1k characters for character-billed models)\n{:<14} {:<44} {:<10} {:>10} {:>10} {:>10} {:>10} {:<6} {:>5}  source",
                "provider", "model", "from", "input", "cached", "write", "output", "tiers", "age"
            );
            let mut n = 0;
            for m in table.models() {
                if provider.as_deref().is_some_and(|p| {
                    chatobs_runtime::cost::llm::normalize_provider(p) != m.provider
                }) {
                    continue;
                }
                if model.as_deref().is_some_and(|t| {
                    !m.name.contains(t) && !m.aliases.iter().any(|a| a.contains(t))
                }) {
                    continue;
                }
                n += 1;
                let per = match m.unit {
                    chatobs_runtime::cost::llm::BillingUnit::Token => {
                        rust_decimal::Decimal::from(1_000_000u32)
                    }
                    chatobs_runtime::cost::llm::BillingUnit::Character => {
                        rust_decimal::Decimal::from(1000u32)
                    }
                };
                let f = |d: Option<rust_decimal::Decimal>| {
                    d.and_then(|d| d.checked_mul(per))
                        .map(|d| d.normalize().to_string())
                        .unwrap_or_else(|| "-".into())
                };
                let age = day(&m.date)
                    .map(|d| format!("{}d", (now - d).whole_days()))
                    .unwrap_or_else(|| "?".into());
                let tiers: Vec<String> = m
                    .tiers
                    .iter()
                    .map(|t| format!(">{}k", t.above_prompt_tokens / 1000))
                    .collect();
                let _ = writeln!(
                    s,
                    "{:<14} {:<44} {:<10} {:>10} {:>10} {:>10} {:>10} {:<6} {:>5}  {} ({})",
                    m.provider,
                    m.name,
                    m.effective
                        .map(|d| d.to_string())
                        .unwrap_or_else(|| "-".into()),
                    f(Some(m.base.input)),
                    f(m.base.cached_input),
                    f(m.base.cache_write),
                    f(Some(m.base.output)),
                    if tiers.is_empty() {
                        "-".into()
                    } else {
                        tiers.join(",")
                    },
                    age,
                    m.source,
                    m.date
                );
            }
            let _ = writeln!(s, "{n} LLM prices\n");
            let _ = writeln!(s, "WhatsApp rate cards");
            for c in &card.cards {
                let age = day(&c.date)
                    .map(|d| format!("{}d", (now - d).whole_days()))
                    .unwrap_or_else(|| "?".into());
                let _ = writeln!(
                    s,
                    "{}  {:<4} {}  (read {}, {age} ago; {}){}",
                    c.effective_day,
                    c.pricing_model.as_deref().unwrap_or("-"),
                    c.name,
                    c.date,
                    c.source,
                    c.note
                        .as_deref()
                        .map(|n| format!("\n            note: {n}"))
                        .unwrap_or_default()
                );
            }
            let stale = card.stale_from().map(|ms| {
                let t = time::OffsetDateTime::from_unix_timestamp(ms / 1000)
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
                t.date().to_string()
            });
            let _ = writeln!(
                s,
                "{} markets; prices of messages delivered from {} on carry messaging.whatsapp.rate_card_stale (Meta may have published a newer card)",
                card.markets.len(),
                stale.as_deref().unwrap_or("(no card listed)")
            );
            write_out(&s)
        }
        PricesCmd::Import {
            file,
            providers,
            source,
            date,
            out,
        } => {
            let name = file.display().to_string();
            let text = std::fs::read_to_string(&file).map_err(|e| format!("{name}: {e}"))?;
            let date = match date {
                Some(d) => {
                    day(&d).ok_or_else(|| format!("--date: expected YYYY-MM-DD, got {d:?}"))?;
                    d
                }
                None => today().to_string(),
            };
            let mut opts = ImportOptions::new(
                source.unwrap_or_else(|| {
                    format!(
                        "LiteLLM price table ({})",
                        file.file_name()
                            .map(|f| f.to_string_lossy().into_owned())
                            .unwrap_or(name.clone())
                    )
                }),
                date,
            );
            if !providers.is_empty() {
                for p in &providers {
                    if !LITELLM_PROVIDERS.iter().any(|(l, _)| l == p) {
                        return Err(format!(
                            "--providers: {p:?} is not a LiteLLM provider chatobs prices (one of {})",
                            LITELLM_PROVIDERS.iter().map(|(l, _)| *l).collect::<Vec<_>>().join(", ")
                        ));
                    }
                }
                opts.providers = providers;
            }
            let imported = import_litellm(&text, &opts).map_err(|e| format!("{name}: {e}"))?;
            // What is written must load: check it the way init will.
            let mut check = PriceTable::default();
            check.merge_toml(&imported.toml, None).map_err(|e| {
                format!("{name}: the imported table does not load ({e}); nothing written")
            })?;
            match &out {
                Some(p) => std::fs::write(p, &imported.toml)
                    .map_err(|e| format!("{}: {e}", p.display()))?,
                None => write_out(&imported.toml)?,
            }
            eprintln!(
                "chatobs: {} models imported from {name}{}; {} entries left out{}",
                imported.models,
                out.as_ref()
                    .map(|p| format!(" into {}", p.display()))
                    .unwrap_or_default(),
                imported.skipped.len(),
                if imported.skipped.is_empty() {
                    String::new()
                } else {
                    format!(
                        ": {}",
                        imported
                            .skipped
                            .iter()
                            .take(10)
                            .map(|(k, w)| format!("{k} ({w})"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                }
            );
            Ok(())
        }
    }
}
