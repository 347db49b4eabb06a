//! [`MemoryManagerActor`]: measures memory, asks for trims under pressure, records what they freed.
//!
//! Every `memory_cleanup_interval` it reads the process's resident memory from the OS and asks each
//! registered component ([`Components`]) for the bytes it really holds ([`GetFootprint`]). When
//! resident memory passes `gc_trigger_threshold` of the budget, or the components together pass that
//! share of it, it sends each a [`Trim`] and records the bytes they report freeing (each measured as
//! its footprint before minus after) and the resident memory before and after. Memory over the
//! budget for `alert_after_checks` checks in a row raises the `MemoryOverLimit` alert; it resolves
//! when memory falls back. Statistics and history live in a [`MemoryStore`], so a restart keeps them.

mod components;
mod config;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use self::components::{Component, Components, Footprint, GetFootprint, Trim};
pub use self::config::MemoryConfig;
use crate::alerting::{AlertSeverity, AlertingActor, SetExternalAlert};
use crate::process::ProcessStats;
use crate::{
    ChildActor, ChildContext, ChildRef, Event, Handles, Live, Message, Overflow, Store, TimerHandle,
};

/// What the memory manager reaches: the components it measures, and the alerting actor its
/// over-budget alert goes to.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// use watchkeeper_actors::memory::*;
/// use watchkeeper_actors::{Live, Store};
///
/// let config = Live::new(MemoryConfig::default());
/// let store = Store::new(MemoryState::default());
/// let peers = Peers { ask_timeout: t, ..Peers::default() };
/// let memory = root.start_child(ChildSpec::new("memory", move || {
///     MemoryManagerActor::new(config.clone(), store.clone(), peers.clone())
/// }));
/// // No components registered: a check measures the process alone.
/// memory.ask(CheckMemory, t).await?;
/// assert!(memory.ask(GetMemoryReport, t).await?.footprints.is_empty());
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Default)]
pub struct Peers {
    /// The components it measures and trims.
    pub components: Components,
    /// Where `MemoryOverLimit` goes.
    pub alerting: Option<ChildRef<AlertingActor>>,
    /// How long a question to a component may take.
    pub ask_timeout: Duration,
}

/// Real figures of the cleanups so far.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// # use watchkeeper_actors::memory::*;
/// # use watchkeeper_actors::{Live, Store};
/// // A trigger so low that every check trims.
/// let config = Live::new(MemoryConfig { gc_trigger_threshold: 1e-9, ..Default::default() });
/// # let store = Store::new(MemoryState::default());
/// # let peers = Peers { ask_timeout: t, ..Peers::default() };
/// let memory = root.start_child(ChildSpec::new("memory", move || {
///     MemoryManagerActor::new(config.clone(), store.clone(), peers.clone())
/// }));
/// memory.ask(CheckMemory, t).await?;
/// let report = loop {
///     let report = memory.ask(GetMemoryReport, t).await?;
///     if report.cleanup.total_cleanups > 0 {
///         break report;
///     }
///     tokio::time::sleep(Duration::from_millis(5)).await;
/// };
/// assert_eq!(report.cleanup.total_cleanups, 1);
/// assert!(report.cleanup.last_cleanup_at.is_some());
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CleanupStatistics {
    /// Cleanups run.
    pub total_cleanups: u64,
    /// Bytes the components reported freeing, each measured as its footprint before minus after.
    pub bytes_freed: u64,
    /// Resident memory the process gave back across cleanups (before minus after, when it shrank).
    pub resident_bytes_released: u64,
    /// How long the last cleanup took.
    #[serde(
        rename = "last_cleanup_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub last_cleanup_duration: Duration,
    /// Mean cleanup duration.
    #[serde(
        rename = "average_cleanup_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub average_cleanup_duration: Duration,
    /// When the last cleanup ran.
    pub last_cleanup_at: Option<DateTime<Utc>>,
}

