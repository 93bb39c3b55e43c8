//! Outbound HTTP requests (`http.client.request.duration`): the duration of
//! every request sent through the instrumented client, by method, server
//! host and status (`error` when no response came), with the OpenTelemetry
//! HTTP buckets. Hosts are bounded like every label (at most
//! `metrics.max_series_per_metric` series).

use crate::registry::{Family, Kind};
use chatobs_core::vocab as v;
use std::sync::OnceLock;

/// Upper bounds (seconds): the OpenTelemetry HTTP semantic conventions' advice.
pub const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

pub(crate) fn family() -> &'static Family {
    static F: OnceLock<Family> = OnceLock::new();
    F.get_or_init(|| {
        Family::new(
            v::PROM_HTTP_CLIENT_DURATION,
            "Duration of outbound HTTP requests, seconds, by method, server and status.",
            Kind::Histogram,
            &[
                "http_request_method",
                v::PL_SERVER_ADDRESS,
                v::PL_HTTP_STATUS,
            ],
            1,
            &BUCKETS,
        )
    })
}

/// Records one outbound request: `status` is the response's status code, or
/// `None` when none came (a connection error, a timeout).
pub fn observe(method: &str, host: &str, status: Option<u16>, secs: f64) {
    if !crate::is_enabled() {
        return;
    }
    let code = status.map(|s| s.to_string());
    let l = [
        crate::registry::label_value(method),
        crate::registry::label_value(host),
        code.as_deref().unwrap_or("error"),
    ];
    if let Some(h) = family().hist(&l) {
        h.observe(secs);
    }
}
