//! [`MonitorHandle`]: what the host's hot paths hold to record latencies into one monitor.

use std::sync::Arc;
use std::time::{Duration, Instant};

use watchkeeper_actors::monitor::{
    Counter, Gauge, GetStats, MonitorActor, MonitorStore, OpKind, PerformanceStats, Recorder,
    SetSampling,
};
use watchkeeper_actors::ChildRef;

use crate::error::Error;
use crate::tree::SystemLink;

/// A monitor's recording handle: `Clone + Send + Sync`, cheap to clone and to call from any thread.
/// Recording never blocks, never allocates after a thread's first sample, never panics.
///
/// # Examples
///
/// ```
/// # let mut config = watchkeeper::Config::default();
/// # config.deployment.admin_enabled = false;
/// # let rt = watchkeeper::Runtime::start(config)?;
/// use std::time::Duration;
/// use watchkeeper::OpKind;
///
/// let search = rt.monitor("search")?;
/// let suggest = search.kind("suggest").unwrap();
/// search.record_query(Duration::from_millis(4));
/// search.record(suggest, Duration::from_millis(1));
/// search.record_error(OpKind::QUERY);
/// let hits = search.time(OpKind::QUERY, || 2 + 2);
/// rt.flush_blocking()?;
/// let stats = search.stats_blocking()?;
/// assert_eq!((hits, stats.total_queries, stats.errors), (4, 2, 1));
/// assert_eq!(stats.kind("suggest").unwrap().total, 1);
///
/// # rt.shutdown_blocking(std::time::Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct MonitorHandle {
    name: Arc<str>,
    recorder: Recorder,
    actor: ChildRef<MonitorActor>,
    store: Arc<MonitorStore>,
    link: SystemLink,
}

impl std::fmt::Debug for MonitorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorHandle")
            .field("name", &self.name)
            .finish()
    }
}

impl MonitorHandle {
    pub(crate) fn new(
        name: Arc<str>,
        store: Arc<MonitorStore>,
        actor: ChildRef<MonitorActor>,
        link: SystemLink,
    ) -> Self {
        MonitorHandle {
            name,
            recorder: store.recorder().clone(),
            actor,
            store,
            link,
        }
    }

    /// The monitor's collected state (for exposition).
    pub(crate) fn store(&self) -> &MonitorStore {
        &self.store
    }

    /// The monitor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Records one answered query.
    #[inline]
    pub fn record_query(&self, latency: Duration) {
        self.recorder.record(OpKind::QUERY, latency);
    }

    /// Records one indexed batch.
    #[inline]
    pub fn record_index(&self, latency: Duration) {
        self.recorder.record(OpKind::INDEX, latency);
    }

    /// Records one operation of a kind from [`MonitorHandle::kind`].
    #[inline]
    pub fn record(&self, kind: OpKind, latency: Duration) {
        self.recorder.record(kind, latency);
    }

    /// Records a latency given in seconds (as floating point): negative, NaN or infinite values are
    /// clamped to zero or to the histogram's highest value, and counted as clamped.
    #[inline]
    pub fn record_secs_f64(&self, kind: OpKind, seconds: f64) {
        // A float-to-integer `as` saturates: NaN and negatives become 0, too large u64::MAX.
        self.recorder.record_nanos(kind, (seconds * 1e9) as u64);
    }

    /// Records one operation and keeps it as the exemplar of its `/metrics` bucket with the trace
    /// it belongs to (`trace_id`, shown in OpenMetrics scrapes). Takes a lock: call it for the
    /// operations whose traces are kept, not for every one. A trace id over 120 characters keeps
    /// no exemplar.
    pub fn record_with_trace(&self, kind: OpKind, latency: Duration, trace_id: &str) {
        self.recorder
            .record_with_exemplar(kind, latency, &[("trace_id", trace_id)]);
    }

    /// Counts one failed operation.
    pub fn record_error(&self, kind: OpKind) {
        self.recorder.record_error(kind);
    }

    /// The operation kind named `name` (registered on first use; 64 kinds per monitor, `query` and
    /// `index` included). Look it up once, outside the hot loop.
    pub fn kind(&self, name: &str) -> Option<OpKind> {
        self.recorder.kind(name)
    }

