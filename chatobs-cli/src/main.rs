//! `chatobs`: the command line of chatobs.
//!
//! ```text
//! chatobs report <spans.jsonl> [--session ID]   conversation waterfalls from the embedded span file
//! chatobs rules [--config FILE]                Prometheus alerting + recording rules (YAML) from the config
//! chatobs dashboard [--config FILE]            a Grafana dashboard (JSON) over the chatobs metrics
//! chatobs check-config [--config FILE]          validate a configuration (defaults + file + environment)
//! ```

mod cost;
mod dashboard;
mod eval;
mod rules;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "chatobs",
    version,
    about = "chatobs: observable chat-bot conversations"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print each conversation in a span file as a waterfall (span tree, durations, role, step, cost).
    Report {
        /// The JSONL span file written by the file exporter.
        file: PathBuf,
        /// Only this session id.
        #[arg(long)]
        session: Option<String>,
    },
    /// Price an LLM call (`cost llm`) or replay a WhatsApp timeline (`cost whatsapp --timeline FILE`).
    Cost(cost::CostArgs),
    /// Score a text before sending it: `eval readability [--lang en|es]` reads standard input, prints JSON.
    Eval(eval::EvalArgs),
    /// Print Prometheus alerting and recording rules (YAML) derived from the configuration.
    Rules {
        /// A configuration file (default: CHATOBS_CONFIG or ./config/observability.toml).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print a Grafana dashboard (JSON) over the chatobs metrics.
    Dashboard {
        /// A configuration file (default: CHATOBS_CONFIG or ./config/observability.toml).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Load the configuration the way `init` does and print it, or the error.
    CheckConfig {
        /// A configuration file (default: CHATOBS_CONFIG or ./config/observability.toml).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.cmd {
        Cmd::Report { file, session } => {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let spans = chatobs_runtime::report::read_jsonl(&text)
                .map_err(|e| format!("{}: {e}", file.display()))?;
            if spans.is_empty() {
                return Err(format!("{}: no spans", file.display()));
            }
            let out = chatobs_runtime::report::waterfall(&spans, session.as_deref());
            if out.is_empty() {
                return Err(format!(
                    "no conversation with session id {:?} in {}",
                    session.unwrap_or_default(),
                    file.display()
                ));
            }
            print!("{out}");
            Ok(())
        }
        Cmd::Cost(args) => cost::run(args),
        Cmd::Eval(args) => eval::run(args),
        Cmd::Rules { config } => rules::run(config),
        Cmd::Dashboard { config } => dashboard::run(config),
        Cmd::CheckConfig { config } => {
            let mut cfg = match &config {
                Some(p) => chatobs_runtime::Config::from_file(p).map_err(|e| e.to_string())?,
                None => chatobs_runtime::Config::load().map_err(|e| e.to_string())?,
            };
            if config.is_some() {
                cfg.apply_env(|k| std::env::var(k).ok())
                    .map_err(|e| e.to_string())?;
            }
            println!(
                "ok: {}",
                cfg.source
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "(shipped defaults)".into())
            );
            println!("service.name = {}", cfg.service.name);
            println!("exporters = {:?}", cfg.resolved_exporters());
            println!("sampler = {:?}", cfg.sampler().map_err(|e| e.to_string())?);
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chatobs: {e}");
            ExitCode::from(2)
        }
    }
}
