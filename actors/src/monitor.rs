//! [`MonitorActor`]: turns the samples recorded by a monitor's handles into [`PerformanceStats`].
//!
//! Hosts record through a [`Recorder`] (see `recorder.rs`): per-thread cells, no messages. On every
//! tick the actor collects each thread's new samples into an interval (sparse buckets), keeps the
//! last `window` intervals for recent statistics and exact cumulative totals. All collected state
//! lives in a [`MonitorStore`] shared with the factory, so a restart of the actor loses nothing.
//! Messages: [`GetStats`], [`Collect`], [`SetSampling`], [`SetWindow`], [`GetFootprint`], [`Trim`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::child::{ChildActor, Handles};
use crate::context::ChildContext;
use crate::message::{Message, Overflow};
use crate::recorder::{Layout, OpKind, Recorders, Slot, MAX_KINDS};

/// Histogram bounds and precision of a monitor. Memory per recording thread and operation kind is
/// [`Layout::bytes`]: 147,456 bytes for the default 1 µs..60 s at 3 significant digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistogramBounds {
    /// The smallest latency told apart from zero.
    #[serde(with = "crate::duration_serde")]
    pub lowest: Duration,
    /// The largest latency recorded as itself; longer ones are clamped to it and counted.
    #[serde(with = "crate::duration_serde")]
    pub highest: Duration,
    /// Significant decimal digits kept (1 to 5).
    pub significant_digits: u8,
}

impl Default for HistogramBounds {
    fn default() -> Self {
        HistogramBounds {
            lowest: Duration::from_micros(1),
            highest: Duration::from_secs(60),
            significant_digits: 3,
        }
    }
}

impl HistogramBounds {
    /// The cell layout these bounds give.
    pub fn layout(&self) -> Result<Layout, String> {
        let low = u64::try_from(self.lowest.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        let high = u64::try_from(self.highest.as_nanos()).unwrap_or(u64::MAX);
        if high < 2 * low {
            return Err(format!(
                "histogram highest ({:?}) must be at least twice lowest ({:?})",
                self.highest, self.lowest
            ));
        }
        if !(1..=5).contains(&self.significant_digits) {
            return Err(format!(
                "histogram significant_digits must be 1 to 5, not {}",
                self.significant_digits
            ));
        }
        Layout::new(low, high, self.significant_digits)
    }
}

/// How a monitor collects.
#[derive(Clone, Debug, PartialEq)]
pub struct MonitorSettings {
    /// The monitor's name (the component it watches).
    pub name: String,
    /// How often samples are collected into an interval.
    pub tick: Duration,
    /// How many intervals the rolling window keeps.
    pub window: usize,
}

/// The cheap, thread-safe recording side of one monitor.
#[derive(Clone)]
pub struct Recorder {
    recorders: Arc<Recorders>,
    names: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("id", &self.recorders.id)
            .finish()
    }
}

impl Recorder {
    /// Records one operation of `kind` that took `latency`. Never blocks, never allocates after this
    /// thread's first sample of `kind`, never panics.
    #[inline]
    pub fn record(&self, kind: OpKind, latency: Duration) {
        self.recorders.record(kind, latency);
    }

    /// Counts one failed operation of `kind`.
    pub fn record_error(&self, kind: OpKind) {
        self.recorders.record_error(kind);
    }

    /// The kind named `name`, registered on first use; `None` once all 16 kinds are taken.
    pub fn kind(&self, name: &str) -> Option<OpKind> {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = names.iter().position(|n| n == name) {
            return Some(OpKind(i as u8));
        }
        if names.len() >= MAX_KINDS {
            return None;
        }
        names.push(name.to_owned());
        Some(OpKind((names.len() - 1) as u8))
    }
}

#[derive(Clone, Debug, Default)]
struct KindSnapshot {
    count: u64,
    sum: u64,
    errors: u64,
    clamped: u64,
    hist: Vec<u64>,
}

