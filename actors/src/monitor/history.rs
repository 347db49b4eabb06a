//! What a monitor's rolling window holds, interval by interval: [`MonitorHistory`], the answer to
//! [`crate::monitor::GetHistory`]. The status page and `watchkeeper top` draw their charts from it.
//!
//! Nothing is kept for it: each answer is computed from the intervals the window already holds
//! (the same ones [`crate::monitor::PerformanceStats`] summarises), oldest first.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::monitor::recorder::Layout;

/// One interval of one kind: what the monitor collected on one tick.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::monitor::{MonitorStore, MonitoringConfig, OpKind};
///
/// let store = MonitorStore::new("search", &MonitoringConfig::default())?;
/// store.recorder().record(OpKind::QUERY, Duration::from_millis(3));
/// store.collect();
/// let history = store.history();
/// let last = history.kinds[0].intervals.last().unwrap();
/// assert_eq!((last.count, last.errors), (1, 0));
/// assert!(last.p50.is_some());
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IntervalFigures {
    /// How long before the answer the interval ended (0 for an interval collected just now).
    #[serde(
        rename = "ago_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub ago: Duration,
    /// The time the interval covers (one tick, longer after a stall).
    #[serde(
        rename = "duration_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub duration: Duration,
    /// Operations in the interval (exact).
    pub count: u64,
    /// Failed operations in the interval (exact).
    pub errors: u64,
    /// Operations per second over the interval.
    pub per_second: f64,
    /// Median latency of the interval; `None` when it saw no operation.
    #[serde(
        rename = "p50_seconds",
        serialize_with = "crate::duration_serde::seconds_opt"
    )]
    pub p50: Option<Duration>,
    /// 99th percentile; `None` when it saw no operation.
    #[serde(
        rename = "p99_seconds",
        serialize_with = "crate::duration_serde::seconds_opt"
    )]
    pub p99: Option<Duration>,
    /// 99.9th percentile; `None` when it saw no operation.
    #[serde(
        rename = "p999_seconds",
        serialize_with = "crate::duration_serde::seconds_opt"
    )]
    pub p999: Option<Duration>,
}

/// One operation kind's intervals, oldest first.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::monitor::{MonitorStore, MonitoringConfig, OpKind};
///
/// let store = MonitorStore::new("search", &MonitoringConfig::default())?;
/// store.recorder().record(OpKind::INDEX, Duration::from_millis(40));
/// store.collect();
/// let index = store.history().kinds.into_iter().find(|k| k.kind == "index").unwrap();
/// assert_eq!(index.total, 1);
/// assert_eq!(index.intervals.len(), 1);
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KindHistory {
    /// The kind's name (`query`, `index`, or a registered name).
    pub kind: String,
    /// Operations of this kind since the monitor started (exact).
    pub total: u64,
    /// One entry per interval the window holds, oldest first.
    pub intervals: Vec<IntervalFigures>,
}

/// A monitor's rolling window, interval by interval.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::monitor::{MonitorStore, MonitoringConfig, OpKind};
///
/// let store = MonitorStore::new("search", &MonitoringConfig::default())?;
/// store.recorder().record(OpKind::QUERY, Duration::from_millis(3));
/// store.collect();
/// let history = store.history();
/// assert_eq!((history.monitor.as_str(), history.tick), ("search", Duration::from_secs(1)));
/// let kinds: Vec<&str> = history.kinds.iter().map(|k| k.kind.as_str()).collect();
/// assert_eq!(kinds, ["query", "index"]);
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MonitorHistory {
    /// The monitor.
    pub monitor: String,
    /// How often it collects: the nominal length of one interval.
    #[serde(
        rename = "tick_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub tick: Duration,
    /// Intervals the window keeps at most (its configured length).
    pub window_intervals: usize,
    /// Per kind: `query` and `index` always, other kinds once used.
    pub kinds: Vec<KindHistory>,
}

/// p50, p99 and p99.9 of one interval's sparse buckets (sorted by cell, as collection leaves
/// them), with `hdrhistogram`'s rule: the highest value equivalent to the cell where the running
/// count first reaches `ceil(q * total)`. `reference` is any histogram with the layout's bounds;
/// only its bucket arithmetic is used, so nothing is reset or recorded.
pub(crate) fn interval_quantiles(
    buckets: impl Iterator<Item = (u32, u64)> + Clone,
    layout: &Layout,
    reference: &Histogram<u64>,
) -> Option<[Duration; 3]> {
    let total: u64 = buckets.clone().map(|b| b.1).sum();
    if total == 0 {
        return None;
    }
    let mut out = [Duration::ZERO; 3];
    let mut running = 0u64;
    let mut next = buckets;
    let mut cell = 0u32;
    for (slot, q) in out.iter_mut().zip([0.5, 0.99, 0.999]) {
        let target = ((q * total as f64).ceil() as u64).max(1);
        while running < target {
            match next.next() {
                Some((i, n)) => {
                    cell = i;
                    running += n;
                }
                None => break,
            }
        }
        let value = reference.highest_equivalent(layout.value(cell as usize));
        *slot = Duration::from_nanos(value);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sparse walk agrees with `hdrhistogram`'s own quantiles over the same samples.
    #[test]
    fn sparse_quantiles_match_hdrhistogram() {
        let layout = Layout::new(1_000, 60_000_000_000, 3).unwrap();
        let mut state = 7u64;
        for samples in [1usize, 2, 3, 10, 999, 1000, 1001, 5000] {
            let mut h = layout.histogram();
            let mut cells = std::collections::BTreeMap::<u32, u64>::new();
            for _ in 0..samples {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                // Spread over five decades, as latencies are.
                let v =
                    (1_000.0 * 10f64.powf((state >> 11) as f64 / (1u64 << 53) as f64 * 5.0)) as u64;
                h.record(v).unwrap();
                *cells.entry(layout.index(v) as u32).or_default() += 1;
            }
            let buckets: Vec<(u32, u64)> = cells.into_iter().collect();
            let got =
                interval_quantiles(buckets.iter().copied(), &layout, &layout.histogram()).unwrap();
            let want = [0.5, 0.99, 0.999].map(|q| Duration::from_nanos(h.value_at_quantile(q)));
            assert_eq!(got, want, "{samples} samples");
        }
        assert_eq!(
            interval_quantiles(std::iter::empty(), &layout, &layout.histogram()),
            None
        );
    }
}
