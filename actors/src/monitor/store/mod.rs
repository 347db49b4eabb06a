//! [`MonitorStore`]: everything a monitor has collected, outliving restarts of its actor.
//!
//! On every tick the actor collects each thread's new samples into an interval (sparse buckets),
//! keeps the last `window` intervals for recent statistics and exact cumulative totals.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::memory::Footprint;
use crate::monitor::cell_counts::CellCounts;
use crate::monitor::config::MonitoringConfig;
use crate::monitor::handle::Recorder;
use crate::monitor::history::{interval_quantiles, IntervalFigures, KindHistory, MonitorHistory};
use crate::monitor::recorder::{Layout, Recorders, Slot};
use crate::monitor::series::SeriesNames;
use crate::monitor::stats::{
    CounterStats, Exposition, GaugeStats, KindExposition, KindStats, MonitorSummary,
    PerformanceStats, Quantiles,
};
use crate::Store;

mod collect;

/// What a monitor's counters and gauges read: names with their figures, and refused names.
struct SeriesFigures {
    counters: Vec<(String, u64)>,
    gauges: Vec<(String, f64)>,
    refused: u64,
}

/// Where the collector keeps its last reading of a thread's dense cells: in the tail of the cells'
/// mapping, which the owner leaves alone while they are dense and which goes back to the OS with
/// them, or on the heap when it does not fit there.
#[derive(Clone, Debug)]
enum Reading {
    Heap(CellCounts),
    /// The first bytes of the tail, this many.
    Tail(usize),
}

impl Default for Reading {
    fn default() -> Self {
        Reading::Heap(CellCounts::EMPTY)
    }
}

impl Reading {
    /// Bytes it holds on the heap (the tail is counted with the cells).
    fn heap_bytes(&self) -> usize {
        match self {
            Reading::Heap(counts) => counts.bytes(),
            Reading::Tail(_) => 0,
        }
    }
}

#[derive(Clone, Debug, Default)]
struct KindSnapshot {
    count: u64,
    sum: u64,
    errors: u64,
    clamped: u64,
    /// Every cell read non-zero so far, by index, with its count then (cells only grow, so a
    /// cell missing here read zero).
    reading: Reading,
    /// Whether a reading already followed the last change of the counts: then, while they stay
    /// the same, nothing new can be in the ring or the cells and the next reading is skipped.
    settled: bool,
}

#[derive(Clone, Debug, Default)]
struct IntervalKind {
    count: u64,
    sum: u64,
    errors: u64,
    /// Non-zero buckets: samples by cell.
    buckets: CellCounts,
}

#[derive(Clone, Debug)]
struct Interval {
    duration: Duration,
    /// The kinds that saw anything in the interval, by kind: an idle interval holds none.
    kinds: Vec<(u8, IntervalKind)>,
    /// Each counter's increase in the interval, by the counter's cell (empty without counters).
    counters: Vec<u64>,
}

/// What a kind that saw nothing in an interval reads as.
static IDLE_KIND: IntervalKind = IntervalKind {
    count: 0,
    sum: 0,
    errors: 0,
    buckets: CellCounts::EMPTY,
};

impl Interval {
    /// Kind `k`'s figures in the interval.
    fn kind(&self, k: usize) -> &IntervalKind {
        self.kinds
            .iter()
            .find(|(i, _)| usize::from(*i) == k)
            .map_or(&IDLE_KIND, |(_, kind)| kind)
    }

    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.counters.capacity() * std::mem::size_of::<u64>()
            + self
                .kinds
                .iter()
                .map(|(_, k)| std::mem::size_of::<(u8, IntervalKind)>() + k.buckets.bytes())
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

/// The collector's last reading of each kind of one slot, by kind (up to the last kind it has seen).
type SlotSnapshot = Vec<Option<KindSnapshot>>;

/// What a monitor has collected.
struct MonitorState {
    snapshots: Vec<(Arc<Slot>, SlotSnapshot)>,
    window: VecDeque<Interval>,
    window_len: usize,
    tick: Duration,
    /// By kind, up to the last kind that saw anything (a kind past the end has seen nothing).
    totals: Vec<Totals>,
    /// Each counter's total at the last collection, by cell.
    counter_totals: Vec<u64>,
    /// Samples per fixed export bucket (not cumulative), scaled by the sampling factor: by kind,
    /// then bucket (`+Inf` last), for the kinds that saw anything.
    export: Vec<Vec<u64>>,
    last_collect: Option<Instant>,
    last_sample_at: Option<DateTime<Utc>>,
}

impl MonitorState {
    /// Kind `k`'s totals (zero for a kind that has seen nothing).
    fn totals(&self, k: usize) -> Totals {
        self.totals.get(k).copied().unwrap_or_default()
    }

