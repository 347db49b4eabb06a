//! [`Recorder`]: the cheap, thread-safe recording side of one monitor, which hosts keep and clone.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;

use crate::monitor::recorder::{OpKind, Recorders, MAX_COUNTERS, MAX_GAUGES, MAX_KINDS};
use crate::monitor::series::{register, Counter, Gauge, SeriesNames};
use crate::monitor::stats::Exemplar;
use crate::monitor::store::bucket_of;

/// The cheap, thread-safe recording side of one monitor.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::monitor::{MonitorStore, MonitoringConfig, OpKind};
///
/// let store = MonitorStore::new("search", &MonitoringConfig::default())?;
/// let recorder = store.recorder().clone();
/// std::thread::spawn(move || {
///     recorder.record(OpKind::QUERY, Duration::from_millis(2));
///     recorder.record_nanos(OpKind::INDEX, 40_000_000);
///     recorder.record_error(OpKind::QUERY);
/// })
/// .join()
/// .unwrap();
/// store.collect();
/// let stats = store.stats();
/// assert_eq!((stats.total_queries, stats.total_indexes, stats.errors), (1, 1, 1));
/// # Ok::<(), String>(())
/// ```
#[derive(Clone)]
pub struct Recorder {
    pub(super) recorders: Arc<Recorders>,
    pub(super) names: Arc<Mutex<Vec<String>>>,
    pub(super) series: Arc<Mutex<SeriesNames>>,
    pub(super) exemplars: Arc<Mutex<Exemplars>>,
    /// The export buckets' upper bounds, seconds.
    pub(super) buckets: Arc<[f64]>,
}

/// The latest exemplar of each kind's export bucket (`+Inf` last).
pub(super) type Exemplars = Vec<Vec<Option<Exemplar>>>;

/// The most characters an exemplar's labels may have together (names and values), as OpenMetrics
/// allows.
const EXEMPLAR_LABEL_CHARS: usize = 128;

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

    /// Records one operation of `kind` that took `nanos` nanoseconds (0 and values above the
    /// histogram's range are recorded clamped, and counted).
    #[inline]
    pub fn record_nanos(&self, kind: OpKind, nanos: u64) {
        self.recorders.record_nanos(kind, nanos);
    }

    /// Records one operation, as [`Recorder::record`], and keeps it as its bucket's exemplar with
    /// `labels` (a trace id). Takes a lock: for a sampled few operations, not every one. Labels
    /// over 128 characters together (names and values, as OpenMetrics allows) keep no exemplar.
    pub fn record_with_exemplar(&self, kind: OpKind, latency: Duration, labels: &[(&str, &str)]) {
        self.record(kind, latency);
        let chars: usize = labels
            .iter()
            .map(|(k, v)| k.chars().count() + v.chars().count())
            .sum();
        if chars > EXEMPLAR_LABEL_CHARS || labels.is_empty() {
            return;
        }
        let seconds = latency.as_secs_f64();
        let bucket = bucket_of(&self.buckets, seconds);
        let mut exemplars = self.exemplars.lock().unwrap_or_else(|p| p.into_inner());
        let k = usize::from(kind.0);
        if exemplars.len() <= k {
            exemplars.resize_with(k + 1, Vec::new);
        }
        // A kind without exemplars keeps an empty list, not one `None` per bucket.
        if exemplars[k].is_empty() {
            exemplars[k] = vec![None; self.buckets.len() + 1];
        }
        exemplars[k][bucket] = Some(Exemplar {
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            value_seconds: seconds,
            timestamp: Utc::now(),
        });
    }

    /// Counts one failed operation of `kind`.
    pub fn record_error(&self, kind: OpKind) {
        self.recorders.record_error(kind);
    }

    /// The kind named `name`, registered on first use; `None` once all 64 kinds are taken.
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

    /// The counter named `name`, registered on first use. Past 64 counters a new name gets a
    /// counter whose increments are dropped; the refusal is logged and counted in the stats.
    pub fn counter(&self, name: &str) -> Counter {
        let index = self.register_series(name, "counter", |s| &mut s.counters, MAX_COUNTERS);
        Counter {
            recorders: self.recorders.clone(),
            index,
            key: self.recorders.counter_key(index),
        }
    }

    /// The gauge named `name`, registered on first use at 0. Past 64 gauges a new name gets a
    /// gauge whose updates are dropped; the refusal is logged and counted in the stats.
    pub fn gauge(&self, name: &str) -> Gauge {
        Gauge {
            recorders: self.recorders.clone(),
            index: self.register_series(name, "gauge", |s| &mut s.gauges, MAX_GAUGES),
        }
    }

    /// `name`'s cell among the names `of` picks; `limit` (a no-op cell) when there is no room.
    fn register_series(
        &self,
        name: &str,
        what: &'static str,
        of: impl FnOnce(&mut SeriesNames) -> &mut Vec<String>,
        limit: usize,
    ) -> usize {
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let index = register(of(&mut series), name, limit);
        if index == limit {
            series.refused += 1;
            tracing::warn!(
                series = name,
                kind = what,
                limit,
                "Series refused: the monitor has no room for another"
            );
        }
        index
    }
}
