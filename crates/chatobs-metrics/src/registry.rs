//! A small metric registry: counters and histograms with bounded label sets,
//! atomics per series; [`crate::exposition`] writes them out.

pub use chatobs_core::vocab::format_float;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Label values are hashed on every recording: foldhash (hashbrown's own
/// default hasher) instead of SipHash, about half the time on short labels.
/// Most label values come from the application (model names, markets);
/// those that can come from outside (an error type a provider answered)
/// meet a per-process random seed and a map of at most `max_series` entries.
type SeriesHasher = foldhash::fast::RandomState;

/// What a family is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic counter.
    Counter,
    /// Value that goes up and down.
    Gauge,
    /// Histogram with fixed buckets.
    Histogram,
}

/// One series of a counter or gauge. Values are kept as integers of
/// `1 / scale` (USD counters use picodollars, so sums stay exact).
#[derive(Debug, Default)]
pub struct Scalar(AtomicU64);

impl Scalar {
    /// Adds `n` units.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Sets the value (gauges, and counters mirrored from another counter).
    #[inline]
    pub fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }
    /// The value in units.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One histogram series.
#[derive(Debug)]
pub struct Hist {
    bounds: Arc<[f64]>,
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_bits: AtomicU64,
}

/// Observations of one histogram counted locally, without atomics, and
/// added to it in one step ([`Hist::add_tally`]): the export thread
/// observes a batch's spans, mostly of a few series in a row, this way.
#[derive(Debug)]
pub struct Tally {
    bounds: Arc<[f64]>,
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Tally {
    /// Counts one observation (NaN is ignored, as [`Hist::observe`] does).
    #[inline]
    pub fn observe(&mut self, v: f64) {
        if v.is_nan() {
            return;
        }
        // A linear scan: the export thread's durations mostly fall in the
        // first buckets, where it stops after a compare or two (a binary
        // search's dependent compares were a quarter of observe_spans).
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        if let Some(b) = self.buckets.get_mut(i) {
            *b = b.saturating_add(1);
        }
        self.count = self.count.saturating_add(1);
        self.sum += v;
    }
    /// Whether this tally counts for a histogram with these bounds.
    pub fn fits(&self, h: &Hist) -> bool {
        Arc::ptr_eq(&self.bounds, &h.bounds) || *self.bounds == *h.bounds
    }
}

impl Hist {
    fn new(bounds: Arc<[f64]>) -> Hist {
        let buckets = (0..bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Hist {
            bounds,
            buckets,
            count: AtomicU64::new(0),
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }
    }
    /// Records one observation.
    pub fn observe(&self, v: f64) {
        if v.is_nan() {
            return;
        }
        // Buckets are stored non-cumulative; `le` is inclusive.
        let i = self.bounds.partition_point(|b| *b < v);
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.add_sum(v);
    }
    /// Adds `v` to the sum (a float in an atomic word: compare and swap).
    fn add_sum(&self, v: f64) {
        let mut cur = self.sum_bits.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(cur) + v).to_bits();
            match self.sum_bits.compare_exchange_weak(
                cur,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(c) => cur = c,
            }
        }
    }
    /// Adds what a [`Tally`] collected for this histogram: one atomic
    /// addition per bucket it touched, plus the count and the sum.
    pub fn add_tally(&self, t: &mut Tally) {
        if t.count == 0 {
            return;
        }
        for (b, n) in self.buckets.iter().zip(t.buckets.iter_mut()) {
            if *n > 0 {
                b.fetch_add(*n, Ordering::Relaxed);
                *n = 0;
            }
        }
        self.count.fetch_add(t.count, Ordering::Relaxed);
        self.add_sum(t.sum);
        t.count = 0;
        t.sum = 0.0;
    }
    /// A tally for observations of this histogram made in a loop (the
    /// export thread's batch), added at once with [`Hist::add_tally`].
    pub fn tally(&self) -> Tally {
        Tally {
            bounds: self.bounds.clone(),
            buckets: vec![0; self.buckets.len()],
            count: 0,
            sum: 0.0,
        }
    }
    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
    /// Sum of the observations.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.sum_bits.load(Ordering::Relaxed))
    }
    /// Counts per finite bound, each bucket alone (observations above the
    /// last bound are [`Hist::count`] minus their sum).
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        self.bounds
            .iter()
            .zip(self.buckets.iter())
            .map(|(b, c)| (*b, c.load(Ordering::Relaxed)))
            .collect()
    }
    /// Cumulative counts per bound (without `+Inf`, which is [`Hist::count`]).
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut acc = 0;
        self.bounds
            .iter()
            .zip(self.buckets.iter())
            .map(|(b, c)| {
                acc += c.load(Ordering::Relaxed);
                (*b, acc)
            })
            .collect()
    }
}

enum Series {
    Scalar(Arc<Scalar>),
    Hist(Arc<Hist>),
}

