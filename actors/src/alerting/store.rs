//! [`AlertStore`]: everything the alerting actor knows, outliving its restarts, and the status it
//! reports.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio::time::Instant;

use std::sync::Arc;

use super::config::AlertingConfig;
use super::delivery::RateWindow;
use super::detection::Detector;
use super::routes::Route;
use super::rules::{AlertRule, RuleKind};
use super::silences::Silence;
use super::state::Alert;
use super::Happened;
use crate::Store;

pub(super) struct Group {
    pub(super) labels: BTreeMap<String, String>,
    pub(super) created: Instant,
    pub(super) last_sent: Option<Instant>,
    /// The firing alerts its last notification told of, less those since told resolved (sorted
    /// fingerprints): a firing alert outside them is news, as in Alertmanager's notification log.
    pub(super) notified: Vec<u64>,
}

/// When alerts resolved, for flap suppression: expired in order and capped, so a flood of alerts
/// cannot grow it (or the time spent on it) without bound.
#[derive(Default)]
pub(super) struct RecentlyResolved {
    at: HashMap<u64, Instant>,
    order: VecDeque<(u64, Instant)>,
}

impl RecentlyResolved {
    /// At most this many, however long the suppression window.
    pub(super) const CAP: usize = 4096;

    pub(super) fn get(&self, fp: &u64) -> Option<&Instant> {
        self.at.get(fp)
    }

    pub(super) fn insert(&mut self, fp: u64, now: Instant) {
        self.at.insert(fp, now);
        self.order.push_back((fp, now));
    }

    /// Forgets what resolved longer than `window` ago, and the oldest beyond `cap`.
    pub(super) fn expire(&mut self, now: Instant, window: Duration, cap: usize) {
        while let Some(&(fp, t)) = self.order.front() {
            if now.duration_since(t) < window && self.order.len() <= cap {
                break;
            }
            self.order.pop_front();
            if self.at.get(&fp) == Some(&t) {
                self.at.remove(&fp);
            }
        }
    }
}

/// Everything the alerting actor knows; outlives its restarts.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::alerting::*;
/// # use watchkeeper_actors::{ChildSpec, EventBus, Live, Store, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// let rule = AlertRule { warning: Some(0.1), ..AlertRule::new("SearchSlow", Some("search"), Metric::P99) };
/// let config = Live::new(AlertingConfig { rules: vec![rule], ..Default::default() });
/// let store = Store::new(AlertingState::default());
/// let state = store.clone();
/// let alerting = root.start_child(ChildSpec::new("alerting", move || {
///     AlertingActor::new(config.clone(), state.clone(), Peers::default())
/// }));
/// let t = Duration::from_secs(1);
/// // A p99 of 250 ms against a 100 ms warning threshold: the alert fires at once.
/// alerting.ask(Observe(vec![Some(0.25)]), t).await?;
/// // The state outlives the actor: it is read here through the store the factory shares.
/// let saved = store.lock().saved();
/// assert_eq!(saved.alerts.len(), 1);
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Default)]
pub struct AlertingState {
    pub(super) alerts: BTreeMap<u64, Alert>,
    pub(super) groups: HashMap<String, Group>,
    pub(super) silences: Vec<Silence>,
    pub(super) history: VecDeque<Alert>,
    pub(super) recently_resolved: RecentlyResolved,
    pub(super) rate: HashMap<(String, String), RateWindow>,
    pub(super) channels_delivered: BTreeMap<String, u64>,
    pub(super) channels_failed: BTreeMap<String, u64>,
    pub(super) channels_rate_limited: BTreeMap<String, u64>,
    pub(super) fired_total: u64,
    pub(super) today: Option<(NaiveDate, u64)>,
    pub(super) last_evaluation: Option<DateTime<Utc>>,
    pub(super) last_evaluation_took: Duration,
    pub(super) evaluations: u64,
    pub(super) alertmanager_pushed: Option<Instant>,
    pub(super) alertmanager_dirty: bool,
    /// Thresholds set at run time (by the tuner), by rule name: (warning, critical).
    pub(super) overrides: HashMap<String, (Option<f64>, Option<f64>)>,
    /// The detector state of `regression`, `anomaly` and `trend` rules, by rule name.
    pub(super) detectors: BTreeMap<String, Detector>,
    /// What each rule last compared with its thresholds, by rule name.
    pub(super) readings: BTreeMap<String, f64>,
    /// The rules as last evaluated, by name: a reload that changes or removes one is seen here.
    pub(super) rules_seen: BTreeMap<String, AlertRule>,
    /// The configuration the rules were last reconciled with.
    pub(super) applied: Option<Arc<AlertingConfig>>,
    /// The routing tree, with the configuration it was built from.
    pub(super) tree: Option<(Arc<AlertingConfig>, Arc<Route>)>,
    /// What the current evaluation did that is worth an event.
    pub(crate) happened: Vec<Happened>,
    /// Instants to wall-clock times, for saving (fixed for the state's life).
    pub(super) anchor: Option<super::saved::Anchor>,
}

