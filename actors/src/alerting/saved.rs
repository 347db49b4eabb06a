//! The alerting state as it is saved to survive the process: silences, alerts with their states,
//! timers and acknowledgements, the notification log (what each group last sent, so a restart does
//! not notify again before `repeat_interval`), thresholds set at run time, and the detectors'
//! baselines. Monotonic instants are saved as wall-clock times and turned back into instants on
//! restore, so the time the process was down counts.
//!
//! The state keeps one anchor (an instant and the wall-clock time at it) for its whole life, so
//! that saving the same state twice gives the same bytes: a saver can tell whether anything
//! changed by comparing them.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::detection::Detector;
use super::rules::AlertSeverity;
use super::silences::Silence;
use super::state::{Alert, AlertEvent, AlertState};
use super::store::{AlertingState, Group};

/// The format of [`SavedAlerting`]; a file of another format is not restored.
pub const SAVED_FORMAT: u32 = 1;

/// One alert, saved.
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
/// let saved = store.lock().saved();
/// assert_eq!(saved.alerts.len(), 1);
/// let json = serde_json::to_value(&saved.alerts[0]).unwrap();
/// assert_eq!(json["state"], "firing");
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedAlert {
    rule: Option<String>,
    fingerprint: u64,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    state: AlertState,
    severity: AlertSeverity,
    value: Option<f64>,
    threshold: f64,
    fired_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    acknowledged_by: Option<String>,
    tier: usize,
    updated_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    events: VecDeque<AlertEvent>,
    pending_since: Option<DateTime<Utc>>,
    fired_instant: Option<DateTime<Utc>>,
    recovering_since: Option<DateTime<Utc>>,
    tier_since: Option<DateTime<Utc>>,
    suppressed_until: Option<DateTime<Utc>>,
    notified_firing: bool,
}

/// One notification group, saved: what it last sent and when.
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
/// let saved = store.lock().saved();
/// let json = serde_json::to_value(&saved.groups[0]).unwrap();
/// // The group waits `group_wait` before its first notification: nothing sent yet.
/// assert!(json["last_sent"].is_null());
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedGroup {
    key: String,
    labels: BTreeMap<String, String>,
    created: DateTime<Utc>,
    last_sent: Option<DateTime<Utc>>,
    /// The firing alerts its last notification told of (fingerprints).
    #[serde(default)]
    notified: Vec<u64>,
    /// Written before `notified`: a hash of the same set. Read only to keep a group restored from
    /// such a file from telling its alerts again before the repeat.
    #[serde(default, skip_serializing)]
    last_hash: Option<u64>,
}

/// One rule's detector, saved.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// # use watchkeeper_actors::alerting::*;
/// # use watchkeeper_actors::{ChildSpec, EventBus, Live, Store, SupervisorConfig, SupervisorRef};
/// # actix::System::new().block_on(async {
/// # let (root, _) = SupervisorRef::start_root("root", SupervisorConfig::default(), EventBus::default(), None);
/// let rule = AlertRule {
///     kind: RuleKind::Anomaly,
///     critical: Some(0.9995),
///     ..AlertRule::new("SearchOdd", Some("search"), Metric::P99)
/// };
/// let config = Live::new(AlertingConfig { rules: vec![rule], ..Default::default() });
/// let store = Store::new(AlertingState::default());
/// let state = store.clone();
/// let alerting = root.start_child(ChildSpec::new("alerting", move || {
///     AlertingActor::new(config.clone(), state.clone(), Peers::default())
/// }));
/// alerting.ask(Observe(vec![Some(0.02)]), Duration::from_secs(1)).await?;
/// let saved = store.lock().saved();
/// assert!(matches!(saved.detectors["SearchOdd"], SavedDetector::Anomaly(_)));
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum SavedDetector {
    /// A regression rule's baseline.
    #[cfg(feature = "detect")]
    Regression(crate::detect::Baseline),
    /// An anomaly rule's detector.
    #[cfg(feature = "detect")]
    Anomaly(Box<crate::detect::NoveltyDetector>),
    /// A trend rule's points, seconds after `origin`.
    #[cfg(feature = "detect")]
    Trend {
        /// When its first point's clock started.
        origin: DateTime<Utc>,
        /// (seconds after origin, value).
        points: VecDeque<(f64, f64)>,
    },
}

