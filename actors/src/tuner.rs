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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::alerting::{AlertingActor, Metric, SetRuleThresholds};
use crate::{
    ChildActor, ChildContext, ChildRef, Footprint, GetFootprint, GetStats, Handles, Message,
    MonitorActor, Overflow, PerformanceStats, SetSampling, SetWindow,
};

/// A rule whose thresholds the tuner sets from its metric's stable baseline.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoThresholdRule {
    /// The rule.
    pub rule: String,
    /// The monitor it reads.
    pub monitor: String,
    /// The latency metric it watches.
    pub metric: Metric,
    /// Its configured warning threshold.
    pub warning: Option<f64>,
    /// Its configured critical threshold.
    pub critical: Option<f64>,
}

/// Profiles a baseline must hold steady for (coefficient of variation under 0.1).
pub const BASELINE_PROFILES: usize = 5;

/// How the tuner works.
#[derive(Clone, Debug, PartialEq)]
pub struct TunerSettings {
    /// How often profiles are rebuilt (and tuning considered).
    pub interval: Duration,
    /// Whether actions are applied (profiles and suggestions are made either way).
    pub enabled: bool,
    /// Sampling is reduced when latency's coefficient of variation is below this.
    pub adaptive_sampling_threshold: f64,
    /// Sampling is reduced above this many operations per second.
    pub high_throughput_per_second: f64,
    /// The smallest sampling fraction the tuner sets.
    pub min_sample_fraction: f64,
    /// Latency samples per second the tuner aims to keep when it reduces sampling.
    pub target_samples_per_second: f64,
    /// A window holding fewer operations than this is lengthened (doubled, up to `max_window`).
    pub min_window_operations: u64,
    /// The longest window the tuner sets, in intervals.
    pub max_window: usize,
    /// How long after an action its effect is measured.
    pub effect_delay: Duration,
    /// Tuning actions kept.
    pub history_limit: usize,
    /// How long a question to a monitor may take.
    pub ask_timeout: Duration,
    /// Rules whose thresholds follow their metric's stable baseline (warning 2x, critical 4x).
    pub auto_threshold_rules: Vec<AutoThresholdRule>,
}

/// What a suggestion is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionKind {
    /// Mean latency is high: larger batches and buffers.
    LargerBatches,
    /// Throughput is low after real traffic: more parallelism.
    MoreParallelism,
    /// The tail is far from the mean: investigate the slow requests.
    InvestigateTail,
    /// Nothing stands out.
    NoChangeNeeded,
}

/// A suggestion and the numbers behind it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Suggestion {
    /// What.
    pub kind: SuggestionKind,
    /// Why, with the figures that triggered it.
    pub reason: String,
}

/// One component's profile.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PerformanceProfile {
    /// The monitor.
    pub component: String,
    /// Mean latency over its window.
    pub mean: Duration,
    /// p99 latency over its window.
    pub p99: Duration,
    /// Latency's coefficient of variation (stdev / mean), when there are samples.
    pub latency_cv: Option<f64>,
    /// Queries per second.
    pub queries_per_second: f64,
    /// Operations of every kind per second.
    pub operations_per_second: f64,
    /// Queries since start.
    pub total_queries: u64,
    /// Operations in the window.
    pub window_operations: u64,
    /// Bytes the monitor holds.
    pub footprint_bytes: usize,
    /// Suggestions.
    pub suggestions: Vec<Suggestion>,
    /// When it was built.
    pub updated_at: DateTime<Utc>,
}

/// What a tuning action changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TuningKind {
    /// The fraction of latency samples recorded.
    SamplingRate,
    /// The length of the rolling window.
    WindowLength,
    /// An alert rule's thresholds, from a stable baseline.
    AlertThresholds,
}

/// Figures measured around an action.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measurement {
    /// Mean latency.
    pub mean: Duration,
    /// p99 latency.
    pub p99: Duration,
    /// Operations per second.
    pub operations_per_second: f64,
    /// Operations in the window.
    pub window_operations: u64,
    /// Sampling fraction in force.
    pub sample_fraction: f64,
}

impl Measurement {
    fn of(s: &PerformanceStats) -> Self {
        Measurement {
            mean: s.mean,
            p99: s.latency.p99,
            operations_per_second: s.operations_per_second,
            window_operations: s.window_operations,
            sample_fraction: s.sample_fraction,
        }
    }
}

/// How an action ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionOutcome {
    /// Its effect is not measured yet.
    Pending,
    /// Measured and kept.
    Kept,
    /// Measured as harmful and undone.
    RolledBack {
        /// Why.
        reason: String,
    },
    /// The monitor did not answer; nothing was changed.
    NotApplied {
        /// Why.
        reason: String,
    },
}