/// One measurement.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// # use watchkeeper_actors::memory::*;
/// # use watchkeeper_actors::{Live, Store};
/// // A trigger so low that every check trims.
/// let config = Live::new(MemoryConfig { gc_trigger_threshold: 1e-9, ..Default::default() });
/// # let store = Store::new(MemoryState::default());
/// # let peers = Peers { ask_timeout: t, ..Peers::default() };
/// let memory = root.start_child(ChildSpec::new("memory", move || {
///     MemoryManagerActor::new(config.clone(), store.clone(), peers.clone())
/// }));
/// memory.ask(CheckMemory, t).await?;
/// let report = loop {
///     let report = memory.ask(GetMemoryReport, t).await?;
///     if report.cleanup.total_cleanups > 0 {
///         break report;
///     }
///     tokio::time::sleep(Duration::from_millis(5)).await;
/// };
/// let sample = report.last.unwrap();
/// assert_eq!(sample.footprint_bytes, 0);
/// assert_eq!(report.history, [sample]);
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemorySample {
    /// When.
    pub at: DateTime<Utc>,
    /// Resident memory of the process, bytes (`None` where the OS does not tell).
    pub resident_bytes: Option<u64>,
    /// Bytes the components hold, together.
    pub footprint_bytes: u64,
}

/// What the memory manager knows.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// # use watchkeeper_actors::memory::*;
/// # use watchkeeper_actors::{Live, Store};
/// // A trigger so low that every check trims.
/// let config = Live::new(MemoryConfig { gc_trigger_threshold: 1e-9, ..Default::default() });
/// # let store = Store::new(MemoryState::default());
/// # let peers = Peers { ask_timeout: t, ..Peers::default() };
/// let memory = root.start_child(ChildSpec::new("memory", move || {
///     MemoryManagerActor::new(config.clone(), store.clone(), peers.clone())
/// }));
/// memory.ask(CheckMemory, t).await?;
/// let report = loop {
///     let report = memory.ask(GetMemoryReport, t).await?;
///     if report.cleanup.total_cleanups > 0 {
///         break report;
///     }
///     tokio::time::sleep(Duration::from_millis(5)).await;
/// };
/// assert_eq!(report.trigger_bytes, 0);
/// assert_eq!(report.history.len(), 1);
/// assert!(!report.over_limit_alert);
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemoryReport {
    /// The budget, bytes.
    pub limit_bytes: u64,
    /// The trim threshold, bytes.
    pub trigger_bytes: u64,
    /// The last measurement.
    pub last: Option<MemorySample>,
    /// Each component's footprint at the last measurement.
    pub footprints: Vec<Footprint>,
    /// Cleanups.
    pub cleanup: CleanupStatistics,
    /// The last 100 measurements, oldest first.
    pub history: Vec<MemorySample>,
    /// Whether the over-limit alert is raised.
    pub over_limit_alert: bool,
}

/// What the memory manager keeps across its restarts.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// use watchkeeper_actors::memory::*;
/// use watchkeeper_actors::{Live, Store};
///
/// let config = Live::new(MemoryConfig::default());
/// let store = Store::new(MemoryState::default());
/// let peers = Peers { ask_timeout: t, ..Peers::default() };
/// let memory = root.start_child(ChildSpec::new("memory", move || {
///     MemoryManagerActor::new(config.clone(), store.clone(), peers.clone())
/// }));
/// assert_eq!(memory.ask(GetMemoryReport, t).await?.cleanup.total_cleanups, 0);
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Default)]
pub struct MemoryState {
    cleanup: CleanupStatistics,
    history: VecDeque<MemorySample>,
    footprints: Vec<Footprint>,
    over_limit_checks: u32,
    alert_raised: bool,
    total_cleanup_time: Duration,
}

/// The memory manager's records; outlive its restarts.
pub type MemoryStore = Store<MemoryState>;

/// The history kept of measurements.
pub const MEMORY_HISTORY: usize = 100;

/// The memory manager; see the module docs.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// use watchkeeper_actors::memory::*;
/// use watchkeeper_actors::{Live, Store};
///
/// let config = Live::new(MemoryConfig::default());
/// let store = Store::new(MemoryState::default());
/// let peers = Peers { ask_timeout: t, ..Peers::default() };
/// let memory = root.start_child(ChildSpec::new("memory", move || {
///     MemoryManagerActor::new(config.clone(), store.clone(), peers.clone())
/// }));
/// let report = memory.ask(GetMemoryReport, t).await?;
/// assert_eq!(report.limit_bytes, 512 << 20);
/// assert!(report.history.is_empty());
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
pub struct MemoryManagerActor {
    config: Live<MemoryConfig>,
    store: Arc<MemoryStore>,
    peers: Peers,
    busy: bool,
    timer: Option<TimerHandle>,
}

type Measured = (Option<u64>, Vec<Footprint>);