/// A metric family: name, help, label names, series by label values.
pub struct Family {
    /// Prometheus name (counters end in `_total`).
    pub name: &'static str,
    /// `# HELP` text.
    pub help: &'static str,
    /// Kind.
    pub kind: Kind,
    /// Label names, in order.
    pub labels: &'static [&'static str],
    /// Units per 1.0 of the exported value (1 for counts, 10^12 for USD).
    pub scale: u64,
    bounds: RwLock<Arc<[f64]>>,
    series: RwLock<HashMap<Key, Series, SeriesHasher>>,
    max_series: AtomicU64,
    overflowed: AtomicU64,
}

impl std::fmt::Debug for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Family").field("name", &self.name).finish()
    }
}

impl Family {
    /// A family.
    pub fn new(
        name: &'static str,
        help: &'static str,
        kind: Kind,
        labels: &'static [&'static str],
        scale: u64,
        bounds: &[f64],
    ) -> Family {
        Family {
            name,
            help,
            kind,
            labels,
            scale: scale.max(1),
            bounds: RwLock::new(bounds.into()),
            series: RwLock::new(HashMap::default()),
            max_series: AtomicU64::new(2000),
            overflowed: AtomicU64::new(0),
        }
    }

    /// Replaces the buckets and forgets every series.
    pub fn reset(&self, bounds: Option<&[f64]>, max_series: usize) {
        if let Some(b) = bounds {
            *self.bounds.write().unwrap_or_else(|e| e.into_inner()) = b.into();
        }
        self.max_series.store(max_series as u64, Ordering::Relaxed);
        self.series
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.overflowed.store(0, Ordering::Relaxed);
    }

    /// The histogram buckets.
    pub fn bounds(&self) -> Arc<[f64]> {
        self.bounds
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Series folded into the overflow series so far.
    pub fn overflowed(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }

    fn get_or_insert(&self, values: &[&str]) -> Option<SeriesRef> {
        debug_assert_eq!(values.len(), self.labels.len());
        {
            let map = self.series.read().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = find(&map, values) {
                return Some(s);
            }
        }
        let mut map = self.series.write().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = find(&map, values) {
            return Some(s);
        }
        let over = map.len() as u64 >= self.max_series.load(Ordering::Relaxed);
        let key: Key = Key(if over {
            // Bounded: past the limit every new label set lands in one series.
            self.overflowed.fetch_add(1, Ordering::Relaxed);
            self.labels
                .iter()
                .map(|_| chatobs_core::vocab::LABEL_OVERFLOW.to_owned())
                .collect()
        } else {
            values.iter().map(|v| (*v).to_owned()).collect()
        });
        let bounds = self.bounds();
        let s = map.entry(key).or_insert_with(|| match self.kind {
            Kind::Histogram => Series::Hist(Arc::new(Hist::new(bounds))),
            _ => Series::Scalar(Arc::default()),
        });
        Some(match s {
            Series::Scalar(c) => SeriesRef::Scalar(c.clone()),
            Series::Hist(h) => SeriesRef::Hist(h.clone()),
        })
    }

    /// Calls `f` on the series with these label values (created on first
    /// use), under the read lock: no reference count is taken on the way.
    fn with_series<R>(&self, values: &[&str], f: impl FnOnce(&Series) -> R) -> Option<R> {
        {
            let map = self.series.read().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = map.get(&Lookup(values) as &dyn LabelValues) {
                return Some(f(s));
            }
        }
        Some(match self.get_or_insert(values)? {
            SeriesRef::Scalar(c) => f(&Series::Scalar(c)),
            SeriesRef::Hist(h) => f(&Series::Hist(h)),
        })
    }

    /// Adds `n` units to the counter or gauge series with these label
    /// values (nothing for a histogram family).
    pub fn add(&self, values: &[&str], n: u64) {
        self.with_series(values, |s| {
            if let Series::Scalar(c) = s {
                c.add(n)
            }
        });
    }

    /// Records `v` in the histogram series with these label values (nothing
    /// for a counter or gauge family).
    pub fn observe(&self, values: &[&str], v: f64) {
        self.with_series(values, |s| {
            if let Series::Hist(h) = s {
                h.observe(v)
            }
        });
    }

    /// The counter or gauge series with these label values.
    pub fn scalar(&self, values: &[&str]) -> Option<Arc<Scalar>> {
        match self.get_or_insert(values)? {
            SeriesRef::Scalar(c) => Some(c),
            SeriesRef::Hist(_) => None,
        }
    }

    /// The histogram series with these label values.
    pub fn hist(&self, values: &[&str]) -> Option<Arc<Hist>> {
        match self.get_or_insert(values)? {
            SeriesRef::Hist(h) => Some(h),
            SeriesRef::Scalar(_) => None,
        }
    }

    /// Every series: label values and value (scalars) or the histogram.
    pub fn visit(&self, mut f: impl FnMut(&[String], SeriesView<'_>)) {
        let map = self.series.read().unwrap_or_else(|e| e.into_inner());
        let mut series: Vec<(&Key, &Series)> = map.iter().collect();
        series.sort_by(|a, b| a.0 .0.cmp(&b.0 .0));
        for (k, s) in series {
            match s {
                Series::Scalar(c) => f(&k.0, SeriesView::Scalar(c.get())),
                Series::Hist(h) => f(&k.0, SeriesView::Hist(h)),
            }
        }
    }
}

enum SeriesRef {
    Scalar(Arc<Scalar>),
    Hist(Arc<Hist>),
}

/// A series' value while visiting.
pub enum SeriesView<'a> {
    /// Counter or gauge value, in units.
    Scalar(u64),
    /// A histogram.
    Hist(&'a Hist),
}

fn find(map: &HashMap<Key, Series, SeriesHasher>, values: &[&str]) -> Option<SeriesRef> {
    map.get(&Lookup(values) as &dyn LabelValues)
        .map(|s| match s {
            Series::Scalar(c) => SeriesRef::Scalar(c.clone()),
            Series::Hist(h) => SeriesRef::Hist(h.clone()),
        })
}

/// A series' label values as stored.
struct Key(Box<[String]>);

// Hash and equality go through `dyn LabelValues`, the same code a lookup uses.
impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        (self as &dyn LabelValues).hash(h);
    }
}
impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        (self as &dyn LabelValues) == (other as &dyn LabelValues)
    }
}
impl Eq for Key {}