#[derive(Clone, Debug, Default)]
struct IntervalKind {
    count: u64,
    sum: u64,
    errors: u64,
    /// Non-zero buckets: (cell index, samples).
    buckets: Vec<(u32, u64)>,
}

#[derive(Clone, Debug)]
struct Interval {
    duration: Duration,
    kinds: [IntervalKind; MAX_KINDS],
}

impl Interval {
    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self
                .kinds
                .iter()
                .map(|k| k.buckets.capacity() * std::mem::size_of::<(u32, u64)>())
                .sum::<usize>()
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    count: u64,
    sum: u64,
    errors: u64,
    clamped: u64,
    max: u64,
}

/// The collector's last reading of each kind of one slot.
type SlotSnapshot = Box<[Option<KindSnapshot>; MAX_KINDS]>;

/// Upper bounds (seconds) of the fixed buckets a monitor exports; `+Inf` is implied.
pub const EXPORT_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

struct StoreState {
    snapshots: Vec<(Arc<Slot>, SlotSnapshot)>,
    window: VecDeque<Interval>,
    window_len: usize,
    totals: [Totals; MAX_KINDS],
    /// Samples per fixed export bucket (not cumulative), scaled by the sampling factor.
    export: [[u64; EXPORT_BUCKETS.len() + 1]; MAX_KINDS],
    last_collect: Option<Instant>,
    last_sample_at: Option<DateTime<Utc>>,
    scratch: Histogram<u64>,
    all: Histogram<u64>,
}

/// Everything a monitor has collected; outlives restarts of its actor.
pub struct MonitorStore {
    settings: MonitorSettings,
    recorder: Recorder,
    state: Mutex<StoreState>,
}

impl MonitorStore {
    /// A store for a monitor with these settings and bounds.
    pub fn new(settings: MonitorSettings, bounds: HistogramBounds) -> Result<Arc<Self>, String> {
        let layout = bounds.layout()?;
        let scratch = layout.histogram();
        let all = layout.histogram();
        let names = vec!["query".to_owned(), "index".to_owned()];
        Ok(Arc::new(MonitorStore {
            state: Mutex::new(StoreState {
                snapshots: Vec::new(),
                window: VecDeque::new(),
                window_len: settings.window.max(1),
                totals: [Totals::default(); MAX_KINDS],
                export: [[0; EXPORT_BUCKETS.len() + 1]; MAX_KINDS],
                last_collect: None,
                last_sample_at: None,
                scratch,
                all,
            }),
            settings,
            recorder: Recorder {
                recorders: Recorders::new(layout),
                names: Arc::new(Mutex::new(names)),
            },
        }))
    }

    /// The recording side.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// The settings.
    pub fn settings(&self) -> &MonitorSettings {
        &self.settings
    }

