//! What a monitor reports: statistics over its window with exact totals, and cumulative figures
//! for exposition.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency quantiles (to the histogram's precision).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::monitor::{MonitorStore, MonitoringConfig, OpKind};
///
/// let store = MonitorStore::new("search", &MonitoringConfig::default())?;
/// for ms in 1..=100 {
///     store.recorder().record(OpKind::QUERY, Duration::from_millis(ms));
/// }
/// store.collect();
/// let q = store.stats().latency;
/// assert!(q.p50 < q.p99 && q.p99 <= q.max);
/// assert!(q.max >= Duration::from_millis(100));
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Quantiles {
    /// Median.
    #[serde(
        rename = "p50_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub p50: Duration,
    /// 90th percentile.
    #[serde(
        rename = "p90_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub p90: Duration,
    /// 95th percentile.
    #[serde(
        rename = "p95_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub p95: Duration,
    /// 99th percentile.
    #[serde(
        rename = "p99_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub p99: Duration,
    /// 99.9th percentile.
    #[serde(
        rename = "p999_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub p999: Duration,
    /// The largest sample (highest value of its bucket).
    #[serde(
        rename = "max_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub max: Duration,
}

impl Quantiles {
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Quantiles::default();
        }
        let q = |q: f64| Duration::from_nanos(h.value_at_quantile(q));
        Quantiles {
            p50: q(0.5),
            p90: q(0.9),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max: Duration::from_nanos(h.highest_equivalent(h.max())),
        }
    }
}

/// One operation kind's statistics.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::monitor::{MonitorStore, MonitoringConfig, OpKind};
///
/// let store = MonitorStore::new("search", &MonitoringConfig::default())?;
/// let recorder = store.recorder();
/// recorder.record(OpKind::QUERY, Duration::from_millis(4));
/// recorder.record_error(OpKind::QUERY);
/// store.collect();
/// let stats = store.stats();
/// let query = stats.kind("query").unwrap();
/// assert_eq!((query.total, query.errors, query.window_count), (1, 1, 1));
/// assert_eq!(query.lifetime_max, Duration::from_millis(4));
/// assert!(query.latency.max >= query.lifetime_max);
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KindStats {
    /// The kind's name (`query`, `index`, or a registered name).
    pub kind: String,
    /// Operations recorded since the monitor started (exact).
    pub total: u64,
    /// Failed operations since the monitor started (exact).
    pub errors: u64,
    /// Operations in the window (exact).
    pub window_count: u64,
    /// Operations per second over the window.
    pub per_second: f64,
    /// Exact mean latency over the window.
    #[serde(
        rename = "mean_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub mean: Duration,
    /// Latency quantiles over the window.
    pub latency: Quantiles,
    /// Exact mean latency since the monitor started.
    #[serde(
        rename = "lifetime_mean_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub lifetime_mean: Duration,
    /// Exact largest latency since the monitor started.
    #[serde(
        rename = "lifetime_max_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub lifetime_max: Duration,
}

/// What the health report reads of a monitor: its statistics without quantiles, which cost a
/// histogram merge and are not needed there.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::monitor::{MonitorStore, MonitoringConfig, OpKind};
///
/// let store = MonitorStore::new("search", &MonitoringConfig::default())?;
/// store.recorder().record(OpKind::QUERY, Duration::from_millis(2));
/// store.recorder().counter("cache_misses").increment(1);
/// store.collect();
/// let summary = store.summary();
/// assert_eq!(summary.total_operations, 1);
/// assert_eq!(summary.counters, [("cache_misses".to_owned(), 1)]);
/// assert!(summary.last_sample_at.is_some());
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MonitorSummary {
    /// Operations of every kind since start (exact).
    pub total_operations: u64,
    /// Exact mean latency over the window, all kinds.
    #[serde(
        rename = "mean_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub mean: Duration,
    /// When the last sample was collected.
    pub last_sample_at: Option<DateTime<Utc>>,
    /// The fraction of latency samples recorded.
    pub sample_fraction: f64,
    /// Counters: name and total at the last collection.
    pub counters: Vec<(String, u64)>,
    /// Gauges: name and level.
    pub gauges: Vec<(String, f64)>,
}