    fn totals_mut(&mut self, k: usize) -> &mut Totals {
        if self.totals.len() <= k {
            self.totals.resize(k + 1, Totals::default());
        }
        &mut self.totals[k]
    }
}

/// Everything a monitor has collected; outlives restarts of its actor.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::monitor::{MonitorStore, MonitoringConfig, OpKind};
///
/// let store = MonitorStore::new("search", &MonitoringConfig::default())?;
/// store.recorder().record(OpKind::QUERY, Duration::from_millis(5));
/// store.collect();
/// assert_eq!((store.name(), store.tick()), ("search", Duration::from_secs(1)));
/// assert_eq!(store.stats().total_queries, 1);
/// assert_eq!(store.summary().total_operations, 1);
/// assert!(store.footprint().bytes > 0);
/// # Ok::<(), String>(())
/// ```
pub struct MonitorStore {
    name: String,
    /// When the monitor was made: its counts start from zero then (OpenMetrics' `_created`).
    created: DateTime<Utc>,
    recorder: Recorder,
    state: Store<MonitorState>,
}

impl MonitorStore {
    /// A store for monitor `name`, collecting as `config` says.
    pub fn new(name: impl Into<String>, config: &MonitoringConfig) -> Result<Arc<Self>, String> {
        let layout = config.histogram.layout()?;
        let names = vec!["query".to_owned(), "index".to_owned()];
        let name = name.into();
        let buckets = config.buckets_of(&name);
        Ok(Arc::new(MonitorStore {
            created: Utc::now(),
            state: Store::from(MonitorState {
                snapshots: Vec::new(),
                window: VecDeque::new(),
                window_len: config.window.max(1),
                tick: config.tick,
                totals: Vec::new(),
                counter_totals: Vec::new(),
                export: Vec::new(),
                last_collect: None,
                last_sample_at: None,
            }),
            name,
            recorder: Recorder {
                recorders: Recorders::new(layout),
                names: Arc::new(Mutex::new(names)),
                series: Arc::default(),
                exemplars: Arc::default(),
                buckets,
            },
        }))
    }

    /// The recording side.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Records one latency sample in `every` from now on (1 = all); counts stay exact.
    pub fn set_sample_every(&self, every: u32) {
        self.recorder
            .recorders
            .sample_every
            .store(every.max(1), Ordering::Relaxed);
    }

    /// The monitor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How often the monitor collects.
    pub fn tick(&self) -> Duration {
        self.lock().tick
    }

    /// Takes a reloaded configuration: the tick and window length apply at once (the actor re-arms
    /// its timer on [`crate::monitor::Reconfigure`]); histogram bounds only to monitors created after.
    pub fn reconfigure(&self, config: &MonitoringConfig) {
        self.lock().tick = config.tick;
        self.set_window(config.window);
    }

    fn lock(&self) -> MutexGuard<'_, MonitorState> {
        self.state.lock()
    }

    /// The kinds' names, by kind (the built-in ones first).
    fn kind_names(&self) -> MutexGuard<'_, Vec<String>> {
        self.recorder
            .names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn series(&self) -> MutexGuard<'_, SeriesNames> {
        self.recorder
            .series
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Counters (name, total at the last collection) and gauges (name, current level), in
    /// registration order, and how many names were refused.
    fn series_figures(&self, st: &MonitorState) -> SeriesFigures {
        let series = self.series();
        SeriesFigures {
            counters: series
                .counters
                .iter()
                .enumerate()
                .map(|(c, name)| (name.clone(), st.counter_totals.get(c).copied().unwrap_or(0)))
                .collect(),
            gauges: series
                .gauges
                .iter()
                .enumerate()
                .map(|(g, name)| (name.clone(), self.recorder.recorders.gauge(g)))
                .collect(),
            refused: series.refused,
        }
    }

    /// Totals, the window's mean, counters and gauges: [`MonitorStore::stats`] without the
    /// histogram work.
    pub fn summary(&self) -> MonitorSummary {
        let sample_every = self.recorder.recorders.sample_every.load(Ordering::Relaxed);
        let st = self.lock();
        let (mut count, mut sum) = (0u64, 0u64);
        for interval in &st.window {
            for (_, kind) in &interval.kinds {
                count += kind.count;
                sum = sum.wrapping_add(kind.sum);
            }
        }
        let figures = self.series_figures(&st);
        MonitorSummary {
            total_operations: st.totals.iter().map(|t| t.count).sum(),
            mean: mean(sum, count),
            last_sample_at: st.last_sample_at,
            sample_fraction: 1.0 / f64::from(sample_every.max(1)),
            counters: figures.counters,
            gauges: figures.gauges,
        }
    }

