//! Exporters: where finished spans go.
//!
//! Every exporter receives batches of [`FinishedSpan`] on the pipeline's
//! exporters' thread, never on a bot's thread. An exporter that sends bytes
//! can instead encode the spans on the export thread as they are converted
//! ([`SpanExporter::encoder`]) and send the bytes on the exporters' thread
//! ([`SpanExporter::export_encoded`]).

use crate::model::FinishedSpan;
use std::ops::Range;

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
    /// An encoder of this exporter's batches, run on the export thread (the
    /// default, `None`: the exporter takes the spans in
    /// [`SpanExporter::export`]). Called once, when the pipeline starts.
    ///
    /// With an encoder, the export thread writes each batch's bytes while
    /// it converts the spans, a few dozen at a time, and the spans it
    /// reuses for the next ones are still in its caches; the exporters'
    /// thread only sends the bytes ([`SpanExporter::export_encoded`]). A
    /// batch handed to the exporters' thread as spans is read there again,
    /// from the other core's caches (the OTLP/HTTP encoder's first reads of
    /// each span were its costliest instructions). The encoded path is
    /// taken when every exporter of the pipeline returns an encoder.
    fn encoder(&self) -> Option<Box<dyn SpanEncoder>> {
        None
    }
    /// Sends the bytes `range` of `buf`, which this exporter's
    /// [`SpanExporter::encoder`] wrote for `spans` spans. Called on the
    /// exporters' thread, in order, like [`SpanExporter::export`]. An
    /// exporter that returns an encoder implements it; the default refuses
    /// (the batch counts as failed, with this message).
    fn export_encoded(
        &mut self,
        buf: Vec<u8>,
        range: Range<usize>,
        spans: usize,
    ) -> Result<(), String> {
        let _ = (buf, range);
        Err(format!(
            "{}: {spans} spans were encoded for this exporter, but it does not implement \
             `export_encoded` (an exporter that returns an `encoder` must)",
            self.name()
        ))
    }
}

/// An exporter's encoding of its batches, run on the export thread
/// ([`SpanExporter::encoder`]). One batch is [`SpanEncoder::begin`], one or
/// more [`SpanEncoder::append`]s of consecutive spans, then
/// [`SpanEncoder::finish`]; the bytes then go to
/// [`SpanExporter::export_encoded`]. The bytes must not depend on how a
/// batch was cut into appends.
///
/// ```
/// use chatobs_core::export::{SpanEncoder, SpanExporter};
/// use chatobs_core::model::FinishedSpan;
/// use std::ops::Range;
///
/// /// One line per span: its name.
/// struct Names;
///
/// impl SpanEncoder for Names {
///     fn begin(&mut self, _: &mut Vec<u8>) {}
///     fn append(&mut self, spans: &[FinishedSpan], buf: &mut Vec<u8>) {
///         for s in spans {
///             buf.extend_from_slice(s.name.as_bytes());
///             buf.push(b'\n');
///         }
///     }
///     fn finish(&mut self, buf: &mut Vec<u8>, _spans: usize) -> Range<usize> {
///         0..buf.len()
///     }
/// }
///
/// /// Writes the names to standard error.
/// struct Stderr;
///
/// impl SpanExporter for Stderr {
///     fn name(&self) -> &'static str {
///         "stderr"
///     }
///     // Spans, when another exporter of the pipeline does not encode.
///     fn export(&mut self, batch: &[FinishedSpan]) -> Result<(), String> {
///         let mut buf = Vec::new();
///         Names.append(batch, &mut buf);
///         self.export_encoded(buf, 0..0, batch.len())
///     }
///     fn encoder(&self) -> Option<Box<dyn SpanEncoder>> {
///         Some(Box::new(Names))
///     }
///     fn export_encoded(&mut self, buf: Vec<u8>, range: Range<usize>, _: usize) -> Result<(), String> {
///         use std::io::Write as _;
///         let bytes = if range.is_empty() { &buf[..] } else { &buf[range] };
///         std::io::stderr().write_all(bytes).map_err(|e| e.to_string())
///     }
/// }
///
/// // What the export thread does with a batch cut into two chunks:
/// # use chatobs_core::model::{OtelKind, Status};
/// # use chatobs_core::{SpanId, TraceId};
/// # fn span(name: &'static str) -> FinishedSpan {
/// #     let t = std::time::SystemTime::UNIX_EPOCH;
/// #     FinishedSpan {
/// #         name: name.into(), kind: OtelKind::Internal, trace_id: TraceId(1),
/// #         span_id: SpanId(2), parent_span_id: SpanId(0), parent_remote: false,
/// #         start: t, end: t, status: Status::Unset,
/// #         attributes: vec![], events: vec![], links: vec![],
/// #     }
/// # }
/// let spans = vec![span("classify"), span("reply")];
/// let mut enc = Stderr.encoder().unwrap();
/// let mut buf = Vec::new();
/// enc.begin(&mut buf);
/// enc.append(&spans[..1], &mut buf);
/// enc.append(&spans[1..], &mut buf);
/// let range = enc.finish(&mut buf, 2);
/// assert_eq!(&buf[range], b"classify\nreply\n");
/// ```
pub trait SpanEncoder: Send + 'static {
    /// Starts a batch in `buf` (which holds nothing of a batch before).
    fn begin(&mut self, buf: &mut Vec<u8>);
    /// Appends `spans`, the next spans of the batch.
    fn append(&mut self, spans: &[FinishedSpan], buf: &mut Vec<u8>);
    /// Ends the batch of `spans` spans; returns the part of `buf` to send.
    fn finish(&mut self, buf: &mut Vec<u8>, spans: usize) -> Range<usize>;
}
