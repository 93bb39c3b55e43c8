//! `check`: every check `init` makes before it starts anything, without
//! starting anything. `chatobs check-config` runs exactly this, and `init`
//! runs it first, so both accept and reject the same configurations with the
//! same messages.

use crate::config::{Config, ExporterKind, LogFormat};
use crate::Error;
use chatobs_core::config::Errors;

/// Checks `config` the way `init` will use it: every section's values, the
/// session key in the environment, the log level (or `RUST_LOG`) and output,
/// the span file, the exporters this build can run, the price tables and
/// rate cards. Creates, connects and installs nothing. Every problem is
/// reported at once, each naming its key, variable or file.
///
/// ```
/// let mut cfg = chatobs_runtime::Config::default();
/// cfg.logs.level = "info,=nonsense[".into();
/// let err = chatobs_runtime::check(&cfg).unwrap_err().to_string();
/// assert!(err.starts_with("logs.level: "), "{err}");
/// ```
pub fn check(config: &Config) -> Result<(), Error> {
    let mut errs = Errors::new(None);
    if let Err(e) = config.validate_values() {
        errs.push_error(e);
    }
    if let Ok(k) = std::env::var(&config.session.key_env) {
        if !k.is_empty() && k.len() < 16 {
            errs.push_env(
                config.session.key_env.clone(),
                format!(
                    "the session key has {} bytes; use at least 16 random bytes (for example `openssl rand -hex 32`)",
                    k.len()
                ),
            );
        }
    }
    if config.logs.format == LogFormat::Json {
        errs.check(chatobs_core::logs::check(&config.logs));
    }
    for kind in config.resolved_exporters() {
        match kind {
            ExporterKind::File => {
                if let Err(reason) = chatobs_core::config::writable_file(&config.exporter.file_path)
                {
                    errs.push(
                        "exporter.file_path",
                        format!("{reason}: choose a writable path (CHATOBS_SPANS_FILE)"),
                    );
                }
            }
            #[cfg(not(feature = "otlp"))]
            ExporterKind::Otlp => errs.push(
                "exporter.kinds",
                "\"otlp\" needs chatobs-runtime's `otlp` feature, which this build does not have",
            ),
            _ => {}
        }
    }
    #[cfg(feature = "otlp")]
    if let Err(e) = chatobs_otlp::check(&crate::init::otlp_target(config)) {
        errs.push_error(e);
    }
    #[cfg(feature = "cost")]
    if let Err(e) = chatobs_cost::CostEngine::from_config(&config.cost) {
        errs.push_error(e);
    }
    errs.into_result()
}
