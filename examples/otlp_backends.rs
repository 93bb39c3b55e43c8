//! Export to Logfire, Langfuse, Arize, Honeycomb, Grafana Cloud or Phoenix
//! with one setting: the preset picks the endpoint, the protocol (TLS for the
//! hosted ones) and the authentication header from the backend's own
//! environment variables.
//!
//! ```text
//! cargo run --example otlp_backends -- phoenix         # prints the settings, exports one span
//! LOGFIRE_TOKEN=... CHATOBS_EXAMPLE_EXPORT=1 cargo run --example otlp_backends -- logfire
//! ```
//!
//! In a real bot the same is one line of configuration, `[otlp] preset =
//! "logfire"` or `CHATOBS_OTLP_PRESET=logfire`, plus the backend's secret
//! variables; secrets are never read from a file.

use chatobs_runtime::config::ExporterKind;
use chatobs_runtime::otlp::Preset;
use chatobs_runtime::{Config, SpanBuilder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = std::env::args().nth(1).unwrap_or_else(|| "phoenix".into());
    let preset = Preset::from_name(&backend)
        .ok_or_else(|| format!("expected one of {}", Preset::NAMES.join(", ")))?;
    let env = |k: &str| std::env::var(k).ok();
    let mut cfg = Config::load()?;
    cfg.otlp.preset = Some(preset);
    let resolved = cfg.otlp.apply_preset(&env);
    // Header names only: their values are secrets.
    println!(
        "{backend}: {} ({}), headers {:?}, metrics over OTLP: {:?}",
        cfg.otlp.endpoint,
        cfg.otlp.protocol.as_str(),
        cfg.otlp.headers.keys().collect::<Vec<_>>(),
        cfg.otlp.metrics_exporter,
    );
    if let Err(e) = &resolved {
        println!("missing: {e}");
    }
    if resolved.is_err() || std::env::var_os("CHATOBS_EXAMPLE_EXPORT").is_none() {
        println!("(dry run: set the variables above and CHATOBS_EXAMPLE_EXPORT=1 to export; writing to the console instead)");
        cfg.exporter.kinds = vec![ExporterKind::Console];
        cfg.otlp = Default::default(); // no OTLP at all, metrics included
    } else {
        cfg.exporter.kinds = vec![ExporterKind::Otlp];
    }
    let _guard = chatobs_runtime::init(cfg)?;
    drop(SpanBuilder::new("classifier.predict").start());
    Ok(())
}
