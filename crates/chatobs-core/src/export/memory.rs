//! In-memory exporter, for tests.

use super::SpanExporter;
use crate::model::FinishedSpan;
use std::sync::{Arc, Mutex};

/// Keeps every exported span; clone the handle to read them.
#[derive(Clone, Default, Debug)]
pub struct MemoryExporter {
    spans: Arc<Mutex<Vec<FinishedSpan>>>,
}

impl MemoryExporter {
    /// An empty exporter.
    pub fn new() -> Self {
        Self::default()
    }
    /// A copy of the spans exported so far.
    pub fn spans(&self) -> Vec<FinishedSpan> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// Removes and returns the spans exported so far.
    pub fn take(&self) -> Vec<FinishedSpan> {
        std::mem::take(&mut *self.spans.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl SpanExporter for MemoryExporter {
    fn name(&self) -> &'static str {
        "memory"
    }
    fn export(&mut self, batch: &[FinishedSpan]) -> Result<(), String> {
        self.spans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(batch);
        Ok(())
    }
}