/// One counter's figures.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::monitor::{MonitorStore, MonitoringConfig};
///
/// let store = MonitorStore::new("search", &MonitoringConfig::default())?;
/// store.recorder().counter("cache_misses").increment(7);
/// store.collect();
/// let stats = store.stats();
/// let misses = stats.counter("cache_misses").unwrap();
/// assert_eq!((misses.total, misses.window_count), (7, 7));
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CounterStats {
    /// The counter's name.
    pub name: String,
    /// Its total at the last collection (exact).
    pub total: u64,
    /// Its increase over the window (exact).
    pub window_count: u64,
    /// Its increase per second over the window.
    pub per_second: f64,
}

/// One gauge's level.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::monitor::{MonitorStore, MonitoringConfig};
///
/// let store = MonitorStore::new("index", &MonitoringConfig::default())?;
/// store.recorder().gauge("queue_depth").set(42.0);
/// let stats = store.stats();
/// assert_eq!(stats.gauges[0].name, "queue_depth");
/// assert_eq!(stats.gauges[0].value, 42.0);
/// assert_eq!(stats.gauge("queue_depth"), Some(42.0));
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GaugeStats {
    /// The gauge's name.
    pub name: String,
    /// Its level when the statistics were read.
    pub value: f64,
}

/// A monitor's statistics: latencies over the recent window, exact totals.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::monitor::{MonitorStore, MonitoringConfig, OpKind};
///
/// let store = MonitorStore::new("search", &MonitoringConfig::default())?;
/// let recorder = store.recorder();
/// recorder.record(OpKind::QUERY, Duration::from_millis(2));
/// recorder.record(OpKind::QUERY, Duration::from_millis(4));
/// recorder.record(OpKind::INDEX, Duration::from_millis(30));
/// store.collect();
/// let stats = store.stats();
/// assert_eq!((stats.total_queries, stats.total_indexes, stats.total_operations), (2, 1, 3));
/// assert_eq!(stats.mean, Duration::from_millis(12));
/// assert_eq!(stats.error_rate, 0.0);
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PerformanceStats {
    /// The monitor.
    pub monitor: String,
    /// Queries recorded since start (exact).
    pub total_queries: u64,
    /// Index operations recorded since start (exact).
    pub total_indexes: u64,
    /// Operations of every kind since start (exact).
    pub total_operations: u64,
    /// Failed operations since start (exact).
    pub errors: u64,
    /// Samples that were zero or above the histogram's highest value (recorded clamped).
    pub clamped: u64,
    /// The time the window covers.
    #[serde(
        rename = "window_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub window: Duration,
    /// Operations in the window (exact).
    pub window_operations: u64,
    /// Exact mean latency over the window, all kinds.
    #[serde(
        rename = "mean_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub mean: Duration,
    /// Latency quantiles over the window, all kinds.
    pub latency: Quantiles,
    /// Standard deviation of latency over the window, all kinds (to the histogram's precision).
    #[serde(
        rename = "latency_stdev_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub latency_stdev: Duration,
    /// Intervals the rolling window keeps (its configured length).
    pub window_intervals: usize,
    /// Queries per second over the window.
    pub queries_per_second: f64,
    /// Index operations per second over the window.
    pub indexes_per_second: f64,
    /// Operations of every kind per second over the window.
    pub operations_per_second: f64,
    /// Failed operations over all operations, in the window.
    pub error_rate: f64,
    /// The fraction of latency samples recorded (counts are exact regardless).
    pub sample_fraction: f64,
    /// When the last sample was collected (at the tick's resolution); `None` before the first.
    pub last_sample_at: Option<DateTime<Utc>>,
    /// Per operation kind.
    pub kinds: Vec<KindStats>,
    /// Counters, in registration order.
    pub counters: Vec<CounterStats>,
    /// Gauges, in registration order.
    pub gauges: Vec<GaugeStats>,
    /// Counter and gauge registrations refused because the monitor already had 64 of that type
    /// (each request, so a name asked for twice counts twice).
    pub refused_names: u64,
}

