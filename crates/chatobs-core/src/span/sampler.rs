//! The head sampler: decided before a span is built, from the parent frame
//! and the trace id.

use crate::context::{Frame, FLAG_SAMPLED};

/// Head sampler, decided before a span is built.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampler {
    /// Record every span.
    AlwaysOn,
    /// Record nothing (ids still propagate).
    AlwaysOff,
    /// Record a fraction of traces, decided on the trace id like the
    /// OpenTelemetry SDK's `TraceIdRatioBased` so services agree.
    TraceIdRatio(f64),
    /// Follow the parent's decision; roots use the inner sampler.
    ParentBased(RootSampler),
}

/// The root decision of [`Sampler::ParentBased`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RootSampler {
    /// Record every root.
    AlwaysOn,
    /// Record no root.
    AlwaysOff,
    /// Record a fraction of roots.
    TraceIdRatio(f64),
}

fn ratio_sampled(ratio: f64, trace_id: u128) -> bool {
    let bound = (ratio.clamp(0.0, 1.0) * (1u64 << 63) as f64) as u64;
    let low = trace_id as u64;
    (low >> 1) < bound
}

impl Sampler {
    #[inline]
    pub(crate) fn decide(&self, parent: &Frame, trace_id: u128) -> bool {
        match *self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::TraceIdRatio(r) => ratio_sampled(r, trace_id),
            Sampler::ParentBased(root) => {
                if parent.trace_id != 0 {
                    parent.flags & FLAG_SAMPLED != 0
                } else {
                    match root {
                        RootSampler::AlwaysOn => true,
                        RootSampler::AlwaysOff => false,
                        RootSampler::TraceIdRatio(r) => ratio_sampled(r, trace_id),
                    }
                }
            }
        }
    }
}