/// Label values as looked up: borrowed, so recording a metric allocates nothing.
struct Lookup<'a>(&'a [&'a str]);

/// What [`Key`] and [`Lookup`] share, so a map keyed by `Key` can be
/// searched with a `Lookup` (both hash and compare as their values).
trait LabelValues {
    fn len(&self) -> usize;
    fn at(&self, i: usize) -> &str;
}

impl LabelValues for Key {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn at(&self, i: usize) -> &str {
        &self.0[i]
    }
}

impl LabelValues for Lookup<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn at(&self, i: usize) -> &str {
        self.0[i]
    }
}

impl std::hash::Hash for dyn LabelValues + '_ {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        // As `[String]` hashes: the length, then each value.
        h.write_usize(self.len());
        for i in 0..self.len() {
            self.at(i).hash(h);
        }
    }
}

impl PartialEq for dyn LabelValues + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && (0..self.len()).all(|i| self.at(i) == other.at(i))
    }
}
impl Eq for dyn LabelValues + '_ {}

impl<'a> std::borrow::Borrow<dyn LabelValues + 'a> for Key {
    fn borrow(&self) -> &(dyn LabelValues + 'a) {
        self
    }
}

/// A bounded label value: at most 128 characters (longer values are cut).
pub fn label_value(v: &str) -> &str {
    if v.is_empty() {
        return chatobs_core::vocab::LABEL_NONE;
    }
    // At most 128 bytes is at most 128 characters.
    if v.len() <= 128 {
        return v;
    }
    match v.char_indices().nth(128) {
        Some((i, _)) => &v[..i],
        None => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_lookups_find_owned_series() {
        let f = Family::new("t_total", "t", Kind::Counter, &["a", "b"], 1, &[]);
        let x = f.scalar(&["1", "2"]).unwrap();
        let y = f.scalar(&["1", "2"]).unwrap();
        assert!(Arc::ptr_eq(&x, &y), "the same series");
        // Values that would collide if they were joined.
        let z = f.scalar(&["12", ""]).unwrap();
        assert!(!Arc::ptr_eq(&x, &z));
        let w = f.scalar(&["", "12"]).unwrap();
        assert!(!Arc::ptr_eq(&z, &w));
        let mut seen = Vec::new();
        f.visit(|v, _| seen.push(v.to_vec()));
        assert_eq!(seen.len(), 3);
    }

    proptest::proptest! {
        /// A tally added at once leaves a histogram as the same values
        /// observed one by one would: the same buckets (values on a bound,
        /// above the last, negative, infinite, NaN), the same count, the sum
        /// within rounding (the tally adds in another order).
        #[test]
        fn a_tally_equals_observing_one_by_one(
            picks in proptest::collection::vec((0usize..8, -1e6f64..1e6), 0..200),
            split in 0usize..200,
        ) {
            let bounds: Arc<[f64]> = Arc::from(vec![0.001, 0.01, 0.1, 1.0, 10.0]);
            let special = [0.001, 0.01, 10.0, -1.0, f64::INFINITY, f64::NAN, 0.0, 1e9];
            let values: Vec<f64> = picks
                .iter()
                .map(|(i, x)| if *i < 4 { special[*i * 2 % 8] } else if *i < 6 { special[*i] } else { *x })
                .collect();
            let one = Hist::new(bounds.clone());
            let many = Hist::new(bounds);
            let mut t = many.tally();
            for (k, v) in values.iter().enumerate() {
                one.observe(*v);
                t.observe(*v);
                // Added in two steps: the tally is empty again after each.
                if k == split {
                    many.add_tally(&mut t);
                }
            }
            many.add_tally(&mut t);
            proptest::prop_assert_eq!(one.buckets(), many.buckets());
            proptest::prop_assert_eq!(one.count(), many.count());
            let (a, b) = (one.sum(), many.sum());
            let magnitude: f64 = values.iter().filter(|v| v.is_finite()).map(|v| v.abs()).sum();
            let close = a == b || (a - b).abs() <= 1e-12 * (magnitude + 1.0);
            proptest::prop_assert!(close, "sums {} and {}", a, b);
        }
    }
}