/// A cleanup ran: components trimmed under memory pressure.
#[derive(Debug)]
pub struct MemoryTrimmed {
    /// Resident memory before, bytes.
    pub resident_before: Option<u64>,
    /// Resident memory after, bytes.
    pub resident_after: Option<u64>,
    /// Bytes the components reported freeing.
    pub freed: u64,
    /// How long it took.
    pub took: Duration,
}

impl Event for MemoryTrimmed {
    const NAME: &'static str = "memory_trimmed";
    fn log(&self) {
        tracing::info!(
            resident_before = self.resident_before.unwrap_or(0),
            resident_after = self.resident_after.unwrap_or(0),
            freed = self.freed,
            took = ?self.took,
            "Memory trimmed"
        );
    }
}

/// Resident memory stayed over the budget (`raised`) or fell back under it.
#[derive(Debug)]
pub struct MemoryOverLimit {
    /// Resident memory, bytes.
    pub resident: u64,
    /// The budget, bytes.
    pub limit: u64,
    /// Raised (true) or cleared.
    pub raised: bool,
}

impl Event for MemoryOverLimit {
    const NAME: &'static str = "memory_over_limit";
    fn log(&self) {
        if self.raised {
            tracing::error!(
                resident = self.resident,
                limit = self.limit,
                "Resident memory over the budget"
            );
        } else {
            tracing::info!(
                resident = self.resident,
                limit = self.limit,
                "Resident memory back under the budget"
            );
        }
    }
}

impl MemoryManagerActor {
    /// An actor over `store` (a restart builds a new one over the same store and configuration).
    pub fn new(config: Live<MemoryConfig>, store: Arc<MemoryStore>, peers: Peers) -> Self {
        MemoryManagerActor {
            config,
            store,
            peers,
            busy: false,
            timer: None,
        }
    }

    fn arm(&mut self, ctx: &mut ChildContext<'_, Self>) {
        if let Some(timer) = self.timer.take() {
            ctx.cancel(timer);
        }
        let every = self.config.get().memory_cleanup_interval;
        self.timer = Some(ctx.run_interval(every, |act, ctx| act.check(ctx)));
    }

    fn check(&mut self, ctx: &mut ChildContext<'_, Self>) {
        if self.busy {
            return;
        }
        self.busy = true;
        let measure = measure(self.peers.components.clone(), self.peers.ask_timeout);
        ctx.spawn_then(measure, |act, measured, ctx| {
            act.after_measure(measured, ctx)
        });
    }

    fn after_measure(
        &mut self,
        (resident, footprints): Measured,
        ctx: &mut ChildContext<'_, Self>,
    ) {
        let footprint: u64 = footprints.iter().map(|f| f.bytes as u64).sum();
        let config = self.config.get();
        let trigger = config.trigger_bytes();
        {
            let mut state = self.store.lock();
            state.history.push_back(MemorySample {
                at: Utc::now(),
                resident_bytes: resident,
                footprint_bytes: footprint,
            });
            while state.history.len() > MEMORY_HISTORY {
                state.history.pop_front();
            }
            state.footprints = footprints;
        }
        self.watch_limit(resident, &config, ctx);
        let pressure = resident.is_some_and(|r| r >= trigger) || footprint >= trigger;
        if !pressure {
            self.busy = false;
            return;
        }
        let started = std::time::Instant::now();
        let trim = Trim {
            keep_intervals: config.trim_keep_intervals,
            keep_history: config.trim_keep_history,
        };
        let trims = trim_all(self.peers.components.clone(), trim, self.peers.ask_timeout);
        ctx.spawn_then(trims, move |act, freed, ctx| {
            let after = ProcessStats::read().resident_bytes;
            let took = started.elapsed();
            {
                let mut state = act.store.lock();
                let c = &mut state.cleanup;
                c.total_cleanups += 1;
                c.bytes_freed += freed;
                if let (Some(before), Some(after)) = (resident, after) {
                    c.resident_bytes_released += before.saturating_sub(after);
                }
                c.last_cleanup_duration = took;
                c.last_cleanup_at = Some(Utc::now());
                state.total_cleanup_time += took;
                let n = state.cleanup.total_cleanups.max(1) as u32;
                state.cleanup.average_cleanup_duration = state.total_cleanup_time / n;
            }
            ctx.events().record(MemoryTrimmed {
                resident_before: resident,
                resident_after: after,
                freed,
                took,
            });
            act.busy = false;
        });
    }

