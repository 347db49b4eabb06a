//! [`TunerActor`]: builds a performance profile per monitor, suggests, and tunes through messages.
//!
//! Every `interval` it asks every monitor for its statistics and builds a [`PerformanceProfile`]
//! whose suggestions follow the observed numbers (and say which): mean above 100 ms -> larger
//! batches and buffers; under 10 queries per second after more than 100 queries -> more parallelism;
//! p99 above 3x the mean -> investigate the tail; otherwise no change. When tuning is enabled it
//! applies actions through the monitors' own messages — sampling (`SetSampling`) when throughput is
//! high or latency steady, a longer window (`SetWindow`) when the window holds too few operations —
//! and records each as a [`TuningAction`] with the figures measured before and, one `effect_delay`
//! later, after. An action whose measured effect is harmful is rolled back. History is bounded.

mod config;
mod plan;
mod profile;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use self::config::TuningConfig;
pub use self::plan::{auto_threshold_rules, AutoThresholdRule, BASELINE_PROFILES};
use self::plan::{baseline_plans, harm, plan_for, set_thresholds, Plan};
pub use self::profile::{
    suggestions, ActionOutcome, Measurement, PerformanceProfile, Suggestion, SuggestionKind,
    TuningAction, TuningKind,
};
use crate::alerting::{AlertingActor, AlertingConfig};
use crate::memory::{Footprint, GetFootprint, Trim};
use crate::monitor::{
    GetStats, MonitorActor, MonitorDirectory, PerformanceStats, SetSampling, SetWindow,
};
use crate::{
    ChildActor, ChildContext, ChildRef, Event, Handles, Live, Message, Store, TimerHandle,
};

/// What the tuner reaches: the monitors it profiles and tunes, and the alerting actor whose
/// auto-threshold rules it sets.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// # use watchkeeper_actors::monitor::{MonitorActor, MonitorStore, MonitoringConfig, OpKind};
/// use watchkeeper_actors::tuner::*;
/// use watchkeeper_actors::{Live, Store};
///
/// # let monitor_store = MonitorStore::new("search", &MonitoringConfig::default()).unwrap();
/// # monitor_store.recorder().record(OpKind::QUERY, Duration::from_millis(250));
/// # monitor_store.collect();
/// # let search = root.start_child(ChildSpec::new("search", move || MonitorActor::new(monitor_store.clone())));
/// let peers = Peers { ask_timeout: t, ..Peers::default() };
/// peers.monitors.insert("search", search);
/// let config = Live::new(TuningConfig { enabled: false, ..Default::default() });
/// let store = Store::new(TunerState::default());
/// let tuner = root.start_child(ChildSpec::new("tuner", move || {
///     TunerActor::new(config.clone(), store.clone(), peers.clone())
/// }));
/// optimize_monitor_configurations(&tuner, t).await?;
/// let profiles = tuner.ask(GetProfiles, t).await?;
/// assert_eq!(profiles[0].component, "search");
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Default)]
pub struct Peers {
    /// The monitors.
    pub monitors: MonitorDirectory,
    /// The alerting actor, when alerting runs.
    pub alerting: Option<ChildRef<AlertingActor>>,
    /// The alerting configuration in force, for its auto-threshold rules.
    pub rules: Live<AlertingConfig>,
    /// How long a question to another actor may take.
    pub ask_timeout: Duration,
}

/// What the tuner keeps across its restarts.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// # use watchkeeper_actors::monitor::{MonitorActor, MonitorStore, MonitoringConfig, OpKind};
/// use watchkeeper_actors::tuner::*;
/// use watchkeeper_actors::{Live, Store};
///
/// # let monitor_store = MonitorStore::new("search", &MonitoringConfig::default()).unwrap();
/// # monitor_store.recorder().record(OpKind::QUERY, Duration::from_millis(250));
/// # monitor_store.collect();
/// # let search = root.start_child(ChildSpec::new("search", move || MonitorActor::new(monitor_store.clone())));
/// let peers = Peers { ask_timeout: t, ..Peers::default() };
/// peers.monitors.insert("search", search);
/// let config = Live::new(TuningConfig { enabled: false, ..Default::default() });
/// let store = Store::new(TunerState::default());
/// let tuner = root.start_child(ChildSpec::new("tuner", move || {
///     TunerActor::new(config.clone(), store.clone(), peers.clone())
/// }));
/// optimize_monitor_configurations(&tuner, t).await?;
/// let profiles = tuner.ask(GetProfiles, t).await?;
/// // Tuning is disabled: profiles are made, no action is taken.
/// assert_eq!(profiles.len(), 1);
/// assert!(tuner.ask(GetTuningHistory, t).await?.is_empty());
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Default)]
pub struct TunerState {
    /// Per auto-threshold rule: its metric's last values, and the thresholds in force.
    baselines: HashMap<String, VecDeque<f64>>,
    thresholds: HashMap<String, (Option<f64>, Option<f64>)>,
    profiles: BTreeMap<String, PerformanceProfile>,
    actions: VecDeque<TuningAction>,
    next_id: u64,
    analyses: u64,
    last_analysis: Option<DateTime<Utc>>,
}

