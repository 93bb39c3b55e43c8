//! `/metrics` in the OpenMetrics text format, written by `prometheus-client`.
//!
//! The exposition format is not ours to get right by hand: escaping, the
//! `_total` suffix of counters, histogram `_bucket`/`_sum`/`_count` lines, the
//! `+Inf` bucket and the final `# EOF` are what Prometheus' parser checks,
//! so [`crate::render`] hands every family to `prometheus-client`'s text
//! encoder (the Prometheus project's own Rust client, maintained under the
//! `prometheus` GitHub organisation).
//!
//! What chatobs keeps in its own registry ([`crate::registry`]) is the
//! *recording* side, which runs on the request path: borrowed label lookups
//! that allocate nothing, series bounded per family with an `_overflow`
//! series, and USD counters added as integer picodollars so sums stay exact.
//! `prometheus-client`'s `Family` looks a series up by an owned label set
//! (one allocation per record) and has no series bound, so it records, and
//! we only use it to encode. At scrape time each series becomes a constant
//! counter, gauge or histogram for the encoder.
//!
//! Two details of the format matter to users:
//! - counters are declared without `_total` (`# TYPE chatobs_spans counter`)
//!   and their samples keep it (`chatobs_spans_total 3`), as OpenMetrics
//!   requires; queries are unchanged;
//! - histogram bounds are written as floats (`le="5.0"`, not `le="5"`).
//!   Prometheus 3 normalises both spellings; for Prometheus 2 the rules that
//!   select one bucket ([`chatobs-alerts`]) match either spelling.
//!
//! [`chatobs-alerts`]: https://docs.rs/chatobs-alerts

use crate::registry::{Family, Kind, SeriesView};
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelValue, LabelValueEncoder, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use std::fmt::Write as _;

/// The content type of [`crate::render`]'s output (OpenMetrics 1.0 text).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A family kept by a crate built on this one (such as the HTTP server
/// histogram of the axum layer), handed to the encoder at each scrape.
#[derive(Clone, Debug, PartialEq)]
pub struct ExternalFamily {
    /// Prometheus name (a counter's ends in `_total`).
    pub name: &'static str,
    /// `# HELP` text.
    pub help: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// Label names, in order.
    pub labels: &'static [&'static str],
    /// The series.
    pub series: Vec<ExternalSeries>,
}

/// One series of an [`ExternalFamily`].
#[derive(Clone, Debug, PartialEq)]
pub struct ExternalSeries {
    /// Label values, in the order of [`ExternalFamily::labels`].
    pub values: Vec<String>,
    /// The value.
    pub value: ExternalValue,
}

/// The value of an [`ExternalSeries`].
#[derive(Clone, Debug, PartialEq)]
pub enum ExternalValue {
    /// A counter's or gauge's value.
    Scalar(f64),
    /// A histogram: `(upper bound, observations in this bucket alone)` for
    /// each finite bound, the sum and the count (observations above the last
    /// bound are `count` minus the buckets).
    Histogram {
        /// Non-cumulative counts per finite upper bound.
        buckets: Vec<(f64, u64)>,
        /// Sum of the observations.
        sum: f64,
        /// Number of observations.
        count: u64,
    },
}

/// A label value escaped as the text formats require (`\`, `"`, newline);
/// `prometheus-client` writes label values as given.
struct Escaped<'a>(&'a str);

impl EncodeLabelValue for Escaped<'_> {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        let s = self.0;
        let mut start = 0;
        for (i, c) in s.char_indices() {
            let esc = match c {
                '\\' => "\\\\",
                '"' => "\\\"",
                '\n' => "\\n",
                _ => continue,
            };
            encoder.write_str(&s[start..i])?;
            encoder.write_str(esc)?;
            start = i + c.len_utf8();
        }
        encoder.write_str(&s[start..])
    }
}

/// `# HELP` text escaped as OpenMetrics requires (app metrics bring their own).
fn help_text(help: &str) -> std::borrow::Cow<'_, str> {
    if help.contains(['\\', '\n', '"']) {
        help.replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('"', "\\\"")
            .into()
    } else {
        help.into()
    }
}

/// The descriptor name: a counter's without `_total` (the encoder adds it
/// back to every sample).
fn descriptor_name(name: &str, kind: Kind) -> &str {
    match kind {
        Kind::Counter => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    }
}