/// The alerting state, saved; see the module docs.
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
/// let saved = store.lock().saved();
/// assert_eq!((saved.format, saved.fired_total), (SAVED_FORMAT, 1));
/// // What was saved comes back, the alert still firing.
/// let mut restored = AlertingState::restored(saved.clone());
/// assert_eq!(restored.saved().alerts, saved.alerts);
/// # root.shutdown().await;
/// # Ok::<(), watchkeeper_actors::AskError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedAlerting {
    /// [`SAVED_FORMAT`].
    pub format: u32,
    /// Silences: active, pending, and expired within the retention.
    pub silences: Vec<Silence>,
    /// Active alerts.
    pub alerts: Vec<SavedAlert>,
    /// The notification log, by group.
    pub groups: Vec<SavedGroup>,
    /// Thresholds set at run time, by rule: (warning, critical).
    pub overrides: BTreeMap<String, (Option<f64>, Option<f64>)>,
    /// Detector states, by rule.
    pub detectors: BTreeMap<String, SavedDetector>,
    /// Alerts fired since the state began.
    pub fired_total: u64,
}

/// The furthest ahead an instant restored from a time is put: a century.
const FAR_AHEAD: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 86_400);

/// Converts between the state's instants and wall-clock times.
#[derive(Clone, Copy, Debug)]
pub(super) struct Anchor {
    instant: Instant,
    wall: DateTime<Utc>,
}

impl Anchor {
    pub(super) fn now() -> Self {
        Anchor {
            instant: Instant::now(),
            wall: Utc::now(),
        }
    }

    fn wall(&self, at: Instant) -> DateTime<Utc> {
        let offset = |d: std::time::Duration| chrono::Duration::from_std(d).unwrap_or_default();
        if at >= self.instant {
            self.wall + offset(at - self.instant)
        } else {
            self.wall - offset(self.instant - at)
        }
    }

    fn instant(&self, at: DateTime<Utc>) -> Instant {
        match (at - self.wall).to_std() {
            // A time too far ahead for the clock's instants is as far as they go.
            Ok(after) => self
                .instant
                .checked_add(after)
                .or_else(|| self.instant.checked_add(FAR_AHEAD))
                .unwrap_or(self.instant),
            Err(_) => {
                let before = (self.wall - at).to_std().unwrap_or_default();
                self.instant.checked_sub(before).unwrap_or(self.instant)
            }
        }
    }
}

impl AlertingState {
    /// The state as it is saved.
    pub fn saved(&mut self) -> SavedAlerting {
        let anchor = *self.anchor.get_or_insert_with(Anchor::now);
        let wall = |i: Option<Instant>| i.map(|i| anchor.wall(i));
        let alerts = self
            .alerts
            .values()
            .map(|a| SavedAlert {
                rule: a.rule.clone(),
                fingerprint: a.fingerprint,
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                state: a.state,
                severity: a.severity,
                value: a.value,
                threshold: a.threshold,
                fired_at: a.fired_at,
                resolved_at: a.resolved_at,
                acknowledged_by: a.acknowledged_by.clone(),
                tier: a.tier,
                updated_at: a.updated_at,
                expires_at: a.expires_at,
                events: a.events.clone(),
                pending_since: wall(a.pending_since),
                fired_instant: wall(a.fired_instant),
                recovering_since: wall(a.recovering_since),
                tier_since: wall(a.tier_since),
                suppressed_until: wall(a.suppressed_until),
                notified_firing: a.notified_firing,
            })
            .collect();
        let mut groups: Vec<SavedGroup> = self
            .groups
            .iter()
            .map(|(key, g)| SavedGroup {
                key: key.clone(),
                labels: g.labels.clone(),
                created: anchor.wall(g.created),
                last_sent: wall(g.last_sent),
                notified: g.notified.clone(),
                last_hash: None,
            })
            .collect();
        groups.sort_by(|a, b| a.key.cmp(&b.key));
        SavedAlerting {
            format: SAVED_FORMAT,
            silences: self.silences.clone(),
            alerts,
            groups,
            overrides: self
                .overrides
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            detectors: self
                .detectors
                .iter()
                .filter_map(|(rule, d)| Some((rule.clone(), d.saved(&anchor)?)))
                .collect(),
            fired_total: self.fired_total,
        }
    }