impl PerformanceStats {
    /// The operation kind named `kind`, if it has been used.
    pub fn kind(&self, kind: &str) -> Option<&KindStats> {
        self.kinds.iter().find(|k| k.kind == kind)
    }

    /// The counter named `name`, if registered.
    pub fn counter(&self, name: &str) -> Option<&CounterStats> {
        self.counters.iter().find(|c| c.name == name)
    }

    /// The gauge named `name`, if registered.
    pub fn gauge(&self, name: &str) -> Option<f64> {
        self.gauges.iter().find(|g| g.name == name).map(|g| g.value)
    }
}

/// A sample kept with the labels that say where it came from (a trace id), shown beside its
/// histogram bucket in OpenMetrics.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::monitor::{MonitorStore, MonitoringConfig, OpKind};
///
/// let store = MonitorStore::new("search", &MonitoringConfig::default())?;
/// store.recorder().record_with_exemplar(OpKind::QUERY, Duration::from_millis(3), &[("trace_id", "4bf92f35")]);
/// store.collect();
/// let exposition = store.exposition();
/// let exemplar = exposition.kinds[0].exemplars.iter().flatten().next().unwrap();
/// assert_eq!(exemplar.labels, [("trace_id".to_owned(), "4bf92f35".to_owned())]);
/// assert_eq!(exemplar.value_seconds, 0.003);
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    /// Its labels, e.g. `trace_id` (at most 128 characters together, as OpenMetrics allows).
    pub labels: Vec<(String, String)>,
    /// The sample, seconds.
    pub value_seconds: f64,
    /// When it was recorded.
    pub timestamp: DateTime<Utc>,
}

/// One kind's cumulative figures for exposition.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::monitor::{MonitorStore, MonitoringConfig, OpKind};
///
/// let store = MonitorStore::new("search", &MonitoringConfig::default())?;
/// store.recorder().record(OpKind::QUERY, Duration::from_millis(3));
/// store.recorder().record(OpKind::QUERY, Duration::from_secs(2));
/// store.collect();
/// let query = &store.exposition().kinds[0];
/// assert_eq!((query.kind.as_str(), query.count), ("query", 2));
/// // One sample at or below 10 ms, both at or below the last bound (10 s).
/// assert_eq!(query.cumulative_buckets[6], 1);
/// assert_eq!(query.cumulative_buckets.last(), Some(&2));
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct KindExposition {
    /// The kind's name.
    pub kind: String,
    /// Operations since start (exact).
    pub count: u64,
    /// Sum of their latencies, seconds (exact).
    pub sum_seconds: f64,
    /// Failed operations since start.
    pub errors: u64,
    /// Clamped samples since start.
    pub clamped: u64,
    /// Operations at or below each of the monitor's bucket bounds, cumulative.
    pub cumulative_buckets: Vec<u64>,
    /// The latest exemplar of each bucket, `+Inf` last; an empty list while the kind has none
    /// (read it with `get`).
    pub exemplars: Vec<Option<Exemplar>>,
}

/// A monitor's figures for exposition.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::monitor::{MonitorStore, MonitoringConfig, OpKind, EXPORT_BUCKETS};
///
/// let store = MonitorStore::new("search", &MonitoringConfig::default())?;
/// store.recorder().record(OpKind::QUERY, Duration::from_millis(3));
/// store.collect();
/// let exposition = store.exposition();
/// assert_eq!(exposition.monitor, "search");
/// assert_eq!(&exposition.buckets[..], &EXPORT_BUCKETS[..]);
/// // Only kinds that saw an operation are exported.
/// assert_eq!(exposition.kinds.len(), 1);
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Exposition {
    /// The monitor.
    pub monitor: String,
    /// When the monitor was made; its counts start from zero then.
    pub created: DateTime<Utc>,
    /// Its export buckets' upper bounds, seconds (`+Inf` implied).
    pub buckets: std::sync::Arc<[f64]>,
    /// Per kind that saw an operation.
    pub kinds: Vec<KindExposition>,
    /// Counters (name, total at the last collection), in registration order.
    pub counters: Vec<(String, u64)>,
    /// Gauges (name, current level), in registration order.
    pub gauges: Vec<(String, f64)>,
}
