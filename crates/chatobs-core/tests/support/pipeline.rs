//! Pipelines the tests start.
#![allow(dead_code)]

use chatobs_core::config::{ExporterConfig, SamplingConfig};
use chatobs_core::pipeline::{start, Guard};

/// A pipeline with no exporter (`exporter = none`: spans are drained,
/// converted and counted, not written) and batches of `batch_size`.
pub fn without_exporter(batch_size: usize) -> Guard {
    start(
        &ExporterConfig {
            batch_size,
            ..ExporterConfig::default()
        },
        &SamplingConfig::default(),
        Vec::new(),
        None,
    )
    .expect("a pipeline with no exporter starts")
}