/// The tuner's profiles and actions; outlive its restarts.
pub type TunerStore = Store<TunerState>;

/// The tuner; see the module docs.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::{ChildSpec, EventBus, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// # let t = Duration::from_secs(1);
/// # use watchkeeper_actors::monitor::{MonitorActor, MonitorStore, MonitoringConfig, OpKind};
/// use watchkeeper_actors::tuner::*;
/// use watchkeeper_actors::{Live, Store};
///
/// # let monitor_store = MonitorStore::new("search", &MonitoringConfig::default()).unwrap();
/// # monitor_store.recorder().record(OpKind::QUERY, Duration::from_millis(250));
/// # monitor_store.collect();
/// # let search = root.start_child(ChildSpec::new("search", move || MonitorActor::new(monitor_store.clone())));
/// let peers = Peers { ask_timeout: t, ..Peers::default() };
/// peers.monitors.insert("search", search);
/// let config = Live::new(TuningConfig { enabled: false, ..Default::default() });
/// let store = Store::new(TunerState::default());
/// let tuner = root.start_child(ChildSpec::new("tuner", move || {
///     TunerActor::new(config.clone(), store.clone(), peers.clone())
/// }));
/// optimize_monitor_configurations(&tuner, t).await?;
/// let profiles = tuner.ask(GetProfiles, t).await?;
/// let profile = &profiles[0];
/// assert_eq!((profile.component.as_str(), profile.total_queries), ("search", 1));
/// assert_eq!(profile.suggestions[0].kind, SuggestionKind::LargerBatches);
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
pub struct TunerActor {
    config: Live<TuningConfig>,
    store: Arc<TunerStore>,
    peers: Peers,
    busy: bool,
    timer: Option<TimerHandle>,
}

type Gathered = Vec<(
    String,
    ChildRef<MonitorActor>,
    PerformanceStats,
    Option<Footprint>,
)>;

