//! Lookout's own telemetry: a small metrics registry that renders both
//! Prometheus text exposition 0.0.4 and OpenMetrics 1.0.
//!
//! Why our own: the Rust clients each speak one of the two formats
//! (`prometheus-client` only OpenMetrics, `metrics-exporter-prometheus` only
//! 0.0.4), and `/metrics` must answer with either depending on `Accept`.
//! The registry is tiny: counters, gauges and histograms with fixed label
//! names, plus "collectors" that read a value at scrape time (process RSS,
//! queue depths).
//!
//! Metric handles are cheap `Arc`s around atomics; hot paths hold a
//! pre-resolved child (`CounterVec::with`) instead of looking labels up per
//! event.

mod process;

use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

pub use process::{ProcessStats, register_process_metrics};

/// Which exposition format to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    Prometheus,
    /// OpenMetrics 1.0 (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics,
}

impl Format {
    /// Picks the format from an HTTP `Accept` header.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    /// The `Content-Type` to answer with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// A monotonically increasing count.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Adds `n`.
    pub fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (stored as f64 bits).
#[derive(Debug, Clone, Default)]
pub struct Gauge(Arc<AtomicU64>);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
    /// Adds `d` (may be negative).
    pub fn add(&self, d: f64) {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(cur) + d).to_bits();
            match self
                .0
                .compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
}

#[derive(Debug)]
struct HistogramInner {
    bounds: Vec<f64>,
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum: Gauge,
}

/// A distribution of observations in fixed buckets.
#[derive(Debug, Clone)]
pub struct Histogram(Arc<HistogramInner>);

impl Histogram {
    fn new(bounds: &[f64]) -> Self {
        Histogram(Arc::new(HistogramInner {
            bounds: bounds.to_vec(),
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: Gauge::default(),
        }))
    }
    /// Records one observation.
    pub fn observe(&self, v: f64) {
        let h = &self.0;
        if let Some(i) = h.bounds.iter().position(|b| v <= *b) {
            h.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        h.count.fetch_add(1, Ordering::Relaxed);
        h.sum.add(v);
    }
    /// Number of observations so far.
    pub fn count(&self) -> u64 {
        self.0.count.load(Ordering::Relaxed)
    }
}

/// Default latency buckets, in seconds (1 ms .. 10 s).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone)]
enum Child {
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

type CollectFn = dyn Fn() -> Vec<(Vec<String>, f64)> + Send + Sync;

struct Family {
    name: String,
    help: String,
    kind: Kind,
    label_names: Vec<String>,
    buckets: Vec<f64>,
    children: RwLock<BTreeMap<Vec<String>, Child>>,
    collect: Option<Box<CollectFn>>,
}

impl std::fmt::Debug for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Family").field("name", &self.name).finish()
    }
}

impl Family {
    fn child(&self, values: &[&str]) -> Child {
        assert_eq!(
            values.len(),
            self.label_names.len(),
            "metric {} takes labels {:?}",
            self.name,
            self.label_names
        );
        let key: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        if let Some(c) = self.children.read().get(&key) {
            return c.clone();
        }
        let mut w = self.children.write();
        w.entry(key)
            .or_insert_with(|| match self.kind {
                Kind::Counter => Child::Counter(Counter::default()),
                Kind::Gauge => Child::Gauge(Gauge::default()),
                Kind::Histogram => Child::Histogram(Histogram::new(&self.buckets)),
            })
            .clone()
    }
}

/// A family of counters sharing a name and label names.
#[derive(Debug, Clone)]
pub struct CounterVec(Arc<Family>);
impl CounterVec {
    /// The child for these label values (in label-name order).
    pub fn with(&self, values: &[&str]) -> Counter {
        match self.0.child(values) {
            Child::Counter(c) => c,
            _ => unreachable!("family kind is fixed at registration"),
        }
    }
}

/// A family of gauges.
#[derive(Debug, Clone)]
pub struct GaugeVec(Arc<Family>);
impl GaugeVec {
    /// The child for these label values.
    pub fn with(&self, values: &[&str]) -> Gauge {
        match self.0.child(values) {
            Child::Gauge(g) => g,
            _ => unreachable!("family kind is fixed at registration"),
        }
    }
}

