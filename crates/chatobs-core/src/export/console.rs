//! Console printer: one line per finished span on standard error.

use super::SpanExporter;
use crate::model::{FinishedSpan, Status};
use crate::vocab;
use std::io::Write;

/// Prints `trace span name duration role step status` lines.
#[derive(Debug, Default)]
pub struct ConsoleExporter;

/// One human-readable line for a span.
pub fn span_line(s: &FinishedSpan) -> String {
    let d = s.duration();
    let status = match &s.status {
        Status::Unset => String::new(),
        Status::Ok => " ok".into(),
        Status::Error(m) => format!(" ERROR {m}"),
    };
    format!(
        "[chatobs] {} {} {:<28} {:>9.3} ms role={} step={} session={}{}",
        &s.trace_id.to_hex()[..8],
        &s.span_id.to_hex()[..8],
        s.name,
        d.as_secs_f64() * 1e3,
        s.attr_str(vocab::AGENT_ROLE).unwrap_or("-"),
        s.attr_str(vocab::CONVERSATION_STEP).unwrap_or("-"),
        s.session_id().unwrap_or("-"),
        status
    )
}

impl SpanExporter for ConsoleExporter {
    fn name(&self) -> &'static str {
        "console"
    }
    fn export(&mut self, batch: &[FinishedSpan]) -> Result<(), String> {
        let mut err = std::io::stderr().lock();
        for s in batch {
            writeln!(err, "{}", span_line(s)).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
