//! Your own metrics next to chatobs': counters, gauges and histograms with
//! bounded labels, served on `/metrics` with the rest (and over OTLP when the
//! OTLP metrics mirror is on).
//!
//! ```
//! use chatobs_runtime::metrics::app;
//! let orders = app::counter("shop_orders_total", "Orders placed, by channel.", &["channel"]).unwrap();
//! orders.inc(&["whatsapp"]);
//! let basket = app::histogram("shop_basket_usd", "Basket value, USD.", &["channel"], &[5.0, 20.0, 100.0]).unwrap();
//! basket.observe(&["whatsapp"], 42.5);
//! let queue = app::gauge("shop_open_tickets", "Tickets waiting for an operator.", &[]).unwrap();
//! queue.set(&[], 7.0);
//! // The same name again is the same metric; another kind is an error.
//! assert!(app::counter("shop_orders_total", "Orders placed, by channel.", &["channel"]).is_ok());
//! assert!(app::gauge("shop_orders_total", "x", &["channel"]).is_err());
//! ```
//!
//! Labels are bounded like chatobs' own: a value longer than 128 bytes or
//! with characters outside printable ASCII becomes `_invalid`, and a metric
//! keeps at most `metrics.max_series_per_metric` label sets (the rest share
//! the `_overflow` series, counted in `chatobs_metric_series_overflow_total`).
//! Never put a session id, a phone number or a user id in a label.

use crate::registry::{Family, Kind};
use std::sync::{Arc, RwLock};

/// At most this many app metrics (their names and label names are kept for
/// the life of the process).
pub const MAX_APP_METRICS: usize = 256;

/// Why a metric could not be registered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppMetricError {
    /// Not a Prometheus name, or one chatobs reserves.
    #[error("metric name {0:?}: {1}")]
    Name(String, &'static str),
    /// A label name that is not a Prometheus label name.
    #[error(
        "label name {0:?} of metric {1:?}: expected [a-zA-Z_][a-zA-Z0-9_]*, not starting with __"
    )]
    Label(String, String),
    /// The name is taken by a metric of another kind, labels or buckets.
    #[error("metric {0:?} is already registered as another kind, or with other labels or buckets")]
    Conflict(String),
    /// Bad histogram buckets.
    #[error("buckets of {0:?}: give 1 to 64 finite, strictly increasing, positive bounds")]
    Buckets(String),
    /// Too many app metrics.
    #[error("at most {MAX_APP_METRICS} app metrics can be registered")]
    TooMany,
}

static APP: RwLock<Vec<Arc<Family>>> = RwLock::new(Vec::new());

fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b':')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