async fn gather(monitors: Vec<(String, ChildRef<MonitorActor>)>, timeout: Duration) -> Gathered {
    let asks = monitors.into_iter().map(|(name, m)| async move {
        let stats = m.ask(GetStats, timeout).await.ok()?;
        let footprint = m.ask(GetFootprint, timeout).await.ok();
        Some((name, m, stats, footprint))
    });
    futures_util::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

impl TunerActor {
    /// An actor over `store` (a restart builds a new one over the same store and configuration).
    pub fn new(config: Live<TuningConfig>, store: Arc<TunerStore>, peers: Peers) -> Self {
        TunerActor {
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
        let every = self.config.get().performance_analysis_interval;
        self.timer = Some(ctx.run_interval(every, |act, ctx| act.analyse(ctx, None)));
    }

    /// Profiles every monitor; tunes when enabled; calls `done` with the actions applied.
    fn analyse(
        &mut self,
        ctx: &mut ChildContext<'_, Self>,
        done: Option<tokio::sync::oneshot::Sender<Vec<TuningAction>>>,
    ) {
        if self.busy {
            if let Some(done) = done {
                let _ = done.send(Vec::new());
            }
            return;
        }
        self.busy = true;
        let gather = gather(self.peers.monitors.entries(), self.peers.ask_timeout);
        ctx.spawn_then(gather, move |act, gathered, ctx| {
            act.after_gather(gathered, ctx, done)
        });
    }

    fn after_gather(
        &mut self,
        gathered: Gathered,
        ctx: &mut ChildContext<'_, Self>,
        done: Option<tokio::sync::oneshot::Sender<Vec<TuningAction>>>,
    ) {
        let s = self.config.get();
        let auto_rules = auto_threshold_rules(&self.peers.rules.get());
        let mut planned: Vec<(ChildRef<MonitorActor>, TuningAction, Plan)> = Vec::new();
        {
            let mut state = self.store.lock();
            state.analyses += 1;
            state.last_analysis = Some(Utc::now());
            for (name, monitor, stats, footprint) in &gathered {
                let cv = (stats.window_operations > 1 && !stats.mean.is_zero())
                    .then(|| stats.latency_stdev.as_secs_f64() / stats.mean.as_secs_f64());
                state.profiles.insert(
                    name.clone(),
                    PerformanceProfile {
                        component: name.clone(),
                        mean: stats.mean,
                        p99: stats.latency.p99,
                        latency_cv: cv,
                        queries_per_second: stats.queries_per_second,
                        operations_per_second: stats.operations_per_second,
                        total_queries: stats.total_queries,
                        window_operations: stats.window_operations,
                        footprint_bytes: footprint.as_ref().map_or(0, |f| f.bytes),
                        suggestions: suggestions(stats),
                        updated_at: Utc::now(),
                    },
                );
                if !s.enabled {
                    continue;
                }
                let busy_component = state
                    .actions
                    .iter()
                    .any(|a| a.component == *name && a.outcome == ActionOutcome::Pending);
                if busy_component {
                    continue;
                }
                let mut plans: Vec<Plan> = plan_for(&s, stats, cv).into_iter().collect();
                if self.peers.alerting.is_some() {
                    plans.extend(baseline_plans(&auto_rules, &mut state, name, stats));
                }
                for plan in plans {
                    state.next_id += 1;
                    let action = TuningAction {
                        id: state.next_id,
                        timestamp: Utc::now(),
                        component: name.clone(),
                        kind: plan.kind(),
                        parameters_changed: plan.parameters(),
                        measured_before: Measurement::of(stats),
                        measured_after: None,
                        outcome: ActionOutcome::Pending,
                    };
                    planned.push((monitor.clone(), action, plan));
                }
            }
        }
        if planned.is_empty() {
            self.busy = false;
            if let Some(done) = done {
                let _ = done.send(Vec::new());
            }
            return;
        }
        let timeout = self.peers.ask_timeout;
        let delay = s.effect_delay;
        let alerting = self.peers.alerting.clone();
        let apply = async move {
            let mut applied = Vec::new();
            for (monitor, mut action, plan) in planned {
                let ok = match &plan {
                    Plan::Sampling { to, .. } => {
                        monitor.ask(SetSampling(*to), timeout).await.is_ok()
                    }
                    Plan::Window { to, .. } => monitor.ask(SetWindow(*to), timeout).await.is_ok(),
                    Plan::Thresholds { rule, to, .. } => {
                        set_thresholds(&alerting, rule, Some(to.0), Some(to.1), timeout).await
                    }
                };
                if !ok {
                    action.outcome = ActionOutcome::NotApplied {
                        reason: "the monitor did not answer".into(),
                    };
                }
                applied.push((monitor, action, plan));
            }
            tokio::time::sleep(delay).await;
            let mut measured = Vec::new();
            for (monitor, mut action, plan) in applied {
                if action.outcome == ActionOutcome::Pending {
                    if let Ok(stats) = monitor.ask(GetStats, timeout).await {
                        let after = Measurement::of(&stats);
                        match harm(&plan, &action.measured_before, &after, &stats) {
                            Some(reason) => {
                                let undone = match &plan {
                                    Plan::Sampling { from, .. } => {
                                        monitor.ask(SetSampling(*from), timeout).await.is_ok()
                                    }
                                    Plan::Window { from, .. } => {
                                        monitor.ask(SetWindow(*from), timeout).await.is_ok()
                                    }
                                    Plan::Thresholds { rule, from, .. } => {
                                        set_thresholds(&alerting, rule, from.0, from.1, timeout)
                                            .await
                                    }
                                };
                                let reason = if undone {
                                    reason
                                } else {
                                    format!("{reason}; the rollback was not answered")
                                };
                                action.outcome = ActionOutcome::RolledBack { reason };
                            }
                            None => action.outcome = ActionOutcome::Kept,
                        }
                        action.measured_after = Some(after);
                    }
                }
                measured.push(action);
            }
            measured
        };
        ctx.spawn_then(apply, move |act, actions, ctx| {
            for a in &actions {
                ctx.events().record(TuningApplied(a));
            }
            {
                let mut state = act.store.lock();
                for a in &actions {
                    state.actions.push_back(a.clone());
                }
                let limit = act.config.get().history_limit.max(1);
                while state.actions.len() > limit {
                    state.actions.pop_front();
                }
            }
            act.busy = false;
            if let Some(done) = done {
                let _ = done.send(actions);
            }
        });
    }
}

/// A tuning action was applied and its effect measured (kept, rolled back or not applied).
#[derive(Debug)]
pub struct TuningApplied<'a>(pub &'a TuningAction);

impl Event for TuningApplied<'_> {
    const NAME: &'static str = "tuning_action";
    fn log(&self) {
        let a = self.0;
        tracing::info!(
            component = %a.component,
            kind = ?a.kind,
            changed = ?a.parameters_changed,
            outcome = ?a.outcome,
            "Tuning action"
        );
    }
}