    fn watch_limit(
        &mut self,
        resident: Option<u64>,
        config: &MemoryConfig,
        ctx: &mut ChildContext<'_, Self>,
    ) {
        let Some(resident) = resident else { return };
        let limit = config.limit_bytes();
        let (raise, clear) = {
            let mut state = self.store.lock();
            if resident > limit {
                state.over_limit_checks += 1;
            } else {
                state.over_limit_checks = 0;
            }
            let raise =
                !state.alert_raised && state.over_limit_checks >= config.alert_after_checks.max(1);
            let clear = state.alert_raised && state.over_limit_checks == 0;
            if raise {
                state.alert_raised = true;
            }
            if clear {
                state.alert_raised = false;
            }
            (raise, clear)
        };
        if !(raise || clear) {
            return;
        }
        ctx.events().record(MemoryOverLimit {
            resident,
            limit,
            raised: raise,
        });
        if let Some(alerting) = &self.peers.alerting {
            let mb = |b: u64| b as f64 / 1_048_576.0;
            let _ = alerting.tell(SetExternalAlert {
                name: "MemoryOverLimit".into(),
                severity: AlertSeverity::Critical,
                labels: BTreeMap::new(),
                annotations: BTreeMap::from([(
                    "summary".into(),
                    format!(
                        "resident memory {:.1} MiB is over the {:.1} MiB limit",
                        mb(resident),
                        mb(limit)
                    ),
                )]),
                value: Some(resident as f64),
                threshold: limit as f64,
                firing: raise,
            });
        }
    }
}

/// Resident memory from the OS and every component's footprint.
async fn measure(components: Components, timeout: Duration) -> Measured {
    let resident = ProcessStats::read().resident_bytes;
    let asks = components.all().into_iter().map(|c| c.footprint(timeout));
    let footprints = futures_util::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect();
    (resident, footprints)
}

/// Trims every component; the bytes they report freeing, together.
async fn trim_all(components: Components, trim: Trim, timeout: Duration) -> u64 {
    let asks = components.all().into_iter().map(|c| c.trim(trim, timeout));
    futures_util::future::join_all(asks)
        .await
        .into_iter()
        .map(|b| b.unwrap_or(0) as u64)
        .sum()
}

impl ChildActor for MemoryManagerActor {
    fn started(&mut self, ctx: &mut ChildContext<'_, Self>) {
        self.arm(ctx);
    }
}

/// Measure (and trim, under pressure) now.
#[derive(Debug)]
pub struct CheckMemory;
impl Message for CheckMemory {
    type Result = ();
    const OVERFLOW: Overflow = Overflow::DropNewest;
}
impl Handles<CheckMemory> for MemoryManagerActor {
    fn handle(&mut self, _: CheckMemory, ctx: &mut ChildContext<'_, Self>) {
        self.check(ctx);
    }
}

/// The configuration was reloaded: re-arm the measuring timer at the new interval.
#[derive(Debug)]
pub struct Reconfigured;
impl Message for Reconfigured {
    type Result = ();
}
impl Handles<Reconfigured> for MemoryManagerActor {
    fn handle(&mut self, _: Reconfigured, ctx: &mut ChildContext<'_, Self>) {
        self.arm(ctx);
    }
}

/// Ask for the memory report.
#[derive(Debug)]
pub struct GetMemoryReport;
impl Message for GetMemoryReport {
    type Result = MemoryReport;
}
impl Handles<GetMemoryReport> for MemoryManagerActor {
    fn handle(&mut self, _: GetMemoryReport, _: &mut ChildContext<'_, Self>) -> MemoryReport {
        let config = self.config.get();
        let state = self.store.lock();
        MemoryReport {
            limit_bytes: config.limit_bytes(),
            trigger_bytes: config.trigger_bytes(),
            last: state.history.back().cloned(),
            footprints: state.footprints.clone(),
            cleanup: state.cleanup.clone(),
            history: state.history.iter().cloned().collect(),
            over_limit_alert: state.alert_raised,
        }
    }
}

/// Ask for the configuration in force (it survives restarts and follows reloads).
#[derive(Debug)]
pub struct GetMemoryConfig;
impl Message for GetMemoryConfig {
    type Result = MemoryConfig;
}
impl Handles<GetMemoryConfig> for MemoryManagerActor {
    fn handle(&mut self, _: GetMemoryConfig, _: &mut ChildContext<'_, Self>) -> MemoryConfig {
        (*self.config.get()).clone()
    }
}