fn metric_type(kind: Kind) -> MetricType {
    match kind {
        Kind::Counter => MetricType::Counter,
        Kind::Gauge => MetricType::Gauge,
        Kind::Histogram => MetricType::Histogram,
    }
}

/// Encodes one series' value with `enc` (already scoped to its labels).
fn value(enc: &mut MetricEncoder<'_>, kind: Kind, v: &Value<'_>) -> std::fmt::Result {
    match (kind, v) {
        (Kind::Counter, Value::Int(n)) => enc.encode_counter::<NoLabelSet, _, u64>(n, None),
        (Kind::Counter, Value::Float(x)) => enc.encode_counter::<NoLabelSet, _, f64>(x, None),
        (Kind::Gauge, Value::Int(n)) => match i64::try_from(*n) {
            Ok(i) => enc.encode_gauge(&i),
            Err(_) => enc.encode_gauge(&(*n as f64)),
        },
        (Kind::Gauge, Value::Float(x)) => enc.encode_gauge(x),
        (
            _,
            Value::Hist {
                buckets,
                sum,
                count,
            },
        ) => {
            // The encoder accumulates; the last bucket is `+Inf` (f64::MAX).
            let finite: u64 = buckets.iter().map(|(_, c)| *c).sum();
            let count = (*count).max(finite);
            let mut all: Vec<(f64, u64)> = Vec::with_capacity(buckets.len() + 1);
            all.extend_from_slice(buckets);
            all.push((f64::MAX, count - finite));
            enc.encode_histogram::<NoLabelSet>(*sum, count, &all, None)
        }
        // A histogram family's series are histograms (the registry
        // guarantees it); anything else is skipped rather than mis-typed.
        (Kind::Histogram, _) => Ok(()),
    }
}

/// A series' value as the encoder takes it.
enum Value<'a> {
    Int(u64),
    Float(f64),
    Hist {
        buckets: &'a [(f64, u64)],
        sum: f64,
        count: u64,
    },
}

/// Writes one family: descriptor, then each series under its labels.
fn family<'v>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: Kind,
    labels: &[&str],
    series: impl Iterator<Item = (&'v [String], Value<'v>)>,
) -> std::fmt::Result {
    let mut series = series.peekable();
    if series.peek().is_none() {
        // Like the Go client: a family without series is not written.
        return Ok(());
    }
    let help = help_text(help);
    let mut m =
        enc.encode_descriptor(descriptor_name(name, kind), &help, None, metric_type(kind))?;
    for (values, v) in series {
        if labels.is_empty() {
            value(&mut m, kind, &v)?;
        } else {
            let set: Vec<(&str, Escaped<'_>)> = labels
                .iter()
                .zip(values)
                .map(|(n, v)| (*n, Escaped(v)))
                .collect();
            let mut scoped = m.encode_family(&set)?;
            value(&mut scoped, kind, &v)?;
        }
    }
    Ok(())
}

/// Writes a registry [`Family`].
pub(crate) fn encode_family(enc: &mut DescriptorEncoder<'_>, f: &Family) -> std::fmt::Result {
    let mut rows: Vec<(Vec<String>, Owned)> = Vec::new();
    f.visit(|values, v| {
        let owned = match v {
            SeriesView::Scalar(n) => scalar(n, f.scale),
            SeriesView::Hist(h) => Owned::Hist {
                buckets: h.buckets(),
                sum: h.sum(),
                count: h.count(),
            },
        };
        rows.push((values.to_vec(), owned));
    });
    family(
        enc,
        f.name,
        f.help,
        f.kind,
        f.labels,
        rows.iter().map(|(v, o)| (v.as_slice(), o.value())),
    )
}

/// Writes an [`ExternalFamily`].
pub(crate) fn encode_external(
    enc: &mut DescriptorEncoder<'_>,
    f: &ExternalFamily,
) -> std::fmt::Result {
    family(
        enc,
        f.name,
        f.help,
        f.kind,
        f.labels,
        f.series
            .iter()
            .filter(|s| s.values.len() == f.labels.len())
            .map(|s| {
                let v = match &s.value {
                    ExternalValue::Scalar(x) => Value::Float(*x),
                    ExternalValue::Histogram {
                        buckets,
                        sum,
                        count,
                    } => Value::Hist {
                        buckets,
                        sum: *sum,
                        count: *count,
                    },
                };
                (s.values.as_slice(), v)
            }),
    )
}

enum Owned {
    Int(u64),
    Float(f64),
    Hist {
        buckets: Vec<(f64, u64)>,
        sum: f64,
        count: u64,
    },
}

impl Owned {
    fn value(&self) -> Value<'_> {
        match self {
            Owned::Int(n) => Value::Int(*n),
            Owned::Float(x) => Value::Float(*x),
            Owned::Hist {
                buckets,
                sum,
                count,
            } => Value::Hist {
                buckets,
                sum: *sum,
                count: *count,
            },
        }
    }
}