impl ChildActor for TunerActor {
    fn started(&mut self, ctx: &mut ChildContext<'_, Self>) {
        self.arm(ctx);
    }
}

/// Analyse and tune now; the reply (through the sender) lists the actions applied, with their
/// measured effect.
#[derive(Debug)]
pub struct OptimizeNow(pub tokio::sync::oneshot::Sender<Vec<TuningAction>>);
impl Message for OptimizeNow {
    type Result = ();
}
impl Handles<OptimizeNow> for TunerActor {
    fn handle(&mut self, msg: OptimizeNow, ctx: &mut ChildContext<'_, Self>) {
        self.analyse(ctx, Some(msg.0));
    }
}

/// Runs [`OptimizeNow`] and waits up to `timeout` for the actions and their measured effect.
pub async fn optimize_monitor_configurations(
    tuner: &ChildRef<TunerActor>,
    timeout: Duration,
) -> Result<Vec<TuningAction>, crate::AskError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    tuner.tell(OptimizeNow(tx))?;
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(actions)) => Ok(actions),
        Ok(Err(_)) => Err(crate::AskError::Undelivered {
            child: tuner.name().into(),
        }),
        Err(_) => Err(crate::AskError::Timeout {
            child: tuner.name().into(),
            after: timeout,
        }),
    }
}

/// Ask for the profiles.
#[derive(Debug)]
pub struct GetProfiles;
impl Message for GetProfiles {
    type Result = Vec<PerformanceProfile>;
}
impl Handles<GetProfiles> for TunerActor {
    fn handle(
        &mut self,
        _: GetProfiles,
        _: &mut ChildContext<'_, Self>,
    ) -> Vec<PerformanceProfile> {
        self.store.lock().profiles.values().cloned().collect()
    }
}

/// Ask for the tuning actions, oldest first.
#[derive(Debug)]
pub struct GetTuningHistory;
impl Message for GetTuningHistory {
    type Result = Vec<TuningAction>;
}
impl Handles<GetTuningHistory> for TunerActor {
    fn handle(&mut self, _: GetTuningHistory, _: &mut ChildContext<'_, Self>) -> Vec<TuningAction> {
        self.store.lock().actions.iter().cloned().collect()
    }
}

/// Ask for the configuration in force (it survives restarts and follows reloads).
#[derive(Debug)]
pub struct GetTuningConfig;
impl Message for GetTuningConfig {
    type Result = TuningConfig;
}
impl Handles<GetTuningConfig> for TunerActor {
    fn handle(&mut self, _: GetTuningConfig, _: &mut ChildContext<'_, Self>) -> TuningConfig {
        (*self.config.get()).clone()
    }
}

/// The configuration was reloaded: re-arm the analysis timer at the new interval.
#[derive(Debug)]
pub struct Reconfigured;
impl Message for Reconfigured {
    type Result = ();
}
impl Handles<Reconfigured> for TunerActor {
    fn handle(&mut self, _: Reconfigured, ctx: &mut ChildContext<'_, Self>) {
        self.arm(ctx);
    }
}

fn action_bytes(a: &TuningAction) -> usize {
    std::mem::size_of::<TuningAction>()
        + a.component.capacity()
        + a.parameters_changed
            .iter()
            .map(|(k, (b, c))| {
                std::mem::size_of::<(String, (String, String))>()
                    + k.capacity()
                    + b.capacity()
                    + c.capacity()
            })
            .sum::<usize>()
}

impl Handles<GetFootprint> for TunerActor {
    fn handle(&mut self, _: GetFootprint, _: &mut ChildContext<'_, Self>) -> Footprint {
        let state = self.store.lock();
        let history: usize = state.actions.iter().map(action_bytes).sum::<usize>()
            + (state.actions.capacity() - state.actions.len())
                * std::mem::size_of::<TuningAction>();
        let profiles = state.profiles.len() * std::mem::size_of::<PerformanceProfile>();
        Footprint {
            component: "tuner".into(),
            bytes: history + profiles,
            recorder_bytes: 0,
            history_bytes: history,
            threads: 0,
        }
    }
}

impl Handles<Trim> for TunerActor {
    fn handle(&mut self, msg: Trim, _: &mut ChildContext<'_, Self>) -> usize {
        let mut state = self.store.lock();
        let size = |j: &TunerState| {
            j.actions.iter().map(action_bytes).sum::<usize>()
                + (j.actions.capacity() - j.actions.len()) * std::mem::size_of::<TuningAction>()
        };
        let before = size(&state);
        while state.actions.len() > msg.keep_history {
            state.actions.pop_front();
        }
        state.actions.shrink_to_fit();
        before.saturating_sub(size(&state))
    }
}
