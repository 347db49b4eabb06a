//! Monitors: per-component latency recording and the [`MonitorActor`] that turns samples into
//! [`PerformanceStats`].
//!
//! Hosts record through a [`Recorder`] (see `recorder.rs`): per-thread cells, no messages; its
//! [`Counter`]s are per-thread cells too, its [`Gauge`]s one shared cell each. On every
//! tick the actor collects each thread's new samples ([`MonitorStore`]); all collected state lives in
//! the store, shared with the factory, so a restart of the actor loses nothing.
//! Messages: [`GetStats`], [`GetHistory`] (the window interval by interval), [`Collect`], [`SetSampling`], [`SetWindow`], [`Reconfigure`], and the
//! memory manager's [`GetFootprint`] and [`Trim`].

mod cell_counts;
mod cells;
mod config;
mod handle;
mod history;
mod kind_cells;
mod recorder;
mod series;
mod stats;
mod store;

use std::sync::Arc;

pub use self::config::{HistogramBounds, MonitoringConfig};
pub use self::handle::Recorder;
pub use self::history::{IntervalFigures, KindHistory, MonitorHistory};
pub use self::recorder::{Layout, OpKind, MAX_COUNTERS, MAX_GAUGES, MAX_KINDS};
pub use self::series::{Counter, Gauge};
pub use self::stats::{
    CounterStats, Exemplar, Exposition, GaugeStats, KindExposition, KindStats, MonitorSummary,
    PerformanceStats, Quantiles,
};
pub use self::store::MonitorStore;
use crate::memory::{Footprint, GetFootprint, Trim};
use crate::{ChildActor, ChildContext, Directory, Handles, Message, Overflow, TimerHandle};

/// Monitors by name, as the alerting actor, the tuner and the memory manager read them.
pub type MonitorDirectory = Directory<MonitorActor>;

/// Upper bounds (seconds) of the fixed buckets a monitor exports; `+Inf` is implied.
pub const EXPORT_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The monitor actor; see the module docs.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::monitor::{Collect, GetStats, MonitorActor, MonitorStore, MonitoringConfig};
/// use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
///
/// let store = MonitorStore::new("search", &MonitoringConfig::default())?;
/// let recorder = store.recorder().clone();
/// actix::System::new().block_on(async move {
///     let bus = EventBus::default();
///     let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), bus, None);
///     let search = root.start_child(ChildSpec::new("search", move || MonitorActor::new(store.clone())));
///     recorder.record(recorder.kind("query").unwrap(), Duration::from_millis(2));
///     search.ask(Collect, Duration::from_secs(1)).await.unwrap();
///     let stats = search.ask(GetStats, Duration::from_secs(1)).await.unwrap();
///     assert_eq!(stats.total_queries, 1);
///     root.shutdown().await;
/// });
/// # Ok::<(), String>(())
/// ```
pub struct MonitorActor {
    store: Arc<MonitorStore>,
    timer: Option<TimerHandle>,
}

impl MonitorActor {
    /// An actor over `store` (a restart builds a new one over the same store).
    pub fn new(store: Arc<MonitorStore>) -> Self {
        MonitorActor { store, timer: None }
    }

    fn arm(&mut self, ctx: &mut ChildContext<'_, Self>) {
        if let Some(timer) = self.timer.take() {
            ctx.cancel(timer);
        }
        let tick = self.store.tick();
        self.timer = Some(ctx.run_interval(tick, |act, _| act.store.collect()));
    }
}

impl ChildActor for MonitorActor {
    fn started(&mut self, ctx: &mut ChildContext<'_, Self>) {
        self.store.begin();
        self.arm(ctx);
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

/// Ask for what the health report needs: totals, the window's mean, counters and gauges, without
/// the quantiles [`GetStats`] computes.
#[derive(Debug)]
pub struct GetSummary;
impl Message for GetSummary {
    type Result = MonitorSummary;
    const OVERFLOW: Overflow = Overflow::Reject;
}
impl Handles<GetSummary> for MonitorActor {
    fn handle(&mut self, _: GetSummary, _: &mut ChildContext<'_, Self>) -> MonitorSummary {
        self.store.summary()
    }
}

/// Ask for the rolling window interval by interval (per-tick counts, rates and quantiles), answered
/// from the intervals the window already holds.
#[derive(Debug)]
pub struct GetHistory;
impl Message for GetHistory {
    type Result = MonitorHistory;
    const OVERFLOW: Overflow = Overflow::Reject;
}
impl Handles<GetHistory> for MonitorActor {
    fn handle(&mut self, _: GetHistory, _: &mut ChildContext<'_, Self>) -> MonitorHistory {
        self.store.history()
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
        self.store.set_sample_every(every);
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

/// Take a reloaded `monitoring` section: the tick and window length apply at once.
#[derive(Debug)]
pub struct Reconfigure(pub Arc<MonitoringConfig>);
impl Message for Reconfigure {
    type Result = ();
}
impl Handles<Reconfigure> for MonitorActor {
    fn handle(&mut self, msg: Reconfigure, ctx: &mut ChildContext<'_, Self>) {
        let before = self.store.tick();
        self.store.reconfigure(&msg.0);
        if self.store.tick() != before {
            self.arm(ctx);
        }
    }
}

impl Handles<GetFootprint> for MonitorActor {
    fn handle(&mut self, _: GetFootprint, _: &mut ChildContext<'_, Self>) -> Footprint {
        self.store.footprint()
    }
}

impl Handles<Trim> for MonitorActor {
    fn handle(&mut self, msg: Trim, _: &mut ChildContext<'_, Self>) -> usize {
        self.store.trim(msg.keep_intervals)
    }
}
