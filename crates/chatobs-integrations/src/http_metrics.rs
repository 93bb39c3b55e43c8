//! HTTP server metrics of the axum layer: requests by method, route template
//! and status, and a duration histogram (`http.server.request.duration`,
//! seconds, the OpenTelemetry HTTP buckets).
//!
//! Labels are bounded: the method is one of the standard methods or
//! `_OTHER`, the route is the matched route **template** (`/orders/{id}`),
//! never the raw path, and at most [`MAX_SERIES`] label sets are kept (more
//! go to route `_OTHER`).
//!
//! [`snapshot`] reads them; `/metrics` serves them through chatobs-metrics'
//! encoder ([`families`] is what it is handed at each scrape).

use crate::metrics::registry::Kind;
use crate::metrics::{ExternalFamily, ExternalSeries, ExternalValue};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Upper bounds (seconds) of the duration histogram: the OpenTelemetry HTTP
/// semantic conventions' advice.
pub const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
/// Most label sets kept.
pub const MAX_SERIES: usize = 2000;

/// One label set's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpSeries {
    /// `GET`, `POST`, ... or `_OTHER`.
    pub method: &'static str,
    /// Route template.
    pub route: Arc<str>,
    /// Response status.
    pub status: u16,
    /// Requests.
    pub count: u64,
    /// Sum of durations, seconds.
    pub sum_seconds: f64,
    /// Cumulative counts per bucket of [`BUCKETS`] (the last one is `+Inf` = `count`).
    pub buckets: [u64; BUCKETS.len()],
}

#[derive(Default)]
struct Store {
    /// route -> (method, status) -> series
    routes: HashMap<String, HashMap<(&'static str, u16), HttpSeries>>,
    len: usize,
}

fn store() -> &'static Mutex<Store> {
    static S: OnceLock<Mutex<Store>> = OnceLock::new();
    S.get_or_init(Default::default)
}

/// The bounded method label.
pub fn method_label(m: &str) -> &'static str {
    match m {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "_OTHER",
    }
}

/// Records one handled request.
pub fn record_server_request(method: &str, route: &str, status: u16, duration: Duration) {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| crate::metrics::register_external(families));
    let method = method_label(method);
    let secs = duration.as_secs_f64();
    let mut guard = store().lock().unwrap_or_else(|e| e.into_inner());
    let st = &mut *guard;
    let exists = st
        .routes
        .get(route)
        .is_some_and(|m| m.contains_key(&(method, status)));
    let route = if exists || st.len < MAX_SERIES {
        route
    } else {
        "_OTHER"
    };
    let per_route = match st.routes.get_mut(route) {
        Some(m) => m,
        None => st.routes.entry(route.to_owned()).or_default(),
    };
    let e = per_route.entry((method, status)).or_insert_with(|| {
        st.len += 1;
        HttpSeries {
            method,
            route: Arc::from(route),
            status,
            count: 0,
            sum_seconds: 0.0,
            buckets: [0; BUCKETS.len()],
        }
    });
    e.count += 1;
    e.sum_seconds += secs;
    for (i, b) in BUCKETS.iter().enumerate() {
        if secs <= *b {
            e.buckets[i] += 1;
        }
    }
}

/// Every label set, sorted by route, method and status.
pub fn snapshot() -> Vec<HttpSeries> {
    let st = store().lock().unwrap_or_else(|e| e.into_inner());
    let mut v: Vec<HttpSeries> = st
        .routes
        .values()
        .flat_map(|m| m.values().cloned())
        .collect();
    v.sort_by(|a, b| {
        (a.route.as_ref(), a.method, a.status).cmp(&(b.route.as_ref(), b.method, b.status))
    });
    v
}

/// The histogram as chatobs-metrics encodes it
/// (`http_server_request_duration_seconds{http_request_method, http_route, http_response_status_code}`).
pub fn families() -> Vec<ExternalFamily> {
    let series = snapshot()
        .into_iter()
        .map(|s| {
            // Stored cumulative (`<= bound`); the encoder takes each bucket alone.
            let mut prev = 0;
            let buckets = BUCKETS
                .iter()
                .zip(s.buckets)
                .map(|(b, c)| {
                    let alone = c.saturating_sub(prev);
                    prev = c;
                    (*b, alone)
                })
                .collect();
            ExternalSeries {
                values: vec![
                    s.method.to_owned(),
                    s.route.to_string(),
                    s.status.to_string(),
                ],
                value: ExternalValue::Histogram {
                    buckets,
                    sum: s.sum_seconds,
                    count: s.count,
                },
            }
        })
        .collect();
    vec![ExternalFamily {
        name: "http_server_request_duration_seconds",
        help: "Duration of HTTP server requests (chatobs axum layer).",
        kind: Kind::Histogram,
        labels: &[
            "http_request_method",
            "http_route",
            "http_response_status_code",
        ],
        series,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_labels_and_buckets() {
        record_server_request("BREW", "/unit-test/{id}", 418, Duration::from_millis(30));
        record_server_request("BREW", "/unit-test/{id}", 418, Duration::from_millis(3));
        let s = snapshot();
        let row = s.iter().find(|r| &*r.route == "/unit-test/{id}").unwrap();
        assert_eq!(row.method, "_OTHER");
        assert_eq!(row.count, 2);
        assert_eq!(row.buckets[0], 1); // <= 5 ms
        assert_eq!(row.buckets[3], 2); // <= 50 ms
        let f = &families()[0];
        let s = f
            .series
            .iter()
            .find(|s| s.values[1] == "/unit-test/{id}")
            .unwrap();
        match &s.value {
            ExternalValue::Histogram { buckets, count, .. } => {
                assert_eq!(*count, 2);
                assert_eq!(buckets[0], (0.005, 1));
                assert_eq!(buckets[3], (0.05, 1));
                assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), 2);
            }
            v => panic!("{v:?}"),
        }
    }
}