/// A family of histograms.
#[derive(Debug, Clone)]
pub struct HistogramVec(Arc<Family>);
impl HistogramVec {
    /// The child for these label values.
    pub fn with(&self, values: &[&str]) -> Histogram {
        match self.0.child(values) {
            Child::Histogram(h) => h,
            _ => unreachable!("family kind is fixed at registration"),
        }
    }
}

/// A set of metric families, rendered together.
#[derive(Debug, Default)]
pub struct Registry {
    families: RwLock<BTreeMap<String, Arc<Family>>>,
}

/// The process-wide registry that `/metrics` renders.
pub fn global() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Registry::default)
}

impl Registry {
    fn register(
        &self,
        name: &str,
        help: &str,
        kind: Kind,
        labels: &[&str],
        buckets: &[f64],
        collect: Option<Box<CollectFn>>,
    ) -> Arc<Family> {
        let mut fams = self.families.write();
        if let Some(f) = fams.get(name) {
            assert!(
                f.kind == kind && f.label_names.len() == labels.len(),
                "metric {name} registered twice with different shapes"
            );
            return f.clone();
        }
        let fam = Arc::new(Family {
            name: name.to_string(),
            help: help.to_string(),
            kind,
            label_names: labels.iter().map(|s| s.to_string()).collect(),
            buckets: buckets.to_vec(),
            children: RwLock::new(BTreeMap::new()),
            collect,
        });
        fams.insert(name.to_string(), fam.clone());
        fam
    }

    /// Registers (or returns the existing) counter family. `name` is given
    /// without the `_total` suffix; it is added on output.
    pub fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> CounterVec {
        CounterVec(self.register(name, help, Kind::Counter, labels, &[], None))
    }
    /// A counter without labels.
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        self.counter_vec(name, help, &[]).with(&[])
    }
    /// Registers a gauge family.
    pub fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
        GaugeVec(self.register(name, help, Kind::Gauge, labels, &[], None))
    }
    /// A gauge without labels.
    pub fn gauge(&self, name: &str, help: &str) -> Gauge {
        self.gauge_vec(name, help, &[]).with(&[])
    }
    /// Registers a histogram family with the given upper bounds.
    pub fn histogram_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> HistogramVec {
        HistogramVec(self.register(name, help, Kind::Histogram, labels, buckets, None))
    }
    /// A gauge family whose samples are read by `f` at render time.
    pub fn gauge_fn(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        f: impl Fn() -> Vec<(Vec<String>, f64)> + Send + Sync + 'static,
    ) {
        self.register(name, help, Kind::Gauge, labels, &[], Some(Box::new(f)));
    }
    /// A counter family whose samples are read by `f` at render time.
    pub fn counter_fn(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        f: impl Fn() -> Vec<(Vec<String>, f64)> + Send + Sync + 'static,
    ) {
        self.register(name, help, Kind::Counter, labels, &[], Some(Box::new(f)));
    }

    /// Renders every family in `format`.
    pub fn render(&self, format: Format) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let fams: Vec<Arc<Family>> = self.families.read().values().cloned().collect();
        for fam in fams {
            render_family(&mut out, &fam, format);
        }
        if format == Format::OpenMetrics {
            out.push_str("# EOF\n");
        }
        out
    }
}