    fn lock(&self) -> MutexGuard<'_, StoreState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves every sample recorded since the last collection into a new interval.
    pub fn collect(&self) {
        let now = Instant::now();
        let recorders = &self.recorder.recorders;
        let layout = &recorders.layout;
        let slots = recorders.snapshot_slots();
        let mut st = self.lock();
        let duration = st
            .last_collect
            .map_or(Duration::ZERO, |t| now.duration_since(t));
        st.last_collect = Some(now);
        let mut interval = Interval {
            duration,
            kinds: Default::default(),
        };
        for slot in slots {
            let pos = match st.snapshots.iter().position(|(s, _)| Arc::ptr_eq(s, &slot)) {
                Some(p) => p,
                None => {
                    st.snapshots.push((slot.clone(), Box::default()));
                    st.snapshots.len() - 1
                }
            };
            for k in 0..MAX_KINDS {
                let Some(cells) = slot.kinds[k].get() else {
                    continue;
                };
                let snap = st.snapshots[pos].1[k].get_or_insert_with(|| KindSnapshot {
                    hist: vec![0; layout.len()],
                    ..KindSnapshot::default()
                });
                let out = &mut interval.kinds[k];
                let load =
                    |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
                let (count, sum, errors, clamped) = (
                    load(&cells.count),
                    load(&cells.sum),
                    load(&cells.errors),
                    load(&cells.clamped),
                );
                out.count += count.wrapping_sub(snap.count);
                out.sum = out.sum.wrapping_add(sum.wrapping_sub(snap.sum));
                out.errors += errors.wrapping_sub(snap.errors);
                let clamped_delta = clamped.wrapping_sub(snap.clamped);
                (snap.count, snap.sum, snap.errors, snap.clamped) = (count, sum, errors, clamped);
                for (i, cell) in cells.hist.iter().enumerate() {
                    let c = load(cell);
                    if c != snap.hist[i] {
                        out.buckets.push((i as u32, c.wrapping_sub(snap.hist[i])));
                        snap.hist[i] = c;
                    }
                }
                let max = load(&cells.max);
                let totals = &mut st.totals[k];
                totals.clamped += clamped_delta;
                totals.max = totals.max.max(max);
            }
        }
        let scale = u64::from(
            recorders
                .sample_every
                .load(std::sync::atomic::Ordering::Relaxed)
                .max(1),
        );
        let mut any = false;
        for (k, kind) in interval.kinds.iter_mut().enumerate() {
            for &(i, n) in &kind.buckets {
                let seconds = layout.value(i as usize) as f64 * 1e-9;
                let b = EXPORT_BUCKETS
                    .iter()
                    .position(|&le| seconds <= le)
                    .unwrap_or(EXPORT_BUCKETS.len());
                st.export[k][b] += n * scale;
            }
            if kind.buckets.len() > 1 {
                kind.buckets.sort_unstable_by_key(|b| b.0);
                kind.buckets.dedup_by(|b, a| {
                    if a.0 == b.0 {
                        a.1 += b.1;
                        true
                    } else {
                        false
                    }
                });
            }
            kind.buckets.shrink_to_fit();
            let totals = &mut st.totals[k];
            totals.count += kind.count;
            totals.sum = totals.sum.wrapping_add(kind.sum);
            totals.errors += kind.errors;
            any |= kind.count > 0 || kind.errors > 0;
        }
        if any {
            st.last_sample_at = Some(Utc::now());
        }
        if !duration.is_zero() || any {
            st.window.push_back(interval);
        }
        let keep = st.window_len;
        while st.window.len() > keep {
            st.window.pop_front();
        }
    }

    /// Statistics over the rolling window, with exact totals.
    pub fn stats(&self) -> PerformanceStats {
        let layout = &self.recorder.recorders.layout;
        let names = self
            .recorder
            .names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let sample_every = self
            .recorder
            .recorders
            .sample_every
            .load(std::sync::atomic::Ordering::Relaxed);
        let mut st = self.lock();
        let st = &mut *st;
        let window: Duration = st.window.iter().map(|i| i.duration).sum();
        let secs = window.as_secs_f64();
        let per_second = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        st.all.reset();
        let mut kinds = Vec::new();
        let (mut w_count, mut w_sum, mut w_errors) = (0u64, 0u64, 0u64);
        for (k, name) in names.iter().enumerate() {
            st.scratch.reset();
            let (mut count, mut sum, mut errors) = (0u64, 0u64, 0u64);
            for interval in &st.window {
                let kind = &interval.kinds[k];
                count += kind.count;
                sum = sum.wrapping_add(kind.sum);
                errors += kind.errors;
                for &(i, n) in &kind.buckets {
                    let v = layout.value(i as usize);
                    st.scratch.saturating_record_n(v, n);
                    st.all.saturating_record_n(v, n);
                }
            }
            w_count += count;
            w_sum = w_sum.wrapping_add(sum);
            w_errors += errors;
            let totals = st.totals[k];
            if totals.count == 0 && totals.errors == 0 && k > 1 {
                continue;
            }
            kinds.push(KindStats {
                kind: name.clone(),
                total: totals.count,
                errors: totals.errors,
                window_count: count,
                per_second: per_second(count),
                mean: mean(sum, count),
                latency: Quantiles::of(&st.scratch),
                lifetime_mean: mean(totals.sum, totals.count),
                lifetime_max: Duration::from_nanos(totals.max),
            });
        }
        let totals = |k: usize| st.totals[k];
        PerformanceStats {
            monitor: self.settings.name.clone(),
            total_queries: totals(0).count,
            total_indexes: totals(1).count,
            total_operations: st.totals.iter().map(|t| t.count).sum(),
            errors: st.totals.iter().map(|t| t.errors).sum(),
            clamped: st.totals.iter().map(|t| t.clamped).sum(),
            window,
            window_operations: w_count,
            mean: mean(w_sum, w_count),
            latency: Quantiles::of(&st.all),
            latency_stdev: if st.all.is_empty() {
                Duration::ZERO
            } else {
                Duration::from_nanos(st.all.stdev() as u64)
            },
            window_intervals: st.window_len,
            queries_per_second: kinds
                .iter()
                .find(|k| k.kind == "query")
                .map_or(0.0, |k| k.per_second),
            indexes_per_second: kinds
                .iter()
                .find(|k| k.kind == "index")
                .map_or(0.0, |k| k.per_second),
            operations_per_second: per_second(w_count),
            error_rate: if w_count + w_errors > 0 {
                w_errors as f64 / (w_count + w_errors) as f64
            } else {
                0.0
            },
            sample_fraction: 1.0 / f64::from(sample_every.max(1)),
            last_sample_at: st.last_sample_at,
            kinds,
        }
    }

