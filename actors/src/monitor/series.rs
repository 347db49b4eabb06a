//! A monitor's counters and gauges: the handles a host keeps ([`Counter`], [`Gauge`]) and the
//! names that place each in its cell. Counters are per-thread cells beside the latency cells
//! (`recorder.rs`); a gauge is one cell shared by every thread.

use std::sync::Arc;

use crate::monitor::recorder::{Recorders, MAX_COUNTERS, MAX_GAUGES};

/// The names of a monitor's counters and gauges, in registration order (a name's position is its
/// cell), and how many names were refused for want of room.
#[derive(Debug, Default)]
pub(super) struct SeriesNames {
    pub(super) counters: Vec<String>,
    pub(super) gauges: Vec<String>,
    pub(super) refused: u64,
}

/// A monotonic count in one monitor, from [`Recorder::counter`](super::Recorder::counter): `Clone + Send + Sync`; an
/// increment is a thread-local add (no lock, no read-modify-write instruction), exact under any
/// number of writing threads.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::monitor::{MonitorStore, MonitoringConfig};
///
/// let store = MonitorStore::new("search", &MonitoringConfig::default())?;
/// let misses = store.recorder().counter("cache_misses");
/// misses.increment(2);
/// std::thread::scope(|s| {
///     s.spawn(|| misses.increment(3));
/// });
/// assert!(misses.is_registered());
/// assert_eq!(misses.value(), 5);
/// # Ok::<(), String>(())
/// ```
#[derive(Clone)]
pub struct Counter {
    pub(super) recorders: Arc<Recorders>,
    /// The counter's cell; `MAX_COUNTERS` for a counter refused for want of room (a no-op).
    pub(super) index: usize,
    /// The cell's key in each thread's cache of counter cells ([`Recorders::counter_key`]), kept
    /// so that an increment loads it rather than computes it.
    pub(super) key: u64,
}

impl Counter {
    /// Adds `n`.
    #[inline]
    pub fn increment(&self, n: u64) {
        self.recorders.increment(self.index, self.key, n);
    }

    /// Whether increments land (false for a name refused because the monitor had no room left).
    pub fn is_registered(&self) -> bool {
        self.index < MAX_COUNTERS
    }

    /// The total now, summed over every thread's cells (takes the monitor's list of threads; not
    /// for the hot path). 0 for a refused counter.
    pub fn value(&self) -> u64 {
        if self.index >= MAX_COUNTERS {
            return 0;
        }
        Recorders::counter_total(&self.recorders.snapshot_slots(), self.index)
    }
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counter")
            .field("index", &self.index)
            .finish()
    }
}

/// A level in one monitor, from [`Recorder::gauge`](super::Recorder::gauge): `Clone + Send + Sync`. `set` is one store;
/// `increment` and `decrement` are a compare-and-swap loop, exact under concurrent writers.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::monitor::{MonitorStore, MonitoringConfig};
///
/// let store = MonitorStore::new("index", &MonitoringConfig::default())?;
/// let depth = store.recorder().gauge("queue_depth");
/// depth.set(10.0);
/// depth.increment(2.5);
/// depth.decrement(0.5);
/// assert_eq!(depth.value(), 12.0);
/// # Ok::<(), String>(())
/// ```
#[derive(Clone)]
pub struct Gauge {
    pub(super) recorders: Arc<Recorders>,
    /// The gauge's cell; `MAX_GAUGES` for a gauge refused for want of room (a no-op).
    pub(super) index: usize,
}

impl Gauge {
    /// Sets the level. A NaN is ignored (and changes nothing); infinities are kept as they are.
    #[inline]
    pub fn set(&self, value: f64) {
        if !value.is_nan() {
            self.recorders.set_gauge(self.index, value);
        }
    }

    /// Raises the level by `delta` (a NaN delta is ignored).
    #[inline]
    pub fn increment(&self, delta: f64) {
        if !delta.is_nan() {
            self.recorders.add_gauge(self.index, delta);
        }
    }

    /// Lowers the level by `delta` (a NaN delta is ignored).
    #[inline]
    pub fn decrement(&self, delta: f64) {
        if !delta.is_nan() {
            self.recorders.add_gauge(self.index, -delta);
        }
    }

    /// The current level.
    pub fn value(&self) -> f64 {
        self.recorders.gauge(self.index)
    }

    /// Whether updates land (false for a name refused because the monitor had no room left).
    pub fn is_registered(&self) -> bool {
        self.index < MAX_GAUGES
    }
}

impl std::fmt::Debug for Gauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gauge")
            .field("index", &self.index)
            .field("value", &self.value())
            .finish()
    }
}

/// `name`'s position in `names`, appended when new; `limit` when there is no room.
pub(super) fn register(names: &mut Vec<String>, name: &str, limit: usize) -> usize {
    if let Some(i) = names.iter().position(|n| n == name) {
        return i;
    }
    if names.len() >= limit {
        return limit;
    }
    names.push(name.to_owned());
    names.len() - 1
}
