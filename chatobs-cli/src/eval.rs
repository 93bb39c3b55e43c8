//! `chatobs eval`: check a text before a bot sends it.
//!
//! ```text
//! chatobs eval readability [--lang en|es]   reads the text on standard input, prints the scores as JSON
//! ```
//!
//! Without `--lang` the language is detected (English or Spanish). The
//! figures are those of Python textstat 0.7.3 (see `chatobs_runtime::evals::readability`).

use chatobs_runtime::evals::readability::{readability, Lang};
use clap::{Args, Subcommand};
use std::io::Read;

/// `chatobs eval ...`
#[derive(Args)]
pub struct EvalArgs {
    #[command(subcommand)]
    cmd: EvalCmd,
}

#[derive(Subcommand)]
enum EvalCmd {
    /// Read a text on standard input and print its readability scores as JSON.
    Readability {
        /// The text's language (default: detected).
        #[arg(long, value_parser = ["en", "es"])]
        lang: Option<String>,
    },
}

/// Runs `chatobs eval ...`.
pub fn run(args: EvalArgs) -> Result<(), String> {
    match args.cmd {
        EvalCmd::Readability { lang } => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("standard input: {e}"))?;
            if text.trim().is_empty() {
                return Err("standard input is empty: pipe the text to score, e.g. `echo \"Hello there.\" | chatobs eval readability`".into());
            }
            let lang = lang.as_deref().and_then(Lang::parse);
            let r = readability(&text, lang);
            let mut v = serde_json::to_value(&r).map_err(|e| e.to_string())?;
            if let Some(o) = v.as_object_mut() {
                o.insert("score".into(), r.score().into());
                o.insert("label".into(), r.label().into());
                o.retain(|_, v| !v.is_null());
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?
            );
            Ok(())
        }
    }
}