fn valid_label(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && !n.starts_with("__")
        && n != "le"
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

fn register(
    name: &str,
    help: &str,
    kind: Kind,
    labels: &[&str],
    scale: u64,
    buckets: &[f64],
) -> Result<Arc<Family>, AppMetricError> {
    if !valid_name(name) {
        return Err(AppMetricError::Name(
            name.chars().take(64).collect(),
            "expected [a-zA-Z_:][a-zA-Z0-9_:]*, at most 128 bytes",
        ));
    }
    for reserved in ["chatobs_", "gen_ai_", "http_server_", "http_client_"] {
        if name.starts_with(reserved) {
            return Err(AppMetricError::Name(
                name.into(),
                "this prefix is chatobs' own: give your metrics your app's prefix",
            ));
        }
    }
    if kind == Kind::Counter && !name.ends_with("_total") {
        return Err(AppMetricError::Name(
            name.into(),
            "a counter's name ends in _total (Prometheus convention)",
        ));
    }
    if let Some(l) = labels.iter().find(|l| !valid_label(l)) {
        return Err(AppMetricError::Label((*l).into(), name.into()));
    }
    let mut set = APP.write().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = set.iter().find(|f| f.name == name) {
        let same = f.kind == kind
            && f.labels.len() == labels.len()
            && f.labels.iter().zip(labels).all(|(a, b)| a == b)
            && (kind != Kind::Histogram || &*f.bounds() == buckets);
        return if same {
            Ok(f.clone())
        } else {
            Err(AppMetricError::Conflict(name.into()))
        };
    }
    if set.len() >= MAX_APP_METRICS {
        return Err(AppMetricError::TooMany);
    }
    // Kept for the life of the process (at most MAX_APP_METRICS of them).
    let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
    let labels: &'static [&'static str] = Box::leak(
        labels
            .iter()
            .map(|l| leak(l))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let help: String = help.chars().filter(|c| !c.is_control()).take(256).collect();
    let f = Arc::new(Family::new(
        leak(name),
        leak(&help),
        kind,
        labels,
        scale,
        buckets,
    ));
    f.reset(None, crate::max_series());
    set.push(f.clone());
    Ok(f)
}

/// A counter of yours.
#[derive(Clone, Debug)]
pub struct AppCounter(Arc<Family>);
/// A gauge of yours (values from 0, six decimals kept).
#[derive(Clone, Debug)]
pub struct AppGauge(Arc<Family>);
/// A histogram of yours.
#[derive(Clone, Debug)]
pub struct AppHistogram(Arc<Family>);

const GAUGE_SCALE: u64 = 1_000_000;

/// Registers (or finds) a counter: its name ends in `_total`.
pub fn counter(name: &str, help: &str, labels: &[&str]) -> Result<AppCounter, AppMetricError> {
    register(name, help, Kind::Counter, labels, 1, &[]).map(AppCounter)
}

/// Registers (or finds) a gauge.
pub fn gauge(name: &str, help: &str, labels: &[&str]) -> Result<AppGauge, AppMetricError> {
    register(name, help, Kind::Gauge, labels, GAUGE_SCALE, &[]).map(AppGauge)
}

/// Registers (or finds) a histogram with these bucket bounds.
pub fn histogram(
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> Result<AppHistogram, AppMetricError> {
    let ok = !buckets.is_empty()
        && buckets.len() <= 64
        && buckets.iter().all(|b| b.is_finite() && *b > 0.0)
        && buckets.windows(2).all(|w| w[0] < w[1]);
    if !ok {
        return Err(AppMetricError::Buckets(name.chars().take(64).collect()));
    }
    register(name, help, Kind::Histogram, labels, 1, buckets).map(AppHistogram)
}

/// The label values bounded like chatobs' own, or `None` (counted, warned
/// once) when there are not as many as the metric has labels.
fn bounded<'a>(f: &Family, values: &[&'a str]) -> Option<Vec<&'a str>> {
    if values.len() != f.labels.len() {
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| {
            tracing::warn!(
                target: "chatobs::metrics",
                metric = f.name,
                expected = f.labels.len(),
                got = values.len(),
                "an app metric was given a wrong number of label values: the value was not recorded (this is logged once; every such value is counted in chatobs_metric_series_overflow_total{{metric}})"
            );
        });
        crate::count_dropped(f.name);
        return None;
    }
    Some(
        values
            .iter()
            .map(|v| crate::registry::label_value(v))
            .collect(),
    )
}

impl AppCounter {
    /// Adds 1 to the series of these label values (in the order registered).
    pub fn inc(&self, values: &[&str]) {
        self.add(values, 1);
    }
    /// Adds `n`.
    pub fn add(&self, values: &[&str], n: u64) {
        let Some(values) = bounded(&self.0, values) else {
            return;
        };
        if let Some(s) = self.0.scalar(&values) {
            s.add(n);
        }
        crate::mirror(|m| {
            m.app(
                self.0.name,
                self.0.help,
                Kind::Counter,
                self.0.labels,
                &values,
                n as f64,
            )
        });
    }
}

impl AppGauge {
    /// Sets the series to `v` (from 0; a negative or non-finite value is ignored).
    pub fn set(&self, values: &[&str], v: f64) {
        if !(v.is_finite() && v >= 0.0) {
            return;
        }
        let Some(values) = bounded(&self.0, values) else {
            return;
        };
        if let Some(s) = self.0.scalar(&values) {
            s.set((v * GAUGE_SCALE as f64).round().min(u64::MAX as f64) as u64);
        }
        crate::mirror(|m| {
            m.app(
                self.0.name,
                self.0.help,
                Kind::Gauge,
                self.0.labels,
                &values,
                v,
            )
        });
    }
}

impl AppHistogram {
    /// Records one value.
    pub fn observe(&self, values: &[&str], v: f64) {
        let Some(values) = bounded(&self.0, values) else {
            return;
        };
        if let Some(h) = self.0.hist(&values) {
            h.observe(v);
        }
        crate::mirror(|m| {
            m.app(
                self.0.name,
                self.0.help,
                Kind::Histogram,
                self.0.labels,
                &values,
                v,
            )
        });
    }
}

/// Writes the app metrics (what [`crate::render`] adds after chatobs' own).
pub(crate) fn encode(
    enc: &mut prometheus_client::encoding::DescriptorEncoder<'_>,
) -> std::fmt::Result {
    let app: Vec<Arc<Family>> = APP.read().unwrap_or_else(|e| e.into_inner()).clone();
    for f in app {
        crate::exposition::encode_family(enc, &f)?;
    }
    Ok(())
}
