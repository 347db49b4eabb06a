//! What the tuner reports: profiles with suggestions, and tuning actions with their measured effect.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::monitor::PerformanceStats;

/// What a suggestion is about.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::monitor::{MonitorStore, MonitoringConfig, OpKind};
/// use watchkeeper_actors::tuner::{suggestions, SuggestionKind};
///
/// let store = MonitorStore::new("search", &MonitoringConfig::default())?;
/// store.recorder().record(OpKind::QUERY, Duration::from_millis(2));
/// store.collect();
/// let found = suggestions(&store.stats());
/// assert_eq!(found[0].kind, SuggestionKind::NoChangeNeeded);
/// # Ok::<(), String>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::monitor::{MonitorStore, MonitoringConfig, OpKind};
/// use watchkeeper_actors::tuner::{suggestions, SuggestionKind};
///
/// let store = MonitorStore::new("search", &MonitoringConfig::default())?;
/// store.recorder().record(OpKind::QUERY, Duration::from_millis(2));
/// store.collect();
/// let found = suggestions(&store.stats());
/// assert_eq!(found.len(), 1);
/// assert!(found[0].reason.ends_with("no change needed"), "{}", found[0].reason);
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Suggestion {
    /// What.
    pub kind: SuggestionKind,
    /// Why, with the figures that triggered it.
    pub reason: String,
}

/// One component's profile.
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
/// assert_eq!(profile.mean, Duration::from_millis(250));
/// assert!(profile.footprint_bytes > 0);
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PerformanceProfile {
    /// The monitor.
    pub component: String,
    /// Mean latency over its window.
    #[serde(
        rename = "mean_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub mean: Duration,
    /// p99 latency over its window.
    #[serde(
        rename = "p99_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
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
    #[serde(
        rename = "mean_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub mean: Duration,
    /// p99 latency.
    #[serde(
        rename = "p99_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub p99: Duration,
    /// Operations per second.
    pub operations_per_second: f64,
    /// Operations in the window.
    pub window_operations: u64,
    /// Sampling fraction in force.
    pub sample_fraction: f64,
}

impl Measurement {
    pub(crate) fn of(s: &PerformanceStats) -> Self {
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