    /// Cumulative counters and fixed buckets for Prometheus exposition (no quantile work).
    pub fn exposition(&self) -> Exposition {
        let names = self
            .recorder
            .names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let st = self.lock();
        let kinds = names
            .into_iter()
            .enumerate()
            .filter(|(k, _)| st.totals[*k].count > 0 || st.totals[*k].errors > 0 || *k < 2)
            .map(|(k, kind)| {
                let t = st.totals[k];
                let mut cumulative = [0u64; EXPORT_BUCKETS.len()];
                let mut running = 0u64;
                for (b, slot) in cumulative.iter_mut().enumerate() {
                    running += st.export[k][b];
                    // Sampled buckets are scaled estimates; never above the exact count.
                    *slot = running.min(t.count);
                }
                KindExposition {
                    kind,
                    count: t.count,
                    sum_seconds: t.sum as f64 * 1e-9,
                    errors: t.errors,
                    clamped: t.clamped,
                    cumulative_buckets: cumulative,
                }
            })
            .collect();
        Exposition {
            monitor: self.settings.name.clone(),
            kinds,
        }
    }

    /// Bytes this monitor really holds: every thread's cells, the collector's snapshots, the window.
    pub fn footprint(&self) -> Footprint {
        let slots = self.recorder.recorders.snapshot_slots();
        let recorder_bytes: usize = slots.iter().map(|s| s.bytes()).sum();
        let st = self.lock();
        let snapshot_bytes: usize = st
            .snapshots
            .iter()
            .map(|(_, k)| {
                std::mem::size_of_val(&**k)
                    + k.iter()
                        .flatten()
                        .map(|s| s.hist.capacity() * 8)
                        .sum::<usize>()
            })
            .sum();
        let window_bytes: usize = st.window.iter().map(Interval::bytes).sum::<usize>()
            + (st.window.capacity() - st.window.len()) * std::mem::size_of::<Interval>();
        let scratch_bytes = 2 * self.recorder.recorders.layout.bytes();
        Footprint {
            component: self.settings.name.clone(),
            bytes: recorder_bytes + snapshot_bytes + window_bytes + scratch_bytes,
            recorder_bytes,
            history_bytes: window_bytes,
            threads: slots.len() - 1,
        }
    }

    /// Starts the first interval now, unless collection has already begun.
    fn begin(&self) {
        let mut st = self.lock();
        if st.last_collect.is_none() {
            st.last_collect = Some(Instant::now());
        }
    }

