//! `chatobs`: the command line of chatobs.
//!
//! ```text
//! chatobs report <spans.jsonl> [--session ID]   conversation waterfalls from the embedded span file
//! chatobs rules [--config FILE]                Prometheus alerting + recording rules (YAML) from the config
//! chatobs dashboard [--config FILE]            a Grafana dashboard (JSON) over the chatobs metrics
//! chatobs check-config [--config FILE]          validate a configuration (defaults + file + environment)
//! chatobs prices list | import FILE             what the price tables know; refresh them from LiteLLM's table
//! chatobs audit verify FILE [--key-env VAR]     check an audit trail's chain (exit 1 names the first bad record)
//! ```

mod audit;
mod cost;
mod dashboard;
mod eval;
mod prices;
mod rules;

use clap::{Parser, Subcommand};
use std::io::Write as _;
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
    ///
    /// Lines that are not spans are skipped and counted in one line on standard error (never
    /// their content); the exit status is then 2, after the waterfalls of the other spans.
    Report {
        /// The JSONL span file written by the file exporter.
        file: PathBuf,
        /// Only this session id.
        #[arg(long)]
        session: Option<String>,
    },
    /// Price an LLM call (`cost llm`) or replay a WhatsApp timeline (`cost whatsapp --timeline FILE`).
    Cost(cost::CostArgs),
    /// What the LLM price table and the WhatsApp rate card know (`prices list`), or import
    /// LiteLLM's price table as a chatobs price file (`prices import FILE`).
    Prices(prices::PricesArgs),
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
    /// Check a tamper-evident audit trail (`audit verify FILE`): exit 0 when intact, 1 naming
    /// the first changed, removed, reordered or malformed record.
    Audit(audit::AuditArgs),
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.cmd {
        Cmd::Report { file, session } => {
            // Tolerant and streaming: bad lines are skipped and counted (one
            // line on stderr, never their content, and exit status 2 after
            // the report of the good ones); the report is written as drawn.
            let name = file.display().to_string();
            let f = std::fs::File::open(&file).map_err(|e| format!("{name}: {e}"))?;
            let read = chatobs_runtime::report::read_jsonl_from(std::io::BufReader::with_capacity(
                1 << 16,
                f,
            ))
            .map_err(|e| format!("{name}: {e}"))?;
            if read.invalid_utf8 > 0 {
                eprintln!(
                    "chatobs: {} of {} lines of {name} had bytes that are not UTF-8 (read as U+FFFD)",
                    read.invalid_utf8, read.lines
                );
            }
            let skipped = read.summary(&name);
            if read.spans.is_empty() {
                return Err(match skipped {
                    Some(s) => format!("{s}; no spans left"),
                    None => format!("{name}: no spans"),
                });
            }
            let mut w = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            let written =
                chatobs_runtime::report::write_waterfall(&mut w, &read.spans, session.as_deref())
                    .and_then(|n| std::io::Write::flush(&mut w).map(|()| n));
            let written = match written {
                Ok(n) => n,
                // `chatobs report … | head`: the reader has what it wanted.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    return skipped.map_or(Ok(()), Err)
                }
                Err(e) => return Err(format!("writing the report: {e}")),
            };
            if written == 0 {
                return Err(format!(
                    "no conversation with session id {:?} in {name}{}",
                    session.unwrap_or_default(),
                    skipped.map(|s| format!(" ({s})")).unwrap_or_default()
                ));
            }
            skipped.map_or(Ok(()), Err)
        }
        Cmd::Cost(args) => cost::run(args),
        Cmd::Eval(args) => eval::run(args),
        Cmd::Prices(args) => prices::run(args),
        Cmd::Rules { config } => rules::run(config),
        Cmd::Dashboard { config } => dashboard::run(config),
        // `main` runs it first to keep its own exit status (1: not intact); here it
        // only needs to report success or failure (its messages are printed).
        Cmd::Audit(args) => match audit::run(args) {
            code if code == ExitCode::SUCCESS => Ok(()),
            _ => Err("audit failed".into()),
        },
        Cmd::CheckConfig { config } => {
            let mut cfg = match &config {
                Some(p) => chatobs_runtime::Config::from_file(p).map_err(|e| e.to_string())?,
                None => chatobs_runtime::Config::load().map_err(|e| e.to_string())?,
            };
            if config.is_some() {
                cfg.apply_env(|k| std::env::var(k).ok())
                    .map_err(|e| e.to_string())?;
            }
            // Exactly the checks `init` runs before it starts anything.
            chatobs_runtime::check(&cfg).map_err(|e| e.to_string())?;
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
    let cli = Cli::parse();
    // `audit verify` has its own exit status: 1 when the trail is not intact.
    if let Cmd::Audit(args) = cli.cmd {
        return audit::run(args);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed standard error must not turn an error into a panic.
            let _ = writeln!(std::io::stderr(), "chatobs: {e}");
            ExitCode::from(2)
        }
    }
}