    /// The state `saved` describes, its instants as far in the past as its times are.
    pub fn restored(saved: SavedAlerting) -> AlertingState {
        let anchor = Anchor::now();
        let instant = |w: Option<DateTime<Utc>>| w.map(|w| anchor.instant(w));
        // A time that was past when saved is past now: a clock set back between two runs would
        // put it ahead, and hold back a repeat or an escalation by as much.
        let past = |w: Option<DateTime<Utc>>| instant(w).map(|i| i.min(anchor.instant));
        let mut state = AlertingState {
            anchor: Some(anchor),
            silences: saved.silences,
            overrides: saved.overrides.into_iter().collect::<HashMap<_, _>>(),
            fired_total: saved.fired_total,
            ..AlertingState::default()
        };
        for a in saved.alerts {
            state.alerts.insert(
                a.fingerprint,
                Alert {
                    rule: a.rule,
                    fingerprint: a.fingerprint,
                    labels: a.labels,
                    annotations: a.annotations,
                    state: a.state,
                    severity: a.severity,
                    value: a.value,
                    threshold: a.threshold,
                    fired_at: a.fired_at,
                    resolved_at: a.resolved_at,
                    acknowledged_by: a.acknowledged_by,
                    tier: a.tier,
                    silenced: false,
                    silenced_by: Vec::new(),
                    inhibited: false,
                    inhibited_by: Vec::new(),
                    updated_at: a.updated_at,
                    expires_at: a.expires_at,
                    suppressed: false,
                    events: a.events,
                    pending_since: past(a.pending_since),
                    fired_instant: past(a.fired_instant),
                    recovering_since: past(a.recovering_since),
                    tier_since: past(a.tier_since),
                    suppressed_until: instant(a.suppressed_until),
                    notified_firing: a.notified_firing,
                },
            );
        }
        // A file written before `notified` has a hash in its place: the alerts that were told
        // firing stand in for the set it hashed.
        let told: Vec<u64> = state
            .alerts
            .values()
            .filter(|a| a.notified_firing && a.state.firing())
            .map(|a| a.fingerprint)
            .collect();
        for g in saved.groups {
            let mut notified = g.notified;
            if notified.is_empty() && g.last_hash.is_some() {
                notified.clone_from(&told);
            }
            notified.sort_unstable();
            state.groups.insert(
                g.key,
                Group {
                    labels: g.labels,
                    created: past(Some(g.created)).unwrap_or(anchor.instant),
                    last_sent: past(g.last_sent),
                    notified,
                },
            );
        }
        for (rule, d) in saved.detectors {
            if let Some(d) = Detector::restored(d, &anchor) {
                state.detectors.insert(rule, d);
            }
        }
        // An actor's alert ends with the process whose actor raised it: this process's actors
        // start afresh, and raise it again if what they observe still calls for it. Resolved here,
        // it is retired (and told resolved) when the alerting actor next applies its state (its
        // first check or message); an actor raising it before then fires it again.
        let wall = Utc::now();
        for alert in state.alerts.values_mut() {
            if alert.owner() == super::state::Owner::Actor && alert.state != AlertState::Resolved {
                alert.log("resolved: raised by an actor of the previous process");
                super::state::resolve(alert, wall);
                state.alertmanager_dirty = true;
            }
        }
        state
    }
}

impl Detector {
    #[cfg(feature = "detect")]
    fn saved(&self, anchor: &Anchor) -> Option<SavedDetector> {
        Some(match self {
            Detector::Regression(b) => SavedDetector::Regression(b.clone()),
            Detector::Anomaly(d) => SavedDetector::Anomaly(d.clone()),
            Detector::Trend { origin, points } => SavedDetector::Trend {
                origin: anchor.wall(*origin),
                points: points.clone(),
            },
        })
    }

    #[cfg(feature = "detect")]
    fn restored(saved: SavedDetector, anchor: &Anchor) -> Option<Detector> {
        Some(match saved {
            SavedDetector::Regression(b) => Detector::Regression(b),
            SavedDetector::Anomaly(d) => Detector::Anomaly(d),
            SavedDetector::Trend { origin, points } => Detector::Trend {
                origin: anchor.instant(origin),
                points,
            },
        })
    }

    #[cfg(not(feature = "detect"))]
    fn saved(&self, _: &Anchor) -> Option<SavedDetector> {
        match *self {}
    }

    #[cfg(not(feature = "detect"))]
    fn restored(saved: SavedDetector, _: &Anchor) -> Option<Detector> {
        match saved {}
    }
}

#[cfg(all(test, feature = "detect"))]
mod tests {
    use super::super::state::NewAlert;
    use super::*;

    #[test]
    fn run_time_thresholds_and_baselines_survive_a_save_and_a_restore() {
        let mut state = AlertingState::default();
        state
            .overrides
            .insert("SearchLatencyHigh".into(), (Some(0.2), Some(0.9)));
        let mut baseline = crate::detect::Baseline::new(20, 5, 0.01);
        for i in 0..30 {
            baseline.push(10.0 + f64::from(i % 3));
        }
        state.detectors.insert(
            "SearchLatencyRegressed".into(),
            Detector::Regression(baseline.clone()),
        );
        // Through text, as the data directory keeps it.
        let text = serde_json::to_string(&state.saved()).unwrap();
        let restored = AlertingState::restored(serde_json::from_str(&text).unwrap());
        assert_eq!(
            restored.overrides.get("SearchLatencyHigh"),
            Some(&(Some(0.2), Some(0.9)))
        );
        let Some(Detector::Regression(b)) = restored.detectors.get("SearchLatencyRegressed") else {
            panic!("the regression baseline was not restored");
        };
        assert_eq!(
            serde_json::to_string(b).unwrap(),
            serde_json::to_string(&baseline).unwrap()
        );
    }