    /// The counter named `name` in this monitor, registered on first use (64 per monitor; past
    /// that a new name gets a counter that drops its increments, logged and counted in
    /// [`PerformanceStats::refused_names`]). Look it up once and keep it: `increment` is a
    /// thread-local add, no lock and no read-modify-write instruction, exact under any number of
    /// threads. Exported as `watchkeeper_count_total{monitor, counter}`; a rule reads its rate
    /// with `metric: counter_rate, series: Some(name)`.
    ///
    /// ```no_run
    /// # let rt = watchkeeper::Runtime::start(watchkeeper::Config::default()).unwrap();
    /// let search = rt.monitor("search").unwrap();
    /// let misses = search.counter("cache_misses");
    /// misses.increment(1);
    /// ```
    pub fn counter(&self, name: &str) -> Counter {
        self.recorder.counter(name)
    }

    /// The gauge named `name` in this monitor, registered on first use at 0 (64 per monitor, as
    /// for counters). `set` is one store; `increment` and `decrement` are exact under concurrent
    /// writers. Exported as `watchkeeper_level{monitor, gauge}`; a rule reads it with
    /// `metric: gauge, series: Some(name)`.
    ///
    /// ```no_run
    /// # let rt = watchkeeper::Runtime::start(watchkeeper::Config::default()).unwrap();
    /// let index = rt.monitor("index").unwrap();
    /// let depth = index.gauge("queue_depth");
    /// depth.set(42.0);
    /// depth.decrement(1.0);
    /// ```
    pub fn gauge(&self, name: &str) -> Gauge {
        self.recorder.gauge(name)
    }

    /// Runs `f` and records how long it took under `kind`.
    #[inline]
    pub fn time<R>(&self, kind: OpKind, f: impl FnOnce() -> R) -> R {
        let start = Instant::now();
        let out = f();
        self.recorder.record(kind, start.elapsed());
        out
    }

    /// A guard that records the time until it is dropped under `kind`.
    pub fn start_timer(&self, kind: OpKind) -> OperationTimer<'_> {
        OperationTimer {
            handle: self,
            kind,
            start: Instant::now(),
        }
    }

    /// The monitor's statistics. Works from any async runtime: the question runs on the monitor's own.
    pub async fn stats(&self) -> Result<PerformanceStats, Error> {
        let actor = self.actor.clone();
        let timeout = self.link.ask_timeout;
        self.link
            .run(async move { actor.ask(GetStats, timeout).await })
            .await?
            .map_err(Error::Ask)
    }

    /// The monitor's statistics, for synchronous hosts (blocks up to the ask timeout).
    pub fn stats_blocking(&self) -> Result<PerformanceStats, Error> {
        Ok(self.actor.ask_blocking(GetStats, self.link.ask_timeout)?)
    }

    /// Records only this fraction of latency samples from now on (counts stay exact); returns the
    /// fraction in effect.
    pub fn set_sampling_blocking(&self, fraction: f64) -> Result<f64, Error> {
        Ok(self
            .actor
            .ask_blocking(SetSampling(fraction), self.link.ask_timeout)?)
    }

    /// The monitor actor, for messages beyond this handle's methods.
    pub fn actor(&self) -> &ChildRef<MonitorActor> {
        &self.actor
    }
}

/// Records the time from its creation to its drop; see [`MonitorHandle::start_timer`].
///
/// # Examples
///
/// ```
/// # let mut config = watchkeeper::Config::default();
/// # config.deployment.admin_enabled = false;
/// # let rt = watchkeeper::Runtime::start(config)?;
/// use watchkeeper::OpKind;
///
/// let index = rt.monitor("index")?;
/// {
///     let _timer = index.start_timer(OpKind::INDEX);
///     // index a batch; the time is recorded when `_timer` is dropped
/// }
/// rt.flush_blocking()?;
/// assert_eq!(index.stats_blocking()?.total_indexes, 1);
///
/// # rt.shutdown_blocking(std::time::Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct OperationTimer<'a> {
    handle: &'a MonitorHandle,
    kind: OpKind,
    start: Instant,
}

impl Drop for OperationTimer<'_> {
    fn drop(&mut self) {
        self.handle.recorder.record(self.kind, self.start.elapsed());
    }
}
