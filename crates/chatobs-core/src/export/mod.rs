//! Exporters: where finished spans go.
//!
//! Every exporter receives batches of [`FinishedSpan`] on the pipeline's
//! export thread, never on a bot's thread.

use crate::model::FinishedSpan;

pub mod console;
pub mod file;
pub mod memory;

/// A destination for finished spans. Implement it to send spans somewhere
/// chatobs does not know; install it with `chatobs_runtime::init_with_exporters`.
pub trait SpanExporter: Send + 'static {
    /// A short name for errors and metrics (`file`, `otlp`, ...).
    fn name(&self) -> &'static str;
    /// Exports one batch. Must return within the configured export timeout;
    /// the pipeline enforces it for exporters that take a runtime.
    fn export(&mut self, batch: &[FinishedSpan]) -> Result<(), String>;
    /// Makes everything exported so far durable.
    fn flush(&mut self) -> Result<(), String> {
        Ok(())
    }
    /// Releases resources; called once, last.
    fn shutdown(&mut self) -> Result<(), String> {
        Ok(())
    }
}