    /// Statistics over the rolling window, with exact totals.
    pub fn stats(&self) -> PerformanceStats {
        let layout = &self.recorder.recorders.layout;
        let names = self.kind_names().clone();
        let sample_every = self.recorder.recorders.sample_every.load(Ordering::Relaxed);
        with_scratch(layout, |scratch, all| {
            let mut st = self.lock();
            let st = &mut *st;
            let window: Duration = st.window.iter().map(|i| i.duration).sum();
            let secs = window.as_secs_f64();
            let per_second = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
            all.reset();
            let mut kinds = Vec::new();
            let (mut w_count, mut w_sum, mut w_errors) = (0u64, 0u64, 0u64);
            for (k, name) in names.iter().enumerate() {
                scratch.reset();
                let (mut count, mut sum, mut errors) = (0u64, 0u64, 0u64);
                for interval in &st.window {
                    let kind = interval.kind(k);
                    count += kind.count;
                    sum = sum.wrapping_add(kind.sum);
                    errors += kind.errors;
                    for (i, n) in kind.buckets.iter() {
                        let v = layout.value(i as usize);
                        scratch.saturating_record_n(v, n);
                        all.saturating_record_n(v, n);
                    }
                }
                w_count += count;
                w_sum = w_sum.wrapping_add(sum);
                w_errors += errors;
                let totals = st.totals(k);
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
                    latency: Quantiles::of(scratch),
                    lifetime_mean: mean(totals.sum, totals.count),
                    lifetime_max: Duration::from_nanos(totals.max),
                });
            }
            let figures = self.series_figures(st);
            let refused_names = figures.refused;
            let counters = figures
                .counters
                .into_iter()
                .enumerate()
                .map(|(c, (name, total))| {
                    let window_count = st
                        .window
                        .iter()
                        .filter_map(|i| i.counters.get(c))
                        .fold(0u64, |a, &b| a.saturating_add(b));
                    CounterStats {
                        name,
                        total,
                        window_count,
                        per_second: per_second(window_count),
                    }
                })
                .collect();
            let gauges = figures
                .gauges
                .into_iter()
                .map(|(name, value)| GaugeStats { name, value })
                .collect();
            let totals = |k: usize| st.totals(k);
            PerformanceStats {
                monitor: self.name.clone(),
                total_queries: totals(0).count,
                total_indexes: totals(1).count,
                total_operations: st.totals.iter().map(|t| t.count).sum(),
                errors: st.totals.iter().map(|t| t.errors).sum(),
                clamped: st.totals.iter().map(|t| t.clamped).sum(),
                window,
                window_operations: w_count,
                mean: mean(w_sum, w_count),
                latency: Quantiles::of(all),
                latency_stdev: if all.is_empty() {
                    Duration::ZERO
                } else {
                    Duration::from_nanos(all.stdev() as u64)
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
                counters,
                gauges,
                refused_names,
            }
        })
    }

    /// The window interval by interval, oldest first: counts, rates and p50/p99/p99.9 of each
    /// tick, per kind. Computed from the intervals already held (their sparse buckets), so it
    /// costs a walk over the window and keeps nothing.
    pub fn history(&self) -> MonitorHistory {
        let layout = &self.recorder.recorders.layout;
        let names = self.kind_names().clone();
        let now = Instant::now();
        let st = self.lock();
        // How long ago each interval ended: the newest at the last collection, each older one
        // where the next began.
        let mut ends = Vec::with_capacity(st.window.len());
        let mut ago = st
            .last_collect
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        for interval in st.window.iter().rev() {
            ends.push(ago);
            ago += interval.duration;
        }
        ends.reverse();
        let kinds = names
            .iter()
            .enumerate()
            .filter(|(k, _)| st.totals(*k).count > 0 || st.totals(*k).errors > 0 || *k < 2)
            .map(|(k, name)| KindHistory {
                kind: name.clone(),
                total: st.totals(k).count,
                intervals: st
                    .window
                    .iter()
                    .zip(&ends)
                    .map(|(interval, &ago)| {
                        let kind = interval.kind(k);
                        let secs = interval.duration.as_secs_f64();
                        let q = with_scratch(layout, |reference, _| {
                            interval_quantiles(kind.buckets.iter(), layout, reference)
                        });
                        IntervalFigures {
                            ago,
                            duration: interval.duration,
                            count: kind.count,
                            errors: kind.errors,
                            per_second: if secs > 0.0 {
                                kind.count as f64 / secs
                            } else {
                                0.0
                            },
                            p50: q.map(|q| q[0]),
                            p99: q.map(|q| q[1]),
                            p999: q.map(|q| q[2]),
                        }
                    })
                    .collect(),
            })
            .collect();
        MonitorHistory {
            monitor: self.name.clone(),
            tick: st.tick,
            window_intervals: st.window_len,
            kinds,
        }
    }

    /// Cumulative counters and fixed buckets for Prometheus exposition (no quantile work), for
    /// the kinds that saw an operation.
    pub fn exposition(&self) -> Exposition {
        let names = self.kind_names().clone();
        let exemplars = self
            .recorder
            .exemplars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let st = self.lock();
        let kinds = names
            .into_iter()
            .enumerate()
            // Only kinds that saw an operation: an unused kind is no series, not a row of zeros.
            .filter(|(k, _)| st.totals(*k).count > 0 || st.totals(*k).errors > 0)
            .map(|(k, kind)| {
                let t = st.totals(k);
                let export = st.export.get(k).map_or(&[][..], Vec::as_slice);
                let mut cumulative = vec![0u64; self.recorder.buckets.len()];
                let mut running = 0u64;
                for (b, slot) in cumulative.iter_mut().enumerate() {
                    running += export.get(b).copied().unwrap_or(0);
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
                    exemplars: exemplars.get(k).cloned().unwrap_or_default(),
                }
            })
            .collect();
        let figures = self.series_figures(&st);
        Exposition {
            monitor: self.name.clone(),
            created: self.created,
            buckets: self.recorder.buckets.clone(),
            kinds,
            counters: figures.counters,
            gauges: figures.gauges,
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
                k.capacity() * std::mem::size_of::<Option<KindSnapshot>>()
                    + k.iter()
                        .flatten()
                        .map(|s| s.reading.heap_bytes())
                        .sum::<usize>()
            })
            .sum();
        let window_bytes: usize = st.window.iter().map(Interval::bytes).sum::<usize>()
            + (st.window.capacity() - st.window.len()) * std::mem::size_of::<Interval>();
        Footprint {
            component: self.name.clone(),
            bytes: recorder_bytes + snapshot_bytes + window_bytes,
            recorder_bytes,
            history_bytes: window_bytes,
            threads: slots.len() - 1,
        }
    }

    /// Starts the first interval now, unless collection has already begun.
    pub(crate) fn begin(&self) {
        let mut st = self.lock();
        if st.last_collect.is_none() {
            st.last_collect = Some(Instant::now());
        }
    }

    pub(crate) fn set_window(&self, intervals: usize) -> usize {
        let mut st = self.lock();
        let previous = st.window_len;
        st.window_len = intervals.max(1);
        while st.window.len() > st.window_len {
            st.window.pop_front();
        }
        previous
    }

    pub(crate) fn trim(&self, keep: usize) -> usize {
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

/// A layout's bounds with the two histograms a window of that layout is merged into.
type Scratch = ((u64, u64, u8), Histogram<u64>, Histogram<u64>);

thread_local! {
    /// Histograms a window is merged into (one kind's, all kinds'), shared by every monitor of one
    /// layout that this thread reads, so a monitor holds no 147 KiB scratch of its own.
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's scratch histograms of `layout` (made on first use).
fn with_scratch<R>(
    layout: &Layout,
    mut f: impl FnMut(&mut Histogram<u64>, &mut Histogram<u64>) -> R,
) -> R {
    let shared = SCRATCH.try_with(|cell| {
        let mut cell = cell.try_borrow_mut().ok()?;
        if cell
            .as_ref()
            .is_none_or(|(key, _, _)| *key != layout.bounds())
        {
            *cell = Some((layout.bounds(), layout.histogram(), layout.histogram()));
        }
        let (_, one, all) = cell.as_mut()?;
        Some(f(one, all))
    });
    match shared {
        Ok(Some(out)) => out,
        // This thread's storage is gone or in use: histograms of its own for this call.
        _ => f(&mut layout.histogram(), &mut layout.histogram()),
    }
}

/// The export bucket of a latency: the first bound at or above it, `+Inf` (the last) past them all.
pub(super) fn bucket_of(buckets: &[f64], seconds: f64) -> usize {
    buckets
        .iter()
        .position(|&le| seconds <= le)
        .unwrap_or(buckets.len())
}

fn mean(sum: u64, count: u64) -> Duration {
    Duration::from_nanos(sum.checked_div(count).unwrap_or(0))
}