/// One tuning action, as applied and measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TuningAction {
    /// Unique within the tuner.
    pub id: u64,
    /// When it was applied.
    pub timestamp: DateTime<Utc>,
    /// The monitor.
    pub component: String,
    /// What it changed.
    pub kind: TuningKind,
    /// Parameter -> (before, after).
    pub parameters_changed: BTreeMap<String, (String, String)>,
    /// Measured before.
    pub measured_before: Measurement,
    /// Measured `effect_delay` after.
    pub measured_after: Option<Measurement>,
    /// How it ended.
    pub outcome: ActionOutcome,
}

#[derive(Default)]
struct Journal {
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
#[derive(Default)]
pub struct TunerStore {
    journal: Mutex<Journal>,
}

impl TunerStore {
    /// An empty store.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The suggestions the numbers call for.
pub fn suggestions(s: &PerformanceStats) -> Vec<Suggestion> {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut out = Vec::new();
    if s.mean > Duration::from_millis(100) {
        out.push(Suggestion {
            kind: SuggestionKind::LargerBatches,
            reason: format!(
                "mean latency {:.1} ms is above 100 ms: use larger buffers and batches",
                ms(s.mean)
            ),
        });
    }
    if s.total_queries > 100 && s.queries_per_second < 10.0 {
        out.push(Suggestion {
            kind: SuggestionKind::MoreParallelism,
            reason: format!(
                "{:.2} queries per second after {} queries is under 10: add parallelism",
                s.queries_per_second, s.total_queries
            ),
        });
    }
    if s.window_operations > 0 && s.latency.p99 > s.mean * 3 {
        out.push(Suggestion {
            kind: SuggestionKind::InvestigateTail,
            reason: format!(
                "p99 {:.1} ms is more than 3x the mean {:.1} ms: investigate the tail",
                ms(s.latency.p99),
                ms(s.mean)
            ),
        });
    }
    if out.is_empty() {
        out.push(Suggestion {
            kind: SuggestionKind::NoChangeNeeded,
            reason: format!(
                "mean {:.1} ms, p99 {:.1} ms, {:.1} queries per second: no change needed",
                ms(s.mean),
                ms(s.latency.p99),
                s.queries_per_second
            ),
        });
    }
    out
}

/// The tuner; see the module docs.
pub struct TunerActor {
    settings: Arc<TunerSettings>,
    store: Arc<TunerStore>,
    monitors: crate::MonitorDirectory,
    alerting: Option<ChildRef<AlertingActor>>,
    busy: bool,
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
    /// An actor over `store`; `alerting` receives threshold changes for auto-threshold rules.
    pub fn new(
        settings: Arc<TunerSettings>,
        store: Arc<TunerStore>,
        monitors: crate::MonitorDirectory,
        alerting: Option<ChildRef<AlertingActor>>,
    ) -> Self {
        TunerActor {
            settings,
            store,
            monitors,
            alerting,
            busy: false,
        }
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
        let gather = gather(self.monitors.entries(), self.settings.ask_timeout);
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
        let s = self.settings.clone();
        let mut planned: Vec<(ChildRef<MonitorActor>, TuningAction, Plan)> = Vec::new();
        {
            let mut journal = self.store.lock();
            journal.analyses += 1;
            journal.last_analysis = Some(Utc::now());
            for (name, monitor, stats, footprint) in &gathered {
                let cv = (stats.window_operations > 1 && !stats.mean.is_zero())
                    .then(|| stats.latency_stdev.as_secs_f64() / stats.mean.as_secs_f64());
                journal.profiles.insert(
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
                let busy_component = journal
                    .actions
                    .iter()
                    .any(|a| a.component == *name && a.outcome == ActionOutcome::Pending);
                if busy_component {
                    continue;
                }
                let mut plans: Vec<Plan> = plan_for(&s, stats, cv).into_iter().collect();
                if self.alerting.is_some() {
                    plans.extend(baseline_plans(&s, &mut journal, name, stats));
                }
                for plan in plans {
                    journal.next_id += 1;
                    let action = TuningAction {
                        id: journal.next_id,
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
        let timeout = s.ask_timeout;
        let delay = s.effect_delay;
        let alerting = self.alerting.clone();
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
        ctx.spawn_then(apply, move |act, actions, _ctx| {
            {
                let mut journal = act.store.lock();
                for a in &actions {
                    tracing::info!(component = %a.component, kind = ?a.kind, changed = ?a.parameters_changed, outcome = ?a.outcome, "Tuning action");
                    journal.actions.push_back(a.clone());
                }
                let limit = act.settings.history_limit.max(1);
                while journal.actions.len() > limit {
                    journal.actions.pop_front();
                }
            }
            act.busy = false;
            if let Some(done) = done {
                let _ = done.send(actions);
            }
        });
    }
}

#[derive(Clone, Debug)]
enum Plan {
    Sampling {
        from: f64,
        to: f64,
    },
    Window {
        from: usize,
        to: usize,
    },
    Thresholds {
        rule: String,
        metric: Metric,
        from: (Option<f64>, Option<f64>),
        to: (f64, f64),
    },
}

impl Plan {
    fn kind(&self) -> TuningKind {
        match self {
            Plan::Sampling { .. } => TuningKind::SamplingRate,
            Plan::Window { .. } => TuningKind::WindowLength,
            Plan::Thresholds { .. } => TuningKind::AlertThresholds,
        }
    }

    fn parameters(&self) -> BTreeMap<String, (String, String)> {
        match self {
            Plan::Sampling { from, to } => BTreeMap::from([(
                "sample_fraction".to_owned(),
                (format!("{from}"), format!("{to}")),
            )]),
            Plan::Window { from, to } => BTreeMap::from([(
                "window_intervals".to_owned(),
                (from.to_string(), to.to_string()),
            )]),
            Plan::Thresholds { rule, from, to, .. } => {
                let shown =
                    |x: Option<f64>| x.map_or_else(|| "none".to_owned(), |x| format!("{x}"));
                BTreeMap::from([
                    (
                        format!("{rule}.warning"),
                        (shown(from.0), format!("{}", to.0)),
                    ),
                    (
                        format!("{rule}.critical"),
                        (shown(from.1), format!("{}", to.1)),
                    ),
                ])
            }
        }
    }
}

async fn set_thresholds(
    alerting: &Option<ChildRef<AlertingActor>>,
    rule: &str,
    warning: Option<f64>,
    critical: Option<f64>,
    timeout: Duration,
) -> bool {
    let Some(alerting) = alerting else {
        return false;
    };
    let msg = SetRuleThresholds {
        rule: rule.to_owned(),
        warning,
        critical,
    };
    matches!(alerting.ask(msg, timeout).await, Ok(Ok(_)))
}

/// Thresholds for auto-threshold rules on `component` whose metric has held steady.
fn baseline_plans(
    s: &TunerSettings,
    journal: &mut Journal,
    component: &str,
    stats: &PerformanceStats,
) -> Vec<Plan> {
    let mut plans = Vec::new();
    for auto in s
        .auto_threshold_rules
        .iter()
        .filter(|r| r.monitor == component)
    {
        let Some(value) = auto.metric.of(stats) else {
            continue;
        };
        let values = journal.baselines.entry(auto.rule.clone()).or_default();
        values.push_back(value);
        while values.len() > BASELINE_PROFILES {
            values.pop_front();
        }
        if values.len() < BASELINE_PROFILES {
            continue;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        if mean <= 0.0 || sd / mean >= 0.1 {
            continue;
        }
        let to = (mean * 2.0, mean * 4.0);
        let from = journal
            .thresholds
            .get(&auto.rule)
            .copied()
            .unwrap_or((auto.warning, auto.critical));
        let far = |old: Option<f64>, new: f64| old.is_none_or(|o| (new / o - 1.0).abs() > 0.2);
        if far(from.0, to.0) || far(from.1, to.1) {
            journal
                .thresholds
                .insert(auto.rule.clone(), (Some(to.0), Some(to.1)));
            plans.push(Plan::Thresholds {
                rule: auto.rule.clone(),
                metric: auto.metric,
                from,
                to,
            });
        }
    }
    plans
}

/// The action the numbers call for, if any.
fn plan_for(s: &TunerSettings, stats: &PerformanceStats, cv: Option<f64>) -> Option<Plan> {
    let ops = stats.operations_per_second;
    let steady =
        cv.is_some_and(|cv| cv < s.adaptive_sampling_threshold) && stats.window_operations >= 1000;
    if ops > s.high_throughput_per_second || steady {
        let target = (s.target_samples_per_second / ops.max(1.0))
            .clamp(s.min_sample_fraction.clamp(1e-6, 1.0), 1.0);
        // Only a change of at least 2x is worth an action.
        if target <= stats.sample_fraction / 2.0 {
            let every = (1.0 / target).round().max(1.0);
            return Some(Plan::Sampling {
                from: stats.sample_fraction,
                to: 1.0 / every,
            });
        }
    }
    if stats.total_operations > 0
        && stats.window_operations < s.min_window_operations
        && stats.window_intervals < s.max_window
    {
        let to = (stats.window_intervals * 2).clamp(1, s.max_window);
        return Some(Plan::Window {
            from: stats.window_intervals,
            to,
        });
    }
    None
}

/// Why an applied action's measured effect is harmful, if it is.
fn harm(
    plan: &Plan,
    before: &Measurement,
    after: &Measurement,
    stats: &PerformanceStats,
) -> Option<String> {
    match plan {
        Plan::Thresholds { metric, to, .. } => metric.of(stats).filter(|v| *v > to.0).map(|v| {
            format!("the metric is {v:.6} now, above the new warning threshold {:.6}: it would alert on normal load", to.0)
        }),
        Plan::Sampling { .. } => {
            // The load is what it was, yet the tail moved: the sample no longer represents it.
            let same_load = before.operations_per_second > 0.0
                && (after.operations_per_second / before.operations_per_second - 1.0).abs() < 0.5;
            let (b, a) = (before.p99.as_secs_f64(), after.p99.as_secs_f64());
            (same_load && b > 0.0 && (a / b - 1.0).abs() > 0.25).then(|| {
                format!("p99 moved from {:.3} ms to {:.3} ms under the same load: the sample misses the tail", b * 1e3, a * 1e3)
            })
        }
        Plan::Window { .. } => (after.window_operations <= before.window_operations).then(|| {
            format!(
                "the longer window holds {} operations, no more than the {} before",
                after.window_operations, before.window_operations
            )
        }),
    }
}

impl ChildActor for TunerActor {
    fn started(&mut self, ctx: &mut ChildContext<'_, Self>) {
        ctx.run_interval(self.settings.interval, |act, ctx| act.analyse(ctx, None));
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

/// Ask for the settings in force.
#[derive(Debug)]
pub struct GetTunerSettings;
impl Message for GetTunerSettings {
    type Result = TunerSettings;
}
impl Handles<GetTunerSettings> for TunerActor {
    fn handle(&mut self, _: GetTunerSettings, _: &mut ChildContext<'_, Self>) -> TunerSettings {
        (*self.settings).clone()
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

/// Ask for the bytes the tuner holds.
#[derive(Debug)]
pub struct GetTunerFootprint;
impl Message for GetTunerFootprint {
    type Result = Footprint;
}
impl Handles<GetTunerFootprint> for TunerActor {
    fn handle(&mut self, _: GetTunerFootprint, _: &mut ChildContext<'_, Self>) -> Footprint {
        let journal = self.store.lock();
        let history: usize = journal.actions.iter().map(action_bytes).sum::<usize>()
            + (journal.actions.capacity() - journal.actions.len())
                * std::mem::size_of::<TuningAction>();
        let profiles = journal.profiles.len() * std::mem::size_of::<PerformanceProfile>();
        Footprint {
            component: "tuner".into(),
            bytes: history + profiles,
            recorder_bytes: 0,
            history_bytes: history,
            threads: 0,
        }
    }
}

/// Drop tuning history beyond the newest `keep`; replies with the bytes freed.
#[derive(Debug)]
pub struct TrimTunerHistory {
    /// Actions to keep.
    pub keep: usize,
}
impl Message for TrimTunerHistory {
    type Result = usize;
    const OVERFLOW: Overflow = Overflow::DropNewest;
}
impl Handles<TrimTunerHistory> for TunerActor {
    fn handle(&mut self, msg: TrimTunerHistory, _: &mut ChildContext<'_, Self>) -> usize {
        let mut journal = self.store.lock();
        let size = |j: &Journal| {
            j.actions.iter().map(action_bytes).sum::<usize>()
                + (j.actions.capacity() - j.actions.len()) * std::mem::size_of::<TuningAction>()
        };
        let before = size(&journal);
        while journal.actions.len() > msg.keep {
            journal.actions.pop_front();
        }
        journal.actions.shrink_to_fit();
        before.saturating_sub(size(&journal))
    }
}

/// Makes the actor panic (fault injection).
#[derive(Debug)]
pub struct InjectTunerPanic;
impl Message for InjectTunerPanic {
    type Result = ();
}
impl Handles<InjectTunerPanic> for TunerActor {
    fn handle(&mut self, _: InjectTunerPanic, _: &mut ChildContext<'_, Self>) {
        panic!("injected fault in the tuner");
    }
}
