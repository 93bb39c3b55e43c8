//! `chatobs cost`: price one LLM call, or replay a WhatsApp timeline.
//!
//! ```text
//! chatobs cost llm --model M --input N --output N [--cached N] [--cache-write N] [--reasoning N]
//!                  [--input-chars N --output-chars N] [--provider P] [--prices FILE]...
//! chatobs cost whatsapp --timeline FILE [--rates FILE]... [--billed-service]
//! ```
//! Both print JSON; money is printed as exact decimal strings.
//!
//! Neither panics on any input: a bad price, rate or timeline file, a count
//! no call can use, a figure that does not fit a decimal exactly (overflow)
//! or a closed standard output is an error message on stderr and exit code 2.

use chatobs_runtime::cost::{timeline, PriceTable, RateCard, StateBounds, Usage, WhatsAppPricer};
use clap::{Args, Subcommand};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;

/// Prints one line on standard output, or says why it could not (no panic
/// on a closed pipe, unlike `println!`).
fn print_line(line: impl std::fmt::Display) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write to standard output: {e}"))
}

/// `chatobs cost ...`
#[derive(Args)]
pub struct CostArgs {
    #[command(subcommand)]
    cmd: CostCmd,
}

#[derive(Subcommand)]
enum CostCmd {
    /// Price one LLM call with the price table and print the breakdown as JSON.
    Llm {
        /// Model name or alias (gemini-1.5-flash, models/gemini-1.5-flash, gpt-4o, ...).
        #[arg(long)]
        model: String,
        /// Provider (gcp.gemini, gcp.vertex_ai, openai, anthropic); default: implied by the model.
        #[arg(long)]
        provider: Option<String>,
        /// Prompt tokens, cached ones included.
        #[arg(long, default_value_t = 0)]
        input: u64,
        /// Output tokens, reasoning ones included.
        #[arg(long, default_value_t = 0)]
        output: u64,
        /// Cached prompt tokens (part of --input).
        #[arg(long, default_value_t = 0)]
        cached: u64,
        /// Prompt tokens written to the cache (part of --input).
        #[arg(long, default_value_t = 0)]
        cache_write: u64,
        /// Reasoning tokens (part of --output).
        #[arg(long, default_value_t = 0)]
        reasoning: u64,
        /// Prompt characters (per-character billing, Vertex AI Gemini 1.5).
        #[arg(long, requires = "output_chars")]
        input_chars: Option<u64>,
        /// Output characters (per-character billing).
        #[arg(long, requires = "input_chars")]
        output_chars: Option<u64>,
        /// Extra price files applied over the shipped table.
        #[arg(long)]
        prices: Vec<PathBuf>,
    },
    /// Replay a JSONL timeline of WhatsApp messages: one JSON line per outbound message, then a total.
    Whatsapp {
        /// The timeline (one event per line).
        #[arg(long)]
        timeline: PathBuf,
        /// Extra rate files applied over the shipped card.
        #[arg(long)]
        rates: Vec<PathBuf>,
        /// Turn on the billed-service rule (reported for 2026-10-01).
        #[arg(long)]
        billed_service: bool,
    },
}

fn cost_json(d: chatobs_runtime::cost::LlmCost) -> serde_json::Value {
    json!({
        "model_requested": d.requested_model,
        "model": d.model,
        "provider": d.provider,
        "unit": d.unit.map(|u| u.as_str()),
        "tier": d.tier_above_prompt_tokens.map(|t| json!({"above_prompt_tokens": t, "estimated_from_characters": d.tier_estimated})),
        "components": {
            "input": d.input.normalize().to_string(),
            "cached_input": d.cached_input.normalize().to_string(),
            "cache_write": d.cache_write.normalize().to_string(),
            "output": d.output.normalize().to_string(),
        },
        "prompt": d.prompt.normalize().to_string(),
        "completion": d.completion.normalize().to_string(),
        "total": d.total.normalize().to_string(),
        "complete": d.complete,
        "missing": d.missing,
        "overflow": d.overflow,
        "incomplete_reason": d.incomplete_reason(),
        "source": d.source,
        "date": d.date,
    })
}

/// Runs `chatobs cost ...`.
pub fn run(args: CostArgs) -> Result<(), String> {
    match args.cmd {
        CostCmd::Llm {
            model,
            provider,
            input,
            output,
            cached,
            cache_write,
            reasoning,
            input_chars,
            output_chars,
            prices,
        } => {
            let mut table = PriceTable::shipped();
            for p in &prices {
                table.merge_file(p).map_err(|e| e.to_string())?;
            }
            let usage = Usage {
                input_tokens: input,
                output_tokens: output,
                cached_tokens: cached,
                cache_write_tokens: cache_write,
                reasoning_tokens: reasoning,
                input_chars,
                output_chars,
            };
            let cost = table
                .cost(provider.as_deref(), &model, &usage)
                .map_err(|e| e.to_string())?;
            let complete = cost.complete;
            let overflow = cost.overflow.join(", ");
            print_line(cost_json(cost))?;
            if complete {
                Ok(())
            } else if !overflow.is_empty() {
                Err(format!(
                    "overflow: the exact cost of {model:?} does not fit a decimal ({overflow}: beyond ±79228162514264337593543950335, or more than 28 decimal places); those figures are left out, so the figures above are a lower bound: check this model's prices"
                ))
            } else {
                Err(format!(
                    "no complete price for {model:?}: the figures above are a lower bound"
                ))
            }
        }
        CostCmd::Whatsapp {
            timeline: file,
            rates,
            billed_service,
        } => {
            let mut card = RateCard::shipped();
            for r in &rates {
                card.merge_file(r).map_err(|e| e.to_string())?;
            }
            card.rules.billed_service_enabled = billed_service;
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let pricer = WhatsAppPricer::new(card, StateBounds::default());
            let lines =
                timeline::replay(&pricer, &text).map_err(|e| format!("{}: {e}", file.display()))?;
            let reason = lines
                .last()
                .and_then(|l| l.get("incomplete_reason"))
                .and_then(|r| r.as_str())
                .unwrap_or_default()
                .to_owned();
            for l in lines {
                print_line(l)?;
            }
            if reason.contains("overflow") {
                return Err(format!(
                    "{}: overflow: the exact total does not fit a decimal (beyond ±79228162514264337593543950335, or more than 28 decimal places); the prices that did not fit are left out, so total_usd is a lower bound: check the rates",
                    file.display()
                ));
            }
            Ok(())
        }
    }
}