impl AlertingState {
    /// The routing tree of `config`, built once per configuration.
    pub(super) fn tree(&mut self, config: &Arc<AlertingConfig>) -> Arc<Route> {
        match &self.tree {
            Some((seen, tree)) if Arc::ptr_eq(seen, config) => tree.clone(),
            _ => {
                let tree = Arc::new(config.route_tree());
                self.tree = Some((config.clone(), tree.clone()));
                tree
            }
        }
    }
}

/// The alerting actor's state, shared by every instance.
pub type AlertStore = Store<AlertingState>;

/// The alerting actor's counters and state, for health and metrics.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::alerting::*;
/// # use watchkeeper_actors::{ChildSpec, EventBus, Live, Store, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// let rule = AlertRule { warning: Some(0.1), ..AlertRule::new("SearchSlow", Some("search"), Metric::P99) };
/// let config = Live::new(AlertingConfig { rules: vec![rule], ..Default::default() });
/// let store = Store::new(AlertingState::default());
/// let state = store.clone();
/// let alerting = root.start_child(ChildSpec::new("alerting", move || {
///     AlertingActor::new(config.clone(), state.clone(), Peers::default())
/// }));
/// let t = Duration::from_secs(1);
/// // A p99 of 250 ms against a 100 ms warning threshold: the alert fires at once.
/// alerting.ask(Observe(vec![Some(0.25)]), t).await?;
/// let status = alerting.ask(GetAlertingStatus, t).await?;
/// assert_eq!((status.rules, status.active_alerts, status.fired_total), (1, 1, 1));
/// assert!(status.is_running);
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertingStatus {
    /// Whether it evaluates (it answered, so yes).
    pub is_running: bool,
    /// Alerts firing now (including recovering and no-data).
    pub active_alerts: usize,
    /// Alerts pending now.
    pub pending_alerts: usize,
    /// Firing alerts held back by a silence.
    pub silenced_alerts: usize,
    /// Firing alerts muted by inhibition.
    pub inhibited_alerts: usize,
    /// Alerts that started firing today (local time; resets at midnight).
    pub alerts_today: u64,
    /// Alerts that started firing since start.
    pub fired_total: u64,
    /// Notifications delivered, per channel.
    pub delivered: BTreeMap<String, u64>,
    /// Notifications given up on, per channel.
    pub failed: BTreeMap<String, u64>,
    /// Notifications folded into summaries by rate limits, per channel.
    pub rate_limited: BTreeMap<String, u64>,
    /// Active silences.
    pub silences: usize,
    /// Resolved alerts in history.
    pub history: usize,
    /// Rules evaluated.
    pub rules: usize,
    /// Evaluations since start.
    pub evaluations: u64,
    /// When the last evaluation ran.
    pub last_evaluation: Option<DateTime<Utc>>,
    /// How long the last evaluation's state update and routing took.
    #[serde(
        rename = "last_evaluation_seconds",
        serialize_with = "crate::duration_serde::seconds"
    )]
    pub last_evaluation_took: Duration,
    /// What each rule last compared with its thresholds, for rules that had a value.
    pub rule_values: Vec<RuleValue>,
}

/// What one rule last compared with its thresholds: the metric's value, a regression's effect size,
/// an anomaly score, or a trend's forecast.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::alerting::*;
/// # use watchkeeper_actors::{ChildSpec, EventBus, Live, Store, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// let rule = AlertRule { warning: Some(0.1), ..AlertRule::new("SearchSlow", Some("search"), Metric::P99) };
/// let config = Live::new(AlertingConfig { rules: vec![rule], ..Default::default() });
/// let store = Store::new(AlertingState::default());
/// let state = store.clone();
/// let alerting = root.start_child(ChildSpec::new("alerting", move || {
///     AlertingActor::new(config.clone(), state.clone(), Peers::default())
/// }));
/// let t = Duration::from_secs(1);
/// // A p99 of 250 ms against a 100 ms warning threshold: the alert fires at once.
/// alerting.ask(Observe(vec![Some(0.25)]), t).await?;
/// let status = alerting.ask(GetAlertingStatus, t).await?;
/// let value = &status.rule_values[0];
/// assert_eq!((value.rule.as_str(), value.kind, value.value), ("SearchSlow", RuleKind::Threshold, 0.25));
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleValue {
    /// The rule's name.
    pub rule: String,
    /// Its kind.
    pub kind: RuleKind,
    /// The value.
    pub value: f64,
}