    fn set_window(&self, intervals: usize) -> usize {
        let mut st = self.lock();
        let previous = st.window_len;
        st.window_len = intervals.max(1);
        while st.window.len() > st.window_len {
            st.window.pop_front();
        }
        previous
    }

    fn trim(&self, keep: usize) -> usize {
        let before = self.footprint().bytes;
        {
            let mut st = self.lock();
            let keep = keep.max(1);
            while st.window.len() > keep {
                st.window.pop_front();
            }
            st.window.shrink_to_fit();
            // Snapshots of slots whose thread exited and that nobody claimed are still needed for
            // deltas if the slot is reused, so they stay.
        }
        before.saturating_sub(self.footprint().bytes)
    }
}

fn mean(sum: u64, count: u64) -> Duration {
    Duration::from_nanos(sum.checked_div(count).unwrap_or(0))
}

/// Latency quantiles (to the histogram's precision).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Quantiles {
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// The largest sample (highest value of its bucket).
    pub max: Duration,
}

impl Quantiles {
    fn of(h: &Histogram<u64>) -> Self {
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
    pub mean: Duration,
    /// Latency quantiles over the window.
    pub latency: Quantiles,
    /// Exact mean latency since the monitor started.
    pub lifetime_mean: Duration,
    /// Exact largest latency since the monitor started.
    pub lifetime_max: Duration,
}

/// A monitor's statistics: latencies over the recent window, exact totals.
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
    pub window: Duration,
    /// Operations in the window (exact).
    pub window_operations: u64,
    /// Exact mean latency over the window, all kinds.
    pub mean: Duration,
    /// Latency quantiles over the window, all kinds.
    pub latency: Quantiles,
    /// Standard deviation of latency over the window, all kinds (to the histogram's precision).
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
}

/// One kind's cumulative figures for exposition.
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
    /// Operations at or below each of [`EXPORT_BUCKETS`], cumulative.
    pub cumulative_buckets: [u64; EXPORT_BUCKETS.len()],
}

/// A monitor's figures for exposition.
#[derive(Clone, Debug, PartialEq)]
pub struct Exposition {
    /// The monitor.
    pub monitor: String,
    /// Per kind (query and index always, others once used).
    pub kinds: Vec<KindExposition>,
}

/// Bytes a component holds, counted from the sizes and capacities of what it keeps; the allocator's
/// own bookkeeping (and a map's internal nodes beyond its entries) is not included.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Footprint {
    /// The component.
    pub component: String,
    /// All bytes it holds.
    pub bytes: usize,
    /// Bytes of recording cells (all threads).
    pub recorder_bytes: usize,
    /// Bytes of history that [`Trim`] can release.
    pub history_bytes: usize,
    /// Recording threads seen.
    pub threads: usize,
}

/// Monitors by name, shared by the actors that read them (alerting, tuner, memory manager). The
/// runtime adds each monitor as it creates it; readers take a snapshot of the handles.
#[derive(Clone, Default)]
pub struct MonitorDirectory(
    Arc<Mutex<std::collections::HashMap<String, crate::ChildRef<MonitorActor>>>>,
);

impl MonitorDirectory {
    fn map(
        &self,
    ) -> MutexGuard<'_, std::collections::HashMap<String, crate::ChildRef<MonitorActor>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds (or replaces) monitor `name`.
    pub fn insert(&self, name: impl Into<String>, monitor: crate::ChildRef<MonitorActor>) {
        self.map().insert(name.into(), monitor);
    }

    /// Monitor `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<crate::ChildRef<MonitorActor>> {
        self.map().get(name).cloned()
    }

    /// Every monitor with its name.
    pub fn entries(&self) -> Vec<(String, crate::ChildRef<MonitorActor>)> {
        self.map()
            .iter()
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect()
    }
}

/// The monitor actor; see the module docs.
pub struct MonitorActor {
    store: Arc<MonitorStore>,
}