    #[test]
    fn a_groups_notified_alerts_survive_and_a_file_with_the_older_hash_keeps_its_told_alerts() {
        let now = Instant::now();
        let mut state = AlertingState::default();
        for (fp, state_, told) in [
            (7, AlertState::Firing, true),
            (3, AlertState::Firing, true),
            (5, AlertState::Firing, false),
            (9, AlertState::Resolved, true),
        ] {
            let mut alert = Alert::pending(
                NewAlert {
                    rule: None,
                    fingerprint: fp,
                    labels: BTreeMap::new(),
                    annotations: BTreeMap::new(),
                    severity: AlertSeverity::Warning,
                    value: None,
                    threshold: 0.0,
                },
                now,
            );
            alert.state = state_;
            alert.notified_firing = told;
            state.alerts.insert(fp, alert);
        }
        state
            .groups
            .insert("{}:{}".into(), sent_group(now, vec![3, 5]));
        let text = serde_json::to_string(&state.saved()).unwrap();
        let restored = AlertingState::restored(serde_json::from_str(&text).unwrap());
        assert_eq!(restored.groups["{}:{}"].notified, [3, 5]);

        // The older form: a hash where the set is now. The alerts told firing stand in for it.
        let mut old: serde_json::Value = serde_json::from_str(&text).unwrap();
        let group = old["groups"][0].as_object_mut().unwrap();
        group.remove("notified");
        group.insert("last_hash".into(), 12345.into());
        let restored = AlertingState::restored(serde_json::from_value(old).unwrap());
        assert_eq!(restored.groups["{}:{}"].notified, [3, 7]);
    }

    #[test]
    fn an_actors_alert_resolves_as_it_is_restored_and_rules_and_posts_keep_theirs() {
        let now = Instant::now();
        let mut state = AlertingState::default();
        let ends = Utc::now() + chrono::Duration::hours(1);
        for (fp, rule, expires_at) in [
            (1, None, None),
            (2, Some("SearchLatencyHigh".to_owned()), None),
            (3, None, Some(ends)),
        ] {
            let mut alert = Alert::pending(
                NewAlert {
                    rule,
                    fingerprint: fp,
                    labels: BTreeMap::new(),
                    annotations: BTreeMap::new(),
                    severity: AlertSeverity::Critical,
                    value: None,
                    threshold: 0.0,
                },
                now,
            );
            alert.state = AlertState::Firing;
            alert.expires_at = expires_at;
            state.alerts.insert(fp, alert);
        }
        let text = serde_json::to_string(&state.saved()).unwrap();
        let restored = AlertingState::restored(serde_json::from_str(&text).unwrap());
        let states: Vec<(u64, AlertState)> = restored
            .alerts
            .values()
            .map(|a| (a.fingerprint, a.state))
            .collect();
        assert_eq!(
            states,
            [
                (1, AlertState::Resolved),
                (2, AlertState::Firing),
                (3, AlertState::Firing)
            ]
        );
        let log = &restored.alerts[&1].events;
        assert!(
            log.iter()
                .any(|e| e.what == "resolved: raised by an actor of the previous process"),
            "{log:?}"
        );
        assert!(restored.alertmanager_dirty);
    }

    /// A group of no labels made and last told at `now`, of the alerts `notified`.
    fn sent_group(now: Instant, notified: Vec<u64>) -> Group {
        Group {
            labels: BTreeMap::new(),
            created: now,
            last_sent: Some(now),
            notified,
        }
    }

    #[test]
    fn times_saved_ahead_of_the_clock_are_restored_as_now() {
        let now = Instant::now();
        let mut state = AlertingState::default();
        state
            .groups
            .insert("{}:{}".into(), sent_group(now, Vec::new()));
        // As if the clock was set back a day between the run that saved and this one.
        let mut saved = serde_json::to_value(state.saved()).unwrap();
        let ahead = |v: &serde_json::Value| {
            let t: DateTime<Utc> = serde_json::from_value(v.clone()).unwrap();
            serde_json::to_value(t + chrono::Duration::days(1)).unwrap()
        };
        let group = &mut saved["groups"][0];
        group["created"] = ahead(&group["created"]);
        group["last_sent"] = ahead(&group["last_sent"]);
        let restored = AlertingState::restored(serde_json::from_value(saved).unwrap());
        let g = &restored.groups["{}:{}"];
        let later = Instant::now();
        assert!(g.created <= later && g.last_sent.is_some_and(|t| t <= later));
    }
}
