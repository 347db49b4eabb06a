//! [`MemoryManagerActor`]: measures memory, asks for trims under pressure, records what they freed.
//!
//! Every `interval` it reads the process's resident memory from the OS and asks each component for
//! the bytes it really holds (monitor histories, alert history, tuner history). When resident memory
//! passes `gc_trigger_threshold` of the limit, or the components together pass that share of it, it
//! sends each a trim and records the bytes they report freeing (each measured as its footprint before
//! minus after) and the resident memory before and after. Memory over the limit for
//! `alert_after_checks` checks in a row raises the `MemoryOverLimit` alert; it resolves when memory
//! falls back. Statistics and history live outside the actor, so a restart keeps them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;
use serde::Serialize;

use crate::alerting::{
    AlertSeverity, AlertingActor, GetAlertingFootprint, SetExternalAlert, TrimHistory,
};
use crate::tuner::{GetTunerFootprint, TrimTunerHistory, TunerActor};
use crate::{
    ChildActor, ChildContext, ChildRef, Footprint, GetFootprint, Handles, Message, Overflow,
    ProcessStats, Trim,
};

/// How the memory manager works.
#[derive(Clone, Debug, PartialEq)]
pub struct MemorySettings {
    /// How often memory is measured.
    pub interval: Duration,
    /// The memory budget, bytes.
    pub limit_bytes: u64,
    /// Fraction of the budget at which components are asked to trim.
    pub gc_trigger_threshold: f64,
    /// Intervals of history monitors keep when trimmed.
    pub trim_keep_intervals: usize,
    /// Resolved alerts and tuning actions kept when trimmed.
    pub trim_keep_history: usize,
    /// Checks over the limit in a row before the alert is raised.
    pub alert_after_checks: u32,
    /// How long a question to another actor may take.
    pub ask_timeout: Duration,
}

/// The components the memory manager measures and trims.
#[derive(Clone, Default)]
pub struct Components {
    /// Monitors by name (the runtime adds to it).
    pub monitors: crate::MonitorDirectory,
    /// The alerting actor.
    pub alerting: Option<ChildRef<AlertingActor>>,
    /// The tuner.
    pub tuner: Option<ChildRef<TunerActor>>,
}

/// Real figures of the cleanups so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CleanupStatistics {
    /// Cleanups run.
    pub total_cleanups: u64,
    /// Bytes the components reported freeing, each measured as its footprint before minus after.
    pub bytes_freed: u64,
    /// Resident memory the process gave back across cleanups (before minus after, when it shrank).
    pub resident_bytes_released: u64,
    /// How long the last cleanup took.
    pub last_cleanup_duration: Duration,
    /// Mean cleanup duration.
    pub average_cleanup_duration: Duration,
    /// When the last cleanup ran.
    pub last_cleanup_at: Option<DateTime<Utc>>,
}

/// One measurement.
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

#[derive(Default)]
struct Ledger {
    cleanup: CleanupStatistics,
    history: VecDeque<MemorySample>,
    footprints: Vec<Footprint>,
    over_limit_checks: u32,
    alert_raised: bool,
    total_cleanup_time: Duration,
}

/// The memory manager's state; outlives its restarts.
#[derive(Default)]
pub struct MemoryStore {
    ledger: Mutex<Ledger>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The history kept of measurements.
pub const MEMORY_HISTORY: usize = 100;

/// The memory manager; see the module docs.
pub struct MemoryManagerActor {
    settings: Arc<MemorySettings>,
    store: Arc<MemoryStore>,
    components: Components,
    busy: bool,
}

type Measured = (Option<u64>, Vec<Footprint>);

impl MemoryManagerActor {
    /// An actor over `store` (a restart builds a new one over the same store and settings).
    pub fn new(
        settings: Arc<MemorySettings>,
        store: Arc<MemoryStore>,
        components: Components,
    ) -> Self {
        MemoryManagerActor {
            settings,
            store,
            components,
            busy: false,
        }
    }

    fn check(&mut self, ctx: &mut ChildContext<'_, Self>) {
        if self.busy {
            return;
        }
        self.busy = true;
        let measure = measure(self.components.clone(), self.settings.ask_timeout);
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
        let s = self.settings.clone();
        let trigger = (s.limit_bytes as f64 * s.gc_trigger_threshold) as u64;
        {
            let mut ledger = self.store.lock();
            ledger.history.push_back(MemorySample {
                at: Utc::now(),
                resident_bytes: resident,
                footprint_bytes: footprint,
            });
            while ledger.history.len() > MEMORY_HISTORY {
                ledger.history.pop_front();
            }
            ledger.footprints = footprints;
        }
        self.watch_limit(resident);
        let pressure = resident.is_some_and(|r| r >= trigger) || footprint >= trigger;
        if !pressure {
            self.busy = false;
            return;
        }
        tracing::info!(
            resident = resident.unwrap_or(0),
            footprint,
            trigger,
            "Memory pressure: trimming"
        );
        let started = std::time::Instant::now();
        let trims = trim_all(
            self.components.clone(),
            s.trim_keep_intervals,
            s.trim_keep_history,
            s.ask_timeout,
        );
        ctx.spawn_then(trims, move |act, freed, _ctx| {
            let after = ProcessStats::read().resident_bytes;
            let took = started.elapsed();
            let mut ledger = act.store.lock();
            let c = &mut ledger.cleanup;
            c.total_cleanups += 1;
            c.bytes_freed += freed;
            if let (Some(before), Some(after)) = (resident, after) {
                c.resident_bytes_released += before.saturating_sub(after);
            }
            c.last_cleanup_duration = took;
            c.last_cleanup_at = Some(Utc::now());
            ledger.total_cleanup_time += took;
            let n = ledger.cleanup.total_cleanups.max(1) as u32;
            ledger.cleanup.average_cleanup_duration = ledger.total_cleanup_time / n;
            act.busy = false;
        });
    }

