//! `chatobs rules [--config FILE]`: Prometheus alerting and recording rules
//! derived from the same configuration the bot loads.

use std::path::PathBuf;

/// Loads the configuration like `check-config` does (defaults, file, environment).
pub fn load(config: Option<&PathBuf>) -> Result<chatobs_runtime::Config, String> {
    let mut cfg = match config {
        Some(p) => chatobs_runtime::Config::from_file(p).map_err(|e| e.to_string())?,
        None => chatobs_runtime::Config::load().map_err(|e| e.to_string())?,
    };
    if config.is_some() {
        cfg.apply_env(|k| std::env::var(k).ok())
            .map_err(|e| e.to_string())?;
    }
    Ok(cfg)
}

/// Prints the rules file.
pub fn run(config: Option<PathBuf>) -> Result<(), String> {
    let cfg = load(config.as_ref())?;
    print!(
        "{}",
        chatobs_runtime::metrics::rules::prometheus_rules(&cfg)
    );
    Ok(())
}