fn render_family(out: &mut String, fam: &Family, format: Format) {
    let type_name = match fam.kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Histogram => "histogram",
    };
    // In 0.0.4 the counter family is named with its `_total` suffix; in
    // OpenMetrics the family name omits it and the sample carries it.
    let family_name = match (fam.kind, format) {
        (Kind::Counter, Format::Prometheus) => format!("{}_total", fam.name),
        _ => fam.name.clone(),
    };
    let _ = writeln!(out, "# HELP {} {}", family_name, escape_help(&fam.help));
    let _ = writeln!(out, "# TYPE {} {}", family_name, type_name);

    if let Some(collect) = &fam.collect {
        for (values, v) in collect() {
            let suffix = if fam.kind == Kind::Counter {
                "_total"
            } else {
                ""
            };
            sample(out, &fam.name, suffix, &fam.label_names, &values, None, v);
        }
        return;
    }
    let children = fam.children.read();
    for (values, child) in children.iter() {
        match child {
            Child::Counter(c) => sample(
                out,
                &fam.name,
                "_total",
                &fam.label_names,
                values,
                None,
                c.get() as f64,
            ),
            Child::Gauge(g) => sample(out, &fam.name, "", &fam.label_names, values, None, g.get()),
            Child::Histogram(h) => {
                let mut cumulative = 0u64;
                for (i, b) in h.0.bounds.iter().enumerate() {
                    cumulative += h.0.buckets[i].load(Ordering::Relaxed);
                    sample(
                        out,
                        &fam.name,
                        "_bucket",
                        &fam.label_names,
                        values,
                        Some(&format_float(*b)),
                        cumulative as f64,
                    );
                }
                let count = h.0.count.load(Ordering::Relaxed);
                sample(
                    out,
                    &fam.name,
                    "_bucket",
                    &fam.label_names,
                    values,
                    Some("+Inf"),
                    count as f64,
                );
                sample(
                    out,
                    &fam.name,
                    "_sum",
                    &fam.label_names,
                    values,
                    None,
                    h.0.sum.get(),
                );
                sample(
                    out,
                    &fam.name,
                    "_count",
                    &fam.label_names,
                    values,
                    None,
                    count as f64,
                );
            }
        }
    }
}

fn sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    names: &[String],
    values: &[String],
    le: Option<&str>,
    v: f64,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !names.is_empty() || le.is_some() {
        out.push('{');
        let mut first = true;
        for (n, val) in names.iter().zip(values) {
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(out, "{}=\"{}\"", n, escape_label(val));
        }
        if let Some(le) = le {
            if !first {
                out.push(',');
            }
            let _ = write!(out, "le=\"{le}\"");
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&format_float(v));
    out.push('\n');
}

fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Escapes a label value per the exposition formats: `\\`, `\"`, `\n`.
pub fn escape_label(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_renders_in_both_formats() {
        let r = Registry::default();
        let c = r.counter_vec("lookout_things", "Things seen.", &["kind"]);
        c.with(&["a\"b"]).inc_by(3);
        let text = r.render(Format::Prometheus);
        assert!(
            text.contains("# TYPE lookout_things_total counter"),
            "{text}"
        );
        assert!(
            text.contains("lookout_things_total{kind=\"a\\\"b\"} 3"),
            "{text}"
        );
        let om = r.render(Format::OpenMetrics);
        assert!(om.contains("# TYPE lookout_things counter"), "{om}");
        assert!(om.ends_with("# EOF\n"));
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_inf_equals_count() {
        let r = Registry::default();
        let h = r.histogram_vec("lat_seconds", "Latency.", &[], &[0.1, 1.0]);
        let h = h.with(&[]);
        h.observe(0.05);
        h.observe(0.5);
        h.observe(5.0);
        let text = r.render(Format::Prometheus);
        assert!(text.contains("lat_seconds_bucket{le=\"0.1\"} 1"), "{text}");
        assert!(text.contains("lat_seconds_bucket{le=\"1\"} 2"), "{text}");
        assert!(text.contains("lat_seconds_bucket{le=\"+Inf\"} 3"), "{text}");
        assert!(text.contains("lat_seconds_count 3"), "{text}");
        assert!(text.contains("lat_seconds_sum 5.55"), "{text}");
    }

    #[test]
    fn gauge_fn_is_read_at_render_time() {
        let r = Registry::default();
        let g = Arc::new(AtomicU64::new(7));
        let g2 = g.clone();
        r.gauge_fn("depth", "Depth.", &["queue"], move || {
            vec![(vec!["ingest".into()], g2.load(Ordering::Relaxed) as f64)]
        });
        assert!(
            r.render(Format::Prometheus)
                .contains("depth{queue=\"ingest\"} 7")
        );
        g.store(9, Ordering::Relaxed);
        assert!(
            r.render(Format::Prometheus)
                .contains("depth{queue=\"ingest\"} 9")
        );
    }

    #[test]
    fn gauge_add_is_exact_for_small_integers() {
        let g = Gauge::default();
        g.add(2.0);
        g.add(-0.5);
        assert_eq!(g.get(), 1.5);
    }
}
