//! [`MetricsRecorder`]: the `metrics` facade's `Recorder`, so a host's `histogram!`, `counter!` and
//! `gauge!` land in watchkeeper's monitors.
//!
//! The macros register their key on every call, so registration is on the host's hot path. Each
//! thread keeps a cache of the keys it has used (by the key's precomputed hash, then equality); a
//! miss takes the shared map's lock once per thread and key. The handles it returns write the same
//! per-thread cells as `MonitorHandle`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{Key, KeyName, Metadata, SharedString, Unit};
use watchkeeper_actors::monitor::{Counter, Gauge, OpKind};

use super::{InstrumentationConfig, Target};
use crate::monitor_handle::MonitorHandle;
use crate::tree::ActorTree;

/// The `metrics` facade's recorder over a runtime's monitors, from
/// [`Runtime::metrics_recorder`](crate::Runtime::metrics_recorder): install it with
/// `metrics::set_global_recorder` and every `histogram!`, `counter!` and `gauge!` of the host is
/// recorded.
///
/// A key's monitor is its `monitor` label, else its name's entry in `instrumentation.monitors`,
/// else its name; a histogram's kind (a counter's or gauge's series name) is its `kind` label,
/// else its name, with any other labels appended as `{key=value,...}`. Histograms record in the
/// unit of time `describe_histogram!` gave their name before their first use, else in
/// `instrumentation.histogram_unit` (seconds by default); one described in another unit is
/// dropped, as it is not a latency. Keys past `max_series`, and kinds,
/// counters or gauges past a monitor's room, are dropped and counted in
/// `watchkeeper_instrumentation_dropped_total`.
///
/// ```no_run
/// let rt = watchkeeper::Runtime::start(watchkeeper::Config::default()).unwrap();
/// metrics::set_global_recorder(rt.metrics_recorder()).unwrap();
/// metrics::histogram!("latency_seconds", "monitor" => "search", "kind" => "query").record(0.004);
/// metrics::counter!("cache_misses_total", "monitor" => "search").increment(1);
/// metrics::gauge!("queue_depth", "monitor" => "index").set(12.0);
/// ```
#[derive(Clone)]
pub struct MetricsRecorder {
    shared: Arc<Shared>,
}

struct Shared {
    id: u64,
    tree: Arc<ActorTree>,
    config: InstrumentationConfig,
    registered: Mutex<HashMap<Key, Registered>>,
    /// Units given by `describe_histogram!`, by metric name.
    units: Mutex<HashMap<String, Unit>>,
}

/// What one key became.
#[derive(Clone)]
enum Registered {
    Counter(Arc<CounterTarget>),
    Gauge(Arc<GaugeTarget>),
    Histogram(Arc<HistogramTarget>),
    /// Refused (past a limit): the facade's no-op handle.
    Dropped,
}

#[derive(Clone)]
struct CounterTarget {
    counter: Counter,
    /// Taken by `absolute` between reading the total and raising it, so that two threads'
    /// calls do not both add to the same reading; shared by the key's handles on every thread.
    raising: Arc<Mutex<()>>,
}

#[derive(Clone)]
struct GaugeTarget(Gauge);

#[derive(Clone)]
struct HistogramTarget {
    handle: MonitorHandle,
    kind: OpKind,
    seconds: f64,
}

impl metrics::CounterFn for CounterTarget {
    fn increment(&self, value: u64) {
        self.counter.increment(value);
    }

    /// Raises the counter to `value` (a lower value changes nothing), as one step: calls from
    /// several threads end at the highest value given, never above it.
    fn absolute(&self, value: u64) {
        let _one_at_a_time = self.raising.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.counter.value();
        if value > now {
            self.counter.increment(value - now);
        }
    }
}

impl metrics::GaugeFn for GaugeTarget {
    fn increment(&self, value: f64) {
        self.0.increment(value);
    }

    fn decrement(&self, value: f64) {
        self.0.decrement(value);
    }

    fn set(&self, value: f64) {
        self.0.set(value);
    }
}

impl metrics::HistogramFn for HistogramTarget {
    fn record(&self, value: f64) {
        self.handle.record_secs_f64(self.kind, value * self.seconds);
    }
}

impl Registered {
    /// The same target behind an `Arc` of this thread's own: the facade's handles count their
    /// `Arc`'s references on every registration, and a count shared by all threads would move
    /// between cores on each call.
    fn for_this_thread(&self) -> Registered {
        match self {
            Registered::Counter(c) => Registered::Counter(Arc::new((**c).clone())),
            Registered::Gauge(g) => Registered::Gauge(Arc::new((**g).clone())),
            Registered::Histogram(h) => Registered::Histogram(Arc::new((**h).clone())),
            Registered::Dropped => Registered::Dropped,
        }
    }
}

/// Which of the three a key is registered as.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Counter,
    Gauge,
    Histogram,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A key's own precomputed hash is the map's hash.
#[derive(Default)]
struct KeyHash(u64);

impl Hasher for KeyHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// One registration a thread has seen.
struct Cached {
    recorder: u64,
    family: Family,
    key: Key,
    registered: Registered,
}

/// By the key's hash mixed with the recorder and the family; an entry is used only when all
/// three and the key itself match, so a collision costs a trip to the shared map, never a wrong
/// series.
type Cache = HashMap<u64, Cached, BuildHasherDefault<KeyHash>>;

thread_local! {
    /// This thread's registrations.
    static CACHE: RefCell<Cache> = const {
        RefCell::new(HashMap::with_hasher(BuildHasherDefault::new()))
    };
}