/// An integer count of `1/scale` units: exact integers stay integers; other
/// scales go through a decimal division to the nearest f64 (what the scraper
/// stores anyway), so `270000000 / 10^12` is written `0.00027`.
fn scalar(n: u64, scale: u64) -> Owned {
    if scale <= 1 {
        return Owned::Int(n);
    }
    use rust_decimal::prelude::ToPrimitive;
    let x = rust_decimal::Decimal::from(n)
        .checked_div(rust_decimal::Decimal::from(scale))
        .and_then(|d| d.to_f64())
        .unwrap_or(n as f64 / scale as f64);
    Owned::Float(x)
}

/// A collector over everything `/metrics` serves, for `prometheus-client`'s
/// registry.
#[derive(Debug)]
pub(crate) struct All;

impl prometheus_client::collector::Collector for All {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> std::fmt::Result {
        crate::encode_all(&mut enc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: &ExternalFamily) -> String {
        #[derive(Debug)]
        struct One(ExternalFamily);
        impl prometheus_client::collector::Collector for One {
            fn encode(&self, mut enc: DescriptorEncoder<'_>) -> std::fmt::Result {
                encode_external(&mut enc, &self.0)
            }
        }
        let mut r = prometheus_client::registry::Registry::default();
        r.register_collector(Box::new(One(f.clone())));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        out
    }

    #[test]
    fn hostile_label_values_and_help_are_escaped() {
        let f = ExternalFamily {
            name: "t_requests_total",
            help: "Requests \"quoted\"\nand a \\ backslash.",
            kind: Kind::Counter,
            labels: &["route"],
            series: vec![ExternalSeries {
                values: vec!["/a\"b\\c\nd".into()],
                value: ExternalValue::Scalar(2.0),
            }],
        };
        let out = render(&f);
        assert!(
            out.contains(r#"t_requests_total{route="/a\"b\\c\nd"} 2.0"#),
            "{out}"
        );
        assert!(
            out.contains(r#"# HELP t_requests Requests \"quoted\"\nand a \\ backslash."#),
            "{out}"
        );
        assert!(out.contains("# TYPE t_requests counter\n"), "{out}");
        assert!(out.ends_with("# EOF\n"), "{out}");
    }

    #[test]
    fn histogram_buckets_accumulate_and_end_in_inf() {
        let f = ExternalFamily {
            name: "t_seconds",
            help: "t",
            kind: Kind::Histogram,
            labels: &[],
            series: vec![ExternalSeries {
                values: vec![],
                value: ExternalValue::Histogram {
                    buckets: vec![(0.5, 1), (5.0, 2)],
                    sum: 12.25,
                    count: 4,
                },
            }],
        };
        let out = render(&f);
        for line in [
            "t_seconds_sum 12.25",
            "t_seconds_count 4",
            "t_seconds_bucket{le=\"0.5\"} 1",
            "t_seconds_bucket{le=\"5.0\"} 3",
            "t_seconds_bucket{le=\"+Inf\"} 4",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} in\n{out}");
        }
    }

    #[test]
    fn a_family_without_series_writes_nothing_and_wrong_arity_is_skipped() {
        let f = ExternalFamily {
            name: "t_g",
            help: "t",
            kind: Kind::Gauge,
            labels: &["a"],
            series: vec![ExternalSeries {
                values: vec![],
                value: ExternalValue::Scalar(1.0),
            }],
        };
        assert_eq!(render(&f), "# EOF\n");
    }

    #[test]
    fn picodollars_print_as_short_decimals() {
        match scalar(270_000_000, 1_000_000_000_000) {
            Owned::Float(x) => assert_eq!(x, 0.00027),
            _ => panic!("a float"),
        }
    }
}