impl MonitorActor {
    /// An actor over `store` (a restart builds a new one over the same store).
    pub fn new(store: Arc<MonitorStore>) -> Self {
        MonitorActor { store }
    }
}

impl ChildActor for MonitorActor {
    fn started(&mut self, ctx: &mut ChildContext<'_, Self>) {
        self.store.begin();
        let tick = self.store.settings.tick;
        ctx.run_interval(tick, |act, _| act.store.collect());
    }

    fn stopping(&mut self, _ctx: &mut ChildContext<'_, Self>) {
        // Flush what was recorded since the last tick.
        self.store.collect();
    }
}

/// Ask for the monitor's statistics.
#[derive(Debug)]
pub struct GetStats;
impl Message for GetStats {
    type Result = PerformanceStats;
    const OVERFLOW: Overflow = Overflow::Reject;
}
impl Handles<GetStats> for MonitorActor {
    fn handle(&mut self, _: GetStats, _: &mut ChildContext<'_, Self>) -> PerformanceStats {
        self.store.stats()
    }
}

/// Collect now instead of waiting for the tick.
#[derive(Debug)]
pub struct Collect;
impl Message for Collect {
    type Result = ();
    const OVERFLOW: Overflow = Overflow::DropNewest;
}
impl Handles<Collect> for MonitorActor {
    fn handle(&mut self, _: Collect, _: &mut ChildContext<'_, Self>) {
        self.store.collect();
    }
}

/// Record only this fraction of latency samples (0 < fraction <= 1); counts stay exact. Replies with
/// the fraction in effect (one sample in `round(1 / fraction)`).
#[derive(Debug)]
pub struct SetSampling(pub f64);
impl Message for SetSampling {
    type Result = f64;
}
impl Handles<SetSampling> for MonitorActor {
    fn handle(&mut self, msg: SetSampling, _: &mut ChildContext<'_, Self>) -> f64 {
        let fraction = if msg.0.is_finite() {
            msg.0.clamp(1e-6, 1.0)
        } else {
            1.0
        };
        let every = (1.0 / fraction).round().clamp(1.0, f64::from(u32::MAX)) as u32;
        self.store
            .recorder
            .recorders
            .sample_every
            .store(every, std::sync::atomic::Ordering::Relaxed);
        1.0 / f64::from(every)
    }
}

/// Keep this many intervals in the rolling window; replies with the previous length.
#[derive(Debug)]
pub struct SetWindow(pub usize);
impl Message for SetWindow {
    type Result = usize;
}
impl Handles<SetWindow> for MonitorActor {
    fn handle(&mut self, msg: SetWindow, _: &mut ChildContext<'_, Self>) -> usize {
        self.store.set_window(msg.0)
    }
}

/// Ask for the bytes the monitor holds.
#[derive(Debug)]
pub struct GetFootprint;
impl Message for GetFootprint {
    type Result = Footprint;
}
impl Handles<GetFootprint> for MonitorActor {
    fn handle(&mut self, _: GetFootprint, _: &mut ChildContext<'_, Self>) -> Footprint {
        self.store.footprint()
    }
}

/// Drop history beyond the newest `keep` intervals; replies with the bytes freed (measured).
#[derive(Debug)]
pub struct Trim {
    /// Intervals to keep.
    pub keep: usize,
}
impl Message for Trim {
    type Result = usize;
}
impl Handles<Trim> for MonitorActor {
    fn handle(&mut self, msg: Trim, _: &mut ChildContext<'_, Self>) -> usize {
        self.store.trim(msg.keep)
    }
}

/// Makes the actor panic (fault injection for tests and the reliability suite).
#[derive(Debug)]
pub struct InjectPanic;
impl Message for InjectPanic {
    type Result = ();
}
impl Handles<InjectPanic> for MonitorActor {
    fn handle(&mut self, _: InjectPanic, _: &mut ChildContext<'_, Self>) {
        panic!("injected fault in monitor `{}`", self.store.settings.name);
    }
}