    fn watch_limit(&mut self, resident: Option<u64>) {
        let Some(resident) = resident else { return };
        let s = &self.settings;
        let (raise, clear) = {
            let mut ledger = self.store.lock();
            if resident > s.limit_bytes {
                ledger.over_limit_checks += 1;
            } else {
                ledger.over_limit_checks = 0;
            }
            let raise =
                !ledger.alert_raised && ledger.over_limit_checks >= s.alert_after_checks.max(1);
            let clear = ledger.alert_raised && ledger.over_limit_checks == 0;
            if raise {
                ledger.alert_raised = true;
            }
            if clear {
                ledger.alert_raised = false;
            }
            (raise, clear)
        };
        if let (true, Some(alerting)) = (raise || clear, &self.components.alerting) {
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
                        mb(s.limit_bytes)
                    ),
                )]),
                value: Some(resident as f64),
                threshold: s.limit_bytes as f64,
                firing: raise,
            });
        }
    }
}

/// Resident memory from the OS and every component's footprint.
async fn measure(components: Components, timeout: Duration) -> Measured {
    let resident = ProcessStats::read().resident_bytes;
    let monitors = components.monitors.entries().into_iter().map(|(_, m)| m);
    let mut asks: Vec<LocalBoxFuture<'static, Option<Footprint>>> = Vec::new();
    for m in monitors {
        asks.push(Box::pin(
            async move { m.ask(GetFootprint, timeout).await.ok() },
        ));
    }
    if let Some(a) = components.alerting {
        asks.push(Box::pin(async move {
            a.ask(GetAlertingFootprint, timeout).await.ok()
        }));
    }
    if let Some(t) = components.tuner {
        asks.push(Box::pin(async move {
            t.ask(GetTunerFootprint, timeout).await.ok()
        }));
    }
    let footprints = futures_util::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect();
    (resident, footprints)
}

/// Trims every component; the bytes they report freeing, together.
async fn trim_all(
    components: Components,
    keep_intervals: usize,
    keep_history: usize,
    timeout: Duration,
) -> u64 {
    let monitors = components.monitors.entries().into_iter().map(|(_, m)| m);
    let mut asks: Vec<LocalBoxFuture<'static, usize>> = Vec::new();
    for m in monitors {
        asks.push(Box::pin(async move {
            m.ask(
                Trim {
                    keep: keep_intervals,
                },
                timeout,
            )
            .await
            .unwrap_or(0)
        }));
    }
    if let Some(a) = components.alerting {
        asks.push(Box::pin(async move {
            a.ask(TrimHistory { keep: keep_history }, timeout)
                .await
                .unwrap_or(0)
        }));
    }
    if let Some(t) = components.tuner {
        asks.push(Box::pin(async move {
            t.ask(TrimTunerHistory { keep: keep_history }, timeout)
                .await
                .unwrap_or(0)
        }));
    }
    futures_util::future::join_all(asks)
        .await
        .into_iter()
        .map(|b| b as u64)
        .sum()
}

impl ChildActor for MemoryManagerActor {
    fn started(&mut self, ctx: &mut ChildContext<'_, Self>) {
        ctx.run_interval(self.settings.interval, |act, ctx| act.check(ctx));
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

/// Ask for the memory report.
#[derive(Debug)]
pub struct GetMemoryReport;
impl Message for GetMemoryReport {
    type Result = MemoryReport;
}
impl Handles<GetMemoryReport> for MemoryManagerActor {
    fn handle(&mut self, _: GetMemoryReport, _: &mut ChildContext<'_, Self>) -> MemoryReport {
        let ledger = self.store.lock();
        MemoryReport {
            limit_bytes: self.settings.limit_bytes,
            trigger_bytes: (self.settings.limit_bytes as f64 * self.settings.gc_trigger_threshold)
                as u64,
            last: ledger.history.back().cloned(),
            footprints: ledger.footprints.clone(),
            cleanup: ledger.cleanup.clone(),
            history: ledger.history.iter().cloned().collect(),
            over_limit_alert: ledger.alert_raised,
        }
    }
}

/// Ask for the settings in force (they survive restarts: the factory rebuilds from them).
#[derive(Debug)]
pub struct GetMemorySettings;
impl Message for GetMemorySettings {
    type Result = MemorySettings;
}
impl Handles<GetMemorySettings> for MemoryManagerActor {
    fn handle(&mut self, _: GetMemorySettings, _: &mut ChildContext<'_, Self>) -> MemorySettings {
        (*self.settings).clone()
    }
}

/// Makes the actor panic (fault injection).
#[derive(Debug)]
pub struct InjectMemoryPanic;
impl Message for InjectMemoryPanic {
    type Result = ();
}
impl Handles<InjectMemoryPanic> for MemoryManagerActor {
    fn handle(&mut self, _: InjectMemoryPanic, _: &mut ChildContext<'_, Self>) {
        panic!("injected fault in the memory manager");
    }
}