/// Whether two keys are equal; at once when both name the same memory, as a macro's static key and
/// the cache's copy of it do (a copy of a static key borrows the same static strings; a key built at
/// run time never points into the cache's own copy), else by comparing their text.
#[inline]
fn same_key(cached: &Key, key: &Key) -> bool {
    (std::ptr::eq(cached.name(), key.name())
        && std::ptr::eq(cached.labels().as_slice(), key.labels().as_slice()))
        || cached == key
}

impl MetricsRecorder {
    pub(crate) fn new(tree: Arc<ActorTree>) -> Self {
        let config = tree.config.get().instrumentation.clone();
        MetricsRecorder {
            shared: Arc::new(Shared {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                tree,
                config,
                registered: Mutex::default(),
                units: Mutex::default(),
            }),
        }
    }

    fn lookup(&self, key: &Key, family: Family) -> Registered {
        let id = self.shared.id;
        let slot = key.get_hash() ^ id.rotate_left(40) ^ ((family as u64) << 62);
        let cached = CACHE.try_with(|cache| {
            cache
                .borrow()
                .get(&slot)
                .filter(|c| c.recorder == id && c.family == family && same_key(&c.key, key))
                .map(|c| c.registered.clone())
        });
        if let Ok(Some(found)) = cached {
            return found;
        }
        let registered = self.register(key, family);
        if matches!(registered, Registered::Dropped) {
            // Not cached: a label with unbounded values must not grow every thread's cache.
            return registered;
        }
        let registered = registered.for_this_thread();
        let _ = CACHE.try_with(|cache| {
            // A slot taken by another key keeps it.
            cache.borrow_mut().entry(slot).or_insert_with(|| Cached {
                recorder: id,
                family,
                key: key.clone(),
                registered: registered.clone(),
            });
        });
        registered
    }

    #[cold]
    fn register(&self, key: &Key, family: Family) -> Registered {
        let shared = &self.shared;
        let mut map = shared.registered.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = map.get(key) {
            if matches!(
                (r, family),
                (Registered::Counter(_), Family::Counter)
                    | (Registered::Gauge(_), Family::Gauge)
                    | (Registered::Histogram(_), Family::Histogram)
                    | (Registered::Dropped, _)
            ) {
                return r.clone();
            }
            // The same key as another family: only the first is kept.
            return self.dropped(key, "registered as another kind of metric");
        }
        if map.len() >= shared.config.max_series {
            return self.dropped(key, "instrumentation.max_series reached");
        }
        let labels = key.labels().map(|l| (l.key(), l.value()));
        let Some(target) = Target::of(&shared.config, key.name(), labels, true) else {
            return self.dropped(key, "no monitor");
        };
        let handle = match shared.tree.monitor(&target.monitor) {
            Ok(h) => h,
            Err(e) => return self.dropped(key, &e.to_string()),
        };
        let registered = match family {
            Family::Counter => {
                let counter = handle.counter(&target.name);
                if !counter.is_registered() {
                    return self.dropped(key, "the monitor has 64 counters");
                }
                Registered::Counter(Arc::new(CounterTarget {
                    counter,
                    raising: Arc::default(),
                }))
            }
            Family::Gauge => {
                let gauge = handle.gauge(&target.name);
                if !gauge.is_registered() {
                    return self.dropped(key, "the monitor has 64 gauges");
                }
                Registered::Gauge(Arc::new(GaugeTarget(gauge)))
            }
            Family::Histogram => {
                let described = shared
                    .units
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(key.name())
                    .copied();
                let seconds = match described {
                    None => shared.config.histogram_unit.seconds(),
                    Some(Unit::Seconds) => 1.0,
                    Some(Unit::Milliseconds) => 1e-3,
                    Some(Unit::Microseconds) => 1e-6,
                    Some(Unit::Nanoseconds) => 1e-9,
                    Some(other) => {
                        return self.dropped(
                            key,
                            &format!(
                                "described in {}, not time: a monitor's histograms are latencies",
                                other.as_str()
                            ),
                        )
                    }
                };
                let Some(kind) = handle.kind(&target.name) else {
                    return self.dropped(key, "the monitor has 64 kinds");
                };
                Registered::Histogram(Arc::new(HistogramTarget {
                    handle,
                    kind,
                    seconds,
                }))
            }
        };
        map.insert(key.clone(), registered.clone());
        registered
    }

    fn dropped(&self, key: &Key, why: &str) -> Registered {
        super::count_drop(&self.shared.tree, "metric", key.name(), why);
        Registered::Dropped
    }
}

impl std::fmt::Debug for MetricsRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsRecorder")
            .field("id", &self.shared.id)
            .finish()
    }
}

impl metrics::Recorder for MetricsRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    /// Keeps the unit: a histogram described in a unit of time records in it (before its first
    /// use; `instrumentation.histogram_unit` otherwise), one described in another unit (bytes, a
    /// count, ...) is not a latency and is dropped and counted.
    fn describe_histogram(&self, name: KeyName, unit: Option<Unit>, _: SharedString) {
        if let Some(unit) = unit {
            let mut units = self.shared.units.lock().unwrap_or_else(|p| p.into_inner());
            if units.len() < self.shared.config.max_series || units.contains_key(name.as_str()) {
                units.insert(name.as_str().to_owned(), unit);
            }
        }
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> metrics::Counter {
        match self.lookup(key, Family::Counter) {
            Registered::Counter(c) => metrics::Counter::from_arc(c),
            _ => metrics::Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> metrics::Gauge {
        match self.lookup(key, Family::Gauge) {
            Registered::Gauge(g) => metrics::Gauge::from_arc(g),
            _ => metrics::Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        match self.lookup(key, Family::Histogram) {
            Registered::Histogram(h) => metrics::Histogram::from_arc(h),
            _ => metrics::Histogram::noop(),
        }
    }
}
